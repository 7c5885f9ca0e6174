/**
 * Reading the 100 k-record stream (kinesalite, TRIM_HORIZON, every shard) — one way per process:
 *   node dist/bench/suite/read.js raw|lifion|library|node
 * - raw: the SDK v3 GetRecords loop a hand-written script runs (one loop per shard, Limit 10 000,
 *   SDK defaults), no leases, no checkpoints.
 * - lifion: lifion-kinesis 1.3.3 (polling, auto checkpoints, its DynamoDB leases), installed by the
 *   orchestrator into a cache folder.
 * - library: KinesisConsumer (lib/consumer), one callback per record finished at once, on the clients
 *   lib/aws/clients makes (what kinesis-config gives the nodes).
 * - node: kinesis-in in a real Node-RED runtime (checkpointMode 'complete', payload Buffer) wired to a
 *   node that completes each message.
 * Fresh lease table (application name) per run. records/s = every record over the whole run, from the
 * start (clients / deploy) to the last record: creation, shard sync and taking count, as does the raw
 * loop's first 10 000-record read; steady records/s (after the first record) is reported beside it.
 */
/* eslint-disable @typescript-eslint/no-var-requires, @typescript-eslint/no-explicit-any */
import { GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand } from '@aws-sdk/client-kinesis';
import { KinesisConsumer } from '../../lib/consumer/consumer';
import { createAwsClients } from '../../lib/aws/clients';
import { awsEnv, env, main, Meter, rawKinesis, within } from './common';
import { configNode, onTab, startRed } from './red';
import fs from 'node:fs';

const mode = process.argv[2];

/**
 * CPU seconds the Kinesis backend (kinesalite, its own process: BENCH_KINESIS_PID) has used so far, from
 * /proc (Linux; undefined elsewhere). Over a read, next to its wall time: kinesalite is single-threaded,
 * so backend CPU ≈ the run's time means the backend was busy all along — the reader waited on it, not
 * the other way round.
 */
function backendCpuS(): number | undefined {
    const pid = Number(process.env.BENCH_KINESIS_PID);
    if (!pid) return undefined;
    try {
        const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
        const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
        return (Number(rest[11]) + Number(rest[12])) / 100; // utime + stime, in clock ticks (USER_HZ 100)
    } catch {
        return undefined;
    }
}

/** Adds backend_cpu_s and backend_busy (backend CPU / the run's seconds) to a Meter's result. */
function withBackend(r: ReturnType<Meter['result']>, cpu0: number | undefined, cpu1: number | undefined): Record<string, unknown> {
    if (cpu0 === undefined || cpu1 === undefined) return r;
    return { ...r, backend_cpu_s: cpu1 - cpu0, backend_busy: (cpu1 - cpu0) / r.seconds };
}
const N = env.records;
const LIMIT_MS = 10 * 60_000;
const app = `bench-${mode}-${env.rep}-${process.pid}`;

async function raw(): Promise<Record<string, unknown>> {
    const kinesis = rawKinesis();
    const b0 = backendCpuS();
    const m = new Meter(N);
    const shards = (await kinesis.send(new ListShardsCommand({ StreamName: env.stream }))).Shards ?? [];
    await Promise.all(shards.map(async (s) => {
        let it = (await kinesis.send(new GetShardIteratorCommand({ StreamName: env.stream, ShardId: s.ShardId!, ShardIteratorType: 'TRIM_HORIZON' }))).ShardIterator;
        while (it && m.count < N) {
            const out = await kinesis.send(new GetRecordsCommand({ ShardIterator: it, Limit: 10_000 }));
            let k = 0;
            for (const r of out.Records ?? []) k += r.Data ? 1 : 0;
            if (k) m.seen(k);
            it = out.NextShardIterator;
            if (!out.Records?.length && out.MillisBehindLatest === 0) break;
        }
    }));
    if (m.count < N) throw new Error(`raw loop read ${m.count} of ${N}`);
    const b1 = backendCpuS();
    kinesis.destroy();
    return withBackend(m.result(), b0, b1);
}

async function lifion(): Promise<Record<string, unknown>> {
    if (!env.lifion) throw new Error('BENCH_LIFION (path of lifion-kinesis) not set');
    const Kinesis = require(env.lifion);
    const quiet = { debug() {}, info() {}, warn() {}, error() {} };
    const b0 = backendCpuS();
    const m = new Meter(N);
    const k = new Kinesis({
        streamName: env.stream,
        consumerGroup: app,
        createStreamIfNeeded: false,
        initialPositionInStream: 'TRIM_HORIZON',
        endpoint: env.kinesis,
        region: env.region,
        accessKeyId: 'local',
        secretAccessKey: 'local',
        sslEnabled: false,
        dynamoDb: { endpoint: env.dynamodb, tableName: app, region: env.region, accessKeyId: 'local', secretAccessKey: 'local' },
        shouldParseJson: false,
        useAutoCheckpoints: true,
        limit: 10_000,
        logger: quiet,
        statsInterval: 600_000,
    });
    k.on('error', (err: Error) => console.error('lifion error:', err.message));
    k.on('data', (chunk: { records: unknown[] }) => m.seen(chunk.records.length));
    await k.startConsumer();
    await within('lifion-kinesis reading', m.done, LIMIT_MS);
    const r = withBackend(m.result(), b0, backendCpuS());
    k.stopConsumer();
    return r;
}

async function library(): Promise<Record<string, unknown>> {
    const b0 = backendCpuS();
    const clients = createAwsClients({ region: env.region, kinesisEndpoint: env.kinesis, dynamodbEndpoint: env.dynamodb, credentialMode: 'static', accessKeyId: 'local', secretAccessKey: 'local', env: {} });
    const m = new Meter(N);
    const c = new KinesisConsumer({
        kinesis: clients.kinesis,
        dynamodb: clients.dynamodb,
        streamName: env.stream,
        tableName: app,
        initialPosition: { type: 'TRIM_HORIZON' },
        onRecord: (_r, done) => {
            done();
            m.seen();
        },
        onError: (e) => console.error('consumer error:', (e as Error).message),
    });
    await c.start();
    await within('KinesisConsumer reading', m.done, LIMIT_MS);
    const r = withBackend(m.result(), b0, backendCpuS());
    await c.stop({ timeoutMs: 2000 });
    clients.destroy();
    return r;
}

async function node(): Promise<Record<string, unknown>> {
    const red = await startRed(awsEnv());
    let m = new Meter(N);
    red.onSink = (_msg, done) => {
        done();
        m.seen();
    };
    const b0 = backendCpuS();
    m = new Meter(N); // the clock starts at the deploy
    await red.deploy(onTab([
        configNode(),
        { id: 'in', type: 'kinesis-in', config: 'cfg', streamName: env.stream, applicationName: app, initialPosition: 'TRIM_HORIZON',
            readMode: 'polling', payloadFormat: 'buffer', outputMode: 'record', checkpointMode: 'complete', wires: [['sink']] },
        { id: 'sink', type: 'bench-sink', wires: [] },
    ]));
    await within('kinesis-in reading', m.done, LIMIT_MS);
    const r = withBackend(m.result(), b0, backendCpuS());
    await red.stop();
    return r;
}

main(async () => {
    const fn = { raw, lifion, library, node }[mode as 'raw'];
    if (!fn) throw new Error(`unknown mode "${mode}" (raw|lifion|library|node)`);
    return { mode, ...(await fn()) };
});
