/**
 * A deploy that stops kinesis-in waits (Drain on stop) only for records that can still finish. In a real Node-RED
 * process on the local stack:
 * - kinesis-in (Drain on stop 12 s) → a node holding every message 60 s (a delay node; a function node with a timer)
 *   → file node. A Full or Modified Flows deploy that shortens the hold stops that node: what it held is dropped
 *   (the function node's timers cleared; the delay node calls done() for its queue inside its close callback,
 *   which is no processing), so kinesis-in's close does not wait for it — the deploy ends well before the 12 s —
 *   and after the restart every record reaches the file (read again from the checkpoint: none lost). A Modified
 *   Nodes deploy of the delay node alone: kinesis-in keeps running and sends the dropped records again.
 * - kinesis-in → kinesis-out, whose PutRecords requests a gate holds while the deploy begins: kinesis-out's close
 *   flushes its queue and completes those messages when PutRecords answers; kinesis-in waits for that and
 *   checkpoints them — they are not read (and written) again after the restart.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createServer, request as httpRequest, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetRecordsCommand, GetShardIteratorCommand, KinesisClient, ListShardsCommand } from '@aws-sdk/client-kinesis';
import { createStream, localEndpoints, rawDynamo, rawKinesis, uniqueName } from '../helpers/stack';
import { checkpointsAtEnd, countingFlow, everyRecordIn, idsIn, recordWriter } from './counting';
import { AdminApi, Comms, FlowNode, NodeRedProcess, sleep, waitUntil } from './harness';

const DRAIN_MS = 12_000;

type Holder = 'delay' | 'function';

/**
 * The counting flow with a node holding each message `holdMs` between kinesis-in (Drain on stop 12 s) and the file
 * node: a delay node (its close clears its queue calling done() for each message) or a function node with a timer
 * (its close clears the timer: no done). Both show how many messages they got in their status.
 */
function holdingFlow(opts: { stream: string; app: string; file: string; holder: Holder; holdMs: number }): FlowNode[] {
    const step: FlowNode = opts.holder === 'delay'
        ? {
            id: 'dd-hold', type: 'delay', name: 'hold', pauseType: 'delay', timeout: String(opts.holdMs), timeoutUnits: 'milliseconds',
            rate: '1', nbRateUnits: '1', rateUnits: 'second', randomFirst: '1', randomLast: '5', randomUnits: 'seconds', drop: false,
            allowrate: false, outputs: 1,
        }
        : {
            id: 'dd-hold', type: 'function', name: 'hold', outputs: 1,
            func: `const n = (context.get('n') || 0) + 1;\ncontext.set('n', n);\nnode.status({ text: String(n) });\n`
                + `setTimeout(() => { node.send(msg); node.done(); }, ${opts.holdMs});\nreturn;`,
        };
    return countingFlow('dd', { ...opts, maxInFlight: 1000, extra: { drainTimeoutMs: DRAIN_MS }, step });
}

/** The file node writes `{id}` objects as JSON: its lines' ids. */
function jsonIdsIn(file: string): string[] {
    return idsIn([file]).map((l) => (JSON.parse(l) as { id: string }).id);
}

/** Deploys as the editor does; returns how long the Deploy request took (Node-RED answers once the old flows stopped). */
async function timedDeploy(red: NodeRedProcess, flows: FlowNode[], type: 'full' | 'flows' | 'nodes'): Promise<number> {
    const from = red.log.length;
    const t0 = Date.now();
    await AdminApi.prototype.deploy.call(red, flows, type);
    const ms = Date.now() - t0;
    await red.waitForLog(/Started flows|Started modified (nodes|flows)/, 60_000, from);
    return ms;
}

/** A loopback reverse proxy to kinesis-local that holds PutRecords requests while its gate is closed. */
async function startGate(target: string): Promise<{ url: string; held: () => number; close(): void; open(): void; stop(): Promise<void> }> {
    const to = new URL(target);
    let closed = false;
    let waiting: Array<() => void> = [];
    const forward = (req: IncomingMessage, body: Buffer, res: ServerResponse): void => {
        const up = httpRequest({ host: to.hostname, port: to.port, path: req.url, method: req.method, headers: req.headers }, (r) => {
            res.writeHead(r.statusCode ?? 502, r.headers);
            r.pipe(res);
        });
        up.on('error', () => {
            res.writeHead(502);
            res.end();
        });
        up.end(body);
    };
    const server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
            const body = Buffer.concat(chunks);
            const go = () => forward(req, body, res);
            if (closed && /\.PutRecords$/.test(String(req.headers['x-amz-target'] ?? ''))) waiting.push(go);
            else go();
        });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as AddressInfo).port;
    return {
        url: `http://127.0.0.1:${port}`,
        held: () => waiting.length,
        close: () => { closed = true; },
        open: () => {
            closed = false;
            const w = waiting;
            waiting = [];
            for (const go of w) go();
        },
        stop: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
    };
}

/** Every record of a stream, from the start of each shard: the `id` of each JSON record. */
async function streamIds(kinesis: KinesisClient, stream: string): Promise<string[]> {
    const ids: string[] = [];
    const shards = await kinesis.send(new ListShardsCommand({ StreamName: stream }));
    for (const s of shards.Shards ?? []) {
        let it = (await kinesis.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: s.ShardId!, ShardIteratorType: 'TRIM_HORIZON' }))).ShardIterator;
        while (it) {
            const r = await kinesis.send(new GetRecordsCommand({ ShardIterator: it, Limit: 10_000 }));
            for (const rec of r.Records ?? []) ids.push((JSON.parse(Buffer.from(rec.Data!).toString('utf8')) as { id: string }).id);
            if (!r.Records?.length || r.MillisBehindLatest === 0) break;
            it = r.NextShardIterator;
        }
    }
    return ids;
}

describe('deploy while kinesis-in messages are held (e2e: Drain on stop waits only for what can still finish)', function () {
    this.timeout(240_000);
    let red: NodeRedProcess;
    let comms: Comms;
    let dir: string;
    let kinesis: ReturnType<typeof rawKinesis>;
    let dynamo: ReturnType<typeof rawDynamo>;

    before(async function () {
        kinesis = rawKinesis();
        dynamo = rawDynamo();
        red = await NodeRedProcess.start(process.env);
        comms = await Comms.open(red.baseUrl);
        dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kinesis-deploy-drain-'));
    });

    afterEach(async function () {
        // nothing of one test left running into the next
        await red?.deploy([]);
    });

    after(async function () {
        comms?.close();
        await red?.stop();
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
        kinesis?.destroy();
        dynamo?.destroy();
    });

    const label = { full: 'Full', flows: 'Modified Flows', nodes: 'Modified Nodes' };
    for (const [holder, type] of [['delay', 'full'], ['delay', 'flows'], ['function', 'full'], ['function', 'flows'], ['delay', 'nodes']] as const) {
        const what = type === 'nodes' ? 'kinesis-in keeps running and sends those records again' : 'they do not hold the deploy up';
        it(`a ${label[type]} deploy that stops a ${holder} node holding kinesis-in's messages: ${what}; every record reaches the file`, async function () {
            const stream = uniqueName(`drain-${holder}-${type}`);
            const app = uniqueName(`drain-${holder}-${type}-app`);
            const file = path.join(dir, `${holder}-${type}.txt`);
            await createStream(stream, 2, kinesis);
            const base = { stream, app, file, holder };
            await red.deploy(holdingFlow({ ...base, holdMs: 60_000 }), 'full');
            const writer = recordWriter(kinesis, stream, { prefix: `${holder[0]}${type[0]}` });
            writer.start();
            // the node holds kinesis-in's messages (its status counts them)
            await waitUntil(`the ${holder} node holding 30 messages`, () => Number(comms.status.get('dd-hold')?.text ?? 0) >= 30, 60_000, 100);
            const from = red.log.length;
            // the user shortens the hold and deploys, while records keep arriving
            const ms = await timedDeploy(red, holdingFlow({ ...base, holdMs: 100 }), type);
            console.log(`      ${label[type]} deploy, ${holder} node holding messages, Drain on stop ${DRAIN_MS / 1000} s: the Deploy request took ${ms} ms`);
            assert.ok(ms < DRAIN_MS, `the deploy did not wait Drain on stop (${DRAIN_MS} ms) for messages that can never finish: it took ${ms} ms`);
            if (type === 'nodes') await red.waitForLog(/a deploy stopped nodes that held \d+ of this node's messages/, 30_000, from);
            await writer.stop();
            const lines = (): string[] => jsonIdsIn(file);
            await everyRecordIn(`after a ${label[type]} deploy`, writer.put, lines);
            await checkpointsAtEnd(`after a ${label[type]} deploy`, dynamo, app, writer.lastSeq);
            assert.deepEqual(red.errors(from), [], 'no errors in the log');
        });
    }

    it('a deploy still waits for kinesis-out to flush on close, and the records it wrote are checkpointed (not read again)', async function () {
        const inStream = uniqueName('drain-in');
        const outStream = uniqueName('drain-out');
        const app = uniqueName('drain-out-app');
        await createStream(inStream, 1, kinesis);
        await createStream(outStream, 1, kinesis);
        const gate = await startGate(localEndpoints().kinesis);
        try {
            const flows: FlowNode[] = [
                { id: 'do-tab', type: 'tab', label: 'drain out', disabled: false, info: '' },
                { id: 'do-cfg', type: 'kinesis-config', name: 'local', region: '', kinesisEndpoint: '', dynamodbEndpoint: '', credentialMode: 'chain', roleArn: '', externalId: '', roleSessionName: '', stsEndpoint: '' },
                { id: 'do-gated', type: 'kinesis-config', name: 'gated', region: '', kinesisEndpoint: gate.url, dynamodbEndpoint: '', credentialMode: 'chain', roleArn: '', externalId: '', roleSessionName: '', stsEndpoint: '' },
                {
                    id: 'do-in', type: 'kinesis-in', z: 'do-tab', name: '', config: 'do-cfg', streamName: inStream, applicationName: app,
                    initialPosition: 'TRIM_HORIZON', timestamp: '', timestampType: 'str', readMode: 'polling', consumerName: '',
                    maxRecords: 1000, idleTimeMs: 200, payloadFormat: 'json', outputMode: 'record', checkpointMode: 'complete',
                    checkpointIntervalMs: 500, checkpointEveryRecords: 10000, maxInFlight: 1000, ordered: false, workerId: '',
                    failoverTimeMs: 3000, renewIntervalMs: '', takerIntervalMs: '', shardSyncIntervalMs: 60000, drainTimeoutMs: DRAIN_MS,
                    gracefulHandOff: true, x: 150, y: 100, wires: [['do-out']],
                },
                {
                    id: 'do-out', type: 'kinesis-out', z: 'do-tab', name: '', config: 'do-gated', streamName: outStream, streamNameType: 'str',
                    partitionKey: 'topic', partitionKeyType: 'msg', keyGeneration: 'random', explicitHashKey: '', explicitHashKeyType: 'str',
                    lingerMs: 50, maxInFlight: 4, maxRecordBytes: 1048576, maxRetries: 8, maxQueued: 10000, keyOrder: true, ordered: false,
                    aggregate: false, x: 350, y: 100, wires: [[]],
                },
            ];
            await red.deploy(flows, 'full');
            const writer = recordWriter(kinesis, inStream, { prefix: 'k', batch: 10, everyMs: 50 });
            const put = async (n: number): Promise<void> => {
                const target = writer.put.length + n;
                writer.start();
                await waitUntil(`${n} more records put`, () => writer.put.length >= target, 60_000, 20);
                await writer.stop();
            };
            await put(50);
            await waitUntil('the first records written to the output stream', async () => (await streamIds(kinesis, outStream)).length >= writer.put.length, 60_000, 200);
            // kinesis-out's requests are held: kinesis-in's messages wait in kinesis-out when the deploy begins
            gate.close();
            await put(50);
            await waitUntil('kinesis-out sending (its PutRecords held)', () => gate.held() > 0, 60_000, 50);
            const from = red.log.length;
            const deploying = timedDeploy(red, flows.map((n) => (n.id === 'do-out' ? { ...n, name: 'changed' } : n)), 'full');
            await red.waitForLog(/Stopping flows/, 60_000, from);
            // kinesis-in's close is waiting now; kinesis-out's close waits for its requests. Answer them a little later
            await sleep(1500);
            gate.open();
            const ms = await deploying;
            console.log(`      full deploy with kinesis-out flushing on close (its requests answered 1.5 s after the stop began): the Deploy request took ${ms} ms`);
            await put(20);
            const ids = (): Promise<string[]> => streamIds(kinesis, outStream);
            await waitUntil('every record in the output stream', async () => {
                const seen = new Set(await ids());
                return writer.put.every((id) => seen.has(id));
            }, 90_000, 250);
            const out = await ids();
            const twice = out.filter((id, i) => out.indexOf(id) !== i);
            assert.deepEqual(twice, [], 'records kinesis-out wrote while closing were checkpointed: none read and written again');
            assert.equal(out.length, writer.put.length);
            assert.deepEqual(red.errors(from), [], 'no errors in the log');
        } finally {
            await gate.stop();
        }
    });
});
