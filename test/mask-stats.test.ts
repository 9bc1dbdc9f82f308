import assert from 'node:assert/strict';
import { maskStats } from '../lib/mask-stats';

function maskOf(width: number, height: number, inside: (x: number, y: number) => boolean): Uint8Array {
  const mask = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) if (inside(x, y)) mask[y * width + x] = 1;
  return mask;
}

describe('mask stats', () => {
  it('a rectangle: area, box one past its last pixel, centroid at its middle', () => {
    // Columns 3..7, rows 2..4.
    const mask = maskOf(10, 8, (x, y) => x >= 3 && x <= 7 && y >= 2 && y <= 4);
    assert.deepEqual(maskStats(mask, 10, 8), { area: 15, bbox: [3, 2, 8, 5], centroid: [5.5, 3.5] });
  });

  it('one pixel: its square, and its centre', () => {
    const mask = maskOf(4, 4, (x, y) => x === 0 && y === 3);
    assert.deepEqual(maskStats(mask, 4, 4), { area: 1, bbox: [0, 3, 1, 4], centroid: [0.5, 3.5] });
  });

  it('an L shape: the centroid is the area-weighted mean of its two bars', () => {
    // A 2x6 upright bar at x 0..1, y 0..5, and a 4x2 foot at x 2..5, y 4..5.
    const mask = maskOf(8, 8, (x, y) => (x <= 1 && y <= 5) || (x <= 5 && y >= 4 && y <= 5));
    const stats = maskStats(mask, 8, 8);
    assert.equal(stats.area, 12 + 8);
    assert.deepEqual(stats.bbox, [0, 0, 6, 6]);
    const cx = (12 * 1 + 8 * 4) / 20;
    const cy = (12 * 3 + 8 * 5) / 20;
    assert.deepEqual(stats.centroid, [cx, cy]);
  });

  it('a disc: area near pi r^2, centroid at the centre, box around it', () => {
    const mask = maskOf(200, 150, (x, y) => Math.hypot(x + 0.5 - 80, y + 0.5 - 70) < 40);
    const { area, bbox, centroid } = maskStats(mask, 200, 150);
    assert.ok(Math.abs(area - Math.PI * 1600) < 0.01 * Math.PI * 1600, `area ${area}`);
    assert.deepEqual(bbox, [40, 30, 120, 110]);
    assert.ok(centroid && Math.abs(centroid[0] - 80) < 1e-9 && Math.abs(centroid[1] - 70) < 1e-9, `centroid ${centroid}`);
  });

  it('an empty mask: area 0, box [0, 0, 0, 0], no centroid', () => {
    assert.deepEqual(maskStats(new Uint8Array(12), 4, 3), { area: 0, bbox: [0, 0, 0, 0], centroid: null });
  });

  it('a mask of the wrong length, or a size that is not whole pixels, is an error that says so', () => {
    assert.throws(() => maskStats(new Uint8Array(11), 4, 3), /mask has 11 values but 4x3 needs 12: pass the width and height/);
    assert.throws(() => maskStats(new Uint8Array(12), 4.5, 3), /whole numbers of pixels/);
  });
});
