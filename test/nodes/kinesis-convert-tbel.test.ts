/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * TBEL converters written the way ThingsBoard's TBEL guide writes them (foreach, typed declarations,
 * Java collection methods, the TbUtils helpers, the last statement's value as the result), run by the
 * kinesis-convert node in a real Node-RED runtime — and the editor's Test dialog endpoint gives the
 * same values as the flow.
 */
import assert from 'node:assert/strict';
import { nodeRedHelper, nodeModule, collect } from '../helpers/nodered';

const helper = nodeRedHelper();
const convertNode = nodeModule('kinesis-convert');

/** A binary sensor frame: id, temperature ×10 (int16 BE), humidity, a float32 (BE), a flag byte. */
const FRAME = Buffer.from([0x07, 0x00, 0xe1, 0x28, 0x41, 0x45, 0x70, 0xa4, 0x05]);

const UPLINK = `// TBEL uplink decoder
var bytes = payload;
String deviceName = "sensor-" + bytesToHex([bytes[0]]);
int raw = parseBytesToInt(bytes, 1, 2);
var telemetry = {};
telemetry.put("temperature", raw / 10.0);
telemetry.put("humidity", bytes[3]);
telemetry.put("level", parseBytesToFloat(bytes, 4, 4));
var bits = parseByteToBinaryArray(bytes[8]);
var on = [];
for (int i = 0; i < bits.length; i++) {
    if (bits[i] == 1) {
        on.add(7 - i);
    }
}
telemetry.put("flags", on);
var attributes = {};
foreach (k : ["fw", "hw"]) {
    attributes.put(k, metadata.containsKey(k) ? metadata.get(k) : "unknown");
}
var result = {deviceName: deviceName, deviceType: "sensor", telemetry: telemetry, attributes: attributes};
result`;

const DOWNLINK = `// TBEL downlink encoder
var data = {};
data.put("devName", metadata.deviceName);
foreach (e : msg.entrySet()) {
    data.put(e.getKey(), e.getValue());
}
var result = {
    contentType: "JSON",
    data: JSON.stringify(data),
    metadata: {streamName: "tb-test-downlink", partitionKey: metadata.deviceName}
};
result`;

describe('kinesis-convert node: TBEL converters', function () {
    before((done) => { helper.startServer(done); });
    after((done) => { helper.stopServer(done); });
    afterEach(() => helper.unload());

    it('uplink: a TBEL decoder of a binary frame gives ThingsBoard\'s values; the Test dialog shows the same', async function () {
        const flow = [
            { id: 'c1', type: 'kinesis-convert', name: 'up', direction: 'uplink', scriptLang: 'TBEL', script: UPLINK, metadata: [{ key: 'fw', value: 'v1' }], registry: 'none', timeoutMs: 1000, outputs: 1, wires: [['h1']] },
            { id: 'h1', type: 'helper' },
        ];
        await helper.load(convertNode, flow);
        const out = collect(helper.getNode('h1'), 1);
        helper.getNode('c1').receive({ payload: FRAME });
        const [msg] = await out;
        assert.equal(msg.payload.deviceName, 'sensor-07');
        assert.equal(msg.payload.deviceType, 'sensor');
        // 12.34 is the float32 0x414570A4 as ThingsBoard's JSON shows it (not 12.34000015258789)
        assert.deepEqual(msg.payload.telemetry[0].values, { temperature: 22.5, humidity: 40, level: 12.34, flags: [2, 0] });
        assert.deepEqual(msg.payload.attributes, { fw: 'v1', hw: 'unknown' });

        const test = await helper.request().post('/kinesis-convert/test').send({
            direction: 'uplink', scriptLang: 'TBEL', script: UPLINK, payloadType: 'BINARY', payload: FRAME.toString('base64'),
            metadata: [{ key: 'fw', value: 'v1' }], inputMetadata: {},
        }).expect(200);
        assert.equal(test.body.ok, true, JSON.stringify(test.body.error));
        assert.deepEqual(test.body.output[0].payload.telemetry[0].values, msg.payload.telemetry[0].values);
    });

    it('downlink: a TBEL encoder gives the record kinesis-out takes; the Test dialog shows the same', async function () {
        const flow = [
            { id: 'c1', type: 'kinesis-convert', direction: 'downlink', scriptLang: 'TBEL', script: DOWNLINK, outputs: 1, wires: [['h1']] },
            { id: 'h1', type: 'helper' },
        ];
        await helper.load(convertNode, flow);
        const out = collect(helper.getNode('h1'), 1);
        helper.getNode('c1').receive({ payload: { version: 'v.0.11', mode: 2 }, metadata: { deviceName: 'kitchen_thermostat' }, msgType: 'ATTRIBUTES_UPDATED' });
        const [msg] = await out;
        const want = { contentType: 'JSON', data: '{"devName":"kitchen_thermostat","version":"v.0.11","mode":2}', metadata: { streamName: 'tb-test-downlink', partitionKey: 'kitchen_thermostat' } };
        assert.deepEqual(msg.payload, want);
        const test = await helper.request().post('/kinesis-convert/test').send({
            direction: 'downlink', scriptLang: 'TBEL', script: DOWNLINK, msgType: 'ATTRIBUTES_UPDATED', msg: '{"version":"v.0.11","mode":2}', msgMetadata: { deviceName: 'kitchen_thermostat' },
        }).expect(200);
        assert.deepEqual(test.body.output, want);
    });

    it('a TBEL construct that cannot run here: red status, every message fails with its line', async function () {
        const flow = [{ id: 'c1', type: 'kinesis-convert', direction: 'uplink', scriptLang: 'TBEL', script: 'var a = 1;\nvar b = (int) a;\nreturn {deviceName: "x"};', outputs: 1, wires: [[]] }];
        await helper.load(convertNode, flow);
        const c1 = helper.getNode('c1');
        const err = new Promise<any>((resolve) => c1.on('call:error', (call: any) => {
            if (/does not compile/.test(String(call.args[0]?.message ?? call.args[0]))) resolve(call);
        }));
        c1.receive({ payload: 'x' });
        const call = await err;
        assert.match(String(call.args[0].message ?? call.args[0]), /does not compile at line 2.*Java casts/);
    });
});
