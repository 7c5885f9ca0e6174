/**
 * kinesis-in failure policy (retries, then hold / failure output / dead-letter stream), "Catch =
 * failed", the metrics output and the message hooks' life time — in a real Node-RED runtime on the
 * local stack. Downstream nodes fail the first N attempts of one record, or always.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetShardIteratorCommand, GetRecordsCommand, ListShardsCommand } from '@aws-sdk/client-kinesis';
import { nodeRedHelper, nodeModule } from '../helpers/nodered';
import { rawDynamo, rawKinesis, uniqueName, waitFor, sleep } from '../helpers/stack';
import { createStream, put, flow, coreNode, useNodeRed } from '../helpers/kinesis-in-flow';
import { LeaseTable } from '../../lib/consumer/lease-table';

const helper = nodeRedHelper();
const configNode = nodeModule('kinesis-config');
const inNode = nodeModule('kinesis-in');

interface Msg {
    _msgid: string;
    payload: unknown;
    topic: string;
    kinesis: { shardId: string; sequenceNumber: string; attempt?: number; records?: Array<{ sequenceNumber: string }> };
    error?: { message: string; source?: { id?: string; type?: string } };
    attempts?: number;
}
type Done = (err?: Error) => void;

/** Every record of a (one-shard) stream from the start. */
async function readAll(stream: string): Promise<Array<{ data: Buffer; partitionKey: string }>> {
    const k = rawKinesis();
    const shards = await k.send(new ListShardsCommand({ StreamName: stream }));
    const out: Array<{ data: Buffer; partitionKey: string }> = [];
    for (const s of shards.Shards ?? []) {
        const it = await k.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: s.ShardId, ShardIteratorType: 'TRIM_HORIZON' }));
        const r = await k.send(new GetRecordsCommand({ ShardIterator: it.ShardIterator }));
        for (const rec of r.Records ?? []) out.push({ data: Buffer.from(rec.Data ?? new Uint8Array()), partitionKey: rec.PartitionKey ?? '' });
    }
    return out;
}

const policyFlow = (stream: string, extra: Record<string, unknown> = {}, wires?: string[][]) =>
    flow(stream, { retries: 2, retryDelayMs: 50, retryMaxDelayMs: 200, failureAction: 'hold', ...extra }, wires);

/** A downstream that fails record n === `bad` on its first `times` attempts (Infinity = always). */
function failing(got: Msg[], bad: number, times: number) {
    let failures = 0;
    return (msg: Msg, _send: unknown, done: Done) => {
        got.push(msg);
        const n = (msg.payload as { n: number }).n;
        if (n === bad && failures < times) {
            failures++;
            done(new Error(`boom ${failures}`));
        } else done();
    };
}

const nOf = (m: Msg) => (m.payload as { n: number }).n;
const isSeq = (s: string) => /^\d+$/.test(s);

describe('kinesis-in failure policy and metrics (real Node-RED runtime, local stack)', function () {
    this.timeout(40_000);
    useNodeRed(helper);

    it('re-sends a record that failed twice and moves the checkpoint once it succeeds', async () => {
        const stream = uniqueName('pol-retry');
        await createStream(stream);
        await put(stream, [{ n: 0 }, { n: 1 }, { n: 2 }]);
        await helper.load([configNode, inNode], policyFlow(stream));
        const got: Msg[] = [];
        helper.getNode('h1').on('input', failing(got, 1, 2));
        await waitFor('record 1 three times', () => got.filter((m) => nOf(m) === 1).length >= 3);
        const tries = got.filter((m) => nOf(m) === 1);
        assert.deepEqual(tries.map((m) => m.kinesis.attempt), [undefined, 2, 3], 'msg.kinesis.attempt on re-sends');
        assert.equal(new Set(tries.map((m) => m._msgid)).size, 3, 'each re-send is a new message');
        assert.deepEqual(tries[2].payload, { n: 1 }, 'the same record');
        const last = got.find((m) => nOf(m) === 2)!;
        const table = new LeaseTable(rawDynamo(), stream);
        await waitFor('checkpoint at the last record', async () => (await table.list())[0].checkpoint === last.kinesis.sequenceNumber);
    });

    it('hold: a record that always fails holds its shard (checkpoint before it, nothing more delivered, red status, error logged)', async () => {
        const stream = uniqueName('pol-hold');
        await createStream(stream);
        await put(stream, [{ n: 0 }, { n: 1 }, { n: 2 }, { n: 3 }]);
        await helper.load([configNode, inNode], policyFlow(stream, { ordered: true }));
        const n = helper.getNode('in1');
        const statuses: Array<{ fill?: string; text?: string }> = [];
        n.on('call:status', (call: { args: Array<{ fill?: string; text?: string }> }) => statuses.push(call.args[0]));
        const errors: string[] = [];
        n.on('call:error', (call: { args: unknown[] }) => errors.push(String(call.args[0])));
        const got: Msg[] = [];
        helper.getNode('h1').on('input', failing(got, 1, Infinity));
        await waitFor('held: error logged and red status', () => errors.length > 0 && statuses.some((s) => s.fill === 'red'));
        assert.ok(statuses.some((s) => s.fill === 'red' && /^#0 /.test(s.text ?? '')), `the status names shard 0: ${JSON.stringify(statuses.filter((s) => s.fill === 'red'))}`);
        assert.equal(got.filter((m) => nOf(m) === 1).length, 3, 'first attempt + 2 retries');
        const table = new LeaseTable(rawDynamo(), stream);
        const first = got.find((m) => nOf(m) === 0)!;
        await waitFor('checkpoint at the record before', async () => (await table.list())[0].checkpoint === first.kinesis.sequenceNumber);
        await sleep(700);
        assert.ok(!got.some((m) => nOf(m) >= 2), 'nothing after the held record');
        assert.equal((await table.list())[0].checkpoint, first.kinesis.sequenceNumber, 'never past the held record');
    });

    it('failure output: a record that always fails goes to output 2 with the error and the attempt count; the checkpoint moves on', async () => {
        const stream = uniqueName('pol-out');
        await createStream(stream);
        await put(stream, [{ n: 0 }, { n: 1 }, { n: 2 }]);
        await helper.load([configNode, inNode], policyFlow(stream, { failureAction: 'output', outputs: 2 }, [['h1'], ['h2']]));
        const got: Msg[] = [];
        const failed: Msg[] = [];
        helper.getNode('h1').on('input', failing(got, 1, Infinity));
        helper.getNode('h2').on('input', (msg: Msg) => { failed.push(msg); });
        await waitFor('one failed record on output 2', () => failed.length >= 1);
        assert.deepEqual(failed[0].payload, { n: 1 });
        assert.equal(failed[0].attempts, 3);
        assert.equal(failed[0].error?.message, 'boom 3');
        assert.equal(failed[0].kinesis.sequenceNumber, got.find((m) => nOf(m) === 1)!.kinesis.sequenceNumber);
        const last = got.find((m) => nOf(m) === 2)!;
        const table = new LeaseTable(rawDynamo(), stream);
        await waitFor('checkpoint past the failed record', async () => (await table.list())[0].checkpoint === last.kinesis.sequenceNumber);
        await sleep(300);
        assert.equal(failed.length, 1, 'once');
    });

    it('failure output: a record that fails once is retried and never reaches output 2', async () => {
        const stream = uniqueName('pol-out-ok');
        await createStream(stream);
        await put(stream, [{ n: 0 }, { n: 1 }]);
        await helper.load([configNode, inNode], policyFlow(stream, { failureAction: 'output', outputs: 2 }, [['h1'], ['h2']]));
        const got: Msg[] = [];
        const failed: Msg[] = [];
        helper.getNode('h1').on('input', failing(got, 1, 1));
        helper.getNode('h2').on('input', (msg: Msg) => { failed.push(msg); });
        const table = new LeaseTable(rawDynamo(), stream);
        await waitFor('record 1 twice', () => got.filter((m) => nOf(m) === 1).length >= 2);
        const one = got.find((m) => nOf(m) === 1)!;
        await waitFor('checkpoint at record 1', async () => (await table.list())[0].checkpoint === one.kinesis.sequenceNumber);
        assert.equal(failed.length, 0);
    });

    it('dead-letter stream: a record that always fails is written there (read back) before the checkpoint moves on', async () => {
        const stream = uniqueName('pol-dlq');
        const dlq = `${stream}-dlq`;
        await createStream(stream);
        await createStream(dlq);
        await put(stream, [{ n: 0 }, { n: 1 }, { n: 2 }], 'key-a');
        await helper.load([configNode, inNode], policyFlow(stream, { failureAction: 'deadLetter', deadLetterStream: dlq, retries: 1 }));
        const got: Msg[] = [];
        helper.getNode('h1').on('input', failing(got, 1, Infinity));
        const last = (await waitFor('record 2', () => got.find((m) => nOf(m) === 2)))!;
        const table = new LeaseTable(rawDynamo(), stream);
        await waitFor('checkpoint past the failed record', async () => (await table.list())[0].checkpoint === last.kinesis.sequenceNumber);
        const written = (await waitFor('the dead-letter record', async () => {
            const r = await readAll(dlq);
            return r.length ? r : undefined;
        }))!;
        assert.equal(written.length, 1);
        assert.equal(written[0].partitionKey, 'key-a', 'the record\'s own partition key');
        const doc = JSON.parse(written[0].data.toString('utf8'));
        assert.equal(doc.attempts, 2);
        assert.equal(doc.error.message, 'boom 2');
        assert.equal(doc.source.streamName, stream);
        assert.equal(doc.source.sequenceNumber, got.find((m) => nOf(m) === 1)!.kinesis.sequenceNumber);
        assert.deepEqual(JSON.parse(Buffer.from(doc.data, 'base64').toString('utf8')), { n: 1 });
    });

    it('dead-letter stream: a record that fails twice and then succeeds is not dead-lettered', async () => {
        const stream = uniqueName('pol-dlq-ok');
        const dlq = `${stream}-dlq`;
        await createStream(stream);
        await createStream(dlq);
        await put(stream, [{ n: 0 }, { n: 1 }]);
        await helper.load([configNode, inNode], policyFlow(stream, { failureAction: 'deadLetter', deadLetterStream: dlq }));
        const got: Msg[] = [];
        helper.getNode('h1').on('input', failing(got, 1, 2));
        await waitFor('record 1 three times', () => got.filter((m) => nOf(m) === 1).length >= 3);
        const one = got.find((m) => nOf(m) === 1)!;
        const table = new LeaseTable(rawDynamo(), stream);
        await waitFor('checkpoint at record 1', async () => (await table.list())[0].checkpoint === one.kinesis.sequenceNumber);
        assert.equal((await readAll(dlq)).length, 0);
    });

    it('dead-letter stream: a failed dead-letter write holds the shard', async () => {
        const stream = uniqueName('pol-dlq-bad');
        await createStream(stream);
        await put(stream, [{ n: 0 }, { n: 1 }, { n: 2 }]);
        await helper.load([configNode, inNode], policyFlow(stream, { failureAction: 'deadLetter', deadLetterStream: `${stream}-missing`, retries: 0, ordered: true }));
        const n = helper.getNode('in1');
        const errors: string[] = [];
        n.on('call:error', (call: { args: unknown[] }) => errors.push(String(call.args[0])));
        const got: Msg[] = [];
        helper.getNode('h1').on('input', failing(got, 1, Infinity));
        await waitFor('held', () => errors.length > 0, 30_000);
        const first = got.find((m) => nOf(m) === 0)!;
        const table = new LeaseTable(rawDynamo(), stream);
        await waitFor('checkpoint at the record before', async () => (await table.list())[0].checkpoint === first.kinesis.sequenceNumber);
        await sleep(500);
        assert.ok(!got.some((m) => nOf(m) === 2), 'nothing after the held record');
        assert.equal((await table.list())[0].checkpoint, first.kinesis.sequenceNumber);
    });

    it('batch mode: the policy applies per batch (fails once, re-sent whole, then checkpointed)', async () => {
        const stream = uniqueName('pol-batch');
        await createStream(stream);
        await put(stream, [{ n: 0 }, { n: 1 }, { n: 2 }]);
        await helper.load([configNode, inNode], policyFlow(stream, { outputMode: 'batch' }));
        const got: Msg[] = [];
        let failures = 0;
        helper.getNode('h1').on('input', (msg: Msg, _s: unknown, done: Done) => {
            got.push(msg);
            done(failures++ === 0 ? new Error('batch failed') : undefined);
        });
        await waitFor('the batch twice', () => got.length >= 2);
        assert.deepEqual(got[1].payload, got[0].payload, 'the same records');
        assert.equal(got[1].kinesis.attempt, 2);
        const recs = got[1].kinesis.records!;
        const table = new LeaseTable(rawDynamo(), stream);
        await waitFor('checkpoint at the batch end', async () => (await table.list())[0].checkpoint === recs[recs.length - 1].sequenceNumber);
    });

    it('batch mode: a batch that always fails goes to the failure output whole', async () => {
        const stream = uniqueName('pol-batch-out');
        await createStream(stream);
        await put(stream, [{ n: 0 }, { n: 1 }]);
        await helper.load([configNode, inNode], policyFlow(stream, { outputMode: 'batch', failureAction: 'output', retries: 1, outputs: 2 }, [['h1'], ['h2']]));
        const failed: Msg[] = [];
        helper.getNode('h1').on('input', (_m: Msg, _s: unknown, done: Done) => done(new Error('no')));
        helper.getNode('h2').on('input', (msg: Msg) => { failed.push(msg); });
        const f = (await waitFor('the batch on output 2', () => failed[0]))!;
        assert.deepEqual(f.payload, [{ n: 0 }, { n: 1 }]);
        assert.equal(f.attempts, 2);
        const recs = f.kinesis.records!;
        const table = new LeaseTable(rawDynamo(), stream);
        await waitFor('checkpoint past the batch', async () => (await table.list())[0].checkpoint === recs[recs.length - 1].sequenceNumber);
    });

    it('failOnCatch: an http request node\'s connection error (reported to Catch) fails the record; without it the record counts as done', async function () {
        const httpNode = coreNode('network/21-httprequest.js');
        const catchNode = coreNode('common/25-catch.js');
        // a loopback port with nobody listening: connection refused
        const srv = http.createServer();
        await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
        const port = (srv.address() as AddressInfo).port;
        await new Promise<void>((r) => srv.close(() => r()));
        for (const failOnCatch of [true, false]) {
            const stream = uniqueName(failOnCatch ? 'pol-catch' : 'pol-nocatch');
            await createStream(stream);
            await put(stream, [{ n: 0 }]);
            const nodes: Array<Record<string, unknown>> = policyFlow(stream, { failOnCatch, failureAction: 'output', retries: 1, outputs: 2 }, [['hr'], ['h2']])
                .map((x) => (x.type === 'kinesis-config' ? x : { ...x, z: 'f1' }));
            nodes.push(
                { id: 'f1', type: 'tab', label: 'http' },
                { id: 'hr', type: 'http request', z: 'f1', method: 'POST', ret: 'txt', paytoqs: 'ignore', url: `http://127.0.0.1:${port}/x`, tls: '', persist: false, proxy: '', insecureHTTPParser: false, authType: '', senderr: false, headers: [], x: 100, y: 100, wires: [['h1']] },
                { id: 'ct', type: 'catch', z: 'f1', scope: null, uncaught: false, x: 100, y: 200, wires: [['h3']] },
            );
            await helper.load([configNode, inNode, httpNode, catchNode], nodes);
            const answers: Msg[] = [];
            const failed: Msg[] = [];
            const caught: Msg[] = [];
            helper.getNode('h1').on('input', (m: Msg) => { answers.push(m); });
            helper.getNode('h2').on('input', (m: Msg) => { failed.push(m); });
            helper.getNode('h3').on('input', (m: Msg) => { caught.push(m); });
            const table = new LeaseTable(rawDynamo(), stream);
            if (failOnCatch) {
                const f = (await waitFor('the record on the failure output', () => failed[0]))!;
                assert.equal(f.attempts, 2, 'sent twice through the http request node');
                assert.match(f.error?.message ?? '', /ECONNREFUSED|connect/i);
                assert.equal(caught.length, 2);
            } else {
                await waitFor('caught once', () => caught.length >= 1 && answers.length >= 1);
                await waitFor('checkpointed as done', async () => isSeq((await table.list())[0].checkpoint));
                assert.equal(failed.length, 0);
            }
            await helper.unload();
        }
    });

    it('an HTTP 500 answer fails the record through a switch on msg.statusCode and a function node that throws (not through the http request node\'s senderr option)', async function () {
        let calls = 0;
        const srv = http.createServer((_req, res) => {
            calls++;
            res.statusCode = calls <= 2 ? 500 : 200;
            res.end(calls <= 2 ? 'down' : 'ok');
        });
        await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
        try {
            const port = (srv.address() as AddressInfo).port;
            const stream = uniqueName('pol-500');
            await createStream(stream);
            await put(stream, [{ n: 0 }]);
            const nodes: Array<Record<string, unknown>> = policyFlow(stream, { retries: 3 }, [['hr']]).map((x) => (x.type === 'kinesis-config' ? x : { ...x, z: 'f1' }));
            nodes.push(
                { id: 'f1', type: 'tab', label: 'http' },
                { id: 'hr', type: 'http request', z: 'f1', method: 'POST', ret: 'txt', paytoqs: 'ignore', url: `http://127.0.0.1:${port}/x`, tls: '', persist: false, proxy: '', insecureHTTPParser: false, authType: '', senderr: true, headers: [], x: 100, y: 100, wires: [['sw']] },
                { id: 'ct', type: 'catch', z: 'f1', scope: null, uncaught: false, x: 100, y: 200, wires: [['h3']] },
                { id: 'sw', type: 'switch', z: 'f1', property: 'statusCode', propertyType: 'msg', rules: [{ t: 'gte', v: '400', vt: 'num' }, { t: 'else' }], checkall: 'false', repair: false, outputs: 2, x: 200, y: 100, wires: [['fail'], ['h1']] },
                { id: 'fail', type: 'function', z: 'f1', name: 'fail', func: 'throw new Error("HTTP " + msg.statusCode);', outputs: 1, libs: [], x: 300, y: 100, wires: [[]] },
            );
            await helper.load([configNode, inNode, coreNode('network/21-httprequest.js'), coreNode('function/10-switch.js'), coreNode('function/10-function.js'), coreNode('common/25-catch.js')], nodes);
            const ok: Msg[] = [];
            const caught: Msg[] = [];
            helper.getNode('h1').on('input', (m: Msg) => { ok.push(m); });
            helper.getNode('h3').on('input', (m: Msg) => { caught.push(m); });
            const m = (await waitFor('the answer after two 500s', () => ok[0]))!;
            assert.equal((m as unknown as { statusCode: number }).statusCode, 200);
            assert.equal(m.kinesis.attempt, 3);
            assert.equal(calls, 3);
            // "Only send non-2xx responses to Catch node" (senderr) does not make a 500 an error: only the function node's throws reach Catch
            await waitFor('two throws caught', () => caught.length >= 2);
            assert.deepEqual(caught.map((c) => c.error?.source?.type), ['function', 'function']);
            const table = new LeaseTable(rawDynamo(), stream);
            await waitFor('checkpointed', async () => (await table.list())[0].checkpoint === m.kinesis.sequenceNumber);
        } finally {
            srv.close();
        }
    });

    it('metrics output: every interval a message on output 3 with per-shard lag, rate, in-flight, checkpoints, throttles, errors', async () => {
        const stream = uniqueName('pol-metrics');
        await createStream(stream, 2);
        await put(stream, [{ n: 0 }, { n: 1 }, { n: 2 }]);
        await helper.load([configNode, inNode], policyFlow(stream, { metricsIntervalMs: 1000, outputs: 3 }, [['h1'], [], ['h3']]));
        const got: Msg[] = [];
        helper.getNode('h1').on('input', (m: Msg, _s: unknown, done: Done) => { got.push(m); done(); });
        const reports: Array<{ topic: string; payload: { streamName: string; intervalMs: number; shards: Array<Record<string, unknown>>; totals: Record<string, number> } }> = [];
        helper.getNode('h3').on('input', (m: (typeof reports)[number]) => { reports.push(m); });
        await waitFor('3 records', () => got.length >= 3);
        await waitFor('a report that counted the checkpoints', () => reports.reduce((n, r) => n + r.payload.totals.checkpoints, 0) >= 1 && reports.some((r) => r.payload.shards.length === 2), 20_000);
        const r = reports[reports.length - 1];
        assert.equal(r.topic, 'kinesis-in/metrics');
        assert.equal(r.payload.streamName, stream);
        assert.ok(r.payload.intervalMs > 0);
        for (const s of r.payload.shards) {
            for (const k of ['shardId', 'lagMs', 'recordsPerS', 'inFlight', 'checkpoints', 'throttles', 'errors', 'held']) assert.ok(k in s, k);
        }
        assert.equal(reports.reduce((n, x) => n + x.payload.shards.reduce((a, s) => a + (s.recordsPerS as number) * x.payload.intervalMs / 1000, 0), 0) >= 2.5, true, 'the rates add up to the records');
        assert.ok(!got.some((m) => m.topic === 'kinesis-in/metrics'), 'metrics never on output 1');
    });

    it('an idle kinesis-in leaves no message hooks registered (no cost for other flows)', async () => {
        // eslint-disable-next-line @typescript-eslint/no-var-requires
        const red = process.env.NODE_RED_PATH ? require.resolve(process.env.NODE_RED_PATH) : require.resolve('node-red');
        // eslint-disable-next-line @typescript-eslint/no-var-requires
        const hooks = require(require.resolve('@node-red/util', { paths: [red] })).hooks as { has(id: string): boolean };
        const stream = uniqueName('pol-hooks');
        await createStream(stream);
        await helper.load([configNode, inNode], policyFlow(stream));
        const got: Msg[] = [];
        helper.getNode('h1').on('input', (m: Msg, _s: unknown, done: Done) => { got.push(m); done(); });
        await sleep(300);
        assert.equal(hooks.has('preDeliver'), false, 'none while nothing was sent');
        await put(stream, [{ n: 0 }]);
        await waitFor('the record', () => got.length >= 1);
        await waitFor('hooks removed once idle', () => !hooks.has('preDeliver') && !hooks.has('onComplete') && !hooks.has('onReceive'));
    });

    it('a node without done (pre-1.0 style) finishes a record when its handler returns (postReceive, hooked only for it)', async () => {
        // eslint-disable-next-line @typescript-eslint/no-var-requires
        const red = process.env.NODE_RED_PATH ? require.resolve(process.env.NODE_RED_PATH) : require.resolve('node-red');
        // eslint-disable-next-line @typescript-eslint/no-var-requires
        const hooks = require(require.resolve('@node-red/util', { paths: [red] })).hooks as { has(id: string): boolean };
        const stream = uniqueName('pol-nodone');
        await createStream(stream);
        await put(stream, [{ n: 0 }, { n: 1 }, { n: 2 }]);
        await helper.load([configNode, inNode], policyFlow(stream));
        const got: Msg[] = [];
        // one parameter: Node-RED expects no done() from this node (its _expectedDoneCount stays 0)
        helper.getNode('h1').on('input', (m: Msg) => { got.push(m); });
        await waitFor('the records', () => got.length >= 3);
        assert.deepEqual(got.map(nOf), [0, 1, 2]);
        const table = new LeaseTable(rawDynamo(), stream);
        await waitFor('checkpoint at the last record', async () => (await table.list())[0].checkpoint === got[2].kinesis.sequenceNumber);
        await waitFor('hooks removed once idle', () => !hooks.has('preDeliver') && !hooks.has('onReceive') && !hooks.has('postReceive'));
    });
});
