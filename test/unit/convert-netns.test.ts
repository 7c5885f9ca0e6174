/**
 * The runner's network namespace (lib/convert/runner/netns.ts), with real processes: the probe, its
 * fallbacks (no binary, an unshare that cannot create namespaces, an util-linux older than 2.38), and that
 * an engine's runner really is in a network namespace of its own — or, in the fallback, really is not.
 * On Linux the isolation is expected to work (KINESIS_TEST_NO_NETNS=1 where user namespaces are not allowed).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { ScriptEngine, ScriptCompileError } from '../../lib/convert/sandbox';
import { networkIsolation } from '../../lib/convert/runner/netns';

const EXPECT_NETNS = process.platform === 'linux' && process.env.KINESIS_TEST_NO_NETNS !== '1';
const SCRIPT = `return { deviceName: 'd-' + String.fromCharCode.apply(null, payload), telemetry: { v: 1 } };`;

function netnsOf(pid: number | string): string {
    return fs.readlinkSync(`/proc/${pid}/ns/net`);
}
function pidnsOf(pid: number | string): string {
    return fs.readlinkSync(`/proc/${pid}/ns/pid`);
}
function parentOf(pid: number): number {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

describe('convert runner: network namespace', function () {
    this.timeout(120_000);
    const open: ScriptEngine[] = [];
    let tmp: string;
    before(function () {
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kinesis-netns-'));
    });
    afterEach(function () {
        while (open.length) open.pop()!.close();
    });
    after(function () {
        fs.rmSync(tmp, { recursive: true, force: true });
    });
    async function engine(network?: { unshare?: string; required?: boolean }): Promise<ScriptEngine> {
        const e = new ScriptEngine({ direction: 'uplink', script: SCRIPT, timeoutMs: 1000, network });
        open.push(e);
        await e.start();
        return e;
    }
    async function converts(e: ScriptEngine): Promise<void> {
        const [r] = await e.runBatch([{ codes: 'ok', metadata: {} }]);
        assert.deepEqual(r.value, { deviceName: 'd-ok', telemetry: { v: 1 } }, JSON.stringify(r.error));
    }
    /** A stand-in unshare: a shell script (what a wrapper or an old util-linux would do). */
    function fakeUnshare(name: string, body: string): string {
        const f = path.join(tmp, name);
        fs.writeFileSync(f, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
        return f;
    }

    it('by default the runner is started through unshare, and lives in a network and a process-id namespace of its own', async function () {
        if (!EXPECT_NETNS) this.skip();
        const iso = await networkIsolation();
        assert.equal(iso.isolated, true, `isolation expected on this Linux: ${iso.reason}`);
        assert.ok(path.isAbsolute(iso.prefix[0]) && /unshare$/.test(iso.prefix[0]), iso.prefix.join(' '));
        assert.deepEqual(iso.prefix.slice(1), ['--user', '--map-current-user', '--net', '--pid', '--fork', '--kill-child', '--']);
        assert.equal(await networkIsolation(), iso, 'probed once: the same answer');
        const e = await engine();
        await converts(e);
        const pid = e.runnerPid!;
        // the runner's own pid (what the memory watch reads) is node, a child of unshare, itself a child of this process
        assert.equal(fs.readlinkSync(`/proc/${pid}/exe`), fs.realpathSync(process.execPath));
        assert.match(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /child\.js/);
        const unshare = parentOf(pid);
        assert.match(fs.readlinkSync(`/proc/${unshare}/exe`), /unshare$/);
        assert.equal(parentOf(unshare), process.pid);
        assert.notEqual(netnsOf(pid), netnsOf('self'), 'the runner has a network namespace of its own');
        assert.notEqual(pidnsOf(pid), pidnsOf('self'), 'the runner has a process-id namespace of its own');
        assert.ok(Number(fs.readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) > 0, 'its memory is readable');
    });

    it('a SIGKILL of the spawned unshare (what the watchdog sends) ends a runner stuck in a loop', async function () {
        if (!EXPECT_NETNS) this.skip();
        const iso = await networkIsolation();
        // a runner that no longer reads its pipes (a built-in call ignoring the vm timeout): only the kill can end it
        const spawned = spawn(iso.prefix[0], [...iso.prefix.slice(1), process.execPath, '-e', 'for (;;) {}'], { stdio: 'ignore' });
        const kids = (): number[] => {
            try {
                return fs.readFileSync(`/proc/${spawned.pid}/task/${spawned.pid}/children`, 'utf8').trim().split(' ').filter(Boolean).map(Number);
            } catch {
                return [];
            }
        };
        for (let i = 0; !kids().length && i < 600; i++) await new Promise((r) => setTimeout(r, 50));
        const [pid] = kids();
        assert.ok(pid > 0, 'unshare forked the runner');
        spawned.kill('SIGKILL');
        // the runner dies with it (--kill-child); what is left of it at most is a zombie no one has reaped yet
        const running = (): boolean => {
            try {
                return !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
            } catch {
                return false;
            }
        };
        for (let i = 0; running() && i < 600; i++) await new Promise((r) => setTimeout(r, 50));
        const still = running();
        if (still) process.kill(pid, 'SIGKILL');
        assert.equal(still, false, `runner ${pid} still running after its unshare was killed`);
    });

    it('no unshare binary: runners start as before (in our network namespace), the reason names what is missing', async function () {
        const missing = path.join(tmp, 'no-such-dir', 'unshare');
        const iso = await networkIsolation({ unshare: missing });
        assert.deepEqual(iso, { isolated: false, prefix: [], reason: `no unshare binary at ${missing}` });
        const e = await engine({ unshare: missing });
        await converts(e);
        if (process.platform === 'linux') assert.equal(netnsOf(e.runnerPid!), netnsOf('self'), 'the fallback runs without a namespace');
    });

    it('an unshare that may not create namespaces (Docker\'s seccomp profile): not isolated, its own message as the reason', async function () {
        const denied = fakeUnshare('unshare-denied', `echo "unshare: unshare failed: Operation not permitted" >&2\nexit 1`);
        const iso = await networkIsolation({ unshare: denied });
        assert.equal(iso.isolated, false);
        assert.equal(iso.reason, `${denied} cannot create namespaces here: unshare: unshare failed: Operation not permitted`);
        assert.equal(await networkIsolation({ unshare: 'bin/unshare' }).then((i) => i.reason), 'the unshare path is not absolute (bin/unshare)');
    });

    it('util-linux older than 2.38 (no --map-current-user): falls back to --map-root-user, still isolated', async function () {
        if (!EXPECT_NETNS) this.skip();
        const real = (await networkIsolation()).prefix[0];
        const old = fakeUnshare('unshare-old', `case " $* " in *" --map-current-user "*) echo "unshare: unrecognized option '--map-current-user'" >&2; exit 1;; esac\nexec ${real} "$@"`);
        const iso = await networkIsolation({ unshare: old });
        assert.deepEqual(iso, { isolated: true, prefix: [old, '--user', '--map-root-user', '--net', '--pid', '--fork', '--kill-child', '--'] });
        const e = await engine({ unshare: old });
        await converts(e);
        assert.notEqual(netnsOf(e.runnerPid!), netnsOf('self'));
    });

    it('an unshare that fails after the probe said yes (a namespace limit reached): the runner start fails with unshare\'s message', async function () {
        if (!EXPECT_NETNS) this.skip();
        const real = (await networkIsolation()).prefix[0];
        const limited = fakeUnshare('unshare-limited', `case " $* " in *" --version "*) exec ${real} "$@";; esac\necho "unshare: unshare failed: No space left on device" >&2\nexit 1`);
        assert.equal((await networkIsolation({ unshare: limited })).isolated, true);
        const e = new ScriptEngine({ direction: 'uplink', script: SCRIPT, network: { unshare: limited } });
        open.push(e);
        await assert.rejects(e.start(), (err: unknown) => {
            assert.ok(err instanceof ScriptCompileError);
            assert.equal(err.info.kind, 'sandbox');
            assert.match(err.info.message, /could not start \(exit code 1: unshare: unshare failed: No space left on device\)/);
            return true;
        });
    });

    it('required and not available: the runner does not start, the error says why', async function () {
        const missing = path.join(tmp, 'nowhere', 'unshare');
        const e = new ScriptEngine({ direction: 'uplink', script: SCRIPT, network: { unshare: missing, required: true } });
        open.push(e);
        await assert.rejects(e.start(), (err: unknown) => {
            assert.ok(err instanceof ScriptCompileError);
            assert.equal(err.info.kind, 'sandbox');
            assert.match(err.info.message, /network isolation is required and not available here \(no unshare binary at .*nowhere\/unshare\)/);
            return true;
        });
        assert.equal(e.runnerPid, undefined);
        assert.equal(e.stats.started, 1);
    });

    it('required and available: the runner starts', async function () {
        if (!EXPECT_NETNS) this.skip();
        const e = await engine({ required: true });
        await converts(e);
        assert.notEqual(netnsOf(e.runnerPid!), netnsOf('self'));
    });
});
