/**
 * Reading one number of the list text: Python's repr of a float32 widened to double
 * (`-8.123456954956055`, `1.0`, `1e-05`, `nan`, `inf`), straight from the bytes, with the
 * result equal to Math.fround(Number(text)) for any text. The list layer calls these for
 * every value, so they are kept small enough for V8 to inline them into its loops, and
 * report where a number ends through a reader object instead of allocating a result.
 */
import { Byte, endsNumber, latin1 } from './bytes';

/** How far a value read by NumberReader.read can be trusted. */
export const enum NumberKind {
  /** The value is Number(text) exactly. */
  Exact,
  /** Within a few units in the last place of Number(text); see NumberReader.read. */
  Approx,
  /** The text is not a number. */
  Invalid,
}

/**
 * 10^-k for k fraction digits, each the double nearest it (1 / 10^k, with 10^k exact up to
 * k = 22). Multiplying by it is several times faster than dividing by 10^k.
 */
const INV_POW10 = [
  1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
  1e19, 1e20, 1e21, 1e22,
].map((p) => 1 / p);
const MAX_EXACT_MANTISSA = 2 ** 53;
/** An inexact parse this close (relative) to a float32 rounds to it; see NumberReader.read for why. */
const F32_SAFE = 2 ** -45;

const ODD_NUMBER = /^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|nan|inf|infinity)$/i;

/** 0 when all four bytes of a little-endian word are ASCII digits. */
function nonDigitLanes(w: number): number {
  return ((w & 0xf0f0f0f0) ^ 0x30303030) | ((((w + 0x06060606) | 0) & 0xf0f0f0f0) ^ 0x30303030);
}

/** The value of four ASCII digits read as a little-endian word, first digit lowest. */
function fourDigitValue(w: number): number {
  const d = (w - 0x30303030) | 0;
  const pairs = (Math.imul(d, 10) + (d >>> 8)) & 0x00ff00ff;
  return (pairs & 0xff) * 100 + (pairs >>> 16);
}

/**
 * Reads numbers out of byte buffers. Each read returns the value and leaves in `end` the
 * index after the number's text and in `kind` how much to trust the value. One reader per
 * list decoder, so nothing of a read outlives the decoder that made it.
 */
export class NumberReader {
  /** The index after the number last read. */
  end = 0;
  kind: NumberKind = NumberKind.Exact;

  /**
   * Reads the number starting at `i`. The caller guarantees that buf[safe] cannot be part
   * of a number and that the number starts before it, so reads need no bounds checks.
   * Exponents and other rare forms go to readOdd.
   *
   * Digits go into a double mantissa m, scaled by 10^-k (k fraction digits) from a table.
   * Integers up to 2^53 come out exactly (Exact). Otherwise the result is within a few
   * units in the last place of a double (Approx): Python's repr of a float32 widened to
   * double often has 17 digits, more than 2^53 holds, and 10^-k is itself rounded. That
   * error is about 2^-50 relative, while a float32 rounding boundary is at least 2^-25
   * relative away from any float32. The text the API sends is a float32 value exactly, so
   * the approximate double rounds to the same float32 as Number(text) would. nearFloat32
   * checks that the value is indeed that close to a float32, and the callers fall back to
   * Number(text) otherwise, so the result equals Math.fround(Number(text)) for any text;
   * aboveThreshold does the same near the threshold.
   *
   * Fraction digits, most of a logit's text, are taken four at a time from one 32-bit
   * read: a byte at a time, each digit waits on the multiply-add of the one before.
   */
  read(buf: Uint8Array, view: DataView, i: number, safe: number): number {
    const start = i;
    let c = buf[i];
    let neg = false;
    if (c === Byte.Minus) {
      neg = true;
      c = buf[++i];
    }
    let m = 0;
    const intStart = i;
    while (c >= Byte.Zero && c <= Byte.Nine) {
      m = m * 10 + (c - Byte.Zero);
      c = buf[++i];
    }
    const intDigits = i - intStart;
    let fracDigits = 0;
    if (c === Byte.Dot) {
      const fracStart = ++i;
      while (i + 4 <= safe) {
        const w = view.getInt32(i, true);
        if (nonDigitLanes(w) !== 0) break;
        m = m * 10000 + fourDigitValue(w);
        i += 4;
      }
      c = buf[i];
      while (c >= Byte.Zero && c <= Byte.Nine) {
        m = m * 10 + (c - Byte.Zero);
        c = buf[++i];
      }
      fracDigits = i - fracStart;
    }
    if (intDigits + fracDigits === 0 || fracDigits > 22 || !endsNumber(c)) return this.readOdd(buf, start);
    this.end = i;
    this.kind = fracDigits === 0 && m <= MAX_EXACT_MANTISSA ? NumberKind.Exact : NumberKind.Approx;
    const v = m * INV_POW10[fracDigits];
    return neg ? -v : v;
  }

  /**
   * Forms the fast path leaves alone, read exactly through Number(): exponents (`1e-05`),
   * `nan`, `inf`, `Infinity`, a leading `+`, `.5`, or not a number at all (Invalid).
   */
  readOdd(buf: Uint8Array, start: number): number {
    let end = start;
    while (end < buf.length && !endsNumber(buf[end]) && buf[end] !== Byte.Open) end++;
    this.end = end;
    const text = latin1(buf, start, end);
    if (!ODD_NUMBER.test(text)) {
      this.kind = NumberKind.Invalid;
      return NaN;
    }
    this.kind = NumberKind.Exact;
    const lower = text.toLowerCase();
    if (lower.endsWith('nan')) return NaN;
    if (lower.endsWith('inf') || lower.endsWith('infinity')) return lower.startsWith('-') ? -Infinity : Infinity;
    return Number(text);
  }

  /**
   * With threshold 0 a value is foreground when it has no minus sign and a non-zero digit,
   * so plain decimals need no arithmetic at all. Returns 1 or 0 and sets `end`, or returns
   * -1 for anything else (exponents, nan, inf, junk) and leaves those to read.
   */
  signBit(buf: Uint8Array, view: DataView, i: number, safe: number): number {
    let c = buf[i];
    let positive = 1;
    if (c === Byte.Minus) {
      positive = 0;
      c = buf[++i];
    }
    const intStart = i;
    let nonZero = 0;
    while (c >= Byte.Zero && c <= Byte.Nine) {
      nonZero |= c - Byte.Zero;
      c = buf[++i];
    }
    let digits = i - intStart;
    if (c === Byte.Dot) {
      const fracStart = ++i;
      while (i + 4 <= safe) {
        const w = view.getInt32(i, true);
        if (nonDigitLanes(w) !== 0) break;
        nonZero |= w ^ 0x30303030;
        i += 4;
      }
      c = buf[i];
      while (c >= Byte.Zero && c <= Byte.Nine) {
        nonZero |= c - Byte.Zero;
        c = buf[++i];
      }
      digits += i - fracStart;
    }
    if (digits === 0 || !endsNumber(c)) return -1;
    this.end = i;
    return nonZero === 0 ? 0 : positive;
  }
}

/** Whether an Approx value is close enough to a float32 to round to it whatever its error (see NumberReader.read). */
export function nearFloat32(v: number): boolean {
  const f = Math.fround(v);
  const size = Math.abs(f);
  return size < Infinity && Math.abs(v - f) <= size * F32_SAFE;
}

/** Number(text) of buf[start..end), for values the fast path cannot settle. */
export function exactNumber(buf: Uint8Array, start: number, end: number): number {
  return Number(latin1(buf, start, end));
}

/** value > threshold (1 or 0), exactly as Number(text) > threshold would say. */
export function aboveThreshold(v: number, kind: NumberKind, threshold: number, buf: Uint8Array, start: number, end: number): number {
  if (kind === NumberKind.Approx && !(Math.abs(v - threshold) > Math.abs(threshold) * F32_SAFE)) v = exactNumber(buf, start, end);
  return v > threshold ? 1 : 0;
}
