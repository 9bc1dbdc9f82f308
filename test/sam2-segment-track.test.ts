/**
 * sam2-segment with "Track across frames" in a Node-RED flow, against the local server: a
 * synthetic camera stream goes in a frame at a time and each message out says what is
 * tracked, what happened, and carries the tracked masks.
 */
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { startLocalServer, type LocalServer } from '../local-server/server';
import { helper, loadSegmentFlow, nextMessage } from './fixtures/flow';
import { iou } from './fixtures/scenes';
import { makeVideo, type Video } from './fixtures/videos';

interface Tracked {
  payload: Buffer[];
  sam2: {
    frame: number;
    tracks: Array<{ id: number; state: string; bbox: number[]; mask: { png: Buffer } }>;
    events: Array<{ type: string; id: number; reason?: string }>;
  };
}

async function pngMask(png: Buffer): Promise<Uint8Array> {
  const { data, info } = await sharp(png).toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
  const mask = new Uint8Array(info.width * info.height);
  for (let i = 0; i < mask.length; i++) mask[i] = data[i * info.channels] > 127 ? 1 : 0;
  return mask;
}

describe('sam2-segment tracking across frames in a flow', function () {
  this.timeout(180_000);
  let server: LocalServer;
  let video: Video;

  before(async () => {
    server = await startLocalServer();
    video = await makeVideo('leave-and-return', { seed: 3 });
  });
  after(() => server.close());
  afterEach(() => helper.unload());

  /** Sends frame `t` (with `sam2`, if given) and resolves with what comes out. */
  async function frame(t: number, sam2?: object): Promise<Tracked> {
    const out = nextMessage<Tracked>('out');
    helper.getNode('seg').receive({ payload: video.frames[t].jpeg, ...(sam2 ? { sam2 } : {}) });
    return out;
  }

  it('follows the clicked object, says when it is lost and when it left, and the status says what is tracked', async () => {
    const [cx, cy] = video.frames[0].objects[0].centre;
    await loadSegmentFlow({
      url: server.url,
      segment: { queue: 'queue', points: [{ x: Math.round(cx), y: Math.round(cy), label: 1 }], track: true, trackMaxLost: '2' },
    });
    const statuses: string[] = [];
    helper.getNode('seg').on('call:status', (call: { args: [{ text?: string }] }) => statuses.push(call.args[0]?.text ?? ''));
    const gone = video.frames.findIndex((f) => f.objects[0].area === 0);
    const log: string[] = [];
    for (let t = 0; t < gone + 3; t++) {
      const msg = await frame(t);
      assert.equal(msg.sam2.frame, t);
      log.push(...msg.sam2.events.map((e) => `${t}:${e.type}:${e.id}`));
      const track = msg.sam2.tracks[0];
      if (t < gone) {
        assert.equal(track.state, 'tracking', `frame ${t}`);
        assert.equal(msg.payload.length, 1);
        const overlap = iou(await pngMask(msg.payload[0]), video.frames[t].objects[0].mask);
        assert.ok(overlap >= 0.8, `frame ${t}: IoU ${overlap.toFixed(3)}`);
        assert.equal(msg.payload[0], track.mask.png);
      }
    }
    const lost = Number(/^(\d+):lost:1$/.exec(log[1] ?? '')?.[1]);
    assert.deepEqual(log, ['0:entered:1', `${lost}:lost:1`, `${lost + 2}:left:1`]);
    assert.ok(lost >= gone && lost <= gone + 2, `lost on ${lost}, gone from ${gone}`);
    assert.ok(statuses.includes('1 tracked'), statuses.join(' | '));
    assert.ok(statuses.includes('0 tracked · 1 lost'), statuses.join(' | '));
  });

  it('finds the lost track from a box on a message, and msg.sam2.reset forgets every track', async () => {
    const [cx, cy] = video.frames[0].objects[0].centre;
    await loadSegmentFlow({
      url: server.url,
      segment: { queue: 'queue', points: [{ x: Math.round(cx), y: Math.round(cy), label: 1 }], track: true, trackMaxLost: '20' },
    });
    const gone = video.frames.findIndex((f) => f.objects[0].area === 0);
    const back = video.frames.findIndex((f, t) => t > gone && f.objects[0].area >= 0.97 * video.frames[0].objects[0].area);
    let found: Tracked | undefined;
    for (let t = 0; t <= back; t++) {
      const msg = await frame(t, t === back ? { box: video.frames[t].objects[0].box } : undefined);
      if (t === back) found = msg;
    }
    assert.deepEqual(found?.sam2.events, [{ type: 'found', id: 1 }]);
    assert.deepEqual(found?.sam2.tracks.map((t) => [t.id, t.state]), [[1, 'tracking']]);
    const again = await frame(back + 1, { reset: true });
    assert.equal(again.sam2.frame, 0, 'a fresh start');
    assert.deepEqual(again.sam2.events, [{ type: 'entered', id: 1 }], 'the node\'s own prompt starts again');
  });

  it('refuses a bad tracking setting at deploy, naming it', async function () {
    this.timeout(20_000);
    await loadSegmentFlow({ url: server.url, segment: { track: true, trackMinScore: '2' } });
    const caught = nextMessage<{ error: { message: string } }>('caught');
    helper.getNode('seg').receive({ payload: video.frames[0].jpeg });
    assert.match((await caught).error.message, /Minimum score: is "2"\. Use a score between 0 and 1/);
  });
});
