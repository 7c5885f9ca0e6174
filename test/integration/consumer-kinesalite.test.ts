/**
 * The consumer on kinesalite (the benchmarks' polling backend) + dynalite, and what it does when
 * Kinesis rejects a read as invalid.
 */
import assert from 'node:assert/strict';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { uniqueName, waitFor, rawDynamo } from '../helpers/stack';
import { collectingConsumer, putRecords, createTestStream, deleteTestStreams } from './consumer-helpers';
import type { KinesisConsumer } from '../../lib/consumer/consumer';
import type { ShardReaderFactory } from '../../lib/consumer/reader';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const { startKinesalite } = require('../../../scripts/kinesalite.js');

describe('consumer on kinesalite (polling, StreamName) and invalid requests', function () {
    this.timeout(60_000);
    let kinesalite: { endpoint: string; createStream(name: string, shards: number): Promise<void>; stop(): Promise<void> };
    let kinesis: KinesisClient;
    const running: KinesisConsumer[] = [];
    before(async () => {
        kinesalite = await startKinesalite({});
        kinesis = new KinesisClient({
            region: process.env.AWS_REGION || 'us-east-1',
            endpoint: kinesalite.endpoint,
            credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
            requestHandler: new NodeHttpHandler(),
        });
    });
    afterEach(() => {
        for (const c of running.splice(0)) c.crash();
    });
    after(async () => {
        kinesis?.destroy();
        await kinesalite?.stop();
    });

    it('reads every record of a kinesalite stream configured by name (GetShardIterator by StreamName)', async () => {
        const stream = uniqueName('kl');
        await kinesalite.createStream(stream, 2);
        const ids = await putRecords(stream, 'k', 50, 8, kinesis);
        const errors: string[] = [];
        const col = collectingConsumer(stream, stream, { kinesis, dynamodb: rawDynamo(), onError: (e) => errors.push(String((e as Error).message)) });
        running.push(col.consumer);
        await col.consumer.start();
        await waitFor('all records', () => ids.every((id) => col.ids.has(id)) || errors.length > 0);
        assert.deepEqual(errors, []);
        assert.equal(col.ids.size, 50);
    });

    it('a read Kinesis rejects as invalid is reported once and not retried: the shard halts (lease kept)', async () => {
        const stream = uniqueName('kl-inv');
        await kinesalite.createStream(stream, 1);
        let reads = 0;
        const rejecting: ShardReaderFactory = (o) => ({
            shardId: o.shardId,
            next: async () => {
                reads++;
                throw Object.assign(new Error("1 validation error detected: Value null at 'streamName' failed to satisfy constraint"), { name: 'ValidationException', $metadata: { httpStatusCode: 400 } });
            },
            close: async () => undefined,
        });
        const errors: string[] = [];
        const col = collectingConsumer(stream, stream, { kinesis, dynamodb: rawDynamo(), readerFactory: rejecting, onError: (e) => errors.push((e as Error).name) });
        running.push(col.consumer);
        await col.consumer.start();
        await waitFor('halted event', () => col.events.some((e) => e.startsWith('halted:')));
        assert.equal(reads, 1, 'the invalid read is not repeated');
        assert.deepEqual(errors, ['ValidationException']);
        assert.equal(col.consumer.metrics().failedShards, 1);
        assert.deepEqual(col.consumer.shardIds(), ['shardId-000000000000'], 'the lease stays with this worker');
    });
});

describe('consumer: bytes read ahead of delivery (maxBufferedBytes)', function () {
    this.timeout(60_000);
    const running: KinesisConsumer[] = [];
    afterEach(() => {
        for (const c of running.splice(0)) c.crash();
    });

    it('reads ask for no more records than the shard share of maxBufferedBytes allows, and nothing is lost', async () => {
        const DATA = 1000;
        const BUDGET = 64 * 1024; // one shard: the whole budget
        const TOTAL = 400;
        const asked: number[] = [];
        let next = 0;
        // a reader that serves TOTAL records of DATA bytes, as many as each read asks for
        const sized: ShardReaderFactory = (o) => ({
            shardId: o.shardId,
            next: async (opts?: { maxRecords?: number }) => {
                // like GetRecords: at most what was asked for, and at most 50 per answer here
                const n = Math.min(opts?.maxRecords ?? o.maxRecords, o.maxRecords, 50, TOTAL - next);
                if (next < TOTAL) asked.push(opts?.maxRecords ?? o.maxRecords);
                else await new Promise((r) => setTimeout(r, 50)); // caught up: as the idle wait does
                const records = Array.from({ length: n }, () => {
                    const seq = String(1000 + next++);
                    return { SequenceNumber: seq, PartitionKey: 'k', Data: Buffer.alloc(DATA, 120) };
                });
                return { records, millisBehindLatest: TOTAL - next };
            },
            close: async () => undefined,
        });
        const stream = uniqueName('kl-bytes');
        const seen: string[] = [];
        const pendingDone: Array<() => void> = [];
        const col = collectingConsumer(stream, stream, {
            readerFactory: sized,
            maxBufferedBytes: BUDGET,
            maxRecords: 10_000,
            maxInFlight: 10,
            onRecord: (r, done) => {
                seen.push(r.sequenceNumber);
                pendingDone.push(() => done());
            },
        });
        // the slow part of the flow: finishes what is in flight every few milliseconds
        const timer = setInterval(() => pendingDone.splice(0).forEach((d) => d()), 5);
        running.push(col.consumer);
        try {
            // the stream must exist for the shard list: one shard on the test stack
            await createTestStream(stream, 1);
            await col.consumer.start();
            await waitFor('every record', () => seen.length === TOTAL);
            await deleteTestStreams();
        } finally {
            clearInterval(timer);
        }
        const perRecord = DATA + 512;
        assert.ok(asked.length > 2);
        for (const n of asked) assert.ok(n * perRecord <= BUDGET, `a read asked for ${n} records (${n * perRecord} B) over a ${BUDGET} B budget`);
        assert.deepEqual(seen, Array.from({ length: TOTAL }, (_, i) => String(1000 + i)), 'every record once, in order');
    });

    it('a slow flow paces the reads: at most 2 s of its records/s ahead (not the whole byte share), and nothing is lost', async () => {
        const TOTAL = 1800;
        const PER_ANSWER = 600;
        const asked: number[] = [];
        let next = 0;
        const reader: ShardReaderFactory = (o) => ({
            shardId: o.shardId,
            next: async (opts?: { maxRecords?: number }) => {
                const n = Math.min(opts?.maxRecords ?? o.maxRecords, PER_ANSWER, TOTAL - next);
                if (next < TOTAL) asked.push(opts?.maxRecords ?? o.maxRecords);
                else await new Promise((r) => setTimeout(r, 50));
                const records = Array.from({ length: n }, () => ({ SequenceNumber: String(1000 + next++), PartitionKey: 'k', Data: Buffer.alloc(100, 120) }));
                return { records, millisBehindLatest: TOTAL - next };
            },
            close: async () => undefined,
        });
        const stream = uniqueName('kl-pace');
        const seen: string[] = [];
        const pendingDone: Array<() => void> = [];
        const col = collectingConsumer(stream, stream, {
            readerFactory: reader,
            maxRecords: 4000,
            maxInFlight: 4,
            onRecord: (r, done) => {
                seen.push(r.sequenceNumber);
                pendingDone.push(() => done());
            },
        });
        // the flow takes at most 4 records per 10 ms: ≤ 400 records/s, so 2 s of it ≤ 800 (+ rounding)
        const timer = setInterval(() => pendingDone.splice(0).forEach((d) => d()), 10);
        running.push(col.consumer);
        try {
            await createTestStream(stream, 1);
            await col.consumer.start();
            await waitFor('every record', () => seen.length === TOTAL, 60_000);
            await deleteTestStreams();
        } finally {
            clearInterval(timer);
        }
        assert.ok(asked.length >= 3, `reads: ${asked.join(', ')}`);
        assert.deepEqual(asked.slice(0, 2), [4000, 4000], 'before a batch was delivered: bounded by maxRecords / bytes only');
        for (const n of asked.slice(2)) assert.ok(n >= 500 && n <= 1000, `a read after a slow batch asked for ${n} records (reads: ${asked.join(', ')})`);
        assert.deepEqual(seen, Array.from({ length: TOTAL }, (_, i) => String(1000 + i)), 'every record once, in order');
    });
});
