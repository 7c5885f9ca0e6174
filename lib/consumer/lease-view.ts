/**
 * The operations view of one application (lease table), read-only: a bounded, paged scan of the lease
 * table merged with the statistics of the shards this process reads. No Node-RED import.
 *
 * Per shard: owner (worker id + which Node-RED), checkpoint, lag, records/s, in flight, parent/child
 * state, pending hand-off. Lag / records/s / in flight of a shard held by another worker come from the
 * owner statistics on its lease (`lease-stats.ts`) while they are fresh, else they are unknown.
 */
import { AttributeValue, DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { Lease, leaseFromItem, SHARD_END } from './lease-table';
import { LocalShardStats, OwnerStats, statsFromItem } from './lease-stats';

export interface ScannedLease extends Lease {
    stats?: OwnerStats;
}

export interface ScanOptions {
    /** Items per Scan page (default 100). */
    pageSize?: number;
    /** At most this many leases (default 1000); `truncated` says when there were more. */
    maxItems?: number;
    signal?: AbortSignal;
}

/** Eventually consistent, paged scan of a lease table (half the read cost of the consumer's scan). */
export async function scanLeases(dynamodb: DynamoDBClient, tableName: string, opts: ScanOptions = {}): Promise<{ leases: ScannedLease[]; truncated: boolean }> {
    const maxItems = Math.max(1, opts.maxItems ?? 1000);
    const leases: ScannedLease[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
        const r = await dynamodb.send(
            new ScanCommand({ TableName: tableName, Limit: Math.min(opts.pageSize ?? 100, maxItems - leases.length), ExclusiveStartKey: start }),
            { abortSignal: opts.signal },
        );
        for (const item of r.Items ?? []) {
            const lease: ScannedLease = leaseFromItem(item);
            const stats = statsFromItem(item);
            if (stats) lease.stats = stats;
            leases.push(lease);
        }
        start = r.LastEvaluatedKey;
    } while (start && leases.length < maxItems);
    return { leases, truncated: start !== undefined };
}

/** 'closed': checkpoint SHARD_END (finished); 'waiting': a parent shard is not finished yet; else 'open'. */
export type ShardState = 'open' | 'closed' | 'waiting';

export interface ShardRow {
    shardId: string;
    state: ShardState;
    /** Worker id holding the lease (absent: free). */
    owner?: string;
    /** Which Node-RED the owner runs in, when known. */
    ownerNodeRed?: string;
    /** True when the owner is a consumer of this process. */
    local: boolean;
    checkpoint: string;
    checkpointSubSequenceNumber: number;
    lagMs?: number;
    recordsPerSec?: number;
    inFlight?: number;
    /** Where lag / records/s / in flight come from: this process, the owner's statistics on the lease, or nowhere. */
    statsFrom: 'local' | 'lease' | 'none';
    /** Age of the owner statistics (statsFrom 'lease'). */
    statsAgeMs?: number;
    /** Sequence number of a failed record the shard waits on (local shards). */
    heldAt?: string;
    parentShardIds: string[];
    childShardIds: string[];
    /** A worker asked for this lease (graceful hand-off pending). */
    handOffTo?: string;
    leaseCounter: number;
    ownerSwitchesSinceCheckpoint: number;
}

export interface OwnerRow {
    workerId: string;
    nodeRed?: string;
    local: boolean;
    shards: number;
}

export interface ApplicationView {
    tableName: string;
    shards: ShardRow[];
    owners: OwnerRow[];
    /** More leases than the scan's bound: the rows are a prefix. */
    truncated: boolean;
}

/** A consumer of this process reading the application. */
export interface LocalConsumerView {
    workerId: string;
    nodeRed: string;
    shards: ReadonlyMap<string, LocalShardStats>;
}

/** Where the trailing digits of `s` start (s.length when none); one pass from the end. */
function digitsStart(s: string): number {
    let i = s.length;
    while (i > 0 && s.charCodeAt(i - 1) >= 48 && s.charCodeAt(i - 1) <= 57) i--;
    return i;
}

/** Shard ids in stream order ("shardId-000000000010" after "...09"); linear in the ids' length. */
export function compareShardIds(a: string, b: string): number {
    const ia = digitsStart(a);
    const ib = digitsStart(b);
    if (ia < a.length && ib < b.length && a.slice(0, ia) === b.slice(0, ib)) {
        const da = a.slice(ia).replace(/^0+/, '');
        const db = b.slice(ib).replace(/^0+/, '');
        if (da.length !== db.length) return da.length - db.length;
        if (da !== db) return da < db ? -1 : 1;
    }
    return a < b ? -1 : a > b ? 1 : 0;
}

export function buildApplicationView(
    tableName: string,
    scan: { leases: ScannedLease[]; truncated: boolean },
    locals: LocalConsumerView[],
    opts: { now?: number; maxStatsAgeMs?: number } = {},
): ApplicationView {
    const now = opts.now ?? Date.now();
    const maxAge = opts.maxStatsAgeMs ?? 60_000;
    const byKey = new Map(scan.leases.map((l) => [l.leaseKey, l]));
    const localBy = new Map(locals.map((c) => [c.workerId, c]));
    const owners = new Map<string, OwnerRow>();
    const shards: ShardRow[] = [];
    for (const l of scan.leases) {
        const local = l.leaseOwner !== undefined ? localBy.get(l.leaseOwner) : undefined;
        const own = local?.shards.get(l.leaseKey);
        const stats = l.stats && l.stats.by === l.leaseOwner ? l.stats : undefined;
        const statsAge = stats?.at !== undefined ? Math.max(0, now - stats.at) : undefined;
        let state: ShardState = 'open';
        if (l.checkpoint === SHARD_END) state = 'closed';
        else if (l.parentShardIds.some((p) => byKey.has(p) && byKey.get(p)!.checkpoint !== SHARD_END)) state = 'waiting';
        const row: ShardRow = {
            shardId: l.leaseKey,
            state,
            owner: l.leaseOwner,
            ownerNodeRed: local?.nodeRed ?? stats?.nodeRed,
            local: local !== undefined,
            checkpoint: l.checkpoint,
            checkpointSubSequenceNumber: l.checkpointSubSequenceNumber,
            statsFrom: 'none',
            parentShardIds: l.parentShardIds,
            childShardIds: l.childShardIds,
            leaseCounter: l.leaseCounter,
            ownerSwitchesSinceCheckpoint: l.ownerSwitchesSinceCheckpoint,
        };
        if (l.checkpointOwner && l.checkpointOwner !== l.leaseOwner) row.handOffTo = l.checkpointOwner;
        if (own) {
            row.statsFrom = 'local';
            row.lagMs = own.lagMs;
            row.recordsPerSec = own.recordsPerSec;
            row.inFlight = own.inFlight;
            if (own.heldAt) row.heldAt = own.heldAt;
        } else if (stats && statsAge !== undefined && statsAge <= maxAge && state !== 'closed') {
            row.statsFrom = 'lease';
            row.statsAgeMs = statsAge;
            row.lagMs = stats.lagMs;
            row.recordsPerSec = stats.recordsPerSec;
            row.inFlight = stats.inFlight;
        }
        shards.push(row);
        if (l.leaseOwner && state !== 'closed') {
            const o = owners.get(l.leaseOwner) ?? { workerId: l.leaseOwner, nodeRed: row.ownerNodeRed, local: row.local, shards: 0 };
            o.shards++;
            o.nodeRed ??= row.ownerNodeRed;
            owners.set(l.leaseOwner, o);
        }
    }
    shards.sort((a, b) => compareShardIds(a.shardId, b.shardId));
    return {
        tableName,
        shards,
        owners: [...owners.values()].sort((a, b) => (a.workerId < b.workerId ? -1 : a.workerId > b.workerId ? 1 : 0)),
        truncated: scan.truncated,
    };
}
