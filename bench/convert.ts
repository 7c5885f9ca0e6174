/**
 * kinesis-convert throughput, as ratios measured in one run (no absolute thresholds):
 *   plain       — the tutorial decoder as an ordinary host function (no protection), JSON copy-out
 *   vm only     — the inner layer alone, in this process (VmEngine, batched): what 0.x did, no boundary
 *   worker      — the same vm layer in a worker_thread with resourceLimits, one message per batch
 *                 (the alternative that was measured and not chosen: see DESIGN.md "Converter isolation")
 *   runner, per record — the runner process with one round trip per record (maxBatch 1)
 *   runner, batched    — the runner process, one round trip per batch (adaptive, up to 4096): what the node does
 *   converter   — batched + ThingsBoard validation/normalisation (Converter.uplink), protection on
 * One batch is in flight at a time, so Node-RED and the runner take turns: the rates are per core.
 * Run: npm run build && node dist/bench/convert.js [records]
 * Exported: `runConvertBench(records)` → the rows (records/s), for scripts that collect figures.
 */
import { Worker } from 'node:worker_threads';
import { ScriptEngine, UplinkInput } from '../lib/convert/sandbox';
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
}

/** Best of 3 timed passes after a warm-up pass (the machine may be shared: best-of damps the noise). */
async function rate(n: number, fn: () => unknown): Promise<number> {
    await fn();
    let best = Infinity;
    for (let k = 0; k < 3; k++) {
        const t0 = process.hrtime.bigint();
        await fn();
        best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
    }
    return n / best;
}

function encode(chunk: UplinkInput[]): { h: string; b: string } {
    const h: unknown[] = [];
    let b = '';
    for (const inp of chunk) {
        h.push([inp.codes.length, inp.metadata]);
        b += inp.codes;
    }
    return { h: JSON.stringify(h), b };
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { VmEngine } = require(workerData.engine);
const e = new VmEngine({ direction: 'uplink', tbel: false, script: workerData.script, timeoutMs: 1000, integrationMetadata: { integrationName: 'bench' } });
parentPort.on('message', (m) => { e.stage(m.h, m.b); const o = e.run(0, false); e.finish(); parentPort.postMessage(o.json); });
`;

export async function runConvertBench(N = 100_000): Promise<ConvertBenchRow[]> {
    const texts = Array.from({ length: 1000 }, (_, i) => JSON.stringify({ devName: `thermostat_${i}`, devType: 'thermostat', temperature: 20 + (i % 10) }));
    const inputs: UplinkInput[] = Array.from({ length: N }, (_, i) => ({ codes: texts[i % texts.length], metadata: { partitionKey: String(i % 16), sequenceNumber: String(i) } }));
    const rows: ConvertBenchRow[] = [];

    // plain: same work (payload array, call, JSON copy-out), no vm, no timeout
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    const plainFn = new Function('payload', 'metadata', DECODER) as (p: number[], m: Record<string, string>) => unknown;
    rows.push({
        name: 'plain JS function',
        recordsPerSecond: await rate(N, () => {
            for (const inp of inputs) {
                const p = new Array(inp.codes.length);
                for (let j = 0; j < p.length; j++) p[j] = inp.codes.charCodeAt(j);
                JSON.parse(JSON.stringify(plainFn(p, { integrationName: 'bench', ...inp.metadata })));
            }
        }),
    });

    const vmOnly = new VmEngine({ direction: 'uplink', tbel: false, script: DECODER, timeoutMs: 1000, integrationMetadata: { integrationName: 'bench' } });
    rows.push({
        name: 'vm only, in-process (no boundary)',
        recordsPerSecond: await rate(N, () => {
            for (let i = 0; i < N; i += 4096) {
                const { h, b } = encode(inputs.slice(i, i + 4096));
                vmOnly.stage(h, b);
                JSON.parse(vmOnly.run(0, false).json);
                vmOnly.finish();
            }
        }),
    });

    const worker = new Worker(WORKER_SOURCE, { eval: true, env: {}, resourceLimits: { maxOldGenerationSizeMb: 128 }, workerData: { engine: require.resolve('../lib/convert/runner/vm-engine'), script: DECODER } });
    const viaWorker = (h: string, b: string) => new Promise<string>((resolve) => { worker.once('message', resolve); worker.postMessage({ h, b }); });
    rows.push({
        name: 'worker_thread, batched (not used)',
        recordsPerSecond: await rate(N, async () => {
            for (let i = 0; i < N; i += 4096) {
                const { h, b } = encode(inputs.slice(i, i + 4096));
                JSON.parse(await viaWorker(h, b));
            }
        }),
    });
    await worker.terminate();

    const perCallN = Math.min(N, 5_000);
    const perCallEngine = await ScriptEngine.create({ direction: 'uplink', script: DECODER, maxBatch: 1, integrationMetadata: { integrationName: 'bench' } });
    rows.push({ name: 'runner process, per record', recordsPerSecond: await rate(perCallN, () => perCallEngine.runBatch(inputs.slice(0, perCallN))) });
    perCallEngine.close();

    const batchedEngine = await ScriptEngine.create({ direction: 'uplink', script: DECODER, integrationMetadata: { integrationName: 'bench' } });
    rows.push({ name: 'runner process, batched', recordsPerSecond: await rate(N, () => batchedEngine.runBatch(inputs)) });
    batchedEngine.close();

    const converter = await Converter.create({ direction: 'uplink', script: DECODER, integrationName: 'bench' });
    const buffers = inputs.map((i) => ({ payload: Buffer.from(i.codes), kinesis: { partitionKey: i.metadata.partitionKey, sequenceNumber: i.metadata.sequenceNumber } }));
    rows.push({
        name: 'converter (validated, protected)',
        recordsPerSecond: await rate(N, async () => {
            for (let i = 0; i < buffers.length; i += 4096) await converter.uplink(buffers.slice(i, i + 4096));
        }),
    });
    converter.close();
    return rows;
}

if (require.main === module) {
    const N = Number(process.argv[2]) || 100_000;
    void runConvertBench(N).then((rows) => {
        const plain = rows[0].recordsPerSecond;
        console.log(`kinesis-convert bench (${N} records, tutorial decoder, Node ${process.version})`);
        for (const r of rows) {
            console.log(`  ${r.name.padEnd(36)} ${Math.round(r.recordsPerSecond).toLocaleString('en-US').padStart(10)} records/s   ${(r.recordsPerSecond / plain).toFixed(3)}× plain`);
        }
        process.exit(0);
    });
}
