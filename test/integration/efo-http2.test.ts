/**
 * The HTTP/2 path (what real AWS uses: the SDK's default NodeHttp2Handler). kinesis-local's own
 * HTTP/2 endpoint fails with a protocol error, so a small `node:http2` front (h2c, prior
 * knowledge, on a free loopback port) forwards every request to kinesis-local's HTTP/1.1 port and
 * streams the response back — the event stream included.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { NodeHttp2Handler } from '@smithy/node-http-handler';
import { createEfoReaderFactory, EfoShardReader } from '../../lib/consumer/efo';
import { localEndpoints, rawKinesis, waitFor } from '../helpers/stack';
import { assertExactly, collect, efoStream, putIds } from './efo-helpers';

interface H2Front {
    url: string;
    /** Requests currently forwarded (open HTTP/2 streams). */
    open(): number;
    /** Requests seen, by X-Amz-Target. */
    seen: string[];
    /** HTTP/2 sessions currently connected. */
    sessions(): number;
    close(): Promise<void>;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'host']);

async function startH2Front(target: string): Promise<H2Front> {
    const upstream = new URL(target);
    const agent = new http.Agent({ keepAlive: false });
    let open = 0;
    const seen: string[] = [];
    const sessions = new Set<http2.ServerHttp2Session>();
    const server = http2.createServer();
    server.on('session', (s) => {
        sessions.add(s);
        s.on('close', () => sessions.delete(s));
    });
    server.on('stream', (stream, headers) => {
        open++;
        let closed = false;
        const done = (): void => {
            if (!closed) {
                closed = true;
                open--;
            }
        };
        const out: http.OutgoingHttpHeaders = { host: upstream.host };
        for (const [k, v] of Object.entries(headers)) {
            if (k.startsWith(':') || HOP_BY_HOP.has(k) || v === undefined) continue;
            out[k] = v;
        }
        seen.push(String(headers['x-amz-target'] ?? ''));
        const req = http.request({ host: upstream.hostname, port: upstream.port, method: headers[':method'], path: headers[':path'], headers: out, agent }, (res) => {
            const back: http2.OutgoingHttpHeaders = { ':status': res.statusCode ?? 502 };
            for (const [k, v] of Object.entries(res.headers)) {
                if (!HOP_BY_HOP.has(k) && v !== undefined) back[k] = v;
            }
            if (stream.destroyed) {
                res.destroy();
                return;
            }
            stream.respond(back);
            res.pipe(stream);
            res.on('error', () => stream.destroy());
        });
        req.on('error', () => {
            if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
        });
        stream.pipe(req);
        stream.on('close', () => {
            done();
            req.destroy();
        });
        stream.on('error', () => req.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    return {
        url: `http://127.0.0.1:${port}`,
        open: () => open,
        seen,
        sessions: () => sessions.size,
        close: () =>
            new Promise<void>((resolve) => {
                for (const s of sessions) s.destroy();
                agent.destroy();
                server.close(() => resolve());
            }),
    };
}

describe('EFO over HTTP/2 (NodeHttp2Handler → local h2c front → kinesis-local)', function () {
    this.timeout(60_000);
    let front: H2Front;
    let h2: KinesisClient;
    const raw = (): KinesisClient => rawKinesis();

    before(async () => {
        front = await startH2Front(localEndpoints().kinesis);
        h2 = new KinesisClient({
            region: localEndpoints().region,
            endpoint: front.url,
            credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
            requestHandler: new NodeHttp2Handler(),
        });
    });
    after(async () => {
        h2.destroy();
        await front.close();
    });

    it('registers the consumer and reads a shard across several subscriptions, all over HTTP/2', async function () {
        const k1 = raw();
        try {
            const { stream, shardId, consumerARN, streamARN } = await efoStream(k1, 'efo-h2', 'h2-app', h2);
            assert.ok(front.seen.includes('Kinesis_20131202.RegisterStreamConsumer'), 'registration went through the HTTP/2 front');
            const reader = createEfoReaderFactory(consumerARN, { minSubscribeIntervalMs: 0, retryBaseMs: 50, retryMaxMs: 400, maxSubscriptionMs: 1_500 })({
                kinesis: h2, streamARN, shardId, start: { type: 'TRIM_HORIZON' }, maxRecords: 10_000, idleTimeMs: 1000,
            }) as EfoShardReader;
            try {
                const expected: string[] = [];
                const got: string[] = [];
                for (let round = 0; round < 3; round++) {
                    expected.push(...(await putIds(k1, stream, `h2r${round}`, 30)));
                    got.push(...(await collect(reader, expected.length - got.length)).ids);
                }
                assertExactly(got, expected);
                assert.ok(reader.stats.subscriptions >= 2, `subscriptions ${reader.stats.subscriptions}`);
                assert.ok(front.seen.filter((t) => t.endsWith('.SubscribeToShard')).length >= 2);
            } finally {
                await reader.close();
            }
            // close() ends the HTTP/2 stream of the subscription (the front sees it close).
            await waitFor('the subscription stream to close', () => front.open() === 0, 10_000);
        } finally {
            k1.destroy();
        }
    });

    it('a slow consumer over HTTP/2 loses nothing when its subscriptions expire while it is busy', async function () {
        const k1 = raw();
        try {
            const { stream, shardId, consumerARN, streamARN } = await efoStream(k1, 'efo-h2slow', 'h2-slow', h2);
            const reader = createEfoReaderFactory(consumerARN, { minSubscribeIntervalMs: 0, retryBaseMs: 50, retryMaxMs: 400, maxSubscriptionMs: 1_500, watchdogMs: 1_800 })({
                kinesis: h2, streamARN, shardId, start: { type: 'TRIM_HORIZON' }, maxRecords: 10_000, idleTimeMs: 1000,
            }) as EfoShardReader;
            try {
                const expected = await putIds(k1, stream, 'h2s', 200);
                const got: string[] = [];
                let pauses = 0;
                while (got.length < expected.length) {
                    got.push(...(await reader.next()).records.map((r) => Buffer.from(r.Data!).toString()));
                    if (pauses++ < 2) {
                        expected.push(...(await putIds(k1, stream, `h2s-more${pauses}`, 50)));
                        await new Promise((r) => setTimeout(r, 2_000)); // longer than the watchdog and the subscription life
                    }
                }
                assertExactly(got, expected);
                assert.equal(reader.stats.watchdogRestarts, 0, 'no restarts caused by the busy consumer');
            } finally {
                await reader.close();
            }
        } finally {
            k1.destroy();
        }
    });
});
