/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * TBEL syntax: the examples of ThingsBoard's TBEL language guide, run in the real sandbox (the same
 * engine the node and the editor's Test dialog use), with the results the guide states.
 */
import assert from 'node:assert/strict';
import { ScriptEngine, ScriptCompileError, UplinkInput } from '../../lib/convert/sandbox';
import { translateTbel } from '../../lib/convert/tbel-syntax';

const rec = (codes: string): UplinkInput => ({ codes, metadata: {} });

/** Runs a TBEL uplink script on a JSON payload; returns what the script returned. */
async function tbel(script: string, payload = '{}'): Promise<any> {
    const e = await ScriptEngine.create({ direction: 'uplink', scriptLang: 'TBEL', script });
    try {
        const r = await e.run(rec(payload));
        if (r.error) throw new Error(`${r.error.name}: ${r.error.message} (line ${r.error.line})`);
        return r.value;
    } finally {
        e.close();
    }
}

describe('TBEL syntax (ThingsBoard TBEL language guide)', function () {
    describe('the guide\'s examples give the guide\'s results', function () {
        it('multiple statements: the value of the last statement is the result', async function () {
            assert.equal(await tbel('var a = 2;var b = 3;a + b;'), 5);
            assert.equal(await tbel('var a = 2;\nvar b = 3;\na + b'), 5);
            assert.equal(await tbel('var x = 1;\nif (x > 0) { x = 7; }\nx'), 7);
            assert.equal(await tbel('return 4;'), 4); // an explicit return stays
        });

        it('type conversion: "123" == 123 is true', async function () {
            assert.equal(await tbel('"123" == 123;'), true);
        });

        it('maps: creation, dot/get/bracket access, put, size, containsKey, remove, keys, values, isEmpty', async function () {
            const r = await tbel(`var map = {"temperature": 42, "nested": "508"};
var a = map.temperature;
var b = map.get("temperature");
var c = map["temperature"];
map.put("humidity", 73);
var size = map.size();
var has = map.containsKey("humidity");
var removed = map.remove("nested");
return {a: a, b: b, c: c, size: size, has: has, removed: removed, keys: map.keys(), values: map.values(), empty: map.isEmpty(), emptyNew: {}.isEmpty(), missing: map.get("nope")};`);
            assert.deepEqual(r, { a: 42, b: 42, c: 42, size: 3, has: true, removed: '508', keys: ['temperature', 'humidity'], values: [42, 73], empty: false, emptyNew: true, missing: null });
        });

        it('maps: safe navigation map.?key, the empty map [:], iteration over entrySet() and over values', async function () {
            const r = await tbel(`var map = {"temperature": 42, "humidity": 73};
var n = map.?nonExistingKey;
var e = [:];
var ks = [];
var vs = [];
foreach (element : map.entrySet()) {
    ks.add(element.getKey());
    vs.add(element.value);
}
var sum = 0;
foreach (value : map) {
    sum = sum + value;
}
return {n: n == null, e: e.size(), ks: ks, vs: vs, sum: sum};`);
            assert.deepEqual(r, { n: true, e: 0, ks: ['temperature', 'humidity'], vs: [42, 73], sum: 115 });
        });

        it('lists: size, get, add, add at an index, push, remove, set, contains, sort in natural order', async function () {
            const r = await tbel(`var list = ["A", "B", "C"];
var first = list[0];
var got = list.get(1);
list.add("D");
list.add(0, "Z");
list.push("E");
var removed = list.remove(0);
var old = list.set(0, "a");
var nums = [10, 9, 1, 100];
nums.sort();
var desc = [3, 1, 2];
desc.sort(false);
return {first: first, got: got, removed: removed, old: old, list: list, size: list.size(), has: list.contains("C"), nums: nums, desc: desc, empty: [].isEmpty()};`);
            assert.deepEqual(r, { first: 'A', got: 'B', removed: 'Z', old: 'A', list: ['a', 'B', 'C', 'D', 'E'], size: 5, has: true, nums: [1, 9, 10, 100], desc: [3, 2, 1], empty: true });
        });

        it('arrays: new int[3], new byte[n], new String[]{…}, str.length()', async function () {
            const r = await tbel(`var array = new int[3];
array[0] = 1;
byte[] b = new byte[2];
var s = new String[]{"x", "y"};
var str = "hello";
return {array: array, b: b, s: s, len: str.length(), n: array.length};`);
            assert.deepEqual(r, { array: [1, 0, 0], b: [0, 0], s: ['x', 'y'], len: 5, n: 3 });
        });

        it('loops: foreach (x : list), for (x : list), for (int i = 0; …), while', async function () {
            const r = await tbel(`var list = [1, 2, 3];
var s1 = 0;
foreach (n : list) { s1 = s1 + n; }
var s2 = 0;
for (x : list) { s2 = s2 + x * 10; }
var s3 = 0;
for (int i = 0; i < list.size(); i++) { s3 = s3 + list.get(i); }
var s4 = 0;
for (Integer y : list) { s4 = s4 + y; }
var i = 0;
while (i < 3) { i++; }
return [s1, s2, s3, s4, i];`);
            assert.deepEqual(r, [6, 60, 6, 6, 3]);
        });

        it('functions (def), typed declarations and number suffixes', async function () {
            const r = await tbel(`def sum(int a, int b) {
    return a + b;
}
int x = 5;
long big = 10L;
double d = 1.5d;
String s = "v";
sum(x, 2) + big + d;`);
            assert.equal(r, 18.5);
        });

        it('an uplink converter in TBEL: payload bytes → telemetry', async function () {
            const r = await tbel(`var data = decodeToJson(payload);
var telemetry = {};
foreach (entry : data.entrySet()) {
    if (entry.key != "devName") {
        telemetry.put(entry.key, entry.value);
    }
}
var result = {deviceName: data.devName, deviceType: "thermostat", telemetry: telemetry};
result`, '{"devName":"t1","temperature":21.5,"humidity":40}');
            assert.deepEqual(r, { deviceName: 't1', deviceType: 'thermostat', telemetry: { temperature: 21.5, humidity: 40 } });
        });
    });

    describe('refused or kept', function () {
        it('a construct that cannot be translated is refused at compile time with its line', async function () {
            assert.throws(() => new ScriptEngine({ direction: 'uplink', scriptLang: 'TBEL', script: 'var a = 1;\nvar b = 2;\nvar c = (int) a;\nreturn c;' }),
                (e: any) => e instanceof ScriptCompileError && e.info.line === 3 && /Java casts/.test(e.message));
            assert.throws(() => new ScriptEngine({ direction: 'uplink', scriptLang: 'TBEL', script: 'var a = 1;\nreturn Integer.parseInt("5");' }),
                (e: any) => e instanceof ScriptCompileError && e.info.line === 2 && /Integer\.parseInt/.test(e.message));
            assert.throws(() => new ScriptEngine({ direction: 'uplink', scriptLang: 'TBEL', script: '\n\nforeach (a, b : list) {}' }),
                (e: any) => e instanceof ScriptCompileError && e.info.line === 3);
            assert.throws(() => new ScriptEngine({ direction: 'uplink', scriptLang: 'TBEL', script: 'var m = new int[2][2];' }),
                (e: any) => e instanceof ScriptCompileError && /multi-dimensional/.test(e.message));
        });

        it('runtime errors keep the line of the TBEL script', async function () {
            const e = await ScriptEngine.create({ direction: 'uplink', scriptLang: 'TBEL', script: 'var list = [1];\nforeach (x : list) {\n  x.nope.deeper;\n}\nreturn 1;' });
            const r = await e.run(rec('{}'));
            e.close();
            assert.equal(r.error?.line, 3);
        });

        it('JavaScript text in a TBEL script is kept byte for byte; the translation keeps the line count', async function () {
            const js = 'var a = {b: [1, 2]};\nvar f = function (x) { return x * 2; };\nreturn f(a.b[1]) + "s:\\"x\\"";';
            assert.equal(translateTbel(js).code, js);
            const t = translateTbel('foreach (x : list) {\n  int y = x;\n}\nvar m = [:];\ny');
            assert.equal(t.code, 'for (var x of __tbelIter(  list)) {\n  var y = x;\n}\nvar m = {};\nreturn y');
            assert.equal(t.code.split('\n').length, 5);
        });

        it('linear time on hostile text: long runs of brackets, numbers, strings and loop headers', async function () {
            // quadratic work would take minutes at these sizes; the suite's timeout catches it
            const n = 200_000;
            for (const src of ['('.repeat(n), '1'.repeat(n) + 'x1', 'foreach ('.repeat(n / 10), '"'.repeat(n) + '\\', 'int '.repeat(n / 4), 'new int['.repeat(n / 8), 'a.?'.repeat(n / 3), '[:'.repeat(n / 2), 'List<'.repeat(n / 5), 'x = new ArrayList<'.repeat(n / 18), 'def f('.repeat(n / 6) + 'int a'.repeat(n / 5)]) {
                const t = translateTbel(src);
                assert.equal(typeof t.code, 'string');
            }
        });
    });
});
