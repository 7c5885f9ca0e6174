import assert from 'node:assert/strict';
import { ScriptEngine, ScriptCompileError, UplinkInput } from '../../lib/convert/sandbox';
import { findForbiddenSyntax, tokenize, guardMethod } from '../../lib/convert/guard';

function uplink(script: string, timeoutMs = 200): ScriptEngine {
    return new ScriptEngine({ direction: 'uplink', script, timeoutMs, integrationMetadata: { integrationName: 'it' } });
}
const rec = (codes: string, metadata: Record<string, string> = {}): UplinkInput => ({ codes, metadata });
function value(engine: ScriptEngine, codes = 'x'): unknown {
    const r = engine.run(rec(codes));
    if (r.error) throw new Error(`script failed: ${r.error.message}`);
    return r.value;
}

describe('convert sandbox', function () {
    describe('isolation', function () {
        it('has no require, process, module, Buffer, timers, Promise', function () {
            const e = uplink(`return [typeof require, typeof process, typeof module, typeof Buffer, typeof setTimeout,
                typeof setImmediate, typeof Promise, typeof WebAssembly, typeof Atomics, typeof fetch, typeof globalThis.process].join();`);
            assert.equal(value(e), 'undefined,undefined,undefined,undefined,undefined,undefined,undefined,undefined,undefined,undefined,undefined');
        });

        it('constructor chains lead to the sandbox Function, which cannot compile strings', function () {
            for (const s of [
                'return this.constructor.constructor("return process")()',
                'return payload.constructor.constructor("return process")()',
                'return metadata.constructor.constructor("return process")()',
                'return decodeToString.constructor("return process")()',
                'return (function(){}).constructor("return this")()',
                'return Object.getPrototypeOf(function*(){}).constructor("yield 1")',
                'return eval("1+1")',
            ]) {
                const r = uplink(s).run(rec('a'));
                assert.ok(r.error, `${s} should fail`);
                assert.match(r.error!.message, /Code generation from strings disallowed/, s);
            }
        });

        it('arguments.callee.caller and Function.caller give nothing from outside the script', function () {
            assert.equal(value(uplink('return arguments.callee.caller')), null);
            assert.equal(value(uplink('function f() { return f.caller; } return f() === null ? "null" : typeof f();')), 'function'); // only its own caller
        });

        it('Error.prepareStackTrace and the Error global are locked (no host call sites)', function () {
            const r = uplink(`Error.prepareStackTrace = function (e, sites) { return sites.map(function (s) { return s.getThis(); }); };
                return new Error('x').stack;`).run(rec('a'));
            // Assignment to the locked property is silently ignored in sloppy mode: the stack stays a string.
            assert.equal(r.error, undefined);
            assert.equal(typeof r.value, 'string');
            assert.doesNotMatch(String(r.value), /node:|internal|\/.*\.js/);
            assert.match(String(r.value), /decoder\.js:2:24/);
            const strict = uplink(`'use strict'; globalThis.Error = { prepareStackTrace: function () { return 'hijacked'; } }; return 1;`).run(rec('a'));
            assert.match(String(strict.error?.message), /read only|Cannot assign/);
        });

        it('results are copied out as JSON inside the sandbox: getters, toJSON and Proxies never run on the host', function () {
            let hostTouched = false;
            const e = uplink(`
                var p = new Proxy({}, { get: function () { while (true) {} }, ownKeys: function () { while (true) {} } });
                return { deviceName: 'd', telemetry: { get t() { return 1; } }, proxied: p };`);
            const r = e.run(rec('a'));
            hostTouched = true;
            assert.ok(hostTouched);
            assert.equal(r.error?.kind, 'timeout'); // the Proxy trap ran inside the guarded run and was stopped there
            const g = uplink(`return { deviceName: 'd', n: { toJSON: function () { return 'json'; } }, get g() { return 2; } };`);
            assert.deepEqual(value(g), { deviceName: 'd', n: 'json', g: 2 });
        });

        it('nothing in the context can create a Promise or run code later (no unhandled rejection can reach Node-RED)', function () {
            const names = value(uplink('return Object.getOwnPropertyNames(globalThis);')) as string[];
            for (const n of ['Promise', 'Atomics', 'WebAssembly', 'FinalizationRegistry', 'WeakRef', 'SharedArrayBuffer', 'queueMicrotask', 'setTimeout']) {
                assert.ok(!names.includes(n), n);
            }
            assert.equal(value(uplink('return typeof Array.fromAsync;')), 'undefined');
            const viaString = uplink('return (function () {}).constructor("return async function () {}")()').run(rec('a'));
            assert.match(String(viaString.error?.message), /Code generation from strings disallowed/);
        });

        it('async, import() and Promise-based tricks are refused before compiling', function () {
            for (const s of ['return (async function () { throw 1; })();', 'var f = async () => 1; return 1;', 'return import("fs");', 'return import.meta;']) {
                assert.throws(() => uplink(s), (e: unknown) => e instanceof ScriptCompileError && /async|import/.test(e.message), s);
            }
            // Words in strings, comments and as property names are fine.
            assert.deepEqual(value(uplink('// import the data, async\nvar o = {async: 1, import: 2}; o.async = "import"; var s = "async function"; return [o.async, o.import, s];')), ['import', 2, 'async function']);
            assert.equal(value(uplink('var async = 3; return async + 1;')), 4);
        });

        it('symbols, getters on metadata and prototype pollution stay inside the context', function () {
            const e = uplink(`Object.prototype.polluted = 1; Array.prototype.push = function () { throw new Error('no'); };
                return { deviceName: 'd', sym: typeof Symbol.for('x') };`);
            assert.deepEqual(value(e), { deviceName: 'd', sym: 'symbol' });
            assert.equal(({} as Record<string, unknown>).polluted, undefined);
            assert.equal([1].push(2), 2);
        });
    });

    describe('timeout', function () {
        it('stops an endless loop and fails only that record; the engine keeps working', function () {
            const e = uplink('if (payload[0] === 49) { while (true) {} } return { deviceName: String.fromCharCode(payload[0]) };', 100);
            const out = e.runBatch([rec('0'), rec('1'), rec('2')]);
            assert.deepEqual(out[0].value, { deviceName: '0' });
            assert.equal(out[1].error?.kind, 'timeout');
            assert.match(out[1].error!.message, /100 ms/);
            assert.deepEqual(out[2].value, { deviceName: '2' });
            assert.deepEqual(e.run(rec('3')).value, { deviceName: '3' });
        });

        it('stops a loop hidden in a getter of the result and in a recursive toJSON', function () {
            assert.equal(uplink('return { get a() { for (;;) {} } };', 50).run(rec('a')).error?.kind, 'timeout');
            const r = uplink('var o = {}; o.toJSON = function () { return [o, o]; }; return o;', 200).run(rec('a'));
            assert.ok(r.error);
        });

        it('the batch size halves after a batch timed out and grows back after full batches', function () {
            const e = new ScriptEngine({ direction: 'uplink', script: 'if (payload[0] === 33) { while (true) {} } return 1;', timeoutMs: 50, maxBatch: 8 });
            const inputs = Array.from({ length: 8 }, (_, i) => rec(i === 3 ? '!' : 'a'));
            const out = e.runBatch(inputs);
            assert.equal(out.filter((o) => o.error).length, 1);
            assert.equal(e.maxBatch, 4);
            e.runBatch(Array.from({ length: 4 }, () => rec('a')));
            assert.equal(e.maxBatch, 8);
        });
    });

    describe('errors carry the line and column of the user script', function () {
        it('runtime exceptions', function () {
            const r = uplink('var a = 1;\nvar b = a.missing;\n  b.field = 2;\nreturn a;').run(rec('a'));
            assert.equal(r.error?.kind, 'script');
            assert.equal(r.error?.name, 'TypeError');
            assert.equal(r.error?.line, 3);
            assert.equal(r.error?.column, 11);
        });

        it('errors thrown by helpers point at the script line that called them', function () {
            const r = uplink('var x = 1;\nreturn decodeToJson(payload);').run(rec('not json'));
            assert.equal(r.error?.name, 'SyntaxError');
            assert.equal(r.error?.line, 2);
        });

        it('thrown non-Error values', function () {
            const r = uplink('throw "bad payload";').run(rec('a'));
            assert.equal(r.error?.message, 'bad payload');
        });

        it('syntax errors at compile time', function () {
            assert.throws(() => uplink('var a = 1;\nvar b = ;\n'), (e: unknown) => {
                assert.ok(e instanceof ScriptCompileError);
                assert.equal(e.info.line, 2);
                assert.equal(e.info.column, 9);
                return true;
            });
        });
    });

    describe('inputs', function () {
        it('uplink metadata = integration metadata + per-record metadata, fresh for every record', function () {
            const e = uplink('metadata.touched = "yes"; return metadata;');
            const out = e.runBatch([rec('a', { partitionKey: 'p1' }), rec('b', { partitionKey: 'p2' })]);
            assert.deepEqual(out[0].value, { integrationName: 'it', partitionKey: 'p1', touched: 'yes' });
            assert.deepEqual(out[1].value, { integrationName: 'it', partitionKey: 'p2', touched: 'yes' });
        });

        it('payload: char codes in JavaScript, signed bytes in TBEL', function () {
            assert.deepEqual(value(uplink('return payload;'), 'A€'), [65, 0x20ac]);
            const tbel = new ScriptEngine({ direction: 'uplink', scriptLang: 'TBEL', script: 'return payload;' });
            assert.deepEqual(tbel.run(rec('A\u00ff')).value, [65, -1]);
        });

        it('downlink gets msg, metadata, msgType and integrationMetadata', function () {
            const e = new ScriptEngine({ direction: 'downlink', script: 'return [msg, metadata, msgType, integrationMetadata];', integrationMetadata: { integrationName: 'k' } });
            assert.deepEqual(e.run({ msg: { version: 'v.0.11' }, metadata: { deviceName: 'd' }, msgType: 'ATTRIBUTES_UPDATED' }).value, [
                { version: 'v.0.11' }, { deviceName: 'd' }, 'ATTRIBUTES_UPDATED', { integrationName: 'k' },
            ]);
        });

        it('assigning to a builtin name changes the script\'s binding (kept between calls, like a global), not the runtime', function () {
            const e = uplink('var before = typeof JSON.parse; JSON = 5; String = null; return [before, JSON];');
            assert.deepEqual(value(e), ['function', 5]);
            assert.deepEqual(value(e), ['undefined', 5]); // results are still copied out with the real JSON
        });

        it('a script that closes its own function body is refused', function () {
            assert.throws(() => uplink('return 1; }; while (true) {}; function x() {'), ScriptCompileError);
        });

        it('a script function declaration shadows the helper of the same name', function () {
            assert.equal(value(uplink('function decodeToString(p) { return "mine"; }\nreturn decodeToString(payload);')), 'mine');
            assert.equal(value(uplink('return decodeToString(payload);'), 'hé'), 'hé');
        });
    });

    describe('guard (refuses async functions and import before compiling)', function () {
        it('parses with acorn when it can be found (here: Node-RED\'s own dependency)', function () {
            assert.equal(guardMethod(), 'acorn');
        });

        it('finds async/import only where they are code', function () {
            for (const check of [findForbiddenSyntax, tokenize]) {
                assert.equal(check('var s = `a ${ x } async`; /async/.test(s); return s;'), undefined);
                assert.equal(check('var s = `a ${ (async () => 1)() }`;')?.token, 'async');
                assert.equal(check('var x = a / 2; var y = b / async function () {}')?.token, 'async');
                assert.deepEqual(check('var a = 1;\n  import("x")'), { token: 'import', line: 2, column: 3, message: 'import is not available in converters (no modules, no file system)' });
            }
        });

        it('the full parse is not fooled where a regular expression ends (the tokenizer fallback is)', function () {
            const tricks = [
                'x = function () {} / (async function () { throw 1; })() / 1;',
                'if (1) /\'/.test(""); (async function f() { throw 1; })();',
            ];
            for (const t of tricks) {
                assert.equal(findForbiddenSyntax(t)?.token, 'async', t);
                assert.throws(() => uplink(t), ScriptCompileError, t);
            }
            assert.equal(findForbiddenSyntax('var async = 1; return async(2);'), undefined); // a function named async
        });
    });
});
