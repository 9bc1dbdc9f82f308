/**
 * The local server's stand-in for SAM2. It is not a neural network: it grows regions by
 * colour, so its masks follow real edges in real photos, with the same inputs and outputs
 * as SAM2 (256x256 logits, positive inside, a few units in size, one to three candidates).
 *
 * How: like SAM2, the image is resized to 1024x1024 without keeping its aspect; each cell of
 * the 256x256 logit grid then averages its 4x4 pixels, converted to CIE Lab and lightly
 * smoothed. Neighbouring cells are joined by a cost that is the colour difference above
 * the image's own texture level (so noise and fine texture cost nothing, edges cost their
 * contrast) plus a small step cost (so regions stay compact). From the foreground seeds a
 * geodesic distance D_F spreads over that graph; each candidate mask sets a threshold T,
 * takes every cell with D_F > T plus the background prompts as background seeds, spreads
 * their distance D_B too, and scores each cell by D_B - D_F: positive where the foreground
 * is geodesically nearer. At a sharp edge that sign flips at the edge's midpoint, so the
 * bilinear resize SAM2 applies to the logits lands on the edge; in smooth regions it flips
 * half way to T. Three thresholds give the tight, medium and loose candidates.
 *
 * Prompts: foreground points seed D_F and background points seed D_B. A box confines both
 * floods to its inside (everything outside is strongly negative); a box without foreground
 * points seeds the foreground with the cells near its centre whose colour differs from the
 * colours just outside the box, and the background with the inside cells that look like
 * those outside colours. A mask_input (earlier logits) is a hint about the object, not a seed
 * (mask-hint.ts): a colour model of what lay under it against what lay around it, which
 * seeds the object-like cells under it and the background-like ones in the box, and scales
 * the score by how well the new mask matches it. With no prompt at all the seed is the
 * image centre.
 */
import sharp from 'sharp';
import { LOW_RES_SIZE, MODEL_INPUT_SIZE } from '../lib/types';
import { readMaskHint, refitHint, type MaskHint } from './mask-hint';
import type { GridPrompts } from './request-form';

const N = LOW_RES_SIZE;
const CELLS = N * N;
const BLOCK = MODEL_INPUT_SIZE / LOW_RES_SIZE;

/** Geodesic thresholds (in CIE76 ΔE) of the tight, medium and loose candidates. */
const THRESHOLDS = [8, 18, 36];
/** Cost of one step between equal colours: keeps a flood across a featureless area finite. */
const STEP_COST = 0.05;
/** Logit scale: SAM2's logits mostly lie within about ±20. */
const LOGIT_LIMIT = 16;
const OUTSIDE_BOX_LOGIT = -20;
/** Cells (in the 256 grid) around a background point that an earlier mask does not seed. */
const CUT_RADIUS = 6;
/** A mask input's weakest object-likeness at a foreground point inside it for the point to still seed, when the input's object was not found. */
const POINT_LIKENESS = 0.5;

export interface ImageInfo {
  format?: string;
  width: number;
  height: number;
}

/** The header's format and size, without decoding; undefined when it is not an image. */
export async function imageInfo(bytes: Buffer): Promise<ImageInfo | undefined> {
  try {
    const m = await sharp(bytes, { failOn: 'none', limitInputPixels: false }).metadata();
    return m.width && m.height ? { format: m.format, width: m.width, height: m.height } : undefined;
  } catch {
    return undefined;
  }
}

/** Per-cell colour and the costs between neighbouring cells. */
export interface Features {
  /** CIE Lab, three planes of CELLS. */
  lab: Float32Array;
  /** Colour differences treated as texture, not edges. */
  texture: number;
  /** Step costs to the right, down, down-right and down-left neighbour. */
  costE: Float32Array;
  costS: Float32Array;
  costSE: Float32Array;
  costSW: Float32Array;
}

const SRGB_TO_LINEAR = Float32Array.from({ length: 256 }, (_, v) => {
  const c = v / 255;
  return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
});

function labF(t: number): number {
  return t > 216 / 24389 ? Math.cbrt(t) : (24389 / 27 * t + 16) / 116;
}

/** 1024x1024 RGB → 256x256 Lab, each cell the mean of its 4x4 pixels in linear light. */
function cellsToLab(rgb: Buffer, channels: number): Float32Array {
  const sums = new Float32Array(CELLS * 3);
  const stride = MODEL_INPUT_SIZE * channels;
  for (let y = 0; y < MODEL_INPUT_SIZE; y++) {
    const rowCell = (y / BLOCK | 0) * N;
    const base = y * stride;
    for (let x = 0; x < MODEL_INPUT_SIZE; x++) {
      const p = base + x * channels;
      const c = (rowCell + (x / BLOCK | 0)) * 3;
      sums[c] += SRGB_TO_LINEAR[rgb[p]];
      sums[c + 1] += SRGB_TO_LINEAR[rgb[channels >= 3 ? p + 1 : p]];
      sums[c + 2] += SRGB_TO_LINEAR[rgb[channels >= 3 ? p + 2 : p]];
    }
  }
  const lab = new Float32Array(CELLS * 3);
  const k = 1 / (BLOCK * BLOCK);
  for (let i = 0; i < CELLS; i++) {
    const r = sums[i * 3] * k;
    const g = sums[i * 3 + 1] * k;
    const b = sums[i * 3 + 2] * k;
    // sRGB (D65) to XYZ, normalised by the white point.
    const fx = labF((0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047);
    const fy = labF(0.2126 * r + 0.7152 * g + 0.0722 * b);
    const fz = labF((0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883);
    lab[i] = 116 * fy - 16;
    lab[CELLS + i] = 500 * (fx - fy);
    lab[2 * CELLS + i] = 200 * (fy - fz);
  }
  return lab;
}

/** A [1, 2, 1] blur in both directions, per plane: takes the edge off noise without moving edges. */
function smooth(lab: Float32Array): Float32Array {
  const tmp = new Float32Array(CELLS);
  const out = new Float32Array(lab.length);
  for (let c = 0; c < 3; c++) {
    const src = lab.subarray(c * CELLS, (c + 1) * CELLS);
    const dst = out.subarray(c * CELLS, (c + 1) * CELLS);
    for (let y = 0; y < N; y++) {
      const r = y * N;
      for (let x = 0; x < N; x++) {
        tmp[r + x] = (src[r + Math.max(x - 1, 0)] + 2 * src[r + x] + src[r + Math.min(x + 1, N - 1)]) / 4;
      }
    }
    for (let y = 0; y < N; y++) {
      const up = Math.max(y - 1, 0) * N;
      const down = Math.min(y + 1, N - 1) * N;
      for (let x = 0; x < N; x++) dst[y * N + x] = (tmp[up + x] + 2 * tmp[y * N + x] + tmp[down + x]) / 4;
    }
  }
  return out;
}

function deltaE(lab: Float32Array, i: number, j: number): number {
  const dl = lab[i] - lab[j];
  const da = lab[CELLS + i] - lab[CELLS + j];
  const db = lab[2 * CELLS + i] - lab[2 * CELLS + j];
  return Math.sqrt(dl * dl + da * da + db * db);
}

function buildFeatures(lab: Float32Array): Features {
  const dE = new Float32Array(CELLS);
  const dS = new Float32Array(CELLS);
  const dSE = new Float32Array(CELLS);
  const dSW = new Float32Array(CELLS);
  for (let y = 0; y < N; y++) {
    for (let x = 0; x < N; x++) {
      const i = y * N + x;
      if (x < N - 1) dE[i] = deltaE(lab, i, i + 1);
      if (y < N - 1) {
        dS[i] = deltaE(lab, i, i + N);
        if (x < N - 1) dSE[i] = deltaE(lab, i, i + N + 1);
        if (x > 0) dSW[i] = deltaE(lab, i, i + N - 1);
      }
    }
  }
  // The image's texture level: most neighbouring cells differ by noise or texture, not edges.
  const sorted = Float32Array.from(dE).sort();
  const texture = Math.min(6, Math.max(1, 1.5 * sorted[CELLS >> 1]));
  const cost = (d: Float32Array, step: number): Float32Array => {
    const c = new Float32Array(CELLS);
    for (let i = 0; i < CELLS; i++) c[i] = Math.max(0, d[i] - texture) + step;
    return c;
  };
  return {
    lab,
    texture,
    costE: cost(dE, STEP_COST),
    costS: cost(dS, STEP_COST),
    costSE: cost(dSE, STEP_COST * Math.SQRT2),
    costSW: cost(dSW, STEP_COST * Math.SQRT2),
  };
}

/**
 * Decodes the upload and builds its features. The decoder is lenient with truncated files,
 * as the runner's PIL is (it sets LOAD_TRUNCATED_IMAGES), and drops alpha like
 * `convert("RGB")`; EXIF orientation is ignored, as the runner ignores it.
 */
export async function imageFeatures(bytes: Buffer): Promise<Features> {
  const { data, info } = await sharp(bytes, { failOn: 'none', limitInputPixels: false })
    .removeAlpha()
    .toColourspace('srgb')
    .resize(MODEL_INPUT_SIZE, MODEL_INPUT_SIZE, { fit: 'fill', kernel: 'linear' }) // SAM2 resizes with antialiased bilinear
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  return buildFeatures(smooth(cellsToLab(data, info.channels)));
}

/** A binary min-heap of cells keyed by distance; stale entries are skipped on pop. */
class Heap {
  private keys = new Float64Array(4096);
  private cells = new Int32Array(4096);
  size = 0;

  push(key: number, cell: number): void {
    if (this.size === this.keys.length) {
      const keys = new Float64Array(this.size * 2);
      keys.set(this.keys);
      this.keys = keys;
      const cells = new Int32Array(this.size * 2);
      cells.set(this.cells);
      this.cells = cells;
    }
    let i = this.size++;
    const { keys, cells } = this;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (keys[parent] <= key) break;
      keys[i] = keys[parent];
      cells[i] = cells[parent];
      i = parent;
    }
    keys[i] = key;
    cells[i] = cell;
  }

  /** Removes the smallest entry; its key and cell are left in `topKey` / `topCell`. */
  topKey = 0;
  topCell = 0;
  pop(): void {
    const { keys, cells } = this;
    this.topKey = keys[0];
    this.topCell = cells[0];
    const n = --this.size;
    const key = keys[n];
    const cell = cells[n];
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && keys[child + 1] < keys[child]) child++;
      if (keys[child] >= key) break;
      keys[i] = keys[child];
      cells[i] = cells[child];
      i = child;
    }
    keys[i] = key;
    cells[i] = cell;
  }
}

/** Multi-source geodesic distance from `seeds` over the cells `allowed` (all when undefined). */
function geodesic(f: Features, seeds: Uint8Array, allowed: Uint8Array | undefined): Float64Array {
  // Doubles, so a stored distance equals the heap key it came with (float32 rounding would not).
  const dist = new Float64Array(CELLS).fill(Infinity);
  const heap = new Heap();
  for (let i = 0; i < CELLS; i++) {
    if (seeds[i] && (!allowed || allowed[i])) {
      dist[i] = 0;
      heap.push(0, i);
    }
  }
  const { costE, costS, costSE, costSW } = f;
  const relax = (j: number, d: number): void => {
    if (d < dist[j] && (!allowed || allowed[j])) {
      dist[j] = d;
      heap.push(d, j);
    }
  };
  while (heap.size > 0) {
    heap.pop();
    const d = heap.topKey;
    const i = heap.topCell;
    if (d > dist[i]) continue;
    const x = i % N;
    const y = (i / N) | 0;
    const left = x > 0;
    const right = x < N - 1;
    if (right) relax(i + 1, d + costE[i]);
    if (left) relax(i - 1, d + costE[i - 1]);
    if (y < N - 1) {
      relax(i + N, d + costS[i]);
      if (right) relax(i + N + 1, d + costSE[i]);
      if (left) relax(i + N - 1, d + costSW[i]);
    }
    if (y > 0) {
      relax(i - N, d + costS[i - N]);
      if (left) relax(i - N - 1, d + costSE[i - N - 1]);
      if (right) relax(i - N + 1, d + costSW[i - N + 1]);
    }
  }
  return dist;
}

function cellAt(x: number, y: number): number {
  const cx = Math.min(N - 1, Math.max(0, Math.floor(x)));
  const cy = Math.min(N - 1, Math.max(0, Math.floor(y)));
  return cy * N + cx;
}

/** Cells whose centres lie in the box (in grid units), as inclusive cell ranges. */
function boxRange(box: [number, number, number, number]): { x0: number; y0: number; x1: number; y1: number } {
  const [ax, ay, bx, by] = box;
  const clamp = (v: number): number => Math.min(N - 1, Math.max(0, v));
  let x0 = clamp(Math.ceil(Math.min(ax, bx) - 0.5));
  let x1 = clamp(Math.floor(Math.max(ax, bx) - 0.5));
  let y0 = clamp(Math.ceil(Math.min(ay, by) - 0.5));
  let y1 = clamp(Math.floor(Math.max(ay, by) - 0.5));
  // A box thinner than a cell still holds the cell under its centre.
  if (x0 > x1) x0 = x1 = clamp(Math.floor((ax + bx) / 2));
  if (y0 > y1) y0 = y1 = clamp(Math.floor((ay + by) / 2));
  return { x0, y0, x1, y1 };
}

/** A few representative colours of `cells`: each new one at least `radius` ΔE from the others. */
function colourClusters(lab: Float32Array, cells: number[], radius: number, max: number): number[] {
  const centres: number[] = [];
  for (const c of cells) {
    if (centres.length >= max) break;
    if (centres.every((k) => deltaE(lab, k, c) >= radius)) centres.push(c);
  }
  return centres;
}

/**
 * Seeds for a box without foreground points: inside cells unlike the colours just outside
 * the box are foreground (preferring the box's central half), inside cells like them are
 * background, so a ring's hole or the floor between a chair's legs stay out of the mask.
 */
function seedsFromBox(f: Features, r: { x0: number; y0: number; x1: number; y1: number }, fg: Uint8Array, bg: Uint8Array): void {
  const { lab, texture } = f;
  const ring: number[] = [];
  for (let y = r.y0 - 1; y <= r.y1 + 1; y++) {
    for (let x = r.x0 - 1; x <= r.x1 + 1; x++) {
      const onRing = y === r.y0 - 1 || y === r.y1 + 1 || x === r.x0 - 1 || x === r.x1 + 1;
      if (onRing && x >= 0 && y >= 0 && x < N && y < N) ring.push(y * N + x);
    }
  }
  if (ring.length === 0) {
    // The box is the whole image: its own edge is the nearest thing to "outside".
    for (let x = r.x0; x <= r.x1; x++) ring.push(r.y0 * N + x, r.y1 * N + x);
    for (let y = r.y0; y <= r.y1; y++) ring.push(y * N + r.x0, y * N + r.x1);
  }
  const outsideColours = colourClusters(lab, ring, 3, 48);
  const farFromOutside = (c: number): number => Math.min(...outsideColours.map((k) => deltaE(lab, k, c)));
  const fgGap = Math.max(12, 4 * texture);
  const bgNear = Math.max(5, 2 * texture);
  const w = r.x1 - r.x0 + 1;
  const h = r.y1 - r.y0 + 1;
  const inCentre = (x: number, y: number): boolean =>
    x >= r.x0 + w / 4 - 0.5 && x <= r.x1 - w / 4 + 0.5 && y >= r.y0 + h / 4 - 0.5 && y <= r.y1 - h / 4 + 0.5;
  let centreSeeds = 0;
  let anySeeds = 0;
  let best = -1;
  let bestGap = -1;
  const gap = new Float32Array(CELLS);
  for (let y = r.y0; y <= r.y1; y++) {
    for (let x = r.x0; x <= r.x1; x++) {
      const c = y * N + x;
      gap[c] = farFromOutside(c);
      if (gap[c] < bgNear) bg[c] = 1;
      if (gap[c] > fgGap) {
        anySeeds++;
        if (inCentre(x, y)) centreSeeds++;
      }
      if (inCentre(x, y) && gap[c] > bestGap) {
        bestGap = gap[c];
        best = c;
      }
    }
  }
  if (anySeeds === 0) {
    fg[best] = 1;
    bg[best] = 0;
    return;
  }
  for (let y = r.y0; y <= r.y1; y++) {
    for (let x = r.x0; x <= r.x1; x++) {
      const c = y * N + x;
      if (gap[c] > fgGap && (centreSeeds === 0 || inCentre(x, y))) fg[c] = 1;
    }
  }
}

export interface Candidate {
  /** 256x256 low-resolution logits. */
  logits: Float32Array;
  /** In (0, 1): how much the mask looks like an object (see `scoreMask`). */
  score: number;
}

const STEPS_X = [1, -1, 0, 0];
const STEPS_Y = [0, 0, 1, -1];

/**
 * A SAM-like confidence in (0, 1): the mask's stability (its area barely changes when the
 * logit threshold moves by ±1, as SAM's stability score) times how strong the colour
 * contrast across its boundary is, discounted when it covers most of the image.
 */
function scoreMask(f: Features, logits: Float32Array): number {
  let inner = 0;
  let outer = 0;
  let area = 0;
  let contrast = 0;
  let edges = 0;
  for (let y = 0; y < N; y++) {
    for (let x = 0; x < N; x++) {
      const i = y * N + x;
      const v = logits[i];
      if (v > 1) inner++;
      if (v > -1) outer++;
      if (v <= 0) continue;
      area++;
      // Compare colours one cell either side of each boundary crossing: the edge is spread over two.
      for (let k = 0; k < 4; k++) {
        const dx = STEPS_X[k];
        const dy = STEPS_Y[k];
        const qx = x + dx;
        const qy = y + dy;
        if (qx < 0 || qy < 0 || qx >= N || qy >= N || logits[qy * N + qx] > 0) continue;
        const px = Math.min(N - 1, Math.max(0, x - dx));
        const py = Math.min(N - 1, Math.max(0, y - dy));
        const ox = Math.min(N - 1, Math.max(0, qx + dx));
        const oy = Math.min(N - 1, Math.max(0, qy + dy));
        contrast += deltaE(f.lab, py * N + px, oy * N + ox);
        edges++;
      }
    }
  }
  if (area === 0) return 0.01;
  const stability = outer > 0 ? inner / outer : 0;
  // A mask with no boundary inside the image (the whole frame) has no edge to show for itself.
  const edge = edges > 0 ? contrast / edges / (contrast / edges + 10 + 2 * f.texture) : 0.3;
  const coverage = area / CELLS;
  const size = coverage > 0.6 ? 1 - (coverage - 0.6) : 1;
  return Math.min(0.99, Math.max(0.01, 0.02 + 0.97 * stability * (0.2 + 0.8 * edge) * size));
}

/**
 * A foreground point inside the earlier mask says no more than the mask does: where the
 * object was. When the hint found the object, its own seeds say where the object is now,
 * and such a point seeds only where it agrees with them; when it did not, the point stays
 * unless its colour is the background's.
 */
function dropStalePoints(fg: Uint8Array, hint: MaskHint, points: GridPrompts['points']): void {
  for (const p of points) {
    if (p.label !== 1 || !Number.isFinite(p.x) || !Number.isFinite(p.y)) continue;
    const c = cellAt(p.x, p.y);
    if (!hint.earlier[c]) continue;
    if (hint.found ? !hint.fg[c] : hint.likeness[c] < POINT_LIKENESS) fg[c] = 0;
  }
}

/**
 * A mask hint's seeds added to the prompts' own: its foreground except near a background
 * point (which can still cut its part away from the earlier mask), and its background.
 */
function addHintSeeds(fg: Uint8Array, bg: Uint8Array, hint: MaskHint, points: GridPrompts['points']): void {
  const cuts = points.filter((p) => p.label === 0 && Number.isFinite(p.x) && Number.isFinite(p.y));
  for (let i = 0; i < CELLS; i++) {
    if (hint.bg[i] && !fg[i]) bg[i] = 1;
    if (!hint.fg[i]) continue;
    const x = i % N;
    const y = (i / N) | 0;
    if (cuts.some((p) => (p.x - x - 0.5) ** 2 + (p.y - y - 0.5) ** 2 < CUT_RADIUS * CUT_RADIUS)) continue;
    fg[i] = 1;
    bg[i] = 0;
  }
}

/**
 * The logits of one mask per threshold: the geodesic distance from the foreground seeds,
 * against the one from the background seeds plus every cell further than the threshold.
 */
function flood(f: Features, fgSeeds: Uint8Array, bgSeeds: Uint8Array, allowed: Uint8Array | undefined, thresholds: number[]): Float32Array[] {
  const bg = Uint8Array.from(bgSeeds);
  for (let i = 0; i < CELLS; i++) if (fgSeeds[i]) bg[i] = 0;
  const dF = geodesic(f, fgSeeds, allowed);
  return thresholds.map((threshold) => {
    const seeds = Uint8Array.from(bg);
    for (let i = 0; i < CELLS; i++) if (dF[i] > threshold && dF[i] !== Infinity) seeds[i] = 1;
    const hasBackground = seeds.includes(1);
    const dB = hasBackground ? geodesic(f, seeds, allowed) : undefined;
    const logits = new Float32Array(CELLS);
    for (let i = 0; i < CELLS; i++) {
      if (allowed && !allowed[i]) logits[i] = OUTSIDE_BOX_LOGIT;
      else {
        const s = dB && dB[i] !== Infinity ? dB[i] - dF[i] : threshold - dF[i];
        logits[i] = s === -Infinity ? -LOGIT_LIMIT : LOGIT_LIMIT * Math.tanh(s / LOGIT_LIMIT);
      }
    }
    return logits;
  });
}

/**
 * How far a mask looks like the object a mask input described, as a factor on its score:
 * 1 when its cells have the object's colours, down to 0.2 when they have the background's,
 * or when the hint found nothing of the object at all.
 */
function agreement(hint: MaskHint, logits: Float32Array): number {
  if (!hint.found) return 0.2;
  let sum = 0;
  let n = 0;
  for (let i = 0; i < CELLS; i++) {
    if (logits[i] > 0) {
      sum += hint.likeness[i];
      n++;
    }
  }
  if (n === 0) return 0.2;
  return Math.min(1, Math.max(0.2, (sum / n - 0.3) / 0.4));
}

/**
 * Candidate masks for `prompts`, best score first: three of different extent when
 * `multimask`, else the best one alone.
 */
export function segment(f: Features, prompts: GridPrompts, multimask: boolean): Candidate[] {
  const fg = new Uint8Array(CELLS);
  const bg = new Uint8Array(CELLS);
  let allowed: Uint8Array | undefined;
  let range: ReturnType<typeof boxRange> | undefined;
  if (prompts.box && prompts.box.every(Number.isFinite)) {
    range = boxRange(prompts.box);
    allowed = new Uint8Array(CELLS);
    for (let y = range.y0; y <= range.y1; y++) allowed.fill(1, y * N + range.x0, y * N + range.x1 + 1);
  }
  for (const p of prompts.points) {
    if (!Number.isFinite(p.x) || !Number.isFinite(p.y)) continue;
    const c = cellAt(p.x, p.y);
    if (allowed && !allowed[c]) continue;
    // Labels other than 0 and 1 (SAM2's padding and box-corner codes) carry no region here.
    if (p.label === 1) fg[c] = 1;
    else if (p.label === 0) bg[c] = 1;
  }
  let hint: MaskHint | undefined;
  if (prompts.maskInput) {
    hint = readMaskHint(f.lab, prompts.maskInput, allowed);
    dropStalePoints(fg, hint, prompts.points);
    if (hint.found) {
      // Where the object is now: one tight flood from the object-like cells under the earlier
      // mask (and the points), tight so it cannot spill, then the colour model fitted again on it.
      const seeds = Uint8Array.from(fg);
      addHintSeeds(seeds, bg, hint, prompts.points);
      const now = flood(f, seeds, bg, allowed, [THRESHOLDS[0]])[0];
      const region = new Uint8Array(CELLS);
      for (let i = 0; i < CELLS; i++) region[i] = now[i] > 0 ? 1 : 0;
      hint = refitHint(hint, region, allowed);
    }
    dropStalePoints(fg, hint, prompts.points);
    addHintSeeds(fg, bg, hint, prompts.points);
  }
  if (!fg.includes(1)) {
    if (range) seedsFromBox(f, range, fg, bg);
    else fg[cellAt(N / 2, N / 2)] = 1;
  }
  const candidates: Candidate[] = flood(f, fg, bg, allowed, THRESHOLDS).map((logits) => ({
    logits,
    score: scoreMask(f, logits) * (hint ? agreement(hint, logits) : 1),
  }));
  candidates.sort((a, b) => b.score - a.score);
  return multimask ? candidates : candidates.slice(0, 1);
}
