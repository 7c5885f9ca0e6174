/**
 * A real Node-RED runtime embedded in the benchmark process (the runtime API, no editor, no
 * node-red-node-test-helper: no sinon spies on send/log). This package is linked into the user
 * directory as `npm start` does; three bench-only node types come from a nodes directory written here:
 *   bench-source — the benchmark sends messages from it (`source(id).send(msg)`),
 *   bench-pass   — send(msg); done() (a hop of an unrelated flow),
 *   bench-sink   — hands each message and its done() to `onSink` (or calls done() itself).
 */
/* eslint-disable @typescript-eslint/no-var-requires, @typescript-eslint/no-explicit-any */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const { linkPackage } = require('../../../scripts/node-red-runner.js');

type SinkHandler = (msg: any, done: (err?: unknown) => void) => void;

interface BenchGlobals {
    sink?: SinkHandler;
    sources: Map<string, { send(msg: unknown): void }>;
}

const G: BenchGlobals = ((globalThis as any).__kinesisRedBench ??= { sources: new Map() });

const NODES_JS = `module.exports = function (RED) {
    const G = globalThis.__kinesisRedBench;
    function Source(cfg) { RED.nodes.createNode(this, cfg); G.sources.set(cfg.id, this); this.on('close', () => G.sources.delete(cfg.id)); }
    function Pass(cfg) { RED.nodes.createNode(this, cfg); this.on('input', (msg, send, done) => { send(msg); done(); }); }
    function Sink(cfg) { RED.nodes.createNode(this, cfg); this.on('input', (msg, send, done) => { if (G.sink) G.sink(msg, done); else done(); }); }
    RED.nodes.registerType('bench-source', Source);
    RED.nodes.registerType('bench-pass', Pass);
    RED.nodes.registerType('bench-sink', Sink);
};
`;
const NODES_HTML = ['bench-source', 'bench-pass', 'bench-sink']
    .map((t) => `<script type="text/javascript">RED.nodes.registerType('${t}',{category:'function',defaults:{},inputs:1,outputs:1,label:'${t}'});</script>`)
    .join('\n');

export interface EmbeddedRed {
    deploy(flows: unknown[]): Promise<void>;
    source(id: string): { send(msg: unknown): void };
    set onSink(fn: SinkHandler | undefined);
    /** Message hooks registered in the runtime now (by any module), e.g. ['preDeliver', 'onComplete']. */
    messageHooks(): string[];
    stop(): Promise<void>;
}

const MESSAGE_HOOKS = ['onSend', 'preRoute', 'preDeliver', 'postDeliver', 'onReceive', 'postReceive', 'onComplete'];

/** Starts Node-RED (NODE_RED_PATH = another Node-RED, e.g. the 5.0 lane) with `env` set first. */
export async function startRed(env: Record<string, string>): Promise<EmbeddedRed> {
    Object.assign(process.env, env);
    const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kinesis-bench-red-'));
    const nodesDir = path.join(userDir, 'bench-nodes');
    fs.mkdirSync(nodesDir);
    fs.writeFileSync(path.join(nodesDir, 'bench.js'), NODES_JS);
    fs.writeFileSync(path.join(nodesDir, 'bench.html'), NODES_HTML);
    linkPackage(userDir, path.resolve(__dirname, '../../..'));
    const RED = require(process.env.NODE_RED_PATH || 'node-red');
    RED.init({
        userDir,
        nodesDir: [nodesDir],
        flowFile: 'flows.json',
        credentialSecret: 'kinesis-bench',
        httpAdminRoot: false,
        httpNodeRoot: false,
        diagnostics: { enabled: false, ui: false },
        telemetry: { enabled: false, updateNotification: false },
        externalModules: { palette: { allowInstall: false } },
        logging: { console: { level: process.env.BENCH_RED_LOG || 'error', metrics: false, audit: false } },
    });
    await RED.start();
    return {
        /** Resolves once every node of the new flows exists (setFlows resolves before they are started). */
        async deploy(flows: unknown[]) {
            await RED.runtime.flows.setFlows({ flows: { flows }, deploymentType: 'full' });
            // catch / status / complete nodes are not looked up by id: wait for the others
            const ids = (flows as Array<{ id: string; type: string }>).filter((n) => !['tab', 'catch', 'status', 'complete'].includes(n.type)).map((n) => n.id);
            const deadline = Date.now() + 60_000;
            while (!ids.every((id) => RED.nodes.getNode(id))) {
                if (Date.now() > deadline) throw new Error(`flows not started: ${ids.filter((id) => !RED.nodes.getNode(id)).join(', ')}`);
                await new Promise((r) => setTimeout(r, 10));
            }
        },
        source(id: string) {
            const s = G.sources.get(id);
            if (!s) throw new Error(`bench-source ${id} is not deployed`);
            return s;
        },
        set onSink(fn: SinkHandler | undefined) {
            G.sink = fn;
        },
        messageHooks() {
            return MESSAGE_HOOKS.filter((h) => RED.hooks?.has?.(h));
        },
        async stop() {
            await RED.runtime.flows.setFlows({ flows: { flows: [] }, deploymentType: 'full' }).catch(() => undefined);
            await RED.stop();
            fs.rmSync(userDir, { recursive: true, force: true });
        },
    };
}

/** A kinesis-config node that takes region, endpoints and keys from the standard AWS variables. */
export function configNode(id = 'cfg'): Record<string, unknown> {
    return { id, type: 'kinesis-config', name: 'bench', region: '', kinesisEndpoint: '', dynamodbEndpoint: '', credentialMode: 'chain' };
}

/**
 * Puts every node of `nodes` on one tab (regular nodes need one; config nodes may sit there too).
 * Nodes with `wires` and catch/status/complete nodes get x/y: Node-RED takes a node without them for a
 * config node (a catch node then never starts — and one with id 'catch' is "circular": its type names itself).
 */
export function onTab(nodes: Array<Record<string, unknown>>, tab = 'bench-tab'): unknown[] {
    const placed = (n: Record<string, unknown>) => 'wires' in n || ['catch', 'status', 'complete'].includes(String(n.type));
    return [{ id: tab, type: 'tab', label: 'bench' }, ...nodes.map((n, i) => ({ ...n, z: tab, ...(placed(n) && !('x' in n) ? { x: 100 + 10 * i, y: 100 } : {}) }))];
}

/**
 * Sends `n` messages from bench-source `src` (or `o.source`) with at most `window` not yet at the sink (a flow upstream
 * that waits for the output), until all `n` reached bench-sink (directly or through a catch node wired to
 * it: a message with `msg.error` counts as failed, and any failure fails the pump). The window is
 * refilled in steps of window/20 (one wake-up per step, not per message), and one timer watches for
 * progress (no timer or Promise per message: the pump's own cost stays out of the node's figures).
 * Rejects when no message reached the sink for `timeoutMs`.
 */
export async function pump(red: EmbeddedRed, o: { n: number; window: number; message(i: number): unknown; what: string; timeoutMs: number; source?: string }): Promise<void> {
    const step = Math.max(1, Math.floor(o.window / 20));
    let got = 0;
    let failed = 0;
    let target = Infinity;
    let wake: (() => void) | undefined;
    let fail: ((err: Error) => void) | undefined;
    red.onSink = (msg, done) => {
        done();
        if (msg?.error) failed++;
        got++;
        if (got >= target && wake) {
            const w = wake;
            wake = undefined;
            w();
        }
    };
    let seen = -1;
    let lastProgress = Date.now();
    const watch = setInterval(() => {
        if (got !== seen) {
            seen = got;
            lastProgress = Date.now();
        } else if (Date.now() - lastProgress > o.timeoutMs && fail) {
            fail(new Error(`benchmark stalled: ${o.what} after ${o.timeoutMs / 1000} s`));
        }
    }, Math.min(1000, o.timeoutMs));
    /** Resolves once `got` ≥ `until`. */
    const waitFor = (until: number) => new Promise<void>((resolve, reject) => {
        if (got >= until) return resolve();
        target = until;
        wake = resolve;
        fail = reject;
    });
    try {
        const src = red.source(o.source ?? 'src');
        for (let i = 0; i < o.n; i++) {
            if (i - got >= o.window) await waitFor(Math.min(o.n, i - o.window + step));
            src.send(o.message(i));
        }
        await waitFor(o.n);
    } finally {
        clearInterval(watch);
        red.onSink = undefined;
    }
    if (failed) throw new Error(`${o.what}: ${failed} of ${o.n} messages failed`);
}
