/**
 * kinesis-convert's runner network isolation in a whole Node-RED (child process, settings.js as a user writes
 * it): by default the deployed runners live in a network namespace of their own; where unshare is missing
 * (forced here with `kinesisConvert.unsharePath` naming no file) runners still convert and Node-RED's log says
 * so once; with `kinesisConvert.requireNetworkIsolation: true` the node, Test and Import refuse, saying why.
 * Linux only (network namespaces); KINESIS_TEST_NO_NETNS=1 where user namespaces are not allowed.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { waitFor } from '../helpers/stack';
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { startNodeRed, linkPackage } = require('../../../scripts/node-red-runner.js');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const MISSING = '/nonexistent/kinesis-test/unshare';
const WARNING = 'Converter runners start without network isolation';
const REFUSAL_LOG = 'Converter runners will not start';

interface Red { url: string; child: { pid: number; exitCode: number | null }; output(): string; stop(): Promise<void> }

const SCRIPT = `return { deviceName: 'ok-' + String.fromCharCode.apply(null, payload), telemetry: { v: 1 } };`;

/** Two converters behind POST /c0 and /c1 (failures on output 2 as {ok:false, kind, message}), their status behind GET /status. */
function flows(): unknown[] {
    const flow: unknown[] = [{ id: 'tab', type: 'tab', label: 'netns' }];
    flow.push({ id: 'fn', z: 'tab', type: 'function', func: 'msg.payload = msg.error ? { ok: false, kind: msg.error.kind, message: msg.error.message } : { ok: true, result: msg.payload }; return msg;', outputs: 1, wires: [['res']] });
    flow.push({ id: 'res', z: 'tab', type: 'http response', wires: [] });
    for (const i of [0, 1]) {
        flow.push({ id: `in${i}`, z: 'tab', type: 'http in', url: `/c${i}`, method: 'post', wires: [[`cv${i}`]] });
        flow.push({ id: `cv${i}`, z: 'tab', type: 'kinesis-convert', name: `c${i}`, direction: 'uplink', scriptLang: 'JS', script: SCRIPT, outputs: 2, wires: [['fn'], ['fn']] });
    }
    flow.push({ id: 'st', z: 'tab', type: 'status', scope: ['cv0'], wires: [['stfn']] });
    flow.push({ id: 'stfn', z: 'tab', type: 'function', func: 'global.set("status", (global.get("status") || []).concat([msg.status.text])); return null;', outputs: 1, wires: [[]] });
    flow.push({ id: 'sin', z: 'tab', type: 'http in', url: '/status', method: 'get', wires: [['sget']] });
    flow.push({ id: 'sget', z: 'tab', type: 'function', func: 'msg.payload = { texts: global.get("status") || [] }; return msg;', outputs: 1, wires: [['res']] });
    return flow;
}

/** Runner processes Node-RED started (its children running runner/child.js). */
function runnersOf(pid: number): number[] {
    const found: number[] = [];
    for (const d of fs.readdirSync('/proc')) {
        if (!/^\d+$/.test(d)) continue;
        try {
            const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
            const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
            if (ppid === pid && /runner\/child\.js/.test(fs.readFileSync(`/proc/${d}/cmdline`, 'utf8'))) found.push(Number(d));
        } catch {
            /* gone meanwhile */
        }
    }
    return found;
}

const netns = (pid: number | string) => fs.readlinkSync(`/proc/${pid}/ns/net`);
const count = (text: string, what: string) => text.split(what).length - 1;

describe('kinesis-convert: runner network isolation in a whole Node-RED', function () {
    this.timeout(300_000);
    before(function () {
        if (process.platform !== 'linux') this.skip();
    });

    let red: Red | undefined;
    let userDir: string | undefined;
    async function start(settings: Record<string, unknown>): Promise<Red> {
        userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kinesis-netns-'));
        linkPackage(userDir, ROOT);
        fs.writeFileSync(path.join(userDir, 'flows.json'), JSON.stringify(flows()));
        red = await startNodeRed({ userDir, settings, redJs: process.env.NODE_RED_PATH ? path.join(process.env.NODE_RED_PATH, 'red.js') : undefined });
        return red!;
    }
    afterEach(async function () {
        await red?.stop();
        red = undefined;
        if (userDir) fs.rmSync(userDir, { recursive: true, force: true });
        userDir = undefined;
    });
    const post = async (r: Red, route: string, body: unknown, type = 'application/json') => {
        const res = await fetch(`${r.url}${route}`, { method: 'POST', headers: { 'content-type': type }, body: typeof body === 'string' ? body : JSON.stringify(body) });
        const text = await res.text();
        return { status: res.status, text, json: () => JSON.parse(text) };
    };
    const testEndpoint = (r: Red) => post(r, '/kinesis-convert/test', { direction: 'uplink', scriptLang: 'JS', script: SCRIPT, payloadType: 'TEXT', payload: 'test' });
    const importEndpoint = (r: Red) => post(r, '/kinesis-convert/import', { text: JSON.stringify({ name: 'imp', type: 'UPLINK', configuration: { scriptLang: 'JS', decoder: SCRIPT } }) });

    it('default: the deployed runners each have a network namespace of their own, nothing is logged about it', async function () {
        if (process.env.KINESIS_TEST_NO_NETNS === '1') this.skip();
        const r = await start({});
        for (const i of [0, 1]) {
            const c = await post(r, `/c${i}`, 'x', 'text/plain');
            assert.equal(c.json().ok, true, c.text);
            assert.equal(c.json().result.deviceName, 'ok-x');
        }
        const runners = runnersOf(r.child.pid);
        assert.equal(runners.length, 2, `two runners are children of Node-RED (${runners.join(', ')})`);
        const own = netns(r.child.pid);
        for (const pid of runners) assert.notEqual(netns(pid), own, `runner ${pid} is in a network namespace of its own`);
        assert.notEqual(netns(runners[0]), netns(runners[1]), 'one namespace per runner');
        assert.equal((await testEndpoint(r)).json().ok, true);
        assert.equal((await importEndpoint(r)).json().converter.notes.length, 0);
        assert.equal(count(r.output(), WARNING), 0, r.output().slice(-2000));
    });

    it('no unshare binary: the runners still convert (without a namespace), the warning is logged once', async function () {
        const r = await start({ kinesisConvert: { unsharePath: MISSING } });
        for (const i of [0, 1]) {
            const c = await post(r, `/c${i}`, `y${i}`, 'text/plain');
            assert.equal(c.json().ok, true, c.text);
            assert.equal(c.json().result.deviceName, `ok-y${i}`);
        }
        const t = await testEndpoint(r);
        assert.equal(t.json().ok, true, t.text);
        const imp = await importEndpoint(r);
        assert.equal(imp.status, 200, imp.text);
        assert.deepEqual(imp.json().converter.notes, []);
        const runners = runnersOf(r.child.pid);
        assert.equal(runners.length, 2);
        for (const pid of runners) assert.equal(netns(pid), netns(r.child.pid), 'the fallback runs in Node-RED\'s network namespace');
        // two nodes, a Test and an Import: said once, with what is missing and how to refuse instead
        const log = r.output();
        assert.equal(count(log, WARNING), 1, log.slice(-3000));
        assert.ok(log.includes(`${WARNING} (no unshare binary at ${MISSING})`), log.slice(-3000));
        assert.ok(log.includes('kinesisConvert.requireNetworkIsolation: true'), 'the warning says how to fail closed');
    });

    it('requireNetworkIsolation and no isolation: the node refuses (red status, every message fails, kind sandbox), so do Test and Import; no runner starts', async function () {
        const r = await start({ kinesisConvert: { unsharePath: MISSING, requireNetworkIsolation: true } });
        const statuses = () => fetch(`${r.url}/status`).then((x) => x.json() as Promise<{ texts: string[] }>).then((s) => s.texts);
        assert.deepEqual(await waitFor('the node\'s status', async () => ((await statuses()).length ? statuses() : undefined), 60_000), ['no network isolation']);
        const c = await post(r, '/c0', 'z', 'text/plain');
        const a = c.json();
        assert.equal(a.ok, false, c.text);
        assert.equal(a.kind, 'sandbox');
        assert.match(a.message, /kinesisConvert\.requireNetworkIsolation .*no unshare binary at \/nonexistent\/kinesis-test\/unshare/);
        // after a failed message the status still names the reason (with the count)
        assert.deepEqual(await waitFor('the status after the message', async () => ((await statuses()).length > 1 ? statuses() : undefined), 60_000), ['no network isolation', 'no network isolation (1)']);
        const t = await testEndpoint(r);
        assert.equal(t.json().ok, false, t.text);
        assert.match(t.json().error.message, /network isolation is required and not available here \(no unshare binary at/);
        const imp = await importEndpoint(r);
        assert.equal(imp.status, 200, imp.text);
        assert.match(imp.json().converter.notes.join(' '), /could not be checked: .*network isolation is required/);
        assert.deepEqual(runnersOf(r.child.pid), [], 'no runner process was started');
        const log = r.output();
        assert.equal(count(log, REFUSAL_LOG), 1, log.slice(-3000));
        assert.equal(count(log, WARNING), 0);
    });
});
