/**
 * The editor in a real headless Chromium against a real Node-RED with this package and the local stack
 * (see harness.ts). What a user does in the first ten minutes: the palette, every edit dialog, choices
 * that must be saved, Test connection, the converter's code editor / Import / Test, and an example
 * imported through Import → Examples, deployed, with the converted device in the debug sidebar.
 * Every step leaves a screenshot in test-artifacts/browser/; the README's pictures (docs/) come from
 * here too (UPDATE_DOCS_PICTURES=1 copies them).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { EditorSession, FlowNode, repoRoot, thingsboardFixture } from './harness';

const PACKAGE = '@kinesis-red/node-red-kinesis';
const UPLINK_EXAMPLE = '01 ThingsBoard uplink';
const docsPicture = (name: string): string | undefined => (process.env.UPDATE_DOCS_PICTURES ? path.join(repoRoot, 'docs', name) : undefined);

/** An empty tab and a kinesis-config on the local stack (empty region and endpoints: the standard AWS env vars). */
function startFlows(): FlowNode[] {
    return [
        { id: 'bt-tab', type: 'tab', label: 'browser test', disabled: false, info: '' },
        { id: 'bt-config', type: 'kinesis-config', name: 'local stack', region: '', kinesisEndpoint: '', dynamodbEndpoint: '', credentialMode: 'chain', roleArn: '', externalId: '', roleSessionName: '', stsEndpoint: '' },
    ];
}

describe('editor (browser: headless Chromium, real Node-RED, local stack)', function () {
    this.timeout(300_000);
    let ed: EditorSession;
    /** Node ids of the nodes dragged from the palette. */
    const id: Record<string, string> = {};

    before(async function () {
        ed = await EditorSession.start({ flows: startFlows() });
    });

    after(async function () {
        await ed?.stop();
    });

    afterEach(async function () {
        if (this.currentTest?.state === 'failed' && ed) {
            await ed.shot(`failed-${(this.currentTest.title || 'test').replace(/\W+/g, '-').slice(0, 60)}`).catch(() => undefined);
        }
    });

    it('the palette shows kinesis in, kinesis out and kinesis convert, with their icons', async function () {
        const page = ed.page;
        for (const [type, label] of [['kinesis-in', 'kinesis in'], ['kinesis-out', 'kinesis out'], ['kinesis-convert', 'kinesis convert']]) {
            const node = page.locator(`.red-ui-palette-node[data-palette-type="${type}"]`);
            await node.waitFor({ state: 'visible' });
            assert.equal((await node.getAttribute('data-palette-label'))?.replace(/\s+/g, ' '), label, `${type}: palette label`);
            const icon = await node.locator('.red-ui-palette-icon-container').getAttribute('data-palette-icon');
            assert.ok(icon, `${type}: an icon`);
            if (!icon.startsWith('font-awesome/')) {
                // the icon file is served and is an image the browser can draw
                const size = await page.evaluate((src) => new Promise<number>((resolve) => {
                    const img = new Image();
                    img.onload = () => resolve(img.naturalWidth);
                    img.onerror = () => resolve(-1);
                    img.src = src;
                }), icon);
                assert.ok(size > 0, `${type}: icon ${icon} loads (${size})`);
            }
        }
        assert.equal(await page.locator('.red-ui-palette-node[data-palette-type="kinesis-config"]').count(), 0, 'the config node is not in the palette');
        await page.locator('#red-ui-palette-search input').pressSequentially('kinesis');
        await page.locator('.red-ui-palette-node[data-palette-type="inject"]').waitFor({ state: 'hidden' });
        await ed.shot('01-palette', page.locator('.red-ui-palette-category:has(.red-ui-palette-node[data-palette-type="kinesis-in"])'));
        await page.locator('#red-ui-palette-search input').fill('');
        await page.locator('#red-ui-palette-search input').press('Escape');
        await page.locator('.red-ui-palette-node[data-palette-type="inject"]').waitFor({ state: 'visible' });
        ed.assertNoConsoleErrors('loading the editor');
    });

    it('each node dragged from the palette opens its edit dialog, labels translated, with no console error', async function () {
        const from = ed.consoleErrors.length;
        id.in = await ed.addFromPalette('kinesis-in', 160, 80);
        id.out = await ed.addFromPalette('kinesis-out', 160, 180);
        id.convert = await ed.addFromPalette('kinesis-convert', 160, 280);
        id.config = 'bt-config';
        for (const [key, field] of [['in', '#node-input-applicationName'], ['out', '#node-input-keyGeneration'], ['convert', '#node-input-direction'], ['config', '#node-config-input-region']]) {
            await ed.editNode(id[key]);
            if (key === 'in' || key === 'out') {
                // a new node has no connection yet; the user picks the one there is
                await ed.select('#node-input-config', 'bt-config');
            }
            await ed.page.locator(field).waitFor({ state: 'visible' });
            // labels come from the message catalog: no raw i18n keys left in the form
            const raw = await ed.page.evaluate(() => Array.from(document.querySelectorAll('.red-ui-tray label, .red-ui-tray span'))
                .map((e) => (e.textContent || '').trim()).filter((t) => /^kinesis-(in|out|config|convert)\.[a-zA-Z.]+$/.test(t)));
            assert.deepEqual(raw, [], `${key}: every label translated`);
            await ed.shot(`02-dialog-kinesis-${key}`);
            if (key === 'in' || key === 'out') await ed.done(); else await ed.cancel();
        }
        ed.assertNoConsoleErrors('opening the edit dialogs', from);
    });

    it('kinesis-in: the selects and the timestamp TypedInput save what was chosen, and deploy', async function () {
        await ed.editNode(id.in);
        await ed.page.locator('#node-input-streamName').fill('tb-test-downlink');
        await ed.page.locator('#node-input-applicationName').fill('browser-edit-test');
        await ed.select('#node-input-initialPosition', 'AT_TIMESTAMP');
        await ed.typedInput('#node-input-timestamp', 'num', '1767225600000');
        await ed.select('#node-input-payloadFormat', 'json');
        await ed.select('#node-input-outputMode', 'batch');
        await ed.select('#node-input-checkpointMode', 'sent');
        await ed.shot('03-kinesis-in-choices');
        await ed.done();
        const props = await ed.nodeProps(id.in);
        assert.deepEqual(
            { initialPosition: props.initialPosition, timestamp: props.timestamp, timestampType: props.timestampType, payloadFormat: props.payloadFormat, outputMode: props.outputMode, checkpointMode: props.checkpointMode },
            { initialPosition: 'AT_TIMESTAMP', timestamp: '1767225600000', timestampType: 'num', payloadFormat: 'json', outputMode: 'batch', checkpointMode: 'sent' },
        );
        // reopened, the dialog shows the saved choices
        await ed.editNode(id.in);
        assert.equal(await ed.page.locator('#node-input-initialPosition').inputValue(), 'AT_TIMESTAMP');
        assert.equal(await ed.page.locator('#node-input-timestampType').inputValue(), 'num');
        await ed.cancel();
        await ed.deploy();
        const deployed = (await ed.runtimeFlows()).find((n) => n.id === id.in);
        assert.equal(deployed?.timestampType, 'num');
        assert.equal(deployed?.outputMode, 'batch');
    });

    it('kinesis-out: stream name and partition key TypedInputs from msg, and the key select, are saved', async function () {
        await ed.editNode(id.out);
        await ed.typedInput('#node-input-streamName', 'msg', 'topic');
        await ed.typedInput('#node-input-partitionKey', 'msg', 'payload.deviceId');
        await ed.select('#node-input-keyGeneration', 'hash');
        await ed.shot('04-kinesis-out-choices');
        await ed.done();
        const props = await ed.nodeProps(id.out);
        assert.deepEqual(
            { streamName: props.streamName, streamNameType: props.streamNameType, partitionKey: props.partitionKey, partitionKeyType: props.partitionKeyType, keyGeneration: props.keyGeneration },
            { streamName: 'topic', streamNameType: 'msg', partitionKey: 'payload.deviceId', partitionKeyType: 'msg', keyGeneration: 'hash' },
        );
        await ed.deploy();
        const deployed = (await ed.runtimeFlows()).find((n) => n.id === id.out);
        assert.equal(deployed?.streamNameType, 'msg');
        assert.equal(deployed?.partitionKeyType, 'msg');
    });

    it('kinesis-config: Test connection says OK with the local stack\'s streams, and explains https:// on a plain port', async function () {
        const page = ed.page;
        await ed.editNode('bt-config');
        const result = page.locator('#node-config-kinesis-test-result');
        await page.locator('#node-config-kinesis-test').click();
        await page.waitForFunction(() => /^[✔✘]/.test(document.querySelector('#node-config-kinesis-test-result')?.textContent || ''));
        const ok = (await result.textContent()) || '';
        assert.match(ok, /^✔ /, ok);
        assert.match(ok, /my-thingsboard/, 'lists the streams');
        await ed.shot('05-test-connection-ok', page.locator('.red-ui-tray').last(), docsPicture('test-connection.png'));

        // a mistake a newcomer makes: https:// on kinesis-local's plain HTTP port
        const plain = String(process.env.KINESIS_LOCAL_ENDPOINT);
        await page.locator('#node-config-input-kinesisEndpoint').fill(plain.replace(/^http:/, 'https:'));
        await page.locator('#node-config-input-region').fill('us-east-1');
        await page.locator('#node-config-kinesis-test').click();
        await page.waitForFunction(() => /^✘/.test(document.querySelector('#node-config-kinesis-test-result')?.textContent || ''));
        const bad = (await result.textContent()) || '';
        assert.match(bad, /does not speak TLS \(https:\/\/\) — for a plain HTTP port use http:\/\//, bad);
        assert.doesNotMatch(bad, /SSL routines|EPROTO|\$response/, 'no raw SDK text');
        await ed.shot('06-test-connection-failure', page.locator('.red-ui-tray').last());
        await ed.cancel(); // not saved: the flows keep the working settings
        assert.equal((await ed.nodeProps('bt-config')).kinesisEndpoint, '');
    });

    it('kinesis-convert: the code editor, Import of a ThingsBoard file and Test of each payload type', async function () {
        const page = ed.page;
        const from = ed.consoleErrors.length;
        await ed.editNode(id.convert);
        await page.locator('#node-input-kc-script-editor .monaco-editor, #node-input-kc-script-editor .ace_editor').first().waitFor({ state: 'visible' });
        const script = (): Promise<string> => page.evaluate((nodeId) => (window as any).RED.nodes.node(nodeId).editor.getValue(), id.convert);

        // Import: paste ThingsBoard's TBEL uplink converter export, then its JS one
        const tbel = JSON.parse(thingsboardFixture('aws_kinesis_tbel_uplink_converter.json'));
        await page.locator('#node-input-kc-import').fill(thingsboardFixture('aws_kinesis_tbel_uplink_converter.json'));
        await page.locator('#node-input-kc-import-button').click();
        await page.waitForFunction(() => /^(Imported|Import failed)/.test(document.querySelector('#node-input-kc-import-result')?.textContent || ''));
        assert.match((await page.locator('#node-input-kc-import-result').textContent()) || '', /^Imported ".+" \(uplink, TBEL\)/);
        assert.equal(await page.locator('#node-input-scriptLang').inputValue(), 'TBEL');
        assert.equal(await script(), tbel.configuration.tbelDecoder);
        await ed.shot('07-converter-imported-tbel');
        await page.locator('#node-input-kc-test-button').click();
        await page.waitForFunction(() => /^(\[|\{|✘)/.test(document.querySelector('#node-input-kc-test-result')?.textContent || ''));
        const tbelOut = (await page.locator('#node-input-kc-test-result').textContent()) || '';
        assert.match(tbelOut, /"deviceName": "kitchen_thermostat"/, `the TBEL decoder runs: ${tbelOut.slice(0, 300)}`);

        const js = JSON.parse(thingsboardFixture('aws_kinesis_javascript_uplink_converter.json'));
        await page.locator('#node-input-kc-import').fill(thingsboardFixture('aws_kinesis_javascript_uplink_converter.json'));
        await page.locator('#node-input-kc-import-button').click();
        await page.waitForFunction(() => /^Imported .*JS\)/.test(document.querySelector('#node-input-kc-import-result')?.textContent || ''));
        assert.equal(await page.locator('#node-input-scriptLang').inputValue(), 'JS');
        assert.equal(await script(), js.configuration.decoder);

        // Test: the tutorial record in each payload type the Test form offers
        const record = '{"devName":"kitchen_thermostat","devType":"thermostat","temperature":22}';
        const forms: Array<[string, string]> = [
            ['JSON', record],
            ['TEXT', record],
            ['BINARY', Buffer.from(record).toString('base64')],
            ['HEX', Buffer.from(record).toString('hex')],
        ];
        for (const [type, payload] of forms) {
            await page.locator('#node-input-kc-test-result').evaluate((e) => { e.textContent = ''; });
            await ed.select('#node-input-kc-test-payloadType', type);
            await page.locator('#node-input-kc-test-payload').fill(payload);
            await page.locator('#node-input-kc-test-button').click();
            await page.waitForFunction(() => /^(\[|\{|✘)/.test(document.querySelector('#node-input-kc-test-result')?.textContent || ''));
            const out = (await page.locator('#node-input-kc-test-result').textContent()) || '';
            assert.doesNotMatch(out, /^✘/, `${type}: ${out}`);
            // one message per result, as the node sends them: {topic: entity name, payload: the result}
            const [first] = JSON.parse(out) as Array<{ topic: string; payload: { deviceName: string; deviceType: string; telemetry: Array<{ values: unknown }> } }>;
            assert.equal(first.topic, 'kitchen_thermostat', `${type}: msg.topic`);
            assert.equal(first.payload.deviceName, 'kitchen_thermostat', `${type}: the device`);
            assert.equal(first.payload.deviceType, 'thermostat', `${type}: the type`);
            assert.deepEqual(first.payload.telemetry[0].values, { temperature: 22 }, `${type}: the telemetry`);
            if (type === 'JSON') {
                await page.locator('#node-input-kc-test-result').scrollIntoViewIfNeeded();
                await ed.shot('08-converter-test-json', page.locator('.red-ui-tray').last(), docsPicture('converter-test.png'));
            }
        }
        // a broken script: the Test result says what and where
        await page.evaluate((nodeId) => (window as any).RED.nodes.node(nodeId).editor.setValue('var x = ;\nreturn x;'), id.convert);
        await ed.select('#node-input-kc-test-payloadType', 'JSON');
        await page.locator('#node-input-kc-test-payload').fill(record);
        await page.locator('#node-input-kc-test-button').click();
        await page.waitForFunction(() => /^✘/.test(document.querySelector('#node-input-kc-test-result')?.textContent || ''));
        assert.match((await page.locator('#node-input-kc-test-result').textContent()) || '', /line 1/i);
        await ed.shot('09-converter-test-error');
        await ed.cancel();
        ed.assertNoConsoleErrors('in the converter dialog', from);
    });

    it('Import → Examples → the uplink example, Deploy, and the converted device shows in the debug sidebar', async function () {
        const page = ed.page;
        const from = ed.consoleErrors.length;
        await page.evaluate(() => (window as any).RED.actions.invoke('core:show-examples-import-dialog'));
        const dialog = page.locator('#red-ui-clipboard-dialog');
        await dialog.locator('.red-ui-treeList-label', { hasText: PACKAGE }).click();
        await dialog.locator('.red-ui-treeList-label', { hasText: UPLINK_EXAMPLE }).click();
        await page.locator('#red-ui-clipboard-dialog-import-opt > a, #red-ui-clipboard-dialog-import-opt-new').last().click().catch(() => undefined);
        await ed.shot('10-import-example');
        await page.locator('#red-ui-clipboard-dialog-ok').click();
        // a conflict dialog would mean the example clashes with what is already there
        assert.equal(await page.locator('#red-ui-clipboard-dialog-import-conflicts-list').count(), 0, 'no conflicting nodes');
        await page.waitForFunction(() => !!(window as any).RED.nodes.node('ex01-inject'));
        // a fresh import hangs on the mouse until it is dropped: drop it on the canvas
        await page.mouse.move(400, 300);
        await page.mouse.click(400, 300);
        await page.waitForFunction(() => !(window as any).RED.view.state || (window as any).RED.view.state() === 0);
        await ed.deploy();
        await ed.sidebar('debug');
        // initial position LATEST: a record put before the consumer holds its lease is skipped; click until one arrives
        const seen = async (): Promise<boolean> => page.evaluate(() => Array.from(document.querySelectorAll('.red-ui-debug-msg'))
            .some((m) => /device data/.test(m.textContent || '') && /kitchen_thermostat/.test(m.textContent || '')));
        const deadline = Date.now() + 90_000;
        while (!(await seen())) {
            assert.ok(Date.now() < deadline, `the device in the debug sidebar; runtime log:\n${ed.runtimeLog().slice(-2000)}`);
            await ed.clickInject('ex01-inject');
            await page.waitForFunction(() => Array.from(document.querySelectorAll('.red-ui-debug-msg')).some((m) => /kitchen_thermostat/.test(m.textContent || '')), undefined, { timeout: 5_000 }).catch(() => undefined);
        }
        // expand the message so the picture shows the converted device
        const shown = page.locator('.red-ui-debug-msg', { hasText: 'device data' }).last();
        // for the picture only (not a check): open the message if it shows collapsed, then its payload
        // (collapsed, one handle shows; open: [0] the message, [1] payload, [2] kinesis)
        const handles = shown.locator('.red-ui-debug-msg-object-handle:visible');
        if ((await handles.count()) < 2) await handles.first().click().catch(() => undefined);
        await handles.nth(1).waitFor({ state: 'visible', timeout: 5_000 }).catch(() => undefined);
        await handles.nth(1).click().catch(() => undefined);
        await shown.locator('.red-ui-debug-msg-object-key:visible', { hasText: 'deviceName' }).first().waitFor({ timeout: 5_000 }).catch(() => undefined);
        await page.evaluate(() => (window as any).RED.view.focus && (window as any).RED.view.focus());
        await ed.shot('11-uplink-deployed', undefined, docsPicture('uplink-flow.png'));
        const errors = await page.evaluate(() => Array.from(document.querySelectorAll('.red-ui-debug-msg-level-20')).map((m) => m.textContent));
        assert.deepEqual(errors, [], 'no errors in the debug sidebar');
        ed.assertNoConsoleErrors('importing, deploying and running the example', from);
    });
});
