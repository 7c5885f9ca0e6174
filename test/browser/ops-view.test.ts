/**
 * The operations view in a real editor: a whole Node-RED (child process) and headless Chromium from
 * the system (/usr/bin/chromium, or CHROMIUM_PATH) driven by playwright-core. The sidebar tab
 * "Kinesis" shows a row per shard of the application, an error state in words, and loads nothing
 * while it is hidden. Minimal harness of its own (the shared browser harness can take it over).
 * Runs on the Node-RED under test (NODE_RED_PATH for the 5.0 lane).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, Browser, Page } from 'playwright-core';
import { createStream, localEndpoints, uniqueName, waitFor } from '../helpers/stack';
import { redJs, RunningRed as Red } from '../helpers/admin-auth';
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { startNodeRed, linkPackage } = require('../../../scripts/node-red-runner.js');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

describe('operations view: the sidebar tab "Kinesis" in the editor (headless Chromium)', function () {
    this.timeout(240_000);
    let red: Red | undefined;
    let browser: Browser | undefined;
    let page: Page;
    let userDir = '';
    const stream = uniqueName('ops-ui');
    const app = uniqueName('ops-ui-app');
    const missingApp = uniqueName('ops-ui-missing');
    const opsRequests: string[] = [];

    before(async function () {
        if (!fs.existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`);
        await createStream(stream, 3);
        userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kinesis-ops-ui-'));
        linkPackage(userDir, ROOT);
        red = await startNodeRed({ userDir, redJs: redJs() });
        const e = localEndpoints();
        const flows = [
            { id: 'tab1', type: 'tab', label: 'ops' },
            {
                id: 'cfg1', type: 'kinesis-config', name: 'local', region: e.region, kinesisEndpoint: e.kinesis, dynamodbEndpoint: e.dynamodb,
                credentialMode: 'static', roleArn: '', externalId: '', roleSessionName: '', stsEndpoint: '', credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
            },
            { id: 'in1', type: 'kinesis-in', z: 'tab1', name: 'reader', config: 'cfg1', streamName: stream, applicationName: app, initialPosition: 'LATEST', workerId: 'ui-worker', x: 120, y: 80, wires: [[]] },
            { id: 'in2', type: 'kinesis-in', z: 'tab1', name: 'no stream', config: 'cfg1', streamName: uniqueName('ops-ui-nostream'), applicationName: missingApp, initialPosition: 'LATEST', x: 120, y: 160, wires: [[]] },
        ];
        const res = await fetch(`${red!.url}/flows`, { method: 'POST', headers: { 'content-type': 'application/json', 'Node-RED-Deployment-Type': 'full' }, body: JSON.stringify(flows) });
        assert.equal(res.status, 204, await res.text());
        browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
        page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
        page.on('request', (r) => {
            if (r.url().includes('/kinesis-in/ops')) opsRequests.push(r.url());
        });
        await page.goto(red!.url, { timeout: 120_000 });
        await page.waitForFunction(() => {
            const w = window as unknown as { RED?: { sidebar?: { containsTab?(id: string): boolean } } };
            try {
                return !!(w.RED?.sidebar?.containsTab?.('kinesis-ops') && document.getElementById('kinesis-ops-sidebar'));
            } catch {
                return false; // the editor is still loading
            }
        }, undefined, { timeout: 120_000 });
    });

    after(async function () {
        await browser?.close().catch(() => undefined);
        await red?.stop();
        if (userDir) fs.rmSync(userDir, { recursive: true, force: true });
    });

    const showTab = (id: string) => page.evaluate((tab) => (window as unknown as { RED: { sidebar: { show(t: string): void } } }).RED.sidebar.show(tab), id);

    it('renders a row per shard with its owner and this Node-RED, and the missing table in words', async function () {
        const rows = page.locator(`#kinesis-ops-sidebar .kinesis-ops-app[data-table="${app}"] tr.kinesis-ops-shard`);
        await waitFor('three shard rows owned by ui-worker', async () => {
            // (the editor may still switch to its own default tab while it finishes loading)
            if (!(await page.locator('#kinesis-ops-sidebar').isVisible())) await showTab('kinesis-ops');
            const owners = await rows.locator('td.kinesis-ops-owner').allInnerTexts();
            return owners.length === 3 && owners.every((t) => t.includes('ui-worker'));
        }, 120_000, 300);
        const shardIds = await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-shard')));
        assert.deepEqual(shardIds, ['shardId-000000000000', 'shardId-000000000001', 'shardId-000000000002']);
        const headers = await page.locator(`#kinesis-ops-sidebar .kinesis-ops-app[data-table="${app}"] th`).allInnerTexts();
        assert.deepEqual(headers.map((h) => h.trim()), ['Shard', 'State', 'Owner', 'Checkpoint', 'Lag', 'Rec/s', 'In flight'], 'labels from the locale');
        const first = await rows.first().locator('td').allInnerTexts();
        assert.match(first[0], /^#0\b/, 'short shard id');
        assert.match(first[2], /this Node-RED/);
        assert.equal(first[1].trim(), 'open');
        const error = page.locator(`#kinesis-ops-sidebar .kinesis-ops-app[data-table="${missingApp}"] .kinesis-ops-error`);
        await waitFor('the missing table shown', async () => (await error.count()) === 1, 60_000, 300);
        assert.match(await error.innerText(), /^lease table missing: The lease table ".+" does not exist/);
    });

    it('polls while the tab is visible and loads nothing while it is hidden', async function () {
        const before = opsRequests.length;
        await waitFor('another poll while visible', () => opsRequests.length > before, 60_000, 200);
        await showTab('info');
        // an answer already under way may still come in: count from a moment after the switch
        await page.waitForTimeout(1000);
        const hiddenFrom = opsRequests.length;
        await page.waitForTimeout(8000); // more than two poll periods (3 s)
        assert.equal(opsRequests.length, hiddenFrom, 'no request while hidden');
        await showTab('kinesis-ops');
        await waitFor('a request once shown again', () => opsRequests.length > hiddenFrom, 60_000, 200);
    });
});
