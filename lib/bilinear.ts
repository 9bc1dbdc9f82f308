/**
 * Bilinear resize with `align_corners=False` (PyTorch's `F.interpolate(mode="bilinear")`),
 * the step SAM2 uses to turn its 256x256 low-resolution logits into a mask at the image's
 * size. The local server builds its masks with it and the client rebuilds masks from logits
 * with it, so both follow the same sampling grid as the real model.
 */
import { MaskSums, type MaskStats } from './mask-stats';

/** Source coordinate lookup for one axis: the lower index, the upper index and the weight of the upper. */
function axisTable(srcSize: number, dstSize: number): { lo: Int32Array; hi: Int32Array; w: Float32Array } {
  const lo = new Int32Array(dstSize);
  const hi = new Int32Array(dstSize);
  const w = new Float32Array(dstSize);
  const scale = srcSize / dstSize;
  for (let i = 0; i < dstSize; i++) {
    // Pixel centres line up: src = (dst + 0.5) * scale - 0.5, clamped at the low edge like PyTorch.
    const src = Math.max((i + 0.5) * scale - 0.5, 0);
    const l = Math.min(Math.floor(src), srcSize - 1);
    lo[i] = l;
    hi[i] = Math.min(l + 1, srcSize - 1);
    w[i] = src - l;
  }
  return { lo, hi, w };
}

/** A destination size's lookup tables for both axes. */
interface Grid {
  xs: ReturnType<typeof axisTable>;
  ys: ReturnType<typeof axisTable>;
}

function grid(srcWidth: number, srcHeight: number, dstWidth: number, dstHeight: number): Grid {
  return { xs: axisTable(srcWidth, dstWidth), ys: axisTable(srcHeight, dstHeight) };
}

/**
 * Separable: each source row is interpolated along x once, in double precision, into a
 * destination-width row, and each destination row is then one lerp along y between two
 * such rows, rounded to float32 as the model's tensors are. The arithmetic is the same, in
 * the same order, as interpolating each destination pixel from its four source values
 * (along x within each source row, then along y, PyTorch's order), so the output is
 * identical to the per-pixel form, bit for bit; but a 256-row source upsampled to 1080 rows
 * interpolates 256 rows along x instead of 2 x 1080 (bench/bilinear.bench.ts).
 */
class Rows {
  /** The two source rows the current destination row lies between, along x, and their difference. */
  private top: Float64Array;
  private bottom: Float64Array;
  readonly diff: Float64Array;
  private readonly steps: Float64Array;
  private topRow = -1;
  private bottomRow = -1;

  constructor(
    private readonly src: Float32Array,
    private readonly srcWidth: number,
    private readonly g: Grid,
    dstWidth: number,
  ) {
    this.top = new Float64Array(dstWidth);
    this.bottom = new Float64Array(dstWidth);
    this.diff = new Float64Array(dstWidth);
    this.steps = new Float64Array(srcWidth);
  }

  /**
   * Source row r's steps, src[j + 1] - src[j] (and src[j] - src[j] for the last column,
   * where the upper index is clamped to the lower one): exactly the `src[hi] - src[lo]` of
   * every destination column, found once per source column instead of once per destination one.
   */
  private stepsOf(r: number): void {
    const src = this.src;
    const base = r * this.srcWidth;
    const steps = this.steps;
    const last = steps.length - 1;
    for (let j = 0; j < last; j++) steps[j] = src[base + j + 1] - src[base + j];
    steps[last] = src[base + last] - src[base + last];
  }

  /** Along x: source row r at every destination column. */
  private interpolate(r: number, out: Float64Array): void {
    this.stepsOf(r);
    const src = this.src;
    const steps = this.steps;
    const base = r * this.srcWidth;
    const { lo, w } = this.g.xs;
    for (let x = 0; x < out.length; x++) {
      const l = lo[x];
      out[x] = src[base + l] + steps[l] * w[x];
    }
  }

  /** interpolate(r, bottom) and the difference to `top`, in one pass. */
  private interpolateBottom(r: number): void {
    this.stepsOf(r);
    const src = this.src;
    const steps = this.steps;
    const base = r * this.srcWidth;
    const { lo, w } = this.g.xs;
    const { top, bottom, diff } = this;
    for (let x = 0; x < bottom.length; x++) {
      const l = lo[x];
      const v = src[base + l] + steps[l] * w[x];
      bottom[x] = v;
      diff[x] = v - top[x];
    }
  }

  /**
   * Destination row y's upper source row along x (returned) and, in `diff`, the lower one
   * minus it. Any order of y works; in increasing order each source row is interpolated once.
   */
  at(y: number): Float64Array {
    const r0 = this.g.ys.lo[y];
    const r1 = this.g.ys.hi[y];
    if (r0 === this.topRow && r1 === this.bottomRow) return this.top;
    if (r0 !== this.topRow) {
      if (r0 === this.bottomRow) {
        const t = this.top;
        this.top = this.bottom;
        this.bottom = t;
        this.bottomRow = -1;
      } else {
        this.interpolate(r0, this.top);
      }
      this.topRow = r0;
    }
    if (r1 !== this.bottomRow) {
      this.interpolateBottom(r1);
      this.bottomRow = r1;
    } else {
      const { top, bottom, diff } = this;
      for (let x = 0; x < diff.length; x++) diff[x] = bottom[x] - top[x];
    }
    return this.top;
  }
}

/** `src` (srcWidth x srcHeight, row-major) resized to dstWidth x dstHeight. */
export function resizeBilinear(
  src: Float32Array,
  srcWidth: number,
  srcHeight: number,
  dstWidth: number,
  dstHeight: number,
): Float32Array {
  const out = new Float32Array(dstWidth * dstHeight);
  const g = grid(srcWidth, srcHeight, dstWidth, dstHeight);
  const rows = new Rows(src, srcWidth, g, dstWidth);
  const diff = rows.diff;
  for (let y = 0; y < dstHeight; y++) {
    const top = rows.at(y);
    const wy = g.ys.w[y];
    const base = y * dstWidth;
    for (let x = 0; x < dstWidth; x++) out[base + x] = top[x] + diff[x] * wy;
  }
  return out;
}

/**
 * The mask SAM2 would return for these logits at `dstWidth` x `dstHeight`: 1 where the
 * resized logit, rounded to float32, is above `threshold` (SAM2's is 0.0), else 0.
 */
export function maskFromLogits(
  logits: Float32Array,
  srcWidth: number,
  srcHeight: number,
  dstWidth: number,
  dstHeight: number,
  threshold = 0,
): Uint8Array {
  return maskAndStatsFromLogits(logits, srcWidth, srcHeight, dstWidth, dstHeight, threshold).mask;
}

/** A segment's pixels are all above the threshold, all at or below it, or some of each. */
const ALL_ABOVE = 1;
const ALL_BELOW = 0;
const MIXED = 2;

/**
 * maskFromLogits and the mask's stats (those of lib/mask-stats.ts, to the last bit), in one
 * pass that looks at most pixels in runs, not one by one.
 *
 * Within one destination row, the pixels between two source columns (a segment: about 15 of
 * them at 4K) are a convex blend of four source logits, so their values lie between the
 * smallest and the largest of the four, up to the rounding of the arithmetic (under 1e-7 of
 * their size: float32's half ulp, plus double's). A segment whose four corners all clear the
 * threshold by more than 1e-6 of their size is all ones, written with one fill; one whose
 * corners are all below it is left at zero. Only segments the edge of the mask crosses (or
 * holding NaN or infinity) are worked out pixel by pixel, with the very arithmetic of the
 * separable resize above, so the output is that of the per-pixel form bit for bit
 * (test/bilinear.test.ts). The stats come from the same runs: a run's area and x sum are
 * closed forms, integers, and add up to the same sums as counting pixel by pixel.
 *
 * Measured on a blob (bench/bilinear.bench.ts, a quiet 2-core machine): mask and stats of a
 * 4K frame in 4.4 ms against 106 ms for the per-pixel resize and a stats pass, 1080p 1.6 ms
 * against 22 ms. (The separable resize of every pixel alone was about 2x the per-pixel one.)
 * It is what lets "best" and "all" cost nearly the same.
 */
export function maskAndStatsFromLogits(
  logits: Float32Array,
  srcWidth: number,
  srcHeight: number,
  dstWidth: number,
  dstHeight: number,
  threshold = 0,
): { mask: Uint8Array; stats: MaskStats } {
  const mask = new Uint8Array(dstWidth * dstHeight);
  const sums = new MaskSums(dstWidth, dstHeight);
  if (mask.length === 0) return { mask, stats: sums.stats() };
  const { xs, ys } = grid(srcWidth, srcHeight, dstWidth, dstHeight);
  const last = srcWidth - 1;
  // The segments that hold destination columns, in order: source column, first and end column.
  const segCol = new Int32Array(Math.min(srcWidth, dstWidth));
  const segStart = new Int32Array(segCol.length + 1);
  let segments = 0;
  for (let x = 0; x < dstWidth; x++) {
    if (x === 0 || xs.lo[x] !== xs.lo[x - 1]) {
      segCol[segments] = xs.lo[x];
      segStart[segments++] = x;
    }
  }
  segStart[segments] = dstWidth;
  const state = new Uint8Array(segments);
  let pairTop = -1;
  let pairBottom = -1;
  let anyAbove = false;
  for (let y = 0; y < dstHeight; y++) {
    const b0 = ys.lo[y] * srcWidth;
    const b1 = ys.hi[y] * srcWidth;
    if (ys.lo[y] !== pairTop || ys.hi[y] !== pairBottom) {
      pairTop = ys.lo[y];
      pairBottom = ys.hi[y];
      anyAbove = false;
      for (let s = 0; s < segments; s++) {
        const l = segCol[s];
        const h = l < last ? l + 1 : last;
        const c0 = logits[b0 + l];
        const c1 = logits[b0 + h];
        const c2 = logits[b1 + l];
        const c3 = logits[b1 + h];
        const lowest = Math.min(c0, c1, c2, c3);
        const highest = Math.max(c0, c1, c2, c3);
        const margin = 1e-6 * (1 + Math.max(highest, -lowest));
        // NaN fails both comparisons, and so does infinity (its margin is infinite): MIXED.
        const s0 = lowest - margin > threshold ? ALL_ABOVE : highest + margin <= threshold ? ALL_BELOW : MIXED;
        state[s] = s0;
        if (s0 !== ALL_BELOW) anyAbove = true;
      }
    }
    if (!anyAbove) continue;
    const wy = ys.w[y];
    const row = y * dstWidth;
    let run = -1;
    for (let s = 0; s < segments; s++) {
      const st = state[s];
      if (st === ALL_ABOVE) {
        if (run < 0) run = segStart[s];
        continue;
      }
      if (run >= 0) {
        mask.fill(1, row + run, row + segStart[s]);
        sums.addRun(y, run, segStart[s]);
        run = -1;
      }
      if (st === ALL_BELOW) continue;
      // The segment the edge crosses: each pixel as the separable resize computes it.
      const l = segCol[s];
      const h = l < last ? l + 1 : last;
      const a0 = logits[b0 + l];
      const a1 = logits[b1 + l];
      const step0 = logits[b0 + h] - a0;
      const step1 = logits[b1 + h] - a1;
      for (let x = segStart[s], end = segStart[s + 1]; x < end; x++) {
        const wx = xs.w[x];
        const top = a0 + step0 * wx;
        const diff = a1 + step1 * wx - top;
        if (Math.fround(top + diff * wy) > threshold) {
          mask[row + x] = 1;
          sums.addRun(y, x, x + 1);
        }
      }
    }
    if (run >= 0) {
      mask.fill(1, row + run, row + dstWidth);
      sums.addRun(y, run, dstWidth);
    }
  }
  return { mask, stats: sums.stats() };
}
