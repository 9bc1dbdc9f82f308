import assert from 'node:assert/strict';
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { Sam2InputError } from '../lib/errors';
import { imageBytes, prepareImage, uprightImage } from '../lib/image-input';

/** A PNG that declares width x height but carries a single tiny compressed row: an image bomb's header. */
function declaredPng(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 0; // greyscale
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(Buffer.alloc(width + 1))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
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

  it('sends JPEG and PNG untouched and converts other formats to PNG', async () => {
    const png = await solid(64, 48).png().toBuffer();
    const webp = await solid(64, 48).webp().toBuffer();
    assert.equal((await prepareImage(jpeg)).upload, jpeg);
    assert.equal((await prepareImage(png)).upload, png);
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
    assert.equal((await prepareImage(large, { efficient: false })).upload, large);
    const small = await solid(1000, 1000).png().toBuffer();
    assert.equal((await prepareImage(small, { efficient: true })).upload, small);
  });
});
