/**
 * kinesis-convert: the tutorial's uplink decoder
 *   plain   — as an ordinary JS function (no protection): bytes → array, call, JSON copy-out;
 *   library — lib/convert Converter.uplink (sandboxed, validated: protection on), batches of 4096; its
 *             runner started before the timing; CPU µs/record of this process and of the runner (/proc);
 *   node    — kinesis-convert in a real Node-RED runtime: bench-source → kinesis-convert → bench-sink.
 * Converter.uplink may be synchronous or return a Promise (isolated child process): both are awaited.
 */
/* eslint-disable @typescript-eslint/no-explicit-any */
import { readFileSync } from 'node:fs';
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

/** CPU time (µs) of another process, from /proc/<pid>/stat (Linux; utime + stime in 10 ms ticks). */
function processCpuUs(pid: number | undefined): number | undefined {
    if (!pid || process.platform !== 'linux') return undefined;
    try {
        const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
        return (Number(f[11]) + Number(f[12])) * 10_000;
    } catch {
        return undefined;
    }
}

function cpuUs(c: NodeJS.CpuUsage): number {
    return c.user + c.system;
}

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
    let plainCpu = Infinity;
    const plain = await best(3, () => {
        const c0 = process.cpuUsage();
        const t0 = now();
        for (let i = 0; i < N; i++) {
            const b = payloads[i];
            const p = new Array(b.length);
            for (let j = 0; j < b.length; j++) p[j] = b[j];
            JSON.parse(JSON.stringify(plainFn(p, { integrationName: 'bench', partitionKey: String(i % 16), sequenceNumber: String(i) })));
        }
        const rate = N / ((now() - t0) / 1000);
        plainCpu = Math.min(plainCpu, cpuUs(process.cpuUsage(c0)) / N);
        return rate;
    });

    const converter = new Converter({ direction: 'uplink', script: DECODER, integrationName: 'bench' } as any);
    await (converter as any).start?.(); // the runner's start is not part of the rate
    const reqs = payloads.map((payload, i) => ({ payload, kinesis: { partitionKey: String(i % 16), sequenceNumber: String(i) } }));
    let libraryCpu = Infinity;
    let runnerCpu: number | undefined;
    const library = await best(3, async () => {
        const pid: number | undefined = (converter as any).engine?.runnerPid;
        const r0 = processCpuUs(pid);
        const c0 = process.cpuUsage();
        const t0 = now();
        for (let i = 0; i < N; i += 4096) {
            const out: any = await (converter as any).uplink(reqs.slice(i, i + 4096));
            if (!Array.isArray(out) || out.length !== Math.min(4096, N - i)) throw new Error('Converter.uplink: unexpected result');
        }
        const rate = N / ((now() - t0) / 1000);
        const cpu = cpuUs(process.cpuUsage(c0)) / N;
        const r1 = pid === (converter as any).engine?.runnerPid ? processCpuUs(pid) : undefined;
        if (cpu < libraryCpu) {
            libraryCpu = cpu;
            runnerCpu = r0 !== undefined && r1 !== undefined ? (r1 - r0) / N : undefined;
        }
        return rate;
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
        plain_cpu_us_per_record: plainCpu,
        library_cpu_us_per_record: libraryCpu,
        library_runner_cpu_us_per_record: runnerCpu ?? null,
        node_vs_library: node / library,
    };
});
