/**
 * The contract between the consumer (lease coordinator, checkpointer) and the two ways of reading a
 * shard: polling (GetRecords) and Enhanced Fan-Out (SubscribeToShard). Pull-based, so backpressure
 * is natural: the consumer asks for the next batch only when it has room for it.
 */
import type { _Record, ChildShard, KinesisClient } from '@aws-sdk/client-kinesis';

export type StartingPosition =
    | { type: 'TRIM_HORIZON' }
    | { type: 'LATEST' }
    | { type: 'AT_TIMESTAMP'; timestamp: Date }
    | { type: 'AT_SEQUENCE_NUMBER'; sequenceNumber: string }
    | { type: 'AFTER_SEQUENCE_NUMBER'; sequenceNumber: string };

export interface ReadBatch {
    /** Raw Kinesis records in shard order (KPL-aggregated ones not yet deaggregated). */
    records: _Record[];
    millisBehindLatest?: number;
    /**
     * Set once, when the shard is closed and every record has been returned: its children
     * (empty for an expired closed shard — ResourceNotFound on a closed shard counts as its end).
     */
    shardEnd?: { childShards: ChildShard[] };
}

export interface ShardReader {
    readonly shardId: string;
    /**
     * The next batch (possibly empty when caught up). Retryable failures (throttling, expired
     * iterator, network, EFO resubscribe) are handled inside; rejects only with an error the
     * consumer must act on (stream gone, access denied) or after close().
     * `opts.maxRecords` lowers the record limit of this one read (polling: GetRecords Limit; the
     * consumer's byte bound on what is read ahead of delivery); Enhanced Fan-Out ignores it.
     */
    next(opts?: { maxRecords?: number }): Promise<ReadBatch>;
    /**
     * Optional: starts what the first `next()` needs without reading records (polling: the shard
     * iterator), e.g. while the lease is still being taken. Read-only; a failure here is left to `next()`.
     */
    prepare?(): void;
    /**
     * Optional: how long a `next()` has been waiting without hearing from Kinesis, in ms (0 when none waits). For a
     * reader whose waiting is not one SDK call (Enhanced Fan-Out's subscription); the consumer's call watch
     * (./call-watch.ts) covers the calls made on its `kinesis` client.
     */
    waitingMs?(now: number): number;
    /** Stops reading and releases the connection/subscription. Idempotent. */
    close(): Promise<void>;
}

export interface ShardReaderOptions {
    kinesis: KinesisClient;
    /** Stream name or ARN (one of them). */
    streamName?: string;
    streamARN?: string;
    shardId: string;
    start: StartingPosition;
    /** GetRecords Limit (1–10 000). */
    maxRecords: number;
    /** Wait between reads when caught up (polling). */
    idleTimeMs: number;
    /** Reports retryable trouble for status/logging (throttled, resubscribing, …). */
    onWarning?: (message: string, error?: unknown) => void;
}

export type ShardReaderFactory = (options: ShardReaderOptions) => ShardReader;
