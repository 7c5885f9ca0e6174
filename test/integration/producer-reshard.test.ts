/**
 * Aggregation across resharding (issue 14 part 4) on kinesis-local: a shard is split while the
 * producer writes KPL aggregates with a shard map loaded before the split. Read back as the KCL
 * does — sub-records outside the hash range of the shard that holds them are dropped — every
 * record must still be delivered, each key in put order.
 */
import assert from 'node:assert/strict';
import { DescribeStreamSummaryCommand, ListShardsCommand, SplitShardCommand } from '@aws-sdk/client-kinesis';
import { deaggregate } from '../../lib/kpl';
import { Producer, WriteResult } from '../../lib/producer/producer';
import { hashKeyOf, ProducerRecord } from '../../lib/producer/records';
import { createStream, rawKinesis, uniqueName, waitFor } from '../helpers/stack';
import { readAll } from './producer-helpers';

describe('producer aggregation across a shard split (kinesis-local)', function () {
    this.timeout(120_000);
    let raw: ReturnType<typeof rawKinesis>;
    before(() => { raw = rawKinesis(); });

    it('a split during aggregated writes loses no sub-record for a consumer that filters by hash range (as the KCL)', async function () {
        const stream = uniqueName('reshard');
        await createStream(stream, 1);
        const p = new Producer({ client: raw, aggregate: true, lingerMs: 20 });
        const sent: ProducerRecord[] = [];
        const results: Promise<WriteResult[]>[] = [];
        let n = 0;
        const batch = (size: number) => {
            const recs = Array.from({ length: size }, () => {
                const i = n++;
                return { streamName: stream, data: Buffer.from(JSON.stringify({ i })), partitionKey: `dev-${i % 37}` };
            });
            sent.push(...recs);
            results.push(p.put(recs));
        };
        for (let b = 0; b < 3; b++) batch(100);
        await Promise.all(results);
        assert.equal(p.shardMapLoads, 1);
        // split the only shard in the middle of its range while more aggregates are on their way
        const [parent] = (await raw.send(new ListShardsCommand({ StreamName: stream }))).Shards!;
        const writing = (async () => {
            for (let b = 0; b < 10; b++) {
                batch(60);
                await new Promise((r) => setTimeout(r, 30));
            }
        })();
        await raw.send(new SplitShardCommand({ StreamName: stream, ShardToSplit: parent.ShardId!, NewStartingHashKey: String(1n << 127n) }));
        await waitFor('stream ACTIVE after the split', async () => (await raw.send(new DescribeStreamSummaryCommand({ StreamName: stream }))).StreamDescriptionSummary?.StreamStatus === 'ACTIVE', 30_000, 100);
        await writing;
        for (let b = 0; b < 3; b++) batch(100); // after the split, still with the old map until an aggregate lands elsewhere
        await Promise.all(results);
        await p.close(2000);
        assert.ok(p.shardMapLoads >= 2, 'the shard map was reloaded after the split');

        const shards = (await raw.send(new ListShardsCommand({ StreamName: stream }))).Shards!;
        assert.ok(shards.length >= 3, 'parent + two children');
        const delivered: string[] = [];
        const records = await readAll(raw, stream);
        // the KCL reads a parent before its children; per shard in sequence order
        const order = (id: string) => (id === parent.ShardId ? 0 : 1);
        records.sort((a, b) => order(a.shardId) - order(b.shardId));
        for (const r of records) {
            const sh = shards.find((s) => s.ShardId === r.shardId)!;
            const lo = BigInt(sh.HashKeyRange!.StartingHashKey!);
            const hi = BigInt(sh.HashKeyRange!.EndingHashKey!);
            for (const u of deaggregate(r)) {
                const h = hashKeyOf(u.partitionKey, u.explicitHashKey);
                if (h >= lo && h <= hi) delivered.push(u.data.toString());
            }
        }
        const seen = new Set(delivered);
        const missing = sent.filter((r) => !seen.has(Buffer.from(r.data).toString()));
        assert.deepEqual(missing.map((r) => Buffer.from(r.data).toString()).slice(0, 5), [], `${missing.length} of ${sent.length} records dropped by a hash-range filter (resent: ${p.resent})`);
        // per key, first deliveries in put order
        const firstAt = new Map<string, number>();
        delivered.forEach((d, i) => { if (!firstAt.has(d)) firstAt.set(d, i); });
        for (let k = 0; k < 37; k++) {
            const mine = sent.filter((r) => r.partitionKey === `dev-${k}`).map((r) => firstAt.get(Buffer.from(r.data).toString())!);
            const child = mine.filter((x, i) => i > 0 && x < mine[i - 1]);
            assert.deepEqual(child, [], `dev-${k} out of order`);
        }
    });
});
