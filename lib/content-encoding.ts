/**
 * Which answers the decoder can read by their Content-Encoding. The SAM2 API sends its answer
 * uncompressed and this client asks for nothing else, but a proxy in front of a runner may
 * compress it anyway; the decoder would then read gzip bytes as text and report a misleading
 * byte offset. An encoding the client does not undo is named instead. Decoding one (gzip)
 * means adding it to the set passed in and inflating the body before the decoder.
 */
import { Sam2DecodeError } from './errors';

/** Encodings the body can be read under today: none at all. */
export const READABLE_ENCODINGS: ReadonlySet<string> = new Set(['identity']);

/** The encodings a Content-Encoding header lists, lower case, in the order they were applied. */
export function contentEncodings(header: string | string[] | undefined): string[] {
  const raw = Array.isArray(header) ? header.join(',') : (header ?? '');
  return raw
    .split(',')
    .map((e) => e.trim().toLowerCase())
    .filter((e) => e !== '');
}

/** Throws a Sam2DecodeError naming the first encoding of the answer that is not in `readable`. */
export function checkContentEncoding(header: string | string[] | undefined, url: string, readable: ReadonlySet<string> = READABLE_ENCODINGS): void {
  const unread = contentEncodings(header).find((e) => !readable.has(e));
  if (unread === undefined) return;
  throw new Sam2DecodeError(
    'body',
    0,
    `the answer from ${url} is compressed (Content-Encoding: ${unread}), which this client does not decode; turn compression off for this route in the proxy in front of the runner`,
  );
}
