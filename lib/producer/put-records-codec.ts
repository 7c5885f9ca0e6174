/**
 * A faster wire format for PutRecords on the producer's own client, through the SDK's public
 * middleware API (everything else stays the SDK's: endpoint, credentials, signing, HTTP handler,
 * proxy, error responses and their exceptions).
 *
 * Why: the SDK serialises every record with its schema walker and a JavaScript base64 loop, and
 * deserialises every result entry with the same walker; per record that is most of what a
 * PutRecords call costs (measured: ~2.5–3 µs of ~13 µs CPU per 210-byte record). Here the body is
 * built with Node's native base64 and `JSON.stringify` of the keys, and a 200 answer is read with
 * `JSON.parse`.
 *
 * How (three middlewares, added once per client, only PutRecordsCommand is touched):
 * - serialize (high): encodes `input` into the request body; the SDK's own serializer is handed the
 *   same input with `Records: []` (it still writes the stream name / ARN, which the endpoint rules
 *   read); once the answer is back, puts the parsed `Records`, `FailedRecordCount` and
 *   `EncryptionType` on the SDK's output. `client.send` resolves to the usual
 *   `PutRecordsCommandOutput`: callers see no difference.
 * - build (high): replaces the body (and its content-length) before signing.
 * - deserialize (low, next to the HTTP handler): a 200 answer's body is read and parsed here and the
 *   SDK's deserializer gets `{}`; any other status is left to the SDK (its exceptions, e.g.
 *   ResourceNotFoundException, stay what `explainAwsError` knows).
 */
import type { PutRecordsCommandInput, PutRecordsResultEntry } from '@aws-sdk/client-kinesis';
import { EMPTY_JSON, installOnce, MiddlewareClient, readBody } from '../aws/middleware';

const BODY = Symbol('kinesisRed.putRecordsBody');
const RESULT = Symbol('kinesisRed.putRecordsResult');
const ENCODE = 'kinesisRedPutRecordsEncode';

interface ParsedAnswer {
    FailedRecordCount?: number;
    Records?: PutRecordsResultEntry[];
    EncryptionType?: string;
}

const installed = new WeakSet<object>();

/** One record as the codec writes it: the PutRecords entry's members (the SDK's names or the producer's own). */
export interface WireEntry {
    data: Uint8Array;
    partitionKey: string;
    explicitHashKey?: string;
}

/**
 * Set on a PutRecordsCommand's input (with `Records: []`), the producer's own entries are encoded
 * instead of `Records`: no `{Data, PartitionKey}` object per record. Only for a client this codec
 * was added to (`usePutRecordsCodec` answered true); without it the SDK would send no records.
 */
export const PUT_RECORDS_ENTRIES = Symbol.for('kinesisRed.putRecordsEntries');

const QUOTE = 0x22;
const DATA_OPEN = Buffer.from('{"Data":"', 'latin1');
const KEY_OPEN = Buffer.from('","PartitionKey":', 'latin1');
const HASH_OPEN = Buffer.from(',"ExplicitHashKey":', 'latin1');

/** Text JSON writes as it is (printable ASCII without `"` and `\`): most partition keys. */
function plainAscii(s: string): boolean {
    for (let i = 0; i < s.length; i++) {
        const c = s.charCodeAt(i);
        if (c < 0x20 || c > 0x7e || c === QUOTE || c === 0x5c) return false;
    }
    return true;
}

/** UTF-8 bytes of `text` as a JSON string (quotes included). */
function jsonStringBytes(text: string): number {
    return plainAscii(text) ? text.length + 2 : Buffer.byteLength(JSON.stringify(text), 'utf8');
}

/** Writes `text` as a JSON string at `at`; returns the position after it. */
function writeJsonString(out: Buffer, text: string, at: number): number {
    if (plainAscii(text)) {
        out[at++] = QUOTE;
        for (let i = 0; i < text.length; i++) out[at++] = text.charCodeAt(i);
        out[at++] = QUOTE;
        return at;
    }
    return at + out.write(JSON.stringify(text), at, 'utf8');
}

/**
 * Buffer's own base64 encoder and Latin-1 writer, called directly (`toString('base64')` and
 * `write(text, at, 'latin1')` are these two behind argument checks and an encoding switch, which per
 * 200-byte record cost as much again). Present on Buffer.prototype in every Node.js this package runs
 * on; without them the documented calls are used.
 */
interface FastBuffer {
    base64Slice(start: number, end: number): string;
    latin1Write(text: string, at: number): number;
}
const proto = Buffer.prototype as unknown as Partial<FastBuffer>;
/**
 * The undocumented fast paths are used only when present AND, checked once at load, doing exactly what the
 * documented calls do (a later Node that changed or dropped them falls back, never sends a wrong body).
 */
const NATIVE = ((): boolean => {
    if (typeof proto.base64Slice !== 'function' || typeof proto.latin1Write !== 'function') return false;
    try {
        const probe = Buffer.from([0, 1, 2, 250, 251, 252, 253, 254, 255, 62, 63]);
        const text = (probe as unknown as FastBuffer).base64Slice(0, probe.length);
        if (text !== probe.toString('base64')) return false;
        const out = Buffer.alloc(text.length + 2);
        const n = (out as unknown as FastBuffer).latin1Write(text, 1);
        return n === text.length && out.toString('latin1', 1, 1 + n) === text && out[0] === 0 && out[out.length - 1] === 0;
    } catch {
        return false;
    }
})();

/** Standard base64 (with padding) of `d`, written at `at`; returns the position after it. */
function writeBase64(out: Buffer, d: Uint8Array, at: number): number {
    const bytes = Buffer.isBuffer(d) ? d : Buffer.from(d.buffer, d.byteOffset, d.byteLength);
    if (NATIVE) return at + (out as unknown as FastBuffer).latin1Write((bytes as unknown as FastBuffer).base64Slice(0, bytes.length), at);
    return at + out.write(bytes.toString('base64'), at, 'latin1');
}

/** Bytes of one entry `{"Data":"…","PartitionKey":"…"[,"ExplicitHashKey":"…"]}`; -1 when its data is not bytes or a key not text. */
function entryBytes(d: unknown, key: unknown, hashKey: unknown): number {
    if (!(d instanceof Uint8Array) || typeof key !== 'string' || (hashKey !== undefined && typeof hashKey !== 'string')) return -1;
    return DATA_OPEN.length + Math.ceil(d.length / 3) * 4 + KEY_OPEN.length + jsonStringBytes(key)
        + (hashKey === undefined ? 0 : HASH_OPEN.length + jsonStringBytes(hashKey)) + 1;
}

function writeEntry(out: Buffer, d: Uint8Array, key: string, hashKey: string | undefined, at: number): number {
    out.set(DATA_OPEN, at);
    at = writeBase64(out, d, at + DATA_OPEN.length);
    out.set(KEY_OPEN, at);
    at = writeJsonString(out, key, at + KEY_OPEN.length);
    if (hashKey !== undefined) {
        out.set(HASH_OPEN, at);
        at = writeJsonString(out, hashKey, at + HASH_OPEN.length);
    }
    out[at++] = 0x7d; // }
    return at;
}

/**
 * The JSON body of a PutRecords request, as the SDK would send it (same members, base64 `Data`),
 * as UTF-8 bytes; undefined when a record's Data is not bytes (the SDK serialises that request).
 * `entries` (the producer's own records) are written instead of `input.Records` when given.
 * Written straight into one buffer of the exact size: no string of the body or of a record's base64.
 */
export function encodePutRecords(input: PutRecordsCommandInput, entries?: readonly WireEntry[]): Buffer | undefined {
    let head = input.StreamARN !== undefined ? `{"StreamARN":${JSON.stringify(input.StreamARN)}` : '{';
    if (input.StreamName !== undefined) head += `${head.length > 1 ? ',' : ''}"StreamName":${JSON.stringify(input.StreamName)}`;
    head += `${head.length > 1 ? ',' : ''}"Records":[`;
    const records = input.Records ?? [];
    const count = entries ? entries.length : records.length;
    let size = Buffer.byteLength(head, 'utf8') + Math.max(0, count - 1) + 2;
    for (let i = 0; i < count; i++) {
        const n = entries ? entryBytes(entries[i].data, entries[i].partitionKey, entries[i].explicitHashKey)
            : entryBytes(records[i].Data, records[i].PartitionKey, records[i].ExplicitHashKey);
        if (n < 0) return undefined;
        size += n;
    }
    const out = Buffer.allocUnsafe(size);
    let at = out.write(head, 0, 'utf8');
    for (let i = 0; i < count; i++) {
        if (i > 0) out[at++] = 0x2c; // ,
        if (entries) {
            const e = entries[i];
            at = writeEntry(out, e.data, e.partitionKey, e.explicitHashKey, at);
        } else {
            const r = records[i];
            at = writeEntry(out, r.Data as Uint8Array, r.PartitionKey as string, r.ExplicitHashKey, at);
        }
    }
    out[at++] = 0x5d; // ]
    out[at++] = 0x7d; // }
    if (at !== size) throw new Error(`PutRecords codec: wrote ${at} of ${size} bytes`); // a bug here must not send a torn body
    return out;
}

/**
 * Adds the PutRecords codec to an SDK Kinesis client (once; a client without a middleware stack,
 * e.g. a test's stand-in, is left alone; so is a client whose SDK speaks another wire protocol than
 * JSON 1.1 — a later SDK release may — which then serialises as it does). Returns whether the client has it.
 */
export function usePutRecordsCodec(client: unknown): boolean {
    return installOnce(client, installed, addPutRecordsCodec);
}

function addPutRecordsCodec(stack: MiddlewareClient['middlewareStack']): void {
    stack.add((next, context) => async (args) => {
        if (context.commandName !== 'PutRecordsCommand' || !args.input || !Array.isArray(args.input.Records)) return next(args);
        const entries: WireEntry[] | undefined = args.input[PUT_RECORDS_ENTRIES];
        const body = encodePutRecords(args.input, entries);
        if (!body) {
            // the producer's entries are checked before they are sent: never send their request without them
            if (entries) throw new TypeError('PutRecords: an entry has no bytes or no partition key text');
            return next(args);
        }
        context[BODY] = body;
        const out = await next({ ...args, input: { ...args.input, Records: [] } });
        const answer: ParsedAnswer | undefined = context[RESULT];
        if (answer && out?.output) {
            out.output.Records = answer.Records ?? [];
            out.output.FailedRecordCount = answer.FailedRecordCount;
            if (answer.EncryptionType !== undefined) out.output.EncryptionType = answer.EncryptionType;
        }
        return out;
    }, { step: 'serialize', priority: 'high', name: ENCODE });
    stack.add((next, context) => async (args) => {
        const body: Buffer | undefined = context[BODY];
        if (body && args.request) {
            const headers = args.request.headers as Record<string, string>;
            for (const h of Object.keys(headers)) if (h.toLowerCase() === 'content-length') delete headers[h];
            headers['content-length'] = String(body.length);
            args.request.body = body;
        }
        return next(args);
    }, { step: 'build', priority: 'high', name: 'kinesisRedPutRecordsBody' });
    stack.add((next, context) => async (args) => {
        const out = await next(args);
        const response = out?.response;
        if (context[BODY] && response?.statusCode === 200) {
            const read = readBody(response.body);
            if (read) {
                const text = (await read).toString('utf8');
                context[RESULT] = JSON.parse(text) as ParsedAnswer;
                response.body = EMPTY_JSON;
            }
        }
        return out;
    }, { step: 'deserialize', priority: 'low', name: 'kinesisRedPutRecordsDecode' });
}
