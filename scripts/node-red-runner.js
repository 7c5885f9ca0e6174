'use strict';
/**
 * Runs a real Node-RED in a child process on a free loopback port, for checks that need the whole
 * runtime (admin API, adminAuth, the palette loader): used by scripts/verify-pack.js and by
 * test/nodes/kinesis-config-admin.test.ts.
 *
 *   const red = await startNodeRed({ userDir, redJs, nodeBin, settings: { adminAuth }, env });
 *   await fetch(`${red.url}/nodes`, …); red.output(); await red.stop();
 */
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { freePort, stopChild } = require('./local-stack');

/** settings.js for a quiet, offline Node-RED: no telemetry, no palette catalogue, no tours. */
function settingsSource(port, extra) {
    const base = {
        uiHost: '127.0.0.1',
        uiPort: port,
        flowFile: 'flows.json',
        credentialSecret: 'node-red-runner-secret',
        diagnostics: { enabled: false, ui: false },
        telemetry: { enabled: false, updateNotification: false },
        externalModules: { palette: { allowInstall: false, allowUpdate: false, allowUpload: false } },
        editorTheme: { projects: { enabled: false }, tours: false, palette: { catalogues: [] } },
        logging: { console: { level: 'info', metrics: false, audit: false } },
        ...extra,
    };
    return `module.exports = ${JSON.stringify(base, null, 2)};\n`;
}

/**
 * Options: userDir (created), redJs (path of node-red/red.js; default the devDependency),
 * nodeBin (default this process's node), settings (merged into settings.js), env, readyTimeoutMs.
 * Resolves to { url, port, child, output(), stop() } once the editor answers.
 */
async function startNodeRed(options) {
    const userDir = options.userDir;
    fs.mkdirSync(userDir, { recursive: true });
    const port = options.port || await freePort();
    const settingsFile = path.join(userDir, 'settings.js');
    fs.writeFileSync(settingsFile, settingsSource(port, options.settings || {}));
    const redJs = options.redJs || require.resolve('node-red/red.js');
    const nodeBin = options.nodeBin || process.execPath;
    const lines = [];
    const child = spawn(nodeBin, [redJs, '--userDir', userDir, '--settings', settingsFile], {
        cwd: userDir,
        env: { ...process.env, AWS_EC2_METADATA_DISABLED: 'true', ...(options.env || {}) },
        stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (chunk) => { lines.push(chunk.toString()); };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const output = () => lines.join('');
    const url = `http://127.0.0.1:${port}`;
    const stop = () => stopChild(child, 'SIGINT', 10_000);
    const deadline = Date.now() + (options.readyTimeoutMs || 90_000);
    for (;;) {
        if (child.exitCode !== null) throw new Error(`Node-RED exited with code ${child.exitCode}:\n${output()}`);
        try {
            const res = await fetch(`${url}/settings`, { signal: AbortSignal.timeout(2000) });
            if (res.status === 200 || res.status === 401) break;
        } catch (_) { /* not yet */ }
        if (Date.now() > deadline) {
            await stop();
            throw new Error(`Node-RED did not answer on ${url} in time:\n${output()}`);
        }
        await new Promise((r) => setTimeout(r, 200));
    }
    // flows are started a moment after the editor answers
    const flowsDeadline = Date.now() + 30_000;
    while (!/Started flows|Starting flows|flows? (?:are )?stopped/i.test(output()) && Date.now() < flowsDeadline) {
        await new Promise((r) => setTimeout(r, 100));
    }
    return { url, port, child, output, stop };
}

/** Links a package directory into userDir/node_modules/<name> (as `npm start` does). */
function linkPackage(userDir, pkgDir) {
    const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
    const link = path.join(userDir, 'node_modules', ...pkg.name.split('/'));
    fs.mkdirSync(path.dirname(link), { recursive: true });
    fs.rmSync(link, { recursive: true, force: true });
    fs.symlinkSync(pkgDir, link, 'dir');
    fs.writeFileSync(path.join(userDir, 'package.json'), JSON.stringify({ name: 'node-red-user-dir', private: true, dependencies: { [pkg.name]: `file:${pkgDir}` } }, null, 2));
    return pkg;
}

module.exports = { startNodeRed, linkPackage, freePort, settingsSource };
