#!/usr/bin/env node
'use strict';
/**
 * The embedded local stack: kinesis-local (Kinesis API) and dynalite (DynamoDB API), both from npm,
 * on loopback. Used by `npm start`, by the test setup (dynamic ports) and on its own:
 *
 *   node scripts/local-stack.js            # Kinesis on 127.0.0.1:4568, DynamoDB on 127.0.0.1:4569
 *   KINESIS_PORT=0 DYNAMODB_PORT=0 node scripts/local-stack.js   # any free ports
 *
 * Env: KINESIS_PORT (4568), KINESIS_TLS_PORT (KINESIS_PORT-1, or free), DYNAMODB_PORT (4569),
 *      LOCAL_STREAMS ("my-thingsboard:1,tb-test-downlink:1"), LOCAL_REGION (us-east-1),
 *      LOCAL_STACK_DATA (a directory: keep streams, records and tables there across restarts;
 *      unset = in memory, forgotten on stop).
 * Both servers listen on 127.0.0.1 only (kinesis-local's plain and TLS ports included).
 * Ctrl-C (SIGINT/SIGTERM) stops both servers.
 */
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');

const DEFAULT_STREAMS = 'my-thingsboard:1,tb-test-downlink:1';
const DEFAULT_REGION = 'us-east-1';

/**
 * `count` distinct free loopback ports. All are held open until every one is found, so two calls in a
 * row can't hand out the same port (kinesis-local needs two: plain and TLS).
 */
function freePorts(count) {
    const servers = [];
    const listenOne = () => new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.unref();
        srv.on('error', reject);
        srv.listen(0, '127.0.0.1', () => { servers.push(srv); resolve(srv.address().port); });
    });
    const closeAll = () => Promise.all(servers.map((srv) => new Promise((r) => srv.close(() => r()))));
    return (async () => {
        try {
            const ports = [];
            for (let i = 0; i < count; i++) ports.push(await listenOne());
            return ports;
        } finally {
            await closeAll();
        }
    })();
}

async function freePort() {
    return (await freePorts(1))[0];
}

function portOpen(port) {
    return new Promise((resolve) => {
        const sock = net.connect({ port, host: '127.0.0.1' });
        sock.once('connect', () => { sock.destroy(); resolve(true); });
        sock.once('error', () => resolve(false));
    });
}

function wantsAnyPort(wanted) {
    return wanted === undefined || wanted === null || wanted === '' || Number(wanted) === 0;
}

/** A fixed port that must be free, or one from `pool` (ports reserved together by freePorts). */
async function pickPort(wanted, pool) {
    if (wantsAnyPort(wanted)) return pool.shift();
    const port = Number(wanted);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`invalid port "${wanted}"`);
    if (await portOpen(port)) {
        throw new Error(`port ${port} on 127.0.0.1 is already in use (another local stack or Node-RED running?); set another port`);
    }
    return port;
}

function pkgDir(name) {
    return path.dirname(require.resolve(`${name}/package.json`));
}

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

/** Signed-or-not HTTP POST with the Kinesis/DynamoDB JSON protocol, no SDK needed here. */
async function awsJson(endpoint, target, body, contentType) {
    const res = await fetch(endpoint, {
        method: 'POST',
        headers: {
            'content-type': contentType,
            'x-amz-target': target,
            // both servers accept any signature; a syntactically valid one keeps them quiet
            authorization: 'AWS4-HMAC-SHA256 Credential=local/20200101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=0',
            'x-amz-date': '20200101T000000Z',
        },
        body: JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : {} };
}

function spawnServer(name, args, env, log, detached) {
    const child = spawn(process.execPath, args, {
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
        // its own process group: a terminal's Ctrl-C reaches only the caller, which stops it in order
        detached: !!detached,
    });
    const lines = [];
    const keep = (chunk) => {
        const s = chunk.toString();
        lines.push(s);
        if (lines.length > 50) lines.shift();
        if (log) log(`[${name}] ${s.trimEnd()}`);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.recentOutput = () => lines.join('');
    // never leave a server behind when the process that started it exits without stopping it
    const reap = () => { if (child.exitCode === null && child.signalCode === null) { try { child.kill('SIGKILL'); } catch (_) { /* gone */ } } };
    process.once('exit', reap);
    child.once('exit', () => process.removeListener('exit', reap));
    return child;
}

async function waitFor(what, check, child, timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    let lastErr;
    while (Date.now() < deadline) {
        if (child.exitCode !== null) {
            throw new Error(`${what} exited with code ${child.exitCode}:\n${child.recentOutput()}`);
        }
        try {
            if (await check()) return;
        } catch (err) {
            lastErr = err;
        }
        await sleep(200);
    }
    throw new Error(`${what} did not become ready in ${timeoutMs} ms: ${lastErr ? lastErr.message : ''}\n${child.recentOutput()}`);
}

/** Stops a child: `signal` (default SIGTERM), then SIGKILL after `graceMs` (default 1 s). */
function stopChild(child, signal = 'SIGTERM', graceMs = 1000) {
    return new Promise((resolve) => {
        if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
        const timer = setTimeout(() => { try { child.kill('SIGKILL'); } catch (_) { /* gone */ } }, graceMs);
        child.once('exit', () => { clearTimeout(timer); resolve(); });
        try { child.kill(signal); } catch (_) { clearTimeout(timer); resolve(); }
    });
}

/**
 * Starts kinesis-local and dynalite. Options (all optional):
 *  kinesisPort, kinesisTlsPort, dynamodbPort (0 = any free port), streams ("name:shards,..."),
 *  region, log (function for server output), readyTimeoutMs,
 *  dataDir (persist both servers' data there across restarts; default in memory),
 *  ownProcessGroup (true: a Ctrl-C in the terminal does not reach the servers; the caller stops them
 *  with stop(), after whatever still writes to them — `npm start` stops Node-RED first),
 *  pushTickMs (the benchmark only: kinesis-local looks for new records to push to a SubscribeToShard
 *  subscription every pushTickMs instead of once a second — scripts/kinesis-local-push-tick.js).
 * Resolves to { kinesisEndpoint, dynamodbEndpoint, region, kinesisPort, kinesisTlsPort, dynamodbPort, env, stop() }
 * (kinesis-local also serves HTTPS, self-signed, on kinesisTlsPort).
 */
async function startLocalStack(options = {}) {
    const region = options.region || DEFAULT_REGION;
    const streams = options.streams !== undefined ? options.streams : DEFAULT_STREAMS;
    const requested = [options.kinesisPort, options.kinesisTlsPort !== undefined ? options.kinesisTlsPort : 0, options.dynamodbPort];
    const pool = await freePorts(requested.filter(wantsAnyPort).length);
    const kinesisPort = await pickPort(requested[0], pool);
    const kinesisTlsPort = await pickPort(requested[1], pool);
    const dynamodbPort = await pickPort(requested[2], pool);
    const readyTimeoutMs = options.readyTimeoutMs || 60_000;

    const kDir = pkgDir('kinesis-local');
    const dataDir = options.dataDir ? path.resolve(options.dataDir) : undefined;
    if (dataDir) fs.mkdirSync(path.join(dataDir, 'dynamodb'), { recursive: true });
    const persist = dataDir ? {
        SHOULD_PERSIST_DATA: 'true',
        LOAD_DATA_IF_EXISTS: 'true',
        PERSIST_PATH: dataDir,
        PERSIST_FILE_NAME: 'kinesis-data.json',
        PERSIST_INTERVAL: '1s',
    } : { SHOULD_PERSIST_DATA: 'false', LOAD_DATA_IF_EXISTS: 'false' };
    const pushTick = options.pushTickMs !== undefined ? ['--require', path.join(__dirname, 'kinesis-local-push-tick.js')] : [];
    const kinesis = spawnServer('kinesis-local', ['--require', path.join(__dirname, 'loopback-only.js'), ...pushTick, path.join(kDir, 'main.js')], {
        ...persist,
        ...(options.pushTickMs !== undefined ? { KINESIS_LOCAL_PUSH_TICK_MS: String(options.pushTickMs) } : {}),
        KINESIS_MOCK_CERT_PATH: path.join(kDir, 'server.json'),
        KINESIS_MOCK_PLAIN_PORT: String(kinesisPort),
        KINESIS_MOCK_TLS_PORT: String(kinesisTlsPort),
        INITIALIZE_STREAMS: streams,
        AWS_REGION: region,
        LOG_LEVEL: options.logLevel || 'WARN',
        // resharding and consumer registration fast enough for tests and a laptop demo
        SHARD_LIMIT: '1000', // open shards per run (default 50): many test streams, one stack
        SPLIT_SHARD_DURATION: '200ms',
        MERGE_SHARDS_DURATION: '200ms',
        UPDATE_SHARD_COUNT_DURATION: '200ms',
        REGISTER_STREAM_CONSUMER_DURATION: '200ms',
        CREATE_STREAM_DURATION: '200ms',
    }, options.log, options.ownProcessGroup);
    const dynalite = spawnServer('dynalite', [path.join(pkgDir('dynalite'), 'cli.js'), '--port', String(dynamodbPort), '--host', '127.0.0.1',
        ...(dataDir ? ['--path', path.join(dataDir, 'dynamodb')] : []), '--createTableMs', '0', '--deleteTableMs', '0', '--updateTableMs', '0'], {}, options.log, options.ownProcessGroup);

    const kinesisEndpoint = `http://127.0.0.1:${kinesisPort}`;
    const dynamodbEndpoint = `http://127.0.0.1:${dynamodbPort}`;
    const stop = async () => { await Promise.all([stopChild(kinesis), stopChild(dynalite)]); };
    try {
        const wanted = streams ? streams.split(',').map((s) => s.split(':')[0]).filter(Boolean) : [];
        await waitFor('kinesis-local', async () => {
            if (wanted.length === 0) {
                const r = await awsJson(kinesisEndpoint, 'Kinesis_20131202.ListStreams', {}, 'application/x-amz-json-1.1');
                return r.status === 200;
            }
            for (const name of wanted) {
                const r = await awsJson(kinesisEndpoint, 'Kinesis_20131202.DescribeStreamSummary', { StreamName: name }, 'application/x-amz-json-1.1');
                if (r.status !== 200 || r.body.StreamDescriptionSummary.StreamStatus !== 'ACTIVE') return false;
            }
            return true;
        }, kinesis, readyTimeoutMs);
        await waitFor('dynalite', async () => {
            const r = await awsJson(dynamodbEndpoint, 'DynamoDB_20120810.ListTables', {}, 'application/x-amz-json-1.0');
            return r.status === 200;
        }, dynalite, readyTimeoutMs);
    } catch (err) {
        await stop();
        throw err;
    }
    return {
        region,
        kinesisPort,
        kinesisTlsPort,
        dynamodbPort,
        kinesisEndpoint,
        dynamodbEndpoint,
        /** The standard AWS env vars that point an SDK (and this package) at the stack. */
        env: {
            AWS_REGION: region,
            AWS_DEFAULT_REGION: region, // AWS CLI v1 reads only this one
            AWS_ACCESS_KEY_ID: 'local',
            AWS_SECRET_ACCESS_KEY: 'local',
            AWS_ENDPOINT_URL_KINESIS: kinesisEndpoint,
            AWS_ENDPOINT_URL_DYNAMODB: dynamodbEndpoint,
            AWS_EC2_METADATA_DISABLED: 'true',
        },
        processes: { kinesis, dynalite },
        stop,
    };
}

module.exports = { startLocalStack, freePort, freePorts, DEFAULT_STREAMS, DEFAULT_REGION, spawnServer, waitFor, stopChild, awsJson };

if (require.main === module) {
    const env = process.env;
    startLocalStack({
        kinesisPort: env.KINESIS_PORT !== undefined ? env.KINESIS_PORT : 4568,
        kinesisTlsPort: env.KINESIS_TLS_PORT !== undefined ? env.KINESIS_TLS_PORT : 0,
        dynamodbPort: env.DYNAMODB_PORT !== undefined ? env.DYNAMODB_PORT : 4569,
        streams: env.LOCAL_STREAMS !== undefined ? env.LOCAL_STREAMS : DEFAULT_STREAMS,
        region: env.LOCAL_REGION,
        dataDir: env.LOCAL_STACK_DATA || undefined,
        ownProcessGroup: true,
    }).then((stack) => {
        console.log(`Kinesis  (kinesis-local): ${stack.kinesisEndpoint}`);
        console.log(`DynamoDB (dynalite):      ${stack.dynamodbEndpoint}`);
        console.log('Point an AWS SDK or CLI at it with:');
        for (const [k, v] of Object.entries(stack.env)) console.log(`  export ${k}=${v}`);
        console.log('Ctrl-C stops both.');
        const shutdown = () => { stack.stop().then(() => process.exit(0)); };
        process.on('SIGINT', shutdown);
        process.on('SIGTERM', shutdown);
    }).catch((err) => {
        console.error(`local stack failed to start: ${err.message}`);
        process.exit(1);
    });
}
