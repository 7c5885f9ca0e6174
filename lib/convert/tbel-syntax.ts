/**
 * TBEL (ThingsBoard's MVEL dialect) → JavaScript, for the constructs of ThingsBoard's TBEL language
 * guide that JavaScript does not have. Everything else in a TBEL script is already JavaScript and is
 * kept byte for byte; every rewrite stays on its own line, so an error's line number is the line in
 * the user's script.
 *
 * Rewritten:
 * - `foreach (x : coll)` and `for (x : coll)` (also with a type: `for (String x : coll)`) →
 *   `for (var x of __tbelIter(coll))`: a list gives its elements, a map its values, a set its members,
 *   `map.entrySet()` entries with `key`/`value`/`getKey()`/`getValue()`;
 * - typed declarations `int i = 0`, `String s`, `byte[] b = …`, `List<String> l = …` → `var …`
 *   (also in `for (int i = 0; …)` headers and as `def` parameters);
 * - `def name(a, b) {` → `function name(a, b) {`;
 * - `new byte[n]` (any primitive or String/Object element type) → a zero-filled (false, null) array;
 *   `new int[]{1, 2}` → an array of those values;
 * - `new ArrayList()` / `new HashMap()` / `new HashSet()` (with or without `<…>`) → `[]` / `{}` / `new Set()`;
 * - `[:]` (MVEL's empty map) → `{}`; `a.?b` (null-safe navigation) → `a?.b`;
 * - `x.get(k)` / `x.set(i, v)` → `x.__tbelGet(k)` / `x.__tbelSet(i, v)` (see helpers/misc.ts);
 * - `s.length()` → `s.length`; number suffixes `10L`, `1.5f`, `2d` → plain numbers;
 * - the value of the last statement is returned when the script does not `return` it (`a + b;`).
 *
 * Emulated in the script's realm (see helpers/misc.ts, `tbelRuntime`): the Java collection methods on
 * maps, lists, sets and strings (`size()`, `put`, `get`, `containsKey`, `remove`, `keys`, `values`,
 * `isEmpty`, `add`, `push`, `sort` in natural order, …). `"123" == 123` is JavaScript's `==` already.
 *
 * Refused at deploy with the line (never run differently): Java casts `(int) x`, Java class statics
 * (`Integer.parseInt`, `Arrays.…`, `System.…`), multi-dimensional arrays, `until` loops, projections.
 *
 * The translator is one pass of a tokenizer plus linear passes over the tokens (bracket matching with
 * a stack): its cost is linear in the script's length, whatever the script holds.
 */

export interface TbelError {
    message: string;
    line: number;
    column: number;
}

export interface TbelTranslation {
    /** The JavaScript text (same line count as the source). */
    code: string;
    /** The first construct that cannot be translated, with its position (1-based). */
    error?: TbelError;
}

type Kind = 'ws' | 'comment' | 'str' | 'num' | 'id' | 'punct';
interface Token {
    kind: Kind;
    text: string;
    pos: number;
    /** numbers: length of the numeric part (the rest is a suffix such as L or f) */
    numLen?: number;
}

const PRIMITIVES = new Set(['int', 'long', 'double', 'float', 'byte', 'short', 'char', 'boolean']);
const TYPE_NAMES = new Set([
    ...PRIMITIVES, 'String', 'Integer', 'Long', 'Double', 'Float', 'Byte', 'Short', 'Character', 'Boolean', 'Object',
    'Map', 'List', 'Set', 'HashMap', 'LinkedHashMap', 'ArrayList', 'LinkedList', 'HashSet', 'LinkedHashSet', 'Collection', 'Number',
]);
const LIST_CLASSES = new Set(['ArrayList', 'LinkedList']);
const MAP_CLASSES = new Set(['HashMap', 'LinkedHashMap']);
const SET_CLASSES = new Set(['HashSet', 'LinkedHashSet']);
const JAVA_STATICS = new Set(['Integer', 'Long', 'Double', 'Float', 'Short', 'Byte', 'Character', 'Boolean', 'Arrays', 'Collections', 'System', 'Thread', 'Runtime', 'Class', 'BigDecimal', 'BigInteger', 'StringUtils']);
const STATEMENT_WORDS = new Set(['var', 'let', 'const', 'if', 'for', 'foreach', 'while', 'do', 'return', 'function', 'def', 'throw', 'try', 'switch', 'break', 'continue', 'else', 'case', 'default']);

function isIdStart(c: number): boolean {
    return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 36 || c > 127;
}
function isIdPart(c: number): boolean {
    return isIdStart(c) || (c >= 48 && c <= 57);
}
function isDigit(c: number): boolean {
    return c >= 48 && c <= 57;
}

/** One pass over the text; every character belongs to exactly one token. */
function tokenize(src: string): Token[] {
    const out: Token[] = [];
    const n = src.length;
    let i = 0;
    while (i < n) {
        const c = src.charCodeAt(i);
        const start = i;
        if (c === 32 || c === 9 || c === 10 || c === 13 || c === 11 || c === 12 || c === 0xa0 || c === 0xfeff || c === 0x2028 || c === 0x2029) {
            while (i < n) {
                const d = src.charCodeAt(i);
                if (d === 32 || d === 9 || d === 10 || d === 13 || d === 11 || d === 12 || d === 0xa0 || d === 0xfeff || d === 0x2028 || d === 0x2029) i++;
                else break;
            }
            out.push({ kind: 'ws', text: src.slice(start, i), pos: start });
        } else if (c === 47 && src.charCodeAt(i + 1) === 47) {
            while (i < n && src.charCodeAt(i) !== 10) i++;
            out.push({ kind: 'comment', text: src.slice(start, i), pos: start });
        } else if (c === 47 && src.charCodeAt(i + 1) === 42) {
            const end = src.indexOf('*/', i + 2);
            i = end < 0 ? n : end + 2;
            out.push({ kind: 'comment', text: src.slice(start, i), pos: start });
        } else if (c === 34 || c === 39 || c === 96) {
            i++;
            while (i < n) {
                const d = src.charCodeAt(i);
                if (d === 92) { i += 2; continue; }
                i++;
                if (d === c) break;
            }
            if (i > n) i = n;
            out.push({ kind: 'str', text: src.slice(start, i), pos: start });
        } else if (isDigit(c) || (c === 46 && isDigit(src.charCodeAt(i + 1)))) {
            if (c === 48 && (src[i + 1] === 'x' || src[i + 1] === 'X')) {
                i += 2;
                while (i < n && /[0-9A-Fa-f_]/.test(src[i])) i++;
            } else {
                while (i < n && (isDigit(src.charCodeAt(i)) || src[i] === '_')) i++;
                if (src[i] === '.' && isDigit(src.charCodeAt(i + 1))) { i++; while (i < n && isDigit(src.charCodeAt(i))) i++; }
                else if (src[i] === '.' && !isIdStart(src.charCodeAt(i + 1)) && src[i + 1] !== '.') i++;
                if ((src[i] === 'e' || src[i] === 'E') && (isDigit(src.charCodeAt(i + 1)) || ((src[i + 1] === '+' || src[i + 1] === '-') && isDigit(src.charCodeAt(i + 2))))) {
                    i += 2;
                    while (i < n && isDigit(src.charCodeAt(i))) i++;
                }
            }
            const numLen = i - start;
            while (i < n && isIdPart(src.charCodeAt(i))) i++; // suffix (L, f, d, B, I) — checked later
            out.push({ kind: 'num', text: src.slice(start, i), pos: start, numLen });
        } else if (isIdStart(c)) {
            while (i < n && isIdPart(src.charCodeAt(i))) i++;
            out.push({ kind: 'id', text: src.slice(start, i), pos: start });
        } else {
            i++;
            out.push({ kind: 'punct', text: src[start], pos: start });
        }
    }
    return out;
}

/** Line and column (1-based) of a character offset; lines start at the precomputed offsets. */
function lineCol(lineStarts: number[], pos: number): { line: number; column: number } {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (lineStarts[mid] <= pos) lo = mid; else hi = mid - 1;
    }
    return { line: lo + 1, column: pos - lineStarts[lo] + 1 };
}

class Refused extends Error {
    constructor(readonly at: number, message: string) {
        super(message);
    }
}

/** Translates a TBEL script to JavaScript (see the file comment). Linear time. */
export function translateTbel(src: string): TbelTranslation {
    const lineStarts = [0];
    for (let i = 0; i < src.length; i++) if (src.charCodeAt(i) === 10) lineStarts.push(i + 1);
    const all = tokenize(src);
    // significant tokens and their index in `all`
    const sig: number[] = [];
    for (let i = 0; i < all.length; i++) if (all[i].kind !== 'ws' && all[i].kind !== 'comment') sig.push(i);
    const T = (k: number): Token | undefined => (k >= 0 && k < sig.length ? all[sig[k]] : undefined);
    const is = (k: number, text: string): boolean => { const t = T(k); return !!t && t.text === text && t.kind !== 'str'; };
    const replace: (string | undefined)[] = new Array(all.length);
    const set = (k: number, text: string) => { replace[sig[k]] = text; };

    // bracket matching, and per '(' the first ':' and ';' directly inside it
    const match = new Int32Array(sig.length).fill(-1);
    const firstColon = new Int32Array(sig.length).fill(-1);
    const hasSemi = new Uint8Array(sig.length);
    const enclosing = new Int32Array(sig.length).fill(-1); // the innermost open bracket around each token
    const stack: number[] = [];
    for (let k = 0; k < sig.length; k++) {
        const t = all[sig[k]];
        if (stack.length) enclosing[k] = stack[stack.length - 1];
        if (t.kind !== 'punct') continue;
        if (t.text === '(' || t.text === '[' || t.text === '{') stack.push(k);
        else if (t.text === ')' || t.text === ']' || t.text === '}') {
            const open = stack.pop();
            if (open !== undefined) { match[open] = k; match[k] = open; }
        } else if ((t.text === ':' || t.text === ';') && stack.length) {
            const top = stack[stack.length - 1];
            if (t.text === ':' && firstColon[top] < 0) firstColon[top] = k;
            if (t.text === ';') hasSemi[top] = 1;
        }
    }

    /** From a '<': the index of its matching '>' when only names, ',', '?' and nested <…> lie between; else where the scan stopped. */
    function typeArgsEnd(j: number): number {
        let depth = 0;
        for (; j < sig.length; j++) {
            if (is(j, '<')) depth++;
            else if (is(j, '>')) { depth--; if (depth === 0) return j; }
            else if (T(j)?.kind !== 'id' && !is(j, ',') && !is(j, '?')) return j;
        }
        return j;
    }

    try {
        // def parameter lists: '(' indexes whose typed parameters lose their type
        const defParams = new Set<number>();
        for (let k = 0; k < sig.length; k++) {
            const t = T(k) as Token;
            if (t.kind === 'num') {
                const body = t.text.slice(0, t.numLen);
                const suffix = t.text.slice(t.numLen);
                const hex = body.length > 1 && (body[1] === 'x' || body[1] === 'X');
                if (suffix === '') { if (body.includes('_')) set(k, body.split('_').join('')); }
                else if (suffix.length === 1 && ('lL'.includes(suffix) || (!hex && 'fFdDbBiI'.includes(suffix)))) set(k, body.split('_').join(''));
                else throw new Refused(t.pos, `the number ${t.text.slice(0, 40)} has a suffix TBEL scripts here do not support`);
                continue;
            }
            if (t.kind === 'punct') {
                // a.?b → a?.b
                if (t.text === '.' && is(k + 1, '?') && (T(k + 1) as Token).pos === t.pos + 1) { set(k, '?'); set(k + 1, '.'); k++; continue; }
                // [:] → {}
                if (t.text === '[' && is(k + 1, ':') && is(k + 2, ']')) { set(k, '{'); set(k + 1, ''); set(k + 2, '}'); k += 2; continue; }
                // Java casts: (int) x
                if (t.text === '(' && T(k + 1)?.kind === 'id' && PRIMITIVES.has((T(k + 1) as Token).text) && is(k + 2, ')')) {
                    const nx = T(k + 3);
                    if (nx && (nx.kind === 'id' || nx.kind === 'num' || nx.kind === 'str' || nx.text === '(')) {
                        throw new Refused(t.pos, `Java casts like (${(T(k + 1) as Token).text}) are not supported here — use Math.trunc(), Number() or the TBEL helpers (toInt, …)`);
                    }
                }
                continue;
            }
            if (t.kind !== 'id') continue;
            const prev = T(k - 1);
            const afterDot = !!prev && prev.kind === 'punct' && prev.text === '.';
            if (afterDot) {
                // s.length() → s.length
                if (t.text === 'length' && is(k + 1, '(') && is(k + 2, ')')) { set(k + 1, ''); set(k + 2, ''); k += 2; }
                // x.get(k) / x.set(i, v) → the realm's __tbelGet/__tbelSet (Object.prototype cannot carry get/set)
                else if ((t.text === 'get' || t.text === 'set') && is(k + 1, '(')) set(k, t.text === 'get' ? '__tbelGet' : '__tbelSet');
                continue;
            }
            const word = t.text;
            if (word === 'foreach' || word === 'for') {
                if (!is(k + 1, '(')) {
                    if (word === 'foreach') throw new Refused(t.pos, 'foreach must be followed by (name : collection)');
                    continue;
                }
                const open = k + 1;
                const close = match[open];
                const colon = firstColon[open];
                const isEach = close > 0 && colon > 0 && colon < close && !hasSemi[open];
                if (!isEach) {
                    if (word === 'foreach') throw new Refused(t.pos, 'foreach must be written foreach (name : collection)');
                    continue; // a JavaScript/Java for (init; cond; step) — typed init handled below
                }
                // header: ( [Type] name : expr )
                let nameAt = open + 1;
                if (colon - open === 3 && T(open + 1)?.kind === 'id' && T(open + 2)?.kind === 'id') nameAt = open + 2;
                else if (colon - open !== 2 || T(open + 1)?.kind !== 'id') throw new Refused(t.pos, `${word} (name : collection): the loop variable must be a plain name`);
                const name = (T(nameAt) as Token).text;
                if (word === 'foreach') set(k, 'for');
                set(open, `(var ${name} of __tbelIter(`);
                for (let j = open + 1; j <= colon; j++) set(j, '');
                set(close, '))');
                k = colon;
                continue;
            }
            if (word === 'def' && T(k + 1)?.kind === 'id' && is(k + 2, '(')) {
                set(k, 'function');
                defParams.add(k + 2);
                continue;
            }
            if (word === 'until') throw new Refused(t.pos, 'until loops are not supported here — use while (!(condition))');
            if ((JAVA_STATICS.has(word) || (word === 'String' && ['valueOf', 'format', 'join'].includes(T(k + 2)?.text ?? ''))) && is(k + 1, '.')) {
                throw new Refused(t.pos, `Java's ${word}.${T(k + 2)?.text ?? ''} is not available here — use the TBEL helpers (parseInt, parseFloat, toFixed, …) or JavaScript's Math/Number/String`);
            }
            if (word === 'new') {
                const ty = T(k + 1);
                if (!ty || ty.kind !== 'id') continue;
                // new T[n] / new T[]{...}
                if (TYPE_NAMES.has(ty.text) && is(k + 2, '[')) {
                    const lb = k + 2;
                    const rb = match[lb];
                    if (rb < 0) continue;
                    if (is(rb + 1, '[')) throw new Refused(ty.pos, 'multi-dimensional Java arrays are not supported here');
                    if (rb === lb + 1) {
                        if (!is(rb + 1, '{') || match[rb + 1] < 0) throw new Refused(ty.pos, `new ${ty.text}[] needs a size or an initializer { … }`);
                        const cb = match[rb + 1];
                        set(k, `__tbelArrayOf('${ty.text}', `); set(k + 1, ''); set(lb, ''); set(rb, ''); set(rb + 1, '['); set(cb, '])');
                        k = rb + 1;
                    } else {
                        set(k, `__tbelNewArray('${ty.text}', `); set(k + 1, ''); set(lb, ''); set(rb, ')');
                        k = lb;
                    }
                    continue;
                }
                // new ArrayList<...>() / new HashMap() / new HashSet()
                const kind = LIST_CLASSES.has(ty.text) ? '[]' : MAP_CLASSES.has(ty.text) ? '{}' : SET_CLASSES.has(ty.text) ? 'new Set()' : '';
                if (kind) {
                    let j = k + 2;
                    if (is(j, '<')) {
                        j = typeArgsEnd(j);
                        if (!is(j, '>')) throw new Refused(ty.pos, `new ${ty.text}<…>: cannot read the type arguments`);
                        j++;
                    }
                    if (!is(j, '(') || match[j] !== j + 1) throw new Refused(ty.pos, `new ${ty.text}(…) with arguments is not supported here — start from ${kind} and add the elements`);
                    set(k, kind);
                    for (let x = k + 1; x <= j + 1; x++) set(x, '');
                    k = j + 1;
                }
                continue;
            }
            // typed declarations: Type [<…>] [[]] name
            if (TYPE_NAMES.has(word)) {
                let j = k + 1;
                if (is(j, '<')) {
                    j = typeArgsEnd(j);
                    if (!is(j, '>')) { k = j - 1; continue; } // not type arguments: go on from where the scan stopped (linear)
                    j++;
                }
                while (is(j, '[') && is(j + 1, ']')) j += 2;
                const nm = T(j);
                if (!nm || nm.kind !== 'id' || STATEMENT_WORDS.has(nm.text) || nm.text === 'in' || nm.text === 'instanceof') continue;
                const after = T(j + 1);
                if (!after || !(after.text === '=' || after.text === ';' || after.text === ',' || after.text === ')' || after.text === ':')) continue;
                const p = T(k - 1);
                const atStatement = !p || (p.kind === 'punct' && (p.text === ';' || p.text === '{' || p.text === '}'));
                let inParams = false;
                if (p && p.kind === 'punct' && (p.text === '(' || p.text === ',')) {
                    // inside a def parameter list or a for header?
                    const open = enclosing[k];
                    if (open >= 0 && defParams.has(open)) inParams = true;
                    else if (open >= 0 && open === k - 1 && T(k - 2)?.text === 'for') { set(k, 'var'); for (let x = k + 1; x < j; x++) set(x, ''); k = j; continue; }
                }
                if (inParams) { set(k, ''); for (let x = k + 1; x < j; x++) set(x, ''); k = j; continue; }
                if (atStatement) { set(k, 'var'); for (let x = k + 1; x < j; x++) set(x, ''); k = j; continue; }
            }
        }
        implicitReturn();
    } catch (e) {
        if (e instanceof Refused) {
            const lc = lineCol(lineStarts, e.at);
            return { code: src, error: { message: e.message, line: lc.line, column: lc.column } };
        }
        throw e;
    }

    /** `a + b;` as the last statement of the script → `return a + b;`. */
    function implicitReturn(): void {
        let depth = 0;
        let start = 0; // first significant token of the current top-level statement
        let ended = -1; // start of the statement the last top-level ';' ended
        for (let k = 0; k < sig.length; k++) {
            const t = T(k) as Token;
            if (t.kind !== 'punct') continue;
            if (t.text === '(' || t.text === '[' || t.text === '{') depth++;
            else if (t.text === ')' || t.text === ']') depth--;
            else if (t.text === '}') {
                depth--;
                // a block closing at the top level ends a statement (not an object literal)
                if (depth === 0 && match[k] >= 0 && isBlockBrace(match[k])) { start = k + 1; ended = -1; }
            } else if (t.text === ';' && depth === 0) {
                if (k > start) ended = start;
                start = k + 1;
            }
        }
        let last = sig.length - 1;
        if (start > last) {
            // the script ends with ';': the last statement is the one that ';' ended
            if (ended < 0) return;
            start = ended;
            last = sig.length - 2;
        }
        if (start > last) return;
        const first = T(start) as Token;
        if (first.kind === 'id' && (STATEMENT_WORDS.has(first.text))) return;
        if (first.kind === 'punct' && (first.text === '{' || first.text === '}' || first.text === ';')) return;
        const cur = replace[sig[start]];
        set(start, 'return ' + (cur !== undefined ? cur : first.text));
    }
    /** Whether the '{' at k opens a block: after ')' , 'else', 'do', 'try', 'finally', '=>' or at a statement start. */
    function isBlockBrace(k: number): boolean {
        const p = T(k - 1);
        if (!p) return true;
        if (p.kind === 'id') return p.text === 'else' || p.text === 'do' || p.text === 'try' || p.text === 'finally';
        if (p.kind !== 'punct') return false;
        if (p.text === ')') {
            // function f(…) { } at the top level, if (…) { }, for/while (…) { }
            return true;
        }
        return p.text === ';' || p.text === '{' || p.text === '}';
    }

    let code = '';
    for (let i = 0; i < all.length; i++) code += replace[i] !== undefined ? replace[i] : all[i].text;
    return { code };
}
