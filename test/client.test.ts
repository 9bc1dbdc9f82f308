/**
 * Sam2Client on its own, over real HTTP to the local server: efficient against full mode,
 * and what each network and server failure turns into.
 */
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { Sam2Client, type RetryInfo } from '../lib/client';
import { Sam2ApiError, Sam2DecodeError, Sam2InputError, Sam2NetworkError } from '../lib/errors';
import { byScore } from '../lib/mask-order';
import { startLocalServer, type LocalServer } from '../local-server/server';
import { iou, makeScene, SCENE_NAMES, type Scene } from './fixtures/scenes';
import { heldBy } from './fixtures/signals';

describe('Sam2Client', function () {
  this.timeout(60_000);
  let server: LocalServer;
  const clients: Sam2Client[] = [];
  let scene: Scene;

  function client(options: ConstructorParameters<typeof Sam2Client>[0] = {}): Sam2Client {
    const made = new Sam2Client({ url: server.url, retries: 0, ...options });
    clients.push(made);
    return made;
  }

  before(async () => {
    server = await startLocalServer();
    scene = await makeScene('studio', 640, 480);
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });
  after(() => server.close());

  for (const name of SCENE_NAMES) {
    for (const [width, height] of [[1920, 1080], [3840, 2160]]) {
      it(`efficient mode gives the masks full mode gives (IoU >= 0.99) on "${name}" at ${width}x${height}, for every object`, async () => {
        const big = await makeScene(name, width, height);
        const efficient = client({ efficient: true });
        const full = client({ efficient: false });
        for (const object of big.objects) {
          const prompts = { points: [object.point] as Array<[number, number]> };
          const a = await efficient.segment(big.jpeg, prompts);
          const b = await full.segment(big.jpeg, prompts);
          assert.deepEqual([a.width, a.height], [width, height]);
          assert.equal(a.masks.length, b.masks.length);
          const overlap = iou(a.masks[0].mask, b.masks[0].mask);
          assert.ok(overlap >= 0.99, `${object.name}: IoU ${overlap}`);
        }
        const sent = server.requests.slice(-2 * big.objects.length);
        assert.ok(sent.filter((_, i) => i % 2 === 0).every((r) => r.image?.width === 1024 && r.image?.height === 1024));
        assert.ok(sent.filter((_, i) => i % 2 === 1).every((r) => r.image?.width === width));
      });
    }
  }

  it('uploads at uploadSize in efficient mode, points scaled to it, masks still at full size and close to 1024\'s', async () => {
    const big = await makeScene('studio', 1920, 1080);
    const at1024 = client();
    const at768 = client({ uploadSize: 768 });
    for (const object of big.objects) {
      const prompts = { points: [object.point] as Array<[number, number]> };
      const a = await at1024.segment(big.jpeg, prompts);
      const a1024 = server.requests.at(-1)!;
      const b = await at768.segment(big.jpeg, prompts);
      const a768 = server.requests.at(-1)!;
      assert.deepEqual([a1024.image?.width, a1024.image?.height], [1024, 1024]);
      assert.deepEqual([a768.image?.width, a768.image?.height], [768, 768]);
      assert.ok(a768.image!.bytes < a1024.image!.bytes, `${a768.image!.bytes} bytes at 768 against ${a1024.image!.bytes} at 1024`);
      const [x, y] = object.point;
      const [[sx, sy]] = JSON.parse(a768.fields.point_coords) as number[][];
      assert.ok(Math.abs(sx - (x * 768) / 1920) < 1e-9 && Math.abs(sy - (y * 768) / 1080) < 1e-9, `${sx}, ${sy}`);
      assert.deepEqual([b.width, b.height, b.masks[0].mask.length], [1920, 1080, 1920 * 1080]);
      const overlap = iou(b.masks[0].mask, a.masks[0].mask);
      assert.ok(overlap >= 0.97, `${object.name}: IoU at 768 against 1024: ${overlap}`);
    }
  });

  it('refuses an uploadSize outside 256..1024, naming it', () => {
    for (const uploadSize of [255, 1025, 800.5]) assert.throws(() => new Sam2Client({ uploadSize }), /uploadSize must be a whole number of pixels from 256 to 1024/);
  });

  for (const efficient of [true, false]) {
    it(`with keep 'best' makes only the best mask, identical to the best of all, and still gives every candidate (${efficient ? 'efficient' : 'full'} mode)`, async () => {
      const big = await makeScene('studio', 1920, 1080);
      const c = client({ efficient });
      const prompts = { points: [big.objects[0].point] as Array<[number, number]> };
      const all = await c.segment(big.jpeg, prompts);
      const best = await c.segment(big.jpeg, { ...prompts, keep: 'best' });
      assert.equal(all.masks.length, 3);
      assert.equal(best.masks.length, 1);
      assert.deepEqual(best.masks[0], all.masks[0]);
      assert.deepEqual(best.candidates, all.candidates);
      assert.equal(best.candidates.length, 3);
      assert.deepEqual(best.candidates.map((k) => k.score), all.masks.map((m) => m.score));
      assert.ok(best.candidates.every((k) => k.logits?.length === 256 * 256));
      assert.deepEqual(best.candidates[0].logits, best.masks[0].logits);
      // Every candidate's logits are the ones its mask is made of.
      assert.deepEqual(all.candidates.map((k) => k.logits), all.masks.map((m) => m.logits));
    });
  }

  it('refuses a keep that is neither all nor best, naming it', async () => {
    await assert.rejects(client().segment(scene.jpeg, { keep: 'some' as 'best' }), /prompts\.keep.*"some"/);
  });

  it('resolves masks as 0/1 bytes at the image size with area, bbox and 256x256 logits', async () => {
    const result = await client().segment(scene.jpeg, { points: [scene.objects[0].point] });
    assert.deepEqual([result.width, result.height, result.masks.length], [640, 480, 3]);
    for (const m of result.masks) {
      assert.equal(m.mask.length, 640 * 480);
      assert.equal(m.area, m.mask.reduce((n, v) => n + v, 0));
      assert.equal(m.logits?.length, 256 * 256);
    }
    const [x1, y1, x2, y2] = result.masks[0].bbox;
    assert.ok(x2 > x1 && y2 > y1);
    assert.ok(iou(result.masks[0].mask, scene.objects[0].mask) > 0.8);
  });

  it('retries 503 with backoff and says so, then succeeds', async () => {
    server.injectFaults('status=503', 'status=502');
    const retries: RetryInfo[] = [];
    const result = await client({ retries: 2 }).segment(scene.jpeg, {}, { onRetry: (info) => retries.push(info) });
    assert.equal(result.masks.length, 3);
    assert.deepEqual(retries.map((r) => [r.attempt, (r.error as Sam2ApiError).status]), [[1, 503], [2, 502]]);
  });

  it('honours Retry-After on 429', async () => {
    server.injectFaults('status=429;retry-after=1');
    const retries: RetryInfo[] = [];
    await client({ retries: 1 }).segment(scene.jpeg, {}, { onRetry: (info) => retries.push(info) });
    assert.equal(retries[0].delayMs, 1000);
  });

  for (const status of [400, 401, 422, 500]) {
    it(`never retries ${status}`, async () => {
      server.injectFaults(`status=${status}`);
      let retried = false;
      await assert.rejects(client({ retries: 2 }).segment(scene.jpeg, {}, { onRetry: () => (retried = true) }), (err: Sam2ApiError) => err.status === status);
      assert.equal(retried, false);
    });
  }

  it('retries a connection reset mid-body', async () => {
    server.injectFaults('reset');
    const retries: RetryInfo[] = [];
    const result = await client({ retries: 1 }).segment(scene.jpeg, {}, { onRetry: (info) => retries.push(info) });
    assert.equal(result.masks.length, 3);
    assert.ok(retries[0].error instanceof Sam2NetworkError);
  });

  it('gives clear errors for a truncated, a garbage and an oversize answer', async () => {
    server.injectFaults('truncate', 'garbage', 'oversize=3000000');
    await assert.rejects(client().segment(scene.jpeg), Sam2DecodeError);
    await assert.rejects(client().segment(scene.jpeg), Sam2DecodeError);
    await assert.rejects(client({ maxResponseBytes: 2_000_000 }).segment(scene.jpeg), /2000000|maxBytes|larger/);
  });

  it('treats a 200 with empty masks as an error', async () => {
    server.injectFaults('status=200;body={"masks": "", "scores": "", "logits": ""}');
    await assert.rejects(client().segment(scene.jpeg), /no masks|without any mask|empty/i);
  });

  it('ends a hanging request at the first-byte timeout and a stalled body at the stall timeout', async () => {
    server.injectFaults('hang');
    await assert.rejects(client({ firstByteTimeoutMs: 300 }).segment(scene.jpeg), /firstByteTimeoutMs/);
    server.injectFaults('stall');
    await assert.rejects(client({ stallTimeoutMs: 300 }).segment(scene.jpeg), /stallTimeoutMs/);
  });

  it('ends a trickling body at the whole-attempt deadline', async () => {
    server.injectFaults('trickle=50;chunk=64');
    await assert.rejects(client({ timeoutMs: 500, stallTimeoutMs: 10_000 }).segment(scene.jpeg), /timeoutMs/);
  });

  it('stops at once when its signal aborts, and close() leaves no connection open', async () => {
    server.injectFaults('hang');
    const c = client();
    const controller = new AbortController();
    const pending = c.segment(scene.jpeg, {}, { signal: controller.signal });
    while (server.openConnections() === 0) await new Promise((r) => setTimeout(r, 5));
    controller.abort(new Error('stopped by the test'));
    await assert.rejects(pending, /stopped by the test/);
    await c.close();
    while (server.openConnections() > 0) await new Promise((r) => setTimeout(r, 5));
    await assert.rejects(c.segment(scene.jpeg), /closed/);
  });

  it('leaves nothing on the signal it is given, nor on its own, once requests end', async () => {
    // A node passes the same signal for as long as its flow runs; anything kept on it per
    // request (Node 20's AbortSignal.any keeps a weak reference) grows without end.
    const c = client({ retries: 1 });
    const flow = new AbortController();
    server.injectFaults('status=503');
    await c.segment(scene.jpeg, {}, { signal: flow.signal });
    server.injectFaults('status=500');
    await assert.rejects(c.segment(scene.jpeg, {}, { signal: flow.signal }), Sam2ApiError);
    server.injectFaults('garbage');
    await assert.rejects(c.segment(scene.jpeg, {}, { signal: flow.signal }), Sam2DecodeError);
    await c.segmentEach(scene.jpeg, [{ points: [[10, 10]] }, { points: [[20, 20]] }], { signal: flow.signal });
    await c.segment(scene.jpeg);
    for (const signal of [flow.signal, c['closing'].signal]) assert.equal(heldBy(signal), 0);
  });

  it('bounds requests in flight to maxConcurrency', async () => {
    const c = client({ maxConcurrency: 2 });
    server.injectFaults('latency=200', 'latency=200', 'latency=200', 'latency=200');
    let peak = 0;
    const watch = setInterval(() => (peak = Math.max(peak, c.load.active)), 5);
    await Promise.all([1, 2, 3, 4].map(() => c.segment(scene.jpeg)));
    clearInterval(watch);
    assert.equal(peak, 2);
  });

  it('reports the answer\'s bytes as they arrive, for one image and added up over several objects', async () => {
    const [a, b] = scene.objects;
    const c = client();
    const seen: number[] = [];
    const one = await c.segment(scene.jpeg, { points: [a.point] }, { onProgress: ({ receivedBytes }) => seen.push(receivedBytes) });
    assert.ok(seen.length > 1, `${seen.length} reports`);
    assert.deepEqual(seen, [...seen].sort((x, y) => x - y), 'never going back');
    assert.equal(seen.at(-1), one.transfer!.receivedBytes, 'the last report is the whole answer');

    const totals: number[] = [];
    const both = await c.segmentEach(scene.jpeg, [{ points: [a.point] }, { box: b.box }], { onProgress: ({ receivedBytes }) => totals.push(receivedBytes) });
    assert.deepEqual(totals, [...totals].sort((x, y) => x - y), 'never going back');
    assert.equal(totals.at(-1), both[0].transfer!.receivedBytes + both[1].transfer!.receivedBytes, 'both answers together');
  });

  it('segments several objects in one image, in order, checking every object before sending any', async () => {
    const [a, b] = scene.objects;
    const c = client();
    const results = await c.segmentEach(scene.jpeg, [{ points: [a.point], multimask: false }, { box: b.box, multimask: false }]);
    assert.equal(results.length, 2);
    assert.ok(iou(results[0].masks[0].mask, a.mask) > 0.8, 'first result, first object');
    assert.ok(iou(results[1].masks[0].mask, b.mask) > 0.8, 'second result, second object');

    const before = server.requests.length;
    await assert.rejects(
      c.segmentEach(scene.jpeg, [{ points: [a.point] }, { box: [100, 100, 10, 10] }], { promptsField: 'msg.sam2.objects' }),
      /msg\.sam2\.objects\[1\]\.box: .*inverted/,
    );
    // The next request answered is the first the server saw: the good object was never sent.
    await c.segment(scene.jpeg, { points: [[33, 44]] });
    assert.deepEqual(server.requests.slice(before).map((r) => r.fields.point_coords), ['[[33,44]]']);
  });

  describe('odd answers, settings and prompts: a clear error naming what to change, or a correct result', () => {
    /** A server that is no SAM2 API; `answer` writes whatever the case needs. */
    async function httpServer(answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; hits: () => number; close: () => Promise<void> }> {
      let hits = 0;
      const http = createHttpServer((req, res) => {
        hits++;
        req.resume();
        req.on('end', () => answer(req, res));
      });
      await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
      return {
        url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
        hits: () => hits,
        close: () => {
          http.closeAllConnections();
          return new Promise((resolve) => http.close(() => resolve()));
        },
      };
    }

    /** A TCP server that writes `reply` as its whole HTTP answer. */
    async function rawServer(reply: string): Promise<{ url: string; close: () => Promise<void> }> {
      const sockets = new Set<Socket>();
      const tcp = createTcpServer((socket) => {
        sockets.add(socket);
        socket.once('data', () => socket.end(reply));
        socket.on('error', () => undefined);
      });
      await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
      return {
        url: `http://127.0.0.1:${(tcp.address() as AddressInfo).port}`,
        close: () => {
          sockets.forEach((s) => s.destroy());
          return new Promise((resolve) => tcp.close(() => resolve()));
        },
      };
    }

    let tiny: Buffer;
    before(async () => {
      tiny = await sharp({ create: { width: 2, height: 2, channels: 3, background: 'white' } }).png().toBuffer();
    });

    it('sorts a NaN score last, never first', async () => {
      const mask = '[[0.0, 1.0], [1.0, 1.0]]';
      server.injectFaults(`status=200;body={"masks": "[${mask}, ${mask}, ${mask}]", "scores": "[nan, 0.25, 0.75]", "logits": "[[[0.0]]]"}`);
      const result = await client().segment(tiny, { returnLogits: false });
      assert.deepEqual(result.masks.map((m) => m.score), [0.75, 0.25, NaN]);
      const scores = [{ score: 0.1 }, { score: NaN }, { score: Infinity }, { score: 0.9 }, { score: NaN }, { score: -Infinity }];
      assert.deepEqual([...scores].sort(byScore).map((m) => m.score), [Infinity, 0.9, 0.1, -Infinity, NaN, NaN]);
    });

    it('refuses timeouts beyond what Node\'s timers hold, naming the option', () => {
      for (const name of ['timeoutMs', 'connectTimeoutMs', 'firstByteTimeoutMs', 'stallTimeoutMs']) {
        assert.throws(() => new Sam2Client({ url: server.url, [name]: 2 ** 31 }), new RegExp(`^RangeError: ${name} must be at most 2147483647 \\(what Node's timers hold\\), got 2147483648$`));
      }
      assert.throws(() => new Sam2Client({ url: '' }), /url is empty/);
      assert.throws(() => new Sam2Client({ url: '  ' }), /url is empty/);
    });

    it('says where a redirect points, and follows it neither with the token nor without', async () => {
      const target = await startLocalServer({ token: 'tok-redirect' });
      const redirecting = await httpServer((_req, res) => res.writeHead(307, { location: `${target.url}/elsewhere` }).end('moved'));
      try {
        let retried = false;
        const err = await client({ url: redirecting.url, token: 'tok-redirect', retries: 2 }).segment(scene.jpeg, {}, { onRetry: () => (retried = true) }).catch((e: unknown) => e);
        assert.ok(err instanceof Sam2ApiError);
        assert.equal(err.status, 307);
        assert.equal(err.location, `${target.url}/elsewhere`);
        assert.match(err.message, new RegExp(`^SAM2 API answered 307: ${redirecting.url} redirects to ${target.url}/elsewhere; redirects are not followed, so the token goes nowhere else: set the endpoint's URL`));
        assert.ok(!err.message.includes('tok-redirect'));
        assert.equal(retried, false);
        assert.equal(redirecting.hits(), 1);
        assert.equal(target.requestCount, 0, 'nothing reached where it pointed');
      } finally {
        await redirecting.close();
        await target.close();
      }
    });

    it('names a Content-Encoding it cannot inflate, and reads a compressed error body', async () => {
      for (const encoding of ['compress', 'zstd', 'identity, compress']) {
        const compressed = await httpServer((_req, res) => res.writeHead(200, { 'content-encoding': encoding }).end(gzipSync('{"masks": "", "scores": "", "logits": ""}')));
        try {
          const err = await client({ url: compressed.url }).segment(scene.jpeg).catch((e: unknown) => e);
          assert.ok(err instanceof Sam2DecodeError, String(err));
          assert.match(err.message, new RegExp(`compressed as "${encoding.split(', ').pop()}" \\(Content-Encoding\\), which this client cannot inflate`));
        } finally {
          await compressed.close();
        }
      }
      // A proxy's gzip on an error page is inflated like an answer: the runner's own words come through.
      const failing = await httpServer((_req, res) => res.writeHead(500, { 'content-encoding': 'gzip' }).end(gzipSync('{"detail": {"msg": "boom"}}')));
      try {
        await assert.rejects(client({ url: failing.url }).segment(scene.jpeg), (err: Sam2ApiError) => err.status === 500 && /boom/.test(err.message));
      } finally {
        await failing.close();
      }
    });

    const malformed: Array<[string, string]> = [
      ['a header line without a colon', 'HTTP/1.1 200 OK\r\nThis Is Not A Header\r\n\r\n'],
      ['a status line that is not HTTP', 'SAM2/9 maybe\r\n\r\n'],
      ['two different Content-Lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello'],
    ];
    for (const [what, reply] of malformed) {
      it(`wraps undici's error for ${what} in a Sam2NetworkError with the URL`, async () => {
        const raw = await rawServer(reply);
        try {
          const err = await client({ url: raw.url }).segment(scene.jpeg).catch((e: unknown) => e);
          assert.ok(err instanceof Sam2NetworkError, String(err));
          assert.match(err.message, new RegExp(`^the answer from ${raw.url} is not well-formed HTTP \\((HPE_|UND_ERR_|HTTPParserError)[A-Za-z_]*: .+\\); check the URL`));
        } finally {
          await raw.close();
        }
      });
    }

    it('refuses prompt text over the runner\'s 1 MiB field limit before sending, naming the field', async () => {
      const before = server.requestCount;
      const points = new Array(200_000).fill([1, 1]) as Array<[number, number]>;
      const err = await client().segment(scene.jpeg, { points }, { promptsField: 'msg.sam2' }).catch((e: unknown) => e);
      assert.ok(err instanceof Sam2InputError, String(err));
      assert.equal(err.field, 'msg.sam2.points');
      assert.match(err.message, /^msg\.sam2\.points: is \d+ bytes as the form field point_coords, over the runner's limit of 1048576 bytes \(1 MiB\) for one field\. Send fewer points/);
      assert.equal(server.requestCount, before);
    });

    it('refuses a threshold that is not a finite number, naming the field', async () => {
      for (const threshold of [NaN, Infinity, '0.5' as unknown as number]) {
        await assert.rejects(client().segment(scene.jpeg, { threshold }, { promptsField: 'msg.sam2' }), (err: Sam2InputError) => err instanceof Sam2InputError && err.field === 'msg.sam2.threshold');
      }
    });

    it('trims a token pasted with white space, and refuses one a header cannot carry, naming it', async () => {
      const guarded = await startLocalServer({ token: 'tok-trim' });
      try {
        const result = await client({ url: guarded.url, token: '\ufefftok-trim \n' }).segment(scene.jpeg);
        assert.equal(result.masks.length, 3);
        for (const token of ['tok\n-trim', 'tok\u200b-trim', 'tök-trim']) {
          assert.throws(() => new Sam2Client({ url: guarded.url, token }), (err: Sam2InputError) => err instanceof Sam2InputError && err.field === 'token' && !err.message.includes('trim'));
        }
      } finally {
        await guarded.close();
      }
    });

    it('refuses more objects than its limit before sending any', async () => {
      const before = server.requestCount;
      const objects = Array.from({ length: 101 }, () => ({ points: [[10, 10]] as Array<[number, number]> }));
      await assert.rejects(client().segmentEach(scene.jpeg, objects, { promptsField: 'msg.sam2.objects' }), /^Sam2InputError: msg\.sam2\.objects: has 101 objects, over the limit of 100\./);
      await assert.rejects(client({ maxObjects: 5 }).segmentEach(scene.jpeg, objects.slice(0, 6)), /objects: has 6 objects, over the limit of 5/);
      await assert.rejects(client().segmentEach(scene.jpeg, objects.slice(0, 3), { maxObjects: 2 }), /has 3 objects, over the limit of 2/);
      assert.equal(server.requestCount, before);
    });

    it('segments 50 objects with no listener-leak warning, and leaves nothing on the signals', async function () {
      this.timeout(120_000);
      const warnings: Error[] = [];
      const onWarning = (w: Error) => warnings.push(w);
      process.on('warning', onWarning);
      try {
        const c = client({ maxConcurrency: 4 });
        const flow = new AbortController();
        // A fixed small answer for each: the point is how the client holds 50 requests, not segmenting.
        server.injectFaults(...new Array(50).fill('status=200;body={"masks": "[[[0.0, 1.0], [1.0, 1.0]]]", "scores": "[0.5]", "logits": "[[[0.0]]]"}'));
        const objects = Array.from({ length: 50 }, () => ({ points: [[1, 1]] as Array<[number, number]>, multimask: false, returnLogits: false }));
        const results = await c.segmentEach(tiny, objects, { signal: flow.signal });
        assert.equal(results.length, 50);
        // Warnings are emitted on the next tick.
        await new Promise((resolve) => setImmediate(resolve));
        assert.deepEqual(warnings.map((w) => `${w.name}: ${w.message}`), []);
        for (const signal of [flow.signal, c['closing'].signal]) assert.equal(heldBy(signal), 0);
      } finally {
        process.off('warning', onWarning);
      }
    });
  });

  it('cancels the other objects\' requests when one fails', async () => {
    const c = client({ maxConcurrency: 2 });
    // Whichever request arrives first is refused; the other would hang until its timeout.
    server.injectFaults('status=500', 'hang');
    await assert.rejects(c.segmentEach(scene.jpeg, [{ points: [[10, 10]] }, { points: [[20, 20]] }]), (err: Error) => err instanceof Sam2ApiError && err.status === 500);
    while (c.load.active > 0) await new Promise((r) => setTimeout(r, 5));
  });
});
