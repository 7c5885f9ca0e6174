/**
 * Memory under a backlog: kinesis-in (defaults, checkpointMode 'complete') in a real Node-RED runtime
 * reads a stream holding BENCH_BACKLOG_RECORDS records (1 M; --quick 100 k) into a slow sink (it
 * finishes ~2 000 messages/s), for a fixed window from the first record on. RSS growth = peak RSS during the window − RSS of the
 * runtime with an idle flow before it (after a GC). Also: peak heap and peak external memory (`external` includes the
 * ArrayBuffers of Buffers, `array_buffers_growth_mb` is that part) over the same base, and what is still live after a
 * full GC at the end of the window (`live_*`: what kinesis-in holds, the rest of the peak being garbage V8 had not
 * collected yet). The peak depends much on when V8 runs its first full GC: the limit it sets at the bench's forced GC of
 * the idle runtime is ~3× that heap, and the window's figure is 50–70 or 105–115 MB, for the same code, by whether a
 * full GC came in its first seconds; `major_gcs` / `first_major_gc_s` (from the first record) say which it was (RSS
 * falls little after a full GC: V8 keeps the pages). Run with --expose-gc.
 */
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { awsEnv, env, main, now, sleep } from './common';
import { configNode, onTab, startRed } from './red';

const WINDOW_MS = env.quick ? 20_000 : 45_000; // from the first record on
const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
const mb = (b: number) => b / 1024 / 1024;

main(async () => {
    const red = await startRed(awsEnv());
    const queue: Array<() => void> = [];
    let delivered = 0;
    red.onSink = (_msg, done) => {
        delivered++;
        queue.push(done);
    };
    const slow = setInterval(() => {
        for (let i = 0; i < 20 && queue.length; i++) queue.shift()!();
    }, 10);
    await red.deploy(onTab([{ id: 'idle', type: 'bench-sink', wires: [] }]));
    await sleep(1000);
    gc();
    await sleep(200);
    gc();
    const base = process.memoryUsage();
    await red.deploy(onTab([
        configNode(),
        { id: 'in', type: 'kinesis-in', config: 'cfg', streamName: env.backlogStream, applicationName: `bench-backlog-${process.pid}`,
            initialPosition: 'TRIM_HORIZON', checkpointMode: 'complete', wires: [['sink']] },
        { id: 'sink', type: 'bench-sink', wires: [] },
    ]));
    let peakRss = 0;
    let peakHeap = 0;
    let peakExternal = 0;
    let peakArrayBuffers = 0;
    let t0 = 0;
    // full GCs (mark-compact) from the first record on
    const majors: number[] = [];
    const gcs = new PerformanceObserver((list) => {
        for (const e of list.getEntries()) {
            const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind;
            if (kind === constants.NODE_PERFORMANCE_GC_MAJOR && t0) majors.push(now());
        }
    });
    gcs.observe({ entryTypes: ['gc'] });
    const deadline = now() + WINDOW_MS + 180_000;
    while ((!t0 || now() - t0 < WINDOW_MS) && now() < deadline) {
        if (!t0 && delivered > 0) t0 = now();
        const m = process.memoryUsage();
        peakRss = Math.max(peakRss, m.rss);
        peakHeap = Math.max(peakHeap, m.heapUsed);
        peakExternal = Math.max(peakExternal, m.external);
        peakArrayBuffers = Math.max(peakArrayBuffers, m.arrayBuffers);
        await sleep(100);
    }
    gcs.disconnect();
    const firstMajor = majors.length ? (majors[0] - t0) / 1000 : null;
    const majorCount = majors.length;
    // what is live at the end of the window, the flow still busy (records in flight and read ahead held)
    gc();
    gc();
    const live = process.memoryUsage();
    clearInterval(slow);
    for (const d of queue.splice(0)) d();
    await red.stop();
    if (delivered === 0) throw new Error('no record delivered from the backlog');
    return {
        window_s: WINDOW_MS / 1000,
        backlog_records: env.backlogRecords,
        delivered,
        base_rss_mb: mb(base.rss),
        peak_rss_mb: mb(peakRss),
        rss_growth_mb: mb(peakRss - base.rss),
        heap_growth_mb: mb(peakHeap - base.heapUsed),
        external_growth_mb: mb(peakExternal - base.external),
        array_buffers_growth_mb: mb(peakArrayBuffers - base.arrayBuffers),
        live_heap_growth_mb: mb(live.heapUsed - base.heapUsed),
        live_external_growth_mb: mb(live.external - base.external),
        major_gcs: majorCount,
        first_major_gc_s: firstMajor,
    };
});
