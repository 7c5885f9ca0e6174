/**
 * The backends stall mid-stream, as a network partition or an overloaded endpoint would make them: with
 * records arriving, DynamoDB (dynalite) stops answering for longer than the failover time, then Kinesis
 * (kinesis-local) does, each paused with SIGSTOP and resumed. One Node-RED process (kinesis-in, checkpoint
 * when complete → file node) must ride both out: no crash, reading resumes by itself once the backend
 * answers, every record put reaches the file (at-least-once) and every shard's checkpoint its last record.
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

const SHARDS = 2;
const STREAM = 'outage';

function flows(file: string): FlowNode[] {
    return [
        { id: 'bo-tab', type: 'tab', label: 'outage', disabled: false, info: '' },
        { id: 'bo-cfg', type: 'kinesis-config', name: 'local', region: '', kinesisEndpoint: '', dynamodbEndpoint: '', credentialMode: 'chain', roleArn: '', externalId: '', roleSessionName: '', stsEndpoint: '' },
        {
            id: 'bo-in', type: 'kinesis-in', z: 'bo-tab', name: '', config: 'bo-cfg', streamName: STREAM, applicationName: STREAM,
            initialPosition: 'TRIM_HORIZON', timestamp: '', timestampType: 'str', readMode: 'polling', consumerName: '',
            maxRecords: 1000, idleTimeMs: 200, payloadFormat: 'json', outputMode: 'record', checkpointMode: 'complete',
            checkpointIntervalMs: 500, checkpointEveryRecords: 10000, maxInFlight: 500, ordered: false,
            workerId: '', failoverTimeMs: 3000, renewIntervalMs: '', takerIntervalMs: '', shardSyncIntervalMs: 60000,
            drainTimeoutMs: 3000, gracefulHandOff: true, x: 150, y: 100, wires: [['bo-id']],
        },
        { id: 'bo-id', type: 'change', z: 'bo-tab', name: '', rules: [{ t: 'set', p: 'payload', pt: 'msg', to: 'payload.id', tot: 'msg' }], x: 350, y: 100, wires: [['bo-file']] },
        { id: 'bo-file', type: 'file', z: 'bo-tab', name: '', filename: file, filenameType: 'str', appendNewline: true, createDir: true, overwriteFile: 'false', encoding: 'none', x: 550, y: 100, wires: [] },
    ];
}

describe('backend outage (e2e: DynamoDB, then Kinesis, stop answering mid-stream for longer than the failover time)', function () {
    this.timeout(300_000);
    let stack: LocalStack;
    let kinesis: KinesisClient;
    let dynamo: DynamoDBClient;
    let red: NodeRedProcess | undefined;
    let dir: string;

    before(async function () {
        stack = await startLocalStack({ kinesisPort: 0, dynamodbPort: 0, streams: `${STREAM}:${SHARDS}` });
        const credentials = { accessKeyId: stack.env.AWS_ACCESS_KEY_ID, secretAccessKey: stack.env.AWS_SECRET_ACCESS_KEY };
        kinesis = new KinesisClient({ region: stack.region, endpoint: stack.kinesisEndpoint, credentials, requestHandler: new NodeHttpHandler() });
        dynamo = new DynamoDBClient({ region: stack.region, endpoint: stack.dynamodbEndpoint, credentials, requestHandler: new NodeHttpHandler() });
        dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kinesis-outage-'));
    });

    after(async function () {
        for (const p of [stack?.processes.kinesis, stack?.processes.dynalite]) if (p && p.exitCode === null) p.kill('SIGCONT');
        await red?.stop();
        kinesis?.destroy();
        dynamo?.destroy();
        await stack?.stop();
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it('rides out both stalls: no crash, reading resumes by itself, every record in the file, checkpoints at the end', async function () {
        const file = path.join(dir, 'seen.txt');
        red = await NodeRedProcess.start({ ...process.env, ...stack.env });
        await red.deploy(flows(file));
        const put: string[] = [];
        const lastSeq = new Map<string, string>();
        let writing = true;
        const writer = (async () => {
            while (writing) {
                const batch = Array.from({ length: 20 }, (_, i) => `o${put.length + i}`);
                const r = await kinesis.send(new PutRecordsCommand({ StreamName: STREAM, Records: batch.map((id) => ({ PartitionKey: id, Data: Buffer.from(JSON.stringify({ id })) })) }));
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
        const seen = (): string[] => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);
        const flowing = async (what: string): Promise<void> => {
            const n = seen().length;
            await waitUntil(`records reaching the file ${what}`, () => seen().length >= n + 50, 120_000, 200);
        };
        await flowing('at the start');

        stack.processes.dynalite.kill('SIGSTOP'); // leases can neither be renewed nor checkpointed
        await sleep(8000);
        stack.processes.dynalite.kill('SIGCONT');
        await flowing('after DynamoDB answered again');

        stack.processes.kinesis.kill('SIGSTOP'); // reads (and the writer) wait
        await sleep(8000);
        stack.processes.kinesis.kill('SIGCONT');
        await flowing('after Kinesis answered again');
        writing = false;
        await writer;

        await waitUntil(`every one of ${put.length} records in the file`, () => {
            const s = new Set(seen());
            return put.every((id) => s.has(id));
        }, 120_000, 500).catch((err) => {
            const s = new Set(seen());
            const missing = put.filter((id) => !s.has(id));
            throw new Error(`${(err as Error).message}; missing ${missing.length}: ${missing.slice(0, 10).join(', ')}`);
        });
        const checkpoints = async (): Promise<Map<string, string | undefined>> => {
            const r = await dynamo.send(new ScanCommand({ TableName: STREAM, ConsistentRead: true }));
            return new Map((r.Items ?? []).map((i) => [i.leaseKey.S as string, i.checkpoint?.S]));
        };
        await waitUntil('every shard checkpointed at its last record', async () => {
            const at = await checkpoints();
            return [...lastSeq].every(([shard, seq]) => at.get(shard) === seq);
        }, 90_000, 500).catch(async (err) => {
            throw new Error(`${(err as Error).message}: ${JSON.stringify([...await checkpoints()])}, last ${JSON.stringify([...lastSeq])}`);
        });
        assert.equal(red.child.exitCode, null, 'Node-RED is alive');
        assert.deepEqual(red.errors(), [], 'no errors in the log');
    });
});
