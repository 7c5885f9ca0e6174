/**
 * kinesis-in's status says when a backend does not answer: in a real Node-RED (kinesis-in, checkpoint when complete
 * → file node) with records arriving, DynamoDB (dynalite) is paused with SIGSTOP — its connections are accepted,
 * nothing comes back — and the node's status, seen as the editor sees it (comms websocket), turns yellow with
 * "DynamoDB not answering · Ns"; once resumed it is green again and every record put reaches the file. Then the same
 * for Kinesis (kinesis-local). Waits are on conditions, bounded loosely (a loaded machine).
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
import { Comms, FlowNode, NodeRedProcess, waitUntil } from './harness';

const STREAM = 'silent';
const IN = 'sl-in';

function flows(file: string): FlowNode[] {
    return countingFlow('sl', {
        stream: STREAM, app: STREAM, file, failoverTimeMs: 10_000,
        step: { id: 'sl-id', type: 'change', name: '', rules: [{ t: 'set', p: 'payload', pt: 'msg', to: 'payload.id', tot: 'msg' }] },
    });
}

describe('kinesis-in status when a backend does not answer (e2e: DynamoDB, then Kinesis, paused and resumed)', function () {
    this.timeout(400_000);
    let stack: LocalStack;
    let kinesis: KinesisClient;
    let dynamo: DynamoDBClient;
    let red: NodeRedProcess | undefined;
    let comms: Comms | undefined;
    let dir: string;

    before(async function () {
        stack = await startLocalStack({ kinesisPort: 0, dynamodbPort: 0, streams: `${STREAM}:2` });
        const credentials = { accessKeyId: stack.env.AWS_ACCESS_KEY_ID, secretAccessKey: stack.env.AWS_SECRET_ACCESS_KEY };
        kinesis = new KinesisClient({ region: stack.region, endpoint: stack.kinesisEndpoint, credentials, requestHandler: new NodeHttpHandler() });
        dynamo = new DynamoDBClient({ region: stack.region, endpoint: stack.dynamodbEndpoint, credentials, requestHandler: new NodeHttpHandler() });
        dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kinesis-silent-'));
    });

    after(async function () {
        for (const p of [stack?.processes.kinesis, stack?.processes.dynalite]) if (p && p.exitCode === null) p.kill('SIGCONT');
        comms?.close();
        await red?.stop();
        kinesis?.destroy();
        dynamo?.destroy();
        await stack?.stop();
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it('turns yellow naming the backend and how long, then green again; every record in the file', async function () {
        const file = path.join(dir, 'seen.txt');
        red = await NodeRedProcess.start({ ...process.env, ...stack.env });
        comms = await Comms.open(red.baseUrl);
        await red.deploy(flows(file));
        const status = () => comms!.status.get(IN) ?? {};
        const writer = recordWriter(kinesis, STREAM, { prefix: 's', batch: 20, everyMs: 100 });
        writer.start();
        const lines = (): string[] => idsIn([file]);
        await flowing('at the start', lines);
        await waitUntil('a green status while both backends answer', () => status().fill === 'green', 60_000);

        for (const [backend, proc] of [['DynamoDB', stack.processes.dynalite], ['Kinesis', stack.processes.kinesis]] as const) {
            proc.kill('SIGSTOP');
            const said = await waitUntil(`the status saying ${backend} does not answer`, () => {
                const s = status();
                return s.fill === 'yellow' && new RegExp(`^${backend} not answering · \\d+s$`).test(s.text ?? '') ? { ...s } : undefined;
            }, 90_000);
            assert.ok(Number(/(\d+)s$/.exec(said.text!)![1]) >= 5, `says how long, past the threshold: ${said.text}`);
            proc.kill('SIGCONT');
            await waitUntil(`a green status after ${backend} answered again`, () => {
                const s = status();
                return s.fill === 'green' && /shards? · /.test(s.text ?? '');
            }, 120_000);
            await flowing(`after ${backend} answered again`, lines);
        }

        await writer.stop();
        await everyRecordIn('', writer.put, lines);
        await checkpointsAtEnd('', dynamo, STREAM, writer.lastSeq);
        assert.equal(red.child.exitCode, null, 'Node-RED is alive');
    });
});
