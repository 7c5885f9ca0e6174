/**
 * Import of a ThingsBoard converter file (the JSON ThingsBoard exports, e.g. the four files of its
 * AWS Kinesis tutorial): name, direction, language, script and updateOnlyKeys, with notes on what
 * will not run here.
 */
import vm from 'node:vm';
import type { Direction, ScriptLang } from './sandbox';
import { findForbiddenSyntax } from './guard';
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

/** TBEL (MVEL) constructs that are not JavaScript, with what to write instead. */
const TBEL_ONLY: { re: RegExp; what: string; runs?: boolean }[] = [
    { re: /\.size\(\)/, what: '.size() (Java collections) — use .length or Object.keys(x).length' },
    { re: /\.put\(/, what: '.put(key, value) — use obj[key] = value' },
    { re: /\.get\(\s*['"\w]/, what: '.get(key) on maps/lists — use obj[key]' },
    { re: /\.containsKey\(/, what: '.containsKey(k) — use (k in obj)' },
    { re: /\.isEmpty\(\)/, what: '.isEmpty() — use .length === 0' },
    { re: /\.(keys|values|entrySet|keySet)\(\)/, what: '.keys()/.values()/.entrySet() on maps — use Object.keys/Object.values/Object.entries' },
    { re: /\.(add|remove)\(/, what: '.add()/.remove() on lists — use push/splice' },
    { re: /\.\?/, what: 'null-safe navigation .? — use ?. (JavaScript optional chaining)' },
    { re: /\?\./, what: '?. (null-safe access) — JavaScript optional chaining has the same meaning', runs: true },
    { re: /\bforeach\s*\(/, what: 'foreach (x : list) loops — use for (const x of list)' },
    { re: /\bfor\s*\(\s*[\w$]+(?:\s+[\w$]+)?\s*:\s/, what: 'for (x : list) loops — use for (const x of list)' },
    { re: /\bdef\s+\w+\s*\(/, what: 'def functions — use function name(…) { … }' },
    { re: /\bnew\s+(byte|int|long|double|float)\s*\[/, what: 'Java arrays (new byte[n]) — use new Array(n).fill(0)' },
    { re: /\b(int|long|double|float|byte|boolean|String)\s+\w+\s*=/, what: 'typed declarations (int x = …) — use var/let' },
    { re: /\[\s*:\s*\]/, what: 'the empty map literal [:] — use {}' },
    // a closing quote followed by .toInt( …: no pattern over the string's body (that one backtracked exponentially)
    { re: /["']\s*\.(?:toInt|toLong|toDouble|toFloat)\(/, what: 'Java number conversions — use Number(…)' },
];

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

/** Notes about a script: TBEL-only constructs, refused syntax, syntax errors (with line numbers). */
export function checkScript(script: string, direction: Direction, scriptLang: ScriptLang): string[] {
    const notes: string[] = [];
    if (!script.trim()) return notes;
    if (scriptLang === 'TBEL') {
        // TBEL syntax is translated when the converter is deployed; what cannot be is reported here
        const t = translateTbel(script);
        if (t.error) notes.push(`Line ${t.error.line}: ${t.error.message}.`);
        else script = t.code;
    }
    const lines = scriptLang === 'TBEL' ? [] : script.split('\n');
    for (const t of TBEL_ONLY) {
        const at = lines.findIndex((l) => t.re.test(l));
        if (at >= 0) {
            notes.push(t.runs
                ? `Line ${at + 1}: ${t.what}.`
                : `Line ${at + 1}: TBEL-only syntax will not run here: ${t.what}.`);
        }
    }
    const refused = findForbiddenSyntax(script);
    if (refused) notes.push(`Line ${refused.line}: ${refused.message}.`);
    try {
        const params = direction === 'uplink' ? ['payload', 'metadata'] : ['msg', 'metadata', 'msgType', 'integrationMetadata'];
        vm.compileFunction(script, params, { filename: 'script.js', parsingContext: vm.createContext(Object.create(null)) });
    } catch (e) {
        const stack = String((e as Error).stack ?? '');
        const m = /^script\.js:(\d+)/.exec(stack);
        notes.push(`${m ? `Line ${m[1]}: ` : ''}the ${scriptLang === 'TBEL' ? 'TBEL script is not valid JavaScript' : 'script does not compile'}: ${(e as Error).message}.`);
    }
    return notes;
}
