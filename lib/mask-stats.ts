import { nextTurn } from './turns';

/** Area, bounding box and centroid of a 0/1 mask, in one pass: what a robot or a rule needs. */
export interface MaskStats {
  area: number;
  /** `[x1, y1, x2, y2]`, x2 and y2 one past the last foreground pixel; `[0, 0, 0, 0]` when empty. */
  bbox: [number, number, number, number];
  /** Mean foreground pixel centre `[x, y]` (pixel x spans x..x+1), or null when empty. */
  centroid: [number, number] | null;
}

/**
 * Every encoder starts here: a mask read with the wrong width would give a plausible but
 * wrong picture rather than an error, so a size that does not add up must stop the work.
 */
export function checkMaskSize(mask: Uint8Array, width: number, height: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 0 || height < 0) {
    throw new RangeError(`mask size must be whole numbers of pixels, got ${width}x${height}`);
  }
  if (mask.length !== width * height) {
    throw new RangeError(
      `mask has ${mask.length} values but ${width}x${height} needs ${width * height}: pass the width and height the mask was made at`,
    );
  }
}

export function maskStats(mask: Uint8Array, width: number, height: number): MaskStats {
  checkMaskSize(mask, width, height);
  const sums = newSums(width, height);
  addRows(sums, mask, width, 0, height);
  return statsOf(sums);
}

/** Rows the event loop measures between two yields: about 5 ms of a loaded core. */
const ROWS_PER_SLICE_PIXELS = 2_000_000;

/**
 * The same figures as maskStats, to the last bit (the same sums in the same order), measured
 * a band of rows at a time with a yield to the event loop between bands: for a mask that is
 * already on the event loop (full mode's masks, decoded from the answer's text).
 */
export async function maskStatsInSlices(mask: Uint8Array, width: number, height: number): Promise<MaskStats> {
  checkMaskSize(mask, width, height);
  const sums = newSums(width, height);
  const band = Math.max(1, Math.floor(ROWS_PER_SLICE_PIXELS / Math.max(1, width)));
  for (let y = 0; y < height; y += band) {
    if (y > 0) await nextTurn();
    addRows(sums, mask, width, y, Math.min(height, y + band));
  }
  return statsOf(sums);
}

/**
 * Stats added up a run of foreground pixels at a time, for a mask being written (the rebuild
 * from logits in lib/bilinear.ts): the same integer sums as counting pixel by pixel, so the
 * same figures as maskStats, to the last bit. Runs may come in any order.
 */
export class MaskSums {
  private readonly sums: Sums;

  constructor(width: number, height: number) {
    this.sums = newSums(width, height);
  }

  /** Pixels from..to-1 of row y are foreground. */
  addRun(y: number, from: number, to: number): void {
    const s = this.sums;
    const n = to - from;
    s.area += n;
    s.sumX += ((from + to - 1) * n) / 2;
    s.sumY += y * n;
    if (from < s.x1) s.x1 = from;
    if (to - 1 > s.x2) s.x2 = to - 1;
    if (y < s.y1) s.y1 = y;
    if (y > s.y2) s.y2 = y;
  }

  stats(): MaskStats {
    return statsOf(this.sums);
  }
}

interface Sums {
  area: number;
  sumX: number;
  sumY: number;
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

function newSums(width: number, height: number): Sums {
  return { area: 0, sumX: 0, sumY: 0, x1: width, y1: height, x2: -1, y2: -1 };
}

function statsOf({ area, sumX, sumY, x1, y1, x2, y2 }: Sums): MaskStats {
  if (!area) return { area: 0, bbox: [0, 0, 0, 0], centroid: null };
  return { area, bbox: [x1, y1, x2 + 1, y2 + 1], centroid: [sumX / area + 0.5, sumY / area + 0.5] };
}

function addRows(sums: Sums, mask: Uint8Array, width: number, from: number, to: number): void {
  let { area, sumX, sumY, x1, y1, x2, y2 } = sums;
  for (let y = from; y < to; y++) {
    const row = y * width;
    let rowArea = 0;
    let first = -1;
    let last = -1;
    for (let x = 0; x < width; x++) {
      if (mask[row + x]) {
        if (first < 0) first = x;
        last = x;
        rowArea++;
        sumX += x;
      }
    }
    if (rowArea) {
      area += rowArea;
      sumY += y * rowArea;
      if (first < x1) x1 = first;
      if (last > x2) x2 = last;
      if (y < y1) y1 = y;
      y2 = y;
    }
  }
  Object.assign(sums, { area, sumX, sumY, x1, y1, x2, y2 });
}
