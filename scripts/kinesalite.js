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
const { spawn } = require('node:child_process');
const path = require('node:path');
const { freePort } = require('./local-stack');

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

async function call(endpoint, target, body) {
    const res = await fetch(endpoint, {
        method: 'POST',
        headers: {
            'content-type': 'application/x-amz-json-1.1',
            'x-amz-target': `Kinesis_20131202.${target}`,
            authorization: 'AWS4-HMAC-SHA256 Credential=local/20200101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=0',
            'x-amz-date': '20200101T000000Z',
        },
        body: JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : {} };
}

/**
 * Options: streams ("name:shards,…"), port (0 = free), nodeArgs (e.g. ['--max-old-space-size=4096'] for
 * a large backlog), readyTimeoutMs. Resolves to { endpoint, port, child, createStream(name, shards), stop() }.
 */
async function startKinesalite(options = {}) {
    const port = options.port || await freePort();
    const cli = path.join(path.dirname(require.resolve('kinesalite/package.json')), 'cli.js');
    const child = spawn(process.execPath, [...(options.nodeArgs || []), cli, '--port', String(port),
        '--createStreamMs', '0', '--deleteStreamMs', '0', '--updateStreamMs', '0', '--shardLimit', '1000'], {
        stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines = [];
    const keep = (c) => { lines.push(c.toString()); if (lines.length > 50) lines.shift(); };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const reap = () => { if (child.exitCode === null && child.signalCode === null) { try { child.kill('SIGKILL'); } catch (_) { /* gone */ } } };
    process.once('exit', reap);
    child.once('exit', () => process.removeListener('exit', reap));
    const endpoint = `http://127.0.0.1:${port}`;
    const stop = () => new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const timer = setTimeout(() => { try { child.kill('SIGKILL'); } catch (_) { /* gone */ } }, 2000);
        child.once('exit', () => { clearTimeout(timer); resolve(); });
        child.kill('SIGTERM');
    });
    const deadline = Date.now() + (options.readyTimeoutMs || 60_000);
    const until = async (what, check) => {
        for (;;) {
            if (child.exitCode !== null) throw new Error(`kinesalite exited with code ${child.exitCode}: ${lines.join('')}`);
            try { if (await check()) return; } catch (_) { /* not yet */ }
            if (Date.now() > deadline) throw new Error(`kinesalite: ${what} not ready in time: ${lines.join('')}`);
            await sleep(100);
        }
    };
    const createStream = async (name, shards) => {
        const r = await call(endpoint, 'CreateStream', { StreamName: name, ShardCount: shards });
        if (r.status !== 200 && r.body.__type !== 'ResourceInUseException') throw new Error(`CreateStream ${name}: ${JSON.stringify(r.body)}`);
        await until(`stream ${name}`, async () => (await call(endpoint, 'DescribeStreamSummary', { StreamName: name })).body.StreamDescriptionSummary?.StreamStatus === 'ACTIVE');
    };
    try {
        await until('server', async () => (await call(endpoint, 'ListStreams', {})).status === 200);
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
