/**
 * kinesis-convert inside a real Node-RED runtime (node-red-node-test-helper): messages/s through the node
 * (micro-batching, message cloning, optional registry in flow context), as a ratio of the library alone
 * measured in the same run. Run: npm run build && node dist/bench/convert-node.js [messages]
 * The test helper still instruments `send` (sinon): the node figures are pessimistic. Protection on: the
 * library and the node run the script in a runner process (lib/convert/runner).
 */
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-var-requires */
import fs from 'node:fs';
import path from 'node:path';
import { Converter } from '../lib/convert/converter';

const helper = require('node-red-node-test-helper');
helper.init(require.resolve('node-red'));
const convertNode = require('../nodes/kinesis-convert/kinesis-convert');

const N = Number(process.argv[2]) || 20_000;
const script = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../test/fixtures/thingsboard/aws_kinesis_javascript_uplink_converter.json'), 'utf8')).configuration.decoder as string;
const bufs = Array.from({ length: N }, (_, i) => Buffer.from(JSON.stringify({ devName: `d${i % 500}`, devType: 't', temperature: i })));

// The test helper wraps Node methods and the logger in sinon spies that record every call: not what
// users run. Keep the originals (before any load) and put them back after each load.
const proto = helper._NodePrototype;
const protoOriginals = new Map(Object.getOwnPropertyNames(proto).map((k) => [k, proto[k]]));
const logOriginal = helper._log.log;
function unspy(): void {
    for (const [k, v] of protoOriginals) proto[k] = v;
    helper._log.log = logOriginal;
}

async function throughNode(registry: string): Promise<number> {
    const flow = [{ id: 'f', type: 'tab' }, { id: 'c1', z: 'f', type: 'kinesis-convert', direction: 'uplink', script, registry, wires: [['h1']] }, { id: 'h1', z: 'f', type: 'helper' }];
    await helper.load(convertNode, flow);
    unspy();
    const c1 = helper.getNode('c1');
    const h1 = helper.getNode('h1');
    let best = 0;
    for (let round = 0; round < 3; round++) {
        let got = 0;
        const t0 = process.hrtime.bigint();
        await new Promise<void>((resolve) => {
            h1.removeAllListeners('input');
            h1.on('input', () => { if (++got === N) resolve(); });
            for (let i = 0; i < N; i++) c1.receive({ payload: bufs[i], kinesis: { partitionKey: 'p', sequenceNumber: String(i) } });
        });
        best = Math.max(best, N / (Number(process.hrtime.bigint() - t0) / 1e9));
    }
    await helper.unload();
    return best;
}

async function library(): Promise<number> {
    const c = await Converter.create({ direction: 'uplink', script });
    const reqs = bufs.map((payload, i) => ({ payload, kinesis: { partitionKey: 'p', sequenceNumber: String(i) } }));
    let best = 0;
    for (let round = 0; round < 4; round++) {
        const t0 = process.hrtime.bigint();
        for (let i = 0; i < reqs.length; i += 4096) await c.uplink(reqs.slice(i, i + 4096));
        best = Math.max(best, N / (Number(process.hrtime.bigint() - t0) / 1e9));
    }
    c.close();
    return best;
}

helper.startServer(async () => {
    const lib = await library();
    const none = await throughNode('none');
    const flow = await throughNode('flow');
    const fmt = (r: number) => `${Math.round(r).toLocaleString('en-US').padStart(10)} msgs/s`;
    console.log(`kinesis-convert node bench (${N} messages, tutorial decoder, Node ${process.version})`);
    console.log(`  library (Converter.uplink)   ${fmt(lib)}   1.00×`);
    console.log(`  node, no registry            ${fmt(none)}   ${(none / lib).toFixed(2)}×`);
    console.log(`  node, registry in flow ctx   ${fmt(flow)}   ${(flow / lib).toFixed(2)}×`);
    helper.stopServer(() => process.exit(0));
});
