/**
 * kinesis-in's status words for a backend that does not answer: from the consumer's `metrics().unansweredMs`
 * (lib/consumer/call-watch.ts), the backend that has left a call without an answer for longer than NOT_ANSWERING_MS.
 */
import type { ConsumerMetrics } from '../../lib/consumer/consumer';

/**
 * A call without an answer for this long is a backend that does not answer (5 s): DynamoDB's lease writes and scans
 * and Kinesis' GetRecords / ListShards answer in well under a second, and a throttled call backing off between the
 * SDK's attempts counts as answered; the socket timeouts that end such a wait are 10 s (DynamoDB) and 30 s (Kinesis).
 */
export const NOT_ANSWERING_MS = 5000;

export interface NotAnswering {
    /** The backend's name as the status shows it. */
    backend: 'DynamoDB' | 'Kinesis';
    /** Whole seconds the oldest call has waited. */
    seconds: number;
}

/** The backend that has waited longest beyond NOT_ANSWERING_MS, or undefined when both answer. */
export function notAnswering(waiting: ConsumerMetrics['unansweredMs'] | undefined): NotAnswering | undefined {
    if (!waiting) return undefined;
    const { dynamodb, kinesis } = waiting;
    if (dynamodb <= NOT_ANSWERING_MS && kinesis <= NOT_ANSWERING_MS) return undefined;
    return dynamodb >= kinesis
        ? { backend: 'DynamoDB', seconds: Math.floor(dynamodb / 1000) }
        : { backend: 'Kinesis', seconds: Math.floor(kinesis / 1000) };
}
