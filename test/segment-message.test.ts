/**
 * The node's output settings as they reach the encoders: what the dialog saves is what the
 * next node gets.
 */
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { Sam2InputError } from '../lib/errors';
import { annotationsOf, buildOutput, compileSettings, planMessage, summaryOf, type SegmentSettings } from '../nodes/segment-message';
import type { SegmentResult } from '../lib/types';

const W = 40;
const H = 30;
/** A 20x10 rectangle at (10, 10). */
const RECT = { x1: 10, y1: 10, x2: 30, y2: 20 };

function result(): SegmentResult {
  const mask = new Uint8Array(W * H);
  for (let y = RECT.y1; y < RECT.y2; y++) mask.fill(1, y * W + RECT.x1, y * W + RECT.x2);
  return { width: W, height: H, masks: [{ mask, score: 0.9, area: 200, bbox: [RECT.x1, RECT.y1, RECT.x2, RECT.y2], centroid: [(RECT.x1 + RECT.x2) / 2, (RECT.y1 + RECT.y2) / 2] }] };
}

describe('output settings from the node dialog', () => {
  let grey: Buffer;
  before(async () => {
    grey = await sharp({ create: { width: W, height: H, channels: 3, background: { r: 128, g: 128, b: 128 } } }).png().toBuffer();
  });

  async function overlayPixels(settings: SegmentSettings): Promise<Buffer> {
    const output = await buildOutput(result(), compileSettings({ overlay: true, overlayFormat: 'png', overlayColor: '#00ff00', ...settings }), { format: 'png', select: 'best' }, async () => grey);
    return sharp(output.overlay!).raw().toBuffer();
  }

  /** Pixels that are not the grey background, as `x,y`. */
  function coloured(pixels: Buffer): string[] {
    const out: string[] = [];
    for (let i = 0; i < W * H; i++) if (pixels[i * 3 + 1] !== 128) out.push(`${i % W},${Math.floor(i / W)}`);
    return out;
  }

  it('draws an outline of the width set, as strings or numbers, inside the mask\'s edge', async () => {
    const pixels = await overlayPixels({ overlayOpacity: 0, overlayOutline: '3' });
    const drawn = coloured(pixels);
    // A 20x10 rectangle less its 14x4 inside: 200 - 56 pixels on the 3-pixel rim.
    assert.equal(drawn.length, 200 - 14 * 4);
    assert.ok(drawn.includes('10,10') && drawn.includes('12,12') && !drawn.includes('13,13'));
    assert.deepEqual(coloured(await overlayPixels({ overlayOpacity: 0, overlayOutline: 1 })).length, 200 - 18 * 8);
  });

  it('draws no outline at 0, and the default 2 when the field is left empty', async () => {
    assert.deepEqual(coloured(await overlayPixels({ overlayOpacity: 0, overlayOutline: 0 })), []);
    assert.equal(coloured(await overlayPixels({ overlayOpacity: 0, overlayOutline: '' })).length, 200 - 16 * 6);
  });

  it('refuses an outline that is not a whole number of pixels, naming the setting', async () => {
    await assert.rejects(overlayPixels({ overlayOutline: '-1' }), (err: Error) => err instanceof Sam2InputError && /overlayOutline/.test(err.message));
    await assert.rejects(overlayPixels({ overlayOutline: 'thick' }), (err: Error) => err instanceof Sam2InputError && /overlayOutline/.test(err.message));
  });
});

describe('annotations and summary for the next node', () => {
  function rect(x1: number, y1: number, x2: number, y2: number, score: number): SegmentResult['masks'][number] {
    const mask = new Uint8Array(W * H);
    for (let y = y1; y < y2; y++) mask.fill(1, y * W + x1, y * W + x2);
    const area = (x2 - x1) * (y2 - y1);
    return { mask, score, area, bbox: area ? [x1, y1, x2, y2] : [0, 0, 0, 0], centroid: area ? [(x1 + x2) / 2, (y1 + y2) / 2] : null };
  }

  async function answer(objects: Array<Array<SegmentResult['masks'][number]>>) {
    const compiled = compileSettings({ select: 'all' });
    const several = objects.length > 1;
    const plan = planMessage(compiled, several ? { objects: objects.map(() => ({ box: [0, 0, 10, 10] })) } : { box: [0, 0, 10, 10] });
    const results: SegmentResult[] = objects.map((masks) => ({ width: W, height: H, masks }));
    const outputs = await Promise.all(results.map((r) => buildOutput(r, compiled, plan.choice, async () => Buffer.alloc(0))));
    return { plan, results, outputs, timeMs: 42 };
  }

  it('an empty mask gets no box, and objects that overlap cover their union, once', async () => {
    const single = await answer([[rect(0, 0, 10, 10, 0.9), rect(0, 0, 0, 0, 0.2)]]);
    assert.deepEqual(annotationsOf(single), [{ type: 'rect', bbox: [0, 0, 10, 10], label: 'mask 1 0.90', score: 0.9 }]);
    assert.deepEqual(summaryOf(single), { objects: 1, found: 1, masks: 2, bestScore: 0.9, areaShare: round(100 / (W * H)), width: W, height: H, timeMs: 42 });

    // Two objects of 100 pixels overlapping by 50, and a third found empty.
    const several = await answer([[rect(0, 0, 10, 10, 0.7)], [rect(5, 0, 15, 10, 0.8)], [rect(0, 0, 0, 0, 0.1)]]);
    assert.deepEqual(
      annotationsOf(several).map((a) => [a.label, a.bbox]),
      [['object 1 0.70', [0, 0, 10, 10]], ['object 2 0.80', [5, 0, 10, 10]]],
    );
    const summary = summaryOf(several);
    assert.deepEqual([summary.objects, summary.found, summary.masks, summary.bestScore, summary.areaShare], [3, 2, 3, 0.8, round(150 / (W * H))]);
  });
});

function round(n: number): number {
  return Math.round(n * 10_000) / 10_000;
}
