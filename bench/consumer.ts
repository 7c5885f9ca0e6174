/**
 * Consumer throughput and CPU per record against a raw SDK GetRecords loop, in the same run, on a
 * local stack this script starts itself (kinesis-local + dynalite on free ports). Prints records/s,
 * CPU µs/record (this process only) and ratios; no targets.
 *   npm run build && node dist/bench/consumer.js [--records 10000] [--shards 4]
 *
 * - baseline "raw GetRecords loop": one loop per shard, TRIM_HORIZON, Limit 10 000, until every
 *   record is read (what a hand-written Lambda / script does; no leases, no checkpoints).
 * - "consumer": KinesisConsumer on a fresh lease table (creation, shard sync and taking included;
 *   after one unmeasured warm-up run on another table, as the baseline gets one),
 *   one callback per record, finished at once, checkpoints every 5 s.
 * - "consumer, batch output": one callback per GetRecords batch.
 * - "consumer, Enhanced Fan-Out": readMode efo (SubscribeToShard over HTTP/1.1 on kinesis-local;
 *   consumer registration included), one callback per record.
 * - "kinesis-in node in Node-RED": the node in a real Node-RED runtime (node-red-node-test-helper),
 *   wired to a node that completes each message; checkpoint mode "when the flow completes" (message
 *   hooks), payload Buffer — the consumer plus Node-RED's message passing.
 * - "first record after start": LATEST on a fresh lease table, one record put right after start().
 * kinesis-local's PutRecords is slow (1–4 k records/s): the records are put once, before measuring.
 */
import { GetRecordsCommand, GetShardIteratorCommand, KinesisClient, ListShardsCommand, PutRecordsCommand, DescribeStreamSummaryCommand } from '@aws-sdk/client-kinesis';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { KinesisConsumer, ConsumerOptions } from '../lib/consumer/consumer';
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { startLocalStack } = require('../../scripts/local-stack.js');

function argOf(name: string, dflt: number): number {
    const i = process.argv.indexOf(name);
    return i > 0 ? Number(process.argv[i + 1]) : dflt;
}
const N = argOf('--records', 10_000);
const SHARDS = argOf('--shards', 4);

interface Result { rate: number; cpuUs: number; seconds: number }

async function measure(label: string, fn: () => Promise<number>): Promise<Result> {
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const n = await fn();
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    const cpuUs = (cpu.user + cpu.system) / n;
    const rate = n / seconds;
    console.log(`${label.padEnd(34)} ${Math.round(rate).toLocaleString('en-US').padStart(8)} records/s  ${cpuUs.toFixed(1).padStart(6)} µs CPU/record  (${n} in ${seconds.toFixed(2)} s)`);
    return { rate, cpuUs, seconds };
}

function sleep(ms: number): Promise<void> {
    return new Promise((r) => setTimeout(r, ms));
}

/**
 * The kinesis-in node in a Node-RED runtime (started before measuring). The test helper's sinon
 * spies on every node method are removed after loading: they are not part of Node-RED.
 */
async function nodeRedRunner(env: Record<string, string>): Promise<{ run(): Promise<number>; close(): Promise<void> }> {
    Object.assign(process.env, env);
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { nodeRedHelper, nodeModule } = require('../test/helpers/nodered');
    const helper = nodeRedHelper();
    await new Promise<void>((r) => helper.startServer(r));
    const proto = helper._NodePrototype as Record<string, unknown>;
    const methods = ['log', 'status', 'warn', 'error', 'debug', 'trace', 'send'];
    const originals = Object.fromEntries(methods.map((m) => [m, proto[m]]));
    let round = 0;
    return {
        async run() {
            let n = 0;
            let resolve!: () => void;
            const all = new Promise<void>((r) => (resolve = r));
            const flow = [
                { id: 'c1', type: 'kinesis-config', region: '', credentialMode: 'chain' },
                { id: 'in1', type: 'kinesis-in', config: 'c1', streamName: 'bench-consumer', applicationName: `bench-nr-${round++}`,
                    initialPosition: 'TRIM_HORIZON', payloadFormat: 'buffer', outputMode: 'record', checkpointMode: 'complete',
                    idleTimeMs: 200, wires: [['h1']] },
                { id: 'h1', type: 'helper' },
            ];
            await helper.load([nodeModule('kinesis-config'), nodeModule('kinesis-in')], flow);
            for (const m of methods) (proto[m] as { restore?: () => void }).restore?.();
            (helper._log.log as { restore?: () => void }).restore?.();
            Object.assign(proto, originals);
            helper.getNode('h1').on('input', (_msg: unknown, _send: unknown, done: () => void) => {
                done();
                if (++n === N) resolve();
            });
            await all;
            await helper.unload();
            return n;
        },
        close: () => new Promise<void>((r) => helper.stopServer(r)),
    };
}

async function main(): Promise<void> {
    const stack = await startLocalStack({ kinesisPort: 0, dynamodbPort: 0, streams: `bench-consumer:${SHARDS}` });
    const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
    const region = stack.region ?? 'us-east-1';
    const kinesis = new KinesisClient({ region, endpoint: stack.kinesisEndpoint, credentials, requestHandler: new NodeHttpHandler() });
    const dynamodb = new DynamoDBClient({ region, endpoint: stack.dynamodbEndpoint, credentials, requestHandler: new NodeHttpHandler() });
    const stream = 'bench-consumer';
    try {
        while ((await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: stream }))).StreamDescriptionSummary?.StreamStatus !== 'ACTIVE') await sleep(100);
        const body = (i: number) => Buffer.from(JSON.stringify({ device: `dev-${i % 97}`, temperature: 20 + (i % 10), humidity: 40 + (i % 7), ts: 1_700_000_000_000 + i, pad: 'x'.repeat(120) }));
        process.stdout.write(`putting ${N} records of ~200 B into ${SHARDS} shards… `);
        for (let i = 0; i < N; i += 500) {
            let entries = Array.from({ length: Math.min(500, N - i) }, (_, j) => ({ Data: body(i + j), PartitionKey: `dev-${(i + j) % 97}` }));
            while (entries.length) {
                const out = await kinesis.send(new PutRecordsCommand({ StreamName: stream, Records: entries }));
                entries = entries.filter((_, k) => out.Records?.[k]?.ErrorCode);
            }
        }
        console.log('done');

        const rawLoop = async () => {
            const shards = (await kinesis.send(new ListShardsCommand({ StreamName: stream }))).Shards ?? [];
            const counts = await Promise.all(shards.map(async (s) => {
                let it = (await kinesis.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: s.ShardId!, ShardIteratorType: 'TRIM_HORIZON' }))).ShardIterator;
                let n = 0;
                while (it) {
                    const out = await kinesis.send(new GetRecordsCommand({ ShardIterator: it, Limit: 10_000 }));
                    for (const r of out.Records ?? []) n += r.Data ? 1 : 0;
                    it = out.NextShardIterator;
                    if (!out.Records?.length && out.MillisBehindLatest === 0) break;
                }
                return n;
            }));
            return counts.reduce((a, b) => a + b, 0);
        };
        await rawLoop(); // warm-up (module loading, JIT), not measured
        const base = await measure('baseline raw GetRecords loop', rawLoop);

        const run = async (table: string, extra: Partial<ConsumerOptions>) => {
            let n = 0;
            let resolve!: () => void;
            const all = new Promise<void>((r) => (resolve = r));
            const c = new KinesisConsumer({
                kinesis, dynamodb, streamName: stream, tableName: table, initialPosition: { type: 'TRIM_HORIZON' },
                idleTimeMs: 200, onRecord: (_r, done) => { done(); if (++n === N) resolve(); },
                onBatch: (recs, done) => { done(); n += recs.length; if (n >= N) resolve(); },
                onError: (e) => console.error('consumer error', e),
                ...extra,
            });
            await c.start();
            await all;
            await c.stop({ timeoutMs: 1000 });
            return n;
        };
        await run('bench-warm', {}); // warm-up: DynamoDB client, consumer code paths (not measured)
        const rec = await measure('consumer, one callback per record', () => run('bench-t1', {}));
        const bat = await measure('consumer, batch output', () => run('bench-t2', { outputMode: 'batch' }));
        const efo = await measure('consumer, Enhanced Fan-Out', () => run('bench-t3', { readMode: 'efo', consumerName: 'bench-efo' }));

        const red = await nodeRedRunner(stack.env as Record<string, string>);
        await red.run(); // warm-up
        const nr = await measure('kinesis-in node in Node-RED', () => red.run());
        await red.close();

        // first record after start on a fresh lease table (LATEST)
        const t0 = process.hrtime.bigint();
        let firstAt = 0n;
        const first = new Promise<void>((resolve) => {
            const c = new KinesisConsumer({
                kinesis, dynamodb, streamName: stream, tableName: 'bench-first', initialPosition: { type: 'LATEST' },
                onRecord: (_r, done) => { done(); if (!firstAt) { firstAt = process.hrtime.bigint(); void c.stop({ timeoutMs: 100 }).then(resolve); } },
            });
            void c.start();
        });
        await kinesis.send(new PutRecordsCommand({ StreamName: stream, Records: [{ Data: body(0), PartitionKey: 'first' }] }));
        await first;
        const firstMs = Number(firstAt - t0) / 1e6;

        console.log('');
        console.log(`consumer / raw loop: ${(rec.rate / base.rate).toFixed(2)}× records/s, ${(rec.cpuUs / base.cpuUs).toFixed(2)}× CPU per record`);
        console.log(`batch output / raw loop: ${(bat.rate / base.rate).toFixed(2)}× records/s, ${(bat.cpuUs / base.cpuUs).toFixed(2)}× CPU per record`);
        console.log(`Enhanced Fan-Out / raw loop: ${(efo.rate / base.rate).toFixed(2)}× records/s, ${(efo.cpuUs / base.cpuUs).toFixed(2)}× CPU per record`);
        console.log(`kinesis-in in Node-RED / raw loop: ${(nr.rate / base.rate).toFixed(2)}× records/s, ${(nr.cpuUs / base.cpuUs).toFixed(2)}× CPU per record`);
        console.log(`first record after start (fresh lease table, LATEST, idle 1000 ms): ${firstMs.toFixed(0)} ms`);
    } finally {
        kinesis.destroy();
        dynamodb.destroy();
        await stack.stop();
    }
}

main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
});
