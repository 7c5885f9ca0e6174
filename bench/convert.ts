/**
 * kinesis-convert throughput, as ratios measured in one run (no absolute thresholds):
 *   plain       — the tutorial decoder as an ordinary host function (no protection), JSON copy-out
 *   per-call    — the sandbox with one timeout-guarded vm run per record (maxBatch 1)
 *   batched     — the sandbox with one guarded run per batch (adaptive, up to 4096 records: what the node does)
 *   converter   — batched + ThingsBoard validation/normalisation (Converter.uplink)
 * Run: npm run build && node dist/bench/convert.js [records]
 */
import { ScriptEngine, UplinkInput } from '../lib/convert/sandbox';
import { Converter } from '../lib/convert/converter';

const DECODER = `var data = decodeToJson(payload);
var result = { deviceName: data.devName, deviceType: data.devType, telemetry: { temperature: data.temperature } };
function decodeToString(payload) { return String.fromCharCode.apply(String, payload); }
function decodeToJson(payload) { var str = decodeToString(payload); var data = JSON.parse(str); return data; }
return result;`;

const N = Number(process.argv[2]) || 100_000;
const texts = Array.from({ length: 1000 }, (_, i) => JSON.stringify({ devName: `thermostat_${i}`, devType: 'thermostat', temperature: 20 + (i % 10) }));
const inputs: UplinkInput[] = Array.from({ length: N }, (_, i) => ({ codes: texts[i % texts.length], metadata: { partitionKey: String(i % 16), sequenceNumber: String(i) } }));

/** Best of 3 timed passes after a warm-up pass (the machine may be shared: best-of damps the noise). */
function rate(n: number, fn: () => void): number {
    fn();
    let best = Infinity;
    for (let k = 0; k < 3; k++) {
        const t0 = process.hrtime.bigint();
        fn();
        best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
    }
    return n / best;
}

// plain: same work (payload array, call, JSON copy-out), no vm, no timeout
// eslint-disable-next-line @typescript-eslint/no-implied-eval
const plainFn = new Function('payload', 'metadata', DECODER) as (p: number[], m: Record<string, string>) => unknown;
const plain = rate(N, () => {
    for (const inp of inputs) {
        const p = new Array(inp.codes.length);
        for (let j = 0; j < p.length; j++) p[j] = inp.codes.charCodeAt(j);
        JSON.parse(JSON.stringify(plainFn(p, { integrationName: 'bench', ...inp.metadata })));
    }
});

const perCallN = Math.min(N, 10_000);
const perCallEngine = new ScriptEngine({ direction: 'uplink', script: DECODER, maxBatch: 1, integrationMetadata: { integrationName: 'bench' } });
const perCall = rate(perCallN, () => {
    perCallEngine.runBatch(inputs.slice(0, perCallN));
});

const batchedEngine = new ScriptEngine({ direction: 'uplink', script: DECODER, integrationMetadata: { integrationName: 'bench' } });
const batched = rate(N, () => {
    batchedEngine.runBatch(inputs);
});

const converter = new Converter({ direction: 'uplink', script: DECODER, integrationName: 'bench' });
const buffers = inputs.map((i) => ({ payload: Buffer.from(i.codes), kinesis: { partitionKey: i.metadata.partitionKey, sequenceNumber: i.metadata.sequenceNumber } }));
const full = rate(N, () => {
    for (let i = 0; i < buffers.length; i += 4096) converter.uplink(buffers.slice(i, i + 4096));
});

const fmt = (r: number) => `${Math.round(r).toLocaleString('en-US').padStart(10)} records/s`;
console.log(`kinesis-convert bench (${N} records, tutorial decoder, Node ${process.version})`);
console.log(`  plain JS function      ${fmt(plain)}   1.00×`);
console.log(`  sandboxed, per call    ${fmt(perCall)}   ${(perCall / plain).toFixed(3)}× plain`);
console.log(`  sandboxed, batched     ${fmt(batched)}   ${(batched / plain).toFixed(3)}× plain   ${(batched / perCall).toFixed(1)}× per call`);
console.log(`  converter (validated)  ${fmt(full)}   ${(full / plain).toFixed(3)}× plain   ${(full / perCall).toFixed(1)}× per call`);
