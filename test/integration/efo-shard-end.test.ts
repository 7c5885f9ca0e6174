/**
 * End of shard on EFO against the real kinesis-local: a split closes the parent; its reader returns
 * every record, then `shardEnd` listing both children. kinesis-local never sends ChildShards on
 * SubscribeToShard, so this also covers the reader's caught-up GetRecords probe.
 */
import assert from 'node:assert/strict';
import { GetRecordsCommand, KinesisClient, SplitShardCommand, SubscribeToShardCommand } from '@aws-sdk/client-kinesis';
import { createEfoReaderFactory, EfoShardReader, ensureStreamConsumer } from '../../lib/consumer/efo';
import type { ShardReader } from '../../lib/consumer/reader';
import { createStream, rawKinesis, uniqueName, waitFor } from '../helpers/stack';
import { assertExactly, collect, efoStream, faultyClient, putIds, shardsOf, streamArnOf } from './efo-helpers';
import type { SendFn } from './efo-helpers';

describe('EFO reader: end of shard (kinesis-local)', function () {
    this.timeout(60_000);
    let kinesis: KinesisClient;
    const readers: ShardReader[] = [];

    before(() => {
        kinesis = rawKinesis();
    });
    afterEach(async () => {
        await Promise.all(readers.splice(0).map((r) => r.close()));
    });
    after(() => kinesis.destroy());

    it('after SplitShard the parent reader delivers every record, then shardEnd with both children', async function () {
        const stream = uniqueName('efo-split');
        await createStream(stream, 1, kinesis);
        const streamARN = await streamArnOf(kinesis, stream);
        const parent = (await shardsOf(kinesis, stream))[0];
        const consumerARN = await ensureStreamConsumer(kinesis, streamARN, 'app', { pollMs: 100 });
        const reader = createEfoReaderFactory(consumerARN, { minSubscribeIntervalMs: 0, retryBaseMs: 50, retryMaxMs: 400, shardEndProbeMs: 500 })({
            kinesis, streamARN, shardId: parent.ShardId!, start: { type: 'TRIM_HORIZON' }, maxRecords: 10_000, idleTimeMs: 1000,
        }) as EfoShardReader;
        readers.push(reader);
        const before = await putIds(kinesis, stream, 'pre', 30);
        const got = (await collect(reader, 10)).ids;
        const late = await putIds(kinesis, stream, 'late', 30);
        await kinesis.send(new SplitShardCommand({ StreamName: stream, ShardToSplit: parent.ShardId!, NewStartingHashKey: '170141183460469231731687303715884105728' }));
        await waitFor('two children', async () => (await shardsOf(kinesis, stream)).filter((s) => s.ParentShardId === parent.ShardId).length === 2, 20_000, 200);
        const rest = await collect(reader, 0, { untilShardEnd: true });
        got.push(...rest.ids);
        assertExactly(got, [...before, ...late]);
        assert.ok(rest.shardEnd, 'shard end reported');
        const children = (await shardsOf(kinesis, stream)).filter((s) => s.ParentShardId === parent.ShardId).map((s) => s.ShardId).sort();
        assert.deepEqual(rest.shardEnd.childShards.map((c) => c.ShardId).sort(), children);
        for (const c of rest.shardEnd.childShards) assert.deepEqual(c.ParentShards, [parent.ShardId]);
        assert.ok(reader.stats.probes >= 1, 'kinesis-local sends no ChildShards: the GetRecords probe found the end');
        // Later calls keep saying so, with no records.
        const again = await reader.next();
        assert.deepEqual(again.records, []);
        assert.ok(again.shardEnd);
    });

    it('an event with no continuation and ChildShards ends the shard at once (as AWS sends it)', async function () {
        const { stream, shardId, consumerARN } = await efoStream(kinesis, 'efo-end');
        const children = [
            { ShardId: 'shardId-000000000001', ParentShards: [shardId], HashKeyRange: { StartingHashKey: '0', EndingHashKey: '1' } },
            { ShardId: 'shardId-000000000002', ParentShards: [shardId], HashKeyRange: { StartingHashKey: '2', EndingHashKey: '3' } },
        ];
        // Rewrites the real stream's second event the way AWS ends a closed shard.
        const faulty = faultyClient(kinesis, async (_call, _cmd: SubscribeToShardCommand, send) => {
            const out = await send();
            const source = out.EventStream!;
            return {
                ...out,
                EventStream: {
                    async *[Symbol.asyncIterator]() {
                        let n = 0;
                        for await (const e of source as AsyncIterable<{ SubscribeToShardEvent?: Record<string, unknown> }>) {
                            if (++n === 2 && e.SubscribeToShardEvent) {
                                yield { SubscribeToShardEvent: { ...e.SubscribeToShardEvent, ContinuationSequenceNumber: undefined, ChildShards: children } };
                                return;
                            }
                            yield e;
                        }
                    },
                },
            };
        });
        const ids = await putIds(kinesis, stream, 'e', 5);
        const reader = createEfoReaderFactory(consumerARN, { minSubscribeIntervalMs: 0, shardEndProbeMs: 0 })({
            kinesis: faulty, streamName: stream, shardId, start: { type: 'TRIM_HORIZON' }, maxRecords: 10_000, idleTimeMs: 1000,
        }) as EfoShardReader;
        readers.push(reader);
        const c = await collect(reader, 0, { untilShardEnd: true });
        assertExactly(c.ids, ids);
        assert.deepEqual(c.shardEnd?.childShards.map((s) => s.ShardId), children.map((s) => s.ShardId));
        assert.equal(reader.stats.probes, 0);
    });

    it('ResourceNotFound for the shard while the consumer exists (an expired closed shard) is its end, with no children', async function () {
        const stream = uniqueName('efo-expired');
        await createStream(stream, 1, kinesis);
        const streamARN = await streamArnOf(kinesis, stream);
        const consumerARN = await ensureStreamConsumer(kinesis, streamARN, 'app', { pollMs: 100 });
        const faulty = faultyClient(kinesis, async () => {
            throw Object.assign(new Error('Could not find shard shardId-000000000009'), { name: 'ResourceNotFoundException', $fault: 'client' });
        });
        const reader = createEfoReaderFactory(consumerARN, { minSubscribeIntervalMs: 0 })({
            kinesis: faulty, streamName: stream, shardId: 'shardId-000000000009', start: { type: 'TRIM_HORIZON' }, maxRecords: 10_000, idleTimeMs: 1000,
        });
        readers.push(reader);
        const b = await reader.next();
        assert.deepEqual(b.records, []);
        assert.deepEqual(b.shardEnd, { childShards: [] });
    });
    it('the shard-end probe runs beside the reading: records that arrive while it waits are handed out at once', async function () {
        const { stream, shardId, consumerARN, streamARN } = await efoStream(kinesis, 'efo-probe');
        // GetRecords (only the probe calls it on EFO) waits until the test releases it
        let release!: () => void;
        const gate = new Promise<void>((r) => (release = r));
        let getRecordsCalls = 0;
        let getRecordsDone = 0;
        const send = async (command: unknown, options?: { abortSignal?: AbortSignal }): Promise<unknown> => {
            if (command instanceof GetRecordsCommand) {
                getRecordsCalls++;
                await gate;
                try {
                    return await (kinesis.send as SendFn)(command, options);
                } finally {
                    getRecordsDone++;
                }
            }
            return (kinesis.send as SendFn)(command, options);
        };
        const gated = { send, destroy: () => undefined, config: kinesis.config } as unknown as KinesisClient;
        const first = await putIds(kinesis, stream, 'a', 3);
        const reader = createEfoReaderFactory(consumerARN, { minSubscribeIntervalMs: 0, shardEndProbeMs: 200 })({
            kinesis: gated, streamARN, shardId, start: { type: 'TRIM_HORIZON' }, maxRecords: 10_000, idleTimeMs: 1000,
        }) as EfoShardReader;
        readers.push(reader);
        const got = (await collect(reader, 3)).ids;
        // idle (caught up, empty events) until the probe waits in GetRecords
        for (let calls = 0; getRecordsCalls === 0; calls++) {
            assert.ok(calls < 200, 'the probe never started');
            const b = await reader.next();
            assert.deepEqual(b.records, []);
            assert.equal(b.shardEnd, undefined);
        }
        const late = await putIds(kinesis, stream, 'b', 5);
        got.push(...(await collect(reader, 5)).ids);
        assert.equal(getRecordsDone, 0, 'the records came while the probe still waited');
        assertExactly(got, [...first, ...late]);
        // the shard is open: once released, the probe finds no end and the reading goes on
        release();
        await waitFor('the probe finished', () => getRecordsDone > 0, 20_000);
        const more = await putIds(kinesis, stream, 'c', 2);
        const rest = await collect(reader, 2);
        assert.equal(rest.shardEnd, undefined);
        got.push(...rest.ids);
        assertExactly(got, [...first, ...late, ...more]);
    });
});
