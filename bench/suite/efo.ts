/**
 * Enhanced Fan-Out latency, put → message: kinesis-in (readMode 'efo', LATEST) in a real Node-RED
 * runtime on kinesis-local (kinesalite has no SubscribeToShard). Once a probe record arrives (subscribed),
 * single PutRecord calls at 20/s; latency = message at the sink − start of its PutRecord (same clock).
 */
import { PutRecordCommand } from '@aws-sdk/client-kinesis';
import { awsEnv, env, main, now, percentile, rawKinesis, sleep, until } from './common';
import { configNode, onTab, startRed } from './red';

const SAMPLES = env.quick ? 100 : 400;
const STREAM = 'bench-efo';

main(async () => {
    const red = await startRed(awsEnv(env.kinesisEfo));
    const client = rawKinesis(env.kinesisEfo);
    const latencies: number[] = [];
    let probes = 0;
    red.onSink = (msg, done) => {
        const t = now();
        done();
        const b = JSON.parse(String(msg.payload)) as { probe?: boolean; at: number };
        if (b.probe) probes++;
        else latencies.push(t - b.at);
    };
    await red.deploy(onTab([
        configNode(),
        { id: 'in', type: 'kinesis-in', config: 'cfg', streamName: STREAM, applicationName: `bench-efo-${process.pid}`, initialPosition: 'LATEST',
            readMode: 'efo', payloadFormat: 'string', checkpointMode: 'complete', wires: [['sink']] },
        { id: 'sink', type: 'bench-sink', wires: [] },
    ]));
    await until('the EFO subscription (probe record)', async () => {
        await client.send(new PutRecordCommand({ StreamName: STREAM, PartitionKey: 'probe', Data: Buffer.from(JSON.stringify({ probe: true, at: now() })) }));
        await sleep(500);
        return probes > 0;
    }, 120_000);
    for (let i = 0; i < SAMPLES; i++) {
        const at = now();
        await client.send(new PutRecordCommand({ StreamName: STREAM, PartitionKey: `k${i % 16}`, Data: Buffer.from(JSON.stringify({ at, i })) }));
        await sleep(Math.max(0, 50 - (now() - at)));
    }
    await until('every EFO record', () => latencies.length >= SAMPLES, 60_000);
    client.destroy();
    await red.stop();
    const sorted = [...latencies].sort((a, b) => a - b);
    return { samples: sorted.length, p50_ms: percentile(sorted, 50), p90_ms: percentile(sorted, 90), p99_ms: percentile(sorted, 99), max_ms: sorted[sorted.length - 1] };
});
