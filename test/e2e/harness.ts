/**
 * A real Node-RED for the end-to-end tests: `red.js` in a child process on a free port, with a temp
 * userDir where this package is symlinked into node_modules (as `npm start` does), driven through the
 * admin API (deploy, inject, context) and the editor's websocket (`/comms`: debug sidebar, statuses).
 */
import { spawn, ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { sleep, waitFor } from '../helpers/stack';

/** The repository root (this file runs from dist/test/e2e). */
export const repoRoot = path.resolve(__dirname, '..', '..', '..');
export const examplesDir = path.join(repoRoot, 'examples');

export type FlowNode = Record<string, unknown> & { id: string; type: string; z?: string; wires?: string[][] };

export function exampleFiles(): string[] {
    return fs.readdirSync(examplesDir).filter((f) => f.endsWith('.json')).sort();
}

export function readExample(file: string): FlowNode[] {
    return JSON.parse(fs.readFileSync(path.join(examplesDir, file), 'utf8')) as FlowNode[];
}

/** Config nodes as Node-RED exports them: no tab, no position, no wires. */
export function isConfigNode(n: FlowNode): boolean {
    return n.z === undefined && n.x === undefined && n.y === undefined && !n.wires;
}

/**
 * An example file exactly as shipped, plus the tab its nodes name in `z` (what Import > Examples
 * gives when the nodes land in a tab of their own).
 */
export function exampleAsFlows(file: string): FlowNode[] {
    const nodes = readExample(file);
    const tabs = [...new Set(nodes.filter((n) => !isConfigNode(n)).map((n) => n.z as string))];
    return [...tabs.map((id) => ({ id, type: 'tab', label: file.replace(/\.json$/, ''), disabled: false, info: '' })), ...nodes];
}

/** A free loopback port (the local stack's helper). */
// eslint-disable-next-line @typescript-eslint/no-var-requires
export const freePort: () => Promise<number> = require(path.join(repoRoot, 'scripts', 'local-stack.js')).freePort;

export { sleep };

export interface DebugMessage {
    id: string;
    z?: string;
    name?: string;
    topic?: string;
    msg: unknown;
    format?: string;
    level?: number;
    property?: string;
}

/** One message of the editor's websocket, decoded: debug output gets its `msg` parsed. */
export function decodeDebug(data: Record<string, unknown>): DebugMessage {
    const d = { ...data } as unknown as DebugMessage;
    const fmt = String(d.format || '');
    if (typeof d.msg === 'string' && (fmt.startsWith('Object') || fmt.startsWith('array') || fmt === 'number' || fmt === 'boolean')) {
        try { d.msg = JSON.parse(d.msg); } catch (_) { /* keep the string (truncated output) */ }
    }
    return d;
}

/** The editor's websocket: collects every debug message and the latest status of each node. */
export class Comms {
    readonly debug: DebugMessage[] = [];
    readonly status = new Map<string, { text?: string; fill?: string; shape?: string }>();
    private ws: WebSocket;

    private constructor(ws: WebSocket) {
        this.ws = ws;
        ws.on('message', (raw) => {
            let batch: Array<{ topic: string; data: Record<string, unknown> }>;
            try { batch = JSON.parse(String(raw)); } catch (_) { return; }
            if (!Array.isArray(batch)) return;
            for (const m of batch) {
                if (m.topic === 'debug') this.debug.push(decodeDebug(m.data));
                else if (m.topic.startsWith('status/')) this.status.set(m.topic.slice(7), m.data as { text?: string });
            }
        });
        ws.on('error', () => { /* the runtime went away; tests fail on their own asserts */ });
    }

    static open(baseUrl: string): Promise<Comms> {
        return new Promise((resolve, reject) => {
            const ws = new WebSocket(baseUrl.replace(/^http/, 'ws') + '/comms');
            ws.once('open', () => {
                ws.send(JSON.stringify({ subscribe: 'debug' }));
                ws.send(JSON.stringify({ subscribe: 'status/#' }));
                resolve(new Comms(ws));
            });
            ws.once('error', reject);
        });
    }

    /** Debug output of one node (errors/warnings logged by nodes have a `level`). */
    from(nodeId: string): DebugMessage[] {
        return this.debug.filter((d) => d.id === nodeId && d.level === undefined);
    }

    /** Errors and warnings the runtime put in the debug sidebar. */
    problems(): DebugMessage[] {
        return this.debug.filter((d) => d.level !== undefined);
    }

    close(): void {
        this.ws.terminate();
    }
}

/** Writes a userDir like `npm start` does: this package symlinked in, settings for tests. */
export function makeUserDir(port: number): string {
    const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kinesis-e2e-'));
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const pkg = require(path.join(repoRoot, 'package.json')) as { name: string };
    const parts = pkg.name.split('/');
    fs.mkdirSync(path.join(userDir, 'node_modules', ...parts.slice(0, -1)), { recursive: true });
    fs.symlinkSync(repoRoot, path.join(userDir, 'node_modules', ...parts), 'dir');
    fs.writeFileSync(path.join(userDir, 'package.json'), JSON.stringify({ name: 'kinesis-e2e', private: true, dependencies: { [pkg.name]: `file:${repoRoot}` } }));
    fs.writeFileSync(path.join(userDir, 'settings.js'), [
        'module.exports = {',
        "    flowFile: 'flows.json',",
        "    credentialSecret: 'e2e-tests-only',",
        "    uiHost: '127.0.0.1',",
        `    uiPort: ${port},`,
        `    fileWorkingDirectory: ${JSON.stringify(userDir)},`,
        '    debugMaxLength: 100000,',
        '    diagnostics: { enabled: false },',
        '    telemetry: { enabled: false },',
        '    editorTheme: { projects: { enabled: false }, tours: false },',
        "    logging: { console: { level: 'info', metrics: false, audit: false } },",
        '};',
        '',
    ].join('\n'));
    return userDir;
}

function redJs(): string {
    if (process.env.NODE_RED_PATH) {
        const dir = path.dirname(require.resolve(path.join(process.env.NODE_RED_PATH, 'package.json')));
        return path.join(dir, 'red.js');
    }
    return require.resolve('node-red/red.js');
}

/** HTTP helpers against a running Node-RED (admin and http-in share the port). */
export class AdminApi {
    constructor(readonly baseUrl: string) {}

    async request(method: string, urlPath: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: unknown; text: string }> {
        const res = await fetch(this.baseUrl + urlPath, {
            method,
            headers: { accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
            body: body !== undefined ? JSON.stringify(body) : undefined,
        });
        const text = await res.text();
        let parsed: unknown = text;
        try { parsed = text ? JSON.parse(text) : undefined; } catch (_) { /* not JSON */ }
        return { status: res.status, body: parsed, text };
    }

    /**
     * Deploy as the editor's Deploy button does: 'full' (replaces every flow), 'nodes' (Modified Nodes:
     * only changed nodes are stopped and started), 'flows' (Modified Flows).
     */
    async deploy(flows: FlowNode[], type: 'full' | 'nodes' | 'flows' = 'full'): Promise<void> {
        const r = await this.request('POST', '/flows', { flows }, { 'Node-RED-API-Version': 'v2', 'Node-RED-Deployment-Type': type });
        if (r.status !== 200) throw new Error(`deploy failed: HTTP ${r.status} ${r.text}`);
    }

    async inject(nodeId: string): Promise<void> {
        const r = await this.request('POST', `/inject/${encodeURIComponent(nodeId)}`);
        if (r.status !== 200) throw new Error(`inject ${nodeId} failed: HTTP ${r.status} ${r.text}`);
    }

    /** A context value as the Context sidebar shows it (memory store), decoded; undefined if unset. */
    async context(scope: 'global' | 'flow' | 'node', key: string, id?: string): Promise<unknown> {
        const p = scope === 'global' ? `/context/global/${encodeURIComponent(key)}` : `/context/${scope}/${encodeURIComponent(id || '')}/${encodeURIComponent(key)}`;
        const r = await this.request('GET', p);
        if (r.status !== 200) throw new Error(`context ${p}: HTTP ${r.status} ${r.text}`);
        // one context store: {msg, format}; several: {<store>: {msg, format}}
        const body = r.body as Record<string, unknown> | undefined;
        if (!body || typeof body !== 'object') return undefined;
        const v = ('msg' in body ? body : (body.memory || body.default || Object.values(body)[0])) as { msg?: string } | undefined;
        if (!v || v.msg === undefined) return undefined;
        return decodeDebug(v as Record<string, unknown>).msg;
    }

    /** Node types the runtime has loaded (from this package and core). */
    async types(): Promise<Set<string>> {
        const r = await this.request('GET', '/nodes');
        if (r.status !== 200) throw new Error(`GET /nodes: HTTP ${r.status}`);
        const sets = r.body as Array<{ types: string[]; enabled: boolean; err?: string }>;
        return new Set(sets.filter((s) => s.enabled && !s.err).flatMap((s) => s.types));
    }
}

/** A Node-RED process (red.js) started for the tests. */
export class NodeRedProcess extends AdminApi {
    readonly log: string[] = [];
    private exited: Promise<void>;

    private constructor(readonly child: ChildProcess, baseUrl: string, readonly userDir: string) {
        super(baseUrl);
        const keep = (chunk: Buffer): void => { this.log.push(...String(chunk).split('\n').filter(Boolean)); };
        child.stdout?.on('data', keep);
        child.stderr?.on('data', keep);
        this.exited = new Promise((r) => child.once('exit', () => r()));
    }

    /** Starts red.js on a free port; env defaults to this process's (the local stack's AWS env vars). */
    static async start(env: NodeJS.ProcessEnv = process.env): Promise<NodeRedProcess> {
        const port = await freePort();
        const userDir = makeUserDir(port);
        const child = spawn(process.execPath, [redJs(), '--userDir', userDir, '--settings', path.join(userDir, 'settings.js')], {
            cwd: userDir,
            env: { ...env },
            stdio: ['ignore', 'pipe', 'pipe'],
        });
        const red = new NodeRedProcess(child, `http://127.0.0.1:${port}`, userDir);
        await red.waitForLog(/Started flows|Starting flows|Server now running/, 60_000).catch((err) => { red.kill(); throw err; });
        await waitUntil('Node-RED admin API', async () => (await red.request('GET', '/settings')).status === 200, 30_000);
        return red;
    }

    /** Deploy (default full); resolves once the runtime has started the new flows (or is waiting for types). */
    override async deploy(flows: FlowNode[], type: 'full' | 'nodes' | 'flows' = 'full'): Promise<void> {
        const from = this.log.length;
        await super.deploy(flows, type);
        await this.waitForLog(/Started flows|Started modified (nodes|flows)|Waiting for missing types/, 60_000, from);
    }

    async waitForLog(re: RegExp, timeoutMs: number, from = 0): Promise<string> {
        return waitUntil(`Node-RED log ${re}`, () => this.log.slice(from).find((l) => re.test(l)) || (this.child.exitCode !== null ? Promise.reject(new Error(`Node-RED exited:\n${this.log.slice(-30).join('\n')}`)) : undefined), timeoutMs);
    }

    /** Log lines Node-RED wrote at error level since `from`. */
    errors(from = 0): string[] {
        return this.log.slice(from).filter((l) => /\[error\]/.test(l));
    }

    kill(): void {
        if (this.child.exitCode === null) this.child.kill('SIGKILL');
    }

    async stop(): Promise<void> {
        if (this.child.exitCode === null) {
            this.child.kill('SIGINT');
            const t = setTimeout(() => this.kill(), 20_000);
            await this.exited;
            clearTimeout(t);
        }
        fs.rmSync(this.userDir, { recursive: true, force: true });
    }
}

/** waitFor, except that a Node-RED that exited ends the wait at once. */
export function waitUntil<T>(what: string, check: () => T | undefined | null | false | Promise<T | undefined | null | false>, timeoutMs: number, everyMs = 100): Promise<T> {
    return waitFor(what, check, timeoutMs, everyMs, (err) => /Node-RED exited/.test((err as Error).message)) as Promise<T>;
}
