/**
 * The producer's units of work: a message (Ticket), one of its records (Part) and what one
 * PutRecords entry carries (Entry: one record, or a KPL aggregate of several).
 */
import type { ExplainedError } from '../aws/errors';
import type { WriteResult } from './errors';
import type { RecordFailure } from './errors';
import { hashKeyOf, ProducerRecord } from './records';

/** One `put()` call of several records: settles when every part is done (a one-record message has none: its Part settles it). */
export interface Ticket {
    parts: Part[];
    results: Array<WriteResult | undefined>;
    /** Created with the first failure (undefined: none). */
    failures: RecordFailure[] | undefined;
    remaining: number;
    settled: boolean;
    lastError?: ExplainedError;
    callback: WriteCallback;
    /** The caller's two values handed back to the callback (see Producer.write). */
    a: unknown;
    b: unknown;
}

/**
 * How a message's outcome is reported: (null, one result per record) or (error); `a` and `b` are the
 * values given to `write` (no closure per message needed).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type WriteCallback<A = any, B = any> = (err: Error | null, results: WriteResult[] | undefined, a: A, b: B) => void;

/** One record of a message. */
export interface Part {
    /** The message's ticket; undefined when the message is this one record (then `callback` is its callback). */
    ticket: Ticket | undefined;
    callback: WriteCallback | undefined;
    /** One-record message: the caller's values for its callback. */
    a: unknown;
    b: unknown;
    index: number;
    rec: ProducerRecord;
    /** Data + partition key bytes. */
    size: number;
    enqueuedAt: number;
    done: boolean;
    /** The 128-bit hash key Kinesis routes it by (computed once, when aggregating). */
    hash?: bigint;
}

/** One PutRecords entry: one record (`part`), or a KPL aggregate of several (`parts`, `keys`). */
export interface Entry {
    /** The record of a plain entry; an aggregate's first sub-record. */
    part: Part;
    /** An aggregate's sub-records (undefined for a plain entry: no array per record). */
    parts: Part[] | undefined;
    /** An aggregate's distinct partition keys (the order locks it holds, one each); a plain entry holds its partitionKey's. */
    keys: string[] | undefined;
    partitionKey: string;
    explicitHashKey?: string;
    data: Uint8Array;
    size: number;
    /** Requests that carried this entry so far. */
    attempts: number;
    notBefore: number;
    enqueuedAt: number;
    aggregated: boolean;
    /** Aggregates: the shard the map said its explicit hash key belongs to. */
    expectedShard?: string;
}

export function entryOf(p: Part, attempts = 0): Entry {
    return {
        part: p,
        parts: undefined,
        keys: undefined,
        partitionKey: p.rec.partitionKey,
        explicitHashKey: p.rec.explicitHashKey,
        data: p.rec.data,
        size: p.size,
        attempts,
        notBefore: 0,
        enqueuedAt: p.enqueuedAt,
        aggregated: false,
    };
}

export function hashOf(p: Part): bigint {
    if (p.hash === undefined) p.hash = hashKeyOf(p.rec.partitionKey, p.rec.explicitHashKey);
    return p.hash;
}

/** The parts of an entry as a list (close and resharding paths; not per record). */
export function partsOf(e: Entry): Part[] {
    return e.parts ?? [e.part];
}
