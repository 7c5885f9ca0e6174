/**
 * Hook tax: what an idle kinesis-in (checkpointMode 'complete': it tracks its messages with Node-RED's
 * message hooks) costs an unrelated flow. The flow: bench-source → 9 × bench-pass → bench-sink (10 hops
 * per message), in a real Node-RED runtime; CPU of this process per message per hop.
 *
 * A/B, side by side: the chain alone (A) and the chain beside an idle kinesis-in (B, LATEST on an empty
 * stream), deployed alternately; after each deploy the runtime settles (SETTLE_MS: the kinesis-in has
 * started, taken its lease and polls) before a pass is measured, so the deploy itself (SDK clients, lease
 * table) is not counted — what is counted is the steady state an unrelated flow lives with. Each pass
 * sends N messages; tax = median over rounds of (B − A) of the same round (the load moves between
 * rounds). `hooks_during_idle` lists the message hooks registered while the idle kinesis-in was deployed
 * (expected: none — the shared hooks exist only while a kinesis-in message is tracked).
 */
import { awsEnv, cpuUs, env, main, now, sleep, within } from './common';
import { configNode, EmbeddedRed, onTab, startRed } from './red';

const HOPS = 10;
const N = env.quick ? 20_000 : 100_000;
const ROUNDS = env.quick ? 3 : 7;
const SETTLE_MS = 3000;

function chain(): Array<Record<string, unknown>> {
    const nodes: Array<Record<string, unknown>> = [{ id: 'src', type: 'bench-source', wires: [['p1']] }];
    for (let i = 1; i < HOPS; i++) nodes.push({ id: `p${i}`, type: 'bench-pass', wires: [[i + 1 < HOPS ? `p${i + 1}` : 'sink']] });
    nodes.push({ id: 'sink', type: 'bench-sink', wires: [] });
    return nodes;
}

/** Sends N messages (in windows of 1000, so the queue stays small); µs CPU per message per hop. */
async function pass(red: EmbeddedRed, hooksSeen: Set<string>): Promise<{ cpu: number; wall: number }> {
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
        if (sent % 20_000 === 0) for (const h of red.messageHooks()) hooksSeen.add(h);
    }
    return { cpu: (cpuUs() - c0) / N / HOPS, wall: (now() - t0) / N / HOPS };
}

const median = (v: number[]) => {
    const s = [...v].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

main(async () => {
    const red = await startRed(awsEnv());
    const idle = [configNode(), { id: 'in', type: 'kinesis-in', config: 'cfg', streamName: 'bench-idle', applicationName: `bench-idle-${env.rep}-${process.pid}`,
        initialPosition: 'LATEST', checkpointMode: 'complete', wires: [['idle-sink']] }, { id: 'idle-sink', type: 'bench-sink', wires: [] }];
    const without: number[] = [];
    const withIn: number[] = [];
    const diffs: number[] = [];
    const hooksAlone = new Set<string>();
    const hooksIdle = new Set<string>();
    // warm-up of both (JIT, the package's modules, the lease table)
    await red.deploy(onTab([...chain(), ...idle]));
    await sleep(SETTLE_MS);
    await pass(red, new Set());
    await red.deploy(onTab(chain()));
    await pass(red, new Set());
    for (let r = 0; r < ROUNDS; r++) {
        // alternate which goes first (a trend in the load does not favour one side)
        const order = r % 2 ? ['with', 'without'] : ['without', 'with'];
        let a = 0;
        let b = 0;
        for (const which of order) {
            await red.deploy(onTab(which === 'with' ? [...chain(), ...idle] : chain()));
            await sleep(SETTLE_MS);
            const cpu = (await pass(red, which === 'with' ? hooksIdle : hooksAlone)).cpu;
            if (which === 'with') b = cpu;
            else a = cpu;
        }
        without.push(a);
        withIn.push(b);
        diffs.push(b - a);
    }
    await red.stop();
    return {
        hops: HOPS,
        messages: N,
        rounds: ROUNDS,
        without_us_per_message_hop: median(without),
        with_us_per_message_hop: median(withIn),
        tax_us_per_message_hop: median(diffs),
        tax_min_us: Math.min(...diffs),
        tax_max_us: Math.max(...diffs),
        hooks_during_idle: [...hooksIdle].join(',') || 'none',
        hooks_without: [...hooksAlone].join(',') || 'none',
    };
});
