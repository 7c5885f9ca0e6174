import assert from 'node:assert/strict';
import { buildApplicationView, compareShardIds, ScannedLease } from '../../lib/consumer/lease-view';
import { LeaseStatsPublisher, RateMeter, statsFromItem } from '../../lib/consumer/lease-stats';
import { newLease, SHARD_END } from '../../lib/consumer/lease-table';

function lease(id: string, extra: Partial<ScannedLease> = {}): ScannedLease {
    return { ...newLease(id, '49500000000000000000000000000000000000000000000000000001'), ...extra };
}

describe('operations view: building the per-shard rows (lease-view)', () => {
    const now = 1_800_000_000_000;
    const local = { workerId: 'w-a', nodeRed: 'host-a:1880 · pid 1', shards: new Map([['shardId-000000000000', { lagMs: 1200, recordsPerSec: 33.3, inFlight: 4, heldAt: '495001' }]]) };

    it('merges local statistics, the owner statistics on the lease, parent/child state and hand-offs', () => {
        const leases = [
            lease('shardId-000000000010', { leaseOwner: 'w-b', parentShardIds: ['shardId-000000000002'] }),
            lease('shardId-000000000000', { leaseOwner: 'w-a', checkpointOwner: 'w-b' }),
            lease('shardId-000000000001', { leaseOwner: 'w-b', stats: { by: 'w-b', nodeRed: 'host-b:1881 · pid 2', at: now - 5000, lagMs: 0, recordsPerSec: 12, inFlight: 1 } }),
            // statistics written by the previous owner: not shown for the new one
            lease('shardId-000000000002', { leaseOwner: 'w-c', stats: { by: 'w-b', nodeRed: 'host-b', at: now - 1000, lagMs: 5 } }),
            lease('shardId-000000000003', { checkpoint: SHARD_END, childShardIds: ['shardId-000000000004'], leaseOwner: 'w-b' }),
            lease('shardId-000000000004', { parentShardIds: ['shardId-000000000003'] }),
            // fresh statistics too old to show
            lease('shardId-000000000005', { leaseOwner: 'w-b', stats: { by: 'w-b', nodeRed: 'host-b:1881 · pid 2', at: now - 120_000, lagMs: 9 } }),
        ];
        const v = buildApplicationView('app', { leases, truncated: false }, [local], { now });
        assert.deepEqual(v.shards.map((s) => s.shardId.slice(-2)), ['00', '01', '02', '03', '04', '05', '10'], 'stream order');
        const [s0, s1, s2, s3, s4, s5, s10] = v.shards;
        assert.deepEqual(
            [s0.owner, s0.local, s0.ownerNodeRed, s0.statsFrom, s0.lagMs, s0.recordsPerSec, s0.inFlight, s0.heldAt, s0.handOffTo],
            ['w-a', true, 'host-a:1880 · pid 1', 'local', 1200, 33.3, 4, '495001', 'w-b'],
        );
        assert.deepEqual(
            [s1.local, s1.ownerNodeRed, s1.statsFrom, s1.statsAgeMs, s1.lagMs, s1.recordsPerSec, s1.inFlight],
            [false, 'host-b:1881 · pid 2', 'lease', 5000, 0, 12, 1],
        );
        assert.deepEqual([s2.owner, s2.ownerNodeRed, s2.statsFrom, s2.lagMs], ['w-c', undefined, 'none', undefined]);
        assert.deepEqual([s3.state, s3.childShardIds], ['closed', ['shardId-000000000004']]);
        assert.deepEqual([s4.state, s4.owner, s4.parentShardIds], ['open', undefined, ['shardId-000000000003']], 'parent finished: open');
        assert.deepEqual([s5.statsFrom, s5.lagMs, s5.ownerNodeRed], ['none', undefined, 'host-b:1881 · pid 2']);
        assert.equal(s10.state, 'waiting', 'parent 2 is not at SHARD_END');
        assert.equal(s1.handOffTo, undefined);
        assert.deepEqual(
            v.owners.map((o) => [o.workerId, o.shards, o.local]),
            [['w-a', 1, true], ['w-b', 3, false], ['w-c', 1, false]],
            'closed shards do not count',
        );
    });

    it('a request by the owner itself is no pending hand-off; truncated passes through', () => {
        const v = buildApplicationView('app', { leases: [lease('s', { leaseOwner: 'x', checkpointOwner: 'x' })], truncated: true }, []);
        assert.equal(v.shards[0].handOffTo, undefined);
        assert.equal(v.truncated, true);
    });

    it('orders shard ids numerically', () => {
        assert.ok(compareShardIds('shardId-000000000009', 'shardId-000000000010') < 0);
        assert.ok(compareShardIds('b', 'a') > 0);
        assert.ok(compareShardIds('shardId-100000000000000000000000', 'shardId-99999999999999999999999') > 0, 'beyond Number precision');
        assert.equal(compareShardIds('shardId-007', 'shardId-7'), 'shardId-007' < 'shardId-7' ? -1 : 1, 'equal numbers: plain order');
    });

    it('compares long untrusted keys in linear time (no regex backtracking)', () => {
        const long = `${'1'.repeat(2000)}x`;
        const keys = Array.from({ length: 1000 }, (_, i) => `${long}${i % 7}`);
        // linear: ~10^7 character steps; a backtracking /(\d+)$/ would take ~10^10 (far past the test timeout)
        keys.sort(compareShardIds);
        assert.ok(keys[0].endsWith('x0') && keys[999].endsWith('x6'));
    });
});

describe('operations view: owner statistics (lease-stats)', () => {
    it('reads the statistics attributes only when a writer is named; bad numbers are unknown', () => {
        assert.equal(statsFromItem({ leaseKey: { S: 's' } }), undefined);
        assert.deepEqual(statsFromItem({ ownerStatsBy: { S: 'w' }, ownerNodeRed: { S: 'h' }, ownerStatsAt: { N: '5' }, ownerLagMs: { N: 'x' }, ownerInFlight: { N: '3' } }), {
            nodeRed: 'h', by: 'w', at: 5, lagMs: undefined, recordsPerSec: undefined, inFlight: 3,
        });
    });

    it('RateMeter: the rate over the last window of at least a second', () => {
        const m = new RateMeter(1000);
        assert.equal(m.rate(0, 0), undefined);
        assert.equal(m.rate(50, 500), undefined, 'no full window yet');
        assert.equal(m.rate(100, 1000), 100);
        assert.equal(m.rate(150, 1500), 100, 'same window until a second passed');
        assert.equal(m.rate(400, 3000), 150);
        assert.equal(m.rate(10, 4000), 0, 'a counter that went back (new lease) is no negative rate');
    });

    it('the publisher reports the local shards of its consumer and forgets shards it no longer reads', () => {
        const workers = new Map([['s1', { delivered: 0, lagMs: 10, cp: { inFlight: 2 } }]]);
        const p = new LeaseStatsPublisher({ workerId: 'w', workers, coordinator: { held: new Map() } }, undefined as never, 't', 'label');
        assert.deepEqual(p.shardStats(0).get('s1'), { lagMs: 10, recordsPerSec: undefined, inFlight: 2, heldAt: undefined });
        workers.get('s1')!.delivered = 30;
        assert.equal(p.shardStats(1500).get('s1')?.recordsPerSec, 20);
        workers.clear();
        assert.equal(p.shardStats(2000).size, 0);
    });
});
