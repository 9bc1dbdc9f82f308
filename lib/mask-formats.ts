/** A mask in the form the next node asked for, always with its score, area, box and centroid. */
import { Sam2InputError } from './errors';
import { maskToPng } from './mask-png';
import { checkMaskSize, maskStats, type MaskStats } from './mask-stats';
import type { RawImage } from './raw-image';
import { renderCutout, renderOverlay, type OverlayOptions } from './overlay';
import { OFF_THREAD_PIXELS, maskPool } from './mask-pool';
import { checkTolerance, maskToPolygons, type MaskPolygon } from './polygons';
import { maskToRle, type CocoRle } from './rle';
import { sharedNow } from './shared-bytes';

export type MaskFormat = 'png' | 'raw' | 'rle' | 'polygons';

export interface FormattedMask {
  score: number;
  area: number;
  bbox: [number, number, number, number];
  centroid: [number, number] | null;
  png?: Buffer;
  /** The mask itself, not a copy. */
  raw?: { data: Uint8Array; width: number; height: number };
  rle?: CocoRle;
  polygons?: MaskPolygon[];
  overlay?: Buffer;
  cutout?: Buffer;
}

export interface FormatOptions {
  format: MaskFormat;
  /** For polygons; see maskToPolygons. */
  tolerance?: number;
  overlay?: false | OverlayOptions;
  /** Absent from the result when the mask is empty: there is nothing to cut out. */
  cutout?: boolean;
  /** The upright image the mask was made from, at the mask's size (encoded, or decoded once for several masks); needed for overlay and cutout. */
  image?: Buffer | RawImage;
  /** The mask's stats when they are known already (every backend's result carries them): not measured again. */
  stats?: MaskStats;
}

/** Whether a mask is large enough to encode on a worker; its size is checked here, where the error keeps its type. */
function offThread(mask: Uint8Array, width: number, height: number): boolean {
  checkMaskSize(mask, width, height);
  return mask.length >= OFF_THREAD_PIXELS;
}

export async function formatMask(mask: Uint8Array, width: number, height: number, score: number, options: FormatOptions): Promise<FormattedMask> {
  const { area, bbox, centroid } = options.stats ?? maskStats(mask, width, height);
  const out: FormattedMask = { score, area, bbox, centroid };
  const { format, image } = options;
  const cutout = Boolean(options.cutout) && out.area > 0;
  if ((options.overlay || cutout) && !image) {
    throw new Sam2InputError(options.overlay ? 'overlay' : 'cutout', 'needs the image the mask was made from', 'Pass it as image, upright and at the mask\'s size');
  }
  // The encoders that run on sharp's threads go at once rather than one after another.
  const work: Array<Promise<unknown>> = [];
  switch (format) {
    case 'png':
      work.push(maskToPng(mask, width, height).then((png) => (out.png = png)));
      break;
    case 'raw':
      out.raw = { data: mask, width, height };
      break;
    // A large mask's RLE and polygons are made on a worker thread (lib/mask-pool.ts), reading
    // the mask in shared memory (a rebuilt mask is there already; another is copied once, a
    // memcpy of a few ms for 48 MP), so the event loop is not held.
    case 'rle':
      if (offThread(mask, width, height)) work.push(maskPool().run({ kind: 'rle', mask: sharedNow(mask), width, height }).then((rle) => (out.rle = rle)));
      else out.rle = maskToRle(mask, width, height);
      break;
    case 'polygons':
      if (offThread(mask, width, height)) {
        checkTolerance(options.tolerance);
        work.push(maskPool().run({ kind: 'polygons', mask: sharedNow(mask), width, height, tolerance: options.tolerance }).then((polygons) => (out.polygons = polygons)));
      } else work.push(maskToPolygons(mask, width, height, { tolerance: options.tolerance }).then((polygons) => (out.polygons = polygons)));
      break;
    default:
      throw new Sam2InputError('format', `is ${JSON.stringify(format)}`, 'Use one of png, raw, rle, polygons');
  }
  if (options.overlay) work.push(renderOverlay(image as Buffer | RawImage, mask, width, height, options.overlay, out).then((overlay) => (out.overlay = overlay)));
  if (cutout) work.push(renderCutout(image as Buffer | RawImage, mask, width, height, out).then((buffer) => (out.cutout = buffer)));
  await Promise.all(work);
  return out;
}
