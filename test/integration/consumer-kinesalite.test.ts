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

    /**
     * A reader that serves `total` records of `dataBytes` bytes (sequence numbers 1000…), at most what each
     * read asks for and at most `perAnswer` per answer, noting in `asked` what each read asked for; caught
     * up, it waits 50 ms as the idle wait does.
     */
    function scriptedReader(total: number, perAnswer: number, dataBytes: number, asked: number[]): ShardReaderFactory {
        let next = 0;
        return (o) => ({
            shardId: o.shardId,
            next: async (opts?: { maxRecords?: number }) => {
                const n = Math.min(opts?.maxRecords ?? o.maxRecords, perAnswer, total - next);
                if (next < total) asked.push(opts?.maxRecords ?? o.maxRecords);
                else await new Promise((r) => setTimeout(r, 50));
                const records = Array.from({ length: n }, () => ({ SequenceNumber: String(1000 + next++), PartitionKey: 'k', Data: Buffer.alloc(dataBytes, 120) }));
                return { records, millisBehindLatest: total - next };
            },
            close: async () => undefined,
        });
    }

    /**
     * Reads `total` records through a consumer (`options`) on a fresh one-shard stream whose flow, the slow
     * part, finishes what is in flight every `everyMs` ms; resolves the sequence numbers in the order seen.
     */
    async function readThroughSlowFlow(prefix: string, total: number, options: Parameters<typeof collectingConsumer>[2], everyMs: number, timeoutMs?: number): Promise<string[]> {
        const stream = uniqueName(prefix);
        const seen: string[] = [];
        const pendingDone: Array<() => void> = [];
        const col = collectingConsumer(stream, stream, {
            ...options,
            onRecord: (r, done) => {
                seen.push(r.sequenceNumber);
                pendingDone.push(() => done());
            },
        });
        const timer = setInterval(() => pendingDone.splice(0).forEach((d) => d()), everyMs);
        running.push(col.consumer);
        try {
            // the stream must exist for the shard list: one shard on the test stack
            await createTestStream(stream, 1);
            await col.consumer.start();
            await waitFor('every record', () => seen.length === total, timeoutMs);
            await deleteTestStreams();
        } finally {
            clearInterval(timer);
        }
        return seen;
    }

    it('reads ask for no more records than the shard share of maxBufferedBytes allows, and nothing is lost', async () => {
        const DATA = 1000;
        const BUDGET = 64 * 1024; // one shard: the whole budget
        const TOTAL = 400;
        const asked: number[] = [];
        // like GetRecords: at most what was asked for, and at most 50 per answer here
        const seen = await readThroughSlowFlow('kl-bytes', TOTAL, {
            readerFactory: scriptedReader(TOTAL, 50, DATA, asked),
            maxBufferedBytes: BUDGET,
            maxRecords: 10_000,
            maxInFlight: 10,
        }, 5);
        const perRecord = DATA + 512;
        assert.ok(asked.length > 2);
        for (const n of asked) assert.ok(n * perRecord <= BUDGET, `a read asked for ${n} records (${n * perRecord} B) over a ${BUDGET} B budget`);
        assert.deepEqual(seen, Array.from({ length: TOTAL }, (_, i) => String(1000 + i)), 'every record once, in order');
    });

    it('in flight is bounded in bytes too (the shard share of maxBufferedBytes), and nothing is lost', async () => {
        const DATA = 4000;
        const BUDGET = 64 * 1024; // one shard: ≤ 64 KiB in flight = 14 records of 4 000 + 512 B
        const TOTAL = 120;
        let maxSeen = 0;
        const stream = uniqueName('kl-inflight');
        const seen: string[] = [];
        const pendingDone: Array<() => void> = [];
        const col = collectingConsumer(stream, stream, {
            readerFactory: scriptedReader(TOTAL, 50, DATA, []),
            maxBufferedBytes: BUDGET,
            maxInFlight: 1000,
            onRecord: (r, done) => {
                seen.push(r.sequenceNumber);
                pendingDone.push(() => done());
                maxSeen = Math.max(maxSeen, pendingDone.length);
            },
        });
        // the flow finishes everything in flight only every 30 ms
        const timer = setInterval(() => pendingDone.splice(0).forEach((d) => d()), 30);
        running.push(col.consumer);
        try {
            await createTestStream(stream, 1);
            await col.consumer.start();
            await waitFor('every record', () => seen.length === TOTAL);
            await deleteTestStreams();
        } finally {
            clearInterval(timer);
        }
        const perRecord = DATA + 512;
        assert.ok(maxSeen >= 2, `more than one record in flight at a time (${maxSeen})`);
        assert.ok(maxSeen * perRecord <= BUDGET + perRecord, `${maxSeen} records (${maxSeen * perRecord} B) in flight over a ${BUDGET} B share`);
        assert.deepEqual(seen, Array.from({ length: TOTAL }, (_, i) => String(1000 + i)), 'every record once, in order');
    });

    it('a slow flow paces the reads: at most 2 s of its records/s ahead (not the whole byte share), and nothing is lost', async () => {
        const TOTAL = 1800;
        const asked: number[] = [];
        // the flow takes at most 4 records per 10 ms: ≤ 400 records/s, so 2 s of it ≤ 800 (+ rounding)
        const seen = await readThroughSlowFlow('kl-pace', TOTAL, { readerFactory: scriptedReader(TOTAL, 600, 100, asked), maxRecords: 4000, maxInFlight: 4 }, 10, 60_000);
        assert.ok(asked.length >= 3, `reads: ${asked.join(', ')}`);
        assert.deepEqual(asked.slice(0, 2), [4000, 4000], 'before a batch was delivered: bounded by maxRecords / bytes only');
        for (const n of asked.slice(2)) assert.ok(n >= 500 && n <= 1000, `a read after a slow batch asked for ${n} records (reads: ${asked.join(', ')})`);
        assert.deepEqual(seen, Array.from({ length: TOTAL }, (_, i) => String(1000 + i)), 'every record once, in order');
    });
});
