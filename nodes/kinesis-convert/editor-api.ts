/**
 * kinesis-convert's editor endpoints (Test, last input, Import) and the Test dialog's snapshot of the
 * last input: registered once per runtime by the node module.
 */
import type { NodeAPI } from 'node-red';
import type { Request, Response } from 'express';
import { isUtf8 } from 'node:buffer';
import { Converter, ConvertError, MetadataPair, entityName, importConverter, ImportError, DEFAULT_MEMORY_LIMIT_MB } from '../../lib/convert';
import { clipText } from '../../lib/aws/errors';
import type { Isolation } from './isolation';

/** What the editor's Test dialog is pre-filled with: a small, redacted copy of the last input. */
export interface LastInput {
    direction: 'uplink' | 'downlink';
    payload: unknown;
    kinesis?: Record<string, unknown>;
    metadata?: unknown;
    msgType?: unknown;
    at: number;
}

const MAX_SNAPSHOT = 16 * 1024;
const SECRET_KEY = /pass|secret|token|auth|credential|api[-_]?key|private/i;

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

function positive(v: unknown, dflt: number): number {
    const n = Number(v);
    return Number.isFinite(n) && n > 0 ? n : dflt;
}

/**
 * The admin endpoints; `lastSeen` (node id → last input) is filled by the deployed nodes. Test and Import start
 * their runners with the same network isolation as the nodes (`isolation`).
 */
export function registerEditorApi(RED: NodeAPI, lastSeen: Map<string, LastInput>, isolation: Isolation): void {
    /** The editor's Test button: runs the script being edited, in the same sandbox, on the given input. */
    RED.httpAdmin.post('/kinesis-convert/test', RED.auth.needsPermission('kinesis-convert.write'), async (req: Request, res: Response) => {
        const b = (req.body ?? {}) as Record<string, unknown>;
        const direction = b.direction === 'downlink' ? 'downlink' : 'uplink';
        let converter: Converter | undefined;
        try {
            await isolation.check(); // says once in the log when runners start without it
            const integrationMeta = direction === 'downlink' && b.integrationMetadata && typeof b.integrationMetadata === 'object' ? (b.integrationMetadata as Record<string, string>) : undefined;
            converter = await Converter.create({
                direction,
                scriptLang: b.scriptLang === 'TBEL' ? 'TBEL' : 'JS',
                script: String(b.script ?? ''),
                metadata: integrationMeta ?? (b.metadata as MetadataPair[] | undefined) ?? [],
                integrationName: integrationMeta?.integrationName ?? (typeof b.integrationName === 'string' && b.integrationName ? b.integrationName : 'Test integration'),
                updateOnlyKeys: [],
                timeoutMs: Math.min(positive(b.timeoutMs, 1000), 10_000),
                memoryLimitMb: positive(b.memoryLimitMb, DEFAULT_MEMORY_LIMIT_MB), // the engine keeps it within 16–4096
                network: isolation.options,
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
            await isolation.check();
            const converter = await importConverter(b.text ?? b.file ?? b, { network: isolation.options });
            res.json({ ok: true, converter });
        } catch (e) {
            res.status(e instanceof ImportError ? 400 : 500).json({ ok: false, error: clipText(String((e as Error).message ?? e)) });
        }
    });
}


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
