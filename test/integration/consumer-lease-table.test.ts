import assert from 'node:assert/strict';
import { DescribeTableCommand, DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { rawDynamo, uniqueName } from '../helpers/stack';
import { LeaseTable, newLease } from '../../lib/consumer/lease-table';

describe('consumer: lease table on dynalite', function () {
    this.timeout(30_000);

    it('creates the table on demand (PAY_PER_REQUEST, hash key leaseKey) and only once', async () => {
        const name = uniqueName('lt-create');
        const t = new LeaseTable(rawDynamo(), name);
        assert.equal(await t.ensureTable(), true);
        assert.equal(await t.ensureTable(), false);
        const d = await rawDynamo().send(new DescribeTableCommand({ TableName: name }));
        assert.deepEqual(d.Table?.KeySchema, [{ AttributeName: 'leaseKey', KeyType: 'HASH' }]);
        assert.equal(d.Table?.BillingModeSummary?.BillingMode, 'PAY_PER_REQUEST');
    });

    it('every write is conditional on leaseCounter; a stale writer loses', async () => {
        const t = new LeaseTable(rawDynamo(), uniqueName('lt-cond'));
        await t.ensureTable();
        assert.equal(await t.create(newLease('s1', 'TRIM_HORIZON')), true);
        assert.equal(await t.create(newLease('s1', 'LATEST')), false, 'created once');
        const [fresh] = await t.list();
        const a = await t.take(fresh, 'A');
        assert.equal(a?.leaseOwner, 'A');
        assert.equal(a?.leaseCounter, 1);
        assert.equal(a?.ownerSwitchesSinceCheckpoint, 1);
        assert.equal(await t.take(fresh, 'B'), undefined, 'B saw counter 0: its take fails');
        const renewed = await t.renew(a!, 'A');
        assert.equal(renewed?.leaseCounter, 2);
        assert.equal(await t.renew({ ...fresh, leaseOwner: 'A' }, 'A'), undefined, 'renew with a stale counter fails');
        const cp = await t.checkpoint(renewed!, 'A', '12345', 2);
        assert.deepEqual([cp?.checkpoint, cp?.checkpointSubSequenceNumber, cp?.ownerSwitchesSinceCheckpoint, cp?.leaseCounter], ['12345', 2, 0, 3]);
        const stolen = await t.take(cp!, 'B');
        assert.equal(stolen?.leaseOwner, 'B');
        assert.equal(await t.checkpoint(cp!, 'A', '99999', 0), undefined, 'a worker that lost the lease cannot checkpoint');
        assert.equal((await t.get('s1'))?.checkpoint, '12345');
        assert.equal(await t.requestHandOff(stolen!, 'A'), true);
        const withReq = await t.get('s1');
        assert.equal(withReq?.checkpointOwner, 'A');
        assert.equal(withReq?.leaseCounter, stolen?.leaseCounter, 'a hand-off request does not bump the counter');
        const moved = await t.transfer(withReq!, 'B', 'A');
        assert.deepEqual([moved?.leaseOwner, moved?.checkpointOwner], ['A', undefined]);
        const released = await t.release(moved!, 'A');
        assert.equal(released?.leaseOwner, undefined);
    });

    it('a spurious conditional failure (write done, answer lost, retried) counts as success after a re-read', async () => {
        const real = rawDynamo();
        // fault injection: the first UpdateItem is sent twice and the caller sees the second answer
        let injected = false;
        const flaky = Object.create(real) as DynamoDBClient;
        (flaky as unknown as { send: (c: unknown) => Promise<unknown> }).send = async (cmd: unknown) => {
            if (!injected && cmd instanceof UpdateItemCommand) {
                injected = true;
                await real.send(cmd);
                return real.send(cmd);
            }
            return real.send(cmd as never);
        };
        const name = uniqueName('lt-spurious');
        const setup = new LeaseTable(real, name);
        await setup.ensureTable();
        await setup.create(newLease('s1', 'TRIM_HORIZON'));
        const [l] = await setup.list();
        const t = new LeaseTable(flaky, name);
        const taken = await t.take(l, 'A');
        assert.equal(injected, true);
        assert.equal(taken?.leaseOwner, 'A');
        assert.equal(taken?.leaseCounter, 1);
    });
});
