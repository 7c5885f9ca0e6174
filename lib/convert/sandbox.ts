/**
 * The script sandbox as Node-RED sees it: `ScriptEngine` runs a converter script OUTSIDE Node-RED's
 * process, in a runner process (runner/child.ts) started per engine, and talks to it in batches.
 *
 * Layers, outermost first (see DESIGN.md "Converter isolation"):
 * 1. The runner process: Node's permission model (no file access beyond its own module files, no child
 *    processes, workers or addons), an empty environment, a heap limit, on Linux a network namespace of its
 *    own (runner/netns.ts: no network at all); Node-RED kills it (SIGKILL) when
 *    a batch sends nothing for longer than the timeout plus a margin, when its memory passes the limit,
 *    and restarts it on the next batch. Whatever a script does, Node-RED's event loop and heap are not
 *    involved: a hung or exploding script costs one runner.
 * 2. The guard (guard.ts), on Node-RED's side before anything runs: the script must parse with acorn as a
 *    function body; async functions, `await`, `import()` and `import.meta` are refused.
 * 3. A `vm` context inside the runner (runner/vm-engine.ts): no host objects, no code generation from
 *    strings, the vm timeout on every run.
 *
 * Throughput: one round trip per chunk (a JSON line + the raw batch text in, JSON lines out), never one per
 * record, and three chunks in flight (the runner converts one while this side encodes the next and checks
 * the last). The chunk size adapts to the measured cost per record (≤ ¼ of the timeout, at most 50 ms).
 *
 * When a record hangs: the vm timeout stops ordinary loops inside the runner, which blames the record
 * and goes on with the next one (the batch continues, nothing is re-run). When a built-in call ignores
 * that timeout, or memory runs out, the runner dies and every chunk in flight ends; once nothing is in
 * flight, their records whose results had not arrived are run again, in order, one per guarded run (each
 * record its own frame, nothing else in flight) in a fresh runner, so the record that kills it again is
 * the one that fails (kind `timeout` or `memory`) and every other record converts.
 */
import { findForbiddenSyntax } from './guard';
import { translateTbel } from './tbel-syntax';
import { RunnerProcess, DeathKind } from './runner/process';
import type { NetworkIsolationOptions } from './runner/netns';
import { applyPart, uplinkBatch, downlinkBatch, EncodedBatch } from './runner/frames';
import type { ScriptErrorInfo, Direction } from './runner/vm-engine';

export type { Direction, ScriptErrorInfo } from './runner/vm-engine';
export type ScriptLang = 'JS' | 'TBEL';

export interface EngineOptions {
    direction: Direction;
    scriptLang?: ScriptLang;
    script: string;
    /** Longest a record may run (and a guarded batch run). Default 1000 ms. */
    timeoutMs?: number;
    /** `integrationName` + the configured metadata: the uplink `metadata` base / downlink `integrationMetadata`. */
    integrationMetadata?: Record<string, string>;
    /** Most records per guarded run. Default 4096 (the size adapts to keep each run short, see runBatch). */
    maxBatch?: number;
    /** Heap limit of the runner process, MB. Default 128 (`DEFAULT_MEMORY_LIMIT_MB`). */
    memoryLimitMb?: number;
    /** The runner's network isolation (Linux network namespace): the unshare binary, fail closed or not. */
    network?: NetworkIsolationOptions;
}

export const DEFAULT_MEMORY_LIMIT_MB = 128;
/** The runner's heap limit is kept within MIN_MEMORY_LIMIT_MB–MAX_MEMORY_LIMIT_MB (the editor's range). */
export const MIN_MEMORY_LIMIT_MB = 16;
export const MAX_MEMORY_LIMIT_MB = 4096;
/** The longest Timeout per record (ms): 1 min (beyond Node's 2^31-1 ms a timer would fire at once). */
export const MAX_TIMEOUT_MS = 60_000;
/**
 * Largest script accepted (characters), before and after the TBEL translation: every check on script
 * text is linear and bounded by this. Twice ThingsBoard's own default limit (`max_script_body_size`
 * 50 000 for JS and TBEL), so every script a ThingsBoard with default settings runs fits.
 */
export const MAX_SCRIPT_CHARS = 100_000;

function tooLong(script: string): ScriptErrorInfo {
    return { kind: 'compile', name: 'SyntaxError', message: `the script is too long (${script.length} characters, at most ${MAX_SCRIPT_CHARS})` };
}

/**
 * One uplink record. `codes` as a string holds one char per payload element (UTF-16 code units or bytes
 * 0-255); as bytes it is the payload's bytes, whose elements are (as ThingsBoard hands them to scripts) in
 * JavaScript the UTF-16 code units of their UTF-8 text when they are valid UTF-8, else the bytes, in TBEL the
 * bytes (`bytesAsCodes`). Bytes are sent to the runner as they are when they are ASCII (or valid UTF-8).
 */
export interface UplinkInput {
    codes: string | Uint8Array;
    metadata: Record<string, string>;
}

export interface DownlinkInput {
    msg: unknown;
    metadata: Record<string, string>;
    msgType: string;
}

export type EngineInput = UplinkInput | DownlinkInput;

export interface RawResult {
    /** What the script returned (JSON round trip, as ThingsBoard's executor does); undefined = returned nothing. */
    value?: unknown;
    error?: ScriptErrorInfo;
}

/** What the engine had to do to a runner: the node reports these (rate-limited). */
export interface EngineIncident {
    kind: DeathKind;
    message: string;
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
    if (info.kind === 'memory') return `${fnName} ran out of memory${where}: ${info.message}`;
    if (info.kind === 'compile') return `${fnName} does not compile${where}: ${info.name}: ${info.message}`;
    return `${fnName} failed${where}: ${info.name}: ${info.message}`;
}

/**
 * The JavaScript a script runs as: JS as written; TBEL prepared here (the TBEL→JS syntax translation
 * plugs in at this point), before the guard checks it.
 */
export function prepareScript(script: string, scriptLang: ScriptLang): string {
    if (scriptLang !== 'TBEL') return script;
    if (script.length > MAX_SCRIPT_CHARS) throw new ScriptCompileError(tooLong(script));
    // TBEL: its non-JavaScript syntax translated (same lines); what cannot be is refused here, with its line
    const tbel = translateTbel(script);
    if (tbel.error) throw new ScriptCompileError({ kind: 'compile', name: 'SyntaxError', ...tbel.error });
    return tbel.code;
}

/** The guard's verdict on a script, as a compile error (undefined = may run). */
export function refusal(script: string, direction: Direction): ScriptErrorInfo | undefined {
    if (script.length > MAX_SCRIPT_CHARS) return tooLong(script);
    const refused = findForbiddenSyntax(script, direction === 'uplink' ? ['payload', 'metadata'] : ['msg', 'metadata', 'msgType', 'integrationMetadata']);
    return refused ? { kind: 'compile', name: 'SyntaxError', message: refused.message, line: refused.line, column: refused.column } : undefined;
}

const RUNNER_MARGIN_MS = 1000;
/**
 * Chunks in flight to one runner: the runner converts one while Node-RED prepares one and checks another; the
 * third is queued in the runner, so a late turn on Node-RED's side (a burst of inputs to prepare, a GC) does not
 * leave the runner waiting (measured: with 2, about one chunk in ten found the runner idle for over 1 ms).
 */
const PIPELINE_DEPTH = 3;

interface Batch {
    inputs: EngineInput[];
    results: RawResult[];
    /** Inputs handed to chunks so far. */
    sent: number;
    /** Chunks of this batch not finished. */
    open: number;
    resolve: (r: RawResult[]) => void;
}

const noResult = (): RawResult => ({ error: { kind: 'sandbox', name: 'Error', message: 'the converter runtime returned no result (built-ins redefined by the script?)' } });

/** An unexpected failure of this side's runner handling (the runner reports script failures as results). */
function runnerFailed(e: unknown): RawResult {
    return { error: { kind: 'sandbox', name: 'Error', message: `the converter runner failed (${String((e as Error)?.message ?? e).slice(0, 200)})` } };
}

/** Gives every record of results[from, from + n) that has none a result of its own from `make`. */
function fillMissing(results: RawResult[], from: number, n: number, make: () => RawResult): void {
    for (let k = 0; k < n; k++) results[from + k] ??= make();
}

export class ScriptEngine {
    readonly direction: Direction;
    readonly scriptLang: ScriptLang;
    readonly timeoutMs: number;
    readonly memoryLimitMb: number;
    readonly network: NetworkIsolationOptions | undefined;
    /** Current batch size (adapted to the cost per record). */
    maxBatch: number;
    /** Runner restarts by cause (also reported through `onIncident`). */
    readonly stats = { started: 0, timeout: 0, memory: 0, crash: 0 };
    /** Called when a runner had to be killed or died (the node reports it, rate-limited). */
    onIncident?: (i: EngineIncident) => void;
    private readonly batchLimit: number;
    private readonly script: string;
    private readonly base: Record<string, string>;
    private runner: RunnerProcess | undefined;
    private starting: Promise<RunnerProcess | ScriptErrorInfo> | undefined;
    /** Batches waiting for their chunks to be sent, in call order. */
    private waiting: Batch[] = [];
    /** Chunks sent to the runner and not finished (at most PIPELINE_DEPTH). */
    private inflight = 0;
    /** Chunks cut short by a runner death, re-run one record per guarded run once nothing else is in flight. */
    private recoveries: { batch: Batch; inputs: EngineInput[]; offset: number }[] = [];
    private recovering = false;
    /** When the runner last finished a chunk (ms, performance.now): the next chunk's run starts then, not when it was sent. */
    private lastDoneAt = 0;
    /** The runner whose death was counted last (a death ends every chunk in flight: counted once). */
    private deadRunner: RunnerProcess | undefined;
    private nextId = 1;
    private closed = false;

    /** Checks the script (guard) synchronously; the runner starts with `start()` or the first batch. Throws ScriptCompileError. */
    constructor(opts: EngineOptions) {
        this.direction = opts.direction === 'downlink' ? 'downlink' : 'uplink';
        this.scriptLang = opts.scriptLang === 'TBEL' ? 'TBEL' : 'JS';
        this.timeoutMs = opts.timeoutMs && opts.timeoutMs > 0 ? Math.min(Math.max(1, Math.floor(opts.timeoutMs)), MAX_TIMEOUT_MS) : 1000;
        this.memoryLimitMb = opts.memoryLimitMb && opts.memoryLimitMb > 0
            ? Math.min(Math.max(Math.floor(opts.memoryLimitMb), MIN_MEMORY_LIMIT_MB), MAX_MEMORY_LIMIT_MB)
            : DEFAULT_MEMORY_LIMIT_MB;
        this.network = opts.network ? { ...opts.network } : undefined;
        this.batchLimit = opts.maxBatch && opts.maxBatch > 0 ? Math.floor(opts.maxBatch) : 4096;
        this.maxBatch = Math.min(this.batchLimit, 256);
        this.base = { ...(opts.integrationMetadata ?? {}) };
        this.script = prepareScript(String(opts.script ?? ''), this.scriptLang);
        const refused = refusal(this.script, this.direction);
        if (refused) throw new ScriptCompileError(refused);
    }

    /** A started engine: the guard, then the runner compiles the script. Rejects with ScriptCompileError. */
    static async create(opts: EngineOptions): Promise<ScriptEngine> {
        const e = new ScriptEngine(opts);
        try {
            await e.start();
        } catch (err) {
            e.close();
            throw err;
        }
        return e;
    }

    /** Starts the runner (and compiles the script in it) unless it runs. Rejects with ScriptCompileError. */
    async start(): Promise<void> {
        const r = await this.ensureRunner();
        if (!(r instanceof RunnerProcess)) throw new ScriptCompileError(r);
    }

    private ensureRunner(): Promise<RunnerProcess | ScriptErrorInfo> {
        if (this.closed) return Promise.resolve({ kind: 'sandbox', name: 'Error', message: 'the converter was closed' });
        if (this.runner?.alive) return Promise.resolve(this.runner);
        if (!this.starting) {
            const r = new RunnerProcess({ memoryLimitMb: this.memoryLimitMb, network: this.network });
            this.stats.started++;
            this.starting = r
                .start({ direction: this.direction, tbel: this.scriptLang === 'TBEL', script: this.script, timeoutMs: this.timeoutMs, base: this.base })
                .then((err) => {
                    this.starting = undefined;
                    if (err) return err;
                    if (this.closed) {
                        r.kill();
                        return { kind: 'sandbox', name: 'Error', message: 'the converter was closed' } as ScriptErrorInfo;
                    }
                    this.runner = r;
                    return r;
                });
        }
        return this.starting;
    }

    /** The process id of the running runner (benchmarks read its CPU time from /proc), if one runs. */
    get runnerPid(): number | undefined {
        return this.runner?.alive ? this.runner.pid : undefined;
    }

    /** Runs one input. */
    async run(input: EngineInput): Promise<RawResult> {
        return (await this.runBatch([input]))[0];
    }

    /**
     * Runs many inputs in chunks of at most `maxBatch`; one result per input, in order. Calls may overlap:
     * their chunks are sent in call order, up to PIPELINE_DEPTH at a time, so the runner always has the
     * next chunk while Node-RED encodes, decodes and checks the others (two processes, two cores).
     */
    runBatch(inputs: EngineInput[]): Promise<RawResult[]> {
        const results: RawResult[] = new Array(inputs.length);
        if (!inputs.length) return Promise.resolve(results);
        return new Promise<RawResult[]>((resolve) => {
            this.waiting.push({ inputs, results, sent: 0, open: 0, resolve });
            this.pump();
        });
    }

    /** Stops the runner. */
    close(): void {
        this.closed = true;
        this.runner?.kill();
        this.runner = undefined;
        void this.starting?.then((r) => r instanceof RunnerProcess && r.kill());
    }

    /** Sends chunks while fewer than PIPELINE_DEPTH are in flight (never during a recovery). */
    private pump(): void {
        while (!this.recovering && this.inflight < PIPELINE_DEPTH && this.waiting.length) {
            const b = this.waiting[0];
            const from = b.sent;
            const n = Math.min(this.maxBatch, b.inputs.length - from);
            b.sent += n;
            b.open++;
            if (b.sent >= b.inputs.length) this.waiting.shift();
            this.inflight++;
            void this.sendChunk(b, from, n, n === this.maxBatch);
        }
    }

    private chunkDone(b: Batch): void {
        b.open--;
        if (!b.open && b.sent >= b.inputs.length) b.resolve(b.results);
    }

    private async sendChunk(b: Batch, from: number, n: number, full: boolean): Promise<void> {
        const chunk = from === 0 && n === b.inputs.length ? b.inputs : b.inputs.slice(from, from + n);
        let recover: EngineInput[] | undefined;
        let at = from;
        try {
            // A running runner gets the chunk in this turn (encoded and written before the results of the chunk
            // that made room for it are checked: the runner is never left waiting for them).
            const runner = this.runner?.alive ? this.runner : await this.ensureRunner();
            if (!(runner instanceof RunnerProcess)) {
                for (let k = 0; k < n; k++) b.results[from + k] = { error: { ...runner, kind: runner.kind === 'compile' ? 'sandbox' : runner.kind } };
                return;
            }
            const batch = this.encode(chunk);
            const sentAt = performance.now();
            let got = 0;
            const results = b.results;
            const timeoutMs = this.timeoutMs;
            const end = await runner.run({ id: this.nextId++, n, ...batch, each: false }, timeoutMs + RUNNER_MARGIN_MS, (start, part) => {
                const count = applyPart(results, from, n, start, part, timeoutMs);
                if (start === got) got += count;
            });
            if (end.ok) {
                fillMissing(results, from, n, noResult);
                const doneAt = performance.now();
                if (full) this.adapt(n, doneAt - Math.max(sentAt, this.lastDoneAt));
                this.lastDoneAt = doneAt;
                return;
            }
            this.noteDeath(runner, end.death);
            if (got < n) {
                recover = got ? chunk.slice(got) : chunk;
                at = from + got;
            }
        } catch (e) {
            // not expected (the runner reports failures as results); no record is left without one
            fillMissing(b.results, from, n, () => runnerFailed(e));
        } finally {
            this.inflight--;
            if (recover) {
                this.recoveries.push({ batch: b, inputs: recover, offset: at });
                this.recovering = true;
            } else {
                this.chunkDone(b);
            }
            if (this.recovering) {
                if (!this.inflight) void this.recover();
            } else {
                this.pump();
            }
        }
    }

    private noteDeath(runner: RunnerProcess, death: DeathKind): void {
        if (this.runner === runner) this.runner = undefined;
        if (this.deadRunner === runner) return;
        this.deadRunner = runner;
        this.stats[death]++;
    }

    /**
     * After a runner death, with nothing else in flight: the unfinished records of every chunk that was
     * in flight run again one per guarded run (in order), so the record that kills a fresh runner is the
     * one that fails and no record runs more than twice. Then the pipeline resumes.
     */
    private async recover(): Promise<void> {
        const list = this.recoveries; // in the order the chunks were sent (a death ends them in that order)
        this.recoveries = [];
        for (const r of list) {
            try {
                await this.runEach(r.inputs, r.batch.results, r.offset);
            } catch (e) {
                fillMissing(r.batch.results, r.offset, r.inputs.length, () => runnerFailed(e));
            }
            this.chunkDone(r.batch);
        }
        this.recovering = false;
        this.pump();
    }

    /**
     * Batch size from the measured cost per record: a batch should take about a quarter of the timeout
     * (at most 50 ms), so a legitimately slow script never times out because of batching and a fast one
     * pays the round trip once per thousands of records. Grows at most ×2 per batch.
     */
    private adapt(n: number, ms: number): void {
        if (n < this.maxBatch) return; // a partial chunk says nothing about the limit
        const target = Math.min(this.timeoutMs / 4, 50);
        const perRecord = Math.max(ms / n, 1e-4);
        const ideal = Math.max(1, Math.floor(target / perRecord));
        this.maxBatch = Math.max(1, Math.min(this.batchLimit, ideal, this.maxBatch * 2));
    }

    private encode(chunk: EngineInput[]): EncodedBatch {
        if (this.direction === 'uplink') return uplinkBatch(chunk as UplinkInput[], this.scriptLang === 'TBEL');
        return downlinkBatch(chunk as DownlinkInput[]);
    }

    /**
     * Records run alone (nothing else in flight), one per guarded run, surviving runner deaths: used after a
     * runner death, so the record that kills a fresh runner is the one that fails and the others convert.
     */
    private async runEach(chunk: EngineInput[], results: RawResult[], offset: number): Promise<void> {
        let pos = 0;
        while (pos < chunk.length) {
            const runner = await this.ensureRunner();
            if (!(runner instanceof RunnerProcess)) {
                for (let k = pos; k < chunk.length; k++) results[offset + k] = { error: { ...runner, kind: runner.kind === 'compile' ? 'sandbox' : runner.kind } };
                return;
            }
            const sub = pos ? chunk.slice(pos) : chunk;
            const batch = this.encode(sub);
            let got = 0;
            const base = offset + pos;
            const end = await runner.run({ id: this.nextId++, n: sub.length, ...batch, each: true }, this.timeoutMs + RUNNER_MARGIN_MS, (from, part) => {
                const count = applyPart(results, base, sub.length, from, part, this.timeoutMs);
                if (from === got) got += count;
            });
            if (end.ok) {
                fillMissing(results, base, sub.length, noResult);
                return;
            }
            this.noteDeath(runner, end.death);
            // The record that was running when the runner died alone: it is the culprit.
            results[base + got] = { error: this.deathInfo(end.death, end.detail) };
            this.onIncident?.({ kind: end.death, message: formatScriptError(this.deathInfo(end.death, end.detail)) });
            pos += got + 1;
        }
    }

    private deathInfo(kind: DeathKind, detail: string): ScriptErrorInfo {
        if (kind === 'timeout') {
            return { kind: 'timeout', name: 'TimeoutError', message: `did not finish within ${this.timeoutMs} ms (a call that cannot be interrupted, e.g. sorting a huge array); the runner was restarted` };
        }
        if (kind === 'memory') return { kind: 'memory', name: 'RangeError', message: `used more than the memory limit (${this.memoryLimitMb} MB); the runner was restarted` };
        return { kind: 'sandbox', name: 'Error', message: `the converter runner stopped (${detail}); it was restarted` };
    }
}
