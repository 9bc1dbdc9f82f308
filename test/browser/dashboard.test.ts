/**
 * Example 6 as a user with FlowFuse Dashboard 2 lives it, in headless Chromium against a real
 * Node-RED with this package and @flowfuse/node-red-dashboard: a dashboard of their own is
 * already deployed; they import the example from the Import menu, deploy, open its page and
 * press "camera on / off". The page shows the overlay (the photo with the crate's mask drawn
 * in), the scores and the counts; a second press stops the camera. Screenshots go to
 * test-results/dashboard/.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { startLocalServer, type LocalServer } from '../../local-server/server';
import { iou, makeScene, type Scene } from '../fixtures/scenes';
import { launchChromium, needChromium } from './chromium';
import { admin, deployFromEditor, PACKAGE_ROOT, startNodeRed, until, type NodeRedHost } from './node-red-host';

const TITLE = '6 Dashboard (FlowFuse Dashboard 2)';
const SHOTS = join(PACKAGE_ROOT, 'test-results', 'dashboard');
/** Where node-red-host serves Node-RED's http nodes, the dashboard's among them. */
const HTTP_NODE_ROOT = '/api';
/** Three frame periods of the example's camera (two frames a second): what "no more frames" is measured over. */
const QUIET_MS = 1500;

interface EditorNode {
  id: string;
  type: string;
  valid?: boolean;
  ui?: string;
  url?: string;
  changed?: boolean;
}
/** The browser globals the page functions below touch: this build compiles without the DOM's types. */
declare const window: {
  RED: {
    events: { on(event: string, handler: () => void): void; off(event: string, handler: () => void): void };
    nodes: {
      node(id: string): EditorNode | null;
      eachNode(visit: (node: EditorNode) => void): void;
      eachConfig(visit: (node: EditorNode) => void): void;
      dirty(dirty: boolean): void;
    };
    actions: { invoke(name: string): void };
    workspaces: { show(id: string): void };
  };
};

/** A dashboard the user made before: its own ui-base at /dashboard, a page, a text. */
const USER_DASHBOARD = [
  { id: 'home-tab', type: 'tab', label: 'Home' },
  { id: 'my-base', type: 'ui-base', name: 'My Dashboard', path: '/dashboard', includeClientData: true, acceptsClientConfig: ['ui-notification', 'ui-control'], headerContent: 'page', navigationStyle: 'default', titleBarStyle: 'default' },
  { id: 'my-theme', type: 'ui-theme', name: 'Default Theme', colors: { surface: '#ffffff', primary: '#0094CE', bgPage: '#eeeeee', groupBg: '#ffffff', groupOutline: '#cccccc' }, sizes: { pagePadding: '12px', groupGap: '12px', groupBorderRadius: '4px', widgetGap: '12px' } },
  { id: 'my-page', type: 'ui-page', name: 'Home', ui: 'my-base', path: '/', icon: 'home', layout: 'grid', theme: 'my-theme', order: 1, visible: 'true', disabled: 'false' },
  { id: 'my-group', type: 'ui-group', name: 'Greeting', page: 'my-page', width: 6, height: 1, order: 1, showTitle: true, visible: 'true', disabled: 'false' },
  { id: 'my-text', type: 'ui-text', z: 'home-tab', group: 'my-group', order: 1, width: 0, height: 0, label: 'hello', format: '{{msg.payload}}', layout: 'row-spread', x: 200, y: 100, wires: [] },
];

describe('example 6 on FlowFuse Dashboard 2, in Chromium', function () {
  this.timeout(120_000);
  let sam2: LocalServer;
  let host: NodeRedHost;
  let browser: Browser;
  let editor: Page;
  let garden: Scene;
  const pageErrors: string[] = [];
  let failedStep = '';

  before(async function () {
    needChromium(this, 'the dashboard example\'s browser tests');
    rmSync(SHOTS, { recursive: true, force: true });
    mkdirSync(SHOTS, { recursive: true });
    garden = await makeScene('garden', 1280, 720);
    sam2 = await startLocalServer();
    host = await startNodeRed({ flows: USER_DASHBOARD });
    browser = await launchChromium();
    editor = await browser.newPage({ viewport: { width: 1500, height: 950 } });
    editor.on('pageerror', (err) => pageErrors.push(`editor: ${err.message}`));
    await editor.goto(host.url);
    await editor.waitForSelector('.red-ui-palette-node[data-palette-type="ui-template"]');
  });

  after(async () => {
    await browser?.close();
    await host?.stop();
    await sam2?.close();
  });

  beforeEach(function () {
    if (failedStep) this.skip();
  });

  afterEach(async function () {
    if (this.currentTest?.state !== 'failed') return;
    failedStep = this.currentTest.title;
    process.stderr.write(`Node-RED said:\n${host?.log.join('')}\n`);
  });

  it('imports from the Import menu onto the dashboard already there, every node valid, and deploys', async () => {
    const examples = editor.locator('#red-ui-clipboard-dialog-import-tab-examples');
    const entry = (text: string) => examples.locator('.red-ui-treeList-label-text', { hasText: text });
    await editor.evaluate(() => window.RED.actions.invoke('core:show-import-dialog'));
    await editor.click('#red-ui-tab-red-ui-clipboard-dialog-import-tab-examples');
    await entry('node-red-contrib-sam2').click();
    await entry(TITLE).click();
    await editor.click('#red-ui-clipboard-dialog-ok');
    await editor.waitForSelector('#red-ui-clipboard-dialog-ok', { state: 'hidden' });
    await editor.evaluate(() => window.RED.workspaces.show('sam2-example-6'));
    await editor.screenshot({ path: join(SHOTS, '1-imported.png') });

    // Dashboard 2 runs one ui-base: its editor keeps the user's, and the example's page moves to it.
    const bases = await until('one ui-base left', () =>
      editor.evaluate(() => {
        const found: string[] = [];
        window.RED.nodes.eachConfig((n) => {
          if (n.type === 'ui-base') found.push(n.id);
        });
        return found.length === 1 ? found : undefined;
      }),
    );
    assert.deepEqual(bases, ['my-base']);
    assert.equal(await editor.evaluate(() => window.RED.nodes.node('sam2-example-6-page')?.ui), 'my-base');
    const imported = await editor.evaluate(() => {
      const found: Array<{ id: string; type: string; valid: boolean }> = [];
      const add = (n: EditorNode) => found.push({ id: n.id, type: n.type, valid: n.valid !== false });
      window.RED.nodes.eachNode(add);
      window.RED.nodes.eachConfig(add);
      return found.filter((n) => n.id.startsWith('sam2-example-6'));
    });
    assert.ok(imported.some((n) => n.type === 'ui-template') && imported.some((n) => n.type === 'sam2-segment'));
    assert.deepEqual(imported.filter((n) => !n.valid), [], 'every imported node is valid as it comes');
    assert.equal(await editor.locator('.red-ui-notification', { hasText: 'already exist' }).count(), 0, 'no import conflict');

    // The one change a user makes here: the endpoint at this test's local server.
    await editor.evaluate((url) => {
      const endpoint = window.RED.nodes.node('sam2-example-6-endpoint')!;
      endpoint.url = url;
      endpoint.changed = true;
      window.RED.nodes.dirty(true);
    }, sam2.url);
    await deployFromEditor(editor);
    const deployed = (await admin(host, 'GET', '/flows')).json<{ flows: EditorNode[] }>().flows;
    assert.equal(deployed.find((n) => n.id === 'sam2-example-6-endpoint')?.url, sam2.url);
    assert.deepEqual(deployed.filter((n) => n.type === 'ui-base').map((n) => n.id), ['my-base']);
    assert.deepEqual(pageErrors, [], 'no script errors in the editor');
  });

  it('shows the live overlay, the scores and the counts on /dashboard/sam2 from one press of camera on / off to the next', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.on('pageerror', (err) => pageErrors.push(`dashboard: ${err.message}`));
    await page.goto(`${host.url}${HTTP_NODE_ROOT}/dashboard/sam2`);
    const button = page.getByRole('button', { name: 'camera on / off' });
    await button.waitFor();
    /** The value a ui-text widget shows next to its label. */
    const shown = (label: string) => page.locator('.nrdb-ui-text', { has: page.locator('.nrdb-ui-text-label', { hasText: new RegExp(`^${label}$`) }) }).locator('.nrdb-ui-text-value');
    const overlay = page.locator('img.sam2-overlay');

    // Deployed and open: nothing runs until the button is pressed.
    await page.getByText('to start the camera').waitFor();
    assert.equal(sam2.requestCount, 0, 'no frame segmented before the press');
    assert.equal(await overlay.count(), 0);
    await page.screenshot({ path: join(SHOTS, '2-page-at-rest.png') });

    await button.click();
    await until('"camera" to say running', async () => (await shown('camera').textContent()) === 'running');
    // Live: the page follows the answers as they come, a frame after another.
    const counted = async () => /^(\d+) segmented, (\d+) dropped$/.exec((await shown('frames').textContent()) ?? '');
    const frames = await until('two frames segmented', async () => {
      const m = await counted();
      return m && Number(m[1]) >= 2 ? m : undefined;
    }, 30_000);
    await page.screenshot({ path: join(SHOTS, '3-page-running.png') });

    const src = (await overlay.getAttribute('src')) ?? '';
    assert.match(src, /^data:image\/jpeg;base64,/, 'the overlay is a JPEG data URL');
    const jpeg = Buffer.from(src.slice(src.indexOf(',') + 1), 'base64');
    const { data: drawn, info } = await sharp(jpeg).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height], [1280, 720], 'at the photo\'s size');
    // The overlay is the photo with the crate's mask tinted in: where it differs from the photo is the crate.
    const { data: photo } = await sharp(readFileSync(join(PACKAGE_ROOT, 'examples', 'garden-1280x720.jpg'))).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const tinted = new Uint8Array(info.width * info.height);
    for (let i = 0; i < tinted.length; i++) {
      const d = Math.abs(drawn[i * 3] - photo[i * 3]) + Math.abs(drawn[i * 3 + 1] - photo[i * 3 + 1]) + Math.abs(drawn[i * 3 + 2] - photo[i * 3 + 2]);
      tinted[i] = d > 60 ? 1 : 0;
    }
    const crate = garden.objects.find((o) => o.name === 'crate')!;
    const overlap = iou(tinted, crate.mask);
    assert.ok(overlap >= 0.85, `the tinted part of the overlay is the crate (IoU ${overlap.toFixed(3)})`);

    const best = Number(await shown('best score').textContent());
    const scores = ((await shown('scores').textContent()) ?? '').split(' · ').map(Number);
    assert.equal(scores.length, 3, 'every mask\'s score: SAM2\'s three candidates for one prompt');
    assert.deepEqual(scores, [...scores].sort((a, b) => b - a), 'best first');
    assert.ok(best > 0 && best <= 1);
    assert.equal(best, scores[0], 'the best score is the first of the scores');
    assert.equal(await shown('masks').textContent(), '3');
    assert.ok(Number(frames[1]) <= sam2.requestCount, `${frames[1]} segmented, ${sam2.requestCount} sent to the endpoint`);

    await button.click();
    await until('"camera" to say stopped', async () => (await shown('camera').textContent()) === 'stopped');
    // Frames already on their way are answered; after them, nothing more reaches the endpoint.
    await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
    const settled = sam2.requestCount;
    await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
    assert.equal(sam2.requestCount, settled, 'no frames after the second press');
    await page.screenshot({ path: join(SHOTS, '4-page-stopped.png') });

    // The user's own page is still there, on the same dashboard.
    await page.goto(`${host.url}${HTTP_NODE_ROOT}/dashboard`);
    await page.locator('.nrdb-ui-text-label', { hasText: 'hello' }).waitFor();
    assert.deepEqual(pageErrors, [], 'no script errors in the editor or on the dashboard');
  });
});
