/**
 * Owner statistics on the lease: what the operations view of ANOTHER Node-RED needs to show a shard
 * this worker holds (which Node-RED it is, lag, records/s, in flight). DynamoDB has no lag of its own.
 *
 * Extra attributes (ignored by the KCL, which reads only the attributes it knows):
 *  - `ownerNodeRed` (S)          the owner's Node-RED, e.g. "host-a:1880 · pid 4242"
 *  - `ownerStatsBy` (S)          the worker id that wrote the statistics (stale after a change of owner)
 *  - `ownerStatsAt` (N)          epoch ms of the write
 *  - `ownerLagMs` (N)            MillisBehindLatest of the last read (absent = not known yet)
 *  - `ownerRecordsPerSec` (N)    records delivered per second
 *  - `ownerInFlight` (N)         records delivered and not yet finished
 *
 * The write is conditional on `leaseCounter` and `leaseOwner` and does NOT bump the counter: renewals,
 * checkpoints and takes by other workers are not disturbed; a write that lost the race is skipped.
 * It runs off the record path, on its own timer (`LeaseStatsPublisher`).
 */
import { AttributeValue, DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import type { Lease } from './lease-table';

export interface OwnerStats {
    nodeRed?: string;
    by?: string;
    at?: number;
    lagMs?: number;
    recordsPerSec?: number;
    inFlight?: number;
}

type Item = Record<string, AttributeValue>;

const LABEL_MAX = 120;

function numberAttr(v: AttributeValue | undefined): number | undefined {
    if (v?.N === undefined) return undefined;
    const n = Number(v.N);
    return Number.isFinite(n) ? n : undefined;
}

/** The owner statistics of a lease item (undefined when none were ever written). */
export function statsFromItem(item: Item): OwnerStats | undefined {
    if (!item.ownerStatsBy?.S) return undefined;
    return {
        nodeRed: item.ownerNodeRed?.S?.slice(0, LABEL_MAX),
        by: item.ownerStatsBy.S,
        at: numberAttr(item.ownerStatsAt),
        lagMs: numberAttr(item.ownerLagMs),
        recordsPerSec: numberAttr(item.ownerRecordsPerSec),
        inFlight: numberAttr(item.ownerInFlight),
    };
}

function isConditionalFailure(err: unknown): boolean {
    return (err as { name?: string })?.name === 'ConditionalCheckFailedException';
}

/**
 * Writes the owner statistics on a lease this worker holds (lease = the latest copy the coordinator
 * has). Resolves false when the lease moved on meanwhile (renewed, taken): nothing was written.
 */
export async function publishLeaseStats(
    dynamodb: DynamoDBClient,
    tableName: string,
    lease: Pick<Lease, 'leaseKey' | 'leaseCounter'>,
    owner: string,
    stats: { nodeRed: string; lagMs?: number; recordsPerSec?: number; inFlight?: number; at?: number },
    signal?: AbortSignal,
): Promise<boolean> {
    const values: Item = {
        ':expected': { N: String(lease.leaseCounter) },
        ':owner': { S: owner },
        ':label': { S: stats.nodeRed.slice(0, LABEL_MAX) || owner },
        ':at': { N: String(Math.round(stats.at ?? Date.now())) },
    };
    const set = ['ownerNodeRed = :label', 'ownerStatsBy = :owner', 'ownerStatsAt = :at'];
    const remove: string[] = [];
    const optional: Array<[string, number | undefined]> = [
        ['ownerLagMs', stats.lagMs],
        ['ownerRecordsPerSec', stats.recordsPerSec],
        ['ownerInFlight', stats.inFlight],
    ];
    for (const [name, v] of optional) {
        if (v !== undefined && Number.isFinite(v)) {
            values[`:${name}`] = { N: String(Math.round(v * 10) / 10) };
            set.push(`${name} = :${name}`);
        } else remove.push(name);
    }
    try {
        await dynamodb.send(
            new UpdateItemCommand({
                TableName: tableName,
                Key: { leaseKey: { S: lease.leaseKey } },
                UpdateExpression: `SET ${set.join(', ')}${remove.length ? ` REMOVE ${remove.join(', ')}` : ''}`,
                ConditionExpression: 'leaseCounter = :expected AND leaseOwner = :owner',
                ExpressionAttributeValues: values,
            }),
            { abortSignal: signal },
        );
        return true;
    } catch (err) {
        if (isConditionalFailure(err)) return false;
        throw err;
    }
}

/** Records/s from a growing counter: the rate over the last window of at least `minWindowMs`. */
export class RateMeter {
    private prev: { count: number; at: number } | undefined;
    private cur: { count: number; at: number } | undefined;
    constructor(private readonly minWindowMs = 1000) {}

    rate(count: number, now: number): number | undefined {
        if (!this.cur) {
            this.cur = { count, at: now };
            return undefined;
        }
        if (now - this.cur.at >= this.minWindowMs) {
            this.prev = this.cur;
            this.cur = { count, at: now };
        }
        if (!this.prev) return undefined;
        const dt = this.cur.at - this.prev.at;
        return dt > 0 ? (Math.max(0, this.cur.count - this.prev.count) * 1000) / dt : undefined;
    }
}

/** What the publisher needs of a running consumer (`KinesisConsumer` has it). */
export interface LocalShardSource {
    readonly workerId: string;
    readonly workers: ReadonlyMap<string, { delivered: number; lagMs?: number; cp: { inFlight: number; failed?: { seq: string; error: unknown } } }>;
    readonly coordinator: { readonly held: ReadonlyMap<string, { lease: Lease }> };
}

export interface LocalShardStats {
    lagMs?: number;
    recordsPerSec?: number;
    inFlight: number;
    /** The record the shard waits on (a failed record pins the checkpoint). */
    heldAt?: string;
}

/**
 * Per-shard statistics of one local consumer (lag, records/s, in flight), and their periodic
 * publication on the leases it holds (every `publishMs`, and within `tickMs` of taking a lease).
 */
export class LeaseStatsPublisher {
    private readonly meters = new Map<string, RateMeter>();
    private readonly published = new Map<string, { at: number; lagKnown: boolean }>();
    private timer: NodeJS.Timeout | undefined;
    private busy = false;
    private readonly abort = new AbortController();
    failures = 0;

    constructor(
        private readonly source: LocalShardSource,
        private readonly dynamodb: DynamoDBClient,
        private readonly tableName: string,
        readonly nodeRed: string,
        private readonly opts: { publishMs?: number; tickMs?: number; onError?: (err: unknown) => void } = {},
    ) {}

    /** The local statistics of every shard this consumer is reading. */
    shardStats(now = Date.now()): Map<string, LocalShardStats> {
        const out = new Map<string, LocalShardStats>();
        for (const [shardId, w] of this.source.workers) {
            let meter = this.meters.get(shardId);
            if (!meter) this.meters.set(shardId, (meter = new RateMeter()));
            out.set(shardId, {
                lagMs: w.lagMs,
                recordsPerSec: meter.rate(w.delivered, now),
                inFlight: w.cp.inFlight,
                heldAt: w.cp.failed?.seq,
            });
        }
        for (const k of this.meters.keys()) if (!this.source.workers.has(k)) this.meters.delete(k);
        return out;
    }

    start(): void {
        if (this.timer) return;
        const tick = () => {
            this.publish()
                .catch((err) => {
                    this.failures++;
                    this.opts.onError?.(err);
                })
                .finally(() => {
                    if (this.timer) this.timer = setTimeout(tick, this.opts.tickMs ?? 2000).unref();
                });
        };
        this.timer = setTimeout(tick, this.opts.tickMs ?? 2000).unref();
    }

    stop(): void {
        if (this.timer) clearTimeout(this.timer);
        this.timer = undefined;
        this.abort.abort();
    }

    /** One pass: writes the statistics of held leases not written for `publishMs` (or never on this lease). */
    async publish(now = Date.now()): Promise<number> {
        if (this.busy) return 0;
        this.busy = true;
        try {
            const stats = this.shardStats(now);
            const every = this.opts.publishMs ?? 15_000;
            let written = 0;
            for (const [shardId, h] of this.source.coordinator.held) {
                if (this.abort.signal.aborted) break;
                const last = this.published.get(shardId);
                const s = stats.get(shardId);
                // a fresh lease (or one taken back) gets its owner shown at once, its lag once known
                if (last && now - last.at < every && (last.lagKnown || s?.lagMs === undefined)) continue;
                const ok = await publishLeaseStats(
                    this.dynamodb,
                    this.tableName,
                    h.lease,
                    this.source.workerId,
                    { nodeRed: this.nodeRed, lagMs: s?.lagMs, recordsPerSec: s?.recordsPerSec, inFlight: s?.inFlight ?? 0, at: now },
                    this.abort.signal,
                );
                // lost the race with a renewal: tried again on the next tick
                if (ok) {
                    this.published.set(shardId, { at: now, lagKnown: s?.lagMs !== undefined });
                    written++;
                }
            }
            for (const k of this.published.keys()) if (!this.source.coordinator.held.has(k)) this.published.delete(k);
            return written;
        } finally {
            this.busy = false;
        }
    }
}
