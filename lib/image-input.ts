/**
 * Turns whatever a flow hands us into an image the API can read, and refuses bad input
 * before it costs a request: messages arrive from cameras, files, MQTT and websockets, so the
 * same JPEG can be a Buffer, base64 text, a data URL or a Buffer flattened by JSON.
 *
 * What goes up is always an 8-bit RGB(A) JPEG or PNG without metadata: the runner converts
 * whatever it gets to RGB with PIL, which turns a 16-bit greyscale PNG white (it clips the
 * 16-bit values into 8 bits), and EXIF would carry a camera's GPS position off the machine.
 */
import sharp from 'sharp';
import { Sam2InputError } from './errors';
import { stripJpeg, stripPng } from './strip-metadata';
import { rasteriseVector, vectorKind } from './vector-image';
import { ENDPOINT_DEFAULTS } from './defaults';
import { MODEL_INPUT_SIZE } from './types';

/** Default cap on decoded pixels: a small file that declares 30000x30000 must not be decoded. */
export const DEFAULT_MAX_INPUT_PIXELS = ENDPOINT_DEFAULTS.maxInputMP * 1_000_000;

const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;
const DATA_URL = /^data:([^;,]*)(;[^,]*)?,/;

const HOW_TO_SEND = 'Send an image as a Buffer, a base64 string or a data: URL';

/** The bytes of an image from any of the forms flows carry. `field` names where it came from, for errors. */
export function imageBytes(value: unknown, field: string): Buffer {
  let bytes: Buffer;
  if (value === undefined || value === null) {
    throw new Sam2InputError(field, 'is missing', `${HOW_TO_SEND} in ${field}, or set the node's Image property to where your image is`);
  } else if (Buffer.isBuffer(value)) {
    bytes = value;
  } else if (value instanceof Uint8Array) {
    bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  } else if (typeof value === 'string') {
    bytes = bytesFromText(value, field);
  } else if (isJsonBuffer(value)) {
    bytes = Buffer.from(value.data);
  } else {
    throw new Sam2InputError(field, `is ${describe(value)}, not an image`, HOW_TO_SEND);
  }
  if (bytes.length === 0) throw new Sam2InputError(field, 'is empty (0 bytes)', `Check the node before this one; ${HOW_TO_SEND}`);
  return bytes;
}

function bytesFromText(text: string, field: string): Buffer {
  const dataUrl = DATA_URL.exec(text);
  if (dataUrl) {
    if (!/;base64$/i.test(dataUrl[2] ?? '')) {
      throw new Sam2InputError(field, 'is a data: URL that is not base64-encoded', 'Use a data:image/...;base64, URL');
    }
    text = text.slice(dataUrl[0].length);
  }
  const compact = text.replace(/\s+/g, '');
  if (!BASE64.test(compact) || compact.length % 4 === 1) {
    throw new Sam2InputError(field, 'is a string that is neither base64 nor a data: URL', HOW_TO_SEND);
  }
  return Buffer.from(compact, compact.includes('-') || compact.includes('_') ? 'base64url' : 'base64');
}

/** `JSON.stringify(buffer)` gives `{ type: 'Buffer', data: [...] }`: what MQTT, websockets and context storage hand back. */
function isJsonBuffer(value: unknown): value is { type: 'Buffer'; data: number[] } {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { type?: unknown }).type === 'Buffer' &&
    Array.isArray((value as { data?: unknown }).data)
  );
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

export interface PreparedImage {
  /** What goes up: JPEG or PNG bytes. */
  upload: Buffer;
  contentType: 'image/jpeg' | 'image/png';
  /** The image as users see it (EXIF orientation applied). Masks come back at this size. */
  width: number;
  height: number;
  /** The uploaded pixel grid: the same as width x height unless efficient mode shrank it. */
  uploadWidth: number;
  uploadHeight: number;
}

export interface PrepareOptions {
  maxInputPixels?: number;
  /** Upload images above 1024x1024 pixels resized to exactly 1024x1024, as SAM2 would resize them anyway. */
  efficient?: boolean;
  /**
   * The square's side in efficient mode (default 1024, what SAM2 sees): smaller sends fewer
   * bytes on a slow link, but the model scales it up to 1024 again, so thin and small objects
   * lose detail. Images of no more pixels than the square go up as they are.
   */
  uploadSize?: number;
  /** Where the bytes came from, for errors. */
  field?: string;
  /** Accept SVG, drawn at a bounded cost (vector-image.ts); refused by default. */
  allowVector?: boolean;
}

const VECTOR_FIX = 'Send a camera frame as JPEG or PNG; to accept SVG, tick "Allow vector images" on the sam2-endpoint node (allowVector)';

/** Refuses vector images (and markup, SVGZ, PDF) by their first bytes, before an image library lays them out. */
function refuseVector(bytes: Buffer, field: string): void {
  const vector = vectorKind(bytes);
  if (!vector) return;
  const what = vector === 'svgz' ? 'gzip-compressed data (an SVGZ vector image?)' : vector === 'pdf' ? 'a PDF document' : 'a vector image or other markup (SVG/XML)';
  throw new Sam2InputError(field, `is ${what}, not a camera frame`, vector === 'svg' ? VECTOR_FIX : 'Send a JPEG or PNG');
}

/** What the header says, checked: the image is readable and within the pixel limit. */
export interface ImageHeader {
  format?: string;
  /** The stored pixel grid, before EXIF orientation. */
  storedWidth: number;
  storedHeight: number;
  /** EXIF orientation, 1 when absent. */
  orientation: number;
  /** The image as users see it (EXIF orientation applied). */
  width: number;
  height: number;
  /** sharp's words for the pixels: `uchar` is 8-bit; `srgb`, `b-w`, `cmyk`...; channels with alpha. */
  depth?: string;
  space?: string;
  channels?: number;
}

/**
 * Reads the image's header only (no decoding): refuses bytes that are not an image and
 * images declaring more pixels than `maxInputPixels`, before anything decodes them.
 */
export async function readImageHeader(bytes: Buffer, options: { maxInputPixels?: number; field?: string } = {}): Promise<ImageHeader> {
  const field = options.field ?? 'image';
  const maxPixels = options.maxInputPixels ?? DEFAULT_MAX_INPUT_PIXELS;
  refuseVector(bytes, field);
  let meta: sharp.Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch {
    throw new Sam2InputError(field, `is ${bytes.length} bytes that are not an image (no known image header)`, 'Send JPEG, PNG, WebP, GIF, TIFF or AVIF bytes');
  }
  const { width: storedWidth, height: storedHeight, format } = meta;
  if (format === 'svg' || format === 'pdf') throw new Sam2InputError(field, `is a ${format} vector image, not a camera frame`, VECTOR_FIX);
  if (!storedWidth || !storedHeight) throw new Sam2InputError(field, `is a ${format ?? 'file'} with no pixel size`, 'Send a still image with a width and height');
  if (storedWidth * storedHeight > maxPixels) {
    throw new Sam2InputError(
      field,
      `declares ${storedWidth}x${storedHeight} = ${storedWidth * storedHeight} pixels, over the limit of ${maxPixels}`,
      'Send a smaller image, or raise "Max input pixels" on the sam2-endpoint node if this size is expected',
    );
  }
  const orientation = meta.orientation ?? 1;
  return {
    format,
    storedWidth,
    storedHeight,
    orientation,
    width: orientation >= 5 ? storedHeight : storedWidth,
    height: orientation >= 5 ? storedWidth : storedHeight,
    depth: meta.depth,
    space: meta.space,
    channels: meta.channels,
  };
}

/** The error for an image whose header reads but whose pixels do not decode. */
export function damagedImageError(field: string, format: string | undefined, err: unknown): Sam2InputError {
  return new Sam2InputError(field, `is a damaged ${format} image (${(err as Error).message.split('\n')[0]})`, 'Check the source of this frame; a camera or transfer may have cut it short');
}

/**
 * Reads the image's header and decodes it once (cheaply, shrunk on load) so a truncated or
 * corrupt frame is caught here and not by a GPU server after the upload.
 */
export async function prepareImage(bytes: Buffer, options: PrepareOptions = {}): Promise<PreparedImage> {
  const field = options.field ?? 'image';
  const maxPixels = options.maxInputPixels ?? DEFAULT_MAX_INPUT_PIXELS;
  // An allowed SVG is drawn once; from here on it is a PNG like any other.
  if (options.allowVector && vectorKind(bytes) === 'svg') bytes = await rasteriseVector(bytes, maxPixels, field);
  const header = await readImageHeader(bytes, { maxInputPixels: maxPixels, field });
  const { format, orientation, width, height } = header;
  const contentType = format === 'jpeg' ? 'image/jpeg' : 'image/png';
  // A truncated or damaged image fails here, with the field named, not at the runner.
  const upright = () => sharp(bytes, { failOn: 'truncated', limitInputPixels: maxPixels }).rotate();

  const side = options.uploadSize ?? MODEL_INPUT_SIZE;
  if (options.efficient !== false && width * height > side * side) {
    // SAM2 squashes every image to 1024x1024 before it looks at it; doing that here sends
    // a fraction of the pixels and lets us rebuild full-size masks from the logits. The
    // resize reads every pixel, so it is the damage check too (a separate one was a second
    // decode: 15 ms of a 4K frame's CPU).
    try {
      const upload = await encodeLike(format, upright().resize(side, side, { fit: 'fill', kernel: sharp.kernel.linear }));
      return { upload, contentType, width, height, uploadWidth: side, uploadHeight: side };
    } catch (err) {
      throw damagedImageError(field, format, err);
    }
  }
  try {
    await sharp(bytes, { failOn: 'truncated', limitInputPixels: maxPixels }).resize(16, 16, { fit: 'fill' }).raw().toBuffer();
  } catch (err) {
    throw damagedImageError(field, format, err);
  }
  // 8-bit RGB(A) JPEG and PNG lose only their metadata, pixels untouched; the rest is redrawn upright in 8-bit sRGB.
  const plain = orientation === 1 && header.depth === 'uchar' && header.space === 'srgb' && (format === 'jpeg' ? header.channels === 3 : format === 'png' && (header.channels === 3 || header.channels === 4));
  const stripped = plain ? (format === 'jpeg' ? stripJpeg(bytes) : stripPng(bytes)) : undefined;
  const upload = stripped ?? (await encodeLike(format, upright()));
  return { upload, contentType, width, height, uploadWidth: width, uploadHeight: height };
}

/** The image as users see it: turned upright when its EXIF orientation says so, else the bytes as they are. */
export async function uprightImage(bytes: Buffer): Promise<Buffer> {
  // An SVG that passed prepareImage (allowVector) is drawn the same bounded way again, never here.
  if (vectorKind(bytes) === 'svg') return rasteriseVector(bytes, DEFAULT_MAX_INPUT_PIXELS, 'image');
  const { orientation, format } = await sharp(bytes).metadata();
  return (orientation ?? 1) > 1 ? encodeLike(format, sharp(bytes).rotate()) : bytes;
}

/**
 * JPEG stays JPEG; everything else goes up as PNG, which the gateway reads and loses nothing.
 * Always 8-bit sRGB (16-bit, greyscale and CMYK are converted), and sharp writes no metadata
 * unless asked to.
 */
function encodeLike(format: string | undefined, pipeline: sharp.Sharp): Promise<Buffer> {
  const srgb = pipeline.toColourspace('srgb');
  return (format === 'jpeg' ? srgb.jpeg({ quality: 92 }) : srgb.png({ compressionLevel: 1 })).toBuffer();
}
