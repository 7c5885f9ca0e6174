/**
 * AWS clients for one connection (one `kinesis-config` node).
 *
 * - region: explicit, else AWS_REGION / AWS_DEFAULT_REGION, else the SDK's own resolution
 *   (shared config file); a missing region is reported by `resolveRegion` in words.
 * - endpoints: explicit override, else the SDK's standard env vars
 *   (AWS_ENDPOINT_URL_KINESIS, AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL) keep working.
 * - a plain `http://` endpoint gets an HTTP/1.1 handler (kinesis-local serves SubscribeToShard
 *   over HTTP/1.1 only); AWS itself keeps the SDK default (HTTP/2 for Kinesis).
 * - credentials: see ./credentials.ts.
 */
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { Agent as HttpAgent } from 'node:http';
import { buildCredentialProvider, CredentialOptions } from './credentials';

export interface AwsConnectionOptions extends CredentialOptions {
    /** AWS region; empty = AWS_REGION / AWS_DEFAULT_REGION / shared config. */
    region?: string;
    /** Kinesis endpoint override; empty = AWS_ENDPOINT_URL_KINESIS / AWS_ENDPOINT_URL / AWS. */
    kinesisEndpoint?: string;
    /** DynamoDB endpoint override; empty = AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL / AWS. */
    dynamodbEndpoint?: string;
    /** SDK retry attempts for one call (the SDK's own retry of throttling / 5xx). Default 3. */
    maxAttempts?: number;
    /** Environment to read the standard variables from (default process.env; tests pass their own). */
    env?: NodeJS.ProcessEnv;
}

export interface AwsClients {
    readonly kinesis: KinesisClient;
    readonly dynamodb: DynamoDBClient;
    /** Region as configured or from the environment; undefined = left to the SDK (shared config). */
    readonly region: string | undefined;
    /** Effective endpoints (undefined = AWS). */
    readonly kinesisEndpoint: string | undefined;
    readonly dynamodbEndpoint: string | undefined;
    readonly credentials: AwsCredentialIdentityProvider;
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
    return undefined;
}

function httpHandlerFor(endpoint: string | undefined): NodeHttpHandler | undefined {
    if (endpoint && endpoint.startsWith('http://')) {
        // HTTP/1.1 with keep-alive: kinesis-local and dynalite speak only HTTP/1.1 on plain ports.
        return new NodeHttpHandler({
            httpAgent: new HttpAgent({ keepAlive: true, maxSockets: 64 }),
            connectionTimeout: 5_000,
            requestTimeout: 0,
        });
    }
    return undefined;
}

export function createAwsClients(opts: AwsConnectionOptions): AwsClients {
    const env = opts.env ?? process.env;
    const region = resolveRegion(opts);
    const kinesisEndpoint = resolveEndpoint('kinesis', opts.kinesisEndpoint, env);
    const dynamodbEndpoint = resolveEndpoint('dynamodb', opts.dynamodbEndpoint, env);
    for (const e of [kinesisEndpoint, dynamodbEndpoint]) {
        const problem = checkEndpoint(e);
        if (problem) throw new Error(problem);
    }
    const credentials = buildCredentialProvider(opts, region);
    const maxAttempts = opts.maxAttempts ?? 3;
    const kinesisHandler = httpHandlerFor(kinesisEndpoint);
    const dynamoHandler = httpHandlerFor(dynamodbEndpoint);
    const kinesis = new KinesisClient({
        ...(region ? { region } : {}),
        ...(kinesisEndpoint ? { endpoint: kinesisEndpoint } : {}),
        ...(kinesisHandler ? { requestHandler: kinesisHandler } : {}),
        credentials,
        maxAttempts,
    });
    const dynamodb = new DynamoDBClient({
        ...(region ? { region } : {}),
        ...(dynamodbEndpoint ? { endpoint: dynamodbEndpoint } : {}),
        ...(dynamoHandler ? { requestHandler: dynamoHandler } : {}),
        credentials,
        maxAttempts,
    });
    return {
        kinesis,
        dynamodb,
        region,
        kinesisEndpoint,
        dynamodbEndpoint,
        credentials,
        describe() {
            return kinesisEndpoint ?? region ?? 'default region';
        },
        destroy() {
            kinesis.destroy();
            dynamodb.destroy();
        },
    };
}
