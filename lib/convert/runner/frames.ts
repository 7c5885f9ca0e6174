/**
 * Node-RED's side of the runner's batch format (runner/child.ts reads and writes the other side; DESIGN.md
 * "Converter isolation"): the uplink batch header it sends, and the results of a part frame it reads. The
 * runner is not trusted: `applyPart` checks what it reads and writes nothing outside the chunk.
 */
import { isAscii, isUtf8 } from 'node:buffer';
import type { RawResult, UplinkInput, DownlinkInput } from '../sandbox';
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

const EMPTY = Buffer.alloc(0);

/** Whether `s` has no lone surrogate (String.prototype.isWellFormed where the running Node has it). */
export function isWellFormed(s: string): boolean {
    const f = (s as unknown as { isWellFormed?: () => boolean }).isWellFormed;
    if (f) return f.call(s);
    for (let i = 0; i < s.length; i++) {
        const c = s.charCodeAt(i);
        if (c < 0xd800 || c > 0xdfff) continue;
        if (c > 0xdbff || i + 1 >= s.length) return false;
        const d = s.charCodeAt(++i);
        if (d < 0xdc00 || d > 0xdfff) return false;
    }
    return true;
}

function asBuffer(u: Uint8Array): Buffer {
    return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/**
 * A payload's elements as text, one char each: in JavaScript its UTF-8 text when the bytes are valid UTF-8,
 * else the bytes 0-255; in TBEL always the bytes (the runner makes them Java's signed bytes).
 */
export function bytesAsCodes(bytes: Uint8Array, tbel: boolean): string {
    const b = asBuffer(bytes);
    if (tbel) return b.toString('latin1');
    // Decoding replaces every invalid sequence with U+FFFD: text without one came from valid UTF-8 (the
    // full check only when the text has one, which valid UTF-8 may also carry).
    const text = b.toString('utf8');
    return text.indexOf('\ufffd') < 0 || isUtf8(b) ? text : b.toString('latin1');
}

/** A batch as the runner takes it: the JSON header and the text as UTF-8 bytes (`bj`: a JSON string literal). */
export interface EncodedBatch {
    h: string;
    b: Buffer;
    bj: boolean;
}

/** A downlink batch: `[[msg, metadata, msgType], …]` in the header, no text. */
export function downlinkBatch(chunk: DownlinkInput[]): EncodedBatch {
    return { h: JSON.stringify(chunk.map((d) => [d.msg ?? null, d.metadata ?? {}, d.msgType ?? ''])), b: EMPTY, bj: false };
}

/**
 * An uplink batch: the JSON header and the text (payloads, then metadata values) as UTF-8 bytes. Columnar when
 * every record's metadata has the first one's keys in its order, all strings: `{n: [payload lengths], k: [keys],
 * l: [value lengths, k.length per record]}` (lengths in UTF-16 code units: the runner reads the decoded text), the
 * values' text after all payloads (parsing short strings out of JSON costs ~0.2 µs each, slicing them from the
 * text far less); else `{n, m: [metadata per record]}` and only the payloads.
 *
 * Payload bytes (`codes` a Uint8Array) are copied as they are: one ASCII check over the whole batch, and only
 * when it fails, per record, the text `bytesAsCodes` makes of them (valid UTF-8 in JavaScript: still the same
 * bytes). No payload is decoded into a string and encoded again. Text that is not well-formed UTF-16 (a lone
 * surrogate, which UTF-8 cannot carry) sends the whole text as a JSON string literal (`bj`).
 */
export function uplinkBatch(chunk: UplinkInput[], tbel = false): EncodedBatch {
    const n = chunk.length;
    const lens: number[] = new Array(n);
    const keys = n ? Object.keys(chunk[0].metadata ?? {}) : [];
    const K = keys.length;
    let vlens: number[] | undefined = new Array(n * K);
    let valUnits = 0;
    let byteCap = 0;
    let textCap = 0;
    for (let i = 0; i < n; i++) {
        const inp = chunk[i];
        const c = inp.codes;
        lens[i] = c.length;
        if (typeof c === 'string') textCap += c.length;
        else byteCap += c.length;
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
                valUnits += v.length;
            }
            if (j !== K) vlens = undefined;
        }
    }
    if (!vlens) valUnits = 0;
    // UTF-8: ≤ 3 bytes per UTF-16 code unit of text, ≤ 2 per byte that goes as a char 0-255
    let buf = Buffer.allocUnsafe(textCap ? 2 * byteCap + 3 * (textCap + valUnits) : byteCap + 3 * valUnits);
    let off = 0;
    if (!textCap) {
        for (let i = 0; i < n; i++) {
            const c = chunk[i].codes as Uint8Array;
            buf.set(c, off);
            off += c.length;
        }
        if (!isAscii(buf.subarray(0, off))) {
            buf = Buffer.allocUnsafe(2 * byteCap + 3 * valUnits);
            off = writeTexts(chunk, tbel, lens, buf);
        }
    } else {
        off = writeTexts(chunk, tbel, lens, buf);
    }
    if (off >= 0 && valUnits) off = writeValues(chunk, buf, off);
    let b: Buffer;
    const bj = off < 0;
    if (bj) b = Buffer.from(JSON.stringify(textsOf(chunk, tbel, lens) + (vlens ? valuesText(chunk) : '')));
    else b = buf.subarray(0, off);
    // the header after the texts: a text's length is known once it is made
    const h = vlens ? JSON.stringify({ n: lens, k: keys, l: vlens }) : JSON.stringify({ n: lens, m: chunk.map((inp) => inp.metadata ?? {}) });
    return { h, b, bj };
}

/**
 * Writes every record's metadata values (columnar: all strings, the first record's keys) into `buf` from `off`:
 * ASCII char by char (short strings: cheaper than a call into the UTF-8 encoder, and no string is built),
 * other text with the encoder. Returns the end, or -1 when a value is not well-formed UTF-16.
 */
function writeValues(chunk: UplinkInput[], buf: Buffer, off: number): number {
    for (let i = 0; i < chunk.length; i++) {
        const md = chunk[i].metadata;
        for (const key in md) {
            const v = md[key];
            const len = v.length;
            let j = 0;
            for (; j < len; j++) {
                const c = v.charCodeAt(j);
                if (c > 0x7f) break;
                buf[off + j] = c;
            }
            if (j === len) {
                off += len;
                continue;
            }
            if (!isWellFormed(v)) return -1;
            off += buf.write(v, off);
        }
    }
    return off;
}

/** The metadata values' text (columnar), for the JSON fallback. */
function valuesText(chunk: UplinkInput[]): string {
    let s = '';
    for (const inp of chunk) for (const key in inp.metadata) s += inp.metadata[key];
    return s;
}

/**
 * Writes every record's text into `buf` (UTF-8), payload bytes that are ASCII or valid UTF-8 (JavaScript) as
 * they are, and sets `lens` to each text's length; -1 when a text is not well-formed UTF-16.
 */
function writeTexts(chunk: UplinkInput[], tbel: boolean, lens: number[], buf: Buffer): number {
    let off = 0;
    let rope = '';
    for (let i = 0; i < chunk.length; i++) {
        const c = chunk[i].codes;
        let text: string | undefined;
        if (typeof c === 'string') text = c;
        else if (!isAscii(c)) {
            // valid UTF-8 in JavaScript: its bytes are its text's (only its length differs); else bytes 0-255
            if (!tbel && isUtf8(c)) lens[i] = asBuffer(c).toString('utf8').length;
            else text = asBuffer(c).toString('latin1');
        }
        if (text !== undefined) {
            if (!isWellFormed(text)) return -1;
            lens[i] = text.length;
            rope += text;
            continue;
        }
        if (rope) {
            off += buf.write(rope, off);
            rope = '';
        }
        buf.set(c as Uint8Array, off);
        off += c.length;
    }
    if (rope) off += buf.write(rope, off);
    return off;
}

/** The whole text of a batch's payloads as one string (the JSON fallback's input); sets `lens`. */
function textsOf(chunk: UplinkInput[], tbel: boolean, lens: number[]): string {
    let s = '';
    for (let i = 0; i < chunk.length; i++) {
        const c = chunk[i].codes;
        const text = typeof c === 'string' ? c : bytesAsCodes(c, tbel);
        lens[i] = text.length;
        s += text;
    }
    return s;
}
