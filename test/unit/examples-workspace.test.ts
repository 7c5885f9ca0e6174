import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { workspaceFromExamples } = require('../../../scripts/examples-workspace.js');

interface N { id: string; type: string; z?: string; wires?: string[][]; links?: string[]; g?: string; nodes?: string[]; config?: string }

describe('scripts/examples-workspace (npm start and the pack check import the examples with it)', function () {
    let dir: string;
    beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'examples-ws-')); });
    afterEach(() => { fs.rmSync(dir, { recursive: true, force: true }); });

    it('one tab per file; shared config nodes once; colliding node ids renamed with their wires, links and groups', function () {
        const cfg = { id: 'cfg', type: 'kinesis-config', name: 'AWS' };
        fs.writeFileSync(path.join(dir, '01-consume.json'), JSON.stringify([
            { id: 'tabA', type: 'tab', label: 'x' },
            cfg,
            { id: 'in1', type: 'kinesis-in', config: 'cfg', x: 1, y: 1, z: 'tabA', wires: [['dbg']] },
            { id: 'dbg', type: 'debug', x: 2, y: 1, z: 'tabA', wires: [] },
        ]));
        fs.writeFileSync(path.join(dir, '02-produce.json'), JSON.stringify([
            cfg,
            { id: 'grp', type: 'group', x: 0, y: 0, w: 10, h: 10, nodes: ['in1', 'dbg'] },
            { id: 'in1', type: 'inject', x: 1, y: 1, g: 'grp', wires: [['dbg', 'lo']] },
            { id: 'dbg', type: 'debug', x: 2, y: 1, g: 'grp', wires: [] },
            { id: 'lo', type: 'link out', x: 3, y: 1, links: ['in1'], wires: [] },
        ]));
        const flows = workspaceFromExamples(dir) as N[];
        const tabs = flows.filter((n) => n.type === 'tab');
        assert.deepEqual(tabs.map((t) => t.id), ['tab-01-consume-json', 'tab-02-produce-json']);
        assert.equal(flows.filter((n) => n.id === 'cfg').length, 1, 'the shared config node once');
        assert.equal(flows.find((n) => n.id === 'cfg')!.z, undefined, 'config nodes stay global');
        const ids = flows.map((n) => n.id);
        assert.equal(new Set(ids).size, ids.length, 'unique ids');
        const second = flows.filter((n) => n.z === 'tab-02-produce-json');
        const inject = second.find((n) => n.type === 'inject')!;
        const debug = second.find((n) => n.type === 'debug')!;
        const group = second.find((n) => n.type === 'group')!;
        const link = second.find((n) => n.type === 'link out')!;
        assert.notEqual(inject.id, 'in1');
        assert.deepEqual(inject.wires, [[debug.id, 'lo']]);
        assert.equal(inject.g, group.id);
        assert.deepEqual(group.nodes, [inject.id, debug.id]);
        assert.deepEqual(link.links, [inject.id]);
        const first = flows.filter((n) => n.z === 'tab-01-consume-json');
        assert.deepEqual(first.find((n) => n.id === 'in1')!.wires, [['dbg']], 'the first file keeps its ids');
    });

    it('no examples directory: an empty workspace', function () {
        assert.deepEqual(workspaceFromExamples(path.join(dir, 'none')), []);
    });
});
