/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * Strings and bytes as TbUtils does them: charsets (java.lang.String semantics: malformed input →
 * U+FFFD, unmappable → '?'), base64 (java.util.Base64 basic decoder), hex, ThingsBoard's
 * encodeURI/decodeURI, and a JSON reader that types numbers as Jackson does. Self-contained (see
 * ./index.ts); needs ./base.ts installed first.
 */
export function installText(h: any, tbel: boolean): void {
    'use strict';
    const fail: (javaName: string, msg: string) => never = h.fail;
    const parseInt = h.jsParseInt;
    const jsonParse = JSON.parse;
    const clip = h.clip;
    const HEX = '0123456789ABCDEF';
    const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const B64INV: number[] = new Array(256).fill(-1);
    for (let i = 0; i < 64; i++) B64INV[B64.charCodeAt(i)] = i;
    B64INV[61] = -2; // '='
    // windows-1252 0x80-0x9F (0 = undefined in the code page: decoded as U+FFFD, as Java does)
    const CP1252 = [0x20ac, 0, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160, 0x2039, 0x152, 0, 0x17d, 0,
        0, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0, 0x17e, 0x178];

    function fromCodes(codes: number[]): string {
        let s = '';
        for (let i = 0; i < codes.length; i += 4096) s += String.fromCharCode.apply(String, codes.slice(i, i + 4096));
        return s;
    }
    /** The code points of a string; a lone surrogate is -1 (unmappable). */
    function codePoints(s: string): number[] {
        const out: number[] = [];
        for (let i = 0; i < s.length; i++) {
            const c = s.charCodeAt(i);
            if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
                const d = s.charCodeAt(i + 1);
                if (d >= 0xdc00 && d <= 0xdfff) { out.push(0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00)); i++; continue; }
            }
            out.push(c >= 0xd800 && c <= 0xdfff ? -1 : c);
        }
        return out;
    }
    function utf8Encode(s: string): number[] {
        const out: number[] = [];
        const cps = codePoints(s);
        for (let i = 0; i < cps.length; i++) {
            const c = cps[i];
            if (c < 0) out.push(63);
            else if (c < 0x80) out.push(c);
            else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
            else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
            else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
        }
        return out;
    }
    /** UTF-8 bytes (0-255) → string; each maximal malformed subpart becomes one U+FFFD (Java's decoder). */
    function utf8Decode(b: number[]): string {
        const cps: number[] = [];
        let i = 0;
        while (i < b.length) {
            const c = b[i];
            if (c < 0x80) { cps.push(c); i++; continue; }
            let need = 0;
            let cp = 0;
            let lo = 0x80;
            let hi = 0xbf;
            if (c >= 0xc2 && c <= 0xdf) { need = 1; cp = c & 31; }
            else if (c >= 0xe0 && c <= 0xef) { need = 2; cp = c & 15; if (c === 0xe0) lo = 0xa0; if (c === 0xed) hi = 0x9f; }
            else if (c >= 0xf0 && c <= 0xf4) { need = 3; cp = c & 7; if (c === 0xf0) lo = 0x90; if (c === 0xf4) hi = 0x8f; }
            else { cps.push(0xfffd); i++; continue; }
            let j = 1;
            for (; j <= need; j++) {
                const d = b[i + j];
                if (d === undefined || d < (j === 1 ? lo : 0x80) || d > (j === 1 ? hi : 0xbf)) break;
                cp = (cp << 6) | (d & 63);
            }
            if (j <= need) { cps.push(0xfffd); i += j; continue; }
            if (cp >= 0x10000) { cp -= 0x10000; cps.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 1023)); } else cps.push(cp);
            i += need + 1;
        }
        return fromCodes(cps);
    }
    function utf16Decode(b: number[], mode: string): string {
        let le = mode === 'le';
        let i = 0;
        if (mode === 'bom') {
            if (b.length >= 2 && b[0] === 0xfe && b[1] === 0xff) i = 2;
            else if (b.length >= 2 && b[0] === 0xff && b[1] === 0xfe) { i = 2; le = true; }
        }
        const units: number[] = [];
        for (; i + 1 < b.length; i += 2) units.push(le ? b[i] | (b[i + 1] << 8) : (b[i] << 8) | b[i + 1]);
        const out: number[] = [];
        for (let k = 0; k < units.length; k++) {
            const u = units[k];
            if (u >= 0xd800 && u <= 0xdbff && k + 1 < units.length && units[k + 1] >= 0xdc00 && units[k + 1] <= 0xdfff) { out.push(u, units[k + 1]); k++; }
            else if (u >= 0xd800 && u <= 0xdfff) out.push(0xfffd);
            else out.push(u);
        }
        if (i < b.length) out.push(0xfffd);
        return fromCodes(out);
    }
    function utf16Encode(s: string, mode: string): number[] {
        const out: number[] = mode === 'bom' && s.length > 0 ? [0xfe, 0xff] : [];
        const cps = codePoints(s);
        for (let i = 0; i < cps.length; i++) {
            let c = cps[i];
            const units = c < 0 ? [0xfffd] : c >= 0x10000 ? [0xd800 + ((c - 0x10000) >> 10), 0xdc00 + ((c - 0x10000) & 1023)] : [c];
            for (let k = 0; k < units.length; k++) {
                c = units[k];
                if (mode === 'le') out.push(c & 0xff, c >> 8); else out.push(c >> 8, c & 0xff);
            }
        }
        return out;
    }
    /** Java charset names and aliases (case-insensitive) → our codec; unknown → UnsupportedEncodingException. */
    function charsetOf(name: any): string {
        if (name == null) fail('NullPointerException', 'charsetName is null');
        const n = String(name).toUpperCase();
        switch (n) {
            case 'UTF-8': case 'UTF8': case 'UNICODE-1-1-UTF-8': return 'utf8';
            case 'US-ASCII': case 'ASCII': case 'ISO646-US': case 'US': case 'ASCII7': case 'DEFAULT': case '646': case 'CP367': case 'ISO_646.IRV:1991': case 'IBM367': case 'ISO-IR-6': case 'CSASCII': case 'ANSI_X3.4-1968': case 'ANSI_X3.4-1986': case 'ISO_646.IRV:1983': return 'ascii';
            case 'ISO-8859-1': case 'ISO8859_1': case 'ISO8859-1': case 'ISO_8859-1': case 'ISO_8859_1': case 'LATIN1': case 'L1': case 'IBM819': case 'CP819': case '819': case 'CSISOLATIN1': case 'ISO-IR-100': case 'ISO_8859-1:1987': case 'ISO8859_1': case '8859_1': case 'ISO_8859_1': return 'latin1';
            case 'UTF-16': case 'UTF_16': case 'UTF16': case 'UNICODE': return 'utf16';
            case 'UTF-16BE': case 'UTF_16BE': case 'ISO-10646-UCS-2': case 'X-UTF-16BE': case 'UNICODEBIGUNMARKED': return 'utf16be';
            case 'UTF-16LE': case 'UTF_16LE': case 'X-UTF-16LE': case 'UNICODELITTLEUNMARKED': return 'utf16le';
            case 'WINDOWS-1252': case 'CP1252': case 'CP5348': case 'IBM-1252': case 'IBM1252': return 'cp1252';
            default: return fail('UnsupportedEncodingException', clip(name));
        }
    }
    function decodeBytes(u: number[], cs: string): string {
        switch (cs) {
            case 'utf8': return utf8Decode(u);
            case 'latin1': return fromCodes(u);
            case 'ascii': return fromCodes(u.map((c) => (c < 128 ? c : 0xfffd)));
            case 'utf16': return utf16Decode(u, 'bom');
            case 'utf16be': return utf16Decode(u, 'be');
            case 'utf16le': return utf16Decode(u, 'le');
            default: return fromCodes(u.map((c) => (c >= 0x80 && c <= 0x9f ? CP1252[c - 0x80] || 0xfffd : c)));
        }
    }
    function encodeString(s: string, cs: string): number[] {
        if (cs === 'utf8') return utf8Encode(s);
        if (cs === 'utf16') return utf16Encode(s, 'bom');
        if (cs === 'utf16be') return utf16Encode(s, 'be');
        if (cs === 'utf16le') return utf16Encode(s, 'le');
        const cps = codePoints(s);
        const out = new Array(cps.length);
        for (let i = 0; i < cps.length; i++) {
            const c = cps[i];
            let b = 63;
            if (c >= 0 && c < 128) b = c;
            else if (cs === 'latin1' && c >= 0 && c < 256) b = c;
            else if (cs === 'cp1252' && c >= 0) {
                if (c >= 0xa0 && c < 256) b = c;
                else { const k = CP1252.indexOf(c); if (k >= 0 && c !== 0) b = 0x80 + k; }
            }
            out[i] = b;
        }
        return out;
    }

    /** TbUtils.bytesFromList: ints -128..255, strings read by parseInt, else NumberFormatException. Unsigned 0-255 out. */
    function bytesFromList(list: any, what: string): number[] {
        const l = h.listArg(list, what);
        const out = new Array(l.length);
        for (let i = 0; i < l.length; i++) {
            let v = l[i];
            if (typeof v === 'string') v = h.parseIntTb(v);
            if (typeof v !== 'number' || !h.isInt(v)) fail('NumberFormatException', "The value '" + clip(v) + "' could not be correctly converted to a byte. Must be a HexDecimal/String/Integer/Byte format !");
            if (v > 255 || v < -128) fail('NumberFormatException', "The value '" + v + "' could not be correctly converted to a byte. Integer to byte conversion requires the use of only 8 bits (with a range of min/max = -128/255)!");
            out[i] = v & 0xff;
        }
        return out;
    }
    function outBytes(u: number[]): number[] {
        const out = new Array(u.length);
        for (let i = 0; i < u.length; i++) out[i] = h.outByte(u[i]);
        return out;
    }
    function bytesToString(data: any, charsetName?: any): string {
        if (typeof data === 'string' && charsetName === undefined) return data;
        if (!tbel && charsetName === undefined) {
            // A JavaScript converter's payload is UTF-16 char codes when the record was text.
            const l = h.listArg(data, 'bytesToString');
            for (let i = 0; i < l.length; i++) if (l[i] > 255) return fromCodes(l);
        }
        const u = bytesFromList(data, 'bytesToString');
        return decodeBytes(u, charsetName === undefined ? 'utf8' : charsetOf(charsetName));
    }
    function decodeToString(payload: any): string {
        if (typeof payload === 'string') return payload;
        if (tbel) return bytesToString(payload);
        return fromCodes(h.listArg(payload, 'decodeToString'));
    }
    function stringToBytes(str: any, charsetName?: any): number[] {
        if (typeof str !== 'string') fail('IllegalAccessException', 'Invalid type parameter [' + (str === null ? 'null' : Array.isArray(str) ? 'ExecutionArrayList' : typeof str === 'number' ? (h.isInt(str) ? 'Integer' : 'Double') : typeof str) + "]. Expected 'String'");
        return outBytes(encodeString(str, charsetName === undefined ? 'utf8' : charsetOf(charsetName)));
    }

    // ---- JSON, typed as Jackson reads it (ints, longs, doubles); trailing text after the value is ignored ----
    function parseJson(text: string): any {
        let i = 0;
        const n = text.length;
        function err(what: string): never {
            return fail('IllegalArgumentException', 'JSON: ' + what + ' at position ' + i);
        }
        function ws() {
            while (i < n) { const c = text.charCodeAt(i); if (c === 32 || c === 9 || c === 10 || c === 13) i++; else break; }
        }
        function value(depth: number): any {
            if (depth > 1000) err('nesting too deep');
            ws();
            if (i >= n) err('unexpected end of input');
            const c = text[i];
            if (c === '{') {
                i++;
                const o: any = {};
                ws();
                if (text[i] === '}') { i++; return o; }
                for (;;) {
                    ws();
                    if (text[i] !== '"') err('expected a field name');
                    const k = str();
                    ws();
                    if (text[i] !== ':') err("expected ':'");
                    i++;
                    const v = value(depth + 1);
                    Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
                    ws();
                    if (text[i] === ',') { i++; continue; }
                    if (text[i] === '}') { i++; return o; }
                    err("expected ',' or '}'");
                }
            }
            if (c === '[') {
                i++;
                const a: any[] = [];
                ws();
                if (text[i] === ']') { i++; return a; }
                for (;;) {
                    a.push(value(depth + 1));
                    ws();
                    if (text[i] === ',') { i++; continue; }
                    if (text[i] === ']') { i++; return a; }
                    err("expected ',' or ']'");
                }
            }
            if (c === '"') return str();
            if (text.startsWith('true', i)) { i += 4; return true; }
            if (text.startsWith('false', i)) { i += 5; return false; }
            if (text.startsWith('null', i)) { i += 4; return null; }
            return num(depth === 0);
        }
        function str(): string {
            i++;
            let out = '';
            let start = i;
            for (;;) {
                if (i >= n) err('unterminated string');
                const c = text.charCodeAt(i);
                if (c === 34) { out += text.slice(start, i); i++; return out; }
                if (c < 32) err('control character in string');
                if (c === 92) {
                    out += text.slice(start, i);
                    const e = text[i + 1];
                    if (e === 'u') {
                        const hx = text.slice(i + 2, i + 6);
                        if (!/^[0-9A-Fa-f]{4}$/.test(hx)) err('bad \\u escape');
                        out += String.fromCharCode(parseInt(hx, 16));
                        i += 6;
                    } else {
                        const m = ({ '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' } as any)[e];
                        if (m === undefined) err('bad escape');
                        out += m;
                        i += 2;
                    }
                    start = i;
                    continue;
                }
                i++;
            }
        }
        function num(root: boolean): number {
            const s = i;
            if (text[i] === '-') i++;
            if (text[i] === '0') i++;
            else if (text[i] >= '1' && text[i] <= '9') while (text[i] >= '0' && text[i] <= '9') i++;
            else err('unexpected character');
            let isFloat = false;
            if (text[i] === '.') {
                isFloat = true;
                i++;
                if (!(text[i] >= '0' && text[i] <= '9')) err('bad number');
                while (text[i] >= '0' && text[i] <= '9') i++;
            }
            if (text[i] === 'e' || text[i] === 'E') {
                isFloat = true;
                i++;
                if (text[i] === '+' || text[i] === '-') i++;
                if (!(text[i] >= '0' && text[i] <= '9')) err('bad number');
                while (text[i] >= '0' && text[i] <= '9') i++;
            }
            if (root && i < n && ' \t\r\n'.indexOf(text[i]) < 0) err('unexpected character after a number');
            if (!root && i < n && /[0-9A-Za-z]/.test(text[i])) err('unexpected character after a number');
            return isFloat ? Number(text.slice(s, i)) : Number(text.slice(s, i));
        }
        const v = value(0);
        return v;
    }
    function decodeToJson(payload: any): any {
        const s = typeof payload === 'string' ? payload : decodeToString(payload);
        if (!tbel) return JSON.parse(s);
        if (s === '') fail('NullPointerException', 'decodeToJson: empty input');
        // what JSON.parse accepts Jackson reads to the same value; the rest (trailing text such as NUL
        // padding, which Jackson ignores) takes the slower reader
        try { return jsonParse(s); } catch (e) { return parseJson(s); }
    }

    // ---- base64 (java.util.Base64 basic decoder) ----
    function base64Encode(u: number[]): string {
        let s = '';
        let i = 0;
        for (; i + 2 < u.length; i += 3) {
            const x = (u[i] << 16) | (u[i + 1] << 8) | u[i + 2];
            s += B64[x >> 18] + B64[(x >> 12) & 63] + B64[(x >> 6) & 63] + B64[x & 63];
        }
        if (i < u.length) {
            const x = (u[i] << 16) | ((i + 1 < u.length ? u[i + 1] : 0) << 8);
            s += B64[x >> 18] + B64[(x >> 12) & 63] + (i + 1 < u.length ? B64[(x >> 6) & 63] : '=') + '=';
        }
        return s;
    }
    function base64Decode(input: any): number[] {
        const s = h.strArg(input, 'base64');
        const src: number[] = new Array(s.length);
        for (let k = 0; k < s.length; k++) { const c = s.charCodeAt(k); src[k] = c > 255 ? 63 : c; }
        const sl = src.length;
        if (sl === 0) return [];
        if (sl < 2) fail('IllegalArgumentException', 'Input byte[] should at least have 2 bytes for base64 bytes');
        const dst: number[] = [];
        let sp = 0;
        let bits = 0;
        let shiftto = 18;
        while (sp < sl) {
            let b = B64INV[src[sp++]];
            if (b < 0) {
                if (b === -2) {
                    if ((shiftto === 6 && (sp === sl || src[sp++] !== 61)) || shiftto === 18) fail('IllegalArgumentException', 'Input byte array has wrong 4-byte ending unit');
                    break;
                }
                fail('IllegalArgumentException', 'Illegal base64 character ' + src[sp - 1].toString(16));
            }
            bits |= b << shiftto;
            shiftto -= 6;
            if (shiftto < 0) {
                dst.push((bits >> 16) & 0xff, (bits >> 8) & 0xff, bits & 0xff);
                shiftto = 18;
                bits = 0;
            }
            b = 0;
        }
        if (shiftto === 6) dst.push((bits >> 16) & 0xff);
        else if (shiftto === 0) dst.push((bits >> 16) & 0xff, (bits >> 8) & 0xff);
        else if (shiftto === 12) fail('IllegalArgumentException', 'Last unit does not have enough valid bits');
        if (sp < sl) fail('IllegalArgumentException', 'Input byte array has incorrect ending byte at ' + sp);
        return dst;
    }
    function btoa(input: any): string {
        const s = String(input);
        if (tbel) return base64Encode(utf8Encode(s));
        const b = new Array(s.length);
        for (let i = 0; i < s.length; i++) {
            const c = s.charCodeAt(i);
            if (c > 255) fail('InvalidCharacterError', 'btoa: the string contains characters outside of the Latin1 range');
            b[i] = c;
        }
        return base64Encode(b);
    }
    function atob(encoded: any): string {
        const b = base64Decode(tbel ? encoded : String(encoded));
        return tbel ? utf8Decode(b) : fromCodes(b);
    }
    function base64ToBytes(input: any): number[] {
        return h.javaArray(outBytes(base64Decode(input)));
    }
    function base64ToBytesList(input: any): number[] {
        return outBytes(base64Decode(input));
    }
    function bytesToBase64(bytes: any): string {
        return base64Encode(bytesFromList(bytes, 'bytesToBase64'));
    }

    // ---- hex ----
    function hexOf(u: number[]): string {
        let s = '';
        for (let i = 0; i < u.length; i++) s += HEX[u[i] >> 4] + HEX[u[i] & 15];
        return s;
    }
    /** bytesToHex(list): each element read as Byte.parseByte(String.valueOf(e)) (so -128..127 only). */
    function bytesToHex(bytes: any): string {
        const l = h.listArg(bytes, 'bytesToHex');
        const u = new Array(l.length);
        for (let i = 0; i < l.length; i++) {
            let v = l[i];
            if (typeof v === 'string' && /^[-+]?\d{1,4}$/.test(v)) v = Number(v);
            if (!h.isInt(v) || v < (tbel || h.isJavaArray(l) ? -128 : 0) || v > (tbel ? 127 : 255)) fail('NumberFormatException', 'Value out of range. Value:"' + clip(l[i]) + '" Radix:10');
            u[i] = v & 0xff;
        }
        return hexOf(u);
    }
    /** TbUtils.validateAndPrepareHex. */
    function prepareHex(value: any): string {
        const hex = h.prepareNumberString(value, true);
        if (hex == null) fail('IllegalArgumentException', 'Hex string must be not empty!');
        if (hex.length % 2 > 0) fail('IllegalArgumentException', 'Hex string must be even-length.');
        if (h.isHexadecimal(value) !== 16) fail('NumberFormatException', 'Value: "' + clip(value) + '" is not numeric or hexDecimal format!');
        return hex;
    }
    /** TbUtils' private hexToBytes: Integer.parseInt of each pair. */
    function pairsToBytes(hex: string): number[] {
        const out = new Array(hex.length >> 1);
        for (let i = 0; i < hex.length; i += 2) {
            if (i + 2 > hex.length) fail('StringIndexOutOfBoundsException', 'begin ' + i + ', end ' + (i + 2) + ', length ' + hex.length);
            out[i >> 1] = h.javaParseInt(hex.substring(i, i + 2), 16, 32) & 0xff;
        }
        return out;
    }
    function hexToBytes(value: any): number[] {
        return outBytes(pairsToBytes(prepareHex(value)));
    }
    function hexToBytesArray(value: any): number[] {
        return h.javaArray(outBytes(pairsToBytes(prepareHex(value))));
    }
    function base64ToHex(b64: any): string {
        return hexOf(base64Decode(b64));
    }
    function hexToBase64(hex: any): string {
        return base64Encode(pairsToBytes(h.strArg(hex, 'hexToBase64')));
    }
    function printUnsignedBytes(list: any): number[] {
        const l = h.listArg(list, 'printUnsignedBytes');
        const out = new Array(l.length);
        for (let i = 0; i < l.length; i++) {
            if (!h.isInt(l[i])) fail('ClassCastException', 'printUnsignedBytes: element ' + i + ' is not a byte');
            out[i] = l[i] & 0xff;
        }
        return out;
    }

    // ---- ThingsBoard's encodeURI/decodeURI (URLEncoder/URLDecoder with MDN's reserved set kept) ----
    const URI_KEEP = "!'()~;,/?:@&=+$#";
    function encodeURITb(uri: any): string {
        const s = h.strArg(uri, 'encodeURI');
        let out = '';
        const b = utf8Encode(s);
        for (let i = 0; i < b.length; i++) {
            const c = b[i];
            const ch = String.fromCharCode(c);
            if ((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || ch === '.' || ch === '-' || ch === '*' || ch === '_') out += ch;
            else if (c === 32) out += '%20';
            else if (c < 128 && URI_KEEP.indexOf(ch) >= 0) out += ch;
            else out += '%' + HEX[c >> 4] + HEX[c & 15];
        }
        return out;
    }
    function decodeURITb(uri: any): string {
        const s = h.strArg(uri, 'decodeURI');
        let out = '';
        let i = 0;
        while (i < s.length) {
            if (s[i] !== '%') { out += s[i]; i++; continue; }
            const bytes: number[] = [];
            while (i < s.length && s[i] === '%') {
                if (i + 2 >= s.length) fail('IllegalArgumentException', 'URLDecoder: Incomplete trailing escape (%) pattern');
                const hx = s.slice(i + 1, i + 3);
                if (!/^[0-9A-Fa-f]{2}$/.test(hx)) fail('IllegalArgumentException', 'URLDecoder: Illegal hex characters in escape (%) pattern - Error at index 0 in: "' + clip(hx) + '"');
                bytes.push(parseInt(hx, 16));
                i += 3;
            }
            out += utf8Decode(bytes);
        }
        return out;
    }
    Object.assign(h, {
        fromCodes, utf8Encode, utf8Decode, bytesFromList, bytesToString, decodeToString, decodeToJson, stringToBytes,
        base64Encode, base64Decode, btoa, atob, base64ToBytes, base64ToBytesList, bytesToBase64, hexOf, bytesToHex,
        hexToBytes, hexToBytesArray, base64ToHex, hexToBase64, printUnsignedBytes, encodeURITb, decodeURITb,
    });
}
