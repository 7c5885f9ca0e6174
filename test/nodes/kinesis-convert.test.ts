/* eslint-disable @typescript-eslint/no-explicit-any */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { nodeRedHelper, nodeModule, collect } from '../helpers/nodered';

const helper = nodeRedHelper();
const convertNode = nodeModule('kinesis-convert');
const FIXTURES = path.resolve(__dirname, '../../../test/fixtures/thingsboard');
const fixture = (name: string) => JSON.parse(fs.readFileSync(path.join(FIXTURES, name), 'utf8'));
const SAMPLE = '{"devName":"kitchen_thermostat","devType":"thermostat","temperature":22}';
const uplinkScript = fixture('aws_kinesis_javascript_uplink_converter.json').configuration.decoder as string;
const downlinkScript = fixture('aws_kinesis_javascript_downlink_converter.json').configuration.encoder as string;

/** The next node.error(...) call whose first argument matches `re` (done(err) ends up there). */
function nextError(node: any, re: RegExp): Promise<any> {
    return new Promise((resolve) => node.on('call:error', (call: any) => {
        if (re.test(String(call.args[0]?.message ?? call.args[0]))) resolve(call);
    }));
}

describe('kinesis-convert node', function () {
    before((done) => { helper.startServer(done); });
    after((done) => { helper.stopServer(done); });
    afterEach(() => helper.unload());

    it("uplink: the tutorial decoder turns a Kinesis record into a device message and registers the device", async function () {
        const flow = [
            { id: 'f1', type: 'tab', label: 'converters' },
            { id: 'c1', z: 'f1', type: 'kinesis-convert', name: 'up', direction: 'uplink', scriptLang: 'JS', script: uplinkScript, metadata: [{ key: 'site', value: 'lab' }], registry: 'flow', allowCreate: true, timeoutMs: 500, outputs: 1, wires: [['h1']] },
            { id: 'h1', z: 'f1', type: 'helper' },
        ];
        await helper.load(convertNode, flow);
        const c1 = helper.getNode('c1');
        const out = collect(helper.getNode('h1'), 1);
        c1.receive({ payload: Buffer.from(SAMPLE), kinesis: { streamName: 'my-thingsboard', shardId: 'shardId-000000000000', sequenceNumber: '4960', partitionKey: '1' } });
        const [msg] = await out;
        assert.equal(msg.topic, 'kitchen_thermostat');
        assert.equal(msg.payload.deviceName, 'kitchen_thermostat');
        assert.equal(msg.payload.deviceType, 'thermostat');
        assert.deepEqual(msg.payload.telemetry.map((t: any) => t.values), [{ temperature: 22 }]);
        assert.equal(typeof msg.payload.telemetry[0].ts, 'number');
        assert.equal(msg.kinesis.sequenceNumber, '4960'); // the rest of the message is kept
        const devices = c1.context().flow.get('devices');
        assert.equal(devices.kitchen_thermostat.type, 'thermostat');
        assert.equal(devices.kitchen_thermostat.entityType, 'DEVICE');
        assert.equal(devices.kitchen_thermostat.telemetry.temperature.value, 22);
        assert.equal(typeof devices.kitchen_thermostat.createdTime, 'number');
    });

    it('uplink: an array result gives one message per entity, in order, for many messages at once', async function () {
        const script = 'var d = decodeToJson(payload); return [{deviceName: d.a, telemetry: {v: d.v}}, {assetName: "site", assetType: "building"}];';
        const flow = [
            { id: 'c1', type: 'kinesis-convert', direction: 'uplink', script, registry: 'none', outputs: 1, wires: [['h1']] },
            { id: 'h1', type: 'helper' },
        ];
        await helper.load(convertNode, flow);
        const c1 = helper.getNode('c1');
        const out = collect(helper.getNode('h1'), 200);
        for (let i = 0; i < 100; i++) c1.receive({ payload: JSON.stringify({ a: `d${i}`, v: i }) });
        const msgs = await out;
        for (let i = 0; i < 100; i++) {
            assert.equal(msgs[2 * i].topic, `d${i}`);
            assert.equal(msgs[2 * i].payload.telemetry[0].values.v, i);
            assert.equal(msgs[2 * i + 1].topic, 'site');
            assert.equal(msgs[2 * i + 1].payload.assetType, 'building');
        }
    });

    it('downlink: the tutorial encoder gives the record kinesis-out takes', async function () {
        const flow = [
            { id: 'c1', type: 'kinesis-convert', direction: 'downlink', scriptLang: 'JS', script: downlinkScript, outputs: 1, wires: [['h1']] },
            { id: 'h1', type: 'helper' },
        ];
        await helper.load(convertNode, flow);
        const out = collect(helper.getNode('h1'), 1);
        helper.getNode('c1').receive({ payload: { version: 'v.0.11' }, metadata: { deviceName: 'kitchen_thermostat', scope: 'SHARED_SCOPE' }, msgType: 'ATTRIBUTES_UPDATED' });
        const [msg] = await out;
        assert.deepEqual(msg.payload, { contentType: 'JSON', data: '{"devName":"kitchen_thermostat","version":"v.0.11"}', metadata: { streamName: 'tb-test-downlink', partitionKey: '123' } });
    });

    it('a script error fails that message with done(err) carrying the line; the next message still converts', async function () {
        const script = 'var d = decodeToJson(payload);\nif (d.bad) {\n  d.missing.field = 1;\n}\nreturn {deviceName: d.name};';
        const flow = [
            { id: 'c1', type: 'kinesis-convert', direction: 'uplink', script, outputs: 1, wires: [['h1']] },
            { id: 'h1', type: 'helper' },
        ];
        await helper.load(convertNode, flow);
        const c1 = helper.getNode('c1');
        const err = nextError(c1, /Decoder failed/);
        const out = collect(helper.getNode('h1'), 1);
        c1.receive({ payload: '{"bad":true,"name":"x"}' });
        c1.receive({ payload: '{"name":"good"}' });
        const call = await err;
        const e = call.args[0];
        assert.match(String(e.message ?? e), /Decoder failed at line 3, column \d+: TypeError/);
        assert.match(String(e.message ?? e), /input: \{"bad":true,"name":"x"\}/);
        assert.equal((await out)[0].topic, 'good');
    });

    it('failure output: invalid results and unknown devices go to output 2 with msg.error', async function () {
        const script = 'var d = decodeToJson(payload); return d.noName ? {telemetry: {t: 1}} : {deviceName: d.name};';
        const flow = [
            { id: 'c1', type: 'kinesis-convert', direction: 'uplink', script, registry: 'global', allowCreate: false, outputs: 2, wires: [['ok'], ['bad']] },
            { id: 'ok', type: 'helper' },
            { id: 'bad', type: 'helper' },
        ];
        await helper.load(convertNode, flow);
        const c1 = helper.getNode('c1');
        c1.context().global.set('devices', { known: { name: 'known', type: 'default', entityType: 'DEVICE', createdTime: 1, lastActivityTime: 1, attributes: {}, telemetry: {} } });
        const good = collect(helper.getNode('ok'), 1);
        const bad = collect(helper.getNode('bad'), 2);
        c1.receive({ payload: '{"noName":true}' });
        c1.receive({ payload: '{"name":"stranger"}' });
        c1.receive({ payload: '{"name":"known"}' });
        const [f1, f2] = await bad;
        assert.equal(f1.error.kind, 'output');
        assert.match(f1.error.message, /must contain deviceName or assetName/);
        assert.equal(f2.error.kind, 'registry');
        assert.match(f2.error.message, /device "stranger" is not in the registry/);
        assert.equal((await good)[0].topic, 'known');
        assert.equal(c1.context().global.get('devices').stranger, undefined);
    });

    it('an endless loop times out for that message only', async function () {
        const script = 'var d = decodeToJson(payload); while (d.loop) {} return {deviceName: d.name};';
        const flow = [
            { id: 'c1', type: 'kinesis-convert', direction: 'uplink', script, timeoutMs: 100, outputs: 2, wires: [['ok'], ['bad']] },
            { id: 'ok', type: 'helper' },
            { id: 'bad', type: 'helper' },
        ];
        await helper.load(convertNode, flow);
        const c1 = helper.getNode('c1');
        const good = collect(helper.getNode('ok'), 2);
        const bad = collect(helper.getNode('bad'), 1);
        c1.receive({ payload: '{"name":"a"}' });
        c1.receive({ payload: '{"loop":true}' });
        c1.receive({ payload: '{"name":"b"}' });
        assert.equal((await bad)[0].error.kind, 'timeout');
        assert.deepEqual((await good).map((m) => m.topic), ['a', 'b']);
    });

    it('a script that keeps failing: red status and a rate-limited warning, every message still reaches done(err)', async function () {
        const flow = [{ id: 'c1', type: 'kinesis-convert', direction: 'uplink', script: 'throw new Error("broken decoder");', outputs: 1, wires: [[]] }];
        await helper.load(convertNode, flow);
        const c1: any = helper.getNode('c1');
        let errors = 0;
        let warnings = 0;
        const statuses: any[] = [];
        c1.on('call:error', () => { errors++; });
        c1.on('call:warn', () => { warnings++; });
        c1.on('call:status', (call: any) => statuses.push(call.args[0]));
        for (let i = 0; i < 25; i++) c1.receive({ payload: `m${i}` });
        await new Promise<void>((resolve) => { const t = setInterval(() => { if (errors >= 25) { clearInterval(t); resolve(); } }, 10); });
        assert.equal(errors, 25);
        assert.equal(warnings, 1); // once per 30 s, not once per message
        assert.equal(statuses[statuses.length - 1].fill, 'red');
    });

    it('a runner killed for a call the timeout cannot stop or for memory: that message fails, the others convert, one warning', async function () {
        const script = `if (payload[0] === 33) { new Float64Array(1e8).sort(); }
if (payload[0] === 64) { var keep = []; for (;;) keep.push(new Float64Array(1e6)); }
return { deviceName: 'd' + String.fromCharCode.apply(null, payload) };`;
        const flow = [{ id: 'c1', type: 'kinesis-convert', direction: 'uplink', script, timeoutMs: 400, memoryLimitMb: 64, outputs: 2, wires: [['h1'], ['h2']] }, { id: 'h1', type: 'helper' }, { id: 'h2', type: 'helper' }];
        await helper.load(convertNode, flow);
        const c1: any = helper.getNode('c1');
        const h1: any = helper.getNode('h1');
        const h2: any = helper.getNode('h2');
        let warnings = 0;
        c1.on('call:warn', () => { warnings++; });
        const ok: string[] = [];
        const failed: Array<{ kind: string; payload: string }> = [];
        h1.on('input', (m: any) => ok.push(m.payload.deviceName));
        h2.on('input', (m: any) => failed.push({ kind: m.error.kind, payload: m.payload }));
        for (const p of ['a', '!', 'b', '@', 'c']) c1.receive({ payload: p });
        await new Promise<void>((resolve) => { const t = setInterval(() => { if (ok.length + failed.length >= 5) { clearInterval(t); resolve(); } }, 20); });
        assert.deepEqual(ok.sort(), ['da', 'db', 'dc']);
        assert.deepEqual(failed.map((f) => f.payload).sort(), ['!', '@']);
        for (const f of failed) assert.ok(['timeout', 'memory'].includes(f.kind), f.kind);
        assert.equal(warnings, 1, 'runner restarts are reported at most once per 30 s');
        c1.receive({ payload: 'e' });
        await new Promise<void>((resolve) => { const t = setInterval(() => { if (ok.length === 4) { clearInterval(t); resolve(); } }, 20); });
        assert.equal(ok[3], 'de');
    });

    it('a script that does not compile: red status, every message fails with the line', async function () {
        const flow = [{ id: 'c1', type: 'kinesis-convert', direction: 'uplink', script: 'var a = ;', outputs: 1, wires: [[]] }];
        await helper.load(convertNode, flow);
        const c1 = helper.getNode('c1');
        const err = nextError(c1, /does not compile/);
        c1.receive({ payload: 'x' });
        const call = await err;
        assert.match(String(call.args[0].message ?? call.args[0]), /does not compile at line 1/);
    });

    describe('editor endpoints', function () {
        it('POST /kinesis-convert/test runs an uplink script on a HEX / BINARY / JSON payload', async function () {
            await helper.load(convertNode, [{ id: 'c1', type: 'kinesis-convert', direction: 'uplink', script: uplinkScript, wires: [[]] }]);
            const res = await helper.request().post('/kinesis-convert/test').send({
                direction: 'uplink', scriptLang: 'JS', script: uplinkScript, payloadType: 'JSON', payload: SAMPLE, inputMetadata: { integrationName: 'Test integration' },
            }).expect(200);
            assert.equal(res.body.ok, true);
            assert.deepEqual(res.body.result, { deviceName: 'kitchen_thermostat', deviceType: 'thermostat', telemetry: { temperature: 22 } });
            assert.equal(res.body.output[0].topic, 'kitchen_thermostat');

            const hex = await helper.request().post('/kinesis-convert/test').send({
                direction: 'uplink', scriptLang: 'TBEL', payloadType: 'HEX', payload: '0x41 20 00 00', script: 'return {deviceName: "h", telemetry: {f: parseBytesToFloat(payload), m: metadata.integrationName}};',
            }).expect(200);
            assert.deepEqual(hex.body.output[0].payload.telemetry[0].values, { f: 10, m: 'Test integration' });

            const bin = await helper.request().post('/kinesis-convert/test').send({
                direction: 'uplink', payloadType: 'BINARY', payload: Buffer.from([0xff, 0x10]).toString('base64'), script: 'return {deviceName: "b", telemetry: {a: payload[0], b: payload[1]}};',
            }).expect(200);
            assert.deepEqual(bin.body.output[0].payload.telemetry[0].values, { a: 255, b: 16 });
        });

        it('POST /kinesis-convert/test reports the error with its line, and downlink results', async function () {
            await helper.load(convertNode, [{ id: 'c1', type: 'kinesis-convert', direction: 'uplink', script: uplinkScript, wires: [[]] }]);
            const bad = await helper.request().post('/kinesis-convert/test').send({ direction: 'uplink', payloadType: 'TEXT', payload: 'hello', script: 'var x = 1;\nreturn JSON.parse(decodeToString(payload));' }).expect(200);
            assert.equal(bad.body.ok, false);
            assert.equal(bad.body.error.line, 2);
            assert.match(bad.body.error.message, /SyntaxError/);
            const compile = await helper.request().post('/kinesis-convert/test').send({ direction: 'uplink', payload: 'x', script: 'return (;' }).expect(200);
            assert.equal(compile.body.error.kind, 'compile');
            assert.equal(compile.body.error.line, 1);
            const down = await helper.request().post('/kinesis-convert/test').send({
                direction: 'downlink', script: downlinkScript, msgType: 'ATTRIBUTES_UPDATED', msg: '{"version":"v.0.11"}', msgMetadata: { deviceName: 'kitchen_thermostat' }, integrationMetadata: { integrationName: 'Test integration' },
            }).expect(200);
            assert.deepEqual(down.body.output, { contentType: 'JSON', data: '{"devName":"kitchen_thermostat","version":"v.0.11"}', metadata: { streamName: 'tb-test-downlink', partitionKey: '123' } });
            const loop = await helper.request().post('/kinesis-convert/test').send({ direction: 'uplink', payload: 'x', script: 'while(true){}', timeoutMs: 50 }).expect(200);
            assert.equal(loop.body.error.kind, 'timeout');
        });

        it('GET /kinesis-convert/:id/last returns a redacted copy of the last input', async function () {
            const flow = [{ id: 'c1', type: 'kinesis-convert', direction: 'uplink', script: uplinkScript, outputs: 1, wires: [['h1']] }, { id: 'h1', type: 'helper' }];
            await helper.load(convertNode, flow);
            await helper.request().get('/kinesis-convert/c1/last').expect(204); // nothing seen yet: no error
            const out = collect(helper.getNode('h1'), 1);
            helper.getNode('c1').receive({ payload: Buffer.from(SAMPLE), kinesis: { partitionKey: 'pk-1', sequenceNumber: '7', shardId: 's', streamName: 'st' } });
            await out;
            const res = await helper.request().get('/kinesis-convert/c1/last').expect(200);
            assert.equal(res.body.payloadType, 'JSON');
            assert.equal(res.body.payload, SAMPLE);
            assert.deepEqual(res.body.metadata, { partitionKey: 'pk-1', sequenceNumber: '7', shardId: 's', streamName: 'st' });

            await helper.unload();
            const down = [{ id: 'd1', type: 'kinesis-convert', direction: 'downlink', script: downlinkScript, outputs: 1, wires: [['h1']] }, { id: 'h1', type: 'helper' }];
            await helper.load(convertNode, down);
            const o2 = collect(helper.getNode('h1'), 1);
            helper.getNode('d1').receive({ payload: { version: 'v.0.12' }, metadata: { deviceName: 'k', accessToken: 'secret-value' }, msgType: 'ATTRIBUTES_UPDATED' });
            await o2;
            const r2 = await helper.request().get('/kinesis-convert/d1/last').expect(200);
            assert.equal(r2.body.msgType, 'ATTRIBUTES_UPDATED');
            assert.deepEqual(JSON.parse(r2.body.msg), { version: 'v.0.12' });
            assert.deepEqual(r2.body.metadata, { deviceName: 'k', accessToken: '***' });
        });

        it('POST /kinesis-convert/import takes each of the four ThingsBoard files', async function () {
            await helper.load(convertNode, [{ id: 'c1', type: 'kinesis-convert', direction: 'uplink', script: uplinkScript, wires: [[]] }]);
            for (const f of ['aws_kinesis_javascript_uplink_converter.json', 'aws_kinesis_tbel_uplink_converter.json', 'aws_kinesis_javascript_downlink_converter.json', 'aws_kinesis_tbel_downlink_converter.json']) {
                const text = fs.readFileSync(path.join(FIXTURES, f), 'utf8');
                const res = await helper.request().post('/kinesis-convert/import').send({ text }).expect(200);
                assert.equal(res.body.converter.direction, f.includes('uplink') ? 'uplink' : 'downlink');
                assert.equal(res.body.converter.scriptLang, f.includes('tbel') ? 'TBEL' : 'JS');
                assert.deepEqual(res.body.converter.notes, []);
            }
            const bad = await helper.request().post('/kinesis-convert/import').send({ text: '{"type":"RULE_CHAIN"}' }).expect(400);
            assert.match(bad.body.error, /UPLINK or "DOWNLINK"|"UPLINK" or "DOWNLINK"/);
        });
    });
});
