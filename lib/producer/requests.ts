/**
 * One request to Kinesis for a batch of entries (PutRecords, or PutRecord in ordered mode) and
 * what each entry's outcome was; the retry classification and backoff.
 *
 * The retry budget: the producer's Kinesis client makes ONE HTTP attempt per call (SDK
 * maxAttempts 1, see lib/aws/clients.ts `producerKinesis`); the producer alone retries, up to
 * `maxRetries` times per record. So a record costs at most 1 + maxRetries requests.
 */
import { PutRecordCommand, PutRecordCommandOutput, PutRecordsCommand, PutRecordsCommandInput, PutRecordsCommandOutput, PutRecordsRequestEntry, PutRecordsResultEntry } from '@aws-sdk/client-kinesis';
import type { ExplainedError } from '../aws/errors';
import type { Entry } from './entries';
import { PUT_RECORDS_ENTRIES } from './put-records-codec';
import { streamTarget } from './records';

/** The one method of KinesisClient the producer uses (tests wrap it to inject faults). */
export interface KinesisSender {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    send(command: any, options?: { abortSignal?: AbortSignal }): Promise<any>;
}

export type ExplainFn = (err: unknown, ctx: { action: string; streamName: string }) => ExplainedError;

export const RETRYABLE_ENTRY_CODES = new Set(['ProvisionedThroughputExceededException', 'InternalFailure', 'KMSThrottlingException']);

/** Full-jitter exponential backoff before retry `attempt` (1 = first retry): random 0 … min(max, base · 2^(attempt−1)). */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
    const cap = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
    return Math.floor(random() * cap);
}

/** Explains a failed PutRecords entry (ErrorCode + ErrorMessage of its result). */
export function entryError(streamName: string, code: string, raw: string, explain: ExplainFn): ExplainedError {
    if (code === 'ProvisionedThroughputExceededException' || code === 'KMSThrottlingException') {
        return { kind: 'throttled', code, message: `throughput exceeded on stream "${streamName}" (${code}: ${raw}) — add shards, spread partition keys, or slow the flow`, status: 'throttled, retrying', retryable: true };
    }
    if (code === 'InternalFailure') {
        return { kind: 'internal', code, message: `Kinesis internal failure on stream "${streamName}": ${raw}`, status: 'AWS error, retrying', retryable: true };
    }
    const e = Object.assign(new Error(raw), { name: code });
    const explained = explain(e, { action: 'kinesis:PutRecords', streamName });
    return { ...explained, retryable: RETRYABLE_ENTRY_CODES.has(code) };
}

/** Whether an entry's result says it was written (a shard and a sequence number, no error code). */
export function isWritten(r: PutRecordsResultEntry | undefined): r is PutRecordsResultEntry & { ShardId: string; SequenceNumber: string } {
    return r !== undefined && r !== null && !r.ErrorCode && !!r.ShardId && !!r.SequenceNumber;
}

/** Explains an entry's result that is not `isWritten` (an error code, no sequence number, or none at all). */
export function resultError(r: PutRecordsResultEntry | undefined, streamName: string, explain: ExplainFn): ExplainedError {
    const code = r?.ErrorCode ?? 'InternalFailure';
    const raw = r?.ErrorMessage ?? (r ? 'no sequence number returned' : 'no result for this record in the response');
    return entryError(streamName, code, raw, explain);
}

const NO_RESULTS: PutRecordsResultEntry[] = [];

/**
 * Sends one PutRecords request (or one PutRecord with SequenceNumberForOrdering = `previous`) and
 * returns the response's result entries, one per entry of `batch` by index (missing ones are
 * undefined: `resultError` explains them). A request that fails as a whole rejects (the caller
 * explains it). `codec`: the client has the PutRecords codec (put-records-codec.ts), which is handed
 * the entries themselves, with no `{Data, PartitionKey}` object per record.
 */
export async function putEntries(
    client: KinesisSender,
    stream: string,
    batch: Entry[],
    opts: { ordered: boolean; previous?: string; signal: AbortSignal; codec: boolean },
): Promise<PutRecordsResultEntry[]> {
    const target = streamTarget(stream);
    if (opts.ordered) {
        const e = batch[0];
        const out = (await client.send(new PutRecordCommand({
            ...target,
            Data: e.data,
            PartitionKey: e.partitionKey,
            ...(e.explicitHashKey !== undefined ? { ExplicitHashKey: e.explicitHashKey } : {}),
            ...(opts.previous ? { SequenceNumberForOrdering: opts.previous } : {}),
        }), { abortSignal: opts.signal })) as PutRecordCommandOutput;
        if (!out.ShardId || !out.SequenceNumber) throw Object.assign(new Error('PutRecord returned no sequence number'), { name: 'InternalFailure' });
        return [{ ShardId: out.ShardId, SequenceNumber: out.SequenceNumber }];
    }
    let input: PutRecordsCommandInput;
    if (opts.codec) {
        input = { ...target, Records: [] };
        (input as unknown as Record<symbol, unknown>)[PUT_RECORDS_ENTRIES] = batch;
    } else {
        const records = new Array<PutRecordsRequestEntry>(batch.length);
        for (let i = 0; i < batch.length; i++) {
            const e = batch[i];
            records[i] = e.explicitHashKey !== undefined
                ? { Data: e.data, PartitionKey: e.partitionKey, ExplicitHashKey: e.explicitHashKey }
                : { Data: e.data, PartitionKey: e.partitionKey };
        }
        input = { ...target, Records: records };
    }
    const out = (await client.send(new PutRecordsCommand(input), { abortSignal: opts.signal })) as PutRecordsCommandOutput;
    return out.Records ?? NO_RESULTS;
}
