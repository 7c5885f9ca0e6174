/**
 * The EFO reader's `waitingMs` (lib/consumer/reader.ts; read by the consumer's metrics().unansweredMs beyond
 * EFO_QUIET_MS): how long a `next()` has waited without hearing from Kinesis. Against the real kinesis-local: an
 * idle live subscription is heard from every few seconds (its empty events), so the wait never reaches
 * EFO_QUIET_MS; subscribe calls that get no response keep the wait growing across the watchdog's retries until an
 * answer; no `next()` waiting = 0.
 */
import assert from 'node:assert/strict';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { EFO_QUIET_MS } from '../../lib/consumer/consumer';
import { createEfoReaderFactory, EfoShardReader } from '../../lib/consumer/efo';
import { rawKinesis } from '../helpers/stack';
import { assertExactly, collect, efoStream, faultyClient, putIds } from './efo-helpers';

describe('EFO reader: how long a read has waited without hearing from Kinesis (kinesis-local)', function () {
    this.timeout(90_000);
    let kinesis: KinesisClient;
    const readers: EfoShardReader[] = [];
    before(() => { kinesis = rawKinesis(); });
    afterEach(async () => { await Promise.all(readers.splice(0).map((r) => r.close())); });
    after(() => kinesis.destroy());

    function open(client: KinesisClient, consumerARN: string, shardId: string, stream: string): EfoShardReader {
        const reader = createEfoReaderFactory(consumerARN, { minSubscribeIntervalMs: 0, retryBaseMs: 50, retryMaxMs: 200, watchdogMs: 3000 })({
            kinesis: client, shardId, streamName: stream, start: { type: 'TRIM_HORIZON' }, maxRecords: 10_000, idleTimeMs: 1000,
        }) as EfoShardReader;
        readers.push(reader);
        return reader;
    }

    it('an idle live subscription is heard from every few seconds: the wait stays under EFO_QUIET_MS', async function () {
        const s = await efoStream(kinesis, 'efo-quiet');
        const reader = createEfoReaderFactory(s.consumerARN)({
            kinesis, shardId: s.shardId, streamName: s.stream, start: { type: 'TRIM_HORIZON' }, maxRecords: 10_000, idleTimeMs: 1000,
        }) as EfoShardReader;
        readers.push(reader);
        assert.equal(reader.waitingMs(Date.now()), 0, 'no read waits yet');
        let max = 0;
        const sampler = setInterval(() => { max = Math.max(max, reader.waitingMs(Date.now())); }, 50);
        const until = Date.now() + 14_000;
        let events = 0;
        try {
            while (Date.now() < until) {
                await reader.next();
                events++;
            }
        } finally {
            clearInterval(sampler);
        }
        assert.ok(events >= 2, `events on the idle subscription: ${events}`);
        assert.ok(max > 0, 'the reads were waited for');
        assert.ok(max < EFO_QUIET_MS, `an idle subscription never counts as not answering: longest wait ${max} ms`);
    });

    it('subscribe calls without a response: the wait goes on across the watchdog\'s retries until Kinesis answers', async function () {
        const s = await efoStream(kinesis, 'efo-silent');
        const faulty = faultyClient(kinesis, async (call, _cmd, send, signal) => {
            if (call >= 2) return send();
            // no response (a black-holed connection / a paused server) until the reader's watchdog aborts the call
            return new Promise((_resolve, reject) => {
                signal?.addEventListener('abort', () => reject(Object.assign(new Error('Request aborted'), { name: 'AbortError' })), { once: true });
            });
        });
        const ids = await putIds(kinesis, s.stream, 'sil', 10);
        const reader = open(faulty, s.consumerARN, s.shardId, s.stream);
        let max = 0;
        const sampler = setInterval(() => { max = Math.max(max, reader.waitingMs(Date.now())); }, 20);
        let got;
        try {
            got = await collect(reader, ids.length);
        } finally {
            clearInterval(sampler);
        }
        assertExactly(got.ids, ids);
        // two unanswered subscribe calls of 3 s (the watchdog) each: one wait, not two short ones
        assert.ok(max >= 5000, `the wait spans the unanswered calls: longest ${max} ms`);
        assert.equal(reader.waitingMs(Date.now()), 0, 'no read waits now');
    });
});
