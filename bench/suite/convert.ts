/**
 * kinesis-convert: the tutorial's uplink decoder
 *   plain   — as an ordinary JS function (no protection): bytes → array, call, JSON copy-out;
 *   library — lib/convert Converter.uplink (sandboxed, validated: protection on), batches of 4096;
 *   node    — kinesis-convert in a real Node-RED runtime: bench-source → kinesis-convert → bench-sink.
 * Converter.uplink may be synchronous or return a Promise (isolated child process): both are awaited.
 */
/* eslint-disable @typescript-eslint/no-explicit-any */
import { Converter } from '../../lib/convert/converter';
import { env, main, now } from './common';
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

main(async () => {
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    const plainFn = new Function('payload', 'metadata', DECODER) as (p: number[], m: Record<string, string>) => unknown;
    const plain = await best(3, () => {
        const t0 = now();
        for (let i = 0; i < N; i++) {
            const b = payloads[i];
            const p = new Array(b.length);
            for (let j = 0; j < b.length; j++) p[j] = b[j];
            JSON.parse(JSON.stringify(plainFn(p, { integrationName: 'bench', partitionKey: String(i % 16), sequenceNumber: String(i) })));
        }
        return N / ((now() - t0) / 1000);
    });

    const converter = new Converter({ direction: 'uplink', script: DECODER, integrationName: 'bench' } as any);
    const reqs = payloads.map((payload, i) => ({ payload, kinesis: { partitionKey: String(i % 16), sequenceNumber: String(i) } }));
    const library = await best(3, async () => {
        const t0 = now();
        for (let i = 0; i < N; i += 4096) {
            const out: any = await (converter as any).uplink(reqs.slice(i, i + 4096));
            if (!Array.isArray(out) || out.length !== Math.min(4096, N - i)) throw new Error('Converter.uplink: unexpected result');
        }
        return N / ((now() - t0) / 1000);
    });
    await (converter as any).close?.();
    await (converter as any).dispose?.();

    const red = await startRed({});
    await red.deploy(onTab([
        { id: 'src', type: 'bench-source', wires: [['conv']] },
        { id: 'conv', type: 'kinesis-convert', direction: 'uplink', scriptLang: 'JS', script: DECODER, registry: 'none', outputs: 1, wires: [['sink']] },
        { id: 'sink', type: 'bench-sink', wires: [] },
        { id: 'catch', type: 'catch', scope: ['conv'], uncaught: false, wires: [['sink']] },
    ]));
    const node = await best(3, async () => {
        const t0 = now();
        // at most 5000 messages on their way, as a consumer upstream would deliver them
        await pump(red, { n: N, window: 5000, what: 'kinesis-convert node', timeoutMs: 120_000,
            message: (i) => ({ payload: payloads[i], kinesis: { partitionKey: String(i % 16), sequenceNumber: String(i) } }) });
        return N / ((now() - t0) / 1000);
    });
    await red.stop();
    return {
        records: N,
        plain_records_per_s: plain,
        library_records_per_s: library,
        node_records_per_s: node,
        library_vs_plain: library / plain,
        node_vs_library: node / library,
    };
});
