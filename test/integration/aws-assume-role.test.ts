/**
 * Assume role against a local STS-compatible stub (loopback only): the AssumeRole parameters, the
 * temporary credentials signing the Kinesis calls, refresh before expiry, and STS errors in words.
 */
import assert from 'node:assert/strict';
import { ListStreamsCommand } from '@aws-sdk/client-kinesis';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { createAwsClients } from '../../lib/aws/clients';
import { probeConnection } from '../../lib/aws/probe';
import { startStub, assumeRoleReply, stsError, listStreamsReply, Stub, StubRequest } from '../helpers/aws-stub';

const ROLE = 'arn:aws:iam::123456789012:role/kinesis-consumer';

interface Sts { stub: Stub; issued: string[] }

/** STS stub: each AssumeRole issues new keys (ASIA…1, …2) valid for `validMs`. */
async function startSts(validMs: number, reply?: (r: StubRequest) => ReturnType<typeof assumeRoleReply> | undefined): Promise<Sts> {
    const issued: string[] = [];
    const stub = await startStub((r) => {
        const custom = reply?.(r);
        if (custom) return custom;
        assert.equal(r.form?.Action, 'AssumeRole');
        const n = issued.length + 1;
        const accessKeyId = `ASIATEMPORARY${String(n).padStart(7, '0')}`;
        issued.push(accessKeyId);
        return assumeRoleReply({ accessKeyId, secretAccessKey: `temp-secret-${n}`, sessionToken: `temp-token-${n}`, expiration: new Date(Date.now() + validMs) });
    });
    return { stub, issued };
}

/** Kinesis + DynamoDB stub that answers ListStreams / ListTables and records who signed. */
function startService(): Promise<Stub> {
    return startStub((r) => {
        if (r.target === 'DynamoDB_20120810.ListTables') return { status: 200, body: { TableNames: [] }, headers: { 'content-type': 'application/x-amz-json-1.0' } };
        return listStreamsReply(['my-thingsboard']);
    });
}

describe('assume role (local STS stub)', function () {
    const stubs: Stub[] = [];
    afterEach(async () => { await Promise.all(stubs.splice(0).map((s) => s.close())); });

    it('on top of static keys: sends RoleArn, ExternalId, RoleSessionName, DurationSeconds; Kinesis calls are signed with the role\'s keys', async function () {
        const sts = await startSts(3600_000);
        const svc = await startService();
        stubs.push(sts.stub, svc);
        const c = createAwsClients({
            region: 'us-east-1', kinesisEndpoint: svc.url, dynamodbEndpoint: svc.url, env: {},
            credentialMode: 'static', accessKeyId: 'AKIDBASEKEY', secretAccessKey: 'base-secret',
            roleArn: ROLE, externalId: 'decodable-ext-42', roleSessionName: 'node-red-test', roleDurationSeconds: 900, stsEndpoint: sts.stub.url,
        });
        try {
            const out = await c.kinesis.send(new ListStreamsCommand({}));
            assert.deepEqual(out.StreamNames, ['my-thingsboard']);
            await c.dynamodb.send(new ListTablesCommand({}));
            assert.equal(sts.stub.requests.length, 1, 'one AssumeRole shared by the Kinesis and DynamoDB clients');
            const f = sts.stub.requests[0].form!;
            assert.equal(f.RoleArn, ROLE);
            assert.equal(f.ExternalId, 'decodable-ext-42');
            assert.equal(f.RoleSessionName, 'node-red-test');
            assert.equal(f.DurationSeconds, '900');
            assert.equal(sts.stub.requests[0].accessKeyId, 'AKIDBASEKEY', 'STS is called with the base keys');
            assert.deepEqual(svc.requests.map((r) => r.accessKeyId), ['ASIATEMPORARY0000001', 'ASIATEMPORARY0000001']);
            assert.deepEqual(svc.requests.map((r) => r.sessionToken), ['temp-token-1', 'temp-token-1']);
        } finally {
            c.destroy();
        }
    });

    it('on top of the default chain (env vars): STS is called with the environment\'s keys', async function () {
        const sts = await startSts(3600_000);
        const svc = await startService();
        stubs.push(sts.stub, svc);
        const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY, token: process.env.AWS_SESSION_TOKEN };
        process.env.AWS_ACCESS_KEY_ID = 'AKIDCHAINKEY';
        process.env.AWS_SECRET_ACCESS_KEY = 'chain-secret';
        delete process.env.AWS_SESSION_TOKEN;
        const c = createAwsClients({ region: 'us-east-1', kinesisEndpoint: svc.url, dynamodbEndpoint: svc.url, env: {}, credentialMode: 'chain', roleArn: ROLE, stsEndpoint: sts.stub.url });
        try {
            await c.kinesis.send(new ListStreamsCommand({}));
            assert.equal(sts.stub.requests[0].accessKeyId, 'AKIDCHAINKEY');
            const f = sts.stub.requests[0].form!;
            assert.equal(f.RoleArn, ROLE);
            assert.equal(f.ExternalId, undefined, 'no ExternalId when none is configured');
            assert.match(f.RoleSessionName, /^node-red-kinesis-\d+$/, 'a default session name');
            assert.equal(f.DurationSeconds, '3600');
            assert.equal(svc.requests[0].accessKeyId, 'ASIATEMPORARY0000001');
        } finally {
            c.destroy();
            for (const [k, v] of [['AWS_ACCESS_KEY_ID', saved.id], ['AWS_SECRET_ACCESS_KEY', saved.secret], ['AWS_SESSION_TOKEN', saved.token]] as const) {
                if (v === undefined) delete process.env[k]; else process.env[k] = v;
            }
        }
    });

    it('refreshes credentials that are near expiry (short Expiration → STS again), keeps fresh ones', async function () {
        const shortSts = await startSts(60_000); // expires in 1 min: inside the 5-min refresh window
        const longSts = await startSts(3600_000);
        const svc = await startService();
        stubs.push(shortSts.stub, longSts.stub, svc);
        const opts = { region: 'us-east-1', kinesisEndpoint: svc.url, dynamodbEndpoint: svc.url, env: {}, credentialMode: 'static' as const, accessKeyId: 'AKIDBASEKEY', secretAccessKey: 'base-secret', roleArn: ROLE };
        const short = createAwsClients({ ...opts, stsEndpoint: shortSts.stub.url });
        const long = createAwsClients({ ...opts, stsEndpoint: longSts.stub.url });
        try {
            await short.kinesis.send(new ListStreamsCommand({}));
            const afterFirst = shortSts.issued.length;
            await short.kinesis.send(new ListStreamsCommand({}));
            assert.ok(shortSts.issued.length > afterFirst, 'near-expiry credentials are refreshed before the next call');
            const signers = svc.requests.map((r) => r.accessKeyId);
            assert.notEqual(signers[1], signers[0], 'the second call is signed with new keys');
            assert.ok(shortSts.issued.includes(signers[0]!) && shortSts.issued.includes(signers[1]!), 'both signed with role keys');
            await long.kinesis.send(new ListStreamsCommand({}));
            await long.kinesis.send(new ListStreamsCommand({}));
            assert.equal(longSts.stub.requests.length, 1, 'fresh credentials are reused');
            assert.deepEqual(svc.requests.slice(2).map((r) => r.accessKeyId), ['ASIATEMPORARY0000001', 'ASIATEMPORARY0000001']);
        } finally {
            short.destroy();
            long.destroy();
        }
    });

    it('STS refusing the role is reported as "cannot assume role", with the trust policy to check; secrets redacted', async function () {
        const sts = await startSts(3600_000, () => stsError('AccessDenied', 'User: arn:aws:iam::123456789012:user/u is not authorized to perform: sts:AssumeRole on resource: ' + ROLE + ' (key AKIDBASEKEY, secret base-secret-value)'));
        const svc = await startService();
        stubs.push(sts.stub, svc);
        const c = createAwsClients({ region: 'us-east-1', kinesisEndpoint: svc.url, dynamodbEndpoint: svc.url, env: {}, maxAttempts: 1, credentialMode: 'static', accessKeyId: 'AKIDBASEKEY', secretAccessKey: 'base-secret-value', roleArn: ROLE, stsEndpoint: sts.stub.url });
        try {
            const r = await probeConnection(c, ['AKIDBASEKEY', 'base-secret-value']);
            assert.equal(r.ok, false);
            assert.equal(r.kinesis.error?.kind, 'access-denied');
            assert.match(r.message, /cannot assume role arn:aws:iam::123456789012:role\/kinesis-consumer/);
            assert.match(r.message, /trust policy/);
            assert.ok(!r.message.includes('AKIDBASEKEY') && !r.message.includes('base-secret-value'), r.message);
            assert.equal(svc.requests.length, 0, 'no Kinesis call without role credentials');
        } finally {
            c.destroy();
        }
    });

    it('STS rejecting the base keys is "bad credentials"', async function () {
        const sts = await startSts(3600_000, () => stsError('InvalidClientTokenId', 'The security token included in the request is invalid.'));
        const svc = await startService();
        stubs.push(sts.stub, svc);
        const c = createAwsClients({ region: 'us-east-1', kinesisEndpoint: svc.url, dynamodbEndpoint: svc.url, env: {}, maxAttempts: 1, credentialMode: 'static', accessKeyId: 'AKIDBASEKEY', secretAccessKey: 'x', roleArn: ROLE, stsEndpoint: sts.stub.url });
        try {
            const r = await probeConnection(c, []);
            assert.equal(r.kinesis.error?.kind, 'bad-credentials');
            assert.match(r.message, /cannot assume role .*rejected the base credentials/);
        } finally {
            c.destroy();
        }
    });
});
