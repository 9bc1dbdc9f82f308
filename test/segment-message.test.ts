/**
 * The node's output settings as they reach the encoders: what the dialog saves is what the
 * next node gets.
 */
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { Sam2InputError } from '../lib/errors';
import { buildOutput, compileSettings, type SegmentSettings } from '../nodes/segment-message';
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
