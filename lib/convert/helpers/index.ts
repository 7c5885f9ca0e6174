/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * The helper functions a ThingsBoard script expects.
 *
 * TBEL (`tbel = true`): every function ThingsBoard's `TbUtils.register()` imports into TBEL, with
 * TbUtils' semantics — checked against ThingsBoard's own TbUtils by the oracle fixture in
 * test/fixtures/tbutils/. Payloads and byte lists are Java bytes (-128..127), strings are UTF-8, an
 * error is thrown where ThingsBoard throws (its `name` is the Java exception's simple name). Java int
 * and long results are numbers (a long beyond ±2^53 becomes the nearest double); a float result is the
 * shortest decimal that reads back to the same float32, as ThingsBoard's JSON shows it.
 *
 * JavaScript (`tbel = false`): the helpers of ThingsBoard's JS executor templates (decodeToString,
 * decodeToJson, …) plus the TbUtils readers, with unsigned bytes (0-255) returned; the language's own
 * parseInt/parseFloat/isNaN/encodeURI/decodeURI/btoa semantics stay (btoa/atob Latin-1, as browsers).
 *
 * Self-contained parts: the sandbox evaluates `installHelpers.toString()` inside the script's own
 * realm, so the helpers never hand a host object to a script. That text is the source of a function
 * that runs the parts below (each one self-contained, sharing only the private namespace `h`); on the
 * host, `installHelpers` runs the very same parts (the unit tests call it).
 */
import { installBase } from './base';
import { installText } from './text';
import { installNumbers } from './numbers';
import { installMisc } from './misc';

/** Copies the public names from the namespace onto the global object (non-enumerable). */
function publish(g: any, h: any, tbel: boolean): void {
    'use strict';
    function prim(v: any): any {
        if (v === null) h.fail('NullPointerException', 'the hex string is blank');
        return v;
    }
    const defs: any = {
        decodeToString: h.decodeToString, decodeToJson: h.decodeToJson, bytesToString: h.bytesToString, stringToBytes: h.stringToBytes,
        btoa: h.btoa, atob: h.atob, base64ToBytes: h.base64ToBytes, base64ToBytesList: h.base64ToBytesList, bytesToBase64: h.bytesToBase64,
        base64ToHex: h.base64ToHex, hexToBase64: h.hexToBase64, bytesToHex: h.bytesToHex, hexToBytes: h.hexToBytes, hexToBytesArray: h.hexToBytesArray,
        printUnsignedBytes: h.printUnsignedBytes, bytesToExecutionArrayList: (b: any) => h.listArg(b, 'bytesToExecutionArrayList').slice(),
        parseLong: h.parseLong, parseDouble: h.parseDouble, parseHexIntLongToFloat: h.parseHexIntLongToFloat,
        // the one-argument forms (and parseHexToDouble) return a Java primitive: a blank string is a NullPointerException
        parseHexToInt: (x: any, be?: any) => (be === undefined ? prim(h.parseHexToInt(x, true)) : h.parseHexToInt(x, be)),
        parseHexToLong: (x: any, be?: any) => (be === undefined ? prim(h.parseHexToLong(x, true)) : h.parseHexToLong(x, be)),
        parseHexToFloat: (x: any, be?: any) => (be === undefined ? prim(h.parseHexToFloat(x, true)) : h.parseHexToFloat(x, be)),
        parseHexToDouble: (x: any, be?: any) => prim(h.parseHexToDouble(x, be === undefined ? true : be)),
        parseLittleEndianHexToInt: (x: any) => prim(h.parseHexToInt(x, false)),
        parseBigEndianHexToInt: (x: any) => prim(h.parseHexToInt(x, true)),
        parseLittleEndianHexToLong: (x: any) => prim(h.parseHexToLong(x, false)),
        parseBigEndianHexToLong: (x: any) => prim(h.parseHexToLong(x, true)),
        parseLittleEndianHexToFloat: (x: any) => prim(h.parseHexToFloat(x, false)),
        parseBigEndianHexToFloat: (x: any) => prim(h.parseHexToFloat(x, true)),
        parseLittleEndianHexToDouble: (x: any) => prim(h.parseHexToDouble(x, false)),
        parseBigEndianHexToDouble: (x: any) => prim(h.parseHexToDouble(x, true)),
        parseBytesToInt: h.parseBytesToInt, parseBytesToLong: h.parseBytesToLong, parseBytesToFloat: h.parseBytesToFloat,
        parseBytesToDouble: h.parseBytesToDouble, parseBytesIntToFloat: h.parseBytesIntToFloat, parseBytesLongToDouble: h.parseBytesLongToDouble,
        intToHex: h.intToHex, longToHex: h.longToHex, intLongToRadixString: h.intLongToRadixString, floatToHex: h.floatToHex, doubleToHex: h.doubleToHex,
        toFixed: h.toFixed, toInt: h.toInt, padStart: h.padStart, padEnd: h.padEnd, raiseError: h.raiseError, toFlatMap: h.toFlatMap,
        isBinary: h.isBinary, isOctal: h.isOctal, isDecimal: h.isDecimal, isHexadecimal: h.isHexadecimal,
        parseByteToBinaryArray: h.parseByteToBinaryArray, parseBytesToBinaryArray: h.parseBytesToBinaryArray,
        parseLongToBinaryArray: h.parseLongToBinaryArray, parseBinaryArrayToInt: h.parseBinaryArrayToInt,
        isInsidePolygon: h.isInsidePolygon, isInsideCircle: h.isInsideCircle,
        isMap: h.isMap, isList: h.isList, isArray: h.isArray, isSet: h.isSet, newSet: h.newSet, toSet: h.toSet,
        isNaN: tbel ? h.isNaNTb : h.jsIsNaN,
        parseInt: tbel ? h.parseIntTb : h.jsParseInt,
        parseFloat: tbel ? h.parseFloatTb : h.jsParseFloat,
        tbParseInt: h.parseIntTb,
        tbParseFloat: h.parseFloatTb,
    };
    if (tbel) {
        defs.encodeURI = h.encodeURITb;
        defs.decodeURI = h.decodeURITb;
        defs.__tbelIter = h.tbelIter;
        defs.__tbelNewArray = h.tbelNewArray;
        defs.__tbelArrayOf = h.tbelArrayOf;
        // in the script's realm only (the host passes a plain object): the Java collection methods
        if (g.Object && g.Array && g.Set && g.String && g.Object.prototype) h.extendPrototypes(g);
    }
    for (const k of Object.keys(defs)) {
        Object.defineProperty(g, k, { value: defs[k], writable: true, configurable: true, enumerable: false });
    }
}

function installHelpersOnHost(g: any, tbel: boolean): void {
    const h: any = {};
    installBase(h, tbel);
    installText(h, tbel);
    installNumbers(h, tbel);
    installMisc(h, tbel);
    publish(g, h, tbel);
}

const SOURCE = `function installHelpers(g, tbel) {
    'use strict';
    const h = {};
    (${installBase.toString()})(h, tbel);
    (${installText.toString()})(h, tbel);
    (${installNumbers.toString()})(h, tbel);
    (${installMisc.toString()})(h, tbel);
    (${publish.toString()})(g, h, tbel);
}`;

/**
 * Installs the helpers on `g`. Its `toString()` is the self-contained source of the same function
 * (all parts inlined), which the sandbox evaluates inside the script's realm.
 */
export const installHelpers: (g: any, tbel: boolean) => void = Object.defineProperty(
    function installHelpers(g: any, tbel: boolean): void { installHelpersOnHost(g, tbel); },
    'toString', { value: () => SOURCE, writable: false, enumerable: false, configurable: false },
);

/** Names `installHelpers` may define (kept in step with it by a unit test). encodeURI/decodeURI: TBEL only. */
export const HELPER_NAMES = [
    'decodeToString', 'decodeToJson', 'bytesToString', 'stringToBytes', 'btoa', 'atob',
    'base64ToBytes', 'base64ToBytesList', 'bytesToBase64', 'base64ToHex', 'hexToBase64', 'bytesToHex', 'hexToBytes', 'hexToBytesArray',
    'printUnsignedBytes', 'bytesToExecutionArrayList',
    'parseLong', 'parseDouble', 'parseHexIntLongToFloat', 'parseHexToInt', 'parseHexToLong', 'parseHexToFloat', 'parseHexToDouble',
    'parseLittleEndianHexToInt', 'parseBigEndianHexToInt', 'parseLittleEndianHexToLong', 'parseBigEndianHexToLong',
    'parseLittleEndianHexToFloat', 'parseBigEndianHexToFloat', 'parseLittleEndianHexToDouble', 'parseBigEndianHexToDouble',
    'parseBytesToInt', 'parseBytesToLong', 'parseBytesToFloat', 'parseBytesToDouble', 'parseBytesIntToFloat', 'parseBytesLongToDouble',
    'intToHex', 'longToHex', 'intLongToRadixString', 'floatToHex', 'doubleToHex',
    'toFixed', 'toInt', 'padStart', 'padEnd', 'raiseError', 'toFlatMap',
    'isBinary', 'isOctal', 'isDecimal', 'isHexadecimal',
    'parseByteToBinaryArray', 'parseBytesToBinaryArray', 'parseLongToBinaryArray', 'parseBinaryArrayToInt',
    'isInsidePolygon', 'isInsideCircle', 'isMap', 'isList', 'isArray', 'isSet', 'newSet', 'toSet',
    'isNaN', 'parseInt', 'parseFloat', 'tbParseInt', 'tbParseFloat',
    // TBEL only
    'encodeURI', 'decodeURI', '__tbelIter', '__tbelNewArray', '__tbelArrayOf',
];

/** The names only TBEL scripts get (JavaScript keeps its own encodeURI/decodeURI). */
export const TBEL_ONLY_HELPERS = ['encodeURI', 'decodeURI', '__tbelIter', '__tbelNewArray', '__tbelArrayOf'];
