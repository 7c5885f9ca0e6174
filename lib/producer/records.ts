/**
 * Kinesis record rules for the producer (limits from the PutRecords API):
 * partition key 1–256 Unicode characters; ExplicitHashKey a decimal 0 … 2^128−1;
 * data + partition key (UTF-8 bytes) ≤ the stream's maximum record size (1 MiB by default,
 * up to 10 MiB for streams configured for large records); ≤ 500 records and ≤ 5 MiB per request.
 */
import { createHash, randomUUID } from 'node:crypto';

export const MIB = 1024 * 1024;
export const DEFAULT_MAX_RECORD_BYTES = MIB;
export const LARGEST_RECORD_BYTES = 10 * MIB;
export const MAX_RECORDS_PER_REQUEST = 500;
export const MAX_REQUEST_BYTES = 5 * MIB;
/** PutRecords accepts 10 MiB per request on streams that allow records over 1 MiB. */
export const MAX_LARGE_REQUEST_BYTES = 10 * MIB;
export const MAX_HASH_KEY = (1n << 128n) - 1n;
const HASH_KEY_PATTERN = /^(0|[1-9]\d{0,38})$/;

/** A stream ARN: arn:aws:kinesis:<region>:<account>:stream/<name> (aws-cn, aws-us-gov partitions too). */
export const STREAM_ARN_PATTERN = /^arn:aws[a-z-]{0,16}:kinesis:[a-z0-9-]{1,32}:\d{12}:stream\/([a-zA-Z0-9_.-]{1,128})$/;
const STREAM_NAME_PATTERN = /^[a-zA-Z0-9_.-]{1,128}$/;

/** True when `ref` is a stream ARN (not a name). */
export function isStreamArn(ref: string): boolean {
    return ref.startsWith('arn:');
}

/** The stream name in a name or ARN. */
export function streamNameOf(ref: string): string {
    const m = STREAM_ARN_PATTERN.exec(ref);
    return m ? m[1] : ref;
}

/**
 * The request parameter naming a stream: `StreamARN` for an ARN (another account's stream, reached
 * with the caller's own or an assumed role), `StreamName` for a name (kinesalite and some local
 * stacks reject StreamARN, so a name is always sent as a name).
 */
export function streamTarget(ref: string): { StreamName: string } | { StreamARN: string } {
    return isStreamArn(ref) ? { StreamARN: ref } : { StreamName: ref };
}

/** One record for Kinesis. */
export interface ProducerRecord {
    /** Stream name, or stream ARN (arn:aws:kinesis:region:account:stream/name). */
    streamName: string;
    data: Uint8Array;
    partitionKey: string;
    explicitHashKey?: string;
}

/** Number of Unicode characters (code points), the unit of the 256-character partition key limit. */
export function characterCount(text: string): number {
    let n = 0;
    for (const _ of text) n++;
    return n;
}

/** Bytes a record counts against the record and request limits: data + UTF-8 partition key. */
export function recordBytes(data: Uint8Array, partitionKey: string): number {
    return data.length + utf8Bytes(partitionKey);
}

/** UTF-8 bytes of a text: its length when ASCII (most keys: no call into Buffer per record). */
export function utf8Bytes(text: string): number {
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) >= 0x80) return Buffer.byteLength(text, 'utf8');
    return text.length;
}

/** Problem with a partition key in words, or undefined when valid. */
export function checkPartitionKey(key: unknown): string | undefined {
    if (typeof key !== 'string') return `partition key must be a string, got ${key === null ? 'null' : typeof key}`;
    if (key.length === 0) return 'partition key is empty (it must be 1–256 characters)';
    const n = characterCount(key);
    if (n > 256) return `partition key is ${n} characters long (at most 256)`;
    return undefined;
}

/** Problem with an explicit hash key in words, or undefined when valid. */
export function checkExplicitHashKey(key: unknown): string | undefined {
    if (typeof key !== 'string' || !HASH_KEY_PATTERN.test(key)) {
        return `explicit hash key ${JSON.stringify(key)} is not a decimal number 0 … 2^128−1 without leading zeros`;
    }
    if (BigInt(key) > MAX_HASH_KEY) return `explicit hash key ${key} is larger than 2^128−1`;
    return undefined;
}

function clip(text: string): string {
    return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/** Problem with a stream name or ARN in words, or undefined when valid. */
export function checkStreamName(ref: unknown): string | undefined {
    if (typeof ref !== 'string' || ref === '') return 'no stream name (set the Stream field, or metadata.streamName)';
    if (isStreamArn(ref)) {
        if (!STREAM_ARN_PATTERN.test(ref)) return `stream ARN ${JSON.stringify(clip(ref))} is not valid (arn:aws:kinesis:<region>:<account>:stream/<name>)`;
    } else if (!STREAM_NAME_PATTERN.test(ref)) {
        return `stream name ${JSON.stringify(clip(ref))} is not valid (1–128 of a-z A-Z 0-9 _ . -, or a stream ARN)`;
    }
    return undefined;
}

/**
 * Problem with a record whose stream name is valid, in words — or, when valid, its size in bytes
 * (data + partition key, computed once here for the producer's limits).
 */
export function checkRecordOfStream(rec: ProducerRecord, maxRecordBytes: number): string | number {
    if (!(rec.data instanceof Uint8Array)) return 'data is not a Buffer';
    const key = rec.partitionKey;
    // at most 256 UTF-16 units is at most 256 characters: count only longer keys
    const keyProblem = typeof key === 'string' && key.length > 0 && key.length <= 256 ? undefined : checkPartitionKey(key);
    if (keyProblem) return keyProblem;
    if (rec.explicitHashKey !== undefined) {
        const ehk = checkExplicitHashKey(rec.explicitHashKey);
        if (ehk) return ehk;
    }
    const size = recordBytes(rec.data, key);
    if (size > maxRecordBytes) {
        return `record is ${size} bytes (data + partition key), over the ${maxRecordBytes}-byte limit`;
    }
    return size;
}

/** Problem with a whole record in words, or undefined when valid. */
export function checkRecord(rec: ProducerRecord, maxRecordBytes: number): string | undefined {
    const problem = checkStreamName(rec.streamName) ?? checkRecordOfStream(rec, maxRecordBytes);
    return typeof problem === 'string' ? problem : undefined;
}

/** A partition key for a record that has none: random (spreads over shards) or the MD5 hex of the data. */
export function generatePartitionKey(mode: 'random' | 'hash', data: Uint8Array): string {
    if (mode === 'hash') return createHash('md5').update(data).digest('hex');
    return randomUUID();
}

/** The 128-bit hash key Kinesis routes a record by: the explicit hash key, else MD5(partition key). */
export function hashKeyOf(partitionKey: string, explicitHashKey?: string): bigint {
    if (explicitHashKey !== undefined) return BigInt(explicitHashKey);
    return BigInt(`0x${createHash('md5').update(partitionKey, 'utf8').digest('hex')}`);
}
