/**
 * The response object around the fields, `{"masks": "...", "scores": "...", "logits": "..."}`:
 * a JSON state machine over raw chunks that finds the keys, hands each known field's string
 * content to its sink (a list decoder or a skip checker), undoes escapes (also when one is
 * cut by a chunk boundary), passes over values under keys it does not know, enforces
 * maxBytes and, at the end, reports what is missing.
 */
import { Sam2DecodeError } from '../errors';
import { LOW_RES_SIZE } from '../types';
import { Byte, findByte, isSpace, show } from './bytes';
import type { Expectation, FieldSink } from './field';
import { ListDecoder } from './lists';
import { SkipChecker } from './skip';
import type { DecodedArray, DecodedResponse, ResolvedOptions } from './types';

/** Where the state machine is in the JSON object. */
const enum JsonState {
  /** Before the opening '{'. */
  Top,
  /** After '{': a key or '}'. */
  FirstKey,
  /** After ',': a key. */
  Key,
  /** Inside a key's string. */
  KeyString,
  /** After a key: ':'. */
  Colon,
  /** After ':': the value. */
  Value,
  /** Inside a known field's string, whose content goes to its sink. */
  FieldString,
  /** Inside a string under a key we do not use. */
  SkipString,
  /** Inside a non-string value under a key we do not use. */
  SkipValue,
  /** After a value: ',' or '}'. */
  After,
  /** After the closing '}': only whitespace may follow. */
  Done,
}

/** Where a string's reader is in an escape sequence. */
const enum Escape {
  None,
  /** After '\\'. */
  Backslash,
  /** After '\\u', reading its four hex digits. */
  Unicode,
}

/** The fields the decoder reads, as indexes into FIELD_NAMES and `sinks`. */
const enum Field {
  /** A key we do not use. */
  Other = -1,
  Masks = 0,
  Scores = 1,
  Logits = 2,
}

const FIELD_NAMES = ['masks', 'scores', 'logits'] as const;
type FieldName = (typeof FIELD_NAMES)[number];

/** The error for a body past maxBytes; lib/inflate.ts gives the same for an inflated one. */
export function answerTooLarge(maxBytes: number): Sam2DecodeError {
  const fix = 'pass a larger maxBytes to decodeSegmentResponse if answers this big are expected';
  return new Sam2DecodeError('body', maxBytes, `the answer is larger than maxBytes (${maxBytes} bytes); ${fix}`);
}

function nameOf(field: Field): string {
  return field === Field.Other ? 'body' : FIELD_NAMES[field];
}
/**
 * Strings the sink does not scan itself (keys, skipped fields) are searched this many
 * bytes at a time: a whole 129 MB body searched in one go for '"', then '\\', then counted
 * for '[' and ']', goes to memory four times (61 ms against 40 ms in 64 KiB chunks).
 */
const SEARCH_WINDOW = 64 * 1024;
const MAX_KEY_BYTES = 64;
const MAX_SKIP_DEPTH = 256;

function hexValue(c: number): number {
  if (c >= Byte.Zero && c <= Byte.Nine) return c - Byte.Zero;
  const lower = c | 32;
  if (lower >= 97 && lower <= 102) return lower - 87;
  return -1;
}

export class ResponseDecoder {
  private state = JsonState.Top;
  /** Body offset of the current chunk's first byte. */
  private offset = 0;
  /**
   * Next '"' in this chunk at or after where it was last looked for (the end of the window
   * searched: none there), and next '\\' before that quote (the quote's index: none).
   */
  private quoteAt = -1;
  private slashAt = -1;
  private esc = Escape.None;
  /** Hex digits of a \uXXXX escape read so far, and their value. */
  private hexDigits = 0;
  private escCode = 0;
  private escAt = 0;
  private readonly scratch = new Uint8Array(4);
  private readonly key = new Uint8Array(MAX_KEY_BYTES);
  private keyLen = 0;
  private keyStart = 0;
  private field = Field.Other;
  private sink: FieldSink | null = null;
  private readonly sinks: Array<FieldSink | null> = [null, null, null];
  private readonly otherKeys: string[] = [];
  private readonly skipStack = new Uint8Array(MAX_SKIP_DEPTH);
  private skipDepth = 0;
  private skipScalar = false;
  private knownCount: Expectation | null;

  constructor(private readonly options: ResolvedOptions) {
    const count = options.expectedShape?.count;
    this.knownCount = count === undefined ? null : { size: count, source: `expectedShape.count is ${count}` };
  }

  private fail(field: string, at: number, problem: string): Sam2DecodeError {
    return new Sam2DecodeError(field, at, problem);
  }

  push(chunk: Uint8Array): void {
    const len = chunk.length;
    const max = this.options.maxBytes;
    if (this.offset + len > max) throw answerTooLarge(max);
    this.quoteAt = -1;
    this.slashAt = -1;
    let i = 0;
    while (i < len) {
      const state = this.state;
      if (state === JsonState.FieldString || state === JsonState.KeyString || state === JsonState.SkipString) {
        i = this.string(chunk, i, len);
        continue;
      }
      if (state === JsonState.SkipValue) {
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
        case JsonState.Top:
          if (c !== Byte.OpenBrace) throw this.fail('body', at, `expected a JSON object, found ${show(c)}`);
          this.state = JsonState.FirstKey;
          break;
        case JsonState.FirstKey:
        case JsonState.Key:
          if (c === Byte.CloseBrace && state === JsonState.FirstKey) this.state = JsonState.Done;
          else if (c === Byte.Quote) {
            this.state = JsonState.KeyString;
            this.keyLen = 0;
            this.keyStart = at;
          } else throw this.fail('body', at, `expected a key in quotes, found ${show(c)}`);
          break;
        case JsonState.Colon:
          if (c !== Byte.Colon) throw this.fail('body', at, `expected ':' after a key, found ${show(c)}`);
          this.state = JsonState.Value;
          break;
        case JsonState.Value:
          if (this.field !== Field.Other) {
            const name = nameOf(this.field);
            if (c !== Byte.Quote) throw this.fail(name, at, `${name} must be a JSON string holding the list text, found ${show(c)}`);
            this.sink = this.makeSink(this.field);
            this.sinks[this.field] = this.sink;
            this.state = JsonState.FieldString;
          } else if (c === Byte.Quote) {
            this.skipDepth = 0;
            this.state = JsonState.SkipString;
          } else {
            this.skipDepth = 0;
            this.skipScalar = false;
            this.state = JsonState.SkipValue;
            continue;
          }
          break;
        case JsonState.After:
          if (c === Byte.Comma) this.state = JsonState.Key;
          else if (c === Byte.CloseBrace) this.state = JsonState.Done;
          else throw this.fail('body', at, `expected ',' or '}' after a value, found ${show(c)}`);
          break;
        default:
          throw this.fail('body', at, `unexpected ${show(c)} after the JSON object`);
      }
      i++;
    }
    this.offset += len;
  }

  private makeSink(field: Field): FieldSink {
    const { masks, logits, threshold, expectedShape } = this.options;
    if (field === Field.Masks) {
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
    if (field === Field.Scores) return new ListDecoder('scores', 1, 'logits', 0, this.knownCount, null, null);
    if (logits === 'skip') return new SkipChecker('logits', 3);
    const lowRes = { size: LOW_RES_SIZE, source: `logits are always ${LOW_RES_SIZE}x${LOW_RES_SIZE}` };
    return new ListDecoder('logits', 3, 'logits', 0, this.knownCount, lowRes, lowRes);
  }

  /** Inside a string: a key, a field's text or a string being skipped. */
  private string(buf: Uint8Array, i: number, len: number): number {
    while (i < len) {
      if (this.esc !== Escape.None) {
        this.escape(buf[i]);
        i++;
        continue;
      }
      if (this.state === JsonState.FieldString && this.sink instanceof ListDecoder) {
        // The list scanner reads every byte anyway, so it finds the quote or escape itself.
        const stop = this.sink.feed(buf, i, len, this.offset);
        if (stop === len) return len;
        if (buf[stop] === Byte.Quote) {
          this.endString(this.offset + stop);
          return stop + 1;
        }
        this.esc = Escape.Backslash;
        this.escAt = this.offset + stop;
        i = stop + 1;
        continue;
      }
      // Node's native search (memchr), a window at a time so that the searches and the
      // sink's own pass meet the bytes in cache; the escape search stops at the quote.
      // A cached position equal to i is looked up again: it may mean "none before here".
      // A quote's position may be the end of an earlier window, so its byte is checked.
      const limit = len - i > SEARCH_WINDOW ? i + SEARCH_WINDOW : len;
      let q = this.quoteAt;
      if (q <= i) {
        q = findByte(buf, Byte.Quote, i, limit);
        this.quoteAt = q;
      }
      let b = this.slashAt;
      if (b <= i) {
        b = findByte(buf, Byte.Backslash, i, q);
        this.slashAt = b;
      }
      if (b < q) {
        if (b > i) this.text(buf, i, b);
        this.esc = Escape.Backslash;
        this.escAt = this.offset + b;
        i = b + 1;
        continue;
      }
      if (q > i) this.text(buf, i, q);
      if (q === len || buf[q] !== Byte.Quote) {
        // The end of a window, not the string's.
        i = q;
        continue;
      }
      this.endString(this.offset + q);
      return q + 1;
    }
    return i;
  }

  /** Content between escapes, found by findByte: keys, skipped fields and unknown strings. */
  private text(buf: Uint8Array, start: number, end: number): void {
    if (this.state === JsonState.FieldString) (this.sink as FieldSink).feed(buf, start, end, this.offset);
    else if (this.state === JsonState.KeyString) {
      const n = Math.min(end - start, MAX_KEY_BYTES - this.keyLen);
      this.key.set(buf.subarray(start, start + n), this.keyLen);
      this.keyLen += n;
    }
  }

  private escape(c: number): void {
    if (this.esc === Escape.Backslash) {
      // In a skipped string the escaped byte only matters in that it cannot end the string.
      if (this.state === JsonState.SkipString) {
        this.esc = Escape.None;
        return;
      }
      let code: number;
      switch (c) {
        case Byte.Quote:
        case Byte.Backslash:
        case Byte.Slash:
          code = c;
          break;
        case Byte.LowerB:
          code = 8;
          break;
        case Byte.LowerF:
          code = 12;
          break;
        case Byte.LowerN:
          code = Byte.Lf;
          break;
        case Byte.LowerR:
          code = Byte.Cr;
          break;
        case Byte.LowerT:
          code = Byte.Tab;
          break;
        case Byte.LowerU:
          this.esc = Escape.Unicode;
          this.hexDigits = 0;
          this.escCode = 0;
          return;
        default:
          throw this.fail(this.stringField(), this.escAt, `invalid escape '\\${String.fromCharCode(c)}' in a JSON string`);
      }
      this.esc = Escape.None;
      this.emit(code);
      return;
    }
    const h = hexValue(c);
    if (h < 0) throw this.fail(this.stringField(), this.escAt, `invalid \\u escape: ${show(c)} is not a hex digit`);
    this.escCode = this.escCode * 16 + h;
    if (++this.hexDigits === 4) {
      this.esc = Escape.None;
      this.emit(this.escCode);
    }
  }

  private stringField(): string {
    return this.state === JsonState.FieldString ? nameOf(this.field) : 'body';
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
    if (this.state !== JsonState.FieldString) this.text(s, 0, n);
    else if ((this.sink as FieldSink).feed(s.subarray(0, n), 0, n, this.escAt) < n) {
      throw this.fail(nameOf(this.field), this.escAt, `unexpected ${show(code)} (escaped) in the ${nameOf(this.field)} text`);
    }
  }

  private endString(at: number): void {
    if (this.state === JsonState.KeyString) {
      const name = Buffer.from(this.key.buffer, 0, this.keyLen).toString('utf8');
      this.field = FIELD_NAMES.indexOf(name as FieldName) as Field;
      if (this.field !== Field.Other && this.sinks[this.field] !== null) throw this.fail(name, this.keyStart, `the answer has "${name}" twice`);
      if (this.field === Field.Other && this.otherKeys.length < 8) this.otherKeys.push(name);
      this.state = JsonState.Colon;
    } else if (this.state === JsonState.FieldString) {
      (this.sink as FieldSink).finish(at);
      if (this.sink instanceof ListDecoder) this.knownCount ??= this.sink.countExpectation();
      this.sink = null;
      this.state = JsonState.After;
    } else {
      this.state = this.skipDepth === 0 ? JsonState.After : JsonState.SkipValue;
    }
  }

  /** Any JSON value under a key we do not use, checked only for matching brackets. */
  private skipValue(buf: Uint8Array, i: number, len: number): number {
    for (; i < len; i++) {
      const c = buf[i];
      const depth = this.skipDepth;
      if (c === Byte.Quote) {
        this.state = JsonState.SkipString;
        return i + 1;
      }
      if (c === Byte.OpenBrace || c === Byte.Open) {
        if (depth === MAX_SKIP_DEPTH) throw this.fail('body', this.offset + i, `a value nested more than ${MAX_SKIP_DEPTH} deep`);
        this.skipStack[depth] = c;
        this.skipDepth = depth + 1;
      } else if (c === Byte.CloseBrace || c === Byte.Close) {
        if (depth === 0) {
          if (!this.skipScalar) throw this.fail('body', this.offset + i, `expected a value, found ${show(c)}`);
          this.state = JsonState.After;
          return i;
        }
        if (this.skipStack[depth - 1] !== c - 2) throw this.fail('body', this.offset + i, `${show(c)} does not match the bracket it closes`);
        this.skipDepth = depth - 1;
        if (depth === 1) {
          this.state = JsonState.After;
          return i + 1;
        }
      } else if (depth === 0) {
        if (c === Byte.Comma || isSpace(c)) {
          if (!this.skipScalar) {
            if (c === Byte.Comma) throw this.fail('body', this.offset + i, `expected a value, found ${show(c)}`);
            continue;
          }
          this.state = JsonState.After;
          return i;
        }
        this.skipScalar = true;
      }
    }
    return i;
  }

  end(): DecodedResponse {
    if (this.state !== JsonState.Done) {
      if (this.state === JsonState.Top) {
        throw this.fail('body', this.offset, 'the body is empty: the server returned no masks (the gateway answers this way when its runner crashed)');
      }
      const inside = this.state === JsonState.FieldString ? `inside the ${nameOf(this.field)} text` : 'before the JSON object is complete';
      throw this.fail(this.state === JsonState.FieldString ? nameOf(this.field) : 'body', this.offset, `the body ends ${inside}: the answer was cut short`);
    }
    const others = this.otherKeys.length ? `; its keys are ${this.otherKeys.map((k) => JSON.stringify(k)).join(', ')}` : '';
    const wanted: Array<[Field, boolean]> = [
      [Field.Scores, true],
      [Field.Masks, this.options.masks !== 'skip'],
      [Field.Logits, this.options.logits !== 'skip'],
    ];
    for (const [field, needed] of wanted) {
      if (needed && this.sinks[field] === null) {
        const name = nameOf(field);
        throw this.fail(name, this.offset, `the answer has no "${name}" field${others}`);
      }
    }
    const masks = this.sinks[Field.Masks];
    const logits = this.sinks[Field.Logits];
    return {
      masks: masks instanceof ListDecoder ? masks.result() : null,
      scores: (this.sinks[Field.Scores] as ListDecoder).result().data as Float32Array,
      logits: logits instanceof ListDecoder ? (logits.result() as DecodedArray<Float32Array>) : null,
    };
  }
}

