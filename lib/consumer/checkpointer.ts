/**
 * Per-shard tracking of delivered records. Records are delivered in shard order and finish in any
 * order; the safe checkpoint is the highest record below which *every* delivered record has
 * finished. A record that failed pins the checkpoint before it for the rest of this lease
 * (at-least-once: it is delivered again, with what follows it, when the lease is next picked up);
 * with `holdOnFailure` the consumer then delivers nothing more from the shard (`hold()`) until it stops or
 * loses the lease.
 */

/** Compares two Kinesis sequence numbers (decimal strings without leading zeros). */
export function compareSequence(a: string, b: string): number {
    if (a.length !== b.length) return a.length < b.length ? -1 : 1;
    return a < b ? -1 : a > b ? 1 : 0;
}

/** Compares (sequence, sub-sequence) pairs. */
export function comparePosition(aSeq: string, aSub: number, bSeq: string, bSub: number): number {
    const c = compareSequence(aSeq, bSeq);
    return c !== 0 ? c : aSub - bSub;
}

export function isSentinel(checkpoint: string): boolean {
    return !/^\d+$/.test(checkpoint);
}

/** A handle for one delivered record (or one delivered batch). */
export interface Ticket {
    seq: string;
    sub: number;
    /** Records covered (1 per record, n per batch). */
    count: number;
    /** Bytes the record (batch) counts against the in-flight byte bound. */
    bytes: number;
    state: 0 | 1 | 2; // 0 in flight, 1 finished, 2 failed
}

export class Checkpointer {
    private queue: Ticket[] = [];
    private head = 0;
    /** The highest position below which all records have finished (undefined: none yet). */
    safeSeq: string | undefined;
    safeSub = 0;
    /** Records delivered and not yet finished. */
    inFlight = 0;
    /** Their bytes (as `deliver` was told). */
    inFlightBytes = 0;
    /** Records finished since the last `markWritten`. */
    finishedSinceWrite = 0;
    /** A failed record pins the checkpoint: set with its position. */
    failed: { seq: string; sub: number; error: unknown } | undefined;
    /** Drain waiters: woken when nothing is in flight (and on `wake()`). */
    private waiters: Array<() => void> = [];
    /** The one deliverer waiting for room (a shard has one), and the in-flight count that wakes it. */
    private roomWaiter: (() => void) | undefined;
    private roomAt = 0;
    private roomBytesAt = Infinity;
    /** Waiting while the shard holds a failed record: woken only by `wake()` (stop / lease lost). */
    private holders: Array<() => void> = [];

    /** Registers a delivered record (or batch ending at seq/sub, `count` records, `bytes` in all) in shard order. */
    deliver(seq: string, sub: number, count = 1, bytes = 0): Ticket {
        const t: Ticket = { seq, sub, count, bytes, state: 0 };
        if (!this.failed) this.queue.push(t);
        this.inFlight += count;
        this.inFlightBytes += bytes;
        return t;
    }

    /** Marks a ticket finished (or failed with an error). Idempotent. Returns true when the safe position moved. */
    finish(t: Ticket, error?: unknown): boolean {
        if (t.state !== 0) return false;
        this.inFlight -= t.count;
        this.inFlightBytes -= t.bytes;
        if (error !== undefined && error !== null) {
            t.state = 2;
            if (!this.failed) {
                this.failed = { seq: t.seq, sub: t.sub, error };
                // nothing after the failed record can be checkpointed: stop tracking what follows it
                const i = this.queue.indexOf(t, this.head);
                if (i >= 0) this.queue.length = i + 1;
            }
        } else {
            t.state = 1;
            this.finishedSinceWrite += t.count;
        }
        const moved = this.advance();
        if (this.roomWaiter !== undefined && this.inFlight <= this.roomAt && (this.inFlight === 0 || this.inFlightBytes < this.roomBytesAt)) {
            const w = this.roomWaiter;
            this.roomWaiter = undefined;
            w();
        }
        if (this.inFlight === 0 && this.waiters.length) this.wakeDrain();
        return moved;
    }

    private advance(): boolean {
        const q = this.queue;
        let i = this.head;
        let last: Ticket | undefined;
        while (i < q.length && q[i].state === 1) {
            last = q[i];
            i++;
        }
        if (i > 1024 && i * 2 > q.length) {
            this.queue = q.slice(i);
            this.head = 0;
        } else {
            this.head = i;
        }
        if (last) {
            this.safeSeq = last.seq;
            this.safeSub = last.sub;
            return true;
        }
        return false;
    }

    /** True when every delivered record finished successfully. */
    allFinished(): boolean {
        return this.inFlight === 0 && !this.failed;
    }

    /** Room for one more delivery: fewer than `limit` records and fewer than `byteLimit` bytes in flight (or none at all). */
    hasRoom(limit: number, byteLimit = Infinity): boolean {
        return this.inFlight < limit && (this.inFlight === 0 || this.inFlightBytes < byteLimit);
    }

    /**
     * Resolves at once when there is room (`hasRoom`); otherwise when in-flight dropped to `resumeAt`
     * (default limit − 1) if the count was full, and below `byteResumeAt` (default byteLimit) if the bytes
     * were, or to nothing. A resume point well below the limit lets the deliverer send a run of records per
     * wake instead of one Promise per finished record.
     */
    waitForRoom(limit: number, resumeAt = limit - 1, byteLimit = Infinity, byteResumeAt = byteLimit): Promise<void> {
        if (this.hasRoom(limit, byteLimit)) return Promise.resolve();
        return new Promise((resolve) => {
            this.roomAt = this.inFlight >= limit ? Math.max(0, Math.min(resumeAt, limit - 1)) : limit - 1;
            this.roomBytesAt = this.inFlightBytes >= byteLimit ? Math.min(byteResumeAt, byteLimit) : byteLimit;
            this.roomWaiter = resolve;
        });
    }

    /** Resolves on `wake()` only: the shard holds a failed record until it stops or loses its lease. */
    hold(): Promise<void> {
        return new Promise((resolve) => this.holders.push(resolve));
    }

    /**
     * Resolves true when nothing is in flight; false after timeoutMs, or once `until()` says what is left need
     * not be waited for (asked at each wake: a finished record, or every 100 ms).
     */
    async drain(timeoutMs: number, until?: () => boolean): Promise<boolean> {
        const deadline = Date.now() + timeoutMs;
        while (this.inFlight > 0) {
            const left = deadline - Date.now();
            if (left <= 0 || (until !== undefined && until())) return false;
            await new Promise<void>((resolve) => {
                const t = setTimeout(resolve, Math.min(left, 100));
                this.waiters.push(() => {
                    clearTimeout(t);
                    resolve();
                });
            });
        }
        return true;
    }

    private wakeDrain(): void {
        const w = this.waiters;
        this.waiters = [];
        for (const f of w) f();
    }

    /** Wakes everyone waiting (on stop / lease lost). */
    wake(): void {
        const r = this.roomWaiter;
        this.roomWaiter = undefined;
        r?.();
        const h = this.holders;
        this.holders = [];
        for (const f of h) f();
        this.wakeDrain();
    }
}
