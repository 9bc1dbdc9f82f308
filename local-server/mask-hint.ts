/**
 * What the local server takes from a `mask_input`: a hint about the object, not fixed seeds.
 * SAM2 embeds the earlier logits as a dense prompt next to the points and box; the object
 * may have moved since, so a stand-in that seeded the new mask from the old region would
 * seed background wherever the object moved away (and keep seeding the image's edge after
 * an object went out of the picture). Here the earlier mask gives two things instead:
 *
 * - an appearance model: a colour histogram (CIE Lab, HIST_STEP ΔE bins, smoothed) of the
 *   cells under the earlier mask against one of a band around it, as wide as half the
 *   mask's size. Under the earlier mask the object's colours dominate (where it still
 *   overlaps), in the band the background's do, so the ratio of the two says how
 *   object-like each colour is. Even when the object moved by its own radius the object's
 *   colours score about 0.65 and the background's 0.45 (two discs a radius apart share 39%
 *   of their area); so the model is fitted again on the cells near the earlier mask that
 *   looked object-like, and once more, in segmenter.ts, on a first tight flood from its
 *   seeds: by then it describes the object where it is, against its own surroundings, and
 *   separates the two sharply;
 * - a rough location: foreground seeds are object-like cells under the earlier mask only
 *   (and inside an object-like area, not on its edge), so a same-coloured thing elsewhere in
 *   the box is not seeded; the flood then spreads from them over the object to wherever it
 *   has moved. Background seeds are the cells that look like background anywhere in the
 *   box, the part the object left behind included.
 *
 * When the colours under the earlier mask are no longer unlike the band's (the object left,
 * or is hidden), there is no object-like seed: the answer is whatever the other prompts give,
 * scored low, as SAM2's own confidence drops when the mask no longer matches the image.
 */
import { LOW_RES_SIZE } from '../lib/types';

const N = LOW_RES_SIZE;
const CELLS = N * N;

/** Histogram bin width, in ΔE: about the colour step between an object and its surroundings we must tell apart. */
const HIST_STEP = 7;
const L_BINS = Math.ceil(101 / HIST_STEP);
const AB_BINS = Math.ceil(257 / HIST_STEP);
const BINS = L_BINS * AB_BINS * AB_BINS;

/** Object-likeness (in [0, 1]) above which a cell under the earlier mask seeds the foreground. */
const FOREGROUND = 0.7;
/** ...and below which a cell seeds the background. */
const BACKGROUND = 0.3;
/** Cells that must look object-like for the hint to count: fewer is noise, not an object. */
const MIN_OBJECT_CELLS = 4;

function binOf(lab: Float32Array, i: number): number {
  const l = Math.min(L_BINS - 1, Math.max(0, Math.floor(lab[i] / HIST_STEP)));
  const a = Math.min(AB_BINS - 1, Math.max(0, Math.floor((lab[CELLS + i] + 128) / HIST_STEP)));
  const b = Math.min(AB_BINS - 1, Math.max(0, Math.floor((lab[2 * CELLS + i] + 128) / HIST_STEP)));
  return (l * AB_BINS + a) * AB_BINS + b;
}

/** Normalised colour histogram of the marked cells, blurred over neighbouring bins (a soft kernel density). */
function histogram(bins: Uint16Array, marked: Uint8Array): Float32Array {
  const counts = new Float32Array(BINS);
  let total = 0;
  for (let i = 0; i < CELLS; i++) {
    if (!marked[i]) continue;
    counts[bins[i]]++;
    total++;
  }
  if (total === 0) return counts;
  // Separable [1, 2, 1] blur along each of the three axes.
  const strides = [AB_BINS * AB_BINS, AB_BINS, 1];
  const sizes = [L_BINS, AB_BINS, AB_BINS];
  let src = counts;
  for (let axis = 0; axis < 3; axis++) {
    const dst = new Float32Array(BINS);
    const s = strides[axis];
    const size = sizes[axis];
    for (let i = 0; i < BINS; i++) {
      if (src[i] === 0) continue;
      const k = Math.floor(i / s) % size;
      dst[i] += 2 * src[i];
      if (k > 0) dst[i - s] += src[i];
      if (k < size - 1) dst[i + s] += src[i];
    }
    src = dst;
  }
  const scale = 1 / (total * 64);
  for (let i = 0; i < BINS; i++) src[i] *= scale;
  return src;
}

/** Chessboard distance (in cells) of every cell from the marked ones; 0 on them. */
function distanceFrom(marked: Uint8Array): Uint16Array {
  const far = 0xffff;
  const d = new Uint16Array(CELLS);
  for (let i = 0; i < CELLS; i++) d[i] = marked[i] ? 0 : far;
  for (let y = 0; y < N; y++) {
    for (let x = 0; x < N; x++) {
      const i = y * N + x;
      let v = d[i];
      if (x > 0) v = Math.min(v, d[i - 1] + 1);
      if (y > 0) {
        v = Math.min(v, d[i - N] + 1);
        if (x > 0) v = Math.min(v, d[i - N - 1] + 1);
        if (x < N - 1) v = Math.min(v, d[i - N + 1] + 1);
      }
      d[i] = v;
    }
  }
  for (let y = N - 1; y >= 0; y--) {
    for (let x = N - 1; x >= 0; x--) {
      const i = y * N + x;
      let v = d[i];
      if (x < N - 1) v = Math.min(v, d[i + 1] + 1);
      if (y < N - 1) {
        v = Math.min(v, d[i + N] + 1);
        if (x < N - 1) v = Math.min(v, d[i + N + 1] + 1);
        if (x > 0) v = Math.min(v, d[i + N - 1] + 1);
      }
      d[i] = v;
    }
  }
  return d;
}

/** Object-likeness of every cell: the object's share of its colour's density, in [0, 1]. */
function likeness(bins: Uint16Array, object: Uint8Array, surround: Uint8Array): Float32Array {
  const inside = histogram(bins, object);
  const outside = histogram(bins, surround);
  const r = new Float32Array(CELLS);
  for (let i = 0; i < CELLS; i++) {
    const a = inside[bins[i]];
    const b = outside[bins[i]];
    r[i] = a + b > 0 ? a / (a + b) : 0.5;
  }
  return r;
}

/**
 * Whether a cell and its eight neighbours are all marked. Seeds come from the inside of an
 * object-like area only: a cell on an object's edge mixes its colour with what is beside
 * it, a mixture found nowhere else, so it looks object-like and would start a flood into
 * the neighbour (an occluder it is going behind, say).
 */
function interior(marked: Uint8Array, i: number): boolean {
  if (!marked[i]) return false;
  const x = i % N;
  const y = (i / N) | 0;
  for (let dy = -1; dy <= 1; dy++) {
    for (let dx = -1; dx <= 1; dx++) {
      const qx = x + dx;
      const qy = y + dy;
      if (qx < 0 || qy < 0 || qx >= N || qy >= N) continue;
      if (!marked[qy * N + qx]) return false;
    }
  }
  return true;
}

/** The band around `region`, `width` cells wide. */
function bandAround(region: Uint8Array, width: number): Uint8Array {
  const d = distanceFrom(region);
  const band = new Uint8Array(CELLS);
  for (let i = 0; i < CELLS; i++) if (d[i] > 0 && d[i] <= width) band[i] = 1;
  return band;
}

export interface MaskHint {
  /** Foreground and background seeds, within the allowed cells. */
  fg: Uint8Array;
  bg: Uint8Array;
  /** Object-likeness of every cell under the current model; 0.5 everywhere when there is none. */
  likeness: Float32Array;
  /** Cells under the earlier mask. */
  earlier: Uint8Array;
  /** Whether enough cells looked like the object to seed it. */
  found: boolean;
  /** Each cell's colour bin. */
  bins: Uint16Array;
  /** The band width, in cells. */
  width: number;
}

/**
 * Reads `maskInput` (256x256 logits, positive inside) against this image's cell colours
 * (`lab`, three planes), seeding only within `allowed` (all cells when undefined). The
 * seeds are foreground only: the first model is too rough to name background by itself.
 */
export function readMaskHint(lab: Float32Array, maskInput: Float32Array, allowed: Uint8Array | undefined): MaskHint {
  const fg = new Uint8Array(CELLS);
  const bg = new Uint8Array(CELLS);
  const earlier = new Uint8Array(CELLS);
  let area = 0;
  for (let i = 0; i < CELLS; i++) {
    if (maskInput[i] > 0) {
      earlier[i] = 1;
      area++;
    }
  }
  const bins = new Uint16Array(CELLS);
  const width = Math.max(3, Math.round(0.5 * Math.sqrt(area)));
  const none: MaskHint = { fg, bg, likeness: new Float32Array(CELLS).fill(0.5), earlier, found: false, bins, width };
  if (area === 0) return none;
  for (let i = 0; i < CELLS; i++) bins[i] = binOf(lab, i);
  const first = likeness(bins, earlier, bandAround(earlier, width));

  // Refit on the cells near the earlier mask that looked object-like: where the object is now.
  const near = distanceFrom(earlier);
  const object = new Uint8Array(CELLS);
  let objectCells = 0;
  for (let i = 0; i < CELLS; i++) {
    if (near[i] <= width && first[i] > 0.5) {
      object[i] = 1;
      objectCells++;
    }
  }
  if (objectCells < MIN_OBJECT_CELLS) return none;
  const r = likeness(bins, object, bandAround(object, width));
  const like = new Uint8Array(CELLS);
  for (let i = 0; i < CELLS; i++) like[i] = earlier[i] && r[i] >= FOREGROUND && first[i] > 0.5 ? 1 : 0;
  let found = 0;
  for (let i = 0; i < CELLS; i++) {
    if ((!allowed || allowed[i]) && interior(like, i)) {
      fg[i] = 1;
      found++;
    }
  }
  if (found < MIN_OBJECT_CELLS) return { ...none, fg: fg.fill(0), likeness: r };
  return { fg, bg, likeness: r, earlier, found: true, bins, width };
}

/**
 * The model fitted again on `region`, a first mask grown from the hint's seeds: where the
 * object is in this image, so its colours against its own surroundings. Foreground seeds
 * are the region's object-like cells, background seeds the background-like cells anywhere.
 */
export function refitHint(hint: MaskHint, region: Uint8Array, allowed: Uint8Array | undefined): MaskHint {
  const r = likeness(hint.bins, region, bandAround(region, hint.width));
  const like = new Uint8Array(CELLS);
  for (let i = 0; i < CELLS; i++) like[i] = region[i] && r[i] >= FOREGROUND ? 1 : 0;
  const fg = new Uint8Array(CELLS);
  const bg = new Uint8Array(CELLS);
  let found = 0;
  for (let i = 0; i < CELLS; i++) {
    if (allowed && !allowed[i]) continue;
    if (interior(like, i)) {
      fg[i] = 1;
      found++;
    } else if (r[i] <= BACKGROUND) {
      bg[i] = 1;
    }
  }
  if (found < MIN_OBJECT_CELLS) return { ...hint, likeness: r, found: false, fg: new Uint8Array(CELLS), bg: new Uint8Array(CELLS) };
  return { ...hint, fg, bg, likeness: r, found: true };
}
