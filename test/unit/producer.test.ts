/**
 * Producer engine logic against an in-memory stand-in for the Kinesis API (request shapes and
 * per-entry results as the real PutRecords/PutRecord/ListShards return them). The same paths run
 * against the real kinesis-local in test/integration/producer.test.ts.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { ListShardsCommand, PutRecordCommand, PutRecordsCommand, PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import { deaggregate } from '../../lib/kpl';
import {
    Producer,
    ProducerError,
    ProducerOptions,
    QueueFullError,
    RecordValidationError,
    backoffDelay,
    ProducerClosedError,
    WriteResult,
} from '../../lib/producer/producer';
import { MIB, ProducerRecord, hashKeyOf } from '../../lib/producer/records';

interface Stored { partitionKey: string; data: Buffer; shardId: string; sequenceNumber: string; explicitHashKey?: string }

type Fault = (entry: PutRecordsRequestEntry, ctx: { request: number; attempt: number }) => string | undefined;

/** Minimal Kinesis: one or two shards per stream, sequence numbers increasing per stream. */
class FakeKinesis {
    stored = new Map<string, Stored[]>();
    requests: Array<{ type: string; stream: string; entries: PutRecordsRequestEntry[]; sequenceNumberForOrdering?: string }> = [];
    fault?: Fault;
    requestError?: (n: number) => Error | undefined;
    shards = 1;
    seq = 1000n;
    attempts = new Map<string, number>();
    /** Delay of each request (ms) so several can be in flight. */
    delayMs = 0;
    /** After split(): the open shards (the parent 0 is closed), as kinesis-local/AWS do after SplitShard. */
    layout?: Array<{ id: string; start: bigint; end: bigint }>;

    /** Splits the single shard 0 at 2^127 into shards 1 (lower half) and 2 (upper half). */
    split(): void {
        const half = 1n << 127n;
        this.layout = [
            { id: 'shardId-000000000001', start: 0n, end: half - 1n },
            { id: 'shardId-000000000002', start: half, end: (1n << 128n) - 1n },
        ];
    }

    private shardFor(e: PutRecordsRequestEntry): string {
        if (this.layout) {
            const h = hashKeyOf(e.PartitionKey!, e.ExplicitHashKey);
            return this.layout.find((r) => h >= r.start && h <= r.end)!.id;
        }
        if (this.shards === 1) return 'shardId-000000000000';
        const h = hashKeyOf(e.PartitionKey!, e.ExplicitHashKey);
        return h < (1n << 127n) ? 'shardId-000000000000' : 'shardId-000000000001';
    }

    private write(stream: string, e: PutRecordsRequestEntry): Stored {
        const list = this.stored.get(stream) ?? [];
        this.stored.set(stream, list);
        const s: Stored = { partitionKey: e.PartitionKey!, data: Buffer.from(e.Data!), shardId: this.shardFor(e), sequenceNumber: String(this.seq++), explicitHashKey: e.ExplicitHashKey };
        list.push(s);
        return s;
    }

    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    async send(cmd: any): Promise<any> {
        if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
        const n = this.requests.length + 1;
        if (cmd instanceof ListShardsCommand) {
            const half = (1n << 127n);
            if (this.layout) {
                return {
                    Shards: [
                        { ShardId: 'shardId-000000000000', HashKeyRange: { StartingHashKey: '0', EndingHashKey: String((1n << 128n) - 1n) }, SequenceNumberRange: { StartingSequenceNumber: '1', EndingSequenceNumber: '99' } },
                        ...this.layout.map((r) => ({ ShardId: r.id, ParentShardId: 'shardId-000000000000', HashKeyRange: { StartingHashKey: String(r.start), EndingHashKey: String(r.end) }, SequenceNumberRange: { StartingSequenceNumber: '100' } })),
                    ],
                };
            }
            return {
                Shards: this.shards === 1
                    ? [{ ShardId: 'shardId-000000000000', HashKeyRange: { StartingHashKey: '0', EndingHashKey: String((1n << 128n) - 1n) }, SequenceNumberRange: { StartingSequenceNumber: '1' } }]
                    : [
                        { ShardId: 'shardId-000000000000', HashKeyRange: { StartingHashKey: '0', EndingHashKey: String(half - 1n) }, SequenceNumberRange: { StartingSequenceNumber: '1' } },
                        { ShardId: 'shardId-000000000001', HashKeyRange: { StartingHashKey: String(half), EndingHashKey: String((1n << 128n) - 1n) }, SequenceNumberRange: { StartingSequenceNumber: '1' } },
                    ],
            };
        }
        if (cmd instanceof PutRecordCommand) {
            const i = cmd.input;
            this.requests.push({ type: 'PutRecord', stream: i.StreamName!, entries: [i], sequenceNumberForOrdering: i.SequenceNumberForOrdering });
            const err = this.requestError?.(n);
            if (err) throw err;
            const code = this.faultFor(i, n);
            if (code) throw Object.assign(new Error(`fault ${code}`), { name: code, $fault: 'client' });
            const s = this.write(i.StreamName!, i);
            return { ShardId: s.shardId, SequenceNumber: s.sequenceNumber };
        }
        if (cmd instanceof PutRecordsCommand) {
            const i = cmd.input;
            this.requests.push({ type: 'PutRecords', stream: i.StreamName!, entries: i.Records! });
            const err = this.requestError?.(n);
            if (err) throw err;
            let failed = 0;
            const Records = i.Records!.map((e) => {
                const code = this.faultFor(e, n);
                if (code) {
                    failed++;
                    return { ErrorCode: code, ErrorMessage: `Rate exceeded for shard ${this.shardFor(e)}` };
                }
                const s = this.write(i.StreamName!, e);
                return { ShardId: s.shardId, SequenceNumber: s.sequenceNumber };
            });
            return { FailedRecordCount: failed, Records };
        }
        throw new Error(`unexpected command ${cmd?.constructor?.name}`);
    }

    private faultFor(e: PutRecordsRequestEntry, request: number): string | undefined {
        const id = Buffer.from(e.Data!).toString('utf8');
        const attempt = (this.attempts.get(id) ?? 0) + 1;
        this.attempts.set(id, attempt);
        return this.fault?.(e, { request, attempt });
    }

    dataOf(stream: string): string[] {
        return (this.stored.get(stream) ?? []).map((s) => s.data.toString('utf8'));
    }
}

function rec(data: string | Buffer, partitionKey = data.toString().slice(0, 200) || 'k', streamName = 's1', explicitHashKey?: string): ProducerRecord {
    const r: ProducerRecord = { streamName, data: Buffer.isBuffer(data) ? data : Buffer.from(data), partitionKey };
    if (explicitHashKey !== undefined) r.explicitHashKey = explicitHashKey;
    return r;
}

function producer(fake: FakeKinesis, opts: Partial<ProducerOptions> = {}): Producer {
    return new Producer({ client: fake, lingerMs: 5, baseBackoffMs: 1, maxBackoffMs: 4, ...opts });
}

describe('producer engine (unit)', function () {
    describe('validation: nothing is sent for an invalid message', function () {
        it('rejects partition keys by characters, not bytes', async function () {
            const fake = new FakeKinesis();
            const p = producer(fake);
            const emoji256 = '😀'.repeat(256); // 256 characters, 1 024 UTF-8 bytes, 512 UTF-16 units
            await p.put([rec('a', emoji256)]);
            await assert.rejects(p.put([rec('b', '😀'.repeat(257))]), (e: Error) => e instanceof RecordValidationError && /257 characters/.test(e.message));
            await assert.rejects(p.put([rec('b', '')]), /partition key is empty/);
            assert.equal(fake.requests.length, 1);
            await p.close(100);
        });

        it('checks explicit hash keys: decimal 0 … 2^128−1, no leading zeros', async function () {
            const fake = new FakeKinesis();
            const p = producer(fake);
            const max = String((1n << 128n) - 1n);
            await p.put([rec('a', 'k', 's1', '0'), rec('b', 'k2', 's1', max)]);
            for (const bad of ['01', '-1', '1.5', 'abc', String(1n << 128n), '1'.repeat(40)]) {
                await assert.rejects(p.put([rec('c', 'k', 's1', bad)]), /explicit hash key/, bad);
            }
            assert.deepEqual(fake.requests.flatMap((r) => r.entries.map((e) => e.ExplicitHashKey)), ['0', max]);
            await p.close(100);
        });

        it('rejects a record over the size limit (data + key bytes) and sends none of the message', async function () {
            const fake = new FakeKinesis();
            const p = producer(fake, { maxRecordBytes: 1000 });
            // 'kéy' is 4 UTF-8 bytes: 997 + 4 = 1 001 bytes.
            await assert.rejects(p.put([rec(Buffer.alloc(997), 'kéy')]), /record is 1001 bytes \(data \+ partition key\), over the 1000-byte limit/);
            await p.put([rec(Buffer.alloc(996), 'kéy')]); // exactly 1 000
            await assert.rejects(p.put([rec('ok', 'a'), rec(Buffer.alloc(2000), 'b'), rec('ok2', 'c')]), (e: Error) => {
                assert.ok(e instanceof RecordValidationError);
                assert.match(e.message, /record #1: record is 2001 bytes/);
                return true;
            });
            assert.equal(fake.requests.length, 1);
            assert.deepEqual(fake.requests[0].entries.length, 1);
            await p.close(100);
        });

        it('rejects a record without a stream name in words', async function () {
            const p = producer(new FakeKinesis());
            await assert.rejects(p.put([rec('a', 'k', '')]), /no stream name/);
            await p.close(100);
        });
    });

    describe('batching', function () {
        it('500 records make one PutRecords request, 501 make two', async function () {
            const fake = new FakeKinesis();
            const p = producer(fake, { lingerMs: 200 });
            const five = Array.from({ length: 500 }, (_, i) => rec(`r${i}`));
            const res = await p.put(five);
            assert.equal(fake.requests.length, 1);
            assert.equal(res.length, 500);
            assert.deepEqual(res.map((r) => r.sequenceNumber), fake.stored.get('s1')!.map((s) => s.sequenceNumber));
            fake.requests = [];
            await p.put(Array.from({ length: 501 }, (_, i) => rec(`q${i}`)));
            assert.deepEqual(fake.requests.map((r) => r.entries.length), [500, 1]);
            await p.close(100);
        });

        it('5 MiB of data + keys fit one request, one byte more needs two', async function () {
            const fake = new FakeKinesis();
            const p = producer(fake, { lingerMs: 200 });
            // four records of exactly 1 MiB and two of 0.5 MiB (data + 2-byte key) = 5 MiB.
            const sized = (n: number, key: string, extra = 0) => rec(Buffer.alloc(n - key.length + extra, key), key);
            await p.put([sized(MIB, 'k1'), sized(MIB, 'k2'), sized(MIB, 'k3'), sized(MIB, 'k4'), sized(MIB / 2, 'k5'), sized(MIB / 2, 'k6')]);
            assert.deepEqual(fake.requests.map((r) => r.entries.length), [6]);
            fake.requests = [];
            await p.put([sized(MIB, 'k1'), sized(MIB, 'k2'), sized(MIB, 'k3'), sized(MIB, 'k4'), sized(MIB / 2, 'k5'), sized(MIB / 2, 'k6', 1)]);
            assert.deepEqual(fake.requests.map((r) => r.entries.length), [5, 1]);
            await p.close(100);
        });

        it('records of several messages share a request within the linger; streams get their own requests', async function () {
            const fake = new FakeKinesis();
            const p = producer(fake, { lingerMs: 100 });
            const all = await Promise.all([p.put([rec('a1')]), p.put([rec('a2'), rec('b1', 'b1', 's2')]), p.put([rec('a3')])]);
            assert.equal(fake.requests.length, 2);
            assert.deepEqual(fake.requests.map((r) => [r.stream, r.entries.length]).sort(), [['s1', 3], ['s2', 1]]);
            assert.deepEqual(all.map((r) => r.map((x) => x.streamName)), [['s1'], ['s1', 's2'], ['s1']]);
            await p.close(100);
        });

        it('keeps at most maxInFlight requests running', async function () {
            const fake = new FakeKinesis();
            fake.delayMs = 20;
            let running = 0;
            let most = 0;
            const send = fake.send.bind(fake);
            const client = {
                // eslint-disable-next-line @typescript-eslint/no-explicit-any
                send: async (c: any) => { running++; most = Math.max(most, running); try { return await send(c); } finally { running--; } },
            };
            const p = new Producer({ client, lingerMs: 0, maxInFlight: 2 });
            await Promise.all(Array.from({ length: 10 }, (_, i) => p.put([rec(`m${i}`, `k${i}`, `stream${i}`)])));
            assert.equal(most, 2);
            await p.close(100);
        });
    });

    describe('retries', function () {
        it('retries only the failed entries of a response', async function () {
            const fake = new FakeKinesis();
            fake.fault = (e, { attempt }) => (['r2', 'r5'].includes(Buffer.from(e.Data!).toString()) && attempt === 1
                ? (Buffer.from(e.Data!).toString() === 'r2' ? 'ProvisionedThroughputExceededException' : 'InternalFailure') : undefined);
            const retries: string[] = [];
            const p = producer(fake, { onRetry: ({ error }) => retries.push(error.code) });
            const res = await p.put(Array.from({ length: 8 }, (_, i) => rec(`r${i}`)));
            assert.deepEqual(fake.requests.map((r) => r.entries.map((e) => Buffer.from(e.Data!).toString())), [
                ['r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7'],
                ['r2', 'r5'],
            ]);
            assert.equal(res.length, 8);
            assert.ok(res.every((r) => r.shardId === 'shardId-000000000000' && /^\d+$/.test(r.sequenceNumber)));
            assert.deepEqual(fake.dataOf('s1').sort(), ['r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7']);
            assert.deepEqual(retries, ['ProvisionedThroughputExceededException']);
            assert.equal(p.retried, 2);
            await p.close(100);
        });

        it('never lets a later record with the same key overtake a failed one', async function () {
            const fake = new FakeKinesis();
            // K-1 fails three times; K-2..K-4 (same key) arrive in the same message and in later ones.
            fake.fault = (e, { attempt }) => (Buffer.from(e.Data!).toString() === 'K-1' && attempt <= 3 ? 'ProvisionedThroughputExceededException' : undefined);
            const p = producer(fake, { lingerMs: 0 });
            const first = p.put([rec('K-1', 'K'), rec('x-1', 'X'), rec('K-2', 'K')]);
            const second = p.put([rec('K-3', 'K'), rec('x-2', 'X')]);
            const third = p.put([rec('K-4', 'K')]);
            await Promise.all([first, second, third]);
            const k = (fake.stored.get('s1') ?? []).filter((s) => s.partitionKey === 'K').map((s) => s.data.toString());
            assert.deepEqual(k, ['K-1', 'K-2', 'K-3', 'K-4']);
            // No request ever carried two records of one key, and none carried K-2 before K-1 was written.
            for (const r of fake.requests) {
                const keys = r.entries.map((e) => e.PartitionKey);
                assert.equal(new Set(keys).size, keys.length, 'one record per key per request');
            }
            const firstK2 = fake.requests.findIndex((r) => r.entries.some((e) => Buffer.from(e.Data!).toString() === 'K-2'));
            const lastK1 = fake.requests.map((r, i) => (r.entries.some((e) => Buffer.from(e.Data!).toString() === 'K-1') ? i : -1)).filter((i) => i >= 0).pop()!;
            assert.ok(firstK2 > lastK1, `K-2 sent in request ${firstK2}, after K-1's last attempt ${lastK1}`);
            // X records were not held back by K.
            const xAt = fake.requests.findIndex((r) => r.entries.some((e) => Buffer.from(e.Data!).toString() === 'x-2'));
            assert.ok(xAt < lastK1);
        });

        it('records held behind their key go out together when a response releases the keys (linger counts from then)', async function () {
            const fake = new FakeKinesis();
            fake.delayMs = 20;
            const p = producer(fake, { lingerMs: 30 });
            const later: Array<Promise<unknown>> = [];
            const first = Array.from({ length: 100 }, (_, i) => new Promise((resolve, reject) => p.write([rec(`a${i}`, `k${i}`)], (err) => {
                if (err) return reject(err);
                // a flow's next message arrives while the response is being handled
                later.push(p.put([rec(`x${i}`, `x${i}`)]));
                resolve(undefined);
            })));
            const second = Array.from({ length: 100 }, (_, i) => p.put([rec(`b${i}`, `k${i}`)]));
            await Promise.all([...first, ...second]);
            await Promise.all(later);
            const withB = fake.requests.filter((r) => r.entries.some((e) => Buffer.from(e.Data!).toString().startsWith('b')));
            assert.ok(withB.length <= 2, `the 100 held-back records took ${withB.length} requests (${withB.map((r) => r.entries.length).join(', ')} records)`);
            const order = fake.dataOf('s1');
            for (let i = 0; i < 100; i++) assert.ok(order.indexOf(`a${i}`) < order.indexOf(`b${i}`), `k${i} kept its order`);
            assert.equal(order.length, 300);
            await p.close(100);
        });

        it('with key order off, same-key records share requests', async function () {
            const fake = new FakeKinesis();
            const p = producer(fake, { keyOrder: false, lingerMs: 20 });
            await p.put([rec('a', 'K'), rec('b', 'K'), rec('c', 'K')]);
            assert.deepEqual(fake.requests.map((r) => r.entries.length), [3]);
        });

        it('after the retry budget, the error names the failed records and why; the others are written', async function () {
            const fake = new FakeKinesis();
            fake.fault = (e) => (['b', 'd'].includes(Buffer.from(e.Data!).toString()) ? 'ProvisionedThroughputExceededException' : undefined);
            const p = producer(fake, { maxRetries: 3 });
            const err = await p.put([rec('a', 'ka'), rec('b', 'kb'), rec('c', 'kc'), rec('d', 'kd')]).then(() => undefined, (e: unknown) => e);
            assert.ok(err instanceof ProducerError);
            assert.match(err.message, /^2 of 4 records not written to Kinesis: throughput exceeded on stream "s1"/);
            assert.match(err.message, /#1 \(key "kb", 4 attempts\), #3 \(key "kd", 4 attempts\)/);
            assert.match(err.message, /gave up after 4 attempts/);
            assert.deepEqual(err.failures.map((f) => [f.index, f.partitionKey, f.code, f.attempts]), [
                [1, 'kb', 'ProvisionedThroughputExceededException', 4],
                [3, 'kd', 'ProvisionedThroughputExceededException', 4],
            ]);
            assert.equal(err.results[0]?.streamName, 's1');
            assert.equal(err.results[1], undefined);
            assert.deepEqual(fake.dataOf('s1').sort(), ['a', 'c']);
            assert.equal(fake.attempts.get('b'), 4);
            assert.equal(err.status, 'throttled');
        });

        it('retries a whole request that failed with throttling or a network error', async function () {
            const fake = new FakeKinesis();
            fake.requestError = (n) => (n === 1 ? Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' })
                : n === 2 ? Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }) : undefined);
            const p = producer(fake);
            const res = await p.put([rec('a'), rec('b')]);
            assert.equal(fake.requests.length, 3);
            assert.equal(res.length, 2);
            assert.deepEqual(fake.dataOf('s1'), ['a', 'b']);
        });

        it('fails at once, in words, when the stream does not exist or access is denied', async function () {
            const fake = new FakeKinesis();
            fake.requestError = () => Object.assign(new Error('Stream nope under account 000000000000 not found.'), { name: 'ResourceNotFoundException' });
            const failures: string[] = [];
            const p = producer(fake, { onFailure: ({ error }) => failures.push(error.status) });
            await assert.rejects(p.put([rec('a', 'k', 'nope')]), (e: Error) => {
                assert.ok(e instanceof ProducerError);
                assert.match(e.message, /stream "nope" not found/);
                assert.equal(e.status, 'stream not found');
                return true;
            });
            assert.equal(fake.requests.length, 1);
            fake.requestError = () => Object.assign(new Error('User: arn:aws:iam::1:user/x is not authorized to perform: kinesis:PutRecords'), { name: 'AccessDeniedException' });
            await assert.rejects(p.put([rec('a', 'k', 's1')]), /access denied \(kinesis:PutRecords\): the IAM policy must allow kinesis:PutRecords/);
            fake.requestError = () => Object.assign(new Error('The security token included in the request is invalid.'), { name: 'UnrecognizedClientException' });
            await assert.rejects(p.put([rec('a', 'k', 's1')]), /AWS rejected the credentials \(UnrecognizedClientException\)/);
            assert.deepEqual(failures, ['stream not found', 'access denied', 'bad credentials']);
            assert.equal(fake.requests.length, 3);
        });

        it('draws backoff with full jitter below the exponential cap', function () {
            assert.equal(backoffDelay(1, 100, 5000, () => 0), 0);
            assert.equal(backoffDelay(1, 100, 5000, () => 0.5), 50);
            assert.equal(backoffDelay(3, 100, 5000, () => 0.999), 399);
            assert.equal(backoffDelay(10, 100, 5000, () => 0.999), 4995);
            assert.equal(backoffDelay(60, 100, 5000, () => 0.5), 2500);
        });
    });

    describe('backpressure and close', function () {
        it('rejects a message that does not fit the queue, without queueing any of it', async function () {
            const fake = new FakeKinesis();
            fake.delayMs = 30;
            const p = producer(fake, { maxQueued: 3, lingerMs: 0 });
            const a = p.put([rec('a'), rec('b')]);
            await assert.rejects(p.put([rec('c'), rec('d')]), (e: Error) => e instanceof QueueFullError && /queue is full \(2 records waiting, 2 more would exceed 3\)/.test(e.message));
            assert.equal(p.backlog, 2);
            await a;
            assert.equal(p.backlog, 0);
            await p.put([rec('c'), rec('d')]);
            assert.deepEqual(fake.dataOf('s1'), ['a', 'b', 'c', 'd']);
        });

        it('write(): the callback form of put — same results and errors, refusals called back at once', async function () {
            const fake = new FakeKinesis();
            const p = producer(fake);
            const viaPut = await p.put([rec('a', 'k1'), rec('b', 'k2')]);
            const viaWrite = await new Promise<WriteResult[]>((resolve, reject) => p.write([rec('c', 'k1'), rec('d', 'k2')], (err, r) => (err ? reject(err) : resolve(r!))));
            assert.deepEqual(viaWrite.map((r) => Object.keys(r).sort()), viaPut.map((r) => Object.keys(r).sort()));
            assert.deepEqual(fake.dataOf('s1'), ['a', 'b', 'c', 'd']);
            assert.deepEqual(viaWrite.map((r) => r.sequenceNumber), fake.stored.get('s1')!.slice(2).map((s) => s.sequenceNumber));
            let refused: Error | null | undefined;
            p.write([rec('e', '')], (err) => (refused = err));
            assert.ok(refused instanceof RecordValidationError, 'an invalid message is called back before write returns');
            await p.close(100);
            let closed: Error | null | undefined;
            p.write([rec('f')], (err) => (closed = err));
            assert.ok(closed instanceof ProducerClosedError);
        });

        it('write(): a and b come back to the callback as given (success, failure, refusal; one or several records)', async function () {
            const fake = new FakeKinesis();
            fake.fault = (e) => (Buffer.from(e.Data!).toString() === 'bad' ? 'AccessDeniedException' : undefined);
            const p = producer(fake, { maxRetries: 0 });
            const seen: Array<[string, string, unknown, unknown]> = [];
            let all: () => void = () => undefined;
            const allSeen = new Promise<void>((resolve) => (all = resolve));
            const cb = (err: Error | null, results: WriteResult[] | undefined, a: { id: string }, b: number) => {
                seen.push([a.id, err ? err.name : `ok ${results!.length}`, b, results?.[0]?.shardId]);
                if (seen.length === 5) all();
            };
            p.write([rec('one')], cb, { id: 'one' }, 1);
            p.write([rec('two', 'k2'), rec('three', 'k3')], cb, { id: 'two' }, 2);
            p.write([rec('bad', 'kb')], cb, { id: 'bad' }, 3);
            p.write([rec('x', '')], cb, { id: 'invalid' }, 4);
            p.write([rec('last', 'kl')], cb, { id: 'last' }, 5);
            await allSeen;
            assert.deepEqual(seen.sort((x, y) => Number(x[2]) - Number(y[2])), [
                ['one', 'ok 1', 1, 'shardId-000000000000'],
                ['two', 'ok 2', 2, 'shardId-000000000000'],
                ['bad', 'ProducerError', 3, undefined],
                ['invalid', 'RecordValidationError', 4, undefined],
                ['last', 'ok 1', 5, 'shardId-000000000000'],
            ]);
            await p.close(100);
        });

        it('a write callback that throws does not disturb the other messages of its request (reported, no crash)', async function () {
            const fake = new FakeKinesis();
            const reported: unknown[] = [];
            const p = producer(fake, { lingerMs: 20, onCallbackError: (err) => reported.push(err) });
            p.write([rec('a', 'k1')], () => {
                throw new Error('a bad callback');
            });
            p.write([rec('b', 'k1'), rec('c', 'k4')], () => {
                throw new Error('a bad callback of two records');
            });
            const others = [p.put([rec('d', 'k2')]), p.put([rec('e', 'k3')])];
            assert.equal((await Promise.all(others)).length, 2);
            assert.equal(fake.requests[0].entries.length, 4, 'a, c, d, e shared one request; b (same key as a) waited for it');
            // the producer goes on: later messages are written (f after b: same key)
            assert.equal((await p.put([rec('f', 'k1')])).length, 1);
            assert.deepEqual(reported.map((e) => (e as Error).message), ['a bad callback', 'a bad callback of two records']);
            assert.deepEqual(fake.dataOf('s1'), ['a', 'c', 'd', 'e', 'b', 'f']);
            assert.equal(p.pendingMessages, 0);
            await p.close(100);
        });

        it('a throwing callback without onCallbackError is a process warning, not an uncaught exception', async function () {
            const fake = new FakeKinesis();
            const p = producer(fake, { lingerMs: 1 });
            const warned = new Promise<Error>((resolve) => process.once('warning', resolve));
            p.write([rec('a', 'k1')], () => {
                throw new Error('thrown in a callback');
            });
            assert.match((await warned).message, /write callback threw: Error: thrown in a callback/);
            assert.equal((await p.put([rec('b', 'k1')])).length, 1);
            await p.close(100);
        });

        it('close sends what is queued at once (no linger) and resolves those messages', async function () {
            const fake = new FakeKinesis();
            const p = producer(fake, { lingerMs: 1000 });
            const puts = [p.put([rec('a')]), p.put([rec('b'), rec('c')])];
            assert.equal(fake.requests.length, 0);
            const closing = p.close(5000);
            assert.equal(fake.requests.length, 1, 'sent at once, not after the linger');
            assert.equal(fake.requests[0].entries.length, 3);
            assert.deepEqual(await closing, { messages: 0, records: 0 });
            assert.equal((await Promise.all(puts)).flat().length, 3);
            await assert.rejects(p.put([rec('d')]), ProducerClosedError);
        });

        it('close fails what cannot be written in time, naming the records', async function () {
            const fake = new FakeKinesis();
            fake.fault = () => 'ProvisionedThroughputExceededException';
            const p = producer(fake, { maxRetries: 100, baseBackoffMs: 5, maxBackoffMs: 10 });
            const put = p.put([rec('a', 'ka'), rec('b', 'kb')]).then(() => undefined, (e: unknown) => e);
            const left = await p.close(100);
            assert.deepEqual(left, { messages: 1, records: 2 });
            const err = await put;
            assert.ok(err instanceof ProducerError);
            assert.match(err.message, /2 of 2 records not written to Kinesis: the node stopped before Kinesis acknowledged the record/);
            assert.match(err.message, /#0 \(key "ka"/);
        });
    });

    describe('close finds every record wherever it is', function () {
        it('in flight, queued behind its key, waiting to retry, and a message with parts in two places: each called back once', async function () {
            let aborted = 0;
            const sender = {
                // eslint-disable-next-line @typescript-eslint/no-explicit-any
                send(cmd: any, opts?: { abortSignal?: AbortSignal }): Promise<unknown> {
                    const records: PutRecordsRequestEntry[] = cmd.input.Records;
                    if (records.some((r) => Buffer.from(r.Data!).toString() === 'hang')) {
                        return new Promise((_resolve, reject) => opts?.abortSignal?.addEventListener('abort', () => {
                            aborted++;
                            reject(Object.assign(new Error('aborted'), { name: 'AbortError' }));
                        }));
                    }
                    return Promise.resolve({
                        FailedRecordCount: records.length,
                        Records: records.map(() => ({ ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'Rate exceeded' })),
                    });
                },
            };
            const p = new Producer({ client: sender, lingerMs: 0, maxRetries: 1000, baseBackoffMs: 5, maxBackoffMs: 10 });
            const calls: Array<{ id: string; err: Error | null }> = [];
            const cb = (err: Error | null, _r: WriteResult[] | undefined, id: string) => calls.push({ id, err });
            p.write([rec('hang', 'k1')], cb, 'in flight');
            p.write([rec('behind', 'k1')], cb, 'queued behind k1');
            p.write([rec('throttled', 'k2')], cb, 'retrying');
            p.write([rec('behind too', 'k1'), rec('throttled too', 'k3')], cb, 'two places');
            await new Promise((r) => setTimeout(r, 30)); // the throttled ones are retrying by now
            assert.equal(p.pendingMessages, 4);
            assert.equal(calls.length, 0);
            const left = await p.close(50);
            assert.deepEqual(left, { messages: 4, records: 5 });
            assert.deepEqual(calls.map((c) => c.id).sort(), ['in flight', 'queued behind k1', 'retrying', 'two places']);
            for (const c of calls) assert.ok(c.err instanceof ProducerError && /stopped before Kinesis acknowledged/.test(c.err.message), c.id);
            assert.equal((calls.find((c) => c.id === 'two places')!.err as ProducerError).failures.length, 2);
            assert.equal(aborted, 1, 'the request still running was aborted');
            assert.equal(p.pendingMessages, 0);
            assert.equal(p.backlog, 0);
        });
    });

    describe('ordered mode', function () {
        it('writes with PutRecord, chaining SequenceNumberForOrdering per key', async function () {
            const fake = new FakeKinesis();
            const p = producer(fake, { ordered: true, lingerMs: 0 });
            const res = await Promise.all([p.put([rec('a1', 'A'), rec('b1', 'B')]), p.put([rec('a2', 'A')]), p.put([rec('a3', 'A')])]);
            assert.ok(fake.requests.every((r) => r.type === 'PutRecord'));
            const a = fake.requests.filter((r) => r.entries[0].PartitionKey === 'A');
            assert.deepEqual(a.map((r) => Buffer.from(r.entries[0].Data!).toString()), ['a1', 'a2', 'a3']);
            assert.equal(a[0].sequenceNumberForOrdering, undefined);
            assert.equal(a[1].sequenceNumberForOrdering, res[0][0].sequenceNumber);
            assert.equal(a[2].sequenceNumberForOrdering, res[1][0].sequenceNumber);
            await p.close(100);
        });

        it('retries a throttled PutRecord before the next record of that key', async function () {
            const fake = new FakeKinesis();
            fake.fault = (e, { attempt }) => (Buffer.from(e.Data!).toString() === 'a1' && attempt < 3 ? 'ProvisionedThroughputExceededException' : undefined);
            const p = producer(fake, { ordered: true });
            await Promise.all([p.put([rec('a1', 'A')]), p.put([rec('a2', 'A')])]);
            assert.deepEqual(fake.dataOf('s1'), ['a1', 'a2']);
            await p.close(100);
        });
    });

    describe('aggregation', function () {
        it('packs records per shard into KPL records that deaggregate to the originals, keys in order', async function () {
            const fake = new FakeKinesis();
            fake.shards = 2;
            const p = producer(fake, { aggregate: true, lingerMs: 20 });
            const input = Array.from({ length: 40 }, (_, i) => rec(`v${i}`, `key${i % 7}`));
            const res = await p.put(input);
            const puts = fake.requests.filter((r) => r.type === 'PutRecords');
            assert.equal(puts.length, 1);
            assert.equal(puts[0].entries.length, 2, 'one aggregated record per shard');
            const stored = fake.stored.get('s1')!;
            const users = stored.flatMap((s) => deaggregate({ Data: s.data, PartitionKey: s.partitionKey, SequenceNumber: s.sequenceNumber }).map((u) => ({ ...u, shardId: s.shardId })));
            assert.equal(users.length, 40);
            assert.ok(users.every((u) => u.aggregated));
            // Every user record sits on the shard its own key maps to.
            for (const u of users) {
                const expect = hashKeyOf(u.partitionKey) < (1n << 127n) ? 'shardId-000000000000' : 'shardId-000000000001';
                assert.equal(u.shardId, expect, u.partitionKey);
            }
            // Per key, the original order.
            for (let k = 0; k < 7; k++) {
                const want = input.filter((r) => r.partitionKey === `key${k}`).map((r) => Buffer.from(r.data).toString());
                assert.deepEqual(users.filter((u) => u.partitionKey === `key${k}`).map((u) => u.data.toString()), want);
            }
            // Results point at the aggregated record with the sub-sequence number of each record.
            res.forEach((r, i) => {
                const u = users.find((x) => x.data.toString() === `v${i}`)!;
                assert.equal(r.sequenceNumber, u.sequenceNumber);
                assert.equal(r.subSequenceNumber, u.subSequenceNumber);
            });
            // The outer record's hash key routes it to the first record's shard.
            for (const s of stored) assert.equal(s.explicitHashKey, hashKeyOf(deaggregate({ Data: s.data, PartitionKey: s.partitionKey, SequenceNumber: s.sequenceNumber })[0].partitionKey).toString());
            await p.close(100);
        });

        it('keeps aggregates under the size limit and retries a failed aggregate whole', async function () {
            const fake = new FakeKinesis();
            let failOnce = true;
            fake.fault = () => (failOnce ? ((failOnce = false), 'ProvisionedThroughputExceededException') : undefined);
            const p = producer(fake, { aggregate: true, lingerMs: 20, aggregateMaxBytes: 4096 });
            const input = Array.from({ length: 30 }, (_, i) => rec(Buffer.alloc(500, i), `k${i}`));
            await p.put(input);
            const stored = fake.stored.get('s1')!;
            assert.ok(stored.length >= 4, `${stored.length} aggregated records`);
            assert.ok(stored.every((s) => s.data.length <= 4096));
            const users = stored.flatMap((s) => deaggregate({ Data: s.data, PartitionKey: s.partitionKey, SequenceNumber: s.sequenceNumber }));
            assert.equal(users.length, 30);
            assert.deepEqual(users.map((u) => u.partitionKey).sort(), input.map((r) => r.partitionKey).sort());
            await p.close(100);
        });

        it('after a split, no sub-record stays only on a shard whose hash range does not hold its key (read back as the KCL filters)', async function () {
            const fake = new FakeKinesis();
            const p = producer(fake, { aggregate: true, lingerMs: 20 });
            const first = Array.from({ length: 30 }, (_, i) => rec(`a${i}`, `key${i % 11}`));
            await p.put(first);
            assert.equal(p.shardMapLoads, 1);
            fake.split(); // the producer's map still says: one shard
            const second = Array.from({ length: 60 }, (_, i) => rec(`b${i}`, `key${i % 13}`));
            const res = await p.put(second);
            assert.ok(p.shardMapLoads >= 2, 'the map was reloaded after the landing shard was not the predicted one');
            assert.ok(p.resent > 0, 'sub-records outside the landing shard were sent again');
            const layout = fake.layout!;
            // What a KCL consumer delivers: sub-records inside the hash range of the shard that holds them.
            const delivered = new Map<string, number>();
            for (const st of fake.stored.get('s1')!) {
                const range = layout.find((r) => r.id === st.shardId) ?? { start: 0n, end: (1n << 128n) - 1n };
                for (const u of deaggregate({ Data: st.data, PartitionKey: st.partitionKey, SequenceNumber: st.sequenceNumber })) {
                    const h = hashKeyOf(u.partitionKey, u.explicitHashKey);
                    if (h >= range.start && h <= range.end) delivered.set(u.data.toString(), (delivered.get(u.data.toString()) ?? 0) + 1);
                }
            }
            for (const r of [...first, ...second]) assert.ok(delivered.has(Buffer.from(r.data).toString()), `${Buffer.from(r.data).toString()} would be dropped by the KCL`);
            // Each result names a shard whose range holds the record's key.
            res.forEach((w, i) => {
                const range = layout.find((r) => r.id === w.shardId)!;
                const h = hashKeyOf(second[i].partitionKey);
                assert.ok(range && h >= range.start && h <= range.end, `result of b${i} on ${w.shardId}`);
            });
            // Per key, the delivered order is the put order.
            for (let k = 0; k < 13; k++) {
                const want = second.filter((r) => r.partitionKey === `key${k}`).map((r) => Buffer.from(r.data).toString());
                const got: string[] = [];
                const stored = [...fake.stored.get('s1')!].sort((a, b) => Number(BigInt(a.sequenceNumber) - BigInt(b.sequenceNumber)));
                for (const st of stored) {
                    const range = layout.find((r) => r.id === st.shardId);
                    if (!range) continue;
                    for (const u of deaggregate({ Data: st.data, PartitionKey: st.partitionKey, SequenceNumber: st.sequenceNumber })) {
                        const h = hashKeyOf(u.partitionKey);
                        if (u.partitionKey === `key${k}` && h >= range.start && h <= range.end && u.data.toString().startsWith('b')) got.push(u.data.toString());
                    }
                }
                assert.deepEqual(got, want, `key${k}`);
            }
            await p.close(100);
        });

        it('sends a lone record unaggregated', async function () {
            const fake = new FakeKinesis();
            const p = producer(fake, { aggregate: true });
            await p.put([rec('only', 'k')]);
            assert.equal(fake.dataOf('s1')[0], 'only');
            await p.close(100);
        });
    });

    describe('stream ARNs', function () {
        it('a record addressed by ARN goes out with StreamARN (no StreamName); its result names the stream and the ARN', async function () {
            const arn = 'arn:aws:kinesis:us-east-1:123456789012:stream/s1';
            const fake = new FakeKinesis();
            const seen: Array<Record<string, unknown>> = [];
            const client = {
                // eslint-disable-next-line @typescript-eslint/no-explicit-any
                send: (cmd: any) => {
                    seen.push({ ...cmd.input });
                    if (cmd.input.StreamARN) cmd.input.StreamName = 's1'; // the fake stores by name
                    return fake.send(cmd);
                },
            };
            const p = new Producer({ client, lingerMs: 1 });
            const [byArn] = await p.put([rec('x', 'k', arn)]);
            const [byName] = await p.put([rec('y', 'k', 's1')]);
            assert.equal(seen[0].StreamARN, arn);
            assert.equal(seen[0].StreamName, undefined);
            assert.equal(seen[1].StreamName, 's1');
            assert.equal(seen[1].StreamARN, undefined);
            assert.equal(byArn.streamName, 's1');
            assert.equal(byArn.streamARN, arn);
            assert.equal(byName.streamARN, undefined);
            await p.close(100);
        });
    });

    describe('key order at scale', function () {
        it('with 1 000 hot keys, every record is written once and each key keeps its order', async function () {
            const fake = new FakeKinesis();
            fake.delayMs = 2;
            const p = producer(fake, { maxQueued: 100_000 });
            const input = Array.from({ length: 20_000 }, (_, i) => rec(`r${i}`, `key${i % 1000}`));
            await Promise.all(input.map((r) => p.put([r])));
            const data = fake.dataOf('s1');
            assert.equal(data.length, input.length);
            const pos = new Map(data.map((d, i) => [d, i]));
            for (let i = 1000; i < input.length; i++) {
                assert.ok(pos.get(`r${i}`)! > pos.get(`r${i - 1000}`)!, `r${i} after r${i - 1000}`);
            }
            for (const r of fake.requests) assert.equal(new Set(r.entries.map((e) => e.PartitionKey)).size, r.entries.length, 'one record per key per request');
            await p.close(100);
        });
    });

    it('hash keys: MD5 of the partition key as a 128-bit number', function () {
        assert.equal(hashKeyOf('123'), BigInt(`0x${createHash('md5').update('123').digest('hex')}`));
        assert.equal(hashKeyOf('x', '42'), 42n);
    });
});
