/**
 * kinesis-config in a whole Node-RED (child process, this package linked into a temp userDir,
 * adminAuth on): the Test-connection route is permission-checked, and a deployed flow with keys
 * exports (GET /flows) and stores (flows.json) without them; nothing secret in the runtime log.
 * Runs on the Node-RED under test (NODE_RED_PATH for the 5.0 lane).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { localEndpoints, waitFor } from '../helpers/stack';
import { adminAuth, login as token, redJs } from '../helpers/admin-auth';
import { startProxy } from '../helpers/proxy';
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { startNodeRed, linkPackage } = require('../../../scripts/node-red-runner.js');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const SECRET_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYADMINTEST';
const ACCESS_KEY = 'AKIDADMINTEST000001';
const TOKEN = 'FQoGZXIvYXdzADMINSESSIONTOKEN';
const PROXY_PASSWORD = 'proxy-ADMIN-Secr3t';

interface Red { url: string; output(): string; stop(): Promise<void> }

describe('kinesis-config in a whole Node-RED with adminAuth', function () {
    this.timeout(120_000);
    let red: Red;
    let userDir: string;

    before(async function () {
        userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kinesis-admin-'));
        linkPackage(userDir, ROOT);
        red = await startNodeRed({
            userDir,
            redJs: redJs(),
            settings: { adminAuth: adminAuth() },
        });
    });

    after(async function () {
        if (red) await red.stop();
        if (userDir) fs.rmSync(userDir, { recursive: true, force: true });
    });

    it('runs the Node-RED under test and registers kinesis-config without error', async function () {
        const admin = await token(red, 'admin');
        const settings = (await (await fetch(`${red.url}/settings`, { headers: { authorization: `Bearer ${admin}` } })).json()) as { version: string };
        const expected = JSON.parse(fs.readFileSync(path.join(process.env.NODE_RED_PATH ?? path.dirname(require.resolve('node-red/package.json')), 'package.json'), 'utf8')).version;
        assert.equal(settings.version.replace(/-git$/, ''), expected);
        const res = await fetch(`${red.url}/nodes`, { headers: { accept: 'application/json', authorization: `Bearer ${admin}` } });
        const sets = (await res.json()) as Array<{ module: string; types: string[]; err?: string; enabled: boolean }>;
        const ours = sets.filter((s) => s.module === '@kinesis-red/node-red-kinesis');
        assert.ok(ours.some((s) => s.types.includes('kinesis-config')), red.output());
        for (const s of ours) assert.equal(s.err, undefined, `${s.types}: ${s.err}`);
    });

    it('POST /kinesis-config/test is refused without a login and for a read-only user; allowed for a writer', async function () {
        const e = localEndpoints();
        const body = JSON.stringify({ region: e.region, kinesisEndpoint: e.kinesis, dynamodbEndpoint: e.dynamodb, credentialMode: 'static', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
        const post = (auth?: string) => fetch(`${red.url}/kinesis-config/test`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${auth}` } : {}) },
            body,
        });
        assert.equal((await post()).status, 401);
        const reader = await token(red, 'reader');
        assert.equal((await post(reader)).status, 401);
        const admin = await token(red, 'admin');
        const ok = await post(admin);
        assert.equal(ok.status, 200);
        const answer = (await ok.json()) as { ok: boolean; streams: string[]; message: string };
        assert.equal(answer.ok, true, answer.message);
        assert.ok(answer.streams.includes('my-thingsboard'));
    });

    it('Test connection through a proxy: the proxy password stays in the credential store; a refusing proxy is named as the problem', async function () {
        const proxy = await startProxy({ username: 'pxuser', password: PROXY_PASSWORD });
        try {
            const admin = await token(red, 'admin');
            const e = localEndpoints();
            const cfg = {
                id: 'cfgproxy', type: 'kinesis-config', name: 'via proxy', region: e.region, kinesisEndpoint: e.kinesis, dynamodbEndpoint: e.dynamodb,
                credentialMode: 'static', roleArn: '', externalId: '', roleSessionName: '', stsEndpoint: '', proxyUrl: proxy.url,
                credentials: { accessKeyId: 'local', secretAccessKey: 'local', proxyUsername: 'pxuser', proxyPassword: PROXY_PASSWORD },
            };
            const deploy = await fetch(`${red.url}/flows`, {
                method: 'POST',
                headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}`, 'Node-RED-Deployment-Type': 'full' },
                body: JSON.stringify([{ id: 'f2', type: 'tab', label: 'proxy' }, cfg]),
            });
            assert.equal(deploy.status, 204, await deploy.text());
            const exported = await (await fetch(`${red.url}/flows`, { headers: { authorization: `Bearer ${admin}` } })).text();
            assert.ok(!exported.includes(PROXY_PASSWORD), 'GET /flows holds no proxy password');
            assert.ok(!fs.readFileSync(path.join(userDir, 'flows.json'), 'utf8').includes(PROXY_PASSWORD));
            const probe = (proxyPassword: string) => fetch(`${red.url}/kinesis-config/test`, {
                method: 'POST',
                headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}` },
                body: JSON.stringify({ ...cfg, credentials: { accessKeyId: 'local', secretAccessKey: '__PWRD__', proxyUsername: 'pxuser', proxyPassword } }),
            }).then((r) => r.json() as Promise<{ ok: boolean; message: string; kind?: string }>);
            const good = await waitFor('Test connection with the stored proxy password', async () => {
                const a = await probe('__PWRD__');
                if (!a.ok) throw new Error(a.message);
                return a;
            }, 10_000, 200);
            assert.equal(good.ok, true);
            assert.ok(proxy.tunnels.length > 0, 'the probe went through the proxy');
            const bad = await probe('wrong-proxy-Passw0rd');
            assert.equal(bad.ok, false);
            assert.equal(bad.kind, 'proxy');
            assert.match(bad.message, /proxy http:\/\/127\.0\.0\.1:\d+ refused the connection .*proxy authentication/);
            assert.ok(!bad.message.includes('wrong-proxy-Passw0rd') && !bad.message.includes(PROXY_PASSWORD));
        } finally {
            await proxy.close();
        }
    });

    it('a deployed flow with keys: GET /flows, GET /credentials, flows.json and the log carry no secret', async function () {
        const admin = await token(red, 'admin');
        const e = localEndpoints();
        const flows = [
            { id: 'f1', type: 'tab', label: 'aws' },
            {
                id: 'cfgprod', type: 'kinesis-config', name: 'prod', region: e.region, kinesisEndpoint: e.kinesis, dynamodbEndpoint: e.dynamodb,
                credentialMode: 'static', roleArn: '', externalId: '', roleSessionName: '', stsEndpoint: '',
                credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY, sessionToken: TOKEN },
            },
        ];
        const deploy = await fetch(`${red.url}/flows`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}`, 'Node-RED-Deployment-Type': 'full' },
            body: JSON.stringify(flows),
        });
        assert.equal(deploy.status, 204, await deploy.text());
        const exported = await (await fetch(`${red.url}/flows`, { headers: { authorization: `Bearer ${admin}` } })).text();
        assert.match(exported, /"cfgprod"/);
        for (const s of [ACCESS_KEY, SECRET_KEY, TOKEN]) {
            assert.ok(!exported.includes(s), `GET /flows contains a key: ${exported}`);
        }
        const editorCreds = (await (await fetch(`${red.url}/credentials/kinesis-config/cfgprod`, { headers: { authorization: `Bearer ${admin}` } })).json()) as Record<string, unknown>;
        assert.equal(editorCreds.has_secretAccessKey, true);
        assert.equal(editorCreds.has_sessionToken, true);
        assert.ok(!JSON.stringify(editorCreds).includes(SECRET_KEY) && !JSON.stringify(editorCreds).includes(TOKEN), 'passwords never go back to the editor');
        const stored = fs.readFileSync(path.join(userDir, 'flows.json'), 'utf8');
        const storedCreds = fs.readFileSync(path.join(userDir, 'flows_cred.json'), 'utf8');
        for (const s of [ACCESS_KEY, SECRET_KEY, TOKEN]) {
            assert.ok(!stored.includes(s), 'flows.json holds no key');
            assert.ok(!storedCreds.includes(s), 'flows_cred.json is encrypted');
        }
        // the stored keys are usable: Test connection with the editor's placeholders (once the deployed node has started)
        const answer = await waitFor('Test connection with the stored keys', async () => {
            const probe = await fetch(`${red.url}/kinesis-config/test`, {
                method: 'POST',
                headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}` },
                body: JSON.stringify({ ...flows[1], id: 'cfgprod', credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: '__PWRD__', sessionToken: '__PWRD__' } }),
            });
            const a = (await probe.json()) as { ok: boolean; message: string };
            if (!a.ok) throw new Error(a.message);
            return a;
        }, 10_000, 200);
        assert.equal(answer.ok, true);
        const log = red.output();
        for (const s of [ACCESS_KEY, SECRET_KEY, TOKEN]) assert.ok(!log.includes(s), `the runtime log contains a key:\n${log}`);
    });
});
