/**
 * The nodes in a real Node-RED runtime (node-red-node-test-helper), talking over real HTTP to
 * the local SAM2-compatible server: what a flow author sees at the end of a wire.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { startLocalServer, type LocalServer } from '../local-server/server';
import { helper, loadSegmentFlow, nextMessage as next } from './fixtures/flow';
import { iou, makeScene, type Scene } from './fixtures/scenes';

const TOKEN = 'tok-7f3a9c-never-leak';

interface OutMsg {
  payload: Buffer;
  masks: Array<{ png: Buffer; score: number; area: number; bbox: number[]; centroid: number[] | null }>;
  scores: number[];
  image: Buffer;
  sam2: Record<string, unknown> & { logits: Float32Array[] };
  error?: { message: string };
}

/** Resolves with the next message a helper node receives. */
function nextMessage(id: string): Promise<OutMsg> {
  return next<OutMsg>(id);
}

async function pngMask(png: Buffer): Promise<{ mask: Uint8Array; width: number; height: number; channels: number; values: Set<number> }> {
  const { channels } = await sharp(png).metadata();
  const { data, info } = await sharp(png).toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
  const mask = new Uint8Array(info.width * info.height);
  const values = new Set<number>();
  for (let i = 0; i < mask.length; i++) {
    values.add(data[i * info.channels]);
    mask[i] = data[i * info.channels] ? 1 : 0;
  }
  return { mask, width: info.width, height: info.height, channels: channels ?? 0, values };
}

describe('sam2-segment in a Node-RED flow', function () {
  let server: LocalServer;
  let scene: Scene;

  before(async () => {
    server = await startLocalServer({ token: TOKEN });
    scene = await makeScene('studio', 640, 480);
  });
  after(() => server.close());
  afterEach(() => helper.unload());

  async function load(segment: Record<string, unknown> = {}, endpoint: Record<string, unknown> = {}, token = TOKEN): Promise<void> {
    await loadSegmentFlow({ url: server.url, endpoint, segment: { queue: 'queue', queueLimit: 10, ...segment }, token });
  }

  it('turns an image into PNG masks at the image size, best first, with areas and scores', async () => {
    const target = scene.objects[0];
    await load({ points: [{ x: target.point[0], y: target.point[1], label: 1 }] });
    const out = nextMessage('out');
    helper.getNode('seg').receive({ payload: scene.jpeg });
    const msg = await out;

    assert.equal(msg.masks.length, 3);
    assert.deepEqual(msg.scores, [...msg.scores].sort((a, b) => b - a));
    assert.deepEqual(msg.masks.map((m) => m.score), msg.scores);
    assert.equal(msg.payload, msg.masks[0].png);
    assert.equal(msg.image, scene.jpeg);
    for (const m of msg.masks) {
      const decoded = await pngMask(m.png);
      assert.deepEqual([decoded.width, decoded.height, decoded.channels], [640, 480, 1]);
      assert.ok([...decoded.values].every((v) => v === 0 || v === 255));
      assert.equal(m.area, decoded.mask.reduce((n, v) => n + v, 0));
    }
    const best = await pngMask(msg.payload);
    assert.ok(iou(best.mask, target.mask) > 0.8, `IoU with the object under the point: ${iou(best.mask, target.mask)}`);
    assert.equal(msg.sam2.logits.length, 3);
    assert.ok(msg.sam2.logits.every((l) => l instanceof Float32Array && l.length === 256 * 256));
  });

  it('sends every API field as the API expects it', async () => {
    await load({ points: [{ x: 100, y: 120, label: 1 }, { x: 5, y: 6, label: 0 }], box: [10, 20, 300, 400], multimask: false });
    const out = nextMessage('out');
    const maskInput = new Float32Array(256 * 256).fill(-3.25);
    helper.getNode('seg').receive({ payload: scene.png, sam2: { maskInput } });
    const msg = await out;
    const sent = server.requests.at(-1)!;
    assert.equal(sent.authorization, true);
    assert.equal(sent.fields.model_id, 'facebook/sam2-hiera-large');
    assert.equal(sent.fields.point_coords, '[[100,120],[5,6]]');
    assert.equal(sent.fields.point_labels, '[1,0]');
    assert.equal(sent.fields.box, '[10,20,300,400]');
    assert.equal(sent.fields.multimask_output, 'false');
    assert.equal(sent.fields.return_logits, 'false');
    assert.equal(sent.fields.normalize_coords, 'true');
    const sentMask = JSON.parse(sent.fields.mask_input) as number[][][];
    assert.deepEqual([sentMask.length, sentMask[0].length, sentMask[0][0].length, sentMask[0][9][9]], [1, 256, 256, -3.25]);
    assert.equal(sent.image?.contentType, 'image/png');
    assert.deepEqual([sent.image?.width, sent.image?.height], [640, 480]);
    assert.equal(msg.masks.length, 1);
  });

  it('lets msg.sam2 override the node\'s prompts for one message', async () => {
    const [first, second] = scene.objects;
    await load({ points: [{ x: first.point[0], y: first.point[1], label: 1 }] });
    const out = nextMessage('out');
    helper.getNode('seg').receive({ payload: scene.jpeg, sam2: { points: [second.point], multimask: false, modelId: 'facebook/sam2-hiera-large' } });
    const msg = await out;
    assert.equal(server.requests.at(-1)!.fields.point_coords, JSON.stringify([second.point]));
    assert.equal(server.requests.at(-1)!.fields.point_labels, '[1]');
    assert.equal(msg.masks.length, 1);
    assert.ok(iou((await pngMask(msg.payload)).mask, second.mask) > 0.8);
  });

  it('asks for three masks for one point and one for a box or several points, unless the node or msg.sam2 says otherwise', async () => {
    const [a, b] = scene.objects;
    const onePoint = { points: [a.point] };
    const twoPoints = { points: [a.point, b.point] };
    const box = { box: a.box };
    // [the node's saved Multimask (undefined: left out of a hand-written flow), msg.sam2, what the server must receive]
    const cases: Array<[unknown, Record<string, unknown>, string]> = [
      [undefined, onePoint, 'true'],
      [undefined, twoPoints, 'false'],
      [undefined, box, 'false'],
      ['auto', onePoint, 'true'],
      ['auto', box, 'false'],
      // Flows saved before "auto" hold a boolean: on and off, whatever the prompts.
      [true, box, 'true'],
      [true, twoPoints, 'true'],
      [false, onePoint, 'false'],
      // msg.sam2.multimask over the node's setting, "auto" included.
      [true, { ...box, multimask: 'auto' }, 'false'],
      [false, { ...onePoint, multimask: 'auto' }, 'true'],
      ['auto', { ...box, multimask: true }, 'true'],
    ];
    // A server of its own: the shared one keeps only its last 100 requests, which other tests count.
    const own = await startLocalServer({ token: TOKEN });
    try {
      for (const [saved, sam2, expected] of cases) {
        await loadSegmentFlow({ url: own.url, segment: { queue: 'queue', ...(saved === undefined ? {} : { multimask: saved }) }, token: TOKEN });
        const out = nextMessage('out');
        helper.getNode('seg').receive({ payload: scene.jpeg, sam2 });
        const msg = await out;
        const what = `node ${String(saved)}, msg.sam2 ${JSON.stringify(sam2)}`;
        assert.equal(own.requests.at(-1)!.fields.multimask_output, expected, what);
        assert.equal(msg.masks.length, expected === 'true' ? 3 : 1, what);
        await helper.unload();
      }
    } finally {
      await own.close();
    }
  });

  it('with Masks "best" sends the best mask only, the same as the best of all, and every score and logits', async () => {
    const target = scene.objects[0];
    const points = [{ x: target.point[0], y: target.point[1], label: 1 }];
    await load({ points, select: 'all' });
    let out = nextMessage('out');
    helper.getNode('seg').receive({ payload: scene.jpeg });
    const all = await out;
    await helper.unload();
    await load({ points, select: 'best' });
    out = nextMessage('out');
    helper.getNode('seg').receive({ payload: scene.jpeg });
    const best = await out;
    assert.equal(best.masks.length, 1);
    assert.deepEqual(best.payload, all.payload);
    assert.deepEqual(best.masks[0], all.masks[0]);
    assert.deepEqual(best.scores, all.scores);
    assert.equal(best.scores.length, 3);
    assert.deepEqual(best.sam2.logits, all.sam2.logits);
    assert.equal('keep' in best.sam2, false, 'msg.sam2 holds the prompts sent, not how many masks were made');
  });

  it('sends frames at the endpoint\'s Upload size in efficient mode, masks at the frame\'s size', async () => {
    await load({ points: [{ x: scene.objects[0].point[0], y: scene.objects[0].point[1], label: 1 }] }, { uploadSize: '512' });
    const out = nextMessage('out');
    helper.getNode('seg').receive({ payload: scene.jpeg });
    const msg = await out;
    const sent = server.requests.at(-1)!;
    assert.deepEqual([sent.image?.width, sent.image?.height], [512, 512]);
    const best = await pngMask(msg.payload);
    assert.deepEqual([best.width, best.height], [640, 480]);
    assert.ok(iou(best.mask, scene.objects[0].mask) > 0.8);
  });

  it('refuses a Multimask setting it does not know, naming it', async () => {
    await load({ multimask: 'sometimes' });
    const caught = nextMessage('caught');
    helper.getNode('seg').receive({ payload: scene.jpeg, sam2: { points: [[10, 10]] } });
    assert.match((await caught).error!.message, /Multimask.*"sometimes".*auto, true.*false/);
  });

  const failures: Array<[string, Record<string, unknown>, string, RegExp]> = [
    ['400 for another model', { sam2: { modelId: 'facebook/sam2-hiera-tiny' } }, '', /400.*pipeline configured with facebook\/sam2-hiera-large but called with facebook\/sam2-hiera-tiny/],
    ['401 for a wrong token', {}, 'wrong-token', /401.*Invalid bearer token/],
    ['422 from validation', { fault: 'status=422;body={"detail":[{"loc":["body","image"],"msg":"field required"}]}' }, '', /422.*body\.image: field required/],
    ['500 from the pipeline', { fault: 'status=500;body={"detail":{"msg":"Segment-anything-2 pipeline error."}}' }, '', /500.*Segment-anything-2 pipeline error/],
    ['503 from the gateway', { fault: 'status=503;body={"error":{"message":"Service Unavailable Error"}}' }, '', /503.*Service Unavailable Error/],
  ];
  for (const [what, message, token, words] of failures) {
    it(`reports ${what} to a Catch node, and the next message still works`, async () => {
      await load({ points: [{ x: 320, y: 240, label: 1 }] }, {}, token || TOKEN);
      const caught = nextMessage('caught');
      const { fault, ...rest } = message as { fault?: string };
      if (fault) server.injectFaults(fault);
      helper.getNode('seg').receive({ payload: scene.jpeg, ...rest });
      const failed = await caught;
      assert.match(failed.error!.message, words);
      assert.ok(!failed.error!.message.includes(TOKEN));
      if (token) return;
      const out = nextMessage('out');
      helper.getNode('seg').receive({ payload: scene.jpeg });
      assert.equal((await out).masks.length, 3);
    });
  }

  it('segments several objects in one message, one request each, results in the same order', async () => {
    const [a, b] = scene.objects;
    await load();
    const out = nextMessage('out');
    helper.getNode('seg').receive({ payload: scene.jpeg, sam2: { multimask: false, objects: [{ points: [b.point] }, { box: a.box }] } });
    const msg = (await out) as OutMsg & { objects: Array<{ masks: OutMsg['masks'] }>; payload: Buffer[] };
    assert.equal(msg.objects.length, 2);
    assert.equal(msg.payload.length, 2);
    const sent = server.requests.slice(-2).map((r) => r.fields);
    assert.ok(sent.some((f) => f.point_coords === JSON.stringify([b.point]) && !f.box));
    assert.ok(sent.some((f) => f.box === JSON.stringify(a.box) && !f.point_coords));
    assert.ok(iou((await pngMask(msg.payload[0])).mask, b.mask) > 0.8, 'first result is the first object');
    assert.ok(iou((await pngMask(msg.payload[1])).mask, a.mask) > 0.8, 'second result is the second object');
    assert.equal((msg.sam2.logits as unknown as Float32Array[][]).length, 2);
  });

  interface Annotated {
    annotations: Array<{ type: string; bbox: number[]; label: string; score: number }>;
    summary: Record<string, number>;
  }

  it('hands the next node a box per mask for node-red-node-annotate-image, and a summary to send on as it is', async () => {
    const target = scene.objects[0];
    await load({ points: [{ x: target.point[0], y: target.point[1], label: 1 }] });
    const out = nextMessage('out');
    helper.getNode('seg').receive({ payload: scene.jpeg });
    const msg = (await out) as OutMsg & Annotated;
    const shown = msg.masks.filter((m) => m.area > 0);
    assert.equal(msg.annotations.length, shown.length);
    msg.annotations.forEach((a, i) => {
      const [x1, y1, x2, y2] = shown[i].bbox;
      assert.deepEqual(a, { type: 'rect', bbox: [x1, y1, x2 - x1, y2 - y1], label: `mask ${i + 1} ${shown[i].score.toFixed(2)}`, score: a.score });
      assert.ok(Math.abs(a.score - shown[i].score) < 1e-4);
    });
    const [x, y, w, h] = msg.annotations[0].bbox;
    assert.ok(target.point[0] >= x && target.point[0] < x + w && target.point[1] >= y && target.point[1] < y + h, 'the best box holds the point');
    // JSON as it is: what an MQTT out node sends, and a Home Assistant sensor reads back.
    const text = JSON.stringify(msg.summary);
    assert.deepEqual(JSON.parse(text), msg.summary);
    assert.ok(text.length < 200, text);
    assert.deepEqual(Object.keys(msg.summary).sort(), ['areaShare', 'bestScore', 'found', 'height', 'masks', 'objects', 'timeMs', 'width']);
    assert.deepEqual([msg.summary.objects, msg.summary.found, msg.summary.masks, msg.summary.width, msg.summary.height], [1, 1, 3, 640, 480]);
    assert.ok(Math.abs(msg.summary.bestScore - msg.scores[0]) < 1e-4);
    assert.ok(Math.abs(msg.summary.areaShare - msg.masks[0].area / (640 * 480)) < 1e-4, `${msg.summary.areaShare}`);
    assert.ok(Math.abs(msg.summary.areaShare - target.mask.reduce((n, v) => n + v, 0) / (640 * 480)) < 0.02, 'about the object\'s own share');
  });

  it('with several objects: a box per object, the summary and the status count them all', async () => {
    const [a, b] = scene.objects;
    await load({ select: 'best' });
    const green = new Promise<string>((resolve) =>
      helper.getNode('seg').on('call:status', (call: { args: [{ fill?: string; text?: string }] }) => {
        if (call.args[0].fill === 'green') resolve(call.args[0].text ?? '');
      }),
    );
    const out = nextMessage('out');
    helper.getNode('seg').receive({ payload: scene.jpeg, sam2: { multimask: false, objects: [{ box: a.box }, { box: b.box }] } });
    const msg = (await out) as OutMsg & Annotated & { objects: Array<{ masks: OutMsg['masks'] }> };
    assert.deepEqual(msg.annotations.map((n) => n.label.replace(/ \d\.\d\d$/, '')), ['object 1', 'object 2']);
    msg.annotations.forEach((n, i) => {
      const [x1, y1, x2, y2] = msg.objects[i].masks[0].bbox;
      assert.deepEqual(n.bbox, [x1, y1, x2 - x1, y2 - y1]);
    });
    const areas = msg.objects.map((o) => o.masks[0].area);
    assert.deepEqual([msg.summary.objects, msg.summary.found, msg.summary.masks], [2, 2, 2]);
    assert.ok(Math.abs(msg.summary.bestScore - Math.max(...msg.objects.map((o) => o.masks[0].score))) < 1e-4);
    // The two objects do not overlap: together they cover the sum of their areas.
    assert.ok(Math.abs(msg.summary.areaShare - (areas[0] + areas[1]) / (640 * 480)) < 1e-4, `${msg.summary.areaShare} for areas ${areas}`);
    assert.match(await green, /^2 objects · best \d\.\d\d · \d+ ms$/);
  });

  it("a detector's label as an object's name labels its box and travels with its masks", async () => {
    const [a, b] = scene.objects;
    await load({ select: 'best' });
    const out = nextMessage('out');
    helper.getNode('seg').receive({ payload: scene.jpeg, sam2: { multimask: false, objects: [{ box: a.box, name: 'person' }, { box: b.box }] } });
    const msg = (await out) as OutMsg & Annotated & { objects: Array<{ name?: string }>; sam2: { objects: Array<{ name?: string }> } };
    assert.deepEqual(msg.annotations.map((n) => n.label.replace(/ \d\.\d\d$/, '')), ['person', 'object 2']);
    assert.deepEqual(msg.objects.map((o) => o.name), ['person', undefined]);
    assert.deepEqual(msg.sam2.objects.map((o) => o.name), ['person', undefined]);
  });

  it('shows how much of a slow answer has arrived, a few times a second, then the result', async () => {
    await load({ points: [{ x: 320, y: 240, label: 1 }] });
    const statuses: Array<{ fill?: string; text: string; at: number }> = [];
    helper.getNode('seg').on('call:status', (call: { args: [{ fill?: string; text?: string }] }) => statuses.push({ fill: call.args[0].fill, text: call.args[0].text ?? '', at: Date.now() }));
    // The answer's text (three 640x480 masks, several MB) in 128 kB pieces 30 ms apart: seconds.
    server.injectFaults('trickle=30;chunk=131072');
    const out = nextMessage('out');
    helper.getNode('seg').receive({ payload: scene.jpeg });
    const msg = await out;
    assert.equal(msg.masks.length, 3);
    const progress = statuses.filter((s) => s.text.startsWith('receiving'));
    assert.ok(progress.length >= 3, `progress shown ${progress.length} times: ${statuses.map((s) => s.text).join(' | ')}`);
    const sizes = progress.map((s) => {
      const m = /^receiving (\d+(?:\.\d)?) (kB|MB)…$/.exec(s.text);
      assert.ok(m, s.text);
      return Number(m[1]) * (m[2] === 'MB' ? 1024 * 1024 : 1024);
    });
    for (let i = 1; i < sizes.length; i++) {
      assert.ok(sizes[i] > sizes[i - 1], `growing: ${progress.map((s) => s.text)}`);
    }
    const span = progress.at(-1)!.at - progress[0].at;
    assert.ok(progress.length <= Math.ceil(span / 250) + 1, `at most about four a second: ${progress.length} in ${span} ms`);
    assert.ok(sizes.at(-1)! > 1024 * 1024, `the last count is past 1 MB: ${progress.at(-1)!.text}`);
    assert.equal(progress.every((s) => s.fill === 'blue'), true);
    await new Promise<void>((resolve) => {
      const done = () => statuses.at(-1)?.fill === 'green' && resolve();
      done();
      helper.getNode('seg').on('call:status', done);
    });
    assert.match(statuses.at(-1)!.text, /^3 masks · best/);
  });

  interface StatusCall {
    thisValue: unknown;
    args: [{ fill?: string; shape?: string; text?: string }];
  }
  /** Every status and warning `id` gave, from the helper's spies (they see the ones set at deploy too). */
  function calls(id: string, method: 'status' | 'warn'): StatusCall['args'][0][] {
    const node = helper.getNode(id);
    const spy = node[method] as unknown as { getCalls(): StatusCall[] };
    return spy.getCalls().filter((c) => c.thisValue === node).map((c) => c.args[0]);
  }
  /** The status `id` shows once the message in hand is answered. */
  function answeredStatus(id: string): Promise<{ fill?: string; text?: string }> {
    return new Promise((resolve) =>
      helper.getNode(id).on('call:status', (call: StatusCall) => {
        if (call.args[0].shape === 'dot' && (call.args[0].fill === 'green' || call.args[0].fill === 'yellow')) resolve(call.args[0]);
      }),
    );
  }

  it('a node with no points and no box says so at deploy, answers prompts from msg.sam2, and warns on a message without', async () => {
    const target = scene.objects[0];
    await load();
    assert.deepEqual(calls('seg', 'status').at(-1), { fill: 'yellow', shape: 'ring', text: 'no prompt: set points or a box, or send msg.sam2' });

    let out = nextMessage('out');
    let status = answeredStatus('seg');
    helper.getNode('seg').receive({ payload: scene.jpeg, sam2: { points: [target.point] } });
    const prompted = await out;
    assert.equal(prompted.sam2.warning, undefined);
    assert.ok(iou((await pngMask(prompted.payload)).mask, target.mask) > 0.8);
    assert.match((await status).text!, /^3 masks · best/);
    assert.equal((await status).fill, 'green');

    // No prompt anywhere: the API still answers (SAM2 picks something), and the node says so.
    for (let i = 0; i < 2; i++) {
      out = nextMessage('out');
      status = answeredStatus('seg');
      helper.getNode('seg').receive({ payload: scene.jpeg });
      const bare = await out;
      assert.equal(bare.masks.length, 3);
      assert.match(String(bare.sam2.warning), /^no prompt: the node has no points or box and msg.sam2 gave none, .*Set points or a box in the node, or send msg.sam2.points or msg.sam2.box$/);
      assert.deepEqual([(await status).fill, /^no prompt · 3 masks · best/.test((await status).text!)], ['yellow', true]);
    }
    assert.equal(server.requests.at(-1)!.fields.point_coords, undefined, 'sent with no prompt, as the API allows');
    const warned = calls('seg', 'warn').map(String);
    assert.equal(warned.filter((w) => /no prompt/.test(w)).length, 1, `warned once per deploy: ${warned}`);
  });

  it('with objects, names the object that had no prompt', async () => {
    const [a] = scene.objects;
    await load({ points: [{ x: a.point[0], y: a.point[1], label: 1 }] });
    assert.notEqual(calls('seg', 'status').at(-1)?.fill, 'yellow', 'a node with points has nothing to warn about');
    const out = nextMessage('out');
    helper.getNode('seg').receive({ payload: scene.jpeg, sam2: { objects: [{ box: a.box }, { points: null }] } });
    const msg = await out;
    assert.match(String(msg.sam2.warning), /^no prompt: msg\.sam2\.objects\[1\] had no points, box or maskInput/);
  });

  describe('bad input: a clear error naming the field, no request sent, and the next message still works', () => {
    let tinyJpeg: Buffer;
    before(async () => {
      tinyJpeg = await sharp({ create: { width: 300, height: 200, channels: 3, background: 'teal' } }).jpeg().toBuffer();
    });
    const table: Array<[string, () => Record<string, unknown>, RegExp]> = [
      ['non-image bytes', () => ({ payload: Buffer.from('just some text, not a picture') }), /msg\.payload: .*not an image/],
      ['an empty buffer', () => ({ payload: Buffer.alloc(0) }), /msg\.payload: is empty/],
      ['a truncated JPEG', () => ({ payload: scene.jpeg.subarray(0, scene.jpeg.length >> 1) }), /msg\.payload: is a damaged jpeg image/],
      ['a missing input property', () => ({ topic: 'no image here' }), /msg\.payload: is missing/],
      ['base64 that is not base64', () => ({ payload: '%%% not base64 %%%' }), /msg\.payload: .*neither base64 nor a data: URL/],
      ['points that are not number pairs', () => ({ payload: tinyJpeg, sam2: { points: [[1, 'a']] } }), /msg\.sam2\.points\[0\]: .*pair of finite numbers/],
      ['labels whose count differs', () => ({ payload: tinyJpeg, sam2: { points: [[1, 1], [2, 2]], labels: [1] } }), /msg\.sam2\.labels: has 1 labels for 2 points/],
      ['NaN in a box', () => ({ payload: tinyJpeg, sam2: { box: [0, 0, NaN, 5] } }), /msg\.sam2\.box: .*four finite numbers/],
      ['a point outside the image', () => ({ payload: tinyJpeg, sam2: { points: [[400, 10]] } }), /msg\.sam2\.points\[0\]: .*outside the image/],
      ['an inverted box', () => ({ payload: tinyJpeg, sam2: { box: [100, 100, 10, 10] } }), /msg\.sam2\.box: .*inverted/],
      ['a maskInput of the wrong size', () => ({ payload: tinyJpeg, sam2: { maskInput: [1, 2, 3] } }), /msg\.sam2\.maskInput: has 3 values/],
      ['msg.sam2 that is not an object', () => ({ payload: tinyJpeg, sam2: 'points please' }), /msg\.sam2: is string/],
      ['an unknown format', () => ({ payload: tinyJpeg, sam2: { format: 'gif' } }), /msg\.sam2\.format: is "gif"/],
      ['one bad object among good ones', () => ({ payload: tinyJpeg, sam2: { objects: [{ points: [[1, 1]] }, { box: [100, 100, 10, 10] }] } }), /msg\.sam2\.objects\[1\]\.box: .*inverted/],
      ['more objects than Max objects', () => ({ payload: tinyJpeg, sam2: { objects: new Array(101).fill({ points: [[1, 1]] }) } }), /^Sam2InputError: msg\.sam2\.objects: has 101 objects, over the limit of 100\. .*raise "Max objects"/],
      ['an SVG image', () => ({ payload: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>') }), /^Sam2InputError: msg\.payload: is a vector image or other markup \(SVG\/XML\), not a camera frame/],
      ['points over the runner\'s 1 MiB field limit', () => ({ payload: tinyJpeg, sam2: { points: new Array(200_000).fill([1, 1]) } }), /^Sam2InputError: msg\.sam2\.points: is \d+ bytes as the form field point_coords, over the runner's limit/],
      ['a threshold that is not a number', () => ({ payload: tinyJpeg, sam2: { threshold: 'high' } }), /^Sam2InputError: msg\.sam2\.threshold: is "high"/],
      ['an object name that is not text', () => ({ payload: tinyJpeg, sam2: { objects: [{ points: [[1, 1]] }, { points: [[2, 2]], name: 7 }] } }), /^Sam2InputError: msg\.sam2\.objects\[1\]\.name: is 7\. Use a short text/],
    ];
    for (const [what, message, words] of table) {
      it(what, async () => {
        await load({ points: [{ x: 10, y: 10, label: 1 }] });
        const sentBefore = server.requestCount;
        const caught = nextMessage('caught');
        helper.getNode('seg').receive(message());
        assert.match((await caught).error!.message, words);
        const out = nextMessage('out');
        helper.getNode('seg').receive({ payload: tinyJpeg });
        assert.equal((await out).masks.length, 3);
        // Counted once the next answer is back, so a request the bad message let out would have arrived.
        assert.equal(server.requestCount, sentBefore + 1, 'nothing was sent for the bad message');
      });
    }
  });

  describe('settings out of range or unusable: refused at deploy with a red status naming the setting, and each message gets the error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sam2-seg-'));
    const fifo = join(dir, 'ca.pem');
    execFileSync('mkfifo', [fifo]);
    const table: Array<[string, Record<string, unknown>, Record<string, unknown>, string, RegExp]> = [
      ['an unknown service', {}, { service: 'nonsense' }, TOKEN, /Service: is "nonsense", not one this node knows/],
      ['an empty URL', {}, { url: '' }, TOKEN, /URL: is empty\. Enter the base URL .* or choose the Livepeer community gateway/],
      ['neither service nor URL', {}, { service: undefined, url: undefined }, TOKEN, /URL: is empty/],
      ['a timeout beyond Node\'s timers', {}, { timeout: 3_000_000 }, TOKEN, /Timeout: is 3000000 seconds, out of range\. Use a number more than 0 and at most 2147483 seconds/],
      ['a CA file that is a named pipe', {}, { caFile: fifo }, TOKEN, /CA file: \S+ca\.pem is not a readable regular file/],
      ['a token with an invisible character inside', {}, {}, `${TOKEN.slice(0, 4)}\u200b${TOKEN.slice(4)}`, /Token: has a character that cannot be sent in an HTTP header \(U\+200B at position 5\)/],
      ['a queue limit of 0', { queueLimit: 0 }, {}, TOKEN, /Queue up to: is 0 messages, out of range\. Use a whole number from 1 to 10000 messages/],
      ['a negative queue limit', { queueLimit: '-3' }, {}, TOKEN, /Queue up to: is -3 messages, out of range/],
      ['a Max objects of 0', { maxObjects: 0 }, {}, TOKEN, /Max objects: is 0 objects per message, out of range/],
      ['an image property with an expression in it', { property: 'payload[msg.topic]' }, {}, TOKEN, /Image property: is "payload\[msg\.topic\]", not a plain message property path\. Use a path such as payload/],
      ['an image property through __proto__', { property: '__proto__.polluted' }, {}, TOKEN, /Image property: is "__proto__\.polluted", not a plain message property path/],
      ['a threshold that is not a number', { threshold: 'abc' }, {}, TOKEN, /Threshold: is "abc", not a number/],
    ];
    for (const [what, segment, endpoint, token, words] of table) {
      it(what, async () => {
        await load({ points: [{ x: 10, y: 10, label: 1 }], ...segment }, endpoint, token);
        const sentBefore = server.requestCount;
        const caught = nextMessage('caught');
        helper.getNode('seg').receive({ payload: scene.jpeg });
        const error = (await caught).error!.message;
        assert.match(error, words);
        const statuses = (helper.getNode('seg') as unknown as { status: { args: Array<[{ fill?: string; text?: string }]> } }).status.args.map(([st]) => st);
        assert.ok(statuses.some((st) => st.fill === 'red' && /settings|endpoint|misconfigured/.test(st.text ?? '')), JSON.stringify(statuses));
        assert.ok(!error.includes(TOKEN.slice(4)), 'the token is not in the error');
        assert.equal(server.requestCount, sentBefore, 'nothing was sent');
      });
    }

    it('takes a token pasted with a newline and spaces, an image property written msg.payload, and an empty queue limit', async () => {
      await load({ points: [{ x: 10, y: 10, label: 1 }], property: 'msg.payload', queueLimit: '' }, {}, ` ${TOKEN}\r\n`);
      const out = nextMessage('out');
      helper.getNode('seg').receive({ payload: scene.jpeg });
      assert.equal((await out).masks.length, 3);
    });
  });

  it('segments 50 objects in one message with no listener-leak warning', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    try {
      await load({}, { concurrency: 4 });
      const tiny = await sharp({ create: { width: 2, height: 2, channels: 3, background: 'white' } }).png().toBuffer();
      // A fixed small answer for each: what is tested is holding 50 requests, not segmenting.
      const logits = `[[${new Array(256).fill(`[${new Array(256).fill('0.0').join(', ')}]`).join(', ')}]]`;
      server.injectFaults(...new Array(50).fill(`status=200;body={"masks": "[[[0.0, 1.0], [1.0, 1.0]]]", "scores": "[0.5]", "logits": "${logits}"}`));
      const out = nextMessage('out');
      const caught = nextMessage('caught').then((m) => Promise.reject(new Error(m.error!.message)));
      helper.getNode('seg').receive({ payload: tiny, sam2: { multimask: false, objects: new Array(50).fill({ points: [[1, 1]] }) } });
      const msg = (await Promise.race([out, caught])) as OutMsg & { objects: unknown[] };
      assert.equal(msg.objects.length, 50);
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(warnings, []);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('keeps for the dialog only frames that passed the checks', async () => {
    await load({ points: [{ x: 10, y: 10, label: 1 }] });
    const frame = () => helper.request().get('/sam2-segment/seg/frame');
    const caught = nextMessage('caught');
    helper.getNode('seg').receive({ payload: scene.jpeg.subarray(0, scene.jpeg.length >> 1) });
    await caught;
    assert.equal((await frame()).status, 404, 'a damaged frame is not kept');
    const out = nextMessage('out');
    helper.getNode('seg').receive({ payload: scene.jpeg });
    await out;
    const kept = await frame();
    assert.equal(kept.status, 200);
    assert.equal(kept.headers['x-sam2-frame-width'], '640');
    const huge = await sharp({ create: { width: 8000, height: 8000, channels: 3, background: 'black' } }).png().toBuffer();
    await helper.unload();
    await load({ points: [{ x: 10, y: 10, label: 1 }] }, { maxInputMP: 1 });
    const refused = nextMessage('caught');
    helper.getNode('seg').receive({ payload: huge });
    assert.match((await refused).error!.message, /over the limit of 1000000/);
    assert.equal((await frame()).status, 404, 'a frame over the pixel limit is not kept');
  });

  it('keeps the token out of messages, errors and statuses', async () => {
    await load({ points: [{ x: 320, y: 240, label: 1 }] });
    const seen: string[] = [];
    const seg = helper.getNode('seg');
    seg.on('call:status', (call: { args: unknown[] }) => seen.push(JSON.stringify(call.args)));
    seg.on('call:error', (call: { args: unknown[] }) => seen.push(String(call.args[0])));
    const out = nextMessage('out');
    seg.receive({ payload: scene.jpeg });
    seen.push(JSON.stringify(await out));
    server.injectFaults('status=401;body={"detail":{"msg":"Invalid bearer token."}}');
    const caught = nextMessage('caught');
    seg.receive({ payload: scene.jpeg });
    seen.push(JSON.stringify(await caught));
    assert.ok(seen.length >= 3);
    for (const text of seen) assert.ok(!text.includes(TOKEN), text.slice(0, 200));
  });

  it('ends cleanly when the flow stops mid-request: no message, no error, no socket left', async () => {
    await load({ points: [{ x: 320, y: 240, label: 1 }] });
    server.injectFaults('hang');
    let outputs = 0;
    helper.getNode('out').on('input', () => outputs++);
    helper.getNode('caught').on('input', () => outputs++);
    helper.getNode('seg').receive({ payload: scene.jpeg });
    // Wait until the request is really at the server before stopping the flow.
    while (server.openConnections() === 0) await new Promise((r) => setTimeout(r, 10));
    await helper.unload();
    while (server.openConnections() > 0) await new Promise((r) => setTimeout(r, 10));
    assert.equal(outputs, 0);
  });
});
