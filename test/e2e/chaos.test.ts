/**
 * Chaos, every record counted: three Node-RED processes share one 4-shard stream (one lease table) while
 * records keep arriving; one is killed (SIGKILL) and started again, one is paused (SIGSTOP) past the
 * failover time and resumed, one is redeployed in full, one gets a Modified Nodes deploy of its slow step,
 * one more is killed and started again. Each process appends every record it finished to a file of its own
 * (kinesis-in, checkpoint when complete → a function node holding each message 0–30 ms → file node). In the
 * end every record put is in one of the files (at-least-once; duplicates counted and bounded), every shard's
 * checkpoint is at its last record, and the processes alive at the end logged no errors.
 * Polling and Enhanced Fan-Out.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { LocalStack, startLocalStack } from '../helpers/stack';
import { checkpointsAtEnd, countingFlow, everyRecordIn, flowing, idsIn, recordWriter } from './counting';
import { FlowNode, NodeRedProcess, sleep, waitUntil } from './harness';

const SHARDS = 4;

function flows(opts: { stream: string; readMode: 'polling' | 'efo'; file: string; maxHoldMs: number }): FlowNode[] {
    return countingFlow('ch', {
        stream: opts.stream, app: opts.stream, file: opts.file, readMode: opts.readMode, maxInFlight: 200,
        step: {
            id: 'ch-hold', type: 'function', name: 'slow step', outputs: 1,
            func: `setTimeout(() => { msg.payload = msg.payload.id + ' ' + msg.kinesis.shardId; node.send(msg); node.done(); }, Math.random() * ${opts.maxHoldMs});\nreturn;`,
        },
    });
}

describe('chaos (e2e: three Node-RED processes killed, paused and redeployed mid-stream, every record counted)', function () {
    this.timeout(420_000);
    let stack: LocalStack;
    let kinesis: KinesisClient;
    let dynamo: DynamoDBClient;
    let env: NodeJS.ProcessEnv;
    let dir: string;
    const reds: NodeRedProcess[] = [];

    before(async function () {
        stack = await startLocalStack({ kinesisPort: 0, dynamodbPort: 0, streams: `chaos-polling:${SHARDS},chaos-efo:${SHARDS}` });
        const credentials = { accessKeyId: stack.env.AWS_ACCESS_KEY_ID, secretAccessKey: stack.env.AWS_SECRET_ACCESS_KEY };
        kinesis = new KinesisClient({ region: stack.region, endpoint: stack.kinesisEndpoint, credentials, requestHandler: new NodeHttpHandler() });
        dynamo = new DynamoDBClient({ region: stack.region, endpoint: stack.dynamodbEndpoint, credentials, requestHandler: new NodeHttpHandler() });
        env = { ...process.env, ...stack.env };
        dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kinesis-chaos-'));
    });

    afterEach(async function () {
        for (const r of reds) if (r.child.exitCode === null) r.child.kill('SIGCONT');
        for (const r of reds.splice(0)) await r.stop();
    });

    after(async function () {
        kinesis?.destroy();
        dynamo?.destroy();
        await stack?.stop();
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    for (const readMode of ['polling', 'efo'] as const) {
        it(`${readMode === 'efo' ? 'Enhanced Fan-Out' : 'polling'}: kill + restart, pause past failover, full and Modified Nodes redeploys, kill + restart — none lost`, async function () {
            const stream = `chaos-${readMode}`;
            let files = 0;
            const flowsFor = (maxHoldMs = 30): FlowNode[] => flows({ stream, readMode, file: path.join(dir, `${readMode}-${files++}.txt`), maxHoldMs });
            const start = async (): Promise<NodeRedProcess> => {
                const red = await NodeRedProcess.start(env);
                reds.push(red);
                await red.deploy(flowsFor());
                return red;
            };
            const procs = [await start(), await start(), await start()];

            const writer = recordWriter(kinesis, stream, { prefix: `${readMode}-`, batch: 20, everyMs: 100 });
            writer.start();
            const lines = (): string[] => idsIn(fs.readdirSync(dir).filter((f) => f.startsWith(`${readMode}-`)).map((f) => path.join(dir, f)));
            const leases = async (): Promise<Array<{ shard: string; owner?: string }>> => {
                const r = await dynamo.send(new ScanCommand({ TableName: stream, ConsistentRead: true }));
                return (r.Items ?? []).map((i) => ({ shard: i.leaseKey.S as string, owner: i.leaseOwner?.S }));
            };

            await waitUntil('every shard leased', async () => (await leases()).filter((l) => l.owner).length === SHARDS, 90_000, 500);
            await flowing('at the start', lines);

            procs[0].kill(); // 1. crash
            await sleep(1500);
            procs[0] = await start();
            await flowing('after a kill and a restart', lines);

            procs[1].child.kill('SIGSTOP'); // 2. paused past the failover time (3 s)
            await sleep(5000);
            procs[1].child.kill('SIGCONT');
            await flowing('after a pause', lines);

            await procs[2].deploy(flowsFor()); // 3. full redeploy
            await flowing('after a full redeploy', lines);
            await procs[0].deploy(flowsFor(25), 'nodes'); // 4. Modified Nodes (the slow step and the file node change)
            await flowing('after a Modified Nodes deploy', lines);

            procs[2].kill(); // 5. another crash
            await sleep(500);
            procs[2] = await start();
            await flowing('after a second kill and restart', lines);
            await writer.stop();
            await everyRecordIn('', writer.put, lines);
            await checkpointsAtEnd('', dynamo, stream, writer.lastSeq);
            const all = lines();
            const duplicates = all.length - new Set(all).size;
            // crashes and the pause deliver again what was in flight or finished since the last checkpoint
            // (≤ 200 in flight per shard, checkpoints every 500 ms): far less than the records put
            assert.ok(duplicates < writer.put.length / 2, `duplicates bounded (${duplicates} of ${writer.put.length})`);
            for (const r of procs) {
                assert.equal(r.child.exitCode, null, 'the process is alive');
                assert.deepEqual(r.errors(), [], 'no errors in the log');
            }
            console.log(`      ${readMode}: ${writer.put.length} records put, ${all.length} lines written, ${duplicates} duplicates`);
        });
    }
});
