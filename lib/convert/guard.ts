/**
 * A static check run before a script is compiled: refuses the syntax that creates Promises
 * (`async` functions and dynamic `import()`; without them `await` is a plain identifier).
 *
 * Why: a Promise rejected inside the sandbox with no handler reaches the host process as an
 * `unhandledRejection`, which Node-RED turns into an exit. `vm` offers no way to catch those per
 * context, so converters run synchronously: the `Promise` global is removed from the sandbox and the
 * only other ways to make one are these keywords. ThingsBoard converters are synchronous anyway.
 *
 * The check parses the script with acorn (a dependency of this package; the JavaScript parser Node-RED itself ships with, found in
 * this package's or Node-RED's node_modules) and looks for async functions, `await`, `import()` and
 * `import.meta`. Without acorn it falls back to a small tokenizer (strings, template literals,
 * comments, regular-expression literals) that lets the words through inside strings and comments and as
 * property names (`data.async`, `{import: 1}`); a script crafted to confuse a tokenizer about where a
 * regular expression ends could slip past that fallback.
 */
import path from 'node:path';

export interface ForbiddenSyntax {
    token: string;
    line: number;
    column: number;
    message: string;
}

const REGEX_AFTER_WORDS = new Set(['return', 'typeof', 'instanceof', 'in', 'of', 'new', 'delete', 'void', 'throw', 'case', 'do', 'else', 'yield', 'await']);

type AcornParse = (src: string, opts: Record<string, unknown>) => unknown;
let acornParse: AcornParse | null | undefined;

/** acorn from this package's dependencies, else from the running Node-RED's (its core nodes use it). */
function loadAcorn(): AcornParse | null {
    if (acornParse !== undefined) return acornParse;
    acornParse = null;
    const tries: Array<() => string> = [() => require.resolve('acorn')];
    if (require.main?.filename) tries.push(() => require.resolve('acorn', { paths: [path.dirname(require.main!.filename)] }));
    for (const t of tries) {
        try {
            // eslint-disable-next-line @typescript-eslint/no-var-requires
            const mod = require(t()) as { parse?: AcornParse };
            if (typeof mod.parse === 'function') {
                acornParse = mod.parse;
                break;
            }
        } catch {
            /* next */
        }
    }
    return acornParse;
}

/** Which checker is in use: 'acorn' (a full parse) or 'tokenizer' (the fallback). */
export function guardMethod(): 'acorn' | 'tokenizer' {
    return loadAcorn() ? 'acorn' : 'tokenizer';
}

interface AstNode {
    type: string;
    async?: boolean;
    loc?: { start: { line: number; column: number } };
    meta?: { name?: string };
    [k: string]: unknown;
}

function forbiddenNode(n: AstNode): ForbiddenSyntax | undefined {
    const at = (message: string, token: string): ForbiddenSyntax => ({ token, line: n.loc?.start.line ?? 0, column: (n.loc?.start.column ?? 0) + 1, message });
    if ((n.type === 'FunctionDeclaration' || n.type === 'FunctionExpression' || n.type === 'ArrowFunctionExpression') && n.async) {
        return at('"async" functions are not supported: converters run synchronously (no Promises)', 'async');
    }
    if (n.type === 'AwaitExpression' || n.type === 'ForOfStatement' && n.await) return at('"await" is not supported: converters run synchronously (no Promises)', 'await');
    if (n.type === 'ImportExpression' || (n.type === 'MetaProperty' && n.meta?.name === 'import')) {
        return at('import is not available in converters (no modules, no file system)', 'import');
    }
    return undefined;
}

function walk(n: unknown): ForbiddenSyntax | undefined {
    if (!n || typeof n !== 'object') return undefined;
    if (Array.isArray(n)) {
        for (const x of n) {
            const f = walk(x);
            if (f) return f;
        }
        return undefined;
    }
    const node = n as AstNode;
    if (typeof node.type === 'string') {
        const f = forbiddenNode(node);
        if (f) return f;
    }
    for (const k of Object.keys(node)) {
        if (k === 'loc' || k === 'start' || k === 'end') continue;
        const v = node[k];
        if (v && typeof v === 'object') {
            const f = walk(v);
            if (f) return f;
        }
    }
    return undefined;
}

export function findForbiddenSyntax(src: string): ForbiddenSyntax | undefined {
    const parse = loadAcorn();
    if (parse) {
        let ast: unknown;
        try {
            ast = parse(src, { ecmaVersion: 'latest', sourceType: 'script', allowReturnOutsideFunction: true, locations: true });
        } catch {
            ast = undefined; // a syntax error: the compiler reports it; the tokenizer still looks
        }
        if (ast) return walk(ast);
    }
    return tokenize(src);
}

/** The fallback: a tokenizer-level search for `async` functions and `import`. */
export function tokenize(src: string): ForbiddenSyntax | undefined {
    let i = 0;
    let line = 1;
    let lineStart = 0;
    /** Last significant token: a punctuator character, 'id:<word>', 'num', 'str', 'regex', ')' ']' '}'. */
    let prev = '';
    let prevPrev = '';
    /** Brace stack: 'b' for a block/object brace, 't' for a template substitution. */
    const braces: string[] = [];
    const n = src.length;

    const newline = (at: number) => {
        line++;
        lineStart = at + 1;
    };
    const push = (t: string) => {
        prevPrev = prev;
        prev = t;
    };
    const nextSignificant = (from: number): string => {
        let j = from;
        while (j < n) {
            const c = src[j];
            if (c === ' ' || c === '\t' || c === '\n' || c === '\r') { j++; continue; }
            if (c === '/' && src[j + 1] === '/') { while (j < n && src[j] !== '\n') j++; continue; }
            if (c === '/' && src[j + 1] === '*') { const e = src.indexOf('*/', j + 2); j = e < 0 ? n : e + 2; continue; }
            return c;
        }
        return '';
    };
    /** Scans a template literal body from i (after ` or }) to its end or to a `${`. */
    const scanTemplate = (): void => {
        while (i < n) {
            const c = src[i];
            if (c === '\\') { i += 2; continue; }
            if (c === '\n') newline(i);
            if (c === '`') { i++; push('str'); return; }
            if (c === '$' && src[i + 1] === '{') { i += 2; braces.push('t'); push('{'); return; }
            i++;
        }
    };

    while (i < n) {
        const c = src[i];
        if (c === '\n') { newline(i); i++; continue; }
        if (c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v' || c === '\u00a0' || c === '\ufeff') { i++; continue; }
        if (c === '/' && src[i + 1] === '/') { while (i < n && src[i] !== '\n') i++; continue; }
        if (c === '/' && src[i + 1] === '*') {
            const end = src.indexOf('*/', i + 2);
            const stop = end < 0 ? n : end + 2;
            for (let k = i; k < stop; k++) if (src[k] === '\n') newline(k);
            i = stop;
            continue;
        }
        if (c === '"' || c === "'") {
            i++;
            while (i < n && src[i] !== c) {
                if (src[i] === '\\') i++;
                else if (src[i] === '\n') break;
                i++;
            }
            i++;
            push('str');
            continue;
        }
        if (c === '`') { i++; scanTemplate(); continue; }
        if (c === '/') {
            const word = prev.startsWith('id:') ? prev.slice(3) : '';
            const divides = prev === ')' || prev === ']' || prev === 'num' || prev === 'str' || prev === 'regex' || (word !== '' && !REGEX_AFTER_WORDS.has(word));
            if (!divides) {
                i++;
                let inClass = false;
                while (i < n && src[i] !== '\n') {
                    const d = src[i];
                    if (d === '\\') { i += 2; continue; }
                    if (d === '[') inClass = true;
                    else if (d === ']') inClass = false;
                    else if (d === '/' && !inClass) break;
                    i++;
                }
                i++;
                while (i < n && /[A-Za-z]/.test(src[i])) i++;
                push('regex');
                continue;
            }
            i++;
            push('/');
            continue;
        }
        if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(src[i + 1] ?? ''))) {
            while (i < n && /[0-9A-Za-z_.]/.test(src[i])) i++;
            push('num');
            continue;
        }
        if (/[A-Za-z_$\\]/.test(c) || c.charCodeAt(0) > 127) {
            const start = i;
            while (i < n && (/[A-Za-z0-9_$\\]/.test(src[i]) || src.charCodeAt(i) > 127)) {
                if (src[i] === '\\') i += 1;
                i++;
            }
            const word = src.slice(start, i);
            const afterDot = prev === '.' && prevPrev !== '.';
            if (!afterDot && (word === 'async' || word === 'import')) {
                const next = nextSignificant(i);
                const isKey = (next === ':' || next === ',' || next === '}') && (prev === '{' || prev === ',');
                // `async` as a plain variable name (`var async = 1`, `async + 1`) is not an async function:
                // those start with `async function`, `async (`, `async x =>` or `async name() {` in a class/object.
                const plainName = word === 'async' && !(next === '(' || next === '*' || /[A-Za-z_$\\]/.test(next) || next.charCodeAt(0) > 127);
                if (!isKey && !plainName) {
                    return {
                        token: word,
                        line,
                        column: start - lineStart + 1,
                        message: word === 'import'
                            ? 'import is not available in converters (no modules, no file system)'
                            : '"async" functions are not supported: converters run synchronously (no Promises)',
                    };
                }
            }
            push(`id:${word}`);
            continue;
        }
        if (c === '{') { braces.push('b'); push('{'); i++; continue; }
        if (c === '}') {
            const top = braces.pop();
            i++;
            if (top === 't') { scanTemplate(); continue; }
            push('}');
            continue;
        }
        push(c);
        i++;
    }
    return undefined;
}
