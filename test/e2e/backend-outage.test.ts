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
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { LocalStack, startLocalStack } from '../helpers/stack';
import { checkpointsAtEnd, countingFlow, everyRecordIn, flowing, idsIn, recordWriter } from './counting';
import { FlowNode, NodeRedProcess, sleep } from './harness';

const SHARDS = 2;
const STREAM = 'outage';

function flows(file: string): FlowNode[] {
    return countingFlow('bo', {
        stream: STREAM, app: STREAM, file,
        step: { id: 'bo-id', type: 'change', name: '', rules: [{ t: 'set', p: 'payload', pt: 'msg', to: 'payload.id', tot: 'msg' }] },
    });
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
        const writer = recordWriter(kinesis, STREAM, { prefix: 'o', batch: 20, everyMs: 100 });
        writer.start();
        const lines = (): string[] => idsIn([file]);
        await flowing('at the start', lines);

        stack.processes.dynalite.kill('SIGSTOP'); // leases can neither be renewed nor checkpointed
        await sleep(8000);
        stack.processes.dynalite.kill('SIGCONT');
        await flowing('after DynamoDB answered again', lines);

        stack.processes.kinesis.kill('SIGSTOP'); // reads (and the writer) wait
        await sleep(8000);
        stack.processes.kinesis.kill('SIGCONT');
        await flowing('after Kinesis answered again', lines);
        await writer.stop();
        await everyRecordIn('', writer.put, lines);
        await checkpointsAtEnd('', dynamo, STREAM, writer.lastSeq);
        assert.equal(red.child.exitCode, null, 'Node-RED is alive');
        assert.deepEqual(red.errors(), [], 'no errors in the log');
    });
});
