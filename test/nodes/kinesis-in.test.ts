import assert from 'node:assert/strict';
import { nodeRedHelper, nodeModule } from '../helpers/nodered';
import { rawDynamo, rawKinesis, uniqueName, waitFor, sleep } from '../helpers/stack';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { aggregate } from '../../lib/kpl';
import { createStream, put, flow, coreNode, useNodeRed } from '../helpers/kinesis-in-flow';
import { LeaseTable } from '../../lib/consumer/lease-table';

const helper = nodeRedHelper();
const configNode = nodeModule('kinesis-config');
const inNode = nodeModule('kinesis-in');

interface Msg {
    _msgid: string;
    payload: unknown;
    topic: string;
    kinesis: { streamName: string; shardId: string; sequenceNumber: string; subSequenceNumber: number; partitionKey: string; approximateArrivalTimestamp: number; parseError?: string };
}

describe('kinesis-in node (real Node-RED runtime, local stack)', function () {
    this.timeout(30_000);
    useNodeRed(helper);

    it('sends one message per record with payload, topic and msg.kinesis, and checkpoints after the flow completes', async () => {
        const stream = uniqueName('nin');
        await createStream(stream, 1);
        await put(stream, [{ n: 1 }, { n: 2 }, { n: 3 }]);
        await helper.load([configNode, inNode], flow(stream));
        const got: Msg[] = [];
        helper.getNode('h1').on('input', (msg: Msg) => { got.push(msg); });
        await waitFor('3 messages', () => got.length >= 3);
        assert.deepEqual(got.map((m) => m.payload), [{ n: 1 }, { n: 2 }, { n: 3 }]);
        const m = got[0];
        assert.equal(m.topic, 'dev-1');
        assert.equal(m.kinesis.streamName, stream);
        assert.equal(m.kinesis.partitionKey, 'dev-1');
        assert.equal(m.kinesis.shardId, 'shardId-000000000000');
        assert.match(m.kinesis.sequenceNumber, /^\d+$/);
        assert.equal(m.kinesis.subSequenceNumber, 0);
        assert.equal(typeof m.kinesis.approximateArrivalTimestamp, 'number');
        const table = new LeaseTable(rawDynamo(), stream);
        await waitFor('checkpoint at the last record', async () => (await table.list())[0]?.checkpoint === got[2].kinesis.sequenceNumber);
    });

    it('holds the checkpoint before a record whose flow failed (done(err)) and waits for every branch', async () => {
        const stream = uniqueName('nin-fail');
        await createStream(stream, 1);
        await put(stream, [{ n: 0 }, { n: 1 }, { n: 2 }, { n: 3 }]);
        await helper.load([configNode, inNode], flow(stream, {}, [['h1', 'h2']]));
        const got: Msg[] = [];
        const slow: Array<() => void> = [];
        helper.getNode('h1').on('input', (msg: Msg, _send: unknown, done: (e?: Error) => void) => {
            got.push(msg);
            done((msg.payload as { n: number }).n === 2 ? new Error('flow failed') : undefined);
        });
        // second branch: completes later
        helper.getNode('h2').on('input', (_msg: Msg, _send: unknown, done: () => void) => { slow.push(done); });
        await waitFor('4 messages on both branches', () => got.length >= 4 && slow.length >= 4);
        await sleep(500);
        const table = new LeaseTable(rawDynamo(), stream);
        let [lease] = await table.list();
        assert.ok(!/^\d+$/.test(lease.checkpoint), 'nothing checkpointed while the second branch has not completed');
        slow.forEach((d) => d());
        await waitFor('checkpoint before the failed record', async () => {
            [lease] = await table.list();
            return lease.checkpoint === got[1].kinesis.sequenceNumber;
        });
        await sleep(500);
        [lease] = await table.list();
        assert.equal(lease.checkpoint, got[1].kinesis.sequenceNumber, 'never past the failed record');
    });

    it('follows a record through link out → link in before checkpointing it', async function () {
        const linkNode = coreNode('common/60-link.js');
        const stream = uniqueName('nin-link');
        await createStream(stream, 1);
        await put(stream, [{ n: 1 }, { n: 2 }]);
        const nodes: Array<Record<string, unknown>> = flow(stream, {}, [['lo']]).map((n) => (n.type === 'kinesis-config' ? n : { ...n, z: 'f1' }));
        nodes.push(
            { id: 'f1', type: 'tab', label: 'links' },
            { id: 'lo', type: 'link out', z: 'f1', x: 100, y: 100, mode: 'link', links: ['li'], wires: [] },
            { id: 'li', type: 'link in', z: 'f1', x: 200, y: 100, links: ['lo'], wires: [['h1']] },
        );
        await helper.load([configNode, inNode, linkNode], nodes);
        const got: Msg[] = [];
        const later: Array<() => void> = [];
        helper.getNode('h1').on('input', (msg: Msg, _s: unknown, done: () => void) => { got.push(msg); later.push(done); });
        await waitFor('2 messages through the link', () => got.length >= 2);
        await sleep(600);
        const table = new LeaseTable(rawDynamo(), stream);
        assert.ok(!/^\d+$/.test((await table.list())[0].checkpoint), 'not finished while the node behind the link works');
        later[0]();
        await waitFor('checkpoint at the first record', async () => (await table.list())[0].checkpoint === got[0].kinesis.sequenceNumber);
        later[1]();
        await waitFor('checkpoint at the second record', async () => (await table.list())[0].checkpoint === got[1].kinesis.sequenceNumber);
    });

    it('follows a record into a subflow and waits for the nodes inside it before checkpointing', async function () {
        const functionNode = coreNode('function/10-function.js');
        const stream = uniqueName('nin-subflow');
        await createStream(stream, 1);
        await put(stream, [{ n: 1 }, { n: 2 }]);
        // Inside the subflow a function node holds each message until the test lets it go on (and only
        // then completes it, node.done()); the messages leave the subflow to h1.
        const hold = [
            'const pending = global.get("pending") || [];',
            'pending.push(() => { node.send(msg); node.done(); });',
            'global.set("pending", pending);',
        ].join('\n');
        const nodes: Array<Record<string, unknown>> = flow(stream, {}, [['sfi']]).map((n) => (n.type === 'kinesis-config' ? n : { ...n, z: 'f1' }));
        nodes.push(
            { id: 'f1', type: 'tab', label: 'main' },
            { id: 'sf1', type: 'subflow', name: 'hold', info: '', in: [{ x: 50, y: 30, wires: [{ id: 'fn' }] }], out: [{ x: 300, y: 30, wires: [{ id: 'fn', port: 0 }] }] },
            { id: 'fn', type: 'function', z: 'sf1', name: 'hold', func: hold, outputs: 1, libs: [], x: 150, y: 30, wires: [[]] },
            { id: 'sfi', type: 'subflow:sf1', z: 'f1', x: 200, y: 100, wires: [['h1']] }, // (nodes without x/y would be config nodes)
        );
        await helper.load([configNode, inNode, functionNode], nodes);
        const got: Msg[] = [];
        helper.getNode('h1').on('input', (msg: Msg, _s: unknown, done: () => void) => { got.push(msg); done(); });
        const global = (helper.getNode('in1') as unknown as { context(): { global: { get(k: string): Array<() => void> | undefined } } }).context().global;
        await waitFor('2 messages held inside the subflow', () => (global.get('pending') || []).length >= 2);
        await sleep(600);
        const table = new LeaseTable(rawDynamo(), stream);
        assert.ok(!/^\d+$/.test((await table.list())[0].checkpoint), 'not finished while a node inside the subflow works');
        global.get('pending')![0]();
        await waitFor('the first record out of the subflow', () => got.length >= 1);
        await waitFor('checkpoint at the first record', async () => (await table.list())[0].checkpoint === got[0].kinesis.sequenceNumber);
        global.get('pending')![1]();
        await waitFor('the second record out of the subflow', () => got.length >= 2);
        await waitFor('checkpoint at the second record', async () => (await table.list())[0].checkpoint === got[1].kinesis.sequenceNumber);
    });

    it('two kinesis-in nodes of one application share the shards and deliver every record once', async () => {
        const stream = uniqueName('nin-two');
        await createStream(stream, 2);
        const nodes = flow(stream, { workerId: 'w1', failoverTimeMs: 2000 });
        const nodes2: Array<Record<string, unknown>> = [...nodes];
        nodes2.splice(2, 0, { ...nodes[1], id: 'in2', workerId: 'w2' });
        await helper.load([configNode, inNode], nodes2);
        const table = new LeaseTable(rawDynamo(), stream);
        await waitFor('one lease each', async () => {
            const owners = (await table.list()).map((l) => l.leaseOwner).sort();
            return owners.join() === 'w1,w2';
        }, 20_000);
        const got: Msg[] = [];
        helper.getNode('h1').on('input', (msg: Msg) => { got.push(msg); });
        const bodies = Array.from({ length: 40 }, (_, i) => ({ n: i }));
        for (let i = 0; i < 40; i += 10) await put(stream, bodies.slice(i, i + 10), `key-${i}`);
        await waitFor('40 records', () => got.length >= 40);
        await sleep(300);
        assert.deepEqual(got.map((m) => (m.payload as { n: number }).n).sort((a, b) => a - b), bodies.map((b) => b.n));
    });

    it('a wire to a disabled node does not hold records back', async () => {
        const stream = uniqueName('nin-disabled');
        await createStream(stream, 1);
        await put(stream, [{ n: 1 }, { n: 2 }]);
        const nodes: Array<Record<string, unknown>> = flow(stream, {}, [['h1', 'off']]);
        nodes.push({ id: 'off', type: 'helper', d: true });
        await helper.load([configNode, inNode], nodes);
        assert.ok(!helper.getNode('off'), 'the disabled node does not run');
        const got: Msg[] = [];
        helper.getNode('h1').on('input', (msg: Msg, _s: unknown, done: () => void) => { got.push(msg); done(); });
        await waitFor('2 messages', () => got.length >= 2);
        const table = new LeaseTable(rawDynamo(), stream);
        await waitFor('checkpoint at the last record', async () => (await table.list())[0].checkpoint === got[1].kinesis.sequenceNumber);
    });

    it('reads with Enhanced Fan-Out (readMode efo)', async () => {
        const stream = uniqueName('nin-efo');
        await createStream(stream, 1);
        await put(stream, [{ n: 1 }, { n: 2 }]);
        await helper.load([configNode, inNode], flow(stream, { readMode: 'efo', consumerName: `${stream}-app` }));
        const got: Msg[] = [];
        helper.getNode('h1').on('input', (msg: Msg) => { got.push(msg); });
        await waitFor('2 messages through SubscribeToShard', () => got.length >= 2, 25_000);
        assert.deepEqual(got.map((m) => m.payload), [{ n: 1 }, { n: 2 }]);
    });

    it('sends a record that is not JSON as a string with msg.kinesis.parseError', async () => {
        const stream = uniqueName('nin-json');
        await createStream(stream, 1);
        await put(stream, ['not json {', { ok: true }]);
        await helper.load([configNode, inNode], flow(stream));
        const got: Msg[] = [];
        helper.getNode('h1').on('input', (msg: Msg) => { got.push(msg); });
        await waitFor('2 messages', () => got.length >= 2);
        assert.equal(got[0].payload, 'not json {');
        assert.ok(got[0].kinesis.parseError);
        assert.deepEqual(got[1].payload, { ok: true });
        assert.equal(got[1].kinesis.parseError, undefined);
    });

    it('batch output and string payloads', async () => {
        const stream = uniqueName('nin-batch');
        await createStream(stream, 1);
        await put(stream, ['a', 'b', 'c']);
        await helper.load([configNode, inNode], flow(stream, { outputMode: 'batch', payloadFormat: 'string' }));
        const got: Array<{ payload: string[]; kinesis: { records: Array<{ sequenceNumber: string }> } }> = [];
        helper.getNode('h1').on('input', (msg: (typeof got)[number]) => { got.push(msg); });
        await waitFor('a batch', () => got.reduce((n, m) => n + m.payload.length, 0) >= 3);
        assert.deepEqual(got.flatMap((m) => m.payload), ['a', 'b', 'c']);
        assert.equal(got[0].kinesis.records.length, got[0].payload.length);
    });

    it('batch output of a KPL aggregate: each record\'s metadata has its sub-sequence number and explicit hash key, as single messages do', async () => {
        const stream = uniqueName('nin-batch-kpl');
        await createStream(stream, 1);
        const users = [
            { data: Buffer.from('"u0"'), partitionKey: 'k0', explicitHashKey: '42' },
            { data: Buffer.from('"u1"'), partitionKey: 'k1' },
        ];
        await rawKinesis().send(new PutRecordsCommand({ StreamName: stream, Records: [{ Data: aggregate(users), PartitionKey: 'agg' }] }));
        await helper.load([configNode, inNode], flow(stream, { outputMode: 'batch' }));
        const got: Array<{ payload: string[]; kinesis: { records: Array<{ subSequenceNumber: number; partitionKey: string; explicitHashKey?: string }> } }> = [];
        helper.getNode('h1').on('input', (msg: (typeof got)[number]) => { got.push(msg); });
        await waitFor('a batch', () => got.reduce((n, m) => n + m.payload.length, 0) >= 2);
        assert.deepEqual(got.flatMap((m) => m.payload), ['u0', 'u1']);
        const metas = got.flatMap((m) => m.kinesis.records);
        assert.deepEqual(metas.map((m) => [m.subSequenceNumber, m.partitionKey, m.explicitHashKey]), [[0, 'k0', '42'], [1, 'k1', undefined]]);
    });

    it('releases its leases on close so another instance can take them at once', async () => {
        const stream = uniqueName('nin-close');
        await createStream(stream, 2);
        await put(stream, [{ n: 1 }]);
        await helper.load([configNode, inNode], flow(stream, { workerId: 'w-close' }));
        const table = new LeaseTable(rawDynamo(), stream);
        await waitFor('both leases held', async () => {
            const l = await table.list();
            return l.length === 2 && l.every((x) => x.leaseOwner === 'w-close');
        });
        await helper.unload();
        const leases = await table.list();
        assert.ok(leases.every((l) => l.leaseOwner === undefined), 'released');
    });

    it('shows a missing stream in words (red status, error log)', async () => {
        const stream = uniqueName('nin-missing');
        await helper.load([configNode, inNode], flow(stream));
        const n = helper.getNode('in1');
        const statuses: Array<{ fill?: string; text?: string }> = [];
        n.on('call:status', (call: { args: Array<{ fill?: string; text?: string }> }) => statuses.push(call.args[0]));
        const errors: string[] = [];
        n.on('call:error', (call: { args: unknown[] }) => errors.push(String(call.args[0])));
        await waitFor('error reported', () => errors.length > 0 && statuses.some((s) => s.fill === 'red'));
        assert.match(errors[0], new RegExp(stream));
        assert.match(errors[0], /not found|does not exist/i);
    });

    it('rejects an invalid start timestamp with a clear error', async () => {
        const stream = uniqueName('nin-ts');
        await createStream(stream, 1);
        await helper.load([configNode, inNode], flow(stream, { initialPosition: 'AT_TIMESTAMP', timestamp: 'yesterday-ish', timestampType: 'str' }));
        const logged = () => (helper.log().args as unknown[][]).map((a) => JSON.stringify(a));
        // (the test helper's RED._ returns the catalog key)
        await waitFor('error logged', () => logged().some((m) => /kinesis-in\.errors\.badTimestamp|yesterday-ish/.test(m)));
        const table = new LeaseTable(rawDynamo(), stream);
        await sleep(300);
        await assert.rejects(() => table.list(), /not found|ResourceNotFound|non-existent/i, 'nothing was started');
    });
});
