/**
 * Compressed answers end to end: the local server's `gzip` option (what `--gzip` turns on)
 * and Sam2Client asking for gzip and inflating as the answer streams in.
 */
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { FormData, request } from 'undici';
import { Sam2Client } from '../lib/client';
import { acceptsGzip, gzipChunks } from '../local-server/compress';
import { startLocalServer, type LocalServer } from '../local-server/server';
import { makeScene, type Scene } from './fixtures/scenes';

describe('gzip', function () {
  this.timeout(60_000);
  let plain: LocalServer;
  let gzip: LocalServer;
  let scene: Scene;

  before(async () => {
    [plain, gzip] = await Promise.all([startLocalServer(), startLocalServer({ gzip: true })]);
    scene = await makeScene('studio', 640, 480);
  });
  after(() => Promise.all([plain.close(), gzip.close()]));

  async function post(server: LocalServer, headers: Record<string, string>): Promise<{ headers: Record<string, unknown>; body: Buffer }> {
    const form = new FormData();
    form.append('image', new Blob([scene.jpeg], { type: 'image/jpeg' }), 'photo.jpg');
    form.append('point_coords', JSON.stringify([scene.objects[0].point]));
    form.append('point_labels', '[1]');
    form.append('return_logits', 'false');
    const res = await request(`${server.url}/segment-anything-2`, { method: 'POST', body: form, headers });
    assert.equal(res.statusCode, 200);
    return { headers: res.headers, body: Buffer.from(await res.body.arrayBuffer()) };
  }

  describe('the local server', () => {
    it('gzips the answer for a client that accepts it: the same bytes once inflated, a fraction on the wire, no length promised', async () => {
      const reference = await post(plain, { 'accept-encoding': 'gzip' });
      assert.equal(reference.headers['content-encoding'], undefined, 'without the option the server never compresses');
      const compressed = await post(gzip, { 'accept-encoding': 'gzip, deflate' });
      assert.equal(compressed.headers['content-encoding'], 'gzip');
      assert.equal(compressed.headers['content-length'], undefined);
      assert.equal(compressed.headers.vary, 'accept-encoding');
      assert.ok(gunzipSync(compressed.body).equals(reference.body));
      // Binary masks shrink ~100x, the 256x256 logits' digits ~2.5x: bench/gzip.bench.ts has the figures.
      assert.ok(compressed.body.length * 3 < reference.body.length, `${compressed.body.length} bytes gzipped of ${reference.body.length}`);
    });

    it('answers uncompressed when the request does not accept gzip', async () => {
      for (const accept of [undefined, 'identity', 'gzip;q=0', 'br', '*;q=0', 'deflate, gzip;q=0']) {
        const res = await post(gzip, accept === undefined ? {} : { 'accept-encoding': accept });
        assert.equal(res.headers['content-encoding'], undefined, String(accept));
        assert.match(res.body.subarray(0, 12).toString(), /^\{"masks"/);
      }
    });

    it('reads Accept-Encoding as RFC 9110 does', () => {
      assert.equal(acceptsGzip('gzip'), true);
      assert.equal(acceptsGzip('GZIP;q=0.5'), true);
      assert.equal(acceptsGzip('x-gzip'), true);
      assert.equal(acceptsGzip('*'), true);
      assert.equal(acceptsGzip('*, gzip;q=0'), false);
      assert.equal(acceptsGzip(['deflate', 'gzip;q=0.001']), true);
      assert.equal(acceptsGzip('deflate'), false);
      assert.equal(acceptsGzip(''), false);
      assert.equal(acceptsGzip(undefined), false);
    });

    it('compresses as the answer streams: output before the answer is all made, and stopping stops the answer', async () => {
      const piece = Buffer.from('0.0, 1.0, -2.718281828459045, '.repeat(17_000));
      let made = 0;
      let stopped = false;
      function* answer(): Generator<Buffer> {
        try {
          for (; made < 100; made++) yield piece;
        } finally {
          stopped = made < 100;
        }
      }
      for await (const out of gzipChunks(answer())) {
        assert.ok(out.length > 0);
        break;
      }
      assert.ok(made < 10, `the first compressed bytes came after ${made} of 100 chunks were made`);
      assert.equal(stopped, true);
    });
  });

  describe('Sam2Client', () => {
    it('asks for gzip and inflates the answer as it streams: the same result for a fraction of the bytes', async () => {
      const prompts = { points: [scene.objects[0].point] as Array<[number, number]> };
      for (const efficient of [false, true]) {
        const a = new Sam2Client({ url: plain.url, retries: 0, efficient });
        const b = new Sam2Client({ url: gzip.url, retries: 0, efficient });
        try {
          const reference = await a.segment(scene.jpeg, prompts);
          const compressed = await b.segment(scene.jpeg, prompts);
          assert.deepEqual(compressed.masks, reference.masks);
          const wire = compressed.transfer?.receivedBytes ?? 0;
          const full = reference.transfer?.receivedBytes ?? 0;
          assert.ok(wire > 0 && wire * 5 < full, `efficient ${efficient}: ${wire} bytes gzipped against ${full}`);
        } finally {
          await Promise.all([a.close(), b.close()]);
        }
      }
    });

    it('applies maxResponseBytes to the inflated answer, not to the bytes on the wire', async () => {
      const prompts = { points: [scene.objects[0].point] as Array<[number, number]> };
      const sizes = async (server: LocalServer): Promise<number> => {
        const client = new Sam2Client({ url: server.url, retries: 0, efficient: false });
        try {
          return (await client.segment(scene.jpeg, prompts)).transfer?.receivedBytes ?? 0;
        } finally {
          await client.close();
        }
      };
      const [answer, wire] = [await sizes(plain), await sizes(gzip)];
      const limit = Math.floor((answer + wire) / 2);
      assert.ok(wire < limit && limit < answer);
      const client = new Sam2Client({ url: gzip.url, retries: 0, efficient: false, maxResponseBytes: limit });
      try {
        await assert.rejects(client.segment(scene.jpeg, prompts), new RegExp(`larger than maxBytes \\(${limit} bytes\\)`));
      } finally {
        await client.close();
      }
    });
  });
});
