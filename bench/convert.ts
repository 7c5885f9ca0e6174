/**
 * kinesis-convert throughput, as ratios measured in one run (no absolute thresholds):
 *   plain       — the tutorial decoder as an ordinary host function (no protection), JSON copy-out
 *   vm only     — the inner layer alone, in this process (VmEngine, batched): what 0.x did, no boundary
 *   worker      — the same vm layer in a worker_thread with resourceLimits, one message per batch
 *                 (the alternative that was measured and not chosen: see DESIGN.md "Converter isolation")
 *   runner, per record — the runner process with one round trip per record (maxBatch 1)
 *   runner, batched    — the runner process, adaptive chunks (up to 4096), three in flight: what the node does
 *   converter   — batched + ThingsBoard validation/normalisation (Converter.uplink, 4096 per call), protection on
 * The runner rows use two processes (two cores when the machine has them idle): besides records/s each
 * row gives the CPU time per record of this process and of the runner (from /proc, Linux), which a
 * loaded machine does not distort as much as wall-clock rates.
 * Run: npm run build && node dist/bench/convert.js [records]
 * Exported: `runConvertBench(records)` → the rows (records/s, CPU µs/record), for scripts that collect figures.
 */
import { processCpuUs } from './cpu';
import { Worker } from 'node:worker_threads';
import { ScriptEngine, UplinkInput } from '../lib/convert/sandbox';
import { uplinkBatch } from '../lib/convert/runner/frames';
import { VmEngine } from '../lib/convert/runner/vm-engine';
import { Converter } from '../lib/convert/converter';

const DECODER = `var data = decodeToJson(payload);
var result = { deviceName: data.devName, deviceType: data.devType, telemetry: { temperature: data.temperature } };
function decodeToString(payload) { return String.fromCharCode.apply(String, payload); }
function decodeToJson(payload) { var str = decodeToString(payload); var data = JSON.parse(str); return data; }
return result;`;

export interface ConvertBenchRow {
    name: string;
    recordsPerSecond: number;
    /** CPU time of this process per record (µs, all its threads: GC included), median of the timed passes. */
    cpuUsPerRecord: number;
    /** CPU time of the runner process per record (µs), where there is one (Linux /proc). */
    runnerCpuUsPerRecord?: number;
}

/** Best rate of 3 timed passes after a warm-up pass (the machine may be shared: best-of damps the noise); CPU per record as medians. */
async function rate(name: string, n: number, fn: () => unknown, runnerPid?: () => number | undefined): Promise<ConvertBenchRow> {
    await fn();
    let best = Infinity;
    const cpu: number[] = [];
    const runner: number[] = [];
    for (let k = 0; k < 3; k++) {
        const pid = runnerPid?.();
        const r0 = processCpuUs(pid);
        const c0 = process.cpuUsage();
        const t0 = process.hrtime.bigint();
        await fn();
        best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
        const c = process.cpuUsage(c0);
        const r1 = pid === runnerPid?.() ? processCpuUs(pid) : undefined;
        cpu.push((c.user + c.system) / n);
        if (r0 !== undefined && r1 !== undefined) runner.push((r1 - r0) / n);
    }
    const median = (a: number[]) => a.sort((x, y) => x - y)[a.length >> 1];
    return { name, recordsPerSecond: n / best, cpuUsPerRecord: median(cpu), runnerCpuUsPerRecord: runner.length ? median(runner) : undefined };
}

/** The vm-only and worker rows hand the text over as a string (the runner decodes the batch's bytes the same way). */
const encode = (chunk: UplinkInput[]) => {
    const x = uplinkBatch(chunk);
    return { h: x.h, b: x.b.toString('utf8') };
};

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { VmEngine } = require(workerData.engine);
const e = new VmEngine({ direction: 'uplink', tbel: false, script: workerData.script, timeoutMs: 1000, integrationMetadata: { integrationName: 'bench' } });
parentPort.on('message', (m) => { e.stage(m.h, m.b); const o = e.run(0, false); e.finish(); parentPort.postMessage('{' + o.json + '}'); });
`;

export async function runConvertBench(N = 100_000): Promise<ConvertBenchRow[]> {
    const texts = Array.from({ length: 1000 }, (_, i) => JSON.stringify({ devName: `thermostat_${i}`, devType: 'thermostat', temperature: 20 + (i % 10) }));
    const inputs: UplinkInput[] = Array.from({ length: N }, (_, i) => ({ codes: texts[i % texts.length], metadata: { partitionKey: String(i % 16), sequenceNumber: String(i) } }));
    const rows: ConvertBenchRow[] = [];

    // plain: same work (payload array, call, JSON copy-out), no vm, no timeout
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    const plainFn = new Function('payload', 'metadata', DECODER) as (p: number[], m: Record<string, string>) => unknown;
    rows.push(
        await rate('plain JS function', N, () => {
            for (const inp of inputs) {
                const codes = inp.codes as string;
                const p = new Array(codes.length);
                for (let j = 0; j < p.length; j++) p[j] = codes.charCodeAt(j);
                JSON.parse(JSON.stringify(plainFn(p, { integrationName: 'bench', ...inp.metadata })));
            }
        }),
    );

    const vmOnly = new VmEngine({ direction: 'uplink', tbel: false, script: DECODER, timeoutMs: 1000, integrationMetadata: { integrationName: 'bench' } });
    rows.push(
        await rate('vm only, in-process (no boundary)', N, () => {
            for (let i = 0; i < N; i += 4096) {
                const { h, b } = encode(inputs.slice(i, i + 4096));
                vmOnly.stage(h, b);
                const o = vmOnly.run(0, false);
                JSON.parse(`{${o.done ? o.json : ''}}`);
                vmOnly.finish();
            }
        }),
    );

    const worker = new Worker(WORKER_SOURCE, { eval: true, env: {}, resourceLimits: { maxOldGenerationSizeMb: 128 }, workerData: { engine: require.resolve('../lib/convert/runner/vm-engine'), script: DECODER } });
    const viaWorker = (h: string, b: string) => new Promise<string>((resolve) => { worker.once('message', resolve); worker.postMessage({ h, b }); });
    rows.push(
        await rate('worker_thread, batched (not used)', N, async () => {
            for (let i = 0; i < N; i += 4096) {
                const { h, b } = encode(inputs.slice(i, i + 4096));
                JSON.parse(await viaWorker(h, b));
            }
        }),
    );
    await worker.terminate();

    const perCallN = Math.min(N, 5_000);
    const perCallEngine = await ScriptEngine.create({ direction: 'uplink', script: DECODER, maxBatch: 1, integrationMetadata: { integrationName: 'bench' } });
    rows.push(await rate('runner process, per record', perCallN, () => perCallEngine.runBatch(inputs.slice(0, perCallN)), () => perCallEngine.runnerPid));
    perCallEngine.close();

    const batchedEngine = await ScriptEngine.create({ direction: 'uplink', script: DECODER, integrationMetadata: { integrationName: 'bench' } });
    rows.push(await rate('runner process, batched', N, () => batchedEngine.runBatch(inputs), () => batchedEngine.runnerPid));
    batchedEngine.close();

    const converter = await Converter.create({ direction: 'uplink', script: DECODER, integrationName: 'bench' });
    const buffers = inputs.map((i) => ({ payload: Buffer.from(i.codes as string), kinesis: { partitionKey: i.metadata.partitionKey, sequenceNumber: i.metadata.sequenceNumber } }));
    rows.push(
        await rate('converter (validated, protected)', N, async () => {
            for (let i = 0; i < buffers.length; i += 4096) await converter.uplink(buffers.slice(i, i + 4096));
        }, () => converter.engine.runnerPid),
    );
    converter.close();
    return rows;
}

if (require.main === module) {
    const N = Number(process.argv[2]) || 100_000;
    void runConvertBench(N).then((rows) => {
        const plain = rows[0].recordsPerSecond;
        const load = require('node:os').loadavg() as number[];
        console.log(`kinesis-convert bench (${N} records, tutorial decoder, Node ${process.version}, load average ${load.map((l) => l.toFixed(1)).join(' ')})`);
        console.log(`  ${'path'.padEnd(36)} ${'records/s'.padStart(10)}   × plain   CPU µs/record: this process + runner`);
        for (const r of rows) {
            const cpu = `${r.cpuUsPerRecord.toFixed(2)}${r.runnerCpuUsPerRecord === undefined ? '' : ` + ${r.runnerCpuUsPerRecord.toFixed(2)}`}`;
            console.log(`  ${r.name.padEnd(36)} ${Math.round(r.recordsPerSecond).toLocaleString('en-US').padStart(10)}   ${(r.recordsPerSecond / plain).toFixed(3)}×    ${cpu}`);
        }
        process.exit(0);
    });
}
