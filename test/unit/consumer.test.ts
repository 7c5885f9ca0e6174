import assert from 'node:assert/strict';
import { Checkpointer, compareSequence, comparePosition, isSentinel } from '../../lib/consumer/checkpointer';
import { parseTimestamp } from '../../lib/consumer/consumer';
import { Coordinator } from '../../lib/consumer/coordinator';
import { Lease, LeaseTable, leaseFromItem, leaseToItem, newLease, SHARD_END } from '../../lib/consumer/lease-table';
import { syncLeases, cleanupFinishedLeases } from '../../lib/consumer/shard-sync';
import type { Shard } from '@aws-sdk/client-kinesis';
import { MemoryTable } from './consumer-memory-table';
import { waitFor } from '../helpers/stack';

describe('consumer: checkpointer', () => {
    it('compares sequence numbers as big integers and positions by sub-sequence', () => {
        assert.ok(compareSequence('9', '10') < 0);
        assert.ok(compareSequence('49590338271490256608559692538361571095921575989136588898', '49590338271490256608559692538361571095921575989136588899') < 0);
        assert.equal(compareSequence('123', '123'), 0);
        assert.ok(comparePosition('5', 2, '5', 3) < 0);
        assert.ok(comparePosition('6', 0, '5', 9) > 0);
        assert.ok(isSentinel('TRIM_HORIZON') && isSentinel('SHARD_END') && !isSentinel('4959'));
    });

    it('moves only to the highest record below which all are finished', () => {
        const cp = new Checkpointer();
        const t = ['1', '2', '3', '4'].map((s) => cp.deliver(s, 0));
        assert.equal(cp.inFlight, 4);
        cp.finish(t[1]);
        assert.equal(cp.safeSeq, undefined, 'record 1 still in flight');
        cp.finish(t[0]);
        assert.equal(cp.safeSeq, '2');
        cp.finish(t[3]);
        assert.equal(cp.safeSeq, '2');
        cp.finish(t[2]);
        assert.equal(cp.safeSeq, '4');
        assert.ok(cp.allFinished());
        assert.equal(cp.finish(t[2]), false, 'idempotent');
        assert.equal(cp.inFlight, 0);
    });

    it('tracks sub-sequence numbers of aggregated records and batches', () => {
        const cp = new Checkpointer();
        const a = cp.deliver('7', 0);
        const b = cp.deliver('7', 1);
        const batch = cp.deliver('9', 0, 10);
        assert.equal(cp.inFlight, 12);
        cp.finish(a);
        assert.deepEqual([cp.safeSeq, cp.safeSub], ['7', 0]);
        cp.finish(b);
        assert.deepEqual([cp.safeSeq, cp.safeSub], ['7', 1]);
        cp.finish(batch);
        assert.deepEqual([cp.safeSeq, cp.safeSub], ['9', 0]);
        assert.equal(cp.finishedSinceWrite, 12);
    });

    it('a failed record pins the checkpoint before it for good', () => {
        const cp = new Checkpointer();
        const t = ['1', '2', '3'].map((s) => cp.deliver(s, 0));
        cp.finish(t[1], new Error('boom'));
        cp.finish(t[2]);
        cp.finish(t[0]);
        assert.equal(cp.safeSeq, '1');
        const later = cp.deliver('4', 0);
        cp.finish(later);
        assert.equal(cp.safeSeq, '1', 'nothing after the failed record');
        assert.equal(cp.inFlight, 0);
        assert.equal(cp.allFinished(), false);
        assert.equal(cp.failed?.seq, '2');
    });

    it('waitForRoom resolves when in-flight drops below the limit; drain times out', async () => {
        const cp = new Checkpointer();
        const t = cp.deliver('1', 0);
        let resolved = false;
        const p = cp.waitForRoom(1).then(() => { resolved = true; });
        await Promise.resolve();
        assert.equal(resolved, false);
        cp.finish(t);
        await p;
        assert.equal(resolved, true);
        cp.deliver('2', 0);
        assert.equal(await cp.drain(20), false);
    });

    it("drain ends early once until() says what is left need not be waited for; true when all finished", async () => {
        const cp = new Checkpointer();
        const a = cp.deliver('1', 0);
        cp.deliver('2', 0);
        let asked = 0;
        let stranded = false;
        const drained = cp.drain(600_000, () => { asked++; return stranded; });
        await waitFor('asked while records are in flight', () => asked >= 1, 5000);
        cp.finish(a);
        stranded = true; // record 2's holder is gone
        let result: boolean | undefined;
        void drained.then((r) => { result = r; });
        await waitFor('the drain ended (its timeout is 10 min)', () => result !== undefined, 10_000);
        assert.equal(result, false, 'ended before its timeout, with a record still in flight');
        assert.equal(cp.safeSeq, '1', 'only the finished record is checkpointed');
        const c = new Checkpointer();
        const t = c.deliver('3', 0);
        const ok = c.drain(600_000, () => false);
        c.finish(t);
        assert.equal(await ok, true);
    });

    it('bounds in-flight bytes too: room while below the byte limit (or nothing in flight), resumes below the byte resume point', async () => {
        const cp = new Checkpointer();
        assert.equal(cp.hasRoom(10, 1000), true);
        const big = cp.deliver('1', 0, 1, 5000); // one record over the limit: always let through when nothing is in flight
        assert.equal(cp.inFlightBytes, 5000);
        assert.equal(cp.hasRoom(10, 1000), false, 'bytes full, count not');
        let resumed = false;
        const p = cp.waitForRoom(10, 9, 1000, 800).then(() => { resumed = true; });
        cp.finish(big);
        await p;
        assert.equal(resumed, true);
        assert.equal(cp.inFlightBytes, 0);
        const ts = [300, 300, 300, 300].map((b, i) => cp.deliver(String(2 + i), 0, 1, b));
        assert.equal(cp.hasRoom(10, 1000), false, '1200 B in flight');
        resumed = false;
        const q = cp.waitForRoom(10, 9, 1000, 700).then(() => { resumed = true; });
        cp.finish(ts[0]); // 900 B: below the limit, not below the resume point
        await Promise.resolve();
        assert.equal(resumed, false);
        cp.finish(ts[1]); // 600 B
        await q;
        assert.equal(resumed, true);
        // a batch counts its bytes once, and gives them back once
        const b = cp.deliver('9', 0, 3, 900);
        assert.equal(cp.inFlight, 5);
        assert.equal(cp.inFlightBytes, 1500);
        cp.finish(b);
        cp.finish(b);
        assert.equal(cp.inFlightBytes, 600);
    });

    it('compacts its queue (memory stays bounded over a long run)', () => {
        const cp = new Checkpointer();
        for (let i = 1; i <= 50_000; i++) cp.finish(cp.deliver(String(i), 0));
        assert.equal(cp.safeSeq, '50000');
        assert.ok(((cp as unknown as { queue: unknown[] }).queue.length) < 5000);
    });
});

describe('consumer: lease items and timestamps', () => {
    it('writes KCL 2.x attribute names and types', () => {
        const l = newLease('shardId-000000000001', 'TRIM_HORIZON', { parentShardIds: ['shardId-000000000000'], leaseOwner: 'w1', startingHashKey: '0', endingHashKey: '99' });
        const item = leaseToItem(l);
        assert.deepEqual(item.leaseKey, { S: 'shardId-000000000001' });
        assert.deepEqual(item.leaseCounter, { N: '0' });
        assert.deepEqual(item.checkpoint, { S: 'TRIM_HORIZON' });
        assert.deepEqual(item.checkpointSubSequenceNumber, { N: '0' });
        assert.deepEqual(item.ownerSwitchesSinceCheckpoint, { N: '0' });
        assert.deepEqual(item.parentShardId, { SS: ['shardId-000000000000'] });
        assert.deepEqual(item.leaseOwner, { S: 'w1' });
        assert.equal(item.childShardIds, undefined, 'empty sets omitted');
        assert.deepEqual(leaseFromItem(item), { ...l, initialTimestamp: undefined, checkpointOwner: undefined });
    });

    it('parses date strings, epoch milliseconds and seconds', () => {
        assert.equal(parseTimestamp('2025-01-31T12:00:00Z')?.toISOString(), '2025-01-31T12:00:00.000Z');
        assert.equal(parseTimestamp(1738324800000)?.toISOString(), '2025-01-31T12:00:00.000Z');
        assert.equal(parseTimestamp('1738324800')?.toISOString(), '2025-01-31T12:00:00.000Z');
        assert.equal(parseTimestamp('soon'), undefined);
        assert.equal(parseTimestamp(''), undefined);
    });
});

function coordinator(table: MemoryTable, id: string, log: string[]) {
    return new Coordinator({
        table: table as unknown as LeaseTable,
        workerId: id,
        failoverTimeMs: 60_000,
        renewIntervalMs: 60_000,
        takerIntervalMs: 60_000,
        gracefulHandOff: false,
        handlers: { acquired: (l) => log.push(`+${l.leaseKey}`), lost: (s) => log.push(`-${s}`), handOffRequested: () => undefined },
    });
}

describe('consumer: lease taking', () => {
    it('takes every free lease at once on start, and children only after their parents ended', async () => {
        const t = new MemoryTable();
        await t.create(newLease('p', SHARD_END));
        await t.create(newLease('a', 'TRIM_HORIZON'));
        await t.create(newLease('b', 'TRIM_HORIZON'));
        await t.create(newLease('c1', 'TRIM_HORIZON', { parentShardIds: ['p'] }));
        await t.create(newLease('c2', 'TRIM_HORIZON', { parentShardIds: ['a'] }));
        await t.create(newLease('c3', 'TRIM_HORIZON', { parentShardIds: ['gone'] }));
        const log: string[] = [];
        const c = coordinator(t, 'w1', log);
        await c.start();
        c.halt();
        assert.deepEqual([...c.held.keys()].sort(), ['a', 'b', 'c1', 'c3']);
        assert.ok(!c.held.has('p'), 'ended lease not taken');
        assert.ok(!c.held.has('c2'), 'child of a parent still reading waits');
    });

    it('announces each take before it is sent (taking), then acquired or notTaken once it is known', async () => {
        const t = new MemoryTable();
        for (const k of ['a', 'b']) await t.create(newLease(k, 'TRIM_HORIZON'));
        const log: string[] = [];
        const realTake = t.take.bind(t);
        // b's take loses the race: another worker's write lands between the scan and the take
        t.take = async (l: Lease, owner: string) => {
            log.push(`sent ${l.leaseKey}`);
            if (l.leaseKey === 'b') t.bump('b', 'w2');
            return realTake(l, owner);
        };
        const c = new Coordinator({
            table: t as unknown as LeaseTable,
            workerId: 'w1',
            failoverTimeMs: 60_000,
            renewIntervalMs: 60_000,
            takerIntervalMs: 60_000,
            handlers: {
                acquired: (l) => log.push(`acquired ${l.leaseKey}`),
                taking: (l) => log.push(`taking ${l.leaseKey} at ${l.leaseCounter}`),
                notTaken: (k) => log.push(`notTaken ${k}`),
                lost: () => undefined,
                handOffRequested: () => undefined,
            },
        });
        await c.start();
        c.halt();
        assert.deepEqual([...c.held.keys()], ['a']);
        for (const k of ['a', 'b']) {
            const i = log.indexOf(`taking ${k} at 0`);
            assert.ok(i >= 0 && i < log.indexOf(`sent ${k}`), `${k}: announced before the take is sent (${log.join(', ')})`);
        }
        assert.ok(log.includes('acquired a') && !log.includes('notTaken a'), log.join(', '));
        assert.ok(log.includes('notTaken b') && !log.includes('acquired b'), log.join(', '));
    });

    it('target = ceil(leases / workers): a second worker steals one at a time from the most loaded', async () => {
        const t = new MemoryTable();
        for (const k of ['s1', 's2', 's3', 's4', 's5']) await t.create(newLease(k, 'TRIM_HORIZON'));
        const l1: string[] = [];
        const l2: string[] = [];
        const w1 = coordinator(t, 'w1', l1);
        await w1.start();
        w1.halt();
        assert.equal(w1.held.size, 5);
        const w2 = coordinator(t, 'w2', l2);
        try {
            await w2.start();
            assert.equal(w2.held.size, 1, 'one steal per pass');
            await w2.runTaker();
            assert.equal(w2.held.size, 2, 'target ceil(5/2) = 3: keeps stealing one per pass while w1 has more than the target');
            await w2.runTaker();
            assert.equal(w2.held.size, 2, 'w1 has 3 = target and w2 has 2 = target - 1: balanced, no more stealing');
        } finally {
            w2.halt();
        }
        // w1's renewals now fail for the stolen ones: it stops them
        await w1.renewAll();
        assert.equal(w1.held.size, 3);
        assert.equal(l1.filter((e) => e.startsWith('-')).length, 2);
    });
});

describe('consumer: lease taking while stopping', () => {
    it('stopTaking waits for the taker pass, so a lease taken meanwhile is held (and released by the stop) but not reported', async () => {
        const t = new MemoryTable();
        await t.create(newLease('a', 'TRIM_HORIZON'));
        let answer!: () => void;
        const answered = new Promise<void>((r) => { answer = r; });
        const take = t.take.bind(t);
        t.take = async (l: Lease, owner: string) => { const r = await take(l, owner); await answered; return r; };
        const log: string[] = [];
        const c = coordinator(t, 'w1', log);
        const started = c.start();
        await new Promise((r) => setTimeout(r, 20)); // the take is written; its answer waits
        let stopped = false;
        const stopping = c.stopTaking().then(() => { stopped = true; });
        await new Promise((r) => setTimeout(r, 20));
        assert.equal(stopped, false, 'waits for the pass');
        answer();
        await Promise.all([started, stopping]);
        assert.ok(c.held.has('a'), 'held, so the stop releases it');
        assert.deepEqual(log, [], 'not reported as acquired: nothing reads it');
        c.halt();
    });

    it('stopTaking waits at most maxWaitMs for a pass that does not end (DynamoDB not answering)', async () => {
        const t = new MemoryTable();
        await t.create(newLease('a', 'TRIM_HORIZON'));
        t.list = () => new Promise<Lease[]>(() => undefined); // never answers
        const c = coordinator(t, 'w1', []);
        void c.start();
        await new Promise((r) => setTimeout(r, 10));
        await c.stopTaking(50); // resolves: the test would time out otherwise
        assert.equal(c.held.size, 0);
        c.halt();
    });
});

describe('consumer: shard sync', () => {
    const shard = (id: string, parent?: string, closed = false, adj?: string): Shard => ({
        ShardId: id,
        ParentShardId: parent,
        AdjacentParentShardId: adj,
        HashKeyRange: { StartingHashKey: '0', EndingHashKey: '1' },
        SequenceNumberRange: { StartingSequenceNumber: '1', EndingSequenceNumber: closed ? '2' : undefined },
    });

    it('LATEST on an empty table: only open shards, with the initial timestamp', async () => {
        const t = new MemoryTable();
        const shards = [shard('p', undefined, true), shard('c1', 'p'), shard('c2', 'p')];
        const n = await syncLeases(t as unknown as LeaseTable, shards, [], { type: 'LATEST' }, 1234);
        assert.equal(n, 2);
        assert.deepEqual([...t.leases.keys()].sort(), ['c1', 'c2']);
        assert.equal(t.leases.get('c1')!.checkpoint, 'LATEST');
        assert.equal(t.leases.get('c1')!.initialTimestamp, 1234);
    });

    it('TRIM_HORIZON on an empty table: every shard, parents first; later only descendants of leased shards', async () => {
        const t = new MemoryTable();
        const shards = [shard('c1', 'p'), shard('p', undefined, true), shard('m', 'c1', false, 'c2'), shard('c2', 'p')];
        await syncLeases(t as unknown as LeaseTable, shards, [], { type: 'TRIM_HORIZON' });
        assert.deepEqual([...t.leases.keys()], ['p', 'c1', 'c2', 'm']);
        assert.deepEqual(t.leases.get('m')!.parentShardIds, ['c1', 'c2']);
        const t2 = new MemoryTable();
        await t2.create(newLease('x', 'LATEST'));
        const old = shard('old', undefined, true);
        const n = await syncLeases(t2 as unknown as LeaseTable, [old, shard('x'), shard('x1', 'x'), shard('x2', 'x')], await t2.list(), { type: 'LATEST' });
        assert.equal(n, 2);
        assert.ok(!t2.leases.has('old'), 'an old closed shard of no leased lineage is not read');
        assert.equal(t2.leases.get('x1')!.checkpoint, 'TRIM_HORIZON', 'children start at TRIM_HORIZON');
    });
});

describe('consumer: finished lease cleanup', () => {
    it('removes a SHARD_END lease only when every child has checkpointed', async () => {
        const t = new MemoryTable();
        await t.create(newLease('p', SHARD_END, { childShardIds: ['c1', 'c2'] }));
        await t.create(newLease('c1', '4950', { parentShardIds: ['p'] }));
        await t.create(newLease('c2', 'TRIM_HORIZON', { parentShardIds: ['p'] }));
        await t.create(newLease('q', SHARD_END));
        assert.equal(await cleanupFinishedLeases(t as unknown as LeaseTable, await t.list()), 0, 'c2 has not started; q has no known children');
        t.leases.get('c2')!.checkpoint = SHARD_END;
        assert.equal(await cleanupFinishedLeases(t as unknown as LeaseTable, await t.list()), 1);
        assert.deepEqual([...t.leases.keys()].sort(), ['c1', 'c2', 'q']);
    });
});
