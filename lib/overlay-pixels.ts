/**
 * The pixel work of the overlay and the cut-out (lib/overlay.ts), apart from sharp: plain
 * loops over a mask and an image's pixels, written as steps of a band of rows each, so that a
 * large frame's run in slices, one per turn of the event loop (lib/turns.ts), and a small
 * frame's (and the editor's preview) at once; the same bytes either way.
 *
 * Slices, not a worker thread: a worker would need the frame's pixels, and here copying a
 * 48 MP frame's 144 MB anywhere (into shared memory, or by posting it, which copies a buffer
 * sharp made) took 100 to 380 ms of the event loop. On the event loop, a 4K frame's overlays
 * and cut-outs held it 270 ms in one stretch, a 48 MP one's 3 s (bench/responsive.bench.ts).
 */
import type { RawImage } from './raw-image';
import { runInTurns, runNow, type Slices } from './turns';

/**
 * The outline's two lines: dark on the mask's edge, light just inside it. Whatever the object
 * and whatever is around it, one of the two stands out from both: the dark one from a cyan
 * object or a white wall, the light one from a red ball or a black car. (An outline in the
 * tint's own colour vanished on objects of that colour.)
 */
export const OUTLINE_DARK: readonly [number, number, number] = [0, 0, 0];
export const OUTLINE_LIGHT: readonly [number, number, number] = [255, 255, 255];

/** Pixels worked in one slice: at 13 to 80 ns a pixel (a cut-out, a tint with its outline) a few ms, under 25 even for the tint. */
const SLICE_PIXELS = 1 << 18;

type Box = [number, number, number, number];

/** Rows of `rowWidth` pixels in one band. */
function bandRows(rowWidth: number): number {
  return Math.max(1, Math.floor(SLICE_PIXELS / Math.max(1, rowWidth)));
}

/** `body(from, to)` over rows 0..rows-1, a band per step: each band, the last included, ends its step, so no two passes share one. */
function* inBands(rows: number, rowWidth: number, body: (from: number, to: number) => void): Slices<void> {
  const band = bandRows(rowWidth);
  for (let y = 0; y < rows; y += band) {
    body(y, Math.min(rows, y + band));
    yield;
  }
}

/** A fresh 3-byte-a-pixel copy, transparent parts shown on white (a JPEG has no alpha). */
export function rgbOnWhite(image: RawImage): Buffer {
  return runNow(rgbOnWhiteSteps(image));
}

/** rgbOnWhite in slices. */
export function rgbOnWhiteInSlices(image: RawImage): Promise<Buffer> {
  return runInTurns(rgbOnWhiteSteps(image));
}

function* rgbOnWhiteSteps(image: RawImage): Slices<Buffer> {
  const { width, height, channels, data: src } = image;
  const out = Buffer.allocUnsafeSlow(width * height * 3);
  yield* inBands(height, width, (from, to) => {
    if (channels === 3) {
      out.set(src.subarray(from * width * 3, to * width * 3), from * width * 3);
      return;
    }
    for (let i = from * width, end = to * width, p = i * 4, q = i * 3; i < end; i++, p += 4, q += 3) {
      const a = src[p + 3];
      const white = 255 * (255 - a) + 127;
      out[q] = (src[p] * a + white) / 255;
      out[q + 1] = (src[p + 1] * a + white) / 255;
      out[q + 2] = (src[p + 2] * a + white) / 255;
    }
  });
  return out;
}

/** The mask's box cut from the image as RGBA, alpha 255 on the mask and 0 off it; `bbox` must not be empty. */
export function cutoutPixels(pixels: RawImage, mask: Uint8Array, width: number, bbox: Box): Buffer {
  return runNow(cutoutSteps(pixels, mask, width, bbox));
}

/** cutoutPixels in slices. */
export function cutoutPixelsInSlices(pixels: RawImage, mask: Uint8Array, width: number, bbox: Box): Promise<Buffer> {
  return runInTurns(cutoutSteps(pixels, mask, width, bbox));
}

function* cutoutSteps(pixels: RawImage, mask: Uint8Array, width: number, bbox: Box): Slices<Buffer> {
  const [x1, y1, x2, y2] = bbox;
  const w = x2 - x1;
  const h = y2 - y1;
  const rgb = pixels.data;
  const c = pixels.channels;
  const rgba = Buffer.alloc(w * h * 4);
  yield* inBands(h, w, (from, to) => {
    for (let y = from; y < to; y++) {
      for (let x = 0, i = (y1 + y) * width + x1, p = i * c, q = y * w * 4; x < w; x++, i++, p += c, q += 4) {
        // Off the mask the colour stays 0 as well as the alpha: it is never seen, and
        // uniform bytes compress to nothing.
        if (!mask[i]) continue;
        rgba[q] = rgb[p];
        rgba[q + 1] = rgb[p + 1];
        rgba[q + 2] = rgb[p + 2];
        rgba[q + 3] = 255;
      }
    }
  });
  return rgba;
}

/**
 * Blends the masked pixels of `rgb` (3 bytes a pixel) towards the colour, in place, within the
 * mask's box, and draws the outline over them.
 */
export function tint(rgb: Buffer, mask: Uint8Array, width: number, bbox: Box, color: [number, number, number], opacity: number, outline: number): void {
  runNow(tintSteps(rgb, mask, width, bbox, color, opacity, outline));
}

/** tint in slices. */
export function tintInSlices(rgb: Buffer, mask: Uint8Array, width: number, bbox: Box, color: [number, number, number], opacity: number, outline: number): Promise<void> {
  return runInTurns(tintSteps(rgb, mask, width, bbox, color, opacity, outline));
}

function* tintSteps(rgb: Buffer, mask: Uint8Array, width: number, bbox: Box, [r, g, b]: [number, number, number], opacity: number, outline: number): Slices<void> {
  const [x1, y1, x2, y2] = bbox;
  const w = x2 - x1;
  const edge = outline > 0 ? yield* edgesInBox(mask, width, bbox) : null;
  const line = edge ? yield* dilateInBox(edge, mask, width, bbox, outline) : null;
  // The dark half of a double line; a single line picks its shade per pixel below.
  const dark = edge && outline > 1 ? yield* dilateInBox(edge, mask, width, bbox, Math.ceil(outline / 2)) : null;
  // Weights out of 256 keep the blend in integers; opacity 1 gives the colour exactly.
  const k = Math.round(opacity * 256);
  const keep = 256 - k;
  const [tr, tg, tb] = [r * k + 128, g * k + 128, b * k + 128];
  yield* inBands(y2 - y1, w, (from, to) => {
    for (let y = y1 + from; y < y1 + to; y++) {
      for (let x = x1, i = y * width + x1, j = (y - y1) * w; x < x2; x++, i++, j++) {
        if (!mask[i]) continue;
        const p = i * 3;
        if (line !== null && line[j]) {
          // Rec. 601 luma of the photo's pixel, out of 255 x 1000.
          const isDark = dark !== null ? dark[j] === 1 : rgb[p] * 299 + rgb[p + 1] * 587 + rgb[p + 2] * 114 >= 128_000;
          const shade = isDark ? OUTLINE_DARK : OUTLINE_LIGHT;
          rgb[p] = shade[0];
          rgb[p + 1] = shade[1];
          rgb[p + 2] = shade[2];
        } else {
          rgb[p] = (rgb[p] * keep + tr) >> 8;
          rgb[p + 1] = (rgb[p + 1] * keep + tg) >> 8;
          rgb[p + 2] = (rgb[p + 2] * keep + tb) >> 8;
        }
      }
    }
  });
}

/**
 * The outline over the mask's box (box-sized, row-major) is `dilateInBox(edgesInBox(...))`:
 * mask pixels within `outline - 1` pixels, on both axes, of an edge pixel, which is a mask
 * pixel with a 4-neighbour off the mask. The line stays inside the mask so that pixels off it
 * are left as they were. The image's border is not an edge: an object cut off by the frame
 * goes on past it. The edge is found once for both lines of the double outline.
 */
function* edgesInBox(mask: Uint8Array, width: number, bbox: Box): Slices<Uint8Array> {
  const [x1, y1, x2, y2] = bbox;
  const w = x2 - x1;
  const height = mask.length / width;
  const edge = new Uint8Array(w * (y2 - y1));
  yield* inBands(y2 - y1, w, (from, to) => {
    for (let y = y1 + from; y < y1 + to; y++) {
      for (let x = x1, i = y * width + x1, j = (y - y1) * w; x < x2; x++, i++, j++) {
        if (!mask[i]) continue;
        if ((x > 0 && !mask[i - 1]) || (x < width - 1 && !mask[i + 1]) || (y > 0 && !mask[i - width]) || (y < height - 1 && !mask[i + width])) {
          edge[j] = 1;
        }
      }
    }
  });
  return edge;
}

/**
 * Mask pixels within `outline - 1` pixels, on both axes, of an edge pixel: a square dilation
 * done as two sliding-window passes, so its cost does not grow with the width.
 */
function* dilateInBox(edge: Uint8Array, mask: Uint8Array, width: number, bbox: Box, outline: number): Slices<Uint8Array> {
  const [x1, y1, x2, y2] = bbox;
  const w = x2 - x1;
  const h = y2 - y1;
  const r = outline - 1;
  if (r === 0) return edge;
  // Horizontal pass: near[j] counts edge pixels within r columns in the same row.
  const near = new Uint8Array(w * h);
  yield* inBands(h, w, (from, to) => {
    for (let y = from; y < to; y++) {
      const row = y * w;
      let count = 0;
      for (let x = 0; x < Math.min(r, w); x++) count += edge[row + x];
      for (let x = 0; x < w; x++) {
        if (x + r < w) count += edge[row + x + r];
        if (x - r - 1 >= 0) count -= edge[row + x - r - 1];
        near[row + x] = count > 0 ? 1 : 0;
      }
    }
  });
  // Vertical pass, a row at a time with a running count per column (carried from band to
  // band, so the rows go in order), then kept to the mask.
  const counts = new Int32Array(w);
  for (let y = 0; y < Math.min(r, h); y++) for (let x = 0; x < w; x++) counts[x] += near[y * w + x];
  const line = new Uint8Array(w * h);
  yield* inBands(h, w, (from, to) => {
    for (let y = from; y < to; y++) {
      const add = y + r < h ? (y + r) * w : -1;
      const drop = y - r - 1 >= 0 ? (y - r - 1) * w : -1;
      for (let x = 0; x < w; x++) {
        if (add >= 0) counts[x] += near[add + x];
        if (drop >= 0) counts[x] -= near[drop + x];
        line[y * w + x] = counts[x] > 0 && mask[(y1 + y) * width + x1 + x] ? 1 : 0;
      }
    }
  });
  return line;
}
