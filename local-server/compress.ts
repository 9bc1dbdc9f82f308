/**
 * `--gzip`: the local server compresses its answers as a proxy in front of a runner would
 * (nginx's gzip, Starlette's GZipMiddleware), so the client's inflating path can be used and
 * measured. Level 1: the answers are Python list text that shrinks 15-20x even at level 1,
 * and higher levels cost several times the CPU for a few per cent more. The answer streams
 * through the compressor chunk by chunk as the socket drains; it is never gathered whole.
 */
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';

/** Bodies smaller than this go uncompressed, as Starlette's GZipMiddleware does by default. */
export const GZIP_MIN_BYTES = 500;

/**
 * Whether an Accept-Encoding header lets the answer be gzipped: `gzip` (or `x-gzip`) or `*`
 * with a q-value above 0, unless gzip itself is refused with q=0 (RFC 9110 12.5.3).
 */
export function acceptsGzip(header: string | string[] | undefined): boolean {
  const text = Array.isArray(header) ? header.join(',') : (header ?? '');
  let gzip: number | undefined;
  let any: number | undefined;
  for (const item of text.split(',')) {
    const [name, ...params] = item.split(';').map((p) => p.trim().toLowerCase());
    let q = 1;
    for (const p of params) {
      const m = /^q=([0-9.]+)$/.exec(p);
      if (m) q = Number(m[1]);
    }
    if (name === 'gzip' || name === 'x-gzip') gzip = q;
    else if (name === '*') any = q;
  }
  return (gzip ?? any ?? 0) > 0;
}

/**
 * The chunks gzipped at level 1, produced as they are asked for: the source is pulled one
 * chunk at a time as the compressor takes input, and stopping early stops the source.
 */
export async function* gzipChunks(chunks: Iterable<Buffer>): AsyncGenerator<Buffer> {
  const source = Readable.from(chunks, { highWaterMark: 1 });
  const gzip = createGzip({ level: 1, chunkSize: 64 * 1024 });
  source.on('error', (err) => gzip.destroy(err));
  source.pipe(gzip);
  try {
    for await (const piece of gzip) yield piece as Buffer;
  } finally {
    source.destroy();
    gzip.destroy();
  }
}
