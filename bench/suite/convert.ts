/**
 * kinesis-convert: the tutorial's uplink decoder
 *   plain   — as an ordinary JS function (no protection): bytes → array, call, JSON copy-out;
 *   library — lib/convert Converter.uplink (sandboxed, validated: protection on), calls of 4096 records, two
 *             calls in flight (as the node keeps them); its runner started before the timing; the runner's CPU
 *             µs/record read from /proc (Linux);
 *   node    — kinesis-convert in a real Node-RED runtime: bench-source → kinesis-convert → bench-sink;
 *   pass    — the same runtime and harness with bench-pass instead of kinesis-convert (Node-RED's own two
 *             hops per message, no conversion): what the node path cannot go below.
 *   node_batch — the same node fed kinesis-in's batch output (one message per 500 records: `msg.payload`
 *             array + `msg.kinesis.records`), one message out per batch: Node-RED's hops per batch, not per record.
 * CPU µs per record is this process's (process.cpuUsage: Node-RED's side; the runner process converts on
 * the other core and is not counted): wall-clock rates are noisy on a shared machine, CPU much less.
 * Converter.uplink may be synchronous or return a Promise (isolated child process): both are awaited.
 */
/* eslint-disable @typescript-eslint/no-explicit-any */
import { processCpuUs } from '../cpu';
import { Converter } from '../../lib/convert/converter';
import { cpuUs, env, main, now } from './common';
import { onTab, pump, startRed } from './red';

const DECODER = `var data = decodeToJson(payload);
var result = { deviceName: data.devName, deviceType: data.devType, telemetry: { temperature: data.temperature } };
function decodeToString(payload) { return String.fromCharCode.apply(String, payload); }
function decodeToJson(payload) { var str = decodeToString(payload); var data = JSON.parse(str); return data; }
return result;`;

const N = env.quick ? 20_000 : 100_000;
const payloads = Array.from({ length: N }, (_, i) => Buffer.from(JSON.stringify({ devName: `thermostat_${i % 1000}`, devType: 'thermostat', temperature: 20 + (i % 10) })));

function best(rounds: number, fn: () => Promise<number> | number): Promise<number> {
    return (async () => {
        let b = 0;
        for (let i = 0; i < rounds; i++) b = Math.max(b, await fn());
        return b;
    })();
}

/**
 * Best rate (records/s) and lowest CPU µs per record of this process over `rounds` runs of `fn`, with the
 * CPU µs per record of process `otherPid()` (the converter's runner) in that same run, when it can be read.
 */
async function bestWithCpu(rounds: number, fn: () => Promise<void> | void, otherPid?: () => number | undefined): Promise<{ rate: number; cpu: number; other?: number }> {
    let rate = 0;
    let cpu = Infinity;
    let other: number | undefined;
    for (let i = 0; i < rounds; i++) {
        const pid = otherPid?.();
        const o0 = processCpuUs(pid);
        const c0 = cpuUs();
        const t0 = now();
        await fn();
        rate = Math.max(rate, N / ((now() - t0) / 1000));
        const c = (cpuUs() - c0) / N;
        const o1 = pid !== undefined && pid === otherPid?.() ? processCpuUs(pid) : undefined;
        if (c < cpu) {
            cpu = c;
            other = o0 !== undefined && o1 !== undefined ? (o1 - o0) / N : undefined;
        }
    }
    return { rate, cpu, other };
}

main(async () => {
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    const plainFn = new Function('payload', 'metadata', DECODER) as (p: number[], m: Record<string, string>) => unknown;
    const plain = await bestWithCpu(3, () => {
        for (let i = 0; i < N; i++) {
            const b = payloads[i];
            const p = new Array(b.length);
            for (let j = 0; j < b.length; j++) p[j] = b[j];
            JSON.parse(JSON.stringify(plainFn(p, { integrationName: 'bench', partitionKey: String(i % 16), sequenceNumber: String(i) })));
        }
    });

    const converter = new Converter({ direction: 'uplink', script: DECODER, integrationName: 'bench' } as any);
    await (converter as any).start?.(); // the runner's start is not part of the rate
    const reqs = payloads.map((payload, i) => ({ payload, kinesis: { partitionKey: String(i % 16), sequenceNumber: String(i) } }));
    // two calls in flight, as the node keeps them (the next call's first part reaches the runner while this
    // side checks the last part of the one before: awaiting each call alone empties the pipeline between calls)
    const library = await bestWithCpu(3, async () => {
        let previous: Promise<void> | undefined;
        for (let i = 0; i < N; i += 4096) {
            const n = Math.min(4096, N - i);
            const call = Promise.resolve((converter as any).uplink(reqs.slice(i, i + 4096))).then((out: any) => {
                if (!Array.isArray(out) || out.length !== n || out.some((o: any) => o.error)) throw new Error(`Converter.uplink: unexpected result ${JSON.stringify(out?.find?.((o: any) => o.error)?.error ?? out?.length)}`);
            });
            call.catch(() => undefined); // awaited below, in order
            if (previous) await previous;
            previous = call;
        }
        await previous;
    }, () => (converter as any).engine?.runnerPid);
    await (converter as any).close?.();
    await (converter as any).dispose?.();

    const red = await startRed({});
    await red.deploy(onTab([
        { id: 'src', type: 'bench-source', wires: [['conv']] },
        { id: 'conv', type: 'kinesis-convert', direction: 'uplink', scriptLang: 'JS', script: DECODER, registry: 'none', outputs: 1, wires: [['sink']] },
        { id: 'sink', type: 'bench-sink', wires: [] },
        { id: 'catch', type: 'catch', scope: ['conv'], uncaught: false, wires: [['sink']] },
    ]));
    const message = (i: number) => ({ payload: payloads[i], kinesis: { partitionKey: String(i % 16), sequenceNumber: String(i) } });
    // at most 5000 messages on their way, as a consumer upstream would deliver them
    const node = await bestWithCpu(3, () => pump(red, { n: N, window: 5000, what: 'kinesis-convert node', timeoutMs: 120_000, message }));
    // kinesis-in's batch output: 500 records per message (a GetRecords answer of the bench's read), ≤ 5000 records on their way
    const B = 500;
    const batches = Array.from({ length: Math.ceil(N / B) }, (_, b) => {
        const ids = Array.from({ length: Math.min(B, N - b * B) }, (_, k) => b * B + k);
        return { payload: ids.map((i) => payloads[i]), records: ids.map((i) => ({ partitionKey: String(i % 16), sequenceNumber: String(i) })) };
    });
    // a fresh array per message: the node cuts a batch's payload down in place when records fail
    const batchMessage = (b: number) => ({ payload: batches[b].payload.slice(), kinesis: { streamName: 'bench', shardId: 'shardId-000000000000', records: batches[b].records } });
    const nodeBatch = await bestWithCpu(3, () => pump(red, { n: batches.length, window: 10, what: 'kinesis-convert node, record batches', timeoutMs: 120_000, message: batchMessage }));
    await red.deploy(onTab([
        { id: 'src', type: 'bench-source', wires: [['pass']] },
        { id: 'pass', type: 'bench-pass', wires: [['sink']] },
        { id: 'sink', type: 'bench-sink', wires: [] },
    ]));
    const pass = await bestWithCpu(3, () => pump(red, { n: N, window: 5000, what: 'bench-pass', timeoutMs: 120_000, message }));
    await red.stop();
    return {
        records: N,
        plain_records_per_s: plain.rate,
        plain_cpu_us_per_record: plain.cpu,
        library_records_per_s: library.rate,
        library_cpu_us_per_record: library.cpu,
        library_runner_cpu_us_per_record: library.other ?? null,
        node_records_per_s: node.rate,
        node_cpu_us_per_record: node.cpu,
        node_batch_records_per_s: nodeBatch.rate,
        node_batch_cpu_us_per_record: nodeBatch.cpu,
        node_batch_vs_library: nodeBatch.rate / library.rate,
        pass_records_per_s: pass.rate,
        pass_cpu_us_per_record: pass.cpu,
        library_vs_plain: library.rate / plain.rate,
        node_vs_library: node.rate / library.rate,
        node_cpu_vs_library: node.cpu / library.cpu,
        /** the node's own CPU per message: above Node-RED's hops (pass), as a multiple of the library's */
        node_own_cpu_vs_library: (node.cpu - pass.cpu) / library.cpu,
    };
});
