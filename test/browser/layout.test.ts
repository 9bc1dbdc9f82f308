/**
 * The editor on a 1280×720 screen, as a new user first sees it with the example flows: the
 * sam2-segment dialog of each example and the endpoint's dialog with no label wrapped onto a
 * second line, Try and its answer in view without scrolling once a photo is open, the help of
 * both nodes within the help sidebar, and each node's live preview button clear of its input
 * port. Screenshots of each step go to test-results/layout-screenshots/.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { startLocalServer, type LocalServer } from '../../local-server/server';
import { launchChromium, needChromium } from './chromium';
import { PACKAGE_ROOT, startNodeRed, until, type NodeRedHost } from './node-red-host';

/** The browser globals the page functions below touch: this build compiles without the DOM's types. */
interface Rect {
  left: number;
  top: number;
  right: number;
  bottom: number;
  width: number;
  height: number;
}
interface PageElement {
  tagName: string;
  className: string;
  textContent: string | null;
  scrollWidth: number;
  clientWidth: number;
  getBoundingClientRect(): Rect;
  getClientRects(): { length: number };
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): ArrayLike<PageElement>;
  closest(selector: string): PageElement | null;
  contains(other: PageElement): boolean;
}
declare const document: {
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): ArrayLike<PageElement>;
  elementFromPoint(x: number, y: number): PageElement | null;
};
declare function getComputedStyle(element: PageElement): { lineHeight: string };
declare const window: {
  RED: {
    nodes: { node(id: string): { preview?: boolean } | null };
    workspaces: { show(id: string): void };
    view: { reveal(id: string, triggerHighlight: boolean): void };
    sidebar: { help: { show(type: string): void } };
  };
  $(selector: string): { is(what: string): boolean };
};

interface FlowNode {
  id: string;
  type: string;
  z?: string;
  url?: string;
  name?: string;
}

const SHOTS = join(PACKAGE_ROOT, 'test-results', 'layout-screenshots');
const EXAMPLES = join(PACKAGE_ROOT, 'examples');

/** Every example flow, as Import → Examples brings them in. */
function exampleFlows(): FlowNode[] {
  return readdirSync(EXAMPLES)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .flatMap((f) => JSON.parse(readFileSync(join(EXAMPLES, f), 'utf8')) as FlowNode[]);
}

/** A field's label as measured: its text and how many lines it takes. */
interface MeasuredLabel {
  text: string;
  lines: number;
}

describe('the editor at 1280×720 with the examples', function () {
  this.timeout(120_000);
  let sam2: LocalServer;
  let host: NodeRedHost;
  let browser: Browser;
  let page: Page;
  let flows: FlowNode[];
  let segments: FlowNode[];

  async function screenshot(name: string): Promise<void> {
    await page.screenshot({ path: join(SHOTS, `${name}.png`) });
  }

  async function openDialog(node: FlowNode): Promise<void> {
    await page.evaluate((z) => window.RED.workspaces.show(z), node.z!);
    await page.dblclick(`g[id="${node.id}"] rect.red-ui-flow-node`);
    // The tray slides in: wait until its buttons stop moving.
    await page.locator('#node-dialog-ok').click({ trial: true });
  }

  /** Cancels the endpoint's dialog and the node's, whichever are open. */
  async function closeDialogs(): Promise<void> {
    for (const dialog of ['node-config-dialog', 'node-dialog']) {
      if ((await page.locator(`#${dialog}-cancel`).count()) === 0) continue;
      await page.click(`#${dialog}-cancel`);
      await page.waitForSelector(`#${dialog}-ok`, { state: 'detached' });
    }
  }

  /** Node-RED takes two clicks on a tab strip within 400 ms for a double-click: click until the tab shows. */
  async function openTab(id: string): Promise<void> {
    await until(`tab ${id}`, async () => {
      await page.click(`#red-ui-tab-${id} a`);
      return page.locator(`#${id}`).isVisible();
    });
  }

  /**
   * The field labels on show in a dialog's form, with the lines each takes. A sentence beside a
   * checkbox is left out: it wraps like any paragraph in a narrow tray.
   */
  function labels(form: string): Promise<MeasuredLabel[]> {
    return page.evaluate((selector) => {
      return Array.from(document.querySelectorAll(`${selector} .form-row label`))
        .filter((l) => l.getClientRects().length > 0 && !l.querySelector('input[type=checkbox]') && (l.textContent ?? '').trim() !== '')
        .map((l) => ({
          text: (l.textContent ?? '').trim(),
          lines: Math.round(l.getBoundingClientRect().height / parseFloat(getComputedStyle(l).lineHeight)),
        }));
    }, form);
  }

  /** The labels that take more than one line, named by where they are; and that each of `expected` is on show there. */
  function wrapped(measured: MeasuredLabel[], expected: string[], where: string): string[] {
    const texts = measured.map((l) => l.text);
    for (const text of expected) assert.ok(texts.includes(text), `${where}: the label "${text}" is on show (found ${JSON.stringify(texts)})`);
    return measured.filter((l) => l.lines !== 1).map((l) => `${where}: "${l.text}" on ${l.lines} lines`);
  }

  /**
   * Where an element is hidden from the user: the points (its corners, 2 px in, and its centre)
   * where something else is on top of it, or that are off the screen. None: wholly on show.
   */
  function hiddenParts(selector: string): Promise<string[]> {
    return page.evaluate((sel) => {
      const el = document.querySelector(sel);
      if (!el) return ['missing'];
      const r = el.getBoundingClientRect();
      const points: Array<[string, number, number]> = [
        ['top left', r.left + 2, r.top + 2],
        ['top right', r.right - 2, r.top + 2],
        ['bottom left', r.left + 2, r.bottom - 2],
        ['bottom right', r.right - 2, r.bottom - 2],
        ['centre', (r.left + r.right) / 2, (r.top + r.bottom) / 2],
      ];
      return points
        .filter(([, x, y]) => {
          const hit = document.elementFromPoint(x, y);
          return !hit || !(hit === el || el.contains(hit));
        })
        .map(([name, x, y]) => {
          const hit = document.elementFromPoint(x, y);
          return `${name} (${Math.round(x)}, ${Math.round(y)}): ${hit ? `${hit.tagName}.${hit.className}` : 'off the screen'}`;
        });
    }, selector);
  }

  before(async function () {
    needChromium(this, 'the editor layout tests');
    rmSync(SHOTS, { recursive: true, force: true });
    mkdirSync(SHOTS, { recursive: true });
    sam2 = await startLocalServer();
    flows = exampleFlows();
    // As `npm start` does: the examples' endpoints go to the local server.
    for (const node of flows) if (node.type === 'sam2-endpoint') node.url = sam2.url;
    segments = flows.filter((n) => n.type === 'sam2-segment');
    assert.equal(segments.length, readdirSync(EXAMPLES).filter((f) => f.endsWith('.json')).length, 'a sam2-segment in each example');
    host = await startNodeRed({ flows });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    await page.goto(host.url);
    await page.waitForSelector(`g[id="${segments[0].id}"]`);
  });

  after(async () => {
    await browser?.close();
    await host?.stop();
    await sam2?.close();
  });

  afterEach(async function () {
    if (this.currentTest?.state !== 'failed') return;
    const shot = join(SHOTS, `failed-${this.currentTest.title.slice(0, 40).replace(/\W+/g, '-')}.png`);
    await page?.screenshot({ path: shot });
    process.stderr.write(`Screenshot: ${shot}\nNode-RED said:\n${host?.log.join('')}\n`);
    // The next test starts from the workspace.
    await closeDialogs();
  });

  it('shows every label of each example\'s sam2-segment dialog on one line, in every tab', async () => {
    const problems: string[] = [];
    for (const node of segments) {
      await openDialog(node);
      problems.push(...wrapped(await labels('#dialog-form'), ['Name', 'Endpoint', 'Image', 'Coordinates', 'Points', 'Box', 'Multimask'], `${node.id}, Prompts`));
      await openTab('sam2-segment-tab-output');
      // Every conditional row on show; Cancel below keeps the node as it was.
      await page.selectOption('#node-input-format', 'polygons');
      await page.check('#node-input-overlay');
      problems.push(...wrapped(await labels('#dialog-form'), ['Send', 'Mask format', 'Tolerance', 'Threshold', 'Colour', 'Opacity', 'Outline', 'Overlay as', 'Preview'], `${node.id}, Output`));
      await screenshot(`${node.id}-output`);
      await openTab('sam2-segment-tab-queue');
      await page.selectOption('#node-input-queue', 'queue');
      await page.check('#node-input-track');
      problems.push(...wrapped(await labels('#dialog-form'), ['When busy', 'Queue up to', 'Max objects', 'Margin', 'Minimum score', 'Ends after'], `${node.id}, Frames`));
      await screenshot(`${node.id}-frames`);
      await closeDialogs();
    }
    assert.deepEqual(problems, [], 'every label on one line');
  });

  it('shows every label of the endpoint dialog on one line, for each service', async () => {
    await openDialog(segments[0]);
    await page.click('#node-input-btn-endpoint-edit');
    await page.locator('#node-config-dialog-ok').click({ trial: true });
    const expected: Record<string, string[]> = {
      community: ['Name', 'Service', 'Token', 'Model', 'Timeout', 'At once', 'Retries', 'Upload size', 'Max answer', 'Max image', 'CA file'],
      studio: ['Token', 'Max answer'],
      custom: ['URL', 'Token', 'Max answer'],
      local: ['Model folder', 'Runtime', 'Threads', 'Cache', 'Max image'],
    };
    const problems: string[] = [];
    for (const [service, names] of Object.entries(expected)) {
      await page.selectOption('#node-config-input-service', service);
      problems.push(...wrapped(await labels('#node-config-dialog-edit-form'), names, `endpoint, ${service}`));
      await screenshot(`endpoint-${service}`);
    }
    await closeDialogs();
    assert.deepEqual(problems, [], 'every label on one line');
  });

  it('has Try, the whole photo and Try\'s answer in view without scrolling', async () => {
    await openDialog(segments[0]);
    await page.waitForFunction(() => /No frame yet/.test(document.querySelector('#sam2-segment-frame-message')?.textContent ?? ''));
    await page.setInputFiles('#sam2-segment-file', join(EXAMPLES, 'studio-1280x720.jpg'));
    await page.waitForSelector('#sam2-segment-frame:not(.sam2-segment-frame-empty)');
    await screenshot('prompts-photo');
    assert.deepEqual(await hiddenParts('#sam2-segment-try'), [], 'Try is wholly on show');
    assert.deepEqual(await hiddenParts('#sam2-segment-canvas'), [], 'the photo is wholly on show');
    await page.click('#sam2-segment-try');
    await page.waitForFunction(() => /^Best mask: score|^Try failed/.test(document.querySelector('#sam2-segment-status')?.textContent ?? ''));
    assert.match(await page.locator('#sam2-segment-status').innerText(), /^Best mask: score \d\.\d\d, \d+ px, answered in \d+ ms$/);
    await screenshot('prompts-try');
    assert.deepEqual(await hiddenParts('#sam2-segment-status'), [], 'Try\'s answer is wholly on show');
    assert.deepEqual(await hiddenParts('#sam2-segment-try'), [], 'Try is still where it was');
    await closeDialogs();
  });

  for (const type of ['sam2-segment', 'sam2-endpoint']) {
    it(`fits the help of ${type} within the help sidebar`, async () => {
      await page.evaluate((t) => window.RED.sidebar.help.show(t), type);
      const title = type.replace('-', ' ');
      await page.locator('.red-ui-help h1.red-ui-help-title', { hasText: title }).waitFor();
      await screenshot(`help-${type}`);
      const overflow = await page.evaluate((heading) => {
        const h1 = Array.from(document.querySelectorAll('.red-ui-help h1.red-ui-help-title')).find((h) => h.textContent === heading)!;
        const panel = h1.closest('.red-ui-panel')!;
        const right = panel.getBoundingClientRect().right;
        const wide = Array.from(panel.querySelectorAll('*'))
          .filter((e) => e.getBoundingClientRect().right > right + 0.5)
          .map((e) => `${e.tagName}: ${(e.textContent ?? '').trim().slice(0, 60)}`);
        return { wide, scrollWidth: panel.scrollWidth, clientWidth: panel.clientWidth };
      }, title);
      assert.deepEqual(overflow.wide, [], 'nothing in the help reaches past the sidebar');
      assert.ok(overflow.scrollWidth <= overflow.clientWidth, `the help does not scroll sideways: ${overflow.scrollWidth} px wide in ${overflow.clientWidth} px`);
    });
  }

  it('puts each example\'s live preview button clear of the node\'s input port, and a click on it switches the preview', async () => {
    for (const node of segments) {
      await page.evaluate((id) => window.RED.view.reveal(id, false), node.id);
      await page.waitForFunction(() => !window.$('#red-ui-workspace-chart').is(':animated'));
      const button = page.locator(`g[id="${node.id}"] rect.red-ui-flow-node-button-button`);
      const port = page.locator(`g[id="${node.id}"] .red-ui-flow-port-input .red-ui-flow-port`);
      const was = await page.evaluate((id) => window.RED.nodes.node(id)!.preview === true, node.id);
      for (const state of [was, !was]) {
        // Each switch says so in a notification that covers the workspace's top for a few seconds.
        await page.waitForFunction(() => !document.querySelector('.red-ui-notification'));
        const b = (await button.boundingBox())!;
        const p = (await port.boundingBox())!;
        const overlaps = b.x < p.x + p.width && p.x < b.x + b.width && b.y < p.y + p.height && p.y < b.y + b.height;
        assert.ok(!overlaps, `${node.id}, preview ${state ? 'on' : 'off'}: the button (x ${b.x} to ${b.x + b.width}) is clear of the input port (x ${p.x} to ${p.x + p.width})`);
        assert.deepEqual(await hiddenParts(`g[id="${node.id}"] rect.red-ui-flow-node-button-button`), [], `${node.id}, preview ${state ? 'on' : 'off'}: nothing covers the button`);
        await screenshot(`workspace-${node.id}-preview-${state ? 'on' : 'off'}`);
        await page.mouse.click(b.x + b.width / 2, b.y + b.height / 2);
        await page.waitForFunction(([id, before]) => window.RED.nodes.node(id)!.preview === !before, [node.id, state] as const);
      }
      assert.equal(await page.evaluate((id) => window.RED.nodes.node(id)!.preview === true, node.id), was, 'two clicks: back as it was');
    }
  });
});
