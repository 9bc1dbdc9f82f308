/**
 * Rebuilding a mask from SAM2's 256x256 logits (the client's efficient mode): ours (runs of
 * pixels filled or skipped whole, only the mask's edge worked out pixel by pixel, lib/bilinear.ts)
 * against a straightforward per-pixel bilinear (this package's rebuild until issue 15: four
 * source reads and three lerps per destination pixel), which must give the very same bytes;
 * and the same with the mask's stats, which ours gets from the same runs and the baseline in a
 * second pass (lib/mask-stats.ts). Times are the fastest of timed runs, the two taking turns,
 * after warm-up runs.
 */
import { deepStrictEqual } from 'node:assert';
import { maskAndStatsFromLogits, maskFromLogits, resizeBilinear } from '../lib/bilinear';
import { maskStats } from '../lib/mask-stats';
import { perPixelMask } from './per-pixel-mask';
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
    ['8000x6000', 8000, 6000, 5],
  ] as const) {
    const ours = maskAndStatsFromLogits(src, SRC, SRC, w, h);
    const reference = perPixelMask(src, SRC, SRC, w, h, 0);
    deepStrictEqual(ours.mask, reference);
    deepStrictEqual(ours.stats, maskStats(reference, w, h));
    const [oursMs, baseMs] = fastest(runs, 3, [() => maskFromLogits(src, SRC, SRC, w, h), () => perPixelMask(src, SRC, SRC, w, h, 0)]);
    report({
      name: `rebuild ${label} mask from 256x256 logits (ours vs per-pixel bilinear, identical output)`,
      ratio: round(oursMs / baseMs),
      oursMs: round(oursMs, 1),
      baselineMs: round(baseMs, 1),
      speedup: round(baseMs / oursMs),
      target: 'speedup >= 2',
    });
    const [withStatsMs, baseWithStatsMs] = fastest(runs, 3, [
      () => maskAndStatsFromLogits(src, SRC, SRC, w, h),
      () => maskStats(perPixelMask(src, SRC, SRC, w, h, 0), w, h),
    ]);
    report({
      name: `rebuild and measure ${label} mask (ours in one pass vs per-pixel bilinear then a stats pass, identical output)`,
      ratio: round(withStatsMs / baseWithStatsMs),
      oursMs: round(withStatsMs, 1),
      baselineMs: round(baseWithStatsMs, 1),
      speedup: round(baseWithStatsMs / withStatsMs),
    });
  }
  const [resized] = fastest(11, 2, [() => resizeBilinear(src, SRC, SRC, 1920, 1080)]);
  report({ name: 'resize 256x256 logits to 1920x1080 floats (separable)', oursMs: round(resized, 1) });
}
