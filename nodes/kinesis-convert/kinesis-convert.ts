/**
 * `kinesis-convert`: ThingsBoard uplink (decoder) and downlink (encoder) scripts in a sandbox.
 * Thin glue around lib/convert: micro-batches the messages that arrive together (batcher.ts: one runner
 * round trip per batch, outputs in input order, bounded), keeps the optional device registry in context,
 * routes failures. The editor's endpoints are in editor-api.ts.
 */
import type { NodeAPI, Node, NodeDef, NodeMessage, NodeMessageInFlow } from 'node-red';
import {
    Converter,
    ConvertError,
    ConverterConfig,
    MetadataPair,
    UplinkEntity,
    UplinkOutcome,
    DownlinkOutcome,
    DownlinkRecord,
    Registry,
    applyToRegistry,
    checkKnown,
    entityName,
    DEFAULT_MEMORY_LIMIT_MB,
} from '../../lib/convert';
import { clipText } from '../../lib/aws/errors';
import { STATUS, shortStatus, compactNumber } from '../shared/types';
import { MicroBatcher, payloadBytes } from './batcher';
import { BatchResult, RecordBatchJoin, recordBatchOf } from './record-batch';
import { LastInput, registerEditorApi } from './editor-api';
import { isolationFor } from './isolation';

interface ConvertDef extends NodeDef {
    direction?: 'uplink' | 'downlink';
    scriptLang?: 'JS' | 'TBEL';
    script?: string;
    metadata?: MetadataPair[];
    integrationName?: string;
    updateOnlyKeys?: string[] | string;
    registry?: 'none' | 'flow' | 'global';
    allowCreate?: boolean;
    timeoutMs?: number | string;
    outputs?: number | string;
    maxBatch?: number | string;
    memoryLimitMb?: number | string;
    maxQueue?: number | string;
    maxQueueMb?: number | string;
}

type Send = (msg: NodeMessage | Array<NodeMessage | NodeMessage[] | null>) => void;
type Done = (err?: Error) => void;

interface Pending {
    msg: NodeMessageInFlow & Record<string, unknown>;
    send: Send;
    done: Done;
    /** A record of a record batch (`msg` is then `{payload, kinesis}` of that record): its outcome goes to the join. */
    join?: RecordBatchJoin<Pending>;
    index?: number;
}

/** What a record of a record batch does not call: its outcome goes to the batch's join. */
const NOT_SENT: Send = () => undefined;
const NOT_DONE: Done = () => undefined;

function keysOf(v: unknown): string[] {
    if (Array.isArray(v)) return v.map(String).map((s) => s.trim()).filter(Boolean);
    if (typeof v === 'string') return v.split(',').map((s) => s.trim()).filter(Boolean);
    return [];
}

/**
 * Most messages per batch (the engine's adaptive `maxBatch` may be lower). Converter.uplink sends a batch to
 * the runner in parts of 1024 (one round trip each) and resolves when the last part is done: a larger batch
 * saves no round trip, it only holds back the first parts' outputs (and the upstream window they free) while
 * the runner works on the rest. 1024 keeps the runner converting one batch while this side sends the last.
 */
const MAX_FLUSH = 1024;
/** Messages accepted and not yet finished (queued or in a batch in flight), and their payload bytes. */
const MAX_QUEUE = 100_000;
const MAX_QUEUE_MB = 64;

function positive(v: unknown, dflt: number): number {
    const n = Number(v);
    return Number.isFinite(n) && n > 0 ? n : dflt;
}

export = function (RED: NodeAPI): void {
    const lastSeen = new Map<string, LastInput>();
    const isolation = isolationFor(RED);

    function KinesisConvert(this: Node, def: ConvertDef) {
        RED.nodes.createNode(this, def);
        const node = this;
        const direction = def.direction === 'downlink' ? 'downlink' : 'uplink';
        const twoOutputs = Number(def.outputs) === 2;
        const registryScope = def.registry === 'flow' || def.registry === 'global' ? def.registry : 'none';
        const allowCreate = def.allowCreate !== false;

        let converter: Converter | undefined;
        let compileError: ConvertError | undefined;
        let closing = false;
        const cfg: ConverterConfig = {
            direction,
            scriptLang: def.scriptLang === 'TBEL' ? 'TBEL' : 'JS',
            script: def.script ?? '',
            metadata: def.metadata ?? [],
            integrationName: def.integrationName || def.name || 'Node-RED',
            updateOnlyKeys: keysOf(def.updateOnlyKeys),
            // the engine keeps both within their ranges (Timeout 1–60000 ms, Memory limit 16–4096 MB)
            timeoutMs: positive(def.timeoutMs, 1000),
            maxBatch: positive(def.maxBatch, 4096),
            memoryLimitMb: positive(def.memoryLimitMb, DEFAULT_MEMORY_LIMIT_MB),
            network: isolation.options,
        };
        /** settings.js requires network isolation and this host has none: no runner starts, every message fails. */
        let noIsolation = false;
        const onCompileError = (e: unknown) => {
            compileError = e instanceof ConvertError ? e : new ConvertError('compile', String((e as Error)?.message ?? e));
            if (noIsolation) {
                node.error(compileError.message);
                node.status(STATUS.error(RED._('kinesis-convert.status.noIsolation')));
            } else if (compileError.kind !== 'compile') {
                node.error(RED._('kinesis-convert.errors.notStarted', { error: compileError.message }));
                node.status(STATUS.error(RED._('kinesis-convert.status.notStarted')));
            } else {
                node.error(RED._('kinesis-convert.errors.compile', { error: compileError.message }));
                node.status(STATUS.error(shortStatus(compileError.line ? RED._('kinesis-convert.status.compileAt', { line: compileError.line }) : RED._('kinesis-convert.status.compile'))));
            }
        };
        // The script is checked here (guard), then compiled in its runner process: messages wait for that.
        // The runner's network isolation is probed first (once per Node-RED process); required and missing = no runner.
        let ready: Promise<void> = Promise.resolve();
        try {
            const c = new Converter(cfg);
            ready = isolation.check().then((iso) => {
                if (!iso.isolated && isolation.options.required) {
                    noIsolation = true;
                    throw new ConvertError('sandbox', RED._('kinesis-convert.errors.isolationRefused', { reason: iso.reason ?? '' }));
                }
                return c.start();
            }).then(
                () => {
                    // kept even when closing: the messages queued meanwhile convert, then close() stops it
                    converter = c;
                    c.onIncident = onIncident;
                    if (!closing) node.status(STATUS.idle(RED._('kinesis-convert.status.ready')));
                },
                (e) => {
                    c.close();
                    onCompileError(e);
                },
            );
        } catch (e) {
            onCompileError(e);
        }

        // ---- counters, status, failure reporting (rate-limited) ----
        let converted = 0;
        let failed = 0;
        let consecutiveFailures = 0;
        let lastStatusAt = 0;
        let lastWarnAt = 0;
        let failedSinceWarn = 0;
        let lastError: ConvertError | undefined;
        /** The status changed colour (first failure, first success after failures): shown at the batch's end. */
        let statusDirty = false;
        const updateStatus = (force = false) => {
            const now = Date.now();
            if (!force && now - lastStatusAt < 1000) return;
            lastStatusAt = now;
            if (noIsolation) {
                // the reason stays in view: no message can convert until settings.js or the host changes
                node.status(STATUS.error(shortStatus(`${RED._('kinesis-convert.status.noIsolation')} (${compactNumber(failed)})`)));
            } else if (consecutiveFailures > 0 && lastError) {
                const where = lastError.line ? RED._('kinesis-convert.status.failingAt', { line: lastError.line }) : RED._('kinesis-convert.status.failing');
                node.status(STATUS.error(shortStatus(`${where} (${compactNumber(failed)})`)));
            } else {
                node.status(STATUS.ok(shortStatus(RED._('kinesis-convert.status.converted', { count: compactNumber(converted) }))));
            }
        };
        const onFailure = (err: ConvertError) => {
            failed++;
            consecutiveFailures++;
            failedSinceWarn++;
            lastError = err;
            if (consecutiveFailures === 1) statusDirty = true;
            if (consecutiveFailures >= 10) {
                const now = Date.now();
                if (now - lastWarnAt > 30_000) {
                    lastWarnAt = now;
                    node.warn(RED._('kinesis-convert.errors.keepsFailing', { count: failedSinceWarn, error: clipText(err.message) }));
                    failedSinceWarn = 0;
                }
            }
        };
        /** Once per batch (and per message failed outside a batch): at most one status per second unless it changed colour. */
        const endOfBatch = () => {
            const force = statusDirty;
            statusDirty = false;
            updateStatus(force);
        };
        // Runner kills (a call the vm timeout could not stop, memory, crash): a warning at most every 30 s.
        let lastIncidentAt = 0;
        let incidentsSinceWarn = 0;
        const onIncident = (i: { kind: string; message: string }) => {
            incidentsSinceWarn++;
            const now = Date.now();
            if (now - lastIncidentAt < 30_000) return;
            lastIncidentAt = now;
            node.warn(RED._('kinesis-convert.errors.runnerRestarted', { count: incidentsSinceWarn, error: clipText(i.message) }));
            incidentsSinceWarn = 0;
        };
        const onSuccess = () => {
            converted++;
            if (consecutiveFailures) {
                consecutiveFailures = 0;
                statusDirty = true;
            }
        };

        const fail = (p: Pending, err: ConvertError) => {
            onFailure(err);
            if (p.join) return p.join.failed(p.index!, err);
            if (twoOutputs) {
                p.msg.error = { ...err.toJSON(), source: { id: node.id, type: node.type, name: node.name } };
                p.send([null, p.msg]);
                p.done();
            } else {
                p.done(err);
            }
        };

        // ---- registry in context ----
        const store = () => (registryScope === 'flow' ? node.context().flow : node.context().global);
        const ctxGet = (key: string) =>
            new Promise<Registry>((resolve, reject) =>
                store().get(key, (err: Error | undefined, v: unknown) => (err ? reject(err) : resolve(v && typeof v === 'object' ? (v as Registry) : {}))),
            );
        const ctxSet = (key: string, v: Registry) =>
            new Promise<void>((resolve, reject) => store().set(key, v, (err?: Error) => (err ? reject(err) : resolve())));

        // ---- uplink: outcomes → registry → one message per entity ----
        const sendEntities = (p: Pending, entities: UplinkEntity[]) => {
            onSuccess();
            if (p.join) return p.join.ok(p.index!, entities);
            if (!entities.length) return p.done();
            if (entities.length === 1) {
                const m = p.msg as NodeMessage;
                m.payload = entities[0];
                m.topic = entityName(entities[0]);
                p.send(twoOutputs ? [m, null] : m); // a single message: Node-RED's fast path
                return p.done();
            }
            const out: NodeMessage[] = new Array(entities.length);
            for (let k = 0; k < entities.length; k++) {
                const m = (k === 0 ? p.msg : RED.util.cloneMessage({ ...p.msg, payload: undefined })) as NodeMessage;
                m.payload = entities[k];
                m.topic = entityName(entities[k]);
                out[k] = m;
            }
            p.send(twoOutputs ? [out, null] : [out]);
            p.done();
        };
        const processUplink = async (batch: Pending[], started: Promise<{ o: UplinkOutcome[]; now: number }>) => {
            const { o: outcomes, now } = await started;
            if (registryScope === 'none') {
                for (let i = 0; i < batch.length; i++) {
                    const o = outcomes[i];
                    if (o.error) fail(batch[i], o.error);
                    else sendEntities(batch[i], o.entities ?? []);
                }
                return;
            }
            let reg: { devices: Registry; assets: Registry } | undefined;
            if (outcomes.some((o) => o.entities && o.entities.length)) {
                try {
                    reg = { devices: await ctxGet('devices'), assets: await ctxGet('assets') };
                } catch (e) {
                    const err = new ConvertError('registry', RED._('kinesis-convert.errors.registry', { error: (e as Error).message }));
                    batch.forEach((p, i) => fail(p, outcomes[i].error ?? err));
                    return;
                }
            }
            const errors: Array<ConvertError | undefined> = new Array(batch.length);
            if (reg) {
                for (let i = 0; i < batch.length; i++) {
                    const o = outcomes[i];
                    if (o.error) continue;
                    try {
                        for (const e of o.entities ?? []) checkKnown(reg, e, allowCreate);
                        for (const e of o.entities ?? []) applyToRegistry(reg, e, now, allowCreate);
                    } catch (e) {
                        errors[i] = new ConvertError('registry', (e as Error).message);
                    }
                }
                try {
                    await ctxSet('devices', reg.devices);
                    await ctxSet('assets', reg.assets);
                } catch (e) {
                    node.warn(RED._('kinesis-convert.errors.registry', { error: (e as Error).message }));
                }
            }
            for (let i = 0; i < batch.length; i++) {
                const err = outcomes[i].error ?? errors[i];
                if (err) fail(batch[i], err);
                else sendEntities(batch[i], outcomes[i].entities ?? []);
            }
        };

        // ---- record batches (kinesis-in's batch output): one message out per batch message in ----
        const finishRecordBatch = (join: RecordBatchJoin<Pending>, r: BatchResult) => {
            const p = join.parent;
            const msg = p.msg as NodeMessage & Record<string, unknown>;
            if (!r.failed) {
                if (!r.entities.length) return p.done();
                msg.payload = r.entities;
                p.send(twoOutputs ? [msg, null] : msg);
                return p.done();
            }
            // the converted ones go out in a message of their own; the original message keeps only the failed records
            const { index, errors, summary } = r.failed;
            let ok: NodeMessage | null = null;
            if (r.entities.length) {
                ok = RED.util.cloneMessage({ ...msg, payload: undefined }) as NodeMessage;
                ok.payload = r.entities;
            }
            const payloads = msg.payload as unknown[];
            const kinesis = msg.kinesis as Record<string, unknown> & { records: unknown[] };
            msg.payload = index.map((i) => payloads[i]);
            msg.kinesis = { ...kinesis, records: index.map((i) => kinesis.records[i]) };
            msg.errors = errors.map((e, k) => ({ index: index[k], ...e.toJSON() }));
            if (twoOutputs) {
                msg.error = { ...summary.toJSON(), source: { id: node.id, type: node.type, name: node.name } };
                p.send([ok, msg]);
                p.done();
            } else {
                if (ok) p.send(ok);
                p.done(summary);
            }
        };
        /** Queues every record of a record batch (all or none); false when the queue has no room for them. */
        const pushRecordBatch = (p: Pending, payloads: unknown[], records: unknown[]): boolean => {
            const join = new RecordBatchJoin<Pending>(p, payloads.length, finishRecordBatch);
            const parts: Pending[] = new Array(payloads.length);
            const bytes: number[] = new Array(payloads.length);
            for (let i = 0; i < payloads.length; i++) {
                const part = { payload: payloads[i], kinesis: records[i] } as unknown as Pending['msg'];
                parts[i] = { msg: part, send: NOT_SENT, done: NOT_DONE, join, index: i };
                bytes[i] = payloadBytes(payloads[i]);
            }
            return batcher.pushAll(parts, bytes);
        };

        // ---- downlink: outcomes → the records kinesis-out takes ----
        const processDownlink = async (batch: Pending[], started: Promise<DownlinkOutcome[]>) => {
            const outcomes = await started;
            for (let i = 0; i < batch.length; i++) {
                const p = batch[i];
                const o = outcomes[i];
                if (o.error) {
                    fail(p, o.error);
                    continue;
                }
                onSuccess();
                const records: DownlinkRecord[] = o.records ?? [];
                if (!records.length) {
                    p.done();
                    continue;
                }
                p.msg.payload = records.length === 1 ? records[0] : records;
                p.send(twoOutputs ? [p.msg, null] : p.msg);
                p.done();
            }
        };

        // ---- micro-batching ----
        type Started = Promise<{ up?: Promise<{ o: UplinkOutcome[]; now: number }>; down?: Promise<DownlinkOutcome[]> } | undefined>;
        const batcher = new MicroBatcher<Pending, Started>({
            maxBatch: () => Math.min(MAX_FLUSH, converter?.engine.maxBatch ?? MAX_FLUSH),
            maxMessages: Math.floor(positive(def.maxQueue, MAX_QUEUE)),
            maxBytes: positive(def.maxQueueMb, MAX_QUEUE_MB) * 1024 * 1024,
            // The runner starts on this batch now (batches queue in order in the engine): it converts while
            // this side sends the previous batch's messages.
            start: (batch) => {
                const last = batch[batch.length - 1].msg;
                lastSeen.set(node.id, {
                    direction,
                    payload: last.payload,
                    kinesis: last.kinesis && typeof last.kinesis === 'object' ? { ...(last.kinesis as Record<string, unknown>) } : undefined,
                    metadata: last.metadata,
                    msgType: last.msgType,
                    at: Date.now(),
                });
                const started: Started = ready.then(() => {
                    if (!converter) return undefined;
                    if (direction === 'uplink') {
                        const now = Date.now();
                        const reqs = new Array(batch.length);
                        for (let i = 0; i < batch.length; i++) reqs[i] = { payload: batch[i].msg.payload, kinesis: batch[i].msg.kinesis as Record<string, string> | undefined };
                        return { up: converter.uplink(reqs, now).then((o) => ({ o, now })) };
                    }
                    return { down: converter.downlink(batch.map((p) => ({ payload: p.msg.payload, metadata: p.msg.metadata, msgType: p.msg.msgType }))) };
                });
                // finish() awaits it in order; until then a rejection is not "unhandled"
                started.then((c) => { void (c?.up ?? c?.down)?.catch(() => undefined); }, () => undefined);
                return started;
            },
            finish: async (batch, started) => {
                const c = await started;
                if (!c) {
                    const err = compileError ?? new ConvertError('sandbox', 'the converter is not available');
                    for (const p of batch) fail(p, err);
                } else if (c.up) await processUplink(batch, c.up);
                else await processDownlink(batch, c.down!);
                endOfBatch();
            },
            // Unexpected (a bug, not a script error): fail what is left, never leave messages hanging.
            abort: (batch, e) => {
                const err = new ConvertError('sandbox', String((e as Error)?.message ?? e));
                for (const p of batch) {
                    try {
                        if (p.join) p.join.failed(p.index!, err);
                        else p.done(err);
                    } catch {
                        /* already done */
                    }
                }
            },
        });

        node.on('input', (msg: NodeMessageInFlow, send: Send, done: Done) => {
            const p: Pending = { msg: msg as Pending['msg'], send, done };
            if (compileError) {
                lastSeen.set(node.id, { direction, payload: msg.payload, kinesis: p.msg.kinesis as Record<string, unknown>, metadata: p.msg.metadata, msgType: p.msg.msgType, at: Date.now() });
                fail(p, compileError);
                endOfBatch();
                return;
            }
            const records = direction === 'uplink' ? recordBatchOf(p.msg) : undefined;
            if (records instanceof ConvertError) {
                fail(p, records);
                endOfBatch();
                return;
            }
            if (records && !records.payloads.length) return done(); // an empty batch: nothing to convert
            if (closing || !(records ? pushRecordBatch(p, records.payloads, records.records) : batcher.push(p, payloadBytes(msg.payload)))) {
                // never dropped silently: the flow sees the message fail (Catch / output 2)
                fail(p, new ConvertError('sandbox', closing ? RED._('kinesis-convert.errors.closing') : RED._('kinesis-convert.errors.queueFull', { count: batcher.pending, mb: Math.round(batcher.pendingBytes / 1048576) })));
                endOfBatch();
            }
        });

        node.on('close', (removed: boolean, done: () => void) => {
            // finish what was received: every message gets its send/done before the runner stops
            closing = true;
            lastSeen.delete(node.id);
            ready
                .then(() => batcher.drain())
                .finally(() => {
                    converter?.close();
                    done();
                });
        });
    }

    RED.nodes.registerType('kinesis-convert', KinesisConvert as unknown as Parameters<NodeAPI['nodes']['registerType']>[1]);

    registerEditorApi(RED, lastSeen, isolation);
};
