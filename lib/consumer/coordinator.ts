/**
 * Lease coordination for one worker: renewing what it holds, taking free and expired leases,
 * stealing (one at a time, from the most loaded worker) to balance, graceful hand-off.
 *
 * Expiry is observed locally, never from wall clocks: for every lease we remember the monotonic time
 * at which we last saw its (counter, owner) change; a lease is expired when that is older than
 * failoverTimeMs. A lease first seen with an owner is stamped "now"; an unowned lease is free at once.
 * A held lease that this worker could not renew within failoverTimeMs (it stalled) is dropped.
 *
 * Stealing is a hand-off when `gracefulHandOff` is on (default): the thief writes `checkpointOwner`;
 * the owner sees it on its next renewal, finishes and checkpoints what it delivered, and transfers the
 * lease. A request the owner does not answer within 2 × failoverTimeMs is turned into a plain take.
 *
 * All writes on one lease go through one promise chain (renew, checkpoint, release never race).
 */
import { performance } from 'node:perf_hooks';
import { Lease, LeaseTable, SHARD_END } from './lease-table';

export interface CoordinatorHandlers {
    /** A lease was taken (or adopted / handed over): start reading it. */
    acquired(lease: Lease): void;
    /** A lease was lost (stolen, expired locally, or its renewal failed): stop emitting it now. */
    lost(shardId: string): void;
    /** Another worker asked for this lease: finish, checkpoint and `transfer` it. */
    handOffRequested(shardId: string, to: string): void;
    warn?(message: string, error?: unknown): void;
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
    handlers: CoordinatorHandlers;
}

interface Held {
    lease: Lease;
    /** Monotonic time at which the last successful renewal was sent. */
    renewedAt: number;
    chain: Promise<unknown>;
    handOffAsked?: boolean;
}

interface Seen {
    counter: number;
    owner: string | undefined;
    changedAt: number;
}

const now = () => performance.now();

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
    private readonly handOffPending = new Map<string, number>();
    /** null once halted: no more renewals. */
    private renewTimer: NodeJS.Timeout | undefined | null;
    private takerTimer: NodeJS.Timeout | undefined;
    private takerRunning: Promise<void> | undefined;
    private takerAgain = false;
    private running = false;
    /** Last table content seen by the taker. */
    lastLeases: Lease[] = [];
    private readonly opts: CoordinatorOptions;

    constructor(opts: CoordinatorOptions) {
        this.opts = opts;
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
            this.scheduleTaker(delay);
        });
        return this.takerRunning;
    }

    private blockedChildren = false;

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
        const tasks: Promise<unknown>[] = [];
        for (const [shardId, h] of this.held) {
            if (now() - h.renewedAt > this.opts.failoverTimeMs) {
                // our own clock says it expired: another worker may already have it
                this.opts.handlers.warn?.(`lease ${shardId} expired before it could be renewed; dropping it`);
                this.drop(shardId);
                continue;
            }
            tasks.push(
                this.withLease(shardId, async (held) => {
                    const t0 = now();
                    const r = await this.opts.table.renew(held.lease, this.workerId);
                    if (!r) {
                        this.drop(shardId);
                        return;
                    }
                    held.lease = r;
                    held.renewedAt = t0;
                    if (r.checkpointOwner && r.checkpointOwner !== this.workerId && !held.handOffAsked) {
                        held.handOffAsked = true;
                        this.opts.handlers.handOffRequested(shardId, r.checkpointOwner);
                    }
                }).catch((err) => this.opts.handlers.warn?.(`renewing lease ${shardId} failed`, err)),
            );
        }
        await Promise.all(tasks);
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
        const t = now();
        const byKey = new Map(leases.map((l) => [l.leaseKey, l]));
        for (const l of leases) {
            const s = this.seen.get(l.leaseKey);
            if (!s || s.counter !== l.leaseCounter || s.owner !== l.leaseOwner) {
                this.seen.set(l.leaseKey, { counter: l.leaseCounter, owner: l.leaseOwner, changedAt: t });
            }
        }
        for (const key of this.seen.keys()) if (!byKey.has(key)) this.seen.delete(key);
        const me = this.workerId;
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
        const available = eligible.filter((l) => !this.held.has(l.leaseKey) && (expired(l) || l.leaseOwner === me));
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
        // a hand-off already asked for: wait for it, or force it when it is not answered
        const pendingKey = theirs.find((l) => this.handOffPending.has(l.leaseKey));
        if (pendingKey) {
            if (t - this.handOffPending.get(pendingKey.leaseKey)! > 2 * this.opts.failoverTimeMs) {
                this.handOffPending.delete(pendingKey.leaseKey);
                await this.take(pendingKey);
            }
            return this.blockedChildren;
        }
        const victim = shuffle(theirs)[0];
        if (!victim) return this.blockedChildren;
        if (this.opts.gracefulHandOff !== false) {
            if (await this.opts.table.requestHandOff(victim, me)) this.handOffPending.set(victim.leaseKey, t);
        } else {
            await this.take(victim);
        }
        want--;
        return this.blockedChildren;
    }

    private async take(l: Lease): Promise<void> {
        if (this.held.has(l.leaseKey) || !this.running) return;
        const t0 = now();
        try {
            const r = await this.opts.table.take(l, this.workerId);
            if (!r) return;
            this.handOffPending.delete(l.leaseKey);
            // Taken in DynamoDB: held even when a stop began meanwhile, so that stop releases it
            // (nothing reads it: `acquired` is only reported while running).
            this.held.set(l.leaseKey, { lease: r, renewedAt: t0, chain: Promise.resolve() });
            this.seen.set(l.leaseKey, { counter: r.leaseCounter, owner: r.leaseOwner, changedAt: t0 });
            if (this.running) this.opts.handlers.acquired(r);
        } catch (err) {
            this.opts.handlers.warn?.(`taking lease ${l.leaseKey} failed`, err);
        }
    }

    /**
     * True while the lease is held and was renewed within the failover time by this worker's own
     * clock; after a stall (event loop blocked, machine suspended) it drops the lease at once.
     */
    isFresh(shardId: string): boolean {
        const h = this.held.get(shardId);
        if (!h) return false;
        if (now() - h.renewedAt <= this.opts.failoverTimeMs) return true;
        this.opts.handlers.warn?.(`lease ${shardId} not renewed within the failover time; dropping it`);
        this.drop(shardId);
        return false;
    }

    /** The lease currently held for a shard (undefined when not held). */
    lease(shardId: string): Lease | undefined {
        return this.held.get(shardId)?.lease;
    }

    /** Writes a checkpoint; resolves false when the lease is no longer ours (it is then dropped). */
    async checkpoint(shardId: string, checkpoint: string, subSequenceNumber: number, childShardIds?: string[]): Promise<boolean> {
        const r = await this.withLease(shardId, async (h) => {
            const t0 = now();
            const updated = await this.opts.table.checkpoint(h.lease, this.workerId, checkpoint, subSequenceNumber, childShardIds);
            if (!updated) {
                this.drop(shardId);
                return false;
            }
            h.lease = updated;
            h.renewedAt = t0;
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
