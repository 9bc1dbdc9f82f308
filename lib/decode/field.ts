/**
 * What the response layer hands a field's text to: a list decoder that stores its values,
 * or a checker that only lets a skipped field's bytes pass. Both see the string's content
 * unescaped, in pieces that may split anywhere.
 */
import { Sam2DecodeError } from '../errors';

export interface FieldSink {
  readonly field: string;
  /**
   * Reads buf[start..end); the body offset of buf[k] is base + k. The list decoder is
   * handed raw chunks and returns the index of the first '"' or '\\' it meets, for the
   * response layer to handle; pieces between escapes are read whole and end is returned.
   */
  feed(buf: Uint8Array, start: number, end: number, base: number): number;
  /** The closing quote is at body offset `offset`. */
  finish(offset: number): void;
}

/** Where an expected size comes from, for the message when the answer disagrees. */
export interface Expectation {
  size: number;
  source: string;
}

export function emptyFieldError(field: string, offset: number): Sam2DecodeError {
  return new Sam2DecodeError(
    field,
    offset,
    `the ${field} text is empty: the server returned no masks (the gateway answers this way when its runner crashed)`,
  );
}
