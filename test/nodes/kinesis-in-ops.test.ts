/**
 * The operations endpoint GET /kinesis-in/ops in two whole Node-REDs (child processes, this package
 * linked in) reading one 2-shard stream as one application: each shows both shards with the owner
 * (worker id and which Node-RED), the checkpoints the lease table holds, lag / records/s / in flight
 * (for the other instance's shard: from the statistics it writes on its lease), and error states in
 * words. Permission kinesis-in.read (adminAuth on in instance A); no credential in any answer.
 * Runs on the Node-RED under test (NODE_RED_PATH for the 5.0 lane).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PutRecordCommand } from '@aws-sdk/client-kinesis';
import { createStream, localEndpoints, rawDynamo, rawKinesis, uniqueName, waitFor } from '../helpers/stack';
import { closedPort } from '../helpers/aws-stub';
import { adminAuth, login as token, redJs, RunningRed as Red } from '../helpers/admin-auth';
import { scanLeases } from '../../lib/consumer/lease-view';
import type { OpsReply, OpsApplication } from '../../nodes/kinesis-in/ops';
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { startNodeRed, linkPackage } = require('../../../scripts/node-red-runner.js');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const SECRET = 'opsViewSecretKeyNEVERSHOWN0000000000000';

async function deploy(red: Red, flows: unknown[], auth?: string): Promise<void> {
    const res = await fetch(`${red.url}/flows`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'Node-RED-Deployment-Type': 'full', ...(auth ? { authorization: `Bearer ${auth}` } : {}) },
        body: JSON.stringify(flows),
    });
    assert.equal(res.status, 204, await res.text());
}

async function ops(red: Red, auth?: string): Promise<{ status: number; text: string; body?: OpsReply }> {
    const res = await fetch(`${red.url}/kinesis-in/ops`, { headers: auth ? { authorization: `Bearer ${auth}` } : {} });
    const text = await res.text();
    return { status: res.status, text, body: res.status === 200 ? (JSON.parse(text) as OpsReply) : undefined };
}

function flowsFor(worker: string, stream: string, app: string, extra: unknown[] = []): unknown[] {
    const e = localEndpoints();
    return [
        { id: 'tab1', type: 'tab', label: 'ops' },
        {
            id: 'cfg1', type: 'kinesis-config', name: 'local', region: e.region, kinesisEndpoint: e.kinesis, dynamodbEndpoint: e.dynamodb,
            credentialMode: 'static', roleArn: '', externalId: '', roleSessionName: '', stsEndpoint: '',
            credentials: { accessKeyId: 'AKIDOPSVIEW000000001', secretAccessKey: SECRET },
        },
        {
            id: `in-${worker}`, type: 'kinesis-in', z: 'tab1', name: `reader ${worker}`, config: 'cfg1', streamName: stream, applicationName: app,
            initialPosition: 'TRIM_HORIZON', readMode: 'polling', workerId: worker, failoverTimeMs: 3000, checkpointIntervalMs: 300,
            idleTimeMs: 200, shardSyncIntervalMs: 60000, x: 100, y: 100, wires: [[]],
        },
        ...extra,
    ];
}

describe('kinesis-in operations endpoint: two Node-REDs on one application', function () {
    this.timeout(240_000);
    let a: Red | undefined;
    let b: Red | undefined;
    const dirs: string[] = [];
    const stream = uniqueName('ops-stream');
    const app = uniqueName('ops-app');
    const missingApp = uniqueName('ops-missing');
    let admin = '';

    before(async function () {
        await createStream(stream, 2);
        // records on both shards (hash key 1 → first half, 2^128−2 → second half)
        for (let i = 0; i < 10; i++) {
            for (const ehk of ['1', '340282366920938463463374607431768211454']) {
                await rawKinesis().send(new PutRecordCommand({ StreamName: stream, PartitionKey: `k${i}`, ExplicitHashKey: ehk, Data: Buffer.from(`r${i}`) }));
            }
        }
        for (let i = 0; i < 2; i++) {
            const d = fs.mkdtempSync(path.join(os.tmpdir(), 'kinesis-ops-'));
            linkPackage(d, ROOT);
            dirs.push(d);
        }
        a = await startNodeRed({
            userDir: dirs[0],
            redJs: redJs(),
            settings: { adminAuth: adminAuth([{ username: 'flowsonly', permissions: ['flows.read'] }]) },
        });
        b = await startNodeRed({ userDir: dirs[1], redJs: redJs() });
        admin = await token(a!, 'admin');
        const dead = await closedPort();
        const e = localEndpoints();
        await deploy(a!, flowsFor('worker-a', stream, app, [
            // an application whose stream does not exist: its lease table is never created
            { id: 'in-missing', type: 'kinesis-in', z: 'tab1', name: 'no stream', config: 'cfg1', streamName: uniqueName('ops-nostream'), applicationName: missingApp, initialPosition: 'LATEST', x: 100, y: 200, wires: [[]] },
            // a connection whose DynamoDB does not answer
            {
                id: 'cfg-dead', type: 'kinesis-config', name: 'dead', region: e.region, kinesisEndpoint: e.kinesis, dynamodbEndpoint: `http://127.0.0.1:${dead}`,
                credentialMode: 'static', roleArn: '', externalId: '', roleSessionName: '', stsEndpoint: '', credentials: { accessKeyId: 'AKIDOPSVIEW000000002', secretAccessKey: SECRET },
            },
            { id: 'in-dead', type: 'kinesis-in', z: 'tab1', name: 'dead dynamodb', config: 'cfg-dead', streamName: stream, applicationName: uniqueName('ops-dead'), initialPosition: 'LATEST', x: 100, y: 300, wires: [[]] },
        ]), admin);
        await deploy(b!, flowsFor('worker-b', stream, app));
    });

    after(async function () {
        await Promise.all([a?.stop(), b?.stop()]);
        for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
    });

    function appOf(reply: OpsReply | undefined, table: string): OpsApplication | undefined {
        return reply?.applications.find((x) => x.tableName === table);
    }

    it('each instance shows both shards, one per worker, with the other Node-RED named and its lag from the lease', async function () {
        // the two workers balance to one shard each; B's statistics reach its leases
        const view = (await waitFor('one shard per worker, B statistics with lag', async () => {
            const r = await ops(a!, admin);
            const v = appOf(r.body, app);
            if (!v?.shards || v.shards.length !== 2) return undefined;
            const owners = v.shards.map((s) => s.owner).sort();
            if (owners[0] !== 'worker-a' || owners[1] !== 'worker-b') return undefined;
            const other = v.shards.find((s) => s.owner === 'worker-b')!;
            if (other.statsFrom !== 'lease' || other.lagMs === undefined) return undefined;
            // right after a hand-off the new owner's worker may not report yet: wait for its live figures
            const own = v.shards.find((s) => s.owner === 'worker-a')!;
            if (own.statsFrom !== 'local' || own.ownerNodeRed === undefined) return undefined;
            return v;
        }, 120_000, 500))!;
        assert.deepEqual(view.nodes.map((n) => [n.id, n.workerId]), [['in-worker-a', 'worker-a']]);
        assert.deepEqual(view.owners?.map((o) => [o.workerId, o.shards, o.local]), [['worker-a', 1, true], ['worker-b', 1, false]]);
        const mine = view.shards!.find((s) => s.owner === 'worker-a')!;
        const other = view.shards!.find((s) => s.owner === 'worker-b')!;
        assert.equal(mine.local, true);
        assert.equal(mine.statsFrom, 'local');
        assert.equal(typeof mine.inFlight, 'number');
        assert.match(String(mine.ownerNodeRed), new RegExp(`:${a!.port} · pid \\d+`), 'this Node-RED, by port and pid');
        assert.equal(other.local, false);
        assert.match(String(other.ownerNodeRed), new RegExp(`:${b!.port} · pid \\d+`), 'the other Node-RED, from its lease');
        assert.equal(typeof other.lagMs, 'number');
        assert.equal(typeof other.inFlight, 'number');
        for (const s of view.shards!) assert.equal(s.state, 'open');
        // B's own endpoint (no adminAuth there) shows the same split from its side, once A's statistics
        // (written to its lease after taking it, then every 15 s) reached the table
        const fromB = (await waitFor('B sees A named on its lease', async () => {
            const v = appOf((await ops(b!)).body, app);
            return v?.shards?.find((s) => s.owner === 'worker-a')?.ownerNodeRed !== undefined ? v : undefined;
        }, 60_000, 500))!;
        assert.deepEqual(fromB.shards!.map((s) => [s.shardId, s.owner, s.local]), view.shards!.map((s) => [s.shardId, s.owner, s.owner === 'worker-b']));
        assert.match(String(fromB.shards!.find((s) => s.owner === 'worker-a')!.ownerNodeRed), new RegExp(`:${a!.port} `));
    });

    it('the checkpoints are those of the lease table (records read and finished on both shards)', async function () {
        await waitFor('checkpoints moved past TRIM_HORIZON on both shards and agree with a scan', async () => {
            const table = (await scanLeases(rawDynamo(), app)).leases;
            if (table.some((l) => !/^\d+$/.test(l.checkpoint))) return false;
            const v = appOf((await ops(a!, admin)).body, app);
            const shown = new Map(v?.shards?.map((s) => [s.shardId, s.checkpoint]));
            const now = (await scanLeases(rawDynamo(), app)).leases;
            // the same checkpoints before and after the view was read: the view shows the table's
            return now.every((l, i) => l.checkpoint === table[i].checkpoint && shown.get(l.leaseKey) === l.checkpoint);
        }, 60_000, 300);
    });

    it('error states in words: a lease table that does not exist, a DynamoDB that does not answer', async function () {
        const reply = (await waitFor('both error states', async () => {
            const r = (await ops(a!, admin)).body!;
            const missing = appOf(r, missingApp);
            const dead = r.applications.find((x) => x.nodes.some((n) => n.id === 'in-dead'));
            return missing?.error && dead?.error ? r : undefined;
        }, 60_000, 500))!;
        const missing = appOf(reply, missingApp)!;
        assert.equal(missing.error!.kind, 'not-found');
        assert.equal(missing.error!.status, 'lease table missing');
        assert.match(missing.error!.message, new RegExp(`"${missingApp}" does not exist`));
        assert.equal(missing.shards, undefined);
        const dead = reply.applications.find((x) => x.nodes.some((n) => n.id === 'in-dead'))!;
        assert.ok(dead.error!.status.length > 0 && dead.error!.status.length <= 60, dead.error!.status);
        assert.ok(dead.error!.message.length > 0 && dead.error!.message.length <= 300);
        assert.notEqual(dead.error!.kind, 'not-found');
    });

    it('needs kinesis-in.read: refused without a login and for a user without it; never shows a credential', async function () {
        assert.equal((await ops(a!)).status, 401);
        assert.equal((await ops(a!, await token(a!, 'flowsonly', 'flows.read'))).status, 401);
        const asReader = await ops(a!, await token(a!, 'reader', 'read'));
        assert.equal(asReader.status, 200);
        assert.ok(appOf(asReader.body, app));
        for (const text of [asReader.text, (await ops(b!)).text]) {
            assert.ok(!text.includes(SECRET), 'no secret key');
            assert.ok(!/AKIDOPSVIEW/.test(text), 'no access key id');
        }
    });
});
