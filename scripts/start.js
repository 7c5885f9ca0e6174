#!/usr/bin/env node
'use strict';
/**
 * `npm start`: the embedded local stack (kinesis-local + dynalite) and Node-RED with this package loaded
 * from the working tree and the examples imported, one tab each. Node-RED 5 (devDependency alias
 * `node-red-5`) when this Node.js is >= 22.9, else Node-RED 4.1 (devDependency `node-red`) with a
 * one-line note. The standard AWS env vars point at the local stack, whose data is kept in
 * <userDir>/local-stack/ across restarts.
 * Ctrl-C, or SIGINT/SIGTERM to this process (or to npm running it), stops Node-RED first — it releases
 * its shard leases and writes its checkpoints — and then the local stack (its own process group, so a
 * terminal's Ctrl-C does not kill it under Node-RED's feet).
 *
 * Env: PORT (1880), HOST (127.0.0.1), KINESIS_PORT (4568), DYNAMODB_PORT (4569),
 *      NODE_RED_USER_DIR (.node-red-data), NODE_RED_MAJOR (4 or 5: force that Node-RED).
 * `npm start -- --reset` re-imports the examples (the local stack's data stays; delete
 * <userDir>/local-stack/ to forget it).
 */
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { startLocalStack } = require('./local-stack');
const { workspaceFromExamples } = require('./examples-workspace');

const root = path.resolve(__dirname, '..');
const pkg = require(path.join(root, 'package.json'));

/** Newest modification time of the sources the build turns into dist/. */
function newestSource() {
    let newest = 0;
    const walk = (dir) => {
        if (!fs.existsSync(dir)) return;
        for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
            const p = path.join(dir, e.name);
            if (e.isDirectory()) walk(p);
            else if (/\.(ts|html|json|svg|png)$/.test(e.name)) newest = Math.max(newest, fs.statSync(p).mtimeMs);
        }
    };
    for (const d of ['lib', 'nodes', 'icons']) walk(path.join(root, d));
    return newest;
}

/** `npm install` builds (prepare); rebuild here when dist/ is missing or older than the sources. */
function ensureBuilt() {
    const entry = path.join(root, 'dist', 'nodes', 'kinesis-config', 'kinesis-config.js');
    if (fs.existsSync(entry) && fs.statSync(entry).mtimeMs >= newestSource()) return;
    console.log(fs.existsSync(entry) ? 'Sources changed since the last build: npm run build' : 'dist/ is missing: npm run build');
    const r = spawnSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
    if (r.status !== 0) {
        console.error('The build failed: fix the errors above, or run `npm install` first.');
        process.exit(1);
    }
}


/** Node-RED 5 on Node.js >= 22.9 (Node-RED 5's own requirement), else 4.1; NODE_RED_MAJOR forces one. */
function pickNodeRed() {
    const [major, minor] = process.versions.node.split('.').map(Number);
    const canRun5 = major > 22 || (major === 22 && minor >= 9);
    const forced = process.env.NODE_RED_MAJOR;
    const v4 = { redJs: require.resolve('node-red/red.js'), version: require('node-red/package.json').version };
    if (forced === '4' || (!canRun5 && forced !== '5')) {
        const note = forced === '4' ? '' : `Node-RED ${v4.version}: Node-RED 5 needs Node.js >= 22.9 (this is ${process.version}); Node-RED 4.x support ends 2026-12-31.`;
        return { ...v4, note };
    }
    try {
        return { redJs: require.resolve('node-red-5/red.js'), version: require('node-red-5/package.json').version, note: '' };
    } catch (_) {
        return { ...v4, note: `Node-RED ${v4.version}: Node-RED 5 (devDependency node-red-5) is not installed — run npm install.` };
    }
}

/**
 * The AWS SDK warns on Node.js < 22 (its releases from January 2027 need Node.js 22) at every start.
 * Explained here once per workspace, and the SDK's own warning is turned off for the Node-RED we run.
 */
function explainSdkNodeWarning(userDir) {
    if (Number(process.versions.node.split('.')[0]) >= 22) return {};
    const marker = path.join(userDir, '.aws-sdk-node-warning-explained');
    if (!fs.existsSync(marker)) {
        console.log(`Note: AWS SDK releases from January 2027 need Node.js >= 22 (this is ${process.version}); until then everything works.`);
        console.log('      The SDK would repeat this warning at every start; it is turned off here (AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED).');
        fs.writeFileSync(marker, `explained ${new Date().toISOString()}\n`);
    }
    return { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
}

function prepareUserDir(userDir, reset) {
    fs.mkdirSync(path.join(userDir, 'node_modules', ...pkg.name.split('/').slice(0, -1)), { recursive: true });
    const link = path.join(userDir, 'node_modules', ...pkg.name.split('/'));
    try { fs.rmSync(link, { recursive: true, force: true }); } catch (_) { /* absent */ }
    fs.symlinkSync(root, link, 'dir');
    fs.writeFileSync(path.join(userDir, 'package.json'), JSON.stringify({
        name: 'node-red-kinesis-workspace', private: true, dependencies: { [pkg.name]: `file:${root}` },
    }, null, 2));
    const flowFile = path.join(userDir, 'flows.json');
    if (reset || !fs.existsSync(flowFile)) {
        fs.writeFileSync(flowFile, JSON.stringify(workspaceFromExamples(path.join(root, 'examples')), null, 2));
        console.log(`Imported the examples into ${flowFile}`);
    }
    const settings = path.join(userDir, 'settings.js');
    if (!fs.existsSync(settings)) {
        fs.writeFileSync(settings, [
            "module.exports = {",
            "    flowFile: 'flows.json',",
            "    fileWorkingDirectory: __dirname, // file nodes with relative paths write here, not in the repo",
            "    credentialSecret: process.env.NODE_RED_CREDENTIAL_SECRET || 'local-development-only',",
            "    uiHost: process.env.HOST || '127.0.0.1',",
            "    uiPort: Number(process.env.PORT || 1880),",
            "    diagnostics: { enabled: false },",
            "    telemetry: { enabled: false },",
            "    editorTheme: { projects: { enabled: false }, tours: false },",
            "    logging: { console: { level: 'info', metrics: false, audit: false } },",
            "};",
            "",
        ].join('\n'));
    }
}

async function main() {
    const reset = process.argv.includes('--reset');
    ensureBuilt();
    const userDir = path.resolve(process.env.NODE_RED_USER_DIR || path.join(root, '.node-red-data'));
    prepareUserDir(userDir, reset);

    const env = process.env;
    // Ctrl-C while the stack is still starting: exit; local-stack reaps its servers on exit.
    const earlyStop = () => process.exit(130);
    process.once('SIGINT', earlyStop);
    process.once('SIGTERM', earlyStop);
    const dataDir = path.join(userDir, 'local-stack');
    const stack = await startLocalStack({
        kinesisPort: env.KINESIS_PORT !== undefined ? env.KINESIS_PORT : 4568,
        dynamodbPort: env.DYNAMODB_PORT !== undefined ? env.DYNAMODB_PORT : 4569,
        streams: env.LOCAL_STREAMS,
        dataDir,
        ownProcessGroup: true,
    });
    const shownDir = path.relative(process.cwd(), dataDir);
    console.log(`Local stack: Kinesis ${stack.kinesisEndpoint}, DynamoDB ${stack.dynamodbEndpoint} (data kept in ${shownDir && !shownDir.startsWith('..') ? shownDir : dataDir})`);
    console.log('To use the AWS CLI against it (AWS CLI >= 2.13 / 1.29 read AWS_ENDPOINT_URL_*; older ones need --endpoint-url):');
    for (const [k, v] of Object.entries(stack.env)) console.log(`  export ${k}=${v}`);

    const nodeRed = pickNodeRed();
    if (nodeRed.note) console.log(nodeRed.note);
    const red = spawn(process.execPath, [nodeRed.redJs, '--userDir', userDir, '--settings', path.join(userDir, 'settings.js')], {
        env: { ...process.env, ...stack.env, ...explainSdkNodeWarning(userDir) },
        stdio: 'inherit',
    });
    let stopping = false;
    const stopAll = async (code) => {
        if (stopping) return;
        stopping = true;
        if (red.exitCode === null && red.signalCode === null) {
            red.kill('SIGINT');
            await new Promise((r) => { const t = setTimeout(() => { red.kill('SIGKILL'); r(); }, 16_000); red.once('exit', () => { clearTimeout(t); r(); }); });
        }
        console.log('Node-RED stopped; stopping the local stack.');
        await stack.stop();
        process.exit(code);
    };
    process.removeListener('SIGINT', earlyStop);
    process.removeListener('SIGTERM', earlyStop);
    // Ctrl-C in a terminal reaches Node-RED too (same process group); a SIGTERM reaches only the process
    // it is sent to: either way Node-RED is told to stop and waited for, then the stack stops.
    process.on('SIGINT', () => stopAll(0));
    process.on('SIGTERM', () => stopAll(0));
    process.on('SIGHUP', () => stopAll(0)); // the terminal went away
    // npm does not pass a SIGTERM on to this script: when the npm process that ran us is gone (we are
    // re-parented), stop everything in order as for a signal. One cheap check a second.
    const parent = process.ppid;
    setInterval(() => { if (process.ppid !== parent) stopAll(0); }, 1000).unref();
    red.on('exit', (code, signal) => {
        if (!stopping) console.log(`Node-RED exited (${signal || `exit code ${code}`}).`);
        stopAll(code === null ? (signal === 'SIGINT' || signal === 'SIGTERM' ? 0 : 1) : code);
    });
    console.log(`Node-RED ${nodeRed.version} editor: http://${env.HOST || '127.0.0.1'}:${env.PORT || 1880}/`);
}

main().catch((err) => {
    console.error(`npm start failed: ${err.message}`);
    process.exit(1);
});
