/**
 * What `kinesis-out` accepts as `msg.payload`, turned into records.
 *
 * - Buffer / Uint8Array: the bytes as they are.
 * - string: its UTF-8 bytes.
 * - number, boolean, plain object or array (that is not a list of converter results): JSON text.
 * - a ThingsBoard downlink converter result `{contentType: 'JSON'|'TEXT'|'BINARY', data, metadata}`
 *   or an array of them: one record per result. JSON/TEXT `data` is sent as UTF-8 text (an object
 *   given as JSON `data` is serialised), BINARY `data` is base64 and sent decoded. Results with
 *   empty `data` are skipped, as ThingsBoard does. `metadata.streamName`, `metadata.partitionKey`
 *   (and `metadata.explicitHashKey`) choose the stream and key of that record.
 *
 * Precedence, per record (first that is set wins):
 *   stream name:       the node's Stream setting → the result's metadata.streamName → msg.metadata.streamName
 *   partition key:     the node's Partition key setting → the result's metadata.partitionKey →
 *                      msg.metadata.partitionKey → generated (random UUID, or MD5 hex of the data)
 *
 * Partition key values: undefined / null = not set (the next source is used); a string of 1–256
 * characters is used as it is; a number, bigint or boolean becomes its text (e.g. 123 → "123");
 * an empty string or any other type (object, array, Buffer…) is an error naming its source — it is
 * never replaced by a generated key, which would silently lose that key's order.
 *   explicit hash key: the node's setting → the result's metadata.explicitHashKey → msg.metadata.explicitHashKey → none
 */
import { generatePartitionKey, ProducerRecord } from './records';

export class InputError extends Error {
    constructor(message: string) {
        super(message);
        this.name = 'InputError';
    }
}

export interface ConverterResult {
    contentType: string;
    data: unknown;
    metadata?: Record<string, unknown>;
}

export interface PayloadRecord {
    data: Buffer;
    /** From a converter result's metadata (undefined for plain payloads). */
    metadata?: Record<string, unknown>;
}

/** True for an object shaped like a downlink converter result. */
export function isConverterResult(v: unknown): v is ConverterResult {
    return !!v && typeof v === 'object' && !Array.isArray(v) && !Buffer.isBuffer(v)
        && typeof (v as ConverterResult).contentType === 'string' && 'data' in (v as object);
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2,3})?$/;

function converterData(r: ConverterResult, where: string): Buffer | undefined {
    const type = r.contentType.toUpperCase();
    const d = r.data;
    if (d === undefined || d === null || d === '') return undefined;
    if (type === 'BINARY') {
        if (Buffer.isBuffer(d) || d instanceof Uint8Array) return Buffer.from(d);
        if (Array.isArray(d) && d.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)) return Buffer.from(d as number[]);
        if (typeof d !== 'string') throw new InputError(`${where}: BINARY data must be a base64 string, got ${typeof d}`);
        const compact = d.replace(/\s+/g, '');
        if (!BASE64.test(compact)) throw new InputError(`${where}: BINARY data is not valid base64`);
        return Buffer.from(compact, 'base64');
    }
    if (type === 'JSON') {
        if (typeof d === 'string') return Buffer.from(d, 'utf8');
        return Buffer.from(JSON.stringify(d), 'utf8');
    }
    if (type === 'TEXT') {
        if (typeof d === 'string') return Buffer.from(d, 'utf8');
        if (Buffer.isBuffer(d)) return d;
        return Buffer.from(typeof d === 'object' ? JSON.stringify(d) : String(d), 'utf8');
    }
    throw new InputError(`${where}: unknown downlink content type ${JSON.stringify(r.contentType)} (expected JSON, TEXT or BINARY)`);
}

function toJson(v: unknown): Buffer {
    try {
        const text = JSON.stringify(v);
        if (text === undefined) throw new Error('not serialisable');
        return Buffer.from(text, 'utf8');
    } catch (err) {
        throw new InputError(`msg.payload cannot be written as JSON: ${(err as Error).message}`);
    }
}

/** Splits a payload into record bodies (see the module comment). Throws InputError in words. */
export function payloadRecords(payload: unknown): PayloadRecord[] {
    if (payload === undefined || payload === null) throw new InputError('msg.payload is empty: nothing to write');
    if (Buffer.isBuffer(payload)) return [{ data: payload }];
    if (payload instanceof Uint8Array) return [{ data: Buffer.from(payload) }];
    if (typeof payload === 'string') return [{ data: Buffer.from(payload, 'utf8') }];
    if (isConverterResult(payload)) {
        const data = converterData(payload, 'converter result');
        return data ? [{ data, metadata: metadataOf(payload) }] : [];
    }
    if (Array.isArray(payload) && payload.length > 0 && payload.some(isConverterResult)) {
        const out: PayloadRecord[] = [];
        payload.forEach((r, i) => {
            if (!isConverterResult(r)) {
                throw new InputError(`msg.payload[${i}] is not a converter result ({contentType, data, metadata}) while other elements are`);
            }
            const data = converterData(r, `msg.payload[${i}]`);
            if (data) out.push({ data, metadata: metadataOf(r) });
        });
        return out;
    }
    if (typeof payload === 'function' || typeof payload === 'symbol') {
        throw new InputError(`msg.payload of type ${typeof payload} cannot be written`);
    }
    return [{ data: toJson(payload) }];
}

function metadataOf(r: ConverterResult): Record<string, unknown> | undefined {
    return r.metadata && typeof r.metadata === 'object' ? r.metadata : undefined;
}

/**
 * A partition key value from `source` (words for the error): undefined when not set; throws
 * InputError for "" and for values that are not text, numbers or booleans.
 */
export function partitionKeyFrom(v: unknown, source: string): string | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string') {
        if (v === '') throw new InputError(`the partition key from ${source} is an empty string (a key is 1–256 characters; leave it unset to get a generated key)`);
        return v;
    }
    if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') {
        if (typeof v === 'number' && !Number.isFinite(v)) throw new InputError(`the partition key from ${source} is ${String(v)}, not a usable key`);
        return String(v);
    }
    const kind = Array.isArray(v) ? 'an array' : Buffer.isBuffer(v) ? 'a Buffer' : `of type ${typeof v}`;
    throw new InputError(`the partition key from ${source} is ${kind}, not text (use a string, e.g. msg.payload.deviceId)`);
}

function str(v: unknown): string | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string') return v === '' ? undefined : v;
    if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
    return undefined;
}

const NO_METADATA: Readonly<Record<string, unknown>> = Object.freeze({});

export interface ResolveOptions {
    /** The node's settings, already evaluated for this message ('' / undefined = not set). */
    streamName?: unknown;
    /** The node's Partition key setting evaluated (undefined = not set; '' is an error). */
    partitionKey?: unknown;
    /** Words naming where the node's partition key came from, e.g. "msg.key" (errors). */
    partitionKeySource?: string;
    explicitHashKey?: unknown;
    /** msg.metadata (ThingsBoard-style message metadata). */
    msgMetadata?: unknown;
    keyGeneration?: 'random' | 'hash';
}

/**
 * The records of one message with stream, partition key and explicit hash key chosen by the
 * precedence above. Not validated here (the producer validates every record before sending).
 */
export function resolveRecords(payload: unknown, opts: ResolveOptions): ProducerRecord[] {
    const meta = opts.msgMetadata && typeof opts.msgMetadata === 'object' ? (opts.msgMetadata as Record<string, unknown>) : NO_METADATA;
    // bytes or text (the usual case): one record, no intermediate list
    const data = Buffer.isBuffer(payload) ? payload : typeof payload === 'string' ? Buffer.from(payload, 'utf8') : undefined;
    if (data) return [recordOf(data, NO_METADATA, 0, 1, opts, meta)];
    const records = payloadRecords(payload);
    const out = new Array<ProducerRecord>(records.length);
    for (let i = 0; i < records.length; i++) out[i] = recordOf(records[i].data, records[i].metadata ?? NO_METADATA, i, records.length, opts, meta);
    return out;
}

/** Record `i` of `count` with stream, partition key and explicit hash key by the precedence above. */
function recordOf(data: Buffer, m: Record<string, unknown>, i: number, count: number, opts: ResolveOptions, meta: Record<string, unknown>): ProducerRecord {
    const streamName = (str(opts.streamName) ?? str(m.streamName) ?? str(meta.streamName) ?? '').trim();
    const partitionKey = partitionKeyFrom(opts.partitionKey, opts.partitionKeySource ?? 'the Partition key setting')
        ?? (m.partitionKey === undefined || m.partitionKey === null ? undefined
            : partitionKeyFrom(m.partitionKey, count > 1 ? `msg.payload[${i}].metadata.partitionKey` : 'the converter result\'s metadata.partitionKey'))
        ?? partitionKeyFrom(meta.partitionKey, 'msg.metadata.partitionKey')
        ?? generatePartitionKey(opts.keyGeneration === 'hash' ? 'hash' : 'random', data);
    const explicitHashKey = str(opts.explicitHashKey) ?? str(m.explicitHashKey) ?? str(meta.explicitHashKey);
    const rec: ProducerRecord = { streamName, data, partitionKey };
    if (explicitHashKey !== undefined) rec.explicitHashKey = explicitHashKey;
    return rec;
}
