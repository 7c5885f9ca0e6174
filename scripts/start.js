#!/usr/bin/env node
'use strict';
/**
 * `npm start`: the embedded local stack (kinesis-local + dynalite) and Node-RED (the devDependency)
 * with this package loaded from the working tree and the examples imported, one tab each.
 * The standard AWS env vars point at the local stack. Ctrl-C stops everything it started.
 *
 * Env: PORT (1880), HOST (127.0.0.1), KINESIS_PORT (4568), DYNAMODB_PORT (4569),
 *      NODE_RED_USER_DIR (.node-red-data). `npm start -- --reset` re-imports the examples.
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
    const stack = await startLocalStack({
        kinesisPort: env.KINESIS_PORT !== undefined ? env.KINESIS_PORT : 4568,
        dynamodbPort: env.DYNAMODB_PORT !== undefined ? env.DYNAMODB_PORT : 4569,
        streams: env.LOCAL_STREAMS,
    });
    console.log(`Local stack: Kinesis ${stack.kinesisEndpoint}, DynamoDB ${stack.dynamodbEndpoint}`);
    console.log('To use the AWS CLI against it:');
    for (const [k, v] of Object.entries(stack.env)) console.log(`  export ${k}=${v}`);

    const redMain = require.resolve('node-red/red.js');
    const red = spawn(process.execPath, [redMain, '--userDir', userDir, '--settings', path.join(userDir, 'settings.js')], {
        env: { ...process.env, ...stack.env },
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
        await stack.stop();
        process.exit(code);
    };
    process.removeListener('SIGINT', earlyStop);
    process.removeListener('SIGTERM', earlyStop);
    process.on('SIGINT', () => stopAll(0));
    process.on('SIGTERM', () => stopAll(0));
    red.on('exit', (code, signal) => {
        if (!stopping) console.log(`Node-RED stopped (${signal || `exit code ${code}`}); stopping the local stack.`);
        stopAll(code === null ? (signal === 'SIGINT' || signal === 'SIGTERM' ? 0 : 1) : code);
    });
    console.log(`Node-RED editor: http://${env.HOST || '127.0.0.1'}:${env.PORT || 1880}/`);
}

main().catch((err) => {
    console.error(`npm start failed: ${err.message}`);
    process.exit(1);
});
