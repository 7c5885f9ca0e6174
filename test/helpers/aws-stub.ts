/**
 * Tiny AWS-compatible HTTP stubs on a free loopback port, for the failure paths and STS that the
 * local stack cannot produce: answers are given by a handler; every request is recorded with the
 * access key ID it was signed with.
 */
import { createServer, IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer as createNetServer, Server as NetServer } from 'node:net';

/** Listens on a free port of 127.0.0.1; resolves to the port. */
export async function listenOnLoopback(server: NetServer): Promise<number> {
    await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve());
    });
    return (server.address() as AddressInfo).port;
}

export interface StubRequest {
    method: string;
    url: string;
    headers: IncomingMessage['headers'];
    body: string;
    /** X-Amz-Target (JSON protocols), e.g. "Kinesis_20131202.ListStreams". */
    target?: string;
    /** Form fields (query protocols such as STS), e.g. Action, RoleArn. */
    form?: Record<string, string>;
    /** The access key ID from the SigV4 Authorization header. */
    accessKeyId?: string;
    /** X-Amz-Security-Token, when sent. */
    sessionToken?: string;
}

export interface StubReply {
    status: number;
    body: string | object;
    headers?: Record<string, string>;
}

export interface Stub {
    url: string;
    port: number;
    requests: StubRequest[];
    close(): Promise<void>;
}

export async function startStub(handler: (req: StubRequest) => StubReply | Promise<StubReply>): Promise<Stub> {
    const requests: StubRequest[] = [];
    const server: Server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
            const body = Buffer.concat(chunks).toString('utf8');
            const auth = String(req.headers.authorization ?? '');
            const m = /Credential=([^/]+)\//.exec(auth);
            const isForm = String(req.headers['content-type'] ?? '').includes('x-www-form-urlencoded');
            const r: StubRequest = {
                method: req.method ?? 'GET',
                url: req.url ?? '/',
                headers: req.headers,
                body,
                target: req.headers['x-amz-target'] as string | undefined,
                form: isForm ? Object.fromEntries(new URLSearchParams(body)) : undefined,
                accessKeyId: m?.[1],
                sessionToken: req.headers['x-amz-security-token'] as string | undefined,
            };
            requests.push(r);
            Promise.resolve()
                .then(() => handler(r))
                .then((reply) => {
                    const text = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
                    res.writeHead(reply.status, { 'content-length': Buffer.byteLength(text), ...(reply.headers ?? {}) });
                    res.end(text);
                })
                .catch((err: Error) => {
                    res.writeHead(500, { 'content-type': 'text/plain' });
                    res.end(String(err?.message ?? err));
                });
        });
    });
    const port = await listenOnLoopback(server);
    return {
        url: `http://127.0.0.1:${port}`,
        port,
        requests,
        close: () => new Promise<void>((resolve) => {
            server.closeAllConnections?.();
            server.close(() => resolve());
        }),
    };
}

/** A Kinesis (JSON 1.1) / DynamoDB (JSON 1.0) error answer. */
export function jsonError(type: string, message: string, status = 400): StubReply {
    return {
        status,
        body: { __type: type, message },
        headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': `${type}:` },
    };
}

/** A successful ListStreams answer. */
export function listStreamsReply(names: string[]): StubReply {
    return { status: 200, body: { StreamNames: names, HasMoreStreams: false, StreamSummaries: [] }, headers: { 'content-type': 'application/x-amz-json-1.1' } };
}

function xmlEscape(s: string): string {
    return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** STS AssumeRole's XML answer. */
export function assumeRoleReply(c: { accessKeyId: string; secretAccessKey: string; sessionToken: string; expiration: Date }): StubReply {
    const body = `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <AssumedRoleUser>
      <AssumedRoleId>AROA3XFRBF535PLBIFPI4:session</AssumedRoleId>
      <Arn>arn:aws:sts::123456789012:assumed-role/demo/session</Arn>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>${xmlEscape(c.accessKeyId)}</AccessKeyId>
      <SecretAccessKey>${xmlEscape(c.secretAccessKey)}</SecretAccessKey>
      <SessionToken>${xmlEscape(c.sessionToken)}</SessionToken>
      <Expiration>${c.expiration.toISOString()}</Expiration>
    </Credentials>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ResponseMetadata>
</AssumeRoleResponse>`;
    return { status: 200, body, headers: { 'content-type': 'text/xml' } };
}

/** An STS (query protocol) error answer. */
export function stsError(code: string, message: string, status = 403): StubReply {
    const body = `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error><Type>Sender</Type><Code>${xmlEscape(code)}</Code><Message>${xmlEscape(message)}</Message></Error>
  <RequestId>4f8f6a64-0000-0000-0000-000000000000</RequestId>
</ErrorResponse>`;
    return { status, body, headers: { 'content-type': 'text/xml' } };
}

/** A loopback port nothing listens on (bound, then closed). */
export function closedPort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const srv = createNetServer();
        srv.on('error', reject);
        srv.listen(0, '127.0.0.1', () => {
            const { port } = srv.address() as AddressInfo;
            srv.close(() => resolve(port));
        });
    });
}
