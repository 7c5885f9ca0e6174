/**
 * Producer throughput against a raw SDK PutRecords loop, in the same run, on a local stack this
 * script starts itself (kinesis-local on free ports). Prints records/s and ratios, no targets.
 *   npm run build && node dist/bench/producer.js [--records 3000]
 *
 * - baseline "raw PutRecords loop": the same records, pre-batched by hand in 500s, one request at a
 *   time (what a hand-written Lambda does).
 * - "producer, one record per message": every record is its own put() (a Node-RED message each),
 *   batching, linger 20 ms, 4 requests in flight, per-key order on (distinct keys).
 * - "producer, 10 hot keys": as above but only 10 partition keys (key order serialises per key).
 * - "producer, aggregated": KPL aggregation on.
 * kinesis-local's PutRecords is slow (1–4 k records/s), so ratios matter, not absolute numbers.
 */
import { KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { Producer, ProducerOptions } from '../lib/producer/producer';
import type { ProducerRecord } from '../lib/producer/records';
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { startLocalStack } = require('../../scripts/local-stack.js');

const arg = process.argv.indexOf('--records');
const N = arg > 0 ? Number(process.argv[arg + 1]) : 3000;

function records(stream: string, keys?: number): ProducerRecord[] {
    return Array.from({ length: N }, (_, i) => ({
        streamName: stream,
        data: Buffer.from(JSON.stringify({ device: `dev-${i % 97}`, temperature: 20 + (i % 10), ts: 1_700_000_000_000 + i })),
        partitionKey: keys ? `key-${i % keys}` : `key-${i}`,
    }));
}

async function timed(label: string, fn: () => Promise<number>): Promise<number> {
    const start = process.hrtime.bigint();
    const n = await fn();
    const s = Number(process.hrtime.bigint() - start) / 1e9;
    const rate = n / s;
    console.log(`${label.padEnd(36)} ${Math.round(rate).toLocaleString('en-US').padStart(8)} records/s  (${n} in ${s.toFixed(2)} s)`);
    return rate;
}

async function main(): Promise<void> {
    const stack = await startLocalStack({ kinesisPort: 0, dynamodbPort: 0, streams: 'bench-raw:2,bench-p1:2,bench-p2:2,bench-p3:2' });
    const client = new KinesisClient({
        region: stack.region ?? 'us-east-1',
        endpoint: stack.kinesisEndpoint,
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
        requestHandler: new NodeHttpHandler(),
    });
    try {
        console.log(`producer vs raw SDK loop: ${N} records of ~70 B on kinesis-local (2 shards per stream)`);
        const base = await timed('baseline raw PutRecords loop', async () => {
            const recs = records('bench-raw');
            for (let i = 0; i < recs.length; i += 500) {
                const out = await client.send(new PutRecordsCommand({
                    StreamName: 'bench-raw',
                    Records: recs.slice(i, i + 500).map((r) => ({ Data: r.data, PartitionKey: r.partitionKey })),
                }));
                if (out.FailedRecordCount) throw new Error(`${out.FailedRecordCount} failed in the baseline`);
            }
            return recs.length;
        });
        const run = (stream: string, keys: number | undefined, opts: Partial<ProducerOptions>) => async () => {
            const p = new Producer({ client, lingerMs: 20, maxInFlight: 4, ...opts });
            await Promise.all(records(stream, keys).map((r) => p.put([r])));
            await p.close(1000);
            return N;
        };
        const one = await timed('producer, one record per message', run('bench-p1', undefined, {}));
        const hot = await timed('producer, 10 hot keys (key order)', run('bench-p2', 10, {}));
        const agg = await timed('producer, aggregated', run('bench-p3', undefined, { aggregate: true }));
        console.log(`ratio producer / baseline: ${(one / base).toFixed(2)}  hot keys: ${(hot / base).toFixed(2)}  aggregated: ${(agg / base).toFixed(2)}`);
    } finally {
        client.destroy();
        await stack.stop();
    }
}

main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
});
