/**
 * The inner layer of the converter sandbox: one `node:vm` context per converter, compiled once, run in
 * timeout-guarded batches. It runs INSIDE the runner process (runner/child.ts), never in Node-RED:
 * the process is the boundary, this context is a second layer (no `require`, `process`, host objects).
 *
 * What crosses into the context: only primitives. Inputs go in as two strings (a JSON header and the
 * concatenated payload text) handed to a staging function that does nothing but store them; the
 * results come back as one JSON string built inside the context. The runner never reads a property of
 * a context object (no getter, Proxy trap or toJSON of the script runs outside the timeout), and never
 * hands one of its own objects to the script.
 *
 * Inside: the context is created from a null-prototype object, code generation from strings
 * (eval, Function) and WebAssembly are off, `Error.prepareStackTrace` and `Error` are locked,
 * `Promise`, `Atomics`, `WebAssembly`, `FinalizationRegistry`, `WeakRef` are removed and `async`/`import`
 * are refused before compiling (guard.ts, in Node-RED), so nothing the script starts runs later.
 *
 * Resumable runs: `run(from, each)` converts records `from…` and keeps its progress in the context, so
 * when the vm timeout stops a run the runner reads which record was running and for how long
 * (`state()`), takes the results so far (`partial()`) and resumes after it: a record that hangs costs
 * one timeout, the others are not re-run.
 *
 * No Node-RED import, no import of anything but the helpers (their source text is evaluated inside).
 */
import vm from 'node:vm';
// a file, not the folder: resolving a folder reads its package.json, which the runner may not read (Node 22)
import * as helpers from '../helpers/index';

export type Direction = 'uplink' | 'downlink';

export interface ScriptErrorInfo {
    kind: 'compile' | 'script' | 'timeout' | 'sandbox' | 'memory';
    name: string;
    message: string;
    /** 1-based line/column in the user's script, when known. */
    line?: number;
    column?: number;
}

export interface VmEngineOptions {
    direction: Direction;
    tbel: boolean;
    /** The JavaScript to run (a TBEL script already translated). */
    script: string;
    timeoutMs: number;
    integrationMetadata: Record<string, string>;
}

/** Longest error message / name kept from a script (the rest is clipped inside the context). */
export const MAX_ERROR_TEXT = 1024;
/** Largest JSON result of one record; a bigger one fails that record (keeps frames and Node-RED's memory bounded). */
export const MAX_RESULT_CHARS = 4 * 1024 * 1024;

const REMOVED_GLOBALS = ['Promise', 'Atomics', 'WebAssembly', 'FinalizationRegistry', 'WeakRef', 'SharedArrayBuffer'];

/**
 * The standard globals, handed to our code and to the script as function parameters: in a `vm`
 * context every global lookup goes through a C++ interceptor (about a microsecond each), a
 * parameter is a plain local. Assigning to one of these names in a script changes the script's
 * own binding only, as if it had been declared with `var`.
 */
export const BUILTINS = [
    'Object', 'Function', 'Array', 'Number', 'Boolean', 'String', 'Symbol', 'Date', 'RegExp', 'Error',
    'AggregateError', 'EvalError', 'RangeError', 'ReferenceError', 'SyntaxError', 'TypeError', 'URIError',
    'JSON', 'Math', 'Intl', 'ArrayBuffer', 'Uint8Array', 'Int8Array', 'Uint16Array', 'Int16Array', 'Uint32Array',
    'Int32Array', 'Float32Array', 'Float64Array', 'Uint8ClampedArray', 'BigUint64Array', 'BigInt64Array',
    'DataView', 'Map', 'BigInt', 'Set', 'WeakMap', 'WeakSet', 'Proxy', 'Reflect', 'decodeURI',
    'decodeURIComponent', 'encodeURI', 'encodeURIComponent', 'escape', 'unescape', 'isFinite', 'console',
];
const SCRIPT_SCOPE = [...BUILTINS, ...helpers.HELPER_NAMES];

export function filenameOf(direction: Direction): string {
    return direction === 'uplink' ? 'decoder.js' : 'encoder.js';
}

/**
 * The helpers' source text: `installHelpers.toString()` is the self-contained source of the whole helper
 * set (helpers/index.ts inlines its parts), run as `installHelpers(globalThis, tbel)` inside the context.
 */
function helperSource(tbel: boolean): string {
    return `(${helpers.installHelpers.toString()})(globalThis, ${tbel ? 'true' : 'false'});`;
}

/** The trusted code evaluated in each new context, before any user code runs. */
function initSource(direction: Direction, tbel: boolean, base: Record<string, string>, filename: string): string {
    const re = filename.replace(/\./g, '\\.');
    const params = BUILTINS.join(', ');
    const args = BUILTINS.map((n) => `globalThis.${n}`).join(', ');
    return `'use strict';
(function (${params}) { ${helperSource(tbel)} })(${args});
(function () {
    for (const k of ${JSON.stringify(REMOVED_GLOBALS)}) delete globalThis[k];
    if (Array.fromAsync) delete Array.fromAsync;
    const FILE = ${JSON.stringify(filename)};
    // Our own stack formatter, locked: scripts never get host call sites, stacks show only script frames.
    const format = function (error, sites) {
        let head = 'Error';
        try { head = String(error); } catch (e) { /* keep */ }
        let out = head;
        for (let i = 0; i < sites.length; i++) {
            const s = sites[i];
            if (s.getFileName() !== FILE) continue;
            out += '\\n    at ' + (s.getFunctionName() || '<anonymous>') + ' (' + FILE + ':' + s.getLineNumber() + ':' + s.getColumnNumber() + ')';
        }
        return out;
    };
    Object.defineProperty(Error, 'prepareStackTrace', { value: format, writable: false, configurable: false });
    Object.defineProperty(globalThis, 'Error', { value: Error, writable: false, configurable: false });
})();
const __kr = (function (${params}) {
    const UPLINK = ${direction === 'uplink' ? 'true' : 'false'};
    const TBEL = ${tbel ? 'true' : 'false'};
    // Captured before any user code runs: a script redefining these breaks only its own results.
    const stringify = JSON.stringify;
    const parse = JSON.parse;
    const Str = String;
    const now = Date.now;
    const repeat = Function.prototype.call.bind(String.prototype.repeat);
    const MAX_TEXT = ${MAX_ERROR_TEXT};
    const MAX_RESULT = ${MAX_RESULT_CHARS};
    const BASE = parse(${JSON.stringify(JSON.stringify(base))});
    const LINE = /${re}:(\\d+):(\\d+)/;
    let H = '';
    let B = '';
    let HDR = null;
    let OFFS = null;
    let LENS = null;
    let ROWS = null;
    let KEYS = null;
    let VLENS = null;
    let VOFFS = null;
    let TMPL = null;
    let F = null;
    let FACTORY = null;
    // progress of the current run (read by the runner after a timeout): kinds, values, errors so far
    let KS = '';
    // 'r' kinds since the last other kind: counted, written out once (most records return a value)
    let NR = 0;
    let RV = '';
    let RE = '';
    let FROM = 0;
    let I = 0;
    // when the running record started, ms after T00 (the run's start): a small integer, no number object per record
    let T0 = 0;
    let T00 = 0;
    function clip(s) { return s.length > MAX_TEXT ? s.slice(0, MAX_TEXT - 1) + '\u2026' : s; }
    function copyBase(extra) {
        const m = {};
        for (const k in BASE) m[k] = BASE[k];
        if (extra) for (const k in extra) m[k] = extra[k];
        return m;
    }
    // Uplink metadata of record i: a fresh object each time (the script may change it), base keys first.
    function metaOf(i) {
        if (ROWS !== null) return copyBase(ROWS[i]);
        const m = { ...TMPL };
        const K = KEYS.length;
        let p = VOFFS[i];
        for (let j = 0; j < K; j++) {
            const len = VLENS[i * K + j];
            m[KEYS[j]] = B.slice(p, p + len);
            p += len;
        }
        return m;
    }
    function errText(e) {
        let name = 'Error';
        let message = '';
        let line = 0;
        let col = 0;
        try {
            if (e !== null && (typeof e === 'object' || typeof e === 'function')) {
                name = clip(Str(e.name));
                message = clip(Str(e.message));
                const st = Str(e.stack);
                const m = LINE.exec(st.length > 65536 ? st.slice(0, 65536) : st);
                if (m) { line = +m[1]; col = +m[2]; }
            } else {
                message = clip(Str(e));
            }
        } catch (x) {
            if (!message) message = 'the script threw a value that cannot be shown';
        }
        return stringify({ n: name, m: message, l: line, c: col });
    }
    function kind(k) { KS += NR ? repeat('r', NR) + k : k; NR = 0; }
    function addError(text) { RE += (RE === '' ? '' : ',') + text; kind('e'); }
    // One record's result: 'r' + its JSON in RV | 'u' (returned nothing) | 'e' + the error in RE.
    function add(r) {
        const s = stringify(r);
        if (s === undefined) { kind('u'); return; }
        if (s.length > MAX_RESULT) { addError(stringify({ n: 'RangeError', m: 'the result is too large (' + s.length + ' characters of JSON, at most ' + MAX_RESULT + ')', l: 0, c: 0 })); return; }
        RV += (RV === '' ? '' : ',') + s;
        NR++;
    }
    // The part frame's fields for the records so far ('t' appended: the running one was stopped by the timeout).
    function fields(stopped) {
        const r = '"k":"' + KS + (NR ? repeat('r', NR) : '') + (stopped ? 't' : '') + '","r":[' + RV + '],"e":[' + RE + ']';
        KS = ''; NR = 0; RV = ''; RE = '';
        return r;
    }
    const stage = function (h, b) { H = h; B = b; HDR = null; OFFS = null; };
    const define = function (factory) { FACTORY = factory; };
    // Runs under the timeout: the factory returns the script's function with builtins and helpers as locals.
    const build = function () {
        const values = [];
        const names = ${JSON.stringify(SCRIPT_SCOPE)};
        for (let i = 0; i < names.length; i++) values[i] = globalThis[names[i]];
        F = Reflect.apply(FACTORY, undefined, values);
        FACTORY = null;
        return typeof F === 'function' ? 'ok' : 'no function';
    };
    // Reads the staged header. Uplink: {n: [payload lengths], k: [metadata keys], l: [value lengths, k.length
    // per record]} (columnar: the values' text follows the payloads) or {n, m: [metadata per record]};
    // downlink: [[msg, metadata, msgType], …].
    function load() {
        HDR = parse(H);
        if (!UPLINK) return HDR.length;
        LENS = HDR.n;
        const count = LENS.length;
        ROWS = HDR.m === undefined ? null : HDR.m;
        OFFS = new Array(count);
        let p = 0;
        for (let i = 0; i < count; i++) { OFFS[i] = p; p += LENS[i]; }
        if (ROWS === null) {
            KEYS = HDR.k;
            VLENS = HDR.l;
            const K = KEYS.length;
            TMPL = copyBase(null);
            for (let j = 0; j < K; j++) TMPL[KEYS[j]] = '';
            VOFFS = new Array(count);
            for (let i = 0; i < count; i++) {
                VOFFS[i] = p;
                for (let j = 0; j < K; j++) p += VLENS[i * K + j];
            }
        }
        return count;
    }
    let COUNT = 0;
    // Converts records from..end (or just record 'from' when each); returns the part frame's fields for them.
    const run = function (from, each) {
        if (HDR === null) {
            try { COUNT = load(); } catch (e) { HDR = null; return 0; }
        }
        const b = B;
        const stop = each ? Math.min(from + 1, COUNT) : COUNT;
        KS = ''; NR = 0; RV = ''; RE = '';
        FROM = from;
        T00 = now();
        for (I = from; I < stop; I++) {
            T0 = now() - T00;
            try {
                if (UPLINK) {
                    const n = LENS[I];
                    const pos = OFFS[I];
                    const payload = new Array(n);
                    if (TBEL) {
                        for (let j = 0; j < n; j++) { const c = b.charCodeAt(pos + j); payload[j] = c > 127 ? c - 256 : c; }
                    } else {
                        for (let j = 0; j < n; j++) payload[j] = b.charCodeAt(pos + j);
                    }
                    add(F(payload, metaOf(I)));
                } else {
                    const rec = HDR[I];
                    add(F(rec[0], rec[1], rec[2], copyBase(null)));
                }
            } catch (e) {
                addError(errText(e));
            }
        }
        return fields(false);
    };
    // After a timeout: which record was running, for how long (ms), and the results of from..I-1.
    const state = function () { return I + ':' + (now() - T00 - T0) + ':' + FROM; };
    const partial = function (stopped) { return fields(stopped); };
    const finish = function () { H = ''; B = ''; HDR = null; OFFS = null; LENS = null; ROWS = null; KEYS = null; VLENS = null; VOFFS = null; TMPL = null; };
    return Object.freeze({ stage: stage, define: define, run: run, build: build, state: state, partial: partial, finish: finish });
})(${args});
const __kr_build = __kr.build;
const __kr_state = __kr.state;
const __kr_partial = __kr.partial;
`;
}

export function isTimeoutError(e: unknown): boolean {
    if (typeof e !== 'object' || e === null) return false;
    const d = Object.getOwnPropertyDescriptor(e, 'code');
    return !!d && 'value' in d && d.value === 'ERR_SCRIPT_EXECUTION_TIMEOUT';
}

/** Line/column of a SyntaxError thrown by the compiler ("file:LINE\n<source line>\n   ^^^\n\nSyntaxError: …"). */
function syntaxErrorInfo(stack: string, message: string, filename: string): ScriptErrorInfo {
    const lines = stack.slice(0, 4096).split('\n');
    let line: number | undefined;
    let column: number | undefined;
    const head = lines[0] ?? '';
    if (head.startsWith(`${filename}:`)) {
        const n = Number(head.slice(filename.length + 1));
        if (Number.isInteger(n) && n > 0) line = n;
        const caret = lines[2] ?? '';
        const at = caret.indexOf('^');
        if (at >= 0) column = at + 1;
    }
    return { kind: 'compile', name: 'SyntaxError', message: message.slice(0, MAX_ERROR_TEXT), line, column };
}

export class VmCompileError extends Error {
    readonly info: ScriptErrorInfo;
    constructor(info: ScriptErrorInfo) {
        super(info.message);
        this.info = info;
    }
}

const BUILD = new vm.Script('__kr_build()', { filename: 'kinesis-convert-runner.js' });
const STATE = new vm.Script('__kr_state()', { filename: 'kinesis-convert-runner.js' });
const PARTIAL = new vm.Script('__kr_partial(false)', { filename: 'kinesis-convert-runner.js' });
const PARTIAL_STOPPED = new vm.Script('__kr_partial(true)', { filename: 'kinesis-convert-runner.js' });

/**
 * What one guarded run produced: the part frame's fields for records `from…` (`json`: `"k":"<kinds>","r":[…],"e":[…]`),
 * what broke when the batch could not be read (`broken`), or where the timeout stopped it (then `partial`).
 * The run's answer is told apart by its type (a string of fields or not), never by reading its text: that
 * would flatten the string once more before it is written.
 */
export type RunOutcome =
    | { done: true; json: string; broken?: undefined }
    | { done: true; json?: undefined; broken: string }
    | { done: false; at: number; elapsedMs: number };

/** The fields of a part frame with no record. */
export function noFields(json: string): boolean {
    return json.startsWith('"k":""');
}

export class VmEngine {
    readonly direction: Direction;
    readonly timeoutMs: number;
    private readonly ctx: vm.Context;
    private readonly stageFn: (h: string, b: string) => void;
    private readonly finishFn: () => void;
    private readonly runScripts = new Map<string, vm.Script>();

    /** Throws VmCompileError when the script does not compile. */
    constructor(opts: VmEngineOptions) {
        this.direction = opts.direction === 'downlink' ? 'downlink' : 'uplink';
        this.timeoutMs = opts.timeoutMs > 0 ? Math.floor(opts.timeoutMs) : 1000;
        const filename = filenameOf(this.direction);
        const script = String(opts.script ?? '');
        this.ctx = vm.createContext(Object.create(null), {
            name: `kinesis-convert ${this.direction}`,
            codeGeneration: { strings: false, wasm: false },
            microtaskMode: 'afterEvaluate',
        });
        vm.runInContext(initSource(this.direction, opts.tbel, opts.integrationMetadata ?? {}, filename), this.ctx, {
            filename: 'kinesis-convert-init.js',
            timeout: 5000,
        });
        this.stageFn = vm.runInContext('__kr.stage', this.ctx) as (h: string, b: string) => void;
        this.finishFn = vm.runInContext('__kr.finish', this.ctx) as () => void;
        const define = vm.runInContext('__kr.define', this.ctx) as (f: unknown) => void;

        const params = this.direction === 'uplink' ? ['payload', 'metadata'] : ['msg', 'metadata', 'msgType', 'integrationMetadata'];
        let factory: unknown;
        try {
            // The script alone first, so that syntax errors point at its own lines and columns.
            vm.compileFunction(script, params, { parsingContext: this.ctx, filename });
            const fnName = this.direction === 'uplink' ? 'Decoder' : 'Encoder';
            factory = vm.compileFunction(`return function ${fnName}(${params.join(', ')}) {\n${script}\n};`, SCRIPT_SCOPE, {
                parsingContext: this.ctx,
                filename,
                lineOffset: -1,
            });
        } catch (e) {
            // Thrown by the compiler before any user code ran in this context: reading it is safe.
            const err = e as { stack?: unknown; message?: unknown };
            throw new VmCompileError(syntaxErrorInfo(String(err.stack ?? ''), String(err.message ?? e), filename));
        }
        define(factory);
        let built: unknown;
        try {
            built = BUILD.runInContext(this.ctx, { timeout: this.timeoutMs });
        } catch (e) {
            throw new VmCompileError({ kind: 'compile', name: 'Error', message: isTimeoutError(e) ? 'the script did not load within the timeout' : 'the script could not be loaded' });
        }
        if (built !== 'ok') {
            throw new VmCompileError({ kind: 'compile', name: 'SyntaxError', message: 'the script is not a function body (unbalanced braces?)' });
        }
    }

    /** Hands a batch to the context (two strings: the JSON header and the concatenated payload text). */
    stage(header: string, body: string): void {
        this.stageFn(header, body);
    }

    /** Drops the staged batch. */
    finish(): void {
        this.finishFn();
    }

    /** One guarded run over records `from…` (only record `from` when `each`). */
    run(from: number, each: boolean): RunOutcome {
        const key = `${from}:${each ? 1 : 0}`;
        let s = this.runScripts.get(key);
        if (!s) {
            s = new vm.Script(`__kr.run(${from}, ${each})`, { filename: 'kinesis-convert-runner.js' });
            if (this.runScripts.size > 64) this.runScripts.clear();
            this.runScripts.set(key, s);
        }
        try {
            const json = s.runInContext(this.ctx, { timeout: this.timeoutMs });
            return typeof json === 'string' ? { done: true, json } : { done: true, broken: json === 0 ? 'bad input' : 'no result' };
        } catch (e) {
            if (!isTimeoutError(e)) return { done: true, broken: 'broken' };
            const st = String(STATE.runInContext(this.ctx, { timeout: 1000 }));
            const [at, elapsed, start] = st.split(':').map(Number);
            if (start !== from) return { done: true, broken: 'broken' };
            return { done: false, at, elapsedMs: elapsed };
        }
    }

    /**
     * After a run stopped by the timeout: the part frame's fields of the records that finished before it,
     * with a timeout entry for the running one when `blame` (else it is run again).
     */
    partial(blame: boolean): string {
        return String((blame ? PARTIAL_STOPPED : PARTIAL).runInContext(this.ctx, { timeout: 1000 }));
    }
}
