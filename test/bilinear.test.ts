import assert from 'node:assert/strict';
import { maskAndStatsFromLogits, maskFromLogits, resizeBilinear } from '../lib/bilinear';
import { maskStats } from '../lib/mask-stats';

/**
 * The resize written out per pixel, the plainest way: PyTorch's align_corners=False source
 * coordinate, clamped at 0 below and at the last row/column above, weights held as float32
 * (as lib/bilinear.ts has always kept them), along x within each source row, then along y,
 * the result rounded to float32.
 */
function perPixel(src: Float32Array, sw: number, sh: number, dw: number, dh: number): Float32Array {
  const out = new Float32Array(dw * dh);
  for (let y = 0; y < dh; y++) {
    const sy = Math.max((y + 0.5) * (sh / dh) - 0.5, 0);
    const y0 = Math.min(Math.floor(sy), sh - 1);
    const y1 = Math.min(y0 + 1, sh - 1);
    const wy = Math.fround(sy - y0);
    for (let x = 0; x < dw; x++) {
      const sx = Math.max((x + 0.5) * (sw / dw) - 0.5, 0);
      const x0 = Math.min(Math.floor(sx), sw - 1);
      const x1 = Math.min(x0 + 1, sw - 1);
      const wx = Math.fround(sx - x0);
      const top = src[y0 * sw + x0] + (src[y0 * sw + x1] - src[y0 * sw + x0]) * wx;
      const bottom = src[y1 * sw + x0] + (src[y1 * sw + x1] - src[y1 * sw + x0]) * wx;
      out[y * dw + x] = top + (bottom - top) * wy;
    }
  }
  return out;
}

function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Logit-like values: mostly smooth, with steps, exact zeros and large magnitudes mixed in. */
function logits(w: number, h: number, seed: number): Float32Array {
  const next = random(seed);
  const out = new Float32Array(w * h);
  for (let i = 0; i < out.length; i++) {
    const x = i % w;
    const y = Math.floor(i / w);
    const r = next();
    out[i] = r < 0.05 ? 0 : r < 0.08 ? (next() - 0.5) * 1e6 : 12 * Math.sin(x / 7 + seed) * Math.cos(y / 5) + (next() - 0.5) * 3;
  }
  return out;
}

/**
 * What SAM2 really answers: a smooth field, strongly negative far from one or two blobs, so
 * most of a row lies wholly inside or outside the mask and only its edge is close to 0.
 */
function blobLogits(w: number, h: number, seed: number): Float32Array {
  const next = random(seed);
  const blobs = Array.from({ length: 2 }, () => ({ u: 0.2 + 0.6 * next(), v: 0.2 + 0.6 * next(), r: 0.08 + 0.25 * next() }));
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const u = (x + 0.5) / w;
      const v = (y + 0.5) / h;
      const inside = Math.max(...blobs.map((b) => (b.r - Math.hypot(u - b.u, v - b.v)) / b.r));
      out[y * w + x] = 20 * inside + 0.7 * Math.sin(31 * u + seed) * Math.cos(17 * v);
    }
  }
  return out;
}

const bytesOf = (a: Float32Array | Uint8Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

const SIZES: Array<[number, number, number, number]> = [
  [256, 256, 1920, 1080],
  [256, 256, 1080, 1920],
  [256, 256, 256, 256],
  [256, 256, 640, 480],
  [256, 256, 1, 1],
  [256, 256, 7, 1],
  [256, 256, 100, 37],
  [256, 256, 257, 255],
  [256, 256, 2049, 3],
  [5, 3, 11, 8],
  [1, 1, 4, 4],
  [2, 2, 3, 5],
  [3, 7, 2, 2],
];

describe('bilinear rebuild', () => {
  it('resizes exactly as the per-pixel form does, bit for bit, up and down, at the clamped edges', () => {
    for (const [sw, sh, dw, dh] of SIZES) {
      const src = logits(sw, sh, sw * 31 + dw);
      const ours = resizeBilinear(src, sw, sh, dw, dh);
      assert.equal(ours.length, dw * dh);
      assert.ok(bytesOf(ours).equals(bytesOf(perPixel(src, sw, sh, dw, dh))), `${sw}x${sh} -> ${dw}x${dh}`);
    }
  });

  /** Ours against the per-pixel form, thresholded at each of `thresholds(reference)`: the mask, and its stats. */
  function sameAsPerPixel(src: Float32Array, [sw, sh, dw, dh]: [number, number, number, number], thresholds: (reference: Float32Array) => number[]): void {
    const reference = perPixel(src, sw, sh, dw, dh);
    for (const threshold of thresholds(reference)) {
      const expected = new Uint8Array(reference.length);
      for (let i = 0; i < reference.length; i++) expected[i] = reference[i] > threshold ? 1 : 0;
      const { mask, stats } = maskAndStatsFromLogits(src, sw, sh, dw, dh, threshold);
      assert.ok(bytesOf(mask).equals(bytesOf(expected)), `${sw}x${sh} -> ${dw}x${dh} at ${threshold}`);
      assert.deepEqual(stats, maskStats(expected, dw, dh), `stats of ${sw}x${sh} -> ${dw}x${dh} at ${threshold}`);
    }
  }

  it('thresholds into the same mask as the per-pixel form, at any threshold', () => {
    for (const size of SIZES) {
      const [sw, sh, , dh] = size;
      // SAM2's 0, others, and values that occur in the output itself, where > and >= differ.
      sameAsPerPixel(logits(sw, sh, sh * 17 + dh), size, (r) => [0, -2.5, 3.75, r[0], r[r.length >> 1], r[r.length - 1]]);
    }
  });

  it('thresholds SAM2-like blobs into the same mask and stats as the per-pixel form, pixel runs and all', () => {
    // Here most segments between two source columns are filled or skipped whole; the edge's are worked out pixel by pixel.
    for (const size of [...SIZES, [256, 256, 3840, 2160], [256, 256, 4001, 2999]] as Array<[number, number, number, number]>) {
      const [sw, sh, dw, dh] = size;
      // SAM2's 0, the middle of a blob, and values the output holds, where > and >= differ.
      sameAsPerPixel(blobLogits(sw, sh, dw + 3 * dh), size, (r) => [0, 10, -19.5, r[r.length >> 1], r[(r.length >> 2) + (dw >> 1)], Math.fround(0.1)]);
    }
  });

  it('a logit that is NaN or infinite gives what the per-pixel form gives around it', () => {
    const src = blobLogits(16, 16, 5);
    src[5 * 16 + 7] = NaN;
    src[8 * 16 + 8] = Infinity;
    src[2 * 16 + 3] = -Infinity;
    src[15 * 16 + 15] = Infinity;
    const reference = perPixel(src, 16, 16, 123, 77);
    const expected = Uint8Array.from(reference, (v) => (v > 0 ? 1 : 0));
    const { mask, stats } = maskAndStatsFromLogits(src, 16, 16, 123, 77, 0);
    assert.ok(bytesOf(mask).equals(bytesOf(expected)));
    assert.deepEqual(stats, maskStats(expected, 123, 77));
  });

  it('an empty size gives an empty mask with no area', () => {
    const { mask, stats } = maskAndStatsFromLogits(blobLogits(4, 4, 1), 4, 4, 0, 5, 0);
    assert.equal(mask.length, 0);
    assert.deepEqual(stats, { area: 0, bbox: [0, 0, 0, 0], centroid: null });
  });

  it('keeps a sharp edge where the logits change sign, not a blur of it', () => {
    // Left half -10, right half +10: the rebuilt mask's edge is halfway across, as in PyTorch.
    const src = Float32Array.from({ length: 4 * 4 }, (_, i) => (i % 4 < 2 ? -10 : 10));
    const mask = maskFromLogits(src, 4, 4, 8, 2);
    assert.deepEqual([...mask.subarray(0, 8)], [0, 0, 0, 0, 1, 1, 1, 1]);
  });
});
