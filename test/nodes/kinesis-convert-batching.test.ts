/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * kinesis-convert's micro-batching: many messages in one batch keep their order, a failure or a hang
 * costs only its own message, the queue is bounded, and close / redeploy finish every accepted message
 * exactly once. Real runner processes; the conditions are waited for (no wall-clock assertions).
 */
import assert from 'node:assert/strict';
import { nodeRedHelper, nodeModule } from '../helpers/nodered';
import { waitFor } from '../helpers/stack';

const helper = nodeRedHelper();
const convertNode = nodeModule('kinesis-convert');

/** Resolves when `cond()` holds (polled), or rejects naming `what` after a generous limit. */
const until = (what: string, cond: () => boolean) => waitFor(what, cond, 60_000, 10);

/** Decoder: payload "i" → device "d<i>"; i % 97 === 5 throws, i % 101 === 7 returns no name, "loop" never ends. */
const SCRIPT = `var s = String.fromCharCode.apply(null, payload);
if (s === 'loop') { while (true) {} }
var i = Number(s);
if (i % 97 === 5) throw new Error('bad record ' + i);
if (i % 101 === 7) return { telemetry: { v: i } };
return { deviceName: 'd' + i, telemetry: { v: i } };`;

/** A decoder that takes ~2 ms per record, so that batches are still in flight when the test acts. */
const SLOW = `var t = Date.now(); while (Date.now() - t < 2) {}
return { deviceName: 'd' + String.fromCharCode.apply(null, payload) };`;

/** Deploys one kinesis-convert `c1` with outputs ok / bad (helper nodes); collects what reaches each. */
async function loadTwoOutputs(props: Record<string, unknown>): Promise<{ c1: any; ok: string[]; bad: any[] }> {
    await helper.load(convertNode, [
        { id: 'c1', type: 'kinesis-convert', direction: 'uplink', outputs: 2, wires: [['ok'], ['bad']], ...props },
        { id: 'ok', type: 'helper' },
        { id: 'bad', type: 'helper' },
    ]);
    const ok: string[] = [];
    const bad: any[] = [];
    helper.getNode('ok').on('input', (m: any) => ok.push(m.topic));
    helper.getNode('bad').on('input', (m: any) => bad.push(m));
    return { c1: helper.getNode('c1'), ok, bad };
}

describe('kinesis-convert node: micro-batching', function () {
    this.timeout(120_000);
    before((done) => { helper.startServer(done); });
    after((done) => { helper.stopServer(done); });
    afterEach(() => helper.unload());

    it('2000 messages at once: outputs in input order, each failed record fails only its own message (output 2)', async function () {
        const { c1, ok, bad } = await loadTwoOutputs({ script: SCRIPT });
        const N = 2000;
        for (let i = 0; i < N; i++) c1.receive({ payload: Buffer.from(String(i)) });
        await until('every message finished', () => ok.length + bad.length >= N);
        const isBad = (i: number) => i % 97 === 5 || i % 101 === 7;
        const wantOk = Array.from({ length: N }, (_, i) => i).filter((i) => !isBad(i));
        const wantBad = Array.from({ length: N }, (_, i) => i).filter(isBad);
        assert.deepEqual(ok, wantOk.map((i) => `d${i}`), 'converted messages in input order');
        assert.deepEqual(bad.map((m) => Number(String(m.payload))), wantBad, 'failed messages in input order, only those');
        for (const m of bad) assert.equal(m.error.kind, Number(String(m.payload)) % 97 === 5 ? 'script' : 'output');
    });

    it('with one output every failed record reaches Catch through done(err) with its own message', async function () {
        const flow = [
            { id: 'c1', type: 'kinesis-convert', direction: 'uplink', script: SCRIPT, outputs: 1, wires: [['ok']] },
            { id: 'ok', type: 'helper' },
        ];
        await helper.load(convertNode, flow);
        const c1: any = helper.getNode('c1');
        const ok: string[] = [];
        const errors: Array<{ i: number; message: string }> = [];
        helper.getNode('ok').on('input', (m: any) => ok.push(m.topic));
        // done(err) → node.error(err, msg): what Node-RED hands to Catch nodes
        c1.on('call:error', (call: any) => {
            if (call.args[1]) errors.push({ i: Number(String(call.args[1].payload)), message: String(call.args[0]?.message ?? call.args[0]) });
        });
        const N = 500;
        for (let i = 0; i < N; i++) c1.receive({ payload: Buffer.from(String(i)) });
        await until('every message finished', () => ok.length + errors.length >= N);
        const isBad = (i: number) => i % 97 === 5 || i % 101 === 7;
        assert.deepEqual(errors.map((e) => e.i), Array.from({ length: N }, (_, i) => i).filter(isBad));
        for (const e of errors) assert.match(e.message, e.i % 97 === 5 ? new RegExp(`bad record ${e.i}`) : /deviceName or assetName/);
        assert.equal(ok.length, N - errors.length);
    });

    it('a record that hangs in the middle of a batch: only it fails with timeout, the rest convert in order', async function () {
        const { c1, ok, bad } = await loadTwoOutputs({ script: SCRIPT, timeoutMs: 300 });
        const inputs = Array.from({ length: 300 }, (_, i) => (i === 150 ? 'loop' : String(1000 + i))).filter((s) => !(Number(s) % 97 === 5 || Number(s) % 101 === 7));
        for (const s of inputs) c1.receive({ payload: Buffer.from(s) });
        await until('every message finished', () => ok.length + bad.length >= inputs.length);
        assert.equal(bad.length, 1);
        assert.equal(String(bad[0].payload), 'loop');
        assert.equal(bad[0].error.kind, 'timeout');
        assert.deepEqual(ok, inputs.filter((s) => s !== 'loop').map((s) => `d${s}`));
    });

    it('bounded: beyond maxQueue unfinished messages a message fails at once (never dropped), the others convert', async function () {
        const { c1, ok, bad } = await loadTwoOutputs({ script: SLOW, maxQueue: 50 });
        for (let i = 0; i < 200; i++) c1.receive({ payload: Buffer.from(String(i)) });
        await until('every message finished', () => ok.length + bad.length >= 200);
        assert.deepEqual(ok, Array.from({ length: 50 }, (_, i) => `d${i}`), 'the first 50 were accepted and converted');
        assert.deepEqual(bad.map((m) => String(m.payload)), Array.from({ length: 150 }, (_, i) => String(50 + i)));
        for (const m of bad) {
            assert.equal(m.error.kind, 'sandbox');
            assert.match(m.error.message, /Too many messages waiting|queueFull/); // the helper loads no message catalog
        }
        // once the queue drained, messages are accepted again
        c1.receive({ payload: Buffer.from('x') });
        await until('the next message converts', () => ok.length === 51);
        assert.equal(ok[50], 'dx');
    });

    it('redeploy while batches are in flight: every message sent before converts exactly once, none lost', async function () {
        const flow = [
            { id: 'f', type: 'tab', label: 't' },
            { id: 'c1', z: 'f', type: 'kinesis-convert', direction: 'uplink', script: SLOW, outputs: 1, wires: [['ok']] },
            { id: 'ok', z: 'f', type: 'helper' },
        ];
        await helper.load(convertNode, flow);
        const old: any = helper.getNode('c1');
        const got = new Map<string, number>();
        const sink = helper.getNode('ok');
        sink.on('input', (m: any) => got.set(m.topic, (got.get(m.topic) ?? 0) + 1));
        let errors = 0;
        old.on('call:error', () => { errors++; });
        old.receive({ payload: Buffer.from('warm') }); // the runner is up: batches are sized to the script's cost
        await until('the runner is up', () => got.has('dwarm'));
        got.clear();
        const N = 400;
        for (let i = 0; i < N; i++) old.receive({ payload: Buffer.from(String(i)) });
        await until('the first outputs', () => got.size > 0);
        assert.ok(got.size < N, `batches were still in flight when the redeploy started (${got.size} of ${N} out)`);
        // only the changed node restarts: the helper node that collects stays deployed
        const changed = flow.map((n) => (n.id === 'c1' ? { ...n, script: SLOW.replace("'d'", "'e'") } : n));
        await (helper as any)._redNodes.setFlows(changed, {}, 'nodes');
        await until('the new node runs', () => helper.getNode('c1') && helper.getNode('c1') !== old);
        await until('every message of the old node delivered', () => got.size >= N);
        helper.getNode('c1').receive({ payload: Buffer.from('1') });
        await until('the new node converts', () => got.has('e1'));
        assert.equal(errors, 0, 'no message failed');
        assert.equal(got.size, N + 1);
        for (let i = 0; i < N; i++) assert.equal(got.get(`d${i}`), 1, `d${i} exactly once`);
    });
});
