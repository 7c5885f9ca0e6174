import assert from 'node:assert/strict';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import {
    createAwsClients, resolveEndpoint, resolveRegion, checkRegion, checkEndpoint, checkConnectionOptions, AwsConfigError, httpHandlerFor,
} from '../../lib/aws/clients';
import { buildCredentialProvider, credentialProblems, sharedRefreshingProvider } from '../../lib/aws/credentials';
import { explainAwsError } from '../../lib/aws/errors';

/** Runs fn with process.env changed, then restores it. */
async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T> | T): Promise<T> {
    const saved: Record<string, string | undefined> = {};
    for (const k of Object.keys(vars)) {
        saved[k] = process.env[k];
        if (vars[k] === undefined) delete process.env[k]; else process.env[k] = vars[k];
    }
    try {
        return await fn();
    } finally {
        for (const k of Object.keys(saved)) {
            if (saved[k] === undefined) delete process.env[k]; else process.env[k] = saved[k];
        }
    }
}

describe('lib/aws/clients + credentials (no network)', function () {
    describe('logger', function () {
        it('the clients log nothing and give the SDK no info() to build a deep copy of every answer for', function () {
            const c = createAwsClients({ region: 'us-east-1', kinesisEndpoint: 'http://127.0.0.1:4568', dynamodbEndpoint: 'http://127.0.0.1:4569', credentialMode: 'static', accessKeyId: 'a', secretAccessKey: 'b', env: {} });
            try {
                for (const client of [c.kinesis, c.dynamodb]) {
                    const logger = client.config.logger as unknown as Record<string, unknown>;
                    assert.equal(logger.info, undefined);
                    assert.equal(typeof logger.error, 'function');
                }
            } finally {
                c.destroy();
            }
        });
    });

    describe('endpoints', function () {
        it('explicit endpoint beats the env vars', function () {
            const env = { AWS_ENDPOINT_URL_KINESIS: 'http://127.0.0.1:1', AWS_ENDPOINT_URL: 'http://127.0.0.1:2' };
            assert.equal(resolveEndpoint('kinesis', 'http://127.0.0.1:3', env), 'http://127.0.0.1:3');
        });
        it('service env var beats AWS_ENDPOINT_URL; AWS_ENDPOINT_URL is the fallback for both', function () {
            const env = { AWS_ENDPOINT_URL_KINESIS: 'http://127.0.0.1:1', AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:4', AWS_ENDPOINT_URL: 'http://127.0.0.1:2' };
            assert.equal(resolveEndpoint('kinesis', '', env), 'http://127.0.0.1:1');
            assert.equal(resolveEndpoint('dynamodb', ' ', env), 'http://127.0.0.1:4');
            assert.equal(resolveEndpoint('dynamodb', undefined, { AWS_ENDPOINT_URL: 'http://127.0.0.1:2' }), 'http://127.0.0.1:2');
            assert.equal(resolveEndpoint('kinesis', undefined, {}), undefined);
        });
        it('AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true ignores the env vars but not an explicit endpoint', function () {
            const env = { AWS_ENDPOINT_URL_KINESIS: 'http://127.0.0.1:1', AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' };
            assert.equal(resolveEndpoint('kinesis', undefined, env), undefined);
            assert.equal(resolveEndpoint('kinesis', 'http://127.0.0.1:3', env), 'http://127.0.0.1:3');
        });
        it('http:// endpoints get the HTTP/1.1 NodeHttpHandler; on AWS only SubscribeToShard keeps the SDK default (HTTP/2), every other client has a socket timeout', async function () {
            const local = createAwsClients({ region: 'us-east-1', kinesisEndpoint: 'http://127.0.0.1:4568', dynamodbEndpoint: 'http://127.0.0.1:4569', credentialMode: 'static', accessKeyId: 'a', secretAccessKey: 'b', env: {} });
            const aws = createAwsClients({ region: 'us-east-1', credentialMode: 'static', accessKeyId: 'a', secretAccessKey: 'b', env: {} });
            try {
                assert.ok(local.kinesis.config.requestHandler instanceof NodeHttpHandler);
                assert.ok(local.dynamodb.config.requestHandler instanceof NodeHttpHandler);
                assert.ok(!(aws.subscribeKinesis.config.requestHandler instanceof NodeHttpHandler), 'SubscribeToShard on AWS keeps HTTP/2');
                assert.ok(local.subscribeKinesis.config.requestHandler instanceof NodeHttpHandler, 'kinesis-local: HTTP/1.1');
                for (const [name, c] of [['kinesis', aws.kinesis], ['producerKinesis', aws.producerKinesis], ['dynamodb', aws.dynamodb], ['local kinesis', local.kinesis], ['local dynamodb', local.dynamodb]] as const) {
                    const h = c.config.requestHandler as NodeHttpHandler;
                    assert.ok(h instanceof NodeHttpHandler, `${name}: HTTP/1.1`);
                    const cfg = await (h as unknown as { configProvider: Promise<{ socketTimeout?: number }> }).configProvider;
                    assert.ok((cfg.socketTimeout ?? 0) >= 10_000, `${name}: a socket timeout`);
                }
                assert.equal(((await (local.subscribeKinesis.config.requestHandler as unknown as { configProvider: Promise<{ socketTimeout?: number }> }).configProvider).socketTimeout ?? 0), 0, 'SubscribeToShard: no socket timeout');
                const ep = await local.kinesis.config.endpoint!();
                assert.equal(`${ep.protocol}//${ep.hostname}:${ep.port}`, 'http://127.0.0.1:4568');
                assert.equal(local.describe(), 'http://127.0.0.1:4568');
                assert.equal(aws.describe(), 'us-east-1');
            } finally {
                local.destroy();
                aws.destroy();
            }
        });
        it('https:// endpoints other than AWS\'s own get HTTP/1.1 too; AWS domains (incl. VPC endpoints, China) keep the default', function () {
            assert.ok(httpHandlerFor('https://127.0.0.1:4567') instanceof NodeHttpHandler, 'kinesis-local over TLS');
            assert.ok(httpHandlerFor('https://localhost.localstack.cloud:4566') instanceof NodeHttpHandler);
            assert.ok(httpHandlerFor('http://kinesis.internal:80') instanceof NodeHttpHandler);
            assert.equal(httpHandlerFor('https://kinesis.eu-west-1.amazonaws.com'), undefined);
            assert.equal(httpHandlerFor('https://vpce-0123-abcd.kinesis.eu-west-1.vpce.amazonaws.com'), undefined);
            assert.equal(httpHandlerFor('https://kinesis.cn-north-1.amazonaws.com.cn'), undefined);
            assert.equal(httpHandlerFor('https://kinesis.us-east-1.api.aws'), undefined);
            assert.ok(httpHandlerFor('https://amazonaws.com.evil.example') instanceof NodeHttpHandler, 'only the real AWS domains');
            assert.equal(httpHandlerFor(undefined), undefined);
        });
        it('uses AWS_ENDPOINT_URL_KINESIS / _DYNAMODB from the environment it is given', function () {
            const c = createAwsClients({ credentialMode: 'static', accessKeyId: 'a', secretAccessKey: 'b', env: { AWS_REGION: 'eu-west-1', AWS_ENDPOINT_URL_KINESIS: 'http://127.0.0.1:7001', AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:7002' } });
            try {
                assert.equal(c.kinesisEndpoint, 'http://127.0.0.1:7001');
                assert.equal(c.dynamodbEndpoint, 'http://127.0.0.1:7002');
                assert.equal(c.region, 'eu-west-1');
                assert.ok(c.kinesis.config.requestHandler instanceof NodeHttpHandler);
            } finally {
                c.destroy();
            }
        });
        it('rejects endpoint URLs that are not http(s) URLs, in words', function () {
            assert.match(checkEndpoint('127.0.0.1:4568')!, /must start with http:\/\/ or https:\/\/|is not a URL/);
            assert.match(checkEndpoint('not a url')!, /is not a URL/);
            assert.match(checkEndpoint('ftp://x')!, /must start with http/);
            assert.equal(checkEndpoint('https://kinesis.eu-west-1.amazonaws.com'), undefined);
        });
    });

    describe('region', function () {
        it('explicit, then AWS_REGION, then AWS_DEFAULT_REGION', function () {
            assert.equal(resolveRegion({ region: 'eu-west-1', env: { AWS_REGION: 'us-east-1' } }), 'eu-west-1');
            assert.equal(resolveRegion({ region: '', env: { AWS_REGION: 'us-east-1', AWS_DEFAULT_REGION: 'us-west-2' } }), 'us-east-1');
            assert.equal(resolveRegion({ env: { AWS_DEFAULT_REGION: 'us-west-2' } }), 'us-west-2');
        });
        it('a region that is not a region name is refused in words (no DNS lookup needed)', function () {
            assert.match(checkRegion('Frankfurt')!, /region "Frankfurt" is not an AWS region name/);
            assert.match(checkRegion('eu west 1')!, /not an AWS region name/);
            assert.equal(checkRegion('eu-central-1'), undefined);
            assert.equal(checkRegion('us-gov-west-1'), undefined);
            assert.equal(checkRegion('local', true), undefined, 'any simple name with a local endpoint');
            assert.throws(() => createAwsClients({ region: 'Frankfurt', env: {} }), (err: Error) => {
                assert.ok(err instanceof AwsConfigError);
                assert.match(err.message, /region "Frankfurt" is not an AWS region name/);
                const e = explainAwsError(err);
                assert.equal(e.kind, 'bad-config');
                assert.equal(e.status, 'bad region');
                return true;
            });
        });
    });

    describe('settings that cannot work', function () {
        it('static mode without keys, bad role ARN, bad endpoint: every problem, with codes', function () {
            const problems = checkConnectionOptions({ credentialMode: 'static', roleArn: 'my-role', kinesisEndpoint: 'localhost:4568', region: 'us-east-1', env: {} });
            assert.deepEqual(problems.map((p) => p.code).sort(), ['bad-endpoint', 'bad-role-arn', 'missing-access-key', 'missing-secret-key']);
            assert.match(problems.find((p) => p.code === 'bad-role-arn')!.message, /arn:aws:iam::123456789012:role\/name/);
        });
        it('chain mode needs no keys; a valid role ARN and external ID pass', function () {
            assert.deepEqual(credentialProblems({ credentialMode: 'chain', roleArn: 'arn:aws:iam::123456789012:role/kinesis-reader', externalId: 'decodable-1234' }), []);
            assert.deepEqual(credentialProblems({ credentialMode: 'static', roleArn: 'arn:aws-cn:iam::123456789012:role/path/r', accessKeyId: 'a', secretAccessKey: 'b' }), []);
        });
    });

    describe('credential modes resolve', function () {
        it('static keys (+ session token)', async function () {
            const p = buildCredentialProvider({ credentialMode: 'static', accessKeyId: ' AKIDSTATIC ', secretAccessKey: 'secret', sessionToken: 'token' }, 'us-east-1');
            assert.deepEqual(await p(), { accessKeyId: 'AKIDSTATIC', secretAccessKey: 'secret', sessionToken: 'token' });
            const q = buildCredentialProvider({ credentialMode: 'static', accessKeyId: 'AKIDSTATIC', secretAccessKey: 'secret', sessionToken: '' }, 'us-east-1');
            assert.deepEqual(await q(), { accessKeyId: 'AKIDSTATIC', secretAccessKey: 'secret' });
        });
        it('default chain, from the standard env vars', async function () {
            await withEnv({ AWS_ACCESS_KEY_ID: 'AKIDFROMENV', AWS_SECRET_ACCESS_KEY: 'secret-from-env', AWS_SESSION_TOKEN: 'token-from-env', AWS_PROFILE: undefined }, async () => {
                const p = buildCredentialProvider({ credentialMode: 'chain' }, 'us-east-1');
                const c = await p();
                assert.equal(c.accessKeyId, 'AKIDFROMENV');
                assert.equal(c.secretAccessKey, 'secret-from-env');
                assert.equal(c.sessionToken, 'token-from-env');
            });
        });
        it('the clients sign with the static keys', async function () {
            const c = createAwsClients({ region: 'us-east-1', credentialMode: 'static', accessKeyId: 'AKIDSIGN', secretAccessKey: 's', env: {} });
            try {
                const id = await c.credentials();
                assert.equal(id.accessKeyId, 'AKIDSIGN');
            } finally {
                c.destroy();
            }
        });
    });

    describe('sharedRefreshingProvider', function () {
        it('caches until the identity is within refreshBeforeMs of expiry; concurrent callers share one refresh', async function () {
            let now = 1_000_000;
            let calls = 0;
            const p = sharedRefreshingProvider(async () => {
                calls++;
                return { accessKeyId: `K${calls}`, secretAccessKey: 's', expiration: new Date(now + 600_000) };
            }, 300_000, () => now);
            const [a, b] = await Promise.all([p(), p()]);
            assert.equal(calls, 1);
            assert.equal(a.accessKeyId, 'K1');
            assert.equal(b.accessKeyId, 'K1');
            now += 200_000; // 400 s left > 300 s
            assert.equal((await p()).accessKeyId, 'K1');
            now += 150_000; // 250 s left: refresh
            assert.equal((await p()).accessKeyId, 'K2');
            assert.equal(calls, 2);
        });
        it('a failed refresh is not cached', async function () {
            let calls = 0;
            const p = sharedRefreshingProvider(async () => {
                calls++;
                if (calls === 1) throw new Error('sts down');
                return { accessKeyId: 'K', secretAccessKey: 's' };
            });
            await assert.rejects(p(), /sts down/);
            assert.equal((await p()).accessKeyId, 'K');
        });
    });
});
