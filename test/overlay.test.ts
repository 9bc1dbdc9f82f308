import assert from 'node:assert/strict';
import sharp from 'sharp';
import { Sam2InputError } from '../lib/errors';
import { SEGMENT_DEFAULTS } from '../lib/defaults';
import { OUTLINE_DARK, OUTLINE_LIGHT, renderCutout, renderOverlay } from '../lib/overlay';
import { cutoutPixels, rgbOnWhite, tint } from '../lib/overlay-pixels';
import { maskStats } from '../lib/mask-stats';
import { FramePixels } from '../lib/raw-image';
import { makeScene } from './fixtures/scenes';

const W = 64;
const H = 48;

/** An RGB picture with every pixel different, so that a misplaced pixel shows. */
function picture(width: number, height: number): Buffer {
  const rgb = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * 3;
      rgb[p] = (x * 4) & 255;
      rgb[p + 1] = (y * 5) & 255;
      rgb[p + 2] = (x * 7 + y * 3) & 255;
    }
  }
  return rgb;
}

const RGB = picture(W, H);
const pngOf = (rgb: Buffer, width = W, height = H): Promise<Buffer> => sharp(rgb, { raw: { width, height, channels: 3 } }).png().toBuffer();

/** A disc, and a bar that runs off the left edge of the frame. */
function maskOf(inside: (x: number, y: number) => boolean, width = W, height = H): Uint8Array {
  const mask = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) if (inside(x, y)) mask[y * width + x] = 1;
  return mask;
}
const MASK = maskOf((x, y) => Math.hypot(x - 36, y - 24) < 15 || (x < 10 && y >= 5 && y < 12));

async function rawOf(image: Buffer): Promise<{ data: Buffer; width: number; height: number; channels: number }> {
  const { data, info } = await sharp(image).raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

/**
 * The outline as the option describes it, by brute force: mask pixels within `width - 1`
 * (on both axes) of a mask pixel that has a 4-neighbour inside the frame and off the mask.
 */
function outlinePixels(mask: Uint8Array, width: number): Set<number> {
  const on = (x: number, y: number): boolean => x >= 0 && y >= 0 && x < W && y < H && mask[y * W + x] === 1;
  const offInFrame = (x: number, y: number): boolean => x >= 0 && y >= 0 && x < W && y < H && !mask[y * W + x];
  const edges: Array<[number, number]> = [];
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      if (on(x, y) && (offInFrame(x - 1, y) || offInFrame(x + 1, y) || offInFrame(x, y - 1) || offInFrame(x, y + 1))) edges.push([x, y]);
    }
  }
  const line = new Set<number>();
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      if (on(x, y) && edges.some(([ex, ey]) => Math.max(Math.abs(ex - x), Math.abs(ey - y)) <= width - 1)) line.add(y * W + x);
    }
  }
  return line;
}

const COLOUR = [0xff, 0x3b, 0x30];
const DEFAULT_COLOUR = [1, 3, 5].map((i) => parseInt(SEGMENT_DEFAULTS.overlayColor.slice(i, i + 2), 16));

/** The outline's shade at a pixel: the outer half (rounded up) of a double line dark; a single line dark over light pixels. */
function shadeAt(i: number, outline: number, darkHalf: Set<number>): number[] {
  if (outline > 1) return [...(darkHalf.has(i) ? OUTLINE_DARK : OUTLINE_LIGHT)];
  const luma = RGB[i * 3] * 0.299 + RGB[i * 3 + 1] * 0.587 + RGB[i * 3 + 2] * 0.114;
  return [...(luma >= 128 ? OUTLINE_DARK : OUTLINE_LIGHT)];
}

/** WCAG contrast ratio of two sRGB colours, 1 (none) to 21 (black on white). */
function contrast(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const lum = (c: ArrayLike<number>) =>
    [0, 1, 2].reduce((sum, k) => {
      const v = c[k] / 255;
      return sum + [0.2126, 0.7152, 0.0722][k] * (v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    }, 0);
  const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

describe('overlay', () => {
  for (const outline of [0, 1, 2, 4]) {
    it(`PNG, outline ${outline}: off the mask unchanged, on it half way to the colour, the outline dark and light`, async () => {
      const out = await rawOf(await renderOverlay(await pngOf(RGB), MASK, W, H, { color: '#ff3b30', opacity: 0.5, outline, format: 'png' }));
      assert.deepEqual([out.width, out.height, out.channels], [W, H, 3]);
      const line = outlinePixels(MASK, outline);
      const darkHalf = outlinePixels(MASK, Math.ceil(outline / 2));
      if (outline > 0) assert.ok(line.size > 0);
      for (let i = 0; i < W * H; i++) {
        const got = [...out.data.subarray(i * 3, i * 3 + 3)];
        const was = [...RGB.subarray(i * 3, i * 3 + 3)];
        const where = `pixel (${i % W}, ${Math.floor(i / W)})`;
        if (!MASK[i]) assert.deepEqual(got, was, `${where} is off the mask`);
        else if (line.has(i)) assert.deepEqual(got, shadeAt(i, outline, darkHalf), `${where} is on the outline`);
        else for (let c = 0; c < 3; c++) assert.ok(Math.abs(got[c] - (was[c] + COLOUR[c]) / 2) <= 1, `${where} channel ${c}: ${got[c]} from ${was[c]}`);
      }
    });
  }

  it('the frame is not an edge: the bar running off the left side has no outline along it', async () => {
    const out = await rawOf(await renderOverlay(await pngOf(RGB), MASK, W, H, { opacity: 0, outline: 1, format: 'png' }));
    // Row 8, column 0: on the mask, its only neighbour off the mask would be outside the frame.
    const p = (8 * W + 0) * 3;
    assert.deepEqual([...out.data.subarray(p, p + 3)], [...RGB.subarray(p, p + 3)]);
    // Row 5, column 0: top row of the bar, its neighbour above is off the mask; a dark pixel, so a light line.
    const q = (5 * W + 0) * 3;
    assert.deepEqual([...out.data.subarray(q, q + 3)], [...OUTLINE_LIGHT]);
  });

  it('opacity 1 paints the mask the colour; opacity 0 with no outline changes nothing', async () => {
    const solid = await rawOf(await renderOverlay(await pngOf(RGB), MASK, W, H, { color: '#10a0f0', opacity: 1, outline: 0, format: 'png' }));
    for (let i = 0; i < W * H; i++) {
      const got = [...solid.data.subarray(i * 3, i * 3 + 3)];
      assert.deepEqual(got, MASK[i] ? [0x10, 0xa0, 0xf0] : [...RGB.subarray(i * 3, i * 3 + 3)]);
    }
    const none = await rawOf(await renderOverlay(await pngOf(RGB), MASK, W, H, { opacity: 0, outline: 0, format: 'png' }));
    assert.deepEqual(none.data, RGB);
  });

  it('a frame of a million pixels or more is drawn in slices that let the event loop run, pixel for pixel as at once', async () => {
    const [bw, bh] = [1280, 800];
    const big = picture(bw, bh);
    const mask = maskOf((x, y) => Math.hypot(x - 700, y - 380) < 260 || (x < 90 && y > 40 && y < 120), bw, bh);
    const stats = maskStats(mask, bw, bh);
    const frame = new FramePixels(await pngOf(big, bw, bh));
    const pixels = await frame.pixels();
    const expected = rgbOnWhite(pixels);
    tint(expected, mask, bw, stats.bbox, [255, 0, 255], 0.5, 3);
    // The event loop runs while it is drawn: an immediate set now comes before the overlay.
    let ranBetween = false;
    setImmediate(() => (ranBetween = true));
    const overlay = renderOverlay(pixels, mask, bw, bh, { color: '#ff00ff', opacity: 0.5, outline: 3, format: 'png' }, stats);
    const drawn = await rawOf(await overlay);
    assert.ok(ranBetween);
    assert.ok(drawn.data.equals(expected), 'the overlay drawn in slices is the one drawn at once');
    const cut = await rawOf(await renderCutout(pixels, mask, bw, bh, stats));
    const [x1, y1, x2, y2] = stats.bbox;
    assert.deepEqual([cut.width, cut.height, cut.channels], [x2 - x1, y2 - y1, 4]);
    assert.ok(cut.data.equals(cutoutPixels(pixels, mask, bw, stats.bbox)), 'the cut-out made in slices is the one made at once');
    // The caller's image and mask are read, never taken or changed.
    assert.ok(pixels.data.equals(big));
    assert.equal(maskStats(mask, bw, bh).area, stats.area);
  });

  it('JPEG by default, from a JPEG photo: tinted magenta on the object, the rest as it was within JPEG noise', async () => {
    const scene = await makeScene('studio', 480, 270);
    const block = scene.objects.find((o) => o.name === 'block');
    assert.ok(block);
    const jpeg = await renderOverlay(scene.jpeg, block.mask, scene.width, scene.height);
    assert.equal((await sharp(jpeg).metadata()).format, 'jpeg');
    const out = await rawOf(jpeg);
    const before = await rawOf(scene.jpeg);
    assert.deepEqual([out.width, out.height], [scene.width, scene.height]);
    let offDiff = 0;
    let offCount = 0;
    let redGain = 0;
    let greenLoss = 0;
    let onCount = 0;
    const [x1, y1, x2, y2] = block.box;
    for (let y = 0; y < scene.height; y++) {
      for (let x = 0; x < scene.width; x++) {
        const i = y * scene.width + x;
        const p = i * 3;
        // Away from the object's edge, where JPEG blocks mix both sides.
        const far = x < x1 - 16 || x >= x2 + 16 || y < y1 - 16 || y >= y2 + 16;
        const deep = x >= x1 + 16 && x < x2 - 16 && y >= y1 + 16 && y < y2 - 16;
        if (far) {
          for (let c = 0; c < 3; c++) offDiff += Math.abs(out.data[p + c] - before.data[p + c]);
          offCount += 3;
        } else if (deep && block.mask[i]) {
          redGain += out.data[p] - before.data[p];
          greenLoss += before.data[p + 1] - out.data[p + 1];
          onCount++;
        }
      }
    }
    assert.ok(offDiff / offCount < 2, `off the object the mean change is ${offDiff / offCount}`);
    // The block is blue (~#2f58a2): half way to #ff00ff adds about 100 to red, takes about 45 from green.
    assert.ok(redGain / onCount > 80, `red rose by ${redGain / onCount}`);
    assert.ok(greenLoss / onCount > 30, `green fell by ${greenLoss / onCount}`);
  });

  it('a greyscale image still gets a coloured tint', async () => {
    const grey = await sharp(RGB, { raw: { width: W, height: H, channels: 3 } }).toColourspace('b-w').png().toBuffer();
    const out = await rawOf(await renderOverlay(grey, MASK, W, H, { opacity: 1, outline: 0, format: 'png' }));
    const p = (24 * W + 36) * 3;
    assert.deepEqual([...out.data.subarray(p, p + 3)], DEFAULT_COLOUR);
  });

  describe('shows on any photo, at the default settings', () => {
    // Objects users segment: a red ball (the demo's), a cyan toy, foliage, skin, a grey car, a
    // white wall; each a disc on a background of another of them.
    const OBJECTS: Array<[string, number[]]> = [
      ['red', [220, 20, 30]],
      ['cyan', [0, 220, 230]],
      ['green', [40, 140, 40]],
      ['skin', [225, 180, 150]],
      ['grey', [128, 128, 128]],
      ['white', [245, 245, 245]],
    ];
    const S = 48;
    const disc = maskOf((x, y) => Math.hypot(x - 24, y - 24) < 14, S, S);
    const edges: number[] = [];
    for (let y = 1; y < S - 1; y++) for (let x = 1; x < S - 1; x++) {
      const i = y * S + x;
      if (disc[i] && (!disc[i - 1] || !disc[i + 1] || !disc[i - S] || !disc[i + S])) edges.push(i);
    }

    function scene(object: number[], around: number[]): Buffer {
      const rgb = Buffer.alloc(S * S * 3);
      for (let i = 0; i < S * S; i++) rgb.set(disc[i] ? object : around, i * 3);
      return rgb;
    }

    for (const [name, object] of OBJECTS) {
      it(`${name} object on each of the others: the outline has a line that stands out from both, all the way round`, async () => {
        for (const [aroundName, around] of OBJECTS) {
          if (aroundName === name) continue;
          const out = await rawOf(await renderOverlay(await pngOf(scene(object, around), S, S), disc, S, S, { format: 'png' }));
          for (const i of edges) {
            // Across the edge, inwards: the outline's pixels within its default 2 pixels.
            const x = i % S;
            const y = Math.floor(i / S);
            const dx = Math.sign(x - 24) * (Math.abs(x - 24) >= Math.abs(y - 24) ? 1 : 0);
            const dy = Math.sign(y - 24) * (Math.abs(y - 24) > Math.abs(x - 24) ? 1 : 0);
            const across = [0, 1].map((k) => [...out.data.subarray(((y - k * dy) * S + x - k * dx) * 3, ((y - k * dy) * S + x - k * dx) * 3 + 3)]);
            const best = Math.max(...across.map((c) => Math.min(contrast(c, object), contrast(c, around))));
            assert.ok(best >= 3, `at (${x}, ${y}) the outline ${JSON.stringify(across)} contrasts ${best.toFixed(2)}:1 at best with ${name} and ${aroundName}`);
          }
        }
      });
      it(`${name} object: the tint changes it visibly`, async () => {
        const out = await rawOf(await renderOverlay(await pngOf(scene(object, [0, 0, 0]), S, S), disc, S, S, { format: 'png' }));
        const p = (24 * S + 24) * 3;
        const shift = Math.hypot(...[0, 1, 2].map((c) => out.data[p + c] - object[c]));
        // The old red tint moved the red ball by 38; half way to any colour moves a colour far from it by 100 or more.
        assert.ok(shift >= 100, `the middle moved from ${object} to ${[...out.data.subarray(p, p + 3)]}, by ${shift.toFixed(0)}`);
      });
    }
  });

  it('an empty mask gives the image back unchanged', async () => {
    const out = await rawOf(await renderOverlay(await pngOf(RGB), new Uint8Array(W * H), W, H, { format: 'png' }));
    assert.deepEqual(out.data, RGB);
  });

  it('an image of another size than the mask is an error that gives both sizes', async () => {
    await assert.rejects(
      renderOverlay(await pngOf(picture(W + 1, H), W + 1, H), MASK, W, H),
      (err: unknown) => err instanceof Sam2InputError && err.field === 'image' && /is 65x48 but the mask is 64x48/.test(err.message),
    );
  });

  it('bad options are errors naming the node option and the fix', async () => {
    const image = await pngOf(RGB);
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ color: 'red' }, 'overlayColor', /colour like #[0-9a-f]{6}.*six hex digits/],
      [{ color: '#ff3b3' }, 'overlayColor', /"#ff3b3"/],
      [{ opacity: 1.5 }, 'overlayOpacity', /from 0 to 1, got 1.5/],
      [{ opacity: Number.NaN }, 'overlayOpacity', /got NaN/],
      [{ opacity: '0.5' }, 'overlayOpacity', /number from 0 to 1/],
      [{ outline: -1 }, 'overlayOutline', /whole number of pixels/],
      [{ outline: 1.5 }, 'overlayOutline', /got 1.5/],
      [{ format: 'webp' }, 'overlayFormat', /jpeg or png, got "webp"/],
    ];
    for (const [options, field, message] of cases) {
      await assert.rejects(
        renderOverlay(image, MASK, W, H, options),
        (err: unknown) => err instanceof Sam2InputError && err.field === field && message.test(err.message),
        JSON.stringify(options),
      );
    }
  });
});

describe('cut-out', () => {
  it('an RGBA PNG the size of the mask box, alpha the mask, colour the image on the mask', async () => {
    const png = await renderCutout(await pngOf(RGB), MASK, W, H);
    const meta = await sharp(png).metadata();
    assert.equal(meta.format, 'png');
    assert.equal(meta.channels, 4);
    const out = await rawOf(png);
    // The disc spans x 22..50, y 10..38; the bar x 0..9, y 5..11.
    const [x1, y1, x2, y2] = [0, 5, 51, 39];
    assert.deepEqual([out.width, out.height], [x2 - x1, y2 - y1]);
    for (let y = y1; y < y2; y++) {
      for (let x = x1; x < x2; x++) {
        const q = ((y - y1) * out.width + (x - x1)) * 4;
        const i = y * W + x;
        assert.equal(out.data[q + 3], MASK[i] ? 255 : 0, `alpha at (${x}, ${y})`);
        if (MASK[i]) assert.deepEqual([...out.data.subarray(q, q + 3)], [...RGB.subarray(i * 3, i * 3 + 3)], `colour at (${x}, ${y})`);
      }
    }
  });

  it('a greyscale image still gives RGBA', async () => {
    const grey = await sharp(RGB, { raw: { width: W, height: H, channels: 3 } }).toColourspace('b-w').jpeg().toBuffer();
    assert.equal((await sharp(await renderCutout(grey, MASK, W, H)).metadata()).channels, 4);
  });

  it('a one-pixel mask gives a one-pixel, opaque cut-out', async () => {
    const mask = new Uint8Array(W * H);
    mask[7 * W + 9] = 1;
    const out = await rawOf(await renderCutout(await pngOf(RGB), mask, W, H));
    const p = (7 * W + 9) * 3;
    assert.deepEqual([out.width, out.height, ...out.data], [1, 1, ...RGB.subarray(p, p + 3), 255]);
  });

  it('an empty mask is an error: there is nothing to cut out', async () => {
    await assert.rejects(renderCutout(await pngOf(RGB), new Uint8Array(W * H), W, H), /cutout: the mask is empty/);
  });

  it('an image of another size than the mask is an error', async () => {
    await assert.rejects(renderCutout(await pngOf(picture(W, H - 2), W, H - 2), MASK, W, H), /image: is 64x46 but the mask is 64x48/);
  });
});
