/**
 * End-to-end scale-out and failover, the way a user runs it: the uplink example (01), unchanged, in
 * two Node-RED processes against one 4-shard `my-thingsboard` on a local stack of its own (standard
 * AWS env vars). The two share the shards through the `tb-uplink` lease table; then the process
 * holding leases is killed with SIGKILL mid-stream and the survivor must take its shards over:
 * every record put reaches a debug sidebar (duplicates allowed, at-least-once), none is lost.
 */
import assert from 'node:assert/strict';
import { KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { LocalStack, startLocalStack } from '../helpers/stack';
import { Comms, NodeRedProcess, exampleAsFlows, sleep, waitUntil } from './harness';

const UPLINK = '01 ThingsBoard uplink.json';
const SHARDS = 4;

/** Device names the uplink debug node showed (the decoder's deviceName = the record's devName). */
function devicesShown(c: Comms): Set<string> {
    return new Set(c.from('ex01-debug').map((d) => (d.msg as { payload?: { deviceName?: string } })?.payload?.deviceName || ''));
}

describe('scale-out and failover (e2e: example 01 in two Node-RED processes, one killed mid-stream)', function () {
    this.timeout(240_000);
    let stack: LocalStack;
    let kinesis: KinesisClient;
    let dynamo: DynamoDBClient;
    const reds: NodeRedProcess[] = [];
    const comms: Comms[] = [];

    before(async function () {
        stack = await startLocalStack({ kinesisPort: 0, dynamodbPort: 0, streams: `my-thingsboard:${SHARDS},tb-test-downlink:1` });
        const credentials = { accessKeyId: stack.env.AWS_ACCESS_KEY_ID, secretAccessKey: stack.env.AWS_SECRET_ACCESS_KEY };
        kinesis = new KinesisClient({ region: stack.region, endpoint: stack.kinesisEndpoint, credentials, requestHandler: new NodeHttpHandler() });
        dynamo = new DynamoDBClient({ region: stack.region, endpoint: stack.dynamodbEndpoint, credentials, requestHandler: new NodeHttpHandler() });
        const env = { ...process.env, ...stack.env };
        for (let i = 0; i < 2; i++) {
            const red = await NodeRedProcess.start(env);
            reds.push(red);
            comms.push(await Comms.open(red.baseUrl));
        }
    });

    after(async function () {
        for (const c of comms) c.close();
        for (const r of reds) await r.stop();
        kinesis?.destroy();
        dynamo?.destroy();
        await stack?.stop();
    });

    async function leases(): Promise<Array<{ shard: string; owner?: string }>> {
        const r = await dynamo.send(new ScanCommand({ TableName: 'tb-uplink', ConsistentRead: true }));
        return (r.Items || []).map((i) => ({ shard: i.leaseKey.S as string, owner: i.leaseOwner?.S }));
    }

    /** Owner → number of leases it holds. */
    async function owners(): Promise<Map<string, number>> {
        const m = new Map<string, number>();
        for (const l of await leases()) if (l.owner) m.set(l.owner, (m.get(l.owner) ?? 0) + 1);
        return m;
    }

    let next = 0;
    const put: string[] = [];
    /** Puts `n` tutorial-shaped records, one device name each, spread over the shards by partition key. */
    async function putDevices(n: number): Promise<void> {
        const records = Array.from({ length: n }, () => {
            const name = `dev-${next++}`;
            put.push(name);
            return { PartitionKey: name, Data: Buffer.from(JSON.stringify({ devName: name, devType: 'thermostat', temperature: 20 + (next % 5) })) };
        });
        const r = await kinesis.send(new PutRecordsCommand({ StreamName: 'my-thingsboard', Records: records }));
        assert.equal(r.FailedRecordCount ?? 0, 0, 'the local stack took every record');
    }

    it('the two instances share the shards; after a SIGKILL the survivor takes them all and every record is shown', async function () {
        for (const r of reds) await r.deploy(exampleAsFlows(UPLINK));
        // balanced: each instance holds half the leases (the second takes free ones or asks for a hand-off)
        await waitUntil('the shards shared 2/2 between the two instances', async () => {
            const o = await owners();
            return o.size === 2 && [...o.values()].every((c) => c === SHARDS / 2);
        }, 90_000, 500);
        const before = await owners();

        // records while both run: each instance shows the ones of its shards
        for (let i = 0; i < 5; i++) {
            await putDevices(20);
            await sleep(200);
        }
        await waitUntil('the first 100 records shown by one instance or the other', () => {
            const shown = new Set([...devicesShown(comms[0]), ...devicesShown(comms[1])]);
            return put.every((d) => shown.has(d));
        }, 60_000, 250);
        assert.ok(devicesShown(comms[0]).size > 0 && devicesShown(comms[1]).size > 0, 'both instances delivered records');

        // mid-stream: records keep coming while the first instance is killed
        const killedAt = put.length;
        const writing = (async () => {
            for (let i = 0; i < 10; i++) {
                await putDevices(20);
                await sleep(300);
            }
        })();
        await sleep(500);
        reds[0].kill();
        await writing;

        const survivorOwner = await waitUntil('the survivor holds every lease', async () => {
            const o = await owners();
            return o.size === 1 && [...o.values()][0] === SHARDS ? [...o.keys()][0] : undefined;
        }, 90_000, 500);
        assert.ok(before.has(survivorOwner), 'the survivor is one of the two instances that shared the shards');

        // zero lost: every record put after the kill is shown by the survivor, every one before by either
        await waitUntil(`every record after the kill shown by the survivor (${put.length - killedAt} records)`, () => {
            const shown = devicesShown(comms[1]);
            return put.slice(killedAt).every((d) => shown.has(d));
        }, 90_000, 250).catch((err) => {
            const shown = devicesShown(comms[1]);
            const missing = put.slice(killedAt).filter((d) => !shown.has(d));
            throw new Error(`${err.message}; missing ${missing.length}: ${missing.slice(0, 10).join(', ')}`);
        });
        const shown = new Set([...devicesShown(comms[0]), ...devicesShown(comms[1])]);
        assert.deepEqual(put.filter((d) => !shown.has(d)), [], 'no record lost');
        assert.deepEqual(comms[1].from('ex01-failed'), [], 'no converter failures');
        assert.deepEqual(comms[1].debug.filter((d) => d.level === 20), [], 'no errors in the survivor\'s debug sidebar');
        assert.deepEqual(reds[1].errors(), [], 'no errors in the survivor\'s log');
    });
});
