#!/usr/bin/env node
'use strict';
/**
 * `npm run bench` — the benchmark suite, in one run: starts its backends (kinesalite for polling — one
 * process that holds only the read measurement's records, one for the rest —, kinesis-local for Enhanced
 * Fan-Out, dynalite for leases; each in its own process), puts the records once, runs every measurement
 * in a process of its own (dist/bench/suite/*.js; the readers in alternating order), 3 repetitions, and
 * prints medians, ratios from the same run and the goals of issue 12 (pass / miss), with a
 * machine/load line. Writes bench/results/latest.json.
 *
 *   npm run bench                      # 100 k records, 3 repetitions, 1 M-record backlog
 *   npm run bench -- --quick           # 10 k records, 1 repetition, 100 k backlog (smoke run)
 *   npm run bench -- read convert      # only these measurements (read hook convert produce backlog efo)
 *   options: --records N, --reps N, --backlog N, --out FILE, --from FILE (summarise the runs of an
 *   earlier result file again, measuring nothing), --efo-push-tick MS (default 10; 1000 = kinesis-local
 *   as shipped: it pushes SubscribeToShard events once a second, which then sets the EFO latency whoever
 *   reads — scripts/kinesis-local-push-tick.js)
 *
 * lifion-kinesis 1.3.3 (the anchor; it pulls the v2 AWS SDK) is installed on first use into
 * bench/.cache/ (not a dependency of the package).
 */
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const suiteDir = path.join(root, 'dist', 'bench', 'suite');
const LIFION_VERSION = '1.3.3';

function argValue(name, dflt) {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : dflt;
}
const quick = process.argv.includes('--quick');
const RECORDS = Number(argValue('--records', quick ? 10_000 : 100_000));
const REPS = Number(argValue('--reps', quick ? 1 : 3));
const BACKLOG = Number(argValue('--backlog', quick ? 100_000 : 1_000_000));
const OUT = path.resolve(argValue('--out', path.join(root, 'bench', 'results', 'latest.json')));
const SHARDS = 4;
const EFO_PUSH_TICK_MS = Number(argValue('--efo-push-tick', 10));
const ALL = ['read', 'hook', 'convert', 'produce', 'backlog', 'efo'];
const valueArgs = new Set(['--records', '--reps', '--backlog', '--out', '--from', '--efo-push-tick']);
const named = process.argv.slice(2).filter((a, i, all) => !a.startsWith('-') && !valueArgs.has(all[i - 1]));
const wanted = named.length ? named : ALL;
for (const w of wanted) if (!ALL.includes(w)) { console.error(`unknown measurement "${w}"; have: ${ALL.join(' ')}`); process.exit(2); }

/** The goals of issue 12: key, test, words. */
const GOALS = {
    consumer_vs_raw: [(v) => v >= 0.95, '≥ 0.95× raw records/s'],
    consumer_cpu_vs_lifion: [(v) => v <= 1, '≤ lifion CPU/record'],
    consumer_first_record_s: [(v) => v <= 2, '≤ 2 s after deploy'],
    hook_tax_us_per_message: [(v) => v <= 0.2, '≤ 0.2 µs/msg/hop'],
    converter_records_per_s: [(v) => v >= 200_000, '≥ 200 k/s'],
    converter_vs_plain: [(v) => v >= 0.5, '≥ 0.5× plain JS'],
    converter_node_vs_library: [(v) => v >= 0.8, '≥ 0.8× library'],
    producer_vs_raw: [(v) => v >= 0.95, '≥ 0.95× raw'],
    producer_cpu_vs_raw: [(v) => v <= 2, '≤ 2× raw CPU'],
    backlog_rss_growth_mb: [(v) => v <= 100, '≤ 100 MB'],
    efo_latency_p50_ms: [(v) => v <= 50, '≤ 50 ms'],
    efo_latency_p99_ms: [(v) => v <= 200, '≤ 200 ms'],
};
/** Shown beside the goals (no goal of issue 12 of their own). */
const FIGURES = ['converter_node_batch_vs_library', 'efo_raw_latency_p50_ms', 'efo_raw_latency_p99_ms', 'efo_added_latency_p50_ms', 'efo_added_latency_p99_ms', 'efo_backend_event_gap_ms'];

function median(values) {
    const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
    if (!v.length) return null;
    return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
}

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

/** lifion-kinesis in the cache folder, installed with npm on first use. Returns its path, or null. */
function lifionPath() {
    const cache = path.join(root, 'bench', '.cache', `lifion-kinesis-${LIFION_VERSION}`);
    const mod = path.join(cache, 'node_modules', 'lifion-kinesis');
    if (fs.existsSync(path.join(mod, 'package.json'))) return mod;
    fs.mkdirSync(cache, { recursive: true });
    fs.writeFileSync(path.join(cache, 'package.json'), JSON.stringify({ private: true }));
    console.log(`installing lifion-kinesis@${LIFION_VERSION} into ${path.relative(root, cache)} (first run only)…`);
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const r = spawnSync(npm, ['install', '--prefix', cache, `lifion-kinesis@${LIFION_VERSION}`, '--no-audit', '--no-fund', '--loglevel=error'], { stdio: 'inherit' });
    if (r.status !== 0 || !fs.existsSync(mod)) {
        console.error('lifion-kinesis could not be installed: its rows are skipped');
        return null;
    }
    return mod;
}

/** Puts `count` records (the suite's ~210 B body, 97 partition keys) with 4 PutRecords in flight. */
async function putRecords(client, PutRecordsCommand, stream, count) {
    const body = (i) => Buffer.from(JSON.stringify({ devName: `dev-${i % 97}`, devType: 'thermostat', temperature: 20 + (i % 10), humidity: 40 + (i % 7), ts: 1_700_000_000_000 + i, pad: 'x'.repeat(100) }));
    let next = 0;
    const t0 = Date.now();
    let lastLog = t0;
    const worker = async () => {
        while (next < count) {
            const start = next;
            next = Math.min(count, next + 500);
            let entries = [];
            for (let i = start; i < next; i++) entries.push({ Data: body(i), PartitionKey: `dev-${i % 97}-${i % 1000}` });
            for (let attempt = 0; entries.length; attempt++) {
                const out = await client.send(new PutRecordsCommand({ StreamName: stream, Records: entries }));
                entries = entries.filter((_, k) => out.Records?.[k]?.ErrorCode);
                if (entries.length) await sleep(Math.min(1000, 50 * (attempt + 1)));
            }
            if (Date.now() - lastLog > 10_000) {
                lastLog = Date.now();
                process.stdout.write(`  ${stream}: ${next}/${count}\n`);
            }
        }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    return (Date.now() - t0) / 1000;
}

/** Runs one measurement process; resolves its BENCH_RESULT object (or { error }). */
function runOne(file, args, envExtra, nodeArgs = []) {
    return new Promise((resolve) => {
        const child = spawn(process.execPath, [...nodeArgs, path.join(suiteDir, file), ...args], {
            cwd: root,
            env: { ...process.env, ...envExtra },
            stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        let err = '';
        child.stdout.on('data', (c) => { out += c; });
        child.stderr.on('data', (c) => { err += c; if (err.length > 20_000) err = err.slice(-10_000); });
        const timer = setTimeout(() => child.kill('SIGKILL'), 20 * 60_000);
        child.on('exit', (code) => {
            clearTimeout(timer);
            const line = out.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
            if (code === 0 && line) return resolve(JSON.parse(line.slice('BENCH_RESULT '.length)));
            resolve({ error: `${file} ${args.join(' ')} exited ${code}: ${(err || out).trim().split('\n').slice(-6).join(' | ').slice(0, 600)}` });
        });
    });
}

/**
 * The EFO goal line's explanation: the raw SDK loop on the same backend, same records, same run. When the
 * raw p50 / p99 alone miss the goals, the backend's push cadence is the floor, and what this package
 * adds (event from the SDK → message at the sink) is the figure to judge.
 */
function efoFloorNote(f) {
    if (f.efo_raw_latency_p50_ms === null || f.efo_raw_latency_p50_ms === undefined) return '';
    const floor = !GOALS.efo_latency_p50_ms[0](f.efo_raw_latency_p50_ms) || !GOALS.efo_latency_p99_ms[0](f.efo_raw_latency_p99_ms);
    const raw = `raw SDK SubscribeToShard loop on the same backend: p50 ${fmt(f.efo_raw_latency_p50_ms)} / p99 ${fmt(f.efo_raw_latency_p99_ms)} ms`
        + (f.efo_backend_event_gap_ms ? `, an event every ${fmt(f.efo_backend_event_gap_ms)} ms` : '');
    const added = `added by kinesis-in (event from the SDK → message at the sink): p50 ${fmt(f.efo_added_latency_p50_ms)} / p99 ${fmt(f.efo_added_latency_p99_ms)} ms`;
    return floor
        ? `efo: the backend is the floor, not kinesis-in — ${raw} (misses the goals itself); ${added}`
        : `efo: ${raw}; ${added}`;
}

function fmt(v, digits) {
    if (v === null || v === undefined || Number.isNaN(v)) return '—';
    if (Math.abs(v) >= 10_000) return Math.round(v).toLocaleString('en-US');
    return v.toFixed(digits ?? (Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2));
}

async function main() {
    if (!fs.existsSync(suiteDir)) {
        console.error('dist/bench/suite is missing: run `npm run build` first (npm run bench does).');
        process.exit(1);
    }
    const { KinesisClient, PutRecordsCommand } = require('@aws-sdk/client-kinesis');
    const { NodeHttpHandler } = require('@smithy/node-http-handler');
    const { startKinesalite } = require('./kinesalite');
    const { startLocalStack } = require('./local-stack');
    const load0 = os.loadavg();
    const machine = `${os.cpus().length} cores (${os.cpus()[0]?.model?.trim() ?? '?'}), loadavg ${load0.map((x) => x.toFixed(2)).join(' ')} at start, node ${process.version}, ${os.platform()} ${os.release()}`;
    console.log(`machine: ${machine}`);
    console.log(`records ${RECORDS}, repetitions ${REPS}, backlog ${BACKLOG}${quick ? ' (--quick)' : ''}; measurements: ${wanted.join(' ')}${wanted.includes('efo') ? `; kinesis-local SubscribeToShard push tick ${EFO_PUSH_TICK_MS} ms${EFO_PUSH_TICK_MS === 1000 ? ' (as shipped)' : ''}` : ''}`);

    const from = argValue('--from', '');
    if (from) {
        const prior = JSON.parse(fs.readFileSync(path.resolve(from), 'utf8'));
        return summarise(prior.runs, machine, load0, prior);
    }
    const lifion = wanted.includes('read') ? lifionPath() : null;
    // kinesis-local serves only the EFO measurement here: its push tick shortened unless asked for as shipped
    const stack = await startLocalStack({ kinesisPort: 0, dynamodbPort: 0, streams: 'bench-efo:1', ...(EFO_PUSH_TICK_MS !== 1000 ? { pushTickMs: EFO_PUSH_TICK_MS } : {}) });
    // the read measurement gets a kinesalite of its own that holds only its 100 k records: the 1 M-record backlog
    // and what the producer runs put would otherwise sit in the same heap, and that process's garbage collection
    // (not the reader) would set how fast it serves the readers, differently for each run
    const kinesaliteRead = wanted.includes('read') ? await startKinesalite({ streams: `bench-100k:${SHARDS}` }) : null;
    const kinesalite = await startKinesalite({ streams: `bench-backlog:${SHARDS},bench-out:${SHARDS},bench-out-raw:${SHARDS},bench-idle:1`, nodeArgs: ['--max-old-space-size=8192'] });
    const clientFor = (k) => new KinesisClient({ region: 'us-east-1', endpoint: k.endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, requestHandler: new NodeHttpHandler() });
    const client = clientFor(kinesalite);
    const results = { runs: {} };
    const envBase = {
        BENCH_KINESIS: kinesalite.endpoint,
        BENCH_DYNAMODB: stack.dynamodbEndpoint,
        BENCH_KINESIS_EFO: stack.kinesisEndpoint,
        BENCH_STREAM: 'bench-100k',
        BENCH_RECORDS: String(RECORDS),
        BENCH_SHARDS: String(SHARDS),
        BENCH_BACKLOG_STREAM: 'bench-backlog',
        BENCH_BACKLOG_RECORDS: String(BACKLOG),
        BENCH_LIFION: lifion ?? '',
        BENCH_QUICK: quick ? '1' : '',
    };
    const record = (key, r) => {
        (results.runs[key] ??= []).push(r);
        if (r.error) console.log(`  ${key}: FAILED ${r.error}`);
        else console.log(`  ${key}: ${Object.entries(r).filter(([k]) => k !== 'mode').map(([k, v]) => `${k}=${typeof v === 'number' ? fmt(v) : v}`).join(' ')}`);
    };
    try {
        if (kinesaliteRead) {
            const readClient = clientFor(kinesaliteRead);
            const s = await putRecords(readClient, PutRecordsCommand, 'bench-100k', RECORDS);
            readClient.destroy();
            console.log(`put ${RECORDS} records into bench-100k (${SHARDS} shards, a kinesalite of its own) in ${s.toFixed(1)} s`);
        }
        if (wanted.includes('backlog')) {
            const s = await putRecords(client, PutRecordsCommand, 'bench-backlog', BACKLOG);
            console.log(`put ${BACKLOG} records into bench-backlog (${SHARDS} shards) in ${s.toFixed(1)} s`);
        }
        for (let rep = 1; rep <= REPS; rep++) {
            console.log(`repetition ${rep}/${REPS}`);
            const env = { ...envBase, BENCH_REP: String(rep) };
            if (kinesaliteRead) {
                // every other repetition reads in the reverse order: no reader always goes first (or last) on the
                // backend's state of the moment; ratios are paired within a repetition
                const readEnv = { ...env, BENCH_KINESIS: kinesaliteRead.endpoint, BENCH_KINESIS_PID: String(kinesaliteRead.child.pid ?? '') };
                const order = ['raw', ...(lifion ? ['lifion'] : []), 'library', 'node'];
                for (const mode of rep % 2 ? order : order.reverse()) record(mode, await runOne('read.js', [mode], readEnv));
            }
            if (wanted.includes('hook')) record('hook', await runOne('hook-tax.js', [], env));
            if (wanted.includes('convert')) record('convert', await runOne('convert.js', [], env));
            if (wanted.includes('produce')) record('produce', await runOne('produce.js', [], env));
        }
        if (wanted.includes('backlog')) record('backlog', await runOne('backlog.js', [], envBase, ['--expose-gc']));
        if (wanted.includes('efo')) record('efo', await runOne('efo.js', [], envBase));
    } finally {
        client.destroy();
        await kinesalite.stop();
        await kinesaliteRead?.stop();
        await stack.stop();
    }
    summarise(results.runs, machine, load0);
}

/** Medians, ratios (paired within each repetition), goals; prints the table, writes OUT, exits. */
function summarise(runs, machine, load0, prior) {
    const results = { runs };
    const med = (key, field) => median((results.runs[key] ?? []).filter((r) => !r.error).map((r) => r[field]));
    const ratio = (a, b) => (a === null || b === null || b === 0 ? null : a / b);
    const f = {};
    f.raw_records_per_s = med('raw', 'records_per_s');
    f.lifion_records_per_s = med('lifion', 'records_per_s');
    f.library_records_per_s = med('library', 'records_per_s');
    f.consumer_records_per_s = med('node', 'records_per_s');
    // ratios of two measurements: per repetition (the same load), then the median
    const paired = (a, b, field) => median((results.runs[a] ?? []).map((r, i) => {
        const o = (results.runs[b] ?? [])[i];
        return r.error || !o || o.error ? null : ratio(r[field], o[field]);
    }));
    f.consumer_vs_raw = paired('node', 'raw', 'records_per_s');
    f.consumer_vs_lifion = paired('node', 'lifion', 'records_per_s');
    // after the first record (what earlier runs called records/s): kept beside the whole-run figure
    f.raw_steady_records_per_s = med('raw', 'steady_records_per_s');
    f.library_steady_records_per_s = med('library', 'steady_records_per_s');
    f.consumer_steady_records_per_s = med('node', 'steady_records_per_s');
    f.consumer_steady_vs_raw = paired('node', 'raw', 'steady_records_per_s');
    f.raw_cpu_us_per_record = med('raw', 'cpu_us_per_record');
    f.lifion_cpu_us_per_record = med('lifion', 'cpu_us_per_record');
    f.library_cpu_us_per_record = med('library', 'cpu_us_per_record');
    f.consumer_cpu_us_per_record = med('node', 'cpu_us_per_record');
    f.consumer_cpu_vs_lifion = paired('node', 'lifion', 'cpu_us_per_record');
    f.library_vs_raw = paired('library', 'raw', 'records_per_s');
    f.consumer_first_record_s = med('node', 'first_record_s');
    f.library_first_record_s = med('library', 'first_record_s');
    f.lifion_first_record_s = med('lifion', 'first_record_s');
    f.raw_first_record_s = med('raw', 'first_record_s');
    // kinesalite's CPU over each read's run time (it is single-threaded): ≈ 1 = the reader waited on the backend all along
    f.raw_backend_busy = med('raw', 'backend_busy');
    f.lifion_backend_busy = med('lifion', 'backend_busy');
    f.library_backend_busy = med('library', 'backend_busy');
    f.consumer_backend_busy = med('node', 'backend_busy');
    f.hook_tax_us_per_message = med('hook', 'tax_us_per_message_hop');
    f.converter_records_per_s = med('convert', 'library_records_per_s');
    f.converter_plain_records_per_s = med('convert', 'plain_records_per_s');
    f.converter_vs_plain = med('convert', 'library_vs_plain');
    f.converter_node_records_per_s = med('convert', 'node_records_per_s');
    f.converter_node_vs_library = med('convert', 'node_vs_library');
    f.converter_node_batch_records_per_s = med('convert', 'node_batch_records_per_s');
    f.converter_node_batch_vs_library = med('convert', 'node_batch_vs_library');
    f.converter_node_batch_cpu_us_per_record = med('convert', 'node_batch_cpu_us_per_record');
    // CPU per record: Node-RED's process for library, node and bench-pass (Node-RED's own hops); the runner's apart
    f.converter_library_cpu_us_per_record = med('convert', 'library_cpu_us_per_record');
    f.converter_runner_cpu_us_per_record = med('convert', 'library_runner_cpu_us_per_record');
    f.converter_plain_cpu_us_per_record = med('convert', 'plain_cpu_us_per_record');
    f.converter_node_cpu_us_per_record = med('convert', 'node_cpu_us_per_record');
    f.converter_pass_cpu_us_per_record = med('convert', 'pass_cpu_us_per_record');
    f.converter_node_cpu_vs_library = med('convert', 'node_cpu_vs_library');
    f.producer_records_per_s = med('produce', 'node_records_per_s');
    f.producer_raw_records_per_s = med('produce', 'raw_records_per_s');
    f.producer_vs_raw = med('produce', 'node_vs_raw');
    f.producer_cpu_us_per_record = med('produce', 'node_cpu_us_per_record');
    f.producer_raw_cpu_us_per_record = med('produce', 'raw_cpu_us_per_record');
    // reference, no goal: the raw loop on a client made as kinesis-out's (quiet logger, PutRecords codec)
    f.producer_raw_producer_client_cpu_us_per_record = med('produce', 'raw_producer_client_cpu_us_per_record');
    f.producer_cpu_vs_raw = med('produce', 'node_cpu_vs_raw');
    // kinesis-out's own share: the flow minus the same two hops without Kinesis (bench-pass), over raw
    f.producer_flow_floor_cpu_us_per_record = med('produce', 'flow_floor_cpu_us_per_record');
    f.producer_own_cpu_us_per_record = med('produce', 'node_own_cpu_us_per_record');
    f.producer_own_cpu_vs_raw = med('produce', 'node_own_cpu_vs_raw');
    f.backlog_rss_growth_mb = med('backlog', 'rss_growth_mb');
    f.efo_latency_p50_ms = med('efo', 'p50_ms');
    f.efo_latency_p99_ms = med('efo', 'p99_ms');
    f.efo_raw_latency_p50_ms = med('efo', 'raw_p50_ms');
    f.efo_raw_latency_p99_ms = med('efo', 'raw_p99_ms');
    f.efo_added_latency_p50_ms = med('efo', 'added_p50_ms');
    f.efo_added_latency_p99_ms = med('efo', 'added_p99_ms');
    f.efo_backend_event_gap_ms = med('efo', 'raw_event_gap_p50_ms');

    const rows = [
        ['raw SDK v3 GetRecords loop', 'raw_records_per_s', 'raw_cpu_us_per_record', 'rec/s | CPU µs/rec'],
        ['lifion-kinesis 1.3.3', 'lifion_records_per_s', 'lifion_cpu_us_per_record', 'rec/s | CPU µs/rec'],
        ['KinesisConsumer (library)', 'library_records_per_s', 'library_cpu_us_per_record', 'rec/s | CPU µs/rec'],
        ['kinesis-in in Node-RED (complete)', 'consumer_records_per_s', 'consumer_cpu_us_per_record', 'rec/s | CPU µs/rec'],
        ['raw loop, after its first record', 'raw_steady_records_per_s', 'raw_first_record_s', 'rec/s | first record s'],
        ['library, after its first record', 'library_steady_records_per_s', 'library_first_record_s', 'rec/s | first record s'],
        ['kinesis-in, after its first record', 'consumer_steady_records_per_s', 'consumer_first_record_s', 'rec/s | first record s'],
    ];
    console.log(`\nmachine: ${machine}; loadavg at end ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} (shared machine: absolute figures are noisy, ratios are from the same run)`);
    console.log(`${RECORDS} records × ~210 B, ${SHARDS} shards on kinesalite, medians of ${REPS}\n`);
    for (const [label, a, b, unit] of rows) console.log(`${label.padEnd(36)} ${fmt(f[a]).padStart(9)}  ${fmt(f[b]).padStart(7)}   (${unit})`);
    if (f.raw_backend_busy !== null) {
        console.log(`kinesalite busy (its CPU / the run's time): raw ${fmt(f.raw_backend_busy)}, lifion ${fmt(f.lifion_backend_busy)}, library ${fmt(f.library_backend_busy)}, kinesis-in ${fmt(f.consumer_backend_busy)}`);
    }
    console.log('');
    const goalKeys = ['consumer_vs_raw', 'consumer_vs_lifion', 'consumer_cpu_vs_lifion', 'consumer_first_record_s', 'hook_tax_us_per_message', 'converter_records_per_s',
        'converter_vs_plain', 'converter_node_vs_library', 'producer_vs_raw', 'producer_cpu_vs_raw', 'producer_own_cpu_vs_raw', 'backlog_rss_growth_mb', 'efo_latency_p50_ms', 'efo_latency_p99_ms', ...FIGURES];
    const verdicts = {};
    for (const k of goalKeys) {
        const g = GOALS[k];
        const v = f[k];
        const verdict = !g ? '' : v === null || v === undefined ? 'not measured' : g[0](v) ? 'pass' : 'MISS';
        if (g) verdicts[k] = verdict;
        // the EFO latency goals: say when the backend alone (raw SDK loop, same run) misses them too
        const rawKey = k.replace('efo_latency', 'efo_raw_latency');
        const floor = g && rawKey !== k && typeof f[rawKey] === 'number' && !g[0](f[rawKey]) ? ` (backend floor: raw SDK ${fmt(f[rawKey])} ms)` : '';
        console.log(`${k.padEnd(28)} ${fmt(v).padStart(10)}   ${g ? `goal ${g[1]}`.padEnd(28) : ''.padEnd(28)} ${verdict}${floor}`);
    }
    const efoFloor = efoFloorNote(f);
    if (efoFloor) console.log(efoFloor);
    const errors = Object.values(results.runs).flat().filter((r) => r.error).map((r) => r.error);
    const out = {
        ...f,
        goals: Object.fromEntries(Object.entries(GOALS).map(([k, g]) => [k, { goal: g[1], verdict: verdicts[k] ?? 'not measured' }])),
        machine: { cores: os.cpus().length, loadavg_start: load0, loadavg_end: os.loadavg(), node: process.version, platform: `${os.platform()} ${os.release()}`, note: 'shared machine under load' },
        settings: { records: RECORDS, repetitions: REPS, shards: SHARDS, backlog: BACKLOG, quick, measurements: wanted, backends: 'kinesalite (polling), kinesis-local (EFO), dynalite (leases)', efo_backend_push_tick_ms: EFO_PUSH_TICK_MS },
        ...(efoFloor ? { efo_note: efoFloor } : {}),
        runs: results.runs,
        errors,
        at: new Date().toISOString(),
    };
    if (prior) Object.assign(out, { machine: prior.machine, settings: prior.settings, at: prior.at, summarised_again_at: out.at });
    fs.mkdirSync(path.dirname(OUT), { recursive: true });
    fs.writeFileSync(OUT, `${JSON.stringify(out, null, 2)}\n`);
    console.log(`\nwrote ${path.relative(root, OUT)}${errors.length ? ` — ${errors.length} measurement(s) failed (see "errors")` : ''}`);
    process.exit(errors.length ? 1 : 0);
}

main().catch((err) => {
    console.error(err);
    process.exit(1);
});
