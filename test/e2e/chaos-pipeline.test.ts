/**
 * Chaos on a whole pipeline, every user record counted at the far end: three Node-RED processes run
 * kinesis-in (checkpoint when complete) → kinesis-convert (the ThingsBoard tutorial's uplink decoder,
 * registry in global context) → kinesis-out (a second stream), sharing one lease table on a 4-shard input
 * stream. The input mixes plain records and KPL aggregates (lib/kpl's aggregator, 2–6 user records of one
 * device each). While records flow: a process is killed (SIGKILL) with records in kinesis-out's buffer and
 * started again; the process holding shard 0's lease is paused (SIGSTOP) past the failover time while shard 0
 * is split and shards 2 + 3 are merged; a process is redeployed while its converter works; kinesis-local is
 * paused with PutRecords in flight and a process is killed meanwhile. At the end a plain SDK reader reads the
 * output stream: every user record put is there at least once, duplicates are bounded, each device's readings
 * appear (first time) in the order they were put (parents finished before children), the closed shards' leases
 * end as SHARD_END (or are gone once their children checkpointed), the open ones are checkpointed at their last
 * record, and the processes alive at the end logged no errors.
 */
import assert from 'node:assert/strict';
import {
    GetRecordsCommand, GetShardIteratorCommand, KinesisClient, ListShardsCommand, MergeShardsCommand, PutRecordsCommand,
    PutRecordsRequestEntry, Shard, SplitShardCommand, DescribeStreamSummaryCommand,
} from '@aws-sdk/client-kinesis';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import fs from 'node:fs';
import { createServer, request as httpRequest, Server } from 'node:http';
import { aggregate } from '../../lib/kpl';
import { listenOnLoopback } from '../helpers/aws-stub';
import { LocalStack, startLocalStack } from '../helpers/stack';
import { FlowNode, NodeRedProcess, sleep, waitUntil } from './harness';

const IN = 'pipe-in';
const OUT = 'pipe-out';
const APP = 'pipe-app';
const SHARDS = 4;
/** One shard: the output keeps the order in which the pipeline wrote, whatever partition key a record got. */
const OUT_SHARDS = 1;
const DEVICES = 24;
const FAILOVER_MS = 3000;

/** The tutorial's uplink decoder (examples/01), unchanged: deviceName ← devName, telemetry temperature. */
const TUTORIAL_DECODER = [
    'var data = decodeToJson(payload);', 'var deviceName = data.devName;', 'var deviceType = data.devType;', '',
    'var result = {', '    deviceName: deviceName,', '    deviceType: deviceType,', '    telemetry: {', '        temperature: data.temperature', '    }', '};', '',
    'function decodeToString(payload) {', '    return String.fromCharCode.apply(String, payload);', '}', '',
    'function decodeToJson(payload) {', '    var str = decodeToString(payload);', '    var data = JSON.parse(str);', '    return data;', '}', '',
    'return result;',
].join('\n');

/** `variant` changes the converter's and kinesis-out's settings a little (a Modified Nodes deploy replaces them). */
function pipelineFlow(variant = 0, outputMode: 'record' | 'batch' = 'record'): FlowNode[] {
    const p = 'cp';
    return [
        { id: `${p}-tab`, type: 'tab', label: 'pipeline', disabled: false, info: '' },
        { id: `${p}-cfg`, type: 'kinesis-config', name: 'local', region: '', kinesisEndpoint: '', dynamodbEndpoint: '', credentialMode: 'chain', roleArn: '', externalId: '', roleSessionName: '', stsEndpoint: '' },
        {
            id: `${p}-in`, type: 'kinesis-in', z: `${p}-tab`, name: '', config: `${p}-cfg`, streamName: IN, applicationName: APP,
            initialPosition: 'TRIM_HORIZON', timestamp: '', timestampType: 'str', readMode: 'polling', consumerName: '',
            maxRecords: 1000, idleTimeMs: 200, payloadFormat: 'buffer', outputMode, checkpointMode: 'complete',
            checkpointIntervalMs: 500, checkpointEveryRecords: 10000, maxInFlight: 200, ordered: false,
            // a stable id per process (a restart takes its leases back at once)
            workerId: '${PIPE_WORKER}', failoverTimeMs: FAILOVER_MS, renewIntervalMs: '', takerIntervalMs: '', shardSyncIntervalMs: 60000,
            drainTimeoutMs: 3000, gracefulHandOff: true, x: 150, y: 100, wires: [[`${p}-convert`]],
        },
        {
            id: `${p}-convert`, type: 'kinesis-convert', z: `${p}-tab`, name: 'AWS Kinesis Uplink Converter', direction: 'uplink', scriptLang: 'JS',
            script: TUTORIAL_DECODER, metadata: [], integrationName: 'AWS Kinesis integration', updateOnlyKeys: [], registry: 'global',
            allowCreate: true, timeoutMs: 1000 + variant, outputs: 1, x: 350, y: 100, wires: [[`${p}-out`]],
        },
        {
            id: `${p}-out`, type: 'kinesis-out', z: `${p}-tab`, name: '', config: `${p}-cfg`, streamName: OUT, streamNameType: 'str',
            partitionKey: 'topic', partitionKeyType: 'msg', keyGeneration: 'random', explicitHashKey: '', explicitHashKeyType: 'str',
            // a longer linger: a kill finds records in the buffer
            lingerMs: 150 + variant, maxInFlight: 4, maxRecordBytes: 1048576, maxRetries: 8, maxQueued: 10000, keyOrder: true, ordered: false,
            aggregate: false, x: 550, y: 100, wires: [[]],
        },
    ];
}

interface Put {
    /** `dev-K/n`: device K's n-th reading (n = the reading's temperature). */
    id: string;
}

/**
 * Puts readings of DEVICES devices (partition key = device name) in PutRecords batches: plain records and KPL
 * aggregates of 2–6 readings of one device. Notes every user record's id and each shard's last sequence number.
 */
function readingWriter(kinesis: KinesisClient) {
    const put: string[] = [];
    const lastSeq = new Map<string, string>();
    const next = new Array<number>(DEVICES).fill(0);
    let aggregates = 0;
    let writing = false;
    let running: Promise<void> = Promise.resolve();
    let turn = 0;
    /** Batches still to put without a pause (a backlog for the pipeline). */
    let burstLeft = 0;
    const reading = (k: number): { id: string; data: Buffer } => {
        const n = next[k]++;
        const data = Buffer.from(JSON.stringify({ devName: `dev-${k}`, devType: 'thermostat', temperature: n }));
        return { id: `dev-${k}/${n}`, data };
    };
    return {
        put,
        lastSeq,
        get aggregates() { return aggregates; },
        start() {
            writing = true;
            running = (async () => {
                while (writing) {
                    const entries: PutRecordsRequestEntry[] = [];
                    const ids: string[][] = [];
                    for (let i = 0; i < 8; i++) {
                        // entry e goes to device e mod 24; every 5th entry is an aggregate (5 and 24 coprime: every
                        // device gets its share, none is a hot key that kinesis-out — one record per key in flight —
                        // could not keep up with on a loaded machine)
                        const e = turn * 8 + i;
                        const k = e % DEVICES;
                        const key = `dev-${k}`;
                        if (e % 5 === 0) {
                            const n = 2 + (Math.floor(e / 5) % 5);
                            const rs = Array.from({ length: n }, () => reading(k));
                            entries.push({ PartitionKey: key, Data: aggregate(rs.map((r) => ({ data: r.data, partitionKey: key }))) });
                            ids.push(rs.map((r) => r.id));
                            aggregates++;
                        } else {
                            const r = reading(k);
                            entries.push({ PartitionKey: key, Data: r.data });
                            ids.push([r.id]);
                        }
                    }
                    turn++;
                    const r = await kinesis.send(new PutRecordsCommand({ StreamName: IN, Records: entries }));
                    assert.equal(r.FailedRecordCount ?? 0, 0, 'the local stack took every record');
                    ids.forEach((group, i) => {
                        put.push(...group);
                        const res = r.Records![i];
                        const prev = lastSeq.get(res.ShardId!);
                        if (prev === undefined || BigInt(res.SequenceNumber!) > BigInt(prev)) lastSeq.set(res.ShardId!, res.SequenceNumber!);
                    });
                    if (burstLeft > 0) burstLeft--;
                    else await sleep(100);
                }
            })();
        },
        /** While writing: the next `turns` batches go without a pause; resolves once they are put. */
        async burst(turns: number) {
            burstLeft = turns;
            await waitUntil('the burst put', () => burstLeft === 0, 60_000, 20);
        },
        async stop() {
            writing = false;
            await running;
        },
    };
}

/**
 * Between the Node-RED processes and kinesis-local: forwards every request; while `throttling`, answers a third
 * of the PutRecords entries for the output stream as throttled (ProvisionedThroughputExceededException, not
 * written), each record at most once, as Kinesis does to a hot shard: kinesis-out retries just those.
 */
async function throttlingFront(target: string) {
    const t = new URL(target);
    const state = { throttling: false, throttled: 0, server: undefined as Server | undefined, url: '' };
    const once = new Set<string>();
    const server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
            let body = Buffer.concat(chunks);
            const headers = { ...req.headers };
            let failed: number[] = [];
            let total = 0;
            if (state.throttling && headers['x-amz-target'] === 'Kinesis_20131202.PutRecords') {
                const request = JSON.parse(body.toString('utf8')) as { StreamName?: string; Records: Array<{ Data: string; PartitionKey: string }> };
                if (request.StreamName === OUT) {
                    total = request.Records.length;
                    const keep: typeof request.Records = [];
                    request.Records.forEach((r, i) => {
                        if (i % 3 === 1 && !once.has(r.Data)) {
                            once.add(r.Data);
                            failed.push(i);
                        } else keep.push(r);
                    });
                    request.Records = keep; // never empty: entry 0 is always kept
                    body = Buffer.from(JSON.stringify(request));
                    headers['content-length'] = String(body.length);
                }
            }
            const fwd = httpRequest({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers }, (up) => {
                const answer: Buffer[] = [];
                up.on('data', (c: Buffer) => answer.push(c));
                up.on('end', () => {
                    let out = Buffer.concat(answer);
                    const h = { ...up.headers };
                    if (failed.length && up.statusCode === 200) {
                        const r = JSON.parse(out.toString('utf8')) as { FailedRecordCount: number; Records: unknown[] };
                        const merged: unknown[] = [];
                        let k = 0;
                        for (let i = 0; i < total; i++) {
                            merged.push(failed.includes(i)
                                ? { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'Rate exceeded for shard shardId-000000000000 in stream pipe-out (test front).' }
                                : r.Records[k++]);
                        }
                        state.throttled += failed.length;
                        out = Buffer.from(JSON.stringify({ ...r, FailedRecordCount: (r.FailedRecordCount ?? 0) + failed.length, Records: merged }));
                        h['content-length'] = String(out.length);
                        delete h['x-amz-crc32'];
                    }
                    res.writeHead(up.statusCode ?? 502, h);
                    res.end(out);
                });
                up.on('error', () => res.destroy());
            });
            fwd.on('error', () => res.destroy());
            fwd.end(body);
        });
    });
    const port = await listenOnLoopback(server);
    state.server = server;
    state.url = `http://127.0.0.1:${port}`;
    return {
        url: state.url,
        get throttled() { return state.throttled; },
        set throttling(on: boolean) { state.throttling = on; },
        close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
    };
}

/** The converter's runner process (a child of Node-RED started with --permission), if one runs. */
function runnerPid(nodeRedPid: number): number | undefined {
    for (const task of fs.readdirSync(`/proc/${nodeRedPid}/task`)) {
        let children: string[] = [];
        try { children = fs.readFileSync(`/proc/${nodeRedPid}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean); } catch { continue; }
        for (const c of children) {
            try {
                if (/--(experimental-)?permission/.test(fs.readFileSync(`/proc/${c}/cmdline`, 'utf8'))) return Number(c);
            } catch { /* gone */ }
        }
    }
    return undefined;
}

/** A plain SDK reader of the output stream (its shards do not change): every record, in shard order. */
function outputReader(kinesis: KinesisClient) {
    const records: Array<{ shardId: string; id: string; device: string; n: number }> = [];
    let reading = true;
    let running: Promise<void> = Promise.resolve();
    return {
        records,
        start() {
            running = (async () => {
                const shards = (await kinesis.send(new ListShardsCommand({ StreamName: OUT }))).Shards!;
                await Promise.all(shards.map(async (s) => {
                    let it = (await kinesis.send(new GetShardIteratorCommand({ StreamName: OUT, ShardId: s.ShardId!, ShardIteratorType: 'TRIM_HORIZON' }))).ShardIterator;
                    while (reading && it) {
                        const r = await kinesis.send(new GetRecordsCommand({ ShardIterator: it, Limit: 2000 }));
                        for (const rec of r.Records ?? []) {
                            type Entity = { deviceName: string; telemetry: Array<{ values: { temperature: number } }> };
                            // a record per entity (record output), or the entities of a record batch in one record
                            const v = JSON.parse(Buffer.from(rec.Data!).toString('utf8')) as Entity | Entity[];
                            for (const e of Array.isArray(v) ? v : [v]) {
                                const n = e.telemetry[0].values.temperature;
                                records.push({ shardId: s.ShardId!, id: `${e.deviceName}/${n}`, device: e.deviceName, n });
                            }
                        }
                        it = r.NextShardIterator;
                        if (!r.Records?.length) await sleep(200);
                    }
                }));
            })();
        },
        async stop() {
            reading = false;
            await running;
        },
    };
}

describe('chaos on a whole pipeline (e2e: kinesis-in → kinesis-convert → kinesis-out in three Node-RED processes; resharding, KPL aggregates, kills, a pause, redeploys)', function () {
    this.timeout(420_000);
    let stack: LocalStack;
    let kinesis: KinesisClient;
    let dynamo: DynamoDBClient;
    let front: Awaited<ReturnType<typeof throttlingFront>>;
    const reds: Array<NodeRedProcess | undefined> = [];
    /** Every process started (killed ones too: their user dirs are removed at the end). */
    const spawned: NodeRedProcess[] = [];

    before(async function () {
        stack = await startLocalStack({ kinesisPort: 0, dynamodbPort: 0, streams: `${IN}:${SHARDS},${OUT}:${OUT_SHARDS}` });
        const credentials = { accessKeyId: stack.env.AWS_ACCESS_KEY_ID, secretAccessKey: stack.env.AWS_SECRET_ACCESS_KEY };
        kinesis = new KinesisClient({ region: stack.region, endpoint: stack.kinesisEndpoint, credentials, requestHandler: new NodeHttpHandler() });
        dynamo = new DynamoDBClient({ region: stack.region, endpoint: stack.dynamodbEndpoint, credentials, requestHandler: new NodeHttpHandler() });
        front = await throttlingFront(stack.kinesisEndpoint);
    });

    after(async function () {
        for (const r of spawned) if (r.child.exitCode === null) r.child.kill('SIGCONT');
        stack?.processes.kinesis.kill('SIGCONT');
        await Promise.all(spawned.splice(0).map((r) => r.stop()));
        kinesis?.destroy();
        dynamo?.destroy();
        await front?.close();
        await stack?.stop();
    });

    it('every user record put reaches the output stream, in order per device, through kills, a pause during a split and a merge, and redeploys', async function () {
        const modeOf = (i: number): 'record' | 'batch' => (i === 2 ? 'batch' : 'record');
        const start = async (i: number): Promise<NodeRedProcess> => {
            const red = await NodeRedProcess.start({ ...process.env, ...stack.env, AWS_ENDPOINT_URL_KINESIS: front.url, PIPE_WORKER: `worker-${i}` });
            reds[i] = red;
            spawned.push(red);
            // worker-2 sends record batches (kinesis-convert converts them record by record, kinesis-out writes one record per batch)
            await red.deploy(pipelineFlow(0, modeOf(i)));
            return red;
        };
        const leases = async (): Promise<Array<{ shard: string; owner?: string; checkpoint?: string; sub?: string }>> => {
            const r = await dynamo.send(new ScanCommand({ TableName: APP, ConsistentRead: true }));
            return (r.Items ?? []).map((i) => ({ shard: i.leaseKey.S as string, owner: i.leaseOwner?.S, checkpoint: i.checkpoint?.S, sub: i.checkpointSubSequenceNumber?.N }));
        };
        const out = outputReader(kinesis);
        const flowing = async (what: string, n = 100): Promise<void> => {
            const before = out.records.length;
            await waitUntil(`records reaching the output stream ${what}`, () => out.records.length >= before + n, 120_000, 200);
        };
        const active = async (): Promise<boolean> => (await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: IN }))).StreamDescriptionSummary?.StreamStatus === 'ACTIVE';

        await Promise.all([0, 1, 2].map(start));
        const writer = readingWriter(kinesis);
        writer.start();
        out.start();
        await waitUntil('every shard leased', async () => (await leases()).filter((l) => l.owner).length === SHARDS, 90_000, 500);
        await flowing('at the start');

        // 1. a crash with records in kinesis-out's buffer (lingerMs 150) and the converter's batches
        const victim = (await leases()).find((l) => l.owner)!.owner!;
        const v = Number(victim.slice('worker-'.length));
        reds[v]!.kill();
        await sleep(500);
        await start(v);
        await flowing('after a kill and a restart');

        // 2. the holder of shard 0 paused past the failover time while shard 0 splits and shards 2 + 3 merge
        const shards = (await kinesis.send(new ListShardsCommand({ StreamName: IN }))).Shards!;
        const byStart = (a: Shard, b: Shard) => (BigInt(a.HashKeyRange!.StartingHashKey!) < BigInt(b.HashKeyRange!.StartingHashKey!) ? -1 : 1);
        shards.sort(byStart);
        const s0 = shards[0];
        const holder = (await leases()).find((l) => l.shard === s0.ShardId)?.owner;
        assert.ok(holder, 'shard 0 is leased');
        const h = Number(holder.slice('worker-'.length));
        reds[h]!.child.kill('SIGSTOP');
        const mid = ((BigInt(s0.HashKeyRange!.StartingHashKey!) + BigInt(s0.HashKeyRange!.EndingHashKey!)) / 2n).toString();
        await kinesis.send(new SplitShardCommand({ StreamName: IN, ShardToSplit: s0.ShardId!, NewStartingHashKey: mid }));
        await waitUntil('the split done', active, 30_000, 200);
        await kinesis.send(new MergeShardsCommand({ StreamName: IN, ShardToMerge: shards[2].ShardId!, AdjacentShardToMerge: shards[3].ShardId! }));
        await waitUntil('the merge done', active, 30_000, 200);
        const all = (await kinesis.send(new ListShardsCommand({ StreamName: IN }))).Shards!;
        const children = all.filter((s) => [s0.ShardId, shards[2].ShardId, shards[3].ShardId].includes(s.ParentShardId) || [shards[2].ShardId, shards[3].ShardId].includes(s.AdjacentParentShardId));
        assert.equal(children.length, 3, 'two children of the split, one of the merge');
        // the others take shard 0 over once its holder's lease expired, finish it and go on with its children
        await waitUntil('the children of the split read by the processes still running', async () => {
            const ls = await leases();
            return children.every((c) => ls.some((l) => l.shard === c.ShardId && l.owner && l.owner !== holder));
        }, 120_000, 500);
        reds[h]!.child.kill('SIGCONT');
        await flowing('after the pause and the resharding');

        // 3. a full redeploy while the converter works through a backlog (its runner mid-batch)
        const r = (h + 1) % 3;
        // (a modest backlog: kinesis-out keeps one record per key in flight, so a device's backlog drains at one record
        // per PutRecords round trip, and a closing kinesis-out fails with done(err) what is not written after 10 s)
        await writer.burst(40);
        await reds[r]!.deploy(pipelineFlow(0, modeOf(r)));
        await flowing('after a full redeploy');

        // 4. the converter's runner killed mid-batch (it restarts; records whose results had not come are run again)
        const busy = async (): Promise<number[]> => [...new Set((await leases()).filter((l) => l.owner && l.checkpoint !== 'SHARD_END').map((l) => Number(l.owner!.slice('worker-'.length))))];
        const withRunner = (): Promise<{ i: number; pid: number }> => waitUntil('a process holding leases with its runner up', async () => {
            for (const i of await busy()) {
                const pid = runnerPid(reds[i]!.child.pid!);
                if (pid) return { i, pid };
            }
            return undefined;
        }, 30_000, 200);
        const killed = await withRunner();
        process.kill(killed.pid, 'SIGKILL');
        await flowing('after the converter\'s runner was killed');
        // and a full redeploy right after a runner is killed: the converter holds what arrives while its runner
        // restarts, and converts it and sends it on while the deploy closes it (the next node already stopped)
        const restarting = await withRunner();
        process.kill(restarting.pid, 'SIGKILL');
        await reds[restarting.i]!.deploy(pipelineFlow(0, modeOf(restarting.i)));
        await flowing('after a full redeploy while the converter\'s runner restarted');

        // 5. kinesis-out retrying throttled entries when its process is killed
        front.throttling = true;
        const throttledBefore = front.throttled;
        await waitUntil('PutRecords entries throttled', () => front.throttled > throttledBefore + 30, 60_000, 100);
        const t = (await busy())[0];
        reds[t]!.kill();
        await sleep(300);
        front.throttling = false;
        await start(t);
        await flowing('after a kill during kinesis-out\'s retries');

        // 6. kinesis-local paused with PutRecords / GetRecords in flight; a process killed meanwhile
        stack.processes.kinesis.kill('SIGSTOP');
        await sleep(1500);
        const k = (h + 2) % 3;
        reds[k]!.kill();
        stack.processes.kinesis.kill('SIGCONT');
        await start(k);
        await flowing('after a kill while kinesis-local was paused');

        // 7. Modified Nodes deploys: only the converter and kinesis-out are replaced (through a backlog) while
        // kinesis-in goes on sending. What they held is sent again: without Strict order a re-sent record may come
        // after later ones of its device, so the order is checked on what reached the output before this point
        const ordered = out.records.length;
        await writer.burst(40);
        const busyNow = await busy();
        await reds[busyNow[0]]!.deploy(pipelineFlow(1, modeOf(busyNow[0])), 'nodes');
        await flowing('after a Modified Nodes deploy of the converter and kinesis-out');
        await writer.burst(40);
        const m = busyNow[1] ?? (busyNow[0] + 1) % 3;
        await reds[m]!.deploy(pipelineFlow(2, modeOf(m)), 'nodes');
        await flowing('after a second Modified Nodes deploy');

        await writer.stop();
        const expected = writer.put;
        await waitUntil(`every one of ${expected.length} user records on the output stream`, () => {
            const seen = new Set(out.records.map((x) => x.id));
            return expected.every((id) => seen.has(id));
        }, 120_000, 500).catch((err) => {
            const seen = new Set(out.records.map((x) => x.id));
            const missing = expected.filter((id) => !seen.has(id));
            throw new Error(`${(err as Error).message}; missing ${missing.length}: ${missing.slice(0, 12).join(', ')}`);
        });

        // closed shards: SHARD_END (or the lease gone once its children checkpointed); open ones at their last record
        const closed = new Set([s0.ShardId!, shards[2].ShardId!, shards[3].ShardId!]);
        const open = new Map([...writer.lastSeq].filter(([s]) => !closed.has(s)));
        await waitUntil('closed shards at SHARD_END, open shards checkpointed at their last record', async () => {
            const ls = await leases();
            const at = new Map(ls.map((l) => [l.shard, l.checkpoint]));
            return ls.filter((l) => closed.has(l.shard)).every((l) => l.checkpoint === 'SHARD_END')
                && [...open].every(([s, seq]) => at.get(s) === seq);
        }, 90_000, 500).catch(async (err) => {
            throw new Error(`${(err as Error).message}: leases ${JSON.stringify(await leases())}, last records ${JSON.stringify([...writer.lastSeq])}`);
        });
        await out.stop();

        // each device's readings, first time seen, in the order they were put (one output shard: the order written)
        const firstSeen = new Set<string>();
        const lastN = new Map<string, number>();
        out.records.forEach((x, i) => {
            if (firstSeen.has(x.id)) return;
            firstSeen.add(x.id);
            if (i >= ordered) return;
            const prev = lastN.get(x.device);
            assert.ok(prev === undefined || prev < x.n, `order broken for ${x.device}: ${prev} then ${x.n}`);
            lastN.set(x.device, x.n);
        });
        const duplicates = out.records.length - firstSeen.size;
        assert.ok(duplicates < expected.length / 2, `duplicates bounded (${duplicates} of ${expected.length})`);
        assert.equal(firstSeen.size, expected.length, 'nothing on the output that was not put');
        for (const red of reds) {
            assert.equal(red!.child.exitCode, null, 'the process is alive');
            assert.deepEqual(red!.errors(), [], 'no errors in the log');
        }
        console.log(`      ${expected.length} user records put (${writer.aggregates} KPL aggregates), ${out.records.length} on the output stream, ${duplicates} duplicates, ${front.throttled} entries throttled`);

    });
});
