/**
 * Boxes as the tracker reasons about them: `[x1, y1, x2, y2]` in pixels, x2 and y2 one past
 * the last pixel (as `maskStats` gives them). Growing a box to search in, how much two boxes
 * share, and how a mask sits in the box it was confined to.
 */
export type Box = [number, number, number, number];

export function boxArea(b: Box): number {
  return Math.max(0, b[2] - b[0]) * Math.max(0, b[3] - b[1]);
}

/** The area two boxes share; 0 when they only touch. */
export function intersection(a: Box, b: Box): number {
  return Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0])) * Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
}

/** Intersection over union; 0 for boxes that share nothing. */
export function boxIou(a: Box, b: Box): number {
  const shared = intersection(a, b);
  return shared === 0 ? 0 : shared / (boxArea(a) + boxArea(b) - shared);
}

/**
 * The box with each side moved out by `margin` times the box's own width (left, right) or
 * height (top, bottom), but at least `minMargin` times the frame's width or height, clipped
 * to the frame.
 */
export function growBox(b: Box, margin: number, minMargin: number, width: number, height: number): Box {
  const dx = Math.max(margin * (b[2] - b[0]), minMargin * width);
  const dy = Math.max(margin * (b[3] - b[1]), minMargin * height);
  return [Math.max(0, b[0] - dx), Math.max(0, b[1] - dy), Math.min(width, b[2] + dx), Math.min(height, b[3] + dy)];
}

/** A box scaled from one frame size to another (a camera that changed resolution). */
export function scaleBox(b: Box, sx: number, sy: number): Box {
  return [b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy];
}

export interface Containment {
  /** Share of the mask's area outside the box. */
  outside: number;
  /**
   * The longest share of one of the box's sides that the mask runs along, within `band`
   * pixels inside it, over the sides that are not the frame's own edges: a mask pressed
   * against its box on a long stretch was cut by the box, so what it follows is bigger
   * than the box or has moved out of it.
   */
  alongEdge: number;
}

/** How `mask` (width x height, 0/1) sits in `box`; `band` is the tolerance in pixels at its sides. */
export function containment(mask: Uint8Array, width: number, height: number, box: Box, area: number, band: number): Containment {
  const x1 = Math.round(box[0]);
  const y1 = Math.round(box[1]);
  const x2 = Math.round(box[2]);
  const y2 = Math.round(box[3]);
  let inside = 0;
  // Per column (top, bottom) and per row (left, right): does the mask reach the band there?
  const top = new Uint8Array(width);
  const bottom = new Uint8Array(width);
  const left = new Uint8Array(height);
  const right = new Uint8Array(height);
  for (let y = Math.max(0, y1); y < Math.min(height, y2); y++) {
    const row = y * width;
    for (let x = Math.max(0, x1); x < Math.min(width, x2); x++) {
      if (!mask[row + x]) continue;
      inside++;
      if (y < y1 + band) top[x] = 1;
      if (y >= y2 - band) bottom[x] = 1;
      if (x < x1 + band) left[y] = 1;
      if (x >= x2 - band) right[y] = 1;
    }
  }
  const share = (marks: Uint8Array, from: number, to: number): number => {
    let n = 0;
    for (let i = Math.max(0, from); i < Math.min(marks.length, to); i++) n += marks[i];
    return to > from ? n / (to - from) : 0;
  };
  let alongEdge = 0;
  if (y1 > 0) alongEdge = Math.max(alongEdge, share(top, x1, x2));
  if (y2 < height) alongEdge = Math.max(alongEdge, share(bottom, x1, x2));
  if (x1 > 0) alongEdge = Math.max(alongEdge, share(left, y1, y2));
  if (x2 < width) alongEdge = Math.max(alongEdge, share(right, y1, y2));
  return { outside: area > 0 ? (area - inside) / area : 0, alongEdge };
}

/** Whether a mask's bounding box reaches the frame's edge (within `band` pixels). */
export function touchesFrame(b: Box, width: number, height: number, band: number): boolean {
  return b[0] <= band || b[1] <= band || b[2] >= width - band || b[3] >= height - band;
}
