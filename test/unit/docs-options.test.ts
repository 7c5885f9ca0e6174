/**
 * The option tables say what the editor and the runtime do. For every node type, every setting of the
 * edit dialog (editor `defaults` and `credentials`):
 * - has a label in the message catalog (`<type>.label.<key>`), the one name the docs use for it;
 * - is a `<dt>` of the help text's Properties list (`<dl class="message-properties">`);
 * - is a row of the README's settings table of that node (`| setting | property | default | range | … |`)
 *   with that label, that property, the editor's default, and for a number the editor's range (which is
 *   also what the runtime clamps to) and for a choice every option value of the dialog's select.
 * The runtime's own defaults and ranges (`num(def.x, dflt, min, max)` in kinesis-in, the producer's
 * `clampInt(opts.x, min, max, dflt)` behind kinesis-out, kinesis-convert's `positive(def.x, dflt)`) are
 * compared with the editor's.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { DEFAULT_FAILURE_POLICY } from '../../lib/consumer/failure-policy';
import { DEFAULT_MAX_RECORD_BYTES, LARGEST_RECORD_BYTES } from '../../lib/producer/records';
import { DEFAULT_MEMORY_LIMIT_MB } from '../../lib/convert/sandbox';

const root = path.resolve(__dirname, '..', '..', '..');
const read = (p: string): string => fs.readFileSync(path.join(root, p), 'utf8');

const TYPES = ['kinesis-config', 'kinesis-in', 'kinesis-out', 'kinesis-convert'] as const;
/** Not settings of the dialog: the node name, kinesis-in's port count (derived from other settings). */
const NOT_SETTINGS: Record<string, string[]> = { 'kinesis-in': ['name', 'outputs'] };

interface Setting { key: string; dflt: unknown; min?: number; max?: number; credential?: boolean }

/** The text between `name: {` and its closing brace, in the editor's registerType call. */
function block(html: string, name: string): string {
    const start = html.indexOf(`${name}: {`);
    if (start < 0) return '';
    let depth = 0;
    for (let i = html.indexOf('{', start); i < html.length; i++) {
        if (html[i] === '{') depth++;
        else if (html[i] === '}' && --depth === 0) return html.slice(html.indexOf('{', start) + 1, i);
    }
    throw new Error(`unbalanced ${name}`);
}

function literal(text: string): unknown {
    const t = text.trim();
    if (t === "''") return '';
    if (t === '[]') return [];
    if (t === 'true' || t === 'false') return t === 'true';
    if (/^-?\d+$/.test(t)) return Number(t);
    if (/^'[^']*'$/.test(t)) return t.slice(1, -1);
    return { expression: t }; // e.g. TEMPLATES.uplink: a default the table describes in words
}

function editorSettings(type: string): Setting[] {
    const html = read(`nodes/${type}/${type}.html`);
    const skip = NOT_SETTINGS[type] ?? ['name'];
    const out: Setting[] = [];
    const defaults = block(html, 'defaults');
    const keys = [...defaults.matchAll(/^\s*(\w+): \{ value: ([^,}]+)(.*)$/gm)];
    assert.ok(keys.length > 2, `${type}: defaults parsed`);
    for (const m of keys) {
        const key = m[1];
        if (skip.includes(key)) continue;
        if (/Type$/.test(key) && keys.some((k) => k[1] === key.replace(/Type$/, ''))) continue; // a typed input's type
        const range = /intIn\((\d+)(?:, (\d+|undefined))?/.exec(m[3]);
        out.push({ key, dflt: literal(m[2]), ...(range ? { min: Number(range[1]), ...(range[2] && range[2] !== 'undefined' ? { max: Number(range[2]) } : {}) } : {}) });
    }
    for (const m of block(html, 'credentials').matchAll(/^\s*(\w+): \{ type:/gm)) out.push({ key: m[1], dflt: '', credential: true });
    return out;
}

/** Option values of the dialog's `<select id="node-(input|config-input)-key">`, or undefined. */
function selectValues(type: string, key: string): string[] | undefined {
    const html = read(`nodes/${type}/${type}.html`);
    const m = new RegExp(`<select id="node-(?:config-)?input-${key}"[^>]*>([\\s\\S]*?)</select>`).exec(html);
    return m ? [...m[1].matchAll(/<option value="([^"]*)"/g)].map((o) => o[1]) : undefined;
}

function labelsOf(type: string): Record<string, string> {
    const catalog = JSON.parse(read(`nodes/${type}/locales/en-US/${type}.json`)) as Record<string, { label: Record<string, string> }>;
    return catalog[type].label;
}

const stripTags = (s: string): string => s.replace(/<[^>]*>/g, '').replace(/&amp;/g, '&').replace(/\s+/g, ' ').trim();

/** The `<dt>` names of the help text's Properties list (a `<dt>` may name several settings: "A / B"). */
function helpProperties(type: string): string[] {
    const help = read(`nodes/${type}/locales/en-US/${type}.html`);
    const m = /<h3>Properties<\/h3>\s*<dl class="message-properties">([\s\S]*?)<\/dl>/.exec(help);
    assert.ok(m, `${type}: the help text has a Properties section with <dl class="message-properties">`);
    return [...m[1].matchAll(/<dt[^>]*>([\s\S]*?)(?:<span class="property-type">[\s\S]*?<\/span>)?\s*<\/dt>/g)]
        .flatMap((d) => stripTags(d[1]).split(' / ').map((s) => s.trim()));
}

interface Row { label: string; key: string; dflt: string; range: string }

/** The rows of the settings table in the README section of `type`. */
function readmeRows(type: string): Row[] {
    const readme = read('README.md');
    const start = readme.indexOf(`\n## \`${type}\``);
    assert.ok(start >= 0, `README has a section ## \`${type}\``);
    const end = readme.indexOf('\n## ', start + 1);
    const section = readme.slice(start, end < 0 ? undefined : end);
    const head = section.indexOf('\n| setting | property | default | range |');
    assert.ok(head >= 0, `README ${type}: a table | setting | property | default | range | …`);
    const rows: Row[] = [];
    for (const line of section.slice(head + 1).split('\n').slice(2)) {
        if (!line.startsWith('|')) break;
        const cells = line.slice(1, -1).split(' | ').map((c) => c.trim());
        rows.push({ label: cells[0].replace(/\*\*/g, ''), key: cells[1].replace(/`/g, ''), dflt: cells[2], range: cells[3] });
    }
    return rows;
}

/** How the README writes an editor default. */
function readmeDefault(s: Setting): string | undefined {
    if (s.dflt === '' || (Array.isArray(s.dflt) && s.dflt.length === 0)) return 'empty';
    if (typeof s.dflt === 'boolean') return s.dflt ? 'on' : 'off';
    if (typeof s.dflt === 'number') return String(s.dflt);
    if (typeof s.dflt === 'string') return `\`${s.dflt}\``;
    return undefined; // an expression: described in words
}

/** `name(def.key, a, b, c)` argument lists found in a runtime file, by key. */
function calls(file: string, pattern: RegExp): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const m of read(file).matchAll(pattern)) out.set(m[1], m[2].split(',').map((a) => a.trim()));
    return out;
}

const CONSTANTS: Record<string, number> = {
    'DEFAULT_FAILURE_POLICY.retries': DEFAULT_FAILURE_POLICY.retries,
    'DEFAULT_FAILURE_POLICY.retryDelayMs': DEFAULT_FAILURE_POLICY.retryDelayMs,
    'DEFAULT_FAILURE_POLICY.retryMaxDelayMs': DEFAULT_FAILURE_POLICY.retryMaxDelayMs,
    DEFAULT_MAX_RECORD_BYTES, LARGEST_RECORD_BYTES, DEFAULT_MEMORY_LIMIT_MB,
};
function value(arg: string): number {
    const n = Number(arg.replace(/_/g, ''));
    if (Number.isFinite(n)) return n;
    assert.ok(arg in CONSTANTS, `a constant the test knows: ${arg}`);
    return CONSTANTS[arg];
}

describe('documented options (README, help texts, editor, runtime)', function () {
    for (const type of TYPES) {
        describe(type, function () {
            const settings = editorSettings(type);

            it('every setting has a label, a help entry and a README row with its default and range', function () {
                const labels = labelsOf(type);
                const help = helpProperties(type);
                const rows = readmeRows(type);
                for (const s of settings) {
                    const label = labels[s.key];
                    assert.ok(label, `${type}.label.${s.key} in the message catalog`);
                    assert.ok(help.includes(label), `${type} help: a <dt>${label}</dt> in Properties (has: ${help.join(', ')})`);
                    const row = rows.find((r) => r.key === s.key);
                    assert.ok(row, `README ${type}: a row for \`${s.key}\``);
                    assert.equal(row.label, label, `README ${type} \`${s.key}\`: the editor's label`);
                    const dflt = readmeDefault(s);
                    if (dflt !== undefined) {
                        assert.ok(row.dflt === dflt || row.dflt.startsWith(`${dflt} `),
                            `README ${type} \`${s.key}\`: default "${row.dflt}" starts with the editor's ${dflt}`);
                    }
                    if (s.min !== undefined) {
                        const range = s.max !== undefined ? `${s.min}–${s.max}` : `≥ ${s.min}`;
                        assert.ok(row.range === range || row.range.startsWith(`${range} `), `README ${type} \`${s.key}\`: range "${row.range}" is the editor's ${range}`);
                    }
                    const options = selectValues(type, s.key);
                    if (options) {
                        const listed = [...row.range.matchAll(/`([^`]*)`/g)].map((m) => m[1]);
                        assert.deepEqual(listed, options, `README ${type} \`${s.key}\`: the range lists the dialog's options`);
                    }
                }
                const keys = settings.map((s) => s.key);
                for (const r of rows) assert.ok(keys.includes(r.key), `README ${type}: row \`${r.key}\` is a setting of the editor`);
            });

            it('the runtime applies the editor\'s defaults and ranges', function () {
                const byKey = new Map(settings.map((s) => [s.key, s]));
                const check = (key: string, dflt: number | undefined, min: number | undefined, max: number | undefined): void => {
                    const s = byKey.get(key);
                    assert.ok(s, `the runtime reads ${key}: an editor setting`);
                    if (dflt !== undefined && s.dflt !== '') assert.equal(dflt, s.dflt, `${type} ${key}: runtime default = editor default`);
                    if (min !== undefined && s.min !== undefined) assert.equal(min, s.min, `${type} ${key}: runtime minimum = editor minimum`);
                    if (s.max !== undefined) assert.equal(max, s.max, `${type} ${key}: runtime maximum = editor maximum`);
                };
                let seen = 0;
                if (type === 'kinesis-in') {
                    for (const [key, args] of calls(`nodes/${type}/${type}.ts`, /\bnum\(def\.(\w+), ([^)]*)\)/g)) {
                        check(key, key === 'renewIntervalMs' || key === 'takerIntervalMs' ? undefined : value(args[0]),
                            value(args[1]), args[2] === undefined ? undefined : value(args[2]));
                        seen++;
                    }
                } else if (type === 'kinesis-out') {
                    const node = calls(`nodes/${type}/${type}.ts`, /\bnum\(def\.(\w+), ([^)]*)\)/g);
                    for (const [key, args] of calls('lib/producer/producer.ts', /\bclampInt\(opts\.(\w+), ([^)]*)\)/g)) {
                        if (!node.has(key)) continue; // producer options the node does not expose
                        assert.equal(value(node.get(key)![0]), value(args[2]), `${key}: the node's fallback = the producer's default`);
                        check(key, value(args[2]), value(args[0]), value(args[1]));
                        seen++;
                    }
                    for (const key of node.keys()) if (key !== 'closeTimeoutMs') assert.ok(byKey.has(key), `${key} is an editor setting`);
                } else if (type === 'kinesis-convert') {
                    for (const [key, args] of calls(`nodes/${type}/${type}.ts`, /\bpositive\(def\.(\w+), ([^)]*)\)/g)) {
                        if (!byKey.has(key)) continue; // maxBatch, maxQueue, maxQueueMb: not in the dialog
                        check(key, value(args[0]), undefined, undefined);
                        seen++;
                    }
                } else {
                    seen = 1; // kinesis-config: strings only
                }
                assert.ok(seen > 0, `${type}: runtime defaults found`);
            });
        });
    }
});
