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
  let area = 0;
  let sumX = 0;
  let sumY = 0;
  let x1 = width;
  let y1 = height;
  let x2 = -1;
  let y2 = -1;
  for (let y = 0; y < height; y++) {
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
  if (!area) return { area: 0, bbox: [0, 0, 0, 0], centroid: null };
  return { area, bbox: [x1, y1, x2 + 1, y2 + 1], centroid: [sumX / area + 0.5, sumY / area + 0.5] };
}
