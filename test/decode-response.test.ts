import assert from 'node:assert/strict';
import { decodeSegmentResponse, type DecodeOptions, type DecodedResponse } from '../lib/decode-response';
import { Sam2DecodeError } from '../lib/errors';
import { pyFloatRepr } from '../local-server/python-repr';

type Nested = number | string | Nested[];

/** Python's str() of a nested list: numbers in Python's repr, strings as raw tokens. */
function py(x: Nested): string {
  if (typeof x === 'number') return pyFloatRepr(x);
  if (typeof x === 'string') return x;
  return `[${x.map(py).join(', ')}]`;
}

/** The answer's JSON the way the runner prints it; `fields` in the order given. */
function answer(fields: Record<string, string>): string {
  return `{${Object.entries(fields)
    .map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`)
    .join(', ')}}`;
}

const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));

async function* chunked(body: Uint8Array, sizes: number[]): AsyncGenerator<Uint8Array> {
  let at = 0;
  for (let k = 0; at < body.length; k++) {
    const n = sizes[k % sizes.length];
    yield body.slice(at, at + n);
    at += n;
  }
}

/** A deterministic stream of pseudo-random numbers in [0, 1). */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** C x H x W float32 values, each printed as Python would. */
function floats(c: number, h: number, w: number, next: () => number): number[][][] {
  return Array.from({ length: c }, () => Array.from({ length: h }, () => Array.from({ length: w }, () => Math.fround((next() - 0.6) * 40))));
}

function lowRes(c: number, next: () => number): number[][][] {
  return floats(c, 256, 256, next);
}

function flat(x: number[][][]): number[] {
  return x.flat(2);
}

async function rejectsWith(promise: Promise<unknown>, field: string, offset: number | undefined, message: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof Sam2DecodeError, `expected a Sam2DecodeError, got ${String(err)}`);
    assert.equal(err.field, field, err.message);
    if (offset !== undefined) assert.equal(err.offset, offset, err.message);
    assert.match(err.message, message);
    return true;
  });
}

function sameResult(actual: DecodedResponse, expected: DecodedResponse): void {
  assert.deepEqual(actual.masks?.shape, expected.masks?.shape);
  assert.deepEqual(actual.masks?.data, expected.masks?.data);
  assert.deepEqual(actual.scores, expected.scores);
  assert.deepEqual(actual.logits?.shape, expected.logits?.shape);
  assert.deepEqual(actual.logits?.data, expected.logits?.data);
}

/** A small answer whose logits are left out of decoding (they are 256x256 only when decoded). */
const SMALL_MASKS: Nested = [
  [
    [0, 1, -0.5, 2.25],
    [1.5e20, -8.123456954956055, 1e-5, 'nan'],
    ['inf', '-inf', 3, -7],
  ],
  [
    [1, 0, 0, 1],
    [0.30000001192092896, -0.0001, 12.5, 0.5],
    [-1, -2, -3, -4],
  ],
];

describe('decodeSegmentResponse', () => {
  describe('numbers', () => {
    // Python's float reprs, integers, lenient spellings, and texts that test the exact fallback.
    const forms = [
      '-8.123456954956055', '3.0', '-0.0', '0.0', '1.0', '1e-05', '1.5e+20', '2.5e-3', '1E5',
      'nan', 'inf', '-inf', 'NaN', 'Infinity', '-Infinity', '3', '-7', '007',
      '0.12345679104328156', '0.30000001192092896', '-12.34567928314209',
      '1.401298464324817e-45', '3.4028234663852886e+38', '1e-400', '1e400',
      '123456789012345678901234567890', '0.1000000000000000055511151231257827',
      // Near midpoints between two float32 values, where a fast but inexact reading would
      // round to the other neighbour.
      '1.000000059604644775', '1.0000025629997253', '1.00000172853469849', '1.00000089406967163086',
    ];
    const value = (text: string): number => {
      const t = text.toLowerCase().replace(/^\+/, '');
      if (t.endsWith('nan')) return NaN;
      if (t === 'inf' || t === 'infinity') return Infinity;
      if (t === '-inf' || t === '-infinity') return -Infinity;
      return Number(text);
    };
    const body = answer({ masks: `[[[${forms.join(', ')}]]]`, scores: '[0.5]', logits: '[[[0.0]]]' });

    it('reads every float form into float32 as Math.fround(Number(text))', async () => {
      const r = await decodeSegmentResponse(bytes(body), { masks: 'logits', logits: 'skip' });
      assert.deepEqual(r.masks?.shape, [1, 1, forms.length]);
      forms.forEach((text, k) => assert.ok(Object.is(r.masks?.data[k], Math.fround(value(text))), `${text} gave ${r.masks?.data[k]}`));
    });

    it('thresholds every float form as value > 0', async () => {
      const r = await decodeSegmentResponse(bytes(body), { masks: 'binary', logits: 'skip' });
      assert.ok(r.masks?.data instanceof Uint8Array);
      forms.forEach((text, k) => assert.equal(r.masks?.data[k], value(text) > 0 ? 1 : 0, text));
    });

    it('reads thousands of float32 reprs exactly, in masks, scores and logits', async () => {
      const next = random(7);
      const masks = floats(3, 19, 23, next);
      const logits = lowRes(3, next);
      const scores = [0.953125, 0.8740234375, 0.5126953125].map(Math.fround);
      const r = await decodeSegmentResponse(bytes(answer({ masks: py(masks), scores: py(scores), logits: py(logits) })), { masks: 'logits' });
      assert.deepEqual(r.masks?.shape, [3, 19, 23]);
      assert.deepEqual(r.masks?.data, Float32Array.from(flat(masks)));
      assert.deepEqual(r.scores, Float32Array.from(scores));
      assert.deepEqual(r.logits?.shape, [3, 256, 256]);
      assert.deepEqual(r.logits?.data, Float32Array.from(flat(logits)));
    });

    it('rejects text that is not a number, naming it and where it is', async () => {
      const text = answer({ masks: '[[[0.0, abc, 1.0]]]', scores: '[0.5]', logits: '[[[0.0]]]' });
      await rejectsWith(decodeSegmentResponse(bytes(text), { masks: 'logits', logits: 'skip' }), 'masks', text.indexOf('abc'), /'abc' is not a number/);
      await rejectsWith(decodeSegmentResponse(bytes(text), { masks: 'binary', logits: 'skip' }), 'masks', text.indexOf('abc'), /'abc' is not a number/);
      const partly = answer({ masks: '[[[0.0, 1.0x, 1.0]]]', scores: '[0.5]', logits: '[[[0.0]]]' });
      await rejectsWith(decodeSegmentResponse(bytes(partly), { masks: 'logits', logits: 'skip' }), 'masks', partly.indexOf('1.0x'), /'1\.0x' is not a number/);
      const scores = answer({ masks: '[[[0.0]]]', scores: '[0.5, -]', logits: '[[[0.0]]]' });
      await rejectsWith(decodeSegmentResponse(bytes(scores), { masks: 'logits', logits: 'skip' }), 'scores', scores.indexOf('-]'), /'-' is not a number/);
    });
  });

  describe('binary masks', () => {
    it('sets 1 where the value is above the threshold', async () => {
      const text = answer({ masks: '[[[-0.5, 0.0, 0.25, 0.75, 1.0, 2.0, -0.0, 1e-05, nan, -inf, inf]]]', scores: '[0.5]', logits: '[[[0.0]]]' });
      const at = async (threshold?: number): Promise<number[]> =>
        Array.from((await decodeSegmentResponse(bytes(text), { masks: 'binary', logits: 'skip', threshold })).masks?.data ?? []);
      assert.deepEqual(await at(), [0, 0, 1, 1, 1, 1, 0, 1, 0, 0, 1]);
      assert.deepEqual(await at(0.5), [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 1]);
      assert.deepEqual(await at(-1), [1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1]);
      assert.deepEqual(await at(1), [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
    });

    it('compares exactly with the threshold, even for digits a fast reading rounds', async () => {
      const text = '0.50001234567889996';
      const body = bytes(answer({ masks: `[[[${text}]]]`, scores: '[0.5]', logits: '[[[0.0]]]' }));
      const bit = async (threshold: number): Promise<number | undefined> =>
        (await decodeSegmentResponse(body, { masks: 'binary', logits: 'skip', threshold })).masks?.data[0];
      assert.equal(await bit(Number(text)), 0);
      assert.equal(await bit(Number(text) - 2 ** -53), 1);
    });

    it('reads 0.0 / 1.0 masks of any row length, mixed with other values', async () => {
      const next = random(3);
      for (const width of [1, 2, 3, 4, 5, 7, 8, 9, 31, 64, 97]) {
        const masks = Array.from({ length: 3 }, () =>
          Array.from({ length: 5 }, () => Array.from({ length: width }, () => (next() < 0.1 ? Math.fround(next() * 2 - 1) : next() < 0.5 ? 0 : 1))),
        );
        const r = await decodeSegmentResponse(bytes(answer({ masks: py(masks), scores: '[1.0, 0.5, 0.25]', logits: '[[[0.0]]]' })), { masks: 'binary', logits: 'skip' });
        assert.deepEqual(r.masks?.shape, [3, 5, width]);
        assert.deepEqual(r.masks?.data, Uint8Array.from(flat(masks), (v) => (v > 0 ? 1 : 0)), `width ${width}`);
      }
    });
  });

  describe('chunks', () => {
    const text = answer({
      'x-note': 'a \\ "quoted" note',
      masks: py(SMALL_MASKS),
      scores: py([0.9, 0.25]),
      extra: '',
      logits: '[[[0.5]], [[0.25]]]',
    }).replace('"masks"', '"m\\u0061sks"').replace('[[[0.0, 1.0', '[\\n[[0.0, \\u0031.\\u0030');

    for (const masks of ['logits', 'binary'] as const) {
      it(`gives the same ${masks} answer cut at any byte, or a byte at a time`, async () => {
        const body = bytes(text);
        const options: DecodeOptions = { masks, logits: 'skip' };
        const whole = await decodeSegmentResponse(body, options);
        assert.deepEqual(whole.masks?.shape, [2, 3, 4]);
        for (let cut = 0; cut <= body.length; cut++) {
          sameResult(await decodeSegmentResponse(chunked(body, [cut, body.length]), options), whole);
        }
        sameResult(await decodeSegmentResponse(chunked(body, [1]), options), whole);
      });
    }

    it('gives the same full-size answer in random chunks, as Buffers or plain arrays', async () => {
      const next = random(11);
      const masks = floats(3, 40, 57, next);
      const logits = lowRes(3, next);
      const body = bytes(answer({ masks: py(masks), scores: '[0.9, 0.8, 0.7]', logits: py(logits) }));
      const whole = await decodeSegmentResponse(body, { masks: 'logits' });
      assert.deepEqual(whole.masks?.data, Float32Array.from(flat(masks)));
      assert.deepEqual(whole.logits?.data, Float32Array.from(flat(logits)));
      for (let k = 0; k < 12; k++) {
        const sizes = Array.from({ length: 50 }, () => 1 + Math.floor(next() * (k % 2 ? 70000 : 300)));
        sameResult(await decodeSegmentResponse(chunked(body, sizes), { masks: 'logits' }), whole);
      }
      async function* buffers(): AsyncGenerator<Uint8Array> {
        for (let at = 0; at < body.length; at += 65536) yield Buffer.from(body.subarray(at, at + 65536));
      }
      sameResult(await decodeSegmentResponse(buffers(), { masks: 'logits' }), whole);
      sameResult(await decodeSegmentResponse(Buffer.from(body), { masks: 'logits' }), whole);
      // A reader may refill one buffer for every chunk.
      async function* refilled(): AsyncGenerator<Uint8Array> {
        const chunk = new Uint8Array(4096);
        for (let at = 0; at < body.length; at += chunk.length) {
          const piece = body.subarray(at, at + chunk.length);
          chunk.set(piece);
          yield piece.length === chunk.length ? chunk : chunk.subarray(0, piece.length);
        }
      }
      sameResult(await decodeSegmentResponse(refilled(), { masks: 'logits' }), whole);
    });
  });

  describe('JSON around the fields', () => {
    const masks = py(SMALL_MASKS);
    const fields = { masks, scores: '[0.9, 0.25]', logits: '[[[0.5]], [[0.25]]]' };
    const options: DecodeOptions = { masks: 'logits', logits: 'skip' };

    it('reads the fields in any order', async () => {
      const expected = await decodeSegmentResponse(bytes(answer(fields)), options);
      const orders = [
        ['logits', 'scores', 'masks'],
        ['scores', 'masks', 'logits'],
        ['logits', 'masks', 'scores'],
      ] as const;
      for (const order of orders) {
        const text = answer(Object.fromEntries(order.map((k) => [k, fields[k]])));
        sameResult(await decodeSegmentResponse(bytes(text), options), expected);
      }
    });

    it('takes any whitespace, outside and inside the list text', async () => {
      const expected = await decodeSegmentResponse(bytes(answer(fields)), options);
      const loose = masks.replace(/, /g, ' ,').replace(/\[/g, '[ ').replace(/\]/g, ' ]');
      const spaced = `\n {\n\t"masks" :\r\n "${loose}" ,\n "scores":"[0.9,0.25]",\n\t"logits" : "[[[0.5]], [[0.25]]]"\n}\n\n`;
      sameResult(await decodeSegmentResponse(bytes(spaced), options), expected);
    });

    it('skips keys it does not know, whatever their value', async () => {
      const expected = await decodeSegmentResponse(bytes(answer(fields)), options);
      const text =
        `{"id": 12.5e3, "meta": {"a": [1, {"b": "x\\"}y]"}], "c": null, "d": [[], {}]}, "masks": "${masks}", "ok": true, ` +
        `"scores": "[0.9, 0.25]", "s": "\\u00e9\\\\", "logits": "[[[0.5]], [[0.25]]]", "n": -3}`;
      sameResult(await decodeSegmentResponse(bytes(text), options), expected);
    });

    it('unescapes the field texts and keys', async () => {
      const expected = await decodeSegmentResponse(bytes(answer(fields)), options);
      const escaped = answer(fields)
        .replace('"scores"', '"\\u0073cores"')
        .replace('[0.9, 0.25]', '[0\\u002e9,\\n0.2\\u0035]')
        .replace('[[[0.0, 1.0', '[[\\/\\t[0.0, \\u0031.0');
      // `\/` is not list text: only whitespace, digits and the like may be escaped there.
      await rejectsWith(decodeSegmentResponse(bytes(escaped), options), 'masks', escaped.indexOf('\\/'), /found '\/' where a list of depth 3 should start/);
      sameResult(await decodeSegmentResponse(bytes(escaped.replace('\\/', ' ')), options), expected);
    });

    it('rejects a quote escaped into the list text, and escapes JSON does not have', async () => {
      const quoted = answer(fields).replace('[[[0.0, 1.0', '[[[0.0, \\"1.0');
      await rejectsWith(decodeSegmentResponse(bytes(quoted), options), 'masks', quoted.indexOf('\\"'), /unexpected '"' \(escaped\)/);
      const bad = answer(fields).replace('[[[0.0, 1.0', '[[[0.0, \\x31.0');
      await rejectsWith(decodeSegmentResponse(bytes(bad), options), 'masks', bad.indexOf('\\x'), /invalid escape '\\x'/);
    });

    it('rejects what is not a JSON object, or more than one', async () => {
      await rejectsWith(decodeSegmentResponse(bytes('Internal Server Error'), options), 'body', 0, /expected a JSON object, found 'I'/);
      const twice = `${answer(fields)} {}`;
      await rejectsWith(decodeSegmentResponse(bytes(twice), options), 'body', twice.length - 2, /after the JSON object/);
      const dup = `{"scores": "[0.5]", "scores": "[0.5]"}`;
      await rejectsWith(decodeSegmentResponse(bytes(dup), options), 'scores', dup.lastIndexOf('"scores"'), /"scores" twice/);
      const notText = `{"masks": [[[0.0]]], "scores": "[0.5]"}`;
      await rejectsWith(decodeSegmentResponse(bytes(notText), options), 'masks', notText.indexOf('[[['), /must be a JSON string/);
    });
  });

  describe('shapes', () => {
    it('gives [C, H, W] for one mask, two and three, with or without expectedShape', async () => {
      for (const count of [1, 2, 3]) {
        const next = random(count);
        const masks = floats(count, 6, 5, next);
        const logits = lowRes(count, next);
        const scores = Array.from({ length: count }, () => 0.5);
        const body = bytes(answer({ masks: py(masks), scores: py(scores), logits: py(logits) }));
        for (const expectedShape of [undefined, { count, height: 6, width: 5 }, { height: 6, width: 5 }, { count }]) {
          const r = await decodeSegmentResponse(body, { masks: 'logits', expectedShape });
          assert.deepEqual(r.masks?.shape, [count, 6, 5]);
          assert.deepEqual(r.masks?.data, Float32Array.from(flat(masks)));
          assert.equal(r.scores.length, count);
          assert.deepEqual(r.logits?.shape, [count, 256, 256]);
          assert.deepEqual(r.logits?.data, Float32Array.from(flat(logits)));
        }
      }
    });

    it('decodes masks larger than its first storage blocks', async () => {
      // 1100 x 1000 is more values than one block holds, so the first mask spans blocks.
      const row = (y: number): string => `[${Array.from({ length: 1000 }, (_, x) => ((x * 7 + y * 3) % 5 < 2 ? '1.0' : '0.0')).join(', ')}]`;
      const mask = `[${Array.from({ length: 1100 }, (_, y) => row(y)).join(', ')}]`;
      const text = answer({ masks: `[${mask}, ${mask}, ${mask}]`, scores: '[0.9, 0.8, 0.7]', logits: '[[[0.0]]]' });
      const r = await decodeSegmentResponse(bytes(text), { masks: 'binary', logits: 'skip' });
      assert.deepEqual(r.masks?.shape, [3, 1100, 1000]);
      assert.equal(r.masks?.data.length, 3 * 1100 * 1000);
      for (const [k, y, x] of [[0, 0, 0], [0, 1099, 999], [1, 548, 13], [2, 1099, 998], [2, 0, 3]]) {
        assert.equal(r.masks?.data[(k * 1100 + y) * 1000 + x], (x * 7 + y * 3) % 5 < 2 ? 1 : 0, `${k} ${y} ${x}`);
      }
    });

    it('rejects ragged rows, naming the row and where it ends', async () => {
      const text = answer({ masks: '[[[0.0, 1.0, 0.0, 1.0], [1.0, 0.0, 1.0]]]', scores: '[0.5]', logits: '[[[0.0]]]' });
      const end = text.indexOf(']]]');
      for (const masks of ['binary', 'logits'] as const) {
        await rejectsWith(decodeSegmentResponse(bytes(text), { masks, logits: 'skip' }), 'masks', end, /row 1 of mask 0 of masks has 3 values \(W\), but row 0 of mask 0 has 4/);
      }
      const longer = answer({ masks: '[[[0.0, 1.0], [0.0, 1.0]], [[1.0, 1.0], [0.0, 1.0, 0.0]]]', scores: '[0.5, 0.25]', logits: '[[[0.0]]]' });
      const binary: DecodeOptions = { masks: 'binary', logits: 'skip' };
      await rejectsWith(decodeSegmentResponse(bytes(longer), binary), 'masks', longer.indexOf(']]]'), /row 1 of mask 1 of masks has 3 values \(W\), but row 0 of mask 0 has 2/);
      // With the exact size known, the last row runs out of room before it ends.
      const full = { ...binary, expectedShape: { count: 2, height: 2, width: 2 } };
      await rejectsWith(decodeSegmentResponse(bytes(longer), full), 'masks', longer.indexOf('0.0]]]'), /row 1 of mask 1 of masks has more than 2 values \(W\)/);
      const rows = answer({ masks: '[[[0.0], [1.0]], [[1.0]]]', scores: '[0.5, 0.25]', logits: '[[[0.0]]]' });
      await rejectsWith(decodeSegmentResponse(bytes(rows), { masks: 'binary', logits: 'skip' }), 'masks', rows.indexOf(']]]') + 1, /mask 1 of masks has 1 row \(H\), but mask 0 has 2/);
    });

    it('rejects lists nested the wrong way', async () => {
      const two = answer({ masks: '[[0.0, 1.0]]', scores: '[0.5]', logits: '[[[0.0]]]' });
      await rejectsWith(decodeSegmentResponse(bytes(two), { masks: 'binary', logits: 'skip' }), 'masks', two.indexOf('0.0'), /nested 3 deep \(C x H x W\)/);
      const four = answer({ masks: '[[[[0.0]]]]', scores: '[0.5]', logits: '[[[0.0]]]' });
      await rejectsWith(decodeSegmentResponse(bytes(four), { masks: 'logits', logits: 'skip' }), 'masks', four.indexOf('[[[[') + 3, /a list is nested 4 deep/);
      const scores = answer({ masks: '[[[0.0]]]', scores: '[[0.5]]', logits: '[[[0.0]]]' });
      await rejectsWith(decodeSegmentResponse(bytes(scores), { masks: 'logits', logits: 'skip' }), 'scores', scores.indexOf('[[0.5') + 1, /scores must be a flat list of numbers/);
      const skipped = answer({ masks: '[[0.0]]', scores: '[0.5]', logits: '[[[0.0]]]' });
      await rejectsWith(decodeSegmentResponse(bytes(skipped), { masks: 'skip', logits: 'skip' }), 'masks', skipped.indexOf('0.0'), /nested 3 deep.*opens with 2/);
      const unclosed = answer({ masks: '[[[0.0, 1.0]]', scores: '[0.5]', logits: '[[[0.0]]]' });
      await rejectsWith(decodeSegmentResponse(bytes(unclosed), { masks: 'logits', logits: 'skip' }), 'masks', unclosed.indexOf('", "scores'), /ends before its list is closed/);
      const empty = answer({ masks: '[[[0.0], []]]', scores: '[0.5]', logits: '[[[0.0]]]' });
      await rejectsWith(decodeSegmentResponse(bytes(empty), { masks: 'logits', logits: 'skip' }), 'masks', empty.indexOf('[]') + 1, /empty list/);
    });

    it('rejects fields whose shapes disagree', async () => {
      const next = random(5);
      const masks3 = py(floats(3, 2, 2, next));
      const logits3 = py(lowRes(3, next));
      const logits2 = py(lowRes(2, next));
      const scoresShort = answer({ masks: masks3, scores: '[0.9, 0.8]', logits: logits3 });
      await rejectsWith(decodeSegmentResponse(bytes(scoresShort), { masks: 'logits' }), 'scores', scoresShort.indexOf('0.8]') + 3, /scores has 2 values, but masks has 3 masks/);
      const logitsShort = answer({ masks: masks3, scores: '[0.9, 0.8, 0.7]', logits: logits2 });
      await rejectsWith(decodeSegmentResponse(bytes(logitsShort), { masks: 'logits' }), 'logits', logitsShort.lastIndexOf(']]]') + 2, /logits has 2 masks \(C\), but masks has 3 masks/);
      const logitsFirst = answer({ logits: logits2, scores: '[0.9, 0.8, 0.7]', masks: masks3 });
      const scoresEnd = logitsFirst.indexOf('0.7]') + 3;
      await rejectsWith(decodeSegmentResponse(bytes(logitsFirst), { masks: 'binary' }), 'scores', scoresEnd, /scores has 3 values, but logits has 2 masks/);
      const narrow = answer({ masks: masks3, scores: '[0.9, 0.8, 0.7]', logits: '[[[0.5, 0.5]], [[0.5, 0.5]], [[0.5, 0.5]]]' });
      await rejectsWith(decodeSegmentResponse(bytes(narrow), { masks: 'logits' }), 'logits', narrow.indexOf('0.5]]') + 3, /logits has 2 values \(W\), but logits are always 256x256/);
    });

    it('checks the answer against expectedShape', async () => {
      const text = answer({ masks: py(SMALL_MASKS), scores: '[0.9, 0.25]', logits: '[[[0.5]], [[0.25]]]' });
      const decode = (expectedShape: DecodeOptions['expectedShape']): Promise<DecodedResponse> =>
        decodeSegmentResponse(bytes(text), { masks: 'logits', logits: 'skip', expectedShape });
      await rejectsWith(decode({ width: 5 }), 'masks', text.indexOf(']'), /has 4 values \(W\), but expectedShape.width is 5/);
      await rejectsWith(decode({ height: 2 }), 'masks', undefined, /mask 0 of masks has more than 2 rows \(H\), but expectedShape.height is 2/);
      await rejectsWith(decode({ count: 1 }), 'masks', text.indexOf(', [[') + 2, /masks has more than 1 mask.*expectedShape.count is 1/);
      await rejectsWith(decode({ count: 3, height: 3, width: 4 }), 'masks', undefined, /masks has 2 masks \(C\), but expectedShape.count is 3/);
    });
  });

  describe('bad answers', () => {
    const fields = { masks: py(SMALL_MASKS), scores: '[0.9, 0.25]', logits: '[[[0.5]], [[0.25]]]' };
    const whole = answer(fields);
    const options: DecodeOptions = { masks: 'binary', logits: 'skip' };

    it('says the body is empty', async () => {
      for (const text of ['', '  \r\n']) {
        await rejectsWith(decodeSegmentResponse(bytes(text), options), 'body', text.length, /body is empty: the server returned no masks/);
        await rejectsWith(decodeSegmentResponse(chunked(bytes(text), [1]), options), 'body', text.length, /body is empty/);
      }
    });

    it('says the server returned no masks when a field is empty', async () => {
      const text = answer({ masks: '', scores: '', logits: '' });
      for (const masks of ['binary', 'logits', 'skip'] as const) {
        await rejectsWith(decodeSegmentResponse(bytes(text), { masks }), 'masks', text.indexOf('"", "scores') + 1, /masks text is empty: the server returned no masks/);
      }
      const noScores = answer({ ...fields, scores: ' ' });
      await rejectsWith(decodeSegmentResponse(bytes(noScores), options), 'scores', noScores.indexOf(' ", "logits') + 1, /scores text is empty/);
      const emptyList = answer({ ...fields, masks: '[]' });
      await rejectsWith(decodeSegmentResponse(bytes(emptyList), options), 'masks', emptyList.indexOf('[]') + 1, /empty list: the server returned no masks/);
    });

    it('says where a truncated body ends, and in which field', async () => {
      const inMasks = whole.indexOf('-8.12');
      await rejectsWith(decodeSegmentResponse(bytes(whole.slice(0, inMasks)), options), 'masks', inMasks, /ends inside the masks text: the answer was cut short/);
      const inScores = whole.indexOf('0.25]');
      await rejectsWith(decodeSegmentResponse(chunked(bytes(whole.slice(0, inScores)), [7]), options), 'scores', inScores, /inside the scores text/);
      for (const cut of [1, whole.indexOf('"masks"') + 3, whole.indexOf(':'), whole.length - 1]) {
        await rejectsWith(decodeSegmentResponse(bytes(whole.slice(0, cut)), options), 'body', cut, /ends before the JSON object is complete/);
      }
    });

    it('says which field is missing', async () => {
      const { masks, logits } = fields;
      await rejectsWith(decodeSegmentResponse(bytes(answer({ masks, logits })), options), 'scores', undefined, /no "scores" field/);
      const error = '{"detail": {"msg": "Segment-anything-2 pipeline error."}}';
      await rejectsWith(decodeSegmentResponse(bytes(error), options), 'scores', error.length, /no "scores" field; its keys are "detail"/);
      await rejectsWith(decodeSegmentResponse(bytes(answer({ scores: '[0.5]', logits })), options), 'masks', undefined, /no "masks" field/);
      const r = await decodeSegmentResponse(bytes(answer({ scores: '[0.5]' })), { masks: 'skip', logits: 'skip' });
      assert.equal(r.masks, null);
      assert.equal(r.logits, null);
      assert.deepEqual(r.scores, Float32Array.from([0.5]));
    });

    it('stops at maxBytes, naming the limit and the option', async () => {
      const body = bytes(whole);
      const max = body.length - 10;
      await rejectsWith(decodeSegmentResponse(body, { ...options, maxBytes: max }), 'body', max, new RegExp(`larger than maxBytes \\(${max} bytes\\).*pass a larger maxBytes`));
      await rejectsWith(decodeSegmentResponse(chunked(body, [16]), { ...options, maxBytes: max }), 'body', max, /maxBytes/);
      const r = await decodeSegmentResponse(body, { ...options, maxBytes: body.length });
      assert.deepEqual(r.masks?.shape, [2, 3, 4]);
    });
  });

  describe('skipping', () => {
    it('returns null for skipped fields and still reads the rest', async () => {
      const next = random(9);
      const masks = floats(3, 4, 6, next);
      const logits = lowRes(3, next);
      const body = bytes(answer({ masks: py(masks), scores: '[0.9, 0.8, 0.7]', logits: py(logits) }));
      const r = await decodeSegmentResponse(body, { masks: 'skip' });
      assert.equal(r.masks, null);
      assert.deepEqual(r.scores, Float32Array.from([0.9, 0.8, 0.7]));
      assert.deepEqual(r.logits?.data, Float32Array.from(flat(logits)));
      const s = await decodeSegmentResponse(body, { masks: 'binary', logits: 'skip' });
      assert.equal(s.logits, null);
      assert.deepEqual(s.masks?.data, Uint8Array.from(flat(masks), (v) => (v > 0 ? 1 : 0)));
    });

    it('still checks that a skipped field is a closed list', async () => {
      const text = answer({ masks: '[[[0.0, 1.0]]', scores: '[0.5]', logits: '[[[0.0]]]' });
      await rejectsWith(decodeSegmentResponse(bytes(text), { masks: 'skip', logits: 'skip' }), 'masks', text.indexOf(']]"') + 2, /ends before its list is closed/);
      const truncated = answer({ masks: '[[[0.0]]]', scores: '[0.5]', logits: '[[[0.0, 1.0' });
      await rejectsWith(decodeSegmentResponse(bytes(truncated), { masks: 'skip', logits: 'skip' }), 'logits', truncated.indexOf('1.0') + 3, /ends before its list is closed/);
    });
  });

  describe('long skipped strings', () => {
    // Strings the decoder does not parse are searched 64 KiB at a time; the closing quote or
    // an escape may fall on either side of a window's end.
    const W = 65536;
    const logits = lowRes(1, random(5));

    function body(n: number, escaped: boolean): string {
      const note = escaped ? `${'y'.repeat(n - 3)}\\\\${'y'.repeat(W)}\\u0022\\"` : 'x'.repeat(n);
      const values = '0.0, '.repeat(Math.floor(n / 5));
      const masks = `[[[${values}1.0${' '.repeat(n % 7)}]${escaped ? '\\u005d' : ']'}]`;
      return `{"note": "${note}", "masks": "${masks}", "scores": "[0.5]", "logits": "${py(logits)}"}`;
    }

    for (const escaped of [false, true]) {
      it(`reads past ${escaped ? 'escapes' : 'plain text'} of any length in skipped strings, whole or in chunks`, async () => {
        for (const n of [W - 2, W - 1, W, W + 1, 2 * W + 7]) {
          const text = body(n, escaped);
          for (const source of [bytes(text), chunked(bytes(text), [1000, 70000, 3, W])]) {
            const r = await decodeSegmentResponse(source, { masks: 'skip' });
            assert.equal(r.masks, null);
            assert.deepEqual(r.scores, Float32Array.from([0.5]));
            assert.deepEqual(r.logits?.data, Float32Array.from(flat(logits)), `n = ${n}`);
          }
        }
      });
    }

    it('still finds an unclosed skipped list after a long text', async () => {
      const text = body(2 * W + 7, true).replace('\\u005d]"', ']"');
      await rejectsWith(decodeSegmentResponse(bytes(text), { masks: 'skip' }), 'masks', text.indexOf(']"') + 1, /ends before its list is closed/);
    });
  });

  describe('abort', () => {
    it('stops waiting on a stalled body and rejects with the signal reason', async () => {
      let returned = false;
      const stalled: AsyncIterable<Uint8Array> = {
        [Symbol.asyncIterator]: () => {
          let sent = false;
          return {
            next: () => {
              if (sent) return new Promise<IteratorResult<Uint8Array>>(() => undefined);
              sent = true;
              return Promise.resolve({ done: false, value: bytes('{"masks": "[[[0.0, ') });
            },
            return: () => {
              returned = true;
              return Promise.resolve({ done: true, value: undefined });
            },
          };
        },
      };
      const controller = new AbortController();
      const reason = new Error('user stopped the flow');
      const started = Date.now();
      setTimeout(() => controller.abort(reason), 20);
      await assert.rejects(decodeSegmentResponse(stalled, { masks: 'binary', signal: controller.signal }), (err) => err === reason);
      assert.ok(Date.now() - started < 1000);
      assert.ok(returned, 'the body was not released');
    });

    it('does not start with a signal already aborted', async () => {
      const controller = new AbortController();
      controller.abort();
      await assert.rejects(decodeSegmentResponse(bytes('{}'), { masks: 'binary', signal: controller.signal }), { name: 'AbortError' });
    });
  });
});
