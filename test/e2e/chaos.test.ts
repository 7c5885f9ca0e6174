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
import { KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { LocalStack, startLocalStack } from '../helpers/stack';
import { FlowNode, NodeRedProcess, sleep, waitUntil } from './harness';

const SHARDS = 4;

function flows(opts: { stream: string; readMode: 'polling' | 'efo'; file: string; maxHoldMs: number }): FlowNode[] {
    return [
        { id: 'ch-tab', type: 'tab', label: 'chaos', disabled: false, info: '' },
        { id: 'ch-cfg', type: 'kinesis-config', name: 'local', region: '', kinesisEndpoint: '', dynamodbEndpoint: '', credentialMode: 'chain', roleArn: '', externalId: '', roleSessionName: '', stsEndpoint: '' },
        {
            id: 'ch-in', type: 'kinesis-in', z: 'ch-tab', name: '', config: 'ch-cfg', streamName: opts.stream, applicationName: opts.stream,
            initialPosition: 'TRIM_HORIZON', timestamp: '', timestampType: 'str', readMode: opts.readMode, consumerName: '',
            maxRecords: 1000, idleTimeMs: 200, payloadFormat: 'json', outputMode: 'record', checkpointMode: 'complete',
            checkpointIntervalMs: 500, checkpointEveryRecords: 10000, maxInFlight: 200, ordered: false,
            workerId: '', failoverTimeMs: 3000, renewIntervalMs: '', takerIntervalMs: '', shardSyncIntervalMs: 60000,
            drainTimeoutMs: 3000, gracefulHandOff: true, x: 150, y: 100, wires: [['ch-hold']],
        },
        {
            id: 'ch-hold', type: 'function', z: 'ch-tab', name: 'slow step', outputs: 1, x: 350, y: 100, wires: [['ch-file']],
            func: `setTimeout(() => { msg.payload = msg.payload.id + ' ' + msg.kinesis.shardId; node.send(msg); node.done(); }, Math.random() * ${opts.maxHoldMs});\nreturn;`,
        },
        {
            id: 'ch-file', type: 'file', z: 'ch-tab', name: '', filename: opts.file, filenameType: 'str', appendNewline: true,
            createDir: true, overwriteFile: 'false', encoding: 'none', x: 550, y: 100, wires: [],
        },
    ];
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

            const put: string[] = [];
            const lastSeq = new Map<string, string>();
            let writing = true;
            const writer = (async () => {
                while (writing) {
                    const batch = Array.from({ length: 20 }, () => `${readMode}-${put.length + Math.random().toString(36).slice(2, 6)}`);
                    const r = await kinesis.send(new PutRecordsCommand({ StreamName: stream, Records: batch.map((id, i) => ({ PartitionKey: `k${(put.length + i) % 64}`, Data: Buffer.from(JSON.stringify({ id })) })) }));
                    assert.equal(r.FailedRecordCount ?? 0, 0, 'the local stack took every record');
                    batch.forEach((id, i) => {
                        put.push(id);
                        const res = r.Records![i];
                        const prev = lastSeq.get(res.ShardId!);
                        if (prev === undefined || BigInt(res.SequenceNumber!) > BigInt(prev)) lastSeq.set(res.ShardId!, res.SequenceNumber!);
                    });
                    await sleep(100);
                }
            })();
            const lines = (): string[] => fs.readdirSync(dir).filter((f) => f.startsWith(`${readMode}-`))
                .flatMap((f) => fs.readFileSync(path.join(dir, f), 'utf8').split('\n').filter(Boolean).map((l) => l.split(' ')[0]));
            const flowing = async (what: string): Promise<void> => {
                const n = lines().length;
                await waitUntil(`records reaching the files ${what}`, () => lines().length >= n + 50, 90_000, 200);
            };
            const leases = async (): Promise<Array<{ shard: string; owner?: string; checkpoint?: string }>> => {
                const r = await dynamo.send(new ScanCommand({ TableName: stream, ConsistentRead: true }));
                return (r.Items ?? []).map((i) => ({ shard: i.leaseKey.S as string, owner: i.leaseOwner?.S, checkpoint: i.checkpoint?.S }));
            };

            await waitUntil('every shard leased', async () => (await leases()).filter((l) => l.owner).length === SHARDS, 90_000, 500);
            await flowing('at the start');

            procs[0].kill(); // 1. crash
            await sleep(1500);
            procs[0] = await start();
            await flowing('after a kill and a restart');

            procs[1].child.kill('SIGSTOP'); // 2. paused past the failover time (3 s)
            await sleep(5000);
            procs[1].child.kill('SIGCONT');
            await flowing('after a pause');

            await procs[2].deploy(flowsFor()); // 3. full redeploy
            await flowing('after a full redeploy');
            await procs[0].deploy(flowsFor(25), 'nodes'); // 4. Modified Nodes (the slow step and the file node change)
            await flowing('after a Modified Nodes deploy');

            procs[2].kill(); // 5. another crash
            await sleep(500);
            procs[2] = await start();
            await flowing('after a second kill and restart');
            writing = false;
            await writer;

            await waitUntil(`every one of ${put.length} records in a file`, () => {
                const seen = new Set(lines());
                return put.every((id) => seen.has(id));
            }, 120_000, 500).catch((err) => {
                const seen = new Set(lines());
                const missing = put.filter((id) => !seen.has(id));
                throw new Error(`${(err as Error).message}; missing ${missing.length}: ${missing.slice(0, 10).join(', ')}`);
            });
            await waitUntil('every shard checkpointed at its last record', async () => {
                const at = new Map((await leases()).map((l) => [l.shard, l.checkpoint]));
                return [...lastSeq].every(([shard, seq]) => at.get(shard) === seq);
            }, 90_000, 500).catch(async (err) => {
                throw new Error(`${(err as Error).message}: ${JSON.stringify(await leases())}, last ${JSON.stringify([...lastSeq])}`);
            });
            const all = lines();
            const duplicates = all.length - new Set(all).size;
            // crashes and the pause deliver again what was in flight or finished since the last checkpoint
            // (≤ 200 in flight per shard, checkpoints every 500 ms): far less than the records put
            assert.ok(duplicates < put.length / 2, `duplicates bounded (${duplicates} of ${put.length})`);
            for (const r of procs) {
                assert.equal(r.child.exitCode, null, 'the process is alive');
                assert.deepEqual(r.errors(), [], 'no errors in the log');
            }
            console.log(`      ${readMode}: ${put.length} records put, ${all.length} lines written, ${duplicates} duplicates`);
        });
    }
});
