/**
 * The PutRecords codec (lib/producer/put-records-codec.ts) on a real SDK KinesisClient against a
 * loopback HTTP stub: the body it sends is the body the SDK sends, the answer reads back the same,
 * error answers stay the SDK's exceptions, other commands are untouched.
 */
import assert from 'node:assert/strict';
import { KinesisClient, ListShardsCommand, PutRecordsCommand, PutRecordsCommandInput } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { encodePutRecords, PUT_RECORDS_ENTRIES, usePutRecordsCodec, WireEntry } from '../../lib/producer/put-records-codec';
import { jsonError, startStub, Stub, StubReply } from '../helpers/aws-stub';

const JSON_11 = { 'content-type': 'application/x-amz-json-1.1' };

function client(stub: Stub): KinesisClient {
    return new KinesisClient({
        region: 'us-east-1',
        endpoint: stub.url,
        credentials: { accessKeyId: 'AKIDCODEC', secretAccessKey: 'secret' },
        maxAttempts: 1,
        requestHandler: new NodeHttpHandler(),
    });
}

/** Answers PutRecords with one result per entry (entry i fails when `fail(i)`), ListShards with one shard. */
function kinesisLike(fail: (i: number) => boolean = () => false) {
    return (req: { target?: string; body: string }): StubReply => {
        if (req.target === 'Kinesis_20131202.ListShards') return { status: 200, body: { Shards: [{ ShardId: 'shardId-000000000000', HashKeyRange: { StartingHashKey: '0', EndingHashKey: '1' }, SequenceNumberRange: { StartingSequenceNumber: '1' } }] }, headers: JSON_11 };
        const records = (JSON.parse(req.body) as { Records: unknown[] }).Records;
        let failed = 0;
        const Records = records.map((_r, i) => {
            if (fail(i)) {
                failed++;
                return { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: `Rate exceeded for record ${i}` };
            }
            return { SequenceNumber: `4959${String(i).padStart(52, '0')}`, ShardId: `shardId-00000000000${i % 2}` };
        });
        return { status: 200, body: { FailedRecordCount: failed, Records, EncryptionType: 'NONE' }, headers: JSON_11 };
    };
}

const INPUT: PutRecordsCommandInput = {
    StreamName: 'codec-stream',
    Records: [
        { Data: Buffer.from('{"a":1}'), PartitionKey: 'k1' },
        { Data: new Uint8Array([0, 1, 2, 253, 254, 255, 7]).subarray(1, 6), PartitionKey: 'clé "quoted" \\ \n ünïcode ✓', ExplicitHashKey: '170141183460469231731687303715884105728' },
        { Data: new Uint8Array(0), PartitionKey: 'empty' },
        { Data: Buffer.alloc(1000, 0xab), PartitionKey: '😀' },
    ],
};

describe('producer: PutRecords codec (real SDK client, loopback stub)', function () {
    let stub: Stub;
    let fail: (i: number) => boolean = () => false;

    before(async function () {
        stub = await startStub((req) => kinesisLike((i) => fail(i))(req));
    });
    after(async function () {
        await stub.close();
    });
    beforeEach(function () {
        stub.requests.length = 0;
        fail = () => false;
    });

    it('sends the body the SDK sends (name, ARN, keys with escapes, explicit hash key, views, empty data)', async function () {
        const plain = client(stub);
        const fast = client(stub);
        assert.equal(usePutRecordsCodec(fast), true);
        const arnInput: PutRecordsCommandInput = { ...INPUT, StreamName: undefined, StreamARN: 'arn:aws:kinesis:us-east-1:123456789012:stream/codec-stream' };
        for (const input of [INPUT, arnInput]) {
            stub.requests.length = 0;
            const a = await plain.send(new PutRecordsCommand(input));
            const b = await fast.send(new PutRecordsCommand(input));
            assert.equal(stub.requests.length, 2);
            const [sdkBody, ourBody] = stub.requests.map((r) => JSON.parse(r.body));
            assert.deepEqual(ourBody, sdkBody);
            assert.deepEqual(JSON.parse(encodePutRecords(input)!.toString('utf8')), sdkBody);
            assert.equal(ourBody.Records.length, 4);
            assert.equal(Buffer.from(ourBody.Records[1].Data, 'base64').toString('hex'), '0102fdfeff');
            // same headers that matter, and the body is what was signed (the stub saw a valid content-length)
            assert.equal(stub.requests[1].headers['x-amz-target'], 'Kinesis_20131202.PutRecords');
            assert.equal(stub.requests[1].headers['content-type'], stub.requests[0].headers['content-type']);
            assert.equal(Number(stub.requests[1].headers['content-length']), Buffer.byteLength(stub.requests[1].body));
            assert.match(String(stub.requests[1].headers.authorization), /Credential=AKIDCODEC\//);
            // and reads the answer back as the SDK does
            assert.deepEqual({ ...b, $metadata: undefined }, { ...a, $metadata: undefined });
            assert.equal(b.Records?.length, 4);
            assert.equal(b.FailedRecordCount, 0);
            assert.equal(b.EncryptionType, 'NONE');
            assert.equal(b.$metadata.httpStatusCode, 200);
        }
        plain.destroy();
        fast.destroy();
    });

    it('reads per-entry failures (ErrorCode, ErrorMessage, FailedRecordCount) in order', async function () {
        const fast = client(stub);
        usePutRecordsCodec(fast);
        fail = (i) => i === 1 || i === 3;
        const out = await fast.send(new PutRecordsCommand(INPUT));
        assert.equal(out.FailedRecordCount, 2);
        assert.deepEqual(out.Records?.map((r) => r.ErrorCode ?? r.ShardId), ['shardId-000000000000', 'ProvisionedThroughputExceededException', 'shardId-000000000000', 'ProvisionedThroughputExceededException']);
        assert.equal(out.Records?.[3].ErrorMessage, 'Rate exceeded for record 3');
        fast.destroy();
    });

    it('leaves error answers to the SDK (its exception) and other commands alone; installs once', async function () {
        const errStub = await startStub((req) => (req.target === 'Kinesis_20131202.PutRecords'
            ? jsonError('ResourceNotFoundException', 'Stream codec-stream under account 123456789012 not found.')
            : kinesisLike()(req)));
        try {
            const fast = client(errStub);
            assert.equal(usePutRecordsCodec(fast), true);
            assert.equal(usePutRecordsCodec(fast), true); // a second kinesis-out on the same config node
            await assert.rejects(fast.send(new PutRecordsCommand(INPUT)), (err: Error & { $metadata?: { httpStatusCode?: number } }) => {
                assert.equal(err.name, 'ResourceNotFoundException');
                assert.match(err.message, /not found/);
                assert.equal(err.$metadata?.httpStatusCode, 400);
                return true;
            });
            const shards = await fast.send(new ListShardsCommand({ StreamName: 'codec-stream' }));
            assert.equal(shards.Shards?.[0].ShardId, 'shardId-000000000000');
            assert.equal(errStub.requests.filter((r) => r.target === 'Kinesis_20131202.PutRecords').length, 1);
            fast.destroy();
        } finally {
            await errStub.close();
        }
    });

    it('a request whose Data is not bytes is left to the SDK serializer', async function () {
        const fast = client(stub);
        usePutRecordsCodec(fast);
        const input = { StreamName: 'codec-stream', Records: [{ Data: 'text, not bytes' as unknown as Uint8Array, PartitionKey: 'k' }] };
        assert.equal(encodePutRecords(input), undefined);
        const out = await fast.send(new PutRecordsCommand(input));
        assert.equal(out.Records?.length, 1);
        assert.equal(JSON.parse(stub.requests[0].body).Records[0].PartitionKey, 'k');
        fast.destroy();
    });

    it('writes the bytes JSON.stringify would, for data of every length mod 3, views, and keys that need escapes', function () {
        // the body is written straight into bytes (base64 and keys by hand): compare byte for byte with the plain way
        const keys = ['k', 'a b/c', 'quote " back \\ slash', 'tab\tnew\nline\u0001', 'ünïcödé ✓', '😀 pair', 'lone \ud800 surrogate', 'x'.repeat(256)];
        const backing = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 37) & 255));
        const records = [];
        for (let n = 0; n < 40; n++) {
            const view = n % 2 ? backing.subarray(n, n + n * 3 + (n % 3)) : new Uint8Array(backing.buffer, backing.byteOffset + n, n + (n % 3));
            records.push({ Data: view, PartitionKey: keys[n % keys.length], ...(n % 5 === 0 ? { ExplicitHashKey: String(n * 1e15) } : {}) });
        }
        const reference = (input: PutRecordsCommandInput) => Buffer.from(JSON.stringify({
            ...(input.StreamARN !== undefined ? { StreamARN: input.StreamARN } : {}),
            ...(input.StreamName !== undefined ? { StreamName: input.StreamName } : {}),
            Records: input.Records!.map((r) => ({ Data: Buffer.from(r.Data!).toString('base64'), PartitionKey: r.PartitionKey, ...(r.ExplicitHashKey !== undefined ? { ExplicitHashKey: r.ExplicitHashKey } : {}) })),
        }), 'utf8');
        for (const input of [{ StreamName: 'codec-stream', Records: records }, { StreamARN: 'arn:aws:kinesis:us-east-1:123456789012:stream/codec-stream', Records: records }, { StreamName: 'empty', Records: [] }]) {
            const body = encodePutRecords(input)!;
            assert.equal(body.toString('hex'), reference(input).toString('hex'));
            const entries: WireEntry[] = input.Records.map((r) => ({ data: r.Data!, partitionKey: r.PartitionKey!, explicitHashKey: r.ExplicitHashKey }));
            assert.equal(encodePutRecords({ ...input, Records: [] }, entries)!.toString('hex'), body.toString('hex'), 'the producer\'s entries give the same body');
        }
    });

    it('sends the producer\'s own entries (PUT_RECORDS_ENTRIES) and reads their answer; never sends their request without them', async function () {
        const fast = client(stub);
        usePutRecordsCodec(fast);
        const entries: WireEntry[] = INPUT.Records!.map((r) => ({ data: r.Data!, partitionKey: r.PartitionKey!, explicitHashKey: r.ExplicitHashKey }));
        const input = { StreamName: 'codec-stream', Records: [], [PUT_RECORDS_ENTRIES]: entries } as PutRecordsCommandInput;
        const out = await fast.send(new PutRecordsCommand(input));
        assert.equal(out.Records?.length, 4);
        assert.deepEqual(JSON.parse(stub.requests[0].body), JSON.parse(encodePutRecords(INPUT)!.toString('utf8')));
        // an entry that is not bytes: the request fails before anything is sent (an empty Records list would "succeed")
        const bad = { StreamName: 'codec-stream', Records: [], [PUT_RECORDS_ENTRIES]: [{ data: 'text' as unknown as Uint8Array, partitionKey: 'k' }] } as PutRecordsCommandInput;
        await assert.rejects(fast.send(new PutRecordsCommand(bad)), /no bytes/);
        assert.equal(stub.requests.length, 1);
        fast.destroy();
    });

    it('is not added to a client without a middleware stack (a stand-in sender)', function () {
        assert.equal(usePutRecordsCodec({ send: async () => ({}) }), false);
        assert.equal(usePutRecordsCodec(undefined), false);
    });

    it('is added only when the client speaks JSON 1.1: another wire protocol keeps the SDK\'s serializer and still sends every record', async function () {
        const c = client(stub);
        assert.equal((c.config as any).protocol.getShapeId(), 'aws.protocols#awsJson1_1', 'the SDK names its protocol (else this test checks nothing)');
        const other = client(stub);
        const real = (other.config as any).protocol;
        (other.config as any).protocol = Object.assign(Object.create(Object.getPrototypeOf(real)), real, { getShapeId: () => 'smithy.protocols#rpcv2Cbor' });
        const codecSteps = (k: KinesisClient) => k.middlewareStack.identify().filter((m) => /kinesisRedPutRecords/.test(m));
        assert.equal(usePutRecordsCodec(other), false);
        assert.deepEqual(codecSteps(other), [], 'nothing added to its middleware stack');
        (other.config as any).protocol = real; // the stub answers JSON: the request still goes out, through the SDK alone
        await other.send(new PutRecordsCommand(INPUT));
        const sent = JSON.parse(stub.requests[stub.requests.length - 1].body);
        assert.equal(sent.Records.length, INPUT.Records!.length, 'every record in the body the SDK built');
        assert.equal(usePutRecordsCodec(c), true);
        assert.equal(codecSteps(c).length, 3, 'the codec\'s three steps on a JSON 1.1 client');
        c.destroy();
        other.destroy();
    });
});
