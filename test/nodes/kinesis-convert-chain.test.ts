/**
 * The tutorial's downlink path in a real Node-RED runtime against kinesis-local:
 * kinesis-convert (the tutorial encoder, unchanged) → kinesis-out → the record in `tb-test-downlink`.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { GetRecordsCommand, GetShardIteratorCommand, KinesisClient, _Record } from '@aws-sdk/client-kinesis';
import { nodeRedHelper, nodeModule } from '../helpers/nodered';
import { rawKinesis, readAt } from '../helpers/stack';

const helper = nodeRedHelper();
const configNode = nodeModule('kinesis-config');
const outNode = nodeModule('kinesis-out');
const convertNode = nodeModule('kinesis-convert');
const FIXTURES = path.resolve(__dirname, '../../../test/fixtures/thingsboard');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Msg = Record<string, any>;

describe('kinesis-convert → kinesis-out (tutorial downlink)', function () {
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

    for (const file of ['aws_kinesis_javascript_downlink_converter.json', 'aws_kinesis_tbel_downlink_converter.json']) {
        it(`a shared attribute update becomes the tutorial's record in tb-test-downlink (${file})`, async function () {
            const tb = JSON.parse(fs.readFileSync(path.join(FIXTURES, file), 'utf8'));
            const script = tb.configuration.scriptLang === 'TBEL' ? tb.configuration.tbelEncoder : tb.configuration.encoder;
            const flow = [
                { id: 'f1', type: 'tab', label: 'downlink' },
                { id: 'c1', type: 'kinesis-config', name: 'local', region: '', credentialMode: 'chain' },
                { id: 'v1', z: 'f1', type: 'kinesis-convert', name: tb.name, direction: 'downlink', scriptLang: tb.configuration.scriptLang, script, metadata: [], integrationName: '', updateOnlyKeys: [], registry: 'none', allowCreate: true, timeoutMs: 1000, outputs: 1, wires: [['o1']] },
                { id: 'o1', z: 'f1', type: 'kinesis-out', config: 'c1', streamName: '', streamNameType: 'str', partitionKey: '', partitionKeyType: 'str', explicitHashKey: '', explicitHashKeyType: 'str', keyGeneration: 'random', lingerMs: 10, maxInFlight: 4, maxRecordBytes: 1048576, maxRetries: 2, ordered: false, aggregate: false, wires: [['h1']] },
                { id: 'h1', z: 'f1', type: 'helper' },
            ];
            await helper.load([configNode, outNode, convertNode], flow);
            const got = new Promise<Msg>((resolve) => helper.getNode('h1').once('input', resolve));
            helper.getNode('v1').receive({
                payload: { version: 'v.0.11' },
                metadata: { deviceName: 'kitchen_thermostat', deviceType: 'thermostat', scope: 'SHARED_SCOPE' },
                msgType: 'ATTRIBUTES_UPDATED',
            });
            const msg = await got;
            assert.equal(msg.kinesis.length, 1);
            const w = msg.kinesis[0];
            assert.equal(w.streamName, 'tb-test-downlink');
            const rec = await readAt(raw, 'tb-test-downlink', w.shardId, w.sequenceNumber);
            assert.equal(Buffer.from(rec.Data!).toString('utf8'), '{"devName":"kitchen_thermostat","version":"v.0.11"}');
            assert.equal(rec.PartitionKey, '123');
        });
    }
});
