import assert from 'node:assert/strict';
import { deflateSync, gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { Sam2InputError } from '../lib/errors';
import { imageBytes, prepareImage, uprightImage } from '../lib/image-input';
import { stripJpeg, stripPng } from '../lib/strip-metadata';
import { declaredPng, pngChunk } from './fixtures/png-bytes';
import { longestStall } from './fixtures/stall';


/** A 16-bit greyscale PNG, every pixel `value` (0..65535): what PIL's RGB conversion turns white. */
function grey16Png(width: number, height: number, value: number): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 16;
  header[9] = 0;
  const row = Buffer.alloc(1 + width * 2);
  for (let x = 0; x < width; x++) row.writeUInt16BE(value, 1 + x * 2);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', header),
    pngChunk('IDAT', deflateSync(Buffer.concat(new Array(height).fill(row)))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A PNG with text and EXIF chunks inserted after IHDR. */
function pngWithText(png: Buffer, text: string): Buffer {
  const afterHeader = 8 + 12 + 13;
  return Buffer.concat([png.subarray(0, afterHeader), pngChunk('tEXt', Buffer.from(`Comment\0${text}`, 'latin1')), pngChunk('eXIf', Buffer.from(`MM\0*${text}`, 'latin1')), png.subarray(afterHeader)]);
}

/** 2 KB of SVG that draws 10^9 rectangles: nested <use>, ten per level. */
function useBomb(): Buffer {
  let svg = '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="100" height="100"><defs><rect id="a0" width="1" height="1"/>';
  for (let i = 1; i <= 9; i++) svg += `<g id="a${i}">${Array.from({ length: 10 }, () => `<use xlink:href="#a${i - 1}"/>`).join('')}</g>`;
  return Buffer.from(`${svg}</defs><use xlink:href="#a9"/></svg>`);
}

async function pixels(image: Buffer): Promise<Buffer> {
  return sharp(image).raw().toBuffer();
}



function solid(width: number, height: number) {
  return sharp({ create: { width, height, channels: 3, background: { r: 200, g: 40, b: 40 } } });
}

async function rejectsWith(promise: Promise<unknown>, field: string, words: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof Sam2InputError, `expected Sam2InputError, got ${String(err)}`);
    assert.equal(err.field, field);
    assert.match(err.message, words);
    return true;
  });
}

describe('image input', () => {
  let jpeg: Buffer;
  before(async () => {
    jpeg = await solid(64, 48).jpeg().toBuffer();
  });

  it('reads a Buffer, a Uint8Array, base64, a data URL and a JSON-flattened Buffer to the same bytes', () => {
    const forms: unknown[] = [
      jpeg,
      new Uint8Array(jpeg),
      jpeg.toString('base64'),
      `data:image/jpeg;base64,${jpeg.toString('base64')}`,
      JSON.parse(JSON.stringify(jpeg)),
    ];
    for (const form of forms) assert.ok(imageBytes(form, 'msg.payload').equals(jpeg));
  });

  it('names the property and the fix for missing, empty, non-image and non-base64 input', async () => {
    assert.throws(() => imageBytes(undefined, 'msg.frame'), (e: Sam2InputError) => e.field === 'msg.frame' && /missing/.test(e.message));
    assert.throws(() => imageBytes(Buffer.alloc(0), 'msg.payload'), /empty/);
    assert.throws(() => imageBytes('not base64 at all!', 'msg.payload'), /neither base64 nor a data: URL/);
    assert.throws(() => imageBytes({ some: 'object' }, 'msg.payload'), /is an object, not an image/);
    await rejectsWith(prepareImage(Buffer.from('hello, I am text'), { field: 'msg.payload' }), 'msg.payload', /not an image/);
  });

  it('refuses a truncated JPEG before any upload', async () => {
    const big = await sharp({ create: { width: 400, height: 300, channels: 3, background: 'grey', noise: { type: 'gaussian', mean: 128, sigma: 40 } } }).jpeg().toBuffer();
    await rejectsWith(prepareImage(big.subarray(0, Math.floor(big.length / 2)), { field: 'msg.payload' }), 'msg.payload', /damaged jpeg/);
  });

  it('refuses an image bomb by its declared size without decoding it', async () => {
    // Tens of kilobytes that would need 900 MB once decoded.
    const bomb = declaredPng(30000, 30000);
    assert.ok(bomb.length < 100_000);
    await rejectsWith(prepareImage(bomb, { field: 'msg.payload' }), 'msg.payload', /30000x30000 = 900000000 pixels, over the limit/);
  });

  it('sends JPEG and PNG pixels untouched and converts other formats to PNG', async () => {
    const png = await solid(64, 48).png().toBuffer();
    const webp = await solid(64, 48).webp().toBuffer();
    for (const image of [jpeg, png]) {
      const prepared = await prepareImage(image);
      assert.ok((await pixels(prepared.upload)).equals(await pixels(image)), 'the same pixels, not re-encoded');
      assert.ok(prepared.upload.length <= image.length);
    }
    const converted = await prepareImage(webp);
    assert.equal(converted.contentType, 'image/png');
    assert.equal((await sharp(converted.upload).metadata()).format, 'png');
    assert.deepEqual([converted.width, converted.height], [64, 48]);
  });

  it('turns a JPEG with an EXIF orientation upright, so masks match what users see', async () => {
    // Stored 64 wide and 48 high, orientation 6 (rotate 90°): users see it 48 wide and 64 high.
    const rotated = await solid(64, 48).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    const prepared = await prepareImage(rotated);
    assert.deepEqual([prepared.width, prepared.height], [48, 64]);
    const sent = await sharp(prepared.upload).metadata();
    assert.deepEqual([sent.width, sent.height, sent.orientation ?? 1], [48, 64, 1]);
    const upright = await sharp(await uprightImage(rotated)).metadata();
    assert.deepEqual([upright.width, upright.height], [48, 64]);
  });

  it('in efficient mode uploads images over 1024x1024 at exactly 1024x1024, and smaller ones untouched', async () => {
    const large = await solid(1920, 1080).jpeg().toBuffer();
    const prepared = await prepareImage(large, { efficient: true });
    assert.deepEqual([prepared.width, prepared.height, prepared.uploadWidth, prepared.uploadHeight], [1920, 1080, 1024, 1024]);
    const sent = await sharp(prepared.upload).metadata();
    assert.deepEqual([sent.width, sent.height, sent.format], [1024, 1024, 'jpeg']);
    assert.ok((await pixels((await prepareImage(large, { efficient: false })).upload)).equals(await pixels(large)));
    const small = await solid(1000, 1000).png().toBuffer();
    assert.ok((await prepareImage(small, { efficient: true })).upload.equals(stripPng(small)!));
  });

  describe('what leaves the machine: 8-bit RGB(A) JPEG or PNG, without metadata', () => {
    const SECRET = 'GPS 51.5007N 0.1246W, home of the camera owner';

    it('strips EXIF, XMP-like text, comments and an ICC profile from a JPEG, pixels unchanged', async () => {
      const tagged = await solid(64, 48).jpeg().withExif({ IFD0: { ImageDescription: SECRET, Copyright: SECRET } }).withIccProfile('p3').toBuffer();
      assert.ok(tagged.includes(SECRET));
      const prepared = await prepareImage(tagged);
      const meta = await sharp(prepared.upload).metadata();
      assert.deepEqual([meta.exif, meta.icc, meta.xmp, meta.format], [undefined, undefined, undefined, 'jpeg']);
      assert.ok(!prepared.upload.includes(SECRET));
      // Read without its profile: the pixels as stored, which is what the runner reads.
      assert.ok((await pixels(prepared.upload)).equals(await sharp(tagged, { ignoreIcc: true }).raw().toBuffer()));
    });

    it('drops what follows a JPEG\'s end (a phone\'s second image) and a comment', async () => {
      const base = await solid(32, 32).jpeg().toBuffer();
      const comment = Buffer.concat([Buffer.from([0xff, 0xfe, 0x00, SECRET.length + 2]), Buffer.from(SECRET)]);
      const withComment = Buffer.concat([base.subarray(0, 2), comment, base.subarray(2), Buffer.from(SECRET)]);
      const out = stripJpeg(withComment)!;
      assert.ok(!out.includes(SECRET));
      assert.ok((await pixels(out)).equals(await pixels(base)));
      assert.ok((await prepareImage(withComment)).upload.equals(out));
    });

    it('strips text and EXIF chunks from a PNG, pixels unchanged', async () => {
      const tagged = pngWithText(await solid(64, 48).png().toBuffer(), SECRET);
      assert.equal((await sharp(tagged).metadata()).width, 64);
      const prepared = await prepareImage(tagged);
      assert.ok(!prepared.upload.includes(SECRET));
      assert.equal((await sharp(prepared.upload).metadata()).exif, undefined);
      assert.ok((await pixels(prepared.upload)).equals(await pixels(tagged)));
    });

    it('strips metadata from a turned, an efficient-mode and a converted upload too', async () => {
      const turned = await solid(64, 48).jpeg().withExif({ IFD0: { ImageDescription: SECRET } }).withMetadata({ orientation: 6 }).toBuffer();
      const large = await solid(1600, 1200).jpeg().withExif({ IFD0: { ImageDescription: SECRET } }).toBuffer();
      const webp = await solid(64, 48).webp().withExif({ IFD0: { ImageDescription: SECRET } }).toBuffer();
      for (const image of [turned, large, webp]) {
        const { upload } = await prepareImage(image, { efficient: true });
        assert.ok(!upload.includes(SECRET));
        assert.equal((await sharp(upload).metadata()).exif, undefined);
      }
    });

    it('converts a 16-bit greyscale PNG to 8 bits, keeping its grey (the runner would make it white)', async () => {
      const grey = grey16Png(40, 30, 30000);
      assert.equal((await sharp(grey).metadata()).depth, 'ushort');
      const prepared = await prepareImage(grey);
      const meta = await sharp(prepared.upload).metadata();
      assert.deepEqual([meta.format, meta.depth, meta.channels, meta.space], ['png', 'uchar', 3, 'srgb']);
      const { data } = await sharp(prepared.upload).raw().toBuffer({ resolveWithObject: true });
      assert.ok(Math.abs(data[0] - Math.round(30000 / 257)) <= 2, `grey ${data[0]}`);
    });

    it('converts a CMYK JPEG and an 8-bit greyscale PNG to RGB', async () => {
      const cmyk = await solid(32, 32).toColourspace('cmyk').jpeg().toBuffer();
      const greyPng = await solid(32, 32).toColourspace('b-w').png().toBuffer();
      assert.equal((await sharp(cmyk).metadata()).space, 'cmyk');
      for (const [image, format] of [[cmyk, 'jpeg'], [greyPng, 'png']] as const) {
        const meta = await sharp((await prepareImage(image)).upload).metadata();
        assert.deepEqual([meta.format, meta.space, meta.channels, meta.depth], [format, 'srgb', 3, 'uchar']);
      }
    });
  });

  describe('vector images', () => {
    const svg = Buffer.from('<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="120" height="80"><rect width="60" height="80" fill="red"/></svg>');

    const refused: Array<[string, () => Buffer, RegExp]> = [
      ['an SVG', () => svg, /is a vector image or other markup \(SVG\/XML\), not a camera frame\. .*Allow vector images/],
      ['an SVG with a byte-order mark and white space first', () => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('\n  '), svg]), /vector image or other markup/],
      ['a gzip-compressed SVG', () => gzipSync(svg), /gzip-compressed data \(an SVGZ vector image\?\)/],
      ['a PDF', () => Buffer.from('%PDF-1.7\n1 0 obj<<>>endobj\n'), /is a PDF document, not a camera frame/],
    ];
    for (const [what, bytes, words] of refused) {
      it(`refuses ${what} unless the flow allows vector images`, async () => {
        await rejectsWith(prepareImage(bytes(), { field: 'msg.payload' }), 'msg.payload', words);
      });
    }

    it('draws an allowed SVG once, to an 8-bit PNG of its size', async () => {
      const prepared = await prepareImage(svg, { allowVector: true });
      assert.deepEqual([prepared.contentType, prepared.width, prepared.height], ['image/png', 120, 80]);
      const { data, info } = await sharp(prepared.upload).raw().toBuffer({ resolveWithObject: true });
      assert.equal(info.width, 120);
      assert.deepEqual([...data.subarray(0, 3)], [255, 0, 0]);
    });

    it('refuses an allowed SVG that would draw over the pixel limit', async () => {
      const huge = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="20000" height="20000"><rect width="1" height="1"/></svg>');
      await rejectsWith(prepareImage(huge, { field: 'msg.payload', allowVector: true, maxInputPixels: 1_000_000 }), 'msg.payload', /over the limit of 1000000 pixels/);
    });

    it('bounds the cost of an allowed SVG bomb: a clear error by the deadline, the event loop never held', async function () {
      this.timeout(20_000);
      let error: unknown;
      const started = Date.now();
      const stall = await longestStall(() => prepareImage(useBomb(), { field: 'msg.payload', allowVector: true }).catch((err: unknown) => (error = err)));
      assert.ok(error instanceof Sam2InputError, String(error));
      assert.equal(error.field, 'msg.payload');
      assert.match(error.message, /is a vector image that could not be drawn (within 5 s|\()/);
      assert.ok(Date.now() - started < 5000 + 3000, 'ended by the deadline');
      assert.ok(stall < 1000, `the event loop went ${stall} ms without a timer`);
    });
  });
});
