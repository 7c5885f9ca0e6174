/**
 * The kinesis-in metrics message (output 3, every `metricsIntervalMs`): per held shard the lag, the
 * rate and the in-flight count, and the checkpoints written, throttles and errors counted since the
 * previous metrics message. Counting costs one Map lookup per event (checkpoint, throttle, error),
 * nothing per record: the rate comes from the consumer's per-shard delivered counters.
 */
import type { ShardMetrics } from '../../lib/consumer/consumer';
import type { FailureCounters } from '../../lib/consumer/failure-policy';

interface ShardCounts {
    checkpoints: number;
    throttles: number;
    errors: number;
}

export interface ShardReport {
    shardId: string;
    lagMs: number | null;
    recordsPerS: number;
    inFlight: number;
    checkpoints: number;
    throttles: number;
    errors: number;
    held: boolean;
}

export interface MetricsPayload {
    streamName: string;
    applicationName: string;
    workerId: string;
    /** Epoch ms of this report. */
    at: number;
    /** Time covered by the counts and rates (ms since the previous report). */
    intervalMs: number;
    shards: ShardReport[];
    totals: {
        shards: number;
        recordsPerS: number;
        inFlight: number;
        maxLagMs: number | null;
        checkpoints: number;
        throttles: number;
        errors: number;
        failed: number;
        retried: number;
        toFailureOutput: number;
        deadLettered: number;
        held: number;
    };
}

export class MetricsCollector {
    private counts = new Map<string, ShardCounts>();
    /** Errors not tied to a shard (lease table, start-up). */
    private otherErrors = 0;
    private lastDelivered = new Map<string, number>();
    private lastFailures: FailureCounters = { failed: 0, retried: 0, toOutput: 0, deadLettered: 0, held: 0 };
    private lastAt: number;

    constructor(private readonly ids: { streamName: string; applicationName: string; workerId: string }, now = Date.now()) {
        this.lastAt = now;
    }

    private of(shardId: string): ShardCounts {
        let c = this.counts.get(shardId);
        if (!c) {
            c = { checkpoints: 0, throttles: 0, errors: 0 };
            this.counts.set(shardId, c);
        }
        return c;
    }

    checkpoint(shardId: string): void {
        this.of(shardId).checkpoints++;
    }

    throttle(shardId: string | undefined): void {
        if (shardId) this.of(shardId).throttles++;
    }

    error(shardId: string | undefined): void {
        if (shardId) this.of(shardId).errors++;
        else this.otherErrors++;
    }

    /** Builds the report and starts the next interval. */
    report(shards: ShardMetrics[], failures: FailureCounters, now = Date.now()): MetricsPayload {
        const intervalMs = Math.max(1, now - this.lastAt);
        this.lastAt = now;
        const out: ShardReport[] = [];
        const totals: MetricsPayload['totals'] = {
            shards: shards.length, recordsPerS: 0, inFlight: 0, maxLagMs: null, checkpoints: 0, throttles: 0, errors: this.otherErrors,
            failed: failures.failed - this.lastFailures.failed,
            retried: failures.retried - this.lastFailures.retried,
            toFailureOutput: failures.toOutput - this.lastFailures.toOutput,
            deadLettered: failures.deadLettered - this.lastFailures.deadLettered,
            held: failures.held - this.lastFailures.held,
        };
        this.lastFailures = { ...failures };
        this.otherErrors = 0;
        const seen = new Map<string, number>();
        for (const s of shards) {
            const before = this.lastDelivered.get(s.shardId) ?? 0;
            seen.set(s.shardId, s.delivered);
            const c = this.counts.get(s.shardId) ?? { checkpoints: 0, throttles: 0, errors: 0 };
            const rate = Math.round((Math.max(0, s.delivered - before) * 1000 * 10) / intervalMs) / 10;
            out.push({
                shardId: s.shardId, lagMs: s.lagMs ?? null, recordsPerS: rate, inFlight: s.inFlight,
                checkpoints: c.checkpoints, throttles: c.throttles, errors: c.errors, held: s.held,
            });
            totals.recordsPerS += rate;
            totals.inFlight += s.inFlight;
            if (s.lagMs !== undefined && (totals.maxLagMs === null || s.lagMs > totals.maxLagMs)) totals.maxLagMs = s.lagMs;
        }
        // counts of shards no longer held (checkpoint at hand-off, errors before a loss) still add up
        for (const c of this.counts.values()) {
            totals.checkpoints += c.checkpoints;
            totals.throttles += c.throttles;
            totals.errors += c.errors;
        }
        totals.recordsPerS = Math.round(totals.recordsPerS * 10) / 10;
        this.counts = new Map();
        this.lastDelivered = seen;
        return { ...this.ids, at: now, intervalMs, shards: out, totals };
    }
}
