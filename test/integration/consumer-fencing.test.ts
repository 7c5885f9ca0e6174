/**
 * The fence on the emit path, in one process on the local stack: a worker whose lease renewals stop
 * (its coordinator halted: what a stall looks like to the others) while a batch it read waits to be
 * delivered. Once another worker took the lease, that batch is dropped, not emitted; when nobody took
 * it, the worker renews first and goes on.
 */
import assert from 'node:assert/strict';
import { uniqueName, waitFor, sleep } from '../helpers/stack';
import { createPollingReader } from '../../lib/consumer/polling';
import type { ShardReaderFactory } from '../../lib/consumer/reader';
import { collectingConsumer, putRecords, Collected, createTestStream, deleteTestStreams } from './consumer-helpers';

/** A polling reader whose batches with records wait while the gate is closed (read, not yet delivered). */
function gatedReader() {
    let open!: () => void;
    const gate = { closed: false, waiting: 0, opened: Promise.resolve() };
    const factory: ShardReaderFactory = (opts) => {
        const r = createPollingReader(opts);
        return {
            shardId: r.shardId,
            async next() {
                const b = await r.next();
                if (gate.closed && b.records.length) {
                    gate.waiting++;
                    await gate.opened;
                }
                return b;
            },
            close: () => r.close(),
        };
    };
    return {
        factory,
        gate,
        close(): void {
            gate.closed = true;
            gate.opened = new Promise<void>((r) => { open = r; });
        },
        open(): void {
            gate.closed = false;
            open();
        },
    };
}

describe('consumer: fencing (kinesis-local + dynalite)', function () {
    this.timeout(90_000);
    const running: Collected[] = [];
    afterEach(async () => {
        for (const c of running.splice(0)) c.consumer.crash();
    });
    afterEach(deleteTestStreams);

    async function stalledWithABatch(stream: string) {
        await createTestStream(stream, 1);
        const g = gatedReader();
        const a = collectingConsumer(stream, stream, { workerId: 'A', readerFactory: g.factory });
        running.push(a);
        await a.consumer.start();
        const first = await putRecords(stream, 'f', 20, 4);
        await waitFor('A delivered the first records', () => first.every((id) => a.ids.has(id)));
        g.close();
        const second = await putRecords(stream, 's', 30, 4, undefined, 1000);
        await waitFor('A read a batch that now waits', () => g.gate.waiting > 0);
        a.consumer.coordinator.halt(); // renewals stop: the stall as the others see it
        return { a, g, second, shown: a.records.length };
    }

    it('a batch read before the lease was taken by another worker is dropped, not emitted', async () => {
        const stream = uniqueName('cf-lost');
        const { a, g, second, shown } = await stalledWithABatch(stream);
        const b = collectingConsumer(stream, stream, { workerId: 'B' });
        running.push(b);
        await b.consumer.start();
        await waitFor('B took the expired lease', () => b.consumer.shardIds().length === 1, 30_000);
        g.open();
        await waitFor('A dropped what it had read', () => a.consumer.metrics().fenceDropped > 0 || a.consumer.shardIds().length === 0, 30_000);
        await waitFor('B delivered the second batch', () => second.every((id) => b.ids.has(id)), 30_000);
        await sleep(300); // give a zombie the chance to show itself
        assert.equal(a.records.length, shown, 'A emitted nothing after the stall');
        assert.ok(a.consumer.metrics().fenceDropped >= 1, `dropped: ${a.consumer.metrics().fenceDropped}`);
        assert.ok(a.events.includes('lost:' + b.consumer.shardIds()[0]), 'A reported the lease lost');
    });

    it('after a stall nobody used, the worker renews first and delivers the batch', async () => {
        const stream = uniqueName('cf-kept');
        const { a, g, second } = await stalledWithABatch(stream);
        const lease = a.consumer.coordinator.lease(a.consumer.shardIds()[0])!;
        // past the fence by the worker's own clocks (failover 1500 ms in these tests)
        await waitFor('the lease is stale', () => !a.consumer.coordinator.canEmit(lease.leaseKey), 10_000);
        g.open();
        await waitFor('A delivered the batch', () => second.every((id) => a.ids.has(id)), 30_000);
        const now = a.consumer.coordinator.lease(lease.leaseKey)!;
        assert.ok(now.leaseCounter > lease.leaseCounter, 'renewed before emitting');
        assert.equal(a.consumer.metrics().fenceDropped, 0);
    });
});
