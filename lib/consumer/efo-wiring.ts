/**
 * The one place `readMode: 'efo'` is wired: registers (or finds) the stream consumer and returns the
 * Enhanced Fan-Out ShardReaderFactory from ./efo.
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { ShardReaderFactory } from './reader';
import { ensureStreamConsumer, createEfoReaderFactory } from './efo';

export async function efoReaderFactory(
    kinesis: KinesisClient,
    streamARN: string,
    consumerName: string,
    opts: { signal?: AbortSignal; watchdogMs?: number } = {},
): Promise<{ factory: ShardReaderFactory; consumerARN: string }> {
    const consumerARN = await ensureStreamConsumer(kinesis, streamARN, consumerName, { signal: opts.signal });
    return { factory: createEfoReaderFactory(consumerARN, opts.watchdogMs ? { watchdogMs: opts.watchdogMs } : undefined), consumerARN };
}
