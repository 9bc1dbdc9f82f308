/**
 * Streaming decoder for the segment-anything-2 answer,
 * `{"masks": "<text>", "scores": "<text>", "logits": "<text>"}`, where each text is Python's
 * `str()` of a nested list of floats. A 1080p answer is tens of MB of such text and a 4K one
 * is more than one V8 string can hold, so the body is never made into a string: bytes go
 * from each chunk through a small JSON state machine straight into a list scanner that
 * writes typed arrays. Only the output arrays and a few bytes of state outlive a chunk.
 *
 * The layers, one file each, from the outside in:
 * - this entry: options, the body (whole or as an async iterable), aborts and yielding;
 * - response.ts: the JSON object (keys, strings, escapes across chunk boundaries);
 * - lists.ts: one field's nested list text into a typed array; skip.ts: a field not wanted;
 * - numbers.ts: one number (Python's float repr) from bytes; bytes.ts: byte codes.
 */
import { Sam2InputError } from '../errors';
import { ResponseDecoder } from './response';
import type { DecodeOptions, DecodedResponse } from './types';

export type { DecodeOptions, DecodedArray, DecodedResponse, MaskDecoding } from './types';
/** The oversize error, for lib/inflate.ts to end an inflated answer with the same one. */
export { answerTooLarge } from './response';

export const DEFAULT_MAX_BYTES = 1024 * 1024 * 1024;

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
