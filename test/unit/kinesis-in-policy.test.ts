import assert from 'node:assert/strict';
import { Checkpointer } from '../../lib/consumer/checkpointer';
import type { ConsumerRecord, DoneCallback } from '../../lib/consumer/consumer';
import { FailurePolicy, FailurePolicyOptions, FailureInfo, retryDelay, describeFailure, deadLetterRecord, clip } from '../../lib/consumer/failure-policy';
import { MetricsCollector } from '../../nodes/kinesis-in/metrics';
import { waitFor } from '../helpers/stack';

function record(seq: string, data = '{"n":1}'): ConsumerRecord {
    return { data: Buffer.from(data), partitionKey: 'k1', sequenceNumber: seq, subSequenceNumber: 0, aggregated: false, shardId: 'shardId-000000000000', approximateArrivalTimestamp: new Date(1_700_000_000_000) };
}

/** A policy over fake handlers that records what happened. */
function harness(opts: Partial<FailurePolicyOptions>, more: { canEmit?: () => boolean; deadLetter?: () => Promise<void> } = {}) {
    const log: string[] = [];
    const results: unknown[] = [];
    const policy = new FailurePolicy<string>({ retries: 2, retryDelayMs: 1, retryMaxDelayMs: 5, action: 'hold', ...opts }, {
        canEmit: more.canEmit ?? (() => true),
        resend: (item, attempt) => { log.push(`resend ${item} #${attempt}`); },
        toOutput: (item, error: FailureInfo, attempts) => { log.push(`output ${item} ${error.message} ${attempts}`); },
        deadLetter: async (item, error, attempts) => {
            log.push(`dead-letter ${item} ${error.message} ${attempts}`);
            if (more.deadLetter) await more.deadLetter();
        },
        held: (item, shardId, error, attempts, cause) => { log.push(`held ${item} ${attempts} ${cause}`); },
    });
    const done: DoneCallback = (err) => { results.push(err === undefined ? 'done' : `failed: ${(err as Error).message}`); };
    return { policy, log, results, done };
}

describe('kinesis-in: failure policy (lib/consumer/failure-policy)', () => {
    it('backs off exponentially up to the maximum', () => {
        assert.deepEqual([1, 2, 3, 4, 5, 6].map((r) => retryDelay(r, 1000, 10_000)), [1000, 2000, 4000, 8000, 10_000, 10_000]);
        assert.equal(retryDelay(1000, 1000, 30_000), 30_000, 'no overflow');
    });

    it('describes errors in clipped words, with the Catch source when there is one', () => {
        assert.deepEqual(describeFailure(new TypeError('bad')), { message: 'bad', name: 'TypeError' });
        assert.deepEqual(describeFailure({ message: 'caught', source: { id: 'n1', type: 'http request', name: '', extra: 1 } }),
            { message: 'caught', source: { id: 'n1', type: 'http request', name: '' } });
        assert.deepEqual(describeFailure('plain'), { message: 'plain' });
        assert.equal(describeFailure(new Error('x'.repeat(5000))).message.length, 1000);
        assert.equal(clip('abc', 2), 'a…');
    });

    it('re-sends while retries are left, then holds (the consumer gets the error)', async () => {
        const h = harness({ retries: 2 });
        h.policy.failed({ item: 'r1', shardId: 's', error: new Error('e1'), attempt: 1, done: h.done });
        await waitFor('first re-send', () => h.log.length === 1);
        h.policy.failed({ item: 'r1', shardId: 's', error: new Error('e2'), attempt: 2, done: h.done });
        await waitFor('second re-send', () => h.log.length === 2);
        h.policy.failed({ item: 'r1', shardId: 's', error: new Error('e3'), attempt: 3, done: h.done });
        assert.deepEqual(h.log, ['resend r1 #2', 'resend r1 #3', 'held r1 3 failed']);
        assert.deepEqual(h.results, ['failed: e3']);
        assert.deepEqual(h.policy.counters, { failed: 3, retried: 2, toOutput: 0, deadLettered: 0, held: 1 });
    });

    it('output: sends the record with the error and the attempt count, and finishes it (the checkpoint moves on)', () => {
        const h = harness({ retries: 0, action: 'output' });
        h.policy.failed({ item: 'r1', shardId: 's', error: new Error('boom'), attempt: 1, done: h.done });
        assert.deepEqual(h.log, ['output r1 boom 1']);
        assert.deepEqual(h.results, ['done']);
    });

    it('dead letter: finishes after the write; a failed write holds', async () => {
        const ok = harness({ retries: 0, action: 'deadLetter' });
        ok.policy.failed({ item: 'r1', shardId: 's', error: new Error('boom'), attempt: 1, done: ok.done });
        await waitFor('written', () => ok.results.length === 1);
        assert.deepEqual(ok.results, ['done']);
        const bad = harness({ retries: 0, action: 'deadLetter' }, { deadLetter: () => Promise.reject(new Error('stream not found')) });
        bad.policy.failed({ item: 'r1', shardId: 's', error: new Error('boom'), attempt: 1, done: bad.done });
        await waitFor('held', () => bad.results.length === 1);
        assert.deepEqual(bad.results, ['failed: boom']);
        assert.deepEqual(bad.log, ['dead-letter r1 boom 1', 'held r1 1 dead-letter write failed']);
    });

    it('does not re-send once the lease is gone, nor after close (the record is not checkpointed)', async () => {
        let mine = true;
        const h = harness({ retries: 5, retryDelayMs: 20, action: 'output' }, { canEmit: () => mine });
        h.policy.failed({ item: 'r1', shardId: 's', error: new Error('e'), attempt: 1, done: h.done });
        mine = false;
        await waitFor('given up', () => h.results.length === 1);
        assert.deepEqual(h.log, [], 'neither re-sent nor sent to the failure output');
        assert.deepEqual(h.results, ['failed: e']);
        const c = harness({ retries: 5, retryDelayMs: 60_000 });
        c.policy.failed({ item: 'r2', shardId: 's', error: new Error('e'), attempt: 1, done: c.done });
        assert.equal(c.policy.retrying, 1);
        c.policy.close();
        assert.equal(c.policy.retrying, 0);
        assert.deepEqual(c.results, ['failed: e']);
    });

    it('dead-letter record: JSON with error, attempts, source position and the data, under the record\'s partition key', () => {
        const r = deadLetterRecord(record('42', 'hello'), { sourceStream: 'in', deadLetterStream: 'dlq', error: { message: 'boom' }, attempts: 3, failedAt: new Date(0) });
        assert.equal(r.streamName, 'dlq');
        assert.equal(r.partitionKey, 'k1');
        const doc = JSON.parse(Buffer.from(r.data).toString('utf8'));
        assert.deepEqual(doc, {
            error: { message: 'boom' }, attempts: 3, failedAt: '1970-01-01T00:00:00.000Z',
            source: { streamName: 'in', shardId: 'shardId-000000000000', sequenceNumber: '42', subSequenceNumber: 0, partitionKey: 'k1', approximateArrivalTimestamp: 1_700_000_000_000 },
            data: Buffer.from('hello').toString('base64'),
        });
    });
});

describe('kinesis-in: checkpointer room and hold', () => {
    it('a full shard resumes at the low-water mark, not at every finished record', async () => {
        const cp = new Checkpointer();
        const t = Array.from({ length: 10 }, (_, i) => cp.deliver(String(i + 1), 0));
        let resumed = false;
        const p = cp.waitForRoom(10, 6).then(() => { resumed = true; });
        for (let i = 0; i < 3; i++) cp.finish(t[i]);
        await Promise.resolve();
        assert.equal(resumed, false, 'in flight 7: still waiting');
        cp.finish(t[3]);
        await p;
        assert.equal(resumed, true, 'in flight 6: resumed');
    });

    it('hold() resolves only on wake (stop / lease lost)', async () => {
        const cp = new Checkpointer();
        cp.finish(cp.deliver('1', 0), new Error('x'));
        let woken = false;
        const p = cp.hold().then(() => { woken = true; });
        cp.finish(cp.deliver('2', 0));
        await new Promise((r) => setImmediate(r));
        assert.equal(woken, false);
        cp.wake();
        await p;
        assert.equal(woken, true);
    });
});

describe('kinesis-in: metrics collector', () => {
    it('reports per-shard rate, lag, in-flight and the counts of the interval, then starts a new interval', () => {
        const m = new MetricsCollector({ streamName: 's', applicationName: 'a', workerId: 'w' }, 0);
        m.checkpoint('sh1');
        m.checkpoint('sh1');
        m.throttle('sh2');
        m.error('sh2');
        m.error(undefined);
        const f = { failed: 3, retried: 2, toOutput: 1, deadLettered: 0, held: 0 };
        const r1 = m.report([
            { shardId: 'sh1', lagMs: 500, delivered: 2000, inFlight: 4, held: false },
            { shardId: 'sh2', lagMs: undefined, delivered: 0, inFlight: 0, held: true },
        ], f, 2000);
        assert.equal(r1.intervalMs, 2000);
        assert.deepEqual(r1.shards[0], { shardId: 'sh1', lagMs: 500, recordsPerS: 1000, inFlight: 4, checkpoints: 2, throttles: 0, errors: 0, held: false });
        assert.deepEqual(r1.shards[1], { shardId: 'sh2', lagMs: null, recordsPerS: 0, inFlight: 0, checkpoints: 0, throttles: 1, errors: 1, held: true });
        assert.deepEqual(r1.totals, { shards: 2, recordsPerS: 1000, inFlight: 4, maxLagMs: 500, checkpoints: 2, throttles: 1, errors: 2, failed: 3, retried: 2, toFailureOutput: 1, deadLettered: 0, held: 0 });
        const r2 = m.report([{ shardId: 'sh1', lagMs: 0, delivered: 3000, inFlight: 0, held: false }], { ...f, failed: 4 }, 3000);
        assert.equal(r2.shards[0].recordsPerS, 1000);
        assert.equal(r2.shards[0].checkpoints, 0);
        assert.equal(r2.totals.failed, 1);
        assert.equal(r2.totals.errors, 0);
    });
});
