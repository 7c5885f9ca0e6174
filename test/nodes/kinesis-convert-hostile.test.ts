/**
 * Hostile converter scripts against a whole Node-RED (child process, this package linked into a temp
 * userDir): deployed nodes, the editor's Test endpoint and Import. For every case: Node-RED survives,
 * its admin API answers within 500 ms throughout (a poller measures it during the whole suite), no
 * file is written, no environment value is readable (not in any answer, not in the log), and the
 * next good record converts. Runs on the Node-RED under test (NODE_RED_PATH for the 5.0 lane).
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import dgram from 'node:dgram';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { runnerCommand } from '../../lib/convert/runner/process';
import { networkIsolation } from '../../lib/convert/runner/netns';
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { startNodeRed, linkPackage } = require('../../../scripts/node-red-runner.js');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const SECRET = `kc-hostile-${crypto.randomBytes(8).toString('hex')}`;

interface Red { url: string; port: number; child: { exitCode: number | null; signalCode: string | null }; output(): string; stop(): Promise<void> }

/** The script runs `body` when the payload starts with '!', and converts every other record normally. */
function hostile(body: string): string {
    return `if (payload[0] === 33) {\n${body}\n}\nreturn { deviceName: 'ok-' + String.fromCharCode.apply(null, payload), telemetry: { v: 1 } };`;
}

/** Tries to reach the host through a function it got: read env, write a file. */
const escape = (fnExpr: string, file: string) => `var F = (${fnExpr}).constructor.constructor;
var P = F('return process')();
P.getBuiltinModule('fs').writeFileSync(${JSON.stringify(file)}, 'pwned');
return { deviceName: 'leak', attributes: { env: JSON.stringify(P.env) } };`;

interface Case { name: string; body: (file: string) => string; kinds: string[] }

/** Deployed-node cases: each gets its own kinesis-convert node behind POST /h<i>. */
const CASES: Case[] = [
    { name: 'constructor chain through payload', body: (f) => escape('payload', f), kinds: ['script'] },
    { name: 'constructor chain through metadata', body: (f) => escape('metadata', f), kinds: ['script'] },
    { name: 'constructor chain through a helper', body: (f) => escape('decodeToString', f), kinds: ['script'] },
    { name: 'constructor chain through a thrown error', body: (f) => `try { null.x; } catch (e) { ${escape('e', f)} }`, kinds: ['script'] },
    { name: 'constructor chain through a runtime RangeError (stack overflow)', body: (f) => `function r() { return r() + 1; } try { r(); } catch (e) { ${escape('e', f)} }`, kinds: ['script'] },
    { name: 'constructor chain through a helper error', body: (f) => `try { decodeToJson([123]); } catch (e) { ${escape('e', f)} }`, kinds: ['script'] },
    { name: 'Error.prepareStackTrace to get call sites', body: () => `Error.prepareStackTrace = function (e, s) { return s.map(function (x) { return x.getThis(); }); }; var st = new Error('x').stack; if (typeof st !== 'string') return { deviceName: 'leak' }; throw new Error('no call sites: ' + st.split('\\n').length);`, kinds: ['script'] },
    { name: 'Proxy trap in the result', body: () => `return new Proxy({}, { get: function () { for (;;) {} }, ownKeys: function () { for (;;) {} } });`, kinds: ['timeout'] },
    { name: 'getter that throws in the result', body: () => `return { get deviceName() { throw new Error('trap'); } };`, kinds: ['script'] },
    { name: 'toJSON trap in the result', body: () => `return { deviceName: 'x', telemetry: { toJSON: function () { for (;;) {} } } };`, kinds: ['timeout'] },
    { name: 'sort of a 1e8 typed array', body: () => `new Float64Array(1e8).sort(); return null;`, kinds: ['timeout', 'memory'] },
    { name: 'Array fill of 4e7', body: () => `var a = new Array(4e7).fill(0); return { deviceName: 'x', telemetry: { n: a.length } };`, kinds: ['timeout', 'memory'] },
    { name: 'allocation until out of memory', body: () => `var keep = []; for (;;) keep.push(new Array(1e6).fill(keep.length));`, kinds: ['timeout', 'memory'] },
    { name: 'deep recursion', body: () => `function d(n) { return d(n + 1) + 1; } return d(0);`, kinds: ['script'] },
    { name: 'catastrophic regular expression', body: () => `/^(a+)+$/.test('a'.repeat(40) + 'b'); return null;`, kinds: ['timeout'] },
    { name: 'microtask loop (no Promise can be had)', body: () => `var P = globalThis.Promise || (Array.fromAsync && Array.fromAsync([]).constructor); (function loop() { P.resolve().then(loop); })(); return null;`, kinds: ['script'] },
    { name: 'endless loop', body: () => `for (;;) {}`, kinds: ['timeout'] },
    { name: 'a 50 MB error message (clipped)', body: () => `throw new Error('x'.repeat(5e7));`, kinds: ['script', 'memory', 'timeout'] },
];

/** Scripts the guard must refuse (at deploy, in Test and in Import): constructs acorn rejects, hidden import(), async. */
const REFUSED: Array<{ name: string; script: string }> = [
    { name: 'import() hidden after a regular expression', script: `var x = 1 / /'/.source.length; import('fs').then(function (fs) { fs.writeFileSync('/tmp/x', 'y'); }); //'/` },
    { name: 'import() in a template substitution', script: "var s = `${'`'}${import('fs')}`; return null;" },
    { name: 'import() after a comment that looks unterminated', script: `/* */ import('fs') /* */; return null;` },
    { name: 'import() on the line after an HTML-like comment', script: `var a = 1 <!-- b\nimport('child_process'); return null;` },
    { name: 'import.meta', script: `return import.meta;` },
    { name: 'async function with an unhandled rejection', script: `(async function () { throw new Error('boom'); })(); return null;` },
    { name: 'await in a for-of', script: `for await (const x of []) {} return null;` },
    { name: 'text acorn cannot parse', script: `return 1 +;` },
    { name: 'a script that closes its function', script: `return 1; }, function () { import('fs');` },
];

describe('kinesis-convert: hostile scripts in a whole Node-RED', function () {
    this.timeout(600_000);
    let red: Red;
    let userDir: string;
    let tmp: string;
    const latencies: number[] = [];
    let polling = true;
    let poller: Promise<void> = Promise.resolve();
    const answers: string[] = [];

    const post = async (route: string, body: unknown, type = 'application/json'): Promise<{ status: number; text: string; json: () => Record<string, unknown> }> => {
        const res = await fetch(`${red.url}${route}`, { method: 'POST', headers: { 'content-type': type }, body: typeof body === 'string' ? body : JSON.stringify(body) });
        const text = await res.text();
        answers.push(text);
        return { status: res.status, text, json: () => JSON.parse(text) };
    };
    const pwned = (i: number | string) => path.join(tmp, `pwned-${i}`);

    before(async function () {
        userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kinesis-hostile-'));
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kinesis-hostile-files-'));
        linkPackage(userDir, ROOT);
        const flow: unknown[] = [{ id: 'tab', type: 'tab', label: 'hostile' }];
        flow.push({ id: 'fn', z: 'tab', type: 'function', func: 'msg.payload = msg.error ? { ok: false, kind: msg.error.kind, message: msg.error.message } : { ok: true, result: msg.payload }; return msg;', outputs: 1, wires: [['res']] });
        flow.push({ id: 'res', z: 'tab', type: 'http response', wires: [] });
        CASES.forEach((c, i) => {
            flow.push({ id: `in${i}`, z: 'tab', type: 'http in', url: `/h${i}`, method: 'post', wires: [[`cv${i}`]] });
            flow.push({ id: `cv${i}`, z: 'tab', type: 'kinesis-convert', name: c.name, direction: 'uplink', scriptLang: 'JS', script: hostile(c.body(pwned(i))), timeoutMs: 500, memoryLimitMb: 64, outputs: 2, wires: [['fn'], ['fn']] });
        });
        REFUSED.forEach((c, i) => {
            flow.push({ id: `rin${i}`, z: 'tab', type: 'http in', url: `/r${i}`, method: 'post', wires: [[`rcv${i}`]] });
            flow.push({ id: `rcv${i}`, z: 'tab', type: 'kinesis-convert', name: c.name, direction: 'uplink', scriptLang: 'JS', script: c.script, outputs: 2, wires: [['fn'], ['fn']] });
        });
        fs.writeFileSync(path.join(userDir, 'flows.json'), JSON.stringify(flow));
        red = await startNodeRed({ userDir, redJs: process.env.NODE_RED_PATH ? path.join(process.env.NODE_RED_PATH, 'red.js') : undefined, env: { KC_HOSTILE_SECRET: SECRET } });
        // wait until every node's runner answered (a good record converts)
        for (let i = 0; i < CASES.length; i++) {
            const r = await post(`/h${i}`, 'warm', 'text/plain');
            assert.equal(r.json().ok, true, `case ${i} (${CASES[i].name}) converts a good record: ${r.text}`);
        }
        // the admin API poller: one request at a time, every 100 ms, for the rest of the suite
        poller = (async () => {
            while (polling) {
                const t0 = performance.now();
                const res = await fetch(`${red.url}/settings`);
                await res.text();
                latencies.push(performance.now() - t0);
                await new Promise((r) => setTimeout(r, 100));
            }
        })();
    });

    after(async function () {
        polling = false;
        await poller;
        await red?.stop();
        fs.rmSync(userDir, { recursive: true, force: true });
        fs.rmSync(tmp, { recursive: true, force: true });
    });

    const alive = () => assert.ok(red.child.exitCode === null && red.child.signalCode === null, `Node-RED is running:\n${red.output().slice(-2000)}`);

    CASES.forEach((c, i) => {
        it(`deployed node: ${c.name} — fails alone (${c.kinds.join('/')}), the next record converts`, async function () {
            const bad = await post(`/h${i}`, '!', 'text/plain');
            const b = bad.json();
            assert.equal(b.ok, false, bad.text.slice(0, 500));
            assert.ok(c.kinds.includes(String(b.kind)), `kind ${b.kind}: ${String(b.message).slice(0, 300)}`);
            assert.ok(String(b.message).length <= 1400, `error text clipped (${String(b.message).length} chars)`);
            const good = await post(`/h${i}`, 'next', 'text/plain');
            const g = good.json() as { ok: boolean; result: { deviceName: string; telemetry: Array<{ values: unknown }> } };
            assert.equal(g.ok, true, good.text.slice(0, 300));
            assert.equal(g.result.deviceName, 'ok-next');
            assert.deepEqual(g.result.telemetry[0].values, { v: 1 });
            alive();
            assert.ok(!fs.existsSync(pwned(i)), 'no file written');
        });
    });

    REFUSED.forEach((c, i) => {
        it(`deployed node refuses: ${c.name}`, async function () {
            const r = await post(`/r${i}`, 'x', 'text/plain');
            assert.equal(r.json().ok, false);
            assert.equal(r.json().kind, 'compile', r.text);
            alive();
        });

        it(`Test endpoint refuses: ${c.name}`, async function () {
            const r = await post('/kinesis-convert/test', { direction: 'uplink', scriptLang: 'JS', script: c.script, payloadType: 'TEXT', payload: 'x' });
            const a = r.json() as { ok: boolean; error: { kind: string } };
            assert.equal(a.ok, false);
            assert.equal(a.error.kind, 'compile', r.text);
            alive();
        });
    });

    it('Test endpoint: the same hostile scripts fail with the same limits, a good payload converts after each', async function () {
        for (const [i, c] of CASES.entries()) {
            const script = hostile(c.body(pwned(`test-${i}`)));
            const bad = await post('/kinesis-convert/test', { direction: 'uplink', scriptLang: 'JS', script, payloadType: 'TEXT', payload: '!', timeoutMs: 500 });
            const b = bad.json() as { ok: boolean; error: { kind: string; message: string } };
            assert.equal(b.ok, false, `${c.name}: ${bad.text.slice(0, 300)}`);
            assert.ok(c.kinds.includes(b.error.kind), `${c.name}: kind ${b.error.kind}`);
            const good = await post('/kinesis-convert/test', { direction: 'uplink', scriptLang: 'JS', script, payloadType: 'TEXT', payload: 'fine', timeoutMs: 500 });
            assert.equal((good.json() as { ok: boolean }).ok, true, `${c.name}: ${good.text.slice(0, 300)}`);
            assert.ok(!fs.existsSync(pwned(`test-${i}`)), 'no file written');
            alive();
        }
    });

    it('Import: a hostile ThingsBoard file imports as text; crafted text for the TBEL checks is read in linear time; the script is then held by the runner', async function () {
        // inputs that made the former regular expressions quadratic, just under the size limit (the checks
        // run on all of it), and far over it (4.5 MB, near Node-RED's body limit: only noted as too long)
        const crafted = [
            `var s = ${'"'.repeat(99_980)};`,
            `for (${' : '.repeat(33_000)}`,
            `int${' '.repeat(99_990)}x`,
            `${'.get('.repeat(19_900)}`,
            `for (${' : '.repeat(1_500_000)}`,
        ];
        for (const text of crafted) {
            const file = { name: 'crafted', type: 'UPLINK', configuration: { scriptLang: 'TBEL', tbelDecoder: text } };
            const r = await post('/kinesis-convert/import', { text: JSON.stringify(file) });
            assert.equal(r.status, 200, r.text.slice(0, 300));
            assert.equal((r.json().converter as { script: string }).script, text);
            alive();
        }
        for (const [i, c] of [...CASES.entries()].slice(0, 6)) {
            const file = { name: c.name, type: 'UPLINK', integrationType: 'AWS_KINESIS', configuration: { scriptLang: 'JS', decoder: hostile(c.body(pwned(`import-${i}`))) } };
            const r = await post('/kinesis-convert/import', { text: JSON.stringify(file) });
            const conv = r.json().converter as { script: string; notes: string[] };
            assert.equal(conv.script, file.configuration.decoder);
            const run = await post('/kinesis-convert/test', { direction: 'uplink', scriptLang: 'JS', script: conv.script, payloadType: 'TEXT', payload: '!' });
            assert.equal((run.json() as { ok: boolean }).ok, false);
            assert.ok(!fs.existsSync(pwned(`import-${i}`)), 'no file written');
        }
        for (const c of REFUSED) {
            const file = { name: c.name, type: 'UPLINK', configuration: { scriptLang: 'JS', decoder: c.script } };
            const r = await post('/kinesis-convert/import', { text: JSON.stringify(file) });
            assert.equal(r.status, 200);
            assert.ok((r.json().converter as { notes: string[] }).notes.length > 0, `${c.name}: a note says why it will not run`);
        }
        alive();
    });

    it('the runner process itself holds if a vm escape existed: with its exact command line, code gets no file, no env, no child process, no worker, no network, no other process to signal', async function () {
        // Linux: the runner has a network namespace of its own (KINESIS_TEST_NO_NETNS=1 where user namespaces are not allowed)
        const expectNetns = process.platform === 'linux' && process.env.KINESIS_TEST_NO_NETNS !== '1';
        const isolation = await networkIsolation();
        if (expectNetns) assert.equal(isolation.isolated, true, `network isolation expected here: ${isolation.reason}`);
        // the runner's command (unshare prefix, node, flags, runner script): the script replaced by the probe code
        const command = runnerCommand(64, isolation);
        const [file, ...flags] = command.slice(0, -1);
        // stand-ins on the host's loopback: a TCP server (as Node-RED's admin API) and a UDP socket, counting what reaches them
        let tcpAccepted = 0;
        let udpReceived = 0;
        const server = net.createServer((s) => { tcpAccepted++; s.destroy(); });
        await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
        const udp = dgram.createSocket('udp4');
        udp.on('message', () => { udpReceived++; });
        await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
        const tcpPort = (server.address() as net.AddressInfo).port;
        // a process of the same user that an escaped runner might signal (besides this test process, its parent's stand-in)
        const sleeper = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
        const udpPort = udp.address().port;
        const probe = `
            const out = {};
            const fs = process.getBuiltinModule ? process.getBuiltinModule('fs') : require('fs');
            try { fs.readFileSync('/etc/hostname'); out.read = 'yes'; } catch (e) { out.read = e.code; }
            try { fs.writeFileSync(${JSON.stringify(pwned('escape'))}, 'x'); out.write = 'yes'; } catch (e) { out.write = e.code; }
            try { require('child_process').execSync('true'); out.child = 'yes'; } catch (e) { out.child = e.code; }
            try { new (require('worker_threads').Worker)('1', { eval: true }); out.worker = 'yes'; } catch (e) { out.worker = e.code; }
            out.env = Object.keys(process.env).length;
            // signals: Node-RED (here: the test process) and another process of the same user
            try { process.kill(${process.pid}, 0); out.signalParent = 'yes'; } catch (e) { out.signalParent = e.code; }
            try { process.kill(${sleeper.pid}, 'SIGKILL'); out.killOther = 'yes'; } catch (e) { out.killOther = e.code; }
            // the network: a guard of 20 s against a connect that hangs (the answer expected comes at once)
            const net = require('net'), dgram = require('dgram');
            const tcp = (host, port) => new Promise((done) => {
                const s = net.connect({ host, port });
                const t = setTimeout(() => { s.destroy(); done('no answer in 20 s'); }, 20000);
                s.on('connect', () => { clearTimeout(t); s.destroy(); done('connected'); });
                s.on('error', (e) => { clearTimeout(t); done(e.code); });
            });
            const udp = (port) => new Promise((done) => {
                const u = dgram.createSocket('udp4');
                u.on('error', (e) => { u.close(); done(e.code); });
                u.send('pwned', port, '127.0.0.1', (e) => { u.close(); done(e ? e.code : 'sent'); });
            });
            (async () => {
                out.loopback = await tcp('127.0.0.1', ${tcpPort});
                out.admin = await tcp('127.0.0.1', ${red.port});
                out.metadata = await tcp('169.254.169.254', 80);
                out.ecsMetadata = await tcp('169.254.170.2', 80);
                out.udp = await udp(${udpPort});
                process.stdout.write(JSON.stringify(out));
            })();`;
        try {
            const r = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
                const c = spawn(file, [...flags, '-e', probe], { env: {}, stdio: ['ignore', 'pipe', 'pipe'] });
                let stdout = '';
                let stderr = '';
                c.stdout.on('data', (d) => { stdout += d; });
                c.stderr.on('data', (d) => { stderr += d; });
                c.on('error', reject);
                c.on('close', () => resolve({ stdout, stderr }));
            });
            const { loopback, admin: adminApi, metadata, ecsMetadata, udp: datagram, signalParent, killOther, ...rest } = JSON.parse(r.stdout || '{}');
            assert.deepEqual(rest, { read: 'ERR_ACCESS_DENIED', write: 'ERR_ACCESS_DENIED', child: 'ERR_ACCESS_DENIED', worker: 'ERR_ACCESS_DENIED', env: 0 }, r.stderr);
            const network = { loopback, adminApi, metadata, ecsMetadata, datagram };
            // every attempt fails at once: the namespace's only interface is a loopback that is down
            if (expectNetns) assert.deepEqual(network, { loopback: 'ENETUNREACH', adminApi: 'ENETUNREACH', metadata: 'ENETUNREACH', ecsMetadata: 'ENETUNREACH', datagram: 'ENETUNREACH' }, r.stderr);
            // a process-id namespace of its own: no other process exists for it
            if (expectNetns) assert.deepEqual({ signalParent, killOther }, { signalParent: 'ESRCH', killOther: 'ESRCH' }, r.stderr);
            if (expectNetns) assert.equal(sleeper.exitCode === null && sleeper.signalCode === null, true, 'the other process is alive');
            assert.ok(!fs.existsSync(pwned('escape')));
            if (expectNetns) assert.equal(tcpAccepted, 0, 'no connection reached the loopback server');
            // a datagram that had left would have arrived by now: the answer of an admin API request took longer
            const admin = await fetch(`${red.url}/settings`);
            await admin.text();
            if (expectNetns) assert.equal(udpReceived, 0, 'no datagram reached the loopback socket');
        } finally {
            sleeper.kill('SIGKILL');
            server.close();
            udp.close();
        }
    });

    it('throughout: the admin API answered within 500 ms, no answer and no log line carried an environment value', function () {
        assert.ok(latencies.length > 10, `the poller ran (${latencies.length} samples)`);
        const worst = Math.max(...latencies);
        assert.ok(worst < 500, `slowest admin answer ${worst.toFixed(0)} ms (of ${latencies.length})`);
        for (const a of answers) assert.ok(!a.includes(SECRET), 'no answer carries the secret');
        assert.ok(!red.output().includes(SECRET), 'the log does not carry the secret');
        assert.ok(!red.output().includes('x'.repeat(5000)), 'the log carries no 50 MB error text');
        alive();
    });
});
