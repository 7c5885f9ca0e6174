/**
 * The script sandbox: one `node:vm` context per converter, compiled once, run in timeout-guarded
 * batches.
 *
 * What crosses the boundary: only primitives. Inputs go in as two strings (a JSON header and the
 * concatenated payload text) handed to a staging function that does nothing but store them; the
 * results come back as one JSON string built inside the sandbox. The host never reads a property of
 * a sandbox object (no getter, Proxy trap or toJSON of the script ever runs on the host's stack,
 * outside the timeout), and never hands a host object to the script.
 *
 * Inside: the context is created from a null-prototype object, code generation from strings
 * (eval, Function) and WebAssembly are off, `Error.prepareStackTrace` and `Error` are locked (host
 * call sites never reach the script), `Promise`, `Atomics`, `WebAssembly`, `FinalizationRegistry`,
 * `WeakRef` are removed and `async`/`import` are refused before compiling (see guard.ts), so nothing
 * the script starts can run after the guarded call returns.
 *
 * Throughput: one guarded run per batch of records (the guard costs ~0.1 ms per call, so a call per
 * record caps at ~10 k/s; a batch amortises it). The batch size adapts to the measured cost per record
 * (a run should take ≤ ¼ of the timeout). When a batch times out, its records are retried one by one
 * so that only the record(s) that hang fail, and the batch size is halved for next time.
 */
import vm from 'node:vm';
import { types } from 'node:util';
import { installHelpers, HELPER_NAMES } from './helpers';
import { translateTbel } from './tbel-syntax';
import { findForbiddenSyntax } from './guard';

export type Direction = 'uplink' | 'downlink';
export type ScriptLang = 'JS' | 'TBEL';

export interface EngineOptions {
    direction: Direction;
    scriptLang?: ScriptLang;
    script: string;
    /** Longest a guarded run (one record, or one batch) may take. Default 1000 ms. */
    timeoutMs?: number;
    /** `integrationName` + the configured metadata: the uplink `metadata` base / downlink `integrationMetadata`. */
    integrationMetadata?: Record<string, string>;
    /** Most records per guarded run. Default 4096 (the size adapts to keep each run short, see runBatch). */
    maxBatch?: number;
}

/** One uplink record: `codes` holds one char per payload element (UTF-16 code units or bytes 0-255). */
export interface UplinkInput {
    codes: string;
    metadata: Record<string, string>;
}

export interface DownlinkInput {
    msg: unknown;
    metadata: Record<string, string>;
    msgType: string;
}

export type EngineInput = UplinkInput | DownlinkInput;

export interface ScriptErrorInfo {
    kind: 'compile' | 'script' | 'timeout' | 'sandbox';
    name: string;
    message: string;
    /** 1-based line/column in the user's script, when known. */
    line?: number;
    column?: number;
}

export interface RawResult {
    /** What the script returned (JSON round trip, as ThingsBoard's executor does); undefined = returned nothing. */
    value?: unknown;
    error?: ScriptErrorInfo;
}

/** A script that cannot be compiled (syntax error or refused syntax). */
export class ScriptCompileError extends Error {
    readonly info: ScriptErrorInfo;
    constructor(info: ScriptErrorInfo) {
        super(formatScriptError(info));
        this.name = 'ScriptCompileError';
        this.info = info;
    }
}

export function formatScriptError(info: ScriptErrorInfo, fnName = 'script'): string {
    const where = info.line ? ` at line ${info.line}${info.column ? `, column ${info.column}` : ''}` : '';
    if (info.kind === 'timeout') return `${fnName} timed out${where}: ${info.message}`;
    if (info.kind === 'compile') return `${fnName} does not compile${where}: ${info.name}: ${info.message}`;
    return `${fnName} failed${where}: ${info.name}: ${info.message}`;
}

const REMOVED_GLOBALS = ['Promise', 'Atomics', 'WebAssembly', 'FinalizationRegistry', 'WeakRef', 'SharedArrayBuffer'];

/**
 * The standard globals, handed to our code and to the script as function parameters: in a `vm`
 * context every global lookup goes through a C++ interceptor (about a microsecond each), a
 * parameter is a plain local. Assigning to one of these names in a script changes the script's
 * own binding only, as if it had been declared with `var`.
 */
const BUILTINS = [
    'Object', 'Function', 'Array', 'Number', 'Boolean', 'String', 'Symbol', 'Date', 'RegExp', 'Error',
    'AggregateError', 'EvalError', 'RangeError', 'ReferenceError', 'SyntaxError', 'TypeError', 'URIError',
    'JSON', 'Math', 'Intl', 'ArrayBuffer', 'Uint8Array', 'Int8Array', 'Uint16Array', 'Int16Array', 'Uint32Array',
    'Int32Array', 'Float32Array', 'Float64Array', 'Uint8ClampedArray', 'BigUint64Array', 'BigInt64Array',
    'DataView', 'Map', 'BigInt', 'Set', 'WeakMap', 'WeakSet', 'Proxy', 'Reflect', 'decodeURI',
    'decodeURIComponent', 'encodeURI', 'encodeURIComponent', 'escape', 'unescape', 'isFinite', 'console',
];
const SCRIPT_SCOPE = [...BUILTINS, ...HELPER_NAMES];

function filenameOf(direction: Direction): string {
    return direction === 'uplink' ? 'decoder.js' : 'encoder.js';
}

/** The trusted code evaluated in each new context, before any user code runs. */
function initSource(direction: Direction, tbel: boolean, base: Record<string, string>, filename: string): string {
    const re = filename.replace(/\./g, '\\.');
    const params = BUILTINS.join(', ');
    const args = BUILTINS.map((n) => `globalThis.${n}`).join(', ');
    return `'use strict';
(function (${params}) { (${installHelpers.toString()})(globalThis, ${tbel ? 'true' : 'false'}); })(${args});
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
    const BASE = parse(${JSON.stringify(JSON.stringify(base))});
    const LINE = /${re}:(\\d+):(\\d+)/;
    let H = '';
    let B = '';
    let F = null;
    let FACTORY = null;
    function copyBase(extra) {
        const m = {};
        for (const k in BASE) m[k] = BASE[k];
        if (extra) for (const k in extra) m[k] = extra[k];
        return m;
    }
    function errJson(e) {
        let name = 'Error';
        let message = '';
        let line = 0;
        let col = 0;
        try {
            if (e !== null && (typeof e === 'object' || typeof e === 'function')) {
                name = Str(e.name);
                message = Str(e.message);
                const m = LINE.exec(Str(e.stack));
                if (m) { line = +m[1]; col = +m[2]; }
            } else {
                message = Str(e);
            }
        } catch (x) {
            if (!message) message = 'the script threw a value that cannot be shown';
        }
        return '{"e":' + stringify({ n: name, m: message, l: line, c: col }) + '}';
    }
    function out(r) {
        const s = stringify(r);
        return s === undefined ? '{"u":1}' : '{"r":' + s + '}';
    }
    const stage = function (h, b) { H = h; B = b; };
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
    const run = function () {
        const h = H;
        const b = B;
        H = '';
        B = '';
        let hdr;
        try { hdr = parse(h); } catch (e) { return '"bad input"'; }
        let result = '[';
        let pos = 0;
        for (let i = 0; i < hdr.length; i++) {
            const rec = hdr[i];
            let part;
            try {
                if (UPLINK) {
                    const n = rec[0];
                    const payload = new Array(n);
                    if (TBEL) {
                        for (let j = 0; j < n; j++) { const c = b.charCodeAt(pos + j); payload[j] = c > 127 ? c - 256 : c; }
                    } else {
                        for (let j = 0; j < n; j++) payload[j] = b.charCodeAt(pos + j);
                    }
                    pos += n;
                    part = out(F(payload, copyBase(rec[1])));
                } else {
                    part = out(F(rec[0], rec[1], rec[2], copyBase(null)));
                }
            } catch (e) {
                part = errJson(e);
            }
            result += (i ? ',' : '') + part;
        }
        return result + ']';
    };
    return Object.freeze({ stage: stage, define: define, run: run, build: build });
})(${args});
const __kr_run = __kr.run;
const __kr_build = __kr.build;
`;
}

function isTimeoutError(e: unknown): boolean {
    if (typeof e !== 'object' || e === null || types.isProxy(e)) return false;
    const d = Object.getOwnPropertyDescriptor(e, 'code');
    return !!d && 'value' in d && d.value === 'ERR_SCRIPT_EXECUTION_TIMEOUT';
}

/** Line/column of a SyntaxError thrown by the compiler ("file:LINE\n<source line>\n   ^^^\n\nSyntaxError: …"). */
function syntaxErrorInfo(stack: string, message: string, filename: string): ScriptErrorInfo {
    const lines = stack.split('\n');
    let line: number | undefined;
    let column: number | undefined;
    const m = new RegExp(`^${filename.replace(/\./g, '\\.')}:(\\d+)`).exec(lines[0] ?? '');
    if (m) {
        line = Number(m[1]);
        const caret = lines[2] ?? '';
        const at = caret.indexOf('^');
        if (at >= 0) column = at + 1;
    }
    return { kind: 'compile', name: 'SyntaxError', message, line, column };
}

const RUN = new vm.Script('__kr_run()', { filename: 'kinesis-convert-runner.js' });
const BUILD = new vm.Script('__kr_build()', { filename: 'kinesis-convert-runner.js' });

export class ScriptEngine {
    readonly direction: Direction;
    readonly scriptLang: ScriptLang;
    readonly timeoutMs: number;
    /** Current batch size (adapted to the cost per record; halved after a batch that timed out as a whole). */
    maxBatch: number;
    private readonly batchLimit: number;
    private readonly ctx: vm.Context;
    private readonly stage: (h: string, b: string) => void;

    constructor(opts: EngineOptions) {
        this.direction = opts.direction === 'downlink' ? 'downlink' : 'uplink';
        this.scriptLang = opts.scriptLang === 'TBEL' ? 'TBEL' : 'JS';
        this.timeoutMs = opts.timeoutMs && opts.timeoutMs > 0 ? Math.floor(opts.timeoutMs) : 1000;
        this.batchLimit = opts.maxBatch && opts.maxBatch > 0 ? Math.floor(opts.maxBatch) : 4096;
        this.maxBatch = Math.min(this.batchLimit, 256);
        const filename = filenameOf(this.direction);
        const source = String(opts.script ?? '');
        // TBEL: its non-JavaScript syntax translated (same lines); what cannot be is refused here, with its line
        const tbel = this.scriptLang === 'TBEL' ? translateTbel(source) : null;
        if (tbel?.error) throw new ScriptCompileError({ kind: 'compile', name: 'SyntaxError', ...tbel.error });
        const script = tbel ? tbel.code : source;

        const refused = findForbiddenSyntax(script);
        if (refused) {
            throw new ScriptCompileError({ kind: 'compile', name: 'SyntaxError', message: refused.message, line: refused.line, column: refused.column });
        }

        this.ctx = vm.createContext(Object.create(null), {
            name: `kinesis-convert ${this.direction}`,
            codeGeneration: { strings: false, wasm: false },
            microtaskMode: 'afterEvaluate',
        });
        vm.runInContext(initSource(this.direction, this.scriptLang === 'TBEL', opts.integrationMetadata ?? {}, filename), this.ctx, {
            filename: 'kinesis-convert-init.js',
            timeout: 5000,
        });
        this.stage = vm.runInContext('__kr.stage', this.ctx) as (h: string, b: string) => void;
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
            throw new ScriptCompileError(syntaxErrorInfo(String(err.stack ?? ''), String(err.message ?? e), filename));
        }
        define(factory);
        let built: unknown;
        try {
            built = BUILD.runInContext(this.ctx, { timeout: this.timeoutMs });
        } catch (e) {
            throw new ScriptCompileError({ kind: 'compile', name: 'Error', message: isTimeoutError(e) ? 'the script did not load within the timeout' : 'the script could not be loaded' });
        }
        if (built !== 'ok') {
            throw new ScriptCompileError({ kind: 'compile', name: 'SyntaxError', message: 'the script is not a function body (unbalanced braces?)' });
        }
    }

    /** Runs one input. */
    run(input: EngineInput): RawResult {
        return this.runBatch([input])[0];
    }

    /** Runs many inputs, in guarded batches of at most `maxBatch`; one result per input, in order. */
    runBatch(inputs: EngineInput[]): RawResult[] {
        const results: RawResult[] = [];
        let i = 0;
        while (i < inputs.length) {
            const chunk = inputs.slice(i, i + this.maxBatch);
            const t0 = process.hrtime.bigint();
            const r = this.runGuarded(chunk);
            if (r === 'timeout') {
                if (chunk.length === 1) {
                    results.push({ error: { kind: 'timeout', name: 'TimeoutError', message: `did not finish within ${this.timeoutMs} ms (endless loop?)` } });
                } else {
                    // Retry one by one so only the record(s) that hang fail; smaller batches from now on.
                    this.maxBatch = Math.max(1, Math.floor(chunk.length / 2));
                    for (const one of chunk) {
                        const single = this.runGuarded([one]);
                        results.push(single === 'timeout'
                            ? { error: { kind: 'timeout', name: 'TimeoutError', message: `did not finish within ${this.timeoutMs} ms (endless loop?)` } }
                            : single[0]);
                    }
                }
            } else {
                this.adapt(chunk.length, Number(process.hrtime.bigint() - t0) / 1e6);
                results.push(...r);
            }
            i += chunk.length;
        }
        return results;
    }

    /**
     * Batch size from the measured cost per record: a guarded run should take about a quarter of the
     * timeout (at most 50 ms), so a legitimately slow script never times out because of batching and
     * a fast one pays the ~0.1-1 ms guard cost once per thousands of records. Grows at most ×2 per run.
     */
    private adapt(n: number, ms: number): void {
        if (n < this.maxBatch) return; // a partial chunk says nothing about the limit
        const target = Math.min(this.timeoutMs / 4, 50);
        const perRecord = Math.max(ms / n, 1e-4);
        const ideal = Math.max(1, Math.floor(target / perRecord));
        this.maxBatch = Math.max(1, Math.min(this.batchLimit, ideal, this.maxBatch * 2));
    }

    private runGuarded(chunk: EngineInput[]): RawResult[] | 'timeout' {
        let header: string;
        let body = '';
        if (this.direction === 'uplink') {
            const h: unknown[] = [];
            for (const inp of chunk as UplinkInput[]) {
                h.push([inp.codes.length, inp.metadata]);
                body += inp.codes;
            }
            header = JSON.stringify(h);
        } else {
            header = JSON.stringify((chunk as DownlinkInput[]).map((d) => [d.msg ?? null, d.metadata ?? {}, d.msgType ?? '']));
        }
        this.stage(header, body);
        let out: unknown;
        try {
            out = RUN.runInContext(this.ctx, { timeout: this.timeoutMs });
        } catch (e) {
            if (isTimeoutError(e)) return 'timeout';
            return chunk.map(() => ({ error: { kind: 'sandbox', name: 'Error', message: 'the script broke the converter runtime (it redefined built-ins it relies on)' } }));
        }
        const broken = (why: string): RawResult[] => chunk.map(() => ({ error: { kind: 'sandbox', name: 'Error', message: why } }));
        if (typeof out !== 'string') return broken('the converter runtime returned no result (built-ins redefined by the script?)');
        let parsed: unknown;
        try {
            parsed = JSON.parse(out);
        } catch {
            return broken('the script output could not be read back (JSON redefined by the script?)');
        }
        if (!Array.isArray(parsed) || parsed.length !== chunk.length) return broken('the converter runtime returned a malformed result');
        return parsed.map((p: { r?: unknown; u?: number; e?: { n: string; m: string; l: number; c: number } }) => {
            if (p && p.e) {
                return { error: { kind: 'script', name: String(p.e.n), message: String(p.e.m), line: p.e.l || undefined, column: p.e.c || undefined } } as RawResult;
            }
            if (p && 'r' in p) return { value: p.r };
            return {};
        });
    }
}
