#!/usr/bin/env node
'use strict';
/**
 * Copies what tsc does not: each node's editor .html and locales/, and the shared icons/, next to
 * the compiled runtime in dist/nodes/<type>/ (Node-RED looks for them beside the .js file).
 */
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const srcNodes = path.join(root, 'nodes');
const distNodes = path.join(root, 'dist', 'nodes');
const icons = path.join(root, 'icons');

for (const type of fs.readdirSync(srcNodes)) {
    const src = path.join(srcNodes, type);
    if (!fs.statSync(src).isDirectory() || type === 'shared') continue;
    const dest = path.join(distNodes, type);
    fs.mkdirSync(dest, { recursive: true });
    for (const f of fs.readdirSync(src)) {
        if (f.endsWith('.html')) fs.copyFileSync(path.join(src, f), path.join(dest, f));
    }
    if (fs.existsSync(path.join(src, 'locales'))) {
        fs.rmSync(path.join(dest, 'locales'), { recursive: true, force: true });
        fs.cpSync(path.join(src, 'locales'), path.join(dest, 'locales'), { recursive: true });
    }
    if (fs.existsSync(icons)) {
        fs.rmSync(path.join(dest, 'icons'), { recursive: true, force: true });
        fs.cpSync(icons, path.join(dest, 'icons'), { recursive: true });
    }
}
