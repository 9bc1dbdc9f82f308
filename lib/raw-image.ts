/**
 * A frame decoded once, upright, for everything drawn on it: the overlays, the cut-outs and
 * the editor's live preview of every mask of a message share this one decode. (Each used to
 * decode the image itself: with overlay, cut-out and preview on, libvips decoded a 1080p frame
 * five times for one message.)
 */
import sharp from 'sharp';

/** Row-major sRGB pixels, 3 bytes a pixel, or 4 when the image has alpha. */
export interface RawImage {
  data: Buffer;
  width: number;
  height: number;
  channels: 3 | 4;
}

export function isRawImage(value: unknown): value is RawImage {
  return typeof value === 'object' && value !== null && Buffer.isBuffer((value as RawImage).data) && typeof (value as RawImage).channels === 'number';
}

/** The image as users see it (EXIF orientation applied), as raw sRGB pixels. */
export async function decodeUpright(bytes: Buffer, maxPixels?: number): Promise<RawImage> {
  const { data, info } = await sharp(bytes, maxPixels ? { limitInputPixels: maxPixels } : {})
    .rotate()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  const channels = info.channels === 4 ? 4 : 3;
  if (info.channels !== channels) {
    // Two bands (grey with alpha) or one: make it sRGB the long way; rare for camera frames.
    const rgb = await sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } }).toColourspace('srgb').removeAlpha().raw().toBuffer();
    return { data: rgb, width: info.width, height: info.height, channels: 3 };
  }
  return { data, width: info.width, height: info.height, channels };
}

/**
 * One message's frame: its bytes, and its pixels decoded the first time anything asks for
 * them, then shared. Something that can do with less (a small preview, shrunk as it loads)
 * looks at `decoded` first.
 */
export class FramePixels {
  private decoding?: Promise<RawImage>;

  constructor(
    readonly bytes: Buffer,
    private readonly maxPixels?: number,
  ) {}

  /** Whether the full decode has been asked for already. */
  get decoded(): boolean {
    return this.decoding !== undefined;
  }

  pixels(): Promise<RawImage> {
    this.decoding ??= decodeUpright(this.bytes, this.maxPixels);
    return this.decoding;
  }
}
