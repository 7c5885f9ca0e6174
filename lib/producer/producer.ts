/**
 * The producer engine behind `kinesis-out` (no Node-RED here).
 *
 * `put(records)` takes the records of one message and resolves, once every one of them is
 * acknowledged by Kinesis, to their `{streamName, shardId, sequenceNumber}` — or rejects with a
 * `ProducerError` naming the records that could not be written and why.
 *
 * Batching: per stream, records wait up to `lingerMs` and go out in PutRecords requests of
 * ≤ 500 records and ≤ 5 MiB (data + partition keys; 10 MiB when records over 1 MiB are allowed),
 * at most `maxInFlight` requests at a time over all streams. A stream is named by name or by ARN
 * (`StreamARN`, for another account's stream).
 *
 * Retries (one budget): the client given makes one HTTP attempt per call (lib/aws/clients.ts
 * `producerKinesis`); only the entries a PutRecords response marks as failed
 * (ProvisionedThroughputExceeded, InternalFailure, KMS throttling), or every entry of a request that
 * failed as a whole with a retryable error (throttling, network, 5xx), are retried, after
 * exponential backoff with full jitter (random 0 … min(maxBackoffMs, baseBackoffMs · 2^attempt)).
 * After `maxRetries` retries (1 + maxRetries requests) the record fails. Non-retryable errors
 * (stream not found, access denied, bad credentials) fail at once.
 *
 * Order (keyOrder, the default): for one stream and partition key, a record is sent only after the
 * previous record with that key has been acknowledged (or has finally failed). So at most one
 * record (or one aggregate) per key is in flight, a retried record is never overtaken by a later
 * one with the same key, and records with the same key are stored in the order `put` received
 * them. Records with different keys are batched together freely (queue.ts: O(1) per record).
 * With keyOrder off, same-key records may share a request and retries may reorder them.
 * Ordered mode: one PutRecord per record with SequenceNumberForOrdering = the sequence number of
 * the previous record with that key (Kinesis's own per-key ordering), implies keyOrder.
 *
 * Backpressure: at most `maxQueued` records wait (queued + in flight + retrying). A message that
 * does not fit is rejected at once with a `QueueFullError`; nothing of it is queued.
 *
 * Aggregation (optional): see aggregation.ts (packing by shard map) and `verifyLanding` here
 * (resharding: sub-records outside the shard an aggregate landed on are re-sent).
 *
 * Parts: errors.ts (results, errors), entries.ts (units of work), queue.ts (waiting records, key
 * order), batch building here + aggregation.ts, requests.ts (one request, retry classification),
 * shard-map.ts (ListShards).
 */
import { explainAwsError, ExplainedError } from '../aws/errors';
import { aggregate as kplAggregate } from '../kpl';
import { buildAggregates, RecordAggregator } from './aggregation';
import { Aggregate, Entry, hashOf, Part, partsOf, Ticket, WriteCallback } from './entries';
import { ProducerClosedError, ProducerError, QueueFullError, RecordFailure, RecordValidationError, WriteResult } from './errors';
import { PendingQueue } from './queue';
import {
    checkRecordOfStream,
    checkStreamName,
    DEFAULT_MAX_RECORD_BYTES,
    isStreamArn,
    LARGEST_RECORD_BYTES,
    MAX_LARGE_REQUEST_BYTES,
    MAX_RECORDS_PER_REQUEST,
    MAX_REQUEST_BYTES,
    MIB,
    ProducerRecord,
    streamNameOf,
} from './records';
import { usePutRecordsCodec } from './put-records-codec';
import { backoffDelay, isWritten, KinesisSender, putEntries, resultError } from './requests';
import { ShardMap } from './shard-map';

export { backoffDelay, KinesisSender } from './requests';
export type { WriteCallback } from './entries';
export { RecordAggregator } from './aggregation';
export * from './errors';

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
    /**
     * A write callback threw: the error is handed here and the producer carries on (the other
     * messages of that answer are still called back). Default: a process warning.
     */
    onCallbackError?: (err: unknown) => void;
}

interface StreamState {
    /** Name or ARN, as the records name it (the request parameter follows it). */
    ref: string;
    /** The stream name (in results and errors). */
    name: string;
    /** `ref` is an ARN (results carry it as streamARN). */
    arn: boolean;
    queue: PendingQueue;
    retry: Entry[];
    /** Earliest notBefore of `retry` (Infinity when empty). */
    retryDueAt: number;
    /** Last sequence number per key (ordered mode), bounded. */
    lastSeq: Map<string, string>;
    map?: ShardMap;
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
    private readonly onCallbackError: (err: unknown) => void;

    private readonly streams = new Map<string, StreamState>();
    private streamList: StreamState[] = [];
    /** The stream of the last record written (most flows write to one stream: no lookup per record). */
    private lastStream: StreamState | undefined;
    /** The PutRecords codec is on the client: requests carry the entries themselves (requests.ts). */
    private readonly codec: boolean;
    /** Messages not settled (a record's Part or a Ticket is where each one is; close() finds them). */
    private pending = 0;
    /** Requests being sent: their entries (close fails what they carry) by the controller that aborts them. */
    private readonly sending = new Map<AbortController, Entry[]>();
    /** Aggregates whose landing is being checked after resharding (verifyLanding). */
    private readonly landing = new Set<Aggregate>();
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
    /** Sub-records re-sent because their aggregate landed on a shard (after resharding) that does not hold their key. */
    resent = 0;

    constructor(opts: ProducerOptions) {
        this.opts = opts;
        this.client = opts.client;
        this.codec = usePutRecordsCodec(opts.client); // an SDK client: PutRecords bodies built and read natively (put-records-codec.ts)
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
        this.onCallbackError = opts.onCallbackError ?? ((err) => process.emitWarning(`kinesis producer: a write callback threw: ${(err as Error)?.stack ?? String(err)}`));
        this.explainFn = opts.explain ?? ((err, ctx) => explainAwsError(err, ctx));
    }

    /** Records waiting: queued, in flight or waiting to be retried. */
    get backlog(): number {
        return this.queued;
    }

    /** Messages (put calls) not settled yet. */
    get pendingMessages(): number {
        return this.pending;
    }

    /** Shard map loads so far (aggregation; tests). */
    get shardMapLoads(): number {
        let n = 0;
        for (const s of this.streamList) n += s.map?.loads ?? 0;
        return n;
    }

    /**
     * Queues the records of one message. Resolves with one result per record (same order) once all
     * are acknowledged; rejects with RecordValidationError (nothing sent), QueueFullError (nothing
     * sent), ProducerClosedError, or ProducerError (some or all records not written).
     */
    put(records: ProducerRecord[]): Promise<WriteResult[]> {
        return new Promise<WriteResult[]>((resolve, reject) => {
            this.write(records, (err, results) => (err ? reject(err) : resolve(results!)));
        });
    }

    /**
     * `put` with a callback instead of a Promise (the node's hot path: no Promise per message):
     * `callback(null, results, a, b)` once every record is acknowledged, or `callback(err, undefined,
     * a, b)` with the same errors `put` rejects with. `a` and `b` are handed back as given, so one
     * callback can serve every message (no closure per message). Records refused at once (closed, invalid, queue full) are called back
     * before `write` returns. A callback that throws does not disturb the producer: the error goes to
     * `onCallbackError` (default: a process warning).
     */
    write<A = undefined, B = undefined>(records: ProducerRecord[], callback: WriteCallback<A, B>, a?: A, b?: B): void {
        if (this.closing) return callback(new ProducerClosedError(), undefined, a as A, b as B);
        if (records.length === 1) {
            // one record per message (the node's usual case): its Part is the message, no ticket
            const rec = records[0];
            const last = this.lastStream;
            const known = last !== undefined && last.ref === rec.streamName;
            const size = (known || this.streams.has(rec.streamName) ? undefined : checkStreamName(rec.streamName)) ?? checkRecordOfStream(rec, this.maxRecordBytes);
            if (typeof size === 'string') return callback(new RecordValidationError([{ index: 0, message: size }], 1), undefined, a as A, b as B);
            if (this.queued + 1 > this.maxQueued) return callback(new QueueFullError(this.queued, 1, this.maxQueued), undefined, a as A, b as B);
            const now = Date.now();
            const s = known ? last : this.stream(rec.streamName);
            s.queue.push(new Part(rec.streamName, rec.data, rec.partitionKey, rec.explicitHashKey, size, undefined, callback, a, b, 0, now));
            this.pending++;
            this.queued++;
            this.kick(s, now);
            return;
        }
        const sizes = new Array<number>(records.length);
        let problems: Array<{ index: number; message: string }> | undefined;
        for (let index = 0; index < records.length; index++) {
            const rec = records[index];
            // a stream in use was checked when it was first seen
            const p = (this.streams.has(rec.streamName) ? undefined : checkStreamName(rec.streamName)) ?? checkRecordOfStream(rec, this.maxRecordBytes);
            if (typeof p === 'string') (problems ??= []).push({ index, message: p });
            else sizes[index] = p;
        }
        if (problems) return callback(new RecordValidationError(problems, records.length), undefined, a as A, b as B);
        if (records.length === 0) return callback(null, [], a as A, b as B);
        if (this.queued + records.length > this.maxQueued) {
            return callback(new QueueFullError(this.queued, records.length, this.maxQueued), undefined, a as A, b as B);
        }
        const ticket: Ticket = {
            parts: new Array<Part>(records.length),
            results: new Array(records.length).fill(undefined),
            failures: undefined,
            remaining: records.length,
            settled: false,
            callback,
            a,
            b,
        };
        this.pending++;
        const now = Date.now();
        for (let index = 0; index < records.length; index++) {
            const rec = records[index];
            const part = new Part(rec.streamName, rec.data, rec.partitionKey, rec.explicitHashKey, sizes[index], ticket, undefined, undefined, undefined, index, now);
            ticket.parts[index] = part;
            this.stream(rec.streamName).queue.push(part);
        }
        this.queued += records.length;
        this.pump();
    }

    /**
     * After a record was queued: pump unless nothing could change. All requests busy: the next answer
     * pumps. A linger timer due by this record's linger and no full batch yet: the timer pumps. (No
     * pump per message while a batch fills.)
     */
    private kick(s: StreamState, now: number): void {
        if (this.inFlight >= this.maxInFlight && !this.closed) return;
        if (this.lingerMs > 0 && this.timer !== undefined && this.timerAt <= now + this.lingerMs && !this.aggregator && !this.closing
            && s.queue.readyCount < MAX_RECORDS_PER_REQUEST && s.queue.readyBytes < this.maxRequestBytes) return;
        this.pump();
    }

    /**
     * Sends everything still queued (no linger) and waits up to timeoutMs; then fails what is left
     * (each message rejects with ProducerError) and aborts requests still running.
     * Resolves to what could not be written.
     */
    async close(timeoutMs = 10_000): Promise<{ messages: number; records: number }> {
        this.closing = true;
        this.lingerMs = 0;
        this.pump();
        const deadline = Date.now() + timeoutMs;
        while (this.pending > 0 && Date.now() < deadline) {
            await new Promise((r) => setTimeout(r, Math.min(50, Math.max(1, deadline - Date.now()))));
        }
        let messages = 0;
        let records = 0;
        if (this.pending > 0) {
            const explained: ExplainedError = {
                kind: 'unknown',
                code: 'NotWrittenAtClose',
                message: `the node stopped before Kinesis acknowledged the record (waited ${+(timeoutMs / 1000).toFixed(1)} s; a request still running may or may not have written it)`,
                status: 'stopped',
                retryable: false,
            };
            // every record not done is queued, waiting to retry, in a request or being checked after resharding
            const left: Array<{ p: Part; attempts: number }> = [];
            const entries: Entry[] = [];
            for (const s of this.streamList) {
                for (const p of s.queue.drain()) left.push({ p, attempts: 0 });
                entries.push(...s.retry);
                s.retry = [];
                s.retryDueAt = Infinity;
            }
            for (const batch of this.sending.values()) entries.push(...batch);
            entries.push(...this.landing);
            for (const e of entries) for (const p of partsOf(e)) left.push({ p, attempts: e.attempts });
            left.sort((x, y) => x.p.enqueuedAt - y.p.enqueuedAt); // messages fail in the order they came
            const tickets = new Set<Ticket>();
            for (const { p } of left) {
                if (p.done) continue;
                if (p.ticket === undefined) {
                    messages++;
                    records++;
                } else if (!tickets.has(p.ticket)) {
                    tickets.add(p.ticket);
                    messages++;
                    records += p.ticket.remaining;
                    p.ticket.lastError = explained;
                }
            }
            for (const { p, attempts } of left) this.failPart(p, explained, attempts);
        }
        this.closed = true;
        for (const c of this.sending.keys()) c.abort();
        this.sending.clear();
        this.landing.clear();
        if (this.timer) clearTimeout(this.timer);
        this.timer = undefined;
        return { messages, records };
    }

    private stream(ref: string): StreamState {
        let s = this.streams.get(ref);
        if (!s) {
            s = {
                ref,
                name: streamNameOf(ref),
                arn: isStreamArn(ref),
                queue: new PendingQueue(this.keyOrder),
                retry: [],
                retryDueAt: Infinity,
                lastSeq: new Map(),
                map: this.aggregator ? new ShardMap(this.client, ref) : undefined,
            };
            this.streams.set(ref, s);
            this.streamList = [...this.streams.values()];
        }
        this.lastStream = s;
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
        const list = this.streamList;
        if (list.length === 0) return;
        let idle = 0;
        while (this.inFlight < this.maxInFlight && idle < list.length) {
            const s = list[this.rr++ % list.length];
            const now = Date.now();
            if (!this.due(s, now)) {
                idle++;
                continue;
            }
            const batch = this.buildBatch(s, now);
            if (batch.length === 0) {
                idle++;
                continue;
            }
            idle = 0;
            void this.sendBatch(s, batch);
        }
    }

    /** Waiting for the shard map (aggregation): records stay queued until it is loaded. */
    private waitingForMap(s: StreamState, now: number): boolean {
        const map = s.map;
        if (!map || map.ready) return false;
        if (map.retryAt !== undefined && now < map.retryAt) return false; // plain records meanwhile
        if (!map.loading) {
            void map.load().then(() => this.pump());
        }
        return true;
    }

    /** Whether this stream has something to send now (O(1)). */
    private due(s: StreamState, now: number): boolean {
        if (s.retryDueAt <= now) return true;
        const ready = s.queue.readyCount;
        if (ready === 0) return false;
        if (this.aggregator && s.map?.loading) return false;
        if (this.lingerMs === 0 || now - (s.queue.oldestReadyAt() ?? now) >= this.lingerMs) return true;
        if (this.aggregator) return false;
        return ready >= MAX_RECORDS_PER_REQUEST || s.queue.readyBytes >= this.maxRequestBytes;
    }

    private schedule(): void {
        if (this.closed) return;
        let next = Infinity;
        if (this.inFlight < this.maxInFlight) {
            for (const s of this.streamList) {
                next = Math.min(next, s.retryDueAt);
                if (this.aggregator && s.map?.loading) continue; // the load pumps when done
                const oldest = s.queue.oldestReadyAt();
                if (oldest !== undefined) next = Math.min(next, oldest + this.lingerMs);
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

    private buildBatch(s: StreamState, now: number): Entry[] {
        const maxRecords = this.ordered ? 1 : MAX_RECORDS_PER_REQUEST;
        const batch: Entry[] = [];
        let bytes = 0;

        // 1. Retries that are due, oldest first. They keep the locks they hold.
        if (s.retryDueAt <= now) {
            const due = s.retry.filter((e) => e.notBefore <= now).sort((a, b) => a.enqueuedAt - b.enqueuedAt);
            const taken = new Set<Entry>();
            for (const e of due) {
                if (batch.length >= maxRecords || bytes + e.size > this.maxRequestBytes) break;
                batch.push(e);
                bytes += e.size;
                taken.add(e);
            }
            s.retry = s.retry.filter((e) => !taken.has(e));
            s.retryDueAt = s.retry.reduce((m, e) => Math.min(m, e.notBefore), Infinity);
        }
        if (batch.length >= maxRecords || s.queue.readyCount === 0) return batch;
        if (this.aggregator && this.waitingForMap(s, now)) return batch;

        // 2. Ready records in arrival order (with keyOrder: the next record of each key that has
        //    nothing in flight or waiting to retry; queue.take() locks the key).
        if (this.aggregator && s.map?.ready) {
            batch.push(...buildAggregates(s.queue, s.map, {
                maxEntries: maxRecords - batch.length,
                maxBytes: this.maxRequestBytes - bytes,
                aggregateMaxBytes: this.aggregateMaxBytes,
                maxRecordBytes: this.maxRecordBytes,
            }, this.aggregator));
            return batch;
        }
        for (let p = s.queue.peek(); p && batch.length < maxRecords && bytes + p.size <= this.maxRequestBytes; p = s.queue.peek()) {
            s.queue.take();
            batch.push(p);
            bytes += p.size;
        }
        return batch;
    }

    // ---- requests -----------------------------------------------------------------------------

    private async sendBatch(s: StreamState, batch: Entry[]): Promise<void> {
        this.inFlight++;
        this.requests++;
        const ac = new AbortController();
        this.sending.set(ac, batch);
        for (const e of batch) e.attempts++;
        try {
            const results = await putEntries(this.client, s.ref, batch, {
                ordered: this.ordered,
                previous: this.ordered ? s.lastSeq.get(batch[0].partitionKey) : undefined,
                signal: ac.signal,
                codec: this.codec,
            });
            if (this.closed) return;
            this.sending.delete(ac); // its entries are settled, retried or being checked below, not in flight
            const retry: Entry[] = [];
            let firstError: ExplainedError | undefined;
            // Messages written from the callbacks below only queue (pump() sees `pumping` and repumps):
            // what this response released goes out together from the pump in `finally`, not as one
            // small request per record whose key just became free.
            this.pumping = true;
            try {
                for (let i = 0; i < batch.length; i++) {
                    const e = batch[i];
                    const r = results[i];
                    if (!isWritten(r)) {
                        const error = resultError(r, s.name, this.explainFn);
                        firstError = firstError ?? error;
                        if (error.retryable) retry.push(e);
                        else this.fail(s, e, error);
                        continue;
                    }
                    if (this.ordered) {
                        s.lastSeq.delete(e.partitionKey);
                        s.lastSeq.set(e.partitionKey, r.SequenceNumber);
                        if (s.lastSeq.size > 10_000) s.lastSeq.delete(s.lastSeq.keys().next().value as string);
                    }
                    if (e.aggregated && e.expectedShard !== r.ShardId) {
                        this.landing.add(e);
                        void this.verifyLanding(s, e, r.ShardId, r.SequenceNumber);
                    } else this.succeed(s, e, r.ShardId, r.SequenceNumber);
                }
            } finally {
                this.pumping = false;
            }
            if (retry.length && firstError) this.scheduleRetry(s, retry, firstError);
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
            this.sending.delete(ac);
            this.pump();
        }
    }

    /**
     * An aggregate landed on another shard than the map predicted: the stream was resharded. Reload
     * the map; sub-records whose hash key is in the landed shard's range are written; the others
     * (a KCL consumer of that shard drops them) are sent again, on their own, keeping their key's
     * order lock. If the map cannot be loaded, every sub-record is sent again (at least once).
     */
    private async verifyLanding(s: StreamState, e: Aggregate, shardId: string, sequenceNumber: string): Promise<void> {
        const map = s.map!;
        map.invalidate();
        await map.load();
        if (this.closed) return;
        this.landing.delete(e);
        const range = map.byId(shardId);
        const again: Part[] = [];
        e.parts.forEach((p, i) => {
            if (p.done) return;
            const h = hashOf(p);
            if (range && h >= range.start && h <= range.end) this.complete(s, p, shardId, sequenceNumber, i);
            else again.push(p);
        });
        if (again.length) {
            // each sub-record is its own entry again, with the aggregate's attempts
            s.queue.lock(again.map((p) => p.partitionKey)); // before the aggregate's locks go: no later same-key record overtakes
            for (const p of again) {
                p.attempts = e.attempts;
                p.notBefore = 0;
            }
            s.retry.push(...again);
            s.retryDueAt = 0;
            this.resent += again.length;
        }
        this.unlockEntry(s, e);
        this.pump();
    }

    private scheduleRetry(s: StreamState, entries: Entry[], error: ExplainedError): void {
        const now = Date.now();
        // One jittered delay for the entries of one response, so they are retried together.
        const delay = backoffDelay(Math.max(...entries.map((e) => e.attempts)), this.baseBackoffMs, this.maxBackoffMs, this.random);
        let retrying = 0;
        for (const e of entries) {
            if (e.attempts > this.maxRetries) {
                this.fail(s, e, { ...error, status: error.status.replace(/, retrying$/, ''), message: `${error.message} (gave up after ${e.attempts} attempt${e.attempts === 1 ? '' : 's'})` });
                continue;
            }
            e.notBefore = now + delay;
            s.retry.push(e);
            s.retryDueAt = Math.min(s.retryDueAt, e.notBefore);
            retrying += e.parts ? e.parts.length : 1;
        }
        if (retrying) {
            this.retried += retrying;
            this.opts.onRetry?.({ streamName: s.name, records: retrying, error });
        }
    }

    private succeed(s: StreamState, e: Entry, shardId: string, sequenceNumber: string): void {
        this.unlockEntry(s, e);
        if (!e.aggregated) return this.complete(s, e, shardId, sequenceNumber, undefined);
        const parts = e.parts;
        for (let i = 0; i < parts.length; i++) this.complete(s, parts[i], shardId, sequenceNumber, i);
    }

    /** Releases the order locks an entry holds (a plain entry: its key's one). */
    private unlockEntry(s: StreamState, e: Entry): void {
        if (e.aggregated) s.queue.unlock(e.keys);
        else s.queue.unlockPart(e);
    }

    private complete(s: StreamState, p: Part, shardId: string, sequenceNumber: string, subSequenceNumber?: number): void {
        if (p.done) return;
        p.done = true;
        this.queued--;
        this.written++;
        const result: WriteResult = { streamName: s.name, shardId, sequenceNumber };
        if (s.arn) result.streamARN = s.ref;
        if (subSequenceNumber !== undefined) result.subSequenceNumber = subSequenceNumber;
        const t = p.ticket;
        if (t === undefined) {
            this.pending--;
            this.call(p.callback!, null, [result], p.a, p.b);
            return;
        }
        t.results[p.index] = result;
        t.remaining--;
        this.settle(t);
    }

    private fail(s: StreamState, e: Entry, error: ExplainedError): void {
        this.unlockEntry(s, e);
        for (const p of partsOf(e)) this.failPart(p, error, e.attempts);
    }

    private failPart(p: Part, error: ExplainedError, attempts: number): void {
        if (p.done) return;
        p.done = true;
        this.queued--;
        this.failed++;
        const failure: RecordFailure = { index: p.index, streamName: p.streamName, partitionKey: p.partitionKey, code: error.code, message: error.message, attempts };
        const t = p.ticket;
        if (t === undefined) {
            this.pending--;
            this.call(p.callback!, new ProducerError([failure], [undefined], error), undefined, p.a, p.b);
            return;
        }
        (t.failures ??= []).push(failure);
        t.lastError = t.lastError ?? error;
        t.remaining--;
        this.settle(t);
    }

    private settle(t: Ticket): void {
        if (t.settled || t.remaining > 0) return;
        t.settled = true;
        this.pending--;
        let err: ProducerError | null = null;
        if (t.failures) {
            t.failures.sort((a, b) => a.index - b.index);
            err = new ProducerError(t.failures, t.results, t.lastError);
        }
        this.call(t.callback, err, err ? undefined : (t.results as WriteResult[]), t.a, t.b);
    }

    /** Calls a message's callback; one that throws is reported (onCallbackError), the producer goes on. */
    private call(callback: WriteCallback, err: Error | null, results: WriteResult[] | undefined, a: unknown, b: unknown): void {
        try {
            callback(err, results, a, b);
        } catch (thrown) {
            try {
                this.onCallbackError(thrown);
            } catch {
                // a reporter that throws too: nothing more to do; the producer must not stop here
            }
        }
    }
}
