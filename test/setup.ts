/**
 * Mocha root setup: starts the embedded local stack (kinesis-local + dynalite) once for the run on
 * free loopback ports and points the standard AWS env vars at it, as `npm start` does.
 * TEST_SUITES=unit skips the stack (unit tests need no network).
 *
 * Network guard: tests never leave 127.0.0.1. Any DNS lookup of another host name (an AWS endpoint,
 * the Internet) fails at once with ENOTFOUND, as on a machine without network, and is listed at the
 * end of the run. TEST_ALLOW_NETWORK=1 turns the guard off.
 */
import dns from 'node:dns';
import { LocalStack, startLocalStack } from './helpers/stack';

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|::1|\[::1\])$/i;
/** Host names the guard refused, for the end-of-run report. */
export const blockedLookups: string[] = [];
export const networkGuardOn = process.env.TEST_ALLOW_NETWORK !== '1';

function offline(host: string): NodeJS.ErrnoException {
    blockedLookups.push(host);
    return Object.assign(new Error(`getaddrinfo ENOTFOUND ${host} (test network guard: tests never leave 127.0.0.1)`), {
        code: 'ENOTFOUND', errno: -3008, syscall: 'getaddrinfo', hostname: host,
    });
}

if (networkGuardOn) {
    const lookup = dns.lookup;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    (dns as any).lookup = function guardedLookup(host: string, options: unknown, callback?: unknown) {
        const cb = (typeof options === 'function' ? options : callback) as (err: Error | null) => void;
        if (typeof host === 'string' && !LOOPBACK.test(host)) {
            process.nextTick(cb, offline(host));
            return {};
        }
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        return (lookup as any).apply(this, arguments);
    };
    const promiseLookup = dns.promises.lookup;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    (dns.promises as any).lookup = async function guardedPromiseLookup(host: string, ...rest: unknown[]) {
        if (typeof host === 'string' && !LOOPBACK.test(host)) throw offline(host);
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        return (promiseLookup as any).call(this, host, ...rest);
    };
}


let stack: LocalStack | undefined;

// The SDK's one-time "Node.js 20 support ends in 2027" warning is noise in test output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

export async function mochaGlobalSetup(): Promise<void> {
    // Never reach a real AWS metadata service or profile from a test.
    process.env.AWS_EC2_METADATA_DISABLED = 'true';
    process.env.AWS_SDK_LOAD_CONFIG = '0';
    process.env.AWS_CONFIG_FILE = '/dev/null';
    process.env.AWS_SHARED_CREDENTIALS_FILE = '/dev/null';
    const suites = (process.env.TEST_SUITES || 'unit,nodes,integration,e2e').split(',').map((s) => s.trim());
    if (suites.length === 1 && suites[0] === 'unit') return;
    if (process.env.KINESIS_LOCAL_ENDPOINT && process.env.DYNAMODB_LOCAL_ENDPOINT) return; // stack given from outside
    stack = await startLocalStack({ kinesisPort: 0, dynamodbPort: 0, streams: 'my-thingsboard:1,tb-test-downlink:1' });
    Object.assign(process.env, stack.env);
    process.env.KINESIS_LOCAL_ENDPOINT = stack.kinesisEndpoint;
    // kinesis-local's HTTPS port (self-signed certificate), for the https:// endpoint tests
    process.env.KINESIS_LOCAL_TLS_ENDPOINT = `https://127.0.0.1:${stack.kinesisTlsPort}`;
    process.env.DYNAMODB_LOCAL_ENDPOINT = stack.dynamodbEndpoint;
}

export async function mochaGlobalTeardown(): Promise<void> {
    if (stack) await stack.stop();
    if (blockedLookups.length > 0) {
        const hosts = [...new Set(blockedLookups)];
        console.log(`\nnetwork guard: refused DNS lookups of ${hosts.length} host(s) outside 127.0.0.1: ${hosts.slice(0, 10).join(', ')}`);
    }
}
