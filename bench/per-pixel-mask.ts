/**
 * The baseline rebuild of the benches: this package's mask-from-logits until issue 15, every
 * destination pixel interpolated from its four source values, then thresholded. Kept here, out
 * of lib/, only to measure ours against.
 */
export function perPixelMask(src: Float32Array, sw: number, sh: number, dw: number, dh: number, threshold: number): Uint8Array {
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
