/**
 * The producer engine behind `kinesis-out` (no Node-RED here).
 *
 * `put(records)` takes the records of one message and resolves, once every one of them is
 * acknowledged by Kinesis, to their `{streamName, shardId, sequenceNumber}` — or rejects with a
 * `ProducerError` naming the records that could not be written and why.
 *
 * Batching: per stream, records wait up to `lingerMs` and go out in PutRecords requests of
 * ≤ 500 records and ≤ 5 MiB (data + partition keys; 10 MiB when records over 1 MiB are allowed),
 * at most `maxInFlight` requests at a time over all streams.
 *
 * Retries: only the entries a PutRecords response marks as failed (ProvisionedThroughputExceeded,
 * InternalFailure, KMS throttling), or every entry of a request that failed as a whole with a
 * retryable error (throttling, network, 5xx), are retried, after exponential backoff with full
 * jitter (random 0 … min(maxBackoffMs, baseBackoffMs · 2^attempt)). After `maxRetries` retries
 * the record fails. Non-retryable errors (stream not found, access denied, bad credentials) fail
 * at once.
 *
 * Order (keyOrder, the default): for one stream and partition key, a record is sent only after the
 * previous record with that key has been acknowledged (or has finally failed). So at most one
 * record per key is in flight, a retried record is never overtaken by a later one with the same key,
 * and records with the same key are stored in the order `put` received them. Records with different
 * keys are batched together freely. With keyOrder off, same-key records may share a request and
 * retries may reorder them (more throughput for a single hot key).
 * Ordered mode: one PutRecord per record with SequenceNumberForOrdering = the sequence number of
 * the previous record with that key (Kinesis's own per-key ordering), implies keyOrder.
 *
 * Backpressure: at most `maxQueued` records wait (queued + in flight + retrying). A message that
 * does not fit is rejected at once with a `QueueFullError`; nothing of it is queued.
 *
 * Aggregation (optional): records going to the same shard (by the stream's shard map: MD5 of the
 * partition key, or the explicit hash key, within a shard's hash key range) are packed into KPL
 * aggregated records of ≤ `aggregateMaxBytes`; the aggregated record carries the first record's
 * partition key and, as explicit hash key, that record's hash key, so it lands on that shard.
 */
import {
    ListShardsCommand,
    ListShardsCommandOutput,
    PutRecordCommand,
    PutRecordsCommand,
    PutRecordsCommandOutput,
    PutRecordCommandOutput,
} from '@aws-sdk/client-kinesis';
import { explainAwsError, ExplainedError } from '../aws/errors';
import { aggregate as kplAggregate } from '../kpl';
import {
    checkRecord,
    DEFAULT_MAX_RECORD_BYTES,
    hashKeyOf,
    LARGEST_RECORD_BYTES,
    MAX_LARGE_REQUEST_BYTES,
    MAX_RECORDS_PER_REQUEST,
    MAX_REQUEST_BYTES,
    MIB,
    ProducerRecord,
    recordBytes,
} from './records';

/** The one method of KinesisClient the producer uses (tests wrap it to inject faults). */
export interface KinesisSender {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    send(command: any, options?: { abortSignal?: AbortSignal }): Promise<any>;
}

/** The KPL aggregation the producer needs (default: lib/kpl). */
export interface RecordAggregator {
    aggregate(records: Array<{ data: Uint8Array; partitionKey: string; explicitHashKey?: string }>): Buffer;
}

export interface WriteResult {
    streamName: string;
    shardId: string;
    sequenceNumber: string;
    /** Position inside a KPL aggregated record (only when aggregation is on). */
    subSequenceNumber?: number;
}

export interface RecordFailure {
    /** Index of the record within its message. */
    index: number;
    streamName: string;
    partitionKey: string;
    /** AWS error code, e.g. ProvisionedThroughputExceededException. */
    code: string;
    /** Words a user can act on. */
    message: string;
    /** Requests that carried this record. */
    attempts: number;
}

export interface ProducerOptions {
    client: KinesisSender;
    /** How long a record may wait for others to share its request (0–1000 ms). Default 50. */
    lingerMs?: number;
    /** Requests at the same time over all streams. Default 4. */
    maxInFlight?: number;
    /** Max data + partition key bytes of one record. Default 1 MiB, at most 10 MiB. */
    maxRecordBytes?: number;
    /** Retries of one record after its first attempt. Default 8. */
    maxRetries?: number;
    baseBackoffMs?: number;
    maxBackoffMs?: number;
    /** Records that may wait (queued, in flight, retrying). Default 10 000. */
    maxQueued?: number;
    /** Keep per-key order (default true). */
    keyOrder?: boolean;
    /** PutRecord with SequenceNumberForOrdering per key. */
    ordered?: boolean;
    /** KPL aggregation of records that go to the same shard. */
    aggregate?: boolean;
    aggregator?: RecordAggregator;
    /** Max bytes of one aggregated record. Default 51 200 (as the KPL). */
    aggregateMaxBytes?: number;
    /** Turns an AWS error into words; default explainAwsError with action + stream. */
    explain?: (err: unknown, ctx: { action: string; streamName: string }) => ExplainedError;
    /** Called when records are being retried (e.g. to show "throttled, retrying"). */
    onRetry?: (info: { streamName: string; records: number; error: ExplainedError }) => void;
    /** Called when a request or record failed for good. */
    onFailure?: (info: { streamName: string; records: number; error: ExplainedError }) => void;
    /** Random source in [0, 1) for jitter (tests). */
    random?: () => number;
}

export class RecordValidationError extends Error {
    readonly code = 'InvalidRecord';
    readonly problems: Array<{ index: number; message: string }>;
    constructor(problems: Array<{ index: number; message: string }>, total: number) {
        const list = problems.slice(0, 5).map((p) => (total > 1 ? `record #${p.index}: ${p.message}` : p.message)).join('; ');
        const more = problems.length > 5 ? `; and ${problems.length - 5} more` : '';
        super(`not sent: ${list}${more}`);
        this.name = 'RecordValidationError';
        this.problems = problems;
    }
}

export class QueueFullError extends Error {
    readonly code = 'QueueFull';
    constructor(queued: number, adding: number, max: number) {
        super(`not sent: the producer queue is full (${queued} records waiting, ${adding} more would exceed ${max}) — Kinesis is not keeping up: slow the flow down, add shards or raise "max queued"`);
        this.name = 'QueueFullError';
    }
}

export class ProducerClosedError extends Error {
    readonly code = 'ProducerClosed';
    constructor() {
        super('not sent: the node is stopping');
        this.name = 'ProducerClosedError';
    }
}

/** A message whose records were not all written. `results[i]` is set for records that were. */
export class ProducerError extends Error {
    readonly code: string;
    readonly kind: string;
    readonly status: string;
    readonly failures: RecordFailure[];
    readonly results: Array<WriteResult | undefined>;
    constructor(failures: RecordFailure[], results: Array<WriteResult | undefined>, explained?: ExplainedError) {
        const total = results.length;
        const groups = new Map<string, RecordFailure[]>();
        for (const f of failures) {
            const g = groups.get(f.message) ?? [];
            g.push(f);
            groups.set(f.message, g);
        }
        const parts: string[] = [];
        for (const [message, fs] of groups) {
            const names = fs.slice(0, 5).map((f) => `#${f.index} (key ${JSON.stringify(f.partitionKey.length > 40 ? `${f.partitionKey.slice(0, 40)}…` : f.partitionKey)}, ${f.attempts} attempt${f.attempts === 1 ? '' : 's'})`);
            if (fs.length > 5) names.push(`and ${fs.length - 5} more`);
            parts.push(`${message} [record${fs.length === 1 ? '' : 's'} ${names.join(', ')}]`);
        }
        const head = total === 1 ? 'record not written to Kinesis' : `${failures.length} of ${total} records not written to Kinesis`;
        super(`${head}: ${parts.join('; ')}`);
        this.name = 'ProducerError';
        this.failures = failures;
        this.results = results;
        this.code = failures[0]?.code ?? 'Error';
        this.kind = explained?.kind ?? 'unknown';
        this.status = explained?.status ?? 'not written';
    }
}

interface Ticket {
    parts: Part[];
    results: Array<WriteResult | undefined>;
    failures: RecordFailure[];
    remaining: number;
    settled: boolean;
    lastError?: ExplainedError;
    resolve(r: WriteResult[]): void;
    reject(e: Error): void;
}

interface Part {
    ticket: Ticket;
    index: number;
    rec: ProducerRecord;
    size: number;
    enqueuedAt: number;
    done: boolean;
}

interface Entry {
    parts: Part[];
    /** Distinct partition keys of the parts (the order locks it holds). */
    keys: string[];
    partitionKey: string;
    explicitHashKey?: string;
    data: Uint8Array;
    size: number;
    attempts: number;
    notBefore: number;
    enqueuedAt: number;
    aggregated: boolean;
    expectedShard?: string;
}

interface ShardRange {
    shardId: string;
    start: bigint;
    end: bigint;
}

interface StreamState {
    name: string;
    pending: Part[];
    retry: Entry[];
    /** Partition key → records holding its order lock (in flight or waiting to retry). */
    locks: Map<string, number>;
    /** Last sequence number per key (ordered mode), bounded. */
    lastSeq: Map<string, string>;
    /** Nothing sendable until a request completes or a record arrives. */
    stalled: boolean;
    shards?: ShardRange[];
    shardsLoading?: boolean;
    shardsRetryAt?: number;
}

const RETRYABLE_ENTRY_CODES = new Set(['ProvisionedThroughputExceededException', 'InternalFailure', 'KMSThrottlingException']);

/** Full-jitter exponential backoff before retry `attempt` (1 = first retry): random 0 … min(max, base · 2^(attempt−1)). */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
    const cap = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
    return Math.floor(random() * cap);
}

function clampInt(v: unknown, min: number, max: number, dflt: number): number {
    const n = Number(v);
    if (v === undefined || v === null || v === '' || !Number.isFinite(n)) return dflt;
    return Math.min(max, Math.max(min, Math.floor(n)));
}

export class Producer {
    private readonly client: KinesisSender;
    private lingerMs: number;
    private readonly maxInFlight: number;
    private readonly maxRecordBytes: number;
    private readonly maxRequestBytes: number;
    private readonly maxRetries: number;
    private readonly baseBackoffMs: number;
    private readonly maxBackoffMs: number;
    private readonly maxQueued: number;
    private readonly keyOrder: boolean;
    private readonly ordered: boolean;
    private readonly aggregator?: RecordAggregator;
    private readonly aggregateMaxBytes: number;
    private readonly explainFn: NonNullable<ProducerOptions['explain']>;
    private readonly opts: ProducerOptions;
    private readonly random: () => number;

    private readonly streams = new Map<string, StreamState>();
    private readonly tickets = new Set<Ticket>();
    private readonly controllers = new Set<AbortController>();
    private inFlight = 0;
    private queued = 0;
    private timer?: NodeJS.Timeout;
    private timerAt = Infinity;
    private closing = false;
    private closed = false;
    private pumping = false;
    private repump = false;
    private rr = 0;
    /** Counters for status and benchmarks. */
    written = 0;
    failed = 0;
    requests = 0;
    retried = 0;

    constructor(opts: ProducerOptions) {
        this.opts = opts;
        this.client = opts.client;
        this.lingerMs = clampInt(opts.lingerMs, 0, 1000, 50);
        this.maxInFlight = clampInt(opts.maxInFlight, 1, 64, 4);
        this.maxRecordBytes = clampInt(opts.maxRecordBytes, 1, LARGEST_RECORD_BYTES, DEFAULT_MAX_RECORD_BYTES);
        this.maxRequestBytes = this.maxRecordBytes > MIB ? MAX_LARGE_REQUEST_BYTES : MAX_REQUEST_BYTES;
        this.maxRetries = clampInt(opts.maxRetries, 0, 100, 8);
        this.baseBackoffMs = clampInt(opts.baseBackoffMs, 1, 60_000, 100);
        this.maxBackoffMs = clampInt(opts.maxBackoffMs, this.baseBackoffMs, 300_000, 5_000);
        this.maxQueued = clampInt(opts.maxQueued, 1, 10_000_000, 10_000);
        this.ordered = !!opts.ordered;
        this.keyOrder = this.ordered || opts.keyOrder !== false;
        this.aggregator = opts.aggregate && !this.ordered ? (opts.aggregator ?? { aggregate: kplAggregate }) : undefined;
        this.aggregateMaxBytes = clampInt(opts.aggregateMaxBytes, 1024, this.maxRecordBytes, Math.min(51_200, this.maxRecordBytes));
        this.random = opts.random ?? Math.random;
        this.explainFn = opts.explain ?? ((err, ctx) => explainAwsError(err, ctx));
    }

    /** Records waiting: queued, in flight or waiting to be retried. */
    get backlog(): number {
        return this.queued;
    }

    /** Messages (put calls) not settled yet. */
    get pendingMessages(): number {
        return this.tickets.size;
    }

    /**
     * Queues the records of one message. Resolves with one result per record (same order) once all
     * are acknowledged; rejects with RecordValidationError (nothing sent), QueueFullError (nothing
     * sent), ProducerClosedError, or ProducerError (some or all records not written).
     */
    put(records: ProducerRecord[]): Promise<WriteResult[]> {
        if (this.closing) return Promise.reject(new ProducerClosedError());
        const problems: Array<{ index: number; message: string }> = [];
        records.forEach((r, index) => {
            const p = checkRecord(r, this.maxRecordBytes);
            if (p) problems.push({ index, message: p });
        });
        if (problems.length) return Promise.reject(new RecordValidationError(problems, records.length));
        if (records.length === 0) return Promise.resolve([]);
        if (this.queued + records.length > this.maxQueued) {
            return Promise.reject(new QueueFullError(this.queued, records.length, this.maxQueued));
        }
        return new Promise<WriteResult[]>((resolve, reject) => {
            const ticket: Ticket = {
                parts: [],
                results: new Array(records.length).fill(undefined),
                failures: [],
                remaining: records.length,
                settled: false,
                resolve,
                reject,
            };
            this.tickets.add(ticket);
            const now = Date.now();
            records.forEach((rec, index) => {
                const s = this.stream(rec.streamName);
                const part: Part = { ticket, index, rec, size: recordBytes(rec.data, rec.partitionKey), enqueuedAt: now, done: false };
                ticket.parts.push(part);
                s.pending.push(part);
                s.stalled = false;
            });
            this.queued += records.length;
            this.pump();
        });
    }

    /**
     * Sends everything still queued (no linger) and waits up to timeoutMs; then fails what is left
     * (each message rejects with ProducerError) and aborts requests still running.
     * Resolves to what could not be written.
     */
    async close(timeoutMs = 10_000): Promise<{ messages: number; records: number }> {
        this.closing = true;
        this.lingerMs = 0;
        for (const s of this.streams.values()) s.stalled = false;
        this.pump();
        const deadline = Date.now() + timeoutMs;
        while (this.tickets.size > 0 && Date.now() < deadline) {
            await new Promise((r) => setTimeout(r, Math.min(50, Math.max(1, deadline - Date.now()))));
        }
        let messages = 0;
        let records = 0;
        if (this.tickets.size > 0) {
            const explained: ExplainedError = {
                kind: 'unknown',
                code: 'NotWrittenAtClose',
                message: `the node stopped before Kinesis acknowledged the record (waited ${+(timeoutMs / 1000).toFixed(1)} s; a request still running may or may not have written it)`,
                status: 'stopped',
                retryable: false,
            };
            const attempts = new Map<Part, number>();
            for (const s of this.streams.values()) {
                for (const e of s.retry) for (const p of e.parts) attempts.set(p, e.attempts);
                s.pending = [];
                s.retry = [];
            }
            for (const t of [...this.tickets]) {
                messages++;
                records += t.remaining;
                t.lastError = explained;
                for (const p of t.parts) this.failPart(p, explained, attempts.get(p) ?? 0);
            }
        }
        this.closed = true;
        for (const c of this.controllers) c.abort();
        this.controllers.clear();
        if (this.timer) clearTimeout(this.timer);
        this.timer = undefined;
        return { messages, records };
    }

    private stream(name: string): StreamState {
        let s = this.streams.get(name);
        if (!s) {
            s = { name, pending: [], retry: [], locks: new Map(), lastSeq: new Map(), stalled: false };
            this.streams.set(name, s);
        }
        return s;
    }

    // ---- scheduling ---------------------------------------------------------------------------

    private pump(): void {
        if (this.closed) return;
        if (this.pumping) {
            this.repump = true;
            return;
        }
        this.pumping = true;
        try {
            do {
                this.repump = false;
                this.pumpOnce();
            } while (this.repump && !this.closed);
        } finally {
            this.pumping = false;
        }
        this.schedule();
    }

    private pumpOnce(): void {
        const list = [...this.streams.values()];
        if (list.length === 0) return;
        let idle = 0;
        while (this.inFlight < this.maxInFlight && idle < list.length) {
            const s = list[this.rr++ % list.length];
            if (!this.due(s, Date.now())) {
                idle++;
                continue;
            }
            const batch = this.buildBatch(s, Date.now());
            if (batch.length === 0) {
                s.stalled = true;
                idle++;
                continue;
            }
            idle = 0;
            void this.sendBatch(s, batch);
        }
    }

    /** Whether this stream has something to send now. */
    private due(s: StreamState, now: number): boolean {
        if (s.retry.some((e) => e.notBefore <= now)) return true;
        if (s.stalled || s.pending.length === 0) return false;
        if (this.lingerMs === 0 || now - s.pending[0].enqueuedAt >= this.lingerMs) return true;
        if (this.aggregator) return false;
        if (s.pending.length >= MAX_RECORDS_PER_REQUEST) return true;
        let bytes = 0;
        for (const p of s.pending) {
            bytes += p.size;
            if (bytes >= this.maxRequestBytes) return true;
        }
        return false;
    }

    private schedule(): void {
        if (this.closed) return;
        let next = Infinity;
        if (this.inFlight < this.maxInFlight) {
            for (const s of this.streams.values()) {
                for (const e of s.retry) next = Math.min(next, e.notBefore);
                if (!s.stalled && s.pending.length > 0) next = Math.min(next, s.pending[0].enqueuedAt + this.lingerMs);
                if (s.shardsRetryAt !== undefined && !s.shards) next = Math.min(next, s.shardsRetryAt);
            }
        }
        if (next === Infinity) return;
        if (this.timer && this.timerAt <= next) return;
        if (this.timer) clearTimeout(this.timer);
        const delay = Math.max(0, next - Date.now());
        this.timerAt = next;
        this.timer = setTimeout(() => {
            this.timer = undefined;
            this.timerAt = Infinity;
            this.pump();
        }, delay);
    }

    // ---- batches ------------------------------------------------------------------------------

    private locked(s: StreamState, key: string): boolean {
        return this.keyOrder && (s.locks.get(key) ?? 0) > 0;
    }

    private lock(s: StreamState, keys: string[]): void {
        if (!this.keyOrder) return;
        for (const k of keys) s.locks.set(k, (s.locks.get(k) ?? 0) + 1);
    }

    private unlock(s: StreamState, keys: string[]): void {
        if (!this.keyOrder) return;
        for (const k of keys) {
            const n = (s.locks.get(k) ?? 0) - 1;
            if (n > 0) s.locks.set(k, n);
            else s.locks.delete(k);
        }
    }

    private buildBatch(s: StreamState, now: number): Entry[] {
        const maxRecords = this.ordered ? 1 : MAX_RECORDS_PER_REQUEST;
        const batch: Entry[] = [];
        let bytes = 0;
        const fits = (size: number) => batch.length < maxRecords && bytes + size <= this.maxRequestBytes;

        // 1. Retries that are due, oldest first. They keep the locks they hold.
        if (s.retry.length) {
            const keep: Entry[] = [];
            const due = s.retry.filter((e) => e.notBefore <= now).sort((a, b) => a.enqueuedAt - b.enqueuedAt);
            const taken = new Set<Entry>();
            for (const e of due) {
                if (!fits(e.size)) break;
                batch.push(e);
                bytes += e.size;
                taken.add(e);
            }
            for (const e of s.retry) if (!taken.has(e)) keep.push(e);
            s.retry = keep;
        }
        if (batch.length >= maxRecords || s.pending.length === 0) return batch;
        if (this.aggregator && this.needShards(s, now)) return batch;

        // 2. Queued records in arrival order; a record whose key is locked (an earlier record with
        //    that key is in flight or waiting to retry) stays, and so do later ones with that key.
        const blocked = new Set<string>();
        const rest: Part[] = [];
        let full = false;
        if (this.aggregator && s.shards) {
            const { entries, left } = this.buildAggregates(s, maxRecords - batch.length, this.maxRequestBytes - bytes);
            batch.push(...entries);
            rest.push(...left);
        } else {
            for (const p of s.pending) {
                const key = p.rec.partitionKey;
                if (full || (this.keyOrder && (blocked.has(key) || this.locked(s, key)))) {
                    rest.push(p);
                    if (this.keyOrder) blocked.add(key);
                    continue;
                }
                if (!fits(p.size)) {
                    if (batch.length >= maxRecords) full = true;
                    rest.push(p);
                    if (this.keyOrder) blocked.add(key);
                    continue;
                }
                const e = this.entryOf(p);
                this.lock(s, e.keys);
                batch.push(e);
                bytes += e.size;
            }
        }
        s.pending = rest;
        return batch;
    }

    private entryOf(p: Part): Entry {
        return {
            parts: [p],
            keys: [p.rec.partitionKey],
            partitionKey: p.rec.partitionKey,
            explicitHashKey: p.rec.explicitHashKey,
            data: p.rec.data,
            size: p.size,
            attempts: 0,
            notBefore: 0,
            enqueuedAt: p.enqueuedAt,
            aggregated: false,
        };
    }

    /** True when the shard map must be loaded first (starts loading it). */
    private needShards(s: StreamState, now: number): boolean {
        if (s.shards) return false;
        if (s.shardsRetryAt !== undefined && now < s.shardsRetryAt) return false; // fall back to plain records meanwhile
        if (!s.shardsLoading) void this.loadShards(s);
        return true;
    }

    private async loadShards(s: StreamState): Promise<void> {
        s.shardsLoading = true;
        try {
            const shards: ShardRange[] = [];
            let token: string | undefined;
            for (let page = 0; page < 100; page++) {
                const out = (await this.client.send(new ListShardsCommand(token ? { NextToken: token } : { StreamName: s.name }))) as ListShardsCommandOutput;
                for (const sh of out.Shards ?? []) {
                    if (sh.SequenceNumberRange?.EndingSequenceNumber) continue; // closed
                    if (!sh.ShardId || !sh.HashKeyRange?.StartingHashKey || !sh.HashKeyRange.EndingHashKey) continue;
                    shards.push({ shardId: sh.ShardId, start: BigInt(sh.HashKeyRange.StartingHashKey), end: BigInt(sh.HashKeyRange.EndingHashKey) });
                }
                token = out.NextToken;
                if (!token) break;
            }
            s.shards = shards.length ? shards : undefined;
            s.shardsRetryAt = shards.length ? undefined : Date.now() + 30_000;
        } catch {
            // Without a shard map records go out unaggregated; the PutRecords error (if any) explains.
            s.shards = undefined;
            s.shardsRetryAt = Date.now() + 30_000;
        } finally {
            s.shardsLoading = false;
            s.stalled = false;
            this.pump();
        }
    }

    private shardOf(s: StreamState, rec: ProducerRecord): ShardRange | undefined {
        const h = hashKeyOf(rec.partitionKey, rec.explicitHashKey);
        return s.shards?.find((r) => h >= r.start && h <= r.end);
    }

    private buildAggregates(s: StreamState, maxEntries: number, maxBytes: number): { entries: Entry[]; left: Part[] } {
        interface Bucket { shard: ShardRange; parts: Part[]; est: number; keys: Set<string> }
        const open = new Map<string, Bucket>();
        const closedBuckets: Bucket[] = [];
        const keyBucket = new Map<string, Bucket>();
        const left: Part[] = [];
        const blocked = new Set<string>();
        let entries = 0;
        let bytes = 0;
        const overhead = (p: Part, b: Bucket) => p.rec.data.length + 12 + (b.keys.has(p.rec.partitionKey) ? 0 : Buffer.byteLength(p.rec.partitionKey) + 4)
            + (p.rec.explicitHashKey ? p.rec.explicitHashKey.length + 4 : 0);
        for (const p of s.pending) {
            const key = p.rec.partitionKey;
            const shard = this.shardOf(s, p.rec);
            if (!shard || blocked.has(key) || this.locked(s, key)) {
                left.push(p);
                blocked.add(key);
                continue;
            }
            const owner = keyBucket.get(key);
            let b = open.get(shard.shardId);
            if (owner && owner !== b) {
                left.push(p);
                blocked.add(key);
                continue;
            }
            if (b && b.est + overhead(p, b) > this.aggregateMaxBytes && b.parts.length > 0) {
                // Close this shard's bucket; its keys stay with it, so later same-key records wait.
                open.delete(shard.shardId);
                closedBuckets.push(b);
                if (owner) {
                    left.push(p);
                    blocked.add(key);
                    continue;
                }
                b = undefined;
            }
            if (!b) {
                if (entries >= maxEntries || bytes + Math.min(this.aggregateMaxBytes, p.size) + 64 > maxBytes) {
                    left.push(p);
                    blocked.add(key);
                    continue;
                }
                b = { shard, parts: [], est: 24, keys: new Set() };
                open.set(shard.shardId, b);
                entries++;
            }
            const add = overhead(p, b);
            b.parts.push(p);
            b.est += add;
            bytes += add;
            b.keys.add(key);
            keyBucket.set(key, b);
        }
        closedBuckets.push(...open.values());
        const out: Entry[] = [];
        for (const b of closedBuckets) {
            const first = b.parts[0];
            if (b.parts.length === 1) {
                const e = this.entryOf(first);
                this.lock(s, e.keys);
                out.push(e);
                continue;
            }
            const data = this.aggregator!.aggregate(b.parts.map((p) => ({ data: p.rec.data, partitionKey: p.rec.partitionKey, explicitHashKey: p.rec.explicitHashKey })));
            const e: Entry = {
                parts: b.parts,
                keys: [...b.keys],
                partitionKey: first.rec.partitionKey,
                explicitHashKey: hashKeyOf(first.rec.partitionKey, first.rec.explicitHashKey).toString(),
                data,
                size: recordBytes(data, first.rec.partitionKey),
                attempts: 0,
                notBefore: 0,
                enqueuedAt: Math.min(...b.parts.map((p) => p.enqueuedAt)),
                aggregated: true,
                expectedShard: b.shard.shardId,
            };
            if (e.size > this.maxRecordBytes) {
                // Estimate was off (should not happen): send the records one by one instead.
                for (const p of b.parts) {
                    const single = this.entryOf(p);
                    this.lock(s, single.keys);
                    out.push(single);
                }
                continue;
            }
            this.lock(s, e.keys);
            out.push(e);
        }
        return { entries: out, left };
    }

    // ---- requests -----------------------------------------------------------------------------

    private async sendBatch(s: StreamState, batch: Entry[]): Promise<void> {
        this.inFlight++;
        this.requests++;
        const ac = new AbortController();
        this.controllers.add(ac);
        for (const e of batch) e.attempts++;
        try {
            if (this.ordered) {
                const e = batch[0];
                const prev = s.lastSeq.get(e.partitionKey);
                const out = (await this.client.send(new PutRecordCommand({
                    StreamName: s.name,
                    Data: e.data,
                    PartitionKey: e.partitionKey,
                    ...(e.explicitHashKey !== undefined ? { ExplicitHashKey: e.explicitHashKey } : {}),
                    ...(prev ? { SequenceNumberForOrdering: prev } : {}),
                }), { abortSignal: ac.signal })) as PutRecordCommandOutput;
                if (this.closed) return;
                if (!out.ShardId || !out.SequenceNumber) throw Object.assign(new Error('PutRecord returned no sequence number'), { name: 'InternalFailure' });
                s.lastSeq.delete(e.partitionKey);
                s.lastSeq.set(e.partitionKey, out.SequenceNumber);
                if (s.lastSeq.size > 10_000) s.lastSeq.delete(s.lastSeq.keys().next().value as string);
                this.succeed(s, e, out.ShardId, out.SequenceNumber);
            } else {
                const out = (await this.client.send(new PutRecordsCommand({
                    StreamName: s.name,
                    Records: batch.map((e) => ({
                        Data: e.data,
                        PartitionKey: e.partitionKey,
                        ...(e.explicitHashKey !== undefined ? { ExplicitHashKey: e.explicitHashKey } : {}),
                    })),
                }), { abortSignal: ac.signal })) as PutRecordsCommandOutput;
                if (this.closed) return;
                const results = out.Records ?? [];
                const retry: Entry[] = [];
                let firstError: ExplainedError | undefined;
                batch.forEach((e, i) => {
                    const r = results[i];
                    if (r && !r.ErrorCode && r.ShardId && r.SequenceNumber) {
                        this.succeed(s, e, r.ShardId, r.SequenceNumber);
                        return;
                    }
                    const code = r?.ErrorCode ?? 'InternalFailure';
                    const raw = r?.ErrorMessage ?? (r ? 'no sequence number returned' : 'no result for this record in the response');
                    const explained = this.entryError(s.name, code, raw);
                    firstError = firstError ?? explained;
                    if (explained.retryable) retry.push(e);
                    else this.fail(s, e, explained);
                });
                if (retry.length && firstError) this.scheduleRetry(s, retry, firstError);
            }
        } catch (err) {
            if (this.closed) return;
            const explained = this.explainFn(err, { action: this.ordered ? 'kinesis:PutRecord' : 'kinesis:PutRecords', streamName: s.name });
            const aborted = (err as Error)?.name === 'AbortError';
            if (explained.retryable && !aborted) this.scheduleRetry(s, batch, explained);
            else {
                for (const e of batch) this.fail(s, e, explained);
                this.opts.onFailure?.({ streamName: s.name, records: batch.length, error: explained });
            }
        } finally {
            this.inFlight--;
            this.controllers.delete(ac);
            s.stalled = false;
            this.pump();
        }
    }

    private entryError(streamName: string, code: string, raw: string): ExplainedError {
        if (code === 'ProvisionedThroughputExceededException' || code === 'KMSThrottlingException') {
            return { kind: 'throttled', code, message: `throughput exceeded on stream "${streamName}" (${code}: ${raw}) — add shards, spread partition keys, or slow the flow`, status: 'throttled, retrying', retryable: true };
        }
        if (code === 'InternalFailure') {
            return { kind: 'internal', code, message: `Kinesis internal failure on stream "${streamName}": ${raw}`, status: 'AWS error, retrying', retryable: true };
        }
        const e = Object.assign(new Error(raw), { name: code });
        const explained = this.explainFn(e, { action: 'kinesis:PutRecords', streamName });
        return { ...explained, retryable: RETRYABLE_ENTRY_CODES.has(code) };
    }

    private backoff(attempt: number): number {
        return backoffDelay(attempt, this.baseBackoffMs, this.maxBackoffMs, this.random);
    }

    private scheduleRetry(s: StreamState, entries: Entry[], error: ExplainedError): void {
        const now = Date.now();
        // One jittered delay for the entries of one response, so they are retried together.
        const delay = this.backoff(Math.max(...entries.map((e) => e.attempts)));
        let retrying = 0;
        for (const e of entries) {
            if (e.attempts > this.maxRetries) {
                this.fail(s, e, { ...error, status: error.status.replace(/, retrying$/, ''), message: `${error.message} (gave up after ${e.attempts} attempt${e.attempts === 1 ? '' : 's'})` });
                continue;
            }
            e.notBefore = now + delay;
            s.retry.push(e);
            retrying += e.parts.length;
        }
        if (retrying) {
            this.retried += retrying;
            this.opts.onRetry?.({ streamName: s.name, records: retrying, error });
        }
    }

    private succeed(s: StreamState, e: Entry, shardId: string, sequenceNumber: string): void {
        this.unlock(s, e.keys);
        if (e.aggregated && e.expectedShard && e.expectedShard !== shardId) {
            s.shards = undefined; // the stream was resharded: reload the map before the next aggregate
        }
        e.parts.forEach((p, i) => {
            if (p.done) return;
            p.done = true;
            this.queued--;
            this.written++;
            const r: WriteResult = { streamName: s.name, shardId, sequenceNumber };
            if (e.aggregated) r.subSequenceNumber = i;
            p.ticket.results[p.index] = r;
            p.ticket.remaining--;
            this.settle(p.ticket);
        });
    }

    private fail(s: StreamState, e: Entry, error: ExplainedError): void {
        this.unlock(s, e.keys);
        for (const p of e.parts) this.failPart(p, error, e.attempts);
    }

    private failPart(p: Part, error: ExplainedError, attempts: number): void {
        if (p.done) return;
        p.done = true;
        this.queued--;
        this.failed++;
        p.ticket.failures.push({ index: p.index, streamName: p.rec.streamName, partitionKey: p.rec.partitionKey, code: error.code, message: error.message, attempts });
        p.ticket.lastError = p.ticket.lastError ?? error;
        p.ticket.remaining--;
        this.settle(p.ticket);
    }

    private settle(t: Ticket): void {
        if (t.settled || t.remaining > 0) return;
        t.settled = true;
        this.tickets.delete(t);
        if (t.failures.length === 0) {
            t.resolve(t.results as WriteResult[]);
        } else {
            t.failures.sort((a, b) => a.index - b.index);
            t.reject(new ProducerError(t.failures, t.results, t.lastError));
        }
    }
}
