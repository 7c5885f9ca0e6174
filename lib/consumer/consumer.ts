/**
 * The Kinesis consumer: lease table + coordinator + one pipeline per held shard.
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
import { DescribeStreamSummaryCommand, KinesisClient, ChildShard, Shard } from '@aws-sdk/client-kinesis';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { deaggregate, UserRecord } from '../kpl';
import { Checkpointer, Ticket, isSentinel } from './checkpointer';
import { Coordinator } from './coordinator';
import { Lease, LeaseTable, SHARD_END, LATEST, AT_TIMESTAMP, TRIM_HORIZON } from './lease-table';
import { createPollingReader, isInvalidRequest } from './polling';
import type { ReadBatch, ShardReader, ShardReaderFactory, StartingPosition } from './reader';
import { cleanupFinishedLeases, createChildLeases, InitialPosition, listShards, syncLeases } from './shard-sync';
import { efoReaderFactory } from './efo-wiring';
import { sleep } from './sleep';
import { defaultWorkerId } from './worker-id';
import { KinesisNodeError } from '../aws/errors';
import { performance } from 'node:perf_hooks';

export interface ConsumerRecord extends UserRecord {
    shardId: string;
    millisBehindLatest?: number;
}

export type DoneCallback = (error?: unknown) => void;

export interface ConsumerOptions {
    kinesis: KinesisClient;
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
     * it gets). Bounds memory under a backlog together with maxInFlight.
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
}

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

const STALLED = Symbol('stalled');

/** What a record costs in memory besides its data (objects, sequence number, key, metadata): an estimate. */
export const RECORD_OVERHEAD_BYTES = 512;
export const DEFAULT_MAX_BUFFERED_BYTES = 16 * 1024 * 1024;
/** Sizes the first read of a shard, before any record was seen: 1 KiB of data per record. */
const FIRST_GUESS_RECORD_BYTES = 1024 + RECORD_OVERHEAD_BYTES;
/**
 * Read-ahead by pace: a read asks for at most this many ms of the records/s the flow took the last
 * batch at (at least MIN_PACED_READ records). A slow flow under a backlog then keeps a few seconds of
 * records in memory, not the whole byte share; a fast one is bounded by the bytes only.
 */
export const READ_AHEAD_MS = 2000;
const MIN_PACED_READ = 500;

function batchBytes(raw: ReadBatch['records']): number {
    let n = 0;
    for (const r of raw) n += (r.Data?.length ?? 0) + RECORD_OVERHEAD_BYTES;
    return n;
}

class ShardWorker {
    readonly shardId: string;
    readonly cp = new Checkpointer();
    running = true;
    /** Stopped reading after an invalid request (see run()); counted in metrics().failedShards. */
    halted = false;
    private reader: ShardReader | undefined;
    private lastRawSeq: string | undefined;
    private writtenSeq: string | undefined;
    private writtenSub = 0;
    private sentinel: boolean;
    private resumeSeq: string | undefined;
    private resumeSub = 0;
    private writing: Promise<void> | undefined;
    private writeAgain = false;
    lagMs: number | undefined;
    /** Records delivered on this lease (the operations view's records/s). */
    delivered = 0;
    private failedReported = false;
    private readonly max: number;
    /** In-flight count at which a full shard resumes delivering (a run of records per wake-up). */
    private readonly resumeAt: number;
    /** Average bytes (data + overhead) of the records of the last batch (before the first: a guess). */
    private avgRecordBytes = FIRST_GUESS_RECORD_BYTES;
    /** Records/s the flow took the last batch at (undefined: unknown, or faster than reads matter). */
    private rate: number | undefined;

    constructor(private readonly c: KinesisConsumer, private lease: Lease) {
        this.shardId = lease.leaseKey;
        this.sentinel = isSentinel(lease.checkpoint);
        if (!this.sentinel) {
            this.resumeSeq = lease.checkpoint;
            this.resumeSub = lease.checkpointSubSequenceNumber;
            this.writtenSeq = lease.checkpoint;
            this.writtenSub = lease.checkpointSubSequenceNumber;
        }
        this.max = c.opts.ordered ? 1 : Math.max(1, c.opts.maxInFlight ?? 1000);
        this.resumeAt = this.max - Math.max(1, Math.min(64, this.max >> 3));
    }

    private startPosition(): StartingPosition {
        if (this.lastRawSeq) return { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: this.lastRawSeq };
        const l = this.lease;
        if (!isSentinel(l.checkpoint)) return { type: 'AT_SEQUENCE_NUMBER', sequenceNumber: l.checkpoint };
        if (l.checkpoint === LATEST) {
            const margin = this.c.opts.latestMarginMs ?? 1000;
            const at = l.initialTimestamp ?? this.c.startedAt;
            return { type: 'AT_TIMESTAMP', timestamp: new Date(at - margin) };
        }
        if (l.checkpoint === AT_TIMESTAMP) {
            const p = this.c.opts.initialPosition;
            return p.type === 'AT_TIMESTAMP' ? { type: 'AT_TIMESTAMP', timestamp: p.timestamp } : { type: 'TRIM_HORIZON' };
        }
        return { type: 'TRIM_HORIZON' };
    }

    /**
     * While the lease is being taken: opens the reader and lets it prepare its first read (the shard
     * iterator), so the first GetRecords follows the take at once. False when the reader has nothing
     * to prepare (it is not kept). Nothing is read or emitted before `run()`.
     */
    prepare(): boolean {
        const reader = this.openReader();
        if (typeof reader.prepare !== 'function') {
            void reader.close().catch(() => undefined);
            return false;
        }
        this.reader = reader;
        reader.prepare();
        return true;
    }

    /** Prepared for `lease` as scanned: still right for the lease as taken (same checkpoint)? */
    preparedFor(lease: Lease): boolean {
        return this.lease.checkpoint === lease.checkpoint && this.lease.checkpointSubSequenceNumber === lease.checkpointSubSequenceNumber
            && this.lease.initialTimestamp === lease.initialTimestamp;
    }

    /** A prepared worker whose take did not happen. */
    discard(): void {
        this.running = false;
        const r = this.reader;
        this.reader = undefined;
        void r?.close().catch(() => undefined);
    }

    private openReader(): ShardReader {
        const o = this.c.opts;
        const stream = o.streamName.startsWith('arn:') ? { streamARN: o.streamName } : { streamName: o.streamName, streamARN: this.c.streamARN };
        return this.c.readerFactory({
            kinesis: o.kinesis,
            ...stream,
            shardId: this.shardId,
            start: this.startPosition(),
            maxRecords: o.maxRecords ?? 10_000,
            idleTimeMs: o.idleTimeMs ?? 1000,
            onWarning: (m, e) => this.c.warn(`${this.shardId}: ${m}`, e),
        });
    }

    private async read(p: Promise<ReadBatch>): Promise<ReadBatch | typeof STALLED> {
        // EFO readers watch their subscription themselves (30 s); this is the last line of defence
        const ms = this.c.opts.watchdogMs ?? (this.c.opts.readMode === 'efo' ? 120_000 : Math.max(60_000, (this.c.opts.idleTimeMs ?? 1000) + 30_000));
        let timer: NodeJS.Timeout | undefined;
        const stall = new Promise<typeof STALLED>((resolve) => {
            timer = setTimeout(() => resolve(STALLED), ms);
        });
        try {
            return await Promise.race([p, stall]);
        } finally {
            clearTimeout(timer);
        }
    }

    /**
     * The fence before an emit: true when the lease may be used now (renewed first when stale);
     * false when it is lost (the worker is then stopped and the caller drops what it holds).
     */
    private async fenced(): Promise<boolean> {
        const coord = this.c.coordinator;
        while (this.running) {
            if (!coord.holds(this.shardId)) return false;
            if (await coord.confirm(this.shardId)) return this.running;
            if (!this.running || !coord.holds(this.shardId)) return false;
            await sleep(Math.min(500, coord.fenceMs / 4)); // DynamoDB did not answer: try again (nothing is emitted meanwhile)
        }
        return false;
    }

    /** Records that will never be emitted by this worker (lease lost): counted, not checkpointed. */
    private dropFenced(count: number): void {
        this.c.fenceDropped += count;
    }

    async run(): Promise<void> {
        let errorBackoff = 0;
        let pending: Promise<ReadBatch> | undefined;
        while (this.running) {
            try {
                if (!this.reader) this.reader = this.openReader();
                const reader = this.reader;
                const p = pending ?? reader.next({ maxRecords: this.readLimit(0) });
                pending = undefined;
                p.catch(() => undefined);
                const batch = await this.read(p);
                if (!this.running) break;
                if (batch === STALLED) {
                    this.c.warn(`${this.shardId}: reader stalled, restarting it`);
                    this.c.emit({ type: 'restarted', shardId: this.shardId, reason: 'stalled' });
                    this.reader = undefined;
                    void reader.close().catch(() => undefined);
                    continue;
                }
                errorBackoff = 0;
                const shardEnd = batch.shardEnd;
                const records = this.takeBatch(batch);
                if (records && !shardEnd) {
                    // read ahead while this batch is delivered (at most one batch ahead, and no more bytes
                    // than this shard's share of maxBufferedBytes with this batch counted)
                    const limit = this.readLimit(records.bytes);
                    if (limit > 0) {
                        pending = reader.next({ maxRecords: limit });
                        pending.catch(() => undefined);
                    }
                }
                // the reader's batch (SDK objects) is not referenced past this point: only the records
                // not yet delivered stay in memory while the flow works (deliver() lets go of each one)
                if (records) {
                    const t0 = performance.now();
                    await this.deliver(records.list);
                    this.noteRate(records.raw, performance.now() - t0);
                }
                if (!this.running) break;
                if (shardEnd) {
                    await this.endShard(shardEnd.childShards);
                    return;
                }
            } catch (err) {
                pending = undefined;
                if (!this.running) break;
                const r = this.reader;
                this.reader = undefined;
                void r?.close().catch(() => undefined);
                this.c.error(err, { action: this.c.readAction(), shardId: this.shardId });
                if (isInvalidRequest(err)) {
                    // the same request fails the same way: stop reading this shard (the lease stays held,
                    // so no other worker spins on it) instead of retrying forever; a restart tries again
                    this.halted = true;
                    this.running = false;
                    this.c.emit({ type: 'halted', shardId: this.shardId, error: err });
                    break;
                }
                errorBackoff = Math.min(errorBackoff ? errorBackoff * 2 : 1000, 30_000);
                await sleep(errorBackoff);
            }
        }
        const r = this.reader;
        this.reader = undefined;
        await r?.close().catch(() => undefined);
    }

    /**
     * Records the next read may ask for with `heldBytes` not yet delivered, within this shard's share of
     * maxBufferedBytes: 0 = no read-ahead now (the read follows the delivery); with nothing held, half
     * the share (at least 1 record). The first read of a shard guesses 1 KiB of data per record.
     */
    private readLimit(heldBytes: number): number {
        // a slow flow: no more than READ_AHEAD_MS of its pace ahead (memory under a backlog)
        const paced = this.rate === undefined ? Infinity : Math.max(MIN_PACED_READ, Math.ceil((this.rate * READ_AHEAD_MS) / 1000));
        const max = Math.min(this.c.opts.maxRecords ?? 10_000, paced);
        const share = (this.c.opts.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES) / Math.max(1, this.c.workers.size);
        if (heldBytes > 0) {
            const n = Math.floor((share - heldBytes) / this.avgRecordBytes);
            return n >= 1 ? Math.min(max, n) : 0;
        }
        // nothing held: half the share, so that the read-ahead of the other half fits beside it
        return Math.max(1, Math.min(max, Math.floor(share / 2 / this.avgRecordBytes)));
    }

    /**
     * The records of a batch read (deaggregated, those the checkpoint covers dropped) and its bytes as
     * maxBufferedBytes counts them; undefined when it had none. Notes position, lag, average size.
     */
    private takeBatch(batch: ReadBatch): { list: ConsumerRecord[]; bytes: number; raw: number } | undefined {
        const raw = batch.records;
        if (batch.millisBehindLatest !== undefined) this.lagMs = batch.millisBehindLatest;
        if (!raw.length) return undefined;
        this.lastRawSeq = raw[raw.length - 1].SequenceNumber;
        const bytes = batchBytes(raw);
        this.avgRecordBytes = bytes / raw.length;
        return { list: this.toUserRecords(raw, batch.millisBehindLatest), bytes, raw: raw.length };
    }

    /**
     * The pace of the flow: Kinesis records (as read, before deaggregation) per second over the last
     * batch's delivery. A quick delivery (< 100 ms) forgets it (reads are bounded by bytes only); a
     * small batch says nothing.
     */
    private noteRate(n: number, ms: number): void {
        if (n >= MIN_PACED_READ && ms >= 100) this.rate = (n * 1000) / ms;
        else if (ms < 100) this.rate = undefined;
    }

    private toUserRecords(raw: ReadBatch['records'], lag: number | undefined): ConsumerRecord[] {
        const out: ConsumerRecord[] = [];
        const deagg = this.c.opts.deaggregate !== false;
        const shardId = this.shardId;
        for (const r of raw) {
            const d = r.Data;
            // the usual record (not KPL-aggregated: no magic) is built here in one step, in one shape;
            // what starts with the magic goes through deaggregate (which also checks the MD5)
            if (!deagg || !d || d.length < 4 || d[0] !== 0xf3 || d[1] !== 0x89 || d[2] !== 0x9a || d[3] !== 0xc2) {
                const sequenceNumber = r.SequenceNumber ?? '';
                if (this.resumeSeq !== undefined) {
                    if (sequenceNumber === this.resumeSeq) continue; // sub-sequence 0 ≤ any checkpoint's
                    this.resumeSeq = undefined;
                }
                const data = d ? (Buffer.isBuffer(d) ? d : Buffer.from(d.buffer, d.byteOffset, d.byteLength)) : Buffer.alloc(0);
                const ehk = deagg ? (r as { ExplicitHashKey?: string }).ExplicitHashKey : undefined;
                out.push(
                    ehk
                        ? { data, partitionKey: r.PartitionKey ?? '', explicitHashKey: ehk, sequenceNumber, subSequenceNumber: 0,
                            approximateArrivalTimestamp: r.ApproximateArrivalTimestamp, aggregated: false, shardId, millisBehindLatest: lag }
                        : { data, partitionKey: r.PartitionKey ?? '', sequenceNumber, subSequenceNumber: 0,
                            approximateArrivalTimestamp: r.ApproximateArrivalTimestamp, aggregated: false, shardId, millisBehindLatest: lag },
                );
                continue;
            }
            for (const u of deaggregate(r)) {
                if (this.resumeSeq !== undefined) {
                    if (u.sequenceNumber === this.resumeSeq) {
                        if (u.subSequenceNumber <= this.resumeSub) continue;
                    } else {
                        this.resumeSeq = undefined;
                    }
                }
                const cr = u as ConsumerRecord;
                cr.shardId = shardId;
                cr.millisBehindLatest = lag;
                out.push(cr);
            }
        }
        return out;
    }

    private async deliver(records: ConsumerRecord[]): Promise<void> {
        const c = this.c;
        const cp = this.cp;
        if (c.opts.outputMode === 'batch' && c.opts.onBatch) {
            if (!records.length) return;
            while (this.running && cp.inFlight >= this.max) await cp.waitForRoom(this.max, this.resumeAt);
            // holdOnFailure: a failed record holds the shard, nothing more is delivered until stop / lease lost
            if (cp.failed && c.opts.holdOnFailure) await cp.hold();
            if (!this.running || (!c.coordinator.canEmit(this.shardId) && !(await this.fenced()))) {
                this.dropFenced(records.length);
                return;
            }
            const last = records[records.length - 1];
            const t = cp.deliver(last.sequenceNumber, last.subSequenceNumber, records.length);
            c.delivered += records.length;
            this.delivered += records.length;
            try {
                c.opts.onBatch!(records, this.doneFor(t));
            } catch (err) {
                this.finished(t, err);
            }
            return;
        }
        const onRecord = c.opts.onRecord!;
        const coord = c.coordinator;
        for (let i = 0; i < records.length; i++) {
            while (this.running && cp.inFlight >= this.max) await cp.waitForRoom(this.max, this.resumeAt);
            // holdOnFailure: a failed record holds the shard, nothing more is delivered until stop / lease lost
            if (cp.failed && c.opts.holdOnFailure) await cp.hold();
            if (!this.running || (!coord.canEmit(this.shardId) && !(await this.fenced()))) {
                this.dropFenced(records.length - i);
                return;
            }
            const r = records[i];
            // let go of it here: once finished it is garbage, not kept until the whole batch was delivered
            (records as Array<ConsumerRecord | undefined>)[i] = undefined;
            const t = cp.deliver(r.sequenceNumber, r.subSequenceNumber);
            c.delivered++;
            this.delivered++;
            try {
                onRecord(r, this.doneFor(t));
            } catch (err) {
                this.finished(t, err);
            }
        }
    }

    private doneFor(t: Ticket): DoneCallback {
        return (err?: unknown) => this.finished(t, err);
    }

    private finished(t: Ticket, err?: unknown): void {
        const moved = this.cp.finish(t, err);
        if (err !== undefined && err !== null && !this.failedReported && this.running) {
            this.failedReported = true;
            this.c.emit({ type: 'failed', shardId: this.shardId, sequenceNumber: t.seq, error: err });
        }
        if (!moved || !this.running) return;
        const every = this.c.opts.checkpointEveryRecords ?? 0;
        if (this.sentinel || (every > 0 && this.cp.finishedSinceWrite >= every)) void this.checkpoint();
    }

    /** Writes the safe checkpoint if it moved (coalesced). */
    checkpoint(): Promise<void> {
        if (this.writing) {
            this.writeAgain = true;
            return this.writing;
        }
        this.writing = (async () => {
            do {
                this.writeAgain = false;
                const seq = this.cp.safeSeq;
                const sub = this.cp.safeSub;
                if (seq === undefined || (seq === this.writtenSeq && sub === this.writtenSub)) break;
                const finished = this.cp.finishedSinceWrite;
                try {
                    const ok = await this.c.coordinator.checkpoint(this.shardId, seq, sub);
                    if (!ok) break;
                    this.writtenSeq = seq;
                    this.writtenSub = sub;
                    this.sentinel = false;
                    this.cp.finishedSinceWrite -= finished;
                    this.c.emit({ type: 'checkpoint', shardId: this.shardId, checkpoint: seq, subSequenceNumber: sub });
                } catch (err) {
                    this.c.error(err, { action: 'dynamodb:UpdateItem', shardId: this.shardId });
                    break;
                }
            } while (this.writeAgain);
        })().finally(() => {
            this.writing = undefined;
        });
        return this.writing;
    }

    private async endShard(children: ChildShard[]): Promise<void> {
        // every record of the shard must be finished before SHARD_END
        while (this.running && !this.cp.allFinished()) {
            if (this.cp.failed) {
                this.c.warn(`${this.shardId}: shard ended but a record failed; SHARD_END is held until the node restarts`);
                await this.checkpoint();
                // hold the lease; records are redelivered from the checkpoint on the next pick-up
                while (this.running) await sleep(500);
                return;
            }
            await this.cp.drain(1000);
        }
        if (!this.running) return;
        await this.checkpoint();
        const table = this.c.table;
        try {
            if (children.length) await createChildLeases(table, children);
            const ok = await this.c.coordinator.checkpoint(this.shardId, SHARD_END, 0, children.map((ch) => ch.ShardId!).filter(Boolean));
            if (!ok) return;
            this.running = false;
            this.c.emit({ type: 'shardEnd', shardId: this.shardId, children: children.map((ch) => ch.ShardId!) });
            await this.c.coordinator.release(this.shardId);
            this.c.workers.delete(this.shardId);
            if (!children.length) await this.c.syncShards().catch(() => undefined);
            void this.c.coordinator.runTaker();
        } catch (err) {
            this.c.error(err, { action: 'dynamodb:PutItem', shardId: this.shardId });
            // the taker/lease renewal keeps the lease; retry the end after a while
            await sleep(2000);
            if (this.running) return this.endShard(children);
        }
    }

    /** Lease lost: stop emitting now, checkpoint nothing. */
    stopLost(): void {
        this.running = false;
        this.cp.wake();
        const r = this.reader;
        this.reader = undefined;
        void r?.close().catch(() => undefined);
    }

    /** Stop reading, wait (bounded) for in-flight records, checkpoint what finished. */
    async stopGraceful(timeoutMs: number): Promise<void> {
        this.running = false;
        this.cp.wake();
        const r = this.reader;
        this.reader = undefined;
        await r?.close().catch(() => undefined);
        await this.cp.drain(timeoutMs);
        if (this.writing) await this.writing;
        await this.checkpoint();
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

    constructor(opts: ConsumerOptions) {
        if (!opts.onRecord && !opts.onBatch) throw new Error('a consumer needs onRecord or onBatch');
        this.opts = opts;
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
                                ? efoReaderFactory(this.opts.kinesis, arn, this.opts.consumerName || this.opts.tableName, { signal })
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
        for (const w of this.workers.values()) {
            inFlight += w.cp.inFlight;
            if (w.lagMs !== undefined) lag = Math.max(lag ?? 0, w.lagMs);
            if (w.cp.failed || w.halted) failed++;
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
     * release every lease (another worker takes them on its next taker pass).
     */
    async stop(opts: { timeoutMs?: number; release?: boolean } = {}): Promise<void> {
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
        const workers = [...this.workers.entries()];
        this.workers.clear();
        await Promise.all(
            workers.map(async ([shardId, w]) => {
                await w.stopGraceful(timeout).catch((err) => this.warn(`${shardId}: stopping failed`, err));
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

export { LATEST, TRIM_HORIZON, AT_TIMESTAMP };
