/**
 * Sam2Tracker's rules, over a fake segmenter whose answers the test scripts frame by frame:
 * what each track is prompted with, when a track is lost, found and ended, what an object
 * starts or does not start, and that a failed frame changes nothing.
 */
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { Sam2InputError } from '../lib/errors';
import { maskStats } from '../lib/mask-stats';
import type { CallOptions, Segmenter, SegmenterLoad, SegmentOptions, SlotSource } from '../lib/segmenter';
import { Sam2Tracker, type TrackerFrame } from '../lib/tracker';
import { LOW_RES_SIZE, type Sam2Mask, type SegmentResult } from '../lib/types';

const W = 200;
const H = 100;

/** What the fake answers for one request: a rectangle or a disc, with a score. */
type Shape =
  | { rect: [number, number, number, number]; score?: number }
  | { disc: [number, number, number]; score?: number }
  | { ring: [number, number, number, number]; score?: number }
  | { empty: true };

function maskOf(shape: Shape): Sam2Mask {
  const mask = new Uint8Array(W * H);
  let area = 0;
  let [x1, y1, x2, y2] = [W, H, 0, 0];
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      let inside = false;
      if ('rect' in shape) inside = x >= shape.rect[0] && x < shape.rect[2] && y >= shape.rect[1] && y < shape.rect[3];
      else if ('disc' in shape) inside = Math.hypot(x + 0.5 - shape.disc[0], y + 0.5 - shape.disc[1]) < shape.disc[2];
      else if ('ring' in shape) {
        const d = Math.hypot(x + 0.5 - shape.ring[0], y + 0.5 - shape.ring[1]);
        inside = d < shape.ring[2] && d >= shape.ring[3];
      }
      if (!inside) continue;
      mask[y * W + x] = 1;
      area++;
      [x1, y1, x2, y2] = [Math.min(x1, x), Math.min(y1, y), Math.max(x2, x + 1), Math.max(y2, y + 1)];
    }
  }
  // Logits tagged with a number, so a test can tell which answer a later maskInput came from.
  const logits = new Float32Array(LOW_RES_SIZE * LOW_RES_SIZE).fill(++tag);
  const score = 'empty' in shape ? 0.1 : (shape.score ?? 0.9);
  return { mask, score, area, bbox: area ? [x1, y1, x2, y2] : [0, 0, 0, 0], centroid: maskStats(mask, W, H).centroid, logits };
}
let tag = 0;

/** A segmenter that answers each request from a script and records what it was asked. */
class FakeSegmenter implements Segmenter {
  readonly modelId = 'fake';
  readonly load: SegmenterLoad = { active: 0, waiting: 0, max: 1 };
  /** Always a free slot: the tracker takes none itself. */
  readonly slots: SlotSource = { max: 1, tryTake: () => ({ release() {} }), whenFree: () => () => undefined };
  calls: SegmentOptions[][] = [];
  answered: Sam2Mask[][] = [];
  fail: Error | undefined;
  constructor(public answer: (prompt: SegmentOptions, index: number, call: number) => Shape) {}

  async segment(image: unknown, prompts: SegmentOptions = {}): Promise<SegmentResult> {
    return (await this.segmentEach(image, [prompts]))[0];
  }

  async segmentEach(_image: unknown, objects: SegmentOptions[], _call?: CallOptions): Promise<SegmentResult[]> {
    await new Promise((r) => setImmediate(r));
    if (this.fail) throw this.fail;
    const call = this.calls.length;
    this.calls.push(objects);
    const masks = objects.map((o, i) => maskOf(this.answer(o, i, call)));
    this.answered.push(masks);
    return masks.map((m) => ({ width: W, height: H, masks: [m], candidates: [{ score: m.score, ...(m.logits ? { logits: m.logits } : {}) }] }));
  }

  async close(): Promise<void> {}
}

let frame: Buffer;
before(async () => {
  frame = await sharp({ create: { width: W, height: H, channels: 3, background: '#808080' } }).png().toBuffer();
});

/** Shapes answered by the request's kind: a track's follow-up (it has a maskInput) or a new object. */
function byKind(follow: (p: SegmentOptions, call: number) => Shape, fresh: (p: SegmentOptions, i: number) => Shape = () => ({ rect: [20, 20, 40, 40] })) {
  return (p: SegmentOptions, i: number, call: number): Shape => (p.maskInput ? follow(p, call) : fresh(p, i));
}

function ids(out: TrackerFrame): Array<[number, string]> {
  return out.tracks.map((t) => [t.id, t.state]);
}

describe('Sam2Tracker', () => {
  it('starts a track per object, numbered from 1, on frame 0, with the mask and its statistics', async () => {
    const seg = new FakeSegmenter((_p, i) => (i === 0 ? { rect: [10, 10, 30, 40] } : { disc: [150, 50, 10] }));
    const tracker = new Sam2Tracker(seg);
    const out = await tracker.update(frame, { objects: [{ box: [8, 8, 32, 42] }, { points: [[150, 50]] }] });
    assert.equal(out.frame, 0);
    assert.deepEqual([out.width, out.height], [W, H]);
    assert.deepEqual(out.events, [{ type: 'entered', id: 1 }, { type: 'entered', id: 2 }]);
    assert.deepEqual(ids(out), [[1, 'tracking'], [2, 'tracking']]);
    const [a] = out.tracks;
    assert.deepEqual([a.area, a.bbox, a.centroid, a.score], [600, [10, 10, 30, 40], [20, 25], 0.9]);
    assert.equal(a.mask.length, W * H);
    assert.equal(seg.calls.length, 1, 'one segmentEach for the frame');
    assert.deepEqual(seg.calls[0].map((p) => p.box ?? p.points), [[8, 8, 32, 42], [[150, 50]]]);
  });

  it('prompts each tracking track from its last result: grown box, centroid point, its logits, one mask', async () => {
    let x = 50;
    const seg = new FakeSegmenter(byKind(() => ({ rect: [x, 30, x + 20, 50] }), () => ({ rect: [50, 30, 70, 50] })));
    const tracker = new Sam2Tracker(seg, { margin: 0.5, minMargin: 0 });
    await tracker.update(frame, { objects: [{ points: [[60, 40]] }] });
    x = 56;
    const second = await tracker.update(frame);
    assert.equal(second.frame, 1);
    const p = seg.calls[1][0];
    assert.deepEqual(p.box, [40, 20, 80, 60], 'the last box [50, 30, 70, 50] grown by half its size each side');
    assert.deepEqual(p.points, [[60, 40]], 'a foreground point at the last centroid');
    assert.equal(p.maskInput, seg.answered[0][0].logits, 'the last answer\'s logits');
    assert.equal(p.multimask, false);
    assert.deepEqual(second.tracks[0].bbox, [56, 30, 76, 50]);
    await tracker.update(frame);
    assert.deepEqual(seg.calls[2][0].box, [46, 20, 86, 60], 'then from the box it moved to');
    assert.equal(seg.calls[2][0].maskInput, seg.answered[1][0].logits);
  });

  it('grows a small box by at least minMargin of the frame, clipped to the frame', async () => {
    const seg = new FakeSegmenter(byKind(() => ({ rect: [2, 2, 6, 6] }), () => ({ rect: [2, 2, 6, 6] })));
    const tracker = new Sam2Tracker(seg, { margin: 0.5, minMargin: 0.1 });
    await tracker.update(frame, { objects: [{ box: [1, 1, 7, 7] }] });
    await tracker.update(frame);
    assert.deepEqual(seg.calls[1][0].box, [0, 0, 26, 16]);
  });

  it('sends no point when the centroid is outside the mask (a ring)', async () => {
    const seg = new FakeSegmenter(() => ({ ring: [60, 50, 30, 15] }));
    const tracker = new Sam2Tracker(seg);
    const first = await tracker.update(frame, { objects: [{ box: [30, 20, 90, 80] }] });
    assert.deepEqual(first.tracks[0].centroid, [60, 50]);
    await tracker.update(frame);
    assert.equal(seg.calls[1][0].points, undefined, 'no foreground point in the hole');
    assert.ok(seg.calls[1][0].box && seg.calls[1][0].maskInput);
  });

  for (const [what, shape, reason, options] of [
    ['scores below minScore', { rect: [52, 30, 72, 50], score: 0.3 }, 'score', {}],
    ['comes back empty', { empty: true }, 'empty', {}],
    ['grows by more than maxAreaRatio', { rect: [30, 10, 90, 70] }, 'area', { margin: 2 }],
    ['collapses far from the frame\'s edge', { rect: [58, 38, 62, 42] }, 'area', {}],
    ['leaves its grown box (a third of it outside)', { rect: [60, 24, 90, 56] }, 'box', { margin: 0.5, minMargin: 0 }],
    ['runs along its grown box\'s side (cut by the box: it moved out)', { rect: [58, 22, 80, 58] }, 'box', { margin: 0.5, minMargin: 0 }],
  ] as Array<[string, Shape, string, object]>) {
    it(`loses a track whose answer ${what}, keeping its last good mask`, async () => {
      let call = 0;
      const seg = new FakeSegmenter(byKind(() => (call === 2 ? shape : { rect: [50, 30, 70, 50] }), () => ({ rect: [50, 30, 70, 50] })));
      const tracker = new Sam2Tracker(seg, options);
      await tracker.update(frame, { objects: [{ box: [50, 30, 70, 50] }] });
      call = 1;
      const kept = await tracker.update(frame);
      assert.deepEqual(kept.events, []);
      call = 2;
      const out = await tracker.update(frame);
      assert.deepEqual(out.events, [{ type: 'lost', id: 1, reason }]);
      assert.deepEqual(ids(out), [[1, 'lost']]);
      const t = out.tracks[0];
      assert.deepEqual([t.bbox, t.area, t.seen, t.lostFrames], [[50, 30, 70, 50], 400, 1, 1]);
      assert.equal(t.mask, seg.answered[1][0].mask, 'the mask of frame 1, its last good one');
      const after = await tracker.update(frame);
      assert.equal(seg.calls.length, 3, 'a lost track is not prompted');
      assert.deepEqual([after.tracks[0].state, after.tracks[0].lostFrames, after.events], ['lost', 2, []]);
    });
  }

  it('keeps tracking an object shrinking at the frame\'s edge (going out of the picture)', async () => {
    const widths = [30, 10, 3];
    let step = 0;
    const seg = new FakeSegmenter(byKind(() => ({ rect: [W - widths[step], 40, W, 60] }), () => ({ rect: [W - 30, 40, W, 60] })));
    const tracker = new Sam2Tracker(seg);
    await tracker.update(frame, { objects: [{ box: [W - 30, 40, W, 60] }] });
    for (step = 1; step < widths.length; step++) {
      const out = await tracker.update(frame);
      assert.deepEqual([out.events, out.tracks[0].area], [[], widths[step] * 20]);
    }
  });

  it('ends a track after maxLost lost frames: "left" once, reported as ended once, then forgotten', async () => {
    let lose = false;
    const seg = new FakeSegmenter(byKind(() => (lose ? { empty: true } : { rect: [50, 30, 70, 50] }), () => ({ rect: [50, 30, 70, 50] })));
    const tracker = new Sam2Tracker(seg, { maxLost: 3 });
    const seen: Array<[number, string, string]> = [];
    const record = (out: TrackerFrame): void => {
      seen.push([out.frame, out.tracks.map((t) => `${t.id}:${t.state}`).join(','), out.events.map((e) => `${e.type}:${e.id}`).join(',')]);
    };
    record(await tracker.update(frame, { objects: [{ box: [50, 30, 70, 50] }] }));
    lose = true;
    for (let i = 0; i < 5; i++) record(await tracker.update(frame));
    assert.deepEqual(seen, [
      [0, '1:tracking', 'entered:1'],
      [1, '1:lost', 'lost:1'],
      [2, '1:lost', ''],
      [3, '1:lost', ''],
      [4, '1:ended', 'left:1'],
      [5, '', ''],
    ]);
    assert.deepEqual(tracker.current, []);
  });

  it('with maxLost 0 a lost track ends on the frame it is lost', async () => {
    let lose = false;
    const seg = new FakeSegmenter(byKind(() => (lose ? { empty: true } : { rect: [50, 30, 70, 50] })));
    const tracker = new Sam2Tracker(seg, { maxLost: 0 });
    await tracker.update(frame, { objects: [{ box: [50, 30, 70, 50] }] });
    lose = true;
    const out = await tracker.update(frame);
    assert.deepEqual(out.events, [{ type: 'lost', id: 1, reason: 'empty' }, { type: 'left', id: 1 }]);
    assert.deepEqual(ids(out), [[1, 'ended']]);
  });

  it('finds a lost track again under its old id from a box that overlaps its last box, the best overlap winning', async () => {
    let lose = false;
    const places: Record<number, [number, number, number, number]> = { 0: [10, 10, 40, 40], 1: [60, 10, 90, 40] };
    const seg = new FakeSegmenter((p, i) => {
      const x = (p.box as number[])[0];
      if (p.maskInput) return lose ? { empty: true } : { rect: x < 20 ? places[0] : x > 40 ? places[1] : [44, 12, 74, 42] };
      if (p.box && p.box[0] === 42) return { rect: [44, 12, 74, 42] };
      return { rect: places[i] ?? [0, 0, 1, 1] };
    });
    const tracker = new Sam2Tracker(seg, { minMargin: 0 });
    await tracker.update(frame, { objects: [{ box: places[0] }, { box: places[1] }] });
    lose = true;
    const lost = await tracker.update(frame);
    assert.deepEqual(ids(lost), [[1, 'lost'], [2, 'lost']]);
    await tracker.update(frame);
    // Shares area with both lost tracks' boxes (their last ones grown by the margin), far more with track 2's.
    const found = await tracker.update(frame, { objects: [{ box: [42, 12, 74, 42] }] });
    assert.deepEqual(found.events, [{ type: 'found', id: 2 }]);
    assert.deepEqual(ids(found), [[1, 'lost'], [2, 'tracking']]);
    assert.deepEqual([found.tracks[1].bbox, found.tracks[1].lostFrames, found.tracks[1].seen], [[44, 12, 74, 42], 0, 3]);
    lose = false;
    const next = await tracker.update(frame);
    assert.equal(seg.calls.at(-1)?.length, 1, 'only the found track is prompted; the other is still lost');
    assert.equal(seg.calls.at(-1)?.[0].maskInput, seg.answered.at(-2)?.[0].logits, 'from the answer that found it');
    assert.deepEqual(next.events, []);
  });

  it('matches a lost track where it would be by now, had it kept its velocity (it went behind something)', async () => {
    let x = 50;
    let hidden = false;
    const seg = new FakeSegmenter((p) => (p.maskInput ? (hidden ? { empty: true } : { rect: [x, 30, x + 20, 50] }) : { rect: p.box as [number, number, number, number] }));
    const tracker = new Sam2Tracker(seg, { margin: 0.5, minMargin: 0 });
    await tracker.update(frame, { objects: [{ box: [50, 30, 70, 50] }] });
    for (x = 60; x <= 70; x += 10) await tracker.update(frame);
    hidden = true;
    const lost = await tracker.update(frame);
    assert.deepEqual(lost.events, [{ type: 'lost', id: 1, reason: 'empty' }]);
    await tracker.update(frame);
    await tracker.update(frame);
    // Frame 6: four frames after it was last seen at [70..90], moving 10 px a frame: near [110..130].
    const out = await tracker.update(frame, { objects: [{ box: [125, 30, 145, 50] }] });
    assert.deepEqual(out.events, [{ type: 'found', id: 1 }]);
  });

  it('does not start a second track for an object overlapping a tracking one, nor send it', async () => {
    const seg = new FakeSegmenter(byKind(() => ({ rect: [50, 30, 70, 50] }), () => ({ rect: [50, 30, 70, 50] })));
    const tracker = new Sam2Tracker(seg);
    await tracker.update(frame, { objects: [{ box: [50, 30, 70, 50] }] });
    const out = await tracker.update(frame, { objects: [{ box: [55, 35, 75, 55] }, { points: [[60, 40]] }] });
    assert.deepEqual(out.events, []);
    assert.deepEqual(ids(out), [[1, 'tracking']]);
    assert.equal(seg.calls[1].length, 1, 'only the track itself was sent');
  });

  it('does not start a second track when a new object\'s answer is a tracked object\'s mask', async () => {
    // A click far from the track's box whose answer is the tracked object anyway.
    const seg = new FakeSegmenter(byKind(() => ({ rect: [50, 30, 70, 50] }), () => ({ rect: [50, 30, 70, 50] })));
    const tracker = new Sam2Tracker(seg);
    await tracker.update(frame, { objects: [{ box: [50, 30, 70, 50] }] });
    const out = await tracker.update(frame, { objects: [{ points: [[150, 80]] }] });
    assert.deepEqual([out.events, ids(out)], [[], [[1, 'tracking']]]);
  });

  it('starts another track for an object elsewhere while following the first', async () => {
    const seg = new FakeSegmenter(byKind(() => ({ rect: [50, 30, 70, 50] }), (p) => ({ rect: p.box as [number, number, number, number] })));
    const tracker = new Sam2Tracker(seg);
    await tracker.update(frame, { objects: [{ box: [50, 30, 70, 50] }] });
    const out = await tracker.update(frame, { objects: [{ box: [150, 60, 170, 80] }] });
    assert.deepEqual(out.events, [{ type: 'entered', id: 2 }]);
    assert.deepEqual(ids(out), [[1, 'tracking'], [2, 'tracking']]);
    assert.equal(seg.calls[1].length, 2, 'the track and the new object in one call');
  });

  it('reads relative objects (normalizeCoords false) in the frame\'s pixels when matching', async () => {
    const seg = new FakeSegmenter(byKind(() => ({ rect: [50, 30, 70, 50] }), () => ({ rect: [50, 30, 70, 50] })));
    const tracker = new Sam2Tracker(seg);
    await tracker.update(frame, { objects: [{ box: [50, 30, 70, 50] }] });
    const out = await tracker.update(frame, { objects: [{ box: [0.26, 0.32, 0.34, 0.48], normalizeCoords: false }] });
    assert.deepEqual([out.events, seg.calls[1].length], [[], 1], 'it overlaps the track, so it is the track');
  });

  it('reset forgets every track: frame 0 and id 1 again, nothing prompted from before', async () => {
    const seg = new FakeSegmenter(byKind(() => ({ rect: [50, 30, 70, 50] }), () => ({ rect: [50, 30, 70, 50] })));
    const tracker = new Sam2Tracker(seg);
    await tracker.update(frame, { objects: [{ box: [50, 30, 70, 50] }] });
    await tracker.update(frame);
    tracker.reset();
    const empty = await tracker.update(frame);
    assert.deepEqual([empty.frame, empty.tracks, empty.events], [0, [], []]);
    assert.equal(seg.calls.length, 2, 'a frame with nothing to follow sends nothing');
    const again = await tracker.update(frame, { objects: [{ box: [50, 30, 70, 50] }] });
    assert.deepEqual([again.frame, again.events], [1, [{ type: 'entered', id: 1 }]]);
  });

  it('leaves everything as it was when a frame fails, and runs updates in the order called', async () => {
    const seg = new FakeSegmenter(byKind(() => ({ rect: [50, 30, 70, 50] }), () => ({ rect: [50, 30, 70, 50] })));
    const tracker = new Sam2Tracker(seg);
    await tracker.update(frame, { objects: [{ box: [50, 30, 70, 50] }] });
    seg.fail = new Error('connection refused');
    await assert.rejects(tracker.update(frame), /connection refused/);
    seg.fail = undefined;
    const [a, b] = await Promise.all([tracker.update(frame), tracker.update(frame)]);
    assert.deepEqual([a.frame, b.frame], [1, 2]);
    assert.deepEqual(ids(b), [[1, 'tracking']]);
    assert.equal(seg.calls[2][0].maskInput, seg.answered[1][0].logits, 'the second update followed the first one\'s answer');
  });

  it('refuses bad objects before sending anything, naming the field', async () => {
    const seg = new FakeSegmenter(() => ({ rect: [50, 30, 70, 50] }));
    const tracker = new Sam2Tracker(seg);
    await assert.rejects(
      tracker.update(frame, { objects: [{ box: [10, 10, 20, 20] }, { box: [10, 10, 500, 20] }] }),
      (err: unknown) => err instanceof Sam2InputError && err.field === 'objects[1].box' && /reaches outside the image/.test(err.message),
    );
    await assert.rejects(tracker.update(Buffer.from('not an image')), (err: unknown) => err instanceof Sam2InputError && err.field === 'image');
    assert.equal(seg.calls.length, 0);
    assert.throws(() => new Sam2Tracker(seg, { maxLost: 1.5 }), /maxLost must be a whole number/);
    assert.throws(() => new Sam2Tracker(seg, { margin: -1 }), /margin must be a number of 0 or more/);
  });
});
