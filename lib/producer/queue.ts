/**
 * Records waiting to be sent for one stream, and the per-key order locks.
 *
 * keyOrder on: one FIFO per partition key; a key is *ready* when it has records waiting and none
 * of its records is in flight or waiting to retry (no lock). Ready keys wait in a FIFO of their
 * own, so taking the next sendable record, queueing one and releasing a lock are O(1) — no scan of
 * the records held back behind a locked key (the old design rescanned the whole pending list on
 * every put, 16× a raw loop's CPU with 1 000 keys).
 * keyOrder off: one FIFO of records; every record is ready.
 */
import type { Part } from './entries';

interface KeyState {
    key: string;
    parts: Part[];
    head: number;
    /** Entries holding this key (in flight or waiting to retry). */
    locks: number;
    inReady: boolean;
}

/** A FIFO with O(1) shift (array + head index, compacted now and then). */
class Fifo<T> {
    private items: T[] = [];
    private head = 0;
    get length(): number {
        return this.items.length - this.head;
    }
    push(v: T): void {
        this.items.push(v);
    }
    peek(): T | undefined {
        return this.head < this.items.length ? this.items[this.head] : undefined;
    }
    shift(): T | undefined {
        if (this.head >= this.items.length) return undefined;
        const v = this.items[this.head];
        (this.items as Array<T | undefined>)[this.head] = undefined;
        this.head++;
        if (this.head === this.items.length) {
            this.items = [];
            this.head = 0;
        } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
            this.items = this.items.slice(this.head);
            this.head = 0;
        }
        return v;
    }
    drain(): T[] {
        const out = this.items.slice(this.head);
        this.items = [];
        this.head = 0;
        return out;
    }
}

export class PendingQueue {
    /** Records waiting (ready or held back by a lock). */
    size = 0;
    /** Bytes of the ready records (the next one of each ready key). */
    readyBytes = 0;
    private readonly keys = new Map<string, KeyState>();
    private readonly ready = new Fifo<KeyState>();
    private readonly plain = new Fifo<Part>();

    constructor(readonly keyOrder: boolean) {}

    /** Records that could be sent now. */
    get readyCount(): number {
        return this.keyOrder ? this.ready.length : this.plain.length;
    }

    /** When the first ready record was queued (undefined: none ready). */
    oldestReadyAt(): number | undefined {
        return this.peek()?.enqueuedAt;
    }

    push(p: Part): void {
        this.size++;
        if (!this.keyOrder) {
            this.plain.push(p);
            this.readyBytes += p.size;
            return;
        }
        const key = p.rec.partitionKey;
        let k = this.keys.get(key);
        if (!k) {
            k = { key, parts: [], head: 0, locks: 0, inReady: false };
            this.keys.set(key, k);
        }
        k.parts.push(p);
        this.makeReady(k);
    }

    /** The next ready record, not taken. */
    peek(): Part | undefined {
        if (!this.keyOrder) return this.plain.peek();
        const k = this.ready.peek();
        return k ? k.parts[k.head] : undefined;
    }

    /** Takes the next ready record; with keyOrder its key is locked (one lock, released by `unlock`). */
    take(): Part | undefined {
        if (!this.keyOrder) {
            const p = this.plain.shift();
            if (p) {
                this.size--;
                this.readyBytes -= p.size;
            }
            return p;
        }
        const k = this.ready.shift();
        if (!k) return undefined;
        k.inReady = false;
        const p = this.shiftPart(k);
        this.readyBytes -= p.size;
        k.locks++;
        return p;
    }

    /**
     * The record after one just taken with the same key (keyOrder: it may join the same aggregate,
     * whose sub-records keep their order); `take` = true removes it. Undefined without keyOrder.
     */
    nextOfKey(key: string, take: boolean): Part | undefined {
        if (!this.keyOrder) return undefined;
        const k = this.keys.get(key);
        if (!k || k.inReady || k.head >= k.parts.length) return undefined;
        return take ? this.shiftPart(k) : k.parts[k.head];
    }

    /** Whether a key has a record in flight or waiting to retry. */
    locked(key: string): boolean {
        return this.keyOrder && (this.keys.get(key)?.locks ?? 0) > 0;
    }

    lock(keys: readonly string[]): void {
        if (!this.keyOrder) return;
        for (const key of keys) {
            let k = this.keys.get(key);
            if (!k) {
                k = { key, parts: [], head: 0, locks: 0, inReady: false };
                this.keys.set(key, k);
            }
            k.locks++;
        }
    }

    unlock(keys: readonly string[]): void {
        if (!this.keyOrder) return;
        for (const key of keys) this.unlockKey(key);
    }

    /** Releases one lock of one key. */
    unlockKey(key: string): void {
        if (!this.keyOrder) return;
        const k = this.keys.get(key);
        if (!k) return;
        k.locks = Math.max(0, k.locks - 1);
        this.makeReady(k);
    }

    /** Removes and returns every waiting record (close). */
    drain(): Part[] {
        const out: Part[] = this.plain.drain();
        for (const k of this.keys.values()) out.push(...k.parts.slice(k.head));
        this.keys.clear();
        this.ready.drain();
        this.size = 0;
        this.readyBytes = 0;
        return out;
    }

    private shiftPart(k: KeyState): Part {
        const p = k.parts[k.head];
        (k.parts as Array<Part | undefined>)[k.head] = undefined;
        k.head++;
        this.size--;
        if (k.head === k.parts.length) {
            k.parts = [];
            k.head = 0;
        } else if (k.head >= 256 && k.head * 2 >= k.parts.length) {
            k.parts = k.parts.slice(k.head);
            k.head = 0;
        }
        return p;
    }

    private makeReady(k: KeyState): void {
        if (k.inReady) return;
        if (k.locks > 0) return;
        if (k.head >= k.parts.length) {
            this.keys.delete(k.key);
            return;
        }
        k.inReady = true;
        this.ready.push(k);
        this.readyBytes += k.parts[k.head].size;
    }
}
