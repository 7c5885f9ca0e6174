import assert from 'node:assert/strict';
import { ScriptEngine, ScriptCompileError, UplinkInput, RawResult } from '../../lib/convert/sandbox';
import { applyPart, uplinkBatch } from '../../lib/convert/runner/frames';
import { findForbiddenSyntax } from '../../lib/convert/guard';

// Every engine runs its script in a runner process: they are closed after each test.
const open: ScriptEngine[] = [];
async function started(opts: ConstructorParameters<typeof ScriptEngine>[0]): Promise<ScriptEngine> {
    const e = new ScriptEngine(opts);
    open.push(e);
    await e.start();
    return e;
}
interface Lazy {
    engine: Promise<ScriptEngine>;
    run(r: UplinkInput): Promise<RawResult>;
    runBatch(rs: UplinkInput[]): Promise<RawResult[]>;
}
function uplink(script: string, timeoutMs = 200): Lazy {
    const engine = started({ direction: 'uplink', script, timeoutMs, integrationMetadata: { integrationName: 'it' } });
    engine.catch(() => undefined);
    return { engine, run: async (r) => (await engine).run(r), runBatch: async (rs) => (await engine).runBatch(rs) };
}
const rec = (codes: string, metadata: Record<string, string> = {}): UplinkInput => ({ codes, metadata });
async function value(engine: ScriptEngine | Lazy, codes = 'x'): Promise<unknown> {
    const r = await engine.run(rec(codes));
    if (r.error) throw new Error(`script failed: ${r.error.message}`);
    return r.value;
}
async function rejects(p: Promise<unknown>, check: (e: unknown) => boolean, what?: string): Promise<void> {
    await assert.rejects(p, (e: unknown) => check(e), what);
}

describe('convert sandbox', function () {
    this.timeout(60_000);
    afterEach(function () {
        while (open.length) open.pop()!.close();
    });

    describe('limits', function () {
        it('a Timeout beyond 60 s is 60 s (a timer beyond 2^31-1 ms fires at once: every record would time out); a Memory limit below 16 MB is 16', async function () {
            const e = await started({ direction: 'uplink', script: 'var s = 0; for (var i = 0; i < 2e7; i++) s += i; return { deviceName: "d", telemetry: { n: payload.length } };', timeoutMs: 3e9, memoryLimitMb: 4 });
            assert.equal(e.timeoutMs, 60_000);
            assert.equal(e.memoryLimitMb, 16);
            const [r] = await e.runBatch([rec('abc')]);
            assert.deepEqual(r.value, { deviceName: 'd', telemetry: { n: 3 } }, JSON.stringify(r.error));
            assert.equal(e.stats.started, 1, 'the runner was not restarted');
        });
    });

    describe('isolation', function () {
        it('has no require, process, module, Buffer, timers, Promise', async function () {
            const e = uplink(`return [typeof require, typeof process, typeof module, typeof Buffer, typeof setTimeout,
                typeof setImmediate, typeof Promise, typeof WebAssembly, typeof Atomics, typeof fetch, typeof globalThis.process].join();`);
            assert.equal(await value(e), 'undefined,undefined,undefined,undefined,undefined,undefined,undefined,undefined,undefined,undefined,undefined');
        });

        it('constructor chains lead to the sandbox Function, which cannot compile strings', async function () {
            for (const s of [
                'return this.constructor.constructor("return process")()',
                'return payload.constructor.constructor("return process")()',
                'return metadata.constructor.constructor("return process")()',
                'return decodeToString.constructor("return process")()',
                'return (function(){}).constructor("return this")()',
                'return Object.getPrototypeOf(function*(){}).constructor("yield 1")',
                'return eval("1+1")',
            ]) {
                const r = await uplink(s).run(rec('a'));
                assert.ok(r.error, `${s} should fail`);
                assert.match(r.error!.message, /Code generation from strings disallowed/, s);
            }
        });

        it('arguments.callee.caller and Function.caller give nothing from outside the script', async function () {
            assert.equal(await value(uplink('return arguments.callee.caller')), null);
            assert.equal(await value(uplink('function f() { return f.caller; } return f() === null ? "null" : typeof f();')), 'function'); // only its own caller
        });

        it('Error.prepareStackTrace and the Error global are locked (no host call sites)', async function () {
            const r = await uplink(`Error.prepareStackTrace = function (e, sites) { return sites.map(function (s) { return s.getThis(); }); };
                return new Error('x').stack;`).run(rec('a'));
            // Assignment to the locked property is silently ignored in sloppy mode: the stack stays a string.
            assert.equal(r.error, undefined);
            assert.equal(typeof r.value, 'string');
            assert.doesNotMatch(String(r.value), /node:|internal|\/.*\.js/);
            assert.match(String(r.value), /decoder\.js:2:24/);
            const strict = await uplink(`'use strict'; globalThis.Error = { prepareStackTrace: function () { return 'hijacked'; } }; return 1;`).run(rec('a'));
            assert.match(String(strict.error?.message), /read only|Cannot assign/);
        });

        it('results are copied out as JSON inside the sandbox: getters, toJSON and Proxies never run on the host', async function () {
            let hostTouched = false;
            const e = uplink(`
                var p = new Proxy({}, { get: function () { while (true) {} }, ownKeys: function () { while (true) {} } });
                return { deviceName: 'd', telemetry: { get t() { return 1; } }, proxied: p };`);
            const r = await e.run(rec('a'));
            hostTouched = true;
            assert.ok(hostTouched);
            assert.equal(r.error?.kind, 'timeout'); // the Proxy trap ran inside the guarded run and was stopped there
            const g = uplink(`return { deviceName: 'd', n: { toJSON: function () { return 'json'; } }, get g() { return 2; } };`);
            assert.deepEqual(await value(g), { deviceName: 'd', n: 'json', g: 2 });
        });

        it('nothing in the context can create a Promise or run code later (no unhandled rejection can reach Node-RED)', async function () {
            const names = await value(uplink('return Object.getOwnPropertyNames(globalThis);')) as string[];
            for (const n of ['Promise', 'Atomics', 'WebAssembly', 'FinalizationRegistry', 'WeakRef', 'SharedArrayBuffer', 'queueMicrotask', 'setTimeout']) {
                assert.ok(!names.includes(n), n);
            }
            assert.equal(await value(uplink('return typeof Array.fromAsync;')), 'undefined');
            const viaString = await uplink('return (function () {}).constructor("return async function () {}")()').run(rec('a'));
            assert.match(String(viaString.error?.message), /Code generation from strings disallowed/);
        });

        it('async, import() and Promise-based tricks are refused before compiling', async function () {
            for (const s of ['return (async function () { throw 1; })();', 'var f = async () => 1; return 1;', 'return import("fs");', 'return import.meta;']) {
                await rejects(uplink(s).engine, (e: unknown) => e instanceof ScriptCompileError && /async|import/.test(e.message), s);
            }
            // Words in strings, comments and as property names are fine.
            assert.deepEqual(await value(uplink('// import the data, async\nvar o = {async: 1, import: 2}; o.async = "import"; var s = "async function"; return [o.async, o.import, s];')), ['import', 2, 'async function']);
            assert.equal(await value(uplink('var async = 3; return async + 1;')), 4);
        });

        it('symbols, getters on metadata and prototype pollution stay inside the context', async function () {
            const e = uplink(`Object.prototype.polluted = 1; Array.prototype.push = function () { throw new Error('no'); };
                return { deviceName: 'd', sym: typeof Symbol.for('x') };`);
            assert.deepEqual(await value(e), { deviceName: 'd', sym: 'symbol' });
            assert.equal(({} as Record<string, unknown>).polluted, undefined);
            assert.equal([1].push(2), 2);
        });
    });

    describe('timeout', function () {
        it('stops an endless loop and fails only that record; the engine keeps working', async function () {
            const e = uplink('if (payload[0] === 49) { while (true) {} } return { deviceName: String.fromCharCode(payload[0]) };', 100);
            const out = await e.runBatch([rec('0'), rec('1'), rec('2')]);
            assert.deepEqual(out[0].value, { deviceName: '0' });
            assert.equal(out[1].error?.kind, 'timeout');
            assert.match(out[1].error!.message, /100 ms/);
            assert.deepEqual(out[2].value, { deviceName: '2' });
            assert.deepEqual((await e.run(rec('3'))).value, { deviceName: '3' });
        });

        it('stops a loop hidden in a getter of the result and in a recursive toJSON', async function () {
            assert.equal((await uplink('return { get a() { for (;;) {} } };', 50).run(rec('a'))).error?.kind, 'timeout');
            const r = await uplink('var o = {}; o.toJSON = function () { return [o, o]; }; return o;', 200).run(rec('a'));
            assert.ok(r.error);
        });

        it('a record that hangs in a batch fails alone, once: the records after it are not re-run', async function () {
            const e = await started({ direction: 'uplink', script: 'if (payload[0] === 33) { while (true) {} } return payload[0];', timeoutMs: 100, maxBatch: 8 });
            const inputs = Array.from({ length: 8 }, (_, i) => rec(i === 3 || i === 6 ? '!' : String(i)));
            const out = await e.runBatch(inputs);
            assert.deepEqual(out.map((o) => o.error?.kind ?? o.value), [48, 49, 50, 'timeout', 52, 53, 'timeout', 55]);
            assert.equal(e.stats.started, 1, 'the vm timeout stops a loop without a restart of the runner');
        });
    });

    describe('pipelined chunks and a runner death', function () {
        it('overlapping batches: a record that kills the runner fails alone, every other record converts, the death counts once', async function () {
            this.timeout(120_000);
            // uninterruptible by the vm timeout: the watchdog (timeout + 1 s) or the memory limit kills the runner
            const e = await started({ direction: 'uplink', script: 'if (payload[0] === 33) { new Float64Array(3e7).sort(); } return String.fromCharCode(payload[0]) + payload.length;', timeoutMs: 100, maxBatch: 8 });
            const mk = (from: number, n: number) => Array.from({ length: n }, (_, i) => rec(from + i === 13 ? '!' : String.fromCharCode(65 + ((from + i) % 26)) + 'x'.repeat(from + i)));
            const [a, b] = await Promise.all([e.runBatch(mk(0, 20)), e.runBatch(mk(20, 20))]);
            const all = [...a, ...b];
            for (let i = 0; i < 40; i++) {
                if (i === 13) {
                    assert.ok(all[i].error && ['timeout', 'memory'].includes(all[i].error!.kind), `record 13: ${JSON.stringify(all[i])}`);
                } else {
                    assert.equal(all[i].value, String.fromCharCode(65 + (i % 26)) + (i + 1), `record ${i}: ${JSON.stringify(all[i])}`);
                }
            }
            assert.equal(e.stats.timeout + e.stats.memory + e.stats.crash, 2, `one death in the pipeline, one in the one-by-one re-run: ${JSON.stringify(e.stats)}`);
            assert.equal(e.stats.started, 3);
            assert.equal((await e.run(rec('ok'))).value, 'o2', 'the pipeline resumes after the recovery');
        });
    });

    describe('errors carry the line and column of the user script', function () {
        it('runtime exceptions', async function () {
            const r = await uplink('var a = 1;\nvar b = a.missing;\n  b.field = 2;\nreturn a;').run(rec('a'));
            assert.equal(r.error?.kind, 'script');
            assert.equal(r.error?.name, 'TypeError');
            assert.equal(r.error?.line, 3);
            assert.equal(r.error?.column, 11);
        });

        it('errors thrown by helpers point at the script line that called them', async function () {
            const r = await uplink('var x = 1;\nreturn decodeToJson(payload);').run(rec('not json'));
            assert.equal(r.error?.name, 'SyntaxError');
            assert.equal(r.error?.line, 2);
        });

        it('thrown non-Error values', async function () {
            const r = await uplink('throw "bad payload";').run(rec('a'));
            assert.equal(r.error?.message, 'bad payload');
        });

        it('syntax errors at compile time', async function () {
            await assert.rejects(uplink('var a = 1;\nvar b = ;\n').engine, (e: unknown) => {
                assert.ok(e instanceof ScriptCompileError);
                assert.equal(e.info.line, 2);
                assert.equal(e.info.column, 9);
                return true;
            });
        });
    });

    describe('inputs', function () {
        it('uplink metadata = integration metadata + per-record metadata, fresh for every record', async function () {
            const e = uplink('metadata.touched = "yes"; return metadata;');
            const out = await e.runBatch([rec('a', { partitionKey: 'p1' }), rec('b', { partitionKey: 'p2' })]);
            assert.deepEqual(out[0].value, { integrationName: 'it', partitionKey: 'p1', touched: 'yes' });
            assert.deepEqual(out[1].value, { integrationName: 'it', partitionKey: 'p2', touched: 'yes' });
        });

        it('uplink metadata: records whose keys differ (row header) and alike (columnar) get their own values; a record key overrides a base key', async function () {
            const e = uplink('metadata.touched = payload.length; return metadata;');
            const mixed = [rec('a', { partitionKey: 'p1', sequenceNumber: '1' }), rec('bb'), rec('c', { sequenceNumber: '3', partitionKey: 'p3' }), rec('dd', { integrationName: 'own', k: 'v' })];
            assert.ok(JSON.parse(uplinkBatch(mixed).h).m, 'keys differ: one metadata object per record');
            assert.ok(JSON.parse(uplinkBatch([rec('a', { n: 1 as unknown as string })]).h).m, 'a value that is not a string: one metadata object per record');
            assert.equal(uplinkBatch([rec('ab', { k: 'v\n' }), rec('c', { k: 'w' })]).b.toString(), 'abcv\nw', 'columnar: the values\' text after the payloads');
            assert.deepEqual((await e.runBatch(mixed)).map((o) => o.value), [
                { integrationName: 'it', partitionKey: 'p1', sequenceNumber: '1', touched: 1 },
                { integrationName: 'it', touched: 2 },
                { integrationName: 'it', sequenceNumber: '3', partitionKey: 'p3', touched: 1 },
                { integrationName: 'own', k: 'v', touched: 2 },
            ]);
            const alike = Array.from({ length: 300 }, (_, i) => rec('x'.repeat(i % 7), { partitionKey: `p${i}`, integrationName: `n${i}` }));
            const h = JSON.parse(uplinkBatch(alike).h);
            assert.deepEqual([h.k, h.l.length, h.m], [['partitionKey', 'integrationName'], 600, undefined], 'same keys: columnar');
            const out = await e.runBatch(alike);
            out.forEach((o, i) => assert.deepEqual(o.value, { integrationName: `n${i}`, partitionKey: `p${i}`, touched: i % 7 }));
        });

        it('a part frame from the (untrusted) runner: a kind without its value or error, or an unknown kind, is a malformed result; nothing beyond the chunk is written', function () {
            const results: RawResult[] = new Array(6);
            const at = (k: number): RawResult | undefined => results[k];
            const n = applyPart(results, 1, 5, 0, { k: 'reutxr r', r: [{ a: 1 }], e: [{ n: 'TypeError', m: 'x'.repeat(5000), l: -3, c: 'no' }] }, 100);
            assert.equal(n, 5);
            assert.equal(at(0), undefined);
            assert.deepEqual(at(1), { value: { a: 1 } });
            assert.equal(at(2)?.error?.kind, 'script');
            assert.equal(at(2)?.error?.name, 'TypeError');
            assert.equal(at(2)?.error?.message.length, 1024);
            assert.equal(at(2)?.error?.line, undefined);
            assert.deepEqual(at(3), {});
            assert.equal(at(4)?.error?.kind, 'timeout');
            assert.match(String(at(5)?.error?.message), /malformed/);
            assert.equal(applyPart(results, 0, 5, 5, { k: 'r', r: [1], e: [] }, 100), 0, 'a part past the chunk is ignored');
            assert.equal(applyPart(results, 0, 5, -1, { k: 'r', r: [1], e: [] }, 100), 0);
            assert.equal(applyPart(results, 0, 5, 0.5, { k: 'r', r: [1], e: [] }, 100), 0);
            applyPart(results, 0, 2, 0, { k: 'er', r: [], e: [null] }, 100);
            assert.match(String(at(0)?.error?.message), /malformed/);
            assert.match(String(at(1)?.error?.message), /malformed/);
        });

        it('payload: char codes in JavaScript, signed bytes in TBEL', async function () {
            assert.deepEqual(await value(uplink('return payload;'), 'A€'), [65, 0x20ac]);
            const tbel = await started({ direction: 'uplink', scriptLang: 'TBEL', script: 'return payload;' });
            assert.deepEqual((await tbel.run(rec('A\u00ff'))).value, [65, -1]);
        });

        it('payload text crosses raw: newlines, quotes, backslashes, astral chars and lone surrogates arrive intact', async function () {
            const e = uplink('return payload;');
            const texts = ['a\nb', '"\\', '\ud83d\ude00x', 'z\ud800', '\udc00', '', 'end\r\n'];
            const out = await e.runBatch(texts.map((t) => rec(t)));
            assert.deepEqual(out.map((o) => o.value), texts.map((t) => Array.from({ length: t.length }, (_, i) => t.charCodeAt(i))));
            // a batch without a lone surrogate goes without the JSON fallback: the same answer
            const clean = await e.runBatch(texts.slice(0, 3).map((t) => rec(t, { k: 'v\n' })));
            assert.deepEqual(clean.map((o) => o.value), texts.slice(0, 3).map((t) => Array.from({ length: t.length }, (_, i) => t.charCodeAt(i))));
        });

        it('payload bytes cross as they are: ASCII, UTF-8 and binary bytes, mixed with text in one batch, in JavaScript and TBEL', async function () {
            const bytes = [Buffer.from('{"a":1}'), Buffer.from('é€😀'), Buffer.from([0xff, 0x41, 0xc3]), new Uint8Array([0x62, 0x63]), Buffer.alloc(0)];
            const inputs: UplinkInput[] = [
                ...bytes.map((b, i) => ({ codes: b, metadata: { partitionKey: `p${i}`, seq: i % 2 ? 'ü' : `${i}` } })),
                { codes: 'tëxt', metadata: { partitionKey: 'p5', seq: '5' } },
            ];
            const codes = (s: string) => Array.from({ length: s.length }, (_, i) => s.charCodeAt(i));
            const js = uplink('return [payload, metadata.partitionKey, metadata.seq];');
            assert.deepEqual((await js.runBatch(inputs)).map((o) => o.value), [
                [codes('{"a":1}'), 'p0', '0'],
                [codes('é€😀'), 'p1', 'ü'],
                [[0xff, 0x41, 0xc3], 'p2', '2'], // not UTF-8: the bytes
                [[0x62, 0x63], 'p3', 'ü'],
                [[], 'p4', '4'],
                [codes('tëxt'), 'p5', '5'],
            ]);
            // all ASCII: the batch's bytes as they are; a lone surrogate in a value: the JSON fallback, same answer
            const ascii = (await js.runBatch([inputs[0], inputs[3]])).map((o) => o.value);
            assert.deepEqual(ascii, [[codes('{"a":1}'), 'p0', '0'], [[0x62, 0x63], 'p3', 'ü']]);
            const lone = (await js.runBatch([{ codes: Buffer.from('xy'), metadata: { partitionKey: 'q\ud800', seq: 's' } }, inputs[1]])).map((o) => o.value);
            assert.deepEqual(lone, [[codes('xy'), 'q\ud800', 's'], [codes('é€😀'), 'p1', 'ü']]);
            const tbel = await started({ direction: 'uplink', scriptLang: 'TBEL', script: 'return payload;' });
            const signed = (b: Uint8Array) => Array.from(b, (x) => (x > 127 ? x - 256 : x));
            assert.deepEqual((await tbel.runBatch(inputs.slice(0, 5))).map((o) => o.value), bytes.map(signed));
        });

        it('downlink gets msg, metadata, msgType and integrationMetadata', async function () {
            const e = await started({ direction: 'downlink', script: 'return [msg, metadata, msgType, integrationMetadata];', integrationMetadata: { integrationName: 'k' } });
            assert.deepEqual((await e.run({ msg: { version: 'v.0.11' }, metadata: { deviceName: 'd' }, msgType: 'ATTRIBUTES_UPDATED' })).value, [
                { version: 'v.0.11' }, { deviceName: 'd' }, 'ATTRIBUTES_UPDATED', { integrationName: 'k' },
            ]);
        });

        it('assigning to a builtin name changes the script\'s binding (kept between calls, like a global), not the runtime', async function () {
            const e = await uplink('var before = typeof JSON.parse; JSON = 5; String = null; return [before, JSON];').engine;
            assert.deepEqual(await value(e), ['function', 5]);
            assert.deepEqual(await value(e), ['undefined', 5]); // results are still copied out with the real JSON
        });

        it('a script that closes its own function body is refused', async function () {
            await rejects(uplink('return 1; }; while (true) {}; function x() {').engine, (e) => e instanceof ScriptCompileError);
        });

        it('a script function declaration shadows the helper of the same name', async function () {
            assert.equal(await value(uplink('function decodeToString(p) { return "mine"; }\nreturn decodeToString(payload);')), 'mine');
            assert.equal(await value(uplink('return decodeToString(payload);'), 'hé'), 'hé');
        });
    });

    describe('guard (refuses async functions and import before compiling)', function () {
        it('refuses what acorn cannot parse (no fallback reader): new.target outside a function, unbalanced text', async function () {
            assert.equal(findForbiddenSyntax('return new.target === undefined;'), undefined); // valid: the script is a function body
            assert.match(String(findForbiddenSyntax('var a = ;')?.message), /cannot be parsed/);
            assert.match(String(findForbiddenSyntax('}); import("fs"); (function () {')?.message), /cannot be parsed|not a function body|import/);
            assert.match(String(findForbiddenSyntax('return 1; }, function () {')?.message), /not a function body|cannot be parsed/);
            assert.match(String(findForbiddenSyntax('['.repeat(100000))?.message), /nested too deeply|cannot be parsed/);
        });

        it('finds async/import only where they are code', async function () {
            for (const check of [findForbiddenSyntax]) {
                assert.equal(check('var s = `a ${ x } async`; /async/.test(s); return s;'), undefined);
                assert.equal(check('var s = `a ${ (async () => 1)() }`;')?.token, 'async');
                assert.equal(check('var x = a / 2; var y = b / async function () {}')?.token, 'async');
                assert.deepEqual(check('var a = 1;\n  import("x")'), { token: 'import', line: 2, column: 3, message: 'import is not available in converters (no modules, no file system)' });
            }
        });

        it('the full parse is not fooled where a regular expression ends (the tokenizer fallback is)', async function () {
            const tricks = [
                'x = function () {} / (async function () { throw 1; })() / 1;',
                'if (1) /\'/.test(""); (async function f() { throw 1; })();',
            ];
            for (const t of tricks) {
                assert.equal(findForbiddenSyntax(t)?.token, 'async', t);
                await rejects(uplink(t).engine, (e) => e instanceof ScriptCompileError, t);
            }
            assert.equal(findForbiddenSyntax('var async = 1; return async(2);'), undefined); // a function named async
        });
    });
});
