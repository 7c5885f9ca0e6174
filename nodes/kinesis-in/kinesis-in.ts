/**
 * `kinesis-in`: thin glue over lib/consumer. One message per record (or per batch); the checkpoint
 * only moves over records the flow has finished.
 *
 * checkpointMode 'complete' (default): a record is finished when no copy of its message is on its way
 * or inside a node: Node-RED's message hooks — preDeliver (on its way to a node), onReceive (received, also the
 * receives that are not sends: link in, catch, complete nodes), onComplete (`done()`), postReceive for
 * nodes without `done` (pre-1.0 style: completed when their handler returns). A node that sends a new
 * message object with a new _msgid ends the tracking there. `done(err)` anywhere (reaching Catch nodes)
 * marks the record failed: the shard's checkpoint stays before it (it is delivered again after a
 * restart or on the next
 * worker). checkpointMode 'sent': finished as soon as it is sent.
 */
import type { NodeAPI, Node, NodeDef, NodeMessage } from 'node-red';
import { randomBytes } from 'node:crypto';
import { KinesisConsumer, ConsumerRecord, DoneCallback, ConsumerOptions, resolveWorkerId, parseTimestamp } from '../../lib/consumer/consumer';
import type { InitialPosition } from '../../lib/consumer/shard-sync';
import { KinesisConfigNode, STATUS, compactNumber, shortStatus } from '../shared/types';
import { opsDeregister, opsRegister, registerOpsRoutes } from './ops';

interface KinesisInDef extends NodeDef {
    config: string;
    streamName?: string;
    applicationName?: string;
    initialPosition?: 'LATEST' | 'TRIM_HORIZON' | 'AT_TIMESTAMP';
    timestamp?: string;
    timestampType?: 'str' | 'num' | 'env';
    readMode?: 'polling' | 'efo';
    consumerName?: string;
    maxRecords?: number | string;
    idleTimeMs?: number | string;
    payloadFormat?: 'buffer' | 'string' | 'json';
    outputMode?: 'record' | 'batch';
    checkpointMode?: 'complete' | 'sent';
    checkpointIntervalMs?: number | string;
    checkpointEveryRecords?: number | string;
    maxInFlight?: number | string;
    ordered?: boolean;
    workerId?: string;
    failoverTimeMs?: number | string;
    renewIntervalMs?: number | string;
    takerIntervalMs?: number | string;
    shardSyncIntervalMs?: number | string;
    drainTimeoutMs?: number | string;
    gracefulHandOff?: boolean;
}

/**
 * Where the copies of one record's message are: `transit` = sent to these node ids, not yet received;
 * `active` = received by these node ids, not yet completed. Finished when both are empty.
 */
interface Track {
    transit: string[];
    active: string[];
    done: DoneCallback;
    error?: unknown;
}

interface HookEvent {
    msg?: { _msgid?: string };
    error?: unknown;
    node?: { id?: string };
    destination?: { id?: string; node?: { _expectedDoneCount?: number } };
}

function removeOne(list: string[], id: string | undefined): boolean {
    if (id === undefined) return false;
    const i = list.indexOf(id);
    if (i < 0) return false;
    if (i === list.length - 1) list.pop();
    else list.splice(i, 1);
    return true;
}

interface Hooks {
    add(name: string, fn: (ev: unknown) => unknown): void;
    remove(name: string): void;
}

function num(v: number | string | undefined, dflt: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
    if (v === undefined || v === null || v === '') return dflt;
    const n = Number(v);
    if (!Number.isFinite(n)) return dflt;
    return Math.min(max, Math.max(min, Math.round(n)));
}

/**
 * Node-RED's message hooks: RED.hooks (Node-RED ≥ 2); where an embedding runtime leaves it out (the
 * test helper's mock runtime), the hooks module the running runtime has loaded.
 */
function findHooks(RED: NodeAPI): Hooks | undefined {
    const h = (RED as unknown as { hooks?: Hooks }).hooks;
    if (h && typeof h.add === 'function') return h;
    // the @node-red/util whose `util` is this runtime's RED.util (there may be several Node-REDs loaded)
    const util = (RED as unknown as { util?: unknown }).util;
    for (const key of Object.keys(require.cache)) {
        if (!/[\\/]@node-red[\\/]util[\\/]index\.js$/.test(key)) continue;
        const m = require.cache[key]?.exports as { util?: unknown; hooks?: Hooks } | undefined;
        if (m && m.util === util && m.hooks && typeof m.hooks.add === 'function') return m.hooks;
    }
    return undefined;
}

export = function (RED: NodeAPI): void {
    function KinesisIn(this: Node, def: KinesisInDef) {
        RED.nodes.createNode(this, def);
        const node = this;
        const config = RED.nodes.getNode(def.config) as KinesisConfigNode | null;
        const streamName = (def.streamName ?? '').trim();
        const tableName = (def.applicationName ?? '').trim() || streamName.replace(/^arn:.*:stream\//, '');
        const payloadFormat = def.payloadFormat ?? 'buffer';
        const batchMode = def.outputMode === 'batch';
        const whenSent = def.checkpointMode === 'sent';
        const hooks = findHooks(RED);
        const tracking = new Map<string, Track>();
        const hookLabel = `kinesisIn${node.id.replace(/[^A-Za-z0-9]/g, '')}`;
        let consumer: KinesisConsumer | undefined;
        let statusTimer: NodeJS.Timeout | undefined;
        let lastErrorText = '';
        let errorStatus: { text: string; at: number } | undefined;
        let warnStatus: { text: string; at: number } | undefined;
        let closing = false;

        const fail = (text: string) => {
            node.error(text);
            node.status(STATUS.error(shortStatus(text)));
        };
        if (!config) return fail(RED._('kinesis-in.errors.noConfig'));
        if (!streamName) return fail(RED._('kinesis-in.errors.noStream'));

        let initialPosition: InitialPosition = { type: 'LATEST' };
        if (def.initialPosition === 'TRIM_HORIZON') initialPosition = { type: 'TRIM_HORIZON' };
        else if (def.initialPosition === 'AT_TIMESTAMP') {
            let raw: unknown = def.timestamp;
            try {
                raw = RED.util.evaluateNodeProperty(def.timestamp ?? '', def.timestampType ?? 'str', node, {} as NodeMessage);
            } catch {
                /* keep the raw text */
            }
            const ts = parseTimestamp(raw);
            if (!ts) return fail(RED._('kinesis-in.errors.badTimestamp', { value: String(raw ?? '') }));
            initialPosition = { type: 'AT_TIMESTAMP', timestamp: ts };
        }

        // worker id: `${NAME}` parts from the node's env (flow, group, global) or the process environment
        const workerId = resolveWorkerId(def.workerId, (name) =>
            typeof RED.util.getSetting === 'function' ? RED.util.getSetting(node, name) : process.env[name],
        );
        if ('error' in workerId) return fail(workerId.error);

        let clients;
        try {
            clients = config.getClients();
        } catch (err) {
            return fail((err as Error).message);
        }
        config.register(node);

        // name the resource the failed call was about (explain() picks the endpoint and wording by it)
        const explainCtx = (action: string) => (action.startsWith('dynamodb:') ? { action, tableName } : { action, streamName });

        // ---- completion tracking through Node-RED's message hooks ----
        // (the hooks see every message of the runtime: they return at once for messages not tracked here)
        const tracked = (ev: unknown): { e: HookEvent; id: string; t: Track } | undefined => {
            const e = ev as HookEvent;
            const id = e.msg?._msgid;
            const t = id === undefined ? undefined : tracking.get(id);
            return t ? { e, id: id as string, t } : undefined;
        };
        /** Finishes the record once no node holds its message and none is about to receive it. */
        const finishIfIdle = (id: string, t: Track) => {
            if (t.active.length > 0 || t.transit.length > 0) return;
            tracking.delete(id);
            t.done(t.error);
        };
        if (!whenSent && !hooks) node.warn(RED._('kinesis-in.warn.noHooks'));
        if (!whenSent && hooks) {
            // preDeliver, not onSend: only deliveries to nodes that exist (a wire to a disabled node is not one)
            hooks.add(`preDeliver.${hookLabel}`, (ev: unknown) => {
                const r = tracked(ev);
                const to = r?.e.destination?.id;
                if (r && to !== undefined) r.t.transit.push(to);
            });
            // every receive counts, also those not made by a send (link in, catch, complete nodes)
            hooks.add(`onReceive.${hookLabel}`, (ev: unknown) => {
                const r = tracked(ev);
                const at = r?.e.destination?.id;
                if (!r || at === undefined) return;
                removeOne(r.t.transit, at);
                r.t.active.push(at);
            });
            // a node whose input handler takes no `done` (a pre-1.0 style node) never completes a
            // message: it counts as completed when its handler returned
            hooks.add(`postReceive.${hookLabel}`, (ev: unknown) => {
                if ((ev as HookEvent).destination?.node?._expectedDoneCount !== 0) return;
                const r = tracked(ev);
                if (r && removeOne(r.t.active, r.e.destination?.id)) finishIfIdle(r.id, r.t);
            });
            hooks.add(`onComplete.${hookLabel}`, (ev: unknown) => {
                const r = tracked(ev);
                if (!r) return;
                if (r.e.error && r.t.error === undefined) r.t.error = r.e.error;
                if (removeOne(r.t.active, r.e.node?.id)) finishIfIdle(r.id, r.t);
            });
        }

        const send = (msg: NodeMessage & { _msgid: string }, done: DoneCallback) => {
            if (whenSent || !hooks) {
                node.send(msg);
                done();
                return;
            }
            const t: Track = { transit: [], active: [], done };
            tracking.set(msg._msgid, t);
            node.send(msg);
            // nothing wired: finished at once
            if (tracking.get(msg._msgid) === t) finishIfIdle(msg._msgid, t);
        };

        // message ids: a random prefix per node + a counter (cheaper than a crypto id per record)
        const idPrefix = randomBytes(4).toString('hex');
        let idCounter = 0;
        const nextId = () => idPrefix + (++idCounter >>> 0).toString(16).padStart(8, '0');

        let parseWarnings = 0;
        const payloadOf = (r: ConsumerRecord, meta: Record<string, unknown>): unknown => {
            if (payloadFormat === 'buffer') return r.data;
            const text = r.data.toString('utf8');
            if (payloadFormat === 'string') return text;
            try {
                return JSON.parse(text);
            } catch (err) {
                // not lost: sent as the UTF-8 text, with the reason in msg.kinesis.parseError
                meta.parseError = (err as Error).message;
                if (parseWarnings++ % 1000 === 0) {
                    node.warn(RED._('kinesis-in.warn.notJson', { shardId: r.shardId, sequenceNumber: r.sequenceNumber, error: (err as Error).message }));
                }
                return text;
            }
        };

        const metaOf = (r: ConsumerRecord): Record<string, unknown> => ({
            streamName,
            shardId: r.shardId,
            sequenceNumber: r.sequenceNumber,
            subSequenceNumber: r.subSequenceNumber,
            partitionKey: r.partitionKey,
            approximateArrivalTimestamp: r.approximateArrivalTimestamp ? r.approximateArrivalTimestamp.getTime() : undefined,
            millisBehindLatest: r.millisBehindLatest,
        });

        const onRecord = (r: ConsumerRecord, done: DoneCallback) => {
            const kinesis = metaOf(r);
            const payload = payloadOf(r, kinesis);
            if (r.explicitHashKey) kinesis.explicitHashKey = r.explicitHashKey;
            send({ _msgid: nextId(), payload, topic: r.partitionKey, kinesis } as NodeMessage & { _msgid: string }, done);
        };

        const onBatch = (records: ConsumerRecord[], done: DoneCallback) => {
            const metas = records.map(metaOf);
            const payload = records.map((r, i) => payloadOf(r, metas[i]));
            const first = records[0];
            const kinesis = {
                streamName,
                shardId: first.shardId,
                millisBehindLatest: records[records.length - 1].millisBehindLatest,
                records: metas,
            };
            send({ _msgid: nextId(), payload, topic: first.shardId, kinesis } as unknown as NodeMessage & { _msgid: string }, done);
        };

        const failover = num(def.failoverTimeMs, 10_000, 500);
        const opts: ConsumerOptions = {
            kinesis: clients.kinesis,
            dynamodb: clients.dynamodb,
            streamName,
            tableName,
            workerId: workerId.id,
            initialPosition,
            readMode: def.readMode === 'efo' ? 'efo' : 'polling',
            consumerName: (def.consumerName ?? '').trim() || tableName,
            maxRecords: num(def.maxRecords, 10_000, 1, 10_000),
            idleTimeMs: num(def.idleTimeMs, 1000, 0),
            maxInFlight: num(def.maxInFlight, 1000, 1),
            ordered: def.ordered === true || (def.ordered as unknown) === 'true',
            outputMode: batchMode ? 'batch' : 'record',
            onRecord,
            onBatch,
            checkpointIntervalMs: num(def.checkpointIntervalMs, 5000, 100),
            checkpointEveryRecords: num(def.checkpointEveryRecords, 10_000, 0),
            failoverTimeMs: failover,
            renewIntervalMs: def.renewIntervalMs ? num(def.renewIntervalMs, 0, 50) : undefined,
            takerIntervalMs: def.takerIntervalMs ? num(def.takerIntervalMs, 0, 100) : undefined,
            shardSyncIntervalMs: num(def.shardSyncIntervalMs, 60_000, 500),
            drainTimeoutMs: num(def.drainTimeoutMs, 5000, 0, 12_000),
            gracefulHandOff: def.gracefulHandOff !== false,
            onError: (err, ctx) => {
                const ex = config.explain(err, explainCtx(ctx.action));
                errorStatus = { text: ex.status, at: Date.now() };
                if (ex.message !== lastErrorText) {
                    lastErrorText = ex.message;
                    node.error(ctx.shardId ? `${ctx.shardId}: ${ex.message}` : ex.message);
                }
                updateStatus();
            },
            onWarning: (message, err) => {
                warnStatus = { text: message.replace(/^shardId-0*/, '#'), at: Date.now() };
                if (err) node.debug?.(`${message}: ${(err as Error).message ?? err}`);
            },
            onEvent: (e) => {
                if (e.type === 'running') {
                    errorStatus = undefined;
                    lastErrorText = '';
                    updateStatus();
                } else if (e.type === 'duplicateWorkerId' && errorStatus) {
                    errorStatus.at = Number.POSITIVE_INFINITY; // a misconfiguration: the status stays red until a redeploy
                    updateStatus();
                } else if (e.type === 'failed') {
                    node.warn(RED._('kinesis-in.warn.held', { shardId: e.shardId, sequenceNumber: e.sequenceNumber }));
                }
            },
        };

        let lastCount = 0;
        let lastAt = Date.now();
        let progressAt = Date.now();
        let lastText = '';
        function updateStatus() {
            if (!consumer || closing) return;
            const m = consumer.metrics();
            const now = Date.now();
            const rate = ((m.delivered - lastCount) * 1000) / Math.max(1, now - lastAt);
            if (m.delivered !== lastCount || m.inFlight === 0) progressAt = now;
            lastCount = m.delivered;
            lastAt = now;
            let status;
            if (errorStatus && (m.state !== 'running' || now - errorStatus.at < 30_000)) {
                status = STATUS.error(shortStatus(errorStatus.text));
            } else if (m.state === 'starting') {
                status = STATUS.busy(RED._('kinesis-in.status.starting'));
            } else {
                const parts = [RED._(m.shards === 1 ? 'kinesis-in.status.shard' : 'kinesis-in.status.shards', { count: m.shards }), `${compactNumber(rate)}/s`];
                if (m.lagMs !== undefined) parts.push(`lag ${m.lagMs < 10_000 ? (m.lagMs / 1000).toFixed(1) : Math.round(m.lagMs / 1000)}s`);
                const text = parts.join(' · ');
                if (m.inFlight > 0 && now - progressAt > 30_000) {
                    // records sent long ago and never completed: a node in the flow does not call done()
                    status = STATUS.warn(shortStatus(RED._('kinesis-in.status.waiting', { count: m.inFlight }), 40));
                } else if (m.failedShards > 0) status = STATUS.warn(shortStatus(`${text} · ${RED._('kinesis-in.status.held')}`, 40));
                else if (warnStatus && now - warnStatus.at < 10_000) status = STATUS.warn(shortStatus(`${text} · ${warnStatus.text}`, 40));
                else if (m.lagMs !== undefined && m.lagMs > 60_000) status = STATUS.warn(text);
                else if (m.shards === 0) status = STATUS.idle(text);
                else status = STATUS.ok(text);
            }
            const key = `${status.fill}|${status.text}`;
            if (key !== lastText) {
                lastText = key;
                node.status(status);
            }
        }

        try {
            consumer = new KinesisConsumer(opts);
        } catch (err) {
            return fail((err as Error).message);
        }
        node.status(STATUS.busy(RED._('kinesis-in.status.starting')));
        consumer.start().catch((err) => opts.onError?.(err, { action: 'kinesis:DescribeStreamSummary' }));
        statusTimer = setInterval(updateStatus, 1000);
        opsRegister(RED, node, config, clients.dynamodb, consumer, { tableName, streamName });

        node.on('close', (_removed: boolean, done: () => void) => {
            closing = true;
            if (statusTimer) clearInterval(statusTimer);
            opsDeregister(node);
            const c = consumer;
            consumer = undefined;
            let finished = false;
            const finish = () => {
                if (finished) return;
                finished = true;
                if (hooks && !whenSent) {
                    hooks.remove(`preDeliver.${hookLabel}`);
                    hooks.remove(`onComplete.${hookLabel}`);
                    hooks.remove(`postReceive.${hookLabel}`);
                    hooks.remove(`onReceive.${hookLabel}`);
                }
                tracking.clear();
                config.deregister(node);
                node.status(STATUS.clear());
                done();
            };
            if (!c) return finish();
            // stays well inside Node-RED's 15 s: drain ≤ drainTimeoutMs, then checkpoint + release
            const guard = setTimeout(finish, 14_000);
            c.stop({ timeoutMs: opts.drainTimeoutMs })
                .catch((err) => node.warn(config.explain(err, explainCtx('dynamodb:UpdateItem')).message))
                .finally(() => {
                    clearTimeout(guard);
                    finish();
                });
        });
    }

    RED.nodes.registerType('kinesis-in', KinesisIn as unknown as Parameters<NodeAPI['nodes']['registerType']>[1]);
    registerOpsRoutes(RED);
};
