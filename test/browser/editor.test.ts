/**
 * The editor as a user drives it, in real headless Chromium against a real Node-RED with this
 * package: add the nodes, set the endpoint up and test it, place prompts on a photo, try them,
 * deploy, and watch the live preview. Screenshots of each step go to test-results/screenshots/.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { startLocalServer, type LocalServer } from '../../local-server/server';
import { makeScene, type Scene } from '../fixtures/scenes';
import { launchChromium, needChromium } from './chromium';
import { admin, deployFromEditor, PACKAGE_ROOT, startNodeRed, until, type NodeRedHost } from './node-red-host';

/** The browser globals the page functions below touch: this build compiles without the DOM's types. */
interface PageCanvas {
  width: number;
  height: number;
  getBoundingClientRect(): { left: number; top: number; width: number; height: number };
  getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } };
}
declare const document: {
  getElementById(id: string): (PageCanvas & { textContent: string | null }) | null;
  querySelector(selector: string): { textContent: string | null } | null;
};
interface EditorNode {
  id: string;
  type: string;
  valid?: boolean;
}
declare const window: {
  /** Set by deploy() below: resolves when the editor hears the deploy succeed. */
  RED: {
    events: { on(event: string, handler: () => void): void; off(event: string, handler: () => void): void };
    nodes: {
      filterNodes(filter: object): Array<{ id: string }>;
      filterLinks(filter: object): unknown[];
      node(id: string): { valid: boolean } | null;
      eachNode(visit: (node: EditorNode) => void): void;
      eachConfig(visit: (node: EditorNode) => void): void;
    };
    view: { importNodes(nodes: object[], options: { touchImport: boolean }): void };
    actions: { invoke(name: string): void };
    workspaces: { show(id: string): void };
  };
};

const SHOTS = join(PACKAGE_ROOT, 'test-results', 'screenshots');

interface SavedNode {
  id: string;
  type: string;
  points?: Array<{ x: number; y: number; label: number }>;
  box?: [number, number, number, number] | null;
  endpoint?: string;
  url?: string;
  service?: string;
  preview?: boolean;
  wires?: string[][];
}

/** Where a fraction of an element's box is, in page pixels. */
async function at(locator: Locator, fx: number, fy: number): Promise<{ x: number; y: number }> {
  const box = (await locator.boundingBox())!;
  return { x: Math.round(box.x + fx * box.width), y: Math.round(box.y + fy * box.height) };
}

function assertNear(actual: number, expected: number, what: string): void {
  // Pointer coordinates reach the page as floats a hair off the CSS pixel clicked: at a .5
  // boundary that may round to the neighbouring frame pixel.
  assert.ok(Math.abs(actual - expected) <= 1, `${what}: ${actual}, expected ${expected}`);
}

describe('the editor in Chromium', function () {
  this.timeout(120_000);
  let sam2: LocalServer;
  let host: NodeRedHost;
  let browser: Browser;
  let page: Page;
  let scene: Scene;
  let photo: string;
  let tmp: string;
  let segId = '';
  let shot = 0;
  /** Prompts as clicked, in frame pixels. */
  let clicked: { fg: [number, number]; bg: [number, number]; box: [number, number, number, number] };
  const pageErrors: string[] = [];
  /** One user's session, step by step: after a failed step the rest have nothing to check. */
  let failedStep = '';

  async function screenshot(name: string): Promise<void> {
    shot++;
    await page.screenshot({ path: join(SHOTS, `${String(shot).padStart(2, '0')}-${name}.png`) });
  }

  async function savedFlows(): Promise<SavedNode[]> {
    const res = await admin(host, 'GET', '/flows');
    assert.equal(res.status, 200);
    return res.json<{ flows: SavedNode[] }>().flows;
  }

  /** Presses Deploy and waits for the editor to hear that the runtime took the flows. */
  async function deploy(): Promise<void> {
    await deployFromEditor(page);
  }

  async function openDialog(id: string): Promise<void> {
    await page.dblclick(`g[id="${id}"] rect.red-ui-flow-node`);
    // The tray slides in: wait until its buttons stop moving.
    await page.locator('#node-dialog-ok').click({ trial: true });
  }

  const canvas = () => page.locator('#sam2-segment-canvas');

  /** Node-RED takes two clicks on a tab strip within 400 ms for a double-click: click until the tab shows. */
  async function openTab(id: string): Promise<void> {
    await until(`tab ${id}`, async () => {
      await page.click(`#red-ui-tab-${id} a`);
      return page.locator(`#${id}`).isVisible();
    });
  }

  /** The canvas pixel under a page position, as drawn. */
  async function canvasPixel(x: number, y: number): Promise<[number, number, number]> {
    return page.evaluate(
      ([px, py]) => {
        const c = document.getElementById('sam2-segment-canvas')!;
        const r = c.getBoundingClientRect();
        const d = c.getContext('2d')!.getImageData(Math.round(((px - r.left) * c.width) / r.width), Math.round(((py - r.top) * c.height) / r.height), 1, 1).data;
        return [d[0], d[1], d[2]] as [number, number, number];
      },
      [x, y],
    );
  }

  before(async function () {
    needChromium(this, "the editor's browser tests");
    rmSync(SHOTS, { recursive: true, force: true });
    mkdirSync(SHOTS, { recursive: true });
    tmp = mkdtempSync(join(tmpdir(), 'sam2-editor-'));
    scene = await makeScene('studio', 1280, 720);
    photo = join(tmp, 'studio.jpg');
    writeFileSync(photo, scene.jpeg);
    sam2 = await startLocalServer();
    host = await startNodeRed({
      flows: [
        { id: 'tab', type: 'tab', label: 'Camera' },
        // A "camera": one frame of the same scene per press of its button.
        { id: 'cam', type: 'inject', z: 'tab', name: 'camera frame', payloadType: 'bin', payload: JSON.stringify([...scene.jpeg]), repeat: '', once: false, x: 140, y: 120, wires: [[]] },
      ],
    });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1500, height: 950 } });
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await page.goto(host.url);
    await page.waitForSelector('.red-ui-palette-node[data-palette-type="sam2-segment"]');
    await page.waitForSelector('g[id="cam"]');
  });

  after(async () => {
    await browser?.close();
    await host?.stop();
    await sam2?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  beforeEach(function () {
    if (failedStep) this.skip();
  });

  afterEach(async function () {
    if (this.currentTest?.state !== 'failed') return;
    failedStep = this.currentTest.title;
    await page?.screenshot({ path: join(SHOTS, 'failed.png') });
    process.stderr.write(`Screenshot: ${join(SHOTS, 'failed.png')}\nNode-RED said:\n${host?.log.join('')}\n`);
  });

  it('adds a sam2-segment from the palette and wires the camera to it', async () => {
    const paletteNode = page.locator('.red-ui-palette-node[data-palette-type="sam2-segment"]');
    await paletteNode.scrollIntoViewIfNeeded();
    assert.equal((await paletteNode.innerText()).replace(/\s+/g, ' ').trim(), 'sam2 segment');
    const from = await at(paletteNode, 0.5, 0.5);
    const chart = (await page.locator('#red-ui-workspace-chart').boundingBox())!;
    await page.mouse.move(from.x, from.y);
    await page.mouse.down();
    await page.mouse.move(chart.x + 420, chart.y + 120, { steps: 12 });
    await page.mouse.up();
    segId = await page.evaluate(() => window.RED.nodes.filterNodes({ type: 'sam2-segment' })[0]?.id ?? '');
    assert.ok(segId, 'a sam2-segment node is on the workspace');
    const label = page.locator(`g[id="${segId}"] .red-ui-flow-node-label`);
    assert.equal((await label.textContent())?.trim(), 'sam2 segment');

    const out = await at(page.locator('g[id="cam"] .red-ui-flow-port-output .red-ui-flow-port'), 0.5, 0.5);
    const into = await at(page.locator(`g[id="${segId}"] .red-ui-flow-port-input .red-ui-flow-port`), 0.5, 0.5);
    await page.mouse.move(out.x, out.y);
    await page.mouse.down();
    await page.mouse.move(into.x, into.y, { steps: 8 });
    await page.mouse.up();
    await page.waitForFunction(() => window.RED.nodes.filterLinks({ source: { id: 'cam' } }).length === 1);
    await screenshot('workspace-new-node');
  });

  it('sets up a new endpoint for the local server and tests it from its dialog', async () => {
    await openDialog(segId);
    await screenshot('segment-dialog-new');
    await page.click('#node-input-btn-endpoint-add');
    await page.locator('#node-config-dialog-ok').click({ trial: true });
    assert.equal(await page.locator('#node-config-input-service').inputValue(), 'community');
    assert.equal(await page.locator('#sam2-endpoint-row-url').isVisible(), false, 'no URL for the community gateway');
    await page.selectOption('#node-config-input-service', 'custom');
    assert.equal(await page.locator('#sam2-endpoint-row-url').isVisible(), true);
    await page.fill('#node-config-input-url', sam2.url);
    assert.equal(await page.locator('#node-config-input-modelId').inputValue(), 'facebook/sam2-hiera-large');
    await page.click('#sam2-endpoint-test');
    const result = page.locator('#sam2-endpoint-result.sam2-endpoint-ok');
    await result.waitFor();
    assert.match(await result.innerText(), new RegExp(`^Connected to ${sam2.url}: no token was needed, and facebook/sam2-hiera-large answered a 64x64 test image with 3 masks, best score \\d\\.\\d\\d in \\d+ ms\\.$`));
    await screenshot('endpoint-test-ok');

    await page.fill('#node-config-input-url', 'http://127.0.0.1:9');
    await page.click('#sam2-endpoint-test');
    const failed = page.locator('#sam2-endpoint-result.sam2-endpoint-failed');
    await failed.waitFor();
    assert.match(await failed.innerText(), /^Could not reach http:\/\/127\.0\.0\.1:9: nothing accepts connections there/);
    await screenshot('endpoint-test-unreachable');

    await page.fill('#node-config-input-url', sam2.url);
    await page.click('#node-config-dialog-ok');
    await page.waitForSelector('#node-config-input-service', { state: 'detached' });
    const chosen = page.locator('#node-input-endpoint option:checked');
    assert.equal((await chosen.textContent())?.trim(), sam2.url);
  });

  it('places two points and a box on an opened photo, in the photo\'s own pixels', async () => {
    await page.setInputFiles('#sam2-segment-file', photo);
    await page.waitForSelector('#sam2-segment-frame:not(.sam2-segment-frame-empty)');
    assert.match(await page.locator('#sam2-segment-caption').innerText(), /^studio\.jpg, 1280 × 720 px/);
    const block = scene.objects.find((o) => o.name === 'block')!;
    // The tray may still be settling: measure the canvas once it has stopped moving.
    await canvas().click({ trial: true });
    const box = (await canvas().boundingBox())!;
    assert.ok(box.width < scene.width, 'the photo is drawn smaller than its pixels, so clicks must be scaled');
    /** A spot on the canvas, in whole CSS pixels from its top-left corner, at frame pixel (x, y). */
    const spot = (x: number, y: number) => ({ x: Math.round((x / scene.width) * box.width), y: Math.round((y / scene.height) * box.height) });
    /** The frame pixel the dialog must store for a spot. */
    const pixel = (p: { x: number; y: number }): [number, number] => [Math.round((p.x / box.width) * scene.width), Math.round((p.y / box.height) * scene.height)];
    const fg = spot(block.point[0], block.point[1]);
    const bg = spot(100, 90);
    const [x1, y1, x2, y2] = block.box;
    const from = spot(x1 - 12, y1 - 12);
    const to = spot(x2 + 12, y2 + 12);

    assert.ok(await page.locator('#sam2-segment-no-prompt').isVisible(), 'a node with no prompts says each message must bring its own');
    await canvas().click({ position: fg });
    assert.ok(await page.locator('#sam2-segment-no-prompt').isHidden(), 'the note goes with the first point');
    await canvas().click({ position: bg, modifiers: ['Shift'] });
    await canvas().hover({ position: from });
    await page.mouse.down();
    await page.mouse.move(box.x + to.x, box.y + to.y, { steps: 10 });
    await page.mouse.up();

    clicked = { fg: pixel(fg), bg: pixel(bg), box: [...pixel(from), ...pixel(to)] as [number, number, number, number] };
    const rows = page.locator('#sam2-segment-points tr');
    await rows.nth(1).waitFor();
    assert.equal(await rows.count(), 2);
    const row = async (i: number) => ({
      x: Number(await rows.nth(i).locator('.sam2-segment-point-x').inputValue()),
      y: Number(await rows.nth(i).locator('.sam2-segment-point-y').inputValue()),
      label: await rows.nth(i).locator('.sam2-segment-point-label option:checked').textContent(),
    });
    const first = await row(0);
    const second = await row(1);
    assertNear(first.x, clicked.fg[0], 'foreground x');
    assertNear(first.y, clicked.fg[1], 'foreground y');
    assert.equal(first.label, 'foreground');
    assertNear(second.x, clicked.bg[0], 'background x');
    assertNear(second.y, clicked.bg[1], 'background y');
    assert.equal(second.label, 'background');
    const boxFields = await Promise.all(['x1', 'y1', 'x2', 'y2'].map((k) => page.locator(`#sam2-segment-box-${k}`).inputValue()));
    boxFields.forEach((v, i) => assertNear(Number(v), clicked.box[i], `box ${['x1', 'y1', 'x2', 'y2'][i]}`));
    await screenshot('prompts-placed');

    // A right-click is a background point too; the table's bin removes it.
    await canvas().click({ position: spot(1200, 650), button: 'right' });
    await rows.nth(2).waitFor();
    assert.equal(await rows.nth(2).locator('.sam2-segment-point-label option:checked').textContent(), 'background');
    await rows.nth(2).locator('button').click();
    await rows.nth(2).waitFor({ state: 'detached' });

    // Relative coordinates are fractions of the frame's size, and back again.
    await page.selectOption('#node-input-coordinates', 'relative');
    const relative = await row(0);
    assert.equal(relative.x, Math.round((first.x / scene.width) * 10000) / 10000);
    assert.equal(relative.y, Math.round((first.y / scene.height) * 10000) / 10000);
    await page.selectOption('#node-input-coordinates', 'pixels');
    assert.deepEqual(await row(0), first);
  });

  it('tries before any deploy, with the new endpoint\'s settings as the dialog has them', async () => {
    const before = sam2.requestCount;
    await page.click('#sam2-segment-try');
    await page.waitForFunction(() => /^Best mask: score|^Try failed/.test(document.getElementById('sam2-segment-status')?.textContent ?? ''));
    assert.match(await page.locator('#sam2-segment-status').innerText(), /^Best mask: score \d\.\d\d, \d+ px, answered in \d+ ms$/);
    assert.equal(sam2.requestCount - before, 1, 'the request went to the URL typed in the endpoint dialog');
    await screenshot('try-before-deploy');
  });

  it('saves the prompts with the flow in frame pixels when Done and Deploy are pressed', async () => {
    await page.click('#node-dialog-ok');
    await page.waitForSelector('#node-dialog-ok', { state: 'detached' });
    await deploy();
    await screenshot('deployed');
    const flows = await savedFlows();
    const seg = flows.find((n) => n.id === segId)!;
    const endpoint = flows.find((n) => n.type === 'sam2-endpoint')!;
    assert.equal(seg.endpoint, endpoint.id);
    assert.deepEqual([endpoint.service, endpoint.url], ['custom', sam2.url]);
    assert.deepEqual(flows.find((n) => n.id === 'cam')!.wires, [[segId]]);
    assert.equal(seg.points!.length, 2);
    assertNear(seg.points![0].x, clicked.fg[0], 'saved foreground x');
    assertNear(seg.points![0].y, clicked.fg[1], 'saved foreground y');
    assert.equal(seg.points![0].label, 1);
    assertNear(seg.points![1].x, clicked.bg[0], 'saved background x');
    assertNear(seg.points![1].y, clicked.bg[1], 'saved background y');
    assert.equal(seg.points![1].label, 0);
    seg.box!.forEach((v, i) => assertNear(v, clicked.box[i], `saved box[${i}]`));
    assert.ok(seg.points!.every((p) => Number.isInteger(p.x) && Number.isInteger(p.y)), 'pixel coordinates are whole pixels');
  });

  it('tries the saved prompts on the photo and draws the best mask with its score', async () => {
    await openDialog(segId);
    const message = page.locator('#sam2-segment-frame-message');
    await page.waitForFunction(() => /No frame yet/.test(document.getElementById('sam2-segment-frame-message')?.textContent ?? ''));
    assert.equal(await message.innerText(), 'No frame yet: send the node an image, or open an image file here.');
    await screenshot('dialog-no-frame-yet');
    await page.setInputFiles('#sam2-segment-file', photo);
    await page.waitForSelector('#sam2-segment-frame:not(.sam2-segment-frame-empty)');
    assert.equal(await page.locator('#sam2-segment-points tr').count(), 2, 'the saved points are back');

    const block = scene.objects.find((o) => o.name === 'block')!;
    await canvas().click({ trial: true });
    const inside = await at(canvas(), (block.point[0] + 40) / scene.width, (block.point[1] + 40) / scene.height);
    const outside = await at(canvas(), 0.5, 0.9);
    const before = await canvasPixel(inside.x, inside.y);
    const outsideBefore = await canvasPixel(outside.x, outside.y);
    // Multimask on: with two points, "auto" would ask for one mask, and here three are compared.
    await page.selectOption('#sam2-segment-multimask', 'true');
    await page.click('#sam2-segment-try');
    await page.locator('#sam2-segment-masks button').nth(2).waitFor();
    const status = await page.locator('#sam2-segment-status').innerText();
    assert.match(status, /^Best mask: score (\d\.\d\d), (\d+) px, answered in \d+ ms$/);
    const buttons = await page.locator('#sam2-segment-masks button').allInnerTexts();
    assert.equal(buttons.length, 3);
    const scores = buttons.map((b) => Number(/^mask \d · (\d\.\d\d)$/.exec(b.trim())![1]));
    assert.equal(scores[0], Number(/score (\d\.\d\d)/.exec(status)![1]), 'the status names mask 1\'s score');
    assert.ok(scores[0] >= scores[1] && scores[1] >= scores[2], `best first: ${scores}`);
    assert.equal(await page.locator('#sam2-segment-masks button.selected').innerText(), buttons[0]);

    // The block is blue; the mask is tinted the overlay colour (#ff00ff, magenta) over it.
    await page.waitForFunction(
      ([px, py, r0]) => {
        const c = document.getElementById('sam2-segment-canvas')!;
        const rect = c.getBoundingClientRect();
        const d = c.getContext('2d')!.getImageData(Math.round(((px - rect.left) * c.width) / rect.width), Math.round(((py - rect.top) * c.height) / rect.height), 1, 1).data;
        return d[0] > r0 + 60;
      },
      [inside.x, inside.y, before[0]],
    );
    const after = await canvasPixel(inside.x, inside.y);
    assert.ok(after[0] > before[0] + 60 && after[1] < before[1], `inside the block turns magenta: ${before} -> ${after}`);
    // The same frame pixel, wherever the canvas is on the page now, is not tinted: within a few
    // levels (on Node-RED 5 the frame is drawn again after Try, and the browser's resampling of
    // it may differ by a level or two), far from the tint's tens.
    const outsideNow = await at(canvas(), 0.5, 0.9);
    const outsideAfter = await canvasPixel(outsideNow.x, outsideNow.y);
    assert.ok(outsideAfter.every((v, i) => Math.abs(v - outsideBefore[i]) <= 4), `outside the mask is not tinted: ${outsideBefore} -> ${outsideAfter}`);
    const sent = sam2.requests.at(-1)!;
    assert.equal(sent.image?.width, 1280);
    assert.equal(sent.fields.point_labels, '[1,0]');
    await screenshot('try-best-mask');

    await page.locator('#sam2-segment-masks button').nth(2).click();
    assert.equal(await page.locator('#sam2-segment-masks button.selected').innerText(), buttons[2]);
    assert.match(await page.locator('#sam2-segment-status').innerText(), new RegExp(`^Mask 3: score ${scores[2].toFixed(2)}, \\d+ px$`));
    await screenshot('try-third-mask');
    await page.click('#node-dialog-cancel');
    await page.waitForSelector('#node-dialog-ok', { state: 'detached' });
  });

  it('shows the node\'s last frame once the camera has sent one', async () => {
    await page.click('g[id="cam"] .red-ui-flow-node-button');
    await page.waitForFunction(
      (id) => /mask/.test(document.querySelector(`g[id="${id}"] .red-ui-flow-node-status-label`)?.textContent ?? ''),
      segId,
    );
    await openDialog(segId);
    await page.waitForSelector('#sam2-segment-frame:not(.sam2-segment-frame-empty)');
    assert.match(await page.locator('#sam2-segment-caption').innerText(), /^Last frame the node read, 1280 × 720 px/);
    await page.click('#sam2-segment-try');
    await page.locator('#sam2-segment-masks button').first().waitFor();
    assert.match(await page.locator('#sam2-segment-status').innerText(), /^Best mask: score \d\.\d\d/);
    await screenshot('dialog-last-frame-try');
    await page.click('#node-dialog-cancel');
    await page.waitForSelector('#node-dialog-ok', { state: 'detached' });
  });

  it('sets the output and frame options, and a second output for dropped messages', async () => {
    await openDialog(segId);
    await openTab('sam2-segment-tab-output');
    assert.equal(await page.locator('#sam2-segment-row-tolerance').isVisible(), false, 'tolerance only for polygons');
    await page.selectOption('#node-input-format', 'polygons');
    assert.equal(await page.locator('#sam2-segment-row-tolerance').isVisible(), true);
    await page.selectOption('#node-input-format', 'rle');
    await page.check('#node-input-overlay');
    assert.equal(await page.locator('#sam2-segment-row-overlay').isVisible(), true);
    await page.fill('#node-input-overlayOutline', '4');
    await screenshot('dialog-output-tab');
    await openTab('sam2-segment-tab-queue');
    assert.equal(await page.locator('#sam2-segment-row-queueLimit').isVisible(), false, 'a limit only for the queue policy');
    await page.selectOption('#node-input-queue', 'queue');
    assert.equal(await page.locator('#sam2-segment-row-queueLimit').isVisible(), true);
    await page.check('#node-input-dropOutput');
    assert.equal(await page.locator('#sam2-segment-row-track').isVisible(), false, 'tracking settings only with tracking on');
    await page.check('#node-input-track');
    assert.equal(await page.locator('#sam2-segment-row-track').isVisible(), true);
    assert.equal(await page.locator('#node-input-trackMaxLost').getAttribute('placeholder'), '5', 'the default shown');
    await page.fill('#node-input-trackMargin', '0.3');
    await screenshot('dialog-frames-tab');
    await page.click('#node-dialog-ok');
    await page.waitForSelector('#node-dialog-ok', { state: 'detached' });
    assert.equal(await page.locator(`g[id="${segId}"] .red-ui-flow-port-output`).count(), 2);
    await deploy();
    const seg = (await savedFlows()).find((n) => n.id === segId)! as SavedNode & Record<string, unknown>;
    assert.deepEqual([seg.format, seg.overlay, seg.overlayOutline, seg.queue, seg.dropOutput, seg.outputs], ['rle', true, '4', 'queue', true, 2]);
    assert.deepEqual([seg.track, seg.trackMargin], [true, '0.3']);
  });

  it('turns the live preview on with the node\'s button and draws it under the node', async () => {
    const preview = page.locator(`g[id="${segId}"] image.sam2-segment-preview`);
    const button = page.locator(`g[id="${segId}"] rect.red-ui-flow-node-button-button`);
    await button.click();
    await page.locator('.red-ui-notification', { hasText: 'Live preview on' }).waitFor();
    await page.click('g[id="cam"] .red-ui-flow-node-button');
    await preview.waitFor({ state: 'attached' });
    // Notifications close on their own after a few seconds; they cover the node until then.
    await page.waitForFunction(() => !document.querySelector('.red-ui-notification'));
    const href = await preview.getAttribute('href');
    assert.match(href ?? '', /^data:image\/jpeg;base64,/);
    assert.deepEqual([await preview.getAttribute('width'), await preview.getAttribute('height')], ['160', '90']);
    await screenshot('workspace-live-preview');

    await button.click();
    await preview.waitFor({ state: 'detached' });
    await deploy();
    const seg = (await savedFlows()).find((n) => n.id === segId)!;
    assert.equal(seg.preview, false);
    assert.deepEqual(pageErrors, [], 'no script errors in the editor');
  });

  it('takes flows written by hand, with only the properties they need, as valid', async () => {
    const valid = await page.evaluate(() => {
      window.RED.view.importNodes([
        { id: 'hand-ep', type: 'sam2-endpoint', service: 'custom', url: 'http://127.0.0.1:8000' },
        { id: 'hand-seg', type: 'sam2-segment', endpoint: 'hand-ep', x: 300, y: 300, wires: [[]] },
        // Placed where written, not attached to the mouse as a paste is.
      ], { touchImport: true });
      return ['hand-ep', 'hand-seg'].map((id) => window.RED.nodes.node(id)?.valid);
    });
    assert.deepEqual(valid, [true, true]);
    // Their dialogs show the defaults the runtime applies, and Done keeps them valid.
    await openDialog('hand-seg');
    assert.equal(await page.locator('#node-input-property').inputValue(), 'payload');
    assert.equal(await page.locator('#sam2-segment-multimask').inputValue(), 'auto');
    await page.click('#node-input-btn-endpoint-edit');
    await page.locator('#node-config-dialog-ok').click({ trial: true });
    assert.equal(await page.locator('#node-config-input-efficient').isChecked(), true);
    assert.equal(await page.locator('#node-config-input-timeout').getAttribute('placeholder'), '120');
    await page.click('#node-config-dialog-cancel');
    await page.waitForSelector('#node-config-dialog-ok', { state: 'detached' });
    await page.click('#node-dialog-ok');
    await page.waitForSelector('#node-dialog-ok', { state: 'detached' });
    assert.equal(await page.evaluate(() => window.RED.nodes.node('hand-seg')?.valid), true);
  });

  it('lists the six examples under Import, and imports two of them side by side with every node valid', async () => {
    const examples = page.locator('#red-ui-clipboard-dialog-import-tab-examples');
    const entry = (text: string) => examples.locator('.red-ui-treeList-label-text', { hasText: text });
    for (const title of ['1 Segment a saved photo by a point', '3 Box from a detector (Frigate, coco-ssd)']) {
      await page.evaluate(() => window.RED.actions.invoke('core:show-import-dialog'));
      await page.click('#red-ui-tab-red-ui-clipboard-dialog-import-tab-examples');
      await entry('node-red-contrib-sam2').click();
      await entry(title).waitFor();
      assert.equal(await examples.locator('.red-ui-treeList-label-text', { hasText: /^\d / }).count(), 6);
      await entry(title).click();
      await screenshot(`import-example-${title[0]}`);
      await page.click('#red-ui-clipboard-dialog-ok');
      await page.waitForSelector('#red-ui-clipboard-dialog-ok', { state: 'hidden' });
      await page.evaluate((tab) => window.RED.workspaces.show(tab), `sam2-example-${title[0]}`);
      await screenshot(`imported-example-${title[0]}`);
    }
    const imported = await page.evaluate(() => {
      const found: Array<{ id: string; type: string; valid: boolean }> = [];
      const add = (n: EditorNode) => found.push({ id: n.id, type: n.type, valid: n.valid !== false });
      window.RED.nodes.eachNode(add);
      window.RED.nodes.eachConfig(add);
      return found.filter((n) => n.id.startsWith('sam2-example-'));
    });
    assert.deepEqual(imported.filter((n) => !n.valid), [], 'every imported node is valid as it comes');
    assert.deepEqual(imported.filter((n) => n.type === 'sam2-endpoint').map((n) => n.id).sort(), ['sam2-example-1-endpoint', 'sam2-example-3-endpoint']);
    assert.equal(await page.locator('.red-ui-notification', { hasText: 'already exist' }).count(), 0, 'no import conflict');
    // Side by side, their endpoints are told apart in a sam2-segment's dropdown by name.
    await openDialog('sam2-example-3-segment');
    const options = (await page.locator('#node-input-endpoint option').allInnerTexts()).map((t) => t.trim());
    assert.ok(options.includes('local SAM2 server, example 1') && options.includes('local SAM2 server, example 3'), JSON.stringify(options));
    assert.equal(new Set(options).size, options.length, `every endpoint has a name of its own: ${JSON.stringify(options)}`);
    await page.click('#node-dialog-cancel');
    await page.waitForSelector('#node-dialog-cancel', { state: 'detached' });
    await deploy();
    const saved = await savedFlows();
    assert.ok(saved.some((n) => n.id === 'sam2-example-3-segment' && n.type === 'sam2-segment'), 'the runtime has the imported flows');
    assert.deepEqual(pageErrors, [], 'no script errors in the editor');
  });
});
