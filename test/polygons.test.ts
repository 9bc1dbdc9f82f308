import assert from 'node:assert/strict';
import { Sam2InputError } from '../lib/errors';
import { maskToPolygons, type MaskPolygon } from '../lib/polygons';
import { makeScene } from './fixtures/scenes';

type Ring = Array<[number, number]>;

/** A mask from a test on each pixel's centre. */
function maskOf(width: number, height: number, inside: (x: number, y: number) => boolean): Uint8Array {
  const mask = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) if (inside(x + 0.5, y + 0.5)) mask[y * width + x] = 1;
  return mask;
}

/** Shoelace, on the coordinates as they are. */
function signedArea(ring: Ring): number {
  let sum = 0;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) sum += ring[j][0] * ring[i][1] - ring[i][0] * ring[j][1];
  return sum / 2;
}

/** Even-odd point-in-polygon over a polygon's rings, holes included. */
function inside(polygon: MaskPolygon, x: number, y: number): boolean {
  let odd = false;
  for (const ring of [polygon.outer, ...polygon.holes]) {
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const [xi, yi] = ring[i];
      const [xj, yj] = ring[j];
      if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) odd = !odd;
    }
  }
  return odd;
}

const count = (mask: Uint8Array): number => mask.reduce((n, v) => n + v, 0);
const total = (polygons: MaskPolygon[]): number => polygons.reduce((sum, p) => sum + p.area, 0);

/** What every result must satisfy, whatever the shape. */
function checkWellFormed(polygons: MaskPolygon[], width: number, height: number): void {
  for (const p of polygons) {
    for (const ring of [p.outer, ...p.holes]) {
      assert.ok(ring.length >= 3, `a ring of ${ring.length} points`);
      for (const [x, y] of ring) assert.ok(x >= 0 && x <= width && y >= 0 && y <= height, `(${x}, ${y}) outside ${width}x${height}`);
      assert.notDeepEqual(ring[0], ring[ring.length - 1], 'rings are open');
    }
    assert.ok(signedArea(p.outer) > 0, 'outer rings have positive shoelace area');
    for (const hole of p.holes) assert.ok(signedArea(hole) < 0, 'holes have negative shoelace area');
    const area = signedArea(p.outer) + p.holes.reduce((s, h) => s + signedArea(h), 0);
    assert.ok(Math.abs(area - p.area) < 1e-9, `area ${p.area} is what the rings enclose, ${area}`);
  }
  for (let i = 1; i < polygons.length; i++) assert.ok(polygons[i - 1].area >= polygons[i].area, 'largest first');
}

interface Shape {
  name: string;
  width: number;
  height: number;
  mask: Uint8Array;
  regions: number;
  holes: number[];
}

const SHAPES: Shape[] = [
  { name: 'disc', width: 200, height: 160, mask: maskOf(200, 160, (x, y) => Math.hypot(x - 90, y - 80) < 60), regions: 1, holes: [0] },
  {
    name: 'ring with a hole',
    width: 200,
    height: 200,
    mask: maskOf(200, 200, (x, y) => {
      const r = Math.hypot(x - 100, y - 95);
      return r < 80 && r >= 42;
    }),
    regions: 1,
    holes: [1],
  },
  { name: 'L shape', width: 120, height: 100, mask: maskOf(120, 100, (x, y) => (x > 10 && x < 40 && y > 5 && y < 90) || (x > 10 && x < 100 && y > 60 && y < 90)), regions: 1, holes: [0] },
  {
    name: 'two separate blobs, the bigger first',
    width: 240,
    height: 120,
    mask: maskOf(240, 120, (x, y) => Math.hypot(x - 180, y - 60) < 45 || Math.hypot((x - 50) / 35, (y - 60) / 25) < 1),
    regions: 2,
    holes: [0, 0],
  },
  { name: '1-pixel-wide horizontal line', width: 300, height: 20, mask: maskOf(300, 20, (x, y) => y > 10 && y < 11 && x > 20 && x < 280), regions: 1, holes: [0] },
  { name: '1-pixel-wide vertical line', width: 20, height: 300, mask: maskOf(20, 300, (x, y) => x > 4 && x < 5 && y > 3 && y < 297), regions: 1, holes: [0] },
  {
    // A 4-connected staircase, one pixel wide: every pixel shares a side with the next.
    name: '1-pixel-wide diagonal staircase',
    width: 120,
    height: 120,
    mask: maskOf(120, 120, (x, y) => Math.floor(x) - Math.floor(y) === 0 || Math.floor(x) - Math.floor(y) === 1),
    regions: 1,
    holes: [0],
  },
];

describe('mask polygons', () => {
  for (const shape of SHAPES) {
    it(`${shape.name}: area within 2% of the mask's at tolerance 1, exact at 0, the right regions and holes`, async () => {
      const { mask, width, height } = shape;
      const area = count(mask);
      const simplified = await maskToPolygons(mask, width, height);
      checkWellFormed(simplified, width, height);
      assert.equal(simplified.length, shape.regions);
      assert.deepEqual(simplified.map((p) => p.holes.length), shape.holes);
      assert.ok(Math.abs(total(simplified) - area) <= 0.02 * area, `polygon area ${total(simplified)} against mask area ${area}`);

      const exact = await maskToPolygons(mask, width, height, { tolerance: 0 });
      checkWellFormed(exact, width, height);
      assert.equal(total(exact), area);
      const points = (ps: MaskPolygon[]): number => ps.reduce((n, p) => n + p.outer.length + p.holes.reduce((m, h) => m + h.length, 0), 0);
      assert.ok(points(simplified) <= points(exact));
    });
  }

  it('at tolerance 0 each pixel centre is inside the polygons exactly when it is on the mask', async () => {
    const width = 40;
    const height = 30;
    const mask = maskOf(width, height, (x, y) => {
      const r = Math.hypot(x - 20, y - 15);
      return (r < 12 && r > 5) || (x > 30 && y > 20) || (Math.floor(x) === 2 && Math.floor(y) === 2);
    });
    const polygons = await maskToPolygons(mask, width, height, { tolerance: 0 });
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const hit = polygons.filter((p) => inside(p, x + 0.5, y + 0.5)).length;
        assert.equal(hit, mask[y * width + x], `pixel (${x}, ${y})`);
      }
    }
  });

  it('one pixel is its own unit square, clockwise on screen from its top-left corner', async () => {
    const mask = new Uint8Array(5 * 4);
    mask[2 * 5 + 3] = 1;
    assert.deepEqual(await maskToPolygons(mask, 5, 4, { tolerance: 0 }), [{ outer: [[3, 2], [4, 2], [4, 3], [3, 3]], holes: [], area: 1 }]);
    // Simplification never loses it: at tolerance 1 its diagonal would leave no area.
    assert.deepEqual(await maskToPolygons(mask, 5, 4), [{ outer: [[3, 2], [4, 2], [4, 3], [3, 3]], holes: [], area: 1 }]);
  });

  it('a 3x3 square with its centre missing: the hole is the centre pixel, anticlockwise', async () => {
    const mask = Uint8Array.from([1, 1, 1, 1, 0, 1, 1, 1, 1]);
    assert.deepEqual(await maskToPolygons(mask, 3, 3, { tolerance: 0 }), [
      { outer: [[0, 0], [3, 0], [3, 3], [0, 3]], holes: [[[1, 1], [1, 2], [2, 2], [2, 1]]], area: 8 },
    ]);
  });

  it('an island inside a hole inside a region: each hole goes with the ring around it', async () => {
    // Square rings by Chebyshev distance from the centre: a wall at 5..6 around a gap at 4,
    // an island wall at 1..3 around a one-pixel hole at 0.
    const mask = maskOf(13, 13, (x, y) => {
      const d = Math.max(Math.abs(Math.floor(x) - 6), Math.abs(Math.floor(y) - 6));
      return d >= 5 || (d >= 1 && d <= 3);
    });
    const polygons = await maskToPolygons(mask, 13, 13, { tolerance: 0 });
    assert.deepEqual(
      polygons.map((p) => ({ outer: Math.abs(signedArea(p.outer)), holes: p.holes.map((h) => Math.abs(signedArea(h))) })),
      [
        { outer: 13 * 13, holes: [9 * 9] },
        { outer: 7 * 7, holes: [1] },
      ],
    );
  });

  it('pixels that touch only at a corner are separate regions', async () => {
    const polygons = await maskToPolygons(Uint8Array.from([1, 0, 0, 1]), 2, 2, { tolerance: 0 });
    assert.deepEqual(polygons.map((p) => p.area), [1, 1]);
  });

  it('objects in a real scene: area within 2%, the ring keeps its hole, far fewer points on curves', async () => {
    const scene = await makeScene('studio', 960, 540);
    for (const object of scene.objects) {
      const area = count(object.mask);
      const polygons = await maskToPolygons(object.mask, scene.width, scene.height);
      checkWellFormed(polygons, scene.width, scene.height);
      assert.ok(Math.abs(total(polygons) - area) <= 0.02 * area, `${object.name}: ${total(polygons)} against ${area}`);
      assert.equal(polygons[0].holes.length, object.name === 'ring' ? 1 : 0, object.name);
      const exact = await maskToPolygons(object.mask, scene.width, scene.height, { tolerance: 0 });
      const [simple, full] = [polygons[0].outer.length, exact[0].outer.length];
      // The tile is an axis-aligned rectangle: its 4 corners are already the fewest.
      if (object.name === 'tile') assert.equal(simple, 4);
      else assert.ok(simple * 3 < full, `${object.name}: ${simple} points against ${full}`);
    }
  });

  it('a larger tolerance gives fewer points', async () => {
    const mask = maskOf(300, 300, (x, y) => Math.hypot(x - 150, y - 150) < 120);
    const lengths = await Promise.all([0.5, 1, 2, 4].map(async (tolerance) => (await maskToPolygons(mask, 300, 300, { tolerance }))[0].outer.length));
    for (let i = 1; i < lengths.length; i++) assert.ok(lengths[i] < lengths[i - 1], `${lengths}`);
  });

  it('an empty mask has no polygons', async () => {
    assert.deepEqual(await maskToPolygons(new Uint8Array(30), 6, 5), []);
  });

  it('a negative or non-numeric tolerance is an error naming the option', async () => {
    for (const tolerance of [-1, Number.NaN, Infinity]) {
      await assert.rejects(
        maskToPolygons(new Uint8Array(4), 2, 2, { tolerance }),
        (err: unknown) => err instanceof Sam2InputError && err.field === 'tolerance' && /0 or more/.test(err.message),
      );
    }
  });
});
