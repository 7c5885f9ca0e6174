/**
 * Lease coordination for one worker: renewing what it holds, taking free and expired leases,
 * stealing (one at a time, from the most loaded worker) to balance, graceful hand-off.
 *
 * Expiry is observed locally, never from wall clocks: for every lease we remember the monotonic time
 * at which we last saw its (counter, owner) change; a lease is expired when that is older than
 * failoverTimeMs. A lease first seen with an owner is stamped "now"; an unowned lease is free at once.
 *
 * Fencing (see `leaseFresh`): a record of a shard may be emitted only while this worker's last
 * successful renewal of its lease is younger than the fence (failoverTimeMs − fence margin), by the
 * monotonic clock AND by the wall clock (the monotonic clock stops while a machine sleeps). Another
 * worker can take the lease only after it saw the counter unchanged for failoverTimeMs, so the two
 * never emit the same shard at the same time. A stale lease is renewed (`confirm`) before anything
 * more is emitted; a renewal that fails conditionally means the lease is gone: it is dropped.
 *
 * Stealing is a hand-off when `gracefulHandOff` is on (default): the thief writes `checkpointOwner`;
 * the owner sees it on its next renewal, finishes and checkpoints what it delivered, and transfers the
 * lease. A request belongs to the owner it was made to: a change of owner voids it, and a live owner
 * that keeps renewing is only ever asked, never overrun (an owner that stops renewing loses the lease
 * by expiry, as any other). With `gracefulHandOff` off a steal is a plain take, and the thief waits
 * the fence time before it emits (the victim's fence has run out by then).
 *
 * Worker ids: a lease the table shows as this worker id's but that this process does not hold (a
 * previous run with the same, stable id) is taken back at once. Should a renewal then find the lease
 * owned by this worker id with another counter, a second instance runs with the same id: reported
 * through `duplicateWorkerId`, and from then on such leases are taken only once expired.
 *
 * All writes on one lease go through one promise chain (renew, checkpoint, release never race).
 */
import { performance } from 'node:perf_hooks';
import { Lease, LeaseTable, SHARD_END } from './lease-table';

export interface CoordinatorHandlers {
    /** A lease was taken (or adopted / handed over): start reading it. */
    acquired(lease: Lease): void;
    /**
     * A take of `lease` (as scanned) is being sent: the consumer may prepare its reading (read-only
     * calls, nothing emitted) beside it. Followed by `acquired` or by `notTaken`.
     */
    taking?(lease: Lease): void;
    /** The take announced by `taking` did not happen (someone else's, or it failed). */
    notTaken?(shardId: string): void;
    /** A lease was lost (stolen, expired locally, or its renewal failed): stop emitting it now. */
    lost(shardId: string): void;
    /** Another worker asked for this lease: finish, checkpoint and `transfer` it. */
    handOffRequested(shardId: string, to: string): void;
    /** Another instance runs with this worker id (it took `shardId` while this one held it). */
    duplicateWorkerId?(shardId: string): void;
    warn?(message: string, error?: unknown): void;
}

/** A lease's last successful renewal, by both clocks (when the renewal was sent). */
export interface RenewalStamp {
    mono: number;
    wall: number;
}

/**
 * The fencing rule: a lease renewed at `renewed` may still be used at `at` when neither clock says
 * more than `fenceMs` went by. Either clock alone can be fooled (the monotonic one stops while a
 * machine is suspended; the wall clock can be set back), so the older reading wins. A wall clock set
 * forward only costs an early renewal.
 */
export function leaseFresh(renewed: RenewalStamp, at: RenewalStamp, fenceMs: number): boolean {
    return Math.max(at.mono - renewed.mono, at.wall - renewed.wall) <= fenceMs;
}

/** Default fence margin: a quarter of the failover time (renewals come every third of it). */
export function defaultFenceMarginMs(failoverTimeMs: number): number {
    return Math.max(50, Math.floor(failoverTimeMs / 4));
}

export interface CoordinatorOptions {
    table: LeaseTable;
    workerId: string;
    failoverTimeMs: number;
    renewIntervalMs: number;
    takerIntervalMs: number;
    /** Re-check of children waiting for their parents (default 10 s). */
    parentPollMs?: number;
    maxLeasesForWorker?: number;
    gracefulHandOff?: boolean;
    /** Records are emitted only while the last renewal is younger than failoverTimeMs − this (default failover / 4). */
    fenceMarginMs?: number;
    /** Both clocks, read together (tests: a clock they move by hand). Default performance.now() + Date.now(). */
    clock?: () => RenewalStamp;
    handlers: CoordinatorHandlers;
}

interface Held {
    lease: Lease;
    /** When the last successful renewal (or take, or checkpoint) was sent. */
    renewed: RenewalStamp;
    chain: Promise<unknown>;
    handOffAsked?: boolean;
    /** Stolen from a live owner: nothing is emitted before this monotonic time. */
    emitAfter?: number;
    /**
     * Writes on this lease that failed without an answer (a timeout, a dropped connection): each may have
     * been applied and moved leaseCounter. Reset by the next write that lands.
     */
    unanswered?: number;
}

interface PendingHandOff {
    /** The owner asked: a change of owner voids the request. */
    owner: string;
    at: number;
}

interface Seen {
    counter: number;
    owner: string | undefined;
    changedAt: number;
}

const realClock = (): RenewalStamp => ({ mono: performance.now(), wall: Date.now() });

function shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
        const j = Math.floor(Math.random() * (i + 1));
        [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
}

export class Coordinator {
    readonly held = new Map<string, Held>();
    private readonly seen = new Map<string, Seen>();
    private readonly handOffPending = new Map<string, PendingHandOff>();
    /** Set once another instance was seen using this worker id. */
    duplicateId = false;
    /** Records may be emitted while the last renewal is younger than this. */
    readonly fenceMs: number;
    /** null once halted: no more renewals. */
    private renewTimer: NodeJS.Timeout | undefined | null;
    private takerTimer: NodeJS.Timeout | undefined;
    private takerRunning: Promise<void> | undefined;
    private takerAgain = false;
    private running = false;
    /** Last table content seen by the taker. */
    lastLeases: Lease[] = [];
    private readonly opts: CoordinatorOptions;

    private readonly clock: () => RenewalStamp;

    constructor(opts: CoordinatorOptions) {
        this.opts = opts;
        this.clock = opts.clock ?? realClock;
        const margin = opts.fenceMarginMs ?? defaultFenceMarginMs(opts.failoverTimeMs);
        this.fenceMs = Math.max(1, opts.failoverTimeMs - margin);
    }

    private now(): number {
        return this.clock().mono;
    }

    get workerId(): string {
        return this.opts.workerId;
    }

    private halted = false;

    start(): Promise<void> {
        if (this.halted) return Promise.resolve();
        this.running = true;
        this.scheduleRenew();
        return this.runTaker();
    }

    /** Stops the timers without touching DynamoDB (also how a crash is simulated in tests). */
    halt(): void {
        this.halted = true;
        this.running = false;
        if (this.renewTimer) clearTimeout(this.renewTimer);
        if (this.takerTimer) clearTimeout(this.takerTimer);
        this.renewTimer = null;
        this.takerTimer = undefined;
    }

    /**
     * Stops taking leases (stop in progress) while renewals go on until halt(). Resolves once a
     * taker pass still running has ended: a lease it took meanwhile is then in `held`, so the
     * stopping consumer releases it with the others instead of leaving it owned until it expires.
     * Waits at most `maxWaitMs` (a DynamoDB that does not answer must not hold up a redeploy).
     */
    stopTaking(maxWaitMs = 3000): Promise<void> {
        this.halted = true;
        this.running = false;
        if (this.takerTimer) clearTimeout(this.takerTimer);
        this.takerTimer = undefined;
        const pass = this.takerRunning;
        if (!pass) return Promise.resolve();
        return new Promise<void>((resolve) => {
            const t = setTimeout(resolve, maxWaitMs);
            pass.catch(() => undefined).finally(() => {
                clearTimeout(t);
                resolve();
            });
        });
    }

    private scheduleRenew(): void {
        if (this.renewTimer === null) return;
        this.renewTimer = setTimeout(() => {
            this.renewAll()
                .catch((err) => this.opts.handlers.warn?.('lease renewal failed', err))
                .finally(() => this.scheduleRenew());
        }, this.opts.renewIntervalMs);
    }

    private scheduleTaker(delay: number): void {
        if (!this.running) return;
        if (this.takerTimer) clearTimeout(this.takerTimer);
        this.takerTimer = setTimeout(() => {
            this.takerTimer = undefined;
            this.runTaker().catch(() => undefined);
        }, delay);
    }

    /** Runs a taker pass now (coalesced with one already running). */
    runTaker(): Promise<void> {
        if (!this.running) return Promise.resolve();
        if (this.takerRunning) {
            this.takerAgain = true;
            return this.takerRunning;
        }
        this.takerRunning = (async () => {
            let blocked = false;
            do {
                this.takerAgain = false;
                try {
                    blocked = await this.takeLeases();
                } catch (err) {
                    this.opts.handlers.warn?.('lease table scan failed', err);
                }
            } while (this.takerAgain && this.running);
        })().finally(() => {
            this.takerRunning = undefined;
            const d = this.opts.takerIntervalMs;
            let delay = this.blockedChildren ? Math.min(d, this.opts.parentPollMs ?? 10_000) : d;
            // a hand-off asked for: look again soon, the lease may already be ours
            if (this.handOffPending.size) delay = Math.min(delay, this.opts.renewIntervalMs);
            // a lease of another worker that stopped renewing: look again right when it expires
            // (a dead worker's shards move within failover + one scan interval, not + two)
            if (this.nextExpiryAt !== undefined) delay = Math.min(delay, Math.max(50, Math.ceil(this.nextExpiryAt - this.now()) + 10));
            this.scheduleTaker(delay);
        });
        return this.takerRunning;
    }

    private blockedChildren = false;
    /** Monotonic time at which the next lease of another worker expires unless renewed (last scan). */
    private nextExpiryAt: number | undefined;

    /** One operation on a held lease, serialized with the others on it. */
    private withLease<T>(shardId: string, op: (h: Held) => Promise<T>): Promise<T | undefined> {
        const h = this.held.get(shardId);
        if (!h) return Promise.resolve(undefined);
        const p = h.chain.then(() => (this.held.get(shardId) === h ? op(h) : undefined));
        h.chain = p.catch(() => undefined);
        return p;
    }

    private drop(shardId: string): void {
        if (this.held.delete(shardId)) this.opts.handlers.lost(shardId);
    }

    async renewAll(): Promise<void> {
        await Promise.all([...this.held.keys()].map((shardId) => this.renew(shardId)));
    }

    /**
     * Renews one held lease (serialized with the other writes on it). A conditional failure means
     * the lease is gone: dropped. Any other failure keeps it (it is fenced once stale) unless our own
     * clock says the failover time went by: another worker may have it by now.
     */
    private renew(shardId: string): Promise<boolean> {
        return this.withLease(shardId, async (held) => {
            const t0 = this.clock();
            let r: Lease | undefined;
            try {
                r = await this.write(held, shardId, (lease) => this.opts.table.renew(lease, this.workerId));
            } catch (err) {
                if (!leaseFresh(held.renewed, this.clock(), this.opts.failoverTimeMs)) {
                    this.opts.handlers.warn?.(`lease ${shardId} could not be renewed within the failover time; dropping it`, err);
                    this.drop(shardId);
                } else {
                    this.opts.handlers.warn?.(`renewing lease ${shardId} failed`, err);
                }
                return false;
            }
            if (!r) {
                await this.lostConditionally(shardId, held.lease);
                return false;
            }
            held.lease = r;
            held.renewed = t0;
            if (r.checkpointOwner && r.checkpointOwner !== this.workerId && !held.handOffAsked) {
                held.handOffAsked = true;
                this.opts.handlers.handOffRequested(shardId, r.checkpointOwner);
            }
            return true;
        }).then((ok) => ok === true);
    }

    /**
     * One conditional write on a held lease (renewal, checkpoint). A write that fails without an answer is
     * counted (`unanswered`); on a conditional failure it is made once more on the lease as our own
     * unanswered writes left it (`ownUnanswered`), if that is what moved its counter. Resolves the updated
     * lease, or undefined when the lease is not ours; a write that lands resets the count.
     */
    private async write(h: Held, shardId: string, op: (lease: Lease) => Promise<Lease | undefined>): Promise<Lease | undefined> {
        const counted = (lease: Lease) => op(lease).catch((err) => {
            h.unanswered = (h.unanswered ?? 0) + 1;
            throw err;
        });
        let updated = await counted(h.lease);
        if (!updated) {
            const own = await this.ownUnanswered(h, shardId);
            if (own) updated = await counted((h.lease = own));
        }
        if (updated) h.unanswered = 0;
        return updated;
    }

    /**
     * After a conditional failure: the lease as it is now, when what moved its counter can only be this
     * worker's own writes that got no answer (its owner is us, the counter moved by at most their number);
     * undefined otherwise. A renewal that timed out after DynamoDB applied it must not cost the lease (and
     * must not look like another worker with our id).
     */
    private async ownUnanswered(h: Held, shardId: string): Promise<Lease | undefined> {
        const n = h.unanswered ?? 0;
        if (n === 0) return undefined;
        const current = await this.opts.table.get(shardId).catch(() => undefined);
        if (!current || current.leaseOwner !== this.workerId) return undefined;
        if (current.leaseCounter <= h.lease.leaseCounter || current.leaseCounter > h.lease.leaseCounter + n) return undefined;
        h.unanswered = 0;
        return current;
    }

    /** A conditional write on a held lease failed: drop it; say so when our own worker id took it. */
    private async lostConditionally(shardId: string, was: Lease): Promise<void> {
        this.drop(shardId);
        const current = await this.opts.table.get(shardId).catch(() => undefined);
        if (current && current.leaseOwner === this.workerId && current.leaseCounter !== was.leaseCounter) {
            this.duplicateId = true;
            this.opts.handlers.duplicateWorkerId?.(shardId);
        }
    }

    /** Is this lease ready to be processed (not ended, every parent ended or gone)? */
    private ready(l: Lease, byKey: Map<string, Lease>): boolean {
        if (l.checkpoint === SHARD_END) return false;
        for (const p of l.parentShardIds) {
            const pl = byKey.get(p);
            if (pl && pl.checkpoint !== SHARD_END) return false;
        }
        return true;
    }

    private async takeLeases(): Promise<boolean> {
        const leases = await this.opts.table.list();
        if (!this.running) return false;
        this.lastLeases = leases;
        const t = this.now();
        const byKey = new Map(leases.map((l) => [l.leaseKey, l]));
        for (const l of leases) {
            const s = this.seen.get(l.leaseKey);
            if (!s || s.counter !== l.leaseCounter || s.owner !== l.leaseOwner) {
                this.seen.set(l.leaseKey, { counter: l.leaseCounter, owner: l.leaseOwner, changedAt: t });
            }
        }
        for (const key of this.seen.keys()) if (!byKey.has(key)) this.seen.delete(key);
        this.voidHandOffs(byKey);
        const me = this.workerId;
        this.nextExpiryAt = undefined;
        for (const l of leases) {
            if (!l.leaseOwner || l.leaseOwner === me || l.checkpoint === SHARD_END) continue;
            const at = (this.seen.get(l.leaseKey)?.changedAt ?? t) + this.opts.failoverTimeMs;
            if (this.nextExpiryAt === undefined || at < this.nextExpiryAt) this.nextExpiryAt = at;
        }
        const expired = (l: Lease) => !l.leaseOwner || t - (this.seen.get(l.leaseKey)?.changedAt ?? t) > this.opts.failoverTimeMs;
        const eligible = leases.filter((l) => this.ready(l, byKey));
        this.blockedChildren = leases.some((l) => l.checkpoint !== SHARD_END && !this.ready(l, byKey));
        const counts = new Map<string, number>();
        for (const l of eligible) {
            if (l.leaseOwner && l.leaseOwner !== me && !expired(l)) counts.set(l.leaseOwner, (counts.get(l.leaseOwner) ?? 0) + 1);
        }
        const mine = [...this.held.keys()].filter((k) => byKey.has(k) && byKey.get(k)!.checkpoint !== SHARD_END).length;
        const workers = counts.size + 1;
        let target = workers >= eligible.length ? 1 : Math.ceil(eligible.length / workers);
        if (this.opts.maxLeasesForWorker) target = Math.min(target, this.opts.maxLeasesForWorker);
        let want = target - mine;
        if (want <= 0 || eligible.length === 0) return this.blockedChildren;

        // free or expired leases, and leases the table says are ours but we do not hold (a previous
        // run with this worker id, or a hand-off to us)
        // (once another instance was seen with this id, its leases are taken only when expired)
        const available = eligible.filter((l) => !this.held.has(l.leaseKey) && (expired(l) || (l.leaseOwner === me && !this.duplicateId)));
        if (available.length) {
            const veryOld = (l: Lease) => !!l.leaseOwner && t - (this.seen.get(l.leaseKey)?.changedAt ?? t) > 3 * this.opts.failoverTimeMs;
            const sorted = shuffle(available).sort((a, b) => {
                const ma = a.leaseOwner === me ? 0 : veryOld(a) ? 1 : 2;
                const mb = b.leaseOwner === me ? 0 : veryOld(b) ? 1 : 2;
                return ma - mb;
            });
            await Promise.all(sorted.slice(0, want).map((l) => this.take(l)));
            return this.blockedChildren;
        }

        // steal one lease from the most loaded worker
        let most: string | undefined;
        let mostCount = 0;
        for (const [owner, c] of counts) if (c > mostCount) [most, mostCount] = [owner, c];
        if (!most || !(mostCount > target || (mostCount === target && mine < target - 1))) return this.blockedChildren;
        const theirs = eligible.filter((l) => l.leaseOwner === most);
        // a hand-off already asked for (by this process, or still in the table from an earlier run):
        // wait for it. Never forced: a live owner is asked, not overrun (one that stops renewing loses
        // the lease by expiry, and that voids the request).
        if (theirs.some((l) => this.handOffPending.has(l.leaseKey) || l.checkpointOwner === me)) return this.blockedChildren;
        const victim = shuffle(theirs)[0];
        if (!victim) return this.blockedChildren;
        if (this.opts.gracefulHandOff !== false) {
            if (await this.opts.table.requestHandOff(victim, me)) this.handOffPending.set(victim.leaseKey, { owner: victim.leaseOwner!, at: t });
        } else {
            await this.take(victim, true);
        }
        want--;
        return this.blockedChildren;
    }

    /**
     * Hand-off requests whose lease changed owner (taken, transferred, released, expired) or is gone
     * are void (every change of owner also removes `checkpointOwner` from the item).
     */
    private voidHandOffs(byKey: Map<string, Lease>): void {
        for (const [key, p] of this.handOffPending) {
            const l = byKey.get(key);
            if (!l || l.leaseOwner !== p.owner) this.handOffPending.delete(key);
        }
    }

    /** Hand-off requests this worker is waiting for (shard id → owner asked). */
    pendingHandOffs(): Map<string, string> {
        return new Map([...this.handOffPending].map(([k, p]) => [k, p.owner]));
    }

    private async take(l: Lease, steal = false): Promise<void> {
        if (this.held.has(l.leaseKey) || !this.running) return;
        const t0 = this.clock();
        this.opts.handlers.taking?.(l);
        let r: Lease | undefined;
        try {
            r = await this.opts.table.take(l, this.workerId);
            if (!r) return;
            this.handOffPending.delete(l.leaseKey);
            // Taken in DynamoDB: held even when a stop began meanwhile, so that stop releases it
            // (nothing reads it: `acquired` is only reported while running).
            const h: Held = { lease: r, renewed: t0, chain: Promise.resolve() };
            // stolen from a live owner: its fence runs out at most fenceMs after our take landed
            if (steal) h.emitAfter = this.now() + this.fenceMs;
            this.held.set(l.leaseKey, h);
            this.seen.set(l.leaseKey, { counter: r.leaseCounter, owner: r.leaseOwner, changedAt: t0.mono });
            if (this.running) this.opts.handlers.acquired(r);
            else this.opts.handlers.notTaken?.(l.leaseKey);
        } catch (err) {
            this.opts.handlers.warn?.(`taking lease ${l.leaseKey} failed`, err);
        } finally {
            if (!r) this.opts.handlers.notTaken?.(l.leaseKey);
        }
    }

    /**
     * The fence, on the emit path (cheap, synchronous): true while the lease is held, was renewed
     * within the fence time by both clocks, and is not a stolen lease still waiting for its victim's
     * fence to run out. When false, `confirm` before emitting anything.
     */
    canEmit(shardId: string): boolean {
        const h = this.held.get(shardId);
        if (!h) return false;
        if (h.emitAfter !== undefined) {
            if (this.now() < h.emitAfter) return false;
            h.emitAfter = undefined;
        }
        // the real clocks read in place (called per record: no object per call), the same rule as leaseFresh
        if (this.clock === realClock) {
            const r = h.renewed;
            return performance.now() - r.mono <= this.fenceMs && Date.now() - r.wall <= this.fenceMs;
        }
        return leaseFresh(h.renewed, this.clock(), this.fenceMs);
    }

    /**
     * Makes a stale lease usable again (after a stall: GC pause, SIGSTOP, a suspended machine, a slow
     * DynamoDB): waits out a steal's delay, then renews at once. Resolves true when records may be
     * emitted; false when the lease is not held (any more: a failed renewal dropped it and reported
     * `lost`) or could not be renewed yet (try again later).
     */
    async confirm(shardId: string): Promise<boolean> {
        const h = this.held.get(shardId);
        if (!h) return false;
        if (h.emitAfter !== undefined && this.now() < h.emitAfter) await new Promise((r) => setTimeout(r, Math.ceil(h.emitAfter! - this.now())));
        if (this.canEmit(shardId)) return true;
        if (this.held.get(shardId) !== h) return false;
        await this.renew(shardId);
        return this.canEmit(shardId);
    }

    /** Whether this worker holds the lease (fresh or not). */
    holds(shardId: string): boolean {
        return this.held.has(shardId);
    }

    /** The lease currently held for a shard (undefined when not held). */
    lease(shardId: string): Lease | undefined {
        return this.held.get(shardId)?.lease;
    }

    /** Writes a checkpoint; resolves false when the lease is no longer ours (it is then dropped). */
    async checkpoint(shardId: string, checkpoint: string, subSequenceNumber: number, childShardIds?: string[]): Promise<boolean> {
        const r = await this.withLease(shardId, async (h) => {
            const t0 = this.clock();
            const updated = await this.write(h, shardId, (lease) => this.opts.table.checkpoint(lease, this.workerId, checkpoint, subSequenceNumber, childShardIds));
            if (!updated) {
                await this.lostConditionally(shardId, h.lease);
                return false;
            }
            h.lease = updated;
            h.renewed = t0;
            return true;
        });
        return r === true;
    }

    /** Gives a lease up (after the consumer stopped and checkpointed it). */
    async release(shardId: string): Promise<void> {
        await this.withLease(shardId, async (h) => {
            await this.opts.table.release(h.lease, this.workerId).catch((err) => this.opts.handlers.warn?.(`releasing lease ${shardId} failed`, err));
            this.held.delete(shardId);
        });
        this.held.delete(shardId);
    }

    /** Passes a lease to the worker that asked for it. */
    async transfer(shardId: string, to: string): Promise<void> {
        await this.withLease(shardId, async (h) => {
            await this.opts.table.transfer(h.lease, this.workerId, to).catch((err) => this.opts.handlers.warn?.(`handing lease ${shardId} over failed`, err));
            this.held.delete(shardId);
        });
        this.held.delete(shardId);
    }
}
