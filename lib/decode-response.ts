/**
 * Streaming decoder for the segment-anything-2 answer,
 * `{"masks": "<text>", "scores": "<text>", "logits": "<text>"}`, where each text is Python's
 * `str()` of a nested list of floats. A 1080p answer is tens of MB of such text and a 4K one
 * is more than one V8 string can hold, so the body is never made into a string: bytes go
 * from each chunk through a small JSON state machine straight into a list scanner that
 * writes typed arrays. Only the output arrays and a few bytes of state outlive a chunk.
 */
import { Sam2DecodeError, Sam2InputError } from './errors';
import { LOW_RES_SIZE } from './types';

export type MaskDecoding = 'binary' | 'logits' | 'skip';

export interface DecodeOptions {
  /** binary: 1 where value > threshold, else 0, in a Uint8Array; logits: a Float32Array; skip: not stored. */
  masks: MaskDecoding;
  /** The 256x256 low-resolution logits: decoded (default) or skipped. */
  logits?: 'logits' | 'skip';
  /** For binary masks; default 0.0, the threshold SAM2 itself uses. */
  threshold?: number;
  /** Largest body accepted, in bytes; default 1 GiB. */
  maxBytes?: number;
  /** Known sizes: outputs are allocated once, and an answer that disagrees is an error. */
  expectedShape?: { count?: number; height?: number; width?: number };
  /** Stops reading; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface DecodedArray<T> {
  data: T;
  /** [C, H, W] */
  shape: [number, number, number];
}

export interface DecodedResponse {
  /** null when skipped. */
  masks: DecodedArray<Uint8Array | Float32Array> | null;
  scores: Float32Array;
  /** null when skipped. */
  logits: DecodedArray<Float32Array> | null;
}

const DEFAULT_MAX_BYTES = 1024 * 1024 * 1024;

const TAB = 9;
const LF = 10;
const CR = 13;
const SPACE = 32;
const QUOTE = 34;
const COMMA = 44;
const MINUS = 45;
const DOT = 46;
const SLASH = 47;
const ZERO = 48;
const COLON = 58;
const OPEN = 91;
const BACKSLASH = 92;
const CLOSE = 93;
const LOWER_B = 98;
const LOWER_F = 102;
const LOWER_N = 110;
const LOWER_R = 114;
const LOWER_T = 116;
const LOWER_U = 117;
const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;

function isSpace(c: number): boolean {
  return c === SPACE || c === LF || c === CR || c === TAB;
}

/**
 * What may follow a number: list punctuation, or the field string's closing quote or an
 * escape, since the scanner runs over the raw chunk and stops there.
 */
function endsNumber(c: number): boolean {
  return c === COMMA || c === CLOSE || c === SPACE || c === LF || c === CR || c === TAB || c === QUOTE || c === BACKSLASH;
}

function show(c: number): string {
  return c >= 0x20 && c < 0x7f ? `'${String.fromCharCode(c)}'` : `byte 0x${c.toString(16).padStart(2, '0')}`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function latin1(buf: Uint8Array, start: number, end: number): string {
  let s = '';
  for (let i = start; i < end; i++) s += String.fromCharCode(buf[i]);
  return s;
}

// ---------------------------------------------------------------------------------------
// Numbers

/**
 * 10^-k for k fraction digits, each the double nearest it (1 / 10^k, with 10^k exact up to
 * k = 22). Multiplying by it is several times faster than dividing by 10^k.
 */
const INV_POW10 = [
  1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
  1e19, 1e20, 1e21, 1e22,
].map((p) => 1 / p);
const MAX_EXACT_MANTISSA = 2 ** 53;
/** An inexact parse this close (relative) to a float32 rounds to it; see readNumber for why. */
const F32_SAFE = 2 ** -45;

const EXACT = 0;
const APPROX = 1;
const INVALID = 2;
/** readNumber's other results, kept in module variables so the hot loop allocates nothing. */
let gEnd = 0;
let gKind = EXACT;

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
 * Reads the number starting at `i`. The caller guarantees that buf[safe] cannot be part of a
 * number and that the number starts before it, so reads need no bounds checks. Returns the
 * value, with gEnd the index after it and gKind saying how much to trust it. Kept small so
 * that V8 inlines it into the value loops; exponents and other rare forms go to
 * readOddNumber.
 *
 * Digits go into a double mantissa m, scaled by 10^-k (k fraction digits) from a table.
 * Integers up to 2^53 come out exactly (EXACT). Otherwise the result is within a few units
 * in the last place of a double (APPROX): Python's repr of a float32 widened to double often
 * has 17 digits, more than 2^53 holds, and 10^-k is itself rounded. That error is about
 * 2^-50 relative, while a float32 rounding boundary is at least 2^-25 relative away from any
 * float32. The text the API sends is a float32 value exactly, so the approximate double
 * rounds to the same float32 as Number(text) would. nearFloat32 checks that the value is
 * indeed that close to a float32, and the callers fall back to Number(text) otherwise, so
 * the result equals Math.fround(Number(text)) for any text; aboveThreshold does the same
 * near the threshold.
 *
 * Fraction digits, most of a logit's text, are taken four at a time from one 32-bit read:
 * a byte at a time, each digit waits on the multiply-add of the one before.
 */
function readNumber(buf: Uint8Array, view: DataView, i: number, safe: number): number {
  const start = i;
  let c = buf[i];
  let neg = false;
  if (c === MINUS) {
    neg = true;
    c = buf[++i];
  }
  let m = 0;
  const intStart = i;
  while (c >= ZERO && c <= ZERO + 9) {
    m = m * 10 + (c - ZERO);
    c = buf[++i];
  }
  const intDigits = i - intStart;
  let fracDigits = 0;
  if (c === DOT) {
    const fracStart = ++i;
    while (i + 4 <= safe) {
      const w = view.getInt32(i, true);
      if (nonDigitLanes(w) !== 0) break;
      m = m * 10000 + fourDigitValue(w);
      i += 4;
    }
    c = buf[i];
    while (c >= ZERO && c <= ZERO + 9) {
      m = m * 10 + (c - ZERO);
      c = buf[++i];
    }
    fracDigits = i - fracStart;
  }
  if (intDigits + fracDigits === 0 || fracDigits > 22 || !endsNumber(c)) return readOddNumber(buf, start);
  gEnd = i;
  gKind = fracDigits === 0 && m <= MAX_EXACT_MANTISSA ? EXACT : APPROX;
  const v = m * INV_POW10[fracDigits];
  return neg ? -v : v;
}

const ODD_NUMBER = /^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|nan|inf|infinity)$/i;

/**
 * Forms the fast path leaves alone, read exactly through Number(): exponents (`1e-05`),
 * `nan`, `inf`, `Infinity`, a leading `+`, `.5`, or not a number at all.
 */
function readOddNumber(buf: Uint8Array, start: number): number {
  let end = start;
  while (end < buf.length && !endsNumber(buf[end]) && buf[end] !== OPEN) end++;
  gEnd = end;
  const text = latin1(buf, start, end);
  if (!ODD_NUMBER.test(text)) {
    gKind = INVALID;
    return NaN;
  }
  gKind = EXACT;
  const lower = text.toLowerCase();
  if (lower.endsWith('nan')) return NaN;
  if (lower.endsWith('inf') || lower.endsWith('infinity')) return lower.startsWith('-') ? -Infinity : Infinity;
  return Number(text);
}

/** Whether an APPROX value is close enough to a float32 to round to it whatever its error (see readNumber). */
function nearFloat32(v: number): boolean {
  const f = Math.fround(v);
  const size = Math.abs(f);
  return size < Infinity && Math.abs(v - f) <= size * F32_SAFE;
}

function exactNumber(buf: Uint8Array, start: number, end: number): number {
  return Number(latin1(buf, start, end));
}

/** value > threshold, exactly as Number(text) > threshold would say. */
function aboveThreshold(v: number, kind: number, threshold: number, buf: Uint8Array, start: number, end: number): number {
  if (kind === APPROX && !(Math.abs(v - threshold) > Math.abs(threshold) * F32_SAFE)) v = exactNumber(buf, start, end);
  return v > threshold ? 1 : 0;
}

/**
 * With threshold 0 a value is foreground when it has no minus sign and a non-zero digit, so
 * plain decimals need no arithmetic at all. Returns -1 for anything else (exponents, nan,
 * inf, junk) and leaves those to readNumber. Sets gEnd.
 */
function signBit(buf: Uint8Array, view: DataView, i: number, safe: number): number {
  let c = buf[i];
  let positive = 1;
  if (c === MINUS) {
    positive = 0;
    c = buf[++i];
  }
  const intStart = i;
  let nonZero = 0;
  while (c >= ZERO && c <= ZERO + 9) {
    nonZero |= c - ZERO;
    c = buf[++i];
  }
  let digits = i - intStart;
  if (c === DOT) {
    const fracStart = ++i;
    while (i + 4 <= safe) {
      const w = view.getInt32(i, true);
      if (nonDigitLanes(w) !== 0) break;
      nonZero |= w ^ 0x30303030;
      i += 4;
    }
    c = buf[i];
    while (c >= ZERO && c <= ZERO + 9) {
      nonZero |= c - ZERO;
      c = buf[++i];
    }
    digits += i - fracStart;
  }
  if (digits === 0 || !endsNumber(c)) return -1;
  gEnd = i;
  return nonZero === 0 ? 0 : positive;
}

// ---------------------------------------------------------------------------------------
// Field texts

/** Receives a field string's content, unescaped, in pieces that may split anywhere. */
interface FieldSink {
  /**
   * Reads buf[start..end); the body offset of buf[k] is base + k. A sink that scans raw
   * chunks returns the index of the first '"' or '\\' it meets, for the JSON layer to
   * handle; otherwise it returns end.
   */
  feed(buf: Uint8Array, start: number, end: number, base: number): number;
  /** The closing quote is at body offset `offset`. */
  finish(offset: number): void;
}

/** Where an expected size comes from, for the message when the answer disagrees. */
interface Expectation {
  size: number;
  source: string;
}

function emptyFieldError(field: string, offset: number): Sam2DecodeError {
  return new Sam2DecodeError(
    field,
    offset,
    `the ${field} text is empty: the server returned no masks (the gateway answers this way when its runner crashed)`,
  );
}

const ST_START = 0;
const ST_OPENED = 1;
const ST_NEXT = 2;
const ST_AFTER = 3;
const ST_DONE = 4;

/**
 * Without expectedShape, the first mask's values go into fixed blocks: growing one array by
 * doubling would copy repeatedly and at the last doubling hold up to three masks' worth.
 * The blocks stay until the list shows how many masks there are (the API sends 1 or 3):
 * when a second mask opens, one array for 3 masks is allocated (expectedShape.count if
 * given) and the blocks copied into it once; when the list ends after one mask, an array for
 * exactly one. So the first mask is copied once, and the peak beyond the output is that one
 * mask: 33 MB at 4K with logits, inside the 64 MB budget.
 */
const BLOCK_VALUES = 1 << 20;
/** `, ` read as a little-endian 16-bit word. */
const COMMA_SPACE = 0x202c;
/**
 * Four binary values, `d.0, d.0, d.0, d.0, `, as five little-endian words with each digit
 * `1`; a `0` digit clears the low bit of its byte.
 */
const BITS_0 = 0x2c302e31;
const BITS_1 = 0x302e3120;
const BITS_2 = 0x2e31202c;
const BITS_3 = 0x31202c30;
const BITS_4 = 0x202c302e;
/** Past the first three masks, grow by whole masks up to about this many bytes at a time. */
const GROW_BYTES = 16 * 1024 * 1024;
/** Longest number text accepted: Python's float reprs are at most 24 characters. */
const MAX_NUMBER_CHARS = 64;

/** Scans Python list text of depth 3 (C x H x W) or 1 (C) into a typed array. */
class ListDecoder implements FieldSink {
  private readonly binary: boolean;
  private readonly zeroBit: number;
  private readonly oneBit: number;
  private level = 0;
  private state = ST_START;
  private seen = false;
  private base = 0;
  private out: Uint8Array | Float32Array;
  private p = 0;
  /** Values written into earlier blocks, while the first mask's size is unknown. */
  private blockBase = 0;
  private blocks: Array<Uint8Array | Float32Array> | null;
  private unit = 0;
  private capUnits = 0;
  private count = 0;
  private rows = 0;
  private rowStart = 0;
  private readonly carry = new Uint8Array(MAX_NUMBER_CHARS + 1);
  private readonly carryView = new DataView(this.carry.buffer);
  private carryLen = 0;
  private carryOffset = 0;
  private safeBuf: Uint8Array | null = null;
  private safeBase = -1;
  private safeLimit = 0;
  private safePos = 0;
  private view: DataView = this.carryView;

  constructor(
    readonly field: string,
    private readonly depth: 1 | 3,
    mode: 'binary' | 'logits',
    private readonly threshold: number,
    private expCount: Expectation | null,
    private expHeight: Expectation | null,
    private expWidth: Expectation | null,
  ) {
    this.binary = mode === 'binary';
    this.zeroBit = 0 > threshold ? 1 : 0;
    this.oneBit = 1 > threshold ? 1 : 0;
    this.out = this.alloc(0);
    if (depth === 1) this.unit = 1;
    else if (expHeight !== null && expWidth !== null) this.unit = expHeight.size * expWidth.size;
    this.blocks = this.unit === 0 ? [] : null;
  }

  private alloc(n: number): Uint8Array | Float32Array {
    return this.binary ? new Uint8Array(n) : new Float32Array(n);
  }

  private fail(offset: number, problem: string): Sam2DecodeError {
    return new Sam2DecodeError(this.field, offset, problem);
  }

  feed(buf: Uint8Array, i: number, end: number, base: number): number {
    this.base = base;
    if (this.carryLen > 0) {
      i = this.continueNumber(buf, i, end);
      if (this.carryLen > 0) return i;
    }
    while (i < end) {
      const c = buf[i];
      if (isSpace(c)) {
        i++;
        continue;
      }
      if (c === QUOTE || c === BACKSLASH) return i;
      this.seen = true;
      const state = this.state;
      if (state === ST_NEXT || state === ST_OPENED) {
        if (c === CLOSE && state === ST_OPENED) {
          throw this.fail(base + i, this.level === 1 ? `an empty list: the server returned no ${this.field}` : 'an empty list inside the list');
        }
        if (this.level < this.depth) {
          if (c !== OPEN) throw this.fail(base + i, this.shapeProblem(`found ${show(c)} where a list of depth ${this.level + 1} should start`));
          this.open(base + i);
        } else if (c === OPEN) {
          throw this.fail(base + i, this.shapeProblem(`a list is nested ${this.level + 1} deep`));
        } else if (c === COMMA || c === CLOSE) {
          throw this.fail(base + i, `expected a number, found ${show(c)}`);
        } else {
          const safe = this.safeEnd(buf, end);
          if (i >= safe) i = this.startNumber(buf, i, end);
          else i = this.binary ? this.binaryValues(buf, i, end, safe) : this.floatValues(buf, i, safe);
          if (this.carryLen > 0) return i;
          continue;
        }
      } else if (state === ST_AFTER) {
        if (c === COMMA) this.state = ST_NEXT;
        else if (c === CLOSE) this.close(base + i);
        else throw this.fail(base + i, `expected ', ' or ']' after a value, found ${show(c)}`);
      } else if (state === ST_START) {
        if (c !== OPEN) throw this.fail(base + i, `expected the list text to start with '[', found ${show(c)}`);
        this.open(base + i);
      } else {
        throw this.fail(base + i, `unexpected ${show(c)} after the list's closing ']'`);
      }
      i++;
    }
    return i;
  }

  /**
   * The last ',' or ']' before `end`: every number that starts before it ends by it, so the
   * value loops read ahead without bounds checks while they start values before it. Kept
   * per piece, as a chunk is fed again after each escape in it; the piece's body offset is
   * part of the key because a stream may hand over the same buffer refilled.
   */
  private safeEnd(buf: Uint8Array, end: number): number {
    if (buf === this.safeBuf && this.base === this.safeBase && end === this.safeLimit) return this.safePos;
    let safe = end - 1;
    while (safe >= 0) {
      const c = buf[safe];
      if (c === COMMA || c === CLOSE) break;
      safe--;
    }
    this.safeBuf = buf;
    this.safeBase = this.base;
    this.safeLimit = end;
    this.safePos = safe;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    return safe;
  }

  private shapeProblem(what: string): string {
    return this.depth === 1
      ? `${this.field} must be a flat list of numbers, but ${what}`
      : `${this.field} must be lists nested 3 deep (C x H x W) holding numbers, but ${what}`;
  }

  /**
   * Values of an innermost list, from `i` (a value's first byte, before `safe`) while each is
   * followed by `, ` and the next starts before `safe`. Anything else (the list's end,
   * other spacing, an escape, the string's end) goes back to the structural loop in feed.
   */
  private floatValues(buf: Uint8Array, i: number, safe: number): number {
    const view = this.view;
    let out = this.out as Float32Array;
    let p = this.p;
    let cap = out.length;
    let start: number;
    for (;;) {
      start = i;
      let v = readNumber(buf, view, i, safe);
      if (gKind !== EXACT) {
        if (gKind === INVALID) return this.invalid(buf, start, p);
        if (!nearFloat32(v)) v = exactNumber(buf, start, gEnd);
      }
      if (p === cap) {
        this.p = p;
        this.grow(this.base + start);
        out = this.out as Float32Array;
        p = this.p;
        cap = out.length;
      }
      out[p++] = v;
      i = gEnd;
      if (i + 2 >= safe || view.getUint16(i, true) !== COMMA_SPACE) break;
      i += 2;
    }
    return this.afterValues(buf, start, i, p);
  }

  private binaryValues(buf: Uint8Array, i: number, end: number, safe: number): number {
    const view = this.view;
    let out = this.out as Uint8Array;
    let p = this.p;
    const zeroBit = this.zeroBit;
    const oneBit = this.oneBit;
    const signOnly = this.threshold === 0;
    // With 0 <= threshold < 1, `0.0` is 0 and `1.0` is 1: the digit's low bit is the value.
    const plainBits = zeroBit === 0 && oneBit === 1;
    let start: number;
    for (;;) {
      if (plainBits) {
        // Binary masks are runs of `0.0, ` and `1.0, `: five 32-bit reads check four whole
        // values, the digits' low bits being the only bits that may differ.
        const cap4 = out.length - 3;
        while (i + 19 <= safe && p < cap4) {
          const a = view.getInt32(i, true);
          const b = view.getInt32(i + 4, true);
          const c = view.getInt32(i + 8, true);
          const d = view.getInt32(i + 12, true);
          const e = view.getInt32(i + 16, true);
          if ((a | 1) !== BITS_0 || (b | 0x100) !== BITS_1 || (c | 0x10000) !== BITS_2 || (d | 0x1000000) !== BITS_3 || e !== BITS_4) break;
          out[p] = a & 1;
          out[p + 1] = (b >> 8) & 1;
          out[p + 2] = (c >> 16) & 1;
          out[p + 3] = d >>> 24 & 1;
          p += 4;
          i += 20;
        }
        const cap = out.length;
        while (i + 3 <= safe && p < cap) {
          const w = view.getInt32(i, true);
          if ((w | 1) !== BITS_0) break;
          out[p++] = w & 1;
          i += 4;
          if (i < end && buf[i] === SPACE) i++;
        }
        if (i >= safe || buf[i] <= SPACE) {
          this.p = p;
          this.state = ST_NEXT;
          return i;
        }
      }
      start = i;
      let bit: number;
      let w: number;
      if (i + 3 <= safe && ((w = view.getInt32(i, true)) | 1) === BITS_0) {
        bit = (w & 1) === 0 ? zeroBit : oneBit;
        i += 3;
      } else {
        bit = signOnly ? signBit(buf, view, i, safe) : -1;
        if (bit < 0) {
          const v = readNumber(buf, view, i, safe);
          if (gKind === INVALID) return this.invalid(buf, start, p);
          bit = aboveThreshold(v, gKind, this.threshold, buf, start, gEnd);
        }
        i = gEnd;
      }
      if (p === out.length) {
        this.p = p;
        this.grow(this.base + start);
        out = this.out as Uint8Array;
        p = this.p;
      }
      out[p++] = bit;
      if (i + 2 >= safe || view.getUint16(i, true) !== COMMA_SPACE) break;
      i += 2;
    }
    return this.afterValues(buf, start, i, p);
  }

  /** A token the value loops cannot read: an escape or other byte for feed, or an error. */
  private invalid(buf: Uint8Array, start: number, p: number): number {
    this.p = p;
    this.state = ST_NEXT;
    if (gEnd === start) return start;
    if (buf[gEnd] === BACKSLASH) return this.stash(buf, start, gEnd);
    throw this.notANumber(buf, start, gEnd);
  }

  /** Leaves the value loops after the value at `start`, which ends at `i`. */
  private afterValues(buf: Uint8Array, start: number, i: number, p: number): number {
    if (buf[i] === BACKSLASH) {
      // The number may go on after the escape: take it back and collect it in `carry`.
      this.p = p - 1;
      this.state = ST_NEXT;
      return this.stash(buf, start, i);
    }
    this.p = p;
    this.state = ST_AFTER;
    return i;
  }

  /** Stores one value (already converted) outside the hot loops. */
  private store(v: number, offset: number): void {
    if (this.p === this.out.length) this.grow(offset);
    this.out[this.p++] = v;
  }

  /** A number cut by an escape: kept in `carry` until the escaped character arrives. */
  private stash(buf: Uint8Array, start: number, i: number): number {
    this.carryOffset = this.base + start;
    this.carryLen = 0;
    return this.continueNumber(buf, start, i);
  }

  /** A number that may run past the end of this piece: collected in `carry` until it ends. */
  private startNumber(buf: Uint8Array, i: number, end: number): number {
    this.carryOffset = this.base + i;
    this.carryLen = 0;
    return this.continueNumber(buf, i, end);
  }

  /** Adds what follows to `carry`; ends the number at a byte that must end it, not at '"' or '\\'. */
  private continueNumber(buf: Uint8Array, i: number, end: number): number {
    let j = i;
    while (j < end && !endsNumber(buf[j]) && buf[j] !== OPEN) j++;
    const len = this.carryLen + (j - i);
    if (len > MAX_NUMBER_CHARS) {
      const text = latin1(this.carry, 0, this.carryLen) + latin1(buf, i, i + 20);
      throw this.fail(this.carryOffset, `'${text}...' is not a number (longer than ${MAX_NUMBER_CHARS} characters)`);
    }
    this.carry.set(buf.subarray(i, j), this.carryLen);
    this.carryLen = len;
    if (j < end && buf[j] !== QUOTE && buf[j] !== BACKSLASH) this.endNumber();
    return j;
  }

  private endNumber(): void {
    const carry = this.carry;
    const len = this.carryLen;
    carry[len] = COMMA;
    this.carryLen = 0;
    let v = readNumber(carry, this.carryView, 0, len);
    if (gKind === INVALID || gEnd !== len) throw this.notANumber(carry, 0, len, this.carryOffset);
    if (this.binary) v = aboveThreshold(v, gKind, this.threshold, carry, 0, len);
    else if (gKind === APPROX && !nearFloat32(v)) v = exactNumber(carry, 0, len);
    this.store(v, this.carryOffset);
    this.state = ST_AFTER;
  }

  private notANumber(buf: Uint8Array, start: number, end: number, offset = this.base + start): Sam2DecodeError {
    if (end === start) return this.fail(offset, `expected a number, found ${show(buf[start])}`);
    const text = end - start > 40 ? `${latin1(buf, start, start + 40)}...` : latin1(buf, start, end);
    return this.fail(offset, `'${text}' is not a number`);
  }

  private open(offset: number): void {
    const level = ++this.level;
    if (this.depth === 3 && level === 2) {
      const exp = this.expCount;
      if (exp !== null && this.count === exp.size) {
        throw this.fail(offset, `${this.field} has more than ${exp.size} masks (C), but ${exp.source}`);
      }
      this.count++;
      this.rows = 0;
      if (this.count === 2 && this.blocks !== null) this.leaveBlocks(exp?.size ?? 3);
    } else if (this.depth === 3 && level === 3) {
      const exp = this.expHeight;
      if (exp !== null && this.rows === exp.size) {
        throw this.fail(offset, `mask ${this.count - 1} of ${this.field} has more than ${exp.size} rows (H), but ${exp.source}`);
      }
      this.rows++;
      this.rowStart = this.blockBase + this.p;
    }
    this.state = ST_OPENED;
  }

  private close(offset: number): void {
    const level = this.level--;
    if (this.depth === 1) {
      this.count = this.p;
      const exp = this.expCount;
      if (exp !== null && this.count !== exp.size) {
        throw this.fail(offset, `${this.field} has ${plural(this.count, 'value')}, but ${exp.source}`);
      }
    } else if (level === 3) {
      const n = this.blockBase + this.p - this.rowStart;
      const exp = this.expWidth;
      const where = `row ${this.rows - 1} of mask ${this.count - 1} of ${this.field}`;
      if (exp === null) this.expWidth = { size: n, source: `row 0 of mask 0 has ${n}` };
      else if (n !== exp.size) throw this.fail(offset, `${where} has ${plural(n, 'value')} (W), but ${exp.source}: rows must all be the same length`);
    } else if (level === 2) {
      const exp = this.expHeight;
      if (exp === null) this.expHeight = { size: this.rows, source: `mask 0 has ${this.rows}` };
      else if (this.rows !== exp.size) {
        throw this.fail(offset, `mask ${this.count - 1} of ${this.field} has ${plural(this.rows, 'row')} (H), but ${exp.source}`);
      }
      if (this.unit === 0) this.unit = this.blockBase + this.p;
    } else {
      if (this.blocks !== null) this.leaveBlocks(1);
      const exp = this.expCount;
      if (exp !== null && this.count !== exp.size) {
        throw this.fail(offset, `${this.field} has ${plural(this.count, 'mask')} (C), but ${exp.source}`);
      }
    }
    this.state = this.level === 0 ? ST_DONE : ST_AFTER;
  }

  /** Moves the first mask from its blocks into an array with room for `units` masks. */
  private leaveBlocks(units: number): void {
    const blocks = this.blocks as Array<Uint8Array | Float32Array>;
    const data = this.alloc(units * this.unit);
    let at = 0;
    for (const block of blocks) {
      data.set(block, at);
      at += block.length;
    }
    data.set(this.out.subarray(0, this.p), at);
    this.blocks = null;
    this.out = data;
    this.p = this.unit;
    this.blockBase = 0;
    this.capUnits = units;
  }

  /** Called when `out` is full and another value must be stored. */
  private grow(offset: number): void {
    if (this.blocks !== null) {
      if (this.out.length > 0) {
        this.blocks.push(this.out);
        this.blockBase += this.out.length;
      }
      this.out = this.alloc(BLOCK_VALUES);
      this.p = 0;
      return;
    }
    let next: number;
    if (this.depth === 1) {
      next = this.capUnits === 0 ? Math.max(this.expCount?.size ?? 0, 4) : this.capUnits * 2;
    } else if (this.count <= this.capUnits) {
      // The current mask's space is full, so its last row runs past the width.
      const exp = this.expWidth as Expectation;
      const where = `row ${this.rows - 1} of mask ${this.count - 1} of ${this.field}`;
      throw this.fail(offset, `${where} has more than ${exp.size} values (W), but ${exp.source}: rows must all be the same length`);
    } else if (this.capUnits === 0) {
      next = this.expCount?.size ?? 1;
    } else if (this.capUnits < 3) {
      next = 3;
    } else {
      const bytesPerMask = this.unit * (this.binary ? 1 : 4);
      next = this.capUnits + Math.max(1, Math.min(this.capUnits, Math.floor(GROW_BYTES / bytesPerMask)));
    }
    const data = this.alloc(next * this.unit);
    data.set(this.out.subarray(0, this.p));
    this.out = data;
    this.capUnits = next;
  }

  finish(offset: number): void {
    if (!this.seen) throw emptyFieldError(this.field, offset);
    if (this.state !== ST_DONE) throw this.fail(offset, `the ${this.field} text ends before its list is closed`);
    const used = this.depth === 1 ? this.p : this.count * this.unit;
    if (this.out.length > used) this.out = this.out.slice(0, used);
  }

  /** After finish: the values and their [C, H, W] shape. */
  result(): DecodedArray<Uint8Array | Float32Array> {
    const height = this.expHeight?.size ?? 1;
    const width = this.expWidth?.size ?? 1;
    return { data: this.out, shape: [this.count, this.depth === 1 ? 1 : height, this.depth === 1 ? 1 : width] };
  }

  /** How many masks (or scores) there were, for the fields that come later. */
  countExpectation(): Expectation {
    return { size: this.count, source: `${this.field} has ${plural(this.count, this.depth === 1 ? 'value' : 'mask')}` };
  }
}

/**
 * A field the caller does not want: only checked as far as is free while its bytes pass by,
 * so that skipping runs at the speed of indexOf. It must open with as many '[' as its depth,
 * hold as many ']' as '[', end with ']', and not be empty.
 */
class SkipChecker implements FieldSink {
  private opened = 0;
  private prefixDone = false;
  private seen = false;
  private opens = 0;
  private closes = 0;
  private last = 0;
  /** Next '[' and ']' at or after where they were last looked for, in the piece at `countBase`. */
  private countBuf: Uint8Array | null = null;
  private countBase = -1;
  private nextOpen = -1;
  private nextClose = -1;

  constructor(
    readonly field: string,
    private readonly depth: number,
  ) {}

  feed(buf: Uint8Array, i: number, end: number, base: number): number {
    if (!this.prefixDone) {
      for (; i < end; i++) {
        const c = buf[i];
        if (isSpace(c)) continue;
        this.seen = true;
        if (c === OPEN) {
          this.opened++;
          this.opens++;
          continue;
        }
        if (c === CLOSE && this.opened > 0) throw new Sam2DecodeError(this.field, base + i, 'an empty list inside the list');
        if (this.opened !== this.depth) {
          const problem = `${this.field} must be lists nested ${this.depth} deep (C x H x W), but it opens with ${this.opened} '['`;
          throw new Sam2DecodeError(this.field, base + i, problem);
        }
        this.prefixDone = true;
        break;
      }
    }
    if (buf !== this.countBuf || base !== this.countBase) {
      this.countBuf = buf;
      this.countBase = base;
      this.nextOpen = -1;
      this.nextClose = -1;
    }
    this.nextOpen = this.count(buf, OPEN, i, end, this.nextOpen);
    this.nextClose = this.count(buf, CLOSE, i, end, this.nextClose);
    let j = end - 1;
    while (j >= i && isSpace(buf[j])) j--;
    if (j >= i) this.last = buf[j];
    return end;
  }

  /** Counts `byte` in buf[i..end), given where it next occurs (if looked for before); returns its next position after. */
  private count(buf: Uint8Array, byte: number, i: number, end: number, next: number): number {
    let k = next < i ? buf.indexOf(byte, i) : next;
    let n = 0;
    while (k >= 0 && k < end) {
      n++;
      k = buf.indexOf(byte, k + 1);
    }
    if (byte === OPEN) this.opens += n;
    else this.closes += n;
    return k < 0 ? buf.length : k;
  }

  finish(offset: number): void {
    if (!this.seen) throw emptyFieldError(this.field, offset);
    if (!this.prefixDone || this.last !== CLOSE || this.opens !== this.closes) {
      throw new Sam2DecodeError(this.field, offset, `the ${this.field} text ends before its list is closed`);
    }
  }
}

// ---------------------------------------------------------------------------------------
// The JSON object around the fields

const J_TOP = 0;
const J_FIRST_KEY = 1;
const J_KEY = 2;
const J_KEY_STR = 3;
const J_COLON = 4;
const J_VALUE = 5;
const J_FIELD_STR = 6;
const J_SKIP_STR = 7;
const J_SKIP_VALUE = 8;
const J_AFTER = 9;
const J_DONE = 10;

const FIELD_NAMES = ['masks', 'scores', 'logits'] as const;
type FieldName = (typeof FIELD_NAMES)[number];
const MASKS = 0;
const SCORES = 1;
const LOGITS = 2;
const MAX_KEY_BYTES = 64;
const MAX_SKIP_DEPTH = 256;

function hexValue(c: number): number {
  if (c >= ZERO && c <= ZERO + 9) return c - ZERO;
  const lower = c | 32;
  if (lower >= 97 && lower <= 102) return lower - 87;
  return -1;
}

class ResponseDecoder {
  private state = J_TOP;
  /** Body offset of the current chunk's first byte. */
  private offset = 0;
  /** Next '"' and '\' at or after where they were last looked for in this chunk (length: none). */
  private quoteAt = -1;
  private slashAt = -1;
  /** 0: not in an escape; 1: after '\'; 2-5: that many minus 2 hex digits of \uXXXX read. */
  private esc = 0;
  private escCode = 0;
  private escAt = 0;
  private readonly scratch = new Uint8Array(4);
  private readonly key = new Uint8Array(MAX_KEY_BYTES);
  private keyLen = 0;
  private keyStart = 0;
  private field = -1;
  private sink: FieldSink | null = null;
  private readonly sinks: Array<FieldSink | null> = [null, null, null];
  private readonly otherKeys: string[] = [];
  private readonly skipStack = new Uint8Array(MAX_SKIP_DEPTH);
  private skipDepth = 0;
  private skipScalar = false;
  private knownCount: Expectation | null;

  constructor(private readonly options: Required<Pick<DecodeOptions, 'masks' | 'logits' | 'threshold' | 'maxBytes'>> & Pick<DecodeOptions, 'expectedShape'>) {
    const count = options.expectedShape?.count;
    this.knownCount = count === undefined ? null : { size: count, source: `expectedShape.count is ${count}` };
  }

  private fail(field: string, at: number, problem: string): Sam2DecodeError {
    return new Sam2DecodeError(field, at, problem);
  }

  push(chunk: Uint8Array): void {
    const len = chunk.length;
    const max = this.options.maxBytes;
    if (this.offset + len > max) {
      const fix = 'pass a larger maxBytes to decodeSegmentResponse if answers this big are expected';
      throw this.fail('body', max, `the answer is larger than maxBytes (${max} bytes); ${fix}`);
    }
    this.quoteAt = -1;
    this.slashAt = -1;
    let i = 0;
    while (i < len) {
      const state = this.state;
      if (state === J_FIELD_STR || state === J_KEY_STR || state === J_SKIP_STR) {
        i = this.string(chunk, i, len);
        continue;
      }
      if (state === J_SKIP_VALUE) {
        i = this.skipValue(chunk, i, len);
        continue;
      }
      const c = chunk[i];
      if (isSpace(c)) {
        i++;
        continue;
      }
      const at = this.offset + i;
      switch (state) {
        case J_TOP:
          if (c !== OPEN_BRACE) throw this.fail('body', at, `expected a JSON object, found ${show(c)}`);
          this.state = J_FIRST_KEY;
          break;
        case J_FIRST_KEY:
        case J_KEY:
          if (c === CLOSE_BRACE && state === J_FIRST_KEY) this.state = J_DONE;
          else if (c === QUOTE) {
            this.state = J_KEY_STR;
            this.keyLen = 0;
            this.keyStart = at;
          } else throw this.fail('body', at, `expected a key in quotes, found ${show(c)}`);
          break;
        case J_COLON:
          if (c !== COLON) throw this.fail('body', at, `expected ':' after a key, found ${show(c)}`);
          this.state = J_VALUE;
          break;
        case J_VALUE:
          if (this.field >= 0) {
            const name = FIELD_NAMES[this.field];
            if (c !== QUOTE) throw this.fail(name, at, `${name} must be a JSON string holding the list text, found ${show(c)}`);
            this.sink = this.makeSink(this.field);
            this.sinks[this.field] = this.sink;
            this.state = J_FIELD_STR;
          } else if (c === QUOTE) {
            this.skipDepth = 0;
            this.state = J_SKIP_STR;
          } else {
            this.skipDepth = 0;
            this.skipScalar = false;
            this.state = J_SKIP_VALUE;
            continue;
          }
          break;
        case J_AFTER:
          if (c === COMMA) this.state = J_KEY;
          else if (c === CLOSE_BRACE) this.state = J_DONE;
          else throw this.fail('body', at, `expected ',' or '}' after a value, found ${show(c)}`);
          break;
        default:
          throw this.fail('body', at, `unexpected ${show(c)} after the JSON object`);
      }
      i++;
    }
    this.offset += len;
  }

  private makeSink(field: number): FieldSink {
    const { masks, logits, threshold, expectedShape } = this.options;
    if (field === MASKS) {
      if (masks === 'skip') return new SkipChecker('masks', 3);
      const h = expectedShape?.height;
      const w = expectedShape?.width;
      return new ListDecoder(
        'masks',
        3,
        masks,
        threshold,
        this.knownCount,
        h === undefined ? null : { size: h, source: `expectedShape.height is ${h}` },
        w === undefined ? null : { size: w, source: `expectedShape.width is ${w}` },
      );
    }
    if (field === SCORES) return new ListDecoder('scores', 1, 'logits', 0, this.knownCount, null, null);
    if (logits === 'skip') return new SkipChecker('logits', 3);
    const lowRes = { size: LOW_RES_SIZE, source: `logits are always ${LOW_RES_SIZE}x${LOW_RES_SIZE}` };
    return new ListDecoder('logits', 3, 'logits', 0, this.knownCount, lowRes, lowRes);
  }

  /** Inside a string: a key, a field's text or a string being skipped. */
  private string(buf: Uint8Array, i: number, len: number): number {
    while (i < len) {
      if (this.esc !== 0) {
        this.escape(buf[i]);
        i++;
        continue;
      }
      if (this.state === J_FIELD_STR && this.sink instanceof ListDecoder) {
        // The list scanner reads every byte anyway, so it finds the quote or escape itself.
        const stop = this.sink.feed(buf, i, len, this.offset);
        if (stop === len) return len;
        if (buf[stop] === QUOTE) {
          this.endString(this.offset + stop);
          return stop + 1;
        }
        this.esc = 1;
        this.escAt = this.offset + stop;
        i = stop + 1;
        continue;
      }
      let q = this.quoteAt;
      if (q < i) {
        q = buf.indexOf(QUOTE, i);
        if (q < 0) q = len;
        this.quoteAt = q;
      }
      let b = this.slashAt;
      if (b < i) {
        b = buf.indexOf(BACKSLASH, i);
        if (b < 0) b = len;
        this.slashAt = b;
      }
      const stop = q < b ? q : b;
      if (stop > i) this.text(buf, i, stop);
      if (stop === len) return len;
      if (stop === b) {
        this.esc = 1;
        this.escAt = this.offset + b;
        i = b + 1;
        continue;
      }
      this.endString(this.offset + q);
      return q + 1;
    }
    return i;
  }

  /** Content between escapes, found by indexOf: keys, skipped fields and unknown strings. */
  private text(buf: Uint8Array, start: number, end: number): void {
    if (this.state === J_FIELD_STR) (this.sink as FieldSink).feed(buf, start, end, this.offset);
    else if (this.state === J_KEY_STR) {
      const n = Math.min(end - start, MAX_KEY_BYTES - this.keyLen);
      this.key.set(buf.subarray(start, start + n), this.keyLen);
      this.keyLen += n;
    }
  }

  private escape(c: number): void {
    if (this.esc === 1) {
      // In a skipped string the escaped byte only matters in that it cannot end the string.
      if (this.state === J_SKIP_STR) {
        this.esc = 0;
        return;
      }
      let code: number;
      switch (c) {
        case QUOTE:
        case BACKSLASH:
        case SLASH:
          code = c;
          break;
        case LOWER_B:
          code = 8;
          break;
        case LOWER_F:
          code = 12;
          break;
        case LOWER_N:
          code = LF;
          break;
        case LOWER_R:
          code = CR;
          break;
        case LOWER_T:
          code = TAB;
          break;
        case LOWER_U:
          this.esc = 2;
          this.escCode = 0;
          return;
        default:
          throw this.fail(this.stringField(), this.escAt, `invalid escape '\\${String.fromCharCode(c)}' in a JSON string`);
      }
      this.esc = 0;
      this.emit(code);
      return;
    }
    const h = hexValue(c);
    if (h < 0) throw this.fail(this.stringField(), this.escAt, `invalid \\u escape: ${show(c)} is not a hex digit`);
    this.escCode = this.escCode * 16 + h;
    if (++this.esc === 6) {
      this.esc = 0;
      this.emit(this.escCode);
    }
  }

  private stringField(): string {
    return this.state === J_FIELD_STR ? FIELD_NAMES[this.field] : 'body';
  }

  /** An unescaped character, as UTF-8 (surrogate halves are kept apart: no list text or known key holds one). */
  private emit(code: number): void {
    const s = this.scratch;
    let n: number;
    if (code < 0x80) {
      s[0] = code;
      n = 1;
    } else if (code < 0x800) {
      s[0] = 0xc0 | (code >> 6);
      s[1] = 0x80 | (code & 63);
      n = 2;
    } else {
      s[0] = 0xe0 | (code >> 12);
      s[1] = 0x80 | ((code >> 6) & 63);
      s[2] = 0x80 | (code & 63);
      n = 3;
    }
    if (this.state !== J_FIELD_STR) this.text(s, 0, n);
    else if ((this.sink as FieldSink).feed(s.subarray(0, n), 0, n, this.escAt) < n) {
      throw this.fail(FIELD_NAMES[this.field], this.escAt, `unexpected ${show(code)} (escaped) in the ${FIELD_NAMES[this.field]} text`);
    }
  }

  private endString(at: number): void {
    if (this.state === J_KEY_STR) {
      const name = Buffer.from(this.key.buffer, 0, this.keyLen).toString('utf8');
      this.field = FIELD_NAMES.indexOf(name as FieldName);
      if (this.field >= 0 && this.sinks[this.field] !== null) throw this.fail(name, this.keyStart, `the answer has "${name}" twice`);
      if (this.field < 0 && this.otherKeys.length < 8) this.otherKeys.push(name);
      this.state = J_COLON;
    } else if (this.state === J_FIELD_STR) {
      (this.sink as FieldSink).finish(at);
      if (this.sink instanceof ListDecoder) this.knownCount ??= this.sink.countExpectation();
      this.sink = null;
      this.state = J_AFTER;
    } else {
      this.state = this.skipDepth === 0 ? J_AFTER : J_SKIP_VALUE;
    }
  }

  /** Any JSON value under a key we do not use, checked only for matching brackets. */
  private skipValue(buf: Uint8Array, i: number, len: number): number {
    for (; i < len; i++) {
      const c = buf[i];
      const depth = this.skipDepth;
      if (c === QUOTE) {
        this.state = J_SKIP_STR;
        return i + 1;
      }
      if (c === OPEN_BRACE || c === OPEN) {
        if (depth === MAX_SKIP_DEPTH) throw this.fail('body', this.offset + i, `a value nested more than ${MAX_SKIP_DEPTH} deep`);
        this.skipStack[depth] = c;
        this.skipDepth = depth + 1;
      } else if (c === CLOSE_BRACE || c === CLOSE) {
        if (depth === 0) {
          if (!this.skipScalar) throw this.fail('body', this.offset + i, `expected a value, found ${show(c)}`);
          this.state = J_AFTER;
          return i;
        }
        if (this.skipStack[depth - 1] !== c - 2) throw this.fail('body', this.offset + i, `${show(c)} does not match the bracket it closes`);
        this.skipDepth = depth - 1;
        if (depth === 1) {
          this.state = J_AFTER;
          return i + 1;
        }
      } else if (depth === 0) {
        if (c === COMMA || isSpace(c)) {
          if (!this.skipScalar) {
            if (c === COMMA) throw this.fail('body', this.offset + i, `expected a value, found ${show(c)}`);
            continue;
          }
          this.state = J_AFTER;
          return i;
        }
        this.skipScalar = true;
      }
    }
    return i;
  }

  end(): DecodedResponse {
    if (this.state !== J_DONE) {
      if (this.state === J_TOP) {
        throw this.fail('body', this.offset, 'the body is empty: the server returned no masks (the gateway answers this way when its runner crashed)');
      }
      const inside = this.state === J_FIELD_STR ? `inside the ${FIELD_NAMES[this.field]} text` : 'before the JSON object is complete';
      throw this.fail(this.state === J_FIELD_STR ? FIELD_NAMES[this.field] : 'body', this.offset, `the body ends ${inside}: the answer was cut short`);
    }
    const others = this.otherKeys.length ? `; its keys are ${this.otherKeys.map((k) => JSON.stringify(k)).join(', ')}` : '';
    const wanted: Array<[number, boolean]> = [
      [SCORES, true],
      [MASKS, this.options.masks !== 'skip'],
      [LOGITS, this.options.logits !== 'skip'],
    ];
    for (const [field, needed] of wanted) {
      if (needed && this.sinks[field] === null) {
        const name = FIELD_NAMES[field];
        throw this.fail(name, this.offset, `the answer has no "${name}" field${others}`);
      }
    }
    const masks = this.sinks[MASKS];
    const logits = this.sinks[LOGITS];
    return {
      masks: masks instanceof ListDecoder ? masks.result() : null,
      scores: (this.sinks[SCORES] as ListDecoder).result().data as Float32Array,
      logits: logits instanceof ListDecoder ? (logits.result() as DecodedArray<Float32Array>) : null,
    };
  }
}

// ---------------------------------------------------------------------------------------

/** With a signal, hand control back to the event loop this often so that an abort can land. */
const YIELD_BYTES = 16 * 1024 * 1024;

function plain(chunk: unknown): Uint8Array {
  if (!(chunk instanceof Uint8Array)) throw new TypeError('decodeSegmentResponse: the body must be a Uint8Array or an async iterable of Uint8Array chunks');
  // Buffers would make the hot loops see two array types; a plain view over the same bytes keeps them monomorphic.
  return Object.getPrototypeOf(chunk) === Uint8Array.prototype ? chunk : new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

function checkOptions(options: DecodeOptions): void {
  if (!options || !['binary', 'logits', 'skip'].includes(options.masks)) {
    throw new Sam2InputError('options.masks', `is ${JSON.stringify(options?.masks)}`, "Use 'binary', 'logits' or 'skip'.");
  }
  if (options.logits !== undefined && options.logits !== 'logits' && options.logits !== 'skip') {
    throw new Sam2InputError('options.logits', `is ${JSON.stringify(options.logits)}`, "Use 'logits' or 'skip'.");
  }
  if (options.threshold !== undefined && !Number.isFinite(options.threshold)) {
    throw new Sam2InputError('options.threshold', `is ${String(options.threshold)}`, 'Use a finite number such as 0.');
  }
  if (options.maxBytes !== undefined && !(options.maxBytes > 0)) {
    throw new Sam2InputError('options.maxBytes', `is ${String(options.maxBytes)}`, 'Use a positive number of bytes.');
  }
  for (const dim of ['count', 'height', 'width'] as const) {
    const v = options.expectedShape?.[dim];
    if (v !== undefined && !(Number.isInteger(v) && v > 0)) {
      throw new Sam2InputError(`options.expectedShape.${dim}`, `is ${String(v)}`, 'Use a positive whole number, or leave it out.');
    }
  }
}

function nextChunk<T>(it: AsyncIterator<T>, signal: AbortSignal): Promise<IteratorResult<T>> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    it.next().then(
      (r) => {
        signal.removeEventListener('abort', onAbort);
        resolve(r);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

const breathe = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Decodes a segment-anything-2 answer from its bytes, whole or as they arrive (e.g. an
 * undici response body). Rejects with Sam2DecodeError naming the field and byte offset when
 * the answer is malformed, truncated, oversize or shaped inconsistently.
 */
export async function decodeSegmentResponse(source: Uint8Array | AsyncIterable<Uint8Array>, options: DecodeOptions): Promise<DecodedResponse> {
  checkOptions(options);
  const signal = options.signal;
  signal?.throwIfAborted();
  const decoder = new ResponseDecoder({
    masks: options.masks,
    logits: options.logits ?? 'logits',
    threshold: options.threshold ?? 0,
    maxBytes: options.maxBytes ?? DEFAULT_MAX_BYTES,
    expectedShape: options.expectedShape,
  });
  if (source instanceof Uint8Array) {
    const body = plain(source);
    if (!signal) decoder.push(body);
    else {
      for (let at = 0; at < body.length; at += YIELD_BYTES) {
        decoder.push(body.subarray(at, at + YIELD_BYTES));
        await breathe();
        signal.throwIfAborted();
      }
    }
    return decoder.end();
  }
  if (typeof source?.[Symbol.asyncIterator] !== 'function') {
    throw new TypeError('decodeSegmentResponse: the body must be a Uint8Array or an async iterable of Uint8Array chunks');
  }
  const it = source[Symbol.asyncIterator]();
  let sinceYield = 0;
  try {
    for (;;) {
      const r = signal ? await nextChunk(it, signal) : await it.next();
      if (r.done) break;
      const chunk = plain(r.value);
      decoder.push(chunk);
      if (signal) {
        sinceYield += chunk.length;
        if (sinceYield >= YIELD_BYTES) {
          sinceYield = 0;
          await breathe();
          signal.throwIfAborted();
        }
      }
    }
  } catch (err) {
    // Stop the source too (an undici body releases its connection), without waiting on it.
    try {
      it.return?.()?.catch(() => undefined);
    } catch {
      // The error that stopped us is the one to report.
    }
    throw err;
  }
  return decoder.end();
}
