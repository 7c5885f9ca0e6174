/** Helpers shared by the EFO integration tests (not a test file itself). */
import assert from 'node:assert/strict';
import {
    DescribeStreamSummaryCommand,
    KinesisClient,
    ListShardsCommand,
    PutRecordsCommand,
    Shard,
    SubscribeToShardCommand,
} from '@aws-sdk/client-kinesis';
import { ensureStreamConsumer } from '../../lib/consumer/efo';
import type { ReadBatch, ShardReader } from '../../lib/consumer/reader';
import { createStream, uniqueName } from '../helpers/stack';

export async function streamArnOf(client: KinesisClient, name: string): Promise<string> {
    const d = await client.send(new DescribeStreamSummaryCommand({ StreamName: name }));
    const arn = d.StreamDescriptionSummary?.StreamARN;
    assert.ok(arn, 'stream has an ARN');
    return arn;
}

export async function shardsOf(client: KinesisClient, name: string): Promise<Shard[]> {
    const out = await client.send(new ListShardsCommand({ StreamName: name }));
    return out.Shards ?? [];
}

/**
 * A fresh one-shard stream (`prefix` + random) with a registered, ACTIVE stream consumer. `consumerClient`
 * registers the consumer (e.g. an HTTP/2 client); the stream is made through `client`.
 */
export async function efoStream(client: KinesisClient, prefix: string, consumerName = 'app', consumerClient = client): Promise<{ stream: string; shardId: string; consumerARN: string; streamARN: string }> {
    const stream = uniqueName(prefix);
    await createStream(stream, 1, client);
    const streamARN = await streamArnOf(client, stream);
    const shardId = (await shardsOf(client, stream))[0].ShardId!;
    const consumerARN = await ensureStreamConsumer(consumerClient, streamARN, consumerName, { pollMs: 100 });
    return { stream, shardId, consumerARN, streamARN };
}

/** Puts `count` records with ids `${prefix}-0 …` (data = the id), one partition key: one shard, in order. */
export async function putIds(client: KinesisClient, stream: string, prefix: string, count: number, partitionKey = 'k'): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < count; i += 500) {
        const chunk = [];
        for (let j = i; j < Math.min(count, i + 500); j++) {
            const id = `${prefix}-${j}`;
            ids.push(id);
            chunk.push({ Data: Buffer.from(id), PartitionKey: partitionKey });
        }
        const out = await client.send(new PutRecordsCommand({ StreamName: stream, Records: chunk }));
        assert.equal(out.FailedRecordCount ?? 0, 0, 'PutRecords failed entries');
    }
    return ids;
}

export interface Collected {
    ids: string[];
    sequenceNumbers: string[];
    batches: ReadBatch[];
    shardEnd?: ReadBatch['shardEnd'];
}

/**
 * Reads until `want` records arrived (or shard end); `pauseMs` between next() calls simulates a
 * slow consumer. Gives up after `maxCalls` next() calls.
 */
export async function collect(reader: ShardReader, want: number, opts: { pauseMs?: number; maxCalls?: number; untilShardEnd?: boolean } = {}): Promise<Collected> {
    const c: Collected = { ids: [], sequenceNumbers: [], batches: [] };
    const maxCalls = opts.maxCalls ?? 2_000;
    for (let calls = 0; calls < maxCalls; calls++) {
        const batch = await reader.next();
        c.batches.push(batch);
        for (const r of batch.records) {
            c.ids.push(Buffer.from(r.Data ?? new Uint8Array()).toString());
            c.sequenceNumbers.push(r.SequenceNumber ?? '');
        }
        if (batch.shardEnd) {
            c.shardEnd = batch.shardEnd;
            return c;
        }
        if (!opts.untilShardEnd && c.ids.length >= want) return c;
        if (opts.pauseMs) await new Promise((r) => setTimeout(r, opts.pauseMs));
    }
    throw new Error(`gave up after ${maxCalls} next() calls with ${c.ids.length}/${want} records`);
}

/** Asserts the ids are exactly `expected` in order: nothing lost, nothing twice. */
export function assertExactly(actual: string[], expected: string[]): void {
    const seen = new Set<string>();
    const dups = actual.filter((id) => (seen.has(id) ? true : (seen.add(id), false)));
    assert.deepEqual(dups, [], 'duplicates');
    const missing = expected.filter((id) => !seen.has(id));
    assert.deepEqual(missing, [], 'lost records');
    assert.deepEqual(actual, expected, 'order');
}

export type SendFn = (command: unknown, options?: { abortSignal?: AbortSignal }) => Promise<unknown>;

/**
 * Fault injection around a real client: `around` sees every SubscribeToShard call and may throw,
 * or wrap the real output's event stream. Other commands go straight through.
 */
export function faultyClient(
    real: KinesisClient,
    around: (call: number, command: SubscribeToShardCommand, send: () => Promise<{ EventStream?: AsyncIterable<unknown> }>, signal?: AbortSignal) => Promise<unknown>,
): KinesisClient {
    let calls = 0;
    const send = async (command: unknown, options?: { abortSignal?: AbortSignal }): Promise<unknown> => {
        if (command instanceof SubscribeToShardCommand) {
            const n = calls++;
            return around(n, command, () => real.send(command, options) as Promise<{ EventStream?: AsyncIterable<unknown> }>, options?.abortSignal);
        }
        return (real.send as SendFn)(command, options);
    };
    return { send, destroy: () => real.destroy(), config: real.config } as unknown as KinesisClient;
}

/** An event stream that passes `pass` events through, then never delivers another (until aborted). */
export function stallAfter(source: AsyncIterable<unknown>, pass: number, signal?: AbortSignal): AsyncIterable<unknown> {
    return {
        [Symbol.asyncIterator]() {
            const it = source[Symbol.asyncIterator]();
            let n = 0;
            return {
                next(): Promise<IteratorResult<unknown>> {
                    if (n++ < pass) return it.next();
                    return new Promise((_resolve, reject) => {
                        signal?.addEventListener('abort', () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' })), { once: true });
                    });
                },
                async return(): Promise<IteratorResult<unknown>> {
                    await it.return?.();
                    return { done: true, value: undefined };
                },
            };
        },
    };
}
