import sharp from 'sharp';

/**
 * A mask as an 8-bit greyscale PNG (0 / 255) at its own size: one channel is a third of
 * an RGB PNG's work, and zlib level 3 is where masks stop getting smaller for the time spent.
 */
export function maskToPng(mask: Uint8Array, width: number, height: number): Promise<Buffer> {
  if (mask.length !== width * height) throw new RangeError(`mask has ${mask.length} values, not ${width}x${height}`);
  const grey = Buffer.allocUnsafe(mask.length);
  for (let i = 0; i < mask.length; i++) grey[i] = mask[i] ? 255 : 0;
  return sharp(grey, { raw: { width, height, channels: 1 } })
    .toColourspace('b-w')
    .png({ compressionLevel: 3, adaptiveFiltering: false, palette: false })
    .toBuffer();
}
