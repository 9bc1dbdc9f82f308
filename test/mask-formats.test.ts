import assert from 'node:assert/strict';
import sharp from 'sharp';
import { Sam2InputError } from '../lib/errors';
import { formatMask, type FormatOptions } from '../lib/mask-formats';
import { maskToPng } from '../lib/mask-png';
import { rleToMask } from '../lib/rle';
import { makeScene } from './fixtures/scenes';

function maskOf(width: number, height: number, inside: (x: number, y: number) => boolean): Uint8Array {
  const mask = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) if (inside(x, y)) mask[y * width + x] = 1;
  return mask;
}

describe('mask PNG', () => {
  it('is an 8-bit, one-channel PNG at the mask size, 255 on the mask and 0 off it', async () => {
    const width = 37;
    const height = 23;
    const mask = maskOf(width, height, (x, y) => (x * 7 + y * 3) % 5 < 2 || Math.hypot(x - 18, y - 11) < 6);
    const png = await maskToPng(mask, width, height);
    const meta = await sharp(png).metadata();
    assert.equal(meta.format, 'png');
    assert.equal(meta.channels, 1);
    assert.equal(meta.depth, 'uchar');
    const { data, info } = await sharp(png).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height], [width, height]);
    for (let i = 0; i < mask.length; i++) assert.equal(data[i], mask[i] ? 255 : 0, `pixel ${i}`);
  });

  it('is small for a 1080p blob: runs of one value deflate to almost nothing', async () => {
    const mask = maskOf(1920, 1080, (x, y) => Math.hypot((x - 900) / 500, (y - 540) / 350) < 1);
    const png = await maskToPng(mask, 1920, 1080);
    assert.ok(png.length < 20_000, `${png.length} bytes`);
  });

  it('rejects a mask whose length does not match its size', async () => {
    assert.throws(() => maskToPng(new Uint8Array(5), 2, 2), /mask has 5 values but 2x2 needs 4/);
  });
});

describe('formatMask', () => {
  const W = 40;
  const H = 30;
  // Columns 5..24, rows 3..12.
  const MASK = maskOf(W, H, (x, y) => x >= 5 && x < 25 && y >= 3 && y < 13);
  const STATS = { score: 0.875, area: 200, bbox: [5, 3, 25, 13], centroid: [15, 8] };
  const image = (): Promise<Buffer> => sharp({ create: { width: W, height: H, channels: 3, background: '#336699' } }).png().toBuffer();

  it('every format carries score, area, box and centroid, and only its own field', async () => {
    const fields = { png: 'png', raw: 'raw', rle: 'rle', polygons: 'polygons' } as const;
    for (const format of Object.keys(fields) as Array<keyof typeof fields>) {
      const out = await formatMask(MASK, W, H, 0.875, { format });
      assert.deepEqual(Object.keys(out).sort(), [...Object.keys(STATS), format].sort(), format);
      assert.deepEqual({ ...out, [format]: undefined }, { ...STATS, [format]: undefined }, format);
    }
  });

  it('png, raw, rle and polygons each describe the same pixels', async () => {
    const png = (await formatMask(MASK, W, H, 1, { format: 'png' })).png as Buffer;
    const grey = await sharp(png).extractChannel(0).raw().toBuffer();
    assert.deepEqual(Uint8Array.from(grey, (v) => (v ? 1 : 0)), MASK);
    assert.deepEqual((await formatMask(MASK, W, H, 1, { format: 'raw' })).raw, { data: MASK, width: W, height: H });
    const rle = (await formatMask(MASK, W, H, 1, { format: 'rle' })).rle;
    assert.ok(rle);
    assert.deepEqual(rle.size, [H, W]);
    assert.deepEqual(rleToMask(rle), MASK);
    const polygons = (await formatMask(MASK, W, H, 1, { format: 'polygons', tolerance: 0 })).polygons;
    assert.deepEqual(polygons, [{ outer: [[5, 3], [25, 3], [25, 13], [5, 13]], holes: [], area: 200 }]);
  });

  it('adds an overlay and a cut-out when asked, from the image', async () => {
    const out = await formatMask(MASK, W, H, 1, { format: 'rle', overlay: { format: 'png' }, cutout: true, image: await image() });
    assert.ok(out.rle);
    const overlay = await sharp(out.overlay).metadata();
    assert.deepEqual([overlay.format, overlay.width, overlay.height], ['png', W, H]);
    const cutout = await sharp(out.cutout).metadata();
    assert.deepEqual([cutout.format, cutout.width, cutout.height, cutout.channels], ['png', 20, 10, 4]);
  });

  it('an empty mask: stats say so, no cut-out rather than an error, since other masks of the answer may have one', async () => {
    const out = await formatMask(new Uint8Array(W * H), W, H, 0.1, { format: 'rle', cutout: true, overlay: {}, image: await image() });
    assert.deepEqual([out.area, out.bbox, out.centroid, out.cutout], [0, [0, 0, 0, 0], null, undefined]);
    assert.ok(out.overlay);
    assert.deepEqual(out.rle, { size: [H, W], counts: '`U1' });
  });

  it('overlay or cut-out without the image is an error naming the option', async () => {
    for (const [options, field] of [
      [{ format: 'png', overlay: {} }, 'overlay'],
      [{ format: 'png', cutout: true }, 'cutout'],
    ] as Array<[FormatOptions, string]>) {
      await assert.rejects(formatMask(MASK, W, H, 1, options), (err: unknown) => err instanceof Sam2InputError && err.field === field && /needs the image/.test(err.message));
    }
  });

  it('an unknown format, a bad tolerance for polygons or a bad overlay option is an error naming it', async () => {
    await assert.rejects(formatMask(MASK, W, H, 1, { format: 'svg' as 'png' }), /format: is "svg". Use one of png, raw, rle, polygons/);
    await assert.rejects(formatMask(MASK, W, H, 1, { format: 'polygons', tolerance: -2 }), /tolerance: must be a number of pixels, 0 or more, got -2/);
    await assert.rejects(formatMask(MASK, W, H, 1, { format: 'png', overlay: { color: '#12345g' }, image: await image() }), /overlayColor/);
  });

  it('a mask of the wrong size is an error before any encoding', async () => {
    await assert.rejects(formatMask(MASK, W + 1, H, 1, { format: 'png' }), /mask has 1200 values but 41x30 needs 1230/);
  });

  it('every object of a real scene, in every format, at 1080p', async () => {
    const scene = await makeScene('garden', 1920, 1080);
    for (const object of scene.objects) {
      for (const format of ['png', 'raw', 'rle', 'polygons'] as const) {
        const out = await formatMask(object.mask, scene.width, scene.height, 0.9, { format });
        assert.deepEqual(out.bbox, object.box, `${object.name} ${format}`);
      }
    }
  });
});
