/**
 * Network isolation of the runner processes (Linux): a runner is started as
 * `unshare --user --map-current-user --net --pid --fork --kill-child -- <node> <runner args>`:
 * - a network namespace of its own, whose only interface is a loopback that is down: a connect or send to
 *   anything (Node-RED's admin API on loopback, the instance metadata service at 169.254.169.254, the LAN)
 *   fails at once with ENETUNREACH. Node's permission model (the runner's other walls) has no network scope on
 *   Node 20/22;
 * - a process-id namespace of its own, where the runner is process 1 and sees no other process: `process.kill`
 *   of Node-RED (its parent) or of any other process of the user fails with ESRCH. The permission model does not
 *   cover signals either.
 *
 * With `--fork` unshare stays as the runner's parent (a process-id namespace applies to the children of the
 * process that creates it); `--kill-child` has the kernel SIGKILL the runner when unshare dies, so a SIGKILL of
 * the spawned process (unshare) still ends the runner. The runner's own pid, for /proc/<pid>/statm, is unshare's
 * child (process.ts).
 *
 * Whether it works is probed once per process (and per `unshare` option), asynchronously, by starting
 * `<node> --version` the same way; the answer is cached. Where it does not work (not Linux, no unshare binary,
 * user namespaces not allowed: Docker's default seccomp profile, `kernel.unprivileged_userns_clone=0`), runners
 * start as before and `reason` says what is missing; with `required` they do not start at all.
 */
import { spawn } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import path from 'node:path';

export interface NetworkIsolationOptions {
    /** The unshare binary (an absolute path). Default: /usr/bin/unshare, /bin/unshare, then the absolute directories of PATH. */
    unshare?: string;
    /** Refuse to start a runner without its own network and process-id namespaces (fail closed). Default false: start it as before. */
    required?: boolean;
}

export interface NetworkIsolation {
    /** Runners start in network and process-id namespaces of their own. */
    isolated: boolean;
    /** What goes before the runner's own command line: `[unshare, ...flags, '--']`, or `[]`. */
    prefix: string[];
    /** Why runners are not isolated (no secrets, no environment values). */
    reason?: string;
}

/** The flags, newest first: `--map-current-user` needs util-linux ≥ 2.38; older ones map the user to root in the namespace. */
const NAMESPACES = ['--net', '--pid', '--fork', '--kill-child'];
const FLAG_SETS: string[][] = [
    ['--user', '--map-current-user', ...NAMESPACES],
    ['--user', '--map-root-user', ...NAMESPACES],
];
const PROBE_TIMEOUT_MS = 30_000;
const DEFAULT_PLACES = ['/usr/bin/unshare', '/bin/unshare'];

const cache = new Map<string, Promise<NetworkIsolation>>();

/** How runners are started here (probed once per `unshare` option, then cached). Never rejects. */
export function networkIsolation(opts: NetworkIsolationOptions = {}): Promise<NetworkIsolation> {
    const key = opts.unshare ?? '';
    let p = cache.get(key);
    if (!p) {
        p = probe(opts.unshare).catch((e) => ({ isolated: false, prefix: [], reason: `the probe failed: ${oneLine(String((e as Error)?.message ?? e))}` }));
        cache.set(key, p);
    }
    return p;
}

/** Seeds the cache with an answer probed elsewhere (the import worker thread gets Node-RED's answer). */
export function primeNetworkIsolation(opts: NetworkIsolationOptions, isolation: NetworkIsolation): void {
    cache.set(opts.unshare ?? '', Promise.resolve({ isolated: isolation.isolated === true, prefix: isolation.isolated ? [...isolation.prefix] : [], reason: isolation.reason }));
}

/** Forgets the probed answers (tests). */
export function resetNetworkIsolation(): void {
    cache.clear();
}

async function probe(option: string | undefined): Promise<NetworkIsolation> {
    if (process.platform !== 'linux') return { isolated: false, prefix: [], reason: `network namespaces are a Linux feature (this is ${process.platform})` };
    let bin: string | undefined;
    if (option !== undefined) {
        if (!path.isAbsolute(option)) return { isolated: false, prefix: [], reason: `the unshare path is not absolute (${oneLine(option)})` };
        bin = (await executable(option)) ? option : undefined;
        if (!bin) return { isolated: false, prefix: [], reason: `no unshare binary at ${oneLine(option)}` };
    } else {
        bin = await findUnshare();
        if (!bin) return { isolated: false, prefix: [], reason: 'no unshare binary (util-linux) in /usr/bin, /bin or PATH' };
    }
    let reason = '';
    for (const flags of FLAG_SETS) {
        const r = await run(bin, [...flags, '--', process.execPath, '--version']);
        if (r.ok) return { isolated: true, prefix: [bin, ...flags, '--'] };
        // an unknown option (util-linux < 2.38) is not the reason worth reporting when the next set says more
        if (!reason || !/unrecognized option|invalid option/i.test(r.detail)) reason = r.detail;
    }
    return { isolated: false, prefix: [], reason: `${bin} cannot create namespaces here: ${reason}` };
}

/** unshare at the usual places, else in an absolute directory of PATH (never the working directory). */
async function findUnshare(): Promise<string | undefined> {
    const dirs = (process.env.PATH ?? '').split(path.delimiter).filter((d) => d && path.isAbsolute(d));
    for (const f of [...DEFAULT_PLACES, ...dirs.map((d) => path.join(d, 'unshare'))]) if (await executable(f)) return f;
    return undefined;
}

async function executable(file: string): Promise<boolean> {
    try {
        await access(file, constants.X_OK);
        return true;
    } catch {
        return false;
    }
}

function run(file: string, args: string[]): Promise<{ ok: boolean; detail: string }> {
    return new Promise((resolve) => {
        let err = '';
        let done = false;
        const finish = (ok: boolean, detail: string) => {
            if (done) return;
            done = true;
            clearTimeout(timer);
            resolve({ ok, detail });
        };
        const child = spawn(file, args, { env: {}, stdio: ['ignore', 'ignore', 'pipe'], windowsHide: true });
        const timer = setTimeout(() => {
            child.kill('SIGKILL');
            finish(false, `no answer within ${PROBE_TIMEOUT_MS / 1000} s`);
        }, PROBE_TIMEOUT_MS);
        child.stderr!.setEncoding('utf8');
        child.stderr!.on('data', (c: string) => {
            if (err.length < 1024) err += c;
        });
        child.on('error', (e) => finish(false, oneLine(e.message)));
        child.on('close', (code, signal) => {
            if (code === 0) finish(true, '');
            else finish(false, oneLine(err.trim().split('\n')[0] || (signal ? `signal ${signal}` : `exit code ${code}`)));
        });
    });
}

function oneLine(s: string): string {
    const t = s.replace(/\s+/g, ' ').trim();
    return t.length > 200 ? `${t.slice(0, 200)}…` : t;
}
