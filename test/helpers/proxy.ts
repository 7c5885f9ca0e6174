/**
 * A small HTTP proxy on a free loopback port for tests: CONNECT tunnels (what lib/aws/proxy.ts
 * uses) and plain-HTTP forwarding (absolute-URI requests), optional Basic authentication (407
 * without it), and only loopback targets (anything else is refused with 403: tests never leave
 * the machine). Counts what went through it.
 */
import { createServer, IncomingMessage, request as httpRequest, Server } from 'node:http';
import { connect as netConnect, Socket } from 'node:net';
import { listenOnLoopback } from './aws-stub';

export interface TestProxy {
    url: string;
    port: number;
    /** CONNECT tunnels opened (authority per tunnel, e.g. "127.0.0.1:4567"). */
    tunnels: string[];
    /** Plain-HTTP requests forwarded. */
    forwarded: string[];
    /** Requests refused for missing/wrong credentials. */
    refused: number;
    close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export async function startProxy(opts: { username?: string; password?: string } = {}): Promise<TestProxy> {
    const sockets = new Set<Socket>();
    const expected = opts.username !== undefined ? `Basic ${Buffer.from(`${opts.username}:${opts.password ?? ''}`).toString('base64')}` : undefined;
    const state = { tunnels: [] as string[], forwarded: [] as string[], refused: 0 };
    const authorised = (req: IncomingMessage) => !expected || req.headers['proxy-authorization'] === expected;

    const server: Server = createServer((req, res) => {
        // plain-HTTP forwarding: GET http://host:port/path
        if (!authorised(req)) {
            state.refused++;
            res.writeHead(407, { 'proxy-authenticate': 'Basic realm="test"' });
            res.end();
            return;
        }
        let target: URL;
        try {
            target = new URL(req.url ?? '');
        } catch {
            res.writeHead(400);
            res.end();
            return;
        }
        if (!LOOPBACK.has(target.hostname)) {
            res.writeHead(403);
            res.end('only loopback');
            return;
        }
        state.forwarded.push(target.host);
        const headers = { ...req.headers };
        delete headers['proxy-authorization'];
        const up = httpRequest({ host: target.hostname, port: target.port, path: `${target.pathname}${target.search}`, method: req.method, headers }, (r) => {
            res.writeHead(r.statusCode ?? 502, r.headers);
            r.pipe(res);
        });
        up.on('error', () => {
            res.writeHead(502);
            res.end();
        });
        req.pipe(up);
    });
    server.on('connection', (s: Socket) => {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
    });
    server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
        if (!authorised(req)) {
            state.refused++;
            client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n');
            return;
        }
        const authority = req.url ?? '';
        const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(authority);
        if (!m || !LOOPBACK.has(m[1])) {
            client.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
            return;
        }
        state.tunnels.push(authority);
        const up = netConnect({ host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) }, () => {
            client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
            if (head.length) up.write(head);
            up.pipe(client);
            client.pipe(up);
        });
        sockets.add(up);
        up.on('close', () => sockets.delete(up));
        up.on('error', () => client.destroy());
        client.on('error', () => up.destroy());
    });
    const port = await listenOnLoopback(server);
    return {
        url: `http://127.0.0.1:${port}`,
        port,
        get tunnels() { return state.tunnels; },
        get forwarded() { return state.forwarded; },
        get refused() { return state.refused; },
        close: () => new Promise<void>((resolve) => {
            for (const s of sockets) s.destroy();
            server.close(() => resolve());
        }),
    };
}
