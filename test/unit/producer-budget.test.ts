/**
 * One retry budget (issue 14 part 3), counted at a loopback stub (HTTP requests as they arrive):
 * the producer's client makes one attempt per call, so a record costs at most 1 + maxRetries
 * requests; the readers' client keeps the SDK's 3 attempts per call.
 */
import assert from 'node:assert/strict';
import { ListStreamsCommand } from '@aws-sdk/client-kinesis';
import { AwsClients, createAwsClients } from '../../lib/aws/clients';
import { Producer, ProducerError } from '../../lib/producer/producer';
import { jsonError, startStub, Stub } from '../helpers/aws-stub';

describe('retry budget per caller (loopback stub)', function () {
    let stub: Stub | undefined;
    let clients: AwsClients | undefined;
    afterEach(async () => {
        clients?.destroy();
        clients = undefined;
        await stub?.close();
        stub = undefined;
    });
    function connect(url: string): AwsClients {
        clients = createAwsClients({ region: 'us-east-1', kinesisEndpoint: url, env: {}, credentialMode: 'static', accessKeyId: 'AKIDBUDGET', secretAccessKey: 'budget-secret' });
        return clients;
    }
    const puts = () => stub!.requests.filter((r) => r.target === 'Kinesis_20131202.PutRecords').length;

    for (const maxRetries of [0, 2, 8]) {
        it(`a request failing as a whole (500) costs exactly 1 + maxRetries = ${1 + maxRetries} HTTP requests`, async function () {
            stub = await startStub(() => jsonError('InternalFailure', 'boom', 500));
            const c = connect(stub.url);
            const p = new Producer({ client: c.producerKinesis, lingerMs: 0, maxRetries, baseBackoffMs: 1, maxBackoffMs: 2 });
            await assert.rejects(p.put([{ streamName: 's', data: Buffer.from('x'), partitionKey: 'k' }]), (e: Error) => e instanceof ProducerError && e.failures[0].attempts === 1 + maxRetries);
            assert.equal(puts(), 1 + maxRetries);
            await p.close(100);
        });
    }

    it('entries rejected inside a 200 answer (throttled) cost exactly 1 + maxRetries requests', async function () {
        stub = await startStub((r) => ({
            status: 200,
            body: { FailedRecordCount: 1, Records: [{ ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: `Rate exceeded (${r.target})` }] },
            headers: { 'content-type': 'application/x-amz-json-1.1' },
        }));
        const c = connect(stub.url);
        const p = new Producer({ client: c.producerKinesis, lingerMs: 0, maxRetries: 3, baseBackoffMs: 1, maxBackoffMs: 2 });
        await assert.rejects(p.put([{ streamName: 's', data: Buffer.from('x'), partitionKey: 'k' }]), /gave up after 4 attempts/);
        assert.equal(puts(), 4);
        await p.close(100);
    });

    it('the readers\' client (kinesis) keeps the SDK retries: 3 attempts for one call', async function () {
        stub = await startStub(() => jsonError('InternalFailure', 'boom', 500));
        const c = connect(stub.url);
        await assert.rejects(c.kinesis.send(new ListStreamsCommand({})));
        assert.equal(stub.requests.length, 3);
        assert.notEqual(c.producerKinesis, c.kinesis);
        assert.equal(c.producerKinesis, c.producerKinesis, 'one producer client per connection');
    });
});
