/**
 * kinesis-out with default settings (per-key order on, linger 50 ms, 4 requests in flight) in a real
 * Node-RED runtime — bench-source → kinesis-out → bench-sink (the message comes out once its record is
 * acknowledged) — against a raw SDK loop of 500-record PutRecords, one request at a time. Same records
 * (~210 B, 1 000 partition keys), kinesalite, CPU of this process per record.
 *
 * Like with like: both sides are warmed up first with the same 2 000 records (the SDK's and the runtime's
 * first calls are compiled then, not charged to whichever side runs first), and the flow's own cost is
 * measured too: the same pump through bench-source → bench-pass → bench-sink (the same two hops, no
 * Kinesis). `node_own_cpu_us_per_record` = kinesis-out's part (flow minus that floor).
 *
 * The raw loop's client is a plain SDK client (SDK defaults: its logger middleware also walks every record of
 * the input and the output). For reference only (no goal): the same raw loop on a client made as kinesis-out
 * makes its own (quiet logger, one attempt, the PutRecords codec of lib/producer/put-records-codec.ts) —
 * `raw_producer_client_cpu_us_per_record` — i.e. how much of the difference is the client, not the node.
 */
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { awsEnv, body, cpuUs, env, main, now, rawKinesis } from './common';
import { configNode, onTab, pump, startRed } from './red';
import { createAwsClients } from '../../lib/aws/clients';
import { usePutRecordsCodec } from '../../lib/producer/put-records-codec';

// kinesalite accepts ~1–3 k records/s on a loaded 2-core machine: 20 k records keep a run within minutes
const N = Number(process.env.BENCH_PRODUCE_RECORDS) || (env.quick ? 5_000 : 20_000);
const WARM = 2_000;
const WINDOW = 5000; // below kinesis-out's maxQueued (10 000): a flow upstream that waits for the output
const key = (i: number) => `key-${i % 1000}`;

main(async () => {
    const data = Array.from({ length: N + WARM }, (_, i) => body(i));
    const client = rawKinesis();
    const raw = async (from: number, to: number, sender: { send: typeof client.send } = client) => {
        for (let i = from; i < to; i += 500) {
            let entries = data.slice(i, Math.min(i + 500, to)).map((d, k) => ({ Data: d, PartitionKey: key(i + k) }));
            while (entries.length) {
                const out = await sender.send(new PutRecordsCommand({ StreamName: 'bench-out-raw', Records: entries }));
                entries = entries.filter((_, k) => out.Records?.[k]?.ErrorCode);
            }
        }
    };
    await raw(0, WARM);
    const c0 = cpuUs();
    const t0 = now();
    await raw(WARM, WARM + N);
    const rawS = (now() - t0) / 1000;
    const rawCpu = (cpuUs() - c0) / N;
    client.destroy();
    Object.assign(process.env, awsEnv());
    const ours = createAwsClients({});
    usePutRecordsCodec(ours.producerKinesis);
    await raw(0, WARM, ours.producerKinesis);
    const c1 = cpuUs();
    await raw(WARM, WARM + N, ours.producerKinesis);
    const rawOursCpu = (cpuUs() - c1) / N;
    ours.destroy();

    const red = await startRed(awsEnv());
    await red.deploy(onTab([
        configNode(),
        { id: 'src', type: 'bench-source', wires: [['out']] },
        { id: 'out', type: 'kinesis-out', config: 'cfg', streamName: 'bench-out', streamNameType: 'str', partitionKey: 'topic', partitionKeyType: 'msg', wires: [['sink']] },
        { id: 'catch-out', type: 'catch', scope: ['out'], uncaught: false, wires: [['sink']] },
        // the flow floor: the same two hops without Kinesis
        { id: 'src-floor', type: 'bench-source', wires: [['pass']] },
        { id: 'pass', type: 'bench-pass', wires: [['sink']] },
        { id: 'sink', type: 'bench-sink', wires: [] },
    ]));
    const run = async (what: string, source: string, from: number, to: number) => {
        const c = cpuUs();
        const t = now();
        await pump(red, { n: to - from, window: WINDOW, what, source, timeoutMs: 10 * 60_000, message: (i) => ({ payload: data[from + i], topic: key(from + i) }) });
        return { s: (now() - t) / 1000, cpu: (cpuUs() - c) / (to - from) };
    };
    await run('the flow floor (bench-pass)', 'src-floor', 0, WARM);
    const floor = await run('the flow floor (bench-pass)', 'src-floor', WARM, WARM + N);
    await run('kinesis-out acknowledgements (warm-up)', 'src', 0, WARM);
    const node = await run('kinesis-out acknowledgements', 'src', WARM, WARM + N);
    await red.stop();
    return {
        records: N,
        raw_records_per_s: N / rawS,
        raw_cpu_us_per_record: rawCpu,
        raw_producer_client_cpu_us_per_record: rawOursCpu,
        node_records_per_s: N / node.s,
        node_cpu_us_per_record: node.cpu,
        flow_floor_cpu_us_per_record: floor.cpu,
        node_own_cpu_us_per_record: node.cpu - floor.cpu,
        node_vs_raw: rawS / node.s,
        node_cpu_vs_raw: node.cpu / rawCpu,
        node_own_cpu_vs_raw: (node.cpu - floor.cpu) / rawCpu,
    };
});
