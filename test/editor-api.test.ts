import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import bcrypt from 'bcryptjs';
import express from 'express';
import sharp from 'sharp';
import type { Node, NodeAPI } from '@node-red/registry';
import { attachEditor, editorState, type EditorConfig, type NodeEditorLink } from '../nodes/admin/frame-link';
import { registerEditorRoutes } from '../nodes/admin/routes';
import { Sam2Client } from '../lib/client';
import type { SegmentResult } from '../lib/types';
import { startLocalServer, type LocalServer } from '../local-server/server';
import { admin, startNodeRed, until, type NodeRedHost } from './browser/node-red-host';
import { declaredPng } from './fixtures/png-bytes';
import { longestStall } from './fixtures/stall';
import { makeScene } from './fixtures/scenes';

/** The editor's own content type for Try, which Node-RED's 5 MB JSON parser leaves alone. */
const TRY_TYPE = 'application/vnd.sam2-try+json';

interface Published {
  topic: string;
  data: { enabled: boolean; kind?: string; image?: string; width?: number; height?: number; score?: number; objects?: number };
  at: number;
}

/**
 * The parts of Node-RED the editor routes use, over a real Express app set up as Node-RED's
 * admin app is (JSON and form bodies parsed up to 5 MB before any route).
 */
class FakeRuntime {
  readonly app = express();
  readonly nodes = new Map<string, object>();
  readonly credentials = new Map<string, object>();
  readonly published: Published[] = [];
  readonly logged: string[] = [];
  /** `METHOD path -> permission` for every request that passed a permission check. */
  readonly checked: string[] = [];
  readonly RED: NodeAPI;
  private server?: Server;
  url = '';

  constructor() {
    this.app.use(express.json({ limit: '5mb' }));
    this.app.use(express.urlencoded({ limit: '5mb', extended: true }));
    this.RED = {
      httpAdmin: this.app,
      auth: {
        needsPermission: (permission: string) => (req: express.Request, _res: express.Response, next: express.NextFunction) => {
          this.checked.push(`${req.method} ${req.path} -> ${permission}`);
          next();
        },
      },
      nodes: {
        getNode: (id: string) => this.nodes.get(id) ?? null,
        getCredentials: (id: string) => this.credentials.get(id),
      },
      comms: { publish: (topic: string, data: Published['data']) => this.published.push({ topic, data, at: Date.now() }) },
      log: { warn: (text: string) => this.logged.push(text) },
    } as unknown as NodeAPI;
  }

  async listen(): Promise<void> {
    this.server = createServer(this.app);
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }

  fakeNode(id: string): Node {
    const node = { id, warn: (text: string) => this.logged.push(text) } as unknown as Node;
    this.nodes.set(id, node);
    return node;
  }

  async request(method: string, path: string, body?: unknown, contentType = 'application/json') {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': contentType },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const bytes = Buffer.from(await res.arrayBuffer());
    const text = bytes.toString('utf8');
    return { status: res.status, headers: res.headers, bytes, text, json: () => JSON.parse(text) };
  }
}

function dataUrl(mime: string, bytes: Buffer): string {
  return `data:${mime};base64,${bytes.toString('base64')}`;
}

function pngFromDataUrl(url: string): Buffer {
  assert.match(url, /^data:image\/png;base64,/);
  return Buffer.from(url.slice(url.indexOf(',') + 1), 'base64');
}

/** A made-up answer: one mask covering the left half of the frame. */
function leftHalf(width: number, height: number, score: number): SegmentResult {
  const mask = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) mask.fill(1, y * width, y * width + Math.floor(width / 2));
  return { width, height, masks: [{ mask, score, area: (width * height) / 2, bbox: [0, 0, width / 2, height], centroid: [width / 4, height / 2] }], candidates: [{ score }] };
}

/** A made-up answer: one mask, a disc. */
function disc(width: number, height: number, cx: number, cy: number, r: number, score: number): SegmentResult {
  const mask = new Uint8Array(width * height);
  let area = 0;
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) if (Math.hypot(x + 0.5 - cx, y + 0.5 - cy) < r) (mask[y * width + x] = 1), area++;
  const bbox: [number, number, number, number] = [Math.floor(cx - r), Math.floor(cy - r), Math.ceil(cx + r), Math.ceil(cy + r)];
  return { width, height, masks: [{ mask, score, area, bbox, centroid: [cx, cy] }], candidates: [{ score }] };
}

async function pixelsOf(url: string) {
  const { data, info } = await sharp(Buffer.from(url.slice(url.indexOf(',') + 1), 'base64')).raw().toBuffer({ resolveWithObject: true });
  return { info, at: (x: number, y: number) => [...data.subarray((y * info.width + x) * info.channels, (y * info.width + x + 1) * info.channels)] };
}


/** An HTTP server that is not a SAM2 API: it answers every request with `answer`, and counts what it got. */
async function foreignServer(answer: (req: IncomingMessage, res: ServerResponse) => void) {
  const seen: Array<{ authorization?: string }> = [];
  const server = createServer((req, res) => {
    seen.push({ authorization: req.headers.authorization });
    req.resume();
    req.on('end', () => answer(req, res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    seen,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

function timers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

describe('editor API', function () {
  this.timeout(30_000);
  let runtime: FakeRuntime;
  let sam2: LocalServer;
  let links: NodeEditorLink[];

  beforeEach(async () => {
    runtime = new FakeRuntime();
    registerEditorRoutes(runtime.RED);
    await runtime.listen();
    sam2 = await startLocalServer();
    links = [];
  });

  afterEach(async () => {
    links.forEach((l) => l.close());
    await runtime.close();
    await sam2.close();
  });

  function attach(id: string, config: EditorConfig = {}) {
    const node = runtime.fakeNode(id);
    const link = attachEditor(runtime.RED, node, config);
    links.push(link);
    return link;
  }

  function deployEndpoint(id: string, url = sam2.url, token?: string): Sam2Client {
    const client = new Sam2Client({ url, token, retries: 0 });
    runtime.nodes.set(id, { id, type: 'sam2-endpoint', segmenter: client });
    return client;
  }

  describe('routes and permissions', () => {
    it('asks Node-RED for the permission each route needs', async () => {
      attach('seg');
      deployEndpoint('ep');
      await runtime.request('GET', '/sam2-segment/seg/frame');
      await runtime.request('POST', '/sam2-segment/seg/try', { endpoint: 'ep' });
      await runtime.request('POST', '/sam2-segment/seg/preview', { enabled: false });
      await runtime.request('POST', '/sam2-endpoint/test', { settings: { service: 'custom', url: 'http://127.0.0.1:1' } });
      assert.deepEqual(runtime.checked, [
        'GET /sam2-segment/seg/frame -> sam2-segment.read',
        'POST /sam2-segment/seg/try -> sam2-segment.write',
        'POST /sam2-segment/seg/preview -> sam2-segment.write',
        'POST /sam2-endpoint/test -> sam2-endpoint.write',
      ]);
    });

    it('adds its routes once however often both node files register them', async () => {
      registerEditorRoutes(runtime.RED);
      registerEditorRoutes(runtime.RED);
      attach('seg');
      await runtime.request('POST', '/sam2-segment/seg/preview', { enabled: false });
      assert.equal(runtime.checked.length, 1);
    });
  });

  describe('GET /sam2-segment/:id/frame', () => {
    it('answers 404 with words when the node is not deployed, and before its first frame', async () => {
      const missing = await runtime.request('GET', '/sam2-segment/nope/frame');
      assert.equal(missing.status, 404);
      assert.match(missing.json().error, /not deployed yet/);
      attach('seg');
      const none = await runtime.request('GET', '/sam2-segment/seg/frame');
      assert.equal(none.status, 404);
      assert.match(none.json().error, /No frame yet: send the node an image, or open an image file/);
    });

    it('sends the last frame as a JPEG of at most 800 px, with the frame\'s own size', async () => {
      const link = attach('seg');
      const studio = await makeScene('studio', 1280, 720);
      link.frame(studio.jpeg);
      const res = await runtime.request('GET', '/sam2-segment/seg/frame');
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'image/jpeg');
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assert.equal(res.headers.get('x-sam2-frame-width'), '1280');
      assert.equal(res.headers.get('x-sam2-frame-height'), '720');
      const meta = await sharp(res.bytes).metadata();
      assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', 800, 450]);
    });

    it('keeps small frames at their size and reports a rotated photo upright', async () => {
      const link = attach('seg');
      // Stored 300x200, with EXIF saying "turn 90°": people see it 200x300.
      const rotated = await sharp({ create: { width: 300, height: 200, channels: 3, background: '#3366cc' } })
        .jpeg()
        .withMetadata({ orientation: 6 })
        .toBuffer();
      link.frame(rotated);
      const res = await runtime.request('GET', '/sam2-segment/seg/frame');
      assert.deepEqual([res.headers.get('x-sam2-frame-width'), res.headers.get('x-sam2-frame-height')], ['200', '300']);
      const meta = await sharp(res.bytes).metadata();
      assert.deepEqual([meta.width, meta.height], [200, 300]);
    });

    it('does no image work for frames nobody asks to see, and shows the newest when asked', async () => {
      const link = attach('seg');
      // Not an image at all: a node that decoded frames as they came would fail here.
      link.frame(Buffer.from('not an image'));
      const garden = await makeScene('garden', 640, 360);
      const studio = await makeScene('studio', 320, 180);
      link.frame(garden.jpeg);
      link.frame(studio.jpeg);
      const first = await runtime.request('GET', '/sam2-segment/seg/frame');
      assert.equal(first.headers.get('x-sam2-frame-width'), '320');
      const again = await runtime.request('GET', '/sam2-segment/seg/frame');
      assert.ok(first.bytes.equals(again.bytes));
      assert.deepEqual(runtime.logged, []);
    });

    it('keeps no frame it cannot read, and never decodes a file declaring a huge image', async () => {
      const link = attach('seg');
      for (const bad of [Buffer.from('not an image'), declaredPng(30000, 30000)]) {
        link.frame(bad);
        const res = await runtime.request('GET', '/sam2-segment/seg/frame');
        assert.equal(res.status, 404);
        assert.match(res.json().error, /No frame yet/);
      }
      const good = (await makeScene('studio', 320, 180)).jpeg;
      link.frame(good);
      assert.equal((await runtime.request('GET', '/sam2-segment/seg/frame')).status, 200);
      link.frame(declaredPng(30000, 30000));
      const res = await runtime.request('GET', '/sam2-segment/seg/frame');
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('x-sam2-frame-width'), '320', 'the good frame stays the last one');
    });

    it('keeps the last frame as a small JPEG, not the bytes that came in, and Try uses it at the frame\'s scale', async () => {
      const link = attach('seg');
      deployEndpoint('ep');
      const big = await makeScene('studio', 1600, 900);
      const block = big.objects.find((o) => o.name === 'block')!;
      link.frame(big.png);
      const state = editorState(runtime.RED, 'seg')!;
      const kept = (await state.current())!;
      assert.deepEqual([kept.width, kept.height, kept.jpegWidth, kept.jpegHeight], [1600, 900, 800, 450]);
      assert.equal((await sharp(kept.jpeg).metadata()).format, 'jpeg');
      assert.ok(kept.jpeg.length < big.png.length / 4);
      assert.ok(!Object.values(kept).some((v) => v === big.png), 'the frame\'s own bytes are not held');
      const res = await runtime.request('POST', '/sam2-segment/seg/try', { endpoint: 'ep', points: [block.point], labels: [1] });
      assert.equal(res.status, 200, res.text);
      const answer = res.json();
      assert.deepEqual([answer.width, answer.height], [1600, 900]);
      const [x1, y1, x2, y2] = answer.masks[0].bbox;
      const [bx1, by1, bx2, by2] = block.box;
      assert.ok(Math.abs(x1 - bx1) <= 8 && Math.abs(y1 - by1) <= 8 && Math.abs(x2 - bx2) <= 8 && Math.abs(y2 - by2) <= 8, `bbox ${answer.masks[0].bbox} vs ${block.box}`);
      assert.equal(sam2.requests.at(-1)!.fields.point_coords, JSON.stringify([[block.point[0] / 2, block.point[1] / 2]]));
    });
  });

  describe('POST /sam2-segment/:id/try', () => {
    it('segments the last frame with the deployed endpoint and answers each mask as a PNG', async () => {
      const link = attach('seg');
      deployEndpoint('ep');
      const studio = await makeScene('studio', 640, 360);
      const block = studio.objects.find((o) => o.name === 'block')!;
      link.frame(studio.jpeg);
      const res = await runtime.request('POST', '/sam2-segment/seg/try', {
        endpoint: 'ep',
        points: [block.point],
        labels: [1],
        multimask: true,
        normalizeCoords: true,
      });
      assert.equal(res.status, 200, res.text);
      const answer = res.json();
      assert.deepEqual([answer.width, answer.height], [640, 360]);
      assert.equal(answer.masks.length, 3);
      assert.ok(answer.masks[0].score >= answer.masks[1].score && answer.masks[1].score >= answer.masks[2].score);
      assert.equal(typeof answer.timeMs, 'number');
      const png = pngFromDataUrl(answer.masks[0].png);
      const meta = await sharp(png).metadata();
      assert.deepEqual([meta.width, meta.height, meta.channels], [640, 360, 1], 'an 8-bit greyscale PNG at the frame\'s size');
      const data = await sharp(png).toColourspace('b-w').raw().toBuffer();
      assert.equal(data[block.point[1] * 640 + block.point[0]], 255, 'the clicked point is inside the best mask');
      const [x1, y1, x2, y2] = answer.masks[0].bbox;
      const [bx1, by1, bx2, by2] = block.box;
      assert.ok(Math.abs(x1 - bx1) <= 4 && Math.abs(y1 - by1) <= 4 && Math.abs(x2 - bx2) <= 4 && Math.abs(y2 - by2) <= 4, `bbox ${answer.masks[0].bbox} vs ${block.box}`);
      const sent = sam2.requests.at(-1)!;
      assert.equal(sent.fields.point_coords, JSON.stringify([block.point]));
      assert.equal(sent.image?.width, 640);
    });

    it('before any deploy, tries with the endpoint\'s settings as the editor has them', async () => {
      const link = attach('seg');
      const studio = await makeScene('studio', 320, 180);
      link.frame(studio.jpeg);
      const before = sam2.requestCount;
      const res = await runtime.request('POST', '/sam2-segment/seg/try', {
        endpoint: 'not-deployed-yet',
        endpointSettings: { service: 'custom', url: sam2.url, concurrency: '1' },
        points: [studio.objects[0].point],
        labels: [1],
        multimask: true,
        normalizeCoords: true,
      });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json().masks.length, 3);
      assert.equal(sam2.requestCount - before, 1, 'the request went to the URL in the editor');
      const refused = await runtime.request('POST', '/sam2-segment/seg/try', { endpoint: 'not-deployed-yet', endpointSettings: { service: 'custom', url: '' }, points: [[1, 1]] });
      assert.equal(refused.status, 400);
      assert.match(refused.json().error, /URL.*is empty/);
    });

    it('edited since the deploy: the stored token goes only to the origin it was saved for', async () => {
      const TOKEN = 'sk-try-0123456789abcdef';
      attach('seg');
      const saved = await startLocalServer({ token: TOKEN });
      const elsewhere = await startLocalServer();
      try {
        const client = deployEndpoint('ep', saved.url, TOKEN);
        runtime.nodes.set('ep', { id: 'ep', type: 'sam2-endpoint', segmenter: client, savedOrigin: new URL(saved.url).origin, deployed: { service: 'custom', url: saved.url } });
        runtime.credentials.set('ep', { token: TOKEN });
        const studio = await makeScene('studio', 160, 120);
        const body = { points: [studio.objects[0].point], labels: [1], multimask: true, normalizeCoords: true, image: `data:image/jpeg;base64,${studio.jpeg.toString('base64')}` };
        // Its own origin, another setting changed: the stored token is used.
        const same = await runtime.request('POST', '/sam2-segment/seg/try', { ...body, endpoint: 'ep', endpointSettings: { service: 'custom', url: saved.url, timeout: '30' } });
        assert.equal(same.status, 200, same.text);
        assert.equal(saved.requests.at(-1)?.authorization, true);
        // Another origin: no token goes there.
        const moved = await runtime.request('POST', '/sam2-segment/seg/try', { ...body, endpoint: 'ep', endpointSettings: { service: 'custom', url: elsewhere.url } });
        assert.equal(moved.status, 200, moved.text);
        assert.equal(elsewhere.requests.at(-1)?.authorization, false);
        assert.ok(!moved.text.includes(TOKEN));
      } finally {
        await saved.close();
        await elsewhere.close();
      }
    });

    it('segments an image opened in the dialog, even one bigger than Node-RED\'s 5 MB JSON limit', async () => {
      attach('seg');
      deployEndpoint('ep');
      // Noise does not compress: a 1400x1400 PNG is about 6 MB, 8 MB as a data URL.
      const noise = Buffer.alloc(1400 * 1400 * 3);
      for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24;
      const png = await sharp(noise, { raw: { width: 1400, height: 1400, channels: 3 } }).png({ compressionLevel: 0 }).toBuffer();
      assert.ok(png.length > 5 * 1024 * 1024);
      const res = await runtime.request(
        'POST',
        '/sam2-segment/seg/try',
        { endpoint: 'ep', image: dataUrl('image/png', png), box: [100, 100, 700, 900], normalizeCoords: true },
        TRY_TYPE,
      );
      assert.equal(res.status, 200, res.text);
      assert.deepEqual([res.json().width, res.json().height], [1400, 1400]);
    });

    it('segments the frame the dialog was shown, not one that came after', async () => {
      const link = attach('seg');
      deployEndpoint('ep');
      const shown = await makeScene('studio', 640, 360);
      const later = await makeScene('garden', 320, 180);
      link.frame(shown.jpeg);
      await runtime.request('GET', '/sam2-segment/seg/frame');
      link.frame(later.jpeg);
      const res = await runtime.request('POST', '/sam2-segment/seg/try', { endpoint: 'ep', points: [[100, 100]], labels: [1] }, TRY_TYPE);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json().width, 640);
    });

    it('refuses with a status and words a user can act on', async () => {
      const link = attach('seg');
      const cases: Array<[unknown, number, RegExp]> = [
        [{ points: [[1, 1]] }, 400, /Choose an endpoint/],
        [{ endpoint: 'not-deployed', points: [[1, 1]] }, 409, /not deployed yet: deploy it/],
        [{ endpoint: 'broken', points: [[1, 1]] }, 409, /settings are not usable: CA file \/nope\.pem cannot be read/],
        [{ endpoint: 'seg', points: [[1, 1]] }, 400, /Node seg is not a sam2-endpoint/],
        [{ endpoint: 'ep', points: [[1, 1]] }, 404, /No frame to try on/],
      ];
      runtime.nodes.set('broken', { id: 'broken', type: 'sam2-endpoint', problem: 'CA file /nope.pem cannot be read (ENOENT); check the path on the Node-RED machine' });
      deployEndpoint('ep');
      for (const [body, status, words] of cases) {
        const res = await runtime.request('POST', '/sam2-segment/seg/try', body);
        assert.equal(res.status, status, JSON.stringify(body));
        assert.match(res.json().error, words);
      }
      link.frame((await makeScene('studio', 320, 180)).jpeg);
      const outside = await runtime.request('POST', '/sam2-segment/seg/try', { endpoint: 'ep', points: [[500, 10]], labels: [1] });
      assert.equal(outside.status, 400);
      assert.match(outside.json().error, /prompts\.points\[0\]: \[500, 10\] lies outside the image.*320x180/);
      for (const threshold of ['high', 'NaN', true]) {
        const bad = await runtime.request('POST', '/sam2-segment/seg/try', { endpoint: 'ep', points: [[10, 10]], labels: [1], threshold });
        assert.equal(bad.status, 400, String(threshold));
        assert.match(bad.json().error, new RegExp(`^prompts\\.threshold: is ${JSON.stringify(threshold)?.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, not a finite number\\. Use a number`));
      }
      const empty = await runtime.request('POST', '/sam2-segment/seg/try', undefined);
      assert.equal(empty.status, 415);
      const broken = await fetch(`${runtime.url}/sam2-segment/seg/try`, { method: 'POST', headers: { 'content-type': TRY_TYPE }, body: '{"endpoint":' });
      assert.deepEqual([broken.status, await broken.json()], [400, { error: 'The request body is not JSON' }]);
    });

    it('refuses bodies a web page could send without the browser asking first', async () => {
      attach('seg');
      deployEndpoint('ep');
      const runs = sam2.requestCount;
      for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
        const res = await fetch(`${runtime.url}/sam2-segment/seg/try`, { method: 'POST', headers: { 'content-type': type }, body: JSON.stringify({ endpoint: 'ep', points: [[1, 1]] }) });
        assert.equal(res.status, 415, type);
      }
      const test = await fetch(`${runtime.url}/sam2-endpoint/test`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ settings: { service: 'custom', url: sam2.url } }) });
      assert.equal(test.status, 415);
      assert.equal(sam2.requestCount, runs, 'nothing reached the SAM2 server');
    });

    it('passes on what the SAM2 server said when it refuses', async () => {
      const guarded = await startLocalServer({ token: 'the-right-one' });
      try {
        const link = attach('seg');
        deployEndpoint('ep', guarded.url, 'a-wrong-one');
        link.frame((await makeScene('studio', 320, 180)).jpeg);
        const res = await runtime.request('POST', '/sam2-segment/seg/try', { endpoint: 'ep', points: [[100, 100]], labels: [1] });
        assert.equal(res.status, 502);
        assert.equal(res.json().error, 'SAM2 API answered 401: Invalid bearer token.');
      } finally {
        await guarded.close();
      }
    });
  });

  describe('live preview', () => {
    it('sends nothing while the preview is off', async () => {
      const link = attach('seg');
      const studio = await makeScene('studio', 320, 180);
      link.answer(studio.jpeg, [leftHalf(320, 180, 0.9)]);
      const res = await runtime.request('POST', '/sam2-segment/seg/preview', { enabled: false });
      assert.equal(res.status, 200);
      assert.deepEqual(runtime.published.map((p) => p.data.enabled), [false]);
    });

    it('sends a small tinted image of the best mask on the node\'s own topic when switched on, the overlay by default', async () => {
      const link = attach('seg', { overlayColor: '#00ff00' });
      const on = await runtime.request('POST', '/sam2-segment/seg/preview', { enabled: true });
      assert.deepEqual([on.status, on.json()], [200, { preview: true }]);
      const grey = await sharp({ create: { width: 640, height: 360, channels: 3, background: '#808080' } }).jpeg().toBuffer();
      link.answer(grey, [leftHalf(640, 360, 0.87)]);
      const sent = await until('a preview', () => runtime.published[0]);
      assert.equal(sent.topic, 'sam2-segment/preview/seg');
      assert.deepEqual([sent.data.enabled, sent.data.kind, sent.data.width, sent.data.height, sent.data.score], [true, 'overlay', 160, 90, 0.87]);
      assert.match(sent.data.image!, /^data:image\/jpeg;base64,/);
      const { data } = await sharp(Buffer.from(sent.data.image!.split(',')[1], 'base64')).raw().toBuffer({ resolveWithObject: true });
      const pixel = (x: number, y: number) => [...data.subarray((y * 160 + x) * 3, (y * 160 + x) * 3 + 3)];
      const [r1, g1, b1] = pixel(40, 45);
      const [r2, g2, b2] = pixel(120, 45);
      assert.ok(g1 > r1 + 40 && g1 > b1 + 40, `inside the mask is green-tinted: ${[r1, g1, b1]}`);
      assert.ok(Math.abs(g2 - r2) < 12 && Math.abs(g2 - b2) < 12, `outside stays grey: ${[r2, g2, b2]}`);
    });

    it('shows every object of the message, outlined, at the size the node asks for', async () => {
      const link = attach('seg', { preview: true, previewSize: 320, overlayColor: '#00ff00' });
      const grey = await sharp({ create: { width: 640, height: 360, channels: 3, background: '#808080' } }).jpeg().toBuffer();
      link.answer(grey, [disc(640, 360, 160, 180, 100, 0.7), disc(640, 360, 480, 180, 100, 0.9)]);
      const sent = await until('a preview', () => runtime.published[0]);
      assert.deepEqual([sent.data.kind, sent.data.width, sent.data.height, sent.data.score, sent.data.objects], ['overlay', 320, 180, 0.9, 2]);
      const { at } = await pixelsOf(sent.data.image!);
      for (const x of [80, 240]) {
        const [r, g, b] = at(x, 90);
        assert.ok(g > r + 40 && g > b + 40, `object at x=${x} is green-tinted: ${[r, g, b]}`);
      }
      // Across the left disc's edge (x = 30 at this size) on its middle row: a dark line, then a light one.
      const row = [26, 27, 28, 29, 30, 31, 32, 33, 34].map((x) => at(x, 90)[1]);
      assert.ok(Math.min(...row) < 60 && Math.max(...row) > 200, `dark and light across the edge: ${row}`);
      assert.ok(row.indexOf(Math.min(...row)) < row.indexOf(Math.max(...row)), `the dark line is outside the light one: ${row}`);
    });

    it('shows the cut-out, the object alone with transparency, when the node makes cut-outs', async () => {
      const link = attach('seg', { preview: true, cutout: true });
      const scene = await makeScene('studio', 640, 360);
      link.answer(scene.jpeg, [disc(640, 360, 320, 180, 40, 0.8)]);
      const sent = await until('a preview', () => runtime.published[0]);
      // The object's 80-pixel box, not shrunk with the frame: a small object stays visible.
      assert.deepEqual([sent.data.kind, sent.data.width, sent.data.height, sent.data.objects], ['cutout', 80, 80, 1]);
      assert.match(sent.data.image!, /^data:image\/png;base64,/);
      const { info, at } = await pixelsOf(sent.data.image!);
      assert.equal(info.channels, 4);
      assert.equal(at(40, 40)[3], 255, 'the object is opaque');
      assert.equal(at(2, 2)[3], 0, 'the box\'s corner, off the disc, is transparent');
      const frame = await sharp(scene.jpeg).raw().toBuffer();
      const was = [...frame.subarray((180 * 640 + 320) * 3, (180 * 640 + 320) * 3 + 3)];
      assert.ok(at(40, 40).slice(0, 3).every((c, i) => Math.abs(c - was[i]) < 24), `the object's own colours: ${at(40, 40)} against ${was}`);
    });

    it('says when its size is unusable, and uses the default', async () => {
      const link = attach('seg', { preview: true, previewSize: 5000 });
      assert.match(runtime.logged.join('\n'), /live preview: Preview size: is 5000, not a whole number of pixels from 32 to 640/);
      link.answer(await sharp({ create: { width: 640, height: 360, channels: 3, background: '#808080' } }).jpeg().toBuffer(), [leftHalf(640, 360, 0.5)]);
      const sent = await until('a preview', () => runtime.published[0]);
      assert.equal(sent.data.width, 160);
    });

    it('sends at most about two a second, the latest answer winning', async () => {
      const link = attach('seg', { preview: true });
      const frame = (await makeScene('studio', 320, 180)).jpeg;
      const started = Date.now();
      // A camera at 20 fps for 1.5 s.
      for (let i = 1; i <= 30; i++) {
        link.answer(frame, [leftHalf(320, 180, i / 100)]);
        await new Promise((r) => setTimeout(r, 50));
      }
      const last = await until('the last answer\'s preview', () => runtime.published.find((p) => p.data.score === 0.3));
      const elapsed = last.at - started;
      assert.ok(runtime.published.length <= Math.ceil(elapsed / 500) + 1, `${runtime.published.length} previews in ${elapsed} ms`);
      for (let i = 1; i < runtime.published.length; i++) {
        assert.ok(runtime.published[i].at - runtime.published[i - 1].at >= 450, 'previews are at least ~0.5 s apart');
      }
    });

    it('leaves no timer behind when the node closes', async () => {
      const link = attach('seg', { preview: true });
      const frame = (await makeScene('studio', 320, 180)).jpeg;
      link.answer(frame, [leftHalf(320, 180, 0.5)]);
      await until('the first preview', () => runtime.published.length === 1);
      // Straight after a preview, the next one waits for its turn on a timer.
      link.answer(frame, [leftHalf(320, 180, 0.6)]);
      const waiting = timers();
      link.close();
      assert.equal(timers(), waiting - 1);
    });

    it('stops on request and tells every editor to drop the image', async () => {
      const link = attach('seg', { preview: true });
      const off = await runtime.request('POST', '/sam2-segment/seg/preview', { enabled: false });
      assert.equal(off.status, 200);
      link.answer((await makeScene('studio', 320, 180)).jpeg, [leftHalf(320, 180, 0.5)]);
      assert.deepEqual(runtime.published, [{ topic: 'sam2-segment/preview/seg', data: { enabled: false }, at: runtime.published[0].at }]);
    });

    it('refuses a node that is not deployed, or a body without enabled', async () => {
      attach('seg');
      const missing = await runtime.request('POST', '/sam2-segment/nope/preview', { enabled: true });
      assert.equal(missing.status, 404);
      const wrong = await runtime.request('POST', '/sam2-segment/seg/preview', { enabled: 'yes' });
      assert.equal(wrong.status, 400);
    });
  });

  describe('POST /sam2-endpoint/test', () => {
    const TOKEN = 'sk-test-0123456789abcdef';

    async function test(body: object) {
      const res = await runtime.request('POST', '/sam2-endpoint/test', body);
      assert.equal(res.status, 200, res.text);
      return { answer: res.json(), text: res.text };
    }

    it('reports a working endpoint that needs no token, with the model and the time taken', async () => {
      const { answer } = await test({ settings: { service: 'custom', url: sam2.url, modelId: 'facebook/sam2-hiera-large' } });
      assert.equal(answer.ok, true);
      assert.equal(answer.reachable, true);
      assert.equal(answer.tokenAccepted, null);
      assert.equal(answer.modelAnswered, true);
      assert.equal(answer.url, sam2.url);
      assert.match(answer.message, new RegExp(`^Connected to ${sam2.url}: no token was needed, and facebook/sam2-hiera-large answered a 64x64 test image with 3 masks, best score \\d\\.\\d\\d in \\d+ ms\\.$`));
      assert.equal(sam2.requests.at(-1)!.fields.point_coords, '[[32,32]]');
    });

    it('uses a token typed in the dialog, and never says it', async () => {
      const guarded = await startLocalServer({ token: TOKEN });
      try {
        const { answer, text } = await test({ id: 'ep', token: TOKEN, settings: { service: 'custom', url: guarded.url } });
        assert.equal(answer.ok, true);
        assert.equal(answer.tokenAccepted, true);
        assert.match(answer.message, /the token was accepted/);
        assert.ok(!text.includes(TOKEN));
      } finally {
        await guarded.close();
      }
    });

    it('uses the stored token when none was typed, or when the field shows the stored one', async () => {
      const guarded = await startLocalServer({ token: TOKEN });
      try {
        runtime.nodes.set('ep', { id: 'ep', type: 'sam2-endpoint', savedOrigin: new URL(guarded.url).origin });
        runtime.credentials.set('ep', { token: TOKEN });
        for (const body of [{ id: 'ep' }, { id: 'ep', token: '__PWRD__' }]) {
          const { answer, text } = await test({ ...body, settings: { service: 'custom', url: guarded.url } });
          assert.equal(answer.ok, true, answer.message);
          assert.equal(answer.tokenAccepted, true);
          assert.ok(!text.includes(TOKEN));
        }
        // An emptied field means no token, whatever is stored.
        const { answer } = await test({ id: 'ep', token: '', settings: { service: 'custom', url: guarded.url } });
        assert.equal(answer.tokenAccepted, false);
      } finally {
        await guarded.close();
      }
    });

    it('sends the stored token only to the origin it was saved for: for another, it asks for one and sends nothing', async () => {
      const saved = await startLocalServer({ token: TOKEN });
      const elsewhere = await foreignServer((_req, res) => res.writeHead(401).end());
      try {
        const savedOrigin = new URL(saved.url).origin;
        runtime.nodes.set('ep', { id: 'ep', type: 'sam2-endpoint', savedOrigin });
        runtime.credentials.set('ep', { token: TOKEN });
        const port = Number(new URL(saved.url).port);
        const others = [
          { service: 'custom', url: elsewhere.url },
          { service: 'custom', url: `http://localhost:${port}` },
          { service: 'custom', url: `https://127.0.0.1:${port}` },
          { service: 'custom', url: `http://user:pw@127.0.0.1:${port + 1}` },
          { service: 'community' },
          { service: 'studio' },
        ];
        for (const settings of others) {
          for (const body of [{ id: 'ep' }, { id: 'ep', token: '__PWRD__' }]) {
            const { answer, text } = await test({ ...body, settings });
            assert.deepEqual([answer.ok, answer.reachable, answer.tokenAccepted], [false, null, null], JSON.stringify(settings));
            assert.match(answer.message, new RegExp(`^Nothing was sent: the saved token belongs to ${savedOrigin}, and this test goes to \\S+\\. Type the token`));
            assert.ok(!text.includes(TOKEN));
          }
        }
        assert.equal(elsewhere.seen.length, 0, 'nothing reached the other server');
        // The saved origin itself, with any path, gets it.
        const { answer } = await test({ id: 'ep', settings: { service: 'custom', url: `${saved.url}/` } });
        assert.equal(answer.tokenAccepted, true, answer.message);
        // A token typed in the dialog goes where the dialog says.
        await test({ id: 'ep', token: 'typed-for-elsewhere', settings: { service: 'custom', url: elsewhere.url } });
        assert.deepEqual(elsewhere.seen.map((r) => r.authorization), ['Bearer typed-for-elsewhere']);
      } finally {
        await saved.close();
        await elsewhere.close();
      }
    });

    it('trims a typed token, and refuses one with a character a header cannot carry, naming Token', async () => {
      const guarded = await startLocalServer({ token: TOKEN });
      try {
        const trimmed = await test({ token: `\u200b ${TOKEN}\r\n`, settings: { service: 'custom', url: guarded.url } });
        assert.equal(trimmed.answer.tokenAccepted, true, trimmed.answer.message);
        const runs = guarded.requestCount;
        for (const bad of [`${TOKEN.slice(0, 5)}\n${TOKEN.slice(5)}`, `${TOKEN}\u200bx`, `sk-ünïcode`]) {
          const { answer, text } = await test({ token: bad, settings: { service: 'custom', url: guarded.url } });
          assert.deepEqual([answer.ok, answer.reachable], [false, null]);
          assert.match(answer.message, /^The settings are not usable: Token: has a character that cannot be sent in an HTTP header \(U\+[0-9A-F]{4} at position \d+\)/);
          assert.ok(!text.includes(TOKEN.slice(5)));
        }
        assert.equal(guarded.requestCount, runs, 'nothing was sent with a bad token');
      } finally {
        await guarded.close();
      }
    });

    it('relays a SAM2 API\'s own error words, and of any other answer only what kind it was', async () => {
      const SECRET = 'ami-id: i-0secret42 internal-admin-password';
      const answers: Array<[string, (req: IncomingMessage, res: ServerResponse) => void, RegExp]> = [
        ['an HTML 404', (_q, r) => r.writeHead(404, { 'content-type': 'text/html' }).end(`<html><body>${SECRET}</body></html>`), /but not the segment-anything-2 route \(404, with an HTML page\)/],
        ['a JSON 500 in no SAM2 shape', (_q, r) => r.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ message: SECRET })), /^Something answered at \S+ \(500, with JSON that is not a SAM2 API error\), but not as a SAM2 endpoint does/],
        ['a plain-text 403', (_q, r) => r.writeHead(403).end(SECRET), /refused the token \(403, with plain text\)/],
        ['a 200 with some other JSON', (_q, r) => r.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ [SECRET]: SECRET, masks: 1 })), /^Something answered at \S+, but its answer is not a SAM2 answer \(unreadable in \w+ at byte \d+\)\. Check the URL\.$/],
        ['a 200 in a compression nobody asked for', (_q, r) => r.writeHead(200, { 'content-encoding': 'compress' }).end(Buffer.from([0x1f, 0x9d, 8, 0])), /its answer is compressed \(Content-Encoding: compress\)/],
        ['a redirect elsewhere', (_q, r) => r.writeHead(302, { location: `http://169.254.169.254/latest/${SECRET.replace(/\W+/g, '-')}` }).end(SECRET), /answered 302, a redirect to http:\/\/169\.254\.169\.254\. It was not followed, and the token was not sent there/],
      ];
      for (const [what, answer, words] of answers) {
        const foreign = await foreignServer(answer);
        try {
          const { answer: result, text } = await test({ token: TOKEN, settings: { service: 'custom', url: foreign.url } });
          assert.equal(result.ok, false, what);
          assert.match(result.message, words, what);
          assert.ok(!text.includes('secret42') && !text.includes('password'), `${what}: ${result.message}`);
          assert.equal(foreign.seen.length, 1, `${what}: one request, no redirect followed`);
        } finally {
          await foreign.close();
        }
      }
      // The runner's own words still come through.
      const gateway = await startLocalServer({ flavour: 'gateway' });
      try {
        gateway.injectFaults('status=400;body={"error":{"message":"bad prompt: point_coords"}}');
        const { answer } = await test({ settings: { service: 'custom', url: gateway.url } });
        assert.match(answer.message, /answered an error \(400: bad prompt: point_coords\)/);
      } finally {
        await gateway.close();
      }
    });

    it('sends no other node\'s stored token', async () => {
      const guarded = await startLocalServer({ token: TOKEN });
      try {
        runtime.nodes.set('broker', { id: 'broker', type: 'mqtt-broker' });
        runtime.credentials.set('broker', { token: TOKEN });
        const { answer } = await test({ id: 'broker', settings: { service: 'custom', url: guarded.url } });
        assert.equal(answer.tokenAccepted, false);
        assert.equal(guarded.requests.at(-1)!.authorization, false, 'no Authorization header went out');
      } finally {
        await guarded.close();
      }
    });

    it('says the token was refused, or that one is needed', async () => {
      const guarded = await startLocalServer({ token: TOKEN });
      try {
        const wrong = 'sk-wrong-9876543210';
        const refused = await test({ token: wrong, settings: { service: 'custom', url: guarded.url } });
        assert.deepEqual([refused.answer.ok, refused.answer.reachable, refused.answer.tokenAccepted], [false, true, false]);
        assert.match(refused.answer.message, new RegExp(`^${guarded.url} refused the token \\(401: Invalid bearer token\\.\\)\\. Check the token`));
        assert.ok(!refused.text.includes(wrong));
        const missing = await test({ settings: { service: 'custom', url: guarded.url } });
        assert.match(missing.answer.message, /needs a token \(401: Invalid bearer token\.\)\. Enter the API key or the runner's AUTH_TOKEN/);
      } finally {
        await guarded.close();
      }
    });

    it('names the model the runner has when it is not the one set', async () => {
      const tiny = await startLocalServer({ modelId: 'facebook/sam2-hiera-tiny' });
      try {
        const { answer } = await test({ settings: { service: 'custom', url: tiny.url, modelId: 'facebook/sam2-hiera-large' } });
        assert.deepEqual([answer.ok, answer.reachable, answer.modelAnswered], [false, true, false]);
        assert.match(answer.message, /the runner has facebook\/sam2-hiera-tiny loaded, not facebook\/sam2-hiera-large\. Set Model to facebook\/sam2-hiera-tiny\./);
      } finally {
        await tiny.close();
      }
    });

    it('says when nothing answers at that address', async () => {
      const gone = await startLocalServer();
      const url = gone.url;
      await gone.close();
      const { answer } = await test({ settings: { service: 'custom', url } });
      assert.deepEqual([answer.ok, answer.reachable, answer.tokenAccepted], [false, false, null]);
      assert.equal(answer.message, `Could not reach ${url}: nothing accepts connections there: check the host and port, and that the server runs.`);
    });

    it('says when a gateway has no GPU free', async () => {
      const gateway = await startLocalServer({ flavour: 'gateway' });
      try {
        gateway.injectFaults('status=503');
        const { answer } = await test({ settings: { service: 'custom', url: gateway.url } });
        assert.deepEqual([answer.ok, answer.reachable], [false, true]);
        assert.match(answer.message, /reachable but has no GPU free for facebook\/sam2-hiera-large now \(503: /);
      } finally {
        await gateway.close();
      }
    });

    describe('says which setting is unusable before sending anything, and never holds the event loop', () => {
      const dir = mkdtempSync(join(tmpdir(), 'sam2-ca-'));
      const fifo = join(dir, 'pipe.pem');
      execFileSync('mkfifo', [fifo]);
      mkdirSync(join(dir, 'folder.pem'));
      writeFileSync(join(dir, 'big.pem'), Buffer.alloc(1024 * 1024 + 1, 0x41));
      writeFileSync(join(dir, 'key.pem'), '-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n');
      const notRegular = /is not a readable regular file\. Set it to a PEM file of certificate authorities/;
      const table: Array<[string, object, RegExp]> = [
        ['a CA file that does not exist', { caFile: '/no/such/ca.pem' }, /^The settings are not usable: CA file: \/no\/such\/ca\.pem is not a readable regular file/],
        ['a CA file that is a named pipe nobody writes to', { caFile: fifo }, notRegular],
        ['a CA file that is a device without end', { caFile: '/dev/zero' }, notRegular],
        ['a CA file that is a directory', { caFile: join(dir, 'folder.pem') }, notRegular],
        ['a CA file over 1 MiB', { caFile: join(dir, 'big.pem') }, /CA file: \S+big\.pem is 1048577 bytes, over the 1 MiB a certificate file needs/],
        ['a CA file without a certificate', { caFile: join(dir, 'key.pem') }, /CA file: \S+key\.pem holds no PEM certificate/],
        ['an empty URL', { url: '' }, /^The settings are not usable: URL: is empty\. Enter the base URL of your gateway or runner, or choose the Livepeer community gateway/],
        ['a URL of spaces', { url: '   ' }, /URL: is empty/],
        ['an unknown service', { service: 'cloud', url: undefined }, /^The settings are not usable: Service: is "cloud", not one this node knows/],
        ['a timeout beyond Node\'s timers', { timeout: 3_000_000 }, /Timeout: is 3000000 seconds, out of range\. Use a number more than 0 and at most 2147483 seconds/],
        ['a timeout of 0', { timeout: 0 }, /Timeout: is 0 seconds, out of range/],
        ['a negative concurrency', { concurrency: -1 }, /At once: is -1 requests, out of range\. Use a whole number from 1 to 64/],
        ['a fractional retry count', { retries: 1.5 }, /Retries: is 1\.5, not a whole number/],
        ['a max answer that is not a number', { maxResponseMB: 'lots' }, /Max answer: is "lots", not a number/],
        ['a max image of 0', { maxInputMP: 0 }, /Max image: is 0 megapixels, out of range/],
      ];
      for (const [what, change, words] of table) {
        it(what, async () => {
          const runs = sam2.requestCount;
          let answer: Awaited<ReturnType<typeof test>>['answer'] | undefined;
          const longest = await longestStall(async () => ({ answer } = await test({ settings: { service: 'custom', url: sam2.url, ...change } })));
          assert.ok(answer, 'Test connection answered');
          assert.deepEqual([answer.ok, answer.reachable], [false, null]);
          assert.match(answer.message, words);
          assert.equal(sam2.requestCount, runs, 'nothing was sent');
          assert.ok(longest < 1000, `the event loop went ${longest} ms without a timer`);
        });
      }
    });
  });
});

describe('editor API in a real Node-RED with adminAuth', function () {
  this.timeout(60_000);
  const PASSWORD = 'correct horse battery staple';
  const SAM2_TOKEN = 'sk-sam2-in-flows-cred-42';
  let sam2: LocalServer;
  let host: NodeRedHost;
  let frame: Buffer;

  before(async () => {
    sam2 = await startLocalServer({ token: SAM2_TOKEN });
    frame = (await makeScene('studio', 320, 180)).jpeg;
    host = await startNodeRed({
      adminAuth: { type: 'credentials', users: [{ username: 'admin', password: bcrypt.hashSync(PASSWORD, 8), permissions: '*' }] },
      flows: [
        { id: 'tab', type: 'tab', label: 'Flow 1' },
        { id: 'ep', type: 'sam2-endpoint', service: 'custom', url: sam2.url, modelId: 'facebook/sam2-hiera-large', retries: 0 },
        { id: 'cam', type: 'inject', z: 'tab', payloadType: 'bin', payload: JSON.stringify([...frame]), repeat: '', once: false, wires: [['seg']] },
        { id: 'seg', type: 'sam2-segment', z: 'tab', endpoint: 'ep', property: 'payload', points: [{ x: 160, y: 70, label: 1 }], box: null, wires: [[]] },
      ],
      credentials: { ep: { token: SAM2_TOKEN } },
    });
  });

  after(async () => {
    await host?.stop();
    await sam2?.close();
  });

  async function login(): Promise<string> {
    const res = await admin(host, 'POST', '/auth/token', {
      body: { client_id: 'node-red-editor', grant_type: 'password', scope: '*', username: 'admin', password: PASSWORD },
    });
    assert.equal(res.status, 200, res.body.toString());
    return res.json<{ access_token: string }>().access_token;
  }

  it('refuses every route to a request without a token', async () => {
    const calls: Array<[string, string, object?]> = [
      ['GET', '/sam2-segment/seg/frame'],
      ['POST', '/sam2-segment/seg/try', { endpoint: 'ep', points: [[10, 10]] }],
      ['POST', '/sam2-segment/seg/preview', { enabled: true }],
      ['POST', '/sam2-endpoint/test', { id: 'ep', settings: { service: 'custom', url: sam2.url } }],
    ];
    for (const [method, path, body] of calls) {
      const res = await admin(host, method, path, { body });
      assert.equal(res.status, 401, `${method} ${path}`);
    }
    assert.equal(sam2.requestCount, 0, 'nothing reached the SAM2 server');
  });

  it('shows no frame before the node reads one, then its last frame', async () => {
    const token = await login();
    const before = await admin(host, 'GET', '/sam2-segment/seg/frame', { token });
    assert.equal(before.status, 404);
    assert.match(before.json<{ error: string }>().error, /No frame yet/);
    assert.equal((await admin(host, 'POST', '/inject/cam', { token })).status, 200);
    const after = await until('the frame', async () => {
      const res = await admin(host, 'GET', '/sam2-segment/seg/frame', { token });
      return res.status === 200 && res;
    });
    assert.equal(after.headers.get('content-type'), 'image/jpeg');
    assert.deepEqual([after.headers.get('x-sam2-frame-width'), after.headers.get('x-sam2-frame-height')], ['320', '180']);
  });

  it('tries prompts with the deployed endpoint\'s stored token, which no answer contains', async () => {
    const token = await login();
    await admin(host, 'POST', '/inject/cam', { token });
    await until('the frame', async () => (await admin(host, 'GET', '/sam2-segment/seg/frame', { token })).status === 200);
    const tried = await admin(host, 'POST', '/sam2-segment/seg/try', {
      token,
      contentType: TRY_TYPE,
      body: { endpoint: 'ep', points: [[160, 70]], labels: [1], multimask: false, normalizeCoords: true },
    });
    assert.equal(tried.status, 200, tried.body.toString());
    assert.equal(tried.json<{ masks: unknown[] }>().masks.length, 1);
    const tested = await admin(host, 'POST', '/sam2-endpoint/test', { token, body: { id: 'ep', settings: { service: 'custom', url: sam2.url } } });
    assert.equal(tested.json<{ ok: boolean }>().ok, true);
    for (const text of [tried.body.toString(), tested.body.toString(), host.log.join('')]) assert.ok(!text.includes(SAM2_TOKEN));
  });
});
