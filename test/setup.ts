/**
 * Mocha root setup: starts the embedded local stack (kinesis-local + dynalite) once for the run on
 * free loopback ports and points the standard AWS env vars at it, as `npm start` does.
 * TEST_SUITES=unit skips the stack (unit tests need no network).
 */
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { startLocalStack } = require('../../scripts/local-stack.js');

interface Stack {
    env: Record<string, string>;
    kinesisEndpoint: string;
    dynamodbEndpoint: string;
    stop(): Promise<void>;
}

let stack: Stack | undefined;

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
    stack = (await startLocalStack({ kinesisPort: 0, dynamodbPort: 0, streams: 'my-thingsboard:1,tb-test-downlink:1' })) as Stack;
    Object.assign(process.env, stack.env);
    process.env.KINESIS_LOCAL_ENDPOINT = stack.kinesisEndpoint;
    process.env.DYNAMODB_LOCAL_ENDPOINT = stack.dynamodbEndpoint;
}

export async function mochaGlobalTeardown(): Promise<void> {
    if (stack) await stack.stop();
}
