/**
 * The polling ShardReader (GetShardIterator + GetRecords).
 *
 * - ExpiredIteratorException → a new iterator AFTER_SEQUENCE_NUMBER of the last record returned
 *   (or the original starting position when nothing was returned yet).
 * - throttling / network / 5xx → exponential backoff (250 ms … 10 s), reported through onWarning.
 * - NextShardIterator null → the shard is closed: `shardEnd` with the ChildShards of that answer.
 * - ResourceNotFound for a shard of a stream that still exists (an expired closed shard) → shardEnd
 *   with no children.
 * - caught up (an empty answer) → the next call waits idleTimeMs first.
 * - the stream is named by StreamName when a name was configured (StreamARN only otherwise).
 * - answers are read by the GetRecords codec (./get-records-codec.ts) added to the client once.
 */
import {
    DescribeStreamSummaryCommand,
    GetRecordsCommand,
    GetRecordsCommandOutput,
    GetShardIteratorCommand,
    GetShardIteratorCommandInput,
    KinesisClient,
} from '@aws-sdk/client-kinesis';
import { useGetRecordsCodec } from './get-records-codec';
import type { ReadBatch, ShardReader, ShardReaderFactory, ShardReaderOptions, StartingPosition } from './reader';
import { sleep } from './sleep';

function errName(err: unknown): string {
    const e = err as { name?: string; code?: string; Code?: string };
    return e?.name || e?.code || e?.Code || '';
}

const RETRYABLE = new Set([
    'ProvisionedThroughputExceededException', 'ThrottlingException', 'LimitExceededException', 'KMSThrottlingException',
    'InternalFailure', 'InternalFailureException', 'InternalServerError', 'ServiceUnavailable', 'ServiceUnavailableException',
    'ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'TimeoutError', 'RequestTimeout', 'NetworkingError', 'EAI_AGAIN',
    'ECONNABORTED', 'EHOSTUNREACH', 'ENETUNREACH', 'SocketError',
]);

export function isRetryable(err: unknown): boolean {
    const name = errName(err);
    if (RETRYABLE.has(name)) return true;
    const fault = (err as { $fault?: string })?.$fault;
    const status = (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
    if (fault === 'server' || (status !== undefined && status >= 500)) return true;
    return /socket hang up|ECONNRESET|ECONNREFUSED|network/i.test((err as Error)?.message ?? '');
}

/** Kinesis refused the request itself (bad parameter): the same request will fail again. */
const INVALID_REQUEST = new Set(['ValidationException', 'InvalidArgumentException', 'SerializationException']);

/**
 * A request Kinesis rejects as invalid (ValidationException, InvalidArgumentException,
 * SerializationException): retrying the same request cannot help, so the consumer stops reading
 * the shard and reports it instead of retrying forever.
 */
export function isInvalidRequest(err: unknown): boolean {
    return INVALID_REQUEST.has(errName(err));
}

class ClosedError extends Error {
    constructor() {
        super('shard reader closed');
        this.name = 'ShardReaderClosed';
    }
}

class PollingReader implements ShardReader {
    readonly shardId: string;
    private readonly kinesis: KinesisClient;
    private iterator: string | undefined;
    /** The first iterator, asked for by prepare() before the first next(). */
    private prepared: Promise<string | undefined> | undefined;
    private lastSeq: string | undefined;
    private caughtUp = false;
    private ended = false;
    private closed = false;
    private readonly abort = new AbortController();
    private backoff = 0;

    constructor(private readonly opts: ShardReaderOptions) {
        this.shardId = opts.shardId;
        this.kinesis = opts.kinesis;
        useGetRecordsCodec(opts.kinesis);
    }

    /**
     * The stream by name when a name was configured (every Kinesis API accepts it; kinesalite and
     * other emulators reject StreamARN on GetShardIterator), by ARN only when that is all we have.
     */
    private streamRef(): { StreamName?: string; StreamARN?: string } {
        return this.opts.streamName ? { StreamName: this.opts.streamName } : { StreamARN: this.opts.streamARN };
    }

    private sleep(ms: number): Promise<void> {
        return sleep(ms, this.abort.signal);
    }

    private async newIterator(): Promise<string | undefined> {
        const start: StartingPosition = this.lastSeq ? { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: this.lastSeq } : this.opts.start;
        const input: GetShardIteratorCommandInput = { ...this.streamRef(), ShardId: this.shardId, ShardIteratorType: start.type };
        if (start.type === 'AT_TIMESTAMP') input.Timestamp = start.timestamp;
        if (start.type === 'AT_SEQUENCE_NUMBER' || start.type === 'AFTER_SEQUENCE_NUMBER') input.StartingSequenceNumber = start.sequenceNumber;
        const out = await this.kinesis.send(new GetShardIteratorCommand(input), { abortSignal: this.abort.signal });
        return out.ShardIterator;
    }

    /** Is the stream still there? (distinguishes an expired closed shard from a deleted stream) */
    private async streamExists(): Promise<boolean> {
        try {
            await this.kinesis.send(new DescribeStreamSummaryCommand(this.streamRef()), { abortSignal: this.abort.signal });
            return true;
        } catch (err) {
            if (errName(err) === 'ResourceNotFoundException') return false;
            throw err;
        }
    }

    prepare(): void {
        if (this.iterator || this.prepared || this.closed) return;
        this.prepared = this.newIterator();
        this.prepared.catch(() => undefined); // next() asks again
    }

    async next(opts?: { maxRecords?: number }): Promise<ReadBatch> {
        const limit = Math.max(1, Math.min(this.opts.maxRecords, Math.floor(opts?.maxRecords ?? Infinity)));
        if (this.ended) return { records: [] };
        if (this.caughtUp) await this.sleep(this.opts.idleTimeMs);
        for (;;) {
            if (this.closed) throw new ClosedError();
            let out: GetRecordsCommandOutput;
            try {
                if (!this.iterator) {
                    const early = this.prepared;
                    this.prepared = undefined;
                    this.iterator = early ? await early.catch(() => this.newIterator()) : await this.newIterator();
                    if (!this.iterator) {
                        this.ended = true;
                        return { records: [], shardEnd: { childShards: [] } };
                    }
                }
                out = await this.kinesis.send(
                    new GetRecordsCommand({ ShardIterator: this.iterator, Limit: limit }),
                    { abortSignal: this.abort.signal },
                );
                this.backoff = 0;
            } catch (err) {
                if (this.closed) throw new ClosedError();
                const name = errName(err);
                if (name === 'ExpiredIteratorException') {
                    this.iterator = undefined;
                    continue;
                }
                if (name === 'ResourceNotFoundException' && (await this.streamExists().catch(() => true))) {
                    // an expired closed shard (trimmed away): its end, with no children known
                    this.ended = true;
                    return { records: [], shardEnd: { childShards: [] } };
                }
                if (isRetryable(err)) {
                    this.backoff = Math.min(this.backoff ? this.backoff * 2 : 250, 10_000);
                    this.opts.onWarning?.(name.includes('Throughput') || name.includes('Throttl') ? 'throttled' : `retrying: ${name || (err as Error).message}`, err);
                    await this.sleep(this.backoff);
                    continue;
                }
                throw err;
            }
            const records = out.Records ?? [];
            if (records.length) this.lastSeq = records[records.length - 1].SequenceNumber;
            this.caughtUp = records.length === 0;
            if (!out.NextShardIterator) {
                this.ended = true;
                this.iterator = undefined;
                return { records, millisBehindLatest: out.MillisBehindLatest, shardEnd: { childShards: out.ChildShards ?? [] } };
            }
            this.iterator = out.NextShardIterator;
            return { records, millisBehindLatest: out.MillisBehindLatest };
        }
    }

    async close(): Promise<void> {
        if (this.closed) return;
        this.closed = true;
        this.abort.abort();
    }
}

export const createPollingReader: ShardReaderFactory = (options) => new PollingReader(options);
