/**
 * HTTP(S) proxy for the AWS calls of one connection: the standard HTTPS_PROXY / HTTP_PROXY /
 * NO_PROXY variables (lower-case too), or an explicit proxy URL (kinesis-config's Proxy field,
 * user name and password from its credential store).
 *
 * Every request is tunnelled with HTTP CONNECT (the proxy sees host:port, never the signed request),
 * HTTP/1.1 and HTTP/2 (SubscribeToShard on AWS) alike: `tunnel()` returns a Duplex at once and
 * connects behind it, so it fits both http.Agent#createConnection and http2.connect's
 * createConnection. The instance-metadata and container credential endpoints (169.254.169.254,
 * 169.254.170.2) are never proxied: the SDK's credential providers do not use these agents.
 *
 * Errors of the proxy itself carry `name` 'ProxyError', `$proxy` (the proxy URL without user name
 * and password) and a message saying that the proxy, not AWS, is the problem.
 */
import { Agent as HttpAgent, AgentOptions } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { connect as netConnect, isIP, Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { connect as tlsConnect, ConnectionOptions, TLSSocket } from 'node:tls';

export interface ProxySettings {
    /** http://host:port (https:// proxies are not supported). */
    url: URL;
    username?: string;
    password?: string;
}

export interface ProxyOptions {
    /** Explicit proxy URL; empty = the environment variables. */
    proxyUrl?: string;
    proxyUsername?: string;
    proxyPassword?: string;
    env?: NodeJS.ProcessEnv;
}

function clean(v: string | undefined): string | undefined {
    const t = (v ?? '').trim();
    return t === '' ? undefined : t;
}

/** The proxy URL for display: scheme, host and port only (never a user name or password). */
export function proxyLabel(url: URL): string {
    return `${url.protocol}//${url.host}`;
}

/** A problem with a proxy URL in words (without its user name or password), or undefined. */
export function checkProxyUrl(text: string | undefined): string | undefined {
    if (text === undefined) return undefined;
    let url: URL;
    try {
        url = new URL(text.includes('://') ? text : `http://${text}`);
    } catch {
        return 'proxy URL is not a URL (expected e.g. http://proxy.example.com:3128)';
    }
    if (url.protocol !== 'http:') return `proxy URL must start with http:// (got ${url.protocol}//)`;
    if (!url.hostname) return 'proxy URL has no host';
    return undefined;
}

/** Whether NO_PROXY (comma/space separated: host, .domain, *.domain, host:port, IP, '*') excludes this host. */
export function noProxyMatches(noProxy: string | undefined, host: string, port: string): boolean {
    const list = (noProxy ?? '').split(/[\s,]+/).map((s) => s.trim().toLowerCase()).filter(Boolean);
    const h = host.toLowerCase().replace(/^\[|\]$/g, '');
    for (const raw of list) {
        if (raw === '*') return true;
        let entry = raw;
        let entryPort: string | undefined;
        const m = /^(.*):(\d+)$/.exec(entry);
        if (m && !entry.includes(']') && (entry.match(/:/g) ?? []).length === 1) {
            entry = m[1];
            entryPort = m[2];
        }
        if (entryPort && entryPort !== port) continue;
        entry = entry.replace(/^\*?\./, '.').replace(/^\[|\]$/g, '');
        if (entry.startsWith('.')) {
            if (h.endsWith(entry) || h === entry.slice(1)) return true;
        } else if (h === entry || h.endsWith(`.${entry}`)) {
            return true;
        }
    }
    return false;
}

/**
 * The proxy to use for requests to `target` (an endpoint URL), or undefined for a direct
 * connection. Explicit settings win over the environment; NO_PROXY applies to both.
 */
export function resolveProxy(target: string, opts: ProxyOptions): ProxySettings | undefined {
    const env = opts.env ?? process.env;
    let t: URL;
    try {
        t = new URL(target);
    } catch {
        return undefined;
    }
    const port = t.port || (t.protocol === 'https:' ? '443' : '80');
    if (['169.254.169.254', '169.254.170.2', 'fd00:ec2::254'].includes(t.hostname.replace(/^\[|\]$/g, ''))) return undefined;
    const explicit = clean(opts.proxyUrl);
    const fromEnv = t.protocol === 'https:'
        ? clean(env.HTTPS_PROXY) ?? clean(env.https_proxy)
        : clean(env.HTTP_PROXY) ?? clean(env.http_proxy);
    const text = explicit ?? fromEnv;
    if (!text) return undefined;
    if (noProxyMatches(clean(env.NO_PROXY) ?? clean(env.no_proxy), t.hostname, port)) return undefined;
    if (checkProxyUrl(text)) return undefined; // reported by checkProxyUrl where settings are checked
    const url = new URL(text.includes('://') ? text : `http://${text}`);
    const username = clean(opts.proxyUsername) ?? (url.username ? decodeURIComponent(url.username) : undefined);
    const password = clean(opts.proxyPassword) ?? (url.password ? decodeURIComponent(url.password) : undefined);
    url.username = '';
    url.password = '';
    return { url, username, password };
}

export class ProxyError extends Error {
    readonly $proxy: string;
    readonly statusCode?: number;
    constructor(message: string, proxy: URL, statusCode?: number) {
        super(message);
        this.name = 'ProxyError';
        this.$proxy = proxyLabel(proxy);
        this.statusCode = statusCode;
    }
}

/** Requests sent through tunnels (tests, status). */
export const proxyStats = { tunnels: 0 };

/**
 * Opens a CONNECT tunnel to host:port through the proxy; `cb` gets the proxy connection once the
 * proxy answered 200 (a raw byte stream to host:port), or a ProxyError in words.
 */
export function openTunnel(
    proxy: ProxySettings,
    host: string,
    port: number,
    cb: (err: Error | null, socket?: Socket) => void,
    timeoutMs = 10_000,
): Socket {
    const label = proxyLabel(proxy.url);
    const authority = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    let finished = false;
    const socket = netConnect({ host: proxy.url.hostname.replace(/^\[|\]$/g, ''), port: Number(proxy.url.port || 80) });
    const finish = (err: Error | null) => {
        if (finished) return;
        finished = true;
        socket.off('readable', onReadable);
        socket.off('error', onError);
        socket.setTimeout(0);
        if (err) {
            socket.destroy();
            cb(err);
        } else {
            cb(null, socket);
        }
    };
    const fail = (message: string, status?: number) => finish(new ProxyError(message, proxy.url, status));
    const onError = (err: NodeJS.ErrnoException) => fail(`cannot reach the proxy ${label} (${err.code ?? err.message}) — check the proxy URL or HTTPS_PROXY / HTTP_PROXY`);
    socket.setTimeout(timeoutMs, () => fail(`proxy ${label} did not answer within ${timeoutMs / 1000} s`));
    socket.on('error', onError);
    socket.once('connect', () => {
        proxyStats.tunnels++;
        let head = `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n`;
        if (proxy.username !== undefined) {
            head += `Proxy-Authorization: Basic ${Buffer.from(`${proxy.username}:${proxy.password ?? ''}`).toString('base64')}\r\n`;
        }
        socket.write(`${head}\r\n`);
    });
    let buffered = Buffer.alloc(0);
    // 'readable' + read(): nothing is consumed past the answer's head (the rest is unshifted), and
    // the socket is handed over paused, for the HTTP client or TLS to read.
    function onReadable(): void {
        let chunk: Buffer | null;
        while (!finished && (chunk = socket.read() as Buffer | null) !== null) {
            buffered = Buffer.concat([buffered, chunk]);
            const end = buffered.indexOf('\r\n\r\n');
            if (end < 0) {
                if (buffered.length > 16_384) fail(`proxy ${label} sent an answer that is not HTTP`);
                continue;
            }
            const statusLine = buffered.subarray(0, buffered.indexOf('\r\n')).toString('latin1');
            const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
            const status = m ? Number(m[1]) : 0;
            if (status !== 200) {
                const why = status === 407
                    ? 'proxy authentication required or rejected — check the proxy user name and password'
                    : status === 0 ? 'not an HTTP answer' : `answered ${statusLine.slice(0, 80).replace(/[^\x20-\x7e]/g, '')}`;
                fail(`the proxy ${label} refused the connection to ${authority}: ${why}`, status || undefined);
                return;
            }
            const rest = buffered.subarray(end + 4);
            if (rest.length) socket.unshift(rest);
            finish(null);
            return;
        }
    }
    socket.on('readable', onReadable);
    return socket;
}

/**
 * A Duplex at once (http2.connect's createConnection must return one synchronously) that becomes
 * the tunnel's byte stream once the proxy answered; bytes written before wait, a refusal destroys
 * it with the ProxyError.
 */
export function tunnel(proxy: ProxySettings, host: string, port: number, timeoutMs = 10_000): Duplex {
    let socket: Socket | undefined;
    const waiting: Array<() => void> = [];
    const duplex = new Duplex({
        write(chunk, _enc, cb) {
            if (socket) socket.write(chunk, cb);
            else waiting.push(() => socket!.write(chunk, cb));
        },
        final(cb) {
            if (socket) { socket.end(); cb(); } else waiting.push(() => { socket!.end(); cb(); });
        },
        read() {
            socket?.resume();
        },
        destroy(err, cb) {
            socket?.destroy();
            cb(err);
        },
    });
    openTunnel(proxy, host, port, (err, s) => {
        if (err || !s) {
            duplex.destroy(err ?? undefined);
            return;
        }
        socket = s;
        s.on('data', (d: Buffer) => {
            if (!duplex.push(d)) s.pause();
        });
        s.on('end', () => duplex.push(null));
        s.on('error', (e) => duplex.destroy(e));
        s.on('close', () => duplex.destroy());
        for (const go of waiting.splice(0)) go();
    }, timeoutMs);
    return duplex;
}

type Callback = (err: Error | null, stream: Duplex) => void;

/** http.Agent for plain-HTTP endpoints, through the proxy (CONNECT). */
export class ProxyHttpAgent extends HttpAgent {
    constructor(private readonly proxy: ProxySettings, opts: AgentOptions = {}) {
        super(opts);
    }
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    override createConnection(options: any, cb?: Callback): undefined {
        openTunnel(this.proxy, options.host ?? options.hostname ?? 'localhost', Number(options.port ?? 80), (err, socket) => {
            cb?.(err, socket as Duplex);
        });
        return undefined;
    }
}

/** https.Agent for HTTPS endpoints: TLS to the endpoint inside the CONNECT tunnel. */
export class ProxyHttpsAgent extends HttpsAgent {
    constructor(private readonly proxy: ProxySettings, opts: AgentOptions = {}) {
        super(opts);
    }
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    override createConnection(options: any, cb?: Callback): undefined {
        const host = options.host ?? options.hostname ?? 'localhost';
        openTunnel(this.proxy, host, Number(options.port ?? 443), (err, socket) => {
            if (err || !socket) {
                cb?.(err ?? new Error('no tunnel'), undefined as never);
                return;
            }
            const servername = options.servername ?? (isIP(host) ? undefined : host);
            cb?.(null, tlsConnect({ ...(options as ConnectionOptions), socket, ...(servername ? { servername } : {}) }));
        });
        return undefined;
    }
}

/** http2.connect's createConnection: TLS with ALPN h2 inside a CONNECT tunnel. */
export function http2ProxyConnect(proxy: ProxySettings): (authority: URL, options: ConnectionOptions) => TLSSocket {
    return (authority, options) => {
        const host = authority.hostname.replace(/^\[|\]$/g, '');
        const raw = tunnel(proxy, host, Number(authority.port || 443));
        const tls = tlsConnect({ ...options, socket: raw, ...(isIP(host) ? {} : { servername: host }), ALPNProtocols: ['h2'] });
        raw.once('error', (err) => tls.destroy(err));
        return tls;
    };
}
