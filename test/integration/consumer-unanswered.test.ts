/**
 * A backend that stops answering (paused with SIGSTOP: the kernel still accepts its connections, nothing comes
 * back — what an overloaded endpoint or a flow dropped by a NAT looks like to a client) is told by
 * `metrics().unansweredMs`: the wait of the oldest call without an answer, per backend, grows past a few seconds
 * while the other backend's stays short, and falls back once the backend answers again; no record is lost.
 * A stack of its own (kinesis-local + dynalite), clients as kinesis-config makes them (socket timeouts, retries).
 */
import assert from 'node:assert/strict';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { createAwsClients, AwsClients } from '../../lib/aws/clients';
import type { KinesisConsumer } from '../../lib/consumer/consumer';
import { LocalStack, startLocalStack, waitFor } from '../helpers/stack';
import { collectingConsumer, putRecords } from './consumer-helpers';

const STALLED_MS = 5000;
type Waits = { dynamodb: number; kinesis: number };

describe('consumer: metrics().unansweredMs tells a backend that does not answer', function () {
    this.timeout(240_000);
    let stack: LocalStack;
    let clients: AwsClients;
    let writer: KinesisClient;
    const running: KinesisConsumer[] = [];

    before(async function () {
        stack = await startLocalStack({ kinesisPort: 0, dynamodbPort: 0, streams: 'unanswered-d:2,unanswered-k:2' });
        clients = createAwsClients({
            region: stack.region, kinesisEndpoint: stack.kinesisEndpoint, dynamodbEndpoint: stack.dynamodbEndpoint,
            credentialMode: 'static', accessKeyId: 'local', secretAccessKey: 'local',
        });
        writer = new KinesisClient({
            region: stack.region, endpoint: stack.kinesisEndpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
            requestHandler: new NodeHttpHandler(),
        });
    });

    afterEach(() => {
        for (const p of [stack?.processes.kinesis, stack?.processes.dynalite]) if (p && p.exitCode === null) p.kill('SIGCONT');
        for (const c of running.splice(0)) c.crash();
    });

    after(async function () {
        writer?.destroy();
        clients?.destroy();
        await stack?.stop();
    });

    async function consuming(stream: string): Promise<{ stream: string; col: ReturnType<typeof collectingConsumer> }> {
        const col = collectingConsumer(stream, stream, {
            kinesis: clients.kinesis, dynamodb: clients.dynamodb, failoverTimeMs: 6000, checkpointIntervalMs: 500,
        });
        running.push(col.consumer);
        await col.consumer.start();
        const first = await putRecords(stream, 'a', 40, 8, writer);
        await waitFor('the first records', () => first.every((id) => col.ids.has(id)), 60_000);
        const m = col.consumer.metrics().unansweredMs;
        assert.ok(m.dynamodb < STALLED_MS && m.kinesis < STALLED_MS, `both answer at the start: ${JSON.stringify(m)}`);
        return { stream, col };
    }

    // the same test for each backend: which process is paused, whose wait must grow, whose must stay short
    const cases = [
        { name: 'DynamoDB', other: 'Kinesis', others: "Kinesis'", stream: 'unanswered-d', paused: 'dynalite', waits: 'dynamodb', answers: 'kinesis' },
        { name: 'Kinesis', other: 'DynamoDB', others: "DynamoDB's", stream: 'unanswered-k', paused: 'kinesis', waits: 'kinesis', answers: 'dynamodb' },
    ] as const;
    for (const k of cases) {
        it(`${k.name} paused: its wait grows past a few seconds, ${k.others} does not; resumed: back to short, every record delivered`, async () => {
            const { stream, col } = await consuming(k.stream);
            const consumer = col.consumer;
            stack.processes[k.paused].kill('SIGSTOP'); // DynamoDB: renewals, checkpoints, scans wait; Kinesis: GetRecords
            const seen = await waitFor<Waits | false>(`${k.name} not answering for longer than 5 s`, () => {
                const m = consumer.metrics().unansweredMs;
                return m[k.waits] > STALLED_MS ? m : false;
            }, 90_000, 100);
            assert.ok(seen && seen[k.answers] < STALLED_MS, `${k.other} still answers: ${JSON.stringify(seen)}`);
            stack.processes[k.paused].kill('SIGCONT');
            await waitFor(`${k.name} answering again`, () => consumer.metrics().unansweredMs[k.waits] < STALLED_MS, 90_000, 100);
            const second = await putRecords(stream, 'b', 40, 8, writer);
            await waitFor(`the records put after ${k.name} answered again`, () => second.every((id) => col.ids.has(id)), 90_000);
        });
    }
});
