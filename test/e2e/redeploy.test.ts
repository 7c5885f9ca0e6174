/**
 * Redeploys mid-stream, the way a user edits a running flow, in a real Node-RED process on the local stack:
 * kinesis-in (checkpoint when complete) → a function node that holds each message 250–300 ms (a slow step: a
 * timer, as an HTTP call or a database write would) → a file node appending each record's id. While records
 * keep arriving, the user edits the function node and deploys only the modified nodes (the editor's
 * "Modified Nodes"), then the flow ("Modified Flows"), then everything ("Full"). Stopping the old function
 * node drops the messages it was holding (Node-RED clears its timers): kinesis-in must deliver those records
 * again, not wait for them forever. Every record put must reach the file (duplicates allowed, at-least-once),
 * and the checkpoints must reach the end of every shard (nothing stuck in flight).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createStream, rawDynamo, rawKinesis, uniqueName } from '../helpers/stack';
import { checkpointsAtEnd, countingFlow, everyRecordIn, flowing, idsIn, recordWriter } from './counting';
import { FlowNode, NodeRedProcess } from './harness';

const SHARDS = 2;

function flows(opts: { stream: string; app: string; file: string; holdMs: number }): FlowNode[] {
    return countingFlow('rd', {
        ...opts,
        maxInFlight: 1000,
        extra: { drainTimeoutMs: 5000, retries: 3, retryDelayMs: 200 },
        step: {
            id: 'rd-hold', type: 'function', name: 'slow step', outputs: 1,
            func: `setTimeout(() => { msg.payload = msg.payload.id; node.send(msg); node.done(); }, ${opts.holdMs});\nreturn;`,
        },
    });
}

describe('redeploy mid-stream (e2e: a real Node-RED process; Modified Nodes, Modified Flows, Full)', function () {
    this.timeout(240_000);
    let red: NodeRedProcess;
    let dir: string;
    let kinesis: ReturnType<typeof rawKinesis>;
    let dynamo: ReturnType<typeof rawDynamo>;

    before(async function () {
        kinesis = rawKinesis();
        dynamo = rawDynamo();
        red = await NodeRedProcess.start(process.env);
        dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kinesis-redeploy-'));
    });

    after(async function () {
        await red?.stop();
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
        kinesis?.destroy();
        dynamo?.destroy();
    });

    it('every record reaches the file and the checkpoints reach the end, across partial and full redeploys', async function () {
        const stream = uniqueName('redeploy');
        const app = uniqueName('redeploy-app');
        const file = path.join(dir, 'seen.txt');
        await createStream(stream, SHARDS, kinesis);
        const base = { stream, app, file };
        await red.deploy(flows({ ...base, holdMs: 300 }));
        const writer = recordWriter(kinesis, stream, { prefix: 'r' });
        const lines = (): string[] => idsIn([file]);
        const allDone = async (what: string): Promise<void> => {
            await everyRecordIn(what, writer.put, lines);
            await checkpointsAtEnd(what, dynamo, app, writer.lastSeq);
        };

        // Modified Nodes: only the function node is stopped and replaced; kinesis-in keeps running, and the
        // messages the old function node held are gone: their records must come again, the checkpoint move on
        writer.start();
        await flowing('after the first deploy', lines, 30);
        const fromLog = red.log.length;
        await red.deploy(flows({ ...base, holdMs: 250 }), 'nodes');
        // kinesis-in says what happened (the function node held messages when it was stopped)
        await red.waitForLog(/a deploy stopped nodes that held \d+ of this node's messages: their records are sent again/, 30_000, fromLog);
        await flowing('after a Modified Nodes deploy', lines, 30);
        await red.deploy(flows({ ...base, holdMs: 300 }), 'nodes');
        await flowing('after a second Modified Nodes deploy', lines, 30);
        await writer.stop();
        await allDone('after Modified Nodes deploys (kinesis-in not restarted)');

        // Modified Flows (the tab restarts, kinesis-in included), then Full
        writer.start();
        await flowing('before a Modified Flows deploy', lines, 30);
        await red.deploy(flows({ ...base, holdMs: 250 }), 'flows');
        await flowing('after a Modified Flows deploy', lines, 30);
        await red.deploy(flows({ ...base, holdMs: 300 }), 'full');
        await flowing('after a Full deploy', lines, 30);
        await writer.stop();
        await allDone('after Modified Flows and Full deploys');

        assert.ok(lines().length >= writer.put.length, 'at least one line per record');
        assert.deepEqual(red.errors(), [], 'no errors in the log');
    });
});
