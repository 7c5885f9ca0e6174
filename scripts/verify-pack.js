#!/usr/bin/env node
'use strict';
/**
 * Pack check — the package the way users meet it:
 *  1. `npm pack` (runs the build: prepack) and check the tarball: compiled runtime, editor .html and
 *     locales for every node in package.json's `node-red.nodes`, icons, no tests, no TypeScript
 *     sources, no install-time scripts (npm would run or warn about them on every install);
 *  2. for each lane (default Node-RED 4.1 on Node 20 and Node-RED 5.0 on Node 22, both from npm):
 *     install Node-RED into a fresh temp dir, `npm install <tarball>` into a fresh userDir (as in
 *     ~/.node-red), start Node-RED on a free loopback port and assert via `GET /nodes` that every
 *     node type registers without error, its editor template and message catalog are served, and
 *     kinesis-config's Test connection answers OK against the embedded local stack; then the shipped
 *     examples are deployed unchanged (one tab each, as `npm start` does) with the standard AWS env vars
 *     pointing at the local stack, and must start without missing types or errors.
 *
 * Env: VERIFY_LANES ("4.1:20,5:22" = node-red version : node major), KEEP_VERIFY_DIR=1 keeps the temp dir,
 *      VERIFY_TARBALL=<path> checks an existing tarball instead of packing.
 * Exit code 0 only when every check of every lane passed.
 */
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startNodeRed } = require('./node-red-runner');
const { startLocalStack } = require('./local-stack');
const { workspaceFromExamples, exampleFiles } = require('./examples-workspace');

const root = path.resolve(__dirname, '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const nodeMap = (pkg['node-red'] && pkg['node-red'].nodes) || {};
const types = Object.keys(nodeMap);
const results = [];

function record(lane, check, ok, detail) {
    results.push({ lane, check, ok, detail: detail || '' });
    console.log(`  ${ok ? 'PASS' : 'FAIL'}  [${lane}] ${check}${detail ? ` — ${detail}` : ''}`);
}

function run(cmd, args, opts = {}) {
    return new Promise((resolve, reject) => {
        const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
        let out = '';
        child.stdout.on('data', (c) => { out += c; });
        child.stderr.on('data', (c) => { out += c; });
        child.on('error', reject);
        child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} failed (${code}):\n${out.slice(-4000)}`))));
    });
}

function pack(workDir) {
    if (process.env.VERIFY_TARBALL) return path.resolve(process.env.VERIFY_TARBALL);
    console.log('== npm pack (runs the build: prepack)');
    const out = execFileSync('npm', ['pack', '--json', '--pack-destination', workDir], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    const info = JSON.parse(out.slice(out.indexOf('[')));
    return path.join(workDir, info[0].filename);
}

function checkTarball(tarball) {
    const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''));
    const has = (f) => files.includes(f);
    record('tarball', `${path.basename(tarball)}: ${files.length} files`, files.length > 0);
    for (const type of types) {
        const js = nodeMap[type].replace(/^\.\//, '');
        const dir = path.posix.dirname(js);
        const base = path.posix.basename(js, '.js');
        const missing = [js, `${dir}/${base}.html`, `${dir}/locales/en-US/${base}.json`, `${dir}/locales/en-US/${base}.html`].filter((f) => !has(f));
        record('tarball', `${type}: runtime, editor, messages, help`, missing.length === 0, missing.length ? `missing ${missing.join(', ')}` : js);
    }
    const stray = files.filter((f) => /^dist\/test\//.test(f) || (/\.ts$/.test(f) && !/\.d\.ts$/.test(f)) || /^(test|bench|\.ci)\//.test(f) || /node_modules\//.test(f));
    record('tarball', 'no tests, TypeScript sources or CI files', stray.length === 0, stray.slice(0, 5).join(', '));
    for (const f of ['package.json', 'README.md', 'LICENSE']) record('tarball', `has ${f}`, has(f));
    // install-time scripts run (or warn) on every user's `npm install`: the build happens before packing
    const packed = JSON.parse(execFileSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' }));
    const installScripts = ['preinstall', 'install', 'postinstall', 'prepare'].filter((k) => packed.scripts && packed.scripts[k]);
    record('tarball', 'no install-time scripts (preinstall, install, postinstall, prepare)', installScripts.length === 0, installScripts.join(', '));
    const icons = files.filter((f) => /^dist\/nodes\/icons\//.test(f) || /\/icons\/[^/]+$/.test(f));
    record('tarball', 'the node icons', icons.length > 0, icons.join(', '));
    const deps = Object.keys(pkg.dependencies || {});
    record('tarball', `runtime dependencies ≤ 6 (${deps.length})`, deps.length <= 6, deps.join(', '));
}

async function prepareLane(workDir, lane, tarball) {
    const dir = path.join(workDir, `node-red-${lane.nr}`);
    const runtime = path.join(dir, 'runtime');
    const userDir = path.join(dir, 'user');
    fs.mkdirSync(runtime, { recursive: true });
    fs.mkdirSync(userDir, { recursive: true });
    fs.writeFileSync(path.join(runtime, 'package.json'), JSON.stringify({ name: 'verify-runtime', private: true }));
    fs.writeFileSync(path.join(userDir, 'package.json'), JSON.stringify({ name: 'node-red-project', private: true, description: 'fresh userDir' }));
    const sameNode = Number(process.versions.node.split('.')[0]) === Number(lane.node);
    const specs = [`node-red@${lane.nr}`, ...(sameNode ? [] : [`node@${lane.node}`])];
    const npmArgs = ['--no-audit', '--no-fund', '--loglevel=error'];
    console.log(`== [Node-RED ${lane.nr}] npm install ${specs.join(' ')}; npm install <tarball> into a fresh userDir`);
    await Promise.all([
        run('npm', ['install', ...npmArgs, ...specs], { cwd: runtime }),
        run('npm', ['install', ...npmArgs, tarball], { cwd: userDir }),
    ]);
    const nodeBin = sameNode ? process.execPath : path.join(runtime, 'node_modules', '.bin', 'node');
    const redJs = path.join(runtime, 'node_modules', 'node-red', 'red.js');
    const redVersion = JSON.parse(fs.readFileSync(path.join(runtime, 'node_modules', 'node-red', 'package.json'), 'utf8')).version;
    const nodeVersion = execFileSync(nodeBin, ['--version'], { encoding: 'utf8' }).trim();
    return { ...lane, userDir, nodeBin, redJs, name: `Node-RED ${redVersion} / Node ${nodeVersion}` };
}

async function checkLane(lane, stack) {
    const name = lane.name;
    let red;
    try {
        red = await startNodeRed({ userDir: lane.userDir, redJs: lane.redJs, nodeBin: lane.nodeBin, env: stack.env });
        record(name, 'Node-RED starts with the package installed', true, red.url);
        const sets = await (await fetch(`${red.url}/nodes`, { headers: { accept: 'application/json' } })).json();
        const ours = sets.filter((s) => s.module === pkg.name);
        for (const type of types) {
            const set = ours.find((s) => (s.types || []).includes(type));
            const ok = !!set && set.enabled !== false && !set.err && set.loaded !== false;
            record(name, `GET /nodes: ${type} registered`, ok, set ? (set.err || `${set.id}, version ${set.version}`) : 'not listed');
        }
        const html = await (await fetch(`${red.url}/nodes`, { headers: { accept: 'text/html' } })).text();
        for (const type of types) {
            record(name, `editor template and help of ${type} served`, html.includes(`data-template-name="${type}"`) && html.includes(`data-help-name="${type}"`));
        }
        for (const set of ours) {
            const res = await fetch(`${red.url}/locales/${set.id}?lng=en-US`);
            const body = res.status === 200 ? await res.json() : {};
            const missing = (set.types || []).filter((t) => !body[t]);
            record(name, `message catalog ${set.id}`, res.status === 200 && missing.length === 0, missing.length ? `no messages for ${missing.join(', ')}` : '');
        }
        if (types.includes('kinesis-config')) {
            const res = await fetch(`${red.url}/kinesis-config/test`, {
                method: 'POST',
                headers: { 'content-type': 'application/json' },
                body: JSON.stringify({ region: stack.region, kinesisEndpoint: stack.kinesisEndpoint, dynamodbEndpoint: stack.dynamodbEndpoint, credentialMode: 'static', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }),
            });
            const answer = res.status === 200 ? await res.json() : { ok: false, message: `HTTP ${res.status}` };
            record(name, 'kinesis-config Test connection against the local stack', answer.ok === true && answer.streams.includes('my-thingsboard'), answer.message);
        }
        const errors = red.output().split('\n').filter((l) => /\[(error|warn)\]/.test(l) && /kinesis/i.test(l));
        record(name, 'no errors or warnings about the package in the runtime log', errors.length === 0, errors.slice(0, 3).join(' | '));
        await checkExamples(lane, red);
    } catch (err) {
        record(name, 'Node-RED run', false, err.message.split('\n')[0]);
        if (red) console.log(red.output().slice(-3000));
    } finally {
        if (red) await red.stop();
    }
}

/** Deploys the installed package's examples unchanged and checks they start cleanly. */
async function checkExamples(lane, red) {
    const name = lane.name;
    const dir = path.join(lane.userDir, 'node_modules', ...pkg.name.split('/'), 'examples');
    const files = exampleFiles(dir);
    if (files.length === 0) {
        record(name, 'examples', true, 'none shipped yet');
        return;
    }
    const flows = workspaceFromExamples(dir);
    const before = red.output().length;
    const res = await fetch(`${red.url}/flows`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'Node-RED-Deployment-Type': 'full' },
        body: JSON.stringify(flows),
    });
    record(name, `deploy ${files.length} examples (${flows.length} nodes)`, res.status === 204, res.status === 204 ? files.join(', ') : `HTTP ${res.status} ${await res.text()}`);
    // let the nodes start and reach the local stack
    await new Promise((r) => setTimeout(r, 5000));
    const deployed = await (await fetch(`${red.url}/flows`)).json();
    record(name, 'the examples are all deployed', Array.isArray(deployed) && deployed.length >= flows.length, `${Array.isArray(deployed) ? deployed.length : '?'} of ${flows.length}`);
    const log = red.output().slice(before).split('\n');
    const missing = log.filter((l) => /missing types|Waiting for missing|Unknown type/i.test(l));
    record(name, 'the examples use only known node types', missing.length === 0, missing.slice(0, 3).join(' | '));
    const errors = log.filter((l) => /\[error\]/.test(l));
    record(name, 'the examples start without errors in the log', errors.length === 0, errors.slice(0, 3).join(' | '));
}

async function main() {
    const started = Date.now();
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kinesis-verify-pack-'));
    const lanes = (process.env.VERIFY_LANES || '4.1:20,5:22').split(',').map((s) => {
        const [nr, node] = s.trim().split(':');
        return { nr, node };
    });
    let stack;
    try {
        const tarball = pack(workDir);
        checkTarball(tarball);
        const prepared = await Promise.all(lanes.map((l) => prepareLane(workDir, l, tarball).catch((err) => {
            record(`Node-RED ${l.nr}`, 'install', false, err.message.split('\n').slice(0, 3).join(' '));
            return undefined;
        })));
        stack = await startLocalStack({ kinesisPort: 0, dynamodbPort: 0 });
        for (const lane of prepared) if (lane) await checkLane(lane, stack);
    } catch (err) {
        record('pack check', 'run', false, err.message);
    } finally {
        if (stack) await stack.stop();
        if (process.env.KEEP_VERIFY_DIR) console.log(`kept ${workDir}`);
        else fs.rmSync(workDir, { recursive: true, force: true });
    }
    const failed = results.filter((r) => !r.ok);
    console.log(`\n== pack check: ${results.length - failed.length}/${results.length} checks passed in ${Math.round((Date.now() - started) / 1000)} s`);
    for (const f of failed) console.log(`   FAILED [${f.lane}] ${f.check}: ${f.detail}`);
    process.exit(failed.length === 0 ? 0 : 1);
}

main();
