import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { request as httpRequest, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { Agent, FormData, request } from 'undici';
import { maskFromLogits, resizeBilinear } from '../lib/bilinear';
import { LOW_RES_SIZE } from '../lib/types';
import { answerChunks, CHUNK_BYTES } from '../local-server/answer';
import { deliver, FaultSpecError, mergeFaults, parseFaults } from '../local-server/faults';
import { pyJsonLoads } from '../local-server/python-json';
import { pyFloatList, pyFloatRepr } from '../local-server/python-repr';
import { imageFeatures, segment } from '../local-server/segmenter';
import { startLocalServer, type LocalServer, type LocalServerOptions } from '../local-server/server';
import { iou, makeScene, type Scene } from './fixtures/scenes';

interface Sent {
  image?: { bytes: Buffer; filename?: string; type?: string } | string;
  fields?: Record<string, string>;
  headers?: Record<string, string>;
  path?: string;
  dispatcher?: Agent;
}

interface Received {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  ms: number;
}

function formOf(sent: Sent): FormData {
  const form = new FormData();
  if (typeof sent.image === 'string') form.append('image', sent.image);
  else if (sent.image) form.append('image', new Blob([sent.image.bytes], { type: sent.image.type ?? 'image/jpeg' }), sent.image.filename ?? 'photo.jpg');
  for (const [k, v] of Object.entries(sent.fields ?? {})) form.append(k, v);
  return form;
}

async function post(server: LocalServer, sent: Sent): Promise<Received> {
  const started = Date.now();
  const res = await request(`${server.url}${sent.path ?? '/segment-anything-2'}`, {
    method: 'POST',
    body: formOf(sent),
    headers: sent.headers,
    dispatcher: sent.dispatcher,
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, ms: Date.now() - started };
}

function jpeg(scene: Scene): { bytes: Buffer; filename: string; type: string } {
  return { bytes: scene.jpeg, filename: `${scene.name}.jpg`, type: 'image/jpeg' };
}

type Nested = number | Nested[];

/** Python's str() of a nested list, from our own float repr: what every text must equal. */
function pyText(v: Nested): string {
  return Array.isArray(v) ? `[${v.map(pyText).join(', ')}]` : pyFloatRepr(v);
}

function shapeOf(v: Nested): number[] {
  const shape: number[] = [];
  for (let x = v; Array.isArray(x); x = x[0]) shape.push(x.length);
  return shape;
}

interface Answer {
  texts: { masks: string; scores: string; logits: string };
  masks: number[][][];
  scores: number[];
  logits: Float32Array[];
}

function parseAnswer(body: string): Answer {
  const texts = JSON.parse(body) as Answer['texts'];
  const logits = (JSON.parse(texts.logits) as number[][][]).map((m) => Float32Array.from(m.flat()));
  return { texts, masks: JSON.parse(texts.masks) as number[][][], scores: JSON.parse(texts.scores) as number[], logits };
}

/** The first mask as computed from its logits, the way a client rebuilds it. */
function maskOf(answer: Answer, index: number, width: number, height: number): Uint8Array {
  return maskFromLogits(answer.logits[index], LOW_RES_SIZE, LOW_RES_SIZE, width, height);
}

/** Waits for a condition the test cannot be told about directly, failing after `ms`. */
async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function withServer(options: LocalServerOptions, body: (get: () => LocalServer) => void): void {
  let server: LocalServer;
  before(async () => {
    server = await startLocalServer(options);
  });
  after(async () => {
    await server.close();
  });
  body(() => server);
}

describe('python float repr', () => {
  const table: Array<[number, string]> = [
    [3, '3.0'],
    [-0, '-0.0'],
    [0, '0.0'],
    [0.1, '0.1'],
    [Math.fround(0.1), '0.10000000149011612'],
    [Math.fround(-8.123457), '-8.123456954956055'],
    [1e-5, '1e-05'],
    [0.0001, '0.0001'],
    [0.00012345, '0.00012345'],
    [9.999e-5, '9.999e-05'],
    [1.5e20, '1.5e+20'],
    [1e16, '1e+16'],
    [9999999999999998, '9999999999999998.0'],
    [123456789, '123456789.0'],
    [2 ** 53, '9007199254740992.0'],
    [1e22, '1e+22'],
    [-1.25e-7, '-1.25e-07'],
    [5e-324, '5e-324'],
    [1.7976931348623157e308, '1.7976931348623157e+308'],
    [NaN, 'nan'],
    [Infinity, 'inf'],
    [-Infinity, '-inf'],
  ];
  for (const [value, text] of table) it(`writes ${Object.is(value, -0) ? '-0' : String(value)} as ${text}`, () => assert.equal(pyFloatRepr(value), text));

  it("writes lists as Python's str()", () => {
    assert.equal(pyFloatList([1, -0.5, NaN, 1e-5]), '[1.0, -0.5, nan, 1e-05]');
    assert.equal(pyFloatList([]), '[]');
  });
});

describe("python json.loads", () => {
  // Messages as Python 3's json module words them (the runner quotes them in its 400).
  const errors: Array<[string, string]> = [
    ['', 'Expecting value: line 1 column 1 (char 0)'],
    ['   ', 'Expecting value: line 1 column 4 (char 3)'],
    ['[[1,2]', "Expecting ',' delimiter: line 1 column 7 (char 6)"],
    ['[1,]', 'Expecting value: line 1 column 4 (char 3)'],
    ['{"a" 1}', "Expecting ':' delimiter: line 1 column 6 (char 5)"],
    ['{1:2}', 'Expecting property name enclosed in double quotes: line 1 column 2 (char 1)'],
    ['"abc', 'Unterminated string starting at: line 1 column 1 (char 0)'],
    ['"a\u0001"', 'Invalid control character at: line 1 column 3 (char 2)'],
    ['"\\q"', 'Invalid \\escape: line 1 column 2 (char 1)'],
    ['"\\u12"', 'Invalid \\uXXXX escape: line 1 column 3 (char 2)'],
    ['[1]x', 'Extra data: line 1 column 4 (char 3)'],
    ['01', 'Extra data: line 1 column 2 (char 1)'],
    ['tru', 'Expecting value: line 1 column 1 (char 0)'],
    ['[1,\n 2,,]', 'Expecting value: line 2 column 4 (char 7)'],
  ];
  for (const [text, message] of errors) {
    it(`refuses ${JSON.stringify(text)} with Python's words`, () => assert.throws(() => pyJsonLoads(text), { message }));
  }

  it('reads what Python reads, NaN and Infinity included', () => {
    assert.deepEqual(pyJsonLoads(' [[1, 2.5e1], [-0, true]] '), [[1, 25], [-0, true]]);
    const special = pyJsonLoads('[NaN, Infinity, -Infinity]') as number[];
    assert.ok(Number.isNaN(special[0]));
    assert.deepEqual(special.slice(1), [Infinity, -Infinity]);
    assert.deepEqual(pyJsonLoads('{"a": "x\\n\\u00e9"}'), { a: 'x\né' });
  });
});

describe('fault specs', () => {
  it('reads each fault and its value', () => {
    assert.deepEqual(parseFaults('latency=300;status=503'), { latencyMs: 300, status: 503 });
    assert.deepEqual(parseFaults('status=429; retry-after=2'), { status: 429, retryAfter: '2' });
    assert.deepEqual(parseFaults('reset'), { end: { kind: 'reset', at: undefined } });
    assert.deepEqual(parseFaults('truncate=100;trickle=5;chunk=10'), { end: { kind: 'truncate', at: 100 }, trickleMs: 5, chunkBytes: 10 });
    assert.deepEqual(parseFaults('garbage'), { body: { kind: 'garbage' } });
    assert.deepEqual(parseFaults('oversize=1000'), { body: { kind: 'oversize', bytes: 1000 } });
    assert.deepEqual(parseFaults('stall'), { end: { kind: 'stall' } });
    assert.deepEqual(parseFaults('hang'), { end: { kind: 'hang' } });
  });

  it('takes body= verbatim to the end, semicolons and all', () => {
    assert.deepEqual(parseFaults('status=500;body={"detail": "a;b"}'), { status: 500, body: { kind: 'text', text: '{"detail": "a;b"}' } });
  });

  it('refuses unknown names, bad values and contradictions with a clear message', () => {
    assert.throws(() => parseFaults('latency=300;explode'), (err: unknown) => err instanceof FaultSpecError && /unknown fault "explode"; known faults: latency/.test(err.message));
    assert.throws(() => parseFaults('latency=soon'), /latency needs a whole number/);
    assert.throws(() => parseFaults('status=99'), /status needs a whole number from 200 to 599/);
    assert.throws(() => parseFaults('reset;truncate'), /cannot be combined/);
    assert.throws(() => parseFaults('garbage;oversize=100'), /cannot be combined/);
    assert.throws(() => parseFaults('stall=1'), /takes no value/);
  });

  it('lets later specs override earlier ones item by item', () => {
    assert.deepEqual(mergeFaults(parseFaults('status=503;latency=10'), undefined, parseFaults('status=200')), { status: 200, latencyMs: 10 });
  });
});

describe('streaming an answer', () => {
  it('produces a 4K answer with logits in bounded chunks, without building it first', () => {
    const logits = new Float32Array(LOW_RES_SIZE * LOW_RES_SIZE).map((_, i) => Math.sin(i) * 5);
    const chunks = answerChunks([{ logits, score: 0.9 }], 3840, 2160, true);
    for (let i = 0; i < 3; i++) {
      const next = chunks.next();
      assert.equal(next.done, false);
      assert.equal((next.value as Buffer).length, CHUNK_BYTES);
    }
  });

  it('pulls the next chunk only when the socket has drained', async () => {
    class SlowResponse extends EventEmitter {
      destroyed = false;
      ended = false;
      writes = 0;
      accept = false;
      write(): boolean {
        this.writes++;
        return this.accept;
      }
      end(): void {
        this.ended = true;
      }
    }
    const res = new SlowResponse();
    let pulled = 0;
    function* chunks(): Generator<Buffer> {
      for (let i = 0; i < 4; i++) {
        pulled++;
        yield Buffer.alloc(10);
      }
    }
    const done = deliver(res as unknown as ServerResponse, chunks(), {}, undefined, new AbortController().signal);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual([pulled, res.writes], [1, 1]);
    res.emit('drain');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual([pulled, res.writes], [2, 2]);
    res.accept = true;
    res.emit('drain');
    await done;
    assert.deepEqual([pulled, res.writes, res.ended], [4, 4, true]);
  });
});

describe('local server', function () {
  this.timeout(60000);
  let small: Scene;
  before(async () => {
    small = await makeScene('studio', 160, 120);
  });

  describe('answers', () => {
    withServer({}, (server) => {
      it('GET /health says OK', async () => {
        const res = await request(`${server().url}/health`);
        assert.equal(res.statusCode, 200);
        assert.match(String(res.headers['content-type']), /application\/json/);
        assert.deepEqual(await res.body.json(), { status: 'OK' });
      });

      it('answers in the runner\'s exact text: key order, Python floats, shapes, sorted scores, masks from logits', async () => {
        const res = await post(server(), { image: jpeg(small), fields: { point_coords: '[[32, 43]]', point_labels: '[1]', return_logits: 'false' } });
        assert.equal(res.status, 200);
        assert.match(String(res.headers['content-type']), /^application\/json/);
        assert.match(res.text, /^\{"masks":"\[\[\[[01]\.0, [^"]*\]\]\]","scores":"\[[^"]*\]","logits":"\[\[\[[^"]*\]\]\]"\}$/);
        const answer = parseAnswer(res.text);
        const masks = JSON.parse(answer.texts.masks) as Nested;
        const logits = JSON.parse(answer.texts.logits) as Nested;
        assert.deepEqual(shapeOf(masks), [3, 120, 160]);
        assert.deepEqual(shapeOf(logits), [3, 256, 256]);
        assert.equal(answer.scores.length, 3);
        // Re-rendering each text with Python's rules gives it back byte for byte.
        assert.equal(answer.texts.masks, pyText(masks));
        assert.equal(answer.texts.scores, pyText(answer.scores));
        assert.equal(answer.texts.logits, pyText(logits));
        for (const v of [...answer.scores, ...answer.logits.flatMap((l) => Array.from(l))]) assert.equal(Math.fround(v), v, 'every number is a float32');
        assert.ok(answer.texts.logits.includes('.') && !answer.texts.logits.includes(',,'));
        for (let i = 1; i < 3; i++) assert.ok(answer.scores[i - 1] >= answer.scores[i], `scores descend: ${answer.texts.scores}`);
        for (const s of answer.scores) assert.ok(s > 0 && s < 1);
        for (let c = 0; c < 3; c++) {
          const expected = maskOf(answer, c, 160, 120);
          assert.deepEqual(Uint8Array.from(answer.masks[c].flat()), expected, `mask ${c} is its logits resized and thresholded`);
          const logits = answer.logits[c];
          assert.ok(logits.some((v) => v > 0) && logits.some((v) => v < 0));
          assert.ok(logits.every((v) => Math.abs(v) <= 20), 'logits stay within SAM-like magnitudes');
        }
      });

      it('returns the resized logits as masks when return_logits is true (the default)', async () => {
        const res = await post(server(), { image: jpeg(small), fields: { point_coords: '[[32, 43]]', point_labels: '[1]', multimask_output: 'false' } });
        assert.equal(res.status, 200);
        const answer = parseAnswer(res.text);
        assert.equal(answer.masks.length, 1);
        const expected = resizeBilinear(answer.logits[0], LOW_RES_SIZE, LOW_RES_SIZE, 160, 120);
        assert.deepEqual(Float32Array.from(answer.masks[0].flat()), expected);
        assert.ok(expected.some((v) => v !== 0 && v !== 1));
      });

      it('gives one mask without multimask and three of different extent with it', async () => {
        const scene = await makeScene('studio', 320, 240);
        const ring = scene.objects.find((o) => o.name === 'ring')!;
        const fields = { point_coords: JSON.stringify([ring.point]), point_labels: '[1]', return_logits: 'false' };
        const one = parseAnswer((await post(server(), { image: jpeg(scene), fields: { ...fields, multimask_output: 'false' } })).text);
        const three = parseAnswer((await post(server(), { image: jpeg(scene), fields: { ...fields, multimask_output: 'true' } })).text);
        assert.equal(one.masks.length, 1);
        assert.equal(three.masks.length, 3);
        assert.equal(one.scores[0], three.scores[0], 'the single mask is the best candidate');
        const areas = three.masks.map((m) => m.flat().reduce((a, b) => a + b, 0));
        assert.ok(new Set(areas).size > 1, `areas ${areas.join(', ')}`);
      });

      it('reads normalize_coords: pixels and relative coordinates give the same answer', async () => {
        const scene = await makeScene('studio', 640, 480);
        const [x, y] = scene.objects[1].point;
        const [bx1, by1, bx2, by2] = scene.objects[1].box;
        const pixels = await post(server(), {
          image: jpeg(scene),
          fields: { point_coords: `[[${x}, ${y}]]`, point_labels: '[1]', box: `[${bx1}, ${by1}, ${bx2}, ${by2}]`, multimask_output: 'false', return_logits: 'false' },
        });
        const relative = await post(server(), {
          image: jpeg(scene),
          fields: {
            point_coords: JSON.stringify([[x / 640, y / 480]]),
            point_labels: '[1]',
            box: JSON.stringify([bx1 / 640, by1 / 480, bx2 / 640, by2 / 480]),
            normalize_coords: 'false',
            multimask_output: 'false',
            return_logits: 'false',
          },
        });
        assert.equal(pixels.status, 200);
        assert.equal(relative.text, pixels.text);
        // And the relative reading is not simply ignored: pixel values read as relative land elsewhere.
        const misread = await post(server(), {
          image: jpeg(scene),
          fields: { point_coords: `[[${x}, ${y}]]`, point_labels: '[1]', normalize_coords: 'false', multimask_output: 'false', return_logits: 'false' },
        });
        assert.notEqual(misread.text, pixels.text);
      });

      it('reads booleans as pydantic does', async () => {
        for (const [word, count] of [['TRUE', 3], ['Yes', 3], ['on', 3], ['1', 3], ['false', 1], ['No', 1], ['OFF', 1], ['0', 1]] as const) {
          const res = await post(server(), { image: jpeg(small), fields: { multimask_output: word, return_logits: 'false' } });
          assert.equal(res.status, 200, word);
          assert.equal(parseAnswer(res.text).masks.length, count, word);
        }
      });

      it('serves a route under any prefix, with or without a trailing slash', async () => {
        for (const path of ['/api/beta/generate/segment-anything-2', '/segment-anything-2/']) {
          const res = await post(server(), { path, image: jpeg(small), fields: { multimask_output: 'false', return_logits: 'false' } });
          assert.equal(res.status, 200, path);
        }
      });

      it('answers 404 for the route doubled, under any prefix, as the runner does', async () => {
        for (const path of ['/segment-anything-2/segment-anything-2', '/segment-anything-2/segment-anything-2/', '/api/segment-anything-2/segment-anything-2', '/segment-anything-2/x/segment-anything-2']) {
          const res = await post(server(), { path, image: jpeg(small), fields: { multimask_output: 'false', return_logits: 'false' } });
          assert.deepEqual([res.status, JSON.parse(res.text)], [404, { detail: 'Not Found' }], path);
        }
        assert.equal((await post(server(), { path: '/segment-anything-2-old/segment-anything-2', image: jpeg(small), fields: { return_logits: 'false' } })).status, 200, 'a prefix that only starts like the route is still a prefix');
      });

      it('accepts an empty or missing model_id, as the runner does', async () => {
        for (const fields of [{ model_id: '' }, {}, { model_id: 'facebook/sam2-hiera-large' }] as Array<Record<string, string>>) {
          const res = await post(server(), { image: jpeg(small), fields: { ...fields, multimask_output: 'false', return_logits: 'false' } });
          assert.equal(res.status, 200, JSON.stringify(fields));
        }
      });

      it('answers other methods and paths as FastAPI does', async () => {
        const get = await request(`${server().url}/segment-anything-2`);
        assert.equal(get.statusCode, 405);
        assert.deepEqual(await get.body.json(), { detail: 'Method Not Allowed' });
        const missing = await request(`${server().url}/nowhere`);
        assert.equal(missing.statusCode, 404);
        assert.deepEqual(await missing.body.json(), { detail: 'Not Found' });
      });
    });
  });

  describe('segmentation of synthetic photos', () => {
    withServer({}, (server) => {
      const sizes: Array<[number, number]> = [
        [640, 480],
        [1920, 1080],
        [900, 1200],
      ];
      for (const [width, height] of sizes) {
        it(`finds each object under a foreground point at ${width}x${height}`, async () => {
          const scene = await makeScene('studio', width, height);
          for (const object of scene.objects) {
            const res = await post(server(), {
              image: jpeg(scene),
              fields: { point_coords: JSON.stringify([object.point]), point_labels: '[1]', multimask_output: 'false', return_logits: 'false' },
            });
            assert.equal(res.status, 200);
            const score = iou(maskOf(parseAnswer(res.text), 0, width, height), object.mask);
            assert.ok(score >= 0.85, `${object.name}: IoU ${score.toFixed(3)}`);
          }
        });
      }

      it('finds objects in a textured scene, and the best of three candidates comes first', async () => {
        const scene = await makeScene('garden', 800, 600);
        for (const object of scene.objects) {
          const res = await post(server(), { image: jpeg(scene), fields: { point_coords: JSON.stringify([object.point]), point_labels: '[1]', return_logits: 'false' } });
          const score = iou(maskOf(parseAnswer(res.text), 0, 800, 600), object.mask);
          assert.ok(score >= 0.85, `${object.name}: IoU ${score.toFixed(3)}`);
        }
      });

      it('segments the object in a box given alone, a ring without its hole', async () => {
        const scene = await makeScene('studio', 640, 480);
        for (const object of scene.objects) {
          const res = await post(server(), { image: jpeg(scene), fields: { box: JSON.stringify(object.box), multimask_output: 'false', return_logits: 'false' } });
          const score = iou(maskOf(parseAnswer(res.text), 0, 640, 480), object.mask);
          assert.ok(score >= 0.85, `${object.name}: IoU ${score.toFixed(3)}`);
        }
        const ring = scene.objects.find((o) => o.name === 'ring')!;
        const [x1, y1, x2, y2] = ring.box;
        const res = await post(server(), { image: jpeg(scene), fields: { box: JSON.stringify(ring.box), multimask_output: 'false', return_logits: 'false' } });
        const mask = maskOf(parseAnswer(res.text), 0, 640, 480);
        assert.equal(mask[Math.round((y1 + y2) / 2) * 640 + Math.round((x1 + x2) / 2)], 0, "the ring's hole is not in the mask");
      });

      it('keeps the mask inside the box', async () => {
        const scene = await makeScene('studio', 640, 480);
        const tile = scene.objects.find((o) => o.name === 'tile')!;
        const [x1, y1, x2, y2] = tile.box;
        const half: [number, number, number, number] = [x1 - 10, y1 - 10, Math.round((x1 + x2) / 2), y2 + 10];
        const res = await post(server(), {
          image: jpeg(scene),
          fields: { point_coords: JSON.stringify([[x1 + 20, (y1 + y2) / 2]]), point_labels: '[1]', box: JSON.stringify(half), multimask_output: 'false', return_logits: 'false' },
        });
        const mask = maskOf(parseAnswer(res.text), 0, 640, 480);
        let inside = 0;
        let outside = 0;
        const clipped = new Uint8Array(640 * 480);
        for (let y = 0; y < 480; y++) {
          for (let x = 0; x < 640; x++) {
            const i = y * 640 + x;
            const inBox = x >= half[0] && x < half[2] && y >= half[1] && y < half[3];
            if (mask[i] && inBox) inside++;
            // One 4-pixel cell of slack at the box's edge, where the logits are interpolated.
            if (mask[i] && (x >= half[2] + 4 || x < half[0] - 4 || y < half[1] - 4 || y >= half[3] + 4)) outside++;
            clipped[i] = inBox && tile.mask[i] ? 1 : 0;
          }
        }
        assert.equal(outside, 0, 'no mask pixel lies outside the box');
        assert.ok(inside > 0);
        assert.ok(iou(mask, clipped) >= 0.85, `IoU with the tile's part in the box: ${iou(mask, clipped).toFixed(3)}`);
      });

      it('lets a background point cut into the region', async () => {
        const scene = await makeScene('studio', 640, 480);
        const block = scene.objects.find((o) => o.name === 'block')!;
        const [x1, y1, x2, y2] = block.box;
        const top: [number, number] = [Math.round((x1 + x2) / 2), y1 + 20];
        const bottom: [number, number] = [Math.round((x1 + x2) / 2), y2 - 20];
        const fields = { multimask_output: 'false', return_logits: 'false' };
        const alone = maskOf(parseAnswer((await post(server(), { image: jpeg(scene), fields: { ...fields, point_coords: JSON.stringify([top]), point_labels: '[1]' } })).text), 0, 640, 480);
        const cut = maskOf(
          parseAnswer((await post(server(), { image: jpeg(scene), fields: { ...fields, point_coords: JSON.stringify([top, bottom]), point_labels: '[1, 0]' } })).text),
          0,
          640,
          480,
        );
        assert.equal(alone[bottom[1] * 640 + bottom[0]], 1);
        assert.equal(cut[bottom[1] * 640 + bottom[0]], 0, 'the background point is outside the mask');
        assert.equal(cut[top[1] * 640 + top[0]], 1, 'the foreground point is still inside');
        assert.ok(cut.reduce((a, b) => a + b, 0) < alone.reduce((a, b) => a + b, 0) * 0.9);
      });

      it('segments around the centre when given no prompt', async () => {
        const scene = await makeScene('studio', 640, 480);
        const res = await post(server(), { image: jpeg(scene), fields: { return_logits: 'false' } });
        assert.equal(res.status, 200);
        const answer = parseAnswer(res.text);
        assert.equal(answer.masks.length, 3);
        assert.equal(maskOf(answer, 0, 640, 480)[240 * 640 + 320], 1);
      });

      it('pulls the result towards a mask_input', async () => {
        const scene = await makeScene('studio', 640, 480);
        const tile = scene.objects.find((o) => o.name === 'tile')!;
        // A rough, offset rectangle over most of the tile, as logits of ±10.
        const [x1, y1, x2, y2] = tile.box.map((v, i) => (v / (i % 2 ? 480 : 640)) * LOW_RES_SIZE);
        const rows: string[] = [];
        for (let y = 0; y < LOW_RES_SIZE; y++) {
          const row: string[] = [];
          for (let x = 0; x < LOW_RES_SIZE; x++) row.push(x > x1 + 6 && x < x2 - 2 && y > y1 + 4 && y < y2 + 2 ? '10.0' : '-10.0');
          rows.push(`[${row.join(',')}]`);
        }
        const fields = { multimask_output: 'false', return_logits: 'false' };
        const without = maskOf(parseAnswer((await post(server(), { image: jpeg(scene), fields })).text), 0, 640, 480);
        const res = await post(server(), { image: jpeg(scene), fields: { ...fields, mask_input: `[[${rows.join(',')}]]` } });
        assert.equal(res.status, 200);
        const withInput = maskOf(parseAnswer(res.text), 0, 640, 480);
        assert.ok(iou(without, tile.mask) < 0.2);
        assert.ok(iou(withInput, tile.mask) >= 0.85, `IoU ${iou(withInput, tile.mask).toFixed(3)}`);
      });

      it('is fast: 1080p and 4K segment in well under a second of CPU', async () => {
        for (const [w, h] of [
          [1920, 1080],
          [3840, 2160],
        ]) {
          const scene = await makeScene('studio', w, h);
          const started = process.cpuUsage();
          const features = await imageFeatures(scene.jpeg);
          segment(features, { points: [{ x: 100, y: 100, label: 1 }] }, true);
          const used = process.cpuUsage(started);
          const ms = (used.user + used.system) / 1000;
          // Process-wide CPU time, sharp's threads included; about 100 ms here, bounded loosely for slow CI.
          assert.ok(ms < 600, `${w}x${h}: ${ms.toFixed(0)} ms of CPU`);
        }
      });
    });
  });

  describe('errors, as each party words them', () => {
    const TOKEN = 'local-test-token';
    const auth = { authorization: `Bearer ${TOKEN}` };
    interface ErrorCase {
      what: string;
      sent: () => Sent;
      status: number;
      /** The runner's exact body. */
      runner: string;
      /** The message gateway and Studio carry (the gateway's 500 always says Internal Server Error). */
      message: string;
      headers?: Record<string, string>;
    }
    const pipeline = '{"detail":{"msg":"Segment-anything-2 pipeline error."}}';
    const cases: ErrorCase[] = [
      {
        what: 'a missing image (422)',
        sent: () => ({ fields: { multimask_output: 'true' }, headers: auth }),
        status: 422,
        runner: '{"detail":[{"loc":["body","image"],"msg":"field required","type":"value_error.missing"}]}',
        message: 'image: field required',
      },
      {
        what: 'an image sent as text (422)',
        sent: () => ({ image: 'not a file', headers: auth }),
        status: 422,
        runner: '{"detail":[{"loc":["body","image"],"msg":"Expected UploadFile, received: <class \'str\'>","type":"value_error"}]}',
        message: "image: Expected UploadFile, received: <class 'str'>",
      },
      {
        what: 'every invalid field at once, in declared order (422)',
        sent: () => ({ fields: { normalize_coords: 'maybe', return_logits: '2' }, headers: auth }),
        status: 422,
        runner:
          '{"detail":[{"loc":["body","image"],"msg":"field required","type":"value_error.missing"},' +
          '{"loc":["body","return_logits"],"msg":"value could not be parsed to a boolean","type":"type_error.bool"},' +
          '{"loc":["body","normalize_coords"],"msg":"value could not be parsed to a boolean","type":"type_error.bool"}]}',
        message: 'image: field required; return_logits: value could not be parsed to a boolean; normalize_coords: value could not be parsed to a boolean',
      },
      {
        what: 'validation before the token (422 without a token)',
        sent: () => ({}),
        status: 422,
        runner: '{"detail":[{"loc":["body","image"],"msg":"field required","type":"value_error.missing"}]}',
        message: 'image: field required',
      },
      {
        what: 'no token (401)',
        sent: () => ({ image: jpeg(small) }),
        status: 401,
        runner: '{"detail":{"msg":"Invalid bearer token."}}',
        message: 'Invalid bearer token.',
        headers: { 'www-authenticate': 'Bearer' },
      },
      {
        what: 'a wrong token, checked before the model id (401)',
        sent: () => ({ image: jpeg(small), fields: { model_id: 'other' }, headers: { authorization: `Bearer ${TOKEN}x` } }),
        status: 401,
        runner: '{"detail":{"msg":"Invalid bearer token."}}',
        message: 'Invalid bearer token.',
        headers: { 'www-authenticate': 'Bearer' },
      },
      {
        what: 'another model id, checked before the prompts (400)',
        sent: () => ({ image: jpeg(small), fields: { model_id: 'facebook/sam2-hiera-tiny', point_coords: '[' }, headers: auth }),
        status: 400,
        runner: '{"detail":{"msg":"pipeline configured with facebook/sam2-hiera-large but called with facebook/sam2-hiera-tiny."}}',
        message: 'pipeline configured with facebook/sam2-hiera-large but called with facebook/sam2-hiera-tiny.',
      },
      {
        what: 'point_coords that are not JSON (400)',
        sent: () => ({ image: jpeg(small), fields: { point_coords: '[[1,2]', point_labels: '[1]' }, headers: auth }),
        status: 400,
        runner: '{"detail":{"msg":"Error parsing JSON for point_coords: Expecting \',\' delimiter: line 1 column 7 (char 6)"}}',
        message: "Error parsing JSON for point_coords: Expecting ',' delimiter: line 1 column 7 (char 6)",
      },
      {
        what: 'a box that is not JSON (400)',
        sent: () => ({ image: jpeg(small), fields: { box: '10, 10, 50, 50' }, headers: auth }),
        status: 400,
        runner: '{"detail":{"msg":"Error parsing JSON for box: Extra data: line 1 column 3 (char 2)"}}',
        message: 'Error parsing JSON for box: Extra data: line 1 column 3 (char 2)',
      },
      {
        what: 'ragged point_coords, which numpy refuses (400)',
        sent: () => ({ image: jpeg(small), fields: { point_coords: '[[1, 2], [3]]', point_labels: '[1, 1]' }, headers: auth }),
        status: 400,
        runner:
          '{"detail":{"msg":"setting an array element with a sequence. The requested array has an inhomogeneous shape after 1 dimensions. The detected shape was (2,) + inhomogeneous part."}}',
        message: 'setting an array element with a sequence. The requested array has an inhomogeneous shape after 1 dimensions. The detected shape was (2,) + inhomogeneous part.',
      },
      {
        what: 'a text field over 1 MiB (400)',
        sent: () => ({ image: jpeg(small), fields: { mask_input: `[${'0.0,'.repeat(270000)}0.0]` }, headers: auth }),
        status: 400,
        runner: '{"detail":"There was an error parsing the body"}',
        message: 'There was an error parsing the body',
      },
      {
        what: 'a file that is not an image (500)',
        sent: () => ({ image: { bytes: Buffer.from('GIF89a but not really'), filename: 'x.gif', type: 'image/gif' }, headers: auth }),
        status: 500,
        runner: pipeline,
        message: 'Segment-anything-2 pipeline error.',
      },
      {
        what: 'an image over the pixel limit (500 OOM)',
        sent: () => ({ image: { bytes: big.jpeg }, headers: auth }),
        status: 500,
        runner: '{"detail":{"msg":"Out of memory error. Try reducing input image resolution."}}',
        message: 'Out of memory error. Try reducing input image resolution.',
      },
      {
        what: 'several boxes, which break the runner (500)',
        sent: () => ({ image: jpeg(small), fields: { box: '[[0, 0, 50, 50], [60, 60, 100, 100]]' }, headers: auth }),
        status: 500,
        runner: pipeline,
        message: 'Segment-anything-2 pipeline error.',
      },
      {
        what: 'points without labels (500)',
        sent: () => ({ image: jpeg(small), fields: { point_coords: '[[10, 10]]' }, headers: auth }),
        status: 500,
        runner: pipeline,
        message: 'Segment-anything-2 pipeline error.',
      },
      {
        what: 'labels that do not match the points (500)',
        sent: () => ({ image: jpeg(small), fields: { point_coords: '[[10, 10], [20, 20]]', point_labels: '[1]' }, headers: auth }),
        status: 500,
        runner: pipeline,
        message: 'Segment-anything-2 pipeline error.',
      },
      {
        what: 'a mask_input of the wrong shape (500)',
        sent: () => ({ image: jpeg(small), fields: { mask_input: '[[1.0, 2.0]]' }, headers: auth }),
        status: 500,
        runner: pipeline,
        message: 'Segment-anything-2 pipeline error.',
      },
    ];
    let big: Scene;
    before(async () => {
      big = await makeScene('studio', 400, 300);
    });

    for (const flavour of ['runner', 'gateway', 'studio'] as const) {
      describe(`${flavour} flavour`, () => {
        withServer({ flavour, token: TOKEN, maxPixels: 100_000 }, (server) => {
          for (const c of cases) {
            it(`answers ${c.what}`, async () => {
              const res = await post(server(), c.sent());
              assert.equal(res.status, c.status);
              assert.match(String(res.headers['content-type']), /^application\/json/);
              const expected =
                flavour === 'runner'
                  ? c.runner
                  : flavour === 'gateway'
                    ? JSON.stringify({ error: { message: c.status === 500 ? 'Internal Server Error' : c.message } })
                    : JSON.stringify({ errors: [c.message] });
              assert.equal(res.text, expected);
              for (const [k, v] of Object.entries(c.headers ?? {})) assert.equal(res.headers[k], v);
              assert.equal(server().requests.at(-1)?.status, c.status);
            });
          }

          it('answers a malformed multipart body with 400', async () => {
            const res = await request(`${server().url}/segment-anything-2`, {
              method: 'POST',
              headers: { ...auth, 'content-type': 'multipart/form-data; boundary=xyz' },
              body: '--xyz\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n\r\nno closing boundary',
            });
            assert.equal(res.statusCode, 400);
            const body = await res.body.text();
            const message = 'There was an error parsing the body';
            assert.equal(body, flavour === 'runner' ? JSON.stringify({ detail: message }) : flavour === 'gateway' ? JSON.stringify({ error: { message } }) : JSON.stringify({ errors: [message] }));
          });

          it('accepts the right token, its scheme in any case', async () => {
            for (const header of [`Bearer ${TOKEN}`, `bearer ${TOKEN}`]) {
              const res = await post(server(), { image: jpeg(small), fields: { multimask_output: 'false', return_logits: 'false' }, headers: { authorization: header } });
              assert.equal(res.status, 200, header);
            }
          });
        });
      });
    }
  });

  describe('what it received', () => {
    const TOKEN = 'never-store-me';
    withServer({ token: TOKEN }, (server) => {
      it('records every text field exactly as sent, the image, and whether a token came', async () => {
        const fields = {
          model_id: 'facebook/sam2-hiera-large',
          point_coords: '[[10.5, 20], [30,40]]',
          point_labels: '[1, 0]',
          box: ' [0, 0, 100, 90] ',
          multimask_output: 'false',
          return_logits: 'false',
          normalize_coords: 'true',
        };
        const res = await post(server(), { image: { bytes: small.png, filename: 'frame.png', type: 'image/png' }, fields, headers: { authorization: `Bearer ${TOKEN}` } });
        assert.equal(res.status, 200);
        const last = server().requests.at(-1)!;
        assert.deepEqual(last, {
          path: '/segment-anything-2',
          authorization: true,
          fields,
          image: { filename: 'frame.png', contentType: 'image/png', bytes: small.png.length, format: 'png', width: 160, height: 120 },
          status: 200,
        });
        const debug = await request(`${server().url}/debug/requests`, { headers: { authorization: `Bearer ${TOKEN}` } });
        const listed = (await debug.body.json()) as unknown[];
        assert.deepEqual(listed.at(-1), JSON.parse(JSON.stringify(last)));
        assert.ok(!JSON.stringify(server().requests).includes(TOKEN), 'the token is never stored');
      });

      it('records a request without a token as such', async () => {
        await post(server(), { image: jpeg(small) });
        assert.equal(server().requests.at(-1)?.authorization, false);
        assert.equal(server().requests.at(-1)?.status, 401);
      });

      it('keeps every debug route and fault injection behind the token', async () => {
        for (const [method, path] of [['GET', '/debug/requests'], ['POST', '/debug/faults'], ['GET', '/debug/anything'], ['DELETE', '/debug/']] as const) {
          const res = await request(`${server().url}${path}`, { method, body: method === 'POST' ? JSON.stringify({ faults: ['status=418'] }) : undefined });
          assert.equal(res.statusCode, 401, `${method} ${path}`);
          assert.deepEqual(await res.body.json(), { detail: { msg: 'Invalid bearer token.' } });
        }
        const auth = { authorization: `Bearer ${TOKEN}` };
        const ok = { image: jpeg(small), fields: { multimask_output: 'false', return_logits: 'false' } };
        // Without the token a fault header changes nothing: the runner's 401, not the fault; and nothing was queued above.
        const withoutToken = await post(server(), { ...ok, headers: { 'x-sam2-fault': 'status=200;body=pwned' } });
        assert.equal(withoutToken.status, 401);
        const badSpec = await post(server(), { ...ok, headers: { 'x-sam2-fault': 'teleport' } });
        assert.equal(badSpec.status, 401, 'not even the spec is read');
        assert.equal((await post(server(), { ...ok, headers: auth })).status, 200);
        const withToken = await post(server(), { ...ok, headers: { ...auth, 'x-sam2-fault': 'status=503' } });
        assert.equal(withToken.status, 503);
      });

      it('keeps only the last 100 requests', async () => {
        server().injectFaults(...new Array(105).fill('status=503'));
        for (let i = 0; i < 105; i++) await post(server(), { fields: { n: String(i) } });
        assert.equal(server().requests.length, 100);
        assert.equal(server().requests.at(-1)?.fields.n, '104');
        assert.equal(server().requests[0].fields.n, '5');
      });
    });
  });

  describe('faults', () => {
    withServer({ flavour: 'gateway' }, (server) => {
      const fault = (spec: string): Record<string, string> => ({ 'x-sam2-fault': spec });
      const ok = (): Sent => ({ image: jpeg(small), fields: { multimask_output: 'false', return_logits: 'false' } });

      it('adds latency', async () => {
        const res = await post(server(), { ...ok(), headers: fault('latency=300') });
        assert.equal(res.status, 200);
        assert.ok(res.ms >= 300, `${res.ms} ms`);
      });

      it('answers a chosen status with the flavour\'s body, and Retry-After', async () => {
        const res = await post(server(), { ...ok(), headers: fault('status=503') });
        assert.equal(res.status, 503);
        assert.equal(res.text, '{"error":{"message":"Service Unavailable Error"}}');
        const limited = await post(server(), { ...ok(), headers: fault('status=429;retry-after=2') });
        assert.equal(limited.status, 429);
        assert.equal(limited.headers['retry-after'], '2');
      });

      it('answers a chosen body with a chosen status', async () => {
        const body = '{"masks": "", "scores": "", "logits": ""}; really';
        const res = await post(server(), { ...ok(), headers: fault(`status=200;body=${body}`) });
        assert.equal(res.status, 200);
        assert.equal(res.text, body);
        const plain = await post(server(), { ...ok(), headers: fault('status=502;body=Bad Gateway') });
        assert.equal(plain.status, 502);
        assert.equal(plain.text, 'Bad Gateway');
      });

      it('resets the connection after part of the body', async () => {
        const res = await request(`${server().url}/segment-anything-2`, { method: 'POST', body: formOf(ok()), headers: fault('reset=1000') });
        assert.equal(res.statusCode, 200);
        let received = 0;
        await assert.rejects(async () => {
          for await (const chunk of res.body) received += (chunk as Buffer).length;
        }, { code: 'UND_ERR_SOCKET' });
        assert.equal(received, 1000);
      });

      it('truncates the body with a clean end', async () => {
        const res = await post(server(), { ...ok(), headers: fault('truncate=1000') });
        assert.equal(res.status, 200);
        assert.equal(res.text.length, 1000);
        assert.ok(res.text.startsWith('{"masks":"[[['));
        assert.throws(() => JSON.parse(res.text));
      });

      it('trickles the body in small pieces', async () => {
        const body = '{"error":{"message":"slowly, slowly"}}';
        const res = await request(`${server().url}/segment-anything-2`, {
          method: 'POST',
          body: formOf(ok()),
          headers: fault(`trickle=40;chunk=10;status=500;body=${body}`),
        });
        const started = Date.now();
        const pieces: number[] = [];
        for await (const chunk of res.body) pieces.push((chunk as Buffer).length);
        assert.equal(pieces.reduce((a, b) => a + b, 0), body.length);
        assert.ok(pieces.length >= 3, `${pieces.length} pieces`);
        assert.ok(Math.max(...pieces) <= 10);
        assert.ok(Date.now() - started >= 3 * 40 - 40, 'pieces came apart in time');
      });

      it('stalls after the headers', async () => {
        const res = await request(`${server().url}/segment-anything-2`, { method: 'POST', body: formOf(ok()), headers: fault('stall') });
        assert.equal(res.statusCode, 200);
        let got = 0;
        res.body.on('data', (c: Buffer) => (got += c.length));
        const winner = await Promise.race([once(res.body, 'end').then(() => 'body'), new Promise((r) => setTimeout(() => r('silence'), 300))]);
        assert.equal(winner, 'silence');
        assert.equal(got, 0);
        res.body.destroy();
      });

      it('hangs without answering', async () => {
        await assert.rejects(
          request(`${server().url}/segment-anything-2`, { method: 'POST', body: formOf(ok()), headers: fault('hang'), headersTimeout: 300 }),
          { code: 'UND_ERR_HEADERS_TIMEOUT' },
        );
        assert.equal(server().requests.at(-1)?.status, 0);
      });

      it('sends garbage', async () => {
        const res = await request(`${server().url}/segment-anything-2`, { method: 'POST', body: formOf(ok()), headers: fault('garbage') });
        assert.equal(res.statusCode, 200);
        const bytes = Buffer.from(await res.body.arrayBuffer());
        assert.ok(bytes.length > 0);
        assert.notEqual(bytes[0], 0x7b);
        assert.throws(() => JSON.parse(bytes.toString()));
      });

      it('sends an oversize answer that looks well-formed', async () => {
        const res = await post(server(), { ...ok(), headers: fault('oversize=2000003') });
        assert.equal(res.status, 200);
        const parsed = JSON.parse(res.text) as { masks: string; scores: string; logits: string };
        assert.deepEqual(Object.keys(parsed), ['masks', 'scores', 'logits']);
        assert.equal(parsed.masks.length, 2000003);
        const masks = JSON.parse(parsed.masks) as Nested;
        assert.equal(parsed.masks, pyText(masks));
        assert.deepEqual(shapeOf(JSON.parse(parsed.logits) as Nested), [1, 256, 256]);
      });

      it('combines faults', async () => {
        const res = await post(server(), { ...ok(), headers: fault('latency=200;status=503') });
        assert.equal(res.status, 503);
        assert.ok(res.ms >= 200);
      });

      it('queues faults for the next requests, in order', async () => {
        server().injectFaults('status=500', 'status=502');
        const statuses = [];
        for (let i = 0; i < 3; i++) statuses.push((await post(server(), ok())).status);
        assert.deepEqual(statuses, [500, 502, 200]);
      });

      it('queues faults posted to /debug/faults', async () => {
        const queued = await request(`${server().url}/debug/faults`, { method: 'POST', body: JSON.stringify({ faults: ['status=418'] }) });
        assert.equal(queued.statusCode, 200);
        assert.deepEqual(await queued.body.json(), { queued: 1 });
        const res = await post(server(), ok());
        assert.equal(res.status, 418);
        assert.equal(res.text, '{"error":{"message":"I\'m a Teapot"}}');
      });

      it('refuses unknown faults in each place with a clear message', async () => {
        const res = await post(server(), { ...ok(), headers: fault('slow') });
        assert.equal(res.status, 400);
        assert.deepEqual(server().requests.at(-1)?.fields, ok().fields, 'the request is still recorded');
        assert.match((JSON.parse(res.text) as { error: { message: string } }).error.message, /^x-sam2-fault: unknown fault "slow"; known faults: latency=<ms>/);
        assert.throws(() => server().injectFaults('status=500', 'explode'), /unknown fault "explode"/);
        assert.equal((await post(server(), ok())).status, 200, 'a refused list queues nothing');
        const posted = await request(`${server().url}/debug/faults`, { method: 'POST', body: JSON.stringify({ faults: ['teleport'] }) });
        assert.equal(posted.statusCode, 400);
        assert.match(await posted.body.text(), /unknown fault \\"teleport\\"/);
        await assert.rejects(startLocalServer({ faults: 'warp' }), /unknown fault "warp"/);
      });
    });

    describe('in the studio flavour', () => {
      withServer({ flavour: 'studio' }, (server) => {
        it("answers a 429 in Studio's words, with Retry-After", async () => {
          const res = await post(server(), { image: jpeg(small), headers: { 'x-sam2-fault': 'status=429' } });
          assert.equal(res.status, 429);
          assert.equal(res.text, '{"errors":["Too many AI requests"]}');
          assert.equal(res.headers['retry-after'], '1');
        });
      });
    });

    describe('set at start', () => {
      withServer({ faults: 'status=503' }, (server) => {
        it('applies to every request, and a header overrides it', async () => {
          assert.equal((await post(server(), { image: jpeg(small) })).status, 503);
          assert.equal((await post(server(), { image: jpeg(small) })).status, 503);
          const res = await post(server(), { image: jpeg(small), fields: { return_logits: 'false' }, headers: { 'x-sam2-fault': 'status=200' } });
          assert.equal(res.status, 200);
          assert.equal(parseAnswer(res.text).masks.length, 3);
        });
      });
    });

    describe('chosen per request', () => {
      withServer({ faultsFor: (n) => (n === 2 ? 'status=429;retry-after=7' : n % 2 === 1 ? 'status=503' : undefined) }, (server) => {
        it('gives the n-th segment request the spec chosen for n, and a header still overrides it', async () => {
          const statuses = [];
          for (let i = 0; i < 5; i++) statuses.push((await post(server(), { image: jpeg(small) })).status);
          assert.deepEqual(statuses, [200, 503, 429, 503, 200]);
          const res = await post(server(), { image: jpeg(small), headers: { 'x-sam2-fault': 'status=200' } });
          assert.equal(res.status, 200, 'n = 5 would be 503 but for the header');
        });
      });
    });
  });

  describe('a body over the size limit', () => {
    withServer({ maxBodyBytes: 1024 * 1024 }, (server) => {
      /** Streams `total` bytes (or declares them) and stops writing once an answer arrives. */
      function upload(total: number, declare: boolean): Promise<{ status: number; text: string; written: number }> {
        return new Promise((resolve, reject) => {
          const req = httpRequest(`${server().url}/segment-anything-2`, {
            method: 'POST',
            headers: { 'content-type': 'multipart/form-data; boundary=x', ...(declare ? { 'content-length': String(total) } : {}) },
          });
          let written = 0;
          let answered = false;
          req.on('response', (res) => {
            answered = true;
            let text = '';
            res.on('data', (c: Buffer) => (text += c.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, text, written }));
          });
          req.on('error', (err) => {
            if (!answered) reject(err);
          });
          const chunk = Buffer.alloc(64 * 1024, 0x61);
          const pump = (): void => {
            while (!answered && written < total && !declare) {
              written += chunk.length;
              if (!req.write(chunk)) return void req.once('drain', pump);
            }
            if (!answered && !declare) req.end();
          };
          if (declare) req.flushHeaders();
          else pump();
        });
      }

      it('is refused with 413 as it streams in, long before it is all sent', async () => {
        const sent = await upload(256 * 1024 * 1024, false);
        assert.equal(sent.status, 413);
        assert.deepEqual(JSON.parse(sent.text), { detail: { msg: 'Request body over 1048576 bytes' } });
        assert.ok(sent.written < 64 * 1024 * 1024, `the client had written ${sent.written} bytes when refused`);
        assert.equal(server().requests.at(-1)?.status, 413);
      });

      it('is refused by its Content-Length before a byte of it is read', async () => {
        const sent = await upload(10 * 1024 * 1024, true);
        assert.equal(sent.status, 413);
      });

      it('still serves a request under the limit', async () => {
        assert.equal((await post(server(), { image: jpeg(small), fields: { return_logits: 'false' } })).status, 200);
      });
    });
  });

  describe('close', () => {
    function tcpHandles(): number {
      return process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'TCPServerWrap').length;
    }

    it('closes the listening socket and every open connection, stalled or hanging', async () => {
      const before = tcpHandles();
      const server = await startLocalServer();
      const agent = new Agent();
      const headers = (spec: string): Record<string, string> => ({ 'x-sam2-fault': spec });
      const stalled = await request(`${server.url}/segment-anything-2`, { method: 'POST', body: formOf({ image: jpeg(small) }), headers: headers('stall'), dispatcher: agent });
      // Outcomes are caught as they happen, so their failures are not reported as unhandled.
      const outcome = (p: Promise<unknown>): Promise<unknown> => p.then(() => 'finished', (err: unknown) => err);
      const stalledBody = outcome(stalled.body.text());
      const hanging = outcome(request(`${server.url}/segment-anything-2`, { method: 'POST', body: formOf({ image: jpeg(small) }), headers: headers('hang'), dispatcher: agent }));
      const idle = await request(`${server.url}/health`, { dispatcher: agent });
      await idle.body.dump();
      await until('the hanging request to arrive', () => server.requests.length === 2);
      assert.ok(tcpHandles() > before);

      await server.close();
      assert.ok((await stalledBody) instanceof Error, 'the stalled body fails');
      assert.ok((await hanging) instanceof Error, 'the hanging request fails');
      await assert.rejects(request(`${server.url}/health`, { dispatcher: agent }), { code: 'ECONNREFUSED' });
      await agent.close();
      await until('every socket to close', () => tcpHandles() <= before, 2000);
    });
  });

  describe('command line', () => {
    const cli = join(__dirname, '..', 'local-server', 'cli.js');

    it('prints the URL to use, serves, and exits cleanly on SIGTERM', async () => {
      const child = spawn(process.execPath, [cli, '--port', '0', '--flavour', 'studio'], { env: { ...process.env, SAM2_SERVER_TOKEN: 'cli-token' }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      await until('the URL', () => /Endpoint URL: (\S+)/.test(out), 10000);
      const url = /Endpoint URL: (\S+)/.exec(out)![1];
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const health = await request(`${url}/health`);
      assert.deepEqual(await health.body.json(), { status: 'OK' });
      const denied = await request(`${url}/segment-anything-2`, { method: 'POST', body: formOf({ image: jpeg(small) }) });
      assert.equal(denied.statusCode, 401);
      assert.equal(await denied.body.text(), '{"errors":["Invalid bearer token."]}');
      child.kill('SIGTERM');
      const [code] = (await once(child, 'exit')) as [number | null];
      assert.equal(code, 0);
    });

    it('refuses a bad option with a message and a failing exit code', async () => {
      const child = spawn(process.execPath, [cli, '--flavour', 'cloud'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      child.stderr.on('data', (c: Buffer) => (err += c.toString()));
      const [code] = (await once(child, 'exit')) as [number | null];
      assert.equal(code, 1);
      assert.match(err, /--flavour must be one of runner, gateway, studio/);
    });
  });
});
