/**
 * The GetRecords codec (lib/consumer/get-records-codec.ts) on a real SDK KinesisClient against a loopback
 * HTTP stub: for the same answer bodies it gives what the SDK's own deserializer gives (records, KPL
 * aggregates, child shards, lag, empty answers, members the SDK does not know), hands what it does not
 * understand to the SDK, and leaves error answers, retries and other commands to the SDK.
 */
import assert from 'node:assert/strict';
import { GetRecordsCommand, GetRecordsCommandOutput, KinesisClient, ListShardsCommand } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeGetRecords, useGetRecordsCodec } from '../../lib/consumer/get-records-codec';
import { aggregate, deaggregate } from '../../lib/kpl';
import { jsonError, startStub, Stub, StubReply } from '../helpers/aws-stub';

const JSON_11 = { 'content-type': 'application/x-amz-json-1.1' };

function client(stub: Stub, maxAttempts = 1): KinesisClient {
    return new KinesisClient({
        region: 'us-east-1',
        endpoint: stub.url,
        credentials: { accessKeyId: 'AKIDGETRECORDS', secretAccessKey: 'secret' },
        maxAttempts,
        requestHandler: new NodeHttpHandler(),
    });
}

const b64 = (b: Uint8Array | string) => Buffer.from(b).toString('base64');
const SEQ = (i: number) => `4959${String(i).padStart(52, '0')}`;
const kpl = aggregate([
    { data: Buffer.from('{"temperature":21}'), partitionKey: 'dev-1' },
    { data: Buffer.from('second'), partitionKey: 'dev-2', explicitHashKey: '170141183460469231731687303715884105728' },
]);

/** Answer bodies the SDK and the codec must read alike. */
const BODIES: Record<string, Record<string, unknown>> = {
    records: {
        Records: [
            { SequenceNumber: SEQ(1), ApproximateArrivalTimestamp: 1700000000.123, Data: b64('{"a":1}'), PartitionKey: 'k1' },
            { SequenceNumber: SEQ(2), ApproximateArrivalTimestamp: 1700000000.1235, Data: b64(new Uint8Array([0, 1, 2, 253, 254, 255])), PartitionKey: 'clé "quoted" \\ ünïcode ✓ 😀', EncryptionType: 'KMS' },
            { SequenceNumber: SEQ(3), ApproximateArrivalTimestamp: 1700000001, Data: '', PartitionKey: 'empty' },
            { SequenceNumber: SEQ(4), ApproximateArrivalTimestamp: 1.7e9, Data: b64(Buffer.alloc(3000, 0xab)), PartitionKey: 'big', EncryptionType: 'NONE' },
            { SequenceNumber: SEQ(5), ApproximateArrivalTimestamp: 1700000002.5, Data: b64(Buffer.alloc(2, 1)), PartitionKey: 'pad2' },
            { SequenceNumber: SEQ(6), ApproximateArrivalTimestamp: 1700000002.5, Data: b64(Buffer.alloc(1, 1)), PartitionKey: 'pad1' },
        ],
        NextShardIterator: 'AAAAAAAAAAFnext',
        MillisBehindLatest: 12345,
    },
    kpl: { Records: [{ SequenceNumber: SEQ(7), ApproximateArrivalTimestamp: 1700000003.001, Data: b64(kpl), PartitionKey: 'dev-1' }], NextShardIterator: 'it', MillisBehindLatest: 0 },
    empty: { Records: [], NextShardIterator: 'AAAAAAAAAAFcaughtup', MillisBehindLatest: 0 },
    shardEnd: {
        Records: [],
        MillisBehindLatest: 0,
        ChildShards: [
            { ShardId: 'shardId-000000000002', ParentShards: ['shardId-000000000000'], HashKeyRange: { StartingHashKey: '0', EndingHashKey: '170141183460469231731687303715884105727' } },
            { ShardId: 'shardId-000000000003', ParentShards: ['shardId-000000000000', 'shardId-000000000001'], HashKeyRange: { StartingHashKey: '170141183460469231731687303715884105728', EndingHashKey: '340282366920938463463374607431768211455' } },
        ],
    },
    unknownMembers: {
        Records: [{ SequenceNumber: SEQ(8), ApproximateArrivalTimestamp: 1700000004, Data: b64('x'), PartitionKey: 'k', ExplicitHashKey: '1', Extra: { a: 1 } }],
        NextShardIterator: 'it',
        MillisBehindLatest: 7,
        SomethingNew: true,
        ChildShards: [{ ShardId: 's', ParentShards: [], HashKeyRange: { StartingHashKey: '0', EndingHashKey: '1', Foo: 2 }, Bar: 3 }],
    },
    nulls: { Records: [{ SequenceNumber: SEQ(9), ApproximateArrivalTimestamp: null, Data: b64('y'), PartitionKey: null }], NextShardIterator: null, MillisBehindLatest: null },
    noRecords: { NextShardIterator: 'it' },
};

/** n records of ~500 B of JSON each: a body of more than one piece (the codec parses those in pieces). */
function many(n: number, extra: (i: number) => object = () => ({})): object[] {
    const keys = ['x},{', '},{"a', '},{"SequenceNumber":"1', 'plain', '}],"NextShardIterator":"no', '\\'];
    return Array.from({ length: n }, (_, i) => ({
        SequenceNumber: SEQ(1000 + i), ApproximateArrivalTimestamp: 1700000000 + i / 1000, Data: b64(Buffer.alloc(200 + (i % 50), i % 256)),
        PartitionKey: `${keys[i % keys.length]}-${i}`, ...extra(i),
    }));
}
BODIES.large = { Records: many(3000), NextShardIterator: 'AAAAAAAAAAFlarge', MillisBehindLatest: 99 };
BODIES.largeMembersFirst = { MillisBehindLatest: 5, NextShardIterator: 'it', Records: many(1200) };
BODIES.largeWithChildren = { Records: many(700), MillisBehindLatest: 0, ChildShards: BODIES.shardEnd.ChildShards };
// an unknown member holding an array of objects: the codec's cut lands inside it and it parses the body whole
BODIES.largeNestedArrays = { Records: many(900, (i) => ({ Nested: [{ a: i }, { b: `x${i}` }] })), NextShardIterator: 'it', MillisBehindLatest: 1 };

/** Bodies the codec leaves to the SDK (it reads them as it does, or throws its error). */
const SDK_BODIES: Record<string, object | string> = {
    timestampText: { Records: [{ SequenceNumber: SEQ(10), ApproximateArrivalTimestamp: '1700000000.5', Data: b64('t'), PartitionKey: 'k' }], NextShardIterator: 'it' },
    badBase64: { Records: [{ SequenceNumber: SEQ(11), Data: 'abc', PartitionKey: 'k' }] },
    badBase64Chars: { Records: [{ SequenceNumber: SEQ(12), Data: 'ab$c', PartitionKey: 'k' }] },
    urlSafeBase64: { Records: [{ SequenceNumber: SEQ(13), Data: 'ab-_', PartitionKey: 'k' }] },
    midPadding: { Records: [{ SequenceNumber: SEQ(14), Data: 'QQ==QUFB', PartitionKey: 'k' }] },
    notJson: 'this is not json',
    // more than one piece, the bad record after the first piece: the body reaches the SDK unchanged
    largeBadBase64: { Records: many(900, (i) => (i === 500 ? { Data: 'ab$c' } : {})) },
};

/** Output without $metadata, Data as base64 text (the SDK gives Uint8Array views, the codec Buffers). */
function comparable(out: GetRecordsCommandOutput): unknown {
    const { $metadata: _m, ...rest } = out;
    return { ...rest, Records: rest.Records?.map((r) => ({ ...r, Data: r.Data === undefined ? undefined : b64(r.Data) })) };
}

describe('consumer: GetRecords codec (real SDK client, loopback stub)', function () {
    let stub: Stub;
    let reply: (req: { target?: string }) => StubReply;

    before(async function () {
        stub = await startStub((req) => reply(req));
    });
    after(async function () {
        await stub.close();
    });

    it('gives what the SDK gives for the same answers (records, KPL, empty, shard end with children, unknown members, nulls)', async function () {
        const plain = client(stub);
        const fast = client(stub);
        assert.equal(useGetRecordsCodec(fast), true);
        for (const [name, body] of Object.entries(BODIES)) {
            reply = () => ({ status: 200, body, headers: JSON_11 });
            const a = await plain.send(new GetRecordsCommand({ ShardIterator: 'it', Limit: 100 }));
            const b = await fast.send(new GetRecordsCommand({ ShardIterator: 'it', Limit: 100 }));
            assert.deepEqual(comparable(b), comparable(a), name);
            assert.equal(b.$metadata.httpStatusCode, 200);
            // the codec's path was taken: Data is a Buffer (the SDK gives Uint8Array views)
            for (const r of b.Records ?? []) if (r.Data) assert.ok(Buffer.isBuffer(r.Data), `${name}: Data is a Buffer`);
            for (const r of a.Records ?? []) if (r.Data) assert.ok(!Buffer.isBuffer(r.Data));
            assert.deepEqual(decodeGetRecords(JSON.stringify(body)) && comparable({ $metadata: {}, ...decodeGetRecords(JSON.stringify(body))! }), comparable(a), `${name} (decodeGetRecords)`);
        }
        plain.destroy();
        fast.destroy();
    });

    it('keeps what matters for reading: dates, bytes, KPL sub-records, lag and children', async function () {
        const fast = client(stub);
        useGetRecordsCodec(fast);
        reply = () => ({ status: 200, body: BODIES.records, headers: JSON_11 });
        const out = await fast.send(new GetRecordsCommand({ ShardIterator: 'it' }));
        assert.equal(out.Records?.length, 6);
        assert.equal(out.Records![0].ApproximateArrivalTimestamp!.getTime(), 1700000000123);
        assert.equal(out.Records![1].ApproximateArrivalTimestamp!.getTime(), 1700000000124); // rounded as the SDK does
        assert.equal(Buffer.from(out.Records![1].Data!).toString('hex'), '000102fdfeff');
        assert.equal(out.Records![2].Data!.length, 0);
        assert.equal(out.Records![3].Data!.length, 3000);
        assert.equal(out.MillisBehindLatest, 12345);
        assert.equal(out.NextShardIterator, 'AAAAAAAAAAFnext');
        reply = () => ({ status: 200, body: BODIES.kpl, headers: JSON_11 });
        const agg = await fast.send(new GetRecordsCommand({ ShardIterator: 'it' }));
        const users = deaggregate(agg.Records![0]);
        assert.deepEqual(users.map((u) => [u.data.toString(), u.partitionKey, u.explicitHashKey, u.subSequenceNumber, u.aggregated]),
            [['{"temperature":21}', 'dev-1', undefined, 0, true], ['second', 'dev-2', '170141183460469231731687303715884105728', 1, true]]);
        reply = () => ({ status: 200, body: BODIES.shardEnd, headers: JSON_11 });
        const end = await fast.send(new GetRecordsCommand({ ShardIterator: 'it' }));
        assert.equal(end.NextShardIterator, undefined);
        assert.deepEqual(end.ChildShards?.map((c) => c.ShardId), ['shardId-000000000002', 'shardId-000000000003']);
        fast.destroy();
    });

    it('hands answers it does not read in full to the SDK: same output or the same error', async function () {
        const plain = client(stub);
        const fast = client(stub);
        useGetRecordsCodec(fast);
        for (const [name, body] of Object.entries(SDK_BODIES)) {
            reply = () => ({ status: 200, body, headers: JSON_11 });
            const settle = (c: KinesisClient) => c.send(new GetRecordsCommand({ ShardIterator: 'it' })).then(
                (out) => ({ out: comparable(out) }),
                (err: Error) => ({ err: `${err.name}: ${err.message}` }),
            );
            const a = await settle(plain);
            const b = await settle(fast);
            assert.deepEqual(b, a, name);
            assert.equal(decodeGetRecords(typeof body === 'string' ? body : JSON.stringify(body)), undefined, `${name}: not decoded by the codec`);
        }
        plain.destroy();
        fast.destroy();
    });

    it('leaves error answers to the SDK (its exception), retries as the SDK does, other commands alone; installs once', async function () {
        const fast = client(stub, 2);
        assert.equal(useGetRecordsCodec(fast), true);
        assert.equal(useGetRecordsCodec(fast), true);
        reply = () => jsonError('ExpiredIteratorException', 'Iterator expired. The iterator was created at time X');
        await assert.rejects(fast.send(new GetRecordsCommand({ ShardIterator: 'it' })), (err: Error & { $metadata?: { httpStatusCode?: number } }) => {
            assert.equal(err.name, 'ExpiredIteratorException');
            assert.equal(err.$metadata?.httpStatusCode, 400);
            return true;
        });
        // a throttled attempt, then the answer: the SDK retries, the second answer is decoded
        let n = 0;
        reply = () => (n++ === 0
            ? jsonError('ProvisionedThroughputExceededException', 'Rate exceeded for shard', 400)
            : { status: 200, body: BODIES.records, headers: JSON_11 });
        const out = await fast.send(new GetRecordsCommand({ ShardIterator: 'it' }));
        assert.equal(n, 2);
        assert.equal(out.$metadata.attempts, 2);
        assert.equal(out.Records?.length, 6);
        assert.ok(Buffer.isBuffer(out.Records![0].Data));
        reply = () => ({ status: 200, body: { Shards: [{ ShardId: 'shardId-000000000000', HashKeyRange: { StartingHashKey: '0', EndingHashKey: '1' }, SequenceNumberRange: { StartingSequenceNumber: '1' } }] }, headers: JSON_11 });
        const shards = await fast.send(new ListShardsCommand({ StreamName: 's' }));
        assert.equal(shards.Shards?.[0].ShardId, 'shardId-000000000000');
        fast.destroy();
        // a stand-in without a middleware stack, or a client that names another protocol, is left alone
        assert.equal(useGetRecordsCodec({ send: async () => ({}) }), false);
        const other = client(stub);
        (other.config as unknown as { protocol: { getShapeId(): string } }).protocol = { getShapeId: () => 'smithy.protocols#rpcv2Cbor' };
        assert.equal(useGetRecordsCodec(other), false);
        other.destroy();
    });

    it('a 200 answer cut off in its body rejects (a network error) instead of leaving the read waiting', async function () {
        const server = createServer((req, res) => {
            req.resume();
            req.on('end', () => {
                res.writeHead(200, { ...JSON_11, 'content-length': '100000' });
                res.write('{"Records":[{"SequenceNumber":"1","Data":"');
                setTimeout(() => res.socket?.destroy(), 50);
            });
        });
        await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
        try {
            const fast = new KinesisClient({
                region: 'us-east-1', endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
                credentials: { accessKeyId: 'AKIDGETRECORDS', secretAccessKey: 'secret' }, maxAttempts: 1, requestHandler: new NodeHttpHandler(),
            });
            useGetRecordsCodec(fast);
            await assert.rejects(fast.send(new GetRecordsCommand({ ShardIterator: 'it' })));
            fast.destroy();
        } finally {
            server.close();
        }
    });
});
