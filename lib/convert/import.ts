/**
 * Import of a ThingsBoard converter file (the JSON ThingsBoard exports, e.g. the four files of its
 * AWS Kinesis tutorial): name, direction, language, script and updateOnlyKeys, with notes on what
 * will not run here. Reading the file does only linear work on its text: JSON.parse and the scans of
 * `checkScript`; nothing in it is compiled or run in Node-RED.
 */
import { ScriptEngine, ScriptCompileError, MAX_SCRIPT_CHARS, refusal } from './sandbox';
import type { Direction, ScriptLang } from './sandbox';
import type { NetworkIsolationOptions } from './runner/netns';
import { clipText } from '../aws/errors';
import { translateTbel } from './tbel-syntax';

export interface ImportedConverter {
    name: string;
    direction: Direction;
    scriptLang: ScriptLang;
    script: string;
    updateOnlyKeys: string[];
    description: string;
    integrationType: string | null;
    /** Human-readable warnings: TBEL-only syntax, syntax errors, missing script, other integration type. */
    notes: string[];
}

export class ImportError extends Error {
    constructor(message: string) {
        super(message);
        this.name = 'ImportError';
    }
}

const isWordChar = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
const isIdentChar = (c: number): boolean => isWordChar(c) || c === 36;
const isWs = (c: number): boolean => c === 32 || c === 9 || c === 10 || c === 13 || c === 11 || c === 12;

/** Index after the whitespace run at i. */
function skipWs(t: string, i: number): number {
    while (i < t.length && isWs(t.charCodeAt(i))) i++;
    return i;
}

/** Every index where `word` starts as a whole word (\bword\b), left to right. */
function* wordsAt(t: string, word: string): Generator<number> {
    let i = t.indexOf(word);
    while (i >= 0) {
        const before = i > 0 ? t.charCodeAt(i - 1) : 32;
        const after = i + word.length < t.length ? t.charCodeAt(i + word.length) : 32;
        if (!isWordChar(before) && !isWordChar(after)) yield i;
        i = t.indexOf(word, i + word.length);
    }
}

/** First index of any of the substrings, or -1. */
function anyOf(...subs: string[]): (t: string) => number {
    return (t) => {
        let best = -1;
        for (const x of subs) {
            const i = t.indexOf(x);
            if (i >= 0 && (best < 0 || i < best)) best = i;
        }
        return best;
    };
}

/** `word` (whole) followed by optional whitespace and `next`; with `ident`, an identifier in between. */
function wordThen(words: string[], next: string, opts: { ident?: boolean; wsRequired?: boolean } = {}): (t: string) => number {
    return (t) => {
        let best = -1;
        for (const w of words) {
            for (const i of wordsAt(t, w)) {
                if (best >= 0 && i > best) break;
                let j = skipWs(t, i + w.length);
                if (opts.wsRequired && j === i + w.length) continue;
                if (opts.ident) {
                    const k = j;
                    while (j < t.length && isIdentChar(t.charCodeAt(j))) j++;
                    if (j === k) continue;
                    j = skipWs(t, j);
                }
                if (t.startsWith(next, j)) {
                    if (best < 0 || i < best) best = i;
                    break;
                }
            }
        }
        return best;
    };
}

/**
 * TBEL (MVEL) constructs that are not JavaScript, with what to write instead. Each check is a plain
 * forward scan of the text (indexOf and bounded look-aheads, no regular expressions): linear in the
 * script's length, whatever the text.
 */
const TBEL_ONLY: { find: (t: string) => number; what: string; runs?: boolean }[] = [
    { find: anyOf('.size()'), what: '.size() (Java collections) — use .length or Object.keys(x).length' },
    { find: anyOf('.put('), what: '.put(key, value) — use obj[key] = value' },
    {
        find: (t) => {
            for (let i = t.indexOf('.get('); i >= 0; i = t.indexOf('.get(', i + 5)) {
                const c = t.charCodeAt(skipWs(t, i + 5));
                if (c === 39 || c === 34 || isWordChar(c)) return i;
            }
            return -1;
        },
        what: '.get(key) on maps/lists — use obj[key]',
    },
    { find: anyOf('.containsKey('), what: '.containsKey(k) — use (k in obj)' },
    { find: anyOf('.isEmpty()'), what: '.isEmpty() — use .length === 0' },
    { find: anyOf('.keys()', '.values()', '.entrySet()', '.keySet()'), what: '.keys()/.values()/.entrySet() on maps — use Object.keys/Object.values/Object.entries' },
    { find: anyOf('.add(', '.remove('), what: '.add()/.remove() on lists — use push/splice' },
    { find: anyOf('.?'), what: 'null-safe navigation .? — use ?. (JavaScript optional chaining)' },
    { find: anyOf('?.'), what: '?. (null-safe access) — JavaScript optional chaining has the same meaning', runs: true },
    { find: wordThen(['foreach'], '('), what: 'foreach (x : list) loops — use for (const x of list)' },
    {
        // for ( … whitespace ':' whitespace … ) with no ; ( ) inside: the scan stops at the next ( so scans never overlap
        find: (t) => {
            for (const i of wordsAt(t, 'for')) {
                let j = skipWs(t, i + 3);
                if (t.charCodeAt(j) !== 40) continue;
                let colon = false;
                for (j++; j < t.length; j++) {
                    const c = t.charCodeAt(j);
                    if (c === 59 || c === 40) break;
                    if (c === 41) {
                        if (colon) return i;
                        break;
                    }
                    if (c === 58 && isWs(t.charCodeAt(j - 1)) && isWs(t.charCodeAt(j + 1))) colon = true;
                }
            }
            return -1;
        },
        what: 'for (x : list) loops — use for (const x of list)',
    },
    { find: wordThen(['def'], '(', { ident: true, wsRequired: true }), what: 'def functions — use function name(…) { … }' },
    {
        find: (t) => {
            for (const i of wordsAt(t, 'new')) {
                const j = skipWs(t, i + 3);
                if (j === i + 3) continue;
                for (const w of ['byte', 'int', 'long', 'double', 'float']) {
                    if (t.startsWith(w, j) && !isWordChar(t.charCodeAt(j + w.length)) && t.charCodeAt(skipWs(t, j + w.length)) === 91) return i;
                }
            }
            return -1;
        },
        what: 'Java arrays (new byte[n]) — use new Array(n).fill(0)',
    },
    { find: wordThen(['int', 'long', 'double', 'float', 'byte', 'boolean', 'String'], '=', { ident: true, wsRequired: true }), what: 'typed declarations (int x = …) — use var/let' },
    {
        find: (t) => {
            for (let i = t.indexOf('['); i >= 0; i = t.indexOf('[', i + 1)) {
                const j = skipWs(t, i + 1);
                if (t.charCodeAt(j) === 58 && t.charCodeAt(skipWs(t, j + 1)) === 93) return i;
            }
            return -1;
        },
        what: 'the empty map literal [:] — use {}',
    },
    {
        // a quoted string followed by .toInt( … : look back over whitespace for the closing quote
        find: (t) => {
            let best = -1;
            for (const m of ['.toInt(', '.toLong(', '.toDouble(', '.toFloat(']) {
                for (let i = t.indexOf(m); i >= 0; i = t.indexOf(m, i + m.length)) {
                    let k = i - 1;
                    while (k >= 0 && isWs(t.charCodeAt(k))) k--;
                    const c = t.charCodeAt(k);
                    if (c === 34 || c === 39) {
                        if (best < 0 || i < best) best = i;
                        break;
                    }
                }
            }
            return best;
        },
        what: 'Java number conversions — use Number(…)',
    },
];

/** 1-based line of index i (one pass over the text before it). */
function lineOf(t: string, i: number): number {
    let line = 1;
    for (let k = t.indexOf('\n'); k >= 0 && k < i; k = t.indexOf('\n', k + 1)) line++;
    return line;
}

function isString(v: unknown): v is string {
    return typeof v === 'string';
}

/** Parses and checks a ThingsBoard converter export. `json` may be the file text or the parsed object. */
export function importConverterFile(json: unknown): ImportedConverter {
    let doc: unknown = json;
    if (typeof json === 'string' || Buffer.isBuffer(json)) {
        try {
            doc = JSON.parse(String(json));
        } catch (e) {
            throw new ImportError(`Not a ThingsBoard converter file: the text is not JSON (${(e as Error).message})`);
        }
    }
    if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new ImportError('Not a ThingsBoard converter file: expected a JSON object');
    const d = doc as Record<string, unknown>;
    const type = String(d.type ?? '').toUpperCase();
    if (type !== 'UPLINK' && type !== 'DOWNLINK') {
        throw new ImportError(`Not a ThingsBoard converter file: "type" must be "UPLINK" or "DOWNLINK"${d.type === undefined ? ' (missing)' : `, got ${JSON.stringify(d.type)}`}`);
    }
    const cfg = d.configuration;
    if (!cfg || typeof cfg !== 'object') throw new ImportError('Not a ThingsBoard converter file: "configuration" is missing');
    const c = cfg as Record<string, unknown>;
    const direction: Direction = type === 'UPLINK' ? 'uplink' : 'downlink';
    const scriptLang: ScriptLang = String(c.scriptLang ?? 'JS').toUpperCase() === 'TBEL' ? 'TBEL' : 'JS';
    const jsKey = direction === 'uplink' ? 'decoder' : 'encoder';
    const tbelKey = direction === 'uplink' ? 'tbelDecoder' : 'tbelEncoder';
    if (!(jsKey in c) && !(tbelKey in c)) throw new ImportError(`Not a ThingsBoard ${type.toLowerCase()} converter: configuration.${jsKey} is missing`);
    const notes: string[] = [];
    let script = scriptLang === 'TBEL' ? c[tbelKey] : c[jsKey];
    if (!isString(script) || !script.trim()) {
        const other = scriptLang === 'TBEL' ? c[jsKey] : c[tbelKey];
        if (isString(other) && other.trim()) {
            notes.push(`The file says scriptLang ${scriptLang} but has no ${scriptLang === 'TBEL' ? tbelKey : jsKey}; the ${scriptLang === 'TBEL' ? 'JavaScript' : 'TBEL'} script was imported instead.`);
            script = other;
        } else {
            notes.push('The file contains no script: a template was kept.');
            script = '';
        }
    }
    const updateOnlyKeys = Array.isArray(c.updateOnlyKeys) ? c.updateOnlyKeys.filter(isString) : [];
    if (d.integrationType && d.integrationType !== 'AWS_KINESIS') {
        notes.push(`The converter was made for ${String(d.integrationType)}, not AWS_KINESIS: check what its script expects in payload and metadata.`);
    }
    const s = String(script);
    notes.push(...checkScript(s, direction, scriptLang));
    const info = d.additionalInfo as Record<string, unknown> | undefined;
    return {
        name: isString(d.name) ? d.name : '',
        direction,
        scriptLang,
        script: s,
        updateOnlyKeys,
        description: info && isString(info.description) ? info.description : '',
        integrationType: isString(d.integrationType) ? d.integrationType : null,
        notes,
    };
}

/**
 * Notes about a script found on this side without running anything: TBEL-only constructs and refused
 * syntax (with line numbers). Linear in the script's length; a script over the size limit is only noted.
 * Whether it compiles is asked of a runner process: `compileNotes`.
 */
export function checkScript(script: string, direction: Direction, scriptLang: ScriptLang): string[] {
    const notes: string[] = [];
    if (!script.trim()) return notes;
    if (script.length > MAX_SCRIPT_CHARS) {
        notes.push(`The script is too long to run here (${script.length} characters, at most ${MAX_SCRIPT_CHARS}).`);
        return notes;
    }
    let js = script;
    if (scriptLang === 'TBEL') {
        // TBEL syntax is translated when the converter is deployed; what cannot be is reported here
        const t = translateTbel(script);
        if (t.error) {
            notes.push(`Line ${t.error.line}: ${t.error.message}.`);
            return notes;
        }
        js = t.code;
    } else {
        // a script marked JavaScript that uses TBEL syntax: said before it fails at deploy
        for (const t of TBEL_ONLY) {
            const at = t.find(script);
            if (at >= 0) {
                const line = lineOf(script, at);
                notes.push(t.runs ? `Line ${line}: ${t.what}.` : `Line ${line}: TBEL-only syntax will not run here: ${t.what}.`);
            }
        }
    }
    const refused = refusal(js, direction);
    if (refused) notes.push(`${refused.line ? `Line ${refused.line}: ` : ''}${refused.message}.`);
    return notes;
}

/**
 * Whether the script compiles, asked of a runner process with the converter's limits (never compiled
 * or run in Node-RED): a note when it does not, or when the runner could not check it.
 */
export async function compileNotes(script: string, direction: Direction, scriptLang: ScriptLang, network?: NetworkIsolationOptions): Promise<string[]> {
    if (!script.trim()) return [];
    let engine: ScriptEngine;
    try {
        engine = new ScriptEngine({ direction, scriptLang, script, timeoutMs: 1000, network });
    } catch {
        return []; // refused by the guard: checkScript noted it
    }
    try {
        await engine.start();
        return [];
    } catch (e) {
        const info = e instanceof ScriptCompileError ? e.info : undefined;
        if (!info || info.kind !== 'compile') return [`The script could not be checked: ${clipText(String(info?.message ?? (e as Error)?.message ?? e), 300)}.`];
        return [`${info.line ? `Line ${info.line}: ` : ''}the ${scriptLang === 'TBEL' ? 'TBEL script is not valid JavaScript' : 'script does not compile'}: ${clipText(info.message, 300)}.`];
    } finally {
        engine.close();
    }
}
