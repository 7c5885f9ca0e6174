/**
 * Node-RED's side of one runner process (runner/child.ts): starts it, frames requests, watches it.
 *
 * The process: `process.execPath` with Node's permission model (`--permission` where the running Node
 * has it, else `--experimental-permission`), read access granted only to the runner's own module files,
 * no write access, no child processes, no workers, no addons; an EMPTY environment; the heap capped
 * with `--max-old-space-size`; on Linux in a network namespace and a process-id namespace of its own (netns.ts:
 * started through `unshare --fork --kill-child`, which stays its parent: a SIGKILL of it kills the runner too), so
 * it reaches no network at all and can signal no other process (not Node-RED, its parent). Its resident
 * memory (which also counts ArrayBuffers, outside the heap limit) is sampled while a request runs, on
 * Linux from /proc; over the limit it is killed.
 *
 * A request that sends no frame within the watchdog time (the timeout plus a margin: the vm timeout
 * inside the runner stops ordinary endless loops first) is ended with SIGKILL: this is what stops a
 * single built-in call that ignores the vm timeout (sorting a huge typed array). The caller learns how
 * many records had finished (the frames received) and why the process died.
 */
import { spawn, ChildProcess } from 'node:child_process';
import { open, read, close, readFile } from 'node:fs';
import path from 'node:path';
import { LineReader } from './lines';
import { networkIsolation, NetworkIsolation, NetworkIsolationOptions } from './netns';
import type { ScriptErrorInfo, Direction } from './vm-engine';
// Loaded (without running: it starts only as a main module) to learn which files the runner needs.
import * as childModule from './child';

void childModule;

export type DeathKind = 'timeout' | 'memory' | 'crash';

export interface RunnerInit {
    direction: Direction;
    tbel: boolean;
    script: string;
    timeoutMs: number;
    base: Record<string, string>;
}

export interface RunnerLimits {
    /** V8 heap limit of the runner (MB); its resident memory may reach 2× this + 64 MB before it is killed. */
    memoryLimitMb: number;
    /** How long the runner may take to start and compile (ms). */
    startTimeoutMs?: number;
    /** Network isolation (netns.ts): which unshare, and whether a runner without it may start. */
    network?: NetworkIsolationOptions;
}

/**
 * The results of a part frame as the runner sends them (not trusted: checked where they are read): `k` one kind
 * per record ('r' value: the next of `r`; 'u' returned nothing; 'e' threw: the next of `e`, `{n, m, l, c}`;
 * 't' stopped by the vm timeout).
 */
export interface Part {
    k: string;
    r: unknown[];
    e: unknown[];
}

const EMPTY_PART: Part = { k: '', r: [], e: [] };

export type RunEnd = { ok: true; broken?: string } | { ok: false; death: DeathKind; detail: string };

interface Pending {
    watchdogMs: number;
    handle: (f: Record<string, unknown>, end: (e: RunEnd) => void, touch: () => void) => void;
    end: (e: RunEnd) => void;
}

/**
 * A batch as it is sent: the JSON header of the records and their text as UTF-8 bytes (`frames.ts` builds
 * it); `bj`: the text is a JSON string literal (text that is not well-formed UTF-16 would not survive UTF-8).
 */
export interface RunRequest {
    id: number;
    n: number;
    h: string;
    b: Uint8Array;
    bj: boolean;
    each: boolean;
}

const PAGE = 4096;
const RSS_POLL_MS = 50;

let runnerFiles: string[] | undefined;
/** The runner entry and every module file it loads (from this process's module cache). */
export function runnerModuleFiles(): string[] {
    if (runnerFiles) return runnerFiles;
    const entry = require.resolve('./child');
    const seen = new Set<string>();
    const visit = (m: NodeModule | undefined) => {
        if (!m || seen.has(m.filename)) return;
        seen.add(m.filename);
        for (const c of m.children) visit(c);
    };
    visit(require.cache[entry]);
    if (!seen.size) seen.add(entry);
    runnerFiles = [...seen];
    return runnerFiles;
}

export function permissionFlag(): string {
    return process.allowedNodeEnvironmentFlags.has('--permission') ? '--permission' : '--experimental-permission';
}

/** The command line of a runner (exported for the tests and the DESIGN figures). */
export function runnerArgs(memoryLimitMb: number): string[] {
    const files = runnerModuleFiles();
    return [
        permissionFlag(),
        ...files.map((f) => `--allow-fs-read=${f}`),
        `--max-old-space-size=${Math.max(16, Math.floor(memoryLimitMb))}`,
        '--no-warnings',
        '--disallow-code-generation-from-strings',
        require.resolve('./child'),
    ];
}

/** The whole command of a runner: `[file, ...args]` (the unshare prefix when isolated, then node and runnerArgs). */
export function runnerCommand(memoryLimitMb: number, isolation: NetworkIsolation): string[] {
    return [...isolation.prefix, process.execPath, ...runnerArgs(memoryLimitMb)];
}

export class RunnerProcess {
    readonly limits: RunnerLimits;
    private child: ChildProcess | undefined;
    private reader: LineReader;
    private stderrTail = '';
    /** Requests sent and not answered yet, in the order the runner handles them (the head is running). */
    private pending: Pending[] = [];
    private killedFor: DeathKind | undefined;
    private exited = false;
    private watchdog: NodeJS.Timeout | undefined;
    private rssTimer: NodeJS.Timeout | undefined;
    private statmFd: number | undefined;
    private statmOpening = false;
    /** Started through `unshare --fork`: the spawned process is unshare, the runner its only child. */
    private forked = false;
    /** The runner's own process id when forked (host's numbering), once found. */
    private forkedPid: number | undefined;

    constructor(limits: RunnerLimits) {
        this.limits = limits;
        this.reader = new LineReader((line) => {
            if (!line) return;
            let f: Record<string, unknown>;
            try {
                f = JSON.parse(line);
            } catch {
                this.kill('crash');
                return;
            }
            const head = this.pending[0];
            if (head) head.handle(f, head.end, () => this.arm(head.watchdogMs));
        }, 512 * 1024 * 1024, () => this.kill('memory'));
    }

    get alive(): boolean {
        return !!this.child && !this.exited;
    }

    /** The runner's own process id (under `unshare --fork`: unshare's child, once it has been found). */
    get pid(): number | undefined {
        return this.forked ? this.forkedPid : this.child?.pid;
    }

    /** Calls back with the runner's own process id, or undefined while it is not known (unshare not forked yet). */
    private withRunnerPid(cb: (pid: number | undefined) => void): void {
        const spawned = this.child?.pid;
        if (!this.forked || !spawned || this.forkedPid) return cb(this.pid);
        // unshare (single-threaded) has the runner as its only child
        readFile(`/proc/${spawned}/task/${spawned}/children`, 'latin1', (err, text) => {
            const pid = err ? NaN : Number(text.trim().split(' ')[0]);
            if (pid > 0 && !this.exited) this.forkedPid = pid;
            cb(this.pid);
        });
    }

    /** Starts the process and compiles the script: resolves with a compile error, or undefined when ready. */
    async start(init: RunnerInit): Promise<ScriptErrorInfo | undefined> {
        const isolation = await networkIsolation(this.limits.network);
        if (!isolation.isolated && this.limits.network?.required) {
            return { kind: 'sandbox', name: 'Error', message: `the converter runner was not started: network isolation is required and not available here (${isolation.reason})` };
        }
        if (this.killedFor) return { kind: 'sandbox', name: 'Error', message: 'the converter runner was stopped before it started' };
        const [file, ...args] = runnerCommand(this.limits.memoryLimitMb, isolation);
        this.forked = isolation.prefix.includes('--fork');
        const child = spawn(file, args, {
            env: {},
            cwd: path.dirname(require.resolve('./child')),
            stdio: ['pipe', 'pipe', 'pipe'],
            windowsHide: true,
        });
        this.child = child;
        child.stdout!.on('data', (c: Buffer) => this.reader.push(c));
        child.stderr!.setEncoding('utf8');
        child.stderr!.on('data', (c: string) => {
            this.stderrTail = (this.stderrTail + c).slice(-4096);
        });
        child.stdin!.on('error', () => undefined); // EPIPE after a death: reported through 'exit'
        child.on('error', () => this.finishDeath('crash', 'the runner could not be started'));
        child.on('exit', (code, signal) => {
            const kind = this.killedFor ?? (/heap out of memory|Allocation failed|Reached heap limit/i.test(this.stderrTail) ? 'memory' : 'crash');
            // unshare's own complaint (a namespace limit reached since the probe), not the runner's output
            const wrapper = isolation.isolated && /^unshare: [^\n]{1,200}/.exec(this.stderrTail);
            this.finishDeath(kind, `${signal ? `signal ${signal}` : `exit code ${code}`}${wrapper ? `: ${wrapper[0]}` : ''}`);
        });
        const frame = await this.request(`${JSON.stringify({ t: 'init', ...init })}\n`, this.limits.startTimeoutMs ?? 30_000, (f, end) => {
            if (f.t === 'ready') {
                if (f.perm !== true) {
                    this.kill('crash');
                    return end({ ok: false, death: 'crash', detail: 'the runner did not start under Node\'s permission model' });
                }
                // in a process-id namespace of its own the runner is process 1 there
                if (this.forked && f.pid !== 1) {
                    this.kill('crash');
                    return end({ ok: false, death: 'crash', detail: 'the runner did not start in a process namespace of its own' });
                }
                end({ ok: true });
            } else if (f.t === 'compile') end({ ok: true, broken: JSON.stringify(f.info) });
        });
        if (!frame.ok) {
            this.kill('crash');
            return { kind: 'sandbox', name: 'Error', message: `the converter runner could not start (${frame.detail})` };
        }
        if (this.forked) {
            // the runner is running (it said ready): unshare's child, found now for the memory watch and `pid`
            const pid = await new Promise<number | undefined>((r) => this.withRunnerPid(r));
            if (!pid) {
                this.kill('crash');
                return { kind: 'sandbox', name: 'Error', message: 'the converter runner could not start (its process was not found under unshare)' };
            }
        }
        if (frame.broken) {
            this.kill('crash');
            const info = JSON.parse(frame.broken) as ScriptErrorInfo;
            return { kind: 'compile', name: String(info.name ?? 'Error').slice(0, 100), message: String(info.message ?? '').slice(0, 1024), line: info.line, column: info.column };
        }
        return undefined;
    }

    /**
     * Runs one batch: `onPart(from, entries)` for every frame of results; resolves when the runner says
     * done, or when it died (watchdog, memory, crash). Batches may be sent while earlier ones run (the
     * runner takes them in order): each one's watchdog starts when the one before it is done.
     */
    run(req: RunRequest, watchdogMs: number, onPart: (from: number, part: Part) => void): Promise<RunEnd> {
        // The header and the text go raw after the frame's line (no second JSON escaping), their lengths in bytes.
        const line = JSON.stringify({ t: 'run', id: req.id, n: req.n, hn: Buffer.byteLength(req.h), bn: req.b.length, bj: req.bj, each: req.each });
        // Two writes: the batch's bytes are not copied once more into one buffer with the line and header.
        return this.request([`${line}\n${req.h}`, req.b], watchdogMs, (f, end, touch) => {
            if (f.id !== req.id) return;
            if (f.t === 'part') {
                touch();
                onPart(Number(f.from), typeof f.k === 'string' && Array.isArray(f.r) && Array.isArray(f.e) ? (f as unknown as Part) : EMPTY_PART);
            } else if (f.t === 'done') {
                end(typeof f.broken === 'string' ? { ok: true, broken: f.broken } : { ok: true });
            }
        });
    }

    private request(text: string | (string | Uint8Array)[], watchdogMs: number, handle: Pending['handle']): Promise<RunEnd> {
        return new Promise<RunEnd>((resolve) => {
            if (!this.alive) return resolve({ ok: false, death: 'crash', detail: 'the runner is not running' });
            let ended = false;
            const p: Pending = {
                watchdogMs,
                handle,
                end: (e: RunEnd) => {
                    if (ended) return;
                    ended = true;
                    const at = this.pending.indexOf(p);
                    if (at >= 0) this.pending.splice(at, 1);
                    if (at === 0 && this.pending.length) this.arm(this.pending[0].watchdogMs); // the runner starts the next
                    if (!this.pending.length) this.stopTimers();
                    resolve(e);
                },
            };
            this.pending.push(p);
            if (this.pending.length === 1) {
                this.arm(watchdogMs);
                this.startRssWatch();
            }
            const stdin = this.child!.stdin!;
            if (typeof text === 'string') stdin.write(text);
            else for (const t of text) if (t.length) stdin.write(t);
        });
    }

    private arm(ms: number): void {
        if (this.watchdog) clearTimeout(this.watchdog);
        this.watchdog = setTimeout(() => this.kill('timeout'), ms);
    }

    private startRssWatch(): void {
        if (process.platform !== 'linux' || this.rssTimer || !this.child?.pid) return;
        const limit = (2 * this.limits.memoryLimitMb + 64) * 1024 * 1024;
        // One descriptor for the runner's life, read at offset 0 each time (not open/read/close per sample).
        const buf = Buffer.alloc(128);
        const poll = () => {
            const fd = this.statmFd;
            if (fd === undefined) {
                this.openStatm(); // not open yet (or the forked runner not found yet)
                this.rssTimer = setTimeout(poll, RSS_POLL_MS);
                return;
            }
            read(fd, buf, 0, buf.length, 0, (err, n) => {
                if (!this.rssTimer) return;
                if (!err) {
                    const text = buf.toString('latin1', 0, n);
                    const rss = Number(text.split(' ')[1]) * PAGE;
                    if (rss > limit) {
                        this.kill('memory');
                        return;
                    }
                }
                this.rssTimer = setTimeout(poll, RSS_POLL_MS);
            });
        };
        this.rssTimer = setTimeout(poll, RSS_POLL_MS);
        this.openStatm();
    }

    /** Opens /proc/<runner>/statm once (the runner's own process: under unshare --fork, its child). */
    private openStatm(): void {
        if (this.statmFd !== undefined || this.statmOpening || this.exited) return;
        this.statmOpening = true;
        this.withRunnerPid((pid) => {
            if (!pid) {
                this.statmOpening = false;
                return;
            }
            open(`/proc/${pid}/statm`, 'r', (err, fd) => {
                this.statmOpening = false;
                if (err) return;
                if (this.exited) return void close(fd, () => undefined);
                this.statmFd = fd;
            });
        });
    }

    private stopTimers(): void {
        if (this.watchdog) clearTimeout(this.watchdog);
        if (this.rssTimer) clearTimeout(this.rssTimer);
        this.watchdog = undefined;
        this.rssTimer = undefined;
    }

    private finishDeath(kind: DeathKind, detail: string): void {
        if (this.exited) return;
        this.exited = true;
        this.stopTimers();
        if (this.statmFd !== undefined) close(this.statmFd, () => undefined);
        this.statmFd = undefined;
        const all = this.pending;
        this.pending = [];
        for (const p of all) p.end({ ok: false, death: kind, detail });
    }

    /** SIGKILL (the reason is what the pending request reports). */
    kill(reason: DeathKind = 'crash'): void {
        if (this.exited) return;
        this.killedFor ??= reason; // before the spawn (still probing the isolation): it will not start
        if (!this.child) return;
        try {
            this.child.kill('SIGKILL');
        } catch {
            /* already gone */
        }
    }
}
