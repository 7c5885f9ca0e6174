/**
 * What happens to a record (or a batch, in batch mode) whose processing failed: retries in the
 * running process (the same record sent again after a backoff), then one action once the retries are
 * used up:
 * - `hold`: the record fails for good in this process — the shard's checkpoint stays before it and the
 *   shard delivers nothing more until the node restarts or the lease moves (then it is delivered again).
 * - `output`: the record goes to a failure output with the error and the attempt count; the checkpoint
 *   moves on.
 * - `deadLetter`: the record is written to a dead-letter stream; the checkpoint moves on once the write
 *   is acknowledged. A failed dead-letter write holds.
 *
 * No Node-RED import: the node gives the ways to re-send, to send to the failure output and to write
 * the dead-letter record.
 */
import type { ConsumerRecord, DoneCallback } from './consumer';
import type { ProducerRecord } from '../producer/records';

export type FailureAction = 'hold' | 'output' | 'deadLetter';

export interface FailurePolicyOptions {
    /** Re-sends after the first attempt (0 = none). */
    retries: number;
    /** Wait before the first re-send; doubles per re-send. */
    retryDelayMs: number;
    /** Longest wait between re-sends. */
    retryMaxDelayMs: number;
    action: FailureAction;
}

export const DEFAULT_FAILURE_POLICY: FailurePolicyOptions = { retries: 3, retryDelayMs: 1000, retryMaxDelayMs: 30_000, action: 'hold' };

/** Wait before re-send number `retry` (1-based): base × 2^(retry − 1), at most `max`. */
export function retryDelay(retry: number, baseMs: number, maxMs: number): number {
    const d = baseMs * 2 ** Math.min(30, Math.max(0, retry - 1));
    return Math.min(maxMs, d);
}

/** A failure in words: what a flow or a dead-letter record carries (clipped; never the whole object). */
export interface FailureInfo {
    message: string;
    name?: string;
    /** The node that reported it, when known (Node-RED's msg.error.source). */
    source?: { id?: string; type?: string; name?: string };
}

const MAX_MESSAGE = 1000;

export function clip(text: string, max = MAX_MESSAGE): string {
    return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

export function describeFailure(err: unknown): FailureInfo {
    if (err instanceof Error) {
        const info: FailureInfo = { message: clip(err.message || String(err.name)), name: err.name };
        const source = (err as { source?: FailureInfo['source'] }).source;
        if (source && typeof source === 'object') info.source = { id: source.id, type: source.type, name: source.name };
        return info;
    }
    if (err && typeof err === 'object') {
        const o = err as { message?: unknown; name?: unknown; source?: FailureInfo['source'] };
        const info: FailureInfo = { message: clip(typeof o.message === 'string' ? o.message : safeJson(err)) };
        if (typeof o.name === 'string') info.name = o.name;
        if (o.source && typeof o.source === 'object') info.source = { id: o.source.id, type: o.source.type, name: o.source.name };
        return info;
    }
    return { message: clip(String(err)) };
}

function safeJson(v: unknown): string {
    try {
        return JSON.stringify(v) ?? String(v);
    } catch {
        return String(v);
    }
}

/** One failed attempt, as the node reports it. */
export interface Failure<T> {
    item: T;
    /** The shard it came from (a re-send needs the lease still held). */
    shardId: string;
    error: unknown;
    /** Attempts made so far (1 = the first delivery). */
    attempt: number;
    /** The consumer's callback for the record (or batch). */
    done: DoneCallback;
}

export interface FailureHandlers<T> {
    /** Sends the item again as a new message (attempt = its number). */
    resend(item: T, attempt: number, done: DoneCallback): void;
    /** May this process still emit records of the shard? (lease held and fresh, node not closing) */
    canEmit(shardId: string): boolean;
    /** Sends the item to the failure output. */
    toOutput(item: T, error: FailureInfo, attempts: number): void;
    /** Writes the item to the dead-letter stream; resolves once acknowledged. */
    deadLetter(item: T, error: FailureInfo, attempts: number): Promise<void>;
    /** The item failed for good and holds its shard (full reason: for the log). */
    held(item: T, shardId: string, error: FailureInfo, attempts: number, cause: 'failed' | 'dead-letter write failed'): void;
    /** The item went to the failure output / dead-letter stream (counters). */
    skipped?(item: T, shardId: string, action: 'output' | 'deadLetter'): void;
}

/** Counters for metrics and status. */
export interface FailureCounters {
    failed: number;
    retried: number;
    toOutput: number;
    deadLettered: number;
    held: number;
}

export class FailurePolicy<T> {
    readonly counters: FailureCounters = { failed: 0, retried: 0, toOutput: 0, deadLettered: 0, held: 0 };
    private readonly waiting = new Map<NodeJS.Timeout, Failure<T>>();
    private closed = false;

    constructor(readonly opts: FailurePolicyOptions, private readonly h: FailureHandlers<T>) {}

    /** Re-sends waiting for their backoff. */
    get retrying(): number {
        return this.waiting.size;
    }

    /** A delivery of `f.item` failed: re-send it after a backoff, or apply the action. */
    failed(f: Failure<T>): void {
        this.counters.failed++;
        if (!this.closed && f.attempt <= this.opts.retries && this.h.canEmit(f.shardId)) {
            const timer = setTimeout(() => {
                this.waiting.delete(timer);
                if (this.closed || !this.h.canEmit(f.shardId)) {
                    // not ours any more (or closing): not checkpointed; delivered again by the next owner
                    f.done(f.error);
                    return;
                }
                this.counters.retried++;
                this.h.resend(f.item, f.attempt + 1, f.done);
            }, retryDelay(f.attempt, this.opts.retryDelayMs, this.opts.retryMaxDelayMs));
            this.waiting.set(timer, f);
            return;
        }
        this.exhausted(f);
    }

    private exhausted(f: Failure<T>): void {
        const info = describeFailure(f.error);
        if (this.closed || this.opts.action === 'hold' || !this.h.canEmit(f.shardId)) {
            if (!this.closed && this.opts.action === 'hold') {
                this.counters.held++;
                this.h.held(f.item, f.shardId, info, f.attempt, 'failed');
            }
            f.done(f.error);
            return;
        }
        if (this.opts.action === 'output') {
            this.counters.toOutput++;
            this.h.toOutput(f.item, info, f.attempt);
            this.h.skipped?.(f.item, f.shardId, 'output');
            f.done();
            return;
        }
        this.h.deadLetter(f.item, info, f.attempt).then(
            () => {
                this.counters.deadLettered++;
                this.h.skipped?.(f.item, f.shardId, 'deadLetter');
                f.done();
            },
            (err) => {
                this.counters.held++;
                const why = describeFailure(err);
                this.h.held(f.item, f.shardId, { ...info, message: clip(`${info.message}; dead-letter write failed: ${why.message}`) }, f.attempt, 'dead-letter write failed');
                f.done(f.error);
            },
        );
    }

    /** Cancels waiting re-sends: their records are not checkpointed (delivered again after a restart). */
    close(): void {
        this.closed = true;
        const w = [...this.waiting];
        this.waiting.clear();
        for (const [timer, f] of w) {
            clearTimeout(timer);
            f.done(f.error);
        }
    }
}

/**
 * The dead-letter record of a failed Kinesis record: a JSON document with the error, the attempt
 * count, where the record came from and its data (base64), under the record's own partition key (so
 * the dead-letter stream keeps the per-key order of what it receives).
 */
export function deadLetterRecord(
    r: ConsumerRecord,
    ctx: { sourceStream: string; deadLetterStream: string; error: FailureInfo; attempts: number; failedAt?: Date },
): ProducerRecord {
    const doc = {
        error: ctx.error,
        attempts: ctx.attempts,
        failedAt: (ctx.failedAt ?? new Date()).toISOString(),
        source: {
            streamName: ctx.sourceStream,
            shardId: r.shardId,
            sequenceNumber: r.sequenceNumber,
            subSequenceNumber: r.subSequenceNumber,
            partitionKey: r.partitionKey,
            explicitHashKey: r.explicitHashKey || undefined,
            approximateArrivalTimestamp: r.approximateArrivalTimestamp ? r.approximateArrivalTimestamp.getTime() : undefined,
        },
        data: r.data.toString('base64'),
    };
    return { streamName: ctx.deadLetterStream, data: Buffer.from(JSON.stringify(doc)), partitionKey: r.partitionKey || r.shardId };
}
