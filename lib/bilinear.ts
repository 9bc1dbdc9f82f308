/**
 * Bilinear resize with `align_corners=False` (PyTorch's `F.interpolate(mode="bilinear")`),
 * the step SAM2 uses to turn its 256x256 low-resolution logits into a mask at the image's
 * size. The local server builds its masks with it and the client rebuilds masks from logits
 * with it, so both follow the same sampling grid as the real model.
 */

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
 * One destination row, in PyTorch's order (along x within each source row, then along y)
 * and rounded to float32 as the model's tensors are, so a threshold gives the same pixels
 * whichever side computed the row.
 */
function interpolateRow(src: Float32Array, srcWidth: number, g: Grid, y: number, out: Float32Array): void {
  const r0 = g.ys.lo[y] * srcWidth;
  const r1 = g.ys.hi[y] * srcWidth;
  const wy = g.ys.w[y];
  const { lo, hi, w } = g.xs;
  for (let x = 0; x < out.length; x++) {
    const x0 = lo[x];
    const x1 = hi[x];
    const wx = w[x];
    const top = src[r0 + x0] + (src[r0 + x1] - src[r0 + x0]) * wx;
    const bottom = src[r1 + x0] + (src[r1 + x1] - src[r1 + x0]) * wx;
    out[x] = top + (bottom - top) * wy;
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
  for (let y = 0; y < dstHeight; y++) interpolateRow(src, srcWidth, g, y, out.subarray(y * dstWidth, (y + 1) * dstWidth));
  return out;
}

/**
 * The mask SAM2 would return for these logits at `dstWidth` x `dstHeight`: 1 where the
 * resized logit is above `threshold` (SAM2's is 0.0), else 0. Works a row at a time so a
 * 4K mask never needs a 33 MB float intermediate.
 */
export function maskFromLogits(
  logits: Float32Array,
  srcWidth: number,
  srcHeight: number,
  dstWidth: number,
  dstHeight: number,
  threshold = 0,
): Uint8Array {
  const out = new Uint8Array(dstWidth * dstHeight);
  const g = grid(srcWidth, srcHeight, dstWidth, dstHeight);
  const row = new Float32Array(dstWidth);
  for (let y = 0; y < dstHeight; y++) {
    interpolateRow(logits, srcWidth, g, y, row);
    const base = y * dstWidth;
    for (let x = 0; x < dstWidth; x++) out[base + x] = row[x] > threshold ? 1 : 0;
  }
  return out;
}
