/**
 * Shared pieces of the kinesis-in node tests: streams made per test (deleted after each: the local
 * stack allows 50 open shards for the whole run), putting JSON/text records, and the standard flow
 * (config c1, kinesis-in in1 with short timings, helper nodes h1…h3).
 */
import { PutRecordsCommand, DeleteStreamCommand } from '@aws-sdk/client-kinesis';
import { createStream as createLocalStream, rawKinesis } from './stack';

const made: string[] = [];

export async function createStream(name: string, shards = 1): Promise<void> {
    made.push(name);
    await createLocalStream(name, shards);
}

/** afterEach: deletes the streams made since the last call. */
export async function deleteStreams(): Promise<void> {
    for (const name of made.splice(0)) {
        await rawKinesis().send(new DeleteStreamCommand({ StreamName: name, EnforceConsumerDeletion: true })).catch(() => undefined);
    }
}

export async function put(stream: string, bodies: Array<string | object>, key = 'dev-1'): Promise<void> {
    await rawKinesis().send(new PutRecordsCommand({
        StreamName: stream,
        Records: bodies.map((b) => ({ Data: Buffer.from(typeof b === 'string' ? b : JSON.stringify(b)), PartitionKey: key })),
    }));
}

export function flow(stream: string, extra: Record<string, unknown> = {}, wires: string[][] = [['h1']]): Array<Record<string, unknown>> {
    return [
        { id: 'c1', type: 'kinesis-config', name: 'local', region: '', credentialMode: 'chain' },
        {
            id: 'in1', type: 'kinesis-in', config: 'c1', streamName: stream, applicationName: '', initialPosition: 'TRIM_HORIZON',
            timestamp: '', timestampType: 'str', readMode: 'polling', payloadFormat: 'json', outputMode: 'record',
            checkpointMode: 'complete', checkpointIntervalMs: 200, maxInFlight: 100, idleTimeMs: 100, failoverTimeMs: 3000,
            wires, ...extra,
        },
        { id: 'h1', type: 'helper' },
        { id: 'h2', type: 'helper' },
        { id: 'h3', type: 'helper' },
    ];
}

/** The Node-RED under test (NODE_RED_PATH for the Node-RED 5 lane), to load its core nodes. */
export function coreNode(file: string): unknown {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const red = process.env.NODE_RED_PATH ? require.resolve(process.env.NODE_RED_PATH) : require.resolve('node-red');
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    return require(require.resolve(`@node-red/nodes/core/${file}`, { paths: [red] }));
}

/** Inside a describe: one Node-RED for the file, flows unloaded and streams deleted after each test. */
export function useNodeRed(helper: { startServer(done: () => void): void; stopServer(done: () => void): void; unload(): Promise<void> }): void {
    before((done) => { helper.startServer(done); });
    after((done) => { helper.stopServer(done); });
    afterEach(() => helper.unload());
    afterEach(deleteStreams);
}
