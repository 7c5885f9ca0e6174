/**
 * A static check run (in Node-RED, before a script reaches its runner): the script must parse with
 * acorn as the body of the converter function, and it must not contain the syntax that creates
 * Promises or loads modules: `async` functions, `await`, `import()`, `import.meta`.
 *
 * What acorn cannot parse is refused (there is no fallback): V8 accepts a few things acorn does not,
 * and a second, simpler reader that disagrees with V8 about where a string, comment, template or
 * regular expression ends is exactly how a refused construct hides. Parsing is linear in the script's
 * length (acorn has no backtracking over the text), the script's size is bounded by the caller, and the
 * tree is walked without recursion; a script nested too deeply for the parser is refused too.
 *
 * Why no Promises: a Promise rejected with no handler ends a Node process, and converters are
 * synchronous anyway (ThingsBoard runs them so). The runner process would survive it (it ignores
 * unhandled rejections), the guard keeps such code from running at all.
 */
import { parse as acornParse } from 'acorn';

export interface ForbiddenSyntax {
    token: string;
    line: number;
    column: number;
    message: string;
}

interface AstNode {
    type: string;
    async?: boolean;
    await?: boolean;
    start: number;
    end: number;
    loc?: { start: { line: number; column: number } };
    meta?: { name?: string };
    [k: string]: unknown;
}

function forbiddenNode(n: AstNode): ForbiddenSyntax | undefined {
    const at = (message: string, token: string): ForbiddenSyntax => ({ token, line: n.loc?.start.line ?? 0, column: (n.loc?.start.column ?? 0) + 1, message });
    if ((n.type === 'FunctionDeclaration' || n.type === 'FunctionExpression' || n.type === 'ArrowFunctionExpression') && n.async) {
        return at('"async" functions are not supported: converters run synchronously (no Promises)', 'async');
    }
    if (n.type === 'AwaitExpression' || (n.type === 'ForOfStatement' && n.await)) return at('"await" is not supported: converters run synchronously (no Promises)', 'await');
    if (n.type === 'ImportExpression' || (n.type === 'MetaProperty' && n.meta?.name === 'import')) {
        return at('import is not available in converters (no modules, no file system)', 'import');
    }
    return undefined;
}

/** Depth-first over the tree with an explicit stack (a deep tree cannot overflow the host's stack). */
function walk(root: unknown): ForbiddenSyntax | undefined {
    const stack: unknown[] = [root];
    while (stack.length) {
        const n = stack.pop();
        if (!n || typeof n !== 'object') continue;
        if (Array.isArray(n)) {
            for (let i = n.length - 1; i >= 0; i--) stack.push(n[i]);
            continue;
        }
        const node = n as AstNode;
        if (typeof node.type === 'string') {
            const f = forbiddenNode(node);
            if (f) return f;
        }
        for (const k of Object.keys(node)) {
            if (k === 'loc' || k === 'start' || k === 'end' || k === 'regex' || k === 'value') continue;
            const v = node[k];
            if (v && typeof v === 'object') stack.push(v);
        }
    }
    return undefined;
}

/**
 * The first refused construct of a converter script, or a parse failure; undefined when it may run.
 * `params` are the converter function's parameters (the script is parsed as that function's body,
 * as the runner compiles it: `return`, `new.target` and `arguments` are valid there).
 */
export function findForbiddenSyntax(src: string, params: string[] = ['payload', 'metadata']): ForbiddenSyntax | undefined {
    const head = `(function (${params.join(', ')}) {\n`;
    const wrapped = `${head}${src}\n})`;
    let ast: AstNode;
    try {
        ast = acornParse(wrapped, { ecmaVersion: 'latest', sourceType: 'script', locations: true }) as unknown as AstNode;
    } catch (e) {
        const err = e as { message?: unknown; loc?: { line: number; column: number } };
        const message = String(err.message ?? e).replace(/\s*\(\d+:\d+\)$/, '').slice(0, 300);
        const line = err.loc ? Math.max(1, err.loc.line - 1) : 0;
        const column = err.loc ? err.loc.column + 1 : 0;
        if (e instanceof RangeError) return { token: '', line: 0, column: 0, message: 'the script is nested too deeply to be checked' };
        return { token: '', line, column, message: `the script cannot be parsed: ${message}` };
    }
    // The script must stay inside the function: `}); other(); (function () {` parses, but not as one function.
    const body = ast.body as AstNode[];
    const fn = body.length === 1 && body[0].type === 'ExpressionStatement' ? (body[0].expression as AstNode) : undefined;
    if (!fn || fn.type !== 'FunctionExpression' || (fn.body as AstNode).end !== wrapped.length - 1) {
        return { token: '}', line: 0, column: 0, message: 'the script is not a function body (unbalanced braces?)' };
    }
    const found = walk((fn.body as AstNode).body);
    if (found) found.line = Math.max(1, found.line - 1);
    return found;
}
