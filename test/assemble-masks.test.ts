/**
 * Masks made off the event loop (worker threads, slices) are the masks made inline, to the
 * byte and the last bit of every statistic; and "best" makes only the best one.
 */
import assert from 'node:assert/strict';
import { assembleMasks, assembleMasksOffThread, type ModelAnswer } from '../lib/assemble-masks';
import { maskFromLogits } from '../lib/bilinear';
import { formatMask } from '../lib/mask-formats';
import { maskToPolygons } from '../lib/polygons';
import { maskToRle } from '../lib/rle';

const W = 1920;
const H = 1080;

/** Three candidates of smooth blobs of different sizes, with scores out of order. */
function answer(withMasks: boolean): ModelAnswer {
  const cell = 256 * 256;
  const logits = new Float32Array(3 * cell);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < 256; y++) {
      for (let x = 0; x < 256; x++) logits[c * cell + y * 256 + x] = 20 * (0.2 + 0.1 * c) - Math.hypot(x - 100 - 10 * c, y - 140) / 4 + Math.sin(x / 7) * Math.cos(y / 5);
    }
  }
  const masks = withMasks ? new Uint8Array(3 * W * H) : undefined;
  if (masks) for (let c = 0; c < 3; c++) masks.set(maskFromLogits(logits.subarray(c * cell, (c + 1) * cell), 256, 256, W, H, 0), c * W * H);
  return { scores: [0.71, 0.93, 0.52], logits, masks };
}

describe('assembling masks', () => {
  for (const [mode, withMasks] of [['rebuilt from logits', false], ['decoded full-size masks', true]] as const) {
    for (const threshold of withMasks ? [0] : [0, 1.5]) {
      it(`off the event loop gives what inline gives: ${mode}, threshold ${threshold}`, async () => {
        const how = { width: W, height: H, threshold, returnLogits: true };
        const inline = assembleMasks(answer(withMasks), how);
        const off = await assembleMasksOffThread(answer(withMasks), how);
        assert.deepEqual(off, inline);
        assert.deepEqual(inline.masks.map((m) => m.score), [0.93, 0.71, 0.52]);
        assert.ok(inline.masks.every((m) => m.area > 0 && m.area < W * H));
      });
    }
  }

  it('encodes a large mask as RLE and polygons on a worker exactly as inline', async () => {
    const [mask] = assembleMasks(answer(false), { width: W, height: H, threshold: 0, returnLogits: false }).masks;
    const rle = await formatMask(mask.mask, W, H, mask.score, { format: 'rle' });
    assert.deepEqual(rle.rle, maskToRle(mask.mask, W, H));
    for (const tolerance of [0, 1, 3]) {
      const polygons = await formatMask(mask.mask, W, H, mask.score, { format: 'polygons', tolerance });
      assert.deepEqual(polygons.polygons, await maskToPolygons(mask.mask, W, H, { tolerance }));
      assert.ok(polygons.polygons!.length > 0);
    }
    await assert.rejects(formatMask(mask.mask, W, H, 1, { format: 'polygons', tolerance: -1 }), /tolerance/);
    await assert.rejects(formatMask(mask.mask, W - 1, H, 1, { format: 'rle' }), /pass the width and height/);
  });

  it('with keep "best" makes the best mask only, and keeps every candidate', async () => {
    const how = { width: W, height: H, threshold: 0, returnLogits: true };
    const all = assembleMasks(answer(false), how);
    for (const best of [assembleMasks(answer(false), { ...how, keep: 'best' }), await assembleMasksOffThread(answer(false), { ...how, keep: 'best' })]) {
      assert.equal(best.masks.length, 1);
      assert.deepEqual(best.masks[0], all.masks[0]);
      assert.deepEqual(best.candidates, all.candidates);
      assert.deepEqual(best.candidates.map((c) => c.score), [0.93, 0.71, 0.52]);
    }
  });
});
