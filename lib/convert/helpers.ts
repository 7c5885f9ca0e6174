/**
 * The helper functions a ThingsBoard script expects (the JS templates' decodeToString/decodeToJson/
 * toFlatMap, btoa/atob, and the common TBEL built-ins), written as plain JavaScript with ThingsBoard's
 * semantics (TbUtils): big-endian by default, Java's signed bytes in TBEL mode, HALF_UP rounding.
 *
 * `installHelpers` is self-contained on purpose: the sandbox evaluates its source text
 * (`installHelpers.toString()`) inside the script's own realm, so the helpers never hand a host object
 * to a script. The unit tests call the very same function on the host.
 *
 * Modes: `tbel = false` (JavaScript converters): payloads are arrays of UTF-16 char codes (or bytes
 * 0-255), `decodeToString` is `String.fromCharCode`, byte arrays returned are unsigned 0-255, and the
 * language's own `parseInt`/`parseFloat`/`isNaN` stay untouched. `tbel = true`: payloads are Java
 * bytes (-128..127), strings are UTF-8, byte arrays returned are signed, `parseInt`/`parseFloat` follow
 * TbUtils (radix auto-detection, hex IEEE-754 floats).
 */
/* eslint-disable @typescript-eslint/no-explicit-any */
export function installHelpers(g: any, tbel: boolean): void {
    'use strict';
    const jsParseInt = g.parseInt;
    const jsParseFloat = g.parseFloat;
    const HEX = '0123456789ABCDEF';
    const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

    function fail(msg: string): never {
        throw new Error(msg);
    }
    function signedByte(b: number): number {
        b = b & 0xff;
        return b > 127 ? b - 256 : b;
    }
    function outByte(b: number): number {
        return tbel ? signedByte(b) : b & 0xff;
    }
    function toByteValue(v: any): number {
        if (typeof v === 'string') v = parseIntTb(v, 0);
        if (typeof v !== 'number' || v !== Math.floor(v)) fail("The value '" + v + "' could not be correctly converted to a byte. Must be a HexDecimal/String/Integer/Byte format !");
        if (v < -128 || v > 255) fail("The value '" + v + "' could not be correctly converted to a byte. Integer to byte conversion requires the use of only 8 bits (with a range of min/max = -128/255)!");
        return v & 0xff;
    }
    function listOf(data: any, what: string): any[] {
        if (data == null || typeof data.length !== 'number') fail(what + ': expected an array of bytes');
        return data;
    }
    /** Bytes (any numeric form) → unsigned 0-255 array. */
    function unsignedBytes(data: any): number[] {
        const list = listOf(data, 'bytes');
        const out = new Array(list.length);
        for (let i = 0; i < list.length; i++) out[i] = toByteValue(list[i]);
        return out;
    }

    // ---- UTF-8 ----
    function utf8Encode(s: string): number[] {
        const out: number[] = [];
        for (let i = 0; i < s.length; i++) {
            let c = s.charCodeAt(i);
            if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
                const d = s.charCodeAt(i + 1);
                if (d >= 0xdc00 && d <= 0xdfff) {
                    c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
                    i++;
                } else c = 0xfffd;
            } else if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
            if (c < 0x80) out.push(c);
            else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
            else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
            else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
        }
        return out;
    }
    function fromCodes(codes: number[]): string {
        let s = '';
        for (let i = 0; i < codes.length; i += 4096) s += String.fromCharCode.apply(String, codes.slice(i, i + 4096));
        return s;
    }
    /** UTF-8 bytes (0-255) → string; malformed sequences become U+FFFD, as Java's new String(bytes). */
    function utf8Decode(b: number[]): string {
        const cps: number[] = [];
        let i = 0;
        while (i < b.length) {
            const c = b[i];
            let need = 0;
            let cp = 0;
            let min = 0;
            if (c < 0x80) { cps.push(c); i++; continue; }
            else if (c >= 0xc2 && c <= 0xdf) { need = 1; cp = c & 31; min = 0x80; }
            else if (c >= 0xe0 && c <= 0xef) { need = 2; cp = c & 15; min = 0x800; }
            else if (c >= 0xf0 && c <= 0xf4) { need = 3; cp = c & 7; min = 0x10000; }
            else { cps.push(0xfffd); i++; continue; }
            let j = 1;
            for (; j <= need; j++) {
                const d = b[i + j];
                if (d === undefined || (d & 0xc0) !== 0x80) break;
                cp = (cp << 6) | (d & 63);
            }
            if (j <= need || cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
                cps.push(0xfffd);
                i += Math.max(1, j);
                continue;
            }
            if (cp >= 0x10000) {
                cp -= 0x10000;
                cps.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 1023));
            } else cps.push(cp);
            i += need + 1;
        }
        return fromCodes(cps);
    }
    function latin1Decode(b: number[]): string {
        return fromCodes(b);
    }
    function charsetOf(name: any): string {
        const n = String(name == null ? 'UTF-8' : name).toUpperCase().replace(/[_\s]/g, '-');
        if (n === 'UTF-8' || n === 'UTF8') return 'utf8';
        if (n === 'ISO-8859-1' || n === 'LATIN1' || n === 'ISO8859-1' || n === 'US-ASCII' || n === 'ASCII') return 'latin1';
        return fail('Unsupported charset: ' + name);
    }

    // ---- strings and bytes ----
    function bytesToString(data: any, charsetName?: any): string {
        if (typeof data === 'string') return data;
        const list = listOf(data, 'bytesToString');
        if (!tbel && charsetName === undefined) {
            // A JavaScript converter's payload is UTF-16 char codes when the record was text.
            for (let i = 0; i < list.length; i++) if (list[i] > 255) return fromCodes(list);
        }
        const bytes = unsignedBytes(list);
        return charsetOf(charsetName) === 'utf8' ? utf8Decode(bytes) : latin1Decode(bytes);
    }
    function decodeToString(payload: any): string {
        if (typeof payload === 'string') return payload;
        if (tbel) return bytesToString(payload);
        return fromCodes(listOf(payload, 'decodeToString'));
    }
    function decodeToJson(payload: any): any {
        return JSON.parse(decodeToString(payload));
    }
    function stringToBytes(str: any, charsetName?: any): number[] {
        if (typeof str !== 'string') fail("Invalid type parameter [" + typeof str + "]. Expected 'String'");
        let b: number[];
        if (charsetOf(charsetName) === 'utf8') b = utf8Encode(str);
        else {
            b = new Array(str.length);
            for (let i = 0; i < str.length; i++) { const c = str.charCodeAt(i); b[i] = c > 255 ? 63 : c; }
        }
        for (let i = 0; i < b.length; i++) b[i] = outByte(b[i]);
        return b;
    }

    // ---- base64 ----
    function base64Encode(bytes: number[]): string {
        let s = '';
        let i = 0;
        for (; i + 2 < bytes.length; i += 3) {
            const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
            s += B64[n >> 18] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63] + B64[n & 63];
        }
        if (i < bytes.length) {
            const n = (bytes[i] << 16) | ((i + 1 < bytes.length ? bytes[i + 1] : 0) << 8);
            s += B64[n >> 18] + B64[(n >> 12) & 63] + (i + 1 < bytes.length ? B64[(n >> 6) & 63] : '=') + '=';
        }
        return s;
    }
    function base64Decode(input: any): number[] {
        if (typeof input !== 'string') fail('base64: expected a string');
        const s = input.replace(/[\s]/g, '').replace(/-/g, '+').replace(/_/g, '/');
        if (/[^A-Za-z0-9+/=]/.test(s) || /=[^=]/.test(s) || s.replace(/=+$/, '').length % 4 === 1) fail('Illegal base64 character or length in "' + (input.length > 40 ? input.slice(0, 40) + '…' : input) + '"');
        const clean = s.replace(/=+$/, '');
        const out: number[] = [];
        let buf = 0;
        let bits = 0;
        for (let i = 0; i < clean.length; i++) {
            buf = (buf << 6) | B64.indexOf(clean[i]);
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                out.push((buf >> bits) & 0xff);
            }
        }
        return out;
    }
    function btoa(input: any): string {
        const s = String(input);
        if (tbel) return base64Encode(utf8Encode(s));
        const b = new Array(s.length);
        for (let i = 0; i < s.length; i++) {
            const c = s.charCodeAt(i);
            if (c > 255) fail('btoa: the string contains characters outside of the Latin1 range');
            b[i] = c;
        }
        return base64Encode(b);
    }
    function atob(encoded: any): string {
        const b = base64Decode(String(encoded));
        return tbel ? utf8Decode(b) : latin1Decode(b);
    }
    function base64ToBytes(input: any): number[] {
        const b = base64Decode(input);
        for (let i = 0; i < b.length; i++) b[i] = outByte(b[i]);
        return b;
    }
    function bytesToBase64(bytes: any): string {
        return base64Encode(unsignedBytes(bytes));
    }

    // ---- hex ----
    function stripHex(value: any, bigEndian: boolean): string | null {
        if (value == null) return null;
        let v = String(value).trim();
        if (v === '') return null;
        v = v.replace(/0x/g, '').replace(/0X/g, '').replace(/,/g, '.');
        return bigEndian ? v : reverseByPairs(v);
    }
    function reverseByPairs(hex: string): string {
        if (hex.length % 2) hex = '0' + hex;
        let out = '';
        for (let i = hex.length - 2; i >= 0; i -= 2) out += hex.substr(i, 2);
        return out;
    }
    function bytesToHex(bytes: any): string {
        const b = unsignedBytes(bytes);
        let s = '';
        for (let i = 0; i < b.length; i++) s += HEX[b[i] >> 4] + HEX[b[i] & 15];
        return s;
    }
    function hexToBytes(value: any): number[] {
        const hex = stripHex(value, true);
        if (hex == null) fail('Hex string must be not empty!');
        if (hex.length % 2) fail('Hex string must be even-length.');
        if (!/^[0-9A-Fa-f]+$/.test(hex)) fail('Value: "' + value + '" is not numeric or hexDecimal format!');
        const out = new Array(hex.length / 2);
        for (let i = 0; i < hex.length; i += 2) out[i / 2] = outByte(jsParseInt(hex.substr(i, 2), 16));
        return out;
    }
    function base64ToHex(b64: any): string {
        return bytesToHex(base64Decode(b64));
    }
    function hexToBase64(hex: any): string {
        return base64Encode(unsignedBytes(hexToBytes(hex)));
    }

    // ---- numbers ----
    function detectRadix(v: string, original: any): number {
        if (/^[-+]?\d+$/.test(v)) return 10;
        if (/^[-+]?[0-9A-Fa-f]+$/.test(v)) return 16;
        return fail('Value: "' + original + '" is not numeric or hexDecimal format!');
    }
    function checkDigits(v: string, radix: number, original: any): void {
        const digits = '0123456789abcdefghijklmnopqrstuvwxyz'.slice(0, radix);
        const body = v.replace(/^[-+]/, '').toLowerCase();
        if (body === '') fail('Value: "' + original + '" is not a number in radix ' + radix);
        for (let i = 0; i < body.length; i++) if (digits.indexOf(body[i]) < 0) fail('Value: "' + original + '" is not a number in radix ' + radix);
    }
    /** Integer parse with Java range rules; `bits` 32 or 64. Exactly 8 (16) hex digits wrap to two's complement. */
    function parseIntegerTb(value: any, radix: number, bigEndian: boolean, bits: number): number | null {
        const v = stripHex(value, bigEndian);
        if (v == null) return null;
        let r = radix;
        if (!r) r = /0x/i.test(String(value)) ? 16 : detectRadix(v, value);
        if (r < 2 || r > 36) fail('Invalid radix: [' + radix + ']');
        checkDigits(v, r, value);
        const neg = v[0] === '-';
        const body = v.replace(/^[-+]/, '');
        let n = BigInt(0);
        const R = BigInt(r);
        for (let i = 0; i < body.length; i++) n = n * R + BigInt(jsParseInt(body[i], r));
        const width = BigInt(bits);
        const max = (BigInt(1) << (width - BigInt(1))) - BigInt(1);
        if (neg) n = -n;
        if (n > max) {
            const full = BigInt(1) << width;
            if (r === 16 && !neg && body.length === bits / 4 && n < full) n = n - full; // "FFFFFFFF" → -1
            else fail('Value "' + value + '" is greater than the maximum ' + (bits === 32 ? 'Integer' : 'Long') + ' value ' + max + ' !');
        }
        if (n < -max - BigInt(1)) fail('Value "' + value + '" is less than the minimum ' + (bits === 32 ? 'Integer' : 'Long') + ' value ' + (-max - BigInt(1)) + ' !');
        return Number(n);
    }
    function parseIntTb(value: any, radix?: any): any {
        return parseIntegerTb(value, radix ? Number(radix) : 0, true, 32);
    }
    function parseLong(value: any, radix?: any): any {
        return parseIntegerTb(value, radix ? Number(radix) : 0, true, 64);
    }
    function floatFromBits(bits: number): number {
        const dv = new DataView(new ArrayBuffer(4));
        dv.setUint32(0, bits >>> 0);
        return dv.getFloat32(0);
    }
    function doubleFromHex(hex: string): number {
        const h = ('0000000000000000' + hex).slice(-16);
        const dv = new DataView(new ArrayBuffer(8));
        dv.setUint32(0, jsParseInt(h.slice(0, 8), 16) >>> 0);
        dv.setUint32(4, jsParseInt(h.slice(8), 16) >>> 0);
        return dv.getFloat64(0);
    }
    function parseFloatTb(value: any, radix?: any): any {
        const v = stripHex(value, true);
        if (v == null) return null;
        const r = radix ? Number(radix) : (String(value).indexOf('0x') >= 0 || String(value).indexOf('0X') >= 0 || /[A-Fa-f]/.test(v) && /^[0-9A-Fa-f]+$/.test(v) ? 16 : 10);
        if (r === 16) {
            checkDigits(v, 16, value);
            return floatFromBits(jsParseInt(v, 16));
        }
        const n = Number(v);
        if (v === '' || isNaN(n) && !/^[-+]?NaN$/.test(v)) fail('Value: "' + value + '" is not a number');
        return Math.fround(n);
    }
    function parseDouble(value: any, radix?: any): any {
        const v = stripHex(value, true);
        if (v == null) return null;
        const r = radix ? Number(radix) : /0x/i.test(String(value)) ? 16 : /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(v) ? 10 : /^[0-9A-Fa-f]+$/.test(v) ? 16 : 0;
        if (r === 10) return Number(v);
        if (r === 16) { checkDigits(v, 16, value); return doubleFromHex(v); }
        return fail('Value: "' + value + '" is not numeric or hexDecimal format!');
    }
    function parseHexToInt(hex: any, bigEndian?: any): any {
        return parseIntegerTb(hex, 16, bigEndian !== false, 32);
    }
    function parseHexToLong(hex: any, bigEndian?: any): any {
        return parseIntegerTb(hex, 16, bigEndian !== false, 64);
    }
    function parseHexToFloat(hex: any, bigEndian?: any): any {
        const v = stripHex(hex, bigEndian !== false);
        if (v == null) return null;
        checkDigits(v, 16, hex);
        return floatFromBits(jsParseInt(v, 16));
    }
    function parseHexToDouble(hex: any, bigEndian?: any): any {
        const v = stripHex(hex, bigEndian !== false);
        if (v == null) return null;
        checkDigits(v, 16, hex);
        return doubleFromHex(v);
    }

    // ---- bytes → numbers (java.nio.ByteBuffer semantics) ----
    function window(data: any, offset: any, length: any, max: number, name: string): number[] {
        const b = unsignedBytes(data);
        const off = offset === undefined ? 0 : Number(offset);
        const len = length === undefined ? Math.min(max, b.length - off) : Number(length);
        if (len > max) fail(name + ': length must be ≤ ' + max + ' (got ' + len + ')');
        if (off < 0 || len < 0 || off + len > b.length) fail(name + ': offset ' + off + ' + length ' + len + ' is out of the array of ' + b.length + ' bytes');
        return b.slice(off, off + len);
    }
    /** Places `w` into a zero-filled buffer of `size` bytes the way ByteBuffer.put does, read big-endian. */
    function place(w: number[], size: number, bigEndian: boolean): number[] {
        const buf = new Array(size).fill(0);
        if (bigEndian) for (let i = 0; i < w.length; i++) buf[size - w.length + i] = w[i];
        else for (let i = 0; i < w.length; i++) buf[size - 1 - i] = w[i]; // little-endian read → reverse into BE order
        return buf;
    }
    function parseBytesToInt(data: any, offset?: any, length?: any, bigEndian?: any): number {
        const buf = place(window(data, offset, length, 4, 'parseBytesToInt'), 4, bigEndian !== false);
        return ((buf[0] << 24) | (buf[1] << 16) | (buf[2] << 8) | buf[3]) | 0;
    }
    function parseBytesToLong(data: any, offset?: any, length?: any, bigEndian?: any): number {
        const buf = place(window(data, offset, length, 8, 'parseBytesToLong'), 8, bigEndian !== false);
        let n = BigInt(0);
        for (let i = 0; i < 8; i++) n = (n << BigInt(8)) | BigInt(buf[i]);
        return Number(BigInt.asIntN(64, n));
    }
    function parseBytesToFloat(data: any, offset?: any, length?: any, bigEndian?: any): number {
        const buf = place(window(data, offset, length, 4, 'parseBytesToFloat'), 4, bigEndian !== false);
        const f = floatFromBits(((buf[0] << 24) | (buf[1] << 16) | (buf[2] << 8) | buf[3]) >>> 0);
        if (f !== f) fail('byte[] 0x' + bytesToHex(buf) + ' is a Not-a-Number (NaN) value');
        return f;
    }
    function parseBytesToDouble(data: any, offset?: any, length?: any, bigEndian?: any): number {
        const buf = place(window(data, offset, length, 8, 'parseBytesToDouble'), 8, bigEndian !== false);
        const d = doubleFromHex(bytesToHex(buf));
        if (d !== d) fail('byte[] 0x' + bytesToHex(buf) + ' is a Not-a-Number (NaN) value');
        return d;
    }

    // ---- formatting ----
    function intToHex(i: any, bigEndian?: any, pref?: any, len?: any): string {
        const n = BigInt.asIntN(64, BigInt(Math.trunc(Number(i))));
        let hex = (n < BigInt(0) ? BigInt.asUintN(64, n) : n).toString(16).toUpperCase();
        hex = hex.replace(/^0+(?!$)/, '');
        if (hex.length % 2) hex = '0' + hex;
        if (n < BigInt(0)) {
            hex = hex.replace(/^F+(?!$)/, '');
            if (hex.length % 2) hex = 'F' + hex;
            if (hex.length > 8) hex = hex.slice(hex.length - 8);
            else if (hex.length < 8) hex = 'FF' + hex;
        }
        if (bigEndian === false) hex = reverseByPairs(hex);
        const l = len === undefined || len === -1 ? hex.length : Number(len);
        const out = hex.slice(Math.max(0, hex.length - l));
        return pref ? '0x' + out : out;
    }
    /** BigDecimal.valueOf(value).setScale(precision, HALF_UP): rounds the shortest decimal form. */
    function toFixed(value: any, precision: any): number {
        const v = Number(value);
        const p = Math.max(0, Math.floor(Number(precision) || 0));
        if (!isFinite(v)) return v;
        const s = String(Math.abs(v));
        if (/e/i.test(s)) return Number((Math.round(v * Math.pow(10, p)) / Math.pow(10, p)).toFixed(p));
        const parts = s.split('.');
        const intPart = parts[0];
        const frac = parts[1] || '';
        if (frac.length <= p) return v;
        let digits = (intPart + frac.slice(0, p)).split('').map(Number);
        if (Number(frac[p]) >= 5) {
            let k = digits.length - 1;
            while (k >= 0) {
                if (digits[k] === 9) { digits[k] = 0; k--; } else { digits[k]++; break; }
            }
            if (k < 0) digits = [1].concat(digits);
        }
        const str = digits.join('');
        const ip = str.slice(0, str.length - p) || '0';
        const r = Number(p ? ip + '.' + str.slice(str.length - p) : ip);
        return v < 0 ? -r : r;
    }
    function padStart(str: any, targetLength: any, padString: any): string {
        return String(str).padStart(Number(targetLength), padString === undefined ? ' ' : String(padString));
    }
    function padEnd(str: any, targetLength: any, padString: any): string {
        return String(str).padEnd(Number(targetLength), padString === undefined ? ' ' : String(padString));
    }
    function raiseError(message: any, value?: any): never {
        throw new Error(value == null ? String(message) : message + ' for value ' + value);
    }
    /**
     * toFlatMap(json[, excludeList][, pathInKey = true]): nested keys joined with "."; arrays by index.
     * With pathInKey = false only the last key is kept ("parent.index" for array elements).
     */
    function toFlatMap(json: any, a?: any, b?: any): any {
        let exclude: any[] = [];
        let pathInKey = true;
        if (typeof a === 'boolean') pathInKey = a;
        else if (a && typeof a.length === 'number') { exclude = a; if (typeof b === 'boolean') pathInKey = b; }
        const out: any = {};
        function put(path: string, v: any) {
            if (pathInKey) { out[path] = v; return; }
            let key = path.slice(path.lastIndexOf('.') + 1);
            if (/^\d+$/.test(key)) {
                let pos = path.length;
                for (let i = 0; i < 2; i++) pos = path.lastIndexOf('.', pos - 1);
                key = path.slice(pos + 1);
            }
            out[key] = v;
        }
        function walk(v: any, path: string) {
            if (Array.isArray(v)) {
                for (let i = 0; i < v.length; i++) walk(v[i], path + '.' + i);
            } else if (v !== null && typeof v === 'object') {
                for (const k of Object.keys(v)) {
                    if (exclude.indexOf(k) >= 0) continue;
                    walk(v[k], path ? path + '.' + k : k);
                }
            } else put(path, v);
        }
        if (json === null || typeof json !== 'object') fail('toFlatMap: expected an object');
        walk(json, '');
        return out;
    }

    const defs: any = {
        decodeToString, decodeToJson, bytesToString, stringToBytes, btoa, atob,
        base64ToBytes, bytesToBase64, base64ToHex, hexToBase64, bytesToHex, hexToBytes,
        parseLong, parseDouble, parseHexToInt, parseHexToLong, parseHexToFloat, parseHexToDouble,
        parseLittleEndianHexToInt: (h: any) => parseHexToInt(h, false),
        parseBigEndianHexToInt: (h: any) => parseHexToInt(h, true),
        parseLittleEndianHexToLong: (h: any) => parseHexToLong(h, false),
        parseBigEndianHexToLong: (h: any) => parseHexToLong(h, true),
        parseLittleEndianHexToFloat: (h: any) => parseHexToFloat(h, false),
        parseBigEndianHexToFloat: (h: any) => parseHexToFloat(h, true),
        parseLittleEndianHexToDouble: (h: any) => parseHexToDouble(h, false),
        parseBigEndianHexToDouble: (h: any) => parseHexToDouble(h, true),
        parseBytesToInt, parseBytesToLong, parseBytesToFloat, parseBytesToDouble,
        intToHex, toFixed, padStart, padEnd, raiseError, toFlatMap,
        isNaN: g.isNaN,
        parseInt: tbel ? parseIntTb : jsParseInt,
        parseFloat: tbel ? parseFloatTb : jsParseFloat,
        tbParseInt: parseIntTb,
        tbParseFloat: parseFloatTb,
    };
    for (const k of Object.keys(defs)) {
        Object.defineProperty(g, k, { value: defs[k], writable: true, configurable: true, enumerable: false });
    }
}

/** Names `installHelpers` defines (kept in step with it by a unit test). */
export const HELPER_NAMES = [
    'decodeToString', 'decodeToJson', 'bytesToString', 'stringToBytes', 'btoa', 'atob',
    'base64ToBytes', 'bytesToBase64', 'base64ToHex', 'hexToBase64', 'bytesToHex', 'hexToBytes',
    'parseLong', 'parseDouble', 'parseHexToInt', 'parseHexToLong', 'parseHexToFloat', 'parseHexToDouble',
    'parseLittleEndianHexToInt', 'parseBigEndianHexToInt', 'parseLittleEndianHexToLong', 'parseBigEndianHexToLong',
    'parseLittleEndianHexToFloat', 'parseBigEndianHexToFloat', 'parseLittleEndianHexToDouble', 'parseBigEndianHexToDouble',
    'parseBytesToInt', 'parseBytesToLong', 'parseBytesToFloat', 'parseBytesToDouble',
    'intToHex', 'toFixed', 'padStart', 'padEnd', 'raiseError', 'toFlatMap',
    'isNaN', 'parseInt', 'parseFloat', 'tbParseInt', 'tbParseFloat',
];
