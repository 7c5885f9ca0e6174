/**
 * The producer's Kinesis connections go dead without a FIN or RST mid-stream (a NAT or firewall dropping
 * the flow): the PutRecords requests in flight on them never get an answer. The producer's client gives up
 * on them after its socket timeout and the producer sends their records again on new connections: every
 * record is acknowledged and in the stream; the put()s in flight when it happened resolve.
 */
import assert from 'node:assert/strict';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { Producer } from '../../lib/producer/producer';
import { ProducerRecord } from '../../lib/producer/records';
import { Blackhole, localClients, startBlackhole } from '../helpers/blackhole';
import { createStream, localEndpoints, rawKinesis, uniqueName } from '../helpers/stack';
import { readAll } from './producer-helpers';

describe('producer: Kinesis connections that go dead mid-stream', function () {
    this.timeout(120_000);
    let hole: Blackhole | undefined;
    let raw: KinesisClient;
    before(() => { raw = rawKinesis(); });
    after(async () => {
        await hole?.close();
        raw.destroy();
    });

    it('requests without an answer are sent again on new connections after the socket timeout: every record written', async () => {
        const stream = uniqueName('out-dead');
        await createStream(stream, 2);
        hole = await startBlackhole(localEndpoints().kinesis);
        const clients = localClients({ kinesisEndpoint: hole.url, producerSocketTimeoutMs: 1000 });
        const p = new Producer({ client: clients.producerKinesis, lingerMs: 20 });
        const mk = (prefix: string, n: number): ProducerRecord[] => Array.from({ length: n }, (_, i) => ({ streamName: stream, data: Buffer.from(`${prefix}${i}`), partitionKey: `k${i % 16}` }));
        await p.put(mk('a', 50));
        // the next puts go out, and every connection open now goes silent while they are on their way
        const pending = [p.put(mk('b', 50)), p.put(mk('c', 50))];
        const silenced = hole.silence();
        assert.ok(silenced > 0, 'the producer had connections open');
        pending.push(p.put(mk('d', 50)));
        const results = await Promise.all(pending);
        assert.equal(results.flat().length, 150, 'every put in flight resolved');
        const stored = new Set((await readAll(raw, stream)).map((r) => Buffer.from(r.Data!).toString('utf8')));
        for (const prefix of ['a', 'b', 'c', 'd']) for (let i = 0; i < 50; i++) assert.ok(stored.has(`${prefix}${i}`), `${prefix}${i} written`);
        assert.ok(hole.connections > silenced, 'new connections were opened');
        await p.close();
        clients.destroy();
    });
});
