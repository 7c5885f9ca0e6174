/**
 * Small pieces for codecs that replace one command's wire format through the SDK's public middleware
 * API (lib/consumer/get-records-codec.ts, lib/producer/put-records-codec.ts).
 */

/** The part of an SDK client a codec needs (every SDK v3 client has it). */
export interface MiddlewareClient {
    config?: { protocol?: { getShapeId?: () => string } };
    middlewareStack: {
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        add(mw: (next: any, context: any) => (args: any) => Promise<any>, opts: { step: string; priority?: string; name?: string }): void;
    };
}

/** The wire protocol the Kinesis codecs write and read (the SDK's protocol for Kinesis today). */
export const JSON_1_1 = 'aws.protocols#awsJson1_1';

/** An SDK client (not a test's stand-in without a middleware stack). */
export function isMiddlewareClient(client: unknown): client is MiddlewareClient {
    const stack = (client as MiddlewareClient | undefined)?.middlewareStack;
    return !!stack && typeof stack.add === 'function';
}

/**
 * The client's wire protocol when the SDK names it (schema-based clients: `config.protocol`), else
 * undefined (older clients, whose Kinesis protocol is JSON 1.1).
 */
export function protocolOf(client: MiddlewareClient): string | undefined {
    const p = client.config?.protocol;
    try {
        return typeof p?.getShapeId === 'function' ? String(p.getShapeId()) : undefined;
    } catch {
        return 'unknown';
    }
}

/** A client a JSON 1.1 codec may be added to: an SDK client that speaks JSON 1.1 (or does not say). */
export function speaksJson11(client: unknown): client is MiddlewareClient {
    if (!isMiddlewareClient(client)) return false;
    const protocol = protocolOf(client);
    return protocol === undefined || protocol === JSON_1_1;
}

/** A 200 answer's body for the SDK's deserializer once a codec has read it (`{}`: nothing left for it to read). */
export const EMPTY_JSON = new Uint8Array([0x7b, 0x7d]);

/**
 * Adds a codec's middlewares (`add`) to `client` once per `installed` set: only to an SDK client that speaks
 * JSON 1.1 (a test's stand-in without a middleware stack, or a client whose SDK speaks another wire protocol
 * — a later SDK release may — is left alone). Returns whether the client has the codec.
 */
export function installOnce(client: unknown, installed: WeakSet<object>, add: (stack: MiddlewareClient['middlewareStack']) => void): boolean {
    if (!speaksJson11(client)) return false;
    if (installed.has(client)) return true;
    installed.add(client);
    add(client.middlewareStack);
    return true;
}

/**
 * Reads a whole response body (bytes, or a Node stream) into one Buffer; undefined for anything else. Rejects when
 * the stream fails or closes before its end (named ECONNRESET: the SDK's and the reader's retry rules see a network error).
 */
export function readBody(body: unknown): Promise<Buffer> | undefined {
    if (body instanceof Uint8Array) return Promise.resolve(Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength));
    const stream = body as NodeJS.ReadableStream | undefined;
    if (!stream || typeof stream.on !== 'function') return undefined;
    return new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        let ended = false;
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
            ended = true;
            resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
        });
        stream.on('error', reject);
        // destroyed (an abort, a reset) without an error: settle anyway
        stream.on('close', () => {
            if (!ended) reject(Object.assign(new Error('response closed before its end'), { name: 'ECONNRESET' }));
        });
    });
}
