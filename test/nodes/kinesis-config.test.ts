/**
 * kinesis-config in a real Node-RED runtime (node-red-node-test-helper): credential modes, endpoint
 * overrides, the status it gives its users, the Test-connection admin endpoint (against the local
 * stack and loopback stubs for each error class) and that secrets never leak.
 */
import assert from 'node:assert/strict';
import { ListStreamsCommand } from '@aws-sdk/client-kinesis';
import { nodeRedHelper, nodeModule } from '../helpers/nodered';
import { localEndpoints } from '../helpers/stack';
import { startStub, jsonError, listStreamsReply, assumeRoleReply, closedPort, Stub } from '../helpers/aws-stub';
import type { KinesisConfigNode } from '../../nodes/shared/types';
import { networkGuardOn, blockedLookups } from '../setup';

const helper = nodeRedHelper();
const configNode = nodeModule('kinesis-config');

const SECRET_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY';
const ACCESS_KEY = 'AKIDTESTACCESSKEY01';
const TOKEN = 'FQoGZXIvYXdzSESSIONTOKENVALUE==';
const SECRETS = [SECRET_KEY, ACCESS_KEY, TOKEN];

interface TestAnswer { ok: boolean; message: string; streams: string[]; kind?: string }

async function testConnection(body: object): Promise<TestAnswer> {
    const res = await helper.request().post('/kinesis-config/test').send(body).expect(200);
    return res.body as TestAnswer;
}

function assertNoSecret(text: string, where: string): void {
    for (const s of SECRETS) assert.ok(!text.includes(s), `${where} contains a secret: ${text}`);
}

describe('kinesis-config node', function () {
    const stubs: Stub[] = [];
    // Test-helper nodes registered as users never deregister themselves (kinesis-in/out do on close): the
    // config node would wait its full close grace (14 s) for them. Each test's users are deregistered here.
    const registered: Array<[KinesisConfigNode, Parameters<KinesisConfigNode['register']>[0]]> = [];
    function use(config: KinesisConfigNode, ...users: Array<Parameters<KinesisConfigNode['register']>[0]>): void {
        for (const u of users) {
            config.register(u);
            registered.push([config, u]);
        }
    }
    before((done) => { helper.startServer(done); });
    after((done) => { helper.stopServer(done); });
    afterEach(async () => {
        for (const [config, user] of registered.splice(0)) config.deregister(user);
        await helper.unload();
        await Promise.all(stubs.splice(0).map((s) => s.close()));
    });

    describe('clients', function () {
        it('default chain + empty endpoints: the standard env vars reach the local stack', async function () {
            await helper.load(configNode, [{ id: 'c1', type: 'kinesis-config', name: 'local', region: '', credentialMode: 'chain' }]);
            const c1 = helper.getNode('c1') as KinesisConfigNode;
            const clients = c1.getClients();
            assert.equal(clients.kinesisEndpoint, localEndpoints().kinesis);
            assert.equal(clients.dynamodbEndpoint, localEndpoints().dynamodb);
            assert.equal(c1.getClients(), clients, 'one set of clients, shared');
            const out = await clients.kinesis.send(new ListStreamsCommand({}));
            assert.ok(out.StreamNames?.includes('my-thingsboard'));
            assert.equal((await clients.credentials()).accessKeyId, process.env.AWS_ACCESS_KEY_ID);
        });

        it('on close, the clients outlive the users still closing and are destroyed after the last deregisters', async function () {
            await helper.load(configNode, [{ id: 'c1', type: 'kinesis-config', credentialMode: 'chain' }]);
            const c1 = helper.getNode('c1') as KinesisConfigNode;
            const clients = c1.getClients();
            let destroyed = 0;
            const destroy = clients.destroy.bind(clients);
            (clients as { destroy: () => void }).destroy = () => { destroyed++; destroy(); };
            const user = { id: 'u1', status: () => undefined } as unknown as Parameters<KinesisConfigNode['register']>[0];
            c1.register(user);
            const closing = c1.close(false);
            await new Promise((r) => setTimeout(r, 200));
            assert.equal(destroyed, 0, 'a user still closing keeps the clients');
            const out = await clients.kinesis.send(new ListStreamsCommand({}));
            assert.ok(out.StreamNames?.includes('my-thingsboard'), 'still usable while the user closes');
            c1.deregister(user);
            await closing;
            assert.equal(destroyed, 1, 'destroyed once the last user has deregistered');
        });

        it('${ENV_VAR} in a setting is the environment variable\'s value', async function () {
            await helper.load(configNode, [{ id: 'c1', type: 'kinesis-config', region: '${AWS_REGION}', kinesisEndpoint: '${KINESIS_LOCAL_ENDPOINT}', credentialMode: 'chain' }]);
            const clients = (helper.getNode('c1') as KinesisConfigNode).getClients();
            assert.equal(clients.region, process.env.AWS_REGION);
            assert.equal(clients.kinesisEndpoint, localEndpoints().kinesis);
        });

        it('static keys + session token from the credential store sign the calls; explicit endpoint beats the env var', async function () {
            const stub = await startStub(() => listStreamsReply(['from-stub']));
            stubs.push(stub);
            await helper.load(configNode, [{ id: 'c1', type: 'kinesis-config', region: 'eu-west-1', kinesisEndpoint: stub.url, dynamodbEndpoint: stub.url, credentialMode: 'static' }],
                { c1: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY, sessionToken: TOKEN } });
            const c1 = helper.getNode('c1') as KinesisConfigNode;
            const clients = c1.getClients();
            assert.equal(clients.kinesisEndpoint, stub.url);
            assert.equal(clients.region, 'eu-west-1');
            const out = await clients.kinesis.send(new ListStreamsCommand({}));
            assert.deepEqual(out.StreamNames, ['from-stub']);
            assert.equal(stub.requests[0].accessKeyId, ACCESS_KEY);
            assert.equal(stub.requests[0].sessionToken, TOKEN);
            assert.match(String(stub.requests[0].headers.authorization), /\/eu-west-1\/kinesis\/aws4_request/);
            assert.deepEqual(c1.secrets().sort(), [...SECRETS].sort());
        });

        it('assume role (stsEndpoint setting): the role\'s keys sign the Kinesis calls', async function () {
            const sts = await startStub(() => assumeRoleReply({ accessKeyId: 'ASIAROLEKEY000000001', secretAccessKey: 'role-secret', sessionToken: 'role-token', expiration: new Date(Date.now() + 3600_000) }));
            const svc = await startStub(() => listStreamsReply([]));
            stubs.push(sts, svc);
            await helper.load(configNode, [{ id: 'c1', type: 'kinesis-config', region: 'us-east-1', kinesisEndpoint: svc.url, dynamodbEndpoint: svc.url, credentialMode: 'static',
                roleArn: 'arn:aws:iam::123456789012:role/r', externalId: 'ext-1', roleSessionName: 'nr', stsEndpoint: sts.url }],
            { c1: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY } });
            const c1 = helper.getNode('c1') as KinesisConfigNode;
            await c1.getClients().kinesis.send(new ListStreamsCommand({}));
            assert.equal(sts.requests[0].form?.RoleArn, 'arn:aws:iam::123456789012:role/r');
            assert.equal(sts.requests[0].form?.ExternalId, 'ext-1');
            assert.equal(sts.requests[0].form?.RoleSessionName, 'nr');
            assert.equal(sts.requests[0].accessKeyId, ACCESS_KEY);
            assert.equal(svc.requests[0].accessKeyId, 'ASIAROLEKEY000000001');
            assert.equal(svc.requests[0].sessionToken, 'role-token');
        });
    });

    describe('tells its users when its settings cannot work', function () {
        const cases: Array<{ what: string; def: object; creds?: object; status: string; words: RegExp }> = [
            { what: 'static mode without keys', def: { credentialMode: 'static' }, status: 'missing access key', words: /access key ID is missing/ },
            { what: 'a bad endpoint URL', def: { kinesisEndpoint: '127.0.0.1:4568' }, status: 'bad endpoint URL', words: /Kinesis endpoint "127\.0\.0\.1:4568"/ },
            { what: 'a bad role ARN', def: { roleArn: 'kinesis-role' }, status: 'bad role ARN', words: /role ARN "kinesis-role" must look like arn:aws:iam::123456789012:role\/name/ },
            { what: 'a bad region', def: { region: 'Frankfurt' }, status: 'bad region', words: /region "Frankfurt" is not an AWS region name/ },
        ];
        for (const c of cases) {
            it(`${c.what}: red status on every user, getClients() throws in words`, async function () {
                await helper.load(configNode, [
                    { id: 'c1', type: 'kinesis-config', name: 'conn', credentialMode: 'chain', ...c.def },
                    { id: 'u1', type: 'helper', z: 'f1' }, { id: 'u2', type: 'helper', z: 'f1' }, { id: 'f1', type: 'tab' },
                ], { c1: { accessKeyId: '', secretAccessKey: SECRET_KEY } });
                const c1 = helper.getNode('c1') as KinesisConfigNode;
                const users = [helper.getNode('u1'), helper.getNode('u2')];
                use(c1, ...users);
                for (const u of users) {
                    const status = (u.status as unknown as { lastCall: { args: unknown[] } }).lastCall.args[0];
                    assert.deepEqual(status, { fill: 'red', shape: 'ring', text: c.status });
                }
                let thrown: unknown;
                assert.throws(() => c1.getClients(), (err: Error & { status?: string; kind?: string }) => {
                    thrown = err;
                    assert.match(err.message, /AWS connection "conn" cannot work/);
                    assert.match(err.message, c.words);
                    assert.equal(err.status, c.status);
                    assert.equal(err.kind, 'bad-config');
                    assertNoSecret(err.message, 'getClients error');
                    return true;
                });
                // a user explaining that error gets the same words and status
                const explained = c1.explain(thrown);
                assert.equal(explained.kind, 'bad-config');
                assert.equal(explained.status, c.status);
                assert.match(explained.message, c.words);
                c1.deregister(users[0]);
            });
        }

        it('logs the problem once, when a node first uses the connection (an unused config node stays quiet)', async function () {
            await helper.load(configNode, [{ id: 'c1', type: 'kinesis-config', name: 'conn', credentialMode: 'static' }, { id: 'u1', type: 'helper', z: 'f1' }, { id: 'f1', type: 'tab' }]);
            const c1 = helper.getNode('c1') as KinesisConfigNode;
            const warn = c1.warn as unknown as { callCount: number; firstCall: { args: unknown[] } };
            assert.equal(warn.callCount, 0);
            use(c1, helper.getNode('u1'));
            assert.throws(() => c1.getClients());
            assert.throws(() => c1.getClients());
            assert.equal(warn.callCount, 1);
            assert.match(String(warn.firstCall.args[0]), /AWS connection "conn" cannot work: access key ID is missing/);
        });

        it('a working configuration leaves its users\' status alone', async function () {
            await helper.load(configNode, [{ id: 'c1', type: 'kinesis-config', credentialMode: 'chain' }, { id: 'u1', type: 'helper', z: 'f1' }, { id: 'f1', type: 'tab' }]);
            const c1 = helper.getNode('c1') as KinesisConfigNode;
            const u1 = helper.getNode('u1');
            use(c1, u1);
            assert.equal((u1.status as unknown as { callCount: number }).callCount, 0);
        });
    });

    describe('Test connection (POST /kinesis-config/test)', function () {
        beforeEach(async () => {
            await helper.load(configNode, [{ id: 'stored', type: 'kinesis-config', credentialMode: 'static' }, { id: 'u1', type: 'helper', z: 'f1' }, { id: 'f1', type: 'tab' }],
                { stored: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY, sessionToken: TOKEN } });
        });

        it('OK against the local stack, listing my-thingsboard', async function () {
            const e = localEndpoints();
            const r = await testConnection({ region: e.region, kinesisEndpoint: e.kinesis, dynamodbEndpoint: e.dynamodb, credentialMode: 'static', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
            assert.equal(r.ok, true, r.message);
            assert.ok(r.streams.includes('my-thingsboard'));
            assert.match(r.message, /^Connected to Kinesis \(http:\/\/127\.0\.0\.1:\d+\): \d+ streams? — .*my-thingsboard.*DynamoDB OK/);
        });

        it('${ENV_VAR} settings are substituted as the runtime does', async function () {
            const r = await testConnection({ region: '${AWS_REGION}', kinesisEndpoint: '${KINESIS_LOCAL_ENDPOINT}', dynamodbEndpoint: '${DYNAMODB_LOCAL_ENDPOINT}', credentialMode: 'chain', credentials: {} });
            assert.equal(r.ok, true, r.message);
            // the answer names the variable, never its value
            assert.match(r.message, /Connected to Kinesis \(\$\{KINESIS_LOCAL_ENDPOINT\}\)/);
            assert.ok(!r.message.includes(localEndpoints().kinesis), r.message);
        });

        it('never echoes a value taken from the environment, even in an error text', async function () {
            process.env.KC_TEST_ENV_SECRET = 'sUpEr-SeCrEt-env-value-42';
            try {
                for (const body of [
                    { region: '${KC_TEST_ENV_SECRET}', credentialMode: 'chain', credentials: {} },
                    { region: 'eu-west-1', kinesisEndpoint: 'http://127.0.0.1:1/${KC_TEST_ENV_SECRET}', credentialMode: 'chain', credentials: {} },
                    { region: 'eu-west-1', roleArn: 'arn:aws:iam::123456789012:role/${KC_TEST_ENV_SECRET}', credentialMode: 'chain', credentials: {} },
                ]) {
                    const r = await testConnection(body);
                    assert.equal(r.ok, false);
                    assert.ok(!r.message.includes('sUpEr-SeCrEt'), r.message);
                    assert.ok(r.message.length <= 1024, `clipped: ${r.message.length}`);
                }
            } finally {
                delete process.env.KC_TEST_ENV_SECRET;
            }
        });

        it('OK with the default chain and empty endpoints (the standard env vars)', async function () {
            const r = await testConnection({ region: '', kinesisEndpoint: '', dynamodbEndpoint: '', credentialMode: 'chain', credentials: {} });
            assert.equal(r.ok, true, r.message);
            assert.ok(r.streams.includes('tb-test-downlink'));
        });

        it('bad keys (UnrecognizedClientException) → "AWS rejected the credentials"', async function () {
            const stub = await startStub(() => jsonError('UnrecognizedClientException', 'The security token included in the request is invalid.'));
            stubs.push(stub);
            const r = await testConnection({ region: 'us-east-1', kinesisEndpoint: stub.url, dynamodbEndpoint: stub.url, credentialMode: 'static', credentials: { accessKeyId: 'AKIDWRONG0000000', secretAccessKey: 'wrong-secret' } });
            assert.equal(r.ok, false);
            assert.equal(r.kind, 'bad-credentials');
            assert.match(r.message, /AWS rejected the credentials \(UnrecognizedClientException\): check the access key ID and secret access key/);
            assert.equal(stub.requests[0].accessKeyId, 'AKIDWRONG0000000');
        });

        it('access denied (AccessDeniedException) → names kinesis:ListStreams and says the keys were accepted', async function () {
            const stub = await startStub(() => jsonError('AccessDeniedException', 'User: arn:aws:iam::123456789012:user/producer is not authorized to perform: kinesis:ListStreams'));
            stubs.push(stub);
            const r = await testConnection({ region: 'us-east-1', kinesisEndpoint: stub.url, dynamodbEndpoint: stub.url, credentialMode: 'static', credentials: { accessKeyId: 'AKIDPRODUCER0000', secretAccessKey: 's' } });
            assert.equal(r.ok, false);
            assert.equal(r.kind, 'access-denied');
            assert.match(r.message, /access denied \(kinesis:ListStreams\): the IAM policy must allow kinesis:ListStreams/);
            assert.match(r.message, /The credentials were accepted/);
        });

        it('endpoint unreachable (closed loopback port) → "cannot reach …: ECONNREFUSED"', async function () {
            const port = await closedPort();
            const url = `http://127.0.0.1:${port}`;
            const r = await testConnection({ region: 'us-east-1', kinesisEndpoint: url, dynamodbEndpoint: url, credentialMode: 'static', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
            assert.equal(r.ok, false);
            assert.equal(r.kind, 'unreachable');
            assert.match(r.message, new RegExp(`cannot reach http://127\\.0\\.0\\.1:${port}: ECONNREFUSED \\(nothing listens there`));
        });

        it('unknown region / invalid endpoint URL are refused in words, before any request', async function () {
            const r1 = await testConnection({ region: 'Frankfurt', credentialMode: 'chain', credentials: {} });
            assert.equal(r1.ok, false);
            assert.equal(r1.kind, 'bad-config');
            assert.match(r1.message, /region "Frankfurt" is not an AWS region name \(e\.g\. us-east-1, eu-west-1\)/);
            const r2 = await testConnection({ region: 'us-east-1', kinesisEndpoint: 'localhost:4568', credentialMode: 'chain', credentials: {} });
            assert.equal(r2.kind, 'bad-config');
            assert.match(r2.message, /Kinesis endpoint "localhost:4568" must start with http:\/\/ or https:\/\//);
        });

        it('a region that does not exist (no endpoint): "unknown host: check the region name" — DNS refused by the test guard, nothing leaves 127.0.0.1', async function () {
            if (!networkGuardOn) this.skip();
            const saved = process.env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS;
            process.env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS = 'true'; // no env endpoints: towards AWS
            try {
                const r = await testConnection({ region: 'eu-wst-1', credentialMode: 'static', credentials: { accessKeyId: 'AKIDX0000000', secretAccessKey: 'x' } });
                assert.equal(r.ok, false);
                assert.equal(r.kind, 'unreachable');
                assert.match(r.message, /cannot reach AWS in region eu-wst-1: ENOTFOUND \(unknown host: check the region name "eu-wst-1"/);
                assert.ok(blockedLookups.includes('kinesis.eu-wst-1.amazonaws.com'), blockedLookups.join(', '));
            } finally {
                if (saved === undefined) delete process.env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS; else process.env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS = saved;
            }
        });

        it('static mode with missing keys says which', async function () {
            const r = await testConnection({ region: 'us-east-1', credentialMode: 'static', credentials: { accessKeyId: 'AKIDONLY00000000', secretAccessKey: '' } });
            assert.equal(r.ok, false);
            assert.equal(r.kind, 'bad-config');
            assert.match(r.message, /secret access key is missing/);
            assert.doesNotMatch(r.message, /access key ID is missing/);
        });

        it('unchanged passwords (__PWRD__) come from the deployed node\'s credential store — only a kinesis-config node\'s', async function () {
            const stub = await startStub(() => listStreamsReply(['seen']));
            stubs.push(stub);
            const body = { region: 'us-east-1', kinesisEndpoint: stub.url, dynamodbEndpoint: stub.url, credentialMode: 'static', credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: '__PWRD__', sessionToken: '__PWRD__' } };
            const r = await testConnection({ ...body, id: 'stored' });
            assert.equal(r.ok, true, r.message);
            assert.equal(stub.requests[0].accessKeyId, ACCESS_KEY);
            assert.equal(stub.requests[0].sessionToken, TOKEN, 'the stored session token was used');
            const other = await testConnection({ ...body, id: 'u1' });
            assert.equal(other.ok, false);
            assert.match(other.message, /secret access key is missing/);
            const none = await testConnection({ ...body, id: 'no-such-node' });
            assert.match(none.message, /secret access key is missing/);
        });

        it('a stub that echoes the keys in its error: the answer and configNode.explain() are redacted', async function () {
            const echo = `not authorized: key ${ACCESS_KEY} secret ${SECRET_KEY} token ${TOKEN}`;
            const stub = await startStub(() => jsonError('AccessDeniedException', echo));
            stubs.push(stub);
            const r = await testConnection({ id: 'stored', region: 'us-east-1', kinesisEndpoint: stub.url, dynamodbEndpoint: stub.url, credentialMode: 'static', credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: '__PWRD__', sessionToken: '__PWRD__' } });
            assert.equal(r.kind, 'access-denied');
            assert.match(r.message, /not authorized: key \*\*\* secret \*\*\* token \*\*\*/);
            assertNoSecret(JSON.stringify(r), 'Test-connection answer');

            const unrecognized = await startStub(() => jsonError('UnrecognizedClientException', echo));
            stubs.push(unrecognized);
            const r2 = await testConnection({ id: 'stored', region: 'us-east-1', kinesisEndpoint: unrecognized.url, dynamodbEndpoint: unrecognized.url, credentialMode: 'static', credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: '__PWRD__', sessionToken: '__PWRD__' } });
            assertNoSecret(JSON.stringify(r2), 'Test-connection answer');

            const stored = helper.getNode('stored') as KinesisConfigNode;
            const explained = stored.explain(Object.assign(new Error(echo), { name: 'AccessDeniedException', $metadata: { httpStatusCode: 400 } }), { action: 'kinesis:PutRecords', streamName: 's' });
            assert.equal(explained.kind, 'access-denied');
            assertNoSecret(JSON.stringify(explained), 'configNode.explain()');
            const other = stored.explain(new Error(`boom ${SECRET_KEY}`));
            assertNoSecret(other.message, 'configNode.explain()');
        });
    });

    it('no secret in runtime log lines, node warnings or statuses', async function () {
        await helper.load(configNode, [
            { id: 'cbad', type: 'kinesis-config', name: 'bad', credentialMode: 'static', roleArn: 'not-an-arn', kinesisEndpoint: 'nope' },
            { id: 'cgood', type: 'kinesis-config', name: 'good', credentialMode: 'static' },
            { id: 'u1', type: 'helper', z: 'f1' }, { id: 'f1', type: 'tab' },
        ], { cbad: { accessKeyId: ACCESS_KEY, secretAccessKey: '', sessionToken: TOKEN }, cgood: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY, sessionToken: TOKEN } });
        const bad = helper.getNode('cbad') as KinesisConfigNode;
        const good = helper.getNode('cgood') as KinesisConfigNode;
        const u1 = helper.getNode('u1');
        use(bad, u1);
        use(good, u1);
        assert.throws(() => bad.getClients());
        good.getClients();
        const logged = JSON.stringify(helper.log().args);
        assert.match(logged, /AWS connection \\"bad\\" cannot work/, 'the unusable settings are logged (without values)');
        assertNoSecret(logged, 'runtime log');
        assertNoSecret(JSON.stringify((bad.warn as unknown as { args: unknown[] }).args), 'node warnings');
        assertNoSecret(JSON.stringify((u1.status as unknown as { args: unknown[] }).args), 'user status');
    });
});
