/**
 * A compressed answer body inflated as it streams in. The answers are Python list text
 * (`0.0, 1.0, ...` and float reprs) and shrink 15-20x with gzip even at level 1, so a server
 * or proxy that offers it (the local server's --gzip, nginx's gzip, Starlette's GZip
 * middleware) saves most of the bytes on the wire; the client asks with
 * `accept-encoding: gzip, deflate` and hands what comes back through here to the decoder.
 *
 * undici's `request` does not decompress, so this does, chunk by chunk, with Node's zlib. Its
 * streams stop inflating while their output is not taken (readable backpressure, also inside
 * one input chunk), and output is taken 64 KiB at a time and counted, so a zip bomb (deflate
 * inflates up to about 1000x) never holds more than a few pieces and ends at maxBytes of
 * inflated answer, with the decoder's own error for an oversize answer.
 */
import { createBrotliDecompress, createGunzip, createInflate, createInflateRaw, type BrotliDecompress, type Gunzip, type Inflate, type InflateRaw } from 'node:zlib';
import { answerTooLarge, DEFAULT_MAX_BYTES } from './decode';
import { Sam2DecodeError } from './errors';

/** What the client asks for: the codings Node inflates without a dependency and every server offers. */
export const ACCEPT_ENCODING = 'gzip, deflate';

/** Inflated output is taken in pieces of this size. */
const OUTPUT_CHUNK = 64 * 1024;

type Coding = 'gzip' | 'deflate' | 'br';
type Inflater = Gunzip | Inflate | InflateRaw | BrotliDecompress;

/**
 * The codings of a Content-Encoding header in the order they were applied; identity and
 * an absent header mean none. An unknown coding is an error naming it: the body cannot
 * be read, and a retry would get the same.
 */
export function parseContentEncoding(header: string | string[] | undefined): Coding[] {
  const text = Array.isArray(header) ? header.join(',') : (header ?? '');
  const codings: Coding[] = [];
  for (const raw of text.split(',')) {
    const coding = raw.trim().toLowerCase();
    if (coding === '' || coding === 'identity') continue;
    if (coding === 'gzip' || coding === 'x-gzip') codings.push('gzip');
    else if (coding === 'deflate') codings.push('deflate');
    else if (coding === 'br') codings.push('br');
    else {
      throw new Sam2DecodeError(
        'body',
        0,
        `the answer is compressed as ${JSON.stringify(raw.trim())} (Content-Encoding), which this client cannot inflate; ` +
          `it asks for "${ACCEPT_ENCODING}": set the server or proxy in front of the runner to gzip, or to no compression`,
      );
    }
  }
  return codings;
}

/**
 * The body's chunks inflated according to its Content-Encoding header (gzip, deflate with
 * or without its zlib wrapper, br; several in a row), at most `maxBytes` of them. Without a
 * coding the chunks pass through untouched. Stopping early (the decoder failing, an abort)
 * stops the body too.
 */
export function inflateBody(
  body: AsyncIterable<Uint8Array>,
  contentEncoding: string | string[] | undefined,
  maxBytes = DEFAULT_MAX_BYTES,
): AsyncIterable<Uint8Array> {
  const codings = parseContentEncoding(contentEncoding);
  let out = body;
  for (let k = codings.length - 1; k >= 0; k--) out = inflateOne(out, codings[k], maxBytes);
  return out;
}

/** RFC 1950's zlib header: compression method 8 and a check making the first two bytes a multiple of 31. */
function hasZlibHeader(first: Uint8Array): boolean {
  return first.length >= 2 && (first[0] & 0x0f) === 8 && ((first[0] << 8) | first[1]) % 31 === 0;
}

function inflater(coding: Coding, first: Uint8Array): Inflater {
  const options = { chunkSize: OUTPUT_CHUNK };
  if (coding === 'gzip') return createGunzip(options);
  if (coding === 'br') return createBrotliDecompress(options);
  // HTTP's deflate is zlib-wrapped, but some servers send it raw.
  return hasZlibHeader(first) ? createInflate(options) : createInflateRaw(options);
}

/** A zlib failure as the decoder's error, at the offset of the inflated answer where it happened. */
function damaged(coding: Coding, err: Error, offset: number, compressedBytes: number): Sam2DecodeError {
  const cut = (err as { code?: string }).code === 'Z_BUF_ERROR' || /unexpected end of file/i.test(err.message);
  const problem = cut
    ? `the ${coding}-compressed answer ends after ${compressedBytes} bytes, before its compressed stream does: the answer was cut short`
    : `the ${coding}-compressed answer is damaged after ${compressedBytes} bytes (${err.message})`;
  return new Sam2DecodeError('body', offset, problem);
}

async function* inflateOne(source: AsyncIterable<Uint8Array>, coding: Coding, maxBytes: number): AsyncGenerator<Uint8Array> {
  const it = source[Symbol.asyncIterator]();
  let z: Inflater | null = null;
  let failure: Error | null = null;
  let ended = false;
  let wake: (() => void) | null = null;
  const signal = (): void => {
    const w = wake;
    wake = null;
    w?.();
  };
  const waitForEvent = (): Promise<void> => new Promise((resolve) => (wake = resolve));
  let consumed = 0;
  let inflated = 0;
  let sourceDone = false;
  let head: Uint8Array | null = null;

  /** Everything inflated so far, checked against maxBytes. */
  function* take(stream: Inflater): Generator<Uint8Array> {
    for (let piece = stream.read() as Buffer | null; piece !== null; piece = stream.read() as Buffer | null) {
      inflated += piece.length;
      if (inflated > maxBytes) throw answerTooLarge(maxBytes);
      yield piece;
    }
  }

  try {
    for (;;) {
      const r = await it.next();
      if (r.done) {
        sourceDone = true;
        break;
      }
      let chunk = r.value;
      if (chunk.length === 0) continue;
      if (z === null) {
        // deflate's two header bytes tell the wrapped form from the raw one; they may come apart.
        if (head !== null) chunk = Buffer.concat([head, chunk]);
        head = null;
        if (coding === 'deflate' && chunk.length < 2) {
          head = chunk;
          continue;
        }
        const stream = inflater(coding, chunk);
        stream.on('readable', signal);
        stream.on('end', () => {
          ended = true;
          signal();
        });
        stream.on('error', (err: Error) => {
          failure = err;
          signal();
        });
        z = stream;
      }
      let written = false;
      // The write's callback comes once the chunk is inflated and its output taken below the
      // stream's high-water mark, so take output while waiting for it.
      z.write(chunk, () => {
        written = true;
        signal();
      });
      for (;;) {
        yield* take(z);
        if (failure) throw damaged(coding, failure, inflated, consumed);
        if (written || ended) break;
        await waitForEvent();
      }
      consumed += chunk.length;
      // Bytes after the compressed stream's end (some servers pad): nothing more to inflate.
      if (ended) break;
    }
    if (z === null) {
      if (head !== null) throw damaged(coding, new Error('unexpected end of file'), 0, head.length);
      return;
    }
    if (!ended) z.end();
    for (;;) {
      yield* take(z);
      if (failure) throw damaged(coding, failure, inflated, consumed);
      if (ended) break;
      await waitForEvent();
    }
    yield* take(z);
  } finally {
    const stream = z as Inflater | null;
    stream?.destroy();
    if (!sourceDone) {
      try {
        it.return?.()?.catch(() => undefined);
      } catch {
        // Stopping the body is a courtesy; the error that ended the inflation is the one to report.
      }
    }
  }
}
