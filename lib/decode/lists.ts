/**
 * Decoding one field's list text, Python's str() of a nested list of floats (depth 3,
 * C x H x W, for masks and logits; depth 1 for scores), into one typed array: a Uint8Array
 * of 0/1 against a threshold for binary masks, else a Float32Array. The text arrives raw,
 * in pieces that may split anywhere (a number, an escape); this layer checks the shape as
 * it goes (every row as wide as the first, every mask as tall, the count the earlier
 * fields gave) and stops at a '"' or '\\' for the response layer to handle.
 */
import { Sam2DecodeError } from '../errors';
import { Byte, endsNumber, isSpace, latin1, plural, show } from './bytes';
import type { DecodedArray } from './types';
import { emptyFieldError, type Expectation, type FieldSink } from './field';
import { aboveThreshold, exactNumber, nearFloat32, NumberKind, NumberReader } from './numbers';

/** Where the scanner is in the list's structure. */
const enum ListState {
  /** Before the outer '['. */
  Start,
  /** Just after a '[': a value or a nested list must follow, not ']'. */
  Opened,
  /** After a ',': a value or a nested list. */
  Next,
  /** After a value or a nested list's ']': ',' or ']'. */
  After,
  /** After the outer ']'. */
  Done,
}

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
export class ListDecoder implements FieldSink {
  private readonly binary: boolean;
  private readonly zeroBit: number;
  private readonly oneBit: number;
  private level = 0;
  private state = ListState.Start;
  private readonly reader = new NumberReader();
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
      if (c === Byte.Quote || c === Byte.Backslash) return i;
      this.seen = true;
      const state = this.state;
      if (state === ListState.Next || state === ListState.Opened) {
        if (c === Byte.Close && state === ListState.Opened) {
          throw this.fail(base + i, this.level === 1 ? `an empty list: the server returned no ${this.field}` : 'an empty list inside the list');
        }
        if (this.level < this.depth) {
          if (c !== Byte.Open) throw this.fail(base + i, this.shapeProblem(`found ${show(c)} where a list of depth ${this.level + 1} should start`));
          this.open(base + i);
        } else if (c === Byte.Open) {
          throw this.fail(base + i, this.shapeProblem(`a list is nested ${this.level + 1} deep`));
        } else if (c === Byte.Comma || c === Byte.Close) {
          throw this.fail(base + i, `expected a number, found ${show(c)}`);
        } else {
          const safe = this.safeEnd(buf, end);
          if (i >= safe) i = this.startNumber(buf, i, end);
          else i = this.binary ? this.binaryValues(buf, i, end, safe) : this.floatValues(buf, i, safe);
          if (this.carryLen > 0) return i;
          continue;
        }
      } else if (state === ListState.After) {
        if (c === Byte.Comma) this.state = ListState.Next;
        else if (c === Byte.Close) this.close(base + i);
        else throw this.fail(base + i, `expected ', ' or ']' after a value, found ${show(c)}`);
      } else if (state === ListState.Start) {
        if (c !== Byte.Open) throw this.fail(base + i, `expected the list text to start with '[', found ${show(c)}`);
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
      if (c === Byte.Comma || c === Byte.Close) break;
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
    const reader = this.reader;
    let out = this.out as Float32Array;
    let p = this.p;
    let cap = out.length;
    let start: number;
    for (;;) {
      start = i;
      let v = reader.read(buf, view, i, safe);
      if (reader.kind !== NumberKind.Exact) {
        if (reader.kind === NumberKind.Invalid) return this.invalid(buf, start, p);
        if (!nearFloat32(v)) v = exactNumber(buf, start, reader.end);
      }
      if (p === cap) {
        this.p = p;
        this.grow(this.base + start);
        out = this.out as Float32Array;
        p = this.p;
        cap = out.length;
      }
      out[p++] = v;
      i = reader.end;
      if (i + 2 >= safe || view.getUint16(i, true) !== COMMA_SPACE) break;
      i += 2;
    }
    return this.afterValues(buf, start, i, p);
  }

  private binaryValues(buf: Uint8Array, i: number, end: number, safe: number): number {
    const view = this.view;
    const reader = this.reader;
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
          if (i < end && buf[i] === Byte.Space) i++;
        }
        if (i >= safe || buf[i] <= Byte.Space) {
          this.p = p;
          this.state = ListState.Next;
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
        bit = signOnly ? reader.signBit(buf, view, i, safe) : -1;
        if (bit < 0) {
          const v = reader.read(buf, view, i, safe);
          if (reader.kind === NumberKind.Invalid) return this.invalid(buf, start, p);
          bit = aboveThreshold(v, reader.kind, this.threshold, buf, start, reader.end);
        }
        i = reader.end;
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
    this.state = ListState.Next;
    const end = this.reader.end;
    if (end === start) return start;
    if (buf[end] === Byte.Backslash) return this.stash(buf, start, end);
    throw this.notANumber(buf, start, end);
  }

  /** Leaves the value loops after the value at `start`, which ends at `i`. */
  private afterValues(buf: Uint8Array, start: number, i: number, p: number): number {
    if (buf[i] === Byte.Backslash) {
      // The number may go on after the escape: take it back and collect it in `carry`.
      this.p = p - 1;
      this.state = ListState.Next;
      return this.stash(buf, start, i);
    }
    this.p = p;
    this.state = ListState.After;
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
    while (j < end && !endsNumber(buf[j]) && buf[j] !== Byte.Open) j++;
    const len = this.carryLen + (j - i);
    if (len > MAX_NUMBER_CHARS) {
      const text = latin1(this.carry, 0, this.carryLen) + latin1(buf, i, i + 20);
      throw this.fail(this.carryOffset, `'${text}...' is not a number (longer than ${MAX_NUMBER_CHARS} characters)`);
    }
    this.carry.set(buf.subarray(i, j), this.carryLen);
    this.carryLen = len;
    if (j < end && buf[j] !== Byte.Quote && buf[j] !== Byte.Backslash) this.endNumber();
    return j;
  }

  private endNumber(): void {
    const carry = this.carry;
    const len = this.carryLen;
    carry[len] = Byte.Comma;
    this.carryLen = 0;
    const reader = this.reader;
    let v = reader.read(carry, this.carryView, 0, len);
    if (reader.kind === NumberKind.Invalid || reader.end !== len) throw this.notANumber(carry, 0, len, this.carryOffset);
    if (this.binary) v = aboveThreshold(v, reader.kind, this.threshold, carry, 0, len);
    else if (reader.kind === NumberKind.Approx && !nearFloat32(v)) v = exactNumber(carry, 0, len);
    this.store(v, this.carryOffset);
    this.state = ListState.After;
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
    this.state = ListState.Opened;
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
    this.state = this.level === 0 ? ListState.Done : ListState.After;
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
    if (this.state !== ListState.Done) throw this.fail(offset, `the ${this.field} text ends before its list is closed`);
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

