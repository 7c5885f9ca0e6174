/**
 * kinesis-out in a real Node-RED runtime against kinesis-local: outputs, the seed's downlink,
 * errors reaching a Catch node, status, close flushing what is queued.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { DescribeStreamSummaryCommand, GetRecordsCommand, GetShardIteratorCommand, KinesisClient, PutRecordsCommand, _Record } from '@aws-sdk/client-kinesis';
import { nodeRedHelper, nodeModule } from '../helpers/nodered';
import { createStream, rawKinesis, readAt, uniqueName, waitFor } from '../helpers/stack';
import { readAll } from '../integration/producer-helpers';
import { deaggregate } from '../../lib/kpl';

const helper = nodeRedHelper();
const configNode = nodeModule('kinesis-config');
const outNode = nodeModule('kinesis-out');
const redDir = path.dirname(require.resolve(process.env.NODE_RED_PATH || 'node-red'));
// eslint-disable-next-line @typescript-eslint/no-var-requires
const catchNode = require(require.resolve('@node-red/nodes/core/common/25-catch.js', { paths: [redDir] }));

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Msg = Record<string, any>;

const SEED_RESULT = {
    contentType: 'JSON',
    data: JSON.stringify({ devName: 'kitchen_thermostat', version: 'v.0.11' }),
    metadata: { streamName: 'tb-test-downlink', partitionKey: '123' },
};

function flow(out: Record<string, unknown>, config: Record<string, unknown> = {}): Record<string, unknown>[] {
    return [
        { id: 'c1', type: 'kinesis-config', name: 'local', region: '', credentialMode: 'chain', ...config },
        { id: 'o1', type: 'kinesis-out', z: 'f1', config: 'c1', streamName: '', streamNameType: 'str', partitionKey: '', partitionKeyType: 'str', explicitHashKey: '', explicitHashKeyType: 'str', keyGeneration: 'random', lingerMs: 10, maxInFlight: 4, maxRecordBytes: 1048576, maxRetries: 2, maxQueued: 10000, keyOrder: true, ordered: false, aggregate: false, wires: [['h1']], ...out },
        { id: 'h1', type: 'helper', z: 'f1' },
        { id: 'k1', type: 'catch', z: 'f1', scope: null, uncaught: false, wires: [['h2']] },
        { id: 'h2', type: 'helper', z: 'f1' },
        { id: 'f1', type: 'tab', label: 'test' },
    ];
}

function next(id: string): Promise<Msg> {
    return new Promise((resolve) => helper.getNode(id).once('input', resolve));
}

describe('kinesis-out node', function () {
    this.timeout(30_000);
    let raw: KinesisClient;
    before((done) => {
        raw = rawKinesis();
        helper.startServer(done);
    });
    after((done) => {
        raw.destroy();
        helper.stopServer(done);
    });
    afterEach(() => helper.unload());

    it('writes msg.payload and sends the message on with msg.kinesis; status shows rate and backlog', async function () {
        const stream = uniqueName('out');
        await createStream(stream, 1);
        await helper.load([configNode, outNode, catchNode], flow({ streamName: stream, partitionKey: 'topic', partitionKeyType: 'msg' }));
        const o1 = helper.getNode('o1');
        const statuses: Msg[] = [];
        o1.on('call:status', (call: { args: Msg[] }) => statuses.push(call.args[0]));
        const got = next('h1');
        o1.receive({ payload: { temperature: 22 }, topic: 'dev-1', _keep: 'me' });
        const msg = await got;
        assert.equal(msg._keep, 'me');
        assert.equal(msg.kinesis.length, 1);
        assert.equal(msg.kinesis[0].streamName, stream);
        const rec = await readAt(raw, stream, msg.kinesis[0].shardId, msg.kinesis[0].sequenceNumber);
        assert.equal(rec.PartitionKey, 'dev-1');
        assert.equal(Buffer.from(rec.Data!).toString(), '{"temperature":22}');
        await waitFor('rate status', () => statuses.some((s) => /^\d+(\.\d)?k?\/s · 0 queued$/.test(s.text) && s.fill === 'green'), 5_000);
    });

    it('writes the seed downlink result to tb-test-downlink when the Stream field is empty', async function () {
        await helper.load([configNode, outNode, catchNode], flow({}));
        const got = next('h1');
        helper.getNode('o1').receive({ payload: SEED_RESULT });
        const msg = await got;
        assert.equal(msg.kinesis[0].streamName, 'tb-test-downlink');
        const rec = await readAt(raw, 'tb-test-downlink', msg.kinesis[0].shardId, msg.kinesis[0].sequenceNumber);
        assert.equal(rec.PartitionKey, '123');
        assert.deepEqual(JSON.parse(Buffer.from(rec.Data!).toString()), { devName: 'kitchen_thermostat', version: 'v.0.11' });
    });

    it('an array of converter results becomes several records, in order', async function () {
        const stream = uniqueName('out');
        await createStream(stream, 1);
        await helper.load([configNode, outNode, catchNode], flow({}));
        const got = next('h1');
        helper.getNode('o1').receive({
            payload: [
                { contentType: 'TEXT', data: 'one', metadata: { streamName: stream, partitionKey: 'p' } },
                { contentType: 'BINARY', data: Buffer.from([0xde, 0xad]).toString('base64'), metadata: { partitionKey: 'p' } },
            ],
            metadata: { streamName: stream },
        });
        const msg = await got;
        assert.equal(msg.kinesis.length, 2);
        const all = await readAll(raw, stream);
        assert.deepEqual(all.map((r) => Buffer.from(r.Data!).toString('hex')), [Buffer.from('one').toString('hex'), 'dead']);
    });

    it('an invalid record reaches the Catch node and nothing is written', async function () {
        const stream = uniqueName('out');
        await createStream(stream, 1);
        await helper.load([configNode, outNode, catchNode], flow({ streamName: stream, partitionKey: 'k'.repeat(257) }));
        const caught = next('h2');
        helper.getNode('o1').receive({ payload: 'x' });
        const msg = await caught;
        assert.match(msg.error.message, /partition key is 257 characters long \(at most 256\)/);
        assert.equal(msg.error.source.id, 'o1');
        assert.deepEqual(await readAll(raw, stream), []);
    });

    it('a missing stream reaches the Catch node in words; the status says so', async function () {
        await helper.load([configNode, outNode, catchNode], flow({ streamName: 'no-such-stream-n1' }));
        const o1 = helper.getNode('o1');
        const statuses: Msg[] = [];
        o1.on('call:status', (call: { args: Msg[] }) => statuses.push(call.args[0]));
        const caught = next('h2');
        o1.receive({ payload: 'x' });
        const msg = await caught;
        assert.match(msg.error.message, /stream "no-such-stream-n1" not found at http:\/\/127\.0\.0\.1:\d+ — check the stream name and region/);
        assert.ok(statuses.some((s) => s.fill === 'red' && /^stream not found/.test(s.text)), JSON.stringify(statuses));
    });

    it('no stream name anywhere → a clear error', async function () {
        await helper.load([configNode, outNode, catchNode], flow({}));
        const caught = next('h2');
        helper.getNode('o1').receive({ payload: 'x' });
        assert.match((await caught).error.message, /no stream name \(set the Stream field, or metadata.streamName\)/);
    });

    it('a misconfigured connection and an unreachable endpoint reach the Catch node', async function () {
        await helper.load([configNode, outNode, catchNode], flow({ streamName: 's' }, { kinesisEndpoint: 'ftp://nowhere' }));
        let caught = next('h2');
        helper.getNode('o1').receive({ payload: 'x' });
        assert.match((await caught).error.message, /must start with http:\/\/ or https:\/\//);
        await helper.unload();
        await helper.load([configNode, outNode, catchNode], flow({ streamName: 's', maxRetries: 0 }, { kinesisEndpoint: 'http://127.0.0.1:9' }));
        caught = next('h2');
        helper.getNode('o1').receive({ payload: 'x' });
        assert.match((await caught).error.message, /cannot reach http:\/\/127\.0\.0\.1:9/);
    });

    it('a partition key that is "" or not text reaches Catch naming its source; nothing is written, no random key', async function () {
        const stream = uniqueName('out');
        await createStream(stream, 1);
        await helper.load([configNode, outNode, catchNode], flow({ streamName: stream, partitionKey: 'deviceId', partitionKeyType: 'msg' }));
        for (const deviceId of ['', { id: 7 }]) {
            const caught = next('h2');
            helper.getNode('o1').receive({ payload: 'x', deviceId });
            const m = await caught;
            assert.match(m.error.message, /the partition key from msg\.deviceId is (an empty string|of type object)/);
        }
        const ok = next('h1');
        helper.getNode('o1').receive({ payload: 'y', deviceId: 42 });
        const msg = await ok;
        const rec = await readAt(raw, stream, msg.kinesis[0].shardId, msg.kinesis[0].sequenceNumber);
        assert.equal(rec.PartitionKey, '42');
        assert.equal((await readAll(raw, stream)).length, 1, 'only the good message was written');
    });

    it('a msg partition key: a plain name ("msg.topic"), a nested path and an array index read as Node-RED reads them', async function () {
        const stream = uniqueName('out');
        await createStream(stream, 1);
        for (const [expr, msgExtra, want] of [
            ['msg.topic', { topic: 'plain-topic' }, 'plain-topic'],
            ['payload2.device.id', { payload2: { device: { id: 'nested-7' } } }, 'nested-7'],
            ['keys[1]', { keys: ['a', 'second'] }, 'second'],
            ['constructor', {}, undefined],
        ] as Array<[string, Record<string, unknown>, string | undefined]>) {
            await helper.load([configNode, outNode, catchNode], flow({ streamName: stream, partitionKey: expr, partitionKeyType: 'msg' }));
            const done = want === undefined ? next('h2') : next('h1');
            helper.getNode('o1').receive({ payload: `for ${expr}`, ...msgExtra });
            const msg = await done;
            if (want === undefined) {
                // msg.constructor is a function: not text, an error naming it (as before: not a generated key)
                assert.match(msg.error.message, /the partition key from msg\.constructor is of type function/);
                continue;
            }
            const rec = await readAt(raw, stream, msg.kinesis[0].shardId, msg.kinesis[0].sequenceNumber);
            assert.equal(rec.PartitionKey, want);
            assert.equal(Buffer.from(rec.Data!).toString(), `for ${expr}`);
            await helper.unload();
        }
    });

    it('a stream ARN in the Stream field writes to that stream (StreamARN); msg.kinesis names the stream and the ARN', async function () {
        const stream = uniqueName('out');
        await createStream(stream, 1);
        const arn = (await raw.send(new DescribeStreamSummaryCommand({ StreamName: stream }))).StreamDescriptionSummary!.StreamARN!;
        await helper.load([configNode, outNode, catchNode], flow({ streamName: arn }));
        const got = next('h1');
        helper.getNode('o1').receive({ payload: 'by ARN', topic: 't' });
        const msg = await got;
        assert.equal(msg.kinesis[0].streamName, stream);
        assert.equal(msg.kinesis[0].streamARN, arn);
        const rec = await readAt(raw, stream, msg.kinesis[0].shardId, msg.kinesis[0].sequenceNumber);
        assert.equal(Buffer.from(rec.Data!).toString(), 'by ARN');
    });

    it('partition key from a JSONata expression', async function () {
        const stream = uniqueName('out');
        await createStream(stream, 1);
        await helper.load([configNode, outNode, catchNode], flow({ streamName: stream, partitionKey: 'payload.device', partitionKeyType: 'jsonata' }));
        const got = next('h1');
        helper.getNode('o1').receive({ payload: { device: 'dev-7', t: 1 } });
        const msg = await got;
        const rec = await readAt(raw, stream, msg.kinesis[0].shardId, msg.kinesis[0].sequenceNumber);
        assert.equal(rec.PartitionKey, 'dev-7');
    });

    it('a setting Node-RED cannot evaluate reaches the Catch node in words, for each message; nothing is written', async function () {
        const stream = uniqueName('out');
        await createStream(stream, 1);
        // JSON that does not parse (Node-RED throws at once) and a JSONata expression that fails (it answers later)
        await helper.load([configNode, outNode, catchNode], flow({ streamName: stream, partitionKey: '{"a":', partitionKeyType: 'json' }));
        for (const payload of ['x', 'y']) {
            const caught = next('h2');
            helper.getNode('o1').receive({ payload });
            assert.match((await caught).error.message, /cannot evaluate json:\{"a":: \w/);
        }
        await helper.unload();
        await helper.load([configNode, outNode, catchNode], flow({ streamName: stream, partitionKey: '$error("no key")', partitionKeyType: 'jsonata' }));
        const caught = next('h2');
        helper.getNode('o1').receive({ payload: 'z' });
        assert.match((await caught).error.message, /cannot evaluate jsonata:\$error\("no key"\): no key/);
        assert.deepEqual(await readAll(raw, stream), []);
    });

    it('while Kinesis throttles, the status says so and the message still goes through', async function () {
        const stream = uniqueName('out');
        await createStream(stream, 1);
        await helper.load([configNode, outNode, catchNode], flow({ streamName: stream, partitionKey: 'k' }));
        const c1 = helper.getNode('c1');
        const clients = c1.getClients();
        const realSend = clients.producerKinesis.send.bind(clients.producerKinesis);
        let calls = 0;
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        clients.producerKinesis.send = (cmd: any, ...rest: any[]) => {
            if (cmd instanceof PutRecordsCommand && calls++ < 2) {
                return Promise.resolve({ FailedRecordCount: 1, Records: [{ ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'Rate exceeded for shard shardId-000000000000' }] });
            }
            return realSend(cmd, ...rest);
        };
        const o1 = helper.getNode('o1');
        const statuses: Msg[] = [];
        o1.on('call:status', (call: { args: Msg[] }) => statuses.push(call.args[0]));
        const got = next('h1');
        o1.receive({ payload: 'through' });
        const msg = await got;
        assert.equal(calls, 3);
        assert.equal(msg.kinesis.length, 1);
        assert.ok(statuses.some((s) => s.fill === 'yellow' && /^throttled, retrying · \d+ queued$/.test(s.text)), JSON.stringify(statuses));
    });

    it('on close, queued messages are flushed before the node stops', async function () {
        const stream = uniqueName('out');
        await createStream(stream, 1);
        await helper.load([configNode, outNode, catchNode], flow({ streamName: stream, lingerMs: 1000 }));
        const o1 = helper.getNode('o1');
        const warnings: string[] = [];
        o1.warn = (m: unknown) => warnings.push(String(m)); // the helper's call:* spies are gone during close
        for (let i = 0; i < 5; i++) o1.receive({ payload: `m${i}` });
        await new Promise((r) => setTimeout(r, 50)); // inputs are delivered asynchronously
        await helper.unload();
        const all = await readAll(raw, stream);
        assert.deepEqual(all.map((r) => Buffer.from(r.Data!).toString()).sort(), ['m0', 'm1', 'm2', 'm3', 'm4']);
        assert.deepEqual(warnings, []);
    });

    it('on close, what cannot be written in time fails with done(err) and a warning says how many', async function () {
        await helper.load([configNode, outNode, catchNode], flow({ streamName: 'never-written', lingerMs: 0, maxRetries: 100, closeTimeoutMs: 300 }));
        const clients = helper.getNode('c1').getClients();
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        clients.producerKinesis.send = async (cmd: any) => ({ FailedRecordCount: cmd.input.Records.length, Records: cmd.input.Records.map(() => ({ ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'Rate exceeded' })) });
        const o1 = helper.getNode('o1');
        const warnings: string[] = [];
        const errors: string[] = [];
        // The helper removes its call:* spies before stopping the flow: watch the instance itself.
        o1.warn = (m: unknown) => warnings.push(String(m));
        o1.error = (e: unknown) => errors.push(String((e as Error)?.message ?? e));
        o1.receive({ payload: 'a' });
        o1.receive({ payload: ['b1', 'b2'].map((d) => ({ contentType: 'TEXT', data: d })) });
        await new Promise((r) => setTimeout(r, 50));
        await helper.unload();
        assert.deepEqual(warnings, ['stopped with 2 message(s) (3 record(s)) not acknowledged by Kinesis after 0.3 s; their messages failed with done(err)']);
        assert.equal(errors.length, 2);
        assert.ok(errors.every((e) => /the node stopped before Kinesis acknowledged the record/.test(e)), errors.join('\n'));
    });

    it('aggregation through the node: records come back deaggregated, in key order', async function () {
        const stream = uniqueName('out');
        await createStream(stream, 2);
        await helper.load([configNode, outNode, catchNode], flow({ streamName: stream, partitionKey: 'topic', partitionKeyType: 'msg', aggregate: true, lingerMs: 100 }));
        const o1 = helper.getNode('o1');
        const outs: Msg[] = [];
        const h1 = helper.getNode('h1');
        h1.on('input', (m: Msg) => outs.push(m));
        for (let i = 0; i < 30; i++) o1.receive({ payload: { i }, topic: `dev-${i % 4}` });
        await waitFor('30 outputs', () => outs.length === 30, 10_000);
        const all = await readAll(raw, stream);
        assert.ok(all.length <= 4, `${all.length} Kinesis records`);
        const users = all.flatMap((r) => deaggregate(r));
        assert.equal(users.length, 30);
        for (let k = 0; k < 4; k++) {
            const want = Array.from({ length: 30 }, (_, i) => i).filter((i) => i % 4 === k).map((i) => JSON.stringify({ i }));
            assert.deepEqual(users.filter((u) => u.partitionKey === `dev-${k}`).map((u) => u.data.toString()), want);
        }
        assert.ok(outs.every((m) => typeof m.kinesis[0].subSequenceNumber === 'number'));
    });

    it('on close, a record being retried is still written (the connection outlives the flush)', async function () {
        const stream = uniqueName('out');
        await createStream(stream, 1);
        await helper.load([configNode, outNode, catchNode], flow({ streamName: stream, lingerMs: 0 }));
        const clients = helper.getNode('c1').getClients();
        const realSend = clients.producerKinesis.send.bind(clients.producerKinesis);
        let calls = 0;
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        clients.producerKinesis.send = async (cmd: any, ...rest: any[]) => {
            if (cmd instanceof PutRecordsCommand && calls++ === 0) {
                await new Promise((r) => setTimeout(r, 100)); // still in flight when the flow stops
                return { FailedRecordCount: 1, Records: [{ ErrorCode: 'InternalFailure', ErrorMessage: 'Internal service failure.' }] };
            }
            return realSend(cmd, ...rest);
        };
        const o1 = helper.getNode('o1');
        const warnings: string[] = [];
        o1.warn = (m: unknown) => warnings.push(String(m)); // the helper's call:* spies are gone during close
        o1.receive({ payload: 'late' });
        await new Promise((r) => setTimeout(r, 30));
        await helper.unload();
        assert.equal(calls, 2);
        const all = await readAll(raw, stream);
        assert.deepEqual(all.map((r) => Buffer.from(r.Data!).toString()), ['late']);
        assert.deepEqual(warnings, []);
    });
});
