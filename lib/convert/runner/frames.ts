/**
 * Node-RED's side of the runner's batch format (runner/child.ts reads and writes the other side; DESIGN.md
 * "Converter isolation"): the uplink batch header it sends, and the results of a part frame it reads. The
 * runner is not trusted: `applyPart` checks what it reads and writes nothing outside the chunk.
 */
import type { RawResult, UplinkInput } from '../sandbox';
import type { Part } from './process';

const malformed = (): RawResult => ({ error: { kind: 'sandbox', name: 'Error', message: 'the converter runtime returned a malformed result' } });

/** A script error as the runner reports it (`{n, m, l, c}`; not trusted: every field converted and clipped). */
function errorResult(e: unknown): RawResult {
    if (!e || typeof e !== 'object') return malformed();
    const x = e as { n?: unknown; m?: unknown; l?: unknown; c?: unknown };
    const line = typeof x.l === 'number' && x.l > 0 ? x.l : undefined;
    const column = typeof x.c === 'number' && x.c > 0 ? x.c : undefined;
    return { error: { kind: 'script', name: String(x.n).slice(0, 100), message: String(x.m).slice(0, 1024), line, column } };
}

/**
 * Fills results[base + start …] from one part frame (at most `n - start` records, the chunk's own); returns how
 * many records the part covered. A kind without its value or error, or an unknown kind, is a malformed result.
 */
export function applyPart(results: RawResult[], base: number, n: number, start: number, part: Part, timeoutMs: number): number {
    const { k, r, e } = part;
    const count = Math.min(k.length, n - start);
    if (!Number.isInteger(start) || start < 0 || count <= 0) return 0;
    let ri = 0;
    let ei = 0;
    for (let q = 0; q < count; q++) {
        const c = k.charCodeAt(q);
        let res: RawResult;
        if (c === 0x72 /* r */) res = ri < r.length ? { value: r[ri++] } : malformed();
        else if (c === 0x75 /* u */) res = {};
        else if (c === 0x65 /* e */) res = ei < e.length ? errorResult(e[ei++]) : malformed();
        else if (c === 0x74 /* t */) res = { error: { kind: 'timeout', name: 'TimeoutError', message: `did not finish within ${timeoutMs} ms (endless loop?)` } };
        else res = malformed();
        results[base + start + q] = res;
    }
    return count;
}

/**
 * An uplink batch: the JSON header and the raw text (payloads, then metadata values). Columnar when every record's
 * metadata has the first one's keys in its order, all strings: `{n: [payload lengths], k: [keys], l: [value lengths,
 * k.length per record]}`, the values' text after all payloads (parsing short strings out of JSON costs ~0.2 µs
 * each, slicing them from the text far less); else `{n, m: [metadata per record]}` and only the payloads.
 */
export function uplinkHeader(chunk: UplinkInput[]): { h: string; b: string } {
    const n = chunk.length;
    const lens: number[] = new Array(n);
    const keys = n ? Object.keys(chunk[0].metadata ?? {}) : [];
    const K = keys.length;
    let vlens: number[] | undefined = new Array(n * K);
    let vals = '';
    let b = '';
    for (let i = 0; i < n; i++) {
        const inp = chunk[i];
        lens[i] = inp.codes.length;
        b += inp.codes;
        if (vlens) {
            const md = inp.metadata ?? {};
            let j = 0;
            for (const key in md) {
                const v = md[key];
                if (j >= K || key !== keys[j] || typeof v !== 'string') {
                    j = -1;
                    break;
                }
                vlens[i * K + j++] = v.length;
                vals += v;
            }
            if (j !== K) vlens = undefined;
        }
    }
    if (vlens) return { h: JSON.stringify({ n: lens, k: keys, l: vlens }), b: vals ? b + vals : b };
    return { h: JSON.stringify({ n: lens, m: chunk.map((inp) => inp.metadata ?? {}) }), b };
}

