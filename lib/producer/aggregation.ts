/**
 * KPL aggregation in the producer: ready records are packed, per shard of the current shard map,
 * into aggregated records of ≤ `aggregateMaxBytes`. The aggregate carries the first record's
 * partition key and, as explicit hash key, that record's hash key, so it lands on that shard.
 *
 * Resharding: an aggregate is only correct while the map is current. The PutRecords answer names
 * the shard it landed on; when that is not the shard the map predicted, the stream was resharded:
 * the producer reloads the map and re-sends every sub-record whose hash key lies outside the shard
 * it landed on (see Producer.verifyLanding), so no sub-record stays only on a shard a KCL
 * consumer would drop it from.
 */
import { hashKeyOf, recordBytes } from './records';
import { Aggregate, Entry, hashOf, Part } from './entries';
import type { PendingQueue } from './queue';
import type { ShardMap, ShardRange } from './shard-map';

/** The KPL aggregation the producer needs (default: lib/kpl). */
export interface RecordAggregator {
    aggregate(records: Array<{ data: Uint8Array; partitionKey: string; explicitHashKey?: string }>): Buffer;
}

interface Bucket {
    shard: ShardRange;
    parts: Part[];
    est: number;
    keys: Set<string>;
}

/** Bytes a record adds to an aggregate (upper bound of the protobuf encoding). */
function added(p: Part, b: Bucket): number {
    return p.data.length + 12 + (b.keys.has(p.partitionKey) ? 0 : Buffer.byteLength(p.partitionKey) + 4)
        + (p.explicitHashKey ? p.explicitHashKey.length + 4 : 0);
}

export interface AggregateLimits {
    maxEntries: number;
    maxBytes: number;
    aggregateMaxBytes: number;
    maxRecordBytes: number;
}

/**
 * Takes ready records from `queue` into aggregates, one open bucket per shard. Every returned
 * entry holds its keys' locks (one per entry and key).
 */
export function buildAggregates(queue: PendingQueue, map: ShardMap, lim: AggregateLimits, aggregator: RecordAggregator): Entry[] {
    const open = new Map<string, Bucket>();
    const done: Bucket[] = [];
    const singles: Entry[] = [];
    let entries = 0;
    let bytes = 0;
    for (let p = queue.peek(); p; p = queue.peek()) {
        const shard = map.shardOf(hashOf(p));
        if (!shard) {
            // Not in the map (a gap while resharding): send it on its own.
            if (entries >= lim.maxEntries || bytes + p.size > lim.maxBytes) break;
            queue.take();
            singles.push(p);
            entries++;
            bytes += p.size;
            continue;
        }
        let b = open.get(shard.shardId);
        if (b && b.est + added(p, b) > lim.aggregateMaxBytes) {
            open.delete(shard.shardId);
            done.push(b);
            b = undefined;
        }
        if (!b) {
            if (entries >= lim.maxEntries || bytes + Math.min(lim.aggregateMaxBytes, p.size) + 64 > lim.maxBytes) break;
            b = { shard, parts: [], est: 24, keys: new Set() };
            open.set(shard.shardId, b);
            entries++;
        }
        queue.take();
        const key = p.partitionKey;
        for (let q: Part | undefined = p; q; q = queue.nextOfKey(key, false)) {
            if (q !== p) {
                // Later records of the same key may join the same aggregate (sub-records keep their order).
                if (map.shardOf(hashOf(q)) !== shard || b.est + added(q, b) > lim.aggregateMaxBytes) break;
                queue.nextOfKey(key, true);
            }
            const add = added(q, b);
            b.parts.push(q);
            b.est += add;
            bytes += add;
            b.keys.add(key);
        }
    }
    done.push(...open.values());
    const out: Entry[] = singles;
    for (const b of done) {
        const first = b.parts[0];
        if (b.parts.length === 1) {
            out.push(first);
            continue;
        }
        const data = aggregator.aggregate(b.parts.map((p) => ({ data: p.data, partitionKey: p.partitionKey, explicitHashKey: p.explicitHashKey })));
        const size = recordBytes(data, first.partitionKey);
        if (size > lim.maxRecordBytes) {
            // The estimate was off (should not happen): send the records one by one, each with its own lock.
            const seen = new Set<string>();
            const extra: string[] = [];
            for (const p of b.parts) {
                out.push(p);
                if (seen.has(p.partitionKey)) extra.push(p.partitionKey);
                seen.add(p.partitionKey);
            }
            queue.lock(extra);
            continue;
        }
        const aggregate: Aggregate = {
            parts: b.parts,
            keys: [...b.keys],
            partitionKey: first.partitionKey,
            explicitHashKey: hashKeyOf(first.partitionKey, first.explicitHashKey).toString(),
            data,
            size,
            attempts: 0,
            notBefore: 0,
            enqueuedAt: Math.min(...b.parts.map((p) => p.enqueuedAt)),
            aggregated: true,
            expectedShard: b.shard.shardId,
        };
        out.push(aggregate);
    }
    return out;
}
