/**
 * `kinesis-convert`: ThingsBoard uplink (decoder) and downlink (encoder) scripts in a sandbox.
 * Thin glue around lib/convert: micro-batches the messages that arrive together (one guarded
 * sandbox run per batch), keeps the optional device registry in context, routes failures.
 */
import type { NodeAPI, Node, NodeDef, NodeMessage, NodeMessageInFlow } from 'node-red';
import type { Request, Response } from 'express';
import { isUtf8 } from 'node:buffer';
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
    importConverter,
    ImportError,
    DEFAULT_MEMORY_LIMIT_MB,
} from '../../lib/convert';
import { clipText } from '../../lib/aws/errors';
import { STATUS, shortStatus, compactNumber } from '../shared/types';

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
}

type Send = (msg: Array<NodeMessage | NodeMessage[] | null>) => void;
type Done = (err?: Error) => void;

interface Pending {
    msg: NodeMessageInFlow & Record<string, unknown>;
    send: Send;
    done: Done;
}

/** What the editor's Test dialog is pre-filled with: a small, redacted copy of the last input. */
interface LastInput {
    direction: 'uplink' | 'downlink';
    payload: unknown;
    kinesis?: Record<string, unknown>;
    metadata?: unknown;
    msgType?: unknown;
    at: number;
}

const MAX_SNAPSHOT = 16 * 1024;
const SECRET_KEY = /pass|secret|token|auth|credential|api[-_]?key|private/i;
/** Most messages converted in one go (one guarded run per `maxBatch` of them). */
const MAX_FLUSH = 4096;

function redactMap(v: unknown): Record<string, string> {
    const out: Record<string, string> = {};
    if (v && typeof v === 'object' && !Array.isArray(v)) {
        for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
            if (x === undefined || x === null) continue;
            const s = typeof x === 'object' ? JSON.stringify(x) : String(x);
            out[k] = SECRET_KEY.test(k) ? '***' : s.slice(0, 1024);
        }
    }
    return out;
}

function clip(s: string): string {
    return s.length > MAX_SNAPSHOT ? s.slice(0, MAX_SNAPSHOT) : s;
}

/** Last input → the Test dialog's fields. */
function snapshot(last: LastInput): Record<string, unknown> {
    if (last.direction === 'uplink') {
        const p = last.payload;
        let payloadType = 'TEXT';
        let payload = '';
        if (Buffer.isBuffer(p) || p instanceof Uint8Array) {
            const b = Buffer.isBuffer(p) ? p : Buffer.from(p);
            if (isUtf8(b)) {
                payload = b.toString('utf8');
                payloadType = looksJson(payload) ? 'JSON' : 'TEXT';
            } else {
                payloadType = 'BINARY';
                payload = b.subarray(0, MAX_SNAPSHOT).toString('base64');
            }
        } else if (typeof p === 'string') {
            payload = p;
            payloadType = looksJson(p) ? 'JSON' : 'TEXT';
        } else {
            payload = JSON.stringify(p, null, 2) ?? '';
            payloadType = 'JSON';
        }
        const k = (last.kinesis ?? {}) as Record<string, unknown>;
        const metadata: Record<string, string> = {};
        for (const key of ['partitionKey', 'sequenceNumber', 'shardId', 'streamName']) if (k[key] !== undefined) metadata[key] = String(k[key]);
        return { direction: 'uplink', payloadType, payload: clip(payload), metadata: redactMap(metadata), at: last.at };
    }
    let msg: string;
    try {
        msg = typeof last.payload === 'string' ? last.payload : JSON.stringify(last.payload, null, 2) ?? '{}';
    } catch {
        msg = '{}';
    }
    return { direction: 'downlink', msgType: typeof last.msgType === 'string' ? last.msgType : 'ATTRIBUTES_UPDATED', msg: clip(msg), metadata: redactMap(last.metadata), at: last.at };
}

function looksJson(s: string): boolean {
    const t = s.trim();
    if (!(t.startsWith('{') || t.startsWith('['))) return false;
    try {
        JSON.parse(t);
        return true;
    } catch {
        return false;
    }
}

function keysOf(v: unknown): string[] {
    if (Array.isArray(v)) return v.map(String).map((s) => s.trim()).filter(Boolean);
    if (typeof v === 'string') return v.split(',').map((s) => s.trim()).filter(Boolean);
    return [];
}

function positive(v: unknown, dflt: number): number {
    const n = Number(v);
    return Number.isFinite(n) && n > 0 ? n : dflt;
}

export = function (RED: NodeAPI): void {
    const lastSeen = new Map<string, LastInput>();

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
            timeoutMs: positive(def.timeoutMs, 1000),
            maxBatch: positive(def.maxBatch, 4096),
            memoryLimitMb: Math.min(positive(def.memoryLimitMb, DEFAULT_MEMORY_LIMIT_MB), 4096),
        };
        const onCompileError = (e: unknown) => {
            compileError = e instanceof ConvertError ? e : new ConvertError('compile', String((e as Error)?.message ?? e));
            node.error(RED._('kinesis-convert.errors.compile', { error: compileError.message }));
            node.status(STATUS.error(shortStatus(compileError.line ? RED._('kinesis-convert.status.compileAt', { line: compileError.line }) : RED._('kinesis-convert.status.compile'))));
        };
        // The script is checked here (guard), then compiled in its runner process: messages wait for that.
        let ready: Promise<void> = Promise.resolve();
        try {
            const c = new Converter(cfg);
            ready = c.start().then(
                () => {
                    if (closing) return c.close();
                    converter = c;
                    c.onIncident = onIncident;
                    node.status(STATUS.idle(RED._('kinesis-convert.status.ready')));
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
        const updateStatus = (force = false) => {
            const now = Date.now();
            if (!force && now - lastStatusAt < 1000) return;
            lastStatusAt = now;
            if (consecutiveFailures > 0 && lastError) {
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
            const now = Date.now();
            if (consecutiveFailures >= 10 && now - lastWarnAt > 30_000) {
                lastWarnAt = now;
                node.warn(RED._('kinesis-convert.errors.keepsFailing', { count: failedSinceWarn, error: clipText(err.message) }));
                failedSinceWarn = 0;
            }
            updateStatus(consecutiveFailures === 1);
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
                updateStatus(true);
            } else updateStatus();
        };

        const fail = (p: Pending, err: ConvertError) => {
            onFailure(err);
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

        // ---- micro-batching ----
        const queue: Pending[] = [];
        let scheduled = false;
        let chain: Promise<void> = Promise.resolve();

        const startUplink = (batch: Pending[]) => {
            const now = Date.now();
            return converter!.uplink(batch.map((p) => ({ payload: p.msg.payload, kinesis: p.msg.kinesis as Record<string, string> | undefined })), now).then((o) => ({ o, now }));
        };
        const processUplink = async (batch: Pending[], converted: Promise<{ o: UplinkOutcome[]; now: number }>) => {
            const { o: outcomes, now } = await converted;
            let reg: { devices: Registry; assets: Registry } | undefined;
            if (registryScope !== 'none' && outcomes.some((o) => o.entities && o.entities.length)) {
                try {
                    reg = { devices: await ctxGet('devices'), assets: await ctxGet('assets') };
                } catch (e) {
                    const err = new ConvertError('registry', RED._('kinesis-convert.errors.registry', { error: (e as Error).message }));
                    batch.forEach((p, i) => (outcomes[i].error ? fail(p, outcomes[i].error!) : fail(p, err)));
                    return;
                }
            }
            const results: Array<{ p: Pending; entities?: UplinkEntity[]; error?: ConvertError }> = [];
            batch.forEach((p, i) => {
                const o = outcomes[i];
                if (o.error) return results.push({ p, error: o.error });
                const entities = o.entities ?? [];
                if (reg) {
                    try {
                        for (const e of entities) checkKnown(reg, e, allowCreate);
                        for (const e of entities) applyToRegistry(reg, e, now, allowCreate);
                    } catch (e) {
                        return results.push({ p, error: new ConvertError('registry', (e as Error).message) });
                    }
                }
                results.push({ p, entities });
            });
            if (reg) {
                try {
                    await ctxSet('devices', reg.devices);
                    await ctxSet('assets', reg.assets);
                } catch (e) {
                    node.warn(RED._('kinesis-convert.errors.registry', { error: (e as Error).message }));
                }
            }
            for (const r of results) {
                if (r.error) {
                    fail(r.p, r.error);
                    continue;
                }
                onSuccess();
                const entities = r.entities!;
                if (!entities.length) {
                    r.p.done();
                    continue;
                }
                const out: NodeMessage[] = entities.map((e, k) => {
                    const m = (k === 0 ? r.p.msg : RED.util.cloneMessage({ ...r.p.msg, payload: undefined })) as NodeMessage;
                    m.payload = e;
                    m.topic = entityName(e);
                    return m;
                });
                r.p.send(twoOutputs ? [out, null] : [out]);
                r.p.done();
            }
        };

        const startDownlink = (batch: Pending[]) => converter!.downlink(batch.map((p) => ({ payload: p.msg.payload, metadata: p.msg.metadata, msgType: p.msg.msgType })));
        const processDownlink = async (batch: Pending[], converted: Promise<DownlinkOutcome[]>) => {
            const outcomes = await converted;
            batch.forEach((p, i) => {
                const o = outcomes[i];
                if (o.error) return fail(p, o.error);
                onSuccess();
                const records: DownlinkRecord[] = o.records ?? [];
                if (!records.length) return p.done();
                p.msg.payload = records.length === 1 ? records[0] : records;
                p.send(twoOutputs ? [p.msg, null] : [p.msg]);
                p.done();
            });
        };

        const flush = () => {
            scheduled = false;
            // One guarded run per event-loop turn (the engine sizes it to ≤ ¼ of the timeout, ≤ 50 ms), so a
            // slow script never holds the event loop for a whole backlog: timers and I/O run in between.
            const batch = queue.splice(0, Math.max(1, Math.min(MAX_FLUSH, converter?.engine.maxBatch ?? MAX_FLUSH)));
            if (queue.length) {
                scheduled = true;
                setImmediate(flush);
            }
            if (!batch.length) return;
            const last = batch[batch.length - 1].msg;
            lastSeen.set(node.id, {
                direction,
                payload: last.payload,
                kinesis: last.kinesis && typeof last.kinesis === 'object' ? { ...(last.kinesis as Record<string, unknown>) } : undefined,
                metadata: last.metadata,
                msgType: last.msgType,
                at: Date.now(),
            });
            // The runner starts on this batch now (batches queue in order in the engine); its results are
            // handled in order after the previous batch's: the runner converts while this side sends.
            const converted = ready.then(() => {
                if (!converter) return undefined;
                return direction === 'uplink' ? { up: startUplink(batch) } : { down: startDownlink(batch) };
            });
            converted.then((c) => { void (c?.up ?? c?.down)?.catch(() => undefined); }, () => undefined);
            chain = chain
                .then(() => converted)
                .then((c) => {
                    if (!c) {
                        const err = compileError ?? new ConvertError('sandbox', 'the converter is not available');
                        for (const p of batch) fail(p, err);
                        return;
                    }
                    return c.up ? processUplink(batch, c.up) : processDownlink(batch, c.down!);
                })
                .catch((e) => {
                    // Unexpected (a bug, not a script error): fail what is left, never leave messages hanging.
                    const err = new ConvertError('sandbox', String((e as Error)?.message ?? e));
                    for (const p of batch) {
                        try {
                            p.done(err);
                        } catch {
                            /* already done */
                        }
                    }
                });
        };

        node.on('input', (msg: NodeMessageInFlow, send: Send, done: Done) => {
            const p: Pending = { msg: msg as Pending['msg'], send, done };
            if (compileError) {
                lastSeen.set(node.id, { direction, payload: msg.payload, kinesis: (msg as Record<string, unknown>).kinesis as Record<string, unknown>, metadata: (msg as Record<string, unknown>).metadata, msgType: (msg as Record<string, unknown>).msgType, at: Date.now() });
                fail(p, compileError!);
                return;
            }
            queue.push(p);
            if (!scheduled) {
                scheduled = true;
                setImmediate(flush);
            }
        });

        node.on('close', (removed: boolean, done: () => void) => {
            while (queue.length) flush(); // finish what was received: every message gets its done()
            lastSeen.delete(node.id);
            closing = true;
            chain.finally(() => {
                converter?.close();
                done();
            });
        });
    }

    RED.nodes.registerType('kinesis-convert', KinesisConvert as unknown as Parameters<NodeAPI['nodes']['registerType']>[1]);

    // ---- editor endpoints ----

    /** The editor's Test button: runs the script being edited, in the same sandbox, on the given input. */
    RED.httpAdmin.post('/kinesis-convert/test', RED.auth.needsPermission('kinesis-convert.write'), async (req: Request, res: Response) => {
        const b = (req.body ?? {}) as Record<string, unknown>;
        const direction = b.direction === 'downlink' ? 'downlink' : 'uplink';
        let converter: Converter | undefined;
        try {
            const integrationMeta = direction === 'downlink' && b.integrationMetadata && typeof b.integrationMetadata === 'object' ? (b.integrationMetadata as Record<string, string>) : undefined;
            converter = await Converter.create({
                direction,
                scriptLang: b.scriptLang === 'TBEL' ? 'TBEL' : 'JS',
                script: String(b.script ?? ''),
                metadata: integrationMeta ?? (b.metadata as MetadataPair[] | undefined) ?? [],
                integrationName: integrationMeta?.integrationName ?? (typeof b.integrationName === 'string' && b.integrationName ? b.integrationName : 'Test integration'),
                updateOnlyKeys: [],
                timeoutMs: Math.min(positive(b.timeoutMs, 1000), 10_000),
                memoryLimitMb: Math.min(positive(b.memoryLimitMb, DEFAULT_MEMORY_LIMIT_MB), 4096),
            });
            if (direction === 'uplink') {
                const payload = decodeTestPayload(String(b.payload ?? ''), String(b.payloadType ?? 'JSON').toUpperCase());
                const [o] = await converter.uplink([{ payload, metadata: (b.inputMetadata as Record<string, string>) ?? {} }]);
                if (o.error) return res.json({ ok: false, error: o.error.toJSON(), result: o.raw });
                return res.json({ ok: true, result: o.raw, output: (o.entities ?? []).map((e) => ({ topic: entityName(e), payload: e })) });
            }
            let msg: unknown = b.msg ?? {};
            if (typeof msg === 'string') {
                try {
                    msg = msg.trim() ? JSON.parse(msg) : {};
                } catch (e) {
                    return res.json({ ok: false, error: { kind: 'input', message: `msg is not valid JSON: ${(e as Error).message}` } });
                }
            }
            const [o] = await converter.downlink([{ payload: msg, metadata: b.msgMetadata ?? {}, msgType: b.msgType }]);
            if (o.error) return res.json({ ok: false, error: o.error.toJSON(), result: o.raw });
            const records = o.records ?? [];
            return res.json({ ok: true, result: o.raw, output: records.length === 1 ? records[0] : records });
        } catch (e) {
            const err = e instanceof ConvertError ? e.toJSON() : { kind: 'input', message: clipText(String((e as Error)?.message ?? e)) };
            return res.json({ ok: false, error: err });
        } finally {
            converter?.close();
        }
    });

    /** The last input a deployed node saw (small, redacted), to pre-fill the Test dialog. */
    RED.httpAdmin.get('/kinesis-convert/:id/last', RED.auth.needsPermission('kinesis-convert.read'), (req: Request, res: Response) => {
        const last = lastSeen.get(String(req.params.id));
        // nothing seen yet is not an error (a 404 would be a console error in every fresh editor dialog)
        if (!last) return res.status(204).end();
        return res.json(snapshot(last));
    });

    /** Converter-file import: parses a ThingsBoard export into node properties plus notes. */
    RED.httpAdmin.post('/kinesis-convert/import', RED.auth.needsPermission('kinesis-convert.write'), async (req: Request, res: Response) => {
        const b = (req.body ?? {}) as Record<string, unknown>;
        try {
            // read and checked in a worker thread (linear checks only), compiled by a runner: never on this event loop
            const converter = await importConverter(b.text ?? b.file ?? b);
            res.json({ ok: true, converter });
        } catch (e) {
            res.status(e instanceof ImportError ? 400 : 500).json({ ok: false, error: clipText(String((e as Error).message ?? e)) });
        }
    });
};

/** Test-dialog payload (JSON / TEXT / BINARY base64 / HEX) → bytes. */
function decodeTestPayload(text: string, type: string): Buffer {
    if (type === 'BINARY' || type === 'BASE64') {
        const t = text.replace(/\s/g, '');
        if (!/^[A-Za-z0-9+/]*={0,2}$/.test(t) || t.length % 4 === 1) throw new ConvertError('input', 'payload is not valid base64');
        return Buffer.from(t, 'base64');
    }
    if (type === 'HEX') {
        const t = text.replace(/0x/gi, '').replace(/[\s,:-]/g, '');
        if (!/^[0-9a-fA-F]*$/.test(t) || t.length % 2) throw new ConvertError('input', 'payload is not valid hex (pairs of 0-9 a-f)');
        return Buffer.from(t, 'hex');
    }
    return Buffer.from(text, 'utf8');
}
