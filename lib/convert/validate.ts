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
const OPTIONAL_STRINGS = ['customerName', 'groupName'] as const;

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

/** Copies a key/value object: nulls skipped, numeric strings cast, nested objects/arrays kept as JSON values. */
export function cleanValues(obj: Record<string, unknown>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const keys = Object.keys(obj); // no [key, value] pair per entry (hot path: every value of every record)
    for (let i = 0; i < keys.length; i++) {
        const k = keys[i];
        const v = obj[k];
        if (v === null || v === undefined || k === '__proto__') continue; // '__proto__' would set the prototype
        out[k] = typeof v === 'string' ? castValue(v) : v;
    }
    return out;
}

function toTs(v: unknown, where: string): number {
    const n = typeof v === 'string' && NUMERIC.test(v) ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isFinite(n)) throw new OutputError(`${where}.ts must be a number (milliseconds since 1970), got ${short(v)}`);
    return Math.trunc(n);
}

function telemetryOf(t: unknown, now: number, where: string): TelemetryEntry[] {
    if (t === null || t === undefined) return [];
    const one = (e: unknown, w: string): TelemetryEntry | undefined => {
        if (!isPlainObject(e)) throw new OutputError(`${w} must be an object of values or {ts, values}, got ${short(e)}`);
        let entry: TelemetryEntry;
        if ('ts' in e && 'values' in e) {
            if (!isPlainObject(e.values)) throw new OutputError(`${w}.values must be an object, got ${short(e.values)}`);
            entry = { ts: toTs(e.ts, w), values: cleanValues(e.values) };
        } else {
            entry = { ts: now, values: cleanValues(e) };
        }
        return Object.keys(entry.values).length ? entry : undefined;
    };
    if (Array.isArray(t)) {
        const out: TelemetryEntry[] = [];
        t.forEach((e, i) => {
            const x = one(e, `${where}[${i}]`);
            if (x) out.push(x);
        });
        return out;
    }
    const x = one(t, where);
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

function entityOf(r: Record<string, unknown>, now: number, where: string): UplinkEntity {
    const hasDevice = r.deviceName !== undefined && r.deviceName !== null;
    const hasAsset = r.assetName !== undefined && r.assetName !== null;
    if (hasDevice && hasAsset) throw new OutputError(`${where} has both deviceName and assetName: return exactly one of them`);
    if (!hasDevice && !hasAsset) throw new OutputError(`${where} must contain deviceName or assetName, got ${short(r)}`);
    const e = {} as UplinkEntity;
    if (hasDevice) {
        e.deviceName = nameOf(r.deviceName, 'deviceName');
        e.deviceType = optionalString(r.deviceType, 'deviceType') ?? 'default';
        const label = optionalString(r.deviceLabel, 'deviceLabel');
        if (label !== undefined) e.deviceLabel = label;
    } else {
        e.assetName = nameOf(r.assetName, 'assetName');
        const type = optionalString(r.assetType, 'assetType');
        if (type === undefined) throw new OutputError(`${where}: assetType is required for asset "${e.assetName}"`);
        e.assetType = type;
        const label = optionalString(r.assetLabel, 'assetLabel');
        if (label !== undefined) e.assetLabel = label;
    }
    for (const k of OPTIONAL_STRINGS) {
        const v = optionalString(r[k], k);
        if (v !== undefined) e[k] = v;
    }
    e.telemetry = telemetryOf(r.telemetry, now, `${where}.telemetry`);
    e.attributes = {};
    if (r.attributes !== undefined && r.attributes !== null) {
        if (!isPlainObject(r.attributes)) throw new OutputError(`${where}.attributes must be an object, got ${short(r.attributes)}`);
        e.attributes = cleanValues(r.attributes);
    }
    return e;
}

/**
 * Uplink result → entities. `null`, `undefined` or a non-object result ⇒ [] (no output, no error);
 * an array element that is not an object ⇒ error; every entity validated (the whole result fails on
 * the first invalid one, as ThingsBoard fails the record).
 */
export function normaliseUplink(value: unknown, now: number): UplinkEntity[] {
    if (Array.isArray(value)) {
        return value.map((r, i) => {
            if (!isPlainObject(r)) throw new OutputError(`result[${i}] must be an object, got ${short(r)}`);
            return entityOf(r, now, `result[${i}]`);
        });
    }
    if (!isPlainObject(value)) return [];
    return [entityOf(value, now, 'result')];
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
