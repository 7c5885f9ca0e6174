/**
 * The kinesis-convert node's micro-batching (no Node-RED import): messages that arrive in the same
 * event-loop turn, or while earlier batches are in flight, go to the converter together.
 *
 * - `push` queues an item; one flush per event-loop turn takes at most `maxBatch()` of them, so a slow
 *   script never holds the event loop for a whole backlog (timers and I/O run between flushes).
 * - A flush *starts* its batch at once (`start`: the runner converts while this side sends the previous
 *   batch's output) and *finishes* it (`finish`: send/done per message) strictly after the previous batch
 *   finished: the order of outputs is the order of inputs.
 * - Bounded: at most `maxMessages` items and `maxBytes` payload bytes accepted and not yet finished;
 *   `push` / `pushAll` return false beyond that (the caller fails the message, nothing is dropped silently).
 * - `drain()` flushes what is queued and resolves when every batch has finished (close / redeploy).
 * - If `finish` throws (a bug, not a script error), `abort` ends the batch's items that are left.
 */
export interface BatcherOptions<T, S> {
    /** Most items per batch (read at every flush: the converter adapts it). */
    maxBatch(): number;
    maxMessages: number;
    maxBytes: number;
    start(batch: T[]): S;
    finish(batch: T[], started: S): Promise<void> | void;
    abort(batch: T[], err: unknown): void;
}

export class MicroBatcher<T, S> {
    /** Queued items are `queue[head…]` (a head index: taking a batch copies only the batch). */
    private queue: T[] = [];
    private sizes: number[] = [];
    private head = 0;
    private scheduled = false;
    private chain: Promise<void> = Promise.resolve();
    /** Items accepted and not yet finished, and their payload bytes. */
    pending = 0;
    pendingBytes = 0;

    constructor(private readonly o: BatcherOptions<T, S>) {}

    /** Queues `item` (`bytes`: its payload size); false (nothing queued) when the bound is reached. */
    push(item: T, bytes: number): boolean {
        if (!this.fits(1, bytes)) return false;
        this.pending++;
        this.pendingBytes += bytes;
        this.queue.push(item);
        this.sizes.push(bytes);
        this.schedule();
        return true;
    }

    /**
     * Queues all of `items` (`bytes[i]`: the size of `items[i]`) or none: false when they do not fit
     * (a record batch is accepted whole, so that it never half-converts for want of room).
     */
    pushAll(items: T[], bytes: number[]): boolean {
        let total = 0;
        for (const b of bytes) total += b;
        if (!this.fits(items.length, total)) return false;
        this.pending += items.length;
        this.pendingBytes += total;
        for (let i = 0; i < items.length; i++) {
            this.queue.push(items[i]);
            this.sizes.push(bytes[i]);
        }
        if (items.length) this.schedule();
        return true;
    }

    /** Whether `count` more items of `bytes` in all stay within the bound (one item always fits an empty queue's bytes). */
    private fits(count: number, bytes: number): boolean {
        return this.pending + count <= this.o.maxMessages && (this.pending === 0 || this.pendingBytes + bytes <= this.o.maxBytes);
    }

    /** One flush per event-loop turn. */
    private schedule(): void {
        if (this.scheduled) return;
        this.scheduled = true;
        setImmediate(this.flushTurn);
    }

    /** Items queued and not yet sent to the converter. */
    get queued(): number {
        return this.queue.length - this.head;
    }

    /** Everything queued is sent to the converter now; resolves when every batch has finished. */
    drain(): Promise<void> {
        while (this.queued) this.flush();
        return this.chain;
    }

    private readonly flushTurn = (): void => {
        this.scheduled = false;
        this.flush();
        if (this.queued) this.schedule();
    };

    private flush(): void {
        const n = Math.max(1, Math.floor(this.o.maxBatch()) || 1);
        let batch: T[];
        let bytes = 0;
        if (this.head === 0 && this.queue.length <= n) {
            batch = this.queue;
            for (const b of this.sizes) bytes += b;
            this.queue = [];
            this.sizes = [];
        } else {
            const end = Math.min(this.queue.length, this.head + n);
            batch = this.queue.slice(this.head, end);
            for (let i = this.head; i < end; i++) bytes += this.sizes[i];
            this.head = end;
            if (this.head === this.queue.length) {
                this.queue = [];
                this.sizes = [];
                this.head = 0;
            } else if (this.head > 65536 && this.head * 2 > this.queue.length) {
                this.queue = this.queue.slice(this.head);
                this.sizes = this.sizes.slice(this.head);
                this.head = 0;
            }
        }
        if (!batch.length) return;
        let started: S | undefined;
        let startError: unknown;
        try {
            started = this.o.start(batch);
        } catch (e) {
            startError = e ?? new Error('start failed');
        }
        const release = () => {
            this.pending -= batch.length;
            this.pendingBytes -= bytes;
        };
        this.chain = this.chain
            .then(() => {
                if (startError !== undefined) throw startError;
                return this.o.finish(batch, started as S);
            })
            .catch((e) => this.o.abort(batch, e))
            .then(release, release);
    }
}

/** Payload size for the byte bound: Buffers and strings by length, other values a flat estimate. */
export function payloadBytes(v: unknown): number {
    if (typeof v === 'string') return v.length;
    if (v instanceof Uint8Array) return v.byteLength;
    return 256;
}
