/**
 * What the producer answers: per-record results and the errors a message can fail with.
 */
import type { ExplainedError } from '../aws/errors';

export interface WriteResult {
    /** The stream name (also when the stream was given as an ARN). */
    streamName: string;
    /** The stream ARN, when the record named its stream by ARN. */
    streamARN?: string;
    shardId: string;
    sequenceNumber: string;
    /** Position inside a KPL aggregated record (only when aggregation is on). */
    subSequenceNumber?: number;
}

export interface RecordFailure {
    /** Index of the record within its message. */
    index: number;
    streamName: string;
    partitionKey: string;
    /** AWS error code, e.g. ProvisionedThroughputExceededException. */
    code: string;
    /** Words a user can act on. */
    message: string;
    /** Requests that carried this record. */
    attempts: number;
}

export class RecordValidationError extends Error {
    readonly code = 'InvalidRecord';
    readonly problems: Array<{ index: number; message: string }>;
    constructor(problems: Array<{ index: number; message: string }>, total: number) {
        const list = problems.slice(0, 5).map((p) => (total > 1 ? `record #${p.index}: ${p.message}` : p.message)).join('; ');
        const more = problems.length > 5 ? `; and ${problems.length - 5} more` : '';
        super(`not sent: ${list}${more}`);
        this.name = 'RecordValidationError';
        this.problems = problems;
    }
}

export class QueueFullError extends Error {
    readonly code = 'QueueFull';
    constructor(queued: number, adding: number, max: number) {
        super(`not sent: the producer queue is full (${queued} records waiting, ${adding} more would exceed ${max}) — Kinesis is not keeping up: slow the flow down, add shards or raise "Max queued"`);
        this.name = 'QueueFullError';
    }
}

export class ProducerClosedError extends Error {
    readonly code = 'ProducerClosed';
    constructor() {
        super('not sent: the node is stopping');
        this.name = 'ProducerClosedError';
    }
}

/** A message whose records were not all written. `results[i]` is set for records that were. */
export class ProducerError extends Error {
    readonly code: string;
    readonly kind: string;
    readonly status: string;
    readonly failures: RecordFailure[];
    readonly results: Array<WriteResult | undefined>;
    constructor(failures: RecordFailure[], results: Array<WriteResult | undefined>, explained?: ExplainedError) {
        const total = results.length;
        const groups = new Map<string, RecordFailure[]>();
        for (const f of failures) {
            const g = groups.get(f.message) ?? [];
            g.push(f);
            groups.set(f.message, g);
        }
        const parts: string[] = [];
        for (const [message, fs] of groups) {
            const names = fs.slice(0, 5).map((f) => `#${f.index} (key ${JSON.stringify(f.partitionKey.length > 40 ? `${f.partitionKey.slice(0, 40)}…` : f.partitionKey)}, ${f.attempts} attempt${f.attempts === 1 ? '' : 's'})`);
            if (fs.length > 5) names.push(`and ${fs.length - 5} more`);
            parts.push(`${message} [record${fs.length === 1 ? '' : 's'} ${names.join(', ')}]`);
        }
        const head = total === 1 ? 'record not written to Kinesis' : `${failures.length} of ${total} records not written to Kinesis`;
        super(`${head}: ${parts.join('; ')}`);
        this.name = 'ProducerError';
        this.failures = failures;
        this.results = results;
        this.code = failures[0]?.code ?? 'Error';
        this.kind = explained?.kind ?? 'unknown';
        this.status = explained?.status ?? 'not written';
    }
}

