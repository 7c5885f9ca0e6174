#!/usr/bin/env node
'use strict';
/**
 * `npm run bench [-- name …]`: runs the compiled benchmarks in dist/bench/ one after another
 * (all, or those whose file name starts with a given name, e.g. `npm run bench -- producer`).
 * Each benchmark prints its own ratios against a baseline measured in the same run.
 */
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const dir = path.resolve(__dirname, '..', 'dist', 'bench');
if (!fs.existsSync(dir)) {
    console.error('dist/bench is missing: run `npm run build` first.');
    process.exit(1);
}
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const files = fs.readdirSync(dir)
    .filter((f) => f.endsWith('.js'))
    .filter((f) => wanted.length === 0 || wanted.some((w) => f.startsWith(w)))
    .sort();
if (files.length === 0) {
    console.error(`no benchmark matches ${wanted.join(', ')}; have: ${fs.readdirSync(dir).filter((f) => f.endsWith('.js')).join(', ')}`);
    process.exit(1);
}
let failed = 0;
for (const f of files) {
    console.log(`\n== ${f}`);
    const r = spawnSync(process.execPath, [path.join(dir, f)], { stdio: 'inherit' });
    if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
