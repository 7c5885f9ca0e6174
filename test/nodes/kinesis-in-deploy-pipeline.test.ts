/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * kinesis-in → kinesis-convert → next node, redeployed while the converter has batches in flight (real Node-RED
 * runtime, local stack, real runner processes). kinesis-convert finishes on close what it accepted: it converts it
 * and sends it on — but a deploy that also stops the next node (a Full deploy, or Modified Nodes of both) has taken
 * that node out of the runtime, so Node-RED drops those messages (no hook), and the converter's done() that follows
 * must not finish the record: every record still reaches the next node (sent again, or read again after the restart).
 */
import assert from 'node:assert/strict';
import { nodeRedHelper, nodeModule } from '../helpers/nodered';
import { uniqueName, waitFor } from '../helpers/stack';
import { createStream, put, flow, useNodeRed } from '../helpers/kinesis-in-flow';

const helper = nodeRedHelper();
const configNode = nodeModule('kinesis-config');
const inNode = nodeModule('kinesis-in');
const convertNode = nodeModule('kinesis-convert');

/** ~2 ms per record: the converter still has batches in flight when the test deploys. */
const SLOW = `var t = Date.now(); while (Date.now() - t < 2) {}
return { deviceName: 'd' + String.fromCharCode.apply(null, payload) };`;

function pipeline(stream: string, variant: string): Array<Record<string, unknown>> {
    const nodes = flow(stream, { payloadFormat: 'buffer', maxInFlight: 1000, drainTimeoutMs: 5000 }, [['conv']]);
    nodes.push({ id: 'conv', type: 'kinesis-convert', direction: 'uplink', script: SLOW + `\n// ${variant}`, outputs: 1, wires: [['h1']] });
    // h1 changes with the converter: a deploy of Modified Nodes stops both
    return nodes.map((n) => (n.id === 'h1' ? { ...n, name: variant } : n));
}

describe('kinesis-in → kinesis-convert redeployed mid-batch (real Node-RED runtime, local stack)', function () {
    this.timeout(120_000);
    useNodeRed(helper);

    for (const type of ['full', 'nodes'] as const) {
        it(`a ${type === 'full' ? 'Full' : 'Modified Nodes'} deploy of the converter and the node after it: every record reaches the next node`, async () => {
            const stream = uniqueName(`nin-conv-${type}`);
            await createStream(stream, 1);
            const N = 600;
            await put(stream, Array.from({ length: N }, (_, i) => String(i)));
            await helper.load([configNode, inNode, convertNode], pipeline(stream, 'a'));
            const got = new Set<string>();
            const listen = (): void => helper.getNode('h1').on('input', (m: any) => { got.add(m.topic); });
            listen();
            const firstH1 = helper.getNode('h1');
            await waitFor('the first records converted', () => got.size > 0, 60_000, 5);
            assert.ok(got.size < N / 2, `the converter still has most records to do (${got.size} of ${N} out)`);
            await (helper as any)._redNodes.setFlows(pipeline(stream, 'b'), {}, type);
            await waitFor('the new next node', () => helper.getNode('h1') && helper.getNode('h1') !== firstH1, 30_000, 10);
            listen();
            await waitFor(`every one of ${N} records at the next node`, () => got.size >= N, 90_000, 50).catch((err) => {
                const missing = Array.from({ length: N }, (_, i) => `d${i}`).filter((d) => !got.has(d));
                throw new Error(`${(err as Error).message}; missing ${missing.length}: ${missing.slice(0, 10).join(', ')}`);
            });
        });
    }
});
