/**
 * HTTP(S) proxy (issue 14 part 1): Kinesis, DynamoDB and STS calls through a proxy started by the
 * test on loopback (test/helpers/proxy.ts), counted there; the environment variables and NO_PROXY;
 * proxy authentication from the credential store; Test connection (probeConnection) saying when
 * the proxy is the problem, never echoing its password; HTTP/2 (what Kinesis on AWS uses) through
 * a CONNECT tunnel.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ListStreamsCommand, KinesisClient } from '@aws-sdk/client-kinesis';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { NodeHttp2Handler, NodeHttpHandler } from '@smithy/node-http-handler';
import { awsEndpoint, AwsConnectionOptions, createAwsClients, proxiedHandler } from '../../lib/aws/clients';
import { explainAwsError } from '../../lib/aws/errors';
import { probeConnection } from '../../lib/aws/probe';
import { http2ProxyConnect, noProxyMatches, resolveProxy } from '../../lib/aws/proxy';
import { Producer } from '../../lib/producer/producer';
import { assumeRoleReply, closedPort, listStreamsReply, startStub, Stub } from '../helpers/aws-stub';
import { startProxy, TestProxy } from '../helpers/proxy';
import { createStream, localEndpoints, uniqueName } from '../helpers/stack';

function portOf(url: string): string {
    return new URL(url).port;
}

describe('HTTP proxy for the AWS calls (local proxy)', function () {
    const open: Array<{ close(): Promise<void> }> = [];
    afterEach(async () => {
        await Promise.all(open.splice(0).map((x) => x.close()));
    });
    async function proxy(opts?: { username?: string; password?: string }): Promise<TestProxy> {
        const p = await startProxy(opts);
        open.push(p);
        return p;
    }
    function base(extra: Partial<AwsConnectionOptions>): AwsConnectionOptions {
        const ep = localEndpoints();
        return {
            region: ep.region, kinesisEndpoint: ep.kinesis, dynamodbEndpoint: ep.dynamodb, env: {},
            credentialMode: 'static', accessKeyId: 'local', secretAccessKey: 'local', ...extra,
        };
    }

    it('the Proxy URL field: Kinesis (reads and the producer) and DynamoDB go through the proxy, counted there', async function () {
        const p = await proxy();
        const stream = uniqueName('proxy');
        await createStream(stream, 1);
        const c = createAwsClients(base({ proxyUrl: p.url }));
        try {
            assert.equal(c.proxy, p.url);
            const out = await c.kinesis.send(new ListStreamsCommand({}));
            assert.ok(out.StreamNames?.includes(stream));
            await c.dynamodb.send(new ListTablesCommand({}));
            const producer = new Producer({ client: c.producerKinesis, lingerMs: 1 });
            const res = await producer.put([{ streamName: stream, data: Buffer.from('through the proxy'), partitionKey: 'k' }]);
            await producer.close(1000);
            assert.match(res[0].sequenceNumber, /^\d+$/);
            const ports = p.tunnels.map((a) => a.split(':').pop());
            assert.ok(ports.includes(portOf(localEndpoints().kinesis)), `a tunnel to kinesis-local: ${p.tunnels.join(', ')}`);
            assert.ok(ports.includes(portOf(localEndpoints().dynamodb)), `a tunnel to dynalite: ${p.tunnels.join(', ')}`);
        } finally {
            c.destroy();
        }
    });

    it('HTTP_PROXY from the environment; NO_PROXY (host, host:port, .domain, *) bypasses it', async function () {
        const p = await proxy();
        const viaEnv = createAwsClients(base({ env: { HTTP_PROXY: p.url } }));
        try {
            await viaEnv.kinesis.send(new ListStreamsCommand({}));
            assert.equal(p.tunnels.length, 1);
        } finally {
            viaEnv.destroy();
        }
        const bypass = createAwsClients(base({ env: { http_proxy: p.url, NO_PROXY: `example.com, 127.0.0.1:${portOf(localEndpoints().kinesis)}` } }));
        try {
            await bypass.kinesis.send(new ListStreamsCommand({}));
            assert.equal(bypass.proxy, undefined);
            assert.equal(p.tunnels.length, 1, 'no new tunnel: NO_PROXY matched');
        } finally {
            bypass.destroy();
        }
        assert.ok(noProxyMatches('.amazonaws.com', 'kinesis.eu-west-1.amazonaws.com', '443'));
        assert.ok(noProxyMatches('*.amazonaws.com', 'kinesis.eu-west-1.amazonaws.com', '443'));
        assert.ok(noProxyMatches('amazonaws.com', 'kinesis.eu-west-1.amazonaws.com', '443'));
        assert.ok(noProxyMatches('*', 'anything', '80'));
        assert.ok(!noProxyMatches('example.com', 'notexample.com', '443'));
        assert.ok(!noProxyMatches('127.0.0.1:1', '127.0.0.1', '2'));
        // HTTPS endpoints use HTTPS_PROXY; the instance-metadata endpoint is never proxied
        assert.equal(resolveProxy('https://kinesis.us-east-1.amazonaws.com', { env: { HTTP_PROXY: p.url } }), undefined);
        assert.equal(resolveProxy('https://kinesis.us-east-1.amazonaws.com', { env: { HTTPS_PROXY: p.url } })?.url.href, `${p.url}/`);
        assert.equal(resolveProxy('http://169.254.169.254/latest/meta-data/', { proxyUrl: p.url }), undefined);
    });

    it('proxy authentication: user and password from the credential store work; without them Test connection names the proxy, not AWS', async function () {
        const p = await proxy({ username: 'proxy-user', password: 'proxy-Secr3t' });
        const good = createAwsClients(base({ proxyUrl: p.url, proxyUsername: 'proxy-user', proxyPassword: 'proxy-Secr3t' }));
        try {
            const r = await probeConnection(good, []);
            assert.equal(r.ok, true, r.message);
        } finally {
            good.destroy();
        }
        const bad = createAwsClients(base({ proxyUrl: p.url, proxyUsername: 'proxy-user', proxyPassword: 'wrong-Secr3t', maxAttempts: 1 }));
        try {
            const r = await probeConnection(bad, ['wrong-Secr3t']);
            assert.equal(r.ok, false);
            assert.equal(r.kinesis.error?.kind, 'proxy');
            assert.equal(r.kinesis.error?.status, 'proxy auth failed');
            assert.match(r.message, new RegExp(`proxy ${p.url.replace(/[.]/g, '\\.')} refused the connection .*proxy authentication`));
            assert.doesNotMatch(r.message, /Secr3t/);
            assert.ok(p.refused >= 1);
        } finally {
            bad.destroy();
        }
        // a password inside HTTPS_PROXY / HTTP_PROXY is used, and never shown
        const inUrl = createAwsClients(base({ env: { HTTP_PROXY: `http://proxy-user:proxy-Secr3t@127.0.0.1:${p.port}` } }));
        try {
            assert.equal(inUrl.proxy, p.url);
            await inUrl.kinesis.send(new ListStreamsCommand({}));
        } finally {
            inUrl.destroy();
        }
    });

    it('an unreachable proxy: the error says the proxy cannot be reached (not the endpoint)', async function () {
        const port = await closedPort();
        const c = createAwsClients(base({ proxyUrl: `http://127.0.0.1:${port}`, maxAttempts: 1 }));
        try {
            const r = await probeConnection(c, []);
            assert.equal(r.ok, false);
            assert.equal(r.kinesis.error?.kind, 'proxy');
            assert.match(r.message, new RegExp(`cannot reach the proxy http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`));
        } finally {
            c.destroy();
        }
    });

    it('a proxy URL that cannot work is a configuration problem in words', function () {
        assert.throws(() => createAwsClients(base({ proxyUrl: 'socks5://127.0.0.1:1080' })), /proxy URL must start with http:\/\//);
        assert.throws(() => createAwsClients(base({ env: { HTTPS_PROXY: 'http://[bad' } })), /HTTPS_PROXY: proxy URL is not a URL/);
        assert.throws(() => createAwsClients(base({ proxyUrl: 'http://u:pw-in-flow@127.0.0.1:3128' })), (e: Error) => /must not contain a user name or password/.test(e.message) && !e.message.includes('pw-in-flow'));
    });

    it('STS (assume role) goes through the proxy too', async function () {
        const p = await proxy();
        const sts: Stub = await startStub(() => assumeRoleReply({ accessKeyId: 'ASIAVIAPROXY0000001', secretAccessKey: 's', sessionToken: 't', expiration: new Date(Date.now() + 3600_000) }));
        const svc: Stub = await startStub((r) => (r.target === 'DynamoDB_20120810.ListTables'
            ? { status: 200, body: { TableNames: [] }, headers: { 'content-type': 'application/x-amz-json-1.0' } }
            : listStreamsReply(['x'])));
        open.push(sts, svc);
        const c = createAwsClients(base({
            kinesisEndpoint: svc.url, dynamodbEndpoint: svc.url, proxyUrl: p.url,
            roleArn: 'arn:aws:iam::123456789012:role/cross-account-writer', stsEndpoint: sts.url,
        }));
        try {
            await c.kinesis.send(new ListStreamsCommand({}));
            assert.equal(svc.requests[0].accessKeyId, 'ASIAVIAPROXY0000001');
            assert.ok(p.tunnels.includes(`127.0.0.1:${sts.port}`), `STS tunnelled: ${p.tunnels.join(', ')}`);
            assert.ok(p.tunnels.includes(`127.0.0.1:${svc.port}`));
        } finally {
            c.destroy();
        }
    });

    it('an https:// endpoint through the proxy: TLS end to end inside the tunnel (the certificate is still checked)', async function () {
        const tlsEndpoint = process.env.KINESIS_LOCAL_TLS_ENDPOINT as string;
        const p = await proxy();
        const c = createAwsClients(base({ kinesisEndpoint: tlsEndpoint, proxyUrl: p.url, maxAttempts: 1 }));
        const before = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
        try {
            const err = await c.kinesis.send(new ListStreamsCommand({})).then(() => undefined, (e: unknown) => e);
            assert.equal(explainAwsError(err, { endpoint: tlsEndpoint }).status, 'untrusted certificate', 'the self-signed certificate is seen through the tunnel');
            process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0'; // trusted, as a user would (this test only)
            const out = await c.kinesis.send(new ListStreamsCommand({}));
            assert.ok(out.StreamNames?.includes('my-thingsboard'));
            assert.ok(p.tunnels.every((a) => a === `${new URL(tlsEndpoint).hostname}:${new URL(tlsEndpoint).port}`) && p.tunnels.length >= 2, p.tunnels.join(', '));
        } finally {
            if (before === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
            else process.env.NODE_TLS_REJECT_UNAUTHORIZED = before;
            c.destroy();
        }
    });

    it('HTTP/2 over TLS (Kinesis on AWS, SubscribeToShard) works through a CONNECT tunnel', async function () {
        const dir = mkdtempSync(path.join(tmpdir(), 'proxy-h2-'));
        try {
            execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
                '-addext', 'subjectAltName=DNS:localhost', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
            const cert = readFileSync(path.join(dir, 'cert.pem'));
            const server = http2.createSecureServer({ key: readFileSync(path.join(dir, 'key.pem')), cert });
            const protocols: string[] = [];
            server.on('stream', (s, headers) => {
                protocols.push(String(headers[':method']));
                s.respond({ ':status': 200, 'content-type': 'application/x-amz-json-1.1' });
                s.end(JSON.stringify({ StreamNames: ['over-h2'], HasMoreStreams: false }));
            });
            await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
            open.push({ close: () => new Promise<void>((r) => { server.close(() => r()); }) });
            const p = await proxy();
            const port = (server.address() as AddressInfo).port;
            const client = new KinesisClient({
                region: 'us-east-1',
                endpoint: `https://localhost:${port}`,
                credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
                maxAttempts: 1,
                requestHandler: new NodeHttp2Handler({
                    disableConcurrentStreams: true,
                    nodeHttp2ConnectOptions: { createConnection: http2ProxyConnect(resolveProxy(`https://localhost:${port}`, { proxyUrl: p.url })!) as never, ca: cert },
                }),
            });
            try {
                const out = await client.send(new ListStreamsCommand({}));
                assert.deepEqual(out.StreamNames, ['over-h2']);
                assert.deepEqual(p.tunnels, [`localhost:${port}`]);
                assert.deepEqual(protocols, ['POST']);
            } finally {
                client.destroy();
            }
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
    });

    it('towards AWS itself: Kinesis keeps HTTP/2 through the tunnel, DynamoDB and STS use HTTP/1.1 through it', function () {
        const opts = { proxyUrl: 'http://proxy.example:3128', env: {} };
        const k = proxiedHandler('kinesis', undefined, 'eu-west-1', opts);
        assert.ok(k.handler instanceof NodeHttp2Handler);
        assert.equal(k.proxy?.url.host, 'proxy.example:3128');
        const d = proxiedHandler('dynamodb', undefined, 'eu-west-1', opts);
        assert.ok(d.handler instanceof NodeHttpHandler && d.proxy);
        const s = proxiedHandler('sts', undefined, 'cn-north-1', opts);
        assert.ok(s.handler instanceof NodeHttpHandler && s.proxy);
        assert.equal(awsEndpoint('sts', 'cn-north-1'), 'https://sts.cn-north-1.amazonaws.com.cn');
        // NO_PROXY for AWS's domain: direct, SDK defaults
        const direct = proxiedHandler('kinesis', undefined, 'eu-west-1', { env: { HTTPS_PROXY: 'http://proxy.example:3128', NO_PROXY: '.amazonaws.com' } });
        assert.equal(direct.proxy, undefined);
        assert.equal(direct.handler, undefined);
    });

    it('explains a proxy error without the proxy password', function () {
        const e = explainAwsError(Object.assign(new Error('cannot reach the proxy http://127.0.0.1:9 (ECONNREFUSED) — check the proxy URL or HTTPS_PROXY / HTTP_PROXY'), { name: 'ProxyError' }), { secrets: ['pw'] });
        assert.equal(e.kind, 'proxy');
        assert.equal(e.status, 'proxy problem');
        assert.equal(e.retryable, true);
    });
});
