/**
 * One held shard of a KinesisConsumer: read a batch (polling or Enhanced Fan-Out reader), deaggregate KPL
 * records, drop what the checkpoint already covers, deliver records while fewer than `maxInFlight` are
 * unfinished, read ahead at most one batch and at most the shard's share of `maxBufferedBytes`, track every
 * delivered record in a Checkpointer and write the checkpoint of finished records; at shard end wait until
 * every record is finished, create the child leases, checkpoint SHARD_END and release the lease. Fencing:
 * every record (batch) is emitted only after `coordinator.canEmit` (renewed first when stale; dropped when lost).
 */
import type { ChildShard } from '@aws-sdk/client-kinesis';
import { performance } from 'node:perf_hooks';
import { deaggregate, UserRecord } from '../kpl';
import { Checkpointer, Ticket, isSentinel } from './checkpointer';
import { Lease, SHARD_END, LATEST, AT_TIMESTAMP } from './lease-table';
import { isInvalidRequest } from './polling';
import type { ReadBatch, ShardReader, StartingPosition } from './reader';
import { createChildLeases } from './shard-sync';
import { sleep } from './sleep';
import type { ConsumerRecord, DoneCallback, KinesisConsumer } from './consumer';

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

/** One held shard: its reader, read-ahead, delivery, checkpoints and its end (see KinesisConsumer). */
export class ShardWorker {
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

    /** How long this shard's reader has waited for Kinesis without hearing from it (./reader.ts `waitingMs`; 0: none). */
    readerWaitingMs(now: number): number {
        return this.reader?.waitingMs?.(now) ?? 0;
    }

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

    /**
     * The bytes this shard may have in flight (delivered, not finished): its share of maxBufferedBytes, like
     * the read-ahead; at least one record (batch) is always let through. Resumes at 7/8 of it.
     */
    private inFlightByteShare(): number {
        return (this.c.opts.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES) / Math.max(1, this.c.workers.size);
    }

    private async deliver(records: ConsumerRecord[]): Promise<void> {
        const c = this.c;
        const cp = this.cp;
        const byteLimit = this.inFlightByteShare();
        const byteResume = byteLimit - byteLimit / 8;
        if (c.opts.outputMode === 'batch' && c.opts.onBatch) {
            if (!records.length) return;
            let bytes = 0;
            for (const r of records) bytes += r.data.length + RECORD_OVERHEAD_BYTES;
            while (this.running && !cp.hasRoom(this.max, byteLimit)) await cp.waitForRoom(this.max, this.resumeAt, byteLimit, byteResume);
            // holdOnFailure: a failed record holds the shard, nothing more is delivered until stop / lease lost
            if (cp.failed && c.opts.holdOnFailure) await cp.hold();
            if (!this.running || (!c.coordinator.canEmit(this.shardId) && !(await this.fenced()))) {
                this.dropFenced(records.length);
                return;
            }
            const last = records[records.length - 1];
            const t = cp.deliver(last.sequenceNumber, last.subSequenceNumber, records.length, bytes);
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
            while (this.running && !cp.hasRoom(this.max, byteLimit)) await cp.waitForRoom(this.max, this.resumeAt, byteLimit, byteResume);
            // holdOnFailure: a failed record holds the shard, nothing more is delivered until stop / lease lost
            if (cp.failed && c.opts.holdOnFailure) await cp.hold();
            if (!this.running || (!coord.canEmit(this.shardId) && !(await this.fenced()))) {
                this.dropFenced(records.length - i);
                return;
            }
            const r = records[i];
            // let go of it here: once finished it is garbage, not kept until the whole batch was delivered
            (records as Array<ConsumerRecord | undefined>)[i] = undefined;
            const t = cp.deliver(r.sequenceNumber, r.subSequenceNumber, 1, r.data.length + RECORD_OVERHEAD_BYTES);
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

    /** Stop reading, wait (bounded; `until`: see Checkpointer.drain) for in-flight records, checkpoint what finished. */
    async stopGraceful(timeoutMs: number, until?: () => boolean): Promise<void> {
        this.running = false;
        this.cp.wake();
        const r = this.reader;
        this.reader = undefined;
        await r?.close().catch(() => undefined);
        await this.cp.drain(timeoutMs, until);
        if (this.writing) await this.writing;
        await this.checkpoint();
    }
}
