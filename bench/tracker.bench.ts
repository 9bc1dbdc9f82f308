/**
 * The tracker's own work per frame against the segmenter's time for that frame: what
 * tracking adds on top of segmenting each object. A synthetic video (two objects crossing,
 * so two tracks a frame) goes through Sam2Tracker over Sam2Client and the local server, in
 * a child process so its work is not counted here; every answer is recorded. The same
 * frames then go through a fresh tracker over a segmenter that replays those answers at
 * once, so what is left is the tracker alone: reading the frame's size, matching objects,
 * judging each answer, the centroid. Figures are medians per frame, in milliseconds, at
 * 640x480 and 1920x1080.
 */
import { Sam2Client } from '../lib/client';
import type { CallOptions, Segmenter, SegmentOptions, SlotSource } from '../lib/segmenter';
import { Sam2Tracker } from '../lib/tracker';
import type { SegmentResult } from '../lib/types';
import { makeVideo } from '../test/fixtures/videos';
import type { Report } from './run';
import { startServerProcess } from './server-process';

/** Passes calls through, timing each and keeping its answers. */
class Timed implements Segmenter {
  readonly answers: SegmentResult[][] = [];
  readonly ms: number[] = [];
  constructor(private readonly inner: Segmenter) {}
  get modelId(): string {
    return this.inner.modelId;
  }
  get load() {
    return this.inner.load;
  }
  get slots(): SlotSource {
    return this.inner.slots;
  }
  segment(image: unknown, prompts?: SegmentOptions, call?: CallOptions): Promise<SegmentResult> {
    return this.inner.segment(image, prompts, call);
  }
  async segmentEach(image: unknown, objects: SegmentOptions[], call?: CallOptions): Promise<SegmentResult[]> {
    const started = performance.now();
    const answers = await this.inner.segmentEach(image, objects, call);
    this.ms.push(performance.now() - started);
    this.answers.push(answers);
    return answers;
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** Answers each call with the next recorded answer, at once. */
class Replay implements Segmenter {
  readonly modelId = 'replay';
  readonly load = { active: 0, waiting: 0, max: 1 };
  readonly slots: SlotSource = { max: 1, tryTake: () => ({ release() {} }), whenFree: () => () => undefined };
  private next = 0;
  constructor(private readonly answers: SegmentResult[][]) {}
  async segment(): Promise<SegmentResult> {
    throw new Error('not used');
  }
  async segmentEach(_image: unknown, objects: SegmentOptions[]): Promise<SegmentResult[]> {
    const answers = this.answers[this.next++];
    if (!answers || answers.length !== objects.length) throw new Error('the replay went out of step with the recording');
    return answers;
  }
  async close(): Promise<void> {}
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

export async function run(report: Report): Promise<void> {
  const server = await startServerProcess();
  try {
    for (const [width, height] of [[640, 480], [1920, 1080]]) {
      const video = await makeVideo('crossing', { width, height });
      const client = new Sam2Client({ url: server.url });
      const timed = new Timed(client);
      const live = new Sam2Tracker(timed);
      const wall: number[] = [];
      for (let t = 0; t < video.frames.length; t++) {
        const objects = t === 0 ? video.frames[0].objects.map((o) => ({ box: o.box })) : [];
        const started = performance.now();
        await live.update(video.frames[t].jpeg, { objects });
        wall.push(performance.now() - started);
      }
      await client.close();

      const own: number[] = [];
      for (let round = 0; round < 5; round++) {
        const replayed = new Sam2Tracker(new Replay(timed.answers));
        for (let t = 0; t < video.frames.length; t++) {
          const objects = t === 0 ? video.frames[0].objects.map((o) => ({ box: o.box })) : [];
          const started = performance.now();
          await replayed.update(video.frames[t].jpeg, { objects });
          if (round > 0) own.push(performance.now() - started); // the first round warms up
        }
      }
      const segmenterMs = median(timed.ms);
      const trackerMs = median(own);
      report({
        name: `tracker at ${width}x${height}, 2 tracks: its own work per frame / the segmenter's time`,
        ratio: +(trackerMs / segmenterMs).toFixed(4),
        trackerMs: +trackerMs.toFixed(2),
        segmenterMs: +segmenterMs.toFixed(1),
        frameMs: +median(wall).toFixed(1),
        frames: video.frames.length,
      });
    }
  } finally {
    server.stop();
  }
}
