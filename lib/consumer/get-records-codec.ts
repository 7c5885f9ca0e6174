/**
 * A faster reading of GetRecords answers on the consumer's client, through the SDK's public middleware
 * API (everything else stays the SDK's: request, endpoint, credentials, signing, HTTP, retries, error
 * answers and their exceptions).
 *
 * Why: the SDK reads every record of a 200 answer with its schema walker (an output object per
 * record, the base64 checked by a regular expression and decoded into a Uint8Array view, a Date) after
 * parsing the body into objects it then throws away; that was ~40 % of kinesis-in's busy time, and
 * garbage. Here the body is parsed with `JSON.parse` — a large one in pieces of ~32 kB, so that V8 does not
 * allocate the whole parse in the old generation (see PIECE_BYTES) — and each record built once, in one
 * shape: `Data` a Buffer (Node's base64, checked by length), `ApproximateArrivalTimestamp` a Date as the
 * SDK makes it (epoch seconds × 1000, rounded). Members the SDK does not know are dropped, as it does.
 *
 * How (two middlewares in the deserialize step, added once per client; only GetRecordsCommand is touched):
 * - low priority (next to the HTTP handler): a 200 answer's body is read and decoded here, and the SDK's
 *   deserializer gets `{}`; an answer this decoder does not understand in full (a timestamp as text, base64
 *   the SDK would refuse, `__type`, not JSON…) is handed to the SDK as it came, so the SDK reads it or
 *   throws its own error; any other status is left to the SDK.
 * - high priority (around the SDK's deserializer): puts the decoded members on the SDK's output, so
 *   `client.send` resolves to the usual `GetRecordsCommandOutput` (with `$metadata`).
 * Only on a client whose SDK speaks `aws.protocols#awsJson1_1` (what this decoder reads); a stand-in sender
 * without a middleware stack (tests) is left alone.
 */
import type { _Record, ChildShard, GetRecordsCommandOutput } from '@aws-sdk/client-kinesis';
import { EMPTY_JSON, installOnce, MiddlewareClient, readBody } from '../aws/middleware';

type Decoded = Omit<GetRecordsCommandOutput, '$metadata'>;

const RESULT = Symbol('kinesisRed.getRecordsResult');
const installed = new WeakSet<object>();

/** A JSON object (not null, not an array) without `__type` (with it, the SDK keeps unknown members). */
function plainObject(v: unknown): v is Record<string, unknown> {
    return typeof v === 'object' && v !== null && !Array.isArray(v) && (v as { __type?: unknown }).__type === undefined;
}

/**
 * Base64 text → bytes, exactly what the SDK accepts (length a multiple of 4, only A–Z a–z 0–9 + / and up to
 * two `=` at the end); undefined for anything else. Node's decoder skips characters it does not know and
 * stops at `=`, so a decoded length that is not the text's is what the SDK's regular expression refuses;
 * the URL-safe `-` and `_`, which Node would decode, are looked for apart.
 */
function base64(text: string): Buffer | undefined {
    const n = text.length;
    if (n % 4 !== 0) return undefined;
    const pad = n === 0 ? 0 : text.charCodeAt(n - 1) !== 0x3d ? 0 : text.charCodeAt(n - 2) !== 0x3d ? 1 : 2;
    const out = Buffer.from(text, 'base64');
    if (out.length !== (n / 4) * 3 - pad || text.indexOf('-') >= 0 || text.indexOf('_') >= 0) return undefined;
    return out;
}

function decodeRecord(v: unknown): _Record | undefined {
    if (!plainObject(v)) return undefined;
    const r = {} as _Record;
    const seq = v.SequenceNumber;
    if (seq !== undefined && seq !== null) r.SequenceNumber = seq as string;
    const data = v.Data;
    if (data !== undefined && data !== null) {
        if (typeof data !== 'string') return undefined;
        const bytes = base64(data);
        if (!bytes) return undefined;
        r.Data = bytes;
    }
    const at = v.ApproximateArrivalTimestamp;
    if (at !== undefined && at !== null) {
        if (typeof at !== 'number' || !Number.isFinite(at)) return undefined;
        r.ApproximateArrivalTimestamp = new Date(Math.round(at * 1000));
    }
    const key = v.PartitionKey;
    if (key !== undefined && key !== null) r.PartitionKey = key as string;
    const enc = v.EncryptionType;
    if (enc !== undefined && enc !== null) r.EncryptionType = enc as _Record['EncryptionType'];
    return r;
}

function decodeChildShard(v: unknown): ChildShard | undefined {
    if (!plainObject(v)) return undefined;
    const c = {} as ChildShard;
    if (v.ShardId !== undefined && v.ShardId !== null) c.ShardId = v.ShardId as string;
    if (v.ParentShards !== undefined && v.ParentShards !== null) {
        if (!Array.isArray(v.ParentShards)) return undefined;
        c.ParentShards = v.ParentShards as string[];
    }
    const range = v.HashKeyRange;
    if (range !== undefined && range !== null) {
        if (!plainObject(range)) return undefined;
        const h = {} as NonNullable<ChildShard['HashKeyRange']>;
        if (range.StartingHashKey !== undefined && range.StartingHashKey !== null) h.StartingHashKey = range.StartingHashKey as string;
        if (range.EndingHashKey !== undefined && range.EndingHashKey !== null) h.EndingHashKey = range.EndingHashKey as string;
        c.HashKeyRange = h;
    }
    return c;
}

/**
 * Bodies are parsed in pieces of about this many bytes. V8 allocates everything `JSON.parse` makes from a
 * text of 100 k characters or more directly in the old generation (and a text that long is a large object
 * itself): a 1 000-record answer would leave ~1 MB of garbage there per read, which only a full GC frees —
 * what made the process grow under a backlog. Pieces keep the text and the parsed objects young.
 */
const PIECE_BYTES = 32 * 1024;
const RECORDS_KEY = Buffer.from('"Records":[');
const BETWEEN = Buffer.from('},{"');

/**
 * The next place ≥ from where one object of an array ends and the next begins (`},{"` followed by a
 * member name's first letter: inside a JSON string a `"` is always escaped, and after a string's closing
 * quote no letter may follow, so this is never inside a string), or -1.
 */
function nextBoundary(body: Buffer, from: number, end: number): number {
    for (let at = body.indexOf(BETWEEN, from); at >= 0 && at < end; at = body.indexOf(BETWEEN, at + 1)) {
        const c = body[at + 4] | 0x20;
        if (c >= 0x61 && c <= 0x7a) return at;
    }
    return -1;
}

/**
 * Parses a GetRecords answer body: a small one at once; a larger one as the `Records` array's elements in
 * pieces of ~PIECE_BYTES (each cut at a boundary between two records; their elements go to `head`) plus the
 * rest of the document with the last piece. A cut that was not between two elements of `Records` (an unknown
 * member holding an array of objects, the records array ending before it) leaves a piece that is not JSON:
 * then the body is parsed whole. Throws when the body is not JSON.
 */
function parseBody(body: Buffer, head: unknown[]): unknown {
    const open = body.length <= 2 * PIECE_BYTES ? -1 : body.indexOf(RECORDS_KEY);
    if (open < 0) return JSON.parse(body.toString('utf8'));
    // each piece is read as one JSON array, without copying it into a new text: the `,` after its last
    // record is turned into `]` for the read and then into `[`, which opens the next piece (and put back
    // as `,` before the body is parsed whole, or handed to the SDK)
    let from = open + RECORDS_KEY.length - 1; // the piece's `[`
    const commas: number[] = [];
    const restore = () => {
        for (const at of commas) body[at] = 0x2c; // ,
        commas.length = 0;
    };
    try {
        for (let cut = nextBoundary(body, from + PIECE_BYTES, body.length); cut >= 0; cut = nextBoundary(body, from + PIECE_BYTES, body.length)) {
            commas.push(cut + 1);
            body[cut + 1] = 0x5d; // ]
            const piece = JSON.parse(body.toString('utf8', from, cut + 2)) as unknown[];
            body[cut + 1] = 0x5b; // [
            for (let i = 0; i < piece.length; i++) head.push(piece[i]);
            from = cut + 1;
        }
        if (!commas.length) return JSON.parse(body.toString('utf8'));
        const rest = body.toString('utf8', 0, open + RECORDS_KEY.length) + body.toString('utf8', from + 1);
        restore();
        return JSON.parse(rest);
    } catch {
        restore();
        head.length = 0;
        return JSON.parse(body.toString('utf8'));
    }
}

/**
 * A GetRecords answer body (the bytes of a 200 answer) → the members of `GetRecordsCommandOutput` the
 * SDK would give for it; undefined when the SDK should read it itself (see the file's comment).
 */
export function decodeGetRecords(body: Buffer | string): Decoded | undefined {
    const head: unknown[] = [];
    let j: unknown;
    try {
        j = parseBody(typeof body === 'string' ? Buffer.from(body, 'utf8') : body, head);
    } catch {
        return undefined;
    }
    if (!plainObject(j)) return undefined;
    const out: Decoded = {} as Decoded;
    const list = j.Records;
    if (list !== undefined && list !== null) {
        if (!Array.isArray(list)) return undefined;
        const records: _Record[] = new Array(head.length + list.length);
        for (let i = 0; i < head.length; i++) {
            const r = decodeRecord(head[i]);
            if (!r) return undefined;
            records[i] = r;
        }
        for (let i = 0; i < list.length; i++) {
            const r = decodeRecord(list[i]);
            if (!r) return undefined;
            records[head.length + i] = r;
        }
        out.Records = records;
    } else if (head.length) {
        return undefined;
    }
    if (j.NextShardIterator !== undefined && j.NextShardIterator !== null) out.NextShardIterator = j.NextShardIterator as string;
    const lag = j.MillisBehindLatest;
    if (lag !== undefined && lag !== null) {
        if (typeof lag !== 'number') return undefined;
        out.MillisBehindLatest = lag;
    }
    const children = j.ChildShards;
    if (children !== undefined && children !== null) {
        if (!Array.isArray(children)) return undefined;
        const cs: ChildShard[] = [];
        for (const v of children) {
            const c = decodeChildShard(v);
            if (!c) return undefined;
            cs.push(c);
        }
        out.ChildShards = cs;
    }
    return out;
}

/**
 * Adds the GetRecords decoder to an SDK Kinesis client (once). A client without a middleware stack, or
 * whose SDK speaks another wire protocol than JSON 1.1, is left alone. Returns whether the client has it.
 */
export function useGetRecordsCodec(client: unknown): boolean {
    return installOnce(client, installed, addGetRecordsCodec);
}

function addGetRecordsCodec(stack: MiddlewareClient['middlewareStack']): void {
    stack.add((next, context) => async (args) => {
        if (context.commandName !== 'GetRecordsCommand') return next(args);
        context[RESULT] = undefined;
        const out = await next(args);
        const decoded: Decoded | undefined = context[RESULT];
        context[RESULT] = undefined;
        if (decoded && out?.output) Object.assign(out.output, decoded);
        return out;
    }, { step: 'deserialize', priority: 'high', name: 'kinesisRedGetRecordsOutput' });
    stack.add((next, context) => async (args) => {
        const out = await next(args);
        const response = out?.response;
        if (context.commandName !== 'GetRecordsCommand' || response?.statusCode !== 200) return out;
        const read = readBody(response.body);
        if (!read) return out;
        const body = await read;
        const decoded = decodeGetRecords(body);
        if (decoded) {
            context[RESULT] = decoded;
            response.body = EMPTY_JSON;
        } else {
            response.body = body; // the SDK reads it (or throws its own error)
        }
        return out;
    }, { step: 'deserialize', priority: 'low', name: 'kinesisRedGetRecordsDecode' });
}
