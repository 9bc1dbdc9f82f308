/**
 * sam2-segment with a sam2-endpoint whose service is "This machine (ONNX model files)", in a
 * Node-RED runtime, against a stand-in model (test/fixtures/sam2-models.ts): the mask a user
 * gets is the one the model's function defines, the frame is encoded once for several
 * objects, and a folder with no model is reported through a Catch node.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { maskFromLogits } from '../lib/bilinear';
import { maskStats } from '../lib/mask-stats';
import type { LocalSam2 } from '../lib/local-model/local-sam2';
import { testEndpoint } from '../nodes/admin/endpoint-test';
import { helper, loadSegmentFlow, nextMessage } from './fixtures/flow';
import { BEST, RADII, expectedLogits, writeFormatA } from './fixtures/sam2-models';

interface OutMsg {
  payload: unknown;
  masks: Array<{ raw: { data: Uint8Array; width: number; height: number }; score: number; area: number }>;
  objects?: Array<{ masks: OutMsg['masks'] }>;
  sam2: { modelId: string; width: number; height: number };
  error?: { message: string };
}

describe('sam2-segment on a model on this machine', function () {
  this.timeout(120_000);
  let root: string;
  let modelDir: string;
  let frame: Buffer;
  const W = 640;
  const H = 360;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'sam2-local-flow-'));
    modelDir = writeFormatA(join(root, 'tiny'));
    frame = await sharp({ create: { width: W, height: H, channels: 3, background: { r: 90, g: 140, b: 60 } } }).jpeg().toBuffer();
  });
  after(() => rmSync(root, { recursive: true, force: true }));
  afterEach(() => helper.unload());

  function load(endpoint: Record<string, unknown>, segment: Record<string, unknown> = {}): Promise<void> {
    return loadSegmentFlow({ url: '', endpoint: { service: 'local', runtime: 'node', threads: 1, ...endpoint }, segment: { format: 'raw', ...segment } });
  }

  /** The best mask the stand-in gives for these prompts, at the frame's size. */
  function expected(corners: Array<[number, number]>): Uint8Array {
    const in1024 = corners.map(([x, y]) => [(x * 1024) / W, (y * 1024) / H] as [number, number]);
    return maskFromLogits(expectedLogits(in1024, RADII[BEST]), 256, 256, W, H, 0);
  }

  it('segments with the model: the mask its function defines for the node\'s point, at the frame\'s size', async () => {
    await load({ modelDir }, { points: [{ x: 200, y: 100, label: 1 }] });
    const out = nextMessage<OutMsg>('out');
    helper.getNode('seg').receive({ payload: frame });
    const msg = await out;
    assert.equal(msg.error, undefined);
    assert.equal(msg.masks.length, 3);
    const best = msg.masks[0].raw;
    assert.deepEqual([best.width, best.height], [W, H]);
    assert.deepEqual(best.data, expected([[200, 100]]));
    assert.match(msg.sam2.modelId, /^local:/);
  });

  it('several objects on one frame run the encoder once, each object its own mask', async () => {
    await load({ modelDir });
    const out = nextMessage<OutMsg>('out');
    helper.getNode('seg').receive({ payload: frame, sam2: { objects: [{ points: [[100, 100]] }, { box: [300, 150, 500, 300] }] } });
    const msg = await out;
    assert.equal(msg.objects?.length, 2);
    assert.deepEqual(msg.objects![0].masks[0].raw.data, expected([[100, 100]]));
    // A box is its two corners (samexporter's labels 2 and 3): the box grown by the disc's radius.
    const boxMask = msg.objects![1].masks[0].raw.data;
    const want = expected([[300, 150], [500, 300]]);
    // float32 in the model against doubles here: an edge may land one pixel apart.
    const [got, exact] = [maskStats(boxMask, W, H).bbox, maskStats(want, W, H).bbox];
    assert.ok(got.every((v, i) => Math.abs(v - exact[i]) <= 1), `box ${got} against ${exact}`);
    let both = 0;
    let either = 0;
    for (let i = 0; i < want.length; i++) {
      both += want[i] & boxMask[i];
      either += want[i] | boxMask[i];
    }
    assert.ok(both / either > 0.98, `IoU ${both / either}: only the edge may differ`);
    const model = (helper.getNode('ep') as unknown as { segmenter: LocalSam2 }).segmenter;
    assert.equal(model.stats.encoderRuns, 1);
    assert.equal(model.stats.decoderRuns, 2);
  });

  it('a folder without a model reaches a Catch node with what was found and expected, and the flow keeps running', async () => {
    const wrong = join(root, 'photos');
    mkdirSync(wrong);
    writeFileSync(join(wrong, 'cat.jpg'), 'not a model');
    await load({ modelDir: wrong }, { points: [{ x: 10, y: 10, label: 1 }] });
    const caught = nextMessage<OutMsg>('caught');
    helper.getNode('seg').receive({ payload: frame });
    const msg = await caught;
    assert.match(msg.error!.message, /cat\.jpg/, 'what it found');
    assert.match(msg.error!.message, /encoder\.onnx/, 'what it expected');
  });

  it('an empty model folder is refused at deploy, naming the setting', async () => {
    await load({ modelDir: '' }, { points: [{ x: 10, y: 10, label: 1 }] });
    const caught = nextMessage<OutMsg>('caught');
    helper.getNode('seg').receive({ payload: frame });
    assert.match((await caught).error!.message, /Model folder.*is empty/);
  });

  it('Test connection loads the model and says what it found: the format, the runtime, the encoder\'s and decoder\'s times', async () => {
    const ok = await testEndpoint({ service: 'local', modelDir, runtime: 'node', threads: 1 }, '');
    assert.equal(ok.ok, true, ok.message);
    assert.match(ok.message, /a samexporter export, on onnxruntime-node/);
    assert.match(ok.message, /encoder takes \d+(\.\d+)? ms and each click's decoder \d+(\.\d+)? ms/);
    assert.match(ok.message, /takes mask inputs/);
    const wrong = await testEndpoint({ service: 'local', modelDir: root, runtime: 'node' }, '');
    assert.equal(wrong.ok, false);
    assert.match(wrong.message, /The model could not be used: .*encoder\.onnx/);
  });
});
