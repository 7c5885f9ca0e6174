/**
 * KPL codec throughput, as ratios against baselines run in the same process (no absolute targets).
 *   npm run build && node dist/bench/kpl.js [--seconds 0.5]
 *
 * Workload: outer records of 100 user records × 200-byte payloads, a distinct 36-character partition
 * key per user record (the worst case for the key table) and every 4th record with an explicit hash key.
 * - deaggregate vs baseline "subarray": slicing the same sub-record byte ranges (known in advance) out of
 *   the same buffers, and vs "md5 + subarray": that plus the MD5 check — the unavoidable part.
 * - aggregate vs baseline "concat": Buffer.concat of the same payloads (no framing, no MD5).
 */
import { createHash, randomUUID } from 'crypto';
import { aggregate, deaggregate, type AggregateInput } from '../lib/kpl';
import type { _Record } from '@aws-sdk/client-kinesis';

const argSeconds = process.argv.indexOf('--seconds');
const SECONDS = argSeconds > 0 ? Number(process.argv[argSeconds + 1]) : 0.5;
const OUTER = 50;
const PER = 100;
const PAYLOAD = 200;

function run(label: string, fn: () => number): { perSec: number } {
    for (let i = 0; i < 3; i++) fn(); // warm up
    let n = 0;
    const start = process.hrtime.bigint();
    const budget = BigInt(Math.round(SECONDS * 1e9));
    let elapsed = 0n;
    do {
        n += fn();
        elapsed = process.hrtime.bigint() - start;
    } while (elapsed < budget);
    const perSec = n / (Number(elapsed) / 1e9);
    console.log(`${label.padEnd(28)} ${Math.round(perSec).toLocaleString('en-US').padStart(14)} user records/s`);
    return { perSec };
}

const inputs: AggregateInput[][] = [];
const records: _Record[] = [];
const ranges: number[][] = [];
for (let o = 0; o < OUTER; o++) {
    const batch: AggregateInput[] = [];
    for (let i = 0; i < PER; i++) {
        const data = Buffer.alloc(PAYLOAD, `{"temperature":${i},"device":"${o}"}`);
        batch.push(i % 4 === 0 ? { data, partitionKey: randomUUID(), explicitHashKey: String(BigInt(i) * 10n ** 30n) } : { data, partitionKey: randomUUID() });
    }
    inputs.push(batch);
    const agg = aggregate(batch);
    records.push({ Data: agg, PartitionKey: batch[0].partitionKey, SequenceNumber: `4959${o}`, ApproximateArrivalTimestamp: new Date() });
    ranges.push(deaggregate(records[o]).map((u) => u.data.byteOffset - agg.byteOffset));
}

console.log(`KPL codec: ${OUTER} aggregated records × ${PER} user records × ${PAYLOAD} B, ${SECONDS}s per case`);
let sink = 0;
const base = run('baseline subarray', () => {
    let n = 0;
    for (let o = 0; o < OUTER; o++) {
        const buf = records[o].Data as Buffer;
        const r = ranges[o];
        for (let i = 0; i < r.length; i++) {
            sink += buf.subarray(r[i], r[i] + PAYLOAD).length;
            n++;
        }
    }
    return n;
});
const baseMd5 = run('baseline md5 + subarray', () => {
    let n = 0;
    for (let o = 0; o < OUTER; o++) {
        const buf = records[o].Data as Buffer;
        sink += createHash('md5').update(buf.subarray(4, buf.length - 16)).digest()[0];
        const r = ranges[o];
        for (let i = 0; i < r.length; i++) {
            sink += buf.subarray(r[i], r[i] + PAYLOAD).length;
            n++;
        }
    }
    return n;
});
const deagg = run('deaggregate', () => {
    let n = 0;
    for (let o = 0; o < OUTER; o++) n += deaggregate(records[o]).length;
    return n;
});
const concat = run('baseline concat', () => {
    let n = 0;
    for (let o = 0; o < OUTER; o++) {
        sink += Buffer.concat(inputs[o].map((r) => r.data)).length;
        n += PER;
    }
    return n;
});
const agg = run('aggregate', () => {
    let n = 0;
    for (let o = 0; o < OUTER; o++) {
        sink += aggregate(inputs[o]).length;
        n += PER;
    }
    return n;
});
console.log(`deaggregate / subarray baseline:       ${(deagg.perSec / base.perSec).toFixed(3)} (µs per user record: ${(1e6 / deagg.perSec).toFixed(2)})`);
console.log(`deaggregate / md5+subarray baseline:   ${(deagg.perSec / baseMd5.perSec).toFixed(3)} (1.0 = parsing and objects cost nothing)`);
console.log(`aggregate / concat baseline:           ${(agg.perSec / concat.perSec).toFixed(3)} (µs per user record: ${(1e6 / agg.perSec).toFixed(2)})`);
if (sink < 0) console.log(sink);
