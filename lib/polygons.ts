/**
 * A mask as polygons: per connected region, its outline and the outlines of its holes, in
 * pixel-edge coordinates (pixel (x, y) is the square x..x+1, y..y+1), which is what COCO
 * polygon annotations, GeoJSON tools and canvas paths take.
 *
 * d3-contour traces the rings; it samples each pixel at its centre and, unsmoothed, runs
 * its rings through the midpoints of pixel edges, so a lone pixel comes out as a diamond
 * of area 0.5. We move each ring onto the pixel edges themselves: every diagonal step it
 * takes cuts across exactly one pixel corner, at the x of its end on a vertical edge and
 * the y of its end on a horizontal edge, and those corners are the exact outline, whose
 * area is the pixel count. Regions are 4-connected: pixels that touch only at a corner
 * are separate regions, as d3-contour splits them.
 *
 * Rings are open (the first point is not repeated) and oriented for shoelace formulas used
 * on the coordinates as they are: outer rings have positive signed area
 * (sum of x[i] * y[i+1] - x[i+1] * y[i]), holes negative. On screen, with y pointing down,
 * outer rings therefore run clockwise.
 */
import simplify from 'simplify-js';
import { Sam2InputError } from './errors';
import { checkMaskSize, maskStats } from './mask-stats';

export interface MaskPolygon {
  outer: Array<[number, number]>;
  holes: Array<Array<[number, number]>>;
  /** Area enclosed by `outer` less the holes, in square pixels, as the points describe it. */
  area: number;
}

export interface PolygonOptions {
  /** Greatest distance in pixels a simplified edge may stray from the exact outline; 0 keeps it exact. Default 1. */
  tolerance?: number;
}

type Ring = Array<[number, number]>;

/**
 * Simplification may change a ring's area by this fraction for each pixel of tolerance, and
 * no more. Ramer-Douglas-Peucker keeps every edge within the tolerance but flattens
 * anything thinner than about twice it: at tolerance 1 a 1-pixel line or a small speck
 * would become a polygon of no area. Tied to the tolerance, the limit still lets a larger
 * tolerance give a coarser outline of a large round object, whose chords cut off more.
 */
const AREA_SLACK_PER_PIXEL = 0.01;
/** Halving stops here: below an eighth of a pixel, simplification removes next to nothing. */
const MIN_TOLERANCE = 1 / 8;

/** The tolerance, default 1, or an error naming it: checked before any work, wherever it runs. */
export function checkTolerance(value: number | undefined): number {
  const tolerance = value ?? 1;
  if (typeof tolerance !== 'number' || !Number.isFinite(tolerance) || tolerance < 0) {
    throw new Sam2InputError('tolerance', `must be a number of pixels, 0 or more, got ${String(tolerance)}`, 'Use 0 for the exact pixel outline, or e.g. 1 to allow edges within 1 pixel of it');
  }
  return tolerance;
}

export async function maskToPolygons(mask: Uint8Array, width: number, height: number, options: PolygonOptions = {}): Promise<MaskPolygon[]> {
  checkMaskSize(mask, width, height);
  const tolerance = checkTolerance(options.tolerance);
  const { area, bbox } = maskStats(mask, width, height);
  if (!area) return [];
  // Tracing only the box around the object: outside it everything is background anyway.
  const [x1, y1, x2, y2] = bbox;
  const w = x2 - x1;
  const h = y2 - y1;
  const crop = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) crop.set(mask.subarray((y1 + y) * width + x1, (y1 + y) * width + x2), y * w);
  const { contours } = await import('d3-contour');
  // d3-contour reads `values[i]` only, so the bytes need not become a number[].
  const [traced] = contours().size([w, h]).smooth(false).thresholds([0.5])(crop as unknown as number[]);
  const polygons = traced.coordinates.map(([outer, ...holes]) => {
    const rings = [outer, ...holes].map((ring) => simplifyRing(onPixelEdges(ring, x1, y1), tolerance));
    return { outer: rings[0], holes: rings.slice(1), area: rings.reduce((sum, ring) => sum + signedArea(ring), 0) };
  });
  return polygons.sort((a, b) => b.area - a.area);
}

/**
 * The pixel corners a d3-contour ring cuts, moved by the crop's offset, reversed to our
 * orientation, and started at its top-left-most corner: simplification always keeps a
 * ring's first point, and an extreme corner is one it would keep anyway.
 */
function onPixelEdges(ring: number[][], dx: number, dy: number): Ring {
  const corners: Ring = [];
  for (let i = ring.length - 1; i > 0; i--) {
    const [ax, ay] = ring[i];
    const [bx, by] = ring[i - 1];
    const aOnVertical = Number.isInteger(ax);
    if (aOnVertical !== Number.isInteger(bx)) corners.push(aOnVertical ? [ax + dx, by + dy] : [bx + dx, ay + dy]);
  }
  let first = 0;
  for (let i = 1; i < corners.length; i++) {
    const [x, y] = corners[i];
    if (y < corners[first][1] || (y === corners[first][1] && x < corners[first][0])) first = i;
  }
  return corners.slice(first).concat(corners.slice(0, first));
}

/**
 * Ramer-Douglas-Peucker (simplify-js in its high-quality mode) on the closed ring; where
 * that would change the ring's area by more than the tolerance allows, the tolerance is
 * halved, and a ring no tolerance down to MIN_TOLERANCE can simplify stays exact.
 */
function simplifyRing(ring: Ring, tolerance: number): Ring {
  if (tolerance === 0) return ring;
  const exact = signedArea(ring);
  const slack = AREA_SLACK_PER_PIXEL * tolerance * Math.abs(exact);
  const points = ring.map(([x, y]) => ({ x, y }));
  points.push(points[0]);
  let t = tolerance;
  do {
    const kept = simplify(points, t, true);
    kept.pop();
    const simplified: Ring = kept.map((p) => [p.x, p.y]);
    if (simplified.length >= 3 && Math.abs(signedArea(simplified) - exact) <= slack) return simplified;
    t /= 2;
  } while (t >= MIN_TOLERANCE);
  return ring;
}

/** Shoelace area, positive for our outer rings and negative for holes. */
function signedArea(ring: Ring): number {
  let sum = 0;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) sum += ring[j][0] * ring[i][1] - ring[i][0] * ring[j][1];
  return sum / 2;
}
