/**
 * An https:// endpoint override that is not AWS's own: kinesis-local's HTTPS port (self-signed
 * certificate). Untrusted, every call fails in words saying what to do; trusted, the clients work
 * over HTTP/1.1 (kinesis-local garbles some HTTP/2 answers), SubscribeToShard (EFO) included.
 */
import assert from 'node:assert/strict';
import { ListStreamsCommand } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { AwsClients, createAwsClients } from '../../lib/aws/clients';
import { explainAwsError } from '../../lib/aws/errors';
import { localEndpoints, uniqueName, waitFor } from '../helpers/stack';
import { collectingConsumer, createTestStream, putRecords, deleteTestStreams } from './consumer-helpers';

describe('https:// endpoint to a local stack (kinesis-local\'s TLS port)', function () {
    this.timeout(60_000);
    let clients: AwsClients | undefined;
    const tls = () => process.env.KINESIS_LOCAL_TLS_ENDPOINT as string;
    const saved = process.env.NODE_TLS_REJECT_UNAUTHORIZED;

    function connect(): AwsClients {
        clients = createAwsClients({ region: localEndpoints().region, kinesisEndpoint: tls(), dynamodbEndpoint: localEndpoints().dynamodb, credentialMode: 'static', accessKeyId: 'local', secretAccessKey: 'local', maxAttempts: 1 });
        return clients;
    }

    before(function () {
        if (!process.env.KINESIS_LOCAL_TLS_ENDPOINT) this.skip();
    });
    afterEach(() => {
        clients?.destroy();
        clients = undefined;
        if (saved === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
        else process.env.NODE_TLS_REJECT_UNAUTHORIZED = saved;
    });
    afterEach(deleteTestStreams);

    it('a self-signed certificate is refused and explained: use http://, or trust the certificate', async function () {
        const c = connect();
        assert.ok(c.kinesis.config.requestHandler instanceof NodeHttpHandler, 'HTTP/1.1 to a non-AWS https endpoint');
        const err = await c.kinesis.send(new ListStreamsCommand({})).then(() => undefined, (e: unknown) => e);
        assert.ok(err, 'the call fails');
        const e = explainAwsError(err, { endpoint: tls() });
        assert.equal(e.status, 'untrusted certificate');
        assert.match(e.message, /TLS certificate is not trusted \(self-signed certificate\).*http:\/\/ endpoint.*NODE_EXTRA_CA_CERTS/);
    });

    it('with the certificate trusted, polling and Enhanced Fan-Out both read every record', async function () {
        // what a user does for a self-signed local stack (this process only, this test only)
        process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
        const c = connect();
        const out = await c.kinesis.send(new ListStreamsCommand({}));
        assert.ok(out.StreamNames?.includes('my-thingsboard'));
        for (const readMode of ['polling', 'efo'] as const) {
            const stream = uniqueName(`https-${readMode}`);
            await createTestStream(stream, 1);
            const ids = await putRecords(stream, readMode, 20);
            const col = collectingConsumer(stream, stream, { kinesis: c.kinesis, readMode, consumerName: `${stream}-app` });
            try {
                await col.consumer.start();
                await waitFor(`every record over https (${readMode})`, () => ids.every((id) => col.ids.has(id)), 30_000);
            } finally {
                col.consumer.crash();
            }
        }
    });
});
