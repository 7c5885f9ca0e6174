/**
 * Redeploys mid-stream, the way a user edits a running flow, in a real Node-RED process on the local stack:
 * kinesis-in (checkpoint when complete) → a function node that holds each message 300 ms (a slow step: a
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
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { createStream, rawDynamo, rawKinesis, uniqueName } from '../helpers/stack';
import { FlowNode, NodeRedProcess, sleep, waitUntil } from './harness';

const SHARDS = 2;

function flows(opts: { stream: string; app: string; file: string; holdMs: number }): FlowNode[] {
    return [
        { id: 'rd-tab', type: 'tab', label: 'redeploy', disabled: false, info: '' },
        { id: 'rd-cfg', type: 'kinesis-config', name: 'local', region: '', kinesisEndpoint: '', dynamodbEndpoint: '', credentialMode: 'chain', roleArn: '', externalId: '', roleSessionName: '', stsEndpoint: '' },
        {
            id: 'rd-in', type: 'kinesis-in', z: 'rd-tab', name: '', config: 'rd-cfg', streamName: opts.stream, applicationName: opts.app,
            initialPosition: 'TRIM_HORIZON', timestamp: '', timestampType: 'str', readMode: 'polling', consumerName: '',
            maxRecords: 1000, idleTimeMs: 200, payloadFormat: 'json', outputMode: 'record', checkpointMode: 'complete',
            checkpointIntervalMs: 500, checkpointEveryRecords: 10000, maxInFlight: 1000, ordered: false,
            workerId: '', failoverTimeMs: 3000, renewIntervalMs: '', takerIntervalMs: '', shardSyncIntervalMs: 60000,
            drainTimeoutMs: 5000, gracefulHandOff: true, retries: 3, retryDelayMs: 200, x: 150, y: 100, wires: [['rd-hold']],
        },
        {
            id: 'rd-hold', type: 'function', z: 'rd-tab', name: 'slow step', outputs: 1, x: 350, y: 100, wires: [['rd-file']],
            // eslint-disable-next-line no-template-curly-in-string
            func: `setTimeout(() => { msg.payload = msg.payload.id; node.send(msg); node.done(); }, ${opts.holdMs});\nreturn;`,
        },
        {
            id: 'rd-file', type: 'file', z: 'rd-tab', name: '', filename: opts.file, filenameType: 'str', appendNewline: true,
            createDir: true, overwriteFile: 'false', encoding: 'none', x: 550, y: 100, wires: [],
        },
    ];
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

        const put: string[] = [];
        const lastSeq = new Map<string, string>();
        let n = 0;
        /** Puts 10 records every 50 ms until `stop()`. */
        const startWriting = (): { stop(): Promise<void> } => {
            let writing = true;
            const done = (async () => {
                while (writing) {
                    const records = Array.from({ length: 10 }, () => {
                        const id = `r${n++}`;
                        return { id, entry: { PartitionKey: id, Data: Buffer.from(JSON.stringify({ id })) } };
                    });
                    const r = await kinesis.send(new PutRecordsCommand({ StreamName: stream, Records: records.map((x) => x.entry) }));
                    assert.equal(r.FailedRecordCount ?? 0, 0, 'the local stack took every record');
                    records.forEach((x, i) => {
                        put.push(x.id);
                        const res = r.Records![i];
                        const prev = lastSeq.get(res.ShardId!);
                        if (prev === undefined || BigInt(res.SequenceNumber!) > BigInt(prev)) lastSeq.set(res.ShardId!, res.SequenceNumber!);
                    });
                    await sleep(50);
                }
            })();
            return { stop: async () => { writing = false; await done; } };
        };
        const seen = (): Set<string> => new Set(fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);
        /** Waits until records are flowing through the file again (with messages held in the function node). */
        const flowing = async (what: string): Promise<void> => {
            const before = seen().size;
            await waitUntil(`records reaching the file ${what}`, () => seen().size >= before + 30, 60_000, 100);
        };
        /** Every record put is in the file and each shard's checkpoint is at its last record. */
        const allDone = async (what: string): Promise<void> => {
            await waitUntil(`every record of ${put.length} in the file ${what}`, () => {
                const s = seen();
                return put.every((id) => s.has(id));
            }, 90_000, 250).catch((err) => {
                const s = seen();
                const missing = put.filter((id) => !s.has(id));
                throw new Error(`${(err as Error).message}; missing ${missing.length}: ${missing.slice(0, 12).join(', ')}`);
            });
            const checkpoints = async (): Promise<Map<string, string | undefined>> => {
                const r = await dynamo.send(new ScanCommand({ TableName: app, ConsistentRead: true }));
                return new Map((r.Items ?? []).map((i) => [i.leaseKey.S as string, i.checkpoint?.S]));
            };
            await waitUntil(`the checkpoints at the last record of every shard ${what}`, async () => {
                const at = await checkpoints();
                return [...lastSeq].every(([shard, seq]) => at.get(shard) === seq);
            }, 60_000, 250).catch(async (err) => {
                throw new Error(`${(err as Error).message}: checkpoints ${JSON.stringify([...await checkpoints()])}, last records ${JSON.stringify([...lastSeq])}`);
            });
        };

        // Modified Nodes: only the function node is stopped and replaced; kinesis-in keeps running, and the
        // messages the old function node held are gone: their records must come again, the checkpoint move on
        let writer = startWriting();
        await flowing('after the first deploy');
        const fromLog = red.log.length;
        await red.deploy(flows({ ...base, holdMs: 250 }), 'nodes');
        // kinesis-in says what happened (the function node held messages when it was stopped)
        await red.waitForLog(/a deploy stopped nodes that held \d+ of this node's messages: their records are sent again/, 30_000, fromLog);
        await flowing('after a Modified Nodes deploy');
        await red.deploy(flows({ ...base, holdMs: 300 }), 'nodes');
        await flowing('after a second Modified Nodes deploy');
        await writer.stop();
        await allDone('after Modified Nodes deploys (kinesis-in not restarted)');

        // Modified Flows (the tab restarts, kinesis-in included), then Full
        writer = startWriting();
        await flowing('before a Modified Flows deploy');
        await red.deploy(flows({ ...base, holdMs: 250 }), 'flows');
        await flowing('after a Modified Flows deploy');
        await red.deploy(flows({ ...base, holdMs: 300 }), 'full');
        await flowing('after a Full deploy');
        await writer.stop();
        await allDone('after Modified Flows and Full deploys');

        const lines = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
        assert.ok(lines.length >= put.length, 'at least one line per record');
        assert.deepEqual(red.errors(), [], 'no errors in the log');
    });
});
