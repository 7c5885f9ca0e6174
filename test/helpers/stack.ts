/** Test helpers for the local stack started by test/setup.ts. */
import { KinesisClient, CreateStreamCommand, DescribeStreamSummaryCommand, GetShardIteratorCommand, GetRecordsCommand, _Record } from '@aws-sdk/client-kinesis';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { randomBytes } from 'node:crypto';

/** What scripts/local-stack.js's startLocalStack resolves to. */
export interface LocalStack {
    env: Record<string, string>;
    kinesisEndpoint: string;
    kinesisTlsPort: number;
    dynamodbEndpoint: string;
    region: string;
    /** The two server processes (to pause or kill them in a test). */
    processes: { kinesis: import('node:child_process').ChildProcess; dynalite: import('node:child_process').ChildProcess };
    stop(): Promise<void>;
}

/** Starts a local stack (kinesis-local + dynalite) of its own; ports 0 = any free port. */
export function startLocalStack(options: { kinesisPort?: number; dynamodbPort?: number; streams?: string }): Promise<LocalStack> {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    return require('../../../scripts/local-stack.js').startLocalStack(options);
}

export function localEndpoints(): { kinesis: string; dynamodb: string; region: string } {
    const kinesis = process.env.KINESIS_LOCAL_ENDPOINT;
    const dynamodb = process.env.DYNAMODB_LOCAL_ENDPOINT;
    if (!kinesis || !dynamodb) throw new Error('local stack not started (run through mocha with test/setup.js)');
    return { kinesis, dynamodb, region: process.env.AWS_REGION || 'us-east-1' };
}

const localCredentials = { accessKeyId: 'local', secretAccessKey: 'local' };

/** Raw SDK clients on the local stack, for arranging and checking (not the code under test). */
export function rawKinesis(): KinesisClient {
    const e = localEndpoints();
    return new KinesisClient({ region: e.region, endpoint: e.kinesis, credentials: localCredentials, requestHandler: new NodeHttpHandler() });
}

export function rawDynamo(): DynamoDBClient {
    const e = localEndpoints();
    return new DynamoDBClient({ region: e.region, endpoint: e.dynamodb, credentials: localCredentials, requestHandler: new NodeHttpHandler() });
}

export function uniqueName(prefix: string): string {
    return `${prefix}-${randomBytes(4).toString('hex')}`;
}

export function sleep(ms: number): Promise<void> {
    return new Promise((r) => setTimeout(r, ms));
}

/**
 * Polls `check` until it returns a truthy value; fails with `what` (and the last error) after
 * timeoutMs. An error for which `isFatal` is true ends the wait at once.
 */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 15_000, everyMs = 50, isFatal?: (err: unknown) => boolean): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
        try {
            const v = await check();
            if (v) return v;
        } catch (err) {
            last = err;
            if (isFatal?.(err)) throw err;
        }
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
        await sleep(everyMs);
    }
}

/** Creates a stream on the local stack and waits until it is ACTIVE. */
export async function createStream(name: string, shards = 1, client = rawKinesis()): Promise<void> {
    await client.send(new CreateStreamCommand({ StreamName: name, ShardCount: shards }));
    await waitFor(`stream ${name} ACTIVE`, async () => {
        const d = await client.send(new DescribeStreamSummaryCommand({ StreamName: name }));
        return d.StreamDescriptionSummary?.StreamStatus === 'ACTIVE';
    }, 30_000, 100);
}

/** The one record at a sequence number (reads back what a producer wrote). */
export async function readAt(client: KinesisClient, stream: string, shardId: string, seq: string): Promise<_Record> {
    const it = await client.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: shardId, ShardIteratorType: 'AT_SEQUENCE_NUMBER', StartingSequenceNumber: seq }));
    const r = await client.send(new GetRecordsCommand({ ShardIterator: it.ShardIterator!, Limit: 1 }));
    return r.Records![0];
}
