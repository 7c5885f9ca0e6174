/**
 * The Kinesis consumer: lease table + coordinator + one pipeline per held shard (ShardWorker, ./shard-worker.ts).
 *
 * Per shard: read a batch (polling or Enhanced Fan-Out reader), deaggregate KPL records, drop what
 * the checkpoint already covers, deliver records while fewer than `maxInFlight` are unfinished
 * (reading pauses when full), reading ahead at most one batch and at most the shard's share of
 * `maxBufferedBytes` (memory stays bounded by both), track every delivered record in a
 * Checkpointer and write the checkpoint of finished records periodically (interval / count, and at
 * once for the first record after a sentinel). At shard end: wait until every record is finished,
 * create the child leases, checkpoint SHARD_END, release the lease.
 *
 * Fencing: every record (every batch in batch mode) is emitted only after `coordinator.canEmit` said
 * the lease is held and was renewed within the fence time by this worker's own clocks; when it is
 * stale (after a stall: GC pause, SIGSTOP, a suspended machine) the lease is renewed first, and when
 * that fails the records read so far are dropped (counted in `metrics().fenceDropped`), not emitted.
 *
 * Lease lost → the shard stops emitting at once (records still in flight are not checkpointed).
 * Hand-off requested / stop → stop reading, wait (bounded) for in-flight records, checkpoint, then
 * transfer / release the lease.
 */
import { DescribeStreamSummaryCommand, KinesisClient, Shard } from '@aws-sdk/client-kinesis';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { UserRecord } from '../kpl';
import { Coordinator } from './coordinator';
import { Lease, LeaseTable, LATEST, AT_TIMESTAMP, TRIM_HORIZON } from './lease-table';
import { createPollingReader } from './polling';
import type { ShardReaderFactory } from './reader';
import { cleanupFinishedLeases, InitialPosition, listShards, syncLeases } from './shard-sync';
import { ShardWorker } from './shard-worker';
import { efoReaderFactory } from './efo-wiring';
import { sleep } from './sleep';
import { defaultWorkerId } from './worker-id';
import { KinesisNodeError } from '../aws/errors';
import { CallWatch, watchCalls } from './call-watch';

export interface ConsumerRecord extends UserRecord {
    shardId: string;
    millisBehindLatest?: number;
}

export type DoneCallback = (error?: unknown) => void;

export interface ConsumerOptions {
    kinesis: KinesisClient;
    /** The client for SubscribeToShard (Enhanced Fan-Out; default `kinesis`): one that never times a quiet subscription out. */
    subscribeKinesis?: KinesisClient;
    dynamodb: DynamoDBClient;
    /** Stream name or ARN. */
    streamName: string;
    /** Lease table name (= application name). */
    tableName: string;
    workerId?: string;
    initialPosition: InitialPosition;
    readMode?: 'polling' | 'efo';
    /** EFO consumer name (default = table name). */
    consumerName?: string;
    /** A reader factory to use instead (tests: fault injection). */
    readerFactory?: ShardReaderFactory;
    maxRecords?: number;
    idleTimeMs?: number;
    /** Unfinished records per shard before reading pauses (default 1000; `ordered` forces 1). */
    maxInFlight?: number;
    /**
     * Bytes read ahead of delivery, for all held shards together (default 16 MiB; each shard gets an
     * equal share): a record counts its data + RECORD_OVERHEAD_BYTES. Reads ask GetRecords for fewer
     * records when the batch still being delivered holds most of the share (polling; EFO pushes what
     * it gets). The same share bounds the bytes in flight (delivered, not finished) of each shard, beside
     * maxInFlight (one record is always let through). Bounds memory under a backlog.
     */
    maxBufferedBytes?: number;
    ordered?: boolean;
    outputMode?: 'record' | 'batch';
    /** Called per record (outputMode 'record'); call done() when it is finished, done(err) when it failed. */
    onRecord?: (record: ConsumerRecord, done: DoneCallback) => void;
    /**
     * After a record failed (done(err)) deliver nothing more from its shard until stop / lease lost
     * (default false: later records are still delivered, the checkpoint stays before the failed one).
     */
    holdOnFailure?: boolean;
    /** Called per batch (outputMode 'batch'). */
    onBatch?: (records: ConsumerRecord[], done: DoneCallback) => void;
    checkpointIntervalMs?: number;
    /** Also checkpoint when this many records finished since the last write (0 = only by interval). */
    checkpointEveryRecords?: number;
    failoverTimeMs?: number;
    renewIntervalMs?: number;
    takerIntervalMs?: number;
    shardSyncIntervalMs?: number;
    parentPollMs?: number;
    /** A read that takes longer than this is considered stalled: the reader is restarted. */
    watchdogMs?: number;
    gracefulHandOff?: boolean;
    /** Records are emitted only while the lease was renewed within failoverTimeMs − this (default failover / 4). */
    fenceMarginMs?: number;
    /** How long stop()/hand-off waits for in-flight records (default 5 s). */
    drainTimeoutMs?: number;
    /** LATEST resolves to AT_TIMESTAMP(start − this margin) on fresh leases (default 1000 ms). */
    latestMarginMs?: number;
    deaggregate?: boolean;
    maxLeasesForWorker?: number;
    onError?: (error: unknown, ctx: { action: string; shardId?: string }) => void;
    onWarning?: (message: string, error?: unknown) => void;
    onEvent?: (event: ConsumerEvent) => void;
}

export type ConsumerEvent =
    | { type: 'running' }
    | { type: 'acquired'; shardId: string }
    | { type: 'lost'; shardId: string }
    | { type: 'released'; shardId: string }
    | { type: 'shardEnd'; shardId: string; children: string[] }
    | { type: 'checkpoint'; shardId: string; checkpoint: string; subSequenceNumber: number }
    | { type: 'failed'; shardId: string; sequenceNumber: string; error: unknown }
    /** Another instance took a lease of this one under the same worker id (a misconfiguration). */
    | { type: 'duplicateWorkerId'; shardId: string; workerId: string }
    | { type: 'restarted'; shardId: string; reason: string }
    /** Kinesis rejected a read as invalid (isInvalidRequest): the shard is no longer read (lease kept) until a restart. */
    | { type: 'halted'; shardId: string; error: unknown };

export interface ConsumerMetrics {
    state: 'starting' | 'running' | 'stopping' | 'stopped';
    shards: number;
    delivered: number;
    inFlight: number;
    lagMs: number | undefined;
    failedShards: number;
    /** Records read but dropped, not emitted, because the lease was lost before they could be (fencing). */
    fenceDropped: number;
    lastError?: unknown;
    /**
     * Per backend, how long the oldest call still without an answer has been waiting, in ms (0 = none waits):
     * ./call-watch.ts on the `dynamodb` and `kinesis` clients; for Kinesis also an Enhanced Fan-Out reader that
     * heard nothing for more than EFO_QUIET_MS while waiting for an event.
     */
    unansweredMs: { dynamodb: number; kinesis: number };
}

/** An EFO subscription quiet for longer than this while a read waits counts as Kinesis not answering (two 5 s heartbeats). */
export const EFO_QUIET_MS = 10_000;

export interface ShardMetrics {
    shardId: string;
    lagMs: number | undefined;
    delivered: number;
    inFlight: number;
    held: boolean;
}

/** Date string, epoch milliseconds (or seconds, when ≤ 10 digits) → Date; undefined when invalid. */
export function parseTimestamp(value: unknown): Date | undefined {
    if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value;
    if (typeof value === 'number') return Number.isFinite(value) ? new Date(value < 1e11 ? value * 1000 : value) : undefined;
    const s = String(value ?? '').trim();
    if (!s) return undefined;
    if (/^\d+(\.\d+)?$/.test(s)) return parseTimestamp(Number(s));
    const t = Date.parse(s);
    return Number.isNaN(t) ? undefined : new Date(t);
}

export { defaultWorkerId, resolveWorkerId } from './worker-id';
export { RECORD_OVERHEAD_BYTES, DEFAULT_MAX_BUFFERED_BYTES, READ_AHEAD_MS } from './shard-worker';

/** Two instances run with the same worker id: each takes the other's leases. */
export class DuplicateWorkerIdError extends KinesisNodeError {
    constructor(readonly workerId: string, readonly shardId: string) {
        super({
            kind: 'bad-config',
            code: 'DuplicateWorkerId',
            message: `another instance runs with worker id "${workerId.slice(0, 80)}" (it took lease ${shardId} from this one): give every instance its own worker id`,
            status: 'duplicate worker id',
            retryable: false,
        });
        this.name = 'DuplicateWorkerIdError';
    }
}

export class KinesisConsumer {
    readonly opts: ConsumerOptions;
    readonly table: LeaseTable;
    readonly coordinator: Coordinator;
    readonly workers = new Map<string, ShardWorker>();
    /** Workers of leases being taken, preparing their first read (see ShardWorker.prepare). */
    private readonly preparing = new Map<string, ShardWorker>();
    readonly workerId: string;
    readonly startedAt = Date.now();
    readerFactory: ShardReaderFactory;
    streamARN: string | undefined;
    delivered = 0;
    fenceDropped = 0;
    state: ConsumerMetrics['state'] = 'starting';
    lastError: unknown;
    private timers: NodeJS.Timeout[] = [];
    private stopped = false;
    private readonly abort = new AbortController();
    private starting: Promise<void> | undefined;
    /** Calls without an answer yet, per backend (./call-watch.ts; one per client, shared by its users). */
    private readonly calls: { dynamodb: CallWatch; kinesis: CallWatch };

    constructor(opts: ConsumerOptions) {
        if (!opts.onRecord && !opts.onBatch) throw new Error('a consumer needs onRecord or onBatch');
        this.opts = opts;
        this.calls = { dynamodb: watchCalls(opts.dynamodb), kinesis: watchCalls(opts.kinesis) };
        this.workerId = opts.workerId || defaultWorkerId();
        this.table = new LeaseTable(opts.dynamodb, opts.tableName);
        this.readerFactory = opts.readerFactory ?? createPollingReader;
        const failover = opts.failoverTimeMs ?? 10_000;
        this.coordinator = new Coordinator({
            table: this.table,
            workerId: this.workerId,
            failoverTimeMs: failover,
            renewIntervalMs: opts.renewIntervalMs ?? Math.max(100, Math.floor(failover / 3) - 25),
            // KCL scans every 2 × (failover + 25) ms; half the failover time lets a lease released by a
            // stopping instance be picked up within seconds (a scan of a small table is cheap)
            takerIntervalMs: opts.takerIntervalMs ?? Math.max(1000, Math.floor(failover / 2)),
            parentPollMs: opts.parentPollMs ?? 10_000,
            gracefulHandOff: opts.gracefulHandOff,
            fenceMarginMs: opts.fenceMarginMs,
            maxLeasesForWorker: opts.maxLeasesForWorker,
            handlers: {
                acquired: (lease) => this.acquired(lease),
                taking: (lease) => this.taking(lease),
                notTaken: (shardId) => this.notTaken(shardId),
                lost: (shardId) => this.lost(shardId),
                handOffRequested: (shardId, to) => {
                    this.handOff(shardId, to).catch((err) => this.warn(`handing ${shardId} over failed`, err));
                },
                duplicateWorkerId: (shardId) => {
                    this.error(new DuplicateWorkerIdError(this.workerId, shardId), { action: 'dynamodb:UpdateItem', shardId });
                    this.emit({ type: 'duplicateWorkerId', shardId, workerId: this.workerId });
                },
                warn: (m, e) => this.warn(m, e),
            },
        });
    }

    /** The IAM actions reading needs (named when access is denied). */
    readAction(): string {
        return this.opts.readMode === 'efo' ? 'kinesis:SubscribeToShard' : 'kinesis:GetShardIterator, kinesis:GetRecords';
    }

    emit(e: ConsumerEvent): void {
        try {
            this.opts.onEvent?.(e);
        } catch {
            /* a listener's problem */
        }
    }

    warn(message: string, error?: unknown): void {
        try {
            this.opts.onWarning?.(message, error);
        } catch {
            /* ignore */
        }
    }

    error(error: unknown, ctx: { action: string; shardId?: string }): void {
        this.lastError = error;
        try {
            this.opts.onError?.(error, ctx);
        } catch {
            /* ignore */
        }
    }

    /** Starts in the background; startup failures are reported through onError and retried. */
    start(): Promise<void> {
        if (!this.starting) this.starting = this.startup();
        return this.starting;
    }

    private async startup(): Promise<void> {
        let backoff = 0;
        while (!this.stopped) {
            // steps run side by side: the first one that failed names the action (explain() words it)
            let action: string | undefined;
            const step = <T>(name: string, p: Promise<T>): Promise<T> =>
                p.catch((err) => {
                    action ??= name;
                    throw err;
                });
            try {
                const signal = this.abort.signal;
                const isArn = this.opts.streamName.startsWith('arn:');
                // the stream and the lease table at once, then the shards beside the table's leases: the
                // start costs the longest chain, not the sum of the calls. A missing table is created only
                // once the stream answered (a misspelt stream name creates no table).
                const stream = step(
                    'kinesis:DescribeStreamSummary',
                    this.opts.kinesis.send(
                        new DescribeStreamSummaryCommand(isArn ? { StreamARN: this.opts.streamName } : { StreamName: this.opts.streamName }),
                        { abortSignal: signal },
                    ),
                ).then(async (d) => {
                    this.streamARN = d.StreamDescriptionSummary?.StreamARN;
                    if (this.opts.readMode === 'efo' && !this.opts.readerFactory) {
                        const arn = this.streamARN;
                        const efo = await step(
                            'kinesis:RegisterStreamConsumer',
                            arn
                                ? efoReaderFactory(this.opts.subscribeKinesis ?? this.opts.kinesis, arn, this.opts.consumerName || this.opts.tableName, { signal })
                                : Promise.reject(new Error('stream ARN unknown')),
                        );
                        this.readerFactory = efo.factory;
                    }
                });
                const table = step('dynamodb:DescribeTable, dynamodb:CreateTable', this.table.ensureTable({ signal, createAfter: stream }));
                const shards = stream.then(() => step('kinesis:ListShards', listShards(this.opts.kinesis, this.streamRef(), signal)));
                const leases = table.then(() => step('dynamodb:Scan', this.table.list(signal)));
                const [, , known, held] = await Promise.all([stream, table, shards, leases]);
                if (this.stopped) return;
                await step('dynamodb:PutItem', this.syncShards({ shards: known, leases: held }));
                if (this.stopped) return;
                action = undefined;
                this.state = 'running';
                this.lastError = undefined;
                this.emit({ type: 'running' });
                await step('dynamodb:Scan', this.coordinator.start());
                this.every(this.opts.checkpointIntervalMs ?? 5000, () => this.checkpointAll());
                this.every(this.opts.shardSyncIntervalMs ?? 60_000, async () => {
                    if ((await this.syncShards()) > 0) await this.coordinator.runTaker();
                });
                return;
            } catch (err) {
                if (this.stopped) return;
                this.error(err, { action: action ?? 'kinesis:DescribeStreamSummary' });
                backoff = Math.min(backoff ? backoff * 2 : 1000, 30_000);
                await sleep(backoff, this.abort.signal);
            }
        }
    }

    private streamRef(): { streamName?: string; streamARN?: string } {
        return this.opts.streamName.startsWith('arn:') ? { streamARN: this.opts.streamName } : { streamName: this.opts.streamName };
    }

    private every(ms: number, fn: () => Promise<unknown>): void {
        const tick = () => {
            if (this.stopped) return;
            fn()
                .catch((err) => this.warn('background task failed', err))
                .finally(() => {
                    if (!this.stopped) this.timers.push(setTimeout(tick, ms));
                });
        };
        this.timers.push(setTimeout(tick, ms));
    }

    /**
     * ListShards + leases for what is missing; resolves the number of leases created. `known`: the
     * shards and the table's leases, just read (the start reads them side by side).
     */
    async syncShards(known?: { shards: Shard[]; leases: Lease[] }): Promise<number> {
        const [shards, leases] = known
            ? [known.shards, known.leases]
            : await Promise.all([listShards(this.opts.kinesis, this.streamRef(), this.abort.signal), this.table.list(this.abort.signal)]);
        const created = await syncLeases(this.table, shards, leases, this.opts.initialPosition, this.startedAt);
        if (leases.length) await cleanupFinishedLeases(this.table, leases).catch((err) => this.warn('removing finished leases failed', err));
        return created;
    }

    /** A take is on its way: its worker prepares the first read beside it (polling: the shard iterator). */
    private taking(lease: Lease): void {
        if (this.stopped || this.workers.has(lease.leaseKey)) return;
        this.preparing.get(lease.leaseKey)?.discard();
        const w = new ShardWorker(this, lease);
        if (w.prepare()) this.preparing.set(lease.leaseKey, w);
        else this.preparing.delete(lease.leaseKey);
    }

    private notTaken(shardId: string): void {
        const w = this.preparing.get(shardId);
        this.preparing.delete(shardId);
        w?.discard();
    }

    /** A lease taken (reported only while the coordinator runs: a stop ends that before anything else). */
    private acquired(lease: Lease): void {
        this.workers.get(lease.leaseKey)?.stopLost();
        const ready = this.preparing.get(lease.leaseKey);
        this.preparing.delete(lease.leaseKey);
        const prepared = ready && ready.preparedFor(lease) ? ready : undefined;
        if (ready && !prepared) ready.discard();
        const w = prepared ?? new ShardWorker(this, lease);
        this.workers.set(lease.leaseKey, w);
        this.emit({ type: 'acquired', shardId: lease.leaseKey });
        w.run().catch((err) => this.error(err, { action: this.readAction(), shardId: lease.leaseKey }));
    }

    private lost(shardId: string): void {
        const w = this.workers.get(shardId);
        if (w) {
            w.stopLost();
            this.workers.delete(shardId);
        }
        this.emit({ type: 'lost', shardId });
    }

    private async handOff(shardId: string, to: string): Promise<void> {
        const w = this.workers.get(shardId);
        if (w) {
            this.workers.delete(shardId);
            await w.stopGraceful(this.opts.drainTimeoutMs ?? 5000);
        }
        await this.coordinator.transfer(shardId, to);
        this.emit({ type: 'released', shardId });
    }

    private async checkpointAll(): Promise<void> {
        await Promise.all([...this.workers.values()].map((w) => w.checkpoint()));
    }

    /** Per held shard: lag, records delivered, in flight, held by a failed record. */
    shardMetrics(): ShardMetrics[] {
        const out: ShardMetrics[] = [];
        for (const [shardId, w] of this.workers) {
            out.push({ shardId, lagMs: w.lagMs, delivered: w.delivered, inFlight: w.cp.inFlight, held: w.cp.failed !== undefined });
        }
        return out;
    }

    /** True while this worker holds `shardId` and may emit its records (a retry checks this first). */
    canEmit(shardId: string): boolean {
        const w = this.workers.get(shardId);
        return w !== undefined && w.running && this.coordinator.canEmit(shardId);
    }

    metrics(): ConsumerMetrics {
        let inFlight = 0;
        let lag: number | undefined;
        let failed = 0;
        const now = Date.now();
        let kinesis = this.calls.kinesis.oldestMs(now);
        for (const w of this.workers.values()) {
            inFlight += w.cp.inFlight;
            if (w.lagMs !== undefined) lag = Math.max(lag ?? 0, w.lagMs);
            if (w.cp.failed || w.halted) failed++;
            const quiet = w.readerWaitingMs(now);
            if (quiet > EFO_QUIET_MS && quiet > kinesis) kinesis = quiet;
        }
        return {
            state: this.state,
            shards: this.workers.size,
            delivered: this.delivered,
            inFlight,
            lagMs: lag,
            failedShards: failed,
            fenceDropped: this.fenceDropped,
            lastError: this.lastError,
            unansweredMs: { dynamodb: this.calls.dynamodb.oldestMs(now), kinesis },
        };
    }

    /** Shard ids this worker is reading. */
    shardIds(): string[] {
        return [...this.workers.keys()];
    }

    private haltTimers(): void {
        this.stopped = true;
        this.abort.abort();
        for (const t of this.timers) clearTimeout(t);
        this.timers = [];
        this.coordinator.halt();
        this.discardPrepared();
    }

    private discardPrepared(): void {
        for (const w of this.preparing.values()) w.discard();
        this.preparing.clear();
    }

    /**
     * Graceful stop: stop reading, wait up to `timeoutMs` for in-flight records, checkpoint, and
     * release every lease (another worker takes them on its next taker pass). `until`: the caller's word that
     * the records still in flight will never finish (their holders are gone) — the wait ends then, what
     * finished is checkpointed. Asked at most every UNTIL_POLL_MS (one answer for all shards); once true, true.
     */
    async stop(opts: { timeoutMs?: number; release?: boolean; until?: () => boolean } = {}): Promise<void> {
        if (this.state === 'stopped' || this.state === 'stopping') return;
        this.state = 'stopping';
        // no new leases, no background tasks; renewals go on while in-flight records drain
        this.stopped = true;
        this.abort.abort();
        for (const t of this.timers) clearTimeout(t);
        this.timers = [];
        await this.coordinator.stopTaking();
        this.discardPrepared();
        const timeout = opts.timeoutMs ?? this.opts.drainTimeoutMs ?? 5000;
        const until = opts.until && pollEvery(opts.until, UNTIL_POLL_MS);
        const workers = [...this.workers.entries()];
        this.workers.clear();
        await Promise.all(
            workers.map(async ([shardId, w]) => {
                await w.stopGraceful(timeout, until).catch((err) => this.warn(`${shardId}: stopping failed`, err));
                if (opts.release !== false) await this.coordinator.release(shardId).catch(() => undefined);
            }),
        );
        if (opts.release !== false) {
            await Promise.all([...this.coordinator.held.keys()].map((k) => this.coordinator.release(k).catch(() => undefined)));
        }
        this.coordinator.halt();
        this.state = 'stopped';
    }

    /** Stops everything without touching DynamoDB (what a crash looks like to the others). */
    crash(): void {
        this.haltTimers();
        for (const w of this.workers.values()) w.stopLost();
        this.workers.clear();
        this.state = 'stopped';
    }
}

/** How often stop()'s `until` is asked at most. */
const UNTIL_POLL_MS = 100;

/**
 * `f` asked at most every `ms` (the last answer in between); once it said true, true without asking. A throw
 * counts as false (the wait goes on to its timeout, as without `f`).
 */
function pollEvery(f: () => boolean, ms: number): () => boolean {
    let at = Number.NEGATIVE_INFINITY;
    let answer = false;
    return () => {
        if (answer) return true;
        const now = Date.now();
        if (now - at >= ms) {
            at = now;
            try {
                answer = f() === true;
            } catch {
                answer = false;
            }
        }
        return answer;
    };
}

export { LATEST, TRIM_HORIZON, AT_TIMESTAMP };
