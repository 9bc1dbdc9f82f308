/**
 * Sam2Tracker through a Sam2Client against the local server, on synthetic videos made here
 * with ground truth (fixtures/videos.ts): what a camera user would check. The object
 * clicked on the first frame keeps its id, its mask matches the truth while it is in view,
 * it is lost soon after it goes out of view, found again under the same id when a
 * detector's box for it arrives, and the events come on the frames they should.
 */
import assert from 'node:assert/strict';
import { Sam2Client } from '../lib/client';
import { Sam2Tracker, type TrackerFrame, type TrackerOptions } from '../lib/tracker';
import type { SegmentOptions } from '../lib/segmenter';
import { startLocalServer, type LocalServer } from '../local-server/server';
import { iou } from './fixtures/scenes';
import { makeVideo, type Video, type VideoOptions } from './fixtures/videos';

/** The local server's segmenter is classical, not SAM2: this is what it reaches on still photos too. */
const MIN_MEAN_IOU = 0.85;

interface Run {
  video: Video;
  frames: TrackerFrame[];
}

/** Events as `frame:type:id`, the way a flow would log them. */
function eventLog(run: Run): string[] {
  return run.frames.flatMap((f) => f.events.map((e) => `${f.frame}:${e.type}:${e.id}`));
}

/** The truth's largest area: the object wholly in view. */
function fullArea(video: Video, k: number): number {
  return Math.max(...video.frames.map((f) => f.objects[k].area));
}

/** The first frame from `from` on where object `k` cannot be seen at all. */
function firstGone(video: Video, k: number, from = 0): number {
  const i = video.frames.findIndex((f, t) => t >= from && f.objects[k].area === 0);
  assert.ok(i >= 0, 'the video has the object out of view');
  return i;
}

/** The first frame after `from` where object `k` is wholly in view again. */
function firstBack(video: Video, k: number, from: number): number {
  const full = fullArea(video, k);
  const i = video.frames.findIndex((f, t) => t > from && f.objects[k].area >= 0.97 * full);
  assert.ok(i >= 0, 'the object comes back');
  return i;
}

/** Mean IoU of track `id` with object `k` over `frames`, and the frames it was not tracking. */
function overlap(run: Run, id: number, k: number, frames: number[]): { mean: number; untracked: number[] } {
  const untracked: number[] = [];
  let sum = 0;
  for (const t of frames) {
    const track = run.frames[t].tracks.find((x) => x.id === id);
    if (!track || track.state !== 'tracking') untracked.push(t);
    else sum += iou(track.mask, run.video.frames[t].objects[k].mask);
  }
  return { mean: sum / frames.length, untracked };
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);
}

describe('tracking synthetic videos through the local server', function () {
  this.timeout(240_000);
  let server: LocalServer;
  let client: Sam2Client;

  before(async () => {
    server = await startLocalServer();
    client = new Sam2Client({ url: server.url, retries: 0 });
  });
  after(async () => {
    await client.close();
    await server.close();
  });

  /**
   * Plays `video` into a tracker: a click on each object's centre on frame 0, then whatever
   * `detector` reports on each later frame.
   */
  async function play(video: Video, options: TrackerOptions = {}, detector?: (t: number) => SegmentOptions[]): Promise<Run> {
    const tracker = new Sam2Tracker(client, options);
    const frames: TrackerFrame[] = [];
    for (let t = 0; t < video.frames.length; t++) {
      const objects =
        t === 0
          ? video.frames[0].objects.map((o) => ({ points: [[Math.round(o.centre[0]), Math.round(o.centre[1])]] as Array<[number, number]> }))
          : (detector?.(t) ?? []);
      frames.push(await tracker.update(video.frames[t].jpeg, { objects }));
    }
    return { video, frames };
  }

  const discs: Array<[string, VideoOptions]> = [
    ['480x360, the default disc', {}],
    ['640x480, a smaller disc on another background', { width: 640, height: 480, size: 0.05, seed: 4 }],
  ];
  for (const [what, options] of discs) {
    it(`follows a disc moving 5% of the width a frame across a textured background (${what})`, async () => {
      const video = await makeVideo('moving-disc', options);
      const run = await play(video);
      assert.deepEqual(eventLog(run), ['0:entered:1'], 'one track, never lost');
      assert.ok(run.frames.every((f) => f.tracks.length === 1 && f.tracks[0].id === 1 && f.tracks[0].state === 'tracking'));
      const { mean } = overlap(run, 1, 0, range(0, video.frames.length));
      assert.ok(mean >= MIN_MEAN_IOU, `mean IoU ${mean.toFixed(3)}`);
    });
  }

  it('follows two objects of different colours crossing, without swapping their ids', async () => {
    const video = await makeVideo('crossing', { seed: 2 });
    const run = await play(video);
    assert.deepEqual(eventLog(run), ['0:entered:1', '0:entered:2']);
    const all = range(0, video.frames.length);
    for (const [id, k] of [[1, 0], [2, 1]]) {
      const { mean, untracked } = overlap(run, id, k, all);
      assert.deepEqual(untracked, [], `track ${id} followed on every frame`);
      assert.ok(mean >= MIN_MEAN_IOU, `track ${id} (${video.frames[0].objects[k].name}): mean IoU ${mean.toFixed(3)}`);
    }
    for (const f of run.frames) {
      const [ball, block] = video.frames[f.frame].objects;
      const [one, two] = f.tracks;
      assert.ok(iou(one.mask, ball.mask) > iou(one.mask, block.mask), `frame ${f.frame}: track 1 is the ball`);
      assert.ok(iou(two.mask, block.mask) > iou(two.mask, ball.mask), `frame ${f.frame}: track 2 is the block`);
    }
  });

  it('loses an object within two frames of it leaving the picture, and a detector box finds it under its old id', async () => {
    const video = await makeVideo('leave-and-return', { seed: 3 });
    const gone = firstGone(video, 0);
    const back = firstBack(video, 0, gone);
    const run = await play(video, { maxLost: 10 }, (t) => (t === back ? [{ box: video.frames[t].objects[0].box }] : []));
    const log = eventLog(run);
    assert.equal(log.length, 3, log.join(' '));
    assert.equal(log[0], '0:entered:1');
    const lost = Number(/^(\d+):lost:1$/.exec(log[1])?.[1]);
    assert.ok(lost >= gone && lost <= gone + 2, `lost on frame ${lost}; it left on frame ${gone}`);
    assert.equal(log[2], `${back}:found:1`);
    for (const t of range(lost, back)) assert.equal(run.frames[t].tracks[0]?.state, 'lost', `frame ${t}`);
    const visible = [...range(0, gone), ...range(back, video.frames.length)];
    const { mean, untracked } = overlap(run, 1, 0, visible);
    assert.deepEqual(untracked, []);
    assert.ok(mean >= MIN_MEAN_IOU, `mean IoU ${mean.toFixed(3)} while in view`);
  });

  it('ends the track maxLost frames after it was lost when nothing finds it ("left")', async () => {
    const video = await makeVideo('leave-and-return', { seed: 3 });
    const gone = firstGone(video, 0);
    const run = await play(video, { maxLost: 3 });
    const log = eventLog(run);
    const lost = Number(/^(\d+):lost:1$/.exec(log[1] ?? '')?.[1]);
    assert.deepEqual(log, ['0:entered:1', `${lost}:lost:1`, `${lost + 3}:left:1`]);
    assert.ok(lost >= gone && lost <= gone + 2);
    assert.equal(run.frames[lost + 3].tracks[0].state, 'ended');
    assert.ok(run.frames.slice(lost + 4).every((f) => f.tracks.length === 0), 'then forgotten, though the object comes back');
  });

  it('loses an object hidden behind a pillar, and finds it under its old id when it comes out', async () => {
    const video = await makeVideo('hidden', { seed: 5, width: 640, height: 480 });
    const gone = firstGone(video, 0);
    const back = firstBack(video, 0, gone);
    const full = fullArea(video, 0);
    const run = await play(video, { maxLost: 10 }, (t) => (t === back ? [{ box: video.frames[t].objects[0].box }] : []));
    const log = eventLog(run);
    assert.equal(log.length, 3, log.join(' '));
    const lost = Number(/^(\d+):lost:1$/.exec(log[1])?.[1]);
    assert.ok(Math.abs(lost - gone) <= 2, `lost on frame ${lost}; hidden from frame ${gone}`);
    assert.equal(log[2], `${back}:found:1`);
    // Tracked on every frame it is at least half in view, before and after.
    const inView = range(0, video.frames.length).filter((t) => (t < lost || t >= back) && video.frames[t].objects[0].area > 0);
    const halfInView = inView.filter((t) => video.frames[t].objects[0].area >= 0.5 * full);
    assert.deepEqual(overlap(run, 1, 0, halfInView).untracked, []);
    const { mean } = overlap(run, 1, 0, inView);
    assert.ok(mean >= MIN_MEAN_IOU, `mean IoU ${mean.toFixed(3)} while in view`);
  });
});
