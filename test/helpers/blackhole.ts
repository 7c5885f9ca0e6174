/**
 * A TCP forwarder on a free loopback port in front of a local server, that can make the connections it
 * carries go silent for good — what a NAT or firewall dropping an idle flow does to a keep-alive
 * connection: no FIN, no RST, bytes simply stop. `silence()` stops forwarding on every connection open
 * now (they stay open, nothing more passes either way); connections opened later work normally.
 */
import { AddressInfo, connect, createServer, Server, Socket } from 'node:net';
import { AwsClients, AwsConnectionOptions, createAwsClients } from '../../lib/aws/clients';
import { localEndpoints } from './stack';

export interface Blackhole {
    url: string;
    /** Connections opened through it so far. */
    readonly connections: number;
    /** Chunks dropped on silenced connections (either way): requests that will never be answered. */
    readonly dropped: number;
    /** Every connection open now goes silent (kept open); later ones are forwarded. */
    silence(): number;
    close(): Promise<void>;
}

export async function startBlackhole(target: string): Promise<Blackhole> {
    const t = new URL(target);
    const live = new Set<{ a: Socket; b: Socket; silent: boolean }>();
    let connections = 0;
    let dropped = 0;
    const server: Server = createServer((a) => {
        connections++;
        const b = connect(Number(t.port), t.hostname);
        const pair = { a, b, silent: false };
        live.add(pair);
        a.on('data', (d) => { if (!pair.silent) b.write(d); else dropped++; });
        b.on('data', (d) => { if (!pair.silent) a.write(d); else dropped++; });
        const end = () => { live.delete(pair); a.destroy(); b.destroy(); };
        // once silent, the server side closing (its keep-alive timeout) never reaches the client either:
        // the client's connection stays open and quiet, as behind a NAT that dropped the flow
        const serverGone = () => { if (pair.silent) b.destroy(); else end(); };
        a.on('close', end);
        b.on('close', serverGone);
        a.on('error', end);
        b.on('error', serverGone);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    return {
        url: `${t.protocol}//127.0.0.1:${port}`,
        get connections() { return connections; },
        get dropped() { return dropped; },
        silence() {
            let n = 0;
            for (const p of live) if (!p.silent) { p.silent = true; n++; }
            return n;
        },
        async close() {
            for (const p of live) { p.a.destroy(); p.b.destroy(); }
            live.clear();
            await new Promise<void>((resolve) => server.close(() => resolve()));
        },
    };
}

/**
 * The package's AWS clients on the local stack (static local keys), with endpoints and socket timeouts
 * overridden: e.g. `{kinesisEndpoint: hole.url, kinesisSocketTimeoutMs: 1000}`.
 */
export function localClients(opts: Partial<AwsConnectionOptions> = {}): AwsClients {
    const e = localEndpoints();
    return createAwsClients({
        region: e.region, kinesisEndpoint: e.kinesis, dynamodbEndpoint: e.dynamodb,
        credentialMode: 'static', accessKeyId: 'local', secretAccessKey: 'local', ...opts,
    });
}
