/**
 * The KPL (Kinesis Producer Library) aggregated-record format, both directions.
 *
 * Bytes of an aggregated Kinesis record:
 *   magic `F3 89 9A C2` ‖ protobuf `AggregatedRecord` ‖ MD5(protobuf bytes) (16 bytes)
 *
 *   message AggregatedRecord { repeated string partition_key_table = 1;
 *                              repeated string explicit_hash_key_table = 2;
 *                              repeated Record records = 3; }
 *   message Record { required uint64 partition_key_index = 1; optional uint64 explicit_hash_key_index = 2;
 *                    required bytes data = 3; repeated Tag tags = 4; }
 *   message Tag { required string key = 1; optional string value = 2; }
 *
 * A Kinesis record counts as aggregated only if the magic matches, the MD5 matches and the protobuf
 * parses with valid table indexes. Anything else (short, truncated, corrupt) is passed through raw:
 * `isAggregated` and `deaggregate` never throw on bad bytes.
 *
 * The protobuf reader/writer is a minimal one written for this format (no dependency): varints up to
 * 10 bytes, length-delimited fields, unknown fields of every wire type (incl. groups) skipped, strict
 * bounds checks.
 *
 * Memory: `UserRecord.data` of a deaggregated record is a `Buffer` view (`subarray`) on the outer
 * record's bytes, not a copy: it keeps the whole outer buffer alive and writes to it are visible to
 * the other sub-records. Copy (`Buffer.from(data)`) when you keep a small piece for long.
 */
import * as crypto from 'crypto';
import type { _Record } from '@aws-sdk/client-kinesis';

/** The 4 magic bytes that start a KPL-aggregated record (a copy: changing it changes nothing here). */
export const KPL_MAGIC: Buffer = Buffer.from([0xf3, 0x89, 0x9a, 0xc2]);
export const KPL_MAGIC_LENGTH = 4;
/** Length of the MD5 digest that ends an aggregated record. */
export const KPL_DIGEST_LENGTH = 16;
/** Fixed bytes around the protobuf: magic + MD5. `aggregate([]).length === KPL_OVERHEAD`. */
export const KPL_OVERHEAD = KPL_MAGIC_LENGTH + KPL_DIGEST_LENGTH;

type OneShotHash = (algorithm: string, data: Uint8Array, outputEncoding: 'buffer') => Buffer;
/** `crypto.hash` (Node ≥ 20.12) skips the Hash object: notably faster for small records. */
const oneShotHash: OneShotHash | undefined =
    typeof (crypto as { hash?: unknown }).hash === 'function' ? ((crypto as unknown as { hash: OneShotHash }).hash) : undefined;

function md5(data: Uint8Array): Buffer {
    return oneShotHash ? oneShotHash('md5', data, 'buffer') : crypto.createHash('md5').update(data).digest();
}

const M0 = 0xf3;
const M1 = 0x89;
const M2 = 0x9a;
const M3 = 0xc2;

/** One user record: a deaggregated sub-record, or a whole raw (not aggregated) Kinesis record. */
export interface UserRecord {
    /** Payload. For a sub-record: a view on the outer record's bytes (see the module note). */
    data: Buffer;
    partitionKey: string;
    /** Present only when the record carries one (sub-record with an explicit_hash_key_index). */
    explicitHashKey?: string;
    /** Sequence number of the outer Kinesis record (shared by all its sub-records). */
    sequenceNumber: string;
    /** 0…n−1 within an aggregated record; 0 for a raw record. */
    subSequenceNumber: number;
    /** The outer record's arrival time (the same Date object for all its sub-records). */
    approximateArrivalTimestamp?: Date;
    /** True for a sub-record of a KPL-aggregated record. */
    aggregated: boolean;
}

/** What `aggregate` packs. `explicitHashKey` undefined, null or '' means none. */
export interface AggregateInput {
    data: Uint8Array;
    partitionKey: string;
    explicitHashKey?: string;
}

/** A Kinesis record as the SDK returns it; `ExplicitHashKey` is honoured if some source sets it. */
export type KinesisRecordLike = _Record & { ExplicitHashKey?: string };

// ---------------------------------------------------------------------------------------------
// Protobuf reading
// ---------------------------------------------------------------------------------------------

/** Internal sentinel thrown by the reader; never leaves this module. */
const MALFORMED: { malformed: true } = { malformed: true };
const MAX_GROUP_DEPTH = 64;
const MAX_FIELD_NUMBER = 536870911; // 2^29 − 1

class Reader {
    constructor(public buf: Uint8Array, public pos: number, public end: number) {}

    /** Unsigned varint (≤ 10 bytes). Exact up to 2^53; larger values come back approximate (still huge). */
    varint(): number {
        const buf = this.buf;
        const end = this.end;
        let pos = this.pos;
        if (pos >= end) throw MALFORMED;
        let b = buf[pos++];
        if (b < 0x80) {
            this.pos = pos;
            return b;
        }
        let result = b & 0x7f;
        let shift = 7;
        for (let i = 1; i < 10; i++) {
            if (pos >= end) throw MALFORMED;
            b = buf[pos++];
            if (shift < 28) result |= (b & 0x7f) << shift;
            else result += (b & 0x7f) * 2 ** shift;
            if (b < 0x80) {
                this.pos = pos;
                return result;
            }
            shift += 7;
        }
        throw MALFORMED; // more than 10 bytes
    }

    /** Field tag → [field number * 8 + wire type], validated. */
    tag(): number {
        const t = this.varint();
        if (t < 8 || t > MAX_FIELD_NUMBER * 8 + 7) throw MALFORMED; // field number 0 or too large
        return t;
    }

    /** Length prefix of a length-delimited field; returns the start offset and advances past it. */
    delimited(): number {
        const len = this.varint();
        const start = this.pos;
        if (len > this.end - start) throw MALFORMED;
        this.pos = start + len;
        return start;
    }

    skipBytes(n: number): void {
        if (n > this.end - this.pos) throw MALFORMED;
        this.pos += n;
    }

    /** Skips the value of a field with this wire type (the tag is already read). */
    skip(wireType: number, field: number, depth: number): void {
        switch (wireType) {
            case 0:
                this.varint();
                return;
            case 1:
                this.skipBytes(8);
                return;
            case 2:
                this.delimited();
                return;
            case 5:
                this.skipBytes(4);
                return;
            case 3: {
                // start group: skip fields until the matching end group
                if (depth >= MAX_GROUP_DEPTH) throw MALFORMED;
                for (;;) {
                    const t = this.tag();
                    const wt = t % 8;
                    const f = (t - wt) / 8;
                    if (wt === 4) {
                        if (f !== field) throw MALFORMED;
                        return;
                    }
                    this.skip(wt, f, depth + 1);
                }
            }
            default: // 4 (end group without start), 6, 7
                throw MALFORMED;
        }
    }
}

/**
 * Byte ranges of a parsed AggregatedRecord: `pk`/`ehk` hold [start, end) pairs of the table strings,
 * `recs` holds [partitionKeyIndex, explicitHashKeyIndex (−1 = none), dataStart, dataEnd] per record.
 */
interface Parsed {
    pk: number[];
    ehk: number[];
    recs: number[];
}

function parseRecord(r: Reader, end: number, recs: number[]): void {
    const outerEnd = r.end;
    r.end = end;
    let pkIdx = -1;
    let ehkIdx = -1;
    let dStart = -1;
    let dEnd = -1;
    while (r.pos < end) {
        const t = r.tag();
        switch (t) {
            case 0x08: // 1: partition_key_index, varint
                pkIdx = r.varint();
                break;
            case 0x10: // 2: explicit_hash_key_index, varint
                ehkIdx = r.varint();
                break;
            case 0x1a: // 3: data, bytes
                dStart = r.delimited();
                dEnd = r.pos;
                break;
            default: {
                // tags (4) and anything unknown, or a known field number with another wire type
                const wt = t % 8;
                r.skip(wt, (t - wt) / 8, 0);
            }
        }
    }
    if (pkIdx < 0 || dStart < 0) throw MALFORMED; // required fields missing
    recs.push(pkIdx, ehkIdx, dStart, dEnd);
    r.end = outerEnd;
}

/** Parses and validates `buf[start, end)` as an AggregatedRecord; null if malformed. */
function parseAggregated(buf: Uint8Array, start: number, end: number): Parsed | null {
    const pk: number[] = [];
    const ehk: number[] = [];
    const recs: number[] = [];
    const r = new Reader(buf, start, end);
    try {
        while (r.pos < end) {
            const t = r.tag();
            switch (t) {
                case 0x0a: {
                    const s = r.delimited();
                    pk.push(s, r.pos);
                    break;
                }
                case 0x12: {
                    const s = r.delimited();
                    ehk.push(s, r.pos);
                    break;
                }
                case 0x1a: {
                    const s = r.delimited();
                    const e = r.pos;
                    r.pos = s;
                    parseRecord(r, e, recs);
                    break;
                }
                default: {
                    const wt = t % 8;
                    r.skip(wt, (t - wt) / 8, 0);
                }
            }
        }
    } catch (err) {
        if (err === MALFORMED) return null;
        throw err;
    }
    // indexes may point forward (tables can follow the records), so check them at the end
    const pkCount = pk.length / 2;
    const ehkCount = ehk.length / 2;
    for (let i = 0; i < recs.length; i += 4) {
        if (recs[i] >= pkCount) return null;
        const e = recs[i + 1];
        if (e !== -1 && e >= ehkCount) return null;
    }
    return { pk, ehk, recs };
}

/** Checks magic and MD5, then parses. Null when the bytes are not a valid aggregated record. */
function tryParse(buf: Uint8Array): Parsed | null {
    const len = buf.length;
    if (len < KPL_OVERHEAD || buf[0] !== M0 || buf[1] !== M1 || buf[2] !== M2 || buf[3] !== M3) return null;
    const pbEnd = len - KPL_DIGEST_LENGTH;
    const digest = md5(buf.subarray(KPL_MAGIC_LENGTH, pbEnd));
    for (let i = 0; i < KPL_DIGEST_LENGTH; i++) {
        if (digest[i] !== buf[pbEnd + i]) return null;
    }
    return parseAggregated(buf, KPL_MAGIC_LENGTH, pbEnd);
}

/** The record's Data as a Buffer view (no copy). Tolerates what a careless caller may pass. */
function asBuffer(data: unknown): Buffer {
    if (Buffer.isBuffer(data)) return data;
    if (data instanceof Uint8Array) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (typeof data === 'string') return Buffer.from(data, 'utf8');
    if (data instanceof ArrayBuffer) return Buffer.from(data);
    return Buffer.alloc(0);
}

/** True if `data` is a well-formed KPL aggregated record (magic, MD5 and protobuf with valid indexes). Never throws. */
export function isAggregated(data: Uint8Array): boolean {
    try {
        if (!(data instanceof Uint8Array)) return false;
        return tryParse(data) !== null;
    } catch {
        return false;
    }
}

function rawRecord(record: KinesisRecordLike, data: Buffer): UserRecord {
    const ehk = record.ExplicitHashKey;
    const base = {
        data,
        partitionKey: record.PartitionKey ?? '',
        sequenceNumber: record.SequenceNumber ?? '',
        subSequenceNumber: 0,
        approximateArrivalTimestamp: record.ApproximateArrivalTimestamp,
        aggregated: false,
    };
    return ehk ? { ...base, explicitHashKey: ehk } : base;
}

/**
 * The user records in one Kinesis record: its sub-records if it is KPL-aggregated (subSequenceNumber
 * 0…n−1, sequence number and arrival time of the outer record, keys from the tables), else the record
 * itself (one entry, aggregated=false). An aggregated record with an empty record list gives [].
 * Never throws on bad bytes.
 */
export function deaggregate(record: KinesisRecordLike): UserRecord[] {
    const buf = asBuffer(record.Data);
    let parsed: Parsed | null;
    try {
        parsed = tryParse(buf);
    } catch {
        parsed = null;
    }
    if (parsed === null) return [rawRecord(record, buf)];

    const { pk, ehk, recs } = parsed;
    const pkStrings: string[] = new Array(pk.length / 2);
    for (let i = 0; i < pk.length; i += 2) pkStrings[i / 2] = buf.toString('utf8', pk[i], pk[i + 1]);
    const ehkStrings: string[] = new Array(ehk.length / 2);
    for (let i = 0; i < ehk.length; i += 2) ehkStrings[i / 2] = buf.toString('utf8', ehk[i], ehk[i + 1]);

    const sequenceNumber = record.SequenceNumber ?? '';
    const ts = record.ApproximateArrivalTimestamp;
    const out: UserRecord[] = new Array(recs.length / 4);
    for (let i = 0, n = 0; i < recs.length; i += 4, n++) {
        const data = buf.subarray(recs[i + 2], recs[i + 3]);
        const partitionKey = pkStrings[recs[i]];
        const e = recs[i + 1];
        out[n] =
            e === -1
                ? { data, partitionKey, sequenceNumber, subSequenceNumber: n, approximateArrivalTimestamp: ts, aggregated: true }
                : {
                      data,
                      partitionKey,
                      explicitHashKey: ehkStrings[e],
                      sequenceNumber,
                      subSequenceNumber: n,
                      approximateArrivalTimestamp: ts,
                      aggregated: true,
                  };
    }
    return out;
}

/** `deaggregate` over a batch, flattened in order. */
export function deaggregateAll(records: readonly KinesisRecordLike[]): UserRecord[] {
    const out: UserRecord[] = [];
    for (const r of records) {
        const users = deaggregate(r);
        for (let i = 0; i < users.length; i++) out.push(users[i]);
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// Protobuf writing
// ---------------------------------------------------------------------------------------------

/** Bytes of `v` (a non-negative integer ≤ 2^53) as a protobuf varint. */
export function varintSize(v: number): number {
    if (v < 0x80) return 1;
    if (v < 0x4000) return 2;
    if (v < 0x200000) return 3;
    if (v < 0x10000000) return 4;
    let n = 4;
    v = Math.floor(v / 0x10000000);
    while (v > 0) {
        n++;
        v = Math.floor(v / 128);
    }
    return n;
}

function writeVarint(out: Buffer, pos: number, v: number): number {
    if (v < 0x80000000) {
        while (v >= 0x80) {
            out[pos++] = (v & 0x7f) | 0x80;
            v >>>= 7;
        }
        out[pos++] = v;
        return pos;
    }
    while (v >= 0x80) {
        out[pos++] = (v % 128) | 0x80;
        v = Math.floor(v / 128);
    }
    out[pos++] = v;
    return pos;
}

function hasEhk(k: string | undefined | null): k is string {
    return typeof k === 'string' && k.length > 0;
}

/**
 * Builds one aggregated record incrementally and knows its exact size at every step, so a producer
 * can ask `wouldFit(next, limit)` before adding. Keys are deduplicated into the tables. Holds the
 * data arrays by reference until `build()`: don't change them in between.
 *
 * Size limits: Kinesis counts data + partition key of the outer record, so for a 1 MiB record limit
 * pass `limit = 1048576 − byteLength(outer partition key)`.
 */
export class Aggregator {
    private pkIndex = new Map<string, number>();
    private pkKeys: string[] = [];
    private pkLens: number[] = [];
    private ehkIndex = new Map<string, number>();
    private ehkKeys: string[] = [];
    private ehkLens: number[] = [];
    private datas: Uint8Array[] = [];
    /** Per record: partition key index, explicit hash key index (−1 none), body length. */
    private meta: number[] = [];
    private pbSize = 0;

    /** Number of user records added. */
    get count(): number {
        return this.datas.length;
    }

    /** Partition key of the first record added (what a producer usually uses for the outer record). */
    get firstPartitionKey(): string | undefined {
        return this.pkKeys[0];
    }

    /** Explicit hash key of the first record added, if it had one. */
    get firstExplicitHashKey(): string | undefined {
        const e = this.meta.length > 0 ? this.meta[1] : -1;
        return e >= 0 ? this.ehkKeys[e] : undefined;
    }

    /** Bytes `build()` would return now. */
    size(): number {
        return KPL_OVERHEAD + this.pbSize;
    }

    /** Bytes `build()` would return after `add(r)`. */
    sizeWith(r: AggregateInput): number {
        check(r);
        let cost = 0;
        let pi = this.pkIndex.get(r.partitionKey);
        if (pi === undefined) {
            pi = this.pkKeys.length;
            const l = Buffer.byteLength(r.partitionKey, 'utf8');
            cost += 1 + varintSize(l) + l;
        }
        let body = 1 + varintSize(pi);
        const ehk = r.explicitHashKey;
        if (hasEhk(ehk)) {
            let ei = this.ehkIndex.get(ehk);
            if (ei === undefined) {
                ei = this.ehkKeys.length;
                const l = Buffer.byteLength(ehk, 'utf8');
                cost += 1 + varintSize(l) + l;
            }
            body += 1 + varintSize(ei);
        }
        const dl = r.data.byteLength;
        body += 1 + varintSize(dl) + dl;
        cost += 1 + varintSize(body) + body;
        return KPL_OVERHEAD + this.pbSize + cost;
    }

    /** True if the aggregate would still be ≤ `limit` bytes after `add(r)`. */
    wouldFit(r: AggregateInput, limit: number): boolean {
        return this.sizeWith(r) <= limit;
    }

    /** Adds a record. Throws a TypeError on a non-string partition key or non-Uint8Array data. */
    add(r: AggregateInput): void {
        check(r);
        let pi = this.pkIndex.get(r.partitionKey);
        if (pi === undefined) {
            pi = this.pkKeys.length;
            const l = Buffer.byteLength(r.partitionKey, 'utf8');
            this.pkIndex.set(r.partitionKey, pi);
            this.pkKeys.push(r.partitionKey);
            this.pkLens.push(l);
            this.pbSize += 1 + varintSize(l) + l;
        }
        let body = 1 + varintSize(pi);
        let ei = -1;
        const ehk = r.explicitHashKey;
        if (hasEhk(ehk)) {
            let idx = this.ehkIndex.get(ehk);
            if (idx === undefined) {
                idx = this.ehkKeys.length;
                const l = Buffer.byteLength(ehk, 'utf8');
                this.ehkIndex.set(ehk, idx);
                this.ehkKeys.push(ehk);
                this.ehkLens.push(l);
                this.pbSize += 1 + varintSize(l) + l;
            }
            ei = idx;
            body += 1 + varintSize(ei);
        }
        const dl = r.data.byteLength;
        body += 1 + varintSize(dl) + dl;
        this.pbSize += 1 + varintSize(body) + body;
        this.datas.push(r.data);
        this.meta.push(pi, ei, body);
    }

    /** The aggregated record: magic ‖ protobuf ‖ MD5. Does not reset. */
    build(): Buffer {
        const pbSize = this.pbSize;
        const out = Buffer.allocUnsafe(KPL_OVERHEAD + pbSize);
        out[0] = M0;
        out[1] = M1;
        out[2] = M2;
        out[3] = M3;
        let pos = KPL_MAGIC_LENGTH;
        for (let i = 0; i < this.pkKeys.length; i++) {
            out[pos++] = 0x0a;
            pos = writeVarint(out, pos, this.pkLens[i]);
            pos += out.write(this.pkKeys[i], pos, this.pkLens[i], 'utf8');
        }
        for (let i = 0; i < this.ehkKeys.length; i++) {
            out[pos++] = 0x12;
            pos = writeVarint(out, pos, this.ehkLens[i]);
            pos += out.write(this.ehkKeys[i], pos, this.ehkLens[i], 'utf8');
        }
        const meta = this.meta;
        for (let i = 0, m = 0; i < this.datas.length; i++, m += 3) {
            const data = this.datas[i];
            out[pos++] = 0x1a;
            pos = writeVarint(out, pos, meta[m + 2]);
            out[pos++] = 0x08;
            pos = writeVarint(out, pos, meta[m]);
            if (meta[m + 1] >= 0) {
                out[pos++] = 0x10;
                pos = writeVarint(out, pos, meta[m + 1]);
            }
            out[pos++] = 0x1a;
            pos = writeVarint(out, pos, data.byteLength);
            out.set(data, pos);
            pos += data.byteLength;
        }
        if (pos !== KPL_MAGIC_LENGTH + pbSize) throw new Error(`KPL aggregate size mismatch: wrote ${pos - KPL_MAGIC_LENGTH}, expected ${pbSize}`);
        const digest = md5(out.subarray(KPL_MAGIC_LENGTH, pos));
        digest.copy(out, pos);
        return out;
    }

    /** Empties the aggregator for the next aggregate. */
    reset(): void {
        this.pkIndex.clear();
        this.pkKeys = [];
        this.pkLens = [];
        this.ehkIndex.clear();
        this.ehkKeys = [];
        this.ehkLens = [];
        this.datas = [];
        this.meta = [];
        this.pbSize = 0;
    }
}

function check(r: AggregateInput): void {
    if (r === null || typeof r !== 'object') throw new TypeError('KPL aggregate: record must be an object');
    if (typeof r.partitionKey !== 'string') throw new TypeError('KPL aggregate: partitionKey must be a string');
    if (!(r.data instanceof Uint8Array)) throw new TypeError('KPL aggregate: data must be a Buffer or Uint8Array');
    const ehk = r.explicitHashKey;
    if (ehk !== undefined && ehk !== null && typeof ehk !== 'string') {
        throw new TypeError('KPL aggregate: explicitHashKey must be a string');
    }
}

/** One KPL aggregated record (magic ‖ protobuf ‖ MD5) holding `records`, keys deduplicated. */
export function aggregate(records: AggregateInput[]): Buffer {
    const a = new Aggregator();
    for (const r of records) a.add(r);
    return a.build();
}

/** Exactly `aggregate(records).length`, without encoding. */
export function aggregatedSize(records: AggregateInput[]): number {
    const a = new Aggregator();
    for (const r of records) a.add(r);
    return a.size();
}
