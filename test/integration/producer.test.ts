/**
 * The producer against the real kinesis-local started by the root setup. Failure paths inject
 * per-entry errors around the real client: the chosen entries are answered with an ErrorCode, the
 * others really go to Kinesis in the same order.
 */
import assert from 'node:assert/strict';
import { GetRecordsCommand, GetShardIteratorCommand, KinesisClient, ListShardsCommand, _Record } from '@aws-sdk/client-kinesis';
import { faultInjector, readAll } from './producer-helpers';
import { createAwsClients, AwsClients } from '../../lib/aws/clients';
import { deaggregate } from '../../lib/kpl';
import { Producer, ProducerError } from '../../lib/producer/producer';
import { resolveRecords } from '../../lib/producer/input';
import { hashKeyOf, MIB, ProducerRecord } from '../../lib/producer/records';
import { createStream, rawKinesis, uniqueName } from '../helpers/stack';

const text = (r: _Record) => Buffer.from(r.Data!).toString('utf8');

describe('producer on kinesis-local (integration)', function () {
    this.timeout(60_000);
    let clients: AwsClients;
    let raw: KinesisClient;

    before(() => {
        clients = createAwsClients({}); // standard env vars → the local stack, as users run it
        raw = rawKinesis();
    });
    after(() => {
        clients.destroy();
        raw.destroy();
    });

    it('500 records go in one PutRecords request, 501 in two; all arrive once', async function () {
        const stream = uniqueName('out');
        await createStream(stream, 2);
        const f = faultInjector(clients.kinesis);
        const p = new Producer({ client: f.sender, lingerMs: 500 });
        const mk = (prefix: string, n: number): ProducerRecord[] => Array.from({ length: n }, (_, i) => ({ streamName: stream, data: Buffer.from(`${prefix}${i}`), partitionKey: `k${i}` }));
        const r1 = await p.put(mk('a', 500));
        assert.deepEqual(f.requests.map((r) => r.length), [500]);
        await p.put(mk('b', 501));
        assert.deepEqual(f.requests.map((r) => r.length), [500, 500, 1]);
        const got = await readAll(raw, stream);
        assert.equal(got.length, 1001);
        assert.equal(new Set(got.map(text)).size, 1001);
        const bySeq = new Map(got.map((g) => [g.SequenceNumber, g]));
        r1.forEach((r, i) => {
            const g = bySeq.get(r.sequenceNumber)!;
            assert.equal(text(g), `a${i}`);
            assert.equal(g.shardId, r.shardId);
            assert.equal(r.streamName, stream);
        });
        await p.close(1000);
    });

    it('a full 5 MiB request (data + keys) is accepted by Kinesis in one request', async function () {
        // The one-byte-over split is checked in the unit tests; kinesis-local is slow with big requests.
        const stream = uniqueName('out');
        await createStream(stream, 1);
        const f = faultInjector(clients.kinesis);
        const p = new Producer({ client: f.sender, lingerMs: 500 });
        const sized = (n: number, key: string, extra = 0): ProducerRecord => ({ streamName: stream, data: Buffer.alloc(n - key.length + extra, key), partitionKey: key });
        const batch = (extra: number) => [sized(MIB, 'k1'), sized(MIB, 'k2'), sized(MIB, 'k3'), sized(MIB, 'k4'), sized(MIB / 2, 'k5'), sized(MIB / 2, 'k6', extra)];
        await p.put(batch(0));
        assert.deepEqual(f.requests.map((r) => r.length), [6]);
        const got = await readAll(raw, stream);
        assert.equal(got.length, 6);
        assert.equal(got.reduce((n, g) => n + g.Data!.length + g.PartitionKey!.length, 0), 5 * MIB);
        await p.close(1000);
    });

    it('retries only the rejected entries; same-key records keep their order; nothing is duplicated', async function () {
        const stream = uniqueName('out');
        await createStream(stream, 2);
        // Every record of key "hot" fails twice, "warm-3" fails with InternalFailure once.
        const f = faultInjector(clients.kinesis, (e, n) => (e.PartitionKey === 'hot' && n <= 2 ? 'ProvisionedThroughputExceededException'
            : Buffer.from(e.Data!).toString() === 'warm-3' && n === 1 ? 'InternalFailure' : undefined));
        const p = new Producer({ client: f.sender, lingerMs: 20, baseBackoffMs: 5, maxBackoffMs: 20 });
        const msgs: Promise<unknown>[] = [];
        for (let m = 0; m < 10; m++) {
            msgs.push(p.put([
                { streamName: stream, data: Buffer.from(`hot-${m}`), partitionKey: 'hot' },
                { streamName: stream, data: Buffer.from(`warm-${m}`), partitionKey: 'warm' },
                { streamName: stream, data: Buffer.from(`cold-${m}`), partitionKey: `cold-${m}` },
            ]));
        }
        await Promise.all(msgs);
        // Only rejected entries were sent again: 30 first attempts + 10 × 2 for "hot" + 1 for warm-3.
        assert.equal(f.requests.flat().length, 51);
        const got = await readAll(raw, stream);
        assert.equal(got.length, 30);
        assert.equal(new Set(got.map(text)).size, 30, 'no duplicates');
        for (const key of ['hot', 'warm']) {
            const seq = got.filter((g) => g.PartitionKey === key).map(text);
            assert.deepEqual(seq, Array.from({ length: 10 }, (_, m) => `${key}-${m}`), `order of ${key}`);
        }
        // Each "hot" record was attempted exactly 3 times, warm-3 twice, the rest once.
        assert.equal(f.attempts.get('hot-0'), 3);
        assert.equal(f.attempts.get('hot-9'), 3);
        assert.equal(f.attempts.get('warm-3'), 2);
        assert.equal(f.attempts.get('cold-5'), 1);
        await p.close(1000);
    });

    it('after the retry budget the message fails naming the records; the other records are written', async function () {
        const stream = uniqueName('out');
        await createStream(stream, 1);
        const f = faultInjector(clients.kinesis, (e) => (e.PartitionKey === 'bad' ? 'ProvisionedThroughputExceededException' : undefined));
        const p = new Producer({ client: f.sender, lingerMs: 0, maxRetries: 2, baseBackoffMs: 2, maxBackoffMs: 5 });
        const err = await p.put([
            { streamName: stream, data: Buffer.from('good'), partitionKey: 'good' },
            { streamName: stream, data: Buffer.from('lost'), partitionKey: 'bad' },
        ]).then(() => undefined, (e: unknown) => e);
        assert.ok(err instanceof ProducerError);
        assert.match(err.message, new RegExp(`1 of 2 records not written to Kinesis: throughput exceeded on stream "${stream}".*gave up after 3 attempts.*\\[record #1 \\(key "bad", 3 attempts\\)\\]`));
        const got = await readAll(raw, stream);
        assert.deepEqual(got.map(text), ['good']);
        assert.equal(err.results[0]?.sequenceNumber, got[0].SequenceNumber);
        await p.close(1000);
    });

    it('writes the seed downlink result to tb-test-downlink with key 123', async function () {
        const p = new Producer({ client: clients.kinesis, lingerMs: 0 });
        const result = { contentType: 'JSON', data: JSON.stringify({ devName: 'kitchen_thermostat', version: 'v.0.11' }), metadata: { streamName: 'tb-test-downlink', partitionKey: '123' } };
        const [w] = await p.put(resolveRecords(result, { streamName: '' }));
        assert.equal(w.streamName, 'tb-test-downlink');
        const it = await raw.send(new GetShardIteratorCommand({ StreamName: 'tb-test-downlink', ShardId: w.shardId, ShardIteratorType: 'AT_SEQUENCE_NUMBER', StartingSequenceNumber: w.sequenceNumber }));
        const r = await raw.send(new GetRecordsCommand({ ShardIterator: it.ShardIterator!, Limit: 1 }));
        const rec = r.Records![0];
        assert.equal(rec.PartitionKey, '123');
        assert.deepEqual(JSON.parse(text(rec)), { devName: 'kitchen_thermostat', version: 'v.0.11' });
        assert.equal(Buffer.from(rec.Data!).toString('base64'), 'eyJkZXZOYW1lIjoia2l0Y2hlbl90aGVybW9zdGF0IiwidmVyc2lvbiI6InYuMC4xMSJ9');
        await p.close(1000);
    });

    it('a missing stream fails at once with the stream and endpoint named', async function () {
        const p = new Producer({ client: clients.kinesis, lingerMs: 0 });
        await assert.rejects(p.put([{ streamName: 'no-such-stream-x1', data: Buffer.from('x'), partitionKey: 'k' }]), (e: Error) => {
            assert.ok(e instanceof ProducerError);
            assert.match(e.message, /stream "no-such-stream-x1" not found/);
            assert.equal(e.status, 'stream not found');
            return true;
        });
        await p.close(1000);
    });

    it('ordered mode writes with PutRecord in per-key order', async function () {
        const stream = uniqueName('out');
        await createStream(stream, 1);
        const p = new Producer({ client: clients.kinesis, ordered: true, lingerMs: 0, maxInFlight: 8 });
        await Promise.all(Array.from({ length: 20 }, (_, i) => p.put([{ streamName: stream, data: Buffer.from(`o${i}`), partitionKey: `k${i % 3}` }])));
        const got = await readAll(raw, stream);
        for (let k = 0; k < 3; k++) {
            const want = Array.from({ length: 20 }, (_, i) => i).filter((i) => i % 3 === k).map((i) => `o${i}`);
            assert.deepEqual(got.filter((g) => g.PartitionKey === `k${k}`).map(text), want);
        }
        await p.close(1000);
    });

    it('aggregated records round-trip through deaggregate, each on the shard of its key', async function () {
        const stream = uniqueName('out');
        await createStream(stream, 2);
        const f = faultInjector(clients.kinesis);
        const p = new Producer({ client: f.sender, aggregate: true, lingerMs: 50 });
        const input: ProducerRecord[] = Array.from({ length: 200 }, (_, i) => ({ streamName: stream, data: Buffer.from(JSON.stringify({ i })), partitionKey: `dev-${i % 13}` }));
        const res = await p.put(input);
        assert.ok(f.requests.flat().length <= 6, `${f.requests.flat().length} Kinesis records for 200 user records`);
        const got = await readAll(raw, stream);
        const shards = (await raw.send(new ListShardsCommand({ StreamName: stream }))).Shards!;
        const users = got.flatMap((g) => deaggregate(g).map((u) => ({ ...u, shardId: g.shardId })));
        assert.equal(users.length, 200);
        assert.ok(users.every((u) => u.aggregated));
        for (const u of users) {
            const h = hashKeyOf(u.partitionKey);
            const sh = shards.find((s) => h >= BigInt(s.HashKeyRange!.StartingHashKey!) && h <= BigInt(s.HashKeyRange!.EndingHashKey!))!;
            assert.equal(u.shardId, sh.ShardId);
        }
        for (let k = 0; k < 13; k++) {
            const want = input.filter((r) => r.partitionKey === `dev-${k}`).map((r) => Buffer.from(r.data).toString());
            assert.deepEqual(users.filter((u) => u.partitionKey === `dev-${k}`).map((u) => u.data.toString()), want);
        }
        res.forEach((r, i) => {
            const u = users.find((x) => x.data.toString() === JSON.stringify({ i }))!;
            assert.deepEqual([r.shardId, r.sequenceNumber, r.subSequenceNumber], [u.shardId, u.sequenceNumber, u.subSequenceNumber]);
        });
        await p.close(1000);
    });
});
