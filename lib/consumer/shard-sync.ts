/**
 * Shard discovery: ListShards, and leases for shards that need one.
 *
 * - Empty lease table: leases for the shards of the initial position, covering the whole hash
 *   space. LATEST → the open shards (checkpoint LATEST + `initialTimestamp`, see lease-table.ts);
 *   TRIM_HORIZON / AT_TIMESTAMP → every shard in the stream with that checkpoint, parents before
 *   children (children wait for their parents at SHARD_END, so order holds).
 * - Later: a shard without a lease gets one (TRIM_HORIZON) when one of its parents has a lease;
 *   an open shard none of whose parents is leased (its ancestors expired) gets the initial position.
 * - Children are also created from ChildShards at a shard's end (`createChildLeases`).
 * All creates are conditional puts: several workers may sync at once.
 */
import { ChildShard, KinesisClient, ListShardsCommand, ListShardsCommandInput, Shard } from '@aws-sdk/client-kinesis';
import { Lease, LeaseTable, newLease, LATEST, TRIM_HORIZON, AT_TIMESTAMP, SHARD_END } from './lease-table';

export type InitialPosition = { type: 'LATEST' } | { type: 'TRIM_HORIZON' } | { type: 'AT_TIMESTAMP'; timestamp: Date };

export async function listShards(kinesis: KinesisClient, stream: { streamName?: string; streamARN?: string }, signal?: AbortSignal): Promise<Shard[]> {
    const shards: Shard[] = [];
    let token: string | undefined;
    do {
        const input: ListShardsCommandInput = token
            ? { NextToken: token }
            : stream.streamARN
              ? { StreamARN: stream.streamARN }
              : { StreamName: stream.streamName };
        const out = await kinesis.send(new ListShardsCommand(input), { abortSignal: signal });
        shards.push(...(out.Shards ?? []));
        token = out.NextToken;
    } while (token);
    return shards;
}

function parentsOf(s: { ParentShardId?: string; AdjacentParentShardId?: string }): string[] {
    return [s.ParentShardId, s.AdjacentParentShardId].filter((p): p is string => !!p);
}

function initialLease(shard: Shard, position: InitialPosition, now: number): Lease {
    const extra: Partial<Lease> = {
        parentShardIds: parentsOf(shard),
        startingHashKey: shard.HashKeyRange?.StartingHashKey,
        endingHashKey: shard.HashKeyRange?.EndingHashKey,
    };
    if (position.type === 'LATEST') return newLease(shard.ShardId!, LATEST, { ...extra, initialTimestamp: now });
    if (position.type === 'AT_TIMESTAMP') return newLease(shard.ShardId!, AT_TIMESTAMP, extra);
    return newLease(shard.ShardId!, TRIM_HORIZON, extra);
}

/** Orders shards so that parents come before their children. */
function parentsFirst(shards: Shard[]): Shard[] {
    const byId = new Map(shards.map((s) => [s.ShardId!, s]));
    const out: Shard[] = [];
    const seen = new Set<string>();
    const visit = (s: Shard) => {
        if (seen.has(s.ShardId!)) return;
        seen.add(s.ShardId!);
        for (const p of parentsOf(s)) {
            const ps = byId.get(p);
            if (ps) visit(ps);
        }
        out.push(s);
    };
    shards.forEach(visit);
    return out;
}

/**
 * `shards` (parents first) cut into generations: a shard comes one generation after the latest of its
 * parents in the list (a shard whose parents are not in the list is of generation 0). Order kept within one.
 */
function generations(shards: Shard[]): Shard[][] {
    const genOf = new Map<string, number>();
    const out: Shard[][] = [];
    for (const s of shards) {
        let g = 0;
        for (const p of parentsOf(s)) {
            const pg = genOf.get(p);
            if (pg !== undefined && pg + 1 > g) g = pg + 1;
        }
        genOf.set(s.ShardId!, g);
        (out[g] ??= []).push(s);
    }
    return out.filter((gen) => gen !== undefined);
}

/**
 * Creates the leases that are missing. Resolves the number created by this call.
 * `leases` = the current table content.
 */
export async function syncLeases(
    table: LeaseTable,
    shards: Shard[],
    leases: Lease[],
    position: InitialPosition,
    now = Date.now(),
): Promise<number> {
    const have = new Set(leases.map((l) => l.leaseKey));
    let created = 0;
    const ordered = parentsFirst(shards);
    if (leases.length === 0) {
        const wanted = position.type === 'LATEST' ? ordered.filter((s) => !s.SequenceNumberRange?.EndingSequenceNumber) : ordered;
        // one generation at a time (parents before children, as a scan may see the table half-made),
        // the shards of a generation at once: a fresh table's leases cost one round trip per generation
        for (const gen of generations(wanted)) {
            const made = await Promise.all(gen.map((s) => table.create(initialLease(s, position, now))));
            for (const ok of made) if (ok) created++;
            for (const s of gen) have.add(s.ShardId!);
        }
        return created;
    }
    for (const s of ordered) {
        if (have.has(s.ShardId!)) continue;
        const parents = parentsOf(s);
        const leasedParent = parents.some((p) => have.has(p));
        const open = !s.SequenceNumberRange?.EndingSequenceNumber;
        let lease: Lease | undefined;
        if (leasedParent) {
            lease = newLease(s.ShardId!, TRIM_HORIZON, {
                parentShardIds: parents,
                startingHashKey: s.HashKeyRange?.StartingHashKey,
                endingHashKey: s.HashKeyRange?.EndingHashKey,
            });
        } else if (open) {
            lease = initialLease(s, position, now);
        }
        if (lease) {
            if (await table.create(lease)) created++;
            have.add(s.ShardId!);
        }
    }
    return created;
}

/** Child leases from a shard's end (ChildShards); each created once (conditional put). */
export async function createChildLeases(table: LeaseTable, children: ChildShard[]): Promise<number> {
    let created = 0;
    for (const c of children) {
        if (!c.ShardId) continue;
        const lease = newLease(c.ShardId, TRIM_HORIZON, {
            parentShardIds: c.ParentShards ?? [],
            startingHashKey: c.HashKeyRange?.StartingHashKey,
            endingHashKey: c.HashKeyRange?.EndingHashKey,
        });
        if (await table.create(lease)) created++;
    }
    return created;
}

/**
 * Deletes leases of finished shards (SHARD_END) once every child lease has started (holds a real
 * checkpoint): children no longer need them to wait on. Resolves the number deleted.
 */
export async function cleanupFinishedLeases(table: LeaseTable, leases: Lease[]): Promise<number> {
    const byKey = new Map(leases.map((l) => [l.leaseKey, l]));
    let deleted = 0;
    for (const l of leases) {
        if (l.checkpoint !== SHARD_END || l.childShardIds.length === 0) continue;
        const started = l.childShardIds.every((c) => {
            const child = byKey.get(c);
            return child !== undefined && (child.checkpoint === SHARD_END || /^\d+$/.test(child.checkpoint));
        });
        if (!started) continue;
        await table.delete(l.leaseKey);
        deleted++;
    }
    return deleted;
}
