/**
 * The operations view's reads and writes on a real lease table (dynalite): the bounded, paged scan
 * and the owner statistics written without disturbing the lease protocol.
 */
import assert from 'node:assert/strict';
import { rawDynamo, uniqueName } from '../helpers/stack';
import { LeaseTable, newLease } from '../../lib/consumer/lease-table';
import { publishLeaseStats } from '../../lib/consumer/lease-stats';
import { scanLeases } from '../../lib/consumer/lease-view';

describe('operations view on dynalite: scan and owner statistics', function () {
    this.timeout(60_000);

    it('scans page by page and stops at maxItems (truncated), all leases otherwise', async () => {
        const t = new LeaseTable(rawDynamo(), uniqueName('ops-scan'));
        await t.ensureTable();
        for (let i = 0; i < 7; i++) await t.create(newLease(`shardId-00000000000${i}`, 'TRIM_HORIZON'));
        const all = await scanLeases(rawDynamo(), t.tableName, { pageSize: 2 });
        assert.equal(all.leases.length, 7);
        assert.equal(all.truncated, false);
        const some = await scanLeases(rawDynamo(), t.tableName, { pageSize: 2, maxItems: 5 });
        assert.equal(some.leases.length, 5);
        assert.equal(some.truncated, true);
    });

    it('statistics are written only by the current owner at the current counter, and do not bump the counter', async () => {
        const t = new LeaseTable(rawDynamo(), uniqueName('ops-stats'));
        await t.ensureTable();
        await t.create(newLease('s1', 'TRIM_HORIZON'));
        const a = (await t.take((await t.get('s1'))!, 'A'))!;
        assert.equal(await publishLeaseStats(rawDynamo(), t.tableName, a, 'A', { nodeRed: 'host-a:1880', lagMs: 1500, recordsPerSec: 12.34, inFlight: 3 }), true);
        const [seen] = (await scanLeases(rawDynamo(), t.tableName)).leases;
        assert.equal(seen.leaseCounter, a.leaseCounter, 'counter unchanged');
        assert.deepEqual([seen.stats?.by, seen.stats?.nodeRed, seen.stats?.lagMs, seen.stats?.recordsPerSec, seen.stats?.inFlight], ['A', 'host-a:1880', 1500, 12.3, 3]);
        // the owner's renewal still works after the statistics write
        const renewed = await t.renew(a, 'A');
        assert.ok(renewed, 'renewal not disturbed');
        assert.equal(await publishLeaseStats(rawDynamo(), t.tableName, a, 'A', { nodeRed: 'x' }), false, 'stale counter: not written');
        assert.equal(await publishLeaseStats(rawDynamo(), t.tableName, renewed!, 'B', { nodeRed: 'x' }), false, 'not the owner: not written');
        // unknown lag removes the old value
        assert.equal(await publishLeaseStats(rawDynamo(), t.tableName, renewed!, 'A', { nodeRed: 'host-a:1880', inFlight: 0 }), true);
        const after = await t.get('s1');
        assert.equal(after?.leaseCounter, renewed!.leaseCounter);
        const [again] = (await scanLeases(rawDynamo(), t.tableName)).leases;
        assert.equal(again.stats?.lagMs, undefined);
        assert.equal(again.stats?.inFlight, 0);
    });
});
