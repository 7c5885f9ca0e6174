'use strict';
/**
 * kinesalite (Kinesis API, from npm, in memory) in a child process on a free loopback port, with streams
 * created and ACTIVE. Used by the benchmarks (`npm run bench`: a polling backend that is not the
 * bottleneck, unlike kinesis-local) and by the integration test that reads from it.
 *
 *   const k = await startKinesalite({ streams: 'bench:4' });  // { endpoint, port, child, stop() }
 *
 * kinesalite does not serve Enhanced Fan-Out (SubscribeToShard): that stays on kinesis-local.
 */
const path = require('node:path');
const { freePort, spawnServer, waitFor, stopChild, awsJson } = require('./local-stack');

const call = (endpoint, target, body) => awsJson(endpoint, `Kinesis_20131202.${target}`, body, 'application/x-amz-json-1.1');

/**
 * Options: streams ("name:shards,…"), port (0 = free), nodeArgs (e.g. ['--max-old-space-size=4096'] for
 * a large backlog), readyTimeoutMs. Resolves to { endpoint, port, child, createStream(name, shards), stop() }.
 */
async function startKinesalite(options = {}) {
    const port = options.port || await freePort();
    const cli = path.join(path.dirname(require.resolve('kinesalite/package.json')), 'cli.js');
    const child = spawnServer('kinesalite', [...(options.nodeArgs || []), cli, '--port', String(port),
        '--createStreamMs', '0', '--deleteStreamMs', '0', '--updateStreamMs', '0', '--shardLimit', '1000'], {});
    const endpoint = `http://127.0.0.1:${port}`;
    const stop = () => stopChild(child, 'SIGTERM', 2000);
    const timeoutMs = options.readyTimeoutMs || 60_000;
    const createStream = async (name, shards) => {
        const r = await call(endpoint, 'CreateStream', { StreamName: name, ShardCount: shards });
        if (r.status !== 200 && r.body.__type !== 'ResourceInUseException') throw new Error(`CreateStream ${name}: ${JSON.stringify(r.body)}`);
        await waitFor(`kinesalite stream ${name}`, async () => (await call(endpoint, 'DescribeStreamSummary', { StreamName: name })).body.StreamDescriptionSummary?.StreamStatus === 'ACTIVE', child, timeoutMs);
    };
    try {
        await waitFor('kinesalite', async () => (await call(endpoint, 'ListStreams', {})).status === 200, child, timeoutMs);
        for (const s of (options.streams || '').split(',').filter(Boolean)) {
            const [name, shards] = s.split(':');
            await createStream(name, Number(shards) || 1);
        }
    } catch (err) {
        await stop();
        throw err;
    }
    return { endpoint, port, child, createStream, stop };
}

module.exports = { startKinesalite };
