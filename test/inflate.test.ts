import assert from 'node:assert/strict';
import { brotliCompressSync, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { decodeSegmentResponse } from '../lib/decode';
import { Sam2DecodeError } from '../lib/errors';
import { inflateBody, parseContentEncoding } from '../lib/inflate';

/** The bytes as a stream of chunks of the sizes given, in turn; `pulled` counts chunks taken, `stopped` says whether the stream was ended early. */
function source(bytes: Uint8Array, sizes: number[]): AsyncIterable<Uint8Array> & { pulled: number; chunks: number; stopped: boolean } {
  const state = { pulled: 0, chunks: 0, stopped: false };
  const cuts: Array<[number, number]> = [];
  for (let at = 0, k = 0; at < bytes.length; k++) {
    const n = sizes[k % sizes.length];
    cuts.push([at, Math.min(bytes.length, at + n)]);
    at += n;
  }
  state.chunks = cuts.length;
  return Object.assign(state, {
    async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
      let done = false;
      try {
        for (const [a, b] of cuts) {
          state.pulled++;
          yield bytes.slice(a, b);
        }
        done = true;
      } finally {
        if (!done) state.stopped = true;
      }
    },
  });
}

async function gather(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of body) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

/** Answer-like text: a Python list of floats, as the runner sends. */
function listText(n: number): Buffer {
  const values: string[] = [];
  for (let i = 0; i < n; i++) values.push(i % 7 === 0 ? '-3.140625' : i % 3 === 0 ? '1.0' : '0.0');
  return Buffer.from(`{"masks": "[[[${values.join(', ')}]]]", "scores": "[0.5]", "logits": "[[[0.25]]]"}`);
}

async function rejectsDecode(promise: Promise<unknown>, message: RegExp): Promise<Sam2DecodeError> {
  let caught: unknown;
  await assert.rejects(promise, (err: unknown) => {
    caught = err;
    return err instanceof Sam2DecodeError && message.test(err.message);
  });
  return caught as Sam2DecodeError;
}

describe('inflating answers', () => {
  const text = listText(50_000);

  it('inflates gzip, deflate with and without its zlib wrapper, br, and codings applied in turn, cut anywhere', async () => {
    const cases: Array<[string, Buffer]> = [
      ['gzip', gzipSync(text, { level: 1 })],
      ['x-gzip', gzipSync(text)],
      ['deflate', deflateSync(text)],
      ['deflate', deflateRawSync(text)],
      ['br', brotliCompressSync(text)],
      ['deflate, gzip', gzipSync(deflateSync(text))],
      ['GZIP', gzipSync(text)],
    ];
    for (const [encoding, bytes] of cases) {
      for (const sizes of [[bytes.length], [1], [7, 300, 65536], [2, 1]]) {
        if (sizes[0] === 1 && bytes.length > 50_000) continue;
        const out = await gather(inflateBody(source(bytes, sizes), encoding));
        assert.ok(out.equals(text), `${encoding} in chunks of ${sizes.join('/')}`);
      }
    }
  });

  it('passes an unencoded body through untouched', async () => {
    for (const encoding of [undefined, '', 'identity']) {
      const body = source(text, [1000]);
      const out = await gather(inflateBody(body, encoding));
      assert.ok(out.equals(text));
      assert.equal(body.pulled, body.chunks);
    }
  });

  it('refuses an encoding it cannot inflate, naming it and what the client asks for', async () => {
    assert.throws(() => parseContentEncoding('compress'), (err: unknown) => err instanceof Sam2DecodeError && /"compress".*gzip, deflate/.test(err.message));
    assert.throws(() => inflateBody(source(text, [100]), 'gzip, zstd'), /"zstd"/);
    assert.deepEqual(parseContentEncoding(['gzip', 'br']), ['gzip', 'br']);
  });

  it('inflates as the body streams in: output comes before the body has all arrived', async () => {
    const body = source(gzipSync(text, { level: 1 }), [4096]);
    for await (const chunk of inflateBody(body, 'gzip')) {
      assert.ok(chunk.length > 0);
      break;
    }
    assert.ok(body.pulled < body.chunks / 2, `took ${body.pulled} of ${body.chunks} chunks for the first output`);
    assert.equal(body.stopped, true, 'stopping early stops the body');
  });

  it('ends a zip bomb at maxBytes of inflated answer, with the error of an oversize answer, without inflating the rest', async () => {
    const maxBytes = 4 * 1024 * 1024;
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20));
    const plainError = await rejectsDecode(decodeSegmentResponse(new Uint8Array(maxBytes + 1).fill(0x20), { masks: 'binary', maxBytes }), /larger than maxBytes/);
    const body = source(bomb, [1024]);
    const bombError = await rejectsDecode(decodeSegmentResponse(inflateBody(body, 'gzip', maxBytes), { masks: 'binary', maxBytes }), /larger than maxBytes/);
    assert.equal(bombError.message, plainError.message);
    assert.equal(bombError.field, 'body');
    assert.ok(body.pulled < body.chunks / 10, `read ${body.pulled} of ${body.chunks} compressed chunks`);
    assert.equal(body.stopped, true);
    // The inflater alone gives the same error, whoever reads it.
    await rejectsDecode(gather(inflateBody(source(bomb, [65536]), 'gzip', maxBytes)), /larger than maxBytes \(4194304 bytes\)/);
  });

  it('says when a compressed answer is cut short or damaged', async () => {
    const gz = gzipSync(text);
    const cut = gz.subarray(0, gz.length >> 1);
    await rejectsDecode(gather(inflateBody(source(cut, [5000]), 'gzip')), /gzip-compressed answer ends after \d+ bytes.*cut short/);
    const damaged = Buffer.from(gz);
    for (let i = 100; i < 400; i++) damaged[i] ^= 0x5a;
    await rejectsDecode(gather(inflateBody(source(damaged, [5000]), 'gzip')), /gzip-compressed answer is damaged/);
    await rejectsDecode(gather(inflateBody(source(Buffer.from('not gzip at all'), [100]), 'gzip')), /damaged/);
  });

  it('decodes an inflated answer exactly as the plain one', async () => {
    const plain = await decodeSegmentResponse(text, { masks: 'binary', logits: 'skip' });
    const inflated = await decodeSegmentResponse(inflateBody(source(gzipSync(text), [3000]), 'gzip'), { masks: 'binary', logits: 'skip' });
    assert.deepEqual(inflated.masks, plain.masks);
    assert.deepEqual(inflated.scores, plain.scores);
  });
});
