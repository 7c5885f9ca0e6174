/**
 * The editor in a real headless browser: Debian's Chromium (/usr/bin/chromium, or CHROMIUM_PATH)
 * driven by playwright-core (no browser download), against a real Node-RED (scripts/node-red-runner.js:
 * red.js in a child process on a free loopback port, this package linked into a fresh userDir) that
 * talks to the local stack the root test setup started (standard AWS env vars).
 *
 *   const ed = await EditorSession.start({ flows });   // Node-RED + Chromium, editor loaded
 *   await ed.editNode('my-node'); … await ed.done(); await ed.deploy();
 *   await ed.shot('01-palette');                        // test-artifacts/browser/01-palette.png
 *   ed.assertNoConsoleErrors('while editing');  await ed.stop();
 *
 * Reusable by any browser test (test/browser/*.test.ts): every step can leave a screenshot in
 * test-artifacts/browser/ (gitignored), and the browser's console errors and page errors are collected.
 * Waits are on conditions (selectors, RED state), never fixed sleeps.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, BrowserContext, Locator, Page } from 'playwright-core';

/** The repository root (this file runs from dist/test/browser). */
export const repoRoot = path.resolve(__dirname, '..', '..', '..');
export const ARTIFACTS = path.join(repoRoot, 'test-artifacts', 'browser');
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
/** How long a condition may take on a loaded 2-core machine before a wait fails (not an assertion on speed). */
export const PATIENCE_MS = 60_000;

// eslint-disable-next-line @typescript-eslint/no-var-requires
const runner = require(path.join(repoRoot, 'scripts', 'node-red-runner.js')) as {
    startNodeRed(o: { userDir: string; redJs?: string; env?: NodeJS.ProcessEnv; settings?: Record<string, unknown> }): Promise<{ url: string; output(): string; stop(): Promise<void> }>;
    linkPackage(userDir: string, pkgDir: string): { name: string };
};

export type FlowNode = Record<string, unknown> & { id: string; type: string };

/** Chromium flags: headless, no sandbox (root in CI), nothing that phones home. */
export const CHROMIUM_ARGS = [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run',
];

export interface StartOptions {
    /** Written as the userDir's flows.json before Node-RED starts. */
    flows?: FlowNode[];
    /** Extra settings.js entries. */
    settings?: Record<string, unknown>;
    viewport?: { width: number; height: number };
}

export class EditorSession {
    /** Console errors and uncaught page errors, in order. */
    readonly consoleErrors: string[] = [];
    private constructor(
        readonly url: string,
        readonly userDir: string,
        readonly page: Page,
        private readonly context: BrowserContext,
        private readonly red: { output(): string; stop(): Promise<void> },
        private readonly profileDir: string,
    ) {
        page.on('console', (m) => { if (m.type() === 'error') this.consoleErrors.push(`console: ${m.text()}`); });
        page.on('pageerror', (e) => { this.consoleErrors.push(`page error: ${e.message}`); });
        // which request failed (the console only says "Failed to load resource")
        page.on('response', (r) => { if (r.status() >= 400) this.consoleErrors.push(`HTTP ${r.status()} ${r.request().method()} ${r.url().replace(this.url, '')}`); });
    }

    static async start(options: StartOptions = {}): Promise<EditorSession> {
        assert.ok(fs.existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
        fs.mkdirSync(ARTIFACTS, { recursive: true });
        const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kinesis-browser-nr-'));
        runner.linkPackage(userDir, repoRoot);
        fs.writeFileSync(path.join(userDir, 'flows.json'), JSON.stringify(options.flows || []));
        const redJs = process.env.NODE_RED_PATH
            ? path.join(path.dirname(require.resolve(path.join(process.env.NODE_RED_PATH, 'package.json'))), 'red.js')
            : undefined;
        const red = await runner.startNodeRed({ userDir, redJs, env: process.env, settings: options.settings || {} });
        const profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kinesis-browser-profile-')); // a new, empty user-data-dir
        let context: BrowserContext;
        try {
            context = await chromium.launchPersistentContext(profileDir, {
                executablePath: CHROMIUM,
                headless: true,
                args: CHROMIUM_ARGS,
                viewport: options.viewport || { width: 1440, height: 900 },
                locale: 'en-US',
            });
        } catch (err) {
            await red.stop();
            throw err;
        }
        const page = context.pages()[0] || await context.newPage();
        page.setDefaultTimeout(PATIENCE_MS);
        const session = new EditorSession(red.url, userDir, page, context, red, profileDir);
        await session.load();
        return session;
    }

    /** Loads the editor and waits until the palette and the flows are there. */
    async load(): Promise<void> {
        await this.page.goto(this.url);
        try {
            await this.page.waitForFunction(() => {
                const R = (window as any).RED;
                return !!(R && R.nodes && R.workspaces && R.workspaces.count() > 0 && document.querySelectorAll('.red-ui-palette-node').length > 0);
            }, undefined, { timeout: PATIENCE_MS });
        } catch (err) {
            await this.shot('editor-did-not-load').catch(() => undefined);
            throw new Error(`the editor did not load: ${(err as Error).message}\nconsole: ${this.consoleErrors.join(' | ')}`);
        }
    }

    /** Node-RED's log so far (for failure messages). */
    runtimeLog(): string {
        return this.red.output();
    }

    /** A full-page (or one element's) screenshot in test-artifacts/browser/<name>.png; returns the path. */
    async shot(name: string, target?: Locator, copyTo?: string): Promise<string> {
        const file = path.join(ARTIFACTS, `${name}.png`);
        if (target) await target.screenshot({ path: file });
        else await this.page.screenshot({ path: file });
        if (copyTo) {
            fs.mkdirSync(path.dirname(copyTo), { recursive: true });
            fs.copyFileSync(file, copyTo);
        }
        return file;
    }

    /**
     * Drags a node type from the palette onto the canvas of the current tab at (x, y) (canvas
     * coordinates), as a user does; the node gets the editor's defaults. Returns its id.
     */
    async addFromPalette(type: string, x: number, y: number): Promise<string> {
        const page = this.page;
        const before: string[] = await page.evaluate((t) => {
            const ids: string[] = [];
            (window as any).RED.nodes.eachNode((n: { type: string; id: string }) => { if (n.type === t) ids.push(n.id); });
            return ids;
        }, type);
        const source = page.locator(`.red-ui-palette-node[data-palette-type="${type}"]`);
        await source.scrollIntoViewIfNeeded();
        const from = await source.boundingBox();
        const chart = await page.locator('#red-ui-workspace-chart').boundingBox();
        assert.ok(from && chart, `${type} in the palette and the canvas on screen`);
        await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
        await page.mouse.down();
        await page.mouse.move(from.x + from.width / 2 + 40, from.y + from.height / 2, { steps: 5 });
        await page.mouse.move(chart.x + x, chart.y + y, { steps: 15 });
        await page.mouse.up();
        const handle = await page.waitForFunction(({ t, known }) => {
            let id: string | undefined;
            (window as any).RED.nodes.eachNode((n: { type: string; id: string }) => { if (n.type === t && !known.includes(n.id)) id = n.id; });
            return id;
        }, { t: type, known: before });
        return (await handle.jsonValue()) as string;
    }

    /** Opens a flow node's edit dialog (as a double click does), or a config node's. */
    async editNode(id: string): Promise<void> {
        const isConfig = await this.page.evaluate((nodeId) => {
            const R = (window as any).RED;
            const n = R.nodes.node(nodeId);
            if (!n) throw new Error(`no node ${nodeId} in the editor`);
            if (n._def.category === 'config') R.editor.editConfig('', n.type, n.id);
            else {
                R.workspaces.show(n.z);
                R.editor.edit(n);
            }
            return n._def.category === 'config';
        }, id);
        await this.page.locator(isConfig ? '#node-config-dialog-ok' : '#node-dialog-ok').waitFor({ state: 'visible' });
        // the tray slides in: wait until its form is laid out (oneditprepare ran)
        await this.page.waitForFunction(() => !document.querySelector('.red-ui-tray.red-ui-tray-opening'), undefined);
    }

    /** Clicks Done on the open edit dialog (the config node's one when that is open). */
    async done(): Promise<void> {
        const config = this.page.locator('#node-config-dialog-ok');
        const button = (await config.isVisible()) ? config : this.page.locator('#node-dialog-ok');
        await button.click();
        await button.waitFor({ state: 'detached' });
    }

    async cancel(): Promise<void> {
        const config = this.page.locator('#node-config-dialog-cancel');
        const button = (await config.isVisible()) ? config : this.page.locator('#node-dialog-cancel');
        await button.click();
        await button.waitFor({ state: 'detached' });
    }

    /** Picks an option of a <select> in the open dialog. */
    async select(selector: string, value: string): Promise<void> {
        await this.page.locator(selector).selectOption(value);
    }

    /** Chooses a TypedInput's type through its type menu (as a user clicks it), then types the value. */
    async typedInput(inputSelector: string, type: string, value?: string): Promise<void> {
        const container = this.page.locator(`${inputSelector} + .red-ui-typedInput-container, .red-ui-typedInput-container:has(${inputSelector})`).first();
        await container.locator('button.red-ui-typedInput-type-select').click();
        await this.page.locator(`.red-ui-typedInput-options:visible a[value="${type}"]`).click();
        if (value !== undefined) {
            const field = container.locator('input.red-ui-typedInput-input');
            await field.fill(value);
        }
    }

    /** A node's properties as the editor holds them. */
    async nodeProps(id: string): Promise<Record<string, unknown>> {
        return this.page.evaluate((nodeId) => {
            const n = (window as any).RED.nodes.node(nodeId);
            const out: Record<string, unknown> = {};
            for (const k of Object.keys(n._def.defaults || {})) out[k] = n[k];
            return out;
        }, id);
    }

    /** Clicks Deploy and waits until the editor has nothing left to deploy. */
    async deploy(): Promise<void> {
        await this.page.locator('#red-ui-header-button-deploy').click();
        // either deployed, or Node-RED asks to confirm (invalid or unknown nodes): that is a failure here
        const outcome = await this.page.waitForFunction(() => {
            if (!(window as any).RED.nodes.dirty()) return 'deployed';
            const notice = Array.from(document.querySelectorAll('.red-ui-notification')).find((n) => /Confirm deploy/.test(n.textContent || ''));
            return notice ? `asked to confirm: ${(notice.textContent || '').replace(/\s+/g, ' ').trim()}` : false;
        }, undefined);
        const what = (await outcome.jsonValue()) as string;
        assert.equal(what, 'deployed', 'Deploy went through without a confirmation');
    }

    /** The flows as the runtime has them after a deploy (admin API). */
    async runtimeFlows(): Promise<FlowNode[]> {
        const r = await fetch(`${this.url}/flows`, { headers: { 'Node-RED-API-Version': 'v1' } });
        assert.equal(r.status, 200);
        return (await r.json()) as FlowNode[];
    }

    /** Shows a sidebar tab ('debug', 'info', 'help', 'context', 'config'). */
    async sidebar(tab: string): Promise<void> {
        await this.page.evaluate((t) => (window as any).RED.sidebar.show(t), tab);
    }

    /** Clicks an inject node's button on the canvas. */
    async clickInject(id: string): Promise<void> {
        await this.page.evaluate((nodeId) => { const R = (window as any).RED; R.workspaces.show(R.nodes.node(nodeId).z); }, id);
        await this.page.locator(`#${cssId(id)} .red-ui-flow-node-button-button`).click();
    }

    /** Fails with the collected console/page errors since `from` (an index into consoleErrors). */
    assertNoConsoleErrors(what: string, from = 0): void {
        assert.deepEqual(this.consoleErrors.slice(from), [], `no console errors ${what}`);
    }

    async stop(): Promise<void> {
        try { await this.context.close(); } catch (_) { /* already gone */ }
        await this.red.stop();
        fs.rmSync(this.profileDir, { recursive: true, force: true });
        fs.rmSync(this.userDir, { recursive: true, force: true });
    }
}

/** Node-RED's canvas element ids are the node ids; escape them for CSS. */
export function cssId(id: string): string {
    return id.replace(/([^a-zA-Z0-9_-])/g, '\\$1');
}

/** A ThingsBoard converter export from test/fixtures/thingsboard (copies of /work/shared's). */
export function thingsboardFixture(file: string): string {
    return fs.readFileSync(path.join(repoRoot, 'test', 'fixtures', 'thingsboard', file), 'utf8');
}

/** An example file as shipped. */
export function readExample(file: string): FlowNode[] {
    return JSON.parse(fs.readFileSync(path.join(repoRoot, 'examples', file), 'utf8')) as FlowNode[];
}
