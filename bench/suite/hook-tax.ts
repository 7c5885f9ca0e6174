/**
 * Hook tax: what an idle kinesis-in (checkpointMode 'complete' registers Node-RED message hooks) costs
 * an unrelated flow. The flow: bench-source → 9 × bench-pass → bench-sink (10 hops per message), in a
 * real Node-RED runtime; CPU of this process per message per hop, without and then with an idle
 * kinesis-in deployed (LATEST on an empty stream), alternating, best of each (the machine is shared).
 *   tax = (with − without) / hops
 */
import { awsEnv, cpuUs, env, main, now, within } from './common';
import { configNode, EmbeddedRed, onTab, startRed } from './red';

const HOPS = 10;
const N = env.quick ? 20_000 : 100_000;
const ROUNDS = env.quick ? 2 : 3;

function chain(): Array<Record<string, unknown>> {
    const nodes: Array<Record<string, unknown>> = [{ id: 'src', type: 'bench-source', wires: [['p1']] }];
    for (let i = 1; i < HOPS; i++) nodes.push({ id: `p${i}`, type: 'bench-pass', wires: [[i + 1 < HOPS ? `p${i + 1}` : 'sink']] });
    nodes.push({ id: 'sink', type: 'bench-sink', wires: [] });
    return nodes;
}

/** Sends N messages (in windows of 1000, so the queue stays small); µs CPU per message per hop. */
async function pass(red: EmbeddedRed): Promise<{ cpu: number; wall: number }> {
    let got = 0;
    let wake: (() => void) | undefined;
    red.onSink = (_msg, done) => {
        done();
        got++;
        if (wake && got % 1000 === 0) wake();
    };
    const src = red.source('src');
    const c0 = cpuUs();
    const t0 = now();
    for (let sent = 0; sent < N; sent += 1000) {
        for (let i = 0; i < 1000; i++) src.send({ payload: sent + i, topic: 'unrelated' });
        await within('hook-tax flow', new Promise<void>((r) => (wake = r)), 60_000);
    }
    return { cpu: (cpuUs() - c0) / N / HOPS, wall: (now() - t0) / N / HOPS };
}

main(async () => {
    const red = await startRed(awsEnv());
    const idle = [configNode(), { id: 'in', type: 'kinesis-in', config: 'cfg', streamName: 'bench-idle', applicationName: `bench-idle-${env.rep}-${process.pid}`,
        initialPosition: 'LATEST', checkpointMode: 'complete', wires: [['idle-sink']] }, { id: 'idle-sink', type: 'bench-sink', wires: [] }];
    const without: number[] = [];
    const withIn: number[] = [];
    await red.deploy(onTab(chain()));
    await pass(red); // warm-up
    for (let r = 0; r < ROUNDS; r++) {
        await red.deploy(onTab(chain()));
        without.push((await pass(red)).cpu);
        await red.deploy(onTab([...chain(), ...idle]));
        withIn.push((await pass(red)).cpu);
    }
    await red.stop();
    const a = Math.min(...without);
    const b = Math.min(...withIn);
    return { hops: HOPS, messages: N, without_us_per_message_hop: a, with_us_per_message_hop: b, tax_us_per_message_hop: b - a };
});
