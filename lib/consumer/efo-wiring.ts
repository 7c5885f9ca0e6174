/**
 * The one place `readMode: 'efo'` is wired: registers (or finds) the stream consumer and returns the
 * Enhanced Fan-Out ShardReaderFactory from ./efo (helper module). Loaded lazily so a polling
 * consumer never touches it, and so a build without ./efo fails with a clear message.
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { ShardReaderFactory } from './reader';

interface EfoModule {
    ensureStreamConsumer(kinesis: KinesisClient, streamARN: string, consumerName: string, opts?: { signal?: AbortSignal; pollMs?: number }): Promise<string>;
    createEfoReaderFactory(consumerARN: string, opts?: { maxSubscriptionMs?: number; watchdogMs?: number }): ShardReaderFactory;
}

function loadEfo(): EfoModule {
    try {
        // eslint-disable-next-line @typescript-eslint/no-var-requires
        return require('./efo') as EfoModule;
    } catch (err) {
        throw new Error(`Enhanced Fan-Out is not available in this build (${(err as Error).message}); use read mode "polling"`);
    }
}

export async function efoReaderFactory(
    kinesis: KinesisClient,
    streamARN: string,
    consumerName: string,
    opts: { signal?: AbortSignal; watchdogMs?: number } = {},
): Promise<{ factory: ShardReaderFactory; consumerARN: string }> {
    const efo = loadEfo();
    const consumerARN = await efo.ensureStreamConsumer(kinesis, streamARN, consumerName, { signal: opts.signal });
    return { factory: efo.createEfoReaderFactory(consumerARN, opts.watchdogMs ? { watchdogMs: opts.watchdogMs } : undefined), consumerARN };
}
