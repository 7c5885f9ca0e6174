/**
 * EFO reader resilience against the real kinesis-local: resubscribes, slow consumers, watchdog,
 * ResourceInUse, non-retryable errors, close(). Faults are injected around the real client.
 */
import assert from 'node:assert/strict';
import { DeregisterStreamConsumerCommand, DescribeStreamConsumerCommand, KinesisClient } from '@aws-sdk/client-kinesis';
import { createEfoReaderFactory, EfoReaderOptions, EfoShardReader, ReaderClosedError } from '../../lib/consumer/efo';
import type { ShardReader, ShardReaderOptions } from '../../lib/consumer/reader';
import { rawKinesis, uniqueName, waitFor } from '../helpers/stack';
import { assertExactly, collect, efoStream, faultyClient, putIds, stallAfter } from './efo-helpers';

const FAST: EfoReaderOptions = { minSubscribeIntervalMs: 0, retryBaseMs: 50, retryMaxMs: 400 };

describe('EFO reader resilience (kinesis-local)', function () {
    this.timeout(90_000);
    let kinesis: KinesisClient;
    const readers: ShardReader[] = [];

    /** A fresh one-shard stream with a registered consumer. */
    const setup = (prefix: string, consumerName = 'app') => efoStream(kinesis, prefix, consumerName);

    function open(consumerARN: string, options: Partial<ShardReaderOptions> & Pick<ShardReaderOptions, 'shardId'>, opts: EfoReaderOptions = {}): EfoShardReader {
        const reader = createEfoReaderFactory(consumerARN, { ...FAST, ...opts })({
            kinesis,
            start: { type: 'TRIM_HORIZON' },
            maxRecords: 10_000,
            idleTimeMs: 1000,
            ...options,
        }) as EfoShardReader;
        readers.push(reader);
        return reader;
    }

    before(() => {
        kinesis = rawKinesis();
    });
    afterEach(async () => {
        await Promise.all(readers.splice(0).map((r) => r.close()));
    });
    after(() => kinesis.destroy());

    it('resubscribes from the continuation sequence number: nothing lost, nothing twice across ≥ 3 subscriptions', async function () {
        const s = await setup('efo-resub');
        const reader = open(s.consumerARN, { shardId: s.shardId, streamName: s.stream }, { maxSubscriptionMs: 1_200 });
        const expected: string[] = [];
        const got: string[] = [];
        for (let round = 0; round < 4; round++) {
            expected.push(...(await putIds(kinesis, s.stream, `r${round}`, 40)));
            got.push(...(await collect(reader, expected.length - got.length)).ids);
        }
        assertExactly(got, expected);
        assert.ok(reader.stats.subscriptions >= 3, `subscriptions: ${reader.stats.subscriptions}`);
        // Every subscription after the first started AFTER_SEQUENCE_NUMBER (checked through the data: exact ids above).
    });

    it('a slow consumer loses nothing and causes no watchdog restarts', async function () {
        const s = await setup('efo-slow');
        const warnings: string[] = [];
        const reader = open(s.consumerARN, { shardId: s.shardId, streamName: s.stream, onWarning: (m) => warnings.push(m) }, { maxSubscriptionMs: 2_500, watchdogMs: 2_000 });
        const expected = await putIds(kinesis, s.stream, 'slow', 300);
        const got: string[] = [];
        // Pauses longer than the watchdog and the subscription life while events pile up unread.
        let pauses = 0;
        while (got.length < expected.length) {
            const b = await reader.next();
            got.push(...b.records.map((r) => Buffer.from(r.Data!).toString()));
            if (pauses++ < 2) {
                expected.push(...(await putIds(kinesis, s.stream, `slow-more${pauses}`, 100)));
                await new Promise((r) => setTimeout(r, 3_000));
            }
        }
        assertExactly(got, expected);
        assert.equal(reader.stats.watchdogRestarts, 0, `watchdog fired while the consumer was busy: ${warnings.join('; ')}`);
        assert.ok(reader.stats.subscriptions >= 2, 'the subscription outlived by the consumer was replaced');
    });

    it('the watchdog restarts a subscription that stalls, and reading continues without loss', async function () {
        const s = await setup('efo-stall');
        const faulty = faultyClient(kinesis, async (call, _cmd, send, signal) => {
            const out = await send();
            // The first subscription delivers one event, then goes silent (a zombie stream).
            return call === 0 ? { ...out, EventStream: stallAfter(out.EventStream!, 1, signal) } : out;
        });
        const warnings: string[] = [];
        const reader = open(s.consumerARN, { kinesis: faulty, shardId: s.shardId, streamName: s.stream, onWarning: (m) => warnings.push(m) }, { watchdogMs: 1_500 });
        const first = await putIds(kinesis, s.stream, 'w1', 10);
        const got = (await collect(reader, first.length)).ids;
        const second = await putIds(kinesis, s.stream, 'w2', 10);
        got.push(...(await collect(reader, second.length)).ids);
        assertExactly(got, [...first, ...second]);
        assert.equal(reader.stats.watchdogRestarts, 1);
        assert.ok(warnings.some((w) => /delivered nothing/.test(w)), warnings.join('; '));
    });

    it('a subscribe call that never gets a response is abandoned after the watchdog time and retried', async function () {
        const s = await setup('efo-noresp');
        let abandoned = false;
        const faulty = faultyClient(kinesis, async (call, _cmd, send, signal) => {
            if (call > 0) return send();
            // The first call hangs (a black-holed connection) until the reader aborts it.
            return new Promise((_resolve, reject) => {
                signal?.addEventListener('abort', () => {
                    abandoned = true;
                    reject(Object.assign(new Error('Request aborted'), { name: 'AbortError' }));
                }, { once: true });
            });
        });
        const reader = open(s.consumerARN, { kinesis: faulty, shardId: s.shardId, streamName: s.stream }, { watchdogMs: 1_500 });
        const ids = await putIds(kinesis, s.stream, 'nr', 10);
        assertExactly((await collect(reader, ids.length)).ids, ids);
        assert.ok(abandoned, 'the hanging call was aborted');
        assert.equal(reader.stats.retries, 1);
    });

    it('ResourceInUse on subscribe is retried with backoff, never in a tight loop', async function () {
        const s = await setup('efo-inuse');
        let attempts = 0;
        const faulty = faultyClient(kinesis, async (call, _cmd, send) => {
            attempts++;
            if (call < 3) throw Object.assign(new Error('Another active subscription exists'), { name: 'ResourceInUseException', $fault: 'client' });
            return send();
        });
        const warnings: string[] = [];
        const reader = open(s.consumerARN, { kinesis: faulty, shardId: s.shardId, streamName: s.stream, onWarning: (m) => warnings.push(m) });
        const ids = await putIds(kinesis, s.stream, 'iu', 20);
        assertExactly((await collect(reader, ids.length)).ids, ids);
        assert.equal(reader.stats.inUseRetries, 3);
        assert.equal(attempts, 4, 'one subscribe per backoff, no storm');
        assert.equal(warnings.filter((w) => /in use/.test(w)).length, 3);
    });

    it('ResourceInUse mid-stream (another subscriber took over) resumes after the last event', async function () {
        const s = await setup('efo-takeover');
        const faulty = faultyClient(kinesis, async (call, _cmd, send) => {
            const out = await send();
            if (call !== 0) return out;
            const source = out.EventStream!;
            return {
                ...out,
                EventStream: {
                    async *[Symbol.asyncIterator]() {
                        let n = 0;
                        for await (const e of source) {
                            yield e;
                            if (++n === 1) throw Object.assign(new Error('taken over'), { name: 'ResourceInUseException' });
                        }
                    },
                },
            };
        });
        const reader = open(s.consumerARN, { kinesis: faulty, shardId: s.shardId, streamName: s.stream });
        const a = await putIds(kinesis, s.stream, 'ta', 15);
        const got = (await collect(reader, a.length)).ids;
        const b = await putIds(kinesis, s.stream, 'tb', 15);
        got.push(...(await collect(reader, b.length)).ids);
        assertExactly(got, [...a, ...b]);
        assert.ok(reader.stats.inUseRetries >= 1);
    });

    it('two readers of one shard and consumer: the second waits (in use) and takes over after the first closes', async function () {
        const s = await setup('efo-two');
        const ids = await putIds(kinesis, s.stream, 'two', 10);
        const first = open(s.consumerARN, { shardId: s.shardId, streamName: s.stream });
        assertExactly((await collect(first, ids.length)).ids, ids);
        const warnings: string[] = [];
        const second = open(s.consumerARN, { shardId: s.shardId, streamName: s.stream, onWarning: (m) => warnings.push(m) }, { retryBaseMs: 200, retryMaxMs: 400 });
        const pending = collect(second, ids.length);
        await waitFor('the second reader to be refused', () => warnings.some((w) => /in use/.test(w)), 20_000);
        const refused = second.stats.subscriptions;
        await first.close();
        assertExactly((await pending).ids, ids);
        assert.ok(second.stats.inUseRetries >= 1);
        // Backoff bounds the attempts: far fewer than a tight loop would make.
        assert.ok(second.stats.subscriptions <= refused + 20, `subscriptions ${second.stats.subscriptions}`);
    });

    it('rejects next() with an explained error when access is denied', async function () {
        const s = await setup('efo-denied');
        const faulty = faultyClient(kinesis, async () => {
            throw Object.assign(new Error('User: arn:aws:iam::1:user/x is not authorized to perform: kinesis:SubscribeToShard'), {
                name: 'AccessDeniedException',
                $metadata: { httpStatusCode: 400 },
            });
        });
        const reader = open(s.consumerARN, { kinesis: faulty, shardId: s.shardId, streamName: s.stream });
        await assert.rejects(reader.next(), (err: Error & { kind?: string }) => {
            assert.equal(err.kind, 'access-denied');
            assert.match(err.message, /kinesis:SubscribeToShard/);
            return true;
        });
    });

    it('rejects next() with an explained error when the consumer is deregistered', async function () {
        this.timeout(30_000);
        // A unique consumer name: kinesis-local's deregistration removes the first consumer *of that
        // name* across all streams, so with a shared name it would remove another stream's consumer.
        const s = await setup('efo-dereg', uniqueName('dereg'));
        const first = open(s.consumerARN, { shardId: s.shardId, streamName: s.stream });
        const ids = await putIds(kinesis, s.stream, 'dr', 5);
        assertExactly((await collect(first, ids.length)).ids, ids);
        await first.close();
        // (kinesis-local keeps a running subscription after deregistration, where AWS ends it with an
        // error; what the reader sees next either way is ResourceNotFound on subscribe.)
        await kinesis.send(new DeregisterStreamConsumerCommand({ ConsumerARN: s.consumerARN }));
        await waitFor('the consumer to be gone', async () => {
            try {
                await kinesis.send(new DescribeStreamConsumerCommand({ ConsumerARN: s.consumerARN }));
                return false;
            } catch (err) {
                return (err as Error).name === 'ResourceNotFoundException';
            }
        }, 15_000, 100);
        const reader = open(s.consumerARN, { shardId: s.shardId, streamName: s.stream, start: { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: '1' } });
        await assert.rejects(reader.next(), (err: Error & { kind?: string }) => {
            assert.equal(err.kind, 'not-found', err.message);
            assert.match(err.message, /EFO consumer or stream .* not found/);
            return true;
        });
    });

    it('close() rejects a pending next() at once and releases the subscription', async function () {
        const s = await setup('efo-close');
        // The subscription goes silent after its first events: only close() can end the pending next().
        let stalledClosed = false;
        const faulty = faultyClient(kinesis, async (_call, _cmd, send, signal) => {
            const out = await send();
            signal?.addEventListener('abort', () => (stalledClosed = true), { once: true });
            return { ...out, EventStream: stallAfter(out.EventStream!, 2, signal) };
        });
        const reader = open(s.consumerARN, { kinesis: faulty, shardId: s.shardId, streamName: s.stream }, { watchdogMs: 600_000, maxSubscriptionMs: 600_000 });
        const ids = await putIds(kinesis, s.stream, 'cl', 5);
        assertExactly((await collect(reader, ids.length)).ids, ids);
        let pendingNext = reader.next();
        while (true) {
            const b = await Promise.race([pendingNext, new Promise<'waiting'>((r) => setTimeout(() => r('waiting'), 100))]);
            if (b === 'waiting') break;
            pendingNext = reader.next();
        }
        await reader.close();
        assert.ok(stalledClosed, 'close() aborted the subscription request');
        await assert.rejects(pendingNext, ReaderClosedError);
        await assert.rejects(reader.next(), ReaderClosedError);
        await reader.close(); // idempotent
        // The server side is released: a new reader of the same consumer and shard subscribes.
        const again = open(s.consumerARN, { shardId: s.shardId, streamName: s.stream });
        assertExactly((await collect(again, ids.length)).ids, ids);
    });
});

describe('EFO reader: close() leaves nothing behind (child process)', function () {
    this.timeout(60_000);

    it('a process that closes its reader exits by itself (no dangling socket, timer or subscription)', async function () {
        const { spawn } = await import('node:child_process');
        const path = await import('node:path');
        const kinesis = rawKinesis();
        try {
            const { stream, shardId, consumerARN } = await efoStream(kinesis, 'efo-exit');
            await putIds(kinesis, stream, 'x', 3);
            const efoModule = path.resolve(__dirname, '../../lib/consumer/efo.js');
            // The child reads, leaves a next() pending, closes, destroys its client and must then exit
            // on its own: a dangling socket, timer or subscription would keep it alive.
            const script = `
                const { KinesisClient } = require('@aws-sdk/client-kinesis');
                const { NodeHttpHandler } = require('@smithy/node-http-handler');
                const { createEfoReaderFactory } = require(${JSON.stringify(efoModule)});
                (async () => {
                    const kinesis = new KinesisClient({ region: 'us-east-1', endpoint: process.env.KINESIS_LOCAL_ENDPOINT,
                        credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, requestHandler: new NodeHttpHandler() });
                    const reader = createEfoReaderFactory(${JSON.stringify(consumerARN)}, { minSubscribeIntervalMs: 0, watchdogMs: 30000 })({
                        kinesis, streamName: ${JSON.stringify(stream)}, shardId: ${JSON.stringify(shardId)},
                        start: { type: 'TRIM_HORIZON' }, maxRecords: 10000, idleTimeMs: 1000 });
                    let n = 0;
                    while (n < 3) n += (await reader.next()).records.length;
                    const pending = reader.next().catch((e) => e.name);
                    await new Promise((r) => setTimeout(r, 200));
                    await reader.close();
                    console.log('pending next:', await pending);
                    console.log('closed');
                    // No kinesis.destroy(): idle keep-alive sockets do not hold the process, an open subscription would.
                })().catch((e) => { console.error(e); process.exitCode = 2; });
            `;
            const child = spawn(process.execPath, ['-e', script], { cwd: path.resolve(__dirname, '../../..'), env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
            let out = '';
            child.stdout.on('data', (d) => (out += d));
            child.stderr.on('data', (d) => (out += d));
            const code = await new Promise<number | null | 'hung'>((resolve) => {
                const t = setTimeout(() => resolve('hung'), 20_000);
                child.on('exit', (c) => {
                    clearTimeout(t);
                    resolve(c);
                });
            });
            if (code === 'hung') child.kill('SIGKILL');
            assert.equal(code, 0, `child ${code === 'hung' ? 'did not exit after close()' : `exited ${code}`}: ${out}`);
            assert.match(out, /pending next: ReaderClosedError/);
            assert.match(out, /closed/);
        } finally {
            kinesis.destroy();
        }
    });
});
