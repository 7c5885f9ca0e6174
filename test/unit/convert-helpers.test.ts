/* eslint-disable @typescript-eslint/no-explicit-any */
import assert from 'node:assert/strict';
import { installHelpers, HELPER_NAMES, TBEL_ONLY_HELPERS } from '../../lib/convert/helpers';

function helpers(tbel: boolean): any {
    const g: any = { parseInt, parseFloat, isNaN };
    installHelpers(g, tbel);
    return g;
}

describe('convert helpers (ThingsBoard TbUtils semantics)', function () {
    const tb = helpers(true);
    const js = helpers(false);

    it('parseHexToInt: big-endian by default, little-endian on request, beyond Integer.MAX_VALUE throws (as TbUtils)', function () {
        assert.equal(tb.parseHexToInt('AB'), 0xab);
        assert.equal(tb.parseHexToInt('ABBA', true), 0xabba);
        assert.equal(tb.parseHexToInt('ABBA', false), 0xbaab);
        assert.equal(tb.parseHexToInt('AABBCC', true), 0xaabbcc);
        assert.equal(tb.parseHexToInt('CCBBAA', false), 0xaabbcc);
        assert.throws(() => tb.parseHexToInt('AABBCCDD'), { name: 'NumberFormatException' }); // ThingsBoard: no wrap to -1430532899
        assert.throws(() => tb.parseHexToInt('FFFFFFFF'), { name: 'NumberFormatException' });
        assert.equal(tb.parseHexToInt('7FFFFFFF'), 2147483647);
        assert.equal(tb.parseHexToInt('0x1A'), 26);
        assert.equal(tb.parseLittleEndianHexToInt('BBAA'), 0xaabb);
        assert.equal(tb.parseBigEndianHexToInt('BBAA'), 0xbbaa);
        assert.throws(() => tb.parseHexToInt('AABBCCDDEE'), /NumberFormatException/);
        assert.throws(() => tb.parseHexToInt('XYZ'), /Failed radix \[16\]/);
        assert.throws(() => tb.parseHexToInt('ABC'), /even length/);
    });

    it('parseHexToLong / Float / Double and their endian variants', function () {
        assert.equal(tb.parseHexToLong('AABBCCDDEE'), 0xaabbccddee);
        assert.equal(tb.parseLittleEndianHexToLong('EEDDCCBBAA'), 0xaabbccddee);
        assert.throws(() => tb.parseBigEndianHexToLong('FFFFFFFFFFFFFFFF'), { name: 'NumberFormatException' });
        assert.equal(tb.parseHexToFloat('0x41F00000'), 30);
        assert.equal(tb.parseFloat('1e10'), 1e10); // decimal, not IEEE-754 bits
        assert.equal(tb.parseBytesToFloat([0x41, 0x45, 0x70, 0xa4]), 12.34); // float32 shown as its shortest decimal
        assert.equal(tb.parseHexToFloat('41200000'), 10);
        assert.equal(tb.parseLittleEndianHexToFloat('00002041'), 10);
        assert.equal(tb.parseBigEndianHexToFloat('0x40490FDB'), 3.1415927); // Math.fround(Math.PI) as its shortest decimal
        assert.equal(tb.parseHexToDouble('4024000000000000'), 10);
        assert.equal(tb.parseLittleEndianHexToDouble('0000000000002440'), 10);
        assert.equal(tb.parseBigEndianHexToDouble('400921FB54442D18'), Math.PI);
    });

    it('parseBytesToInt/Long/Float/Double(bytes, offset, length, bigEndian) as java.nio.ByteBuffer reads', function () {
        const b = [0xaa, 0xbb, 0xcc, 0xdd];
        assert.equal(tb.parseBytesToInt(b, 0, 3), 0xaabbcc);
        assert.equal(tb.parseBytesToInt(b, 0, 3, true), 0xaabbcc);
        assert.equal(tb.parseBytesToInt(b, 0, 3, false), 0xccbbaa);
        assert.equal(tb.parseBytesToInt(b, 1, 2), 0xbbcc);
        assert.equal(tb.parseBytesToInt(b), 0xaabbccdd | 0); // 4 bytes: signed
        assert.equal(tb.parseBytesToInt([0xff, 0xff]), 0xffff); // fewer bytes: zero-extended
        assert.equal(tb.parseBytesToInt([-1, -1, -1, -1]), -1); // Java's signed bytes accepted
        assert.equal(tb.parseBytesToInt([0x01, 0x00], 0, 2, false), 1);
        assert.throws(() => tb.parseBytesToInt(b, 2, 4), /is out of bounds for array with length: 4/);
        assert.throws(() => tb.parseBytesToInt([1, 2, 3, 4, 5], 0, 5), /Maximum 4 bytes is allowed/);
        assert.equal(tb.parseBytesToLong([0, 0, 0, 0, 0, 0, 1, 0]), 256);
        assert.equal(tb.parseBytesToLong([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), -1);
        assert.equal(tb.parseBytesToLong([0x00, 0x01], 0, 2, false), 256);
        assert.equal(tb.parseBytesToFloat([0x41, 0x20, 0x00, 0x00]), 10);
        assert.equal(tb.parseBytesToFloat([0x00, 0x00, 0x20, 0x41], 0, 4, false), 10);
        assert.throws(() => tb.parseBytesToFloat([0x7f, 0xc0, 0, 0]), /Not-a-Number/);
        assert.equal(tb.parseBytesToDouble([0x40, 0x24, 0, 0, 0, 0, 0, 0]), 10);
        assert.equal(tb.parseBytesToDouble([0, 0, 0, 0, 0, 0, 0x24, 0x40], 0, 8, false), 10);
    });

    it('hex, base64 and byte conversions: signed bytes in TBEL, unsigned in JavaScript', function () {
        assert.throws(() => tb.bytesToHex([0xbb, 0xaa]), /Value out of range/); // Byte.parseByte, as TbUtils
        assert.equal(js.bytesToHex([0xbb, 0xaa]), 'BBAA');
        assert.equal(tb.bytesToHex([-69, -86]), 'BBAA');
        assert.deepEqual(tb.hexToBytes('0x01752B0367FA'), [1, 117, 43, 3, 103, -6]);
        assert.deepEqual(js.hexToBytes('01752B0367FA'), [1, 117, 43, 3, 103, 250]);
        assert.throws(() => tb.hexToBytes('ABC'), /even-length/);
        assert.equal(tb.bytesToBase64([42, 73, 53]), 'Kkk1');
        assert.deepEqual(tb.base64ToBytes('AQID'), [1, 2, 3]);
        assert.deepEqual(tb.base64ToBytes('/w=='), [-1]);
        assert.deepEqual(js.base64ToBytes('/w=='), [255]);
        assert.equal(tb.base64ToHex('AQL/'), '0102FF');
        assert.equal(tb.hexToBase64('0102FF'), 'AQL/');
        assert.throws(() => tb.base64ToBytes('###'), /Illegal base64/);
    });

    it('btoa/atob: Latin-1 in JavaScript (like browsers), UTF-8 in TBEL (like Java)', function () {
        assert.equal(js.btoa('Hello, world'), 'SGVsbG8sIHdvcmxk');
        assert.equal(js.atob('SGVsbG8sIHdvcmxk'), 'Hello, world');
        assert.equal(tb.btoa('Hello, world'), Buffer.from('Hello, world').toString('base64'));
        assert.equal(tb.btoa('€'), Buffer.from('€').toString('base64'));
        assert.equal(tb.atob(Buffer.from('Grüße €').toString('base64')), 'Grüße €');
        assert.throws(() => js.btoa('€'), /Latin1/);
    });

    it('strings ↔ bytes: UTF-8; decodeToString is fromCharCode in JavaScript, UTF-8 in TBEL', function () {
        assert.deepEqual(tb.stringToBytes('Hello'), [72, 101, 108, 108, 111]);
        assert.deepEqual(tb.stringToBytes('€'), [-30, -126, -84]);
        assert.deepEqual(js.stringToBytes('€'), [0xe2, 0x82, 0xac]);
        assert.deepEqual(tb.stringToBytes('é', 'ISO-8859-1'), [-23]);
        assert.equal(tb.bytesToString([-30, -126, -84]), '€');
        assert.equal(tb.decodeToString([-30, -126, -84]), '€');
        assert.equal(tb.bytesToString([0xff]), '\ufffd'); // malformed UTF-8 → replacement char, as Java
        assert.equal(tb.bytesToString([0xe9], 'ISO-8859-1'), 'é');
        assert.equal(js.decodeToString([0x20ac, 0x41]), '€A');
        assert.equal(js.bytesToString([0x20ac, 0x41]), '€A'); // JS payloads are char codes
        assert.equal(js.bytesToString([0xe2, 0x82, 0xac]), '€');
        assert.deepEqual(tb.decodeToJson(tb.stringToBytes('{"a":"ü"}')), { a: 'ü' });
        assert.deepEqual(js.decodeToJson('{"a":1}'), { a: 1 });
        const big = 'x'.repeat(100_000);
        assert.equal(js.decodeToString(Array.from(big, (c) => c.charCodeAt(0))), big); // no apply() argument limit
    });

    it('TBEL parseInt/parseFloat/parseLong/parseDouble detect the radix; JavaScript keeps its own parseInt', function () {
        assert.equal(tb.parseInt('0x1A'), 26);
        assert.equal(tb.parseInt('1A'), 26);
        assert.equal(tb.parseInt('-12'), -12);
        assert.equal(tb.parseInt('1011', 2), 11);
        assert.equal(tb.parseInt('777', 8), 511);
        assert.throws(() => tb.parseInt('12px'), /not numeric or hexDecimal/);
        assert.equal(tb.parseLong('123456789012'), 123456789012);
        assert.equal(tb.parseFloat('0x41200000'), 10);
        assert.equal(tb.parseFloat('3.5'), 3.5);
        assert.equal(tb.parseDouble('1.1'), 1.1);
        assert.equal(tb.parseDouble('0x4024000000000000'), 10);
        assert.equal(js.parseInt('12px'), 12);
        assert.equal(js.parseInt('FF'), NaN);
        assert.equal(js.parseFloat('3.5abc'), 3.5);
        assert.equal(js.isNaN(NaN), true);
        assert.equal(tb.isNaN(1), false);
    });

    it('intToHex, toFixed (HALF_UP on the decimal value), padStart/padEnd, raiseError', function () {
        assert.equal(tb.intToHex(255), 'FF');
        assert.equal(tb.intToHex(0xabcdef, true, true), '0xABCDEF');
        assert.equal(tb.intToHex(0xabcdef, false, true), '0xEFCDAB');
        assert.equal(tb.intToHex(0xabcdef, true, false, 2), 'EF');
        assert.equal(tb.intToHex(-123), 'FF85');
        assert.equal(tb.intToHex(10), '0A');
        assert.equal(tb.toFixed(0.345, 1), 0.3);
        assert.equal(tb.toFixed(0.345, 2), 0.35); // (0.345).toFixed(2) is "0.34" in JavaScript
        assert.equal(tb.toFixed(1.005, 2), 1.01);
        assert.equal(tb.toFixed(-1.005, 2), -1.01);
        assert.equal(tb.toFixed(9.995, 2), 10);
        assert.equal(tb.toFixed(12, 2), 12);
        assert.equal(tb.padStart('1001', 8, '0'), '00001001');
        assert.equal(tb.padEnd('1001', 8, '0'), '10010000');
        assert.throws(() => tb.raiseError('bad value', 5), /^RuntimeException: bad value for value 5$/);
        assert.throws(() => tb.raiseError('plain'), /^RuntimeException: plain$/);
    });

    it('HELPER_NAMES lists exactly what installHelpers defines (the sandbox hands these to scripts as locals)', function () {
        const g: any = Object.create(null);
        installHelpers(g, false);
        assert.deepEqual(Object.getOwnPropertyNames(g).sort(), HELPER_NAMES.filter((n) => !TBEL_ONLY_HELPERS.includes(n)).sort());
        const t: any = Object.create(null);
        installHelpers(t, true);
        assert.deepEqual(Object.getOwnPropertyNames(t).sort(), [...HELPER_NAMES].sort());
    });

    it('isInsidePolygon / isInsideCircle: the cases of ThingsBoard\'s own TbUtilsTest (not in the oracle: JTS/spatial4j)', function () {
        const polygon = '[[[50.75581142688204,29.097910166341073],[50.16785158177623,29.35066098977171],[50.164329922384674,29.773743889862114],[50.16785158177623,30.801230932938843],[50.459245308833495,30.92760634465418],[50.486522489629564,30.68548421850448],[50.703612031034005,30.872660513473573]],[[50.606017492632766,29.36165015600782],[50.54317104075835,29.762754723626013],[50.41021974600505,29.455058069014804]]]';
        assert.equal(tb.isInsidePolygon(50.50869555168039, 30.80123093293884, polygon), false); // outside
        assert.equal(tb.isInsidePolygon(50.50520628167696, 30.339685951022016, polygon), true); // inside
        assert.equal(tb.isInsidePolygon(50.52265651287081, 29.488025567723156, polygon), false); // in the hole
        assert.equal(tb.isInsidePolygon(1, 1, '[[0,0],[2,2]]'), true); // two points: a rectangle
        assert.throws(() => tb.isInsidePolygon(1, 1, ' '), { name: 'RuntimeException' });
        const circle = '{"latitude":50.32254778825905,"longitude":28.207787701215757,"radius":47477.33130420423}';
        assert.equal(tb.isInsideCircle(50.81490715736681, 28.05943395702824, circle), false);
        assert.equal(tb.isInsideCircle(50.599397971892444, 28.086906872618542, circle), true);
        assert.equal(tb.isInsideCircle(50.599397971892444, 28.086906872618542, '{"latitude":50.32254778825905,"longitude":28.207787701215757,"radius":47.48,"radiusUnit":"KILOMETER"}'), true);
        assert.throws(() => tb.isInsideCircle(1, 1, '{"latitude":1,"longitude":1,"radius":1,"radiusUnit":"PARSEC"}'), /RangeUnit\.PARSEC/);
    });

    it('toFlatMap: dotted paths, array indexes, exclude list, pathInKey=false', function () {
        const o = { a: { b: 1, c: [1, { d: 2 }] }, e: 'x' };
        assert.deepEqual(tb.toFlatMap(o), { 'a.b': 1, 'a.c.0': 1, 'a.c.1.d': 2, e: 'x' });
        assert.deepEqual(tb.toFlatMap(o, ['b']), { 'a.c.0': 1, 'a.c.1.d': 2, e: 'x' });
        assert.deepEqual(tb.toFlatMap({ a: { b: 1, c: [7, 8] } }, false), { b: 1, 'c.0': 7, 'c.1': 8 });
        assert.deepEqual(tb.toFlatMap(o, ['e'], true), { 'a.b': 1, 'a.c.0': 1, 'a.c.1.d': 2 });
    });
});
