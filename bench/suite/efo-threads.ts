/**
 * The two helpers of the EFO latency measurement (bench/suite/efo.ts), each on a worker thread of its own
 * so that neither shares the event loop of the Node-RED runtime being measured (a producer and a
 * hand-written consumer would be other programs; process.hrtime is one clock for all threads):
 *   role 'put' — single PutRecord calls at 20/s, each body `{ at, i }` with `at` = start of its PutRecord;
 *                posts { done: true } after the last;
 *   role 'raw' — the raw baseline: the SDK v3 SubscribeToShard event stream read in a `for await` loop,
 *                nothing else (resubscribes after its continuation when the server ends a subscription);
 *                posts { probe: true } for its probe record, { latency } for each record (event from the
 *                SDK − `at`), { gap } between events; stops on the message 'stop' and posts { stopped: true }.
 */
import { PutRecordCommand, SubscribeToShardCommand } from '@aws-sdk/client-kinesis';
import type { StartingPosition } from '@aws-sdk/client-kinesis';
import { parentPort, workerData } from 'node:worker_threads';
import { now, rawKinesis, sleep } from './common';

export type EfoThreadData =
    | { role: 'put'; endpoint: string; stream: string; samples: number }
    | { role: 'raw'; endpoint: string; consumerARN: string; shardId: string };

async function put(d: Extract<EfoThreadData, { role: 'put' }>): Promise<void> {
    const client = rawKinesis(d.endpoint);
    for (let i = 0; i < d.samples; i++) {
        const at = now();
        await client.send(new PutRecordCommand({ StreamName: d.stream, PartitionKey: `k${i % 16}`, Data: Buffer.from(JSON.stringify({ at, i })) }));
        await sleep(Math.max(0, 50 - (now() - at)));
    }
    client.destroy();
    parentPort!.postMessage({ done: true });
}

async function raw(d: Extract<EfoThreadData, { role: 'raw' }>): Promise<void> {
    const client = rawKinesis(d.endpoint);
    const abort = new AbortController();
    parentPort!.on('message', (m) => {
        if (m === 'stop') abort.abort();
    });
    let position: StartingPosition = { Type: 'LATEST' };
    let probed = false;
    let last = 0;
    while (!abort.signal.aborted) {
        const started = Date.now();
        try {
            const out = await client.send(new SubscribeToShardCommand({ ConsumerARN: d.consumerARN, ShardId: d.shardId, StartingPosition: position }), { abortSignal: abort.signal });
            for await (const item of out.EventStream!) {
                const e = item.SubscribeToShardEvent;
                if (!e) continue;
                const t = now();
                if (probed && last) parentPort!.postMessage({ gap: t - last });
                last = t;
                for (const r of e.Records ?? []) {
                    const b = JSON.parse(Buffer.from(r.Data ?? new Uint8Array()).toString('utf8')) as { probe?: string; at: number };
                    if (b.probe === 'raw') {
                        probed = true;
                        parentPort!.postMessage({ probe: true });
                    } else if (!b.probe && probed) {
                        parentPort!.postMessage({ latency: t - b.at });
                    }
                }
                if (e.ContinuationSequenceNumber) position = { Type: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: e.ContinuationSequenceNumber };
            }
        } catch (err) {
            if (abort.signal.aborted) break;
            console.error(`raw EFO loop: ${(err as Error).name}: ${(err as Error).message}`);
        }
        if (!abort.signal.aborted) await sleep(Math.max(1000, started + 5_000 - Date.now()));
    }
    client.destroy();
    parentPort!.postMessage({ stopped: true });
}

const data = workerData as EfoThreadData;
(data.role === 'put' ? put(data) : raw(data)).catch((err) => {
    console.error(err instanceof Error ? err.stack : err);
    process.exit(1);
});
