/**
 * The device registry (ThingsBoard's "Allow create devices or assets"): each entity's type,
 * first-seen and last-activity times, attributes and latest telemetry, kept in a plain object that
 * the node stores in Node-RED context (keys `devices` and `assets`), and the `updateOnlyKeys` filter.
 */
import type { UplinkEntity } from './validate';

export interface RegistryEntry {
    name: string;
    type: string;
    entityType: 'DEVICE' | 'ASSET';
    createdTime: number;
    lastActivityTime: number;
    attributes: Record<string, unknown>;
    telemetry: Record<string, { ts: number; value: unknown }>;
    label?: string;
    customerName?: string;
    groupName?: string;
}

export type Registry = Record<string, RegistryEntry>;

export class UnknownEntityError extends Error {
    constructor(entityType: 'DEVICE' | 'ASSET', name: string) {
        super(`${entityType === 'DEVICE' ? 'device' : 'asset'} "${name}" is not in the registry and creating entities is not allowed`);
        this.name = 'UnknownEntityError';
    }
}

export function entityName(e: UplinkEntity): string {
    return (e.deviceName ?? e.assetName) as string;
}

export function entityTypeOf(e: UplinkEntity): 'DEVICE' | 'ASSET' {
    return e.deviceName !== undefined ? 'DEVICE' : 'ASSET';
}

/** Throws UnknownEntityError when `e` is not registered and creation is not allowed (checked before any update). */
export function checkKnown(reg: { devices: Registry; assets: Registry }, e: UplinkEntity, allowCreate: boolean): void {
    const table = entityTypeOf(e) === 'DEVICE' ? reg.devices : reg.assets;
    if (!allowCreate && !Object.prototype.hasOwnProperty.call(table, entityName(e))) throw new UnknownEntityError(entityTypeOf(e), entityName(e));
}

/**
 * Records `e` in the registry. Profile/label/customer/group are set only when the entity is created,
 * as in ThingsBoard. Returns whether it was created.
 */
export function applyToRegistry(reg: { devices: Registry; assets: Registry }, e: UplinkEntity, now: number, allowCreate: boolean): boolean {
    checkKnown(reg, e, allowCreate);
    const kind = entityTypeOf(e);
    const table = kind === 'DEVICE' ? reg.devices : reg.assets;
    const name = entityName(e);
    let entry = Object.prototype.hasOwnProperty.call(table, name) ? table[name] : undefined;
    let created = false;
    if (!entry) {
        created = true;
        entry = {
            name,
            type: (kind === 'DEVICE' ? e.deviceType : e.assetType) ?? 'default',
            entityType: kind,
            createdTime: now,
            lastActivityTime: now,
            attributes: {},
            telemetry: {},
        };
        const label = kind === 'DEVICE' ? e.deviceLabel : e.assetLabel;
        if (label !== undefined) entry.label = label;
        if (e.customerName !== undefined) entry.customerName = e.customerName;
        if (e.groupName !== undefined) entry.groupName = e.groupName;
        table[name] = entry;
    }
    entry.lastActivityTime = now;
    entry.attributes = entry.attributes ?? {};
    entry.telemetry = entry.telemetry ?? {};
    Object.assign(entry.attributes, e.attributes);
    for (const t of e.telemetry) {
        for (const [k, value] of Object.entries(t.values)) {
            const prev = entry.telemetry[k];
            if (!prev || prev.ts <= t.ts) entry.telemetry[k] = { ts: t.ts, value };
        }
    }
    return created;
}

/**
 * `updateOnlyKeys`: the listed keys are dropped from telemetry and attributes when their value is the
 * same as the last one seen for that entity. Remembers at most `maxEntities` entities (oldest evicted).
 */
export class UpdateOnlyKeysFilter {
    private readonly keys: Set<string>;
    private readonly last = new Map<string, Map<string, string>>();

    constructor(keys: string[] | undefined, private readonly maxEntities = 100_000) {
        this.keys = new Set((keys ?? []).map((k) => String(k).trim()).filter(Boolean));
    }

    get active(): boolean {
        return this.keys.size > 0;
    }

    apply(e: UplinkEntity): void {
        if (!this.keys.size) return;
        const id = `${entityTypeOf(e)}:${entityName(e)}`;
        let seen = this.last.get(id);
        if (seen) {
            this.last.delete(id); // re-insert: most recently used last
        } else {
            seen = new Map();
            if (this.last.size >= this.maxEntities) this.last.delete(this.last.keys().next().value as string);
        }
        this.last.set(id, seen);
        const filter = (values: Record<string, unknown>, prefix: string) => {
            for (const k of Object.keys(values)) {
                if (!this.keys.has(k)) continue;
                const json = JSON.stringify(values[k]);
                if (seen!.get(prefix + k) === json) delete values[k];
                else seen!.set(prefix + k, json);
            }
        };
        for (const t of e.telemetry) filter(t.values, 't:');
        e.telemetry = e.telemetry.filter((t) => Object.keys(t.values).length > 0);
        filter(e.attributes, 'a:');
    }
}
