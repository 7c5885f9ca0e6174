/**
 * Enhanced Fan-Out against the real kinesis-local (SubscribeToShard over HTTP/1.1 on its plain port).
 */
import assert from 'node:assert/strict';
import { DescribeStreamConsumerCommand, KinesisClient } from '@aws-sdk/client-kinesis';
import { createEfoReaderFactory, ensureStreamConsumer } from '../../lib/consumer/efo';
import type { ShardReader } from '../../lib/consumer/reader';
import { createStream, rawKinesis, uniqueName } from '../helpers/stack';
import { assertExactly, collect, efoStream, putIds, shardsOf, streamArnOf } from './efo-helpers';

/** Short timings for the local stack (kinesis-local does not enforce AWS's 5-second rule). */
const FAST = { minSubscribeIntervalMs: 0, retryBaseMs: 50, retryMaxMs: 500 };

describe('EFO: ensureStreamConsumer + reader (kinesis-local)', function () {
    this.timeout(60_000);
    let kinesis: KinesisClient;
    let stream: string;
    let streamARN: string;
    let shardId: string;
    let consumerARN: string;
    const readers: ShardReader[] = [];

    before(async function () {
        kinesis = rawKinesis();
        stream = uniqueName('efo');
        await createStream(stream, 1, kinesis);
        streamARN = await streamArnOf(kinesis, stream);
        shardId = (await shardsOf(kinesis, stream))[0].ShardId!;
    });
    afterEach(async () => {
        await Promise.all(readers.splice(0).map((r) => r.close()));
    });
    after(() => kinesis.destroy());

    it('registers the consumer, waits until ACTIVE, and a second call returns the same ARN', async function () {
        consumerARN = await ensureStreamConsumer(kinesis, streamARN, 'efo-app.1', { pollMs: 100 });
        assert.match(consumerARN, /consumer\/efo-app\.1/);
        const d = await kinesis.send(new DescribeStreamConsumerCommand({ ConsumerARN: consumerARN }));
        assert.equal(d.ConsumerDescription?.ConsumerStatus, 'ACTIVE');
        const again = await ensureStreamConsumer(kinesis, streamARN, 'efo-app.1', { pollMs: 100 });
        assert.equal(again, consumerARN);
        // Several workers at once: all get the one consumer.
        const name = uniqueName('race');
        const arns = await Promise.all([1, 2, 3].map(() => ensureStreamConsumer(kinesis, streamARN, name, { pollMs: 100 })));
        assert.equal(new Set(arns).size, 1);
    });

    it('rejects an invalid consumer name with a clear error', async function () {
        await assert.rejects(ensureStreamConsumer(kinesis, streamARN, 'bad name!'), /may contain only letters, digits/);
        await assert.rejects(ensureStreamConsumer(kinesis, streamARN, ''), /empty/);
        await assert.rejects(ensureStreamConsumer(kinesis, streamARN, 'x'.repeat(129)), /at most 128/);
    });

    it('explains a missing stream', async function () {
        const missing = streamARN.replace(stream, uniqueName('missing'));
        await assert.rejects(ensureStreamConsumer(kinesis, missing, 'c1', { pollMs: 100 }), (err: Error) => {
            assert.match(err.message, /not found/);
            return true;
        });
    });

    it('can be aborted while waiting', async function () {
        const ac = new AbortController();
        ac.abort();
        await assert.rejects(ensureStreamConsumer(kinesis, streamARN, 'c2', { signal: ac.signal }), { name: 'AbortError' });
    });

    it('TRIM_HORIZON: records put before and after subscribing arrive once, in order', async function () {
        const before = await putIds(kinesis, stream, 'th-before', 30);
        const reader = createEfoReaderFactory(consumerARN, FAST)({ kinesis, streamName: stream, shardId, start: { type: 'TRIM_HORIZON' }, maxRecords: 10_000, idleTimeMs: 1000 });
        readers.push(reader);
        const first = await collect(reader, before.length);
        assertExactly(first.ids, before);
        const after = await putIds(kinesis, stream, 'th-after', 25);
        const second = await collect(reader, after.length);
        assertExactly(second.ids, after);
        assert.ok(first.batches.some((b) => typeof b.millisBehindLatest === 'number'), 'millisBehindLatest reported');
    });

    it('AT_SEQUENCE_NUMBER starts at the record, AFTER_SEQUENCE_NUMBER after it', async function () {
        const { stream: s2, shardId: shard2, consumerARN: c2 } = await efoStream(kinesis, 'efo-at', 'at-app');
        const ids = await putIds(kinesis, s2, 'at', 20);
        const factory = createEfoReaderFactory(c2, FAST);
        const all = factory({ kinesis, streamName: s2, shardId: shard2, start: { type: 'TRIM_HORIZON' }, maxRecords: 10_000, idleTimeMs: 1000 });
        readers.push(all);
        const got = await collect(all, ids.length);
        assertExactly(got.ids, ids);
        await all.close();
        const seq10 = got.sequenceNumbers[10];

        const at = factory({ kinesis, streamName: s2, shardId: shard2, start: { type: 'AT_SEQUENCE_NUMBER', sequenceNumber: seq10 }, maxRecords: 10_000, idleTimeMs: 1000 });
        readers.push(at);
        const more = await putIds(kinesis, s2, 'at-more', 5);
        assertExactly((await collect(at, 15)).ids, [...ids.slice(10), ...more]);
        await at.close();

        const after = factory({ kinesis, streamName: s2, shardId: shard2, start: { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: seq10 }, maxRecords: 10_000, idleTimeMs: 1000 });
        readers.push(after);
        assertExactly((await collect(after, 14)).ids, [...ids.slice(11), ...more]);
    });

    it('LATEST skips what is already there; AT_TIMESTAMP starts at the first record at or after the time', async function () {
        const s3 = uniqueName('efo-latest');
        await createStream(s3, 1, kinesis);
        const arn3 = await streamArnOf(kinesis, s3);
        const shard3 = (await shardsOf(kinesis, s3))[0].ShardId!;
        const c3 = await ensureStreamConsumer(kinesis, arn3, 'latest-app', { pollMs: 100 });
        const factory = createEfoReaderFactory(c3, FAST);
        const old = await putIds(kinesis, s3, 'old', 10);
        await new Promise((r) => setTimeout(r, 50));
        const t = new Date();
        await new Promise((r) => setTimeout(r, 50));
        const latest = factory({ kinesis, streamName: s3, shardId: shard3, start: { type: 'LATEST' }, maxRecords: 10_000, idleTimeMs: 1000 });
        readers.push(latest);
        // The first event (possibly empty) proves the subscription is in place before the new puts.
        const firstBatch = await latest.next();
        assert.deepEqual(firstBatch.records.map((r) => Buffer.from(r.Data!).toString()).filter((id) => old.includes(id)), []);
        const fresh = await putIds(kinesis, s3, 'new', 10);
        assertExactly((await collect(latest, fresh.length)).ids, fresh);
        await latest.close();
        const atTs = factory({ kinesis, streamName: s3, shardId: shard3, start: { type: 'AT_TIMESTAMP', timestamp: t }, maxRecords: 10_000, idleTimeMs: 1000 });
        readers.push(atTs);
        assertExactly((await collect(atTs, fresh.length)).ids, fresh);
    });
});
