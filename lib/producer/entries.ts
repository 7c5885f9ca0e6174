/**
 * The producer's units of work: a message of several records (Ticket), one record (Part) and what
 * one PutRecords entry carries (Entry: a plain record is its own entry — no second object per record —
 * or an Aggregate, a KPL aggregated record of several parts).
 *
 * A record waiting for Kinesis holds one object, its Part: the record's fields are copied in (the
 * caller's record object and array are not kept), the per-key queue links parts through `next`, and
 * a one-record message is settled by its Part (no ticket). Objects held from `write` to the answer
 * live long enough to be promoted by the garbage collector; fewer of them is most of the cost.
 */
import type { ExplainedError } from '../aws/errors';
import type { WriteResult } from './errors';
import type { RecordFailure } from './errors';
import { hashKeyOf } from './records';

/** One `write()` call of several records: settles when every part is done (a one-record message has none: its Part settles it). */
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

/** One record of a message; as a plain PutRecords entry (`aggregated` false) also its entry. */
export class Part {
    // the record
    readonly streamName: string;
    readonly data: Uint8Array;
    readonly partitionKey: string;
    readonly explicitHashKey: string | undefined;
    /** Data + partition key bytes. */
    readonly size: number;
    // its message
    /** The message's ticket; undefined when the message is this one record (then `callback` is its callback). */
    readonly ticket: Ticket | undefined;
    readonly callback: WriteCallback | undefined;
    /** One-record message: the caller's values for its callback. */
    readonly a: unknown;
    readonly b: unknown;
    readonly index: number;
    enqueuedAt: number;
    done = false;
    /** The 128-bit hash key Kinesis routes it by (computed once, when aggregating). */
    hash: bigint | undefined = undefined;
    /** The next queued record of the same key (or, without key order, of the stream): queue.ts. */
    next: Part | undefined = undefined;
    /** Its key's state in the queue (key order): the lock it holds is released through it, no lookup (queue.ts). */
    keyState: object | undefined = undefined;
    // as an entry (the constant members are on the prototype, below: not stored per record)
    declare readonly aggregated: false;
    declare readonly parts: undefined;
    declare readonly keys: undefined;
    declare readonly expectedShard: undefined;
    /** Requests that carried this record so far. */
    attempts = 0;
    /** Not retried before (epoch ms). */
    notBefore = 0;

    constructor(streamName: string, data: Uint8Array, partitionKey: string, explicitHashKey: string | undefined, size: number,
        ticket: Ticket | undefined, callback: WriteCallback | undefined, a: unknown, b: unknown, index: number, enqueuedAt: number) {
        this.streamName = streamName;
        this.data = data;
        this.partitionKey = partitionKey;
        this.explicitHashKey = explicitHashKey;
        this.size = size;
        this.ticket = ticket;
        this.callback = callback;
        this.a = a;
        this.b = b;
        this.index = index;
        this.enqueuedAt = enqueuedAt;
    }
}

Object.assign(Part.prototype, { aggregated: false, parts: undefined, keys: undefined, expectedShard: undefined });

/** A KPL aggregate of several parts, sent as one PutRecords entry. */
export interface Aggregate {
    readonly aggregated: true;
    /** The sub-records, in their order in the aggregate. */
    readonly parts: Part[];
    /** The distinct partition keys of the sub-records (the order locks it holds, one each). */
    readonly keys: string[];
    /** The first sub-record's key; its explicit hash key routes the aggregate. */
    readonly partitionKey: string;
    readonly explicitHashKey: string;
    readonly data: Uint8Array;
    readonly size: number;
    attempts: number;
    notBefore: number;
    readonly enqueuedAt: number;
    /** The shard the map said its explicit hash key belongs to. */
    readonly expectedShard: string;
}

/** One PutRecords entry: a plain record (its Part), or an aggregate. */
export type Entry = Part | Aggregate;

export function hashOf(p: Part): bigint {
    if (p.hash === undefined) p.hash = hashKeyOf(p.partitionKey, p.explicitHashKey);
    return p.hash;
}

/** The parts of an entry as a list (close and resharding paths; not per record). */
export function partsOf(e: Entry): Part[] {
    return e.aggregated ? e.parts : [e];
}
