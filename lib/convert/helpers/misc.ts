/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * The rest of TbUtils: toFlatMap, padStart/padEnd, raiseError, the type checks and sets
 * (isMap/isList/isArray/isSet/newSet/toSet), isInsidePolygon/isInsideCircle. Self-contained (see
 * ./index.ts); needs ./base.ts installed first.
 */
export function installMisc(h: any, tbel: boolean): void {
    'use strict';
    const fail: (javaName: string, msg: string) => never = h.fail;
    const isNaN = h.jsIsNaN;
    const clip = h.clip;
    function padChar(c: any): string {
        if (c === undefined) return ' ';
        const s = String(c);
        if (tbel && s.length !== 1) fail('IllegalArgumentException', 'padString must be a single character, got "' + clip(s) + '"');
        return s;
    }
    function padStart(str: any, targetLength: any, padString?: any): string {
        const s = h.strArg(str, 'padStart');
        return tbel ? s.padStart(h.intArg(targetLength, 'targetLength'), padChar(padString)) : String(str).padStart(Number(targetLength), padChar(padString));
    }
    function padEnd(str: any, targetLength: any, padString?: any): string {
        const s = h.strArg(str, 'padEnd');
        return tbel ? s.padEnd(h.intArg(targetLength, 'targetLength'), padChar(padString)) : String(str).padEnd(Number(targetLength), padChar(padString));
    }
    function raiseError(message: any, value?: any): never {
        const e = new Error(value === undefined || value === null ? String(message) : message + ' for value ' + value);
        e.name = 'RuntimeException';
        throw e;
    }
    function isMap(o: any): boolean {
        return o !== null && typeof o === 'object' && !Array.isArray(o) && !(o instanceof Set) && !(o instanceof Map) ? true : o instanceof Map;
    }
    function isList(o: any): boolean {
        return Array.isArray(o) && !h.isJavaArray(o);
    }
    function isArray(o: any): boolean {
        return h.isJavaArray(o) || ArrayBuffer.isView(o);
    }
    function isSet(o: any): boolean {
        return o instanceof Set;
    }
    function newSet(): Set<any> {
        return new Set();
    }
    function toSet(list: any): Set<any> {
        return new Set(h.listArg(list, 'toSet'));
    }
    /** toFlatMap(json[, excludeList][, pathInKey = true]): nested keys joined with "."; arrays by index. */
    function toFlatMap(json: any, a?: any, b?: any): any {
        let exclude: any[] = [];
        let pathInKey = true;
        if (typeof a === 'boolean') pathInKey = a;
        else if (a && typeof a.length === 'number') { exclude = a; if (typeof b === 'boolean') pathInKey = b; }
        const out: any = {};
        function put(path: string, v: any) {
            let key = path;
            if (!pathInKey) {
                key = path.slice(path.lastIndexOf('.') + 1);
                if (/^\d+$/.test(key)) {
                    let pos = path.length;
                    for (let i = 0; i < 2; i++) pos = path.lastIndexOf('.', pos - 1);
                    key = path.slice(pos + 1);
                }
            }
            Object.defineProperty(out, key, { value: v, writable: true, enumerable: true, configurable: true });
        }
        function walk(v: any, path: string, depth: number) {
            if (depth > 1000) fail('StackOverflowError', 'toFlatMap: nesting too deep');
            if (Array.isArray(v) || v instanceof Set) {
                const arr = Array.from(v as any);
                for (let i = 0; i < arr.length; i++) walk(arr[i], path + '.' + i, depth + 1);
            } else if (v !== null && typeof v === 'object') {
                for (const k of Object.keys(v)) {
                    if (exclude.indexOf(k) >= 0) continue;
                    walk(v[k], path.trim() !== '' ? path + '.' + k : k, depth + 1);
                }
            } else put(path, v === undefined ? null : v);
        }
        if (json === null || typeof json !== 'object' || Array.isArray(json)) fail('IllegalArgumentException', 'toFlatMap: expected a map');
        walk(json, '', 0);
        return out;
    }

    // ---- geofencing ----
    function parseJsonArg(s: any, what: string): any {
        try { return JSON.parse(h.strArg(s, what)); } catch (e) { return fail('IllegalArgumentException', what + ': ' + (e as Error).message); }
    }
    const EARTH_KM = 6371.0087714;
    const UNITS: any = { METER: 1000.0, KILOMETER: 1.0, FOOT: 3280.84, MILE: 0.62137, NAUTICAL_MILE: 0.539957 };
    function isInsideCircle(latitude: any, longitude: any, perimeter: any): boolean {
        const p = parseJsonArg(perimeter, 'isInsideCircle');
        const num = (v: any, k: string) => { const n = Number(v); if (v === undefined || v === null || isNaN(n)) fail('NumberFormatException', 'isInsideCircle: ' + k + ' is not a number'); return n; };
        const lat1 = num(latitude, 'latitude') * Math.PI / 180;
        const lat2 = num(p.latitude, 'perimeter latitude') * Math.PI / 180;
        const dLat = lat2 - lat1;
        const dLon = (num(p.longitude, 'perimeter longitude') - num(longitude, 'longitude')) * Math.PI / 180;
        const unit = p.radiusUnit === undefined ? 'METER' : String(p.radiusUnit);
        if (!(unit in UNITS)) fail('IllegalArgumentException', 'No enum constant RangeUnit.' + clip(unit));
        const x = Math.sin(dLat / 2) * Math.sin(dLat / 2) + Math.cos(lat1) * Math.cos(lat2) * Math.sin(dLon / 2) * Math.sin(dLon / 2);
        const km = 2 * Math.atan2(Math.sqrt(x), Math.sqrt(1 - x)) * EARTH_KM;
        return num(p.radius, 'radius') > km * UNITS[unit];
    }
    function inRing(x: number, y: number, ring: number[][]): number {
        // 1 inside, 0 outside, -1 on the boundary
        let inside = false;
        for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
            const xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
            const cross = (xj - xi) * (y - yi) - (yj - yi) * (x - xi);
            if (cross === 0 && Math.min(xi, xj) <= x && x <= Math.max(xi, xj) && Math.min(yi, yj) <= y && y <= Math.max(yi, yj)) return -1;
            if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
        }
        return inside ? 1 : 0;
    }
    function isInsidePolygon(latitude: any, longitude: any, perimeter: any): boolean {
        if (typeof perimeter !== 'string' || perimeter.trim() === '') fail('RuntimeException', "Polygon string can't be empty or null!");
        const json = parseJsonArg(perimeter, 'isInsidePolygon');
        const isPoint = (e: any) => Array.isArray(e) && e.length >= 2 && typeof e[0] === 'number';
        const rings: number[][][] = [];
        (function norm(a: any, depth: number) {
            if (!Array.isArray(a) || depth > 50) fail('IllegalStateException', 'isInsidePolygon: not a polygon array');
            if (a.every(isPoint)) { rings.push(a); return; }
            for (const e of a) norm(e, depth + 1);
        })(json, 0);
        const polys = rings.map((r) => {
            const pts = r.map((p) => [Number(p[0]), Number(p[1])]);
            if (pts.length === 2) return [pts[0], [pts[0][0], pts[1][1]], pts[1], [pts[1][0], pts[0][1]]];
            return pts;
        });
        const x = Number(latitude);
        const y = Number(longitude);
        // a polygon lying inside another is a hole of it
        const holes = polys.map((p, i) => polys.some((q, k) => k !== i && p.every((pt) => inRing(pt[0], pt[1], q) === 1)));
        let inShape = false;
        for (let i = 0; i < polys.length; i++) if (!holes[i] && inRing(x, y, polys[i]) === 1) inShape = true;
        for (let i = 0; i < polys.length; i++) if (holes[i] && inRing(x, y, polys[i]) !== 0) inShape = false;
        return inShape;
    }

    // ---- TBEL runtime: what the syntax translator (lib/convert/tbel-syntax.ts) calls, and the Java collection methods ----
    /** foreach (x : coll): a list's elements, a map's values, a set's members, a string's characters. */
    function tbelIter(c: any): any[] {
        if (c === null || c === undefined) fail('NullPointerException', 'foreach over null');
        if (Array.isArray(c)) return c;
        if (typeof c === 'string') return c.split('');
        if (c instanceof Set || c instanceof Map) return Array.from(c.values());
        if (typeof c === 'object') return Object.keys(c).map((k) => c[k]);
        return fail('IllegalArgumentException', 'foreach: cannot iterate over a ' + typeof c);
    }
    function zeroOf(type: string): any {
        if (type === 'boolean') return false;
        if (type === 'int' || type === 'long' || type === 'double' || type === 'float' || type === 'byte' || type === 'short') return 0;
        if (type === 'char') return '\u0000';
        return null;
    }
    function tbelNewArray(type: string, n: any): any[] {
        const len = h.intArg(n, 'new ' + type + '[]');
        if (len < 0) fail('NegativeArraySizeException', String(len));
        return h.javaArray(new Array(len).fill(zeroOf(type)));
    }
    function tbelArrayOf(type: string, items: any[]): any[] {
        return h.javaArray(type === 'byte' ? items.map((x) => h.signedByte(x)) : items.slice());
    }
    /** Java's natural order (numbers by value, strings by UTF-16 code units), optionally descending. */
    function natural(asc: boolean) {
        return (a: any, b: any) => {
            const r = a < b ? -1 : a > b ? 1 : 0;
            return asc ? r : -r;
        };
    }
    /**
     * Adds the Java collection methods TBEL scripts call to the realm's prototypes (non-enumerable).
     * `get`/`set` are never put on Object.prototype (every property descriptor would inherit them):
     * the translator renames `.get(`/`.set(` calls to `__tbelGet`/`__tbelSet`.
     */
    function extendPrototypes(G: any): void {
        const def = (proto: any, name: string, fn: any) => Object.defineProperty(proto, name, { value: fn, writable: true, configurable: true, enumerable: false });
        const own = (o: any, k: any) => Object.prototype.hasOwnProperty.call(o, k);
        const OP = G.Object.prototype;
        const map: any = {
            size() { return Object.keys(this).length; },
            isEmpty() { return Object.keys(this).length === 0; },
            containsKey(k: any) { return own(this, k); },
            containsValue(v: any) { return Object.keys(this).some((k) => this[k] === v); },
            __tbelGet(k: any) { return own(this, k) ? this[k] : null; },
            __tbelSet(k: any, v: any) { const old = own(this, k) ? this[k] : null; this[k] = v; return old; },
            getOrDefault(k: any, d: any) { return own(this, k) ? this[k] : d; },
            put(k: any, v: any) { const old = own(this, k) ? this[k] : null; this[k] = v; return old; },
            putIfAbsent(k: any, v: any) { if (own(this, k) && this[k] !== null) return this[k]; this[k] = v; return null; },
            putAll(m: any) { for (const k of Object.keys(m)) this[k] = m[k]; },
            remove(k: any) { const old = own(this, k) ? this[k] : null; delete this[k]; return old; },
            clear() { for (const k of Object.keys(this)) delete this[k]; },
            keys() { return Object.keys(this); },
            keySet() { return Object.keys(this); },
            values() { return Object.keys(this).map((k) => this[k]); },
            entrySet() {
                return Object.keys(this).map((k) => {
                    const self = this;
                    return { key: k, value: self[k], getKey() { return k; }, getValue() { return self[k]; } };
                });
            },
            sortByKey(asc?: any) { const ks = Object.keys(this).sort(natural(asc !== false)); const vs = ks.map((k) => this[k]); for (const k of ks) delete this[k]; ks.forEach((k, i) => { this[k] = vs[i]; }); },
            sortByValue(asc?: any) { const ks = Object.keys(this); const cmp = natural(asc !== false); ks.sort((a, b) => cmp(this[a], this[b])); const vs = ks.map((k) => this[k]); for (const k of ks) delete this[k]; ks.forEach((k, i) => { this[k] = vs[i]; }); },
        };
        for (const k of Object.keys(map)) def(OP, k, map[k]);
        const AP = G.Array.prototype;
        const nativeSort = AP.sort;
        const nativeToSorted = AP.toSorted;
        const list: any = {
            size() { return this.length; },
            isEmpty() { return this.length === 0; },
            __tbelGet(i: any) { if (!h.isInt(i) || i < 0 || i >= this.length) fail('IndexOutOfBoundsException', 'Index ' + i + ' out of bounds for length ' + this.length); return this[i]; },
            __tbelSet(i: any, v: any) { const old = this.__tbelGet(i); this[i] = v; return old; },
            add(a: any, b?: any) { if (arguments.length > 1) { if (!h.isInt(a) || a < 0 || a > this.length) fail('IndexOutOfBoundsException', 'Index: ' + a + ', Size: ' + this.length); this.splice(a, 0, b); return undefined; } this.push(a); return true; },
            addAll(l: any) { for (const x of tbelIter(l)) this.push(x); return true; },
            contains(x: any) { return this.includes(x); },
            remove(x: any) {
                if (h.isInt(x)) { const old = this.__tbelGet(x); this.splice(x, 1); return old; }
                const i = this.indexOf(x);
                if (i < 0) return false;
                this.splice(i, 1);
                return true;
            },
            clear() { this.length = 0; },
            sort(a?: any) { return Reflect.apply(nativeSort, this, [typeof a === 'function' ? a : natural(a !== false)]); },
            toSorted(a?: any) { return Reflect.apply(nativeToSorted, this, [typeof a === 'function' ? a : natural(a !== false)]); },
        };
        for (const k of Object.keys(list)) def(AP, k, list[k]);
        const SP = G.Set.prototype;
        const set: any = {
            size() { return Array.from(this).length; },
            isEmpty() { return Array.from(this).length === 0; },
            contains(x: any) { return this.has(x); },
            remove(x: any) { return this.delete(x); },
            addAll(l: any) { let changed = false; for (const x of tbelIter(l)) if (!this.has(x)) { this.add(x); changed = true; } return changed; },
            toJSON() { return Array.from(this); },
        };
        for (const k of Object.keys(set)) def(SP, k, set[k]);
        const MP = G.Map.prototype;
        def(MP, '__tbelGet', MP.get);
        def(MP, '__tbelSet', MP.set);
        const StrP = G.String.prototype;
        def(StrP, 'equals', function (this: string, o: any) { return typeof o === 'string' && String(this) === o; });
        def(StrP, 'equalsIgnoreCase', function (this: string, o: any) { return typeof o === 'string' && String(this).toLowerCase() === o.toLowerCase(); });
        def(StrP, 'contains', function (this: string, o: any) { return String(this).includes(String(o)); });
        def(StrP, 'isEmpty', function (this: string) { return String(this).length === 0; });
    }
    Object.assign(h, { tbelIter, tbelNewArray, tbelArrayOf, extendPrototypes });
    Object.assign(h, { padStart, padEnd, raiseError, isMap, isList, isArray, isSet, newSet, toSet, toFlatMap, isInsideCircle, isInsidePolygon });
}
