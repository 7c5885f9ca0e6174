/**
 * The converter as the node (and the editor's Test endpoint) use it: message payloads in, normalised
 * ThingsBoard results or one error per message out. No Node-RED import.
 */
import { isUtf8 } from 'node:buffer';
import { bytesAsCodes } from './runner/frames';
import { ScriptEngine, ScriptLang, Direction, RawResult, ScriptErrorInfo, formatScriptError, ScriptCompileError, EngineIncident, UplinkInput } from './sandbox';
import { clipText } from '../aws/errors';
import { normaliseUplink, normaliseDownlink, OutputError, UplinkEntity, DownlinkRecord } from './validate';
import { UpdateOnlyKeysFilter } from './registry';
import type { NetworkIsolationOptions } from './runner/netns';

export interface MetadataPair {
    key: string;
    value: string;
}

export interface ConverterConfig {
    direction: Direction;
    scriptLang?: ScriptLang;
    script: string;
    /** ThingsBoard's integration metadata (key/value list of the node). */
    metadata?: MetadataPair[] | Record<string, string>;
    integrationName?: string;
    updateOnlyKeys?: string[];
    timeoutMs?: number;
    maxBatch?: number;
    /** Heap limit of the script's runner process, MB (default 128). */
    memoryLimitMb?: number;
    /** The runner's network isolation (`NetworkIsolationOptions`): the unshare binary, fail closed or not. */
    network?: NetworkIsolationOptions;
}

/** Where a record came from (msg.kinesis of `kinesis-in`). */
export interface RecordInfo {
    partitionKey?: string;
    sequenceNumber?: string;
    shardId?: string;
    streamName?: string;
}

export interface UplinkRequest {
    payload: unknown;
    kinesis?: RecordInfo;
    /** Extra per-record metadata (the Test dialog's metadata table). */
    metadata?: Record<string, string>;
}

export interface DownlinkRequest {
    payload: unknown;
    metadata?: unknown;
    msgType?: unknown;
}

export type ErrorKind = 'input' | 'compile' | 'script' | 'timeout' | 'memory' | 'sandbox' | 'output' | 'registry';

/** Longest error text kept (messages, `msg.error.message`): about 1 kB. */
export const MAX_ERROR_CHARS = 1024;

/** A message that could not be converted: what went wrong, where in the script, and on what input. */
export class ConvertError extends Error {
    readonly kind: ErrorKind;
    readonly line?: number;
    readonly column?: number;
    readonly input?: string;
    constructor(kind: ErrorKind, message: string, opts: { line?: number; column?: number; input?: string } = {}) {
        const text = clipText(message, MAX_ERROR_CHARS);
        const input = opts.input === undefined ? undefined : clipText(opts.input, 200);
        super(input ? `${text} — input: ${input}` : text);
        this.name = 'ConvertError';
        this.kind = kind;
        this.line = opts.line;
        this.column = opts.column;
        this.input = input;
    }
    /** The shape put on `msg.error` / returned by the Test endpoint. */
    toJSON(): Record<string, unknown> {
        return { name: this.name, kind: this.kind, message: this.message, line: this.line, column: this.column, input: this.input };
    }
}

export interface UplinkOutcome {
    entities?: UplinkEntity[];
    /** What the script returned (for the Test dialog). */
    raw?: unknown;
    error?: ConvertError;
}

export interface DownlinkOutcome {
    records?: DownlinkRecord[];
    raw?: unknown;
    error?: ConvertError;
}

export function metadataObject(m: ConverterConfig['metadata']): Record<string, string> {
    const out: Record<string, string> = {};
    if (Array.isArray(m)) {
        for (const p of m) if (p && typeof p.key === 'string' && p.key.trim()) out[p.key.trim()] = p.value == null ? '' : String(p.value);
    } else if (m && typeof m === 'object') {
        for (const [k, v] of Object.entries(m)) if (v !== undefined && v !== null) out[k] = String(v);
    }
    return out;
}

function toBuffer(payload: unknown): Buffer | string {
    if (Buffer.isBuffer(payload)) return payload;
    if (payload instanceof Uint8Array) return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    if (payload instanceof ArrayBuffer) return Buffer.from(payload);
    if (typeof payload === 'string') return payload;
    if (payload === undefined || payload === null) throw new ConvertError('input', 'msg.payload is empty');
    if (typeof payload === 'object') {
        try {
            return JSON.stringify(payload);
        } catch (e) {
            throw new ConvertError('input', `msg.payload cannot be turned into JSON: ${(e as Error).message}`);
        }
    }
    return String(payload);
}

/**
 * The payload as ThingsBoard's scripts see it, one char per array element: for JavaScript the UTF-16
 * code units of the text when the bytes are valid UTF-8, else the bytes 0-255; for TBEL always the
 * bytes (the sandbox makes them Java's signed bytes).
 */
export function payloadCodes(payload: unknown, scriptLang: ScriptLang): string {
    const p = payloadInput(payload, scriptLang);
    return typeof p === 'string' ? p : bytesAsCodes(p, scriptLang === 'TBEL');
}

/**
 * The payload as the engine takes it (`UplinkInput.codes`): bytes as they are (read as `payloadCodes` reads
 * them, in the batch, without a string per record), a string's UTF-16 code units in JavaScript, its UTF-8
 * bytes in TBEL.
 */
function payloadInput(payload: unknown, scriptLang: ScriptLang): string | Uint8Array {
    const p = toBuffer(payload);
    return typeof p === 'string' && scriptLang === 'TBEL' ? Buffer.from(p, 'utf8') : p;
}

/** A short, single-line description of an input for error messages (no more than ~100 chars; reads only its head). */
export function summarise(payload: unknown, max = 80): string {
    try {
        if (Buffer.isBuffer(payload) || payload instanceof Uint8Array) {
            const b = Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
            if (isUtf8(b)) return `${clip(b.subarray(0, max * 4).toString('utf8'), max)} (${b.length} bytes)`;
            return `0x${b.subarray(0, 32).toString('hex')}${b.length > 32 ? '…' : ''} (${b.length} bytes, binary)`;
        }
        if (typeof payload === 'string') return `${clip(payload, max)} (${Buffer.byteLength(payload)} bytes)`;
        if (payload === undefined) return 'undefined';
        return clip(JSON.stringify(payload) ?? String(payload), max);
    } catch {
        return typeof payload;
    }
}

function clip(s: string, max: number): string {
    const head = s.length > max * 2 ? s.slice(0, max * 2) : s;
    const one = head.replace(/\s+/g, ' ');
    return one.length > max || head.length < s.length ? `${one.slice(0, max - 1)}…` : one;
}

function scriptError(info: ScriptErrorInfo, direction: Direction, input: string): ConvertError {
    const fn = direction === 'uplink' ? 'Decoder' : 'Encoder';
    const kind: ErrorKind = info.kind === 'timeout' || info.kind === 'sandbox' || info.kind === 'memory' ? info.kind : 'script';
    return new ConvertError(kind, formatScriptError(info, fn), {
        line: info.line,
        column: info.column,
        input,
    });
}

/** Downlink `msg`: objects as they are; strings/Buffers holding JSON parsed (ThingsBoard hands the script the parsed body). */
function downlinkBody(payload: unknown): unknown {
    let p = payload;
    if (Buffer.isBuffer(p)) p = p.toString('utf8');
    if (typeof p === 'string') {
        const t = p.trim();
        if (t.startsWith('{') || t.startsWith('[')) {
            try {
                return JSON.parse(t);
            } catch {
                return p;
            }
        }
        return p;
    }
    if (p === undefined) return {};
    // JSON round trip: only data crosses into the sandbox (drops functions, Buffers become {type,data}).
    try {
        return JSON.parse(JSON.stringify(p) ?? 'null');
    } catch (e) {
        throw new ConvertError('input', `msg.payload cannot be turned into JSON: ${(e as Error).message}`);
    }
}

function stringMap(v: unknown): Record<string, string> {
    const out: Record<string, string> = {};
    if (v && typeof v === 'object' && !Array.isArray(v)) {
        for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
            if (x === undefined || x === null) continue;
            out[k] = typeof x === 'object' ? JSON.stringify(x) : String(x);
        }
    }
    return out;
}

/** Records per part of a pipelined uplink call; the first part is smaller, so the runner starts sooner. */
const PIPELINE_PART = 1024;
const FIRST_PART = 256;

/** A record's input that could not be prepared, as a ConvertError (kind 'input' unless it is one already). */
function inputError(e: unknown): ConvertError {
    return e instanceof ConvertError ? e : new ConvertError('input', String((e as Error).message ?? e));
}

export class Converter {
    readonly direction: Direction;
    readonly scriptLang: ScriptLang;
    readonly engine: ScriptEngine;
    readonly integrationMetadata: Record<string, string>;
    readonly updateOnly: UpdateOnlyKeysFilter;

    /**
     * Checks the script (guard) and prepares the engine; throws ConvertError (kind 'compile'). The runner
     * starts (and compiles the script) with `start()` or the first batch: use `Converter.create`.
     */
    constructor(cfg: ConverterConfig) {
        this.direction = cfg.direction === 'downlink' ? 'downlink' : 'uplink';
        this.scriptLang = cfg.scriptLang === 'TBEL' ? 'TBEL' : 'JS';
        this.integrationMetadata = { integrationName: cfg.integrationName ?? '', ...metadataObject(cfg.metadata) };
        this.updateOnly = new UpdateOnlyKeysFilter(cfg.updateOnlyKeys);
        try {
            this.engine = new ScriptEngine({
                direction: this.direction,
                scriptLang: this.scriptLang,
                script: cfg.script,
                timeoutMs: cfg.timeoutMs,
                integrationMetadata: this.integrationMetadata,
                maxBatch: cfg.maxBatch,
                memoryLimitMb: cfg.memoryLimitMb,
                network: cfg.network,
            });
        } catch (e) {
            if (e instanceof ScriptCompileError) {
                throw new ConvertError('compile', formatScriptError(e.info, this.direction === 'uplink' ? 'Decoder' : 'Encoder'), { line: e.info.line, column: e.info.column });
            }
            throw e;
        }
    }

    /** A converter whose runner is started and whose script compiled; rejects with ConvertError (kind 'compile'). */
    static async create(cfg: ConverterConfig): Promise<Converter> {
        const c = new Converter(cfg);
        try {
            await c.start();
        } catch (e) {
            c.close();
            throw e;
        }
        return c;
    }

    /** Starts the runner and compiles the script in it; rejects with ConvertError (kind 'compile'). */
    async start(): Promise<void> {
        try {
            await this.engine.start();
        } catch (e) {
            if (e instanceof ScriptCompileError) {
                const kind: ErrorKind = e.info.kind === 'compile' ? 'compile' : 'sandbox';
                throw new ConvertError(kind, formatScriptError(e.info, this.direction === 'uplink' ? 'Decoder' : 'Encoder'), { line: e.info.line, column: e.info.column });
            }
            throw e;
        }
    }

    /** Runner kills and restarts (timeouts a vm could not stop, memory, crashes): for rate-limited reporting. */
    set onIncident(fn: ((i: EngineIncident) => void) | undefined) {
        this.engine.onIncident = fn;
    }

    /** Stops the runner process. */
    close(): void {
        this.engine.close();
    }

    /** Converts many uplink messages in as few round trips to the runner as possible; one outcome per request. */
    async uplink(requests: UplinkRequest[], now = Date.now()): Promise<UplinkOutcome[]> {
        const outcomes: UplinkOutcome[] = new Array(requests.length);
        // Pipelined in parts: while the runner converts one part, this side prepares the next and checks
        // the results of the previous one (two processes, two cores). One round trip per part.
        const parts: Promise<void>[] = [];
        for (let s = 0, size = FIRST_PART; s < requests.length; s += size, size = PIPELINE_PART) {
            if (s > 0) await new Promise<void>((r) => setImmediate(r)); // lets the previous part reach the runner
            const inputs: UplinkInput[] = [];
            const index: number[] = [];
            for (let i = s; i < Math.min(requests.length, s + size); i++) {
                const req = requests[i];
                try {
                    const md: Record<string, string> = {};
                    const k = req.kinesis;
                    if (k) {
                        if (k.partitionKey !== undefined) md.partitionKey = String(k.partitionKey);
                        if (k.sequenceNumber !== undefined) md.sequenceNumber = String(k.sequenceNumber);
                        if (k.shardId !== undefined) md.shardId = String(k.shardId);
                        if (k.streamName !== undefined) md.streamName = String(k.streamName);
                    }
                    if (req.metadata) Object.assign(md, stringMap(req.metadata));
                    inputs.push({ codes: payloadInput(req.payload, this.scriptLang), metadata: md });
                    index.push(i);
                } catch (e) {
                    outcomes[i] = { error: inputError(e) };
                }
            }
            if (!inputs.length) continue;
            parts.push(this.engine.runBatch(inputs).then((raws) => {
                raws.forEach((raw, j) => {
                    const i = index[j];
                    const payload = requests[i].payload;
                    if (raw.error) {
                        outcomes[i] = { error: scriptError(raw.error, 'uplink', summarise(payload)) };
                        return;
                    }
                    try {
                        const entities = normaliseUplink(raw.value, now);
                        for (const e of entities) this.updateOnly.apply(e);
                        outcomes[i] = { entities, raw: raw.value };
                    } catch (e) {
                        outcomes[i] = { raw: raw.value, error: new ConvertError('output', `Decoder returned an invalid result: ${(e as Error).message}`, { input: summarise(payload) }) };
                    }
                });
            }));
        }
        await Promise.all(parts);
        return outcomes;
    }

    async downlink(requests: DownlinkRequest[]): Promise<DownlinkOutcome[]> {
        const outcomes: DownlinkOutcome[] = new Array(requests.length);
        const inputs: { msg: unknown; metadata: Record<string, string>; msgType: string }[] = [];
        const index: number[] = [];
        requests.forEach((req, i) => {
            try {
                inputs.push({
                    msg: downlinkBody(req.payload),
                    metadata: stringMap(req.metadata),
                    msgType: typeof req.msgType === 'string' && req.msgType ? req.msgType : 'ATTRIBUTES_UPDATED',
                });
                index.push(i);
            } catch (e) {
                outcomes[i] = { error: inputError(e) };
            }
        });
        const raws: RawResult[] = inputs.length ? await this.engine.runBatch(inputs) : [];
        raws.forEach((raw, j) => {
            const i = index[j];
            const payload = requests[i].payload;
            if (raw.error) {
                outcomes[i] = { error: scriptError(raw.error, 'downlink', summarise(payload)) };
                return;
            }
            try {
                outcomes[i] = { records: normaliseDownlink(raw.value), raw: raw.value };
            } catch (e) {
                outcomes[i] = { raw: raw.value, error: new ConvertError('output', `Encoder returned an invalid result: ${(e as Error).message}`, { input: summarise(payload) }) };
            }
        });
        return outcomes;
    }
}
