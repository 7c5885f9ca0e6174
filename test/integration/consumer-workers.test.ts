import assert from 'node:assert/strict';
import { ListShardsCommand, MergeShardsCommand, SplitShardCommand, DescribeStreamSummaryCommand } from '@aws-sdk/client-kinesis';
import { uniqueName, waitFor, sleep, rawDynamo, rawKinesis } from '../helpers/stack';
import { LeaseTable, SHARD_END } from '../../lib/consumer/lease-table';
import { collectingConsumer, putRecords, Collected, createTestStream, deleteTestStreams } from './consumer-helpers';

/** Puts records in the background until stopped; resolves every id put. */
function producer(stream: string, prefix: string, perBatch = 40, keys = 8) {
    let stop = false;
    const ids: string[] = [];
    let n = 0;
    const done = (async () => {
        while (!stop) {
            const batch = await putRecords(stream, prefix, perBatch, keys, undefined, n * perBatch);
            ids.push(...batch);
            n++;
            await sleep(30);
        }
    })();
    return {
        ids,
        async stop(): Promise<string[]> {
            stop = true;
            await done;
            return ids;
        },
    };
}

function owners(cols: Collected[]): number[] {
    return cols.map((c) => c.consumer.shardIds().length);
}

describe('consumer: several workers, failover, resharding (kinesis-local + dynalite)', function () {
    this.timeout(90_000);
    const running: Collected[] = [];
    afterEach(async () => {
        for (const c of running.splice(0)) c.consumer.crash();
    });
    afterEach(deleteTestStreams);

    function worker(stream: string, id: string, extra = {}): Collected {
        const c = collectingConsumer(stream, stream, { workerId: id, ...extra });
        running.push(c);
        return c;
    }

    it('balances 4 shards across 2 and then 3 workers (graceful hand-off), losing nothing', async () => {
        const stream = uniqueName('cw-bal');
        await createTestStream(stream, 4);
        const prod = producer(stream, 'b');
        // a failover long enough that no lease expires on a busy machine (a hand-off is never forced)
        const slow = { failoverTimeMs: 4000, takerIntervalMs: 500 };
        const a = worker(stream, 'A', slow);
        await a.consumer.start();
        await waitFor('A holds 4', () => a.consumer.shardIds().length === 4);
        const b = worker(stream, 'B', slow);
        await b.consumer.start();
        await waitFor('A 2 / B 2', () => owners([a, b]).join() === '2,2', 30_000);
        const c = worker(stream, 'C', slow);
        await c.consumer.start();
        await waitFor('3 workers share 4 shards', () => {
            const o = owners([a, b, c]);
            return o.reduce((x, y) => x + y, 0) === 4 && o.every((x) => x >= 1 && x <= 2);
        }, 30_000);
        await sleep(1000);
        assert.equal(owners([a, b, c]).reduce((x, y) => x + y, 0), 4, 'stable: no thrash');
        const ids = await prod.stop();
        await waitFor('every record delivered by some worker', () => ids.every((id) => a.ids.has(id) || b.ids.has(id) || c.ids.has(id)), 30_000);
        const all = [...a.records, ...b.records, ...c.records];
        const dup = all.length - new Set(all.map((r) => r.id)).size;
        assert.equal(dup, 0, 'a hand-off checkpoints finished records before the lease moves: no duplicates');
    });

    it('a redeploy (graceful stop, a new instance with a new worker id) delivers every record once: no duplicates', async () => {
        const stream = uniqueName('cw-redeploy');
        await createTestStream(stream, 2);
        const prod = producer(stream, 'd');
        const a = worker(stream, 'A1');
        await a.consumer.start();
        await waitFor('A reading', () => a.records.length > 100);
        await a.consumer.stop(); // what a redeploy does: drain, checkpoint, release
        const b = worker(stream, 'A2');
        await b.consumer.start();
        await waitFor('B reading', () => b.records.length > 100, 30_000);
        const ids = await prod.stop();
        await waitFor('every record delivered', () => ids.every((id) => a.ids.has(id) || b.ids.has(id)), 30_000);
        const twice = a.records.filter((r) => b.ids.has(r.id));
        assert.deepEqual(twice.map((r) => r.id), [], 'nothing delivered by both');
    });

    it('a crashed worker\'s shards are taken after failover and zero records are lost', async () => {
        const stream = uniqueName('cw-crash');
        await createTestStream(stream, 4);
        const prod = producer(stream, 'c');
        const a = worker(stream, 'A');
        const b = worker(stream, 'B');
        await Promise.all([a.consumer.start(), b.consumer.start()]);
        await waitFor('2 + 2', () => owners([a, b]).join() === '2,2', 30_000);
        await waitFor('both reading', () => a.records.length > 20 && b.records.length > 20);
        const aShards = a.consumer.shardIds();
        a.consumer.crash(); // timers stopped, DynamoDB untouched: leases stay owned by A
        const table = new LeaseTable(rawDynamo(), stream);
        const leases = await table.list();
        assert.ok(aShards.every((s) => leases.find((l) => l.leaseKey === s)?.leaseOwner === 'A'));
        await waitFor('B took over every shard', () => b.consumer.shardIds().length === 4, 30_000);
        const ids = await prod.stop();
        await waitFor('every record delivered', () => ids.every((id) => a.ids.has(id) || b.ids.has(id)), 30_000);
        const missing = ids.filter((id) => !a.ids.has(id) && !b.ids.has(id));
        assert.equal(missing.length, 0);
    });

    it('a worker cut off from DynamoDB stops emitting after the failover time; another takes over with no loss', async () => {
        const stream = uniqueName('cw-zombie');
        await createTestStream(stream, 1);
        const prod = producer(stream, 'z', 20, 4);
        // fault injection: A's DynamoDB client fails every call once `cut` is set
        let cut = false;
        const dyn = rawDynamo();
        const realSend = dyn.send.bind(dyn) as (c: unknown) => Promise<unknown>;
        (dyn as unknown as { send: (c: unknown) => Promise<unknown> }).send = (c: unknown) =>
            cut ? Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED', name: 'Error' })) : realSend(c);
        const a = worker(stream, 'A', { dynamodb: dyn });
        await a.consumer.start();
        await waitFor('A reading', () => a.records.length > 20);
        cut = true;
        await waitFor('A dropped its lease', () => a.consumer.shardIds().length === 0, 15_000);
        const stoppedAt = a.records.length;
        const b = worker(stream, 'B');
        await b.consumer.start();
        await waitFor('B took the shard', () => b.consumer.shardIds().length === 1, 15_000);
        await sleep(500);
        assert.equal(a.records.length, stoppedAt, 'A emits nothing after dropping the lease');
        const ids = await prod.stop();
        await waitFor('every record delivered', () => ids.every((id) => a.ids.has(id) || b.ids.has(id)), 30_000);
    });

    it('split and merge during consumption: zero lost, per-key order kept, no child before its parent ended', async () => {
        const stream = uniqueName('cw-reshard');
        await createTestStream(stream, 2);
        const kinesis = rawKinesis();
        const prod = producer(stream, 'r', 40, 6);
        const firstRead = new Map<string, number>();
        const ended = new Map<string, number>();
        let clock = 0;
        const log: Collected['records'] = [];
        const childrenOf = new Map<string, string[]>();
        const mk = (id: string) => {
            const col = worker(stream, id, {
                onEvent: (e: { type: string; shardId?: string; children?: string[] }) => {
                    if (e.type === 'shardEnd' && e.shardId) {
                        ended.set(e.shardId, ++clock);
                        childrenOf.set(e.shardId, e.children ?? []);
                    }
                },
            });
            const orig = col.records.push.bind(col.records);
            col.records.push = (...items) => {
                for (const it of items) {
                    if (!firstRead.has(it.shardId)) firstRead.set(it.shardId, ++clock);
                    log.push(it);
                }
                return orig(...items);
            };
            return col;
        };
        const a = mk('A');
        const b = mk('B');
        await Promise.all([a.consumer.start(), b.consumer.start()]);
        await waitFor('records flowing', () => a.records.length + b.records.length > 50);
        const shards = (await kinesis.send(new ListShardsCommand({ StreamName: stream }))).Shards!;
        const s0 = shards[0];
        const mid = ((BigInt(s0.HashKeyRange!.StartingHashKey!) + BigInt(s0.HashKeyRange!.EndingHashKey!)) / 2n).toString();
        await kinesis.send(new SplitShardCommand({ StreamName: stream, ShardToSplit: s0.ShardId!, NewStartingHashKey: mid }));
        const active = async () => (await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: stream }))).StreamDescriptionSummary?.StreamStatus === 'ACTIVE';
        await waitFor('split done', active, 30_000, 100);
        await sleep(1500);
        // merge the two children of the split
        const open = (await kinesis.send(new ListShardsCommand({ StreamName: stream }))).Shards!.filter((s) => !s.SequenceNumberRange?.EndingSequenceNumber);
        const children = open.filter((s) => s.ParentShardId === s0.ShardId).sort((x, y) => (BigInt(x.HashKeyRange!.StartingHashKey!) < BigInt(y.HashKeyRange!.StartingHashKey!) ? -1 : 1));
        assert.equal(children.length, 2);
        await kinesis.send(new MergeShardsCommand({ StreamName: stream, ShardToMerge: children[0].ShardId!, AdjacentShardToMerge: children[1].ShardId! }));
        await waitFor('merge done', active, 30_000, 100);
        await sleep(1500);
        const ids = await prod.stop();
        await waitFor('every record delivered', () => ids.every((id) => a.ids.has(id) || b.ids.has(id)), 60_000);

        // no child read before its parent ended
        const all = (await kinesis.send(new ListShardsCommand({ StreamName: stream }))).Shards!;
        const mergedChild = all.find((s) => s.ParentShardId === children[0].ShardId || s.AdjacentParentShardId === children[0].ShardId);
        assert.ok(mergedChild, 'merge produced a child');
        for (const p of [s0.ShardId!, children[0].ShardId!, children[1].ShardId!]) assert.ok(ended.has(p), `${p} reached its end`);
        for (const c of [children[0].ShardId!, children[1].ShardId!, mergedChild!.ShardId!]) assert.ok(firstRead.has(c), `${c} was read`);
        for (const s of all) {
            const parents = [s.ParentShardId, s.AdjacentParentShardId].filter((p): p is string => !!p && all.some((x) => x.ShardId === p));
            const first = firstRead.get(s.ShardId!);
            if (first === undefined) continue;
            for (const p of parents) {
                const end = ended.get(p);
                assert.ok(end !== undefined && end < first, `child ${s.ShardId} read before parent ${p} ended`);
            }
        }
        // per-key order across both workers and across parent → child: first deliveries follow put order
        const seen = new Set<string>();
        const lastN = new Map<string, number>();
        for (const r of log) {
            if (seen.has(r.id)) continue;
            seen.add(r.id);
            const prev = lastN.get(r.key);
            assert.ok(prev === undefined || prev < r.n, `order broken for key ${r.key}: ${prev} then ${r.n} (${r.shardId})`);
            lastN.set(r.key, r.n);
        }
        const merged = [...a.records, ...b.records];
        assert.ok(merged.length >= ids.length);
        const table = new LeaseTable(rawDynamo(), stream);
        const leases = await table.list();
        assert.deepEqual([...(childrenOf.get(s0.ShardId!) ?? [])].sort(), children.map((c) => c.ShardId).sort(), 'the parent ended with both children');
        // a finished parent lease is kept until its children have checkpointed, then removed
        const parentLease = leases.find((l) => l.leaseKey === s0.ShardId);
        if (parentLease) assert.equal(parentLease.checkpoint, SHARD_END);
        const mergedLease = leases.find((l) => l.leaseKey === mergedChild!.ShardId);
        assert.ok(mergedLease && mergedLease.checkpoint !== SHARD_END, 'the open merged child keeps its lease');
    });
});
