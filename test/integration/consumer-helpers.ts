/** Shared arrangements for the consumer integration tests (not a test file itself). */
import { PutRecordsCommand, KinesisClient, DeleteStreamCommand } from '@aws-sdk/client-kinesis';
import { KinesisConsumer, ConsumerOptions, ConsumerRecord, DoneCallback } from '../../lib/consumer/consumer';
import { rawDynamo, rawKinesis, createStream } from '../helpers/stack';

/**
 * The local stack allows 50 open shards in all, for the whole test run: every stream a test creates
 * is deleted again after it (`deleteTestStreams` in an afterEach).
 */
const testStreams: string[] = [];

export async function createTestStream(name: string, shards = 1): Promise<void> {
    testStreams.push(name);
    await createStream(name, shards);
}

export async function deleteTestStreams(): Promise<void> {
    const client = rawKinesis();
    for (const name of testStreams.splice(0)) {
        await client.send(new DeleteStreamCommand({ StreamName: name, EnforceConsumerDeletion: true })).catch(() => undefined);
    }
}

/** Puts records `${prefix}-${i}` (payload = JSON {id, key, n}) with partition keys cycling over `keys`. */
export async function putRecords(stream: string, prefix: string, count: number, keys = 8, client: KinesisClient = rawKinesis(), start = 0): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < count; i += 500) {
        const entries = [];
        for (let jj = i; jj < Math.min(count, i + 500); jj++) {
            const j = start + jj;
            const id = `${prefix}-${j}`;
            ids.push(id);
            const key = `k${j % keys}`;
            entries.push({ Data: Buffer.from(JSON.stringify({ id, key, n: j })), PartitionKey: key });
        }
        for (let attempt = 0; ; attempt++) {
            const out = await client.send(new PutRecordsCommand({ StreamName: stream, Records: entries }));
            if (!out.FailedRecordCount) break;
            const failed: typeof entries = entries.filter((_, k) => out.Records?.[k]?.ErrorCode);
            entries.length = 0;
            entries.push(...failed);
            if (attempt > 20) throw new Error('PutRecords keeps failing');
            await new Promise((r) => setTimeout(r, 100));
        }
    }
    return ids;
}

export interface Collected {
    consumer: KinesisConsumer;
    records: Array<{ id: string; key: string; n: number; shardId: string; seq: string; sub: number }>;
    ids: Set<string>;
    events: string[];
}

/** A consumer on the local stack that collects every record (finishes it at once unless `onRecord` given). */
export function collectingConsumer(
    stream: string,
    table: string,
    extra: Partial<ConsumerOptions> & { handle?: (r: ConsumerRecord, done: DoneCallback) => void } = {},
): Collected {
    const records: Collected['records'] = [];
    const ids = new Set<string>();
    const events: string[] = [];
    const { handle, ...rest } = extra;
    const consumer = new KinesisConsumer({
        kinesis: rawKinesis(),
        dynamodb: rawDynamo(),
        streamName: stream,
        tableName: table,
        initialPosition: { type: 'TRIM_HORIZON' },
        idleTimeMs: 100,
        failoverTimeMs: 1500,
        takerIntervalMs: 500,
        checkpointIntervalMs: 200,
        shardSyncIntervalMs: 1000,
        parentPollMs: 300,
        onRecord: (r, done) => {
            const body = JSON.parse(r.data.toString('utf8')) as { id: string; key: string; n: number };
            records.push({ ...body, shardId: r.shardId, seq: r.sequenceNumber, sub: r.subSequenceNumber });
            ids.add(body.id);
            if (handle) handle(r, done);
            else done();
        },
        onEvent: (e) => events.push(`${e.type}:${'shardId' in e ? e.shardId : ''}`),
        onError: () => undefined,
        onWarning: () => undefined,
        ...rest,
    });
    return { consumer, records, ids, events };
}
