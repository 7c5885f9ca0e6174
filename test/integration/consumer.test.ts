import assert from 'node:assert/strict';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { uniqueName, waitFor, sleep, rawDynamo, rawKinesis } from '../helpers/stack';
import { LeaseTable, SHARD_END } from '../../lib/consumer/lease-table';
import { aggregate } from '../../lib/kpl';
import { collectingConsumer, putRecords, createTestStream, deleteTestStreams } from './consumer-helpers';
import type { KinesisConsumer } from '../../lib/consumer/consumer';
import type { ShardReaderFactory } from '../../lib/consumer/reader';
import { createPollingReader } from '../../lib/consumer/polling';

describe('consumer (single instance, kinesis-local + dynalite)', function () {
    this.timeout(60_000);
    const running: KinesisConsumer[] = [];
    afterEach(async () => {
        for (const c of running.splice(0)) c.crash();
    });
    afterEach(deleteTestStreams);

    it('TRIM_HORIZON: reads every record, writes a lease table in the KCL layout and checkpoints', async () => {
        const stream = uniqueName('cin-th');
        await createTestStream(stream, 2);
        const ids = await putRecords(stream, 'a', 60);
        const col = collectingConsumer(stream, stream);
        running.push(col.consumer);
        await col.consumer.start();
        await waitFor('all records', () => ids.every((id) => col.ids.has(id)));
        const table = new LeaseTable(rawDynamo(), stream);
        await waitFor('checkpoints written', async () => {
            const leases = await table.list();
            return leases.length === 2 && leases.every((l) => /^\d+$/.test(l.checkpoint));
        });
        const leases = await table.list();
        for (const l of leases) {
            assert.equal(l.leaseOwner, col.consumer.workerId);
            assert.ok(l.leaseCounter > 0);
            assert.ok(l.startingHashKey !== undefined && l.endingHashKey !== undefined);
        }
        assert.equal(col.consumer.metrics().shards, 2);
    });

    it('LATEST: skips records put before the start, delivers those put right after it', async () => {
        const stream = uniqueName('cin-latest');
        await createTestStream(stream, 1);
        await putRecords(stream, 'old', 10);
        await sleep(1500); // older than the LATEST margin
        const col = collectingConsumer(stream, stream, { initialPosition: { type: 'LATEST' } });
        running.push(col.consumer);
        const started = col.consumer.start();
        const ids = await putRecords(stream, 'new', 10); // put while the consumer is starting
        await started;
        await waitFor('new records', () => ids.every((id) => col.ids.has(id)));
        await sleep(300);
        assert.ok(![...col.ids].some((id) => id.startsWith('old-')), 'no record from before the start');
    });

    it('AT_TIMESTAMP: starts at the configured time', async () => {
        const stream = uniqueName('cin-ts');
        await createTestStream(stream, 1);
        await putRecords(stream, 'before', 10);
        await sleep(1200);
        const at = new Date();
        await sleep(200);
        const ids = await putRecords(stream, 'after', 10);
        const col = collectingConsumer(stream, stream, { initialPosition: { type: 'AT_TIMESTAMP', timestamp: at } });
        running.push(col.consumer);
        await col.consumer.start();
        await waitFor('records after the timestamp', () => ids.every((id) => col.ids.has(id)));
        assert.ok(![...col.ids].some((id) => id.startsWith('before-')));
    });

    it('resumes after a graceful stop without loss, duplicates at most the in-flight records', async () => {
        const stream = uniqueName('cin-resume');
        await createTestStream(stream, 1);
        const ids = await putRecords(stream, 'r', 200);
        const maxInFlight = 10;
        const pending: Array<() => void> = [];
        // first run: finish records slowly, stop in the middle
        const first = collectingConsumer(stream, stream, {
            maxInFlight,
            handle: (_r, done) => pending.push(done),
        });
        running.push(first.consumer);
        await first.consumer.start();
        let finished = 0;
        while (finished < 80) {
            await waitFor('pending', () => pending.length > 0);
            pending.shift()!();
            finished++;
        }
        assert.ok(first.records.length <= 80 + maxInFlight, 'reading pauses while maxInFlight records are unfinished');
        // stop: in-flight ones are not finished within the drain time
        await first.consumer.stop({ timeoutMs: 200 });
        const table = new LeaseTable(rawDynamo(), stream);
        const [lease] = await table.list();
        assert.equal(lease.leaseOwner, undefined, 'released on stop');
        const second = collectingConsumer(stream, stream, { maxInFlight });
        running.push(second.consumer);
        await second.consumer.start();
        await waitFor('the rest', () => ids.slice(80).every((id) => second.ids.has(id)));
        const firstFinished = new Set(first.records.slice(0, 80).map((r) => r.id));
        const duplicates = [...second.ids].filter((id) => firstFinished.has(id));
        assert.equal(duplicates.length, 0, 'finished records are not delivered again after a graceful stop');
        for (const id of ids) assert.ok(firstFinished.has(id) || second.ids.has(id), `lost ${id}`);
    });

    it('stop({until}): the wait for in-flight records ends once until() says they will never finish; what finished is checkpointed', async () => {
        const stream = uniqueName('cin-until');
        await createTestStream(stream, 1);
        const ids = await putRecords(stream, 'u', 60);
        const maxInFlight = 10;
        const pending: Array<() => void> = [];
        const first = collectingConsumer(stream, stream, { maxInFlight, handle: (_r, done) => pending.push(done) });
        running.push(first.consumer);
        await first.consumer.start();
        await waitFor('the shard full (maxInFlight records unfinished)', () => pending.length === maxInFlight);
        for (const done of pending.splice(0, 4)) done(); // the first 4 finish, the rest are held "by a stopped node"
        let asked = 0;
        let stopped = false;
        // the drain timeout is 10 min: only until() can end it within the wait below
        void first.consumer.stop({ timeoutMs: 600_000, until: () => ++asked > 0 }).then(() => { stopped = true; });
        await waitFor('stop() to end once until() said so', () => stopped, 30_000);
        assert.ok(asked >= 1);
        const [lease] = await new LeaseTable(rawDynamo(), stream).list();
        assert.equal(lease.leaseOwner, undefined, 'released');
        assert.equal(lease.checkpoint, first.records[3].seq, 'checkpointed the finished records, not the ones held');
        const second = collectingConsumer(stream, stream, { maxInFlight });
        running.push(second.consumer);
        await second.consumer.start();
        await waitFor('the rest', () => ids.slice(4).every((id) => second.ids.has(id)));
        const finished = new Set(first.records.slice(0, 4).map((r) => r.id));
        assert.deepEqual([...second.ids].filter((id) => finished.has(id)), [], 'finished records are not read again');
        for (const id of ids) assert.ok(finished.has(id) || second.ids.has(id), `lost ${id}`);
    });

    it('a stop that begins while a lease is being taken releases that lease too', async () => {
        const stream = uniqueName('cin-stoptake');
        await createTestStream(stream, 2);
        const col = collectingConsumer(stream, stream);
        running.push(col.consumer);
        // The second take is written to DynamoDB, but its answer arrives only after stop() has begun.
        const table = col.consumer.table;
        const take = table.take.bind(table);
        let takes = 0;
        let stopBegun!: () => void;
        const stopping = new Promise<void>((r) => { stopBegun = r; });
        let taken!: () => void;
        const secondTaken = new Promise<void>((r) => { taken = r; });
        table.take = async (...args: Parameters<typeof table.take>) => {
            const r = await take(...args);
            if (++takes === 2) {
                taken();
                await stopping;
            }
            return r;
        };
        const started = col.consumer.start(); // resolves after the first taker pass, which waits below
        await secondTaken;
        const stopped = col.consumer.stop({ timeoutMs: 200 });
        stopBegun();
        await Promise.all([started, stopped]);
        const leases = await new LeaseTable(rawDynamo(), stream).list();
        assert.equal(leases.length, 2);
        assert.deepEqual(leases.map((l) => l.leaseOwner), [undefined, undefined], 'every lease released, the late one too');
    });

    it('does not checkpoint past a record whose processing failed', async () => {
        const stream = uniqueName('cin-fail');
        await createTestStream(stream, 1);
        const ids = await putRecords(stream, 'f', 30);
        const col = collectingConsumer(stream, stream, {
            handle: (r, done) => {
                const body = JSON.parse(r.data.toString()) as { n: number };
                done(body.n === 10 ? new Error('flow failed') : undefined);
            },
        });
        running.push(col.consumer);
        await col.consumer.start();
        await waitFor('all delivered', () => ids.every((id) => col.ids.has(id)));
        await sleep(600); // several checkpoint intervals
        const failedSeq = col.records.find((r) => r.n === 10)!.seq;
        const before = col.records.find((r) => r.n === 9)!.seq;
        const table = new LeaseTable(rawDynamo(), stream);
        const [lease] = await table.list();
        assert.equal(lease.checkpoint, before, 'checkpoint stops right before the failed record');
        assert.notEqual(lease.checkpoint, failedSeq);
        assert.ok(col.events.some((e) => e.startsWith('failed:')));
        await col.consumer.stop({ timeoutMs: 100 });
        const again = collectingConsumer(stream, stream);
        running.push(again.consumer);
        await again.consumer.start();
        await waitFor('failed record delivered again', () => again.ids.has('f-10'));
        assert.ok(!again.ids.has('f-9'));
    });

    it('deaggregates KPL-aggregated records and resumes inside an aggregated record', async () => {
        const stream = uniqueName('cin-kpl');
        await createTestStream(stream, 1);
        const kinesis = rawKinesis();
        const sub = (n: number) => ({ data: Buffer.from(JSON.stringify({ id: `g-${n}`, key: `k${n % 3}`, n })), partitionKey: `k${n % 3}` });
        const agg1 = aggregate(Array.from({ length: 5 }, (_, i) => sub(i)));
        const agg2 = aggregate(Array.from({ length: 5 }, (_, i) => sub(i + 5)));
        await kinesis.send(new PutRecordsCommand({ StreamName: stream, Records: [{ Data: agg1, PartitionKey: 'k0' }, { Data: agg2, PartitionKey: 'k1' }] }));
        const stopAt = 7;
        const pending: Array<() => void> = [];
        const col = collectingConsumer(stream, stream, { handle: (_r, done) => pending.push(done) });
        running.push(col.consumer);
        await col.consumer.start();
        await waitFor('8 delivered', () => col.records.length >= stopAt + 1);
        for (let i = 0; i < stopAt; i++) pending[i](); // finish g-0 … g-6
        await col.consumer.stop({ timeoutMs: 100 });
        assert.deepEqual(col.records.slice(0, 5).map((r) => r.sub), [0, 1, 2, 3, 4]);
        const table = new LeaseTable(rawDynamo(), stream);
        const [lease] = await table.list();
        assert.equal(lease.checkpoint, col.records[6].seq);
        assert.equal(lease.checkpointSubSequenceNumber, 1);
        const again = collectingConsumer(stream, stream);
        running.push(again.consumer);
        await again.consumer.start();
        await waitFor('rest', () => again.ids.has('g-9'));
        assert.deepEqual([...again.ids].sort(), ['g-7', 'g-8', 'g-9']);
    });

    it('restarts a stalled reader and loses nothing', async () => {
        const stream = uniqueName('cin-stall');
        await createTestStream(stream, 1);
        const ids = await putRecords(stream, 's', 40);
        let calls = 0;
        // the second batch never arrives: the watchdog must replace the reader
        const stalling: ShardReaderFactory = (o) => {
            const inner = createPollingReader({ ...o, maxRecords: 10 });
            return {
                shardId: inner.shardId,
                next: () => (++calls === 2 ? new Promise(() => undefined) : inner.next()),
                close: () => inner.close(),
            };
        };
        const col = collectingConsumer(stream, stream, { readerFactory: stalling, watchdogMs: 500 });
        running.push(col.consumer);
        await col.consumer.start();
        await waitFor('all records despite the stall', () => ids.every((id) => col.ids.has(id)));
        assert.ok(col.events.some((e) => e.startsWith('restarted:')));
    });

    it('prepares the first read beside the take: the shard iterator is asked before the lease is held, and that reader reads', async () => {
        const stream = uniqueName('cin-prep');
        await createTestStream(stream, 2);
        const ids = await putRecords(stream, 'p', 30);
        const log: string[] = [];
        let made = 0;
        const factory: ShardReaderFactory = (o) => {
            const inner = createPollingReader(o);
            const id = `${o.shardId}#${++made}`;
            return {
                shardId: inner.shardId,
                prepare: () => {
                    log.push(`prepare ${id}`);
                    inner.prepare!();
                },
                next: (x) => {
                    log.push(`next ${id}`);
                    return inner.next(x);
                },
                close: () => inner.close(),
            };
        };
        const col = collectingConsumer(stream, stream, {
            readerFactory: factory,
            onEvent: (e) => {
                if (e.type === 'acquired') log.push(`acquired ${e.shardId}`);
            },
        });
        running.push(col.consumer);
        await col.consumer.start();
        await waitFor('all records', () => ids.every((id) => col.ids.has(id)));
        const shards = [...new Set(col.records.map((r) => r.shardId))];
        assert.equal(shards.length, 2, 'both shards read');
        assert.equal(made, 2, `one reader per shard, the prepared one (${log.join(', ')})`);
        for (const shard of shards) {
            const prep = log.findIndex((l) => l.startsWith(`prepare ${shard}#`));
            const reader = log[prep].slice('prepare '.length);
            assert.ok(prep >= 0 && prep < log.indexOf(`acquired ${shard}`), `${shard}: prepared before the lease was held (${log.join(', ')})`);
            assert.ok(log.indexOf(`acquired ${shard}`) < log.indexOf(`next ${reader}`), `${shard}: the first read only once held (${log.join(', ')})`);
        }
    });

    it('ordered: one record in flight per shard', async () => {
        const stream = uniqueName('cin-ord');
        await createTestStream(stream, 1);
        const ids = await putRecords(stream, 'o', 20);
        let inFlight = 0;
        let maxSeen = 0;
        const col = collectingConsumer(stream, stream, {
            ordered: true,
            handle: (_r, done) => {
                inFlight++;
                maxSeen = Math.max(maxSeen, inFlight);
                setTimeout(() => {
                    inFlight--;
                    done();
                }, 2);
            },
        });
        running.push(col.consumer);
        await col.consumer.start();
        await waitFor('all', () => ids.every((id) => col.ids.has(id)));
        assert.equal(maxSeen, 1);
        assert.deepEqual(col.records.map((r) => r.n), ids.map((_, i) => i));
    });

    it('a shard lease at SHARD_END is not read again', async () => {
        const stream = uniqueName('cin-end');
        await createTestStream(stream, 1);
        const table = new LeaseTable(rawDynamo(), stream);
        await table.ensureTable();
        const shards = await rawKinesis().send(new (await import('@aws-sdk/client-kinesis')).ListShardsCommand({ StreamName: stream }));
        const shardId = shards.Shards![0].ShardId!;
        await table.create({ leaseKey: shardId, leaseCounter: 0, checkpoint: SHARD_END, checkpointSubSequenceNumber: 0, ownerSwitchesSinceCheckpoint: 0, parentShardIds: [], childShardIds: [] });
        await putRecords(stream, 'e', 5);
        const col = collectingConsumer(stream, stream);
        running.push(col.consumer);
        await col.consumer.start();
        await sleep(800);
        assert.equal(col.ids.size, 0);
    });
});

describe('consumer with Enhanced Fan-Out (readMode efo)', function () {
    this.timeout(60_000);
    afterEach(deleteTestStreams);
    it('reads every record through SubscribeToShard and checkpoints', async () => {
        const stream = uniqueName('cin-efo');
        await createTestStream(stream, 2);
        const ids = await putRecords(stream, 'e', 40);
        const col = collectingConsumer(stream, stream, { readMode: 'efo', consumerName: `${stream}-c` });
        try {
            await col.consumer.start();
            await waitFor('all records', () => ids.every((id) => col.ids.has(id)), 45_000);
            const table = new LeaseTable(rawDynamo(), stream);
            await waitFor('checkpoints', async () => (await table.list()).every((l) => /^\d+$/.test(l.checkpoint)));
        } finally {
            await col.consumer.stop({ timeoutMs: 100 });
        }
    });
});

describe('consumer: errors in words', function () {
    this.timeout(30_000);
    afterEach(deleteTestStreams);
    it('access denied on the lease table names the DynamoDB permission; a missing stream is "not found"', async () => {
        const { explainAwsError } = await import('../../lib/aws/errors');
        const { KinesisConsumer } = await import('../../lib/consumer/consumer');
        const stream = uniqueName('cin-denied');
        await createTestStream(stream, 1);
        const dynamo = rawDynamo();
        const denied = Object.assign(new Error('User: arn:aws:iam::123456789012:user/x is not authorized to perform: dynamodb:CreateTable'), {
            name: 'AccessDeniedException',
            $metadata: { httpStatusCode: 400 },
        });
        // fault injection around the client: every DynamoDB call is denied
        (dynamo as unknown as { send: () => Promise<never> }).send = () => Promise.reject(denied);
        const errors: string[] = [];
        const c = new KinesisConsumer({
            kinesis: rawKinesis(), dynamodb: dynamo, streamName: stream, tableName: stream, initialPosition: { type: 'LATEST' },
            onRecord: (_r, done) => done(),
            onError: (err, ctx) => errors.push(explainAwsError(err, { action: ctx.action, tableName: stream }).message),
        });
        void c.start();
        await waitFor('an error', () => errors.length > 0);
        c.crash();
        assert.match(errors[0], /access denied/);
        assert.match(errors[0], /dynamodb:CreateTable/);

        const missing = uniqueName('cin-missing');
        const errs2: Array<{ message: string; status: string }> = [];
        const c2 = new KinesisConsumer({
            kinesis: rawKinesis(), dynamodb: rawDynamo(), streamName: missing, tableName: missing, initialPosition: { type: 'LATEST' },
            onRecord: (_r, done) => done(),
            onError: (err, ctx) => errs2.push(explainAwsError(err, { action: ctx.action, streamName: missing })),
        });
        void c2.start();
        await waitFor('an error', () => errs2.length > 0);
        c2.crash();
        assert.equal(errs2[0].status, 'stream not found');
        assert.match(errs2[0].message, new RegExp(missing));
        // the lease table is looked up beside the stream, but created only once the stream answered
        await assert.rejects(rawDynamo().send(new DescribeTableCommand({ TableName: missing })), /ResourceNotFound|not found/i);
    });
});
