/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * kinesis-convert and kinesis-in's batch output: a message with `msg.payload` an array and
 * `msg.kinesis.records` of the same length converts record by record and answers with one message;
 * failed records stay in the original message (cut down to them) and fail it. Real runner processes,
 * real Node-RED; the last test reads a real stream through kinesis-in (outputMode 'batch').
 */
import assert from 'node:assert/strict';
import { nodeRedHelper, nodeModule } from '../helpers/nodered';
import { createStream, flow, put, useNodeRed } from '../helpers/kinesis-in-flow';
import { uniqueName, waitFor } from '../helpers/stack';

const helper = nodeRedHelper();
const convertNode = nodeModule('kinesis-convert');
const configNode = nodeModule('kinesis-config');
const inNode = nodeModule('kinesis-in');

/** Resolves when `cond()` holds (polled), or rejects naming `what` after a generous limit. */
const until = (what: string, cond: () => boolean) => waitFor(what, cond, 60_000, 10);

/** Deploys kinesis-convert `c1` (uplink, SCRIPT, two outputs) with `props`; collects what reaches each output. */
async function loadTwoOutputs(props: Record<string, unknown> = {}): Promise<{ c1: any; ok: any[]; bad: any[] }> {
    await helper.load(convertNode, [
        { id: 'c1', type: 'kinesis-convert', direction: 'uplink', script: SCRIPT, outputs: 2, wires: [['ok'], ['bad']], ...props },
        { id: 'ok', type: 'helper' },
        { id: 'bad', type: 'helper' },
    ]);
    const ok: any[] = [];
    const bad: any[] = [];
    helper.getNode('ok').on('input', (m: any) => ok.push(m));
    helper.getNode('bad').on('input', (m: any) => bad.push(m));
    return { c1: helper.getNode('c1'), ok, bad };
}

/** Decoder: payload "i" → device "d<i>" with the record's metadata as telemetry (numeric strings are cast, as ThingsBoard does); i % 7 === 3 throws; i % 11 === 4 returns null (no result). */
const SCRIPT = `var s = String.fromCharCode.apply(null, payload);
var i = Number(s);
if (i % 7 === 3) throw new Error('bad record ' + i);
if (i % 11 === 4) return null;
return { deviceName: 'd' + i, telemetry: { v: i, pk: metadata.partitionKey, seq: metadata.sequenceNumber, shard: metadata.shardId, stream: metadata.streamName } };`;

/** A kinesis-in-shaped batch message of records `from`…`from+n-1`. */
function batch(from: number, n: number, extra: Record<string, unknown> = {}): any {
    const ids = Array.from({ length: n }, (_, k) => from + k);
    return {
        payload: ids.map((i) => Buffer.from(String(i))),
        topic: 'shardId-000000000007',
        kinesis: {
            streamName: 'orders',
            shardId: 'shardId-000000000007',
            millisBehindLatest: 0,
            records: ids.map((i) => ({ streamName: 'orders', shardId: 'shardId-000000000007', sequenceNumber: `49${i}`, subSequenceNumber: 0, partitionKey: `k${i}` })),
        },
        ...extra,
    };
}

const isBad = (i: number) => i % 7 === 3;
const isNull = (i: number) => !isBad(i) && i % 11 === 4;

describe('kinesis-convert node: record batches (kinesis-in batch output)', function () {
    this.timeout(120_000);
    useNodeRed(helper);

    it('a batch without failures: one message, every result in record order, per-record metadata, topic and kinesis kept', async function () {
        await helper.load(convertNode, [
            { id: 'c1', type: 'kinesis-convert', direction: 'uplink', script: SCRIPT.replace('i % 7 === 3', 'false'), outputs: 1, wires: [['ok']] },
            { id: 'ok', type: 'helper' },
        ]);
        const got: any[] = [];
        helper.getNode('ok').on('input', (m: any) => got.push(m));
        helper.getNode('c1').receive(batch(0, 300));
        helper.getNode('c1').receive(batch(300, 1)); // answered after the first (outputs keep the input order)
        await until('both batches answered', () => got.length >= 2);
        assert.equal(got.length, 2, 'one message per batch');
        assert.deepEqual(got[1].payload.map((e: any) => e.deviceName), ['d300']);
        const m = got[0];
        const want = Array.from({ length: 300 }, (_, i) => i).filter((i) => i % 11 !== 4);
        assert.deepEqual(m.payload.map((e: any) => e.deviceName), want.map((i) => `d${i}`));
        const e17 = m.payload.find((e: any) => e.deviceName === 'd17');
        assert.deepEqual(e17.telemetry[0].values, { v: 17, pk: 'k17', seq: 4917, shard: 'shardId-000000000007', stream: 'orders' });
        assert.equal(m.topic, 'shardId-000000000007');
        assert.equal(m.kinesis.records.length, 300, 'msg.kinesis kept');
    });

    it('failed records (outputs 2): the converted ones on output 1, the failed ones cut down on output 2 with their indexes', async function () {
        const { c1, ok, bad } = await loadTwoOutputs();
        c1.receive(batch(0, 100));
        c1.receive(batch(100, 100));
        await until('both batches answered', () => ok.length >= 2 && bad.length >= 2);
        const all = Array.from({ length: 200 }, (_, i) => i);
        assert.deepEqual(ok.flatMap((m) => m.payload.map((e: any) => e.deviceName)), all.filter((i) => !isBad(i) && !isNull(i)).map((i) => `d${i}`), 'converted results, batches in input order');
        assert.deepEqual(bad.flatMap((m) => m.payload.map((b: Buffer) => Number(String(b)))), all.filter(isBad), 'only the failed records, in order');
        for (const [k, m] of bad.entries()) {
            const failedIds = m.payload.map((b: Buffer) => Number(String(b)));
            assert.deepEqual(m.kinesis.records.map((r: any) => r.partitionKey), failedIds.map((i: number) => `k${i}`), 'kinesis.records cut down to the failed records');
            assert.deepEqual(m.errors.map((e: any) => e.index), failedIds.map((i: number) => i - 100 * k), 'indexes in the original batch');
            assert.ok(m.errors.every((e: any) => e.kind === 'script' && /bad record/.test(e.message)));
            assert.equal(m.error.kind, 'script');
            assert.match(m.error.message, new RegExp(`^${failedIds.length} of 100 records failed; record ${failedIds[0] - 100 * k}: `));
            assert.equal(m.error.source.id, 'c1');
        }
        assert.notEqual(ok[0], bad[0], 'two different messages');
        assert.equal(ok[0].kinesis.records.length, 100, 'the converted message keeps the batch\'s metadata');
    });

    it('failed records (one output): the converted ones are sent, the batch of failed records reaches Catch through done(err)', async function () {
        await helper.load(convertNode, [
            { id: 'c1', type: 'kinesis-convert', direction: 'uplink', script: SCRIPT, outputs: 1, wires: [['ok']] },
            { id: 'ok', type: 'helper' },
        ]);
        const c1: any = helper.getNode('c1');
        const ok: any[] = [];
        const errors: Array<{ err: any; msg: any }> = [];
        helper.getNode('ok').on('input', (m: any) => ok.push(m));
        c1.on('call:error', (call: any) => { if (call.args[1]) errors.push({ err: call.args[0], msg: call.args[1] }); });
        c1.receive(batch(0, 50));
        await until('the batch answered', () => ok.length >= 1 && errors.length >= 1);
        const all = Array.from({ length: 50 }, (_, i) => i);
        assert.deepEqual(ok[0].payload.map((e: any) => e.deviceName), all.filter((i) => !isBad(i) && !isNull(i)).map((i) => `d${i}`));
        assert.equal(errors.length, 1, 'one failure for the batch');
        assert.equal(errors[0].err.kind, 'script');
        assert.deepEqual(errors[0].msg.payload.map((b: Buffer) => Number(String(b))), all.filter(isBad));
        assert.deepEqual(errors[0].msg.errors.map((e: any) => e.index), all.filter(isBad));
    });

    it('a batch whose records do not match its payloads fails with kind input; a batch too big for the queue fails whole; the node goes on', async function () {
        const { c1, ok, bad } = await loadTwoOutputs({ maxQueue: 40 });
        const broken = batch(0, 5);
        broken.kinesis.records.pop();
        c1.receive(broken);
        c1.receive({ payload: 'x', kinesis: { records: 'nope' } });
        c1.receive(batch(0, 41)); // more records than maxQueue: none is taken
        c1.receive(batch(1000, 10));
        await until('every message answered', () => bad.length >= 4 && ok.length >= 1);
        assert.equal(bad[0].error.kind, 'input');
        assert.match(bad[0].error.message, /4 entries but msg.payload is an array of 5/);
        assert.equal(bad[1].error.kind, 'input');
        assert.equal(bad[2].error.kind, 'sandbox');
        assert.equal(bad[2].payload.length, 41, 'the whole batch, untouched');
        const last = Array.from({ length: 10 }, (_, k) => 1000 + k);
        assert.deepEqual(ok[0].payload.map((e: any) => e.deviceName), last.filter((i) => !isBad(i) && !isNull(i)).map((i) => `d${i}`), 'the node goes on');
        assert.deepEqual(bad[3].payload.map((b: Buffer) => Number(String(b))), last.filter(isBad));
    });

    it('kinesis-in (one message per batch) → kinesis-convert: every record of a real stream converted, one message per batch', async function () {
        const stream = uniqueName('conv-batch');
        await createStream(stream, 1);
        const n = 120;
        await put(stream, Array.from({ length: n }, (_, i) => ({ devName: `dev${i}`, temperature: i })));
        const f = flow(stream, { outputMode: 'batch', payloadFormat: 'buffer' }, [['cv1']]);
        f.push({
            id: 'cv1', type: 'kinesis-convert', direction: 'uplink', outputs: 1, wires: [['h1']],
            script: 'var d = JSON.parse(String.fromCharCode.apply(null, payload)); return { deviceName: d.devName, telemetry: { temperature: d.temperature, seq: \'s\' + metadata.sequenceNumber } };',
        });
        await helper.load([configNode, inNode, convertNode], f);
        const got: any[] = [];
        helper.getNode('h1').on('input', (m: any) => got.push(m));
        await until('every record converted', () => got.reduce((s, m) => s + m.payload.length, 0) >= n);
        const entities = got.flatMap((m) => m.payload);
        assert.deepEqual(entities.map((e: any) => e.deviceName), Array.from({ length: n }, (_, i) => `dev${i}`));
        assert.ok(got.length < n, `fewer messages (${got.length}) than records`);
        for (const m of got) {
            assert.equal(m.payload.length, m.kinesis.records.length, 'one result per record of that batch');
            assert.deepEqual(m.payload.map((e: any) => e.telemetry[0].values.seq), m.kinesis.records.map((r: any) => `s${r.sequenceNumber}`));
        }
    });
});
