/**
 * AWS clients for one connection (one `kinesis-config` node).
 *
 * - region: explicit, else AWS_REGION / AWS_DEFAULT_REGION, else the SDK's own resolution
 *   (shared config file); a missing region is reported by `resolveRegion` in words.
 * - endpoints: explicit override, else the SDK's standard env vars
 *   (AWS_ENDPOINT_URL_KINESIS, AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL) keep working.
 * - an endpoint override that is not AWS's own (http://, or https:// on another domain) gets an
 *   HTTP/1.1 handler (kinesis-local serves SubscribeToShard over HTTP/1.1 only); AWS itself keeps
 *   the SDK default (HTTP/2 for Kinesis). See httpHandlerFor.
 * - proxy: see ./proxy.ts (HTTPS_PROXY / HTTP_PROXY / NO_PROXY, or the explicit proxy URL), for
 *   Kinesis, DynamoDB and STS; every request through a CONNECT tunnel, Kinesis on AWS keeps HTTP/2.
 * - credentials: see ./credentials.ts.
 * - logger: QUIET_LOGGER (see there): the SDK's default logger deep-copies every answer.
 *
 * Retry budget per caller (DESIGN.md "Retry budget"): `kinesis` and `dynamodb` make up to
 * `maxAttempts` (3) HTTP attempts per call (the SDK's standard retry of throttling / 5xx / network
 * errors) — for the consumer's readers and lease table, whose loops call again on their next round;
 * `producerKinesis` makes exactly one attempt per call: the producer retries failed entries itself
 * (`maxRetries`), so a record costs at most 1 + maxRetries requests.
 */
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { NodeHttp2Handler, NodeHttpHandler } from '@smithy/node-http-handler';
import type { AwsCredentialIdentityProvider, Logger } from '@smithy/types';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { buildCredentialProvider, ConfigProblem, CredentialOptions, credentialProblems } from './credentials';
import { checkProxyUrl, http2ProxyConnect, ProxyHttpAgent, ProxyHttpsAgent, proxyLabel, ProxySettings, resolveProxy } from './proxy';

export interface AwsConnectionOptions extends CredentialOptions {
    /** AWS region; empty = AWS_REGION / AWS_DEFAULT_REGION / shared config. */
    region?: string;
    /** Kinesis endpoint override; empty = AWS_ENDPOINT_URL_KINESIS / AWS_ENDPOINT_URL / AWS. */
    kinesisEndpoint?: string;
    /** DynamoDB endpoint override; empty = AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL / AWS. */
    dynamodbEndpoint?: string;
    /** SDK retry attempts for one call (the SDK's own retry of throttling / 5xx). Default 3. */
    maxAttempts?: number;
    /** A DynamoDB call fails (and is retried) after this long without a byte from the server. Default DYNAMODB_SOCKET_TIMEOUT_MS. */
    dynamodbSocketTimeoutMs?: number;
    /** The same for the producer's PutRecords calls. Default PRODUCER_SOCKET_TIMEOUT_MS. */
    producerSocketTimeoutMs?: number;
    /** The same for the readers' Kinesis calls (not SubscribeToShard). Default KINESIS_SOCKET_TIMEOUT_MS. */
    kinesisSocketTimeoutMs?: number;
    /** Environment to read the standard variables from (default process.env; tests pass their own). */
    env?: NodeJS.ProcessEnv;
    /** HTTP proxy URL (http://host:port); empty = HTTPS_PROXY / HTTP_PROXY (NO_PROXY applies to both). */
    proxyUrl?: string;
    /** Proxy user name and password (credential store); also accepted inside the URL of the env vars. */
    proxyUsername?: string;
    proxyPassword?: string;
}

export interface AwsClients {
    /** Kinesis with the SDK's retries (maxAttempts) — readers, probes; HTTP/1.1 with a socket timeout. */
    readonly kinesis: KinesisClient;
    /**
     * Kinesis for SubscribeToShard (Enhanced Fan-Out; created on first use): no socket timeout, and on AWS the
     * SDK's HTTP/2 (which SubscribeToShard needs there).
     */
    readonly subscribeKinesis: KinesisClient;
    /** Kinesis with one HTTP attempt per call — the producer, which retries on its own (created on first use). */
    readonly producerKinesis: KinesisClient;
    readonly dynamodb: DynamoDBClient;
    /** Region as configured or from the environment; undefined = left to the SDK (shared config). */
    readonly region: string | undefined;
    /** Effective endpoints (undefined = AWS). */
    readonly kinesisEndpoint: string | undefined;
    readonly dynamodbEndpoint: string | undefined;
    readonly credentials: AwsCredentialIdentityProvider;
    /** The proxy Kinesis calls go through, as http://host:port (no user name or password); undefined = direct. */
    readonly proxy: string | undefined;
    /** A few words naming where this connection goes, e.g. "us-east-1" or "http://127.0.0.1:4568". */
    describe(): string;
    destroy(): void;
}

function clean(value: string | undefined): string | undefined {
    const v = (value ?? '').trim();
    return v === '' ? undefined : v;
}

export function resolveRegion(opts: AwsConnectionOptions): string | undefined {
    const env = opts.env ?? process.env;
    return clean(opts.region) ?? clean(env.AWS_REGION) ?? clean(env.AWS_DEFAULT_REGION);
}

/** The endpoint a service will use: explicit override, else the SDK's standard env vars. */
export function resolveEndpoint(
    service: 'kinesis' | 'dynamodb',
    explicit: string | undefined,
    env: NodeJS.ProcessEnv = process.env,
): string | undefined {
    const specific = service === 'kinesis' ? env.AWS_ENDPOINT_URL_KINESIS : env.AWS_ENDPOINT_URL_DYNAMODB;
    if (clean(explicit)) return clean(explicit);
    if (String(env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS).toLowerCase() === 'true') return undefined;
    return clean(specific) ?? clean(env.AWS_ENDPOINT_URL);
}

/** AWS region names: eu-west-1, us-gov-west-1, cn-northwest-1, ap-southeast-7, … */
export const REGION_PATTERN = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;

/** Regions known when this was released (new ones still work: this list only adds a hint). */
export const KNOWN_REGIONS: readonly string[] = [
    'us-east-1', 'us-east-2', 'us-west-1', 'us-west-2', 'af-south-1', 'ap-east-1', 'ap-east-2', 'ap-south-1', 'ap-south-2',
    'ap-southeast-1', 'ap-southeast-2', 'ap-southeast-3', 'ap-southeast-4', 'ap-southeast-5', 'ap-southeast-6', 'ap-southeast-7',
    'ap-northeast-1', 'ap-northeast-2', 'ap-northeast-3', 'ca-central-1', 'ca-west-1', 'eu-central-1', 'eu-central-2',
    'eu-west-1', 'eu-west-2', 'eu-west-3', 'eu-south-1', 'eu-south-2', 'eu-north-1', 'il-central-1', 'me-south-1',
    'me-central-1', 'mx-central-1', 'sa-east-1', 'us-gov-east-1', 'us-gov-west-1', 'cn-north-1', 'cn-northwest-1',
];

/**
 * Validates a region name; returns a message in words, or undefined when fine. With an endpoint
 * override (a local stack) any simple name is accepted; towards AWS it must look like a region.
 */
export function checkRegion(region: string | undefined, hasEndpoint = false): string | undefined {
    if (region === undefined) return undefined;
    if (REGION_PATTERN.test(region)) return undefined;
    if (hasEndpoint && /^[a-z0-9][a-z0-9-]{0,31}$/.test(region)) return undefined;
    return `region "${region}" is not an AWS region name (e.g. us-east-1, eu-west-1)`;
}

/** Validates an endpoint URL; returns an error message in words, or undefined when fine. */
export function checkEndpoint(url: string | undefined): string | undefined {
    if (url === undefined) return undefined;
    let parsed: URL;
    try {
        parsed = new URL(url);
    } catch {
        return `endpoint "${url}" is not a URL (expected e.g. http://127.0.0.1:4568)`;
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
        return `endpoint "${url}" must start with http:// or https://`;
    }
    if (parsed.username || parsed.password) return `endpoint "${parsed.host}" must not contain a user name or password`;
    return undefined;
}

/**
 * Everything that makes a connection's settings unusable, with codes (for status texts) and words.
 * Empty when `createAwsClients` can build the clients.
 */
export function checkConnectionOptions(opts: AwsConnectionOptions): ConfigProblem[] {
    const env = opts.env ?? process.env;
    const problems: ConfigProblem[] = [];
    const kinesisEndpoint = resolveEndpoint('kinesis', opts.kinesisEndpoint, env);
    const dynamodbEndpoint = resolveEndpoint('dynamodb', opts.dynamodbEndpoint, env);
    const region = resolveRegion(opts);
    const regionProblem = checkRegion(region, kinesisEndpoint !== undefined);
    if (regionProblem) problems.push({ code: 'bad-region', message: regionProblem });
    for (const [what, e] of [['Kinesis', kinesisEndpoint], ['DynamoDB', dynamodbEndpoint], ['STS', clean(opts.stsEndpoint)]] as const) {
        const problem = checkEndpoint(e);
        if (problem) problems.push({ code: 'bad-endpoint', message: `${what} ${problem}` });
    }
    const proxyText = clean(opts.proxyUrl);
    const proxyProblem = checkProxyUrl(proxyText);
    if (proxyProblem) problems.push({ code: 'bad-proxy', message: proxyProblem });
    else if (proxyText && /^[a-z]+:\/\/[^/]*@/i.test(proxyText)) {
        // the Proxy URL is a flow property (exported with the flow): credentials go in the credential fields
        problems.push({ code: 'bad-proxy', message: 'proxy URL must not contain a user name or password (use Proxy user and Proxy password)' });
    }
    for (const name of ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'] as const) {
        const v = proxyText ? undefined : clean(env[name]);
        const p = checkProxyUrl(v);
        if (p) {
            problems.push({ code: 'bad-proxy', message: `${name}: ${p}` });
            break;
        }
    }
    problems.push(...credentialProblems(opts));
    return problems;
}

/** Thrown by `createAwsClients` when the settings cannot work; `problems` has the details. */
export class AwsConfigError extends Error {
    readonly problems: ConfigProblem[];
    constructor(problems: ConfigProblem[]) {
        super(`AWS connection settings cannot work: ${problems.map((p) => p.message).join('; ')}`);
        this.name = 'AwsConfigError';
        this.problems = problems;
    }
}

/** AWS's own endpoint domains (regional, FIPS, dual-stack, VPC endpoints, China). */
const AWS_HOST = /(^|\.)(amazonaws\.com|amazonaws\.com\.cn|api\.aws)$/i;

/**
 * DynamoDB calls (lease renewals, checkpoints, takes, shard sync) fail after this long without a byte
 * from the server, and the SDK retries them (a TimeoutError is transient). Without it a connection that
 * went dead without a FIN or RST (a NAT or firewall dropping an idle flow, a host gone) keeps a lease
 * write waiting forever — and every later write of that lease waits behind it. DynamoDB answers in
 * milliseconds; a Scan of a large lease table streams.
 */
export const DYNAMODB_SOCKET_TIMEOUT_MS = 10_000;

/**
 * The producer's Kinesis client (PutRecords / PutRecord only): its calls fail after this long without a
 * byte from the server, and the producer retries the records (a TimeoutError is retryable). Without it a
 * connection that died silently would hold a request — and its records, their messages, one of the
 * producer's in-flight slots — forever. It speaks HTTP/1.1 (keep-alive) to AWS too: it never subscribes.
 */
export const PRODUCER_SOCKET_TIMEOUT_MS = 20_000;

/**
 * The readers' Kinesis client (GetRecords, GetShardIterator, ListShards, DescribeStreamSummary, consumer
 * registration): the same for its calls, so that a silently dead connection cannot hold the shard sync or a
 * start for good. SubscribeToShard goes through its own client without one (`subscribeKinesis`): a
 * subscription is quiet while a slow flow holds its events back.
 */
export const KINESIS_SOCKET_TIMEOUT_MS = 30_000;

/**
 * The request handler for an endpoint. Any endpoint other than AWS's own (kinesis-local, dynalite, a
 * proxy) gets HTTP/1.1 with keep-alive: kinesis-local and dynalite speak only HTTP/1.1 on plain ports,
 * and kinesis-local's HTTPS port garbles some HTTP/2 answers ("Protocol error") while serving every
 * call, SubscribeToShard included, over HTTP/1.1. AWS itself keeps the SDK default (undefined: HTTP/2
 * for Kinesis, which SubscribeToShard needs there) unless a `socketTimeout` is asked for — the clients
 * that never subscribe (DynamoDB, the readers', the producer's): then HTTP/1.1 keep-alive too, failing
 * a call after that long without a byte from the server.
 */
export function httpHandlerFor(endpoint: string | undefined, proxy?: ProxySettings, socketTimeout?: number): NodeHttpHandler | undefined {
    if (!endpoint) return undefined;
    const idle = socketTimeout ? { socketTimeout } : {};
    if (proxy) {
        return new NodeHttpHandler({
            httpAgent: new ProxyHttpAgent(proxy, { keepAlive: true, maxSockets: 64 }),
            httpsAgent: new ProxyHttpsAgent(proxy, { keepAlive: true, maxSockets: 64 }),
            connectionTimeout: 10_000,
            requestTimeout: 0,
            ...idle,
        });
    }
    let url: URL;
    try {
        url = new URL(endpoint);
    } catch (_) {
        return undefined;
    }
    if (url.protocol === 'http:') {
        return new NodeHttpHandler({
            httpAgent: new HttpAgent({ keepAlive: true, maxSockets: 64 }),
            connectionTimeout: 5_000,
            requestTimeout: 0,
            ...idle,
        });
    }
    if (url.protocol === 'https:' && (socketTimeout || !AWS_HOST.test(url.hostname))) {
        // AWS itself keeps the SDK's default handler unless a socket timeout is wanted (DynamoDB)
        return new NodeHttpHandler({
            httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: 64 }),
            connectionTimeout: 5_000,
            requestTimeout: 0,
            ...idle,
        });
    }
    return undefined;
}

/** AWS's own endpoint of a service in a region (where requests go without an override). */
export function awsEndpoint(service: 'kinesis' | 'dynamodb' | 'sts', region: string | undefined): string {
    const r = region ?? 'us-east-1';
    return `https://${service}.${r}.amazonaws.com${r.startsWith('cn-') ? '.cn' : ''}`;
}

/**
 * The request handler of one service with the proxy that applies to it: an endpoint override
 * through the proxy → HTTP/1.1 handler with tunnelling agents; AWS's own Kinesis → HTTP/2 with a
 * tunnelled connection (SubscribeToShard needs HTTP/2 there); AWS's own DynamoDB / STS → HTTP/1.1.
 */
export function proxiedHandler(
    service: 'kinesis' | 'dynamodb' | 'sts',
    endpoint: string | undefined,
    region: string | undefined,
    opts: AwsConnectionOptions,
): { handler?: NodeHttpHandler | NodeHttp2Handler; proxy?: ProxySettings } {
    const proxy = resolveProxy(endpoint ?? awsEndpoint(service, region), opts);
    // DynamoDB: always a handler of ours, with the socket timeout (AWS's endpoint too)
    if (service === 'dynamodb') return { proxy, handler: httpHandlerFor(endpoint ?? awsEndpoint(service, region), proxy, opts.dynamodbSocketTimeoutMs ?? DYNAMODB_SOCKET_TIMEOUT_MS) };
    if (!proxy) return { handler: service === 'sts' ? undefined : httpHandlerFor(endpoint) };
    if (!endpoint && service === 'kinesis') {
        return {
            proxy,
            handler: new NodeHttp2Handler({
                disableConcurrentStreams: true,
                nodeHttp2ConnectOptions: { createConnection: http2ProxyConnect(proxy) as never },
            }),
        };
    }
    return { proxy, handler: httpHandlerFor(endpoint ?? awsEndpoint(service, region), proxy) };
}

/**
 * The SDK's logger middleware calls `logger.info({input: filter(input), output: filter(output)})` after
 * every call when the logger has an `info` method — the default (a no-op logger) has one, so every
 * GetRecords answer is deep-copied through the sensitive-data filter only to be thrown away (~1.4 µs
 * per record). This logger has no `info`, so the middleware skips building that copy; nothing is logged
 * either way (failures reach the nodes as errors).
 */
export const QUIET_LOGGER = { debug: () => undefined, warn: () => undefined, error: () => undefined } as unknown as Logger;

export function createAwsClients(opts: AwsConnectionOptions): AwsClients {
    const env = opts.env ?? process.env;
    const region = resolveRegion(opts);
    const kinesisEndpoint = resolveEndpoint('kinesis', opts.kinesisEndpoint, env);
    const dynamodbEndpoint = resolveEndpoint('dynamodb', opts.dynamodbEndpoint, env);
    const problems = checkConnectionOptions(opts);
    if (problems.length > 0) throw new AwsConfigError(problems);
    const sts = proxiedHandler('sts', clean(opts.stsEndpoint) ?? clean(env.AWS_ENDPOINT_URL_STS), region, opts);
    const credentials = buildCredentialProvider(opts, region, sts.handler);
    const maxAttempts = opts.maxAttempts ?? 3;
    const kinesisRoute = proxiedHandler('kinesis', kinesisEndpoint, region, opts);
    const dynamoHandler = proxiedHandler('dynamodb', dynamodbEndpoint, region, opts).handler;
    const kinesisClient = (attempts: number, handler: NodeHttpHandler | NodeHttp2Handler | undefined) => new KinesisClient({
        ...(region ? { region } : {}),
        ...(kinesisEndpoint ? { endpoint: kinesisEndpoint } : {}),
        // a handler per client: destroying one client must not close the other's connections
        ...(handler ? { requestHandler: handler } : {}),
        credentials,
        maxAttempts: attempts,
        logger: QUIET_LOGGER,
    });
    const kinesisTarget = kinesisEndpoint ?? awsEndpoint('kinesis', region);
    const kinesis = kinesisClient(maxAttempts, httpHandlerFor(kinesisTarget, kinesisRoute.proxy, opts.kinesisSocketTimeoutMs ?? KINESIS_SOCKET_TIMEOUT_MS));
    let subscribeKinesis: KinesisClient | undefined;
    let producerKinesis: KinesisClient | undefined;
    const dynamodb = new DynamoDBClient({
        ...(region ? { region } : {}),
        ...(dynamodbEndpoint ? { endpoint: dynamodbEndpoint } : {}),
        ...(dynamoHandler ? { requestHandler: dynamoHandler } : {}),
        credentials,
        maxAttempts,
        logger: QUIET_LOGGER,
    });
    return {
        kinesis,
        get producerKinesis() {
            producerKinesis ??= kinesisClient(1, httpHandlerFor(kinesisTarget, kinesisRoute.proxy, opts.producerSocketTimeoutMs ?? PRODUCER_SOCKET_TIMEOUT_MS));
            return producerKinesis;
        },
        get subscribeKinesis() {
            subscribeKinesis ??= kinesisClient(maxAttempts, kinesisRoute.handler);
            return subscribeKinesis;
        },
        dynamodb,
        region,
        proxy: kinesisRoute.proxy ? proxyLabel(kinesisRoute.proxy.url) : undefined,
        kinesisEndpoint,
        dynamodbEndpoint,
        credentials,
        describe() {
            return kinesisEndpoint ?? region ?? 'default region';
        },
        destroy() {
            kinesis.destroy();
            subscribeKinesis?.destroy();
            producerKinesis?.destroy();
            dynamodb.destroy();
        },
    };
}
