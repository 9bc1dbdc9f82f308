/**
 * A 1080p mask to each output form, ours against the obvious way in the same run: sharp's
 * default PNG of the mask expanded to RGB 0/255, an RLE encoder ported line for line from
 * pycocotools' C, polygons without simplification, and an overlay that composites a
 * full-size RGBA layer with sharp. The mask is a wobbly blob with a hole, the shape and
 * size of a large object in a photo; the overlay's image is a rendered 1080p scene.
 * Times are the median of the timed runs, after warm-up ones.
 */
import { deepStrictEqual } from 'node:assert';
import sharp from 'sharp';
import { maskToPng } from '../lib/mask-png';
import { renderCutout, renderOverlay } from '../lib/overlay';
import { maskToPolygons, type MaskPolygon } from '../lib/polygons';
import { maskToRle } from '../lib/rle';
import { makeScene } from '../test/fixtures/scenes';
import type { Report } from './run';

const WIDTH = 1920;
const HEIGHT = 1080;
const round = (x: number, digits = 2): number => Number(x.toFixed(digits));

/** About a quarter of the frame: a lobed outline with fine wiggles, and an off-centre hole. */
function blob(): Uint8Array {
  const mask = new Uint8Array(WIDTH * HEIGHT);
  for (let y = 0; y < HEIGHT; y++) {
    for (let x = 0; x < WIDTH; x++) {
      const dx = (x + 0.5 - 900) / 500;
      const dy = (y + 0.5 - 560) / 350;
      const a = Math.atan2(dy, dx);
      const r = Math.hypot(dx, dy);
      const hole = Math.hypot(x + 0.5 - 1050, y + 0.5 - 480) < 60;
      if (r < 1 + 0.15 * Math.sin(5 * a) + 0.05 * Math.sin(17 * a + 1) + 0.01 * Math.sin(61 * a) && !hole) mask[y * WIDTH + x] = 1;
    }
  }
  return mask;
}

async function median(runs: number, warmup: number, op: () => unknown): Promise<number> {
  for (let i = 0; i < warmup; i++) await op();
  (globalThis as { gc?: () => void }).gc?.();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    await op();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(runs / 2)];
}

/** What most code does first: a mask as an ordinary RGB picture, saved with sharp's defaults. */
function baselinePng(mask: Uint8Array): Promise<Buffer> {
  const rgb = Buffer.alloc(mask.length * 3);
  for (let i = 0; i < mask.length; i++) if (mask[i]) rgb.fill(255, i * 3, i * 3 + 3);
  return sharp(rgb, { raw: { width: WIDTH, height: HEIGHT, channels: 3 } }).png().toBuffer();
}

/** pycocotools' rleEncode and rleToString as a direct port: column by column, a string grown a character at a time. */
function baselineRle(mask: Uint8Array): string {
  const counts: number[] = [];
  let previous = 0;
  let run = 0;
  for (let x = 0; x < WIDTH; x++) {
    for (let y = 0; y < HEIGHT; y++) {
      const v = mask[y * WIDTH + x];
      if (v !== previous) {
        counts.push(run);
        run = 0;
        previous = v;
      }
      run++;
    }
  }
  counts.push(run);
  let s = '';
  for (let i = 0; i < counts.length; i++) {
    let x = i > 2 ? counts[i] - counts[i - 2] : counts[i];
    let more = true;
    while (more) {
      let c = x & 0x1f;
      x >>= 5;
      more = c & 0x10 ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      s += String.fromCharCode(c + 48);
    }
  }
  return s;
}

/** The tint as a full-size RGBA layer over the image, composited by libvips. */
function baselineOverlay(image: Buffer, mask: Uint8Array): Promise<Buffer> {
  const layer = Buffer.alloc(mask.length * 4);
  for (let i = 0; i < mask.length; i++) {
    if (!mask[i]) continue;
    layer[i * 4] = 0xff;
    layer[i * 4 + 1] = 0x3b;
    layer[i * 4 + 2] = 0x30;
    layer[i * 4 + 3] = 128;
  }
  return sharp(image).composite([{ input: layer, raw: { width: WIDTH, height: HEIGHT, channels: 4 } }]).jpeg().toBuffer();
}

const points = (polygons: MaskPolygon[]): number => polygons.reduce((n, p) => n + p.outer.length + p.holes.reduce((m, h) => m + h.length, 0), 0);

export async function run(report: Report): Promise<void> {
  const mask = blob();
  const area = mask.reduce((n, v) => n + v, 0);
  const label = `${WIDTH}x${HEIGHT} blob, ${Math.round((100 * area) / mask.length)}% of the frame`;

  // Figures for wrong answers are worthless: check each pair agrees first.
  const png = await maskToPng(mask, WIDTH, HEIGHT);
  const grey = await sharp(png).extractChannel(0).raw().toBuffer();
  deepStrictEqual(Uint8Array.from(grey, (v) => (v ? 1 : 0)), mask);
  const basePng = await baselinePng(mask);
  const pngMs = await median(15, 3, () => maskToPng(mask, WIDTH, HEIGHT));
  const basePngMs = await median(15, 3, () => baselinePng(mask));
  report({
    name: `encode png ${label}`,
    ratio: round(pngMs / basePngMs),
    oursMs: round(pngMs),
    baselineMs: round(basePngMs),
    oursBytes: png.length,
    baselineBytes: basePng.length,
    ours: '8-bit grey, libvips threshold, zlib 3, no filter',
    baseline: 'RGB 0/255 from a JS loop, sharp defaults',
  });

  const rle = maskToRle(mask, WIDTH, HEIGHT);
  deepStrictEqual(rle.counts, baselineRle(mask));
  const rleMs = await median(31, 5, () => maskToRle(mask, WIDTH, HEIGHT));
  const baseRleMs = await median(31, 5, () => baselineRle(mask));
  report({
    name: `encode rle ${label}`,
    ratio: round(rleMs / baseRleMs),
    oursMs: round(rleMs),
    baselineMs: round(baseRleMs),
    bytes: rle.counts.length,
    ours: 'row-order scan, 4 pixels a compare',
    baseline: 'column-order scan, string concatenation',
  });

  const simplified = await maskToPolygons(mask, WIDTH, HEIGHT, { tolerance: 1 });
  const exact = await maskToPolygons(mask, WIDTH, HEIGHT, { tolerance: 0 });
  const polyMs = await median(11, 2, () => maskToPolygons(mask, WIDTH, HEIGHT, { tolerance: 1 }));
  const exactMs = await median(11, 2, () => maskToPolygons(mask, WIDTH, HEIGHT, { tolerance: 0 }));
  const sum = (ps: MaskPolygon[]): number => ps.reduce((s, p) => s + p.area, 0);
  report({
    name: `encode polygons ${label}`,
    ratio: round(polyMs / exactMs),
    oursMs: round(polyMs),
    baselineMs: round(exactMs),
    oursPoints: points(simplified),
    baselinePoints: points(exact),
    oursJsonBytes: JSON.stringify(simplified).length,
    baselineJsonBytes: JSON.stringify(exact).length,
    oursAreaError: round((sum(simplified) - area) / area, 5),
    baselineAreaError: round((sum(exact) - area) / area, 5),
    ours: 'tolerance 1',
    baseline: 'tolerance 0 (exact pixel outline)',
  });

  const scene = await makeScene('studio', WIDTH, HEIGHT);
  const plain = { outline: 0, opacity: 0.5 };
  const overlay = await renderOverlay(scene.jpeg, mask, WIDTH, HEIGHT, plain);
  const baseOverlay = await baselineOverlay(scene.jpeg, mask);
  const overlayMs = await median(11, 2, () => renderOverlay(scene.jpeg, mask, WIDTH, HEIGHT, plain));
  const baseOverlayMs = await median(11, 2, () => baselineOverlay(scene.jpeg, mask));
  const outlinedMs = await median(11, 2, () => renderOverlay(scene.jpeg, mask, WIDTH, HEIGHT));
  const overlayPngMs = await median(5, 1, () => renderOverlay(scene.jpeg, mask, WIDTH, HEIGHT, { format: 'png' }));
  report({
    name: `overlay jpeg ${label}`,
    ratio: round(overlayMs / baseOverlayMs),
    oursMs: round(overlayMs),
    baselineMs: round(baseOverlayMs),
    oursBytes: overlay.length,
    baselineBytes: baseOverlay.length,
    oursWithOutline2Ms: round(outlinedMs),
    oursPngWithOutline2Ms: round(overlayPngMs),
    ours: 'decode, blend the mask box in JS, encode; no outline, as the baseline',
    baseline: 'full-size RGBA layer composited by sharp',
  });

  const cutout = await renderCutout(scene.jpeg, mask, WIDTH, HEIGHT);
  const cutoutMs = await median(11, 2, () => renderCutout(scene.jpeg, mask, WIDTH, HEIGHT));
  report({ name: `cutout png ${label}`, oursMs: round(cutoutMs), oursBytes: cutout.length });
}
