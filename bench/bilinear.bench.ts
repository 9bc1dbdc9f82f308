/**
 * Rebuilding a mask from SAM2's 256x256 logits (the client's efficient mode): ours,
 * separable, against a straightforward per-pixel bilinear (this package's rebuild until
 * issue 15: four source reads and three lerps per destination pixel), which must give the
 * very same bytes. Times are the fastest of timed runs, the two taking turns, after warm-up runs.
 */
import { deepStrictEqual } from 'node:assert';
import { maskFromLogits, resizeBilinear } from '../lib/bilinear';
import type { Report } from './run';

const SRC = 256;
const round = (x: number, digits = 2): number => Number(x.toFixed(digits));

/** A logit field shaped like SAM2's: a blob, strongly negative far from it, with texture. */
function lowRes(): Float32Array {
  const out = new Float32Array(SRC * SRC);
  for (let y = 0; y < SRC; y++) {
    for (let x = 0; x < SRC; x++) {
      const u = (x + 0.5) / SRC;
      const v = (y + 0.5) / SRC;
      const r = Math.hypot(u - 0.45, v - 0.5);
      out[y * SRC + x] = (18 * (0.3 - r)) / 0.3 + 0.9 * Math.sin(37 * u) * Math.cos(23 * v);
    }
  }
  return out;
}

/** The baseline: every destination pixel from its four source values. */
function perPixelMask(src: Float32Array, sw: number, sh: number, dw: number, dh: number, threshold: number): Uint8Array {
  const axis = (s: number, d: number): { lo: Int32Array; hi: Int32Array; w: Float32Array } => {
    const lo = new Int32Array(d);
    const hi = new Int32Array(d);
    const w = new Float32Array(d);
    for (let i = 0; i < d; i++) {
      const c = Math.max((i + 0.5) * (s / d) - 0.5, 0);
      const l = Math.min(Math.floor(c), s - 1);
      lo[i] = l;
      hi[i] = Math.min(l + 1, s - 1);
      w[i] = c - l;
    }
    return { lo, hi, w };
  };
  const xs = axis(sw, dw);
  const ys = axis(sh, dh);
  const out = new Uint8Array(dw * dh);
  const row = new Float32Array(dw);
  for (let y = 0; y < dh; y++) {
    const r0 = ys.lo[y] * sw;
    const r1 = ys.hi[y] * sw;
    const wy = ys.w[y];
    for (let x = 0; x < dw; x++) {
      const x0 = xs.lo[x];
      const x1 = xs.hi[x];
      const wx = xs.w[x];
      const top = src[r0 + x0] + (src[r0 + x1] - src[r0 + x0]) * wx;
      const bottom = src[r1 + x0] + (src[r1 + x1] - src[r1 + x0]) * wx;
      row[x] = top + (bottom - top) * wy;
    }
    for (let x = 0; x < dw; x++) out[y * dw + x] = row[x] > threshold ? 1 : 0;
  }
  return out;
}

/**
 * The fastest of `runs` timed runs of each op, the ops taking turns run by run, after warm-up
 * runs: on a shared machine the fastest run is the one least disturbed by others.
 */
function fastest(runs: number, warmup: number, ops: Array<() => unknown>): number[] {
  for (let i = 0; i < warmup; i++) for (const op of ops) op();
  const times: number[][] = ops.map(() => []);
  for (let i = 0; i < runs; i++) {
    ops.forEach((op, k) => {
      const t0 = process.hrtime.bigint();
      op();
      times[k].push(Number(process.hrtime.bigint() - t0) / 1e6);
    });
  }
  return times.map((t) => Math.min(...t));
}

export async function run(report: Report): Promise<void> {
  const src = lowRes();
  for (const [label, w, h, runs] of [
    ['1920x1080', 1920, 1080, 31],
    ['3840x2160', 3840, 2160, 11],
  ] as const) {
    const ours = maskFromLogits(src, SRC, SRC, w, h);
    deepStrictEqual(ours, perPixelMask(src, SRC, SRC, w, h, 0));
    const [oursMs, baseMs] = fastest(runs, 3, [() => maskFromLogits(src, SRC, SRC, w, h), () => perPixelMask(src, SRC, SRC, w, h, 0)]);
    report({
      name: `rebuild ${label} mask from 256x256 logits (separable vs per-pixel bilinear, identical output)`,
      ratio: round(oursMs / baseMs),
      oursMs: round(oursMs, 1),
      baselineMs: round(baseMs, 1),
      speedup: round(baseMs / oursMs),
    });
  }
  const [resized] = fastest(11, 2, [() => resizeBilinear(src, SRC, SRC, 1920, 1080)]);
  report({ name: 'resize 256x256 logits to 1920x1080 floats (separable)', oursMs: round(resized, 1) });
}
