/**
 * ThingsBoard's rules for what a converter script may return, and the normalised shapes this package
 * emits. Input is the script's result after a JSON round trip (as ThingsBoard's executor sees it).
 */

/** An invalid result: the message fails with this text (the script ran, its output is wrong). */
export class OutputError extends Error {
    constructor(message: string) {
        super(message);
        this.name = 'OutputError';
    }
}

export interface TelemetryEntry {
    ts: number;
    values: Record<string, unknown>;
}

/** One uplink result, normalised: `telemetry` is always `[{ts, values}]`, `attributes` always an object. */
export interface UplinkEntity {
    deviceName?: string;
    deviceType?: string;
    assetName?: string;
    assetType?: string;
    deviceLabel?: string;
    assetLabel?: string;
    customerName?: string;
    groupName?: string;
    telemetry: TelemetryEntry[];
    attributes: Record<string, unknown>;
}

export interface DownlinkRecord {
    contentType: 'JSON' | 'TEXT' | 'BINARY';
    data: string;
    metadata: Record<string, string>;
}

const NUMERIC = /^-?(\d+(\.\d+)?|\.\d+)$/;

function isPlainObject(v: unknown): v is Record<string, unknown> {
    return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function short(v: unknown): string {
    let s: string;
    try {
        s = JSON.stringify(v) ?? String(v);
    } catch {
        s = String(v);
    }
    return s.length > 60 ? `${s.slice(0, 59)}…` : s;
}

/** Numeric strings become numbers (ThingsBoard's type cast); integers beyond 2^53 stay strings. */
export function castValue(v: unknown): unknown {
    if (typeof v === 'string' && NUMERIC.test(v)) {
        const n = Number(v);
        if (Number.isFinite(n) && (v.includes('.') || Number.isSafeInteger(n))) return n;
    }
    return v;
}

const hasOwn = Object.prototype.hasOwnProperty;

/**
 * Copies a key/value object: nulls skipped, numeric strings cast, nested objects/arrays kept as JSON values.
 * Hot path (every value of every record): one pass, no key array.
 */
export function cleanValues(obj: Record<string, unknown>): Record<string, unknown> {
    return cleaned(obj) ?? {};
}

/** cleanValues, or undefined when no value is kept (no second pass to count them). */
function cleaned(obj: Record<string, unknown>): Record<string, unknown> | undefined {
    let out: Record<string, unknown> | undefined;
    for (const k in obj) {
        if (!hasOwn.call(obj, k)) continue; // own keys only, as Object.keys
        const v = obj[k];
        if (v === null || v === undefined || k === '__proto__') continue; // '__proto__' would set the prototype
        out ??= {};
        out[k] = typeof v === 'string' ? castValue(v) : v;
    }
    return out;
}

/**
 * Where in the result a check failed, for the message: `result` or `result[i]`, then `.telemetry` and
 * `[j]`. Built only when a check fails (the hot path builds no text).
 */
function entityPath(ent: number): string {
    return ent < 0 ? 'result' : `result[${ent}]`;
}

function telemetryPath(ent: number, entry: number): string {
    return `${entityPath(ent)}.telemetry${entry < 0 ? '' : `[${entry}]`}`;
}

function toTs(v: unknown, ent: number, entry: number): number {
    const n = typeof v === 'string' && NUMERIC.test(v) ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isFinite(n)) throw new OutputError(`${telemetryPath(ent, entry)}.ts must be a number (milliseconds since 1970), got ${short(v)}`);
    return Math.trunc(n);
}

/** One telemetry entry (`{ts, values}` or an object of values), or undefined when it keeps no value. */
function entryOf(e: unknown, now: number, ent: number, entry: number): TelemetryEntry | undefined {
    if (!isPlainObject(e)) throw new OutputError(`${telemetryPath(ent, entry)} must be an object of values or {ts, values}, got ${short(e)}`);
    if ('ts' in e && 'values' in e) {
        if (!isPlainObject(e.values)) throw new OutputError(`${telemetryPath(ent, entry)}.values must be an object, got ${short(e.values)}`);
        const ts = toTs(e.ts, ent, entry);
        const values = cleaned(e.values);
        return values ? { ts, values } : undefined;
    }
    const values = cleaned(e);
    return values ? { ts: now, values } : undefined;
}

function telemetryOf(t: unknown, now: number, ent: number): TelemetryEntry[] {
    if (t === null || t === undefined) return [];
    if (Array.isArray(t)) {
        const out: TelemetryEntry[] = [];
        for (let i = 0; i < t.length; i++) {
            const x = entryOf(t[i], now, ent, i);
            if (x) out.push(x);
        }
        return out;
    }
    const x = entryOf(t, now, ent, -1);
    return x ? [x] : [];
}

function nameOf(v: unknown, key: string): string {
    if (typeof v === 'number' && Number.isFinite(v)) return String(v);
    if (typeof v !== 'string') throw new OutputError(`${key} must be a string, got ${short(v)}`);
    if (v.trim() === '') throw new OutputError(`${key} is empty`);
    if (v === '__proto__') throw new OutputError(`${key} "__proto__" is not allowed`);
    return v;
}

function optionalString(v: unknown, key: string): string | undefined {
    if (v === null || v === undefined || v === '') return undefined;
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    throw new OutputError(`${key} must be a string, got ${short(v)}`);
}

function entityOf(r: Record<string, unknown>, now: number, ent: number): UplinkEntity {
    const hasDevice = r.deviceName !== undefined && r.deviceName !== null;
    const hasAsset = r.assetName !== undefined && r.assetName !== null;
    if (hasDevice && hasAsset) throw new OutputError(`${entityPath(ent)} has both deviceName and assetName: return exactly one of them`);
    if (!hasDevice && !hasAsset) throw new OutputError(`${entityPath(ent)} must contain deviceName or assetName, got ${short(r)}`);
    const e = {} as UplinkEntity;
    if (hasDevice) {
        e.deviceName = nameOf(r.deviceName, 'deviceName');
        e.deviceType = optionalString(r.deviceType, 'deviceType') ?? 'default';
        const label = optionalString(r.deviceLabel, 'deviceLabel');
        if (label !== undefined) e.deviceLabel = label;
    } else {
        e.assetName = nameOf(r.assetName, 'assetName');
        const type = optionalString(r.assetType, 'assetType');
        if (type === undefined) throw new OutputError(`${entityPath(ent)}: assetType is required for asset "${e.assetName}"`);
        e.assetType = type;
        const label = optionalString(r.assetLabel, 'assetLabel');
        if (label !== undefined) e.assetLabel = label;
    }
    const customer = optionalString(r.customerName, 'customerName');
    if (customer !== undefined) e.customerName = customer;
    const group = optionalString(r.groupName, 'groupName');
    if (group !== undefined) e.groupName = group;
    e.telemetry = telemetryOf(r.telemetry, now, ent);
    const a = r.attributes;
    if (a !== undefined && a !== null && !isPlainObject(a)) throw new OutputError(`${entityPath(ent)}.attributes must be an object, got ${short(a)}`);
    e.attributes = a === undefined || a === null ? {} : cleanValues(a);
    return e;
}

/**
 * Uplink result → entities. `null`, `undefined` or a non-object result ⇒ [] (no output, no error);
 * an array element that is not an object ⇒ error; every entity validated (the whole result fails on
 * the first invalid one, as ThingsBoard fails the record).
 */
export function normaliseUplink(value: unknown, now: number): UplinkEntity[] {
    if (Array.isArray(value)) {
        const out: UplinkEntity[] = new Array(value.length);
        for (let i = 0; i < value.length; i++) {
            const r: unknown = value[i];
            if (!isPlainObject(r)) throw new OutputError(`result[${i}] must be an object, got ${short(r)}`);
            out[i] = entityOf(r, now, i);
        }
        return out;
    }
    if (!isPlainObject(value)) return [];
    return [entityOf(value, now, -1)];
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2,3})?$/;

function downlinkOf(r: Record<string, unknown>, where: string): DownlinkRecord | undefined {
    const ct = r.contentType;
    if (ct === undefined || ct === null) throw new OutputError(`${where}.contentType is required: "JSON", "TEXT" or "BINARY"`);
    if (ct !== 'JSON' && ct !== 'TEXT' && ct !== 'BINARY') throw new OutputError(`Unknown downlink content type ${short(ct)} in ${where} (use "JSON", "TEXT" or "BINARY")`);
    const data = r.data;
    if (data === undefined || data === null) throw new OutputError(`${where}.data is required (a string)`);
    if (typeof data !== 'string') throw new OutputError(`${where}.data must be a string${typeof data === 'object' ? ' (use JSON.stringify(...))' : ''}, got ${short(data)}`);
    const metadata: Record<string, string> = {};
    if (r.metadata !== undefined && r.metadata !== null) {
        if (!isPlainObject(r.metadata)) throw new OutputError(`${where}.metadata must be an object, got ${short(r.metadata)}`);
        for (const [k, v] of Object.entries(r.metadata)) {
            if (v === null || v === undefined || k === '__proto__') continue;
            if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
                throw new OutputError(`${where}.metadata.${k} must be a string, number or boolean, got ${short(v)}`);
            }
            metadata[k] = String(v);
        }
    }
    if (data === '') return undefined; // ThingsBoard skips empty downlinks
    if (ct === 'BINARY' && !BASE64.test(data.replace(/\s/g, ''))) throw new OutputError(`${where}.data must be base64 for contentType BINARY`);
    return { contentType: ct, data, metadata };
}

/** Downlink result → records for `kinesis-out` (empty data skipped; null/non-object ⇒ none). */
export function normaliseDownlink(value: unknown): DownlinkRecord[] {
    if (Array.isArray(value)) {
        const out: DownlinkRecord[] = [];
        value.forEach((r, i) => {
            if (!isPlainObject(r)) throw new OutputError(`result[${i}] must be an object, got ${short(r)}`);
            const d = downlinkOf(r, `result[${i}]`);
            if (d) out.push(d);
        });
        return out;
    }
    if (!isPlainObject(value)) return [];
    const d = downlinkOf(value, 'result');
    return d ? [d] : [];
}
