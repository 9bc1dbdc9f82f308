/**
 * The nodes in a real Node-RED runtime (node-red-node-test-helper), talking over real HTTP to
 * the local SAM2-compatible server: what a flow author sees at the end of a wire.
 */
import assert from 'node:assert/strict';
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
    ];
    for (const [what, message, words] of table) {
      it(what, async () => {
        await load({ points: [{ x: 10, y: 10, label: 1 }] });
        const sentBefore = server.requests.length;
        const caught = nextMessage('caught');
        helper.getNode('seg').receive(message());
        assert.match((await caught).error!.message, words);
        const out = nextMessage('out');
        helper.getNode('seg').receive({ payload: tinyJpeg });
        assert.equal((await out).masks.length, 3);
        // Counted once the next answer is back, so a request the bad message let out would have arrived.
        assert.equal(server.requests.length, sentBefore + 1, 'nothing was sent for the bad message');
      });
    }
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
