/**
 * Records waiting to be sent for one stream, and the per-key order locks.
 *
 * keyOrder on: one FIFO per partition key; a key is *ready* when it has records waiting and none
 * of its records is in flight or waiting to retry (no lock). Ready keys wait in a FIFO of their
 * own, so taking the next sendable record, queueing one and releasing a lock are O(1) — no scan of
 * the records held back behind a locked key (the old design rescanned the whole pending list on
 * every put, 16× a raw loop's CPU with 1 000 keys).
 * keyOrder off: one FIFO of records; every record is ready.
 *
 * The FIFOs are linked lists through the records themselves (`Part.next`) and through the key
 * states (`KeyState.nextReady`): queueing and taking allocate nothing (a key state is made when a key
 * with nothing waiting or in flight gets a record, and dropped when it has neither again).
 */
import type { Part } from './entries';

interface KeyState {
    key: string;
    /** The key's waiting records: first and last (linked by Part.next). */
    head: Part | undefined;
    tail: Part | undefined;
    /** Entries holding this key (in flight or waiting to retry). */
    locks: number;
    inReady: boolean;
    /** The next key in the ready FIFO. */
    nextReady: KeyState | undefined;
    /** Still the key's state in the map (false once dropped). */
    live: boolean;
}

export class PendingQueue {
    /** Records waiting (ready or held back by a lock). */
    size = 0;
    /** Bytes of the ready records (the next one of each ready key). */
    readyBytes = 0;
    private readonly keys = new Map<string, KeyState>();
    /** Ready keys (keyOrder): first, last, count. */
    private readyHead: KeyState | undefined;
    private readyTail: KeyState | undefined;
    private readyLength = 0;
    /** Waiting records (keyOrder off): first, last (linked by Part.next). */
    private plainHead: Part | undefined;
    private plainTail: Part | undefined;

    constructor(readonly keyOrder: boolean) {}

    /** Records that could be sent now. */
    get readyCount(): number {
        return this.keyOrder ? this.readyLength : this.size;
    }

    /** When the first ready record was queued (undefined: none ready). */
    oldestReadyAt(): number | undefined {
        return this.peek()?.enqueuedAt;
    }

    push(p: Part): void {
        this.size++;
        p.next = undefined;
        if (!this.keyOrder) {
            if (this.plainTail) this.plainTail.next = p;
            else this.plainHead = p;
            this.plainTail = p;
            this.readyBytes += p.size;
            return;
        }
        const k = this.stateOf(p.partitionKey);
        p.keyState = k;
        if (k.tail) k.tail.next = p;
        else k.head = p;
        k.tail = p;
        this.makeReady(k);
    }

    /** The next ready record, not taken. */
    peek(): Part | undefined {
        if (!this.keyOrder) return this.plainHead;
        return this.readyHead?.head;
    }

    /** Takes the next ready record; with keyOrder its key is locked (one lock, released by `unlock`). */
    take(): Part | undefined {
        if (!this.keyOrder) {
            const p = this.plainHead;
            if (p) {
                this.plainHead = p.next;
                if (!this.plainHead) this.plainTail = undefined;
                p.next = undefined;
                this.size--;
                this.readyBytes -= p.size;
            }
            return p;
        }
        const k = this.readyHead;
        if (!k) return undefined;
        this.readyHead = k.nextReady;
        if (!this.readyHead) this.readyTail = undefined;
        k.nextReady = undefined;
        this.readyLength--;
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
        if (!k || k.inReady || !k.head) return undefined;
        return take ? this.shiftPart(k) : k.head;
    }

    /** Whether a key has a record in flight or waiting to retry. */
    locked(key: string): boolean {
        return this.keyOrder && (this.keys.get(key)?.locks ?? 0) > 0;
    }

    lock(keys: readonly string[]): void {
        if (!this.keyOrder) return;
        for (const key of keys) this.stateOf(key).locks++;
    }

    unlock(keys: readonly string[]): void {
        if (!this.keyOrder) return;
        for (const key of keys) this.unlockKey(key);
    }

    /** Releases one lock of one key. */
    unlockKey(key: string): void {
        if (!this.keyOrder) return;
        const k = this.keys.get(key);
        if (k) this.release(k);
    }

    /**
     * Releases the lock a record taken from this queue holds on its key, through the key state it was
     * queued under (no lookup): that state stays in the map while the record is in flight or waiting
     * to retry (it holds a lock), so it is the key's current one.
     */
    unlockPart(p: Part): void {
        if (!this.keyOrder) return;
        const k = p.keyState as KeyState | undefined;
        if (k !== undefined && k.live) this.release(k);
        else this.unlockKey(p.partitionKey);
    }

    private release(k: KeyState): void {
        k.locks = k.locks > 0 ? k.locks - 1 : 0;
        this.makeReady(k);
    }

    /** Removes and returns every waiting record (close). */
    drain(): Part[] {
        const out: Part[] = [];
        for (let p = this.plainHead; p; p = p.next) out.push(p);
        for (const k of this.keys.values()) {
            for (let p = k.head; p; p = p.next) out.push(p);
            k.live = false;
        }
        for (const p of out) p.next = undefined;
        this.plainHead = this.plainTail = undefined;
        this.keys.clear();
        this.readyHead = this.readyTail = undefined;
        this.readyLength = 0;
        this.size = 0;
        this.readyBytes = 0;
        return out;
    }

    private stateOf(key: string): KeyState {
        let k = this.keys.get(key);
        if (!k) {
            k = { key, head: undefined, tail: undefined, locks: 0, inReady: false, nextReady: undefined, live: true };
            this.keys.set(key, k);
        }
        return k;
    }

    private shiftPart(k: KeyState): Part {
        const p = k.head!;
        k.head = p.next;
        if (!k.head) k.tail = undefined;
        p.next = undefined;
        this.size--;
        return p;
    }

    private makeReady(k: KeyState): void {
        if (k.inReady) return;
        if (k.locks > 0) return;
        if (!k.head) {
            this.keys.delete(k.key);
            k.live = false;
            return;
        }
        k.inReady = true;
        if (this.readyTail) this.readyTail.nextReady = k;
        else this.readyHead = k;
        this.readyTail = k;
        this.readyLength++;
        this.readyBytes += k.head.size;
    }
}
