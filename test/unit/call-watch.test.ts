/**
 * lib/consumer/call-watch.ts on a real SDK client (createAwsClients) against an HTTP server on loopback that
 * answers when the test says: a call without an answer is counted from its start, across an attempt that got no
 * answer (socket timeout, the SDK's retry); an attempt that got an answer — an error status too — ends the wait (a
 * throttled call backing off is not waiting on the backend); a settled call is gone.
 */
import assert from 'node:assert/strict';
import { ListShardsCommand } from '@aws-sdk/client-kinesis';
import { createAwsClients, AwsClients } from '../../lib/aws/clients';
import { watchCalls } from '../../lib/consumer/call-watch';
import { jsonError, startStub, Stub, StubReply } from '../helpers/aws-stub';
import { waitFor } from '../helpers/stack';

const OK: StubReply = { status: 200, body: { Shards: [] }, headers: { 'content-type': 'application/x-amz-json-1.1' } };

describe('call watch: how long the oldest call without an answer has waited', function () {
    this.timeout(60_000);
    let stub: Stub | undefined;
    let clients: AwsClients | undefined;
    afterEach(async () => {
        clients?.destroy();
        clients = undefined;
        await stub?.close();
        stub = undefined;
    });

    const clientsOn = (url: string, kinesisSocketTimeoutMs: number): AwsClients => createAwsClients({
        region: 'us-east-1', kinesisEndpoint: url, dynamodbEndpoint: url, credentialMode: 'static',
        accessKeyId: 'local', secretAccessKey: 'local', kinesisSocketTimeoutMs,
    });

    it('counts a call from its start until it is answered, then forgets it', async () => {
        let answer!: (r: StubReply) => void;
        stub = await startStub(() => new Promise<StubReply>((r) => { answer = r; }));
        clients = clientsOn(stub.url, 20_000);
        const watch = watchCalls(clients.kinesis);
        assert.equal(watchCalls(clients.kinesis), watch, 'one watch per client');
        assert.equal(watch.oldestMs(), 0, 'nothing waits yet');
        const call = clients.kinesis.send(new ListShardsCommand({ StreamName: 's' }));
        // the server holds its answer: the wait grows
        await waitFor('the wait growing past 300 ms', () => watch.oldestMs() >= 300, 15_000, 10);
        assert.equal(watch.pending, 1, 'one call pending');
        assert.equal(stub.requests.length, 1, 'one attempt, still waiting');
        answer(OK);
        await call;
        assert.equal(watch.pending, 0, 'the settled call is forgotten');
        assert.equal(watch.oldestMs(), 0, 'nothing waits after the answer');
    });

    it('an attempt without an answer (socket timeout, SDK retry) keeps the call\'s first moment', async () => {
        let atSecond = -1;
        stub = await startStub(() => {
            if (stub!.requests.length === 1) return new Promise<StubReply>(() => undefined); // never answers
            atSecond = watch.oldestMs();
            return OK;
        });
        clients = clientsOn(stub.url, 300);
        const watch = watchCalls(clients.kinesis);
        await clients.kinesis.send(new ListShardsCommand({ StreamName: 's' }));
        assert.equal(stub.requests.length, 2, 'the SDK tried again after the socket timeout');
        // the first attempt waited at least the socket timeout without a byte: the wait goes on across the retry
        assert.ok(atSecond >= 300, `still waiting since the call's start at the second attempt: ${atSecond} ms`);
        assert.equal(watch.oldestMs(), 0);
    });

    it('an attempt that got an answer (a throttling error) ends the wait: the back-off and the next attempt count afresh', async () => {
        let atSecond = -1;
        let laterSecond = -1;
        stub = await startStub(async () => {
            if (stub!.requests.length === 1) {
                await new Promise((r) => setTimeout(r, 1000)); // answered after a while (within the socket timeout)
                return jsonError('ThrottlingException', 'slow down');
            }
            atSecond = watch.oldestMs();
            await new Promise((r) => setTimeout(r, 400)); // the second attempt waits for its answer: counted again
            laterSecond = watch.oldestMs();
            return OK;
        });
        clients = clientsOn(stub.url, 20_000);
        const watch = watchCalls(clients.kinesis);
        const t0 = Date.now();
        await clients.kinesis.send(new ListShardsCommand({ StreamName: 's' }));
        const took = Date.now() - t0;
        assert.equal(stub.requests.length, 2, 'the SDK retried the throttled call');
        assert.ok(took >= 1000, `the call took the first answer's 1000 ms and more: ${took}`);
        // counted from the second attempt's start, not the call's (that would be over the first answer's 1000 ms)
        assert.ok(atSecond >= 0 && atSecond < 1000, `waiting since the second attempt only: ${atSecond} ms (call ${took} ms)`);
        assert.ok(laterSecond >= 400 && laterSecond < 1400, `the second attempt without its answer yet is waiting: ${laterSecond} ms`);
    });
});
