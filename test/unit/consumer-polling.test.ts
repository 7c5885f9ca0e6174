import assert from 'node:assert/strict';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { createPollingReader, isInvalidRequest } from '../../lib/consumer/polling';

type Handler = (input: Record<string, unknown>) => unknown;

/** A scripted Kinesis client: each command name maps to a queue of answers (objects or errors). */
function fakeKinesis(script: Record<string, Array<unknown | Handler>>) {
    const calls: Array<{ name: string; input: Record<string, unknown> }> = [];
    const client = {
        send: async (cmd: { constructor: { name: string }; input: Record<string, unknown> }) => {
            const name = cmd.constructor.name.replace(/Command$/, '');
            calls.push({ name, input: cmd.input });
            const q = script[name];
            if (!q || q.length === 0) throw new Error(`unexpected ${name}`);
            let a = q.length > 1 ? q.shift() : q[0];
            if (typeof a === 'function') a = (a as Handler)(cmd.input);
            if (a instanceof Error) throw a;
            return a;
        },
    };
    return { client: client as unknown as KinesisClient, calls };
}

function awsError(name: string): Error {
    return Object.assign(new Error(name), { name, $metadata: {} });
}

const rec = (seq: string) => ({ SequenceNumber: seq, Data: Buffer.from(seq), PartitionKey: 'k' });

describe('consumer: polling reader', () => {
    const base = { streamName: 's', shardId: 'shardId-0', maxRecords: 100, idleTimeMs: 0 };

    it('ExpiredIterator → a new iterator AFTER_SEQUENCE_NUMBER of the last record returned', async () => {
        const { client, calls } = fakeKinesis({
            GetShardIterator: [{ ShardIterator: 'it1' }, { ShardIterator: 'it2' }],
            GetRecords: [{ Records: [rec('10'), rec('11')], NextShardIterator: 'it1b' }, awsError('ExpiredIteratorException'), { Records: [rec('12')], NextShardIterator: 'it3' }],
        });
        const r = createPollingReader({ ...base, kinesis: client, start: { type: 'AT_SEQUENCE_NUMBER', sequenceNumber: '10' } });
        assert.deepEqual((await r.next()).records.map((x) => x.SequenceNumber), ['10', '11']);
        assert.deepEqual((await r.next()).records.map((x) => x.SequenceNumber), ['12']);
        const its = calls.filter((c) => c.name === 'GetShardIterator').map((c) => c.input);
        assert.equal(its[0].ShardIteratorType, 'AT_SEQUENCE_NUMBER');
        assert.deepEqual([its[1].ShardIteratorType, its[1].StartingSequenceNumber], ['AFTER_SEQUENCE_NUMBER', '11']);
        await r.close();
    });

    it('throughput exceeded → backs off, warns, and retries the same iterator', async () => {
        const warnings: string[] = [];
        const { client, calls } = fakeKinesis({
            GetShardIterator: [{ ShardIterator: 'it1' }],
            GetRecords: [awsError('ProvisionedThroughputExceededException'), { Records: [rec('5')], NextShardIterator: 'it2' }],
        });
        const r = createPollingReader({ ...base, kinesis: client, start: { type: 'TRIM_HORIZON' }, onWarning: (m) => warnings.push(m) });
        const b = await r.next();
        assert.deepEqual(b.records.map((x) => x.SequenceNumber), ['5']);
        assert.deepEqual(warnings, ['throttled']);
        const gets = calls.filter((c) => c.name === 'GetRecords').map((c) => c.input.ShardIterator);
        assert.deepEqual(gets, ['it1', 'it1']);
        await r.close();
    });

    it('NextShardIterator null → shard end with the ChildShards of that answer', async () => {
        const children = [{ ShardId: 'shardId-1', ParentShards: ['shardId-0'], HashKeyRange: { StartingHashKey: '0', EndingHashKey: '1' } }];
        const { client } = fakeKinesis({
            GetShardIterator: [{ ShardIterator: 'it1' }],
            GetRecords: [{ Records: [rec('7')], NextShardIterator: null, ChildShards: children }],
        });
        const r = createPollingReader({ ...base, kinesis: client, start: { type: 'TRIM_HORIZON' } });
        const b = await r.next();
        assert.deepEqual(b.records.map((x) => x.SequenceNumber), ['7']);
        assert.deepEqual(b.shardEnd, { childShards: children });
        assert.deepEqual(await r.next(), { records: [] });
    });

    it('ResourceNotFound on a shard of a stream that exists (expired closed shard) → end with no children', async () => {
        const { client } = fakeKinesis({
            GetShardIterator: [awsError('ResourceNotFoundException')],
            DescribeStreamSummary: [{ StreamDescriptionSummary: { StreamStatus: 'ACTIVE' } }],
        });
        const r = createPollingReader({ ...base, kinesis: client, start: { type: 'TRIM_HORIZON' } });
        assert.deepEqual(await r.next(), { records: [], shardEnd: { childShards: [] } });
    });

    it('ResourceNotFound because the stream is gone → rejects (the consumer reports it)', async () => {
        const { client } = fakeKinesis({
            GetShardIterator: [awsError('ResourceNotFoundException')],
            DescribeStreamSummary: [awsError('ResourceNotFoundException')],
        });
        const r = createPollingReader({ ...base, kinesis: client, start: { type: 'TRIM_HORIZON' } });
        await assert.rejects(() => r.next(), /ResourceNotFound/);
    });

    it('access denied is not retried; close() ends a pending idle wait', async () => {
        const { client } = fakeKinesis({ GetShardIterator: [awsError('AccessDeniedException')] });
        const r = createPollingReader({ ...base, kinesis: client, start: { type: 'TRIM_HORIZON' } });
        await assert.rejects(() => r.next(), /AccessDenied/);
        const { client: c2 } = fakeKinesis({ GetShardIterator: [{ ShardIterator: 'i' }], GetRecords: [{ Records: [], NextShardIterator: 'i' }] });
        const idle = createPollingReader({ ...base, idleTimeMs: 60_000, kinesis: c2, start: { type: 'LATEST' } });
        await idle.next(); // empty: caught up
        const p = idle.next(); // waits idleTimeMs
        await idle.close();
        await assert.rejects(() => p, /closed/);
    });

    it('a stream configured by name is read by StreamName even when its ARN is known (kinesalite rejects StreamARN)', async () => {
        const { client, calls } = fakeKinesis({
            GetShardIterator: [{ ShardIterator: 'it1' }],
            GetRecords: [{ Records: [rec('1')], NextShardIterator: 'it2' }],
        });
        const r = createPollingReader({ ...base, streamARN: 'arn:aws:kinesis:us-east-1:123456789012:stream/s', kinesis: client, start: { type: 'TRIM_HORIZON' } });
        await r.next();
        const it = calls.find((c) => c.name === 'GetShardIterator')!.input;
        assert.equal(it.StreamName, 's');
        assert.equal(it.StreamARN, undefined);
        const byArn = fakeKinesis({ GetShardIterator: [{ ShardIterator: 'it1' }], GetRecords: [{ Records: [], NextShardIterator: 'it2' }] });
        const r2 = createPollingReader({ ...base, streamName: undefined, streamARN: 'arn:aws:kinesis:us-east-1:123456789012:stream/s', kinesis: byArn.client, start: { type: 'TRIM_HORIZON' } });
        await r2.next();
        assert.equal(byArn.calls[0].input.StreamARN, 'arn:aws:kinesis:us-east-1:123456789012:stream/s');
        assert.equal(byArn.calls[0].input.StreamName, undefined);
        await r.close();
        await r2.close();
    });

    it('an invalid request (ValidationException) is not retried by the reader and is classed as invalid', async () => {
        const { client, calls } = fakeKinesis({ GetShardIterator: [awsError('ValidationException')] });
        const r = createPollingReader({ ...base, kinesis: client, start: { type: 'TRIM_HORIZON' } });
        await assert.rejects(() => r.next(), (err: unknown) => isInvalidRequest(err));
        assert.equal(calls.length, 1);
        assert.ok(isInvalidRequest(awsError('InvalidArgumentException')));
        assert.ok(!isInvalidRequest(awsError('ProvisionedThroughputExceededException')));
        assert.ok(!isInvalidRequest(awsError('ExpiredIteratorException')));
    });
});
