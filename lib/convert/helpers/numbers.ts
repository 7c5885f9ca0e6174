/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * Numbers as TbUtils parses and formats them: parseInt/parseLong/parseFloat/parseDouble with
 * ThingsBoard's radix detection, the hex and byte readers (java.nio.ByteBuffer semantics), the hex and
 * radix writers, the bit-field helpers, toFixed/toInt (BigDecimal HALF_UP). Java int and long values
 * are JavaScript numbers (a long beyond ±2^53 becomes the nearest double); a float result is the
 * shortest decimal that reads back to the same float32. Self-contained (see ./index.ts); needs
 * ./base.ts installed first.
 */
export function installNumbers(h: any, tbel: boolean): void {
    'use strict';
    const fail: (javaName: string, msg: string) => never = h.fail;
    const clip = h.clip;
    const INT_MAX = BigInt(2147483647);
    const INT_MIN = BigInt(-2147483648);
    const LONG_MAX = (BigInt(1) << BigInt(63)) - BigInt(1);
    const LONG_MIN = -(BigInt(1) << BigInt(63));
    const DIGITS = '0123456789abcdefghijklmnopqrstuvwxyz';

    function nfe(s: any, radix?: number): never {
        return fail('NumberFormatException', 'For input string: "' + clip(s) + '"' + (radix && radix !== 10 ? ' under radix ' + radix : ''));
    }
    /** Java's Integer/Long.parseInt(s, radix) (ASCII digits; `bits` 32, 64, or 65 = Long.parseUnsignedLong): NumberFormatException outside the range. */
    function javaParseBig(s: string, radix: number, bits: number): bigint {
        if (s.length === 0) nfe(s, radix);
        const max = bits === 65 ? (BigInt(1) << BigInt(64)) - BigInt(1) : (BigInt(1) << BigInt(bits - 1)) - BigInt(1);
        const min = bits === 65 ? BigInt(0) : -max - BigInt(1);
        let i = 0;
        let neg = false;
        if (s[0] === '-' || s[0] === '+') { neg = s[0] === '-'; i = 1; if (s.length === 1) nfe(s, radix); }
        let n = BigInt(0);
        const R = BigInt(radix);
        for (; i < s.length; i++) {
            const d = DIGITS.indexOf(s[i].toLowerCase());
            if (d < 0 || d >= radix) nfe(s, radix);
            n = n * R + BigInt(d);
            if (n > max + BigInt(1)) nfe(s, radix);
        }
        if (neg) n = -n;
        if (n > max || n < min) nfe(s, radix);
        return n;
    }
    function javaParseInt(s: string, radix: number, bits: number): number {
        return Number(javaParseBig(s, radix, bits));
    }
    function isBinary(s: any): number {
        return typeof s === 'string' && /^[01]+$/.test(s) ? 2 : -1;
    }
    function isOctal(s: any): number {
        return typeof s === 'string' && /^[0-7]+$/.test(s) ? 8 : -1;
    }
    function isDecimal(s: any): number {
        return typeof s === 'string' && /^[+-]?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(s) ? 10 : -1;
    }
    function isHexadecimal(s: any): number {
        return typeof s === 'string' && /^-?(0[xX])?[0-9a-fA-F]+$/.test(s) ? 16 : -1;
    }
    /** TbUtils.reverseHexStringByOrder. */
    function reverseHex(value: string): string {
        if (value.startsWith('-')) fail('IllegalArgumentException', 'The hexadecimal string must be without a negative sign.');
        const pref = value.startsWith('0x');
        const hex = pref ? value.slice(2) : value;
        if (hex.length % 2 > 0) fail('IllegalArgumentException', 'The hexadecimal string must be even-length.');
        let out = '';
        for (let i = hex.length - 2; i >= 0; i -= 2) out += hex.substr(i, 2);
        return pref ? '0x' + out : out;
    }
    /** TbUtils.prepareNumberString: null for a blank string. */
    function prepareNumberString(value: any, bigEndian: boolean): string | null {
        if (value === null || value === undefined) return null;
        const s = h.strArg(value, 'value');
        if (h.javaTrim(s) === '') return null;
        let v = h.javaTrim(s);
        v = h.replaceAll(h.replaceAll(h.replaceAll(v, '0x', ''), '0X', ''), ',', '.');
        return bigEndian ? v : reverseHex(v);
    }
    /** TbUtils.isValidStringAndRadix. */
    function radixOf(valueP: string, radix: number, value: string): number {
        let r: number;
        if (radix === 0) {
            r = isDecimal(valueP) > 0 ? 10 : isHexadecimal(valueP);
            if (r < 0) fail('NumberFormatException', 'Value: "' + clip(valueP) + '" is not numeric or hexDecimal format!');
        } else if (radix >= 25 && radix <= 36) return radix;
        else if (radix === 2) r = isBinary(valueP);
        else if (radix === 8) r = isOctal(valueP);
        else if (radix === 10) r = isDecimal(valueP);
        else if (radix === 16) r = isHexadecimal(valueP);
        else return fail('IllegalArgumentException', 'Invalid radix: [' + radix + ']');
        if (r > 0) {
            if (value.startsWith('0x')) r = 16;
            if (r === 16) {
                const v = value.startsWith('-') ? value.slice(1) : value;
                if (v.length % 2 > 0) fail('NumberFormatException', 'The hexadecimal value: "' + clip(value) + '" must be of even length, or if the decimal value must be a number!');
            }
            return r;
        }
        if (radix > 0) return fail('NumberFormatException', 'Failed radix [' + radix + '] for value: "' + clip(value) + '", must be [' + r + '] !');
        return fail('NumberFormatException', 'Invalid "' + clip(value) + '". It is not numeric or hexadecimal format!');
    }
    function binaryAsSigned(s: string, bits: number): number {
        while (s.length < bits) s = '0' + s;
        if (s[0] === '1') {
            let inv = '';
            for (let i = 0; i < s.length; i++) inv += s[i] === '0' ? '1' : '0';
            const pos = javaParseBig(inv, 2, bits) + BigInt(1);
            return Number(BigInt.asIntN(bits, -BigInt.asIntN(bits, pos)));
        }
        return javaParseInt(s, 2, bits);
    }
    function parseIntegral(value: any, radix: number, bigEndian: boolean, bits: number): number | null {
        const valueP = prepareNumberString(value, bigEndian);
        if (valueP === null) return null;
        const r = radixOf(valueP, radix, value);
        if (r >= 25 && r <= 36) {
            try {
                return javaParseInt(valueP, r, bits);
            } catch (e) {
                if (!/^[-+]?[0-9a-zA-Z]+$/.test(valueP)) throw e;
                let ok = true;
                for (const c of valueP.replace(/^[-+]/, '')) if (DIGITS.indexOf(c.toLowerCase()) >= r) ok = false;
                if (!ok) throw e;
                const neg = valueP[0] === '-';
                fail('NumberFormatException', 'Value "' + clip(valueP) + (neg ? '" is  less than the minimum ' : '"is greater than the maximum ') + (bits === 32 ? 'Integer' : 'Long') + ' value ' + (bits === 32 ? (neg ? INT_MIN : INT_MAX) : (neg ? LONG_MIN : LONG_MAX)) + ' !');
            }
        }
        if (r === 2) return binaryAsSigned(valueP, bits);
        if (r === 8 || r === 10 || r === 16) return javaParseInt(valueP, r, bits);
        return fail('IllegalArgumentException', 'Invalid radix: [' + radix + ']');
    }
    function radixArg(radix: any): number {
        return radix === undefined || radix === null ? 0 : h.intArg(radix, 'radix');
    }
    function parseIntTb(value: any, radix?: any): number | null {
        return parseIntegral(value, radixArg(radix), true, 32);
    }
    function parseLong(value: any, radix?: any): number | null {
        return parseIntegral(value, radixArg(radix), true, 64);
    }
    function notNull(v: any, what: string): any {
        if (v === null) fail('NullPointerException', what + ': the value is blank');
        return v;
    }
    function floatFromBits(bits: number): number {
        const dv = new DataView(new ArrayBuffer(4));
        dv.setInt32(0, bits | 0);
        return dv.getFloat32(0);
    }
    function doubleFromBits(bits: bigint): number {
        const dv = new DataView(new ArrayBuffer(8));
        dv.setBigUint64(0, BigInt.asUintN(64, bits));
        return dv.getFloat64(0);
    }
    /** Java's Float/Double.parseFloat grammar (decimal, NaN, Infinity, f/d suffix, hex floats); value as double. */
    function javaParseDecimal(s: string): number {
        const t = h.javaTrim(s);
        const m = /^([+-]?)(NaN|Infinity|(\d+(?:\.\d*)?|\.\d+)([eE][+-]?\d+)?|0[xX]([0-9A-Fa-f]*)(?:\.([0-9A-Fa-f]*))?[pP]([+-]?\d+))[fFdD]?$/.exec(t);
        if (!m || (m[2] === 'NaN' || m[2] === 'Infinity') && /[fFdD]$/.test(t)) return nfe(s);
        const sign = m[1] === '-' ? -1 : 1;
        if (m[2] === 'NaN') return NaN;
        if (m[2] === 'Infinity') return sign * Infinity;
        if (m[5] !== undefined) {
            const intPart = m[5];
            const frac = m[6] || '';
            if (intPart === '' && frac === '') return nfe(s);
            const mant = parseInt((intPart + frac) || '0', 16);
            return sign * mant * Math.pow(2, Number(m[7]) - 4 * frac.length);
        }
        return sign * Number(m[3] + (m[4] || ''));
    }
    function parseFloatFromString(value: string, valueP: string, radix: number): number {
        const r = radixOf(valueP, radix, value);
        if (r === 16) return h.shortestFloat(floatFromBits(Number(BigInt.asIntN(32, javaParseBig(valueP, 16, 64)))));
        return h.shortestFloat(Math.fround(javaParseDecimal(value)));
    }
    function parseFloatTb(value: any, radix?: any): number | null {
        const valueP = prepareNumberString(value, true);
        if (valueP === null) return null;
        return parseFloatFromString(value, valueP, radixArg(radix));
    }
    function parseHexIntLongToFloat(value: any, bigEndian?: any): number | null {
        const valueP = prepareNumberString(value, h.boolArg(bigEndian, true));
        if (valueP === null) return null;
        radixOf(valueP, 16, value);
        return h.shortestFloat(Number(BigInt.asIntN(32, javaParseBig(valueP, 16, 64))));
    }
    function parseDoubleAt(value: any, radix: number, bigEndian: boolean): number | null {
        const valueP = prepareNumberString(value, bigEndian);
        if (valueP === null) return null;
        const r = radixOf(valueP, radix, value);
        if (r === 10) return javaParseDecimal(valueP);
        return doubleFromBits(javaParseBig(valueP, 16, 65));
    }
    function parseDouble(value: any): number | null {
        const r = isDecimal(value) > 0 ? 10 : isHexadecimal(value);
        if (r < 0) fail('NumberFormatException', 'Value: "' + clip(value) + '" is not numeric or hexDecimal format!');
        return parseDoubleAt(value, r, true);
    }
    function parseHexToInt(hex: any, bigEndian?: any): number | null {
        return parseIntegral(hex, 16, h.boolArg(bigEndian, true), 32);
    }
    function parseHexToLong(hex: any, bigEndian?: any): number | null {
        return parseIntegral(hex, 16, h.boolArg(bigEndian, true), 64);
    }
    function parseHexToFloat(hex: any, bigEndian?: any): number | null {
        const valueP = prepareNumberString(hex, h.boolArg(bigEndian, true));
        if (valueP === null) return null;
        return parseFloatFromString(hex, valueP, 16);
    }
    function parseHexToDouble(hex: any, bigEndian?: any): number | null {
        return parseDoubleAt(hex, 16, h.boolArg(bigEndian, true));
    }

    // ---- bytes → numbers (java.nio.ByteBuffer) ----
    function checkWindow(len: number, offset: number, length: number, max: number): void {
        if (offset > len) fail('IllegalArgumentException', 'Offset: ' + offset + ' is out of bounds for array with length: ' + len + '!');
        if (offset + length > len) fail('IllegalArgumentException', 'Offset: ' + offset + ' and Length: ' + length + ' is out of bounds for array with length: ' + len + '!');
        if (length > max) fail('IllegalArgumentException', 'Length: ' + length + ' is too large. Maximum ' + max + ' bytes is allowed!');
    }
    /** Arguments of a bytes reader: (data[, offset[, length[, bigEndian]]]); the default length is TbUtils.validateLength. */
    function readArgs(data: any, offset: any, length: any, bigEndian: any, max: number, what: string): { b: number[]; off: number; len: number; be: boolean } {
        const b = h.numbersToBytes(data, what);
        const off = offset === undefined ? 0 : h.intArg(offset, what + ' offset');
        const len = length === undefined ? (b.length < off ? b.length : Math.min(b.length - off, max)) : h.intArg(length, what + ' length');
        return { b, off, len, be: h.boolArg(bigEndian, true) };
    }
    /** ByteBuffer.allocate(size), put(data, off, len) at (be ? size - len : 0), read back big-endian as unsigned bytes. */
    function putBuffer(a: { b: number[]; off: number; len: number; be: boolean }, size: number): number[] {
        const pos = a.be ? size - a.len : 0;
        if (pos < 0 || pos > size) fail('IllegalArgumentException', 'newPosition > limit: (' + pos + ' > ' + size + ')');
        if (a.off < 0 || a.len < 0 || a.off + a.len > a.b.length) fail('IndexOutOfBoundsException', 'Range [' + a.off + ', ' + a.off + ' + ' + a.len + ') out of bounds for length ' + a.b.length);
        if (a.len > size - pos) fail('BufferOverflowException', 'BufferOverflowException');
        const buf = new Array(size).fill(0);
        for (let i = 0; i < a.len; i++) buf[pos + i] = a.b[a.off + i] & 0xff;
        return a.be ? buf : buf.reverse();
    }
    function big(buf: number[]): bigint {
        let n = BigInt(0);
        for (let i = 0; i < buf.length; i++) n = (n << BigInt(8)) | BigInt(buf[i]);
        return n;
    }
    function parseBytesToInt(data: any, offset?: any, length?: any, bigEndian?: any): number {
        const a = readArgs(data, offset, length, bigEndian, 4, 'parseBytesToInt');
        checkWindow(a.b.length, a.off, a.len, 4);
        return Number(BigInt.asIntN(32, big(putBuffer(a, 4))));
    }
    function parseBytesToLong(data: any, offset?: any, length?: any, bigEndian?: any): number {
        const a = readArgs(data, offset, length, bigEndian, 8, 'parseBytesToLong');
        checkWindow(a.b.length, a.off, a.len, 8);
        return Number(BigInt.asIntN(64, big(putBuffer(a, 8))));
    }
    function nanCheck(v: number, b: number[]): number {
        if (v !== v) fail('NumberFormatException', 'byte[] 0x' + h.hexOf(b.map((x) => x & 0xff)) + ' is a Not-a-Number (NaN) value');
        return v;
    }
    function parseBytesToFloat(data: any, offset?: any, length?: any, bigEndian?: any): number {
        const a = readArgs(data, offset, length, bigEndian, 4, 'parseBytesToFloat');
        return h.shortestFloat(nanCheck(floatFromBits(Number(big(putBuffer(a, 4)))), a.b));
    }
    function parseBytesToDouble(data: any, offset?: any, length?: any, bigEndian?: any): number {
        const a = readArgs(data, offset, length, bigEndian, 8, 'parseBytesToDouble');
        return nanCheck(doubleFromBits(big(putBuffer(a, 8))), a.b);
    }
    /** The window as an unsigned big-endian number (bytes reversed when little-endian). */
    function unsignedWindow(a: { b: number[]; off: number; len: number; be: boolean }, max: number): bigint {
        checkWindow(a.b.length, a.off, a.len, max);
        if (a.off < 0) fail('ArrayIndexOutOfBoundsException', 'Index ' + a.off + ' out of bounds for length ' + a.b.length);
        if (a.len < 0) fail('IllegalArgumentException', a.off + ' > ' + (a.off + a.len));
        const w = a.b.slice(a.off, a.off + a.len).map((x) => x & 0xff);
        return big(a.be ? w : w.reverse());
    }
    function parseBytesIntToFloat(data: any, offset?: any, length?: any, bigEndian?: any): number {
        const a = readArgs(data, offset, length, bigEndian, 4, 'parseBytesIntToFloat');
        return h.shortestFloat(Number(unsignedWindow(a, 4)));
    }
    function parseBytesLongToDouble(data: any, offset?: any, length?: any, bigEndian?: any): number {
        const a = readArgs(data, offset, length, bigEndian, 8, 'parseBytesLongToDouble');
        return Number(unsignedWindow(a, 8));
    }

    // ---- numbers → text ----
    function longArg(v: any, what: string): bigint {
        if (typeof v === 'bigint') return BigInt.asIntN(64, v);
        if (typeof v !== 'number' || !isFinite(v) || v !== Math.floor(v)) fail('IllegalArgumentException', what + ': expected an integer, got ' + clip(v));
        return BigInt.asIntN(64, BigInt(v));
    }
    function removeLeadingZeroFF(hex: string, neg: boolean, max: number): string {
        let s = hex.replace(/^0+(?!$)/, '');
        if (s.length % 2 > 0) s = '0' + s;
        if (!neg) return s;
        s = s.replace(/^F+(?!$)/, '');
        if (s.length % 2 > 0) s = 'F' + s;
        if (s.length > max) return s.slice(s.length - max);
        if (s.length === max) return s;
        return 'FF' + s;
    }
    function numberHex(n: bigint, bigEndian: boolean, pref: boolean, len: number, max: number): string {
        const hex = BigInt.asUintN(64, n).toString(16).toUpperCase();
        const m = max < 0 ? hex.length : max;
        let s = removeLeadingZeroFF(hex, n < BigInt(0), m);
        if (!bigEndian) s = reverseHex(s);
        const l = len === -1 ? s.length : len;
        if (l > s.length || s.length - l > s.length) fail('StringIndexOutOfBoundsException', 'begin ' + (s.length - l) + ', end ' + s.length + ', length ' + s.length);
        const out = s.slice(s.length - l);
        return pref ? '0x' + out : out;
    }
    function intToHex(i: any, bigEndian?: any, pref?: any, len?: any): string {
        const n = longArg(i, 'intToHex');
        if (n > INT_MAX || n < INT_MIN) fail('IllegalArgumentException', 'intToHex: ' + n + ' is not an int');
        return numberHex(n, h.boolArg(bigEndian, true), h.boolArg(pref, false), len === undefined ? -1 : h.intArg(len, 'len'), 8);
    }
    function longToHex(l: any, bigEndian?: any, pref?: any, len?: any): string {
        return numberHex(longArg(l, 'longToHex'), h.boolArg(bigEndian, true), h.boolArg(pref, false), len === undefined ? -1 : h.intArg(len, 'len'), 16);
    }
    function intLongToRadixString(num: any, radix?: any, bigEndian?: any, pref?: any): string {
        const n = longArg(num, 'intLongToRadixString');
        const r = radix === undefined ? 10 : h.intArg(radix, 'radix');
        if (r >= 25 && r <= 36) return n.toString(r);
        if (r === 2) {
            const b = BigInt.asUintN(64, n).toString(2);
            const f = b.length < 8 ? 8 : b.length < 16 ? 16 : b.length < 32 ? 32 : b.length < 64 ? 64 : 0;
            return f === 0 ? b : '0'.repeat(f - b.length) + b;
        }
        if (r === 8) return BigInt.asUintN(64, n).toString(8);
        if (r === 10) return n.toString();
        if (r === 16) return numberHex(n, h.boolArg(bigEndian, true), h.boolArg(pref, false), -1, -1);
        return fail('IllegalArgumentException', 'Invalid radix: [' + r + ']');
    }
    function numArg(v: any, what: string): number {
        if (typeof v !== 'number') fail('IllegalArgumentException', what + ': expected a number, got ' + clip(v));
        return v;
    }
    function floatToHex(f: any, bigEndian?: any): string {
        const dv = new DataView(new ArrayBuffer(4));
        const v = Math.fround(numArg(f, 'floatToHex'));
        if (v !== v) dv.setUint32(0, 0x7fc00000); else dv.setFloat32(0, v);
        const s = '0x' + ('0000000' + dv.getUint32(0).toString(16).toUpperCase()).slice(-8);
        return h.boolArg(bigEndian, true) ? s : reverseHex(s);
    }
    function doubleToHex(d: any, bigEndian?: any): string {
        const dv = new DataView(new ArrayBuffer(8));
        const v = numArg(d, 'doubleToHex');
        if (v !== v) dv.setBigUint64(0, BigInt('0x7ff8000000000000')); else dv.setFloat64(0, v);
        const s = '0x' + ('000000000000000' + dv.getBigUint64(0).toString(16).toUpperCase()).slice(-16);
        return h.boolArg(bigEndian, true) ? s : reverseHex(s);
    }

    // ---- rounding (BigDecimal.valueOf(v).setScale(p, HALF_UP)) ----
    /** Decimal digits and exponent of Double.toString(v) (the shortest form): v = 0.d1d2… × 10^exp. */
    function decimalOf(v: number): { neg: boolean; digits: number[]; exp: number } {
        const neg = v < 0 || Object.is(v, -0);
        const s = Math.abs(v).toExponential();
        const e = s.indexOf('e');
        const mant = s.slice(0, e).replace('.', '');
        return { neg, digits: mant.split('').map(Number), exp: Number(s.slice(e + 1)) + 1 };
    }
    /** HALF_UP at `scale` digits after the point; the result as a decimal string. */
    function roundHalfUp(v: number, scale: number): string {
        if (!isFinite(v)) fail('NumberFormatException', 'Infinite or NaN');
        if (v === 0) return '0';
        const d = decimalOf(v);
        const keep = d.exp + scale; // digits kept
        let digits = d.digits.slice(0, Math.max(0, keep));
        let exp = d.exp;
        if (keep < d.digits.length) {
            const next = keep >= 0 ? d.digits[keep] : 0;
            if (next >= 5 && keep >= 0) {
                let k = digits.length - 1;
                while (k >= 0 && digits[k] === 9) { digits[k] = 0; k--; }
                if (k < 0) { digits = [1].concat(digits); exp++; } else digits[k]++;
            }
        }
        if (digits.length === 0 || digits.every((x) => x === 0)) return '0';
        return (d.neg ? '-' : '') + '0.' + digits.join('') + 'e' + exp;
    }
    function toFixed(value: any, precision: any): number {
        const v = numArg(value, 'toFixed');
        const p = h.intArg(precision, 'toFixed precision');
        const r = Number(roundHalfUp(v, p));
        return Object.is(r, -0) ? 0 : r;
    }
    function toInt(value: any): number {
        const v = numArg(value, 'toInt');
        const d = roundHalfUp(v, 0); // "0" or "[-]0.<digits>e<exp>", exp ≥ digits here
        let r = BigInt(0);
        if (d !== '0') {
            const m = /^(-?)0\.(\d+)e(\d+)$/.exec(d) as RegExpExecArray;
            r = BigInt(m[2] + '0'.repeat(Math.max(0, Number(m[3]) - m[2].length)));
            if (m[1]) r = -r;
        }
        return Number(BigInt.asIntN(32, r));
    }
    function isNaNTb(value: any): boolean {
        if (typeof value === 'string') value = javaParseDecimal(value);
        return Number.isNaN(numArg(value, 'isNaN'));
    }

    // ---- bit fields ----
    function parseByteToBinaryArray(byteValue: any, binLength?: any, bigEndian?: any): number[] {
        const b = h.signedByte(h.intArg(byteValue, 'parseByteToBinaryArray'));
        const len = binLength === undefined ? 8 : h.intArg(binLength, 'binLength');
        if (len < 0) fail('NegativeArraySizeException', String(len));
        const be = h.boolArg(bigEndian, true);
        const out = new Array(len).fill(0);
        for (let i = 0; i < len; i++) out[be ? len - 1 - i : i] = (b >> (i & 31)) & 1;
        return h.javaArray(out);
    }
    function longToBits(v: bigint, binLength: number): number[] {
        const len = Math.min(binLength, 64);
        if (len < 0) fail('NegativeArraySizeException', String(len));
        const out = new Array(len).fill(0);
        for (let i = 0; i < len; i++) out[len - 1 - i] = Number((v >> BigInt(i)) & BigInt(1));
        return h.javaArray(out);
    }
    function parseLongToBinaryArray(longValue: any, binLength?: any): number[] {
        return longToBits(longArg(longValue, 'parseLongToBinaryArray'), binLength === undefined ? 64 : h.intArg(binLength, 'binLength'));
    }
    function parseBytesToBinaryArray(data: any, binLength?: any): number[] {
        const b = h.numbersToBytes(data, 'parseBytesToBinaryArray');
        const a = { b, off: 0, len: Math.min(b.length, 8), be: true };
        const v = BigInt.asIntN(64, big(putBuffer(a, 8)));
        return longToBits(v, binLength === undefined ? b.length * 8 : h.intArg(binLength, 'binLength'));
    }
    function parseBinaryArrayToInt(data: any, offset?: any, length?: any): number {
        const b = h.numbersToBytes(data, 'parseBinaryArrayToInt');
        const off = offset === undefined ? 0 : h.intArg(offset, 'offset');
        const lenArg = length === undefined ? b.length : h.intArg(length, 'length');
        let result = 0;
        const len = Math.min(lenArg + off, b.length);
        for (let i = off; i < len; i++) {
            if (i < 0) fail('ArrayIndexOutOfBoundsException', 'Index ' + i + ' out of bounds for length ' + b.length);
            result = (result << 1) | (b[i] & 1);
        }
        if (b.length === 8 && off === 0 && b[0] === 1) result = (result - (1 << ((len - off) & 31))) | 0;
        return result;
    }

    Object.assign(h, {
        javaParseInt, isBinary, isOctal, isDecimal, isHexadecimal, prepareNumberString, parseIntTb, parseLong,
        parseFloatTb, parseHexIntLongToFloat, parseDouble, parseHexToInt, parseHexToLong, parseHexToFloat, parseHexToDouble,
        parseBytesToInt, parseBytesToLong, parseBytesToFloat, parseBytesToDouble, parseBytesIntToFloat, parseBytesLongToDouble,
        intToHex, longToHex, intLongToRadixString, floatToHex, doubleToHex, toFixed, toInt, isNaNTb,
        parseByteToBinaryArray, parseLongToBinaryArray, parseBytesToBinaryArray, parseBinaryArrayToInt,
    });
    void tbel;
}
