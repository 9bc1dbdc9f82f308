/** A mask in the form the next node asked for, always with its score, area, box and centroid. */
import { Sam2InputError } from './errors';
import { maskToPng } from './mask-png';
import { maskStats } from './mask-stats';

export type MaskFormat = 'png' | 'raw' | 'rle' | 'polygons';

export interface FormattedMask {
  score: number;
  area: number;
  bbox: [number, number, number, number];
  centroid: [number, number] | null;
  png?: Buffer;
  raw?: { data: Uint8Array; width: number; height: number };
  rle?: { size: [number, number]; counts: string };
  polygons?: unknown[];
  overlay?: Buffer;
  cutout?: Buffer;
}

export interface FormatOptions {
  format: MaskFormat;
  tolerance?: number;
  overlay?: false | { color?: string; opacity?: number; outline?: number; format?: 'jpeg' | 'png' };
  cutout?: boolean;
  image?: Buffer;
}

export async function formatMask(mask: Uint8Array, width: number, height: number, score: number, options: FormatOptions): Promise<FormattedMask> {
  const out: FormattedMask = { score, ...maskStats(mask, width, height) };
  switch (options.format) {
    case 'png':
      out.png = await maskToPng(mask, width, height);
      break;
    case 'raw':
      out.raw = { data: mask, width, height };
      break;
    default:
      throw new Sam2InputError('format', `${options.format} is not available yet`, 'Use png or raw');
  }
  return out;
}
