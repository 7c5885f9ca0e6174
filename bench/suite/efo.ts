/**
 * Enhanced Fan-Out latency, put → message: kinesis-in (readMode 'efo', LATEST) in a real Node-RED
 * runtime on kinesis-local (kinesalite has no SubscribeToShard). Beside it, in the same run and on the
 * same records, a raw SDK v3 SubscribeToShard loop (its own stream consumer, NodeHttpHandler — kinesis-local
 * speaks HTTP/1.1 only): what the backend itself delivers. Once both got a probe record (subscribed),
 * single PutRecord calls at 20/s; latency = arrival − start of its PutRecord (process.hrtime, one clock
 * for all threads). The PutRecord loop and the raw loop run on worker threads of their own
 * (efo-threads.ts): neither shares the event loop of the Node-RED runtime being measured.
 *   node  — message at the sink;
 *   raw   — the SDK yields the event that holds the record;
 *   added — message at the sink − the moment our reader got that event from the SDK (the reader's
 *           `EFO_EVENT_CHANNEL` diagnostics channel): what the reader, consumer, node and Node-RED add;
 *   gap   — time between two events of the raw subscription (the backend's push cadence).
 */
import { DescribeStreamConsumerCommand, DescribeStreamSummaryCommand, PutRecordCommand, RegisterStreamConsumerCommand } from '@aws-sdk/client-kinesis';
import type { SubscribeToShardEvent } from '@aws-sdk/client-kinesis';
import { subscribe } from 'node:diagnostics_channel';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { EFO_EVENT_CHANNEL } from '../../lib/consumer/efo';
import type { EfoThreadData } from './efo-threads';
import { awsEnv, env, main, now, percentile, rawKinesis, sleep, until } from './common';
import { configNode, onTab, startRed } from './red';

const SAMPLES = env.quick ? 100 : 400;
const STREAM = 'bench-efo';

interface Body {
    probe?: 'node' | 'raw';
    at: number;
    i?: number;
}

function stats(values: number[], prefix = ''): Record<string, number> {
    const s = [...values].sort((a, b) => a - b);
    return { [`${prefix}samples`]: s.length, [`${prefix}p50_ms`]: percentile(s, 50), [`${prefix}p90_ms`]: percentile(s, 90), [`${prefix}p99_ms`]: percentile(s, 99), [`${prefix}max_ms`]: s[s.length - 1] };
}

/** Starts a helper thread (efo-threads.ts); `onMessage` gets what it posts; a failing thread fails the run. */
function thread(data: EfoThreadData, onMessage: (m: Record<string, number | boolean>) => void): { worker: Worker; failed: () => Error | undefined } {
    const worker = new Worker(path.join(__dirname, 'efo-threads.js'), { workerData: data });
    let failure: Error | undefined;
    worker.on('message', onMessage);
    worker.on('error', (err) => { failure = err; });
    worker.on('exit', (code) => { if (code !== 0) failure ??= new Error(`the ${data.role} thread exited with ${code}`); });
    return { worker, failed: () => failure };
}

main(async () => {
    const red = await startRed(awsEnv(env.kinesisEfo));
    const client = rawKinesis(env.kinesisEfo);

    // the raw consumer: registered and subscribed before the node is deployed
    const streamARN = (await client.send(new DescribeStreamSummaryCommand({ StreamName: STREAM }))).StreamDescriptionSummary!.StreamARN!;
    const reg = await client.send(new RegisterStreamConsumerCommand({ StreamARN: streamARN, ConsumerName: `bench-efo-raw-${process.pid}` }));
    const rawConsumerARN = reg.Consumer!.ConsumerARN!;
    await until('the raw stream consumer ACTIVE', async () => {
        const d = await client.send(new DescribeStreamConsumerCommand({ ConsumerARN: rawConsumerARN }));
        return d.ConsumerDescription?.ConsumerStatus === 'ACTIVE';
    }, 60_000);
    const raw: number[] = [];
    const gaps: number[] = [];
    let rawProbes = 0;
    let rawStopped = false;
    const rawThread = thread({ role: 'raw', endpoint: env.kinesisEfo, consumerARN: rawConsumerARN, shardId: 'shardId-000000000000' }, (m) => {
        if (m.probe) rawProbes++;
        if (typeof m.latency === 'number') raw.push(m.latency);
        if (typeof m.gap === 'number') gaps.push(m.gap);
        if (m.stopped) rawStopped = true;
    });

    // when our reader got each record's event from the SDK (by sequence number); the bodies are read later
    const receivedAt = new Map<string, number>();
    const trace = !!process.env.BENCH_EFO_TRACE;
    subscribe(EFO_EVENT_CHANNEL, (m) => {
        const t = now();
        for (const r of (m as { event: SubscribeToShardEvent }).event.Records ?? []) receivedAt.set(r.SequenceNumber!, t);
    });
    const node: Array<[number, Body, string]> = [];
    let nodeProbes = 0;
    red.onSink = (msg, done) => {
        const t = now();
        done();
        const b = JSON.parse(String(msg.payload)) as Body;
        if (b.probe === 'node') nodeProbes++;
        else if (!b.probe && nodeProbes > 0) node.push([t, b, (msg.kinesis as { sequenceNumber: string }).sequenceNumber]);
    };
    await red.deploy(onTab([
        configNode(),
        { id: 'in', type: 'kinesis-in', config: 'cfg', streamName: STREAM, applicationName: `bench-efo-${process.pid}`, initialPosition: 'LATEST',
            readMode: 'efo', payloadFormat: 'string', checkpointMode: 'complete', wires: [['sink']] },
        { id: 'sink', type: 'bench-sink', wires: [] },
    ]));
    const probe = async (who: 'node' | 'raw'): Promise<void> => {
        await client.send(new PutRecordCommand({ StreamName: STREAM, PartitionKey: 'probe', Data: Buffer.from(JSON.stringify({ probe: who, at: now() })) }));
    };
    await until('both EFO subscriptions (probe records)', async () => {
        if (nodeProbes === 0) await probe('node');
        if (rawProbes === 0) await probe('raw');
        await sleep(500);
        return nodeProbes > 0 && rawProbes > 0;
    }, 120_000);
    await sleep(1500); // the last probes' events are through
    let putDone = false;
    const putThread = thread({ role: 'put', endpoint: env.kinesisEfo, stream: STREAM, samples: SAMPLES }, (m) => {
        if (m.done) putDone = true;
    });
    const failed = (): boolean => {
        const err = putThread.failed() ?? rawThread.failed();
        if (err) throw err;
        return false;
    };
    await until('the PutRecord thread', () => failed() || putDone, SAMPLES * 1000);
    await until('every EFO record (node and raw)', () => failed() || (node.length >= SAMPLES && raw.length >= SAMPLES), 60_000);
    rawThread.worker.postMessage('stop');
    await until('the raw thread stopped', () => rawStopped, 30_000);
    await rawThread.worker.terminate();
    client.destroy();
    await red.stop();
    if (trace) {
        // BENCH_EFO_TRACE=1: per event of our reader, its records and the added latency of its first and last
        const byT = new Map<number, number[]>();
        for (const [t, , seq] of node) {
            const r = receivedAt.get(seq);
            if (r !== undefined) (byT.get(r) ?? byT.set(r, []).get(r)!).push(t - r);
        }
        for (const [r, a] of [...byT].sort((x, y) => x[0] - y[0])) {
            console.error(`event at ${r.toFixed(1)}: ${a.length} records, added ${a[0].toFixed(2)} … ${a[a.length - 1].toFixed(2)} ms`);
        }
    }
    const latencies = node.map(([t, b]) => t - b.at);
    const added = node.map(([t, , seq]) => t - (receivedAt.get(seq) ?? NaN)).filter((x) => Number.isFinite(x));
    return {
        ...stats(latencies),
        ...stats(raw, 'raw_'),
        ...stats(added, 'added_'),
        raw_event_gap_p50_ms: percentile([...gaps].sort((a, b) => a - b), 50),
    };
});
