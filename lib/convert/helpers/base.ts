/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * Shared plumbing of the helpers: errors with Java's exception names, Java byte and number
 * conversions, the float32 → shortest-decimal rule. Self-contained (see ./index.ts): it fills the
 * private namespace `h` that the other parts read.
 */
export function installBase(h: any, tbel: boolean): void {
    'use strict';
    const MAX_MSG = 200;
    // captured now: the TBEL versions replace the globals afterwards
    const jsParseInt = parseInt;
    const jsParseFloat = parseFloat;
    const jsIsNaN = isNaN;
    function clip(v: any): string {
        let s: string;
        try { s = String(v); } catch (e) { s = '[value]'; }
        return s.length > MAX_MSG ? s.slice(0, MAX_MSG) + '…' : s;
    }
    /** Throws an Error named after the Java exception ThingsBoard raises (NumberFormatException, …). */
    function fail(javaName: string, msg: string): never {
        const e = new Error(msg);
        e.name = javaName;
        throw e;
    }
    function signedByte(b: number): number {
        b = b & 0xff;
        return b > 127 ? b - 256 : b;
    }
    function outByte(b: number): number {
        return tbel ? signedByte(b) : b & 0xff;
    }
    function isInt(v: any): boolean {
        return typeof v === 'number' && v === Math.floor(v) && isFinite(v);
    }
    /** A Java `int` argument: an integral number (MVEL converts integral values; anything else is refused). */
    function intArg(v: any, what: string): number {
        if (typeof v === 'string' && /^[-+]?\d{1,10}$/.test(v.trim())) v = Number(v.trim());
        if (!isInt(v) || v > 2147483647 || v < -2147483648) fail('IllegalArgumentException', what + ': expected an int, got ' + clip(v));
        return v;
    }
    function boolArg(v: any, dflt: boolean): boolean {
        if (v === undefined || v === null) return dflt;
        if (typeof v === 'string') return v.toLowerCase() === 'true';
        return !!v;
    }
    function strArg(v: any, what: string): string {
        if (v === null || v === undefined) fail('NullPointerException', what + ': the string is null');
        if (typeof v !== 'string') fail('IllegalArgumentException', what + ': expected a String, got ' + typeof v);
        return v;
    }
    function listArg(v: any, what: string): any[] {
        if (v == null || typeof v !== 'object' || typeof v.length !== 'number') fail('IllegalArgumentException', what + ': expected a list of bytes');
        return v;
    }
    /** Guava Bytes.toArray: every number's byteValue() (wraps to 8 bits). */
    function numbersToBytes(v: any, what: string): number[] {
        const l = listArg(v, what);
        const out = new Array(l.length);
        for (let i = 0; i < l.length; i++) {
            const x = l[i];
            if (typeof x !== 'number' || !isFinite(x)) fail('ClassCastException', what + ': element ' + i + " ('" + clip(x) + "') is not a number");
            out[i] = signedByte(Math.trunc(x));
        }
        return out;
    }
    /** A Java array result (byte[]): a plain array, marked so isArray() tells it from a list. */
    const JAVA_ARRAY = Symbol('java array');
    function javaArray(a: any[]): any[] {
        Object.defineProperty(a, JAVA_ARRAY, { value: true, enumerable: false });
        return a;
    }
    function isJavaArray(a: any): boolean {
        return Array.isArray(a) && (a as any)[JAVA_ARRAY] === true;
    }
    /** A float32 value as ThingsBoard's JSON shows it: the shortest decimal that reads back to the same float. */
    function shortestFloat(f: number): number {
        f = Math.fround(f);
        if (f !== f || f === 0 || !isFinite(f)) return f;
        for (let p = 1; p <= 9; p++) {
            const d = Number(f.toPrecision(p));
            if (Math.fround(d) === f) return d;
        }
        return f;
    }
    /** Java's String.trim(): strips chars ≤ U+0020 at both ends. */
    function javaTrim(s: string): string {
        let a = 0;
        let b = s.length;
        while (a < b && s.charCodeAt(a) <= 32) a++;
        while (b > a && s.charCodeAt(b - 1) <= 32) b--;
        return s.slice(a, b);
    }
    /** Java's `str.replace(target, repl)` (literal, all occurrences). */
    function replaceAll(s: string, target: string, repl: string): string {
        return s.split(target).join(repl);
    }
    Object.assign(h, { clip, fail, signedByte, outByte, isInt, intArg, boolArg, strArg, listArg, numbersToBytes, javaArray, isJavaArray, shortestFloat, javaTrim, replaceAll, tbel, jsParseInt, jsParseFloat, jsIsNaN });
}
