/**
 * A DynamoDB connection that goes dead without a FIN or RST (a NAT or firewall dropping an idle flow): the
 * lease writes in flight on it never get an answer. The DynamoDB client of createAwsClients gives up on
 * such a call after its socket timeout and the SDK retries it on a new connection, so the consumer keeps
 * renewing, reading and checkpointing. Without that timeout the lease's write chain would wait forever
 * and the shard would stop (the fence) — for good.
 */
import assert from 'node:assert/strict';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { LeaseTable } from '../../lib/consumer/lease-table';
import { Blackhole, localClients, startBlackhole } from '../helpers/blackhole';
import { localEndpoints, rawDynamo, sleep, uniqueName, waitFor } from '../helpers/stack';
import { collectingConsumer, createTestStream, deleteTestStreams, putRecords } from './consumer-helpers';
import type { KinesisConsumer } from '../../lib/consumer/consumer';
import { createServer, Server, Socket } from 'node:net';

describe('consumer: a DynamoDB connection that goes dead mid-stream', function () {
    this.timeout(120_000);
    let hole: Blackhole | undefined;
    const running: KinesisConsumer[] = [];
    afterEach(async () => {
        for (const c of running.splice(0)) c.crash();
        await hole?.close();
        hole = undefined;
    });
    afterEach(deleteTestStreams);

    const clientsVia = (dynamodbEndpoint: string, dynamodbSocketTimeoutMs?: number) => localClients({
        dynamodbEndpoint, maxAttempts: 1, ...(dynamodbSocketTimeoutMs ? { dynamodbSocketTimeoutMs } : {}),
    });

    it('a call to a server that accepts and never answers fails with a TimeoutError after the socket timeout', async () => {
        const sockets = new Set<Socket>();
        const silent: Server = createServer((s) => { sockets.add(s); s.on('error', () => undefined); });
        await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
        const port = (silent.address() as { port: number }).port;
        const clients = clientsVia(`http://127.0.0.1:${port}`, 300);
        try {
            await assert.rejects(clients.dynamodb.send(new ListTablesCommand({})), (err: Error) => err.name === 'TimeoutError');
        } finally {
            clients.destroy();
            for (const s of sockets) s.destroy();
            await new Promise<void>((r) => silent.close(() => r()));
        }
    });

    it('keeps reading when its Kinesis connections go silent for good (the readers\' client times the calls out)', async () => {
        const stream = uniqueName('cin-deadk');
        await createTestStream(stream, 2);
        hole = await startBlackhole(localEndpoints().kinesis);
        const clients = localClients({ kinesisEndpoint: hole.url, kinesisSocketTimeoutMs: 1000 });
        const first = await putRecords(stream, 'a', 40);
        const col = collectingConsumer(stream, stream, { kinesis: clients.kinesis, failoverTimeMs: 6000 });
        running.push(col.consumer);
        await col.consumer.start();
        await waitFor('the first records', () => first.every((id) => col.ids.has(id)), 30_000);
        const silenced = hole.silence();
        assert.ok(silenced > 0, 'the consumer had Kinesis connections open');
        const second = await putRecords(stream, 'b', 40);
        // well before the reader's watchdog (60 s): the socket timeout ends the hung GetRecords
        await waitFor('the records put after the connections died', () => second.every((id) => col.ids.has(id)), 20_000);
        assert.ok(hole.dropped > 0, 'calls were sent on the dead connections');
        clients.destroy();
    });

    it('keeps renewing, reading and checkpointing when its DynamoDB connections go silent for good', async () => {
        const stream = uniqueName('cin-dead');
        await createTestStream(stream, 2);
        hole = await startBlackhole(localEndpoints().dynamodb);
        const clients = clientsVia(hole.url, 1000);
        const first = await putRecords(stream, 'a', 40);
        const col = collectingConsumer(stream, stream, { dynamodb: clients.dynamodb, failoverTimeMs: 6000 });
        running.push(col.consumer);
        await col.consumer.start();
        await waitFor('the first records', () => first.every((id) => col.ids.has(id)), 30_000);
        // every connection to DynamoDB open now goes silent (renewals and checkpoints in flight hang)
        const silenced = hole.silence();
        assert.ok(silenced > 0, 'the consumer had DynamoDB connections open');
        // records keep coming for two failover times: every renewal and checkpoint of that time must land
        const second: string[] = [];
        for (let round = 0; round < 4; round++) {
            second.push(...await putRecords(stream, 'b', 20, 8, undefined, round * 20));
            await sleep(3000);
        }
        await waitFor('the records put after the connections died', () => second.every((id) => col.ids.has(id)), 60_000);
        const table = new LeaseTable(rawDynamo(), stream);
        const last = new Map(col.records.filter((r) => r.id.startsWith('b-')).map((r) => [r.shardId, r.seq]));
        await waitFor('checkpoints at the last records, written over new connections', async () => {
            const leases = await table.list();
            return leases.every((l) => l.leaseOwner === col.consumer.workerId && (!last.has(l.leaseKey) || BigInt(l.checkpoint) >= BigInt(last.get(l.leaseKey)!)));
        }, 60_000, 250);
        assert.ok(hole.connections > silenced, 'new connections were opened');
        assert.ok(hole.dropped > 0, 'calls were sent on the dead connections');
        // the hung calls failed after the socket timeout and the next renewals went over new connections:
        // no lease ran out (without the timeout each lease expires, is taken again and its records since
        // the last checkpoint come twice)
        assert.deepEqual(col.events.filter((e) => e.startsWith('lost:')), [], 'no lease lost');
        const seen = col.records.map((r) => r.id);
        assert.equal(seen.length, new Set(seen).size, 'no record delivered twice');
        clients.destroy();
    });
});
