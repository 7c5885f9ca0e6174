/**
 * kinesis-out with default settings (per-key order on, linger 50 ms, 4 requests in flight) in a real
 * Node-RED runtime — bench-source → kinesis-out → bench-sink (the message comes out once its record is
 * acknowledged) — against a raw SDK loop of 500-record PutRecords, one request at a time. Same records
 * (~210 B, 1 000 partition keys), kinesalite, CPU of this process per record.
 */
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { awsEnv, body, cpuUs, env, main, now, rawKinesis } from './common';
import { configNode, onTab, pump, startRed } from './red';

// kinesalite accepts ~1–3 k records/s on a loaded 2-core machine: 20 k records keep a run within minutes
const N = Number(process.env.BENCH_PRODUCE_RECORDS) || (env.quick ? 5_000 : 20_000);
const WINDOW = 5000; // below kinesis-out's maxQueued (10 000): a flow upstream that waits for the output
const key = (i: number) => `key-${i % 1000}`;

main(async () => {
    const data = Array.from({ length: N }, (_, i) => body(i));
    const client = rawKinesis();
    const c0 = cpuUs();
    const t0 = now();
    for (let i = 0; i < N; i += 500) {
        let entries = data.slice(i, i + 500).map((d, k) => ({ Data: d, PartitionKey: key(i + k) }));
        while (entries.length) {
            const out = await client.send(new PutRecordsCommand({ StreamName: 'bench-out-raw', Records: entries }));
            entries = entries.filter((_, k) => out.Records?.[k]?.ErrorCode);
        }
    }
    const rawS = (now() - t0) / 1000;
    const rawCpu = (cpuUs() - c0) / N;
    client.destroy();

    const red = await startRed(awsEnv());
    await red.deploy(onTab([
        configNode(),
        { id: 'src', type: 'bench-source', wires: [['out']] },
        { id: 'out', type: 'kinesis-out', config: 'cfg', streamName: 'bench-out', streamNameType: 'str', partitionKey: 'topic', partitionKeyType: 'msg', wires: [['sink']] },
        { id: 'sink', type: 'bench-sink', wires: [] },
        { id: 'catch', type: 'catch', scope: ['out'], uncaught: false, wires: [['sink']] },
    ]));
    const c1 = cpuUs();
    const t1 = now();
    await pump(red, { n: N, window: WINDOW, what: 'kinesis-out acknowledgements', timeoutMs: 10 * 60_000, message: (i) => ({ payload: data[i], topic: key(i) }) });
    const nodeS = (now() - t1) / 1000;
    const nodeCpu = (cpuUs() - c1) / N;
    await red.stop();
    return {
        records: N,
        raw_records_per_s: N / rawS,
        raw_cpu_us_per_record: rawCpu,
        node_records_per_s: N / nodeS,
        node_cpu_us_per_record: nodeCpu,
        node_vs_raw: rawS / nodeS,
        node_cpu_vs_raw: nodeCpu / rawCpu,
    };
});
