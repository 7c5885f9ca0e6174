import assert from 'node:assert/strict';
import { nodeRedHelper, nodeModule } from '../helpers/nodered';
import { localEndpoints } from '../helpers/stack';

const helper = nodeRedHelper();
const configNode = nodeModule('kinesis-config');

describe('kinesis-config node (harness smoke)', function () {
    before((done) => { helper.startServer(done); });
    after((done) => { helper.stopServer(done); });
    afterEach(() => helper.unload());

    it('creates clients that reach the local stack through the standard env vars', async function () {
        const flow = [{ id: 'c1', type: 'kinesis-config', name: 'local', region: '', credentialMode: 'chain' }];
        await helper.load(configNode, flow);
        const c1 = helper.getNode('c1');
        const clients = c1.getClients();
        assert.equal(clients.kinesisEndpoint, localEndpoints().kinesis);
        const { ListStreamsCommand } = await import('@aws-sdk/client-kinesis');
        const out = await clients.kinesis.send(new ListStreamsCommand({}));
        assert.ok(out.StreamNames?.includes('my-thingsboard'));
    });
});
