/**
 * An image's bytes to the encoder's input, as SAM2's transforms.py makes it: RGB, resized to
 * 1024x1024 without keeping the aspect ratio (no padding), /255, minus ImageNet's mean and over
 * its std per channel, NCHW float32. Masks and prompts then map back with x * W / 1024 and
 * y * H / 1024.
 *
 * The resize is libvips' linear kernel on the upright 8-bit image, which is antialiased when
 * shrinking like torchvision's Resize (antialias on since 0.17); SAM2 resizes float values,
 * so pixels may differ by under half an 8-bit step. The image is decoded once, here.
 */
import sharp from 'sharp';
import { damagedImageError, readImageHeader, DEFAULT_MAX_INPUT_PIXELS } from '../image-input';
import { MODEL_INPUT_SIZE } from '../types';

export const PIXEL_MEAN = [0.485, 0.456, 0.406];
export const PIXEL_STD = [0.229, 0.224, 0.225];

/** Per channel, the normalised float32 value of each 8-bit level: one lookup a pixel. */
const LEVELS = PIXEL_MEAN.map((mean, c) => Float32Array.from({ length: 256 }, (_, v) => (v / 255 - mean) / PIXEL_STD[c]));

export interface EncoderInput {
  /** The image as users see it (EXIF orientation applied): prompts and masks use this size. */
  width: number;
  height: number;
  /** [1, 3, 1024, 1024], NCHW. */
  tensor: Float32Array;
}

/** Checks the header (pixel limit), decodes, turns upright and resizes in one libvips pipeline. */
export async function imageToTensor(bytes: Buffer, options: { maxInputPixels?: number; field?: string; applyOrientation?: boolean } = {}): Promise<EncoderInput> {
  const field = options.field ?? 'image';
  const header = await readImageHeader(bytes, { maxInputPixels: options.maxInputPixels, field });
  const upright = options.applyOrientation !== false;
  let raw: { data: Buffer; info: sharp.OutputInfo };
  try {
    const decoded = sharp(bytes, { failOn: 'truncated', limitInputPixels: options.maxInputPixels ?? DEFAULT_MAX_INPUT_PIXELS });
    raw = await (upright ? decoded.rotate() : decoded)
      .resize(MODEL_INPUT_SIZE, MODEL_INPUT_SIZE, { fit: 'fill', kernel: sharp.kernel.linear })
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw damagedImageError(field, header.format, err);
  }
  return {
    width: upright ? header.width : header.storedWidth,
    height: upright ? header.height : header.storedHeight,
    tensor: rgbToTensor(raw.data, raw.info.channels),
  };
}

/**
 * Interleaved 8-bit pixels (1 grey, 2 grey + alpha, 3 RGB, 4 RGBA; alpha ignored) of a
 * 1024x1024 image to the normalised NCHW tensor.
 */
export function rgbToTensor(pixels: Uint8Array, channels: number): Float32Array {
  const plane = MODEL_INPUT_SIZE * MODEL_INPUT_SIZE;
  if (pixels.length !== plane * channels) throw new RangeError(`expected ${plane * channels} bytes of ${channels}-channel pixels, got ${pixels.length}`);
  const out = new Float32Array(3 * plane);
  const [r, g, b] = LEVELS;
  const grey = channels < 3;
  for (let i = 0, p = 0; i < plane; i++, p += channels) {
    out[i] = r[pixels[p]];
    out[plane + i] = g[pixels[grey ? p : p + 1]];
    out[2 * plane + i] = b[pixels[grey ? p : p + 2]];
  }
  return out;
}
