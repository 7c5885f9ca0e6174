'use strict';
/**
 * The examples as one Node-RED workspace: one tab per `examples/*.json` file, config nodes global
 * and shared when several examples use the same one (same id). Node ids that two examples both use
 * for ordinary nodes are renamed in the later file (wires, links, groups and scopes follow).
 * Used by `npm start` (scripts/start.js) and the pack check (scripts/verify-pack.js).
 */
const fs = require('node:fs');
const path = require('node:path');

function isConfigNode(n) {
    return n.type !== 'tab' && n.type !== 'group' && n.type !== 'subflow' && n.type !== 'comment' && n.x === undefined && n.y === undefined && !n.wires;
}

function exampleFiles(dir) {
    return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort() : [];
}

function workspaceFromExamples(dir) {
    const flows = [];
    const used = new Set();
    for (const file of exampleFiles(dir)) {
        const parsed = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
        const nodes = Array.isArray(parsed) ? parsed : (parsed.flows || []);
        const tabId = `tab-${file.replace(/\W+/g, '-')}`.slice(0, 60);
        flows.push({ id: tabId, type: 'tab', label: file.replace(/\.json$/, '').replace(/^\d+[-_ ]*/, ''), disabled: false, info: '' });
        used.add(tabId);
        const subflows = new Set(nodes.filter((n) => n.type === 'subflow').map((n) => n.id));
        const rename = new Map();
        for (const n of nodes) {
            if (n.type === 'tab' || isConfigNode(n)) continue;
            if (used.has(n.id)) rename.set(n.id, `${n.id}-${tabId.slice(4, 20)}`);
        }
        const r = (id) => (rename.has(id) ? rename.get(id) : id);
        for (const n of nodes) {
            if (n.type === 'tab') continue;
            if (n.type === 'subflow') {
                if (!used.has(n.id)) { used.add(n.id); flows.push(n); }
                continue;
            }
            if (isConfigNode(n)) {
                if (used.has(n.id)) continue; // shared by several examples
                used.add(n.id);
                flows.push(n);
                continue;
            }
            const copy = { ...n, id: r(n.id), z: subflows.has(n.z) ? n.z : tabId };
            if (Array.isArray(n.wires)) copy.wires = n.wires.map((port) => (Array.isArray(port) ? port.map(r) : port));
            if (Array.isArray(n.links)) copy.links = n.links.map(r);
            if (Array.isArray(n.scope)) copy.scope = n.scope.map(r);
            if (Array.isArray(n.nodes)) copy.nodes = n.nodes.map(r);
            if (typeof n.g === 'string') copy.g = r(n.g);
            used.add(copy.id);
            flows.push(copy);
        }
    }
    return flows;
}

module.exports = { workspaceFromExamples, exampleFiles, isConfigNode };
