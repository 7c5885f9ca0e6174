/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * The TBEL helpers against ThingsBoard's own TbUtils: test/fixtures/tbutils/expected.json holds what
 * TbUtils returned (or threw) for every vector of vectors.json (see the README there). Every vector
 * must pass.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { installHelpers, HELPER_NAMES } from '../../lib/convert/helpers';

const DIR = path.resolve(__dirname, '../../../test/fixtures/tbutils');

interface Vector { id: string; fn: string; sig: string[]; args: any[] }
interface Tagged { type: string; value?: any; bits?: string; text?: string }
interface Result { id: string; result?: Tagged; throws?: string; message?: string }

/** A Java double/float argument written as text in the vectors ("NaN", "Infinity", "-0"). */
function arg(tb: any, v: any, type: string): any {
    // a Java byte[] (isArray true, isList false): made by a helper that returns one
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && '$bytes' in v) return tb.hexToBytesArray(tb.bytesToHex(v.$bytes));
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && '$set' in v) return new Set(v.$set);
    if (typeof v === 'string' && /^(double|Double|float|Float|long|Long)$/.test(type)) return v === '-0' ? -0 : Number(v);
    return v;
}

/** The JavaScript value a Java result becomes. */
function expected(t: Tagged): any {
    switch (t.type) {
        case 'null': return null;
        case 'int': case 'byte': case 'boolean': case 'string': return t.value;
        case 'long': return Number(t.value);
        case 'float': {
            const dv = new DataView(new ArrayBuffer(4));
            dv.setUint32(0, parseInt(t.bits as string, 16));
            const f = dv.getFloat32(0);
            if (f !== f || f === 0 || !isFinite(f)) return f;
            for (let p = 1; p <= 9; p++) { const d = Number(f.toPrecision(p)); if (Math.fround(d) === f) return d; }
            return f;
        }
        case 'double': {
            const dv = new DataView(new ArrayBuffer(8));
            dv.setBigUint64(0, BigInt('0x' + t.bits));
            return dv.getFloat64(0);
        }
        case 'byte[]': return t.value;
        case 'list': case 'set': return (t.value as Tagged[]).map(expected);
        case 'map': {
            const o: any = {};
            for (const [k, v] of t.value as [string, Tagged][]) o[k] = expected(v);
            return o;
        }
        default: throw new Error('unknown result type ' + t.type);
    }
}

function normalise(v: any): any {
    if (v instanceof Set) return Array.from(v).map(normalise);
    if (Array.isArray(v)) return v.map(normalise);
    if (v !== null && typeof v === 'object') { const o: any = {}; for (const k of Object.keys(v)) o[k] = normalise(v[k]); return o; }
    return v;
}

describe('TBEL helpers = ThingsBoard TbUtils (oracle fixture)', function () {
    const vectors: Vector[] = JSON.parse(fs.readFileSync(path.join(DIR, 'vectors.json'), 'utf8'));
    const oracle: { registered: Record<string, string[][]>; results: Result[] } = JSON.parse(fs.readFileSync(path.join(DIR, 'expected.json'), 'utf8'));
    const tb: any = { parseInt, parseFloat, isNaN, encodeURI, decodeURI };
    installHelpers(tb, true);

    it('every function TbUtils.register() imports into TBEL exists', function () {
        const names = Object.keys(oracle.registered);
        assert.ok(names.length >= 60, 'the fixture lists the registered names');
        const missing = names.filter((n) => typeof tb[n] !== 'function' || !HELPER_NAMES.includes(n));
        assert.deepEqual(missing, []);
    });

    it('the fixture covers hundreds of vectors, every registered function but the geofencing pair', function () {
        assert.equal(vectors.length, oracle.results.length);
        assert.ok(vectors.length > 1000);
        const covered = new Set(vectors.map((v) => v.fn));
        const uncovered = Object.keys(oracle.registered).filter((n) => !covered.has(n));
        assert.deepEqual(uncovered.sort(), ['isInsideCircle', 'isInsidePolygon']);
    });

    it('every vector returns what TbUtils returns, or throws (the same Java exception) where TbUtils throws', function () {
        const failures: string[] = [];
        const byId = new Map(oracle.results.map((r) => [r.id, r]));
        for (const v of vectors) {
            const r = byId.get(v.id) as Result;
            const args = v.args.map((a, i) => arg(tb, a, v.sig[i]));
            let got: any;
            let threw: any;
            try { got = tb[v.fn](...args); } catch (e) { threw = e; }
            const show = `${v.id} ${v.fn}(${JSON.stringify(v.args)})`;
            if (r.throws) {
                if (!threw) failures.push(`${show}: returned ${JSON.stringify(normalise(got))}, TbUtils throws ${r.throws}: ${r.message}`);
                else if (!(threw instanceof Error) || !threw.message) failures.push(`${show}: threw without a message`);
                else if (threw.name !== r.throws.slice(r.throws.lastIndexOf('.') + 1)) failures.push(`${show}: threw ${threw.name}, TbUtils throws ${r.throws}`);
                continue;
            }
            if (threw) { failures.push(`${show}: threw ${threw.name}: ${threw.message}, TbUtils returns ${JSON.stringify(r.result)}`); continue; }
            const want = expected(r.result as Tagged);
            try {
                assert.deepStrictEqual(normalise(got), want);
            } catch (e) {
                failures.push(`${show}: got ${JSON.stringify(normalise(got))}${Object.is(got, -0) ? ' (-0)' : ''}, TbUtils returns ${JSON.stringify(want)}${Object.is(want, -0) ? ' (-0)' : ''} [${JSON.stringify(r.result)}]`);
            }
        }
        assert.equal(failures.length, 0, `${failures.length} of ${vectors.length} vectors differ:\n` + failures.slice(0, 60).join('\n'));
    });
});
