/**
 * COCO run-length encoding, byte for byte as pycocotools writes it (`pycocotools.mask.encode`
 * then `counts.decode('ascii')`), so that a mask from this node can go straight into a COCO
 * annotation file or an evaluation script, and one from there can come back.
 *
 * The format, as pycocotools' maskApi.c defines it:
 *
 * - `size` is `[height, width]`, in that order.
 * - The pixels are read column by column: down column 0, then down column 1, and so on
 *   (Fortran order of a height x width array); pixel (x, y) is number `x * height + y`.
 * - That sequence is cut into runs of equal values, alternately 0s and 1s, always starting
 *   with a run of 0s: a mask whose first pixel is set starts with a run of length 0. The
 *   runs add up to `height * width`. Any non-zero value counts as 1.
 * - Each run is turned into one signed number: the first three as they are, every later
 *   one as the difference from the run two places before it (the previous run of the same
 *   value), which is small for smooth shapes. pycocotools starts the differences at the
 *   fourth run, not the third; we do the same, or the strings would differ.
 * - Each number is written as characters of 5 bits each, least significant group first.
 *   A group is the low 5 bits of what is left; what is left is then shifted right by 5,
 *   keeping the sign. Writing stops once what is left is all sign: 0 when the group's top
 *   bit (0x10) is clear, -1 when it is set, so that reader can sign-extend from that bit.
 *   Every group but the last has 0x20 added as a "more follows" flag, and every group gets
 *   48 added, so the text only uses the characters '0' (48) to 'o' (111).
 *
 * Example: 70 = 0b10_00110. First group 0b00110 with 2 left over, so more follows:
 * 48 + 0x20 + 6 = 'V'. Second group 2, with 0 left and its 0x10 bit clear, so it ends:
 * 48 + 2 = '2'. 70 is written "V2".
 */
import { Sam2InputError } from './errors';
import { checkMaskSize } from './mask-stats';

export interface CocoRle {
  /** `[height, width]`, as pycocotools has it. */
  size: [number, number];
  counts: string;
}

export function maskToRle(mask: Uint8Array, width: number, height: number): CocoRle {
  checkMaskSize(mask, width, height);
  return { size: [height, width], counts: runsToString(columnRuns(mask, width, height)) };
}

/** The row-major mask (`width * height` values of 0 or 1) that `rle` describes. */
export function rleToMask(rle: CocoRle): Uint8Array {
  const [height, width] = checkSize(rle?.size);
  const runs = stringToRuns(rle.counts, width * height);
  const mask = new Uint8Array(width * height);
  let p = 0;
  for (let i = 0; i < runs.length; i++) {
    const length = runs[i];
    if (i & 1 && length > 0) {
      let x = Math.floor(p / height);
      let y = p - x * height;
      let at = y * width + x;
      for (let k = 0; k < length; k++) {
        mask[at] = 1;
        if (++y === height) {
          y = 0;
          at = ++x;
        } else {
          at += width;
        }
      }
    }
    p += length;
  }
  return mask;
}

/**
 * Run lengths in column order, from one pass down the rows in memory order: reading
 * column by column strides across the whole mask for every pixel, which is three times
 * slower at 1080p. A run starts wherever a pixel differs from the one above it (or, on the
 * top row, from the bottom of the column to its left), so comparing each row with the one
 * above, four pixels at a time where rows are 4-byte aligned, finds every run start.
 */
function columnRuns(mask: Uint8Array, width: number, height: number): number[] {
  const n = width * height;
  if (n === 0) return [0];
  const xs: number[] = [];
  const ys: number[] = [];
  for (let x = 0; x < width; x++) {
    const before = x === 0 ? 0 : mask[(height - 1) * width + x - 1];
    if (!mask[x] !== !before) {
      xs.push(x);
      ys.push(0);
    }
  }
  const words = width % 4 === 0 && mask.byteOffset % 4 === 0 ? new Uint32Array(mask.buffer, mask.byteOffset, n / 4) : null;
  for (let y = 1; y < height; y++) {
    const row = y * width;
    const above = row - width;
    if (words) {
      for (let w = row / 4, end = (row + width) / 4; w < end; w++) {
        if (words[w] === words[w - width / 4]) continue;
        for (let x = (w - row / 4) * 4, stop = x + 4; x < stop; x++) {
          if (!mask[row + x] !== !mask[above + x]) {
            xs.push(x);
            ys.push(y);
          }
        }
      }
    } else {
      for (let x = 0; x < width; x++) {
        if (!mask[row + x] !== !mask[above + x]) {
          xs.push(x);
          ys.push(y);
        }
      }
    }
  }
  // Found row by row, the starts are put in column order by a counting sort on x, which
  // keeps each column's starts in the order of their rows.
  const next = new Uint32Array(width + 1);
  for (const x of xs) next[x + 1]++;
  for (let x = 0; x < width; x++) next[x + 1] += next[x];
  const starts = new Float64Array(xs.length);
  for (let i = 0; i < xs.length; i++) starts[next[xs[i]]++] = xs[i] * height + ys[i];
  const runs = new Array<number>(starts.length + 1);
  let previous = 0;
  for (let i = 0; i < starts.length; i++) {
    runs[i] = starts[i] - previous;
    previous = starts[i];
  }
  runs[starts.length] = n - previous;
  return runs;
}

/** Seven groups of 5 bits hold any difference of two 32-bit counts, pycocotools' limit. */
const MAX_GROUPS = 7;

function runsToString(runs: number[]): string {
  const text = Buffer.allocUnsafe(runs.length * MAX_GROUPS);
  let p = 0;
  for (let i = 0; i < runs.length; i++) {
    // Division rather than `>>` so that counts past 2^31 (masks over 46k x 46k) stay exact.
    let x = i > 2 ? runs[i] - runs[i - 2] : runs[i];
    let more = true;
    while (more) {
      const group = ((x % 32) + 32) % 32;
      x = (x - group) / 32;
      more = group & 0x10 ? x !== -1 : x !== 0;
      text[p++] = 48 + group + (more ? 0x20 : 0);
    }
  }
  return text.toString('latin1', 0, p);
}

const FIX = 'Pass the counts string and size exactly as pycocotools wrote them';

function stringToRuns(counts: unknown, n: number): number[] {
  if (typeof counts !== 'string') {
    throw new Sam2InputError('rle.counts', `must be a string, got ${Array.isArray(counts) ? 'an array (uncompressed RLE)' : typeof counts}`, `${FIX} (a bytes value decoded as ASCII)`);
  }
  const runs: number[] = [];
  let total = 0;
  let p = 0;
  while (p < counts.length) {
    const start = p;
    let value = 0;
    let scale = 1;
    let code: number;
    do {
      if (p === counts.length) throw new Sam2InputError('rle.counts', `the string ends inside the number that starts at character ${start}`, FIX);
      if (scale === 32 ** MAX_GROUPS) throw new Sam2InputError('rle.counts', `the number at character ${start} is longer than ${MAX_GROUPS} characters`, FIX);
      code = counts.charCodeAt(p) - 48;
      if (code < 0 || code > 63) {
        throw new Sam2InputError('rle.counts', `character ${p} is ${JSON.stringify(counts[p])}, not one of '0' to 'o'`, FIX);
      }
      value += (code & 0x1f) * scale;
      scale *= 32;
      p++;
    } while (code & 0x20);
    if (code & 0x10) value -= scale;
    if (runs.length > 2) value += runs[runs.length - 2];
    if (value < 0) throw new Sam2InputError('rle.counts', `run ${runs.length} (at character ${start}) has a negative length, ${value}`, FIX);
    total += value;
    if (total > n) throw new Sam2InputError('rle.counts', `the runs pass the ${n} pixels that size allows by run ${runs.length} (at character ${start})`, FIX);
    runs.push(value);
  }
  if (total !== n) throw new Sam2InputError('rle.counts', `the runs add up to ${total} pixels but size makes ${n}`, FIX);
  return runs;
}

function checkSize(size: unknown): [number, number] {
  if (!Array.isArray(size) || size.length !== 2 || !size.every((v) => Number.isInteger(v) && v >= 0)) {
    throw new Sam2InputError('rle.size', `must be [height, width] in whole pixels, got ${JSON.stringify(size)}`, FIX);
  }
  return [size[0], size[1]];
}
