/**
 * The worker id of a consumer: names the owner of every lease it holds. A random one per start by
 * default; a stable one (the same after a restart) lets a restarted instance take its own leases back
 * at once instead of after the failover time. It must be unique among the running instances of one
 * application: two with the same id take each other's leases (detected and reported, see the
 * coordinator).
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';

export const MAX_WORKER_ID_LENGTH = 200;

export function defaultWorkerId(): string {
    return `${hostname()}-${randomBytes(4).toString('hex')}`;
}

export type WorkerIdResult = { id: string; stable: boolean } | { error: string };

/**
 * The configured worker id with every `${NAME}` replaced by `lookup(NAME)` (Node-RED: the node's
 * env — flow, group, global — then the process environment). Empty = a random id. A variable that is
 * not set, or empty, is an error: a literal `${NAME}` or an empty part would give every instance
 * the same id.
 */
export function resolveWorkerId(configured: string | undefined, lookup: (name: string) => unknown): WorkerIdResult {
    const text = (configured ?? '').trim();
    if (!text) return { id: defaultWorkerId(), stable: false };
    const missing: string[] = [];
    // linear: one pass, names without '}' (no backtracking)
    const id = text.replace(/\$\{([^{}]{1,100})\}/g, (_m, name: string) => {
        const v = lookup(name.trim());
        const s = v === undefined || v === null ? '' : String(v).trim();
        if (!s) missing.push(name.trim());
        return s;
    });
    if (missing.length) return { error: `worker id: environment variable ${missing.map((n) => n.slice(0, 40)).join(', ')} is not set` };
    if (id.length > MAX_WORKER_ID_LENGTH) return { error: `worker id: longer than ${MAX_WORKER_ID_LENGTH} characters` };
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(id)) return { error: 'worker id: contains control characters' };
    return { id, stable: true };
}
