/**
 * The example flows in examples/, loaded into a Node-RED runtime exactly as the Import menu
 * gives them (only the endpoint URL pointed at this test's local server), with Node-RED's own
 * core nodes: each does what its comment promises, on the sample photos it ships with.
 * Example 6 needs FlowFuse Dashboard 2's widgets and a browser to show them: here its node
 * types are checked, and test/browser/dashboard.test.ts runs it on the dashboard in Chromium.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import helper from 'node-red-node-test-helper';
import sharp from 'sharp';
import endpointNode = require('../nodes/sam2-endpoint');
import segmentNode = require('../nodes/sam2-segment');
import { startLocalServer, type LocalServer } from '../local-server/server';
import { rleToMask } from '../lib/rle';
import type { CocoRle } from '../lib/rle';
import { iou, makeScene, type Scene, type SceneObject } from './fixtures/scenes';
import { EXAMPLE_VIDEO, exampleFrameName, makeVideo } from './fixtures/videos';

/* eslint-disable @typescript-eslint/no-require-imports */
const coreNodes = [
  require('@node-red/nodes/core/common/20-inject.js'),
  require('@node-red/nodes/core/common/21-debug.js'),
  require('@node-red/nodes/core/common/25-catch.js'),
  require('@node-red/nodes/core/common/90-comment.js'),
  require('@node-red/nodes/core/function/10-function.js'),
  require('@node-red/nodes/core/function/15-change.js'),
  require('@node-red/nodes/core/storage/10-file.js'),
];
/* eslint-enable @typescript-eslint/no-require-imports */

helper.init(require.resolve('node-red'));

const EXAMPLES_DIR = join(__dirname, '..', '..', 'examples');

interface FlowNode {
  id: string;
  type: string;
  name?: string;
  z?: string;
  url?: string;
  wires?: string[][];
  [key: string]: unknown;
}

interface Mask {
  score: number;
  area: number;
  bbox: number[];
  rle?: CocoRle;
  png?: Buffer;
}

interface ExampleMsg {
  payload: unknown;
  masks: Mask[];
  objects?: Array<{ masks: Mask[] }>;
  overlay?: Buffer;
  sam2: { box?: number[]; objects?: Array<{ box: number[] }>; dropped?: number; logits: Float32Array[] };
  sam2Dropped?: { reason: string; dropped: number };
  rounds?: Array<{ score: number; area: number }>;
}

function readExample(title: string): FlowNode[] {
  return JSON.parse(readFileSync(join(EXAMPLES_DIR, `${title}.json`), 'utf8')) as FlowNode[];
}

/** The example's node with this name (names are what a user sees, so they are what we look up). */
function named(flow: FlowNode[], name: string): FlowNode {
  const node = flow.find((n) => n.name === name);
  assert.ok(node, `the example has a node named "${name}"`);
  return node;
}

function nextInput(id: string): Promise<ExampleMsg> {
  return new Promise((resolve) => helper.getNode(id).once('input', (msg: ExampleMsg) => resolve(msg)));
}

function object(scene: Scene, name: string): SceneObject {
  const found = scene.objects.find((o) => o.name === name);
  assert.ok(found, `the ${scene.name} scene has a ${name}`);
  return found;
}

/** A mask PNG (a buffer or a file), as 0/1 per pixel. */
async function pngMask(png: Buffer | string): Promise<{ mask: Uint8Array; width: number; height: number }> {
  const { data, info } = await sharp(png).toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
  const mask = new Uint8Array(info.width * info.height);
  for (let i = 0; i < mask.length; i++) mask[i] = data[i * info.channels] > 127 ? 1 : 0;
  return { mask, width: info.width, height: info.height };
}

/** How close the local server's mask comes to the object drawn: its segmenter is classical, not SAM2. */
const MIN_IOU = 0.85;

describe('example flows, as imported', function () {
  this.timeout(60_000);
  let server: LocalServer;
  let studio: Scene;
  let garden: Scene;
  let workDir: string;

  before(async () => {
    server = await startLocalServer();
    // The sample photos are these scenes at 1280x720; the ground-truth masks come with them.
    [studio, garden] = await Promise.all([makeScene('studio', 1280, 720), makeScene('garden', 1280, 720)]);
  });
  after(() => server.close());
  beforeEach(() => {
    workDir = mkdtempSync(join(tmpdir(), 'sam2-examples-'));
    helper.settings({ fileWorkingDirectory: workDir });
  });
  afterEach(async () => {
    await helper.unload();
    helper.settings({});
    rmSync(workDir, { recursive: true, force: true });
  });

  /** Loads an example with its endpoint pointed at this test's server (or `at`). */
  async function load(flow: FlowNode[], at: LocalServer = server): Promise<void> {
    const endpoint = flow.find((n) => n.type === 'sam2-endpoint');
    assert.ok(endpoint, 'the example carries its sam2-endpoint config node');
    assert.equal(endpoint.url, 'http://127.0.0.1:8936', 'examples point at the local server\'s default address');
    endpoint.url = at.url;
    await helper.load([endpointNode, segmentNode, ...coreNodes], flow);
  }

  it('ships six examples, each using sam2-segment with its own endpoint pointed at the local server', () => {
    const titles = readdirSync(EXAMPLES_DIR).filter((f) => f.endsWith('.json')).sort();
    assert.equal(titles.length, 6);
    const flows = titles.map((t) => JSON.parse(readFileSync(join(EXAMPLES_DIR, t), 'utf8')) as FlowNode[]);
    const endpoints = flows.map((flow) => {
      assert.ok(flow.some((n) => n.type === 'sam2-segment'), 'each example uses sam2-segment');
      assert.ok(flow.some((n) => n.type === 'comment'), 'each example explains itself');
      const endpoint = flow.find((n) => n.type === 'sam2-endpoint');
      assert.ok(endpoint);
      for (const segment of flow.filter((n) => n.type === 'sam2-segment')) assert.equal(segment.endpoint, endpoint.id);
      return endpoint;
    });
    // Own ids, so importing a second example raises no conflict in the editor; own names, so the
    // endpoint dropdown of a sam2-segment tells them apart; the same settings otherwise.
    assert.equal(new Set(endpoints.map((e) => e.id)).size, 6);
    assert.deepEqual(endpoints.map((e) => e.name), [1, 2, 3, 4, 5, 6].map((n) => `local SAM2 server, example ${n}`));
    assert.equal(new Set(endpoints.map(({ id: _id, name: _name, ...settings }) => JSON.stringify(settings))).size, 1);
    // No node of one example shares its id with another's: any of them imports next to the others.
    const ids = flows.flat().map((n) => n.id);
    assert.deepEqual(ids.filter((id, i) => ids.indexOf(id) !== i), []);
  });

  /** The node types Node-RED's editor offers out of the box: those its core nodes' HTML registers. */
  function coreTypes(): Set<string> {
    const core = join(dirname(require.resolve('@node-red/nodes/package.json', { paths: [dirname(require.resolve('node-red/package.json'))] })), 'core');
    const types = new Set<string>(['tab', 'subflow', 'group', 'junction']);
    for (const dir of readdirSync(core)) {
      for (const file of readdirSync(join(core, dir)).filter((f) => f.endsWith('.html'))) {
        for (const m of readFileSync(join(core, dir, file), 'utf8').matchAll(/data-template-name="([^"]+)"/g)) types.add(m[1]);
      }
    }
    return types;
  }

  it('6: uses only node types from Node-RED, this package and @flowfuse/node-red-dashboard, which its comment says to install', () => {
    const flow = readExample('6 Dashboard (FlowFuse Dashboard 2)');
    const ours = Object.keys((JSON.parse(readFileSync(join(EXAMPLES_DIR, '..', 'package.json'), 'utf8')) as { 'node-red': { nodes: Record<string, string> } })['node-red'].nodes);
    const dashboard = JSON.parse(readFileSync(require.resolve('@flowfuse/node-red-dashboard/package.json'), 'utf8')) as { 'node-red': { nodes: Record<string, string> } };
    const offered = Object.keys(dashboard['node-red'].nodes);
    const core = coreTypes();
    assert.ok(core.has('function') && core.has('file in') && !core.has('ui-button'), 'core types as the editor has them');
    const unknown = flow.filter((n) => !core.has(n.type) && !ours.includes(n.type) && !offered.includes(n.type));
    assert.deepEqual(unknown.map((n) => `${n.name || n.id}: ${n.type}`), []);
    const fromDashboard = new Set(flow.filter((n) => offered.includes(n.type)).map((n) => n.type));
    assert.deepEqual([...fromDashboard].sort(), ['ui-base', 'ui-button', 'ui-group', 'ui-page', 'ui-template', 'ui-text', 'ui-theme']);
    assert.match(named(flow, 'A dashboard page: the live overlay, the scores and a count (needs FlowFuse Dashboard 2)').info as string, /install `@flowfuse\/node-red-dashboard` from \*Menu → Manage palette → Install\*/);
    // The page's own path, so it does not take the place of a page of the user's dashboard.
    const page = flow.find((n) => n.type === 'ui-page')!;
    assert.equal(page.path, '/sam2');
    // The overlay the page shows is the one sam2-segment makes.
    assert.equal(named(flow, 'the crate').overlay, true);
  });

  it('1: segments the saved photo by its point and writes the ball\'s mask to a PNG file', async () => {
    const flow = readExample('1 Segment a saved photo by a point');
    await load(flow);
    const shown = nextInput(named(flow, 'score, area, box').id);
    helper.getNode(named(flow, 'segment the photo').id).receive({});
    const msg = await shown;

    const written = await pngMask(join(workDir, 'sam2-ball-mask.png'));
    assert.deepEqual([written.width, written.height], [1280, 720]);
    const ball = object(studio, 'ball');
    assert.ok(iou(written.mask, ball.mask) >= MIN_IOU, `the file holds the ball's mask (IoU ${iou(written.mask, ball.mask).toFixed(3)})`);
    assert.equal(msg.masks.length, 1, 'the node keeps the best mask only');
    assert.ok(msg.masks[0].score > 0 && msg.masks[0].score <= 1);
    const sent = server.requests.at(-1)!;
    assert.equal(sent.fields.point_coords, '[[256,259]]', 'the point set in the node reaches the API');
  });

  it('at rest, no example sends anything: every inject waits for its button (none fires at deploy or repeats)', () => {
    for (const title of readdirSync(EXAMPLES_DIR).filter((f) => f.endsWith('.json'))) {
      const flow = JSON.parse(readFileSync(join(EXAMPLES_DIR, title), 'utf8')) as FlowNode[];
      for (const inject of flow.filter((n) => n.type === 'inject')) {
        assert.equal(inject.once, false, `${title}: "${inject.name}" does not fire at deploy`);
        assert.ok(!inject.repeat && !inject.crontab, `${title}: "${inject.name}" does not repeat`);
      }
    }
  });

  it('2: the camera runs from one press of its inject to the next, and keeps up: every frame answered or dropped with a reason', async () => {
    const flow = readExample('2 Camera stream, latest frame wins');
    // A second per answer against five frames a second: frames must be dropped, whatever the machine.
    const slow = await startLocalServer({ faults: 'latency=1000' });
    try {
      await load(flow, slow);
      await checkStream(flow, slow);
    } finally {
      await helper.unload();
      await slow.close();
    }
  });

  /** Presses the camera's inject and resolves with the status its function node shows next. */
  function press(flow: FlowNode[]): Promise<string> {
    const camera = helper.getNode(named(flow, 'camera, 5 frames/s').id);
    const status = new Promise<string>((resolve) => camera.once('call:status', (call: { args: Array<{ text: string }> }) => resolve(call.args[0].text)));
    helper.getNode(named(flow, 'camera on / off').id).receive({});
    return status;
  }

  /** Five frame periods: what "no frames" is measured over. */
  const QUIET_MS = 1000;

  async function checkStream(flow: FlowNode[], at: LocalServer): Promise<void> {
    const segment = helper.getNode(named(flow, 'the crate').id);
    // Frames the camera sent, counted as it sends them (a frame's delivery to the next node comes later).
    let frames = 0;
    helper.getNode(named(flow, 'camera, 5 frames/s').id).on('call:send', () => frames++);
    let delivered = 0;
    helper.getNode(named(flow, 'read garden-1280x720.jpg').id).on('input', () => delivered++);
    let read = 0;
    const dropped: ExampleMsg[] = [];
    const masks: ExampleMsg[] = [];
    segment.on('input', () => read++);

    // Deployed and left alone: no frame is read and nothing reaches the endpoint.
    await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
    assert.equal(frames + delivered, 0, 'no frames before the inject is pressed');
    assert.equal(at.requestCount, 0);

    assert.match(await press(flow), /running/);
    await new Promise<void>((resolve) => {
      const enough = (): void => {
        if (masks.length >= 3 && dropped.length >= 1) resolve();
      };
      helper.getNode(named(flow, 'dropped frames').id).on('input', (msg: ExampleMsg) => {
        dropped.push(msg);
        enough();
      });
      helper.getNode(named(flow, 'crate: area, score, ms').id).on('input', (msg: ExampleMsg) => {
        masks.push(msg);
        enough();
      });
    });
    for (const msg of dropped) assert.match(msg.sam2Dropped!.reason, /replaced by a newer frame/);
    const concurrency = Number(flow.find((n) => n.type === 'sam2-endpoint')!.concurrency);
    const pending = read - masks.length - dropped.length;
    // Frames not yet answered are in flight (at most the endpoint's concurrency) or the one waiting.
    assert.ok(pending >= 0 && pending <= concurrency + 1, `${read} read = ${masks.length} sent + ${dropped.length} dropped + ${pending} pending`);
    const crate = object(garden, 'crate');
    for (const msg of masks) {
      const mask = rleToMask(msg.masks[0].rle!);
      assert.ok(iou(mask, crate.mask) >= MIN_IOU, `each answer is the crate's mask (IoU ${iou(mask, crate.mask).toFixed(3)})`);
    }
    assert.ok(masks.some((m) => (m.sam2.dropped ?? 0) > 0), 'a mask says how many frames were dropped before it');

    // The second press stops the camera: no frame after it.
    assert.match(await press(flow), /stopped/);
    const stoppedAt = frames;
    await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
    assert.equal(frames, stoppedAt, 'no frames after the second press');
  }

  it('5: follows the ball clicked on the first frame and sends one MQTT-ready message when it has left the picture', async () => {
    const flow = readExample('5 Follow an object, message when it leaves');
    const video = await makeVideo(EXAMPLE_VIDEO.name, EXAMPLE_VIDEO.options);
    // The frames shipped are this video's (to within JPEG decoders): the truth below is theirs.
    for (let i = 0; i < EXAMPLE_VIDEO.frames; i++) {
      const [shipped, made] = await Promise.all(
        [readFileSync(join(EXAMPLES_DIR, exampleFrameName(i))), video.frames[i].jpeg].map((jpeg) => sharp(jpeg).raw().toBuffer()),
      );
      let diff = 0;
      for (let k = 0; k < made.length; k++) diff += Math.abs(shipped[k] - made[k]);
      assert.ok(shipped.length === made.length && diff / made.length < 1, `frame ${i} is the video's`);
    }
    await load(flow);
    const tracked: Array<{ payload: Buffer[]; sam2: { frame: number; tracks: Array<{ id: number; state: string }>; events: Array<{ type: string; id: number }> } }> = [];
    helper.getNode(named(flow, 'when it leaves').id).on('input', (msg: (typeof tracked)[number]) => tracked.push(msg));
    const sent = new Promise<{ topic: string; payload: { id: number; frame: number; event: string } }>((resolve) =>
      helper.getNode(named(flow, 'to MQTT / Home Assistant').id).once('input', resolve),
    );
    helper.getNode(named(flow, 'camera on / off').id).receive({});
    const message = await sent;

    const gone = video.frames.findIndex((f) => f.objects[0].area === 0);
    assert.equal(message.topic, 'sam2/tracks/1/left');
    assert.deepEqual(Object.keys(message.payload), ['id', 'frame', 'event']);
    assert.equal(message.payload.event, 'left');
    // Lost within two frames of leaving, and ended two frames ("Ends after") later.
    assert.ok(message.payload.frame >= gone + 2 && message.payload.frame <= gone + 4, `left on frame ${message.payload.frame}; out of the picture from frame ${gone}`);
    assert.deepEqual(tracked.map((m) => m.sam2.frame), [...Array(message.payload.frame + 1).keys()], 'every frame, in order');
    assert.deepEqual(tracked[0].sam2.events, [{ type: 'entered', id: 1 }]);
    let sum = 0;
    for (let t = 0; t < gone; t++) {
      assert.deepEqual(tracked[t].sam2.tracks.map((x) => [x.id, x.state]), [[1, 'tracking']], `frame ${t}`);
      sum += iou((await pngMask(tracked[t].payload[0])).mask, video.frames[t].objects[0].mask);
    }
    assert.ok(sum / gone >= MIN_IOU, `mean IoU with the ball while in the picture: ${(sum / gone).toFixed(3)}`);
  });

  it('3: segments a Frigate event by the box of its snapshot, and coco-ssd boxes converted from [x, y, w, h]', async () => {
    const flow = readExample('3 Box from a detector (Frigate, coco-ssd)');
    await load(flow);
    const debugId = named(flow, 'box, score, area per object').id;

    // The event as Frigate publishes it: the object's box in the newest frame (after.box), and
    // in the snapshot (after.snapshot.box), the frame a flow fetches and segments.
    const event = JSON.parse(named(flow, 'Frigate event').payload as string) as { after: { box: number[]; frame_time: number; snapshot: { box: number[]; frame_time: number } } };
    assert.notEqual(event.after.frame_time, event.after.snapshot.frame_time, 'the snapshot is another frame');
    assert.notDeepEqual(event.after.box, event.after.snapshot.box, 'where the object moved since');
    let shown = nextInput(debugId);
    helper.getNode(named(flow, 'Frigate event').id).receive({});
    const frigate = await shown;
    assert.deepEqual(frigate.sam2.box, event.after.snapshot.box, 'the box that belongs to the image segmented');
    assert.deepEqual(frigate.sam2.box, [810, 130, 982, 302], 'which is the ball\'s box in the photo standing in for the snapshot');
    assert.equal(server.requests.at(-1)!.fields.box, '[810,130,982,302]');
    const { mask: ballMask } = await pngMask(frigate.payload as Buffer);
    assert.ok(iou(ballMask, object(garden, 'ball').mask) >= MIN_IOU, 'the Frigate box gives the ball');
    assert.deepEqual((await sharp(frigate.overlay!).metadata()).format, 'jpeg', 'an overlay to look at comes with it');

    shown = nextInput(debugId);
    helper.getNode(named(flow, 'coco-ssd detections').id).receive({});
    const coco = await shown;
    assert.deepEqual(coco.sam2.objects!.map((o) => o.box), [[269, 331, 499, 562], [794, 432, 1101, 634]]);
    assert.equal(coco.objects!.length, 2);
    assert.deepEqual((coco as unknown as { annotations: Array<{ label: string }> }).annotations.map((a) => a.label.replace(/ \d\.\d\d$/, '')), ['donut', 'suitcase'], "each box labelled with the detector's class");
    const [ring, crate] = (await Promise.all(coco.objects!.map((o) => pngMask(o.masks[0].png!)))).map((m) => m.mask);
    assert.ok(iou(ring, object(garden, 'ring').mask) >= MIN_IOU, 'the first detection is the ring');
    assert.ok(iou(crate, object(garden, 'crate').mask) >= MIN_IOU, 'the second is the crate');
  });

  it('4: refines the wedge over three rounds, sending the best logits back as mask_input', async () => {
    const flow = readExample('4 Refine a mask with its logits');
    await load(flow);
    const before = server.requests.length;
    const shown = nextInput(named(flow, 'score and area per round').id);
    helper.getNode(named(flow, 'segment the wedge').id).receive({});
    const msg = await shown;

    assert.equal(msg.rounds!.length, 3);
    const sent = server.requests.slice(before);
    assert.equal(sent.length, 3, 'one request per round');
    assert.equal(sent[0].fields.mask_input, undefined, 'the first round has only the point');
    assert.equal(sent[0].fields.multimask_output, 'true');
    for (const later of sent.slice(1)) {
      assert.equal(later.fields.point_coords, '[[307,598]]', 'later rounds keep the point');
      assert.equal(later.fields.multimask_output, 'false');
      assert.match(later.fields.mask_input ?? '', /^\[\[\[/, 'and carry the last answer\'s logits as 1x256x256');
    }
    const { mask: wedge } = await pngMask(msg.payload as Buffer);
    assert.ok(iou(wedge, object(studio, 'wedge').mask) >= MIN_IOU, `the refined mask is the wedge (IoU ${iou(wedge, object(studio, 'wedge').mask).toFixed(3)})`);
  });
});
