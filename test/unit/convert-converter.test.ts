import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Converter, ConvertError, ConverterConfig, payloadCodes, summarise } from '../../lib/convert/converter';
import { importConverterFile, checkScript, ImportError } from '../../lib/convert/import';
import { importConverter } from '../../lib/convert/import-worker';

/** The four files of ThingsBoard's AWS Kinesis tutorial (copied from ../shared/fixtures/thingsboard). */
const FIXTURES = path.resolve(__dirname, '../../../test/fixtures/thingsboard');
const readFixture = (name: string) => fs.readFileSync(path.join(FIXTURES, name), 'utf8');

/** The tutorial's decoder and encoder, as printed in seed 000. */
const SEED_DECODER = `var data = decodeToJson(payload);
var deviceName = data.devName;
var deviceType = data.devType;

var result = {
    deviceName: deviceName,
    deviceType: deviceType,
    telemetry: {
        temperature: data.temperature
    }
};

function decodeToString(payload) {
    return String.fromCharCode.apply(String, payload);
}

function decodeToJson(payload) {
    var str = decodeToString(payload);
    var data = JSON.parse(str);
    return data;
}

return result;`;
const SEED_ENCODER = `var data = {
    devName: 'kitchen_thermostat',
    version: msg.version
};

var result = {
    contentType: 'JSON',
    data: JSON.stringify(data),
    metadata: {
        streamName: 'tb-test-downlink',
        partitionKey: '123'
    }
};

return result;`;
const SAMPLE = '{"devName":"kitchen_thermostat","devType":"thermostat","temperature":22}';
const NOW = 1_700_000_000_000;

// Every converter runs its script in a runner process: closed after each test.
const open: Converter[] = [];
async function make(cfg: ConverterConfig): Promise<Converter> {
    const c = new Converter(cfg);
    open.push(c);
    await c.start();
    return c;
}

describe('convert: converter', function () {
    this.timeout(60_000);
    afterEach(function () {
        while (open.length) open.pop()!.close();
    });

    it("the seed's decoder on the tutorial payload gives kitchen_thermostat / thermostat / temperature 22", async function () {
        const c = await make({ direction: 'uplink', script: SEED_DECODER, integrationName: 'Kinesis' });
        const [o] = await c.uplink([{ payload: Buffer.from(SAMPLE), kinesis: { partitionKey: '1', sequenceNumber: '4959' } }], NOW);
        assert.equal(o.error, undefined);
        assert.deepEqual(o.entities, [{ deviceName: 'kitchen_thermostat', deviceType: 'thermostat', telemetry: [{ ts: NOW, values: { temperature: 22 } }], attributes: {} }]);
    });

    it("the seed's encoder with {version: 'v.0.11'} gives the seed's record", async function () {
        const c = await make({ direction: 'downlink', script: SEED_ENCODER });
        const [o] = await c.downlink([{ payload: { version: 'v.0.11' }, metadata: { deviceName: 'kitchen_thermostat' }, msgType: 'ATTRIBUTES_UPDATED' }]);
        assert.deepEqual(o.records, [{
            contentType: 'JSON',
            data: '{"devName":"kitchen_thermostat","version":"v.0.11"}',
            metadata: { streamName: 'tb-test-downlink', partitionKey: '123' },
        }]);
    });

    it('metadata = integrationName + configured metadata + partitionKey, sequenceNumber, shardId, streamName', async function () {
        const c = await make({ direction: 'uplink', script: 'return { deviceName: "d", attributes: metadata };', integrationName: 'K', metadata: [{ key: 'site', value: 'north' }] });
        const [o] = await c.uplink([{ payload: 'x', kinesis: { partitionKey: 'pk', sequenceNumber: '42', shardId: 'shardId-000', streamName: 's' } }], NOW);
        assert.deepEqual(o.entities![0].attributes, { integrationName: 'K', site: 'north', partitionKey: 'pk', sequenceNumber: 42, shardId: 'shardId-000', streamName: 's' });
    });

    it('non-ASCII text: payload holds UTF-16 char codes, so fromCharCode gives the text back', async function () {
        const c = await make({ direction: 'uplink', script: SEED_DECODER });
        const text = '{"devName":"Küche-温度-🌡","devType":"thermostat","temperature":"21.5"}';
        const [o] = await c.uplink([{ payload: Buffer.from(text, 'utf8') }], NOW);
        assert.equal(o.entities![0].deviceName, 'Küche-温度-🌡');
        assert.deepEqual(o.entities![0].telemetry[0].values, { temperature: 21.5 });
        assert.equal(payloadCodes(Buffer.from('é'), 'JS'), 'é');
    });

    it('binary payloads: bytes 0-255 in JavaScript, signed bytes in TBEL, parsed with the helpers', async function () {
        const bytes = Buffer.from([0xff, 0x01, 0x41, 0x20, 0x00, 0x00]); // not UTF-8
        const js = await make({ direction: 'uplink', script: 'return { deviceName: "b", telemetry: { first: payload[0], n: payload.length, f: parseBytesToFloat(payload, 2) } };' });
        assert.deepEqual((await js.uplink([{ payload: bytes }], NOW))[0].entities![0].telemetry[0].values, { first: 255, n: 6, f: 10 });
        const tbel = await make({ direction: 'uplink', scriptLang: 'TBEL', script: 'return { deviceName: "b", telemetry: { first: payload[0], hex: bytesToHex(payload), i: parseBytesToInt(payload, 0, 2) } };' });
        assert.deepEqual((await tbel.uplink([{ payload: bytes }], NOW))[0].entities![0].telemetry[0].values, { first: -1, hex: 'FF0141200000', i: 0xff01 });
    });

    it('object payloads (kinesis-in payload format JSON) are seen as their JSON text', async function () {
        const c = await make({ direction: 'uplink', script: SEED_DECODER });
        const [o] = await c.uplink([{ payload: JSON.parse(SAMPLE) }], NOW);
        assert.equal(o.entities![0].deviceName, 'kitchen_thermostat');
    });

    it('a failing record fails alone, with the script line/column and a summary of the input', async function () {
        const c = await make({ direction: 'uplink', script: SEED_DECODER });
        const out = await c.uplink([{ payload: Buffer.from(SAMPLE) }, { payload: Buffer.from('not json at all') }, { payload: undefined }, { payload: Buffer.from(SAMPLE) }], NOW);
        assert.ok(out[0].entities && out[3].entities);
        const err = out[1].error!;
        assert.ok(err instanceof ConvertError);
        assert.equal(err.kind, 'script');
        assert.equal(err.line, 19); // JSON.parse in the script's own decodeToJson
        assert.match(err.message, /^Decoder failed at line 19, column \d+: SyntaxError: .*— input: not json at all \(15 bytes\)$/);
        assert.equal(out[2].error?.kind, 'input');
        assert.match(out[2].error!.message, /msg.payload is empty/);
    });

    it('invalid results fail with the rule that was broken', async function () {
        const c = await make({ direction: 'uplink', script: 'return { telemetry: { t: 1 } };' });
        const [o] = await c.uplink([{ payload: 'x' }], NOW);
        assert.equal(o.error?.kind, 'output');
        assert.match(o.error!.message, /Decoder returned an invalid result: result must contain deviceName or assetName/);
        const d = await make({ direction: 'downlink', script: 'return { contentType: "XML", data: "x" };' });
        assert.match((await d.downlink([{ payload: {} }]))[0].error!.message, /Unknown downlink content type "XML"/);
    });

    it('a script that does not compile throws a ConvertError with the line', async function () {
        await assert.rejects(make({ direction: 'uplink', script: 'var a = 1;\nreturn a +;' }), (e: unknown) => e instanceof ConvertError && e.kind === 'compile' && e.line === 2 && /Decoder does not compile at line 2/.test(e.message));
    });

    it('downlink msg: JSON strings parsed, msgType defaults to ATTRIBUTES_UPDATED, arrays give several records', async function () {
        const c = await make({ direction: 'downlink', script: 'return [{ contentType: "TEXT", data: msgType + ":" + msg.v }, { contentType: "TEXT", data: typeof msg }];' });
        assert.deepEqual((await c.downlink([{ payload: '{"v":3}' }]))[0].records!.map((r) => r.data), ['ATTRIBUTES_UPDATED:3', 'object']);
        assert.deepEqual((await c.downlink([{ payload: 'plain', msgType: 'RPC_CALL_FROM_SERVER_TO_DEVICE' }]))[0].records!.map((r) => r.data), ['RPC_CALL_FROM_SERVER_TO_DEVICE:undefined', 'string']);
    });

    it('converts a large batch in order', async function () {
        const c = await make({ direction: 'uplink', script: SEED_DECODER, maxBatch: 64 });
        const reqs = Array.from({ length: 1000 }, (_, i) => ({ payload: Buffer.from(JSON.stringify({ devName: `d${i}`, devType: 't', temperature: i })) }));
        const out = await c.uplink(reqs, NOW);
        out.forEach((o, i) => assert.equal(o.entities![0].telemetry[0].values.temperature, i));
    });

    it('summarise: text with size, binary as hex', async function () {
        assert.equal(summarise(Buffer.from('hello')), 'hello (5 bytes)');
        assert.equal(summarise(Buffer.from([0xff, 0x00])), '0xff00 (2 bytes, binary)');
        assert.equal(summarise('x'.repeat(200)).length < 100, true);
    });

    describe('ThingsBoard converter files', function () {
        const files = ['aws_kinesis_javascript_uplink_converter.json', 'aws_kinesis_tbel_uplink_converter.json', 'aws_kinesis_javascript_downlink_converter.json', 'aws_kinesis_tbel_downlink_converter.json'];
        for (const file of files) {
            it(`imports and runs ${file}`, async function () {
                const im = importConverterFile(readFixture(file));
                assert.equal(im.direction, file.includes('uplink') ? 'uplink' : 'downlink');
                assert.equal(im.scriptLang, file.includes('tbel') ? 'TBEL' : 'JS');
                assert.equal(im.name, file.includes('uplink') ? 'AWS Kinesis Uplink Converter' : 'AWS Kinesis Downlink Converter');
                assert.deepEqual(im.notes, []);
                assert.ok(im.script.length > 50);
                const c = await make({ direction: im.direction, scriptLang: im.scriptLang, script: im.script, updateOnlyKeys: im.updateOnlyKeys });
                if (im.direction === 'uplink') {
                    assert.deepEqual(im.updateOnlyKeys, []);
                    const [o] = await c.uplink([{ payload: Buffer.from(SAMPLE) }], NOW);
                    assert.deepEqual(o.entities, [{ deviceName: 'kitchen_thermostat', deviceType: 'thermostat', telemetry: [{ ts: NOW, values: { temperature: 22 } }], attributes: {} }]);
                } else {
                    const [o] = await c.downlink([{ payload: { version: 'v.0.11' } }]);
                    assert.deepEqual(o.records, [{ contentType: 'JSON', data: '{"devName":"kitchen_thermostat","version":"v.0.11"}', metadata: { streamName: 'tb-test-downlink', partitionKey: '123' } }]);
                }
            });
        }

        it('TBEL syntax is accepted; what cannot be translated and syntax errors are flagged with line numbers', async function () {
            const doc = JSON.parse(readFixture('aws_kinesis_tbel_uplink_converter.json'));
            doc.configuration.tbelDecoder = 'var data = decodeToJson(payload);\nif (data.size() > 0) {\n  data.put("a", 1);\n}\nvar x = data.?name;\nreturn data;';
            doc.configuration.updateOnlyKeys = ['fw'];
            const im = importConverterFile(doc);
            assert.deepEqual(im.updateOnlyKeys, ['fw']);
            assert.deepEqual(im.notes, []); // .size(), .put(), .? are TBEL and run here
            doc.configuration.tbelDecoder = 'var data = decodeToJson(payload);\nvar t = 1;\nvar n = (int) t;\nreturn data;';
            assert.ok(importConverterFile(doc).notes.some((n) => /^Line 3: Java casts like \(int\)/.test(n)));
            doc.configuration.tbelDecoder = 'var data = decodeToJson(payload);\nvar x = ;\nreturn data;';
            const bad = importConverterFile(doc).notes;
            assert.ok(bad.some((n) => /^Line 2: the script cannot be parsed/.test(n)), bad.join('\n'));
            // a JavaScript converter using TBEL syntax is still warned about
            const js = JSON.parse(readFixture('aws_kinesis_javascript_uplink_converter.json'));
            js.configuration.decoder = 'var data = decodeToString(payload);\nif (data.size() > 0) {}\nreturn {};';
            assert.ok(importConverterFile(js).notes.some((n) => /^Line 2: TBEL-only syntax will not run here: \.size\(\)/.test(n)));
        });

        it('TBEL-only constructs are found by linear scans (each note once, with its line)', async function () {
            const script = ['var m = [:];', 'for (x : list) { y = 1; }', 'def f(a) { return a; }', 'var b = new byte[4];', 'int n = 5;',
                'var k = "12".toInt();', 'foreach (v in list) {}', 'm.containsKey("a"); m.isEmpty(); m.keySet(); l.add(1); m.get("k");'].join('\n');
            const notes = checkScript(script, 'uplink', 'JS'); // in a TBEL script these are translated
            const lineOf = (what: RegExp) => notes.find((n) => what.test(n))?.match(/^Line (\d+)/)?.[1];
            assert.equal(lineOf(/empty map literal/), '1');
            assert.equal(lineOf(/for \(x : list\) loops/), '2');
            assert.equal(lineOf(/def functions/), '3');
            assert.equal(lineOf(/Java arrays/), '4');
            assert.equal(lineOf(/typed declarations/), '5');
            assert.equal(lineOf(/Java number conversions/), '6');
            assert.equal(lineOf(/foreach/), '7');
            for (const w of [/containsKey/, /isEmpty/, /entrySet/, /add\(\)\/\.remove/, /\.get\(key\)/]) assert.equal(lineOf(w), '8', String(w));
            // plain JavaScript raises none of them
            assert.deepEqual(checkScript('var formats = {}; for (var i = 0; i < 3; i++) { formats[i] = i ? "a" : "b"; } return { deviceName: "x" };', 'uplink', 'JS'), []);
            // crafted text that made the former regular expressions quadratic is read in one pass
            assert.ok(Array.isArray(checkScript(`for (${' : '.repeat(50_000)}`, 'uplink', 'TBEL')));
            assert.match(checkScript('x'.repeat(300_000), 'uplink', 'JS')[0], /too long/);
        });

        it('error texts are clipped to about 1 kB with the input summarised', async function () {
            const e = new ConvertError('script', 'y'.repeat(5_000_000), { input: summarise(Buffer.alloc(10_000_000, 0x61)) });
            assert.ok(e.message.length < 1300, String(e.message.length));
            assert.match(e.message, /— input: a+… \(10000000 bytes\)$/);
            const c = await make({ direction: 'uplink', script: 'throw new Error("z".repeat(1e6));' });
            const [o] = await c.uplink([{ payload: 'x' }]);
            assert.ok(o.error!.message.length < 1300, String(o.error!.message.length));
        });

        it('rejects what is not a converter file', async function () {
            assert.throws(() => importConverterFile('{nope'), ImportError);
            assert.throws(() => importConverterFile({ type: 'RULE_CHAIN' }), /"type" must be "UPLINK" or "DOWNLINK"/);
            assert.throws(() => importConverterFile({ type: 'UPLINK' }), /"configuration" is missing/);
            assert.throws(() => importConverterFile({ type: 'UPLINK', configuration: { encoder: 'x' } }), /configuration.decoder is missing/);
            const empty = importConverterFile({ type: 'UPLINK', configuration: { decoder: null } });
            assert.equal(empty.script, '');
            assert.match(empty.notes[0], /no script/);
        });

        it('importConverter reads the file in a worker thread: the same converter as importConverterFile, ImportError for what is not one, a script over the size limit only noted', async function () {
            for (const file of ['aws_kinesis_tbel_uplink_converter.json', 'aws_kinesis_javascript_downlink_converter.json']) {
                const text = readFixture(file);
                assert.deepEqual(await importConverter(text), importConverterFile(text));
            }
            const translated = JSON.parse(readFixture('aws_kinesis_tbel_uplink_converter.json'));
            translated.configuration.tbelDecoder = 'var data = decodeToJson(payload);\nvar n = (int) data.t;\nreturn data;';
            assert.ok((await importConverter(translated)).notes.some((n) => /^Line 2: Java casts/.test(n)));
            await assert.rejects(importConverter('{nope'), ImportError);
            await assert.rejects(importConverter({ type: 'RULE_CHAIN' }), /"type" must be "UPLINK" or "DOWNLINK"/);
            const huge = await importConverter(JSON.stringify({ type: 'UPLINK', configuration: { scriptLang: 'TBEL', tbelDecoder: `for (${' : '.repeat(1_500_000)}` } }));
            assert.equal(huge.script.length, 4_500_005);
            assert.match(huge.notes.join(' '), /too long/);
        });
    });
});
