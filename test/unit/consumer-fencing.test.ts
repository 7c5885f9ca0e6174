/**
 * The fencing rule and the hand-off rules of the coordinator, on an in-memory lease table with
 * DynamoDB's conditional semantics and a clock the tests move by hand (no wall-clock waits).
 */
import assert from 'node:assert/strict';
import { Coordinator, CoordinatorOptions, leaseFresh, defaultFenceMarginMs, RenewalStamp } from '../../lib/consumer/coordinator';
import { LeaseTable, newLease } from '../../lib/consumer/lease-table';
import { resolveWorkerId, MAX_WORKER_ID_LENGTH } from '../../lib/consumer/worker-id';
import { MemoryTable } from './consumer-memory-table';

const FAILOVER = 10_000;

/** Both clocks, moved by hand: `advance` moves both, `suspend` only the wall clock (a sleeping machine). */
class TestClock {
    mono = 1_000_000;
    wall = 1_700_000_000_000;
    read = (): RenewalStamp => ({ mono: this.mono, wall: this.wall });
    advance(ms: number): void {
        this.mono += ms;
        this.wall += ms;
    }
    suspend(ms: number): void {
        this.wall += ms;
    }
}

interface Log {
    events: string[];
    handOffs: string[];
    duplicates: string[];
}

function coordinator(table: MemoryTable, id: string, clock: TestClock, extra: Partial<CoordinatorOptions> = {}): Coordinator & { log: Log } {
    const log: Log = { events: [], handOffs: [], duplicates: [] };
    const c = new Coordinator({
        table: table as unknown as LeaseTable,
        workerId: id,
        failoverTimeMs: FAILOVER,
        renewIntervalMs: 3_000_000, // renewals and taker passes are run by hand
        takerIntervalMs: 3_000_000,
        clock: clock.read,
        handlers: {
            acquired: (l) => log.events.push(`+${l.leaseKey}`),
            lost: (s) => log.events.push(`-${s}`),
            handOffRequested: (s, to) => log.handOffs.push(`${s}->${to}`),
            duplicateWorkerId: (s) => log.duplicates.push(s),
        },
        ...extra,
    });
    return Object.assign(c, { log });
}

describe('consumer: the fencing rule', () => {
    const at = (mono: number, wall: number): RenewalStamp => ({ mono, wall });

    it('a lease is usable while neither clock says more than the fence time went by', () => {
        const renewed = at(1000, 5000);
        assert.equal(leaseFresh(renewed, at(1000, 5000), 7500), true);
        assert.equal(leaseFresh(renewed, at(8500, 12_500), 7500), true, 'exactly the fence time');
        assert.equal(leaseFresh(renewed, at(8501, 12_501), 7500), false, 'past it');
    });

    it('a suspended machine (monotonic clock stopped, wall clock moved on) is stale', () => {
        assert.equal(leaseFresh(at(1000, 5000), at(1200, 65_000), 7500), false);
    });

    it('a wall clock set back does not make a stalled lease fresh (the monotonic clock says so)', () => {
        assert.equal(leaseFresh(at(1000, 5000), at(31_000, 0), 7500), false);
    });

    it('the default margin is a quarter of the failover time: renewals (every third) keep a lease fresh', () => {
        assert.equal(defaultFenceMarginMs(10_000), 2500);
        const c = coordinator(new MemoryTable(), 'w', new TestClock());
        assert.equal(c.fenceMs, 7500);
        assert.ok(c.fenceMs > Math.floor(FAILOVER / 3) - 25, 'a renewal interval fits in the fence');
    });
});

describe('consumer: fencing on the emit path (coordinator)', () => {
    /** w1 took lease a (its timers stopped: renewals are run by hand). */
    async function holding() {
        const t = new MemoryTable();
        await t.create(newLease('a', 'TRIM_HORIZON'));
        const clock = new TestClock();
        const c = coordinator(t, 'w1', clock);
        await c.start();
        c.halt();
        return { t, clock, c };
    }

    it('emits while renewed; after a stall past the fence it renews first, and keeps the lease nobody took', async () => {
        const { t, clock, c } = await holding();
        assert.equal(c.canEmit('a'), true);
        clock.advance(7000);
        assert.equal(c.canEmit('a'), true, 'within the fence (7.5 s)');
        clock.advance(30_000); // a GC pause, SIGSTOP: longer than the failover time
        assert.equal(c.canEmit('a'), false, 'stale: nothing is emitted before a renewal');
        const counter = t.leases.get('a')!.leaseCounter;
        assert.equal(await c.confirm('a'), true, 'renewed: nobody took it');
        assert.equal(t.leases.get('a')!.leaseCounter, counter + 1);
        assert.equal(c.canEmit('a'), true);
        assert.deepEqual(c.log.events, ['+a']);
    });

    it('a sleeping machine (only the wall clock moved) is fenced too', async () => {
        const { clock, c } = await holding();
        clock.suspend(60_000);
        assert.equal(c.canEmit('a'), false);
    });

    it('after a stall during which another worker took the lease: the renewal fails, the lease is dropped, nothing may be emitted', async () => {
        const { t, clock, c } = await holding();
        clock.advance(30_000);
        t.bump('a', 'w2'); // w2 saw the counter unchanged for the failover time and took it
        assert.equal(c.canEmit('a'), false);
        assert.equal(await c.confirm('a'), false);
        assert.equal(c.holds('a'), false);
        assert.deepEqual(c.log.events, ['+a', '-a'], 'lost reported (the consumer drops what it read)');
        assert.deepEqual(c.log.duplicates, [], 'not our worker id: no duplicate');
    });

    it('a renewal that fails for another reason keeps a fresh lease; past the failover time it drops it', async () => {
        const { t, clock, c } = await holding();
        const renew = t.renew.bind(t);
        t.renew = async () => { throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }); };
        clock.advance(8000);
        assert.equal(await c.confirm('a'), false, 'not renewed: fenced');
        assert.equal(c.holds('a'), true, 'still ours as far as anyone can tell');
        clock.advance(3000);
        await c.renewAll();
        assert.equal(c.holds('a'), false, 'past the failover time: dropped');
        assert.deepEqual(c.log.events, ['+a', '-a']);
        t.renew = renew;
    });

    it('writes that DynamoDB applied but never answered (a timeout) cost neither the lease nor a duplicate-id alarm; another writer still does', async () => {
        const { t, clock, c } = await holding();
        const renew = t.renew.bind(t);
        const timeout = () => Object.assign(new Error('socket timed out'), { name: 'TimeoutError' });
        // applied, then the answer is lost: twice in a row
        t.renew = async (l, owner) => { await renew(l, owner); throw timeout(); };
        clock.advance(3000);
        await c.renewAll();
        clock.advance(3000);
        await c.renewAll();
        assert.equal(c.holds('a'), true, 'no answer, within the failover time: kept');
        t.renew = renew;
        const before = t.leases.get('a')!.leaseCounter;
        clock.advance(2000);
        assert.equal(c.canEmit('a'), false, 'stale: 8 s since the last renewal it knows of');
        assert.equal(await c.confirm('a'), true, 'renewed on what its own unanswered writes left');
        assert.equal(t.leases.get('a')!.leaseCounter, before + 1);
        assert.equal(await c.checkpoint('a', '42', 0), true, 'and checkpoints go on');
        assert.deepEqual(c.log.events, ['+a'], 'never lost');
        assert.deepEqual(c.log.duplicates, []);
        // a checkpoint applied without an answer, then a renewal
        const checkpoint = t.checkpoint.bind(t);
        t.checkpoint = async (...args: Parameters<typeof checkpoint>) => { await checkpoint(...args); throw timeout(); };
        await assert.rejects(c.checkpoint('a', '43', 0));
        t.checkpoint = checkpoint;
        assert.equal(t.leases.get('a')!.checkpoint, '43', 'the unanswered checkpoint was applied');
        assert.equal(await c.checkpoint('a', '44', 0), true, 'the next checkpoint goes on from it');
        assert.equal(t.leases.get('a')!.checkpoint, '44');
        assert.deepEqual(c.log.events, ['+a']);
        // with no unanswered write of ours, a counter moved under our own id is another worker with it
        t.bump('a');
        await c.renewAll();
        assert.equal(c.holds('a'), false);
        assert.deepEqual(c.log.events, ['+a', '-a']);
        assert.deepEqual(c.log.duplicates, ['a'], 'a twin with our worker id: reported');
    });

    it('a plain steal (graceful hand-off off) waits the fence time before it emits', async () => {
        const t = new MemoryTable();
        for (const k of ['a', 'b']) await t.create(newLease(k, 'TRIM_HORIZON', { leaseOwner: 'w1', leaseCounter: 1 }));
        const clock = new TestClock();
        const w2 = coordinator(t, 'w2', clock, { gracefulHandOff: false });
        await w2.start();
        w2.halt();
        const [stolen] = [...w2.held.keys()];
        assert.ok(stolen, 'stole one of two');
        assert.equal(w2.canEmit(stolen), false, 'the victim may still emit until its fence runs out');
        clock.advance(w2.fenceMs + 1);
        assert.equal(w2.canEmit(stolen), false, 'and then the steal itself is older than the fence: renew first');
        assert.equal(await w2.confirm(stolen), true);
        assert.equal(w2.canEmit(stolen), true);
    });
});

describe('consumer: hand-off requests', () => {
    /** w1 holds a and b; w2 asks for one of them. */
    async function asked(clock: TestClock) {
        const t = new MemoryTable();
        for (const k of ['a', 'b']) await t.create(newLease(k, 'TRIM_HORIZON'));
        const w1 = coordinator(t, 'w1', clock);
        await w1.start();
        w1.halt();
        const w2 = coordinator(t, 'w2', clock);
        await w2.start();
        w2.halt();
        const pending = [...w2.pendingHandOffs()];
        assert.equal(pending.length, 1, 'one request');
        assert.equal(pending[0][1], 'w1', 'made to w1');
        return { t, w1, w2, key: pending[0][0] };
    }

    it('a live owner that keeps renewing is asked, never overrun (even when it does not answer)', async () => {
        const clock = new TestClock();
        const { t, w1, w2, key } = await asked(clock);
        // (re)start the taker by hand: halt() stopped it
        (w2 as unknown as { running: boolean }).running = true;
        for (let i = 0; i < 12; i++) { // 6 × failover
            clock.advance(FAILOVER / 2);
            await w1.renewAll();
            await w2.runTaker();
        }
        (w2 as unknown as { running: boolean }).running = false;
        assert.equal(t.leases.get(key)!.leaseOwner, 'w1', 'still w1\'s');
        assert.equal(w2.holds(key), false);
        assert.deepEqual(w1.log.handOffs, [`${key}->w2`], 'w1 was asked (its handler did not answer)');
        assert.deepEqual(w1.log.events.filter((e) => e.startsWith('-')), [], 'w1 lost nothing');
    });

    it('a change of owner voids the request: the new owner is not overrun', async () => {
        const clock = new TestClock();
        const { t, w2, key } = await asked(clock);
        t.bump(key, 'w3'); // w3 took it (w1 expired, say): the request was w1's
        (w2 as unknown as { running: boolean }).running = true;
        for (let i = 0; i < 8; i++) {
            clock.advance(FAILOVER / 2);
            t.bump(key); // w3 renews
            await w2.runTaker();
            assert.notEqual(t.leases.get(key)!.leaseOwner, 'w2', `pass ${i}: w2 never takes w3's lease`);
        }
        (w2 as unknown as { running: boolean }).running = false;
        assert.equal(w2.pendingHandOffs().has(key), false, 'voided');
        assert.equal(t.leases.get(key)!.leaseOwner, 'w3');
    });

    it('an owner that stops renewing loses the lease by expiry, after the failover time', async () => {
        const clock = new TestClock();
        const { t, w2, key } = await asked(clock);
        (w2 as unknown as { running: boolean }).running = true;
        await w2.runTaker();
        assert.equal(w2.holds(key), false, 'not before the failover time');
        clock.advance(FAILOVER + 1);
        await w2.runTaker();
        (w2 as unknown as { running: boolean }).running = false;
        assert.equal(t.leases.get(key)!.leaseOwner, 'w2');
        assert.equal(w2.holds(key), true);
    });
});

describe('consumer: stable worker id', () => {
    it('a restarted instance with the same worker id takes its leases back at once (no failover wait)', async () => {
        const t = new MemoryTable();
        for (const k of ['a', 'b', 'c', 'd']) await t.create(newLease(k, 'TRIM_HORIZON'));
        const clock = new TestClock();
        const first = coordinator(t, 'node-1', clock);
        const other = coordinator(t, 'node-2', clock);
        await first.start();
        first.halt(); // killed: its leases stay owned by node-1
        for (const k of ['c', 'd']) t.bump(k, 'node-2'); // node-2 runs with the other two
        other.halt();
        const restarted = coordinator(t, 'node-1', clock);
        await restarted.start(); // no clock advance: within the failover time
        restarted.halt();
        assert.deepEqual([...restarted.held.keys()].sort(), ['a', 'b']);
        assert.equal(restarted.canEmit('a'), true, 'emits at once: the old process is gone');
    });

    it('two live instances with the same worker id: the one that loses a lease says so and stops taking that id\'s leases at once', async () => {
        const t = new MemoryTable();
        for (const k of ['a', 'b']) await t.create(newLease(k, 'TRIM_HORIZON'));
        const clock = new TestClock();
        const x = coordinator(t, 'same', clock);
        await x.start();
        x.halt();
        const y = coordinator(t, 'same', clock);
        await y.start(); // takes both "back"
        y.halt();
        assert.equal(y.held.size, 2);
        await x.renewAll();
        assert.equal(x.held.size, 0, 'x lost both');
        assert.ok(x.log.duplicates.length > 0, 'duplicate worker id reported');
        assert.equal(x.duplicateId, true);
        (x as unknown as { running: boolean }).running = true;
        await x.runTaker();
        (x as unknown as { running: boolean }).running = false;
        assert.equal(x.held.size, 0, 'does not take them back while the other instance renews');
    });
});

describe('consumer: worker id setting', () => {
    const env: Record<string, string> = { HOST_ID: 'pod-3', EMPTY: '' };
    const lookup = (n: string) => env[n];

    it('empty = a random id per start (hostname + random), not stable', () => {
        const a = resolveWorkerId('', lookup);
        const b = resolveWorkerId('  ', lookup);
        assert.ok('id' in a && 'id' in b);
        assert.equal(a.stable, false);
        assert.notEqual(a.id, b.id);
    });

    it('a literal, or ${NAME} parts from the environment, is a stable id', () => {
        assert.deepEqual(resolveWorkerId('worker-1', lookup), { id: 'worker-1', stable: true });
        assert.deepEqual(resolveWorkerId('${HOST_ID}', lookup), { id: 'pod-3', stable: true });
        assert.deepEqual(resolveWorkerId('tb-${ HOST_ID }-in', lookup), { id: 'tb-pod-3-in', stable: true });
    });

    it('a variable not set or empty is an error (a literal ${NAME} would give every instance the same id)', () => {
        assert.deepEqual(resolveWorkerId('${NOPE}', lookup), { error: 'worker id: environment variable NOPE is not set' });
        assert.deepEqual(resolveWorkerId('x-${EMPTY}', lookup), { error: 'worker id: environment variable EMPTY is not set' });
    });

    it('refuses ids too long or with control characters; long untrusted text is checked in linear time', () => {
        assert.ok('error' in resolveWorkerId('x'.repeat(MAX_WORKER_ID_LENGTH + 1), lookup));
        assert.ok('error' in resolveWorkerId('a\nb', lookup));
        // 100 000 characters of unclosed `${`: refused (too long); the pattern cannot backtrack
        assert.deepEqual(resolveWorkerId('${'.repeat(50_000), lookup), { error: `worker id: longer than ${MAX_WORKER_ID_LENGTH} characters` });
    });
});
