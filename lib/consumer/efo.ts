/**
 * Enhanced Fan-Out (EFO): a registered stream consumer and a pull-based shard reader on
 * SubscribeToShard (kinesis-semantics.md §4).
 *
 * How the reader behaves:
 * - The first subscription starts at the given StartingPosition. Every event's
 *   ContinuationSequenceNumber is remembered once the event has been handed to the caller; every
 *   later subscription starts AFTER_SEQUENCE_NUMBER of it, so a subscription can end at any time
 *   (5-minute limit, network error, watchdog, close) without losing or repeating a record.
 * - A subscription lives at most `maxSubscriptionMs` (default 290 s, just under AWS's 5 minutes);
 *   then it is replaced. Subscribing again within 5 s of a successful subscribe is refused by AWS
 *   (ResourceInUseException), so a new subscribe waits `minSubscribeIntervalMs` after the previous
 *   successful one, and ResourceInUse is retried with exponential backoff and jitter — never a
 *   tight loop.
 * - Backpressure: an event is pulled from the event stream only inside `next()`. While the caller
 *   is busy nothing is read, so the socket's receive window fills and the server stops sending.
 *   The watchdog (`watchdogMs`, default 30 s) only runs while `next()` waits for an event, so a
 *   slow caller never makes the reader restart subscriptions ("read-timeout storm"): at most one
 *   resubscribe per `maxSubscriptionMs`, however slow the caller. A caller that stays busy past
 *   the subscription's life finds it replaced at its next `next()`; a subscription the server drops
 *   meanwhile (its 5-minute limit, the SDK's 5-minute HTTP/2 session idle timeout, a reset) fails
 *   or ends at the next read. Either way the unread events are discarded and the reader
 *   resubscribes AFTER the last continuation sequence number it handed out: nothing is lost and
 *   nothing is delivered twice.
 * - End of shard: an event with no ContinuationSequenceNumber and non-empty ChildShards
 *   ⇒ `shardEnd: {childShards}`. ResourceNotFound for the shard while the consumer still exists
 *   (an expired closed shard) ⇒ `shardEnd` with no children. As a safety net for servers that
 *   never send ChildShards on EFO (kinesis-local), a reader that is caught up and idle checks every
 *   `shardEndProbeMs` with GetShardIterator + GetRecords after its position whether the shard is
 *   closed and fully read (disabled for good when the credentials may not call those). The probe runs
 *   beside the reading, never awaited on the way from an event to `next()`: an event that arrives
 *   meanwhile is handed out at once; a probe that finds the end wakes a waiting `next()` with it.
 * - Nothing waits between the SDK handing over an event and `next()` resolving with its records (no
 *   timer, no batching). `EFO_EVENT_CHANNEL` (node:diagnostics_channel) marks that moment for
 *   measurements; it costs a field read when nobody listens.
 * - Errors the user must act on (stream or consumer gone, access denied, KMS key problems, bad
 *   credentials, invalid arguments) reject `next()` with an explained `KinesisNodeError`; everything
 *   else is reported through `onWarning` and retried.
 */
import {
    DescribeStreamConsumerCommand,
    GetRecordsCommand,
    GetShardIteratorCommand,
    RegisterStreamConsumerCommand,
    SubscribeToShardCommand,
} from '@aws-sdk/client-kinesis';
import type {
    ChildShard,
    KinesisClient,
    StartingPosition as SdkStartingPosition,
    SubscribeToShardEvent,
    SubscribeToShardEventStream,
} from '@aws-sdk/client-kinesis';
import { channel } from 'node:diagnostics_channel';
import { explainAwsError, KinesisNodeError, toNodeError } from '../aws/errors';
import type { ReadBatch, ShardReader, ShardReaderFactory, ShardReaderOptions, StartingPosition } from './reader';
import { abortError, sleepOrAbort } from './sleep';

/**
 * `node:diagnostics_channel` on which the reader publishes `{ shardId, event }` the moment the SDK hands
 * it a SubscribeToShardEvent (before anything of ours touches it). Only when someone subscribed
 * (`hasSubscribers`, a field read otherwise): the benchmark times "received → message at the sink" with it.
 */
export const EFO_EVENT_CHANNEL = 'kinesis-nodes:efo:event';
const eventChannel = channel(EFO_EVENT_CHANNEL);

/** AWS's rule for consumer names: 1–128 of `[a-zA-Z0-9_.-]`. */
export const CONSUMER_NAME_PATTERN = /^[a-zA-Z0-9_.-]{1,128}$/;

/** Returns a sentence saying what is wrong with a consumer name, or undefined when it is valid. */
export function checkConsumerName(name: string): string | undefined {
    if (typeof name !== 'string' || name.length === 0) return 'the EFO consumer name is empty';
    if (name.length > 128) return `the EFO consumer name is ${name.length} characters long; at most 128 are allowed`;
    if (!CONSUMER_NAME_PATTERN.test(name)) {
        return `the EFO consumer name "${name}" may contain only letters, digits, "_", "." and "-"`;
    }
    return undefined;
}

/** The stream name inside a stream or consumer ARN (`arn:aws:kinesis:region:account:stream/NAME[/consumer/...]`). */
export function streamNameFromArn(arn: string): string | undefined {
    const m = /:stream\/([^/]+)/.exec(arn);
    return m ? m[1] : undefined;
}

function errorName(err: unknown): string {
    const e = (err ?? {}) as { name?: unknown; code?: unknown };
    if (typeof e.name === 'string' && e.name !== 'Error') return e.name;
    if (typeof e.code === 'string') return e.code;
    return 'Error';
}

/** Exponential backoff with jitter: between half and all of min(cap, base·2^attempt). */
export function backoffDelay(attempt: number, baseMs: number, capMs: number, random: () => number = Math.random): number {
    const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 16));
    return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

// ---------------------------------------------------------------------------------------------
// Stream consumer registration

export interface EnsureStreamConsumerOptions {
    signal?: AbortSignal;
    /** Wait between DescribeStreamConsumer calls while the consumer is CREATING (default 1 000 ms). */
    pollMs?: number;
    /** Gives up waiting for ACTIVE after this long (default 5 minutes). */
    timeoutMs?: number;
}

/**
 * Returns the ARN of the stream consumer `consumerName` on `streamARN`, registering it when missing
 * and waiting until it is ACTIVE. Idempotent: several workers may call it at once.
 */
export async function ensureStreamConsumer(
    kinesis: KinesisClient,
    streamARN: string,
    consumerName: string,
    opts: EnsureStreamConsumerOptions = {},
): Promise<string> {
    const problem = checkConsumerName(consumerName);
    if (problem) {
        throw new KinesisNodeError({ kind: 'invalid-argument', code: 'InvalidConsumerName', message: problem, status: 'invalid consumer name', retryable: false });
    }
    const pollMs = opts.pollMs ?? 1_000;
    const deadline = Date.now() + (opts.timeoutMs ?? 300_000);
    const streamName = streamNameFromArn(streamARN);
    const signal = opts.signal;
    let limitAttempts = 0;
    for (;;) {
        if (signal?.aborted) throw abortError(signal);
        let status: string | undefined;
        let arn: string | undefined;
        try {
            const d = await kinesis.send(new DescribeStreamConsumerCommand({ StreamARN: streamARN, ConsumerName: consumerName }), { abortSignal: signal });
            status = d.ConsumerDescription?.ConsumerStatus;
            arn = d.ConsumerDescription?.ConsumerARN;
        } catch (err) {
            if (signal?.aborted) throw abortError(signal);
            if (errorName(err) !== 'ResourceNotFoundException') {
                throw toNodeError(err, { action: 'kinesis:DescribeStreamConsumer', streamName });
            }
        }
        if (status === 'ACTIVE' && arn) return arn;
        if (status === undefined) {
            // Not registered (or the stream is missing: RegisterStreamConsumer says which).
            try {
                const r = await kinesis.send(new RegisterStreamConsumerCommand({ StreamARN: streamARN, ConsumerName: consumerName }), { abortSignal: signal });
                if (r.Consumer?.ConsumerStatus === 'ACTIVE' && r.Consumer.ConsumerARN) return r.Consumer.ConsumerARN;
            } catch (err) {
                if (signal?.aborted) throw abortError(signal);
                const name = errorName(err);
                if (name === 'ResourceInUseException') {
                    // Someone else registered it (or it is being deleted): describe again.
                } else if (name === 'LimitExceededException') {
                    // 5 TPS per account, or 20 consumers per stream: back off, then look again.
                    await sleepOrAbort(backoffDelay(limitAttempts++, 500, 10_000), signal);
                    if (Date.now() > deadline) throw toNodeError(err, { action: 'kinesis:RegisterStreamConsumer', streamName });
                    continue;
                } else {
                    throw toNodeError(err, { action: 'kinesis:RegisterStreamConsumer', streamName });
                }
            }
        }
        // CREATING, DELETING (re-register afterwards) or just registered.
        if (Date.now() > deadline) {
            throw new KinesisNodeError({
                kind: 'internal',
                code: 'ConsumerNotActive',
                message: `EFO consumer "${consumerName}" of stream "${streamName ?? streamARN}" did not become ACTIVE (last status ${status ?? 'not registered'})`,
                status: 'consumer not active',
                retryable: true,
            });
        }
        await sleepOrAbort(pollMs, signal);
    }
}

// ---------------------------------------------------------------------------------------------
// The shard reader

export interface EfoReaderOptions {
    /** Replace a subscription after this long (default 290 000 ms; AWS ends it after 5 minutes). */
    maxSubscriptionMs?: number;
    /** Restart a subscription that delivers no event for this long while next() waits (default 30 000 ms). */
    watchdogMs?: number;
    /**
     * Minimum time between the start of successful subscriptions of one shard (default 5 000 ms,
     * AWS's rule); attempts are also kept min(1 000, this) ms apart (AWS: 1 call/s per shard).
     */
    minSubscribeIntervalMs?: number;
    /** Backoff for retries (ResourceInUse, network, service errors): base and cap, with jitter (default 1 000 / 10 000 ms). */
    retryBaseMs?: number;
    retryMaxMs?: number;
    /** Idle, caught-up reader checks the shard for its end this often with GetRecords (default 30 000 ms, 0 = never). */
    shardEndProbeMs?: number;
}

/** Error a pending or later `next()` rejects with after `close()`. */
export class ReaderClosedError extends Error {
    readonly code = 'ReaderClosed';
    constructor(shardId: string) {
        super(`the EFO reader of shard ${shardId} is closed`);
        this.name = 'ReaderClosedError';
    }
}

interface Subscription {
    readonly id: number;
    readonly controller: AbortController;
    readonly startedAt: number;
    iterator?: AsyncIterator<SubscribeToShardEventStream>;
    events: number;
}

type Outcome =
    | { kind: 'event'; event: SubscribeToShardEvent }
    | { kind: 'ended' }
    | { kind: 'error'; error: unknown }
    | { kind: 'watchdog' }
    | { kind: 'expired' };

/** Failures only the user can fix. Expired credentials are retried: the credential provider refreshes them. */
const FATAL_KINDS = new Set(['access-denied', 'bad-credentials', 'no-credentials', 'no-region', 'invalid-argument']);

function toSdkPosition(p: StartingPosition): SdkStartingPosition {
    switch (p.type) {
        case 'AT_TIMESTAMP':
            return { Type: 'AT_TIMESTAMP', Timestamp: p.timestamp };
        case 'AT_SEQUENCE_NUMBER':
        case 'AFTER_SEQUENCE_NUMBER':
            return { Type: p.type, SequenceNumber: p.sequenceNumber };
        default:
            return { Type: p.type };
    }
}

let subscriptionIds = 0;

/** An error the server answered with (the SDK's service exceptions carry `$fault`), not a timeout, reset or abort. */
function answeredBy(err: unknown): boolean {
    const e = err as { $fault?: unknown; $metadata?: { httpStatusCode?: number } } | undefined;
    return e !== null && typeof e === 'object' && (e.$fault !== undefined || e.$metadata?.httpStatusCode !== undefined);
}

export class EfoShardReader implements ShardReader {
    readonly shardId: string;
    private readonly kinesis: KinesisClient;
    private readonly consumerARN: string;
    private readonly streamName?: string;
    private readonly streamARN?: string;
    private readonly onWarning: (message: string, error?: unknown) => void;
    private readonly maxSubscriptionMs: number;
    private readonly watchdogMs: number;
    private readonly minSubscribeIntervalMs: number;
    private readonly retryBaseMs: number;
    private readonly retryMaxMs: number;
    private shardEndProbeMs: number;

    /** Where the next subscription starts: the given position, then AFTER the last delivered continuation. */
    private position: StartingPosition;
    private lastContinuation?: string;
    private sub?: Subscription;
    private lastSubscribeAt = -Infinity;
    private lastAttemptAt = -Infinity;
    private failures = 0;
    private closed = false;
    private readonly closing = new AbortController();
    private ended?: { childShards: ChildShard[] };
    private queue: Promise<unknown> = Promise.resolve();
    private idleSince?: number;
    private lastProbeAt = 0;
    /** The shard-end probe in flight (it runs beside the reading). */
    private probing?: Promise<void>;
    /** Since when a `next()` has been waiting (undefined: none waits, the consumer holds events back or is busy). */
    private waitingSince?: number;
    /** When Kinesis last said something to this reader: an event, the end of a subscription, an answered subscribe. */
    private heardAt = 0;
    /** The last failure came with an answer from Kinesis (an error status, an exception event), not a timeout or reset. */
    private failureAnswered = false;

    /** Counters for tests and status: subscriptions started, watchdog restarts, ResourceInUse retries. */
    readonly stats = { subscriptions: 0, watchdogRestarts: 0, inUseRetries: 0, retries: 0, events: 0, records: 0, probes: 0 };

    constructor(consumerARN: string, options: ShardReaderOptions, opts: EfoReaderOptions = {}) {
        this.consumerARN = consumerARN;
        this.kinesis = options.kinesis;
        this.shardId = options.shardId;
        this.streamName = options.streamName ?? streamNameFromArn(options.streamARN ?? consumerARN);
        this.streamARN = options.streamARN;
        this.onWarning = options.onWarning ?? (() => undefined);
        this.position = options.start;
        this.maxSubscriptionMs = opts.maxSubscriptionMs ?? 290_000;
        this.watchdogMs = opts.watchdogMs ?? 30_000;
        this.minSubscribeIntervalMs = opts.minSubscribeIntervalMs ?? 5_000;
        this.retryBaseMs = opts.retryBaseMs ?? 1_000;
        this.retryMaxMs = opts.retryMaxMs ?? 10_000;
        this.shardEndProbeMs = opts.shardEndProbeMs ?? 30_000;
    }

    /** The next event's records (possibly empty). Calls are served one after another. */
    next(): Promise<ReadBatch> {
        const run = this.queue.then(() => this.waitedRead());
        this.queue = run.catch(() => undefined);
        return run;
    }

    /**
     * How long a `next()` has been waiting without hearing from Kinesis, in ms (0 when none waits). Kinesis sends an
     * event at least every 5 s on a live subscription, so a wait well beyond that is a backend (or connection) that
     * does not answer; the watchdog resubscribes after `watchdogMs`, and the wait goes on until something is heard.
     */
    waitingMs(now = Date.now()): number {
        return this.waitingSince === undefined ? 0 : Math.max(0, now - Math.max(this.waitingSince, this.heardAt));
    }

    private async waitedRead(): Promise<ReadBatch> {
        this.waitingSince = Date.now();
        try {
            return await this.read();
        } finally {
            this.waitingSince = undefined;
        }
    }

    async close(): Promise<void> {
        if (this.closed) return;
        this.closed = true;
        this.closing.abort(new ReaderClosedError(this.shardId));
        this.endSubscription();
    }

    private async read(): Promise<ReadBatch> {
        for (;;) {
            if (this.closed) throw new ReaderClosedError(this.shardId);
            if (this.ended) return { records: [], shardEnd: this.ended };
            if (!this.sub) {
                try {
                    await this.subscribe();
                } catch (err) {
                    if (this.closed) throw new ReaderClosedError(this.shardId);
                    if (this.ended) return { records: [], millisBehindLatest: 0, shardEnd: this.ended };
                    const batch = await this.handleFailure(err);
                    if (batch) return batch;
                    continue;
                }
            }
            const sub = this.sub!;
            const outcome = await this.nextEvent(sub);
            if (this.closed) throw new ReaderClosedError(this.shardId);
            // the shard-end probe found the end while this waited (it ended the subscription to wake it)
            if (this.ended && outcome.kind !== 'event') return { records: [], millisBehindLatest: 0, shardEnd: this.ended };
            switch (outcome.kind) {
                case 'event':
                    return this.deliver(sub, outcome.event);
                case 'ended': {
                    // The server ended the subscription (its 5-minute life): continue after the last event.
                    this.endSubscription();
                    if (sub.events > 0) continue;
                    // Ended without a single event: a failure, so back off before the next try.
                    const batch = await this.handleFailure(Object.assign(new Error('the EFO subscription ended without an event'), { name: 'SubscriptionEnded' }));
                    if (batch) return batch;
                    continue;
                }
                case 'expired':
                    this.endSubscription();
                    continue;
                case 'watchdog':
                    this.stats.watchdogRestarts++;
                    this.onWarning(`EFO subscription of shard ${this.shardId} delivered nothing for ${Math.round(this.watchdogMs / 1000)} s: resubscribing`);
                    this.endSubscription();
                    continue;
                case 'error': {
                    this.endSubscription();
                    const batch = await this.handleFailure(outcome.error);
                    if (batch) return batch;
                    continue;
                }
            }
        }
    }

    /** Starts a subscription at `position` (waiting out AWS's 5-second rule). Throws what SubscribeToShard throws. */
    private async subscribe(): Promise<void> {
        // AWS: a new subscription within 5 s of the last successful one is refused, and at most one
        // SubscribeToShard call per second per consumer and shard (failed attempts included).
        const wait = Math.max(
            this.lastSubscribeAt + this.minSubscribeIntervalMs,
            this.lastAttemptAt + Math.min(1_000, this.minSubscribeIntervalMs),
        ) - Date.now();
        if (wait > 0) await sleepOrAbort(wait, this.closing.signal);
        this.lastAttemptAt = Date.now();
        const controller = new AbortController();
        const sub: Subscription = { id: ++subscriptionIds, controller, startedAt: Date.now(), events: 0 };
        const onClose = (): void => controller.abort(abortError(this.closing.signal));
        this.closing.signal.addEventListener('abort', onClose, { once: true });
        controller.signal.addEventListener('abort', () => this.closing.signal.removeEventListener('abort', onClose), { once: true });
        this.sub = sub;
        this.stats.subscriptions++;
        // A subscribe call that gets no response (a black-holed connection) is abandoned after the watchdog time.
        const noResponse = setTimeout(() => {
            controller.abort(Object.assign(new Error(`SubscribeToShard got no response in ${this.watchdogMs} ms`), { name: 'TimeoutError' }));
        }, this.watchdogMs);
        try {
            const out = await this.kinesis.send(
                new SubscribeToShardCommand({ ConsumerARN: this.consumerARN, ShardId: this.shardId, StartingPosition: toSdkPosition(this.position) }),
                { abortSignal: controller.signal },
            );
            this.heardAt = Date.now();
            if (!out.EventStream) throw new Error('SubscribeToShard returned no event stream');
            sub.iterator = out.EventStream[Symbol.asyncIterator]();
            this.lastSubscribeAt = sub.startedAt;
        } catch (err) {
            // an error answer (ResourceInUse, throttled, …) is Kinesis answering; a timeout or a reset is not
            this.failureAnswered = answeredBy(err);
            if (this.failureAnswered) this.heardAt = Date.now();
            if (this.sub === sub) this.endSubscription();
            throw err;
        } finally {
            clearTimeout(noResponse);
        }
    }

    /** Ends the current subscription at once: aborts its request (closes the socket / HTTP/2 stream). */
    private endSubscription(): void {
        const sub = this.sub;
        if (!sub) return;
        this.sub = undefined;
        if (!sub.controller.signal.aborted) sub.controller.abort();
        const it = sub.iterator;
        if (it && typeof it.return === 'function') {
            // Let the SDK's generator finish; its result does not matter any more.
            Promise.resolve()
                .then(() => it.return!())
                .catch(() => undefined);
        }
    }

    /** Waits for the subscription's next event, bounded by the watchdog and the subscription's life. */
    private nextEvent(sub: Subscription): Promise<Outcome> {
        const lifeLeft = sub.startedAt + this.maxSubscriptionMs - Date.now();
        if (lifeLeft <= 0) return Promise.resolve({ kind: 'expired' });
        return new Promise<Outcome>((resolve) => {
            let settled = false;
            const finish = (o: Outcome): void => {
                if (settled) return;
                settled = true;
                clearTimeout(watchdog);
                clearTimeout(life);
                this.closing.signal.removeEventListener('abort', onClose);
                resolve(o);
            };
            const onClose = (): void => finish({ kind: 'error', error: new ReaderClosedError(this.shardId) });
            const watchdog = setTimeout(() => finish({ kind: 'watchdog' }), this.watchdogMs);
            const life = setTimeout(() => finish({ kind: 'expired' }), lifeLeft);
            this.closing.signal.addEventListener('abort', onClose, { once: true });
            let pulled: Promise<IteratorResult<SubscribeToShardEventStream>>;
            try {
                pulled = sub.iterator!.next();
            } catch (err) {
                finish({ kind: 'error', error: err });
                return;
            }
            pulled.then(
                (r) => {
                    this.heardAt = Date.now();
                    this.failureAnswered = true;
                    if (r.done) {
                        finish({ kind: 'ended' });
                        return;
                    }
                    const item = r.value as unknown as Record<string, unknown>;
                    if (item.SubscribeToShardEvent) {
                        if (eventChannel.hasSubscribers) eventChannel.publish({ shardId: this.shardId, event: item.SubscribeToShardEvent });
                        finish({ kind: 'event', event: item.SubscribeToShardEvent as SubscribeToShardEvent });
                        return;
                    }
                    // A modeled exception delivered as a union member instead of being thrown.
                    const key = Object.keys(item).find((k) => k !== '$unknown' && item[k] !== undefined);
                    if (key) {
                        const inner = item[key] as { message?: string } | undefined;
                        const error = Object.assign(new Error(inner?.message ?? key), { name: key });
                        finish({ kind: 'error', error });
                    } else {
                        finish({ kind: 'error', error: new Error('SubscribeToShard sent an unknown event') });
                    }
                },
                (error: unknown) => {
                    this.failureAnswered = answeredBy(error);
                    if (this.failureAnswered) this.heardAt = Date.now();
                    finish({ kind: 'error', error });
                },
            );
        });
    }

    /** Turns an event into a batch (synchronously: nothing waits between the SDK's event and the caller). */
    private deliver(sub: Subscription, event: SubscribeToShardEvent): ReadBatch {
        sub.events++;
        this.stats.events++;
        this.failures = 0;
        const records = event.Records ?? [];
        this.stats.records += records.length;
        const children = event.ChildShards ?? [];
        const cont = event.ContinuationSequenceNumber;
        if (cont) {
            this.lastContinuation = cont;
            this.position = { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: cont };
        } else if (records.length > 0) {
            // No continuation but records: resume after the last of them.
            const last = records[records.length - 1].SequenceNumber;
            if (last) this.position = { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: last };
        }
        const batch: ReadBatch = { records, millisBehindLatest: event.MillisBehindLatest };
        if (!cont && children.length > 0) {
            this.ended = { childShards: children };
            this.endSubscription();
            batch.shardEnd = this.ended;
            return batch;
        }
        if (!cont) {
            // Neither a continuation nor children: not the end of the shard; start over from our position.
            this.endSubscription();
        }
        if (records.length > 0 || (event.MillisBehindLatest ?? 0) > 0) {
            this.idleSince = undefined;
        } else {
            this.idleSince ??= Date.now();
            this.startProbe();
        }
        return batch;
    }

    /**
     * Starts the shard-end probe when it is due, beside the reading (never awaited on the read path:
     * a record that arrives meanwhile is handed out at once, not after the probe's two calls). When
     * the probe finds the shard closed and fully read, the reader ends: a `next()` waiting for an event
     * returns the shard end (its subscription is ended to wake it).
     */
    private startProbe(): void {
        if (this.probing || !this.probeDue()) return;
        const after = this.lastContinuation!;
        const records = this.stats.records;
        this.probing = this.probeShardEnd(after)
            .then((end) => {
                // a closed shard has nothing after `after`; records handed out meanwhile would say otherwise
                if (!end || this.closed || this.ended || this.stats.records !== records) return;
                this.ended = end;
                this.endSubscription();
            })
            .catch(() => undefined)
            .finally(() => {
                this.probing = undefined;
            });
    }

    /**
     * Safety net for servers that never send ChildShards on EFO: due when caught up and idle for
     * `shardEndProbeMs` (and not probed for as long).
     */
    private probeDue(): boolean {
        if (this.shardEndProbeMs <= 0 || this.idleSince === undefined || !this.lastContinuation) return false;
        if (!this.streamName && !this.streamARN) return false;
        const now = Date.now();
        return now - this.idleSince >= this.shardEndProbeMs && now - this.lastProbeAt >= this.shardEndProbeMs;
    }

    /** Asks GetRecords after `after` whether the shard is closed and fully read: its end, or undefined. */
    private async probeShardEnd(after: string): Promise<{ childShards: ChildShard[] } | undefined> {
        this.lastProbeAt = Date.now();
        this.stats.probes++;
        try {
            const it = await this.kinesis.send(new GetShardIteratorCommand({
                ...(this.streamARN ? { StreamARN: this.streamARN } : { StreamName: this.streamName }),
                ShardId: this.shardId,
                ShardIteratorType: 'AFTER_SEQUENCE_NUMBER',
                StartingSequenceNumber: after,
            }), { abortSignal: this.closing.signal });
            if (!it.ShardIterator) return undefined;
            const r = await this.kinesis.send(new GetRecordsCommand({ ShardIterator: it.ShardIterator, Limit: 1 }), { abortSignal: this.closing.signal });
            if ((r.Records ?? []).length === 0 && !r.NextShardIterator) {
                return { childShards: r.ChildShards ?? [] };
            }
        } catch (err) {
            if (this.closed) return undefined;
            const e = explainAwsError(err, { action: 'kinesis:GetRecords', streamName: this.streamName });
            if (!e.retryable) this.shardEndProbeMs = 0; // e.g. an EFO-only IAM policy: stop probing.
        }
        return undefined;
    }

    /**
     * Decides what a failed subscribe / event stream means: resolves undefined after a backoff when
     * retrying, resolves a shard-end batch for an expired closed shard, rejects when the user must act.
     */
    private async handleFailure(err: unknown): Promise<ReadBatch | undefined> {
        if (this.closed || err instanceof ReaderClosedError) throw new ReaderClosedError(this.shardId);
        // the failure came with an answer from Kinesis (an error status, an exception event): the back-off below is ours
        const answered = this.failureAnswered;
        const name = errorName(err);
        if (name === 'ResourceNotFoundException') {
            const gone = await this.consumerGone();
            if (gone instanceof KinesisNodeError) throw gone;
            if (gone === false) {
                // The consumer exists, so the shard is gone: an expired closed shard counts as its end.
                this.ended = { childShards: [] };
                return { records: [], shardEnd: this.ended };
            }
            // Could not tell (throttled, network): retry below.
        }
        const explained = explainAwsError(err, { action: 'kinesis:SubscribeToShard', streamName: this.streamName });
        const kmsFatal = /^KMS/.test(name) && name !== 'KMSThrottlingException';
        if (FATAL_KINDS.has(explained.kind) || kmsFatal) {
            throw new KinesisNodeError(kmsFatal ? { ...explained, kind: 'access-denied', status: 'KMS key problem', retryable: false } : explained);
        }
        const attempt = this.failures++;
        let delay = backoffDelay(attempt, this.retryBaseMs, this.retryMaxMs);
        if (name === 'ResourceInUseException') {
            // Another subscription is active (ours from < 5 s ago, or another worker's): wait it out.
            this.stats.inUseRetries++;
            delay = Math.max(delay, this.lastSubscribeAt + this.minSubscribeIntervalMs - Date.now());
            this.onWarning(`EFO subscription of shard ${this.shardId} is in use; retrying in ${Math.round(delay)} ms`, err);
        } else {
            this.stats.retries++;
            this.onWarning(`EFO subscription of shard ${this.shardId} failed (${explained.message}); resubscribing in ${Math.round(delay)} ms`, err);
        }
        try {
            await sleepOrAbort(delay, this.closing.signal);
        } catch {
            throw new ReaderClosedError(this.shardId);
        }
        if (answered) this.heardAt = Date.now();
        return undefined;
    }

    /**
     * After ResourceNotFound: an explained error when the consumer (or its stream) no longer exists,
     * false when it is ACTIVE (so the shard is what is missing), undefined when that cannot be told now.
     */
    private async consumerGone(): Promise<KinesisNodeError | false | undefined> {
        try {
            const d = await this.kinesis.send(new DescribeStreamConsumerCommand({ ConsumerARN: this.consumerARN }), { abortSignal: this.closing.signal });
            const status = d.ConsumerDescription?.ConsumerStatus;
            if (status === 'ACTIVE') return false;
            return new KinesisNodeError({
                kind: 'not-found',
                code: 'ResourceNotFoundException',
                message: `EFO consumer ${this.consumerARN} is ${status ?? 'gone'} — it was deregistered; restart the node to register it again`,
                status: 'EFO consumer gone',
                retryable: false,
            });
        } catch (err) {
            if (this.closed) throw new ReaderClosedError(this.shardId);
            if (errorName(err) === 'ResourceNotFoundException') {
                const e = explainAwsError(err, { action: 'kinesis:SubscribeToShard', streamName: this.streamName });
                return new KinesisNodeError({
                    ...e,
                    message: `EFO consumer or stream "${this.streamName ?? ''}" not found — the stream was deleted or the consumer deregistered (${this.consumerARN})`,
                    status: 'stream not found',
                });
            }
            const e = explainAwsError(err, { action: 'kinesis:DescribeStreamConsumer', streamName: this.streamName });
            if (FATAL_KINDS.has(e.kind)) return new KinesisNodeError(e);
            return undefined;
        }
    }
}

/** The Enhanced Fan-Out reader factory for `consumerARN` (from ensureStreamConsumer). */
export function createEfoReaderFactory(consumerARN: string, opts: EfoReaderOptions = {}): ShardReaderFactory {
    return (options: ShardReaderOptions) => new EfoShardReader(consumerARN, options, opts);
}
