/**
 * Skipping a field the caller does not want (the full-size masks in efficient mode, or the
 * logits) at the speed of a byte search: its bytes are not parsed, only checked as far as
 * is free while they pass by.
 */
import { Sam2DecodeError } from '../errors';
import { Byte, countByte, isSpace } from './bytes';
import { emptyFieldError, type FieldSink } from './field';

/**
 * A field the caller does not want: only checked as far as is free while its bytes pass by,
 * so that skipping runs at the speed of
 * Node's native byte search (countByte). It must open with as many '[' as its depth,
 * hold as many ']' as '[', end with ']', and not be empty.
 */
export class SkipChecker implements FieldSink {
  private opened = 0;
  private prefixDone = false;
  private seen = false;
  private opens = 0;
  private closes = 0;
  private last = 0;
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
        if (c === Byte.Open) {
          this.opened++;
          this.opens++;
          continue;
        }
        if (c === Byte.Close && this.opened > 0) throw new Sam2DecodeError(this.field, base + i, 'an empty list inside the list');
        if (this.opened !== this.depth) {
          const problem = `${this.field} must be lists nested ${this.depth} deep (C x H x W), but it opens with ${this.opened} '['`;
          throw new Sam2DecodeError(this.field, base + i, problem);
        }
        this.prefixDone = true;
        break;
      }
    }
    this.opens += countByte(buf, Byte.Open, i, end);
    this.closes += countByte(buf, Byte.Close, i, end);
    let j = end - 1;
    while (j >= i && isSpace(buf[j])) j--;
    if (j >= i) this.last = buf[j];
    return end;
  }

  finish(offset: number): void {
    if (!this.seen) throw emptyFieldError(this.field, offset);
    if (!this.prefixDone || this.last !== Byte.Close || this.opens !== this.closes) {
      throw new Sam2DecodeError(this.field, offset, `the ${this.field} text ends before its list is closed`);
    }
  }
}

