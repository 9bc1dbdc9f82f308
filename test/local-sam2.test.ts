/**
 * LocalSam2 against stand-in models of both exports (test/fixtures/sam2-models.ts), whose
 * masks are known functions of the prompts: what a user would check is that the mask sits
 * where they clicked, at the image's size, and that a second click on the same frame is quick
 * because the encoder did not run again.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import Module from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { maskFromLogits } from '../lib/bilinear';
import { Sam2InputError } from '../lib/errors';
import { LocalSam2, type LocalSam2Options } from '../lib/index';
import { EmbeddingCache } from '../lib/local-model/embedding-cache';
import { fromHalf, toHalf } from '../lib/local-model/local-sam2';
import { loadRuntime } from '../lib/local-model/runtime';
import { maskStats } from '../lib/mask-stats';
import { BEST, EMBED_WEIGHT, LABEL_WEIGHT, MASK_BONUS, MEAN, RADII, SCORES, STD, expectedLogits, writeFormatA, writeFormatB } from './fixtures/sam2-models';

const FRAME_BYTES = (32 * 256 * 256 + 64 * 128 * 128 + 256 * 64 * 64) * 4;

function maxDiff(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

/** A plain PNG of one colour: its normalised red value is known exactly. */
function plain(width: number, height: number, red = 200): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: red, g: 60, b: 30 } } }).png().toBuffer();
}

/** The score term the stand-in adds for a plain image of this red level. */
function embedTerm(red: number): number {
  return EMBED_WEIGHT * ((red / 255 - MEAN[0]) / STD[0]);
}

function refused(field: RegExp | string, words: RegExp): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof Sam2InputError, `expected a Sam2InputError, got ${String(err)}`);
    if (typeof field === 'string') assert.equal(err.field, field);
    else assert.match(err.field, field);
    assert.match(err.message, words);
    return true;
  };
}

describe('LocalSam2 with stand-in models', function () {
  this.timeout(120_000);
  let root: string;
  let dirA: string;
  let dirB: string;
  const open: LocalSam2[] = [];
  const make = (options: Partial<LocalSam2Options> & { modelDir: string }) => {
    const m = new LocalSam2({ runtime: 'node', threads: 1, ...options });
    open.push(m);
    return m;
  };

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'sam2-local-'));
    dirA = writeFormatA(join(root, 'samexporter'));
    dirB = writeFormatB(join(root, 'sam2.1-hiera-tiny-ONNX'));
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((m) => m.close()));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  describe('prompts in the 1024 frame', () => {
    it('puts the disc where the point is, on non-square images of several sizes, in pixels or relative', async () => {
      const model = make({ modelDir: dirA });
      for (const [w, h] of [[640, 480], [1920, 1080], [300, 800]]) {
        const image = await plain(w, h);
        const [px, py] = [Math.round(w * 0.3), Math.round(h * 0.6)];
        const result = await model.segment(image, { points: [[px, py]] });
        assert.equal(result.width, w);
        assert.equal(result.height, h);
        const best = result.masks[0];
        const want = expectedLogits([[(px * 1024) / w, (py * 1024) / h]], RADII[BEST]);
        assert.ok(maxDiff(best.logits as Float32Array, want) < 1e-3, `logits for a ${w}x${h} image`);
        // What a user sees: an ellipse of radius 16/256 of each side, centred on the click.
        const stats = maskStats(best.mask, w, h);
        const area = Math.PI * ((RADII[BEST] * w) / 256) * ((RADII[BEST] * h) / 256);
        assert.ok(Math.abs(best.area / area - 1) < 0.03, `area ${best.area} against ${area.toFixed(0)} on ${w}x${h}`);
        assert.ok(Math.abs((stats.centroid as [number, number])[0] - px) < 2 && Math.abs((stats.centroid as [number, number])[1] - py) < 2, `centroid ${stats.centroid} against ${px},${py}`);

        const rel = await model.segment(image, { points: [[px / w, py / h]], normalizeCoords: false });
        assert.ok(maxDiff(rel.masks[0].logits as Float32Array, best.logits as Float32Array) < 1e-4, 'relative coordinates land on the same spot');
      }
    });

    it('upsamples the 256x256 logits to the image size as SAM2 does, with the threshold asked for', async () => {
      const model = make({ modelDir: dirA });
      const [w, h] = [1000, 600];
      const image = await plain(w, h);
      const result = await model.segment(image, { points: [[500, 300]] });
      const best = result.masks[0];
      assert.equal(best.mask.length, w * h);
      assert.deepEqual(best.mask, maskFromLogits(best.logits as Float32Array, 256, 256, w, h, 0));
      const tight = await model.segment(image, { points: [[500, 300]], threshold: 8, returnLogits: false });
      assert.equal(tight.masks[0].logits, undefined);
      // logit > 8 where the distance is under 16 - 8 = 8 cells: a quarter of the area.
      assert.ok(Math.abs(tight.masks[0].area / best.area - 0.25) < 0.03, `${tight.masks[0].area} / ${best.area}`);
    });

    it('gives three candidates best first, or the best of the three with multimask false', async () => {
      const model = make({ modelDir: dirA });
      const image = await plain(512, 512);
      const three = await model.segment(image, { points: [[256, 256]] });
      assert.equal(three.masks.length, 3);
      const byScore = [...SCORES.keys()].sort((a, b) => SCORES[b] - SCORES[a]);
      three.masks.forEach((m, i) => {
        assert.ok(maxDiff(m.logits as Float32Array, expectedLogits([[512, 512]], RADII[byScore[i]])) < 1e-3, `mask ${i} is candidate ${byScore[i]}`);
        assert.ok(Math.abs(m.score - (SCORES[byScore[i]] + LABEL_WEIGHT + embedTerm(200))) < 1e-4, `score ${m.score}`);
      });
      // keep 'best': the best candidate's mask only, every candidate's score and logits still there.
      const best = await model.segment(image, { points: [[256, 256]], keep: 'best' });
      assert.equal(best.masks.length, 1);
      assert.deepEqual(best.masks[0].mask, three.masks[0].mask);
      assert.deepEqual(best.candidates.map((c) => c.score), three.masks.map((m) => m.score));
      // A frame of a million pixels or more has its masks made on the mask workers: the same masks.
      const large = await plain(1500, 1000);
      const big = await model.segment(large, { points: [[750, 500]] });
      big.masks.forEach((m) => assert.deepEqual(m.mask, maskFromLogits(m.logits as Float32Array, 256, 256, 1500, 1000, 0)));
      const one = await model.segment(image, { points: [[256, 256]], multimask: false });
      assert.equal(one.masks.length, 1);
      assert.equal(one.masks[0].score, three.masks[0].score);
      assert.deepEqual(one.masks[0].mask, three.masks[0].mask);
    });

    it('samexporter: a box is two points labelled 2 and 3 after the clicked ones', async () => {
      const model = make({ modelDir: dirA });
      const [w, h] = [800, 400];
      const image = await plain(w, h);
      const box: [number, number, number, number] = [100, 50, 300, 250];
      const corners: Array<[number, number]> = [[(100 * 1024) / w, (50 * 1024) / h], [(300 * 1024) / w, (250 * 1024) / h]];
      const onlyBox = await model.segment(image, { box });
      assert.ok(maxDiff(onlyBox.masks[0].logits as Float32Array, expectedLogits(corners, RADII[BEST])) < 1e-3);
      assert.ok(Math.abs(onlyBox.masks[0].score - (SCORES[BEST] + LABEL_WEIGHT * (2 + 3) + embedTerm(200))) < 1e-4, 'labels 2 and 3');
      // The box grown by 16 cells: 16 * 800 / 256 = 50 px across, 25 px down.
      assert.deepEqual(onlyBox.masks[0].bbox, [50, 25, 350, 275]);

      const both = await model.segment(image, { points: [[600, 200]], labels: [0], box });
      const all: Array<[number, number]> = [...corners, [(600 * 1024) / w, (200 * 1024) / h]];
      assert.ok(maxDiff(both.masks[0].logits as Float32Array, expectedLogits(all, RADII[BEST])) < 1e-3);
      assert.ok(Math.abs(both.masks[0].score - (SCORES[BEST] + LABEL_WEIGHT * (0 + 2 + 3) + embedTerm(200))) < 1e-4, 'a background point, then the box');
    });

    it('onnx-community: a box goes in input_boxes, points and int64 labels in their own tensors', async () => {
      const model = make({ modelDir: dirB });
      const [w, h] = [800, 400];
      const image = await plain(w, h);
      const box: [number, number, number, number] = [100, 50, 300, 250];
      const corners: Array<[number, number]> = [[128, 128], [384, 640]];
      const onlyBox = await model.segment(image, { box });
      assert.ok(maxDiff(onlyBox.masks[0].logits as Float32Array, expectedLogits(corners, RADII[BEST])) < 1e-3);
      assert.ok(Math.abs(onlyBox.masks[0].score - (SCORES[BEST] + embedTerm(200))) < 1e-4, 'no labels for a box');
      assert.deepEqual(onlyBox.masks[0].bbox, [50, 25, 350, 275]);

      const both = await model.segment(image, { points: [[600, 200], [700, 300]], labels: [1, 1], box });
      const all: Array<[number, number]> = [...corners, [768, 512], [896, 768]];
      assert.ok(maxDiff(both.masks[0].logits as Float32Array, expectedLogits(all, RADII[BEST])) < 1e-3);
      assert.ok(Math.abs(both.masks[0].score - (SCORES[BEST] + LABEL_WEIGHT * 2 + embedTerm(200))) < 1e-4);

      const point = await model.segment(image, { points: [[400, 200]] });
      assert.ok(maxDiff(point.masks[0].logits as Float32Array, expectedLogits([[512, 512]], RADII[BEST])) < 1e-3);
    });

    it('samexporter: refines with an earlier mask as mask_input and has_mask_input = 1', async () => {
      const model = make({ modelDir: dirA });
      const image = await plain(640, 480);
      const first = await model.segment(image, { points: [[320, 240]] });
      const earlier = first.masks[0].logits as Float32Array;
      const mean = earlier.reduce((s, v) => s + v, 0) / earlier.length;
      const refined = await model.segment(image, { points: [[320, 240]], maskInput: earlier });
      assert.ok(maxDiff(refined.masks[0].logits as Float32Array, expectedLogits([[512, 512]], RADII[BEST] + MASK_BONUS)) < 1e-3, 'the mask input was marked present');
      assert.ok(Math.abs(refined.masks[0].score - first.masks[0].score - mean) < 1e-3, 'the mask input itself reached the decoder');
      assert.equal(model.stats.encoderRuns, 1);
    });

    it('reads the image upright by its EXIF orientation, and the normalised colours', async () => {
      const model = make({ modelDir: dirA });
      // Stored 400x200, orientation 6 (turn 90 degrees clockwise): users see 200x400.
      const stored = await sharp({ create: { width: 400, height: 200, channels: 3, background: { r: 90, g: 60, b: 30 } } }).jpeg({ quality: 100 }).withMetadata({ orientation: 6 }).toBuffer();
      const result = await model.segment(stored, { points: [[100, 300]] });
      assert.equal(result.width, 200);
      assert.equal(result.height, 400);
      assert.ok(maxDiff(result.masks[0].logits as Float32Array, expectedLogits([[512, 768]], RADII[BEST])) < 1e-3);
      // Red 90 in, (90/255 - 0.485) / 0.229 out, give or take JPEG's rounding.
      assert.ok(Math.abs(result.masks[0].score - (SCORES[BEST] + LABEL_WEIGHT + embedTerm(90))) < 2e-4, `score ${result.masks[0].score}`);
    });
  });

  describe('the embedding cache', () => {
    it('runs the encoder once per frame: a second prompt, several objects and the same imageId reuse it', async () => {
      const model = make({ modelDir: dirA });
      const image = await plain(640, 360);
      const first = await model.segment(image, { points: [[100, 100]] });
      assert.equal(first.timing?.cached, false);
      assert.ok((first.timing?.encodeMs ?? 0) > 0);
      const second = await model.segment(Buffer.from(image), { points: [[300, 200]] });
      assert.deepEqual([second.timing?.cached, second.timing?.encodeMs], [true, 0]);
      assert.deepEqual([model.stats.encoderRuns, model.stats.decoderRuns], [1, 2]);

      const other = await plain(640, 360, 90);
      const each = await model.segmentEach(other, [{ points: [[10, 10]] }, { box: [50, 50, 200, 200] }, { points: [[600, 300]] }]);
      assert.equal(each.length, 3);
      assert.deepEqual([model.stats.encoderRuns, model.stats.decoderRuns], [2, 5]);
      assert.ok(maxDiff(each[2].masks[0].logits as Float32Array, expectedLogits([[960, 853.3333]], RADII[BEST])) < 1e-3, 'each object its own prompts');

      // The flow vouches that this id stays with its content: not even hashed or decoded.
      await model.segment(image, { points: [[5, 5]] }, { imageId: 'frame-7' });
      const byId = await model.segment(Buffer.from('not decoded when the id is cached'), { points: [[5, 5]] }, { imageId: 'frame-7' });
      assert.equal(byId.timing?.cached, true);
      assert.equal(model.stats.encoderRuns, 3);

      // Two calls that miss on the same new frame at once share one encoder run.
      const fresh = await plain(320, 240, 10);
      const both = await Promise.all([model.segment(fresh, { points: [[1, 1]] }), model.segment(fresh, { points: [[2, 2]] })]);
      assert.equal(model.stats.encoderRuns, 4);
      assert.deepEqual(both.map((r) => r.timing?.cached).sort(), [false, true]);
    });

    it('keeps at most cacheSize frames, least recently used out first', async () => {
      const model = make({ modelDir: dirA, cacheSize: 2 });
      const [a, b, c] = await Promise.all([plain(64, 64, 1), plain(64, 64, 2), plain(64, 64, 3)]);
      const p = { points: [[1, 1]] as Array<[number, number]> };
      await model.segment(a, p);
      await model.segment(b, p);
      await model.segment(a, p); // a is now the most recent
      await model.segment(c, p); // b goes
      assert.deepEqual([model.stats.encoderRuns, model.stats.cachedFrames, model.stats.cachedBytes], [3, 2, 2 * FRAME_BYTES]);
      assert.equal((await model.segment(a, p)).timing?.cached, true);
      assert.equal((await model.segment(c, p)).timing?.cached, true);
      assert.equal((await model.segment(b, p)).timing?.cached, false);
      assert.equal(model.stats.encoderRuns, 4);
    });

    it('keeps at most cacheBytes of features, and none with cacheSize 0', async () => {
      const oneFrame = make({ modelDir: dirA, cacheBytes: FRAME_BYTES + FRAME_BYTES / 2 });
      const [a, b] = await Promise.all([plain(64, 64, 1), plain(64, 64, 2)]);
      const p = { points: [[1, 1]] as Array<[number, number]> };
      await oneFrame.segment(a, p);
      await oneFrame.segment(b, p);
      assert.deepEqual([oneFrame.stats.cachedFrames, oneFrame.stats.cachedBytes], [1, FRAME_BYTES]);
      assert.equal((await oneFrame.segment(a, p)).timing?.cached, false);

      const none = make({ modelDir: dirA, cacheSize: 0 });
      await none.segment(a, p);
      assert.equal((await none.segment(a, p)).timing?.cached, false);
      assert.equal(none.stats.cachedBytes, 0);
      // Several objects on one frame still share its one encoding.
      await none.segmentEach(a, [p, p, p]);
      assert.equal(none.stats.encoderRuns, 3);
    });

    it('EmbeddingCache: a get refreshes an entry; an entry over the byte bound is not kept', () => {
      const cache = new EmbeddingCache<string>({ maxEntries: 2, maxBytes: 100 });
      cache.set('a', 'A', 40);
      cache.set('b', 'B', 40);
      assert.equal(cache.get('a'), 'A');
      cache.set('c', 'C', 40); // over both bounds: b, the least recently used, goes
      assert.deepEqual([cache.has('a'), cache.has('b'), cache.has('c'), cache.bytes], [true, false, true, 80]);
      cache.set('d', 'D', 70); // 150 bytes: a and c go, not d
      assert.deepEqual([cache.size, cache.bytes, cache.has('d')], [1, 70, true]);
      cache.set('huge', 'H', 101);
      assert.deepEqual([cache.has('huge'), cache.has('d')], [false, true]);
    });
  });

  describe('runtimes and formats', () => {
    it('onnxruntime-web gives the same masks as onnxruntime-node, for both exports', async () => {
      const image = await plain(500, 300);
      for (const modelDir of [dirA, dirB]) {
        const native = make({ modelDir, runtime: 'node' });
        const wasm = make({ modelDir, runtime: 'web' });
        const prompts = { points: [[120, 80]] as Array<[number, number]>, box: [100, 50, 300, 250] as [number, number, number, number] };
        const [n, w] = [await native.segment(image, prompts), await wasm.segment(image, prompts)];
        const info = await wasm.open();
        assert.equal(info.runtime, 'onnxruntime-web');
        assert.equal((await native.open()).runtime, 'onnxruntime-node');
        assert.ok(maxDiff(n.masks[0].logits as Float32Array, w.masks[0].logits as Float32Array) < 1e-4);
        assert.ok(Math.abs(n.masks[0].score - w.masks[0].score) < 1e-5);
      }
    });

    it('describe() says the format, the runtime and the warm-up times Test connection shows', async () => {
      const a = await make({ modelDir: dirA }).describe();
      assert.equal(a.format, 'samexporter');
      assert.equal(a.maskInput, true);
      assert.equal(a.modelId, 'local:sam2.1_hiera_tiny');
      assert.ok(a.warmUp && a.warmUp.encodeMs > 0 && a.warmUp.decodeMs > 0);
      const b = await make({ modelDir: dirB }).describe({ warmUp: false });
      assert.equal(b.format, 'onnx-community');
      assert.equal(b.maskInput, false);
      assert.equal(b.modelId, 'local:sam2.1-hiera-tiny-ONNX');
      assert.equal(b.warmUp, undefined);
    });

    it('runs an _fp16 export whose inputs and outputs are float16', async () => {
      const dir = writeFormatB(join(root, 'fp16'), '_fp16', { half: true });
      const model = make({ modelDir: dir });
      const image = await plain(800, 400);
      const result = await model.segment(image, { box: [100, 50, 300, 250] });
      assert.match((await model.open()).encoderFile, /vision_encoder_fp16\.onnx$/);
      // Half precision: logits to about 3 decimal digits, the score to about 1e-3.
      assert.ok(maxDiff(result.masks[0].logits as Float32Array, expectedLogits([[128, 128], [384, 640]], RADII[BEST])) < 0.05);
      assert.ok(Math.abs(result.masks[0].score - (SCORES[BEST] + embedTerm(200))) < 2e-3);
      assert.deepEqual(result.masks[0].bbox, [50, 25, 350, 275]);
    });

    it('converts to and from half precision with IEEE rounding, infinities, NaN and subnormals', () => {
      const values = Float32Array.of(0, -0, 1, -2.5, 65504, 65520, 1e6, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 1e-9, 6.1035156e-5, 1 + 2 ** -11, 1 + 3 * 2 ** -11, Infinity, Number.NaN);
      const back = fromHalf(toHalf(values));
      const want = [0, -0, 1, -2.5, 65504, Infinity, Infinity, 2 ** -24, 0, 2 ** -24, 0, 6.103515625e-5, 1, 1 + 2 ** -9, Infinity, Number.NaN];
      want.forEach((w, i) => assert.ok(Object.is(back[i], w), `${values[i]} became ${back[i]}, not ${w}`));
    });

    it('picks an onnx-community variant: full precision first, or the one asked for', async () => {
      const dir = join(root, 'variants');
      writeFormatB(dir);
      writeFormatB(dir, '_quantized');
      const plainOne = await make({ modelDir: dir }).describe({ warmUp: false });
      assert.match(plainOne.encoderFile, /vision_encoder\.onnx$/);
      const quantized = await make({ modelDir: dir, variant: 'quantized' }).describe({ warmUp: false });
      assert.match(quantized.decoderFile, /prompt_encoder_mask_decoder_quantized\.onnx$/);
      await assert.rejects(make({ modelDir: dir, variant: 'q4' }).open(), refused('modelDir', /no onnx-community variant "q4".*"quantized"/));
    });
  });

  describe('refusals', () => {
    it('a folder with neither export says what it holds and what it expected', async () => {
      const dir = join(root, 'wrong');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'model.onnx'), 'x');
      writeFileSync(join(dir, 'readme.txt'), 'x');
      await assert.rejects(make({ modelDir: dir }).open(), refused('modelDir', /holds "model\.onnx", "readme\.txt", not a SAM2 model: expected samexporter's "<name>\.encoder\.onnx".*onnx\/vision_encoder\.onnx/));
      await assert.rejects(make({ modelDir: join(root, 'absent') }).open(), refused('modelDir', /is not a folder on this machine/));
      const half = join(root, 'half');
      mkdirSync(half, { recursive: true });
      copyFileSync(join(dirA, 'sam2.1_hiera_tiny.encoder.onnx'), join(half, 'sam2.1_hiera_tiny.encoder.onnx'));
      await assert.rejects(make({ modelDir: half }).open(), refused('modelDir', /an encoder without its decoder/));
    });

    it('a graph whose names are not its format\'s is refused with both lists', async () => {
      const dir = join(root, 'swapped');
      mkdirSync(dir, { recursive: true });
      copyFileSync(join(dirA, 'sam2.1_hiera_tiny.encoder.onnx'), join(dir, 'm.encoder.onnx'));
      copyFileSync(join(dirB, 'onnx', 'prompt_encoder_mask_decoder.onnx'), join(dir, 'm.decoder.onnx'));
      await assert.rejects(make({ modelDir: dir }).open(), refused('modelDir', /m\.decoder\.onnx is not a samexporter SAM2 decoder: it takes .*"input_points".* but a samexporter decoder takes .*"point_coords"/));
    });

    it('a decoder that takes an input SAM2 does not (an older export\'s orig_im_size) is refused on loading', async () => {
      const dir = writeFormatA(join(root, 'older'), 'old', { extraDecoderInputs: ['orig_im_size'] });
      await assert.rejects(make({ modelDir: dir }).open(), refused('modelDir', /old\.decoder\.onnx is not a samexporter SAM2 decoder: .*\("orig_im_size" is not SAM2's\)/));
    });

    it('two samexporter models in one folder need the variant to say which', async () => {
      const dir = join(root, 'two');
      writeFormatA(dir, 'sam2.1_hiera_tiny');
      writeFormatA(dir, 'sam2.1_hiera_small');
      await assert.rejects(make({ modelDir: dir }).open(), refused('modelDir', /holds 2 samexporter models \("sam2\.1_hiera_small", "sam2\.1_hiera_tiny"\)/));
      assert.equal((await make({ modelDir: dir, variant: 'sam2.1_hiera_small' }).open()).modelId, 'local:sam2.1_hiera_small');
    });

    it('maskInput with the onnx-community export, which has no mask input', async () => {
      const model = make({ modelDir: dirB });
      const image = await plain(64, 64);
      await assert.rejects(model.segment(image, { points: [[1, 1]], maskInput: new Float32Array(256 * 256) }, { promptsField: 'msg.sam2' }), refused('msg.sam2.maskInput', /no mask input.*samexporter/));
      assert.equal(model.stats.encoderRuns, 0);
    });

    it('bad prompts and images are refused before any model run', async () => {
      const model = make({ modelDir: dirA });
      const image = await plain(100, 50);
      await assert.rejects(model.segment(image, {}), refused('prompts', /no point and no box/));
      await assert.rejects(model.segment(image, { points: [[150, 10]] }), refused('prompts.points[0]', /outside the image/));
      await assert.rejects(model.segmentEach(image, [{ points: [[1, 1]] }, { box: [5, 5, 1, 1] }]), refused('objects[1].box', /inverted/));
      await assert.rejects(model.segment(image, { points: [[1, 1]], threshold: Number.NaN }), refused('prompts.threshold', /not a finite number/));
      await assert.rejects(model.segment(image, { points: [[1, 1]], keep: 'most' as 'all' }), refused('prompts.keep', /"most"/));
      await assert.rejects(model.segmentEach(image, new Array(101).fill({ points: [[1, 1]] })), refused('objects', /101 objects, over the limit of 100/));
      await assert.rejects(make({ modelDir: dirA, maxObjects: 2 }).segmentEach(image, new Array(3).fill({ points: [[1, 1]] })), refused('objects', /over the limit of 2/));
      await assert.rejects(model.segment(Buffer.from('hello'), { points: [[1, 1]] }), refused('image', /not an image/));
      await assert.rejects(make({ modelDir: dirA, maxInputPixels: 1000 }).segment(image, { points: [[1, 1]] }), refused('image', /over the limit of 1000/));
      assert.equal(model.stats.encoderRuns, 0);
      assert.equal(model.stats.decoderRuns, 0);
    });

    it('a missing runtime names the package to install', () => {
      const moduleApi = Module as unknown as { _load: (request: string, ...rest: unknown[]) => unknown };
      const original = moduleApi._load;
      moduleApi._load = function (request: string, ...rest: unknown[]) {
        if (request === 'onnxruntime-node' || request === 'onnxruntime-web') {
          throw Object.assign(new Error(`Cannot find module '${request}'`), { code: 'MODULE_NOT_FOUND' });
        }
        return original.call(this, request, ...rest);
      };
      try {
        assert.throws(() => loadRuntime({ runtime: 'auto' }), refused('runtime', /neither is installed.*npm install onnxruntime-node.*npm install onnxruntime-web/));
        assert.throws(() => loadRuntime({ runtime: 'node' }), refused('runtime', /onnxruntime-node is not installed.*npm install onnxruntime-node/));
        assert.throws(() => loadRuntime({ runtime: 'web' }), refused('runtime', /onnxruntime-web is not installed.*npm install onnxruntime-web/));
      } finally {
        moduleApi._load = original;
      }
      assert.throws(() => loadRuntime({ runtime: 'gpu' as 'node' }), refused('runtime', /"gpu"/));
      assert.throws(() => loadRuntime({ threads: 0 }), refused('threads', /at least 1/));
    });

    it('the main entry loads no ONNX runtime until a model is opened', () => {
      const main = join(__dirname, '..', 'lib', 'index.js');
      const script = `const m = require(${JSON.stringify(main)}); new m.LocalSam2({ modelDir: '.' }); ` +
        "process.stdout.write(String(Object.keys(require.cache).filter((k) => k.includes('onnxruntime')).length))";
      assert.equal(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }), '0');
    });

    it('a call whose signal has aborted runs nothing; the model runs one thing at a time', async () => {
      const model = make({ modelDir: dirA });
      const image = await plain(64, 64);
      const reason = new Error('the flow stopped');
      await assert.rejects(model.segment(image, { points: [[1, 1]] }, { signal: AbortSignal.abort(reason) }), (err) => err === reason);
      assert.deepEqual([model.stats.encoderRuns, model.stats.decoderRuns], [0, 0]);
      await Promise.all([model.segment(image, { points: [[1, 1]] }), model.segment(await plain(64, 64, 7), { points: [[1, 1]] })]);
      assert.deepEqual(model.load, { active: 0, waiting: 0, max: 1 });
    });

    it('after close, calls are refused and nothing is left running', async () => {
      const model = make({ modelDir: dirA });
      const image = await plain(64, 64);
      const running = model.segment(image, { points: [[1, 1]] });
      await model.close();
      await running.then(
        () => undefined,
        () => undefined,
      );
      await assert.rejects(model.segment(image, { points: [[1, 1]] }), /closed/);
    });
  });
});
