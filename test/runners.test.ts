/**
 * Several runners behind one endpoint: three local servers, one stopped while frames are in
 * flight. Every frame must still be answered, by the runners left; the token goes to each
 * runner of the endpoint and only there.
 */
import assert from 'node:assert/strict';
import { Sam2Client } from '../lib/client';
import { startLocalServer, type LocalServer } from '../local-server/server';
import { clientOptions } from '../nodes/endpoint-settings';
import { helper, loadSegmentFlow, collect } from './fixtures/flow';
import { makeScene, type Scene } from './fixtures/scenes';

const TOKEN = 'tok-runners-4b1d';

describe('several runners behind one endpoint', function () {
  this.timeout(120_000);
  let servers: LocalServer[];
  let scene: Scene;

  beforeEach(async () => {
    // Each answer takes a while, so a stop finds frames in flight on the stopped runner.
    servers = await Promise.all([0, 1, 2].map(() => startLocalServer({ token: TOKEN, faults: 'latency=150' })));
    scene = await makeScene('studio', 320, 240);
  });
  afterEach(async () => {
    await helper.unload();
    await Promise.all(servers.map((s) => s.close()));
  });

  /** Stops `server` once it has received `count` requests, with its answers still on the way. */
  function stopAfter(server: LocalServer, count: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setInterval(() => {
        if (server.requests.length >= count) {
          clearInterval(timer);
          void server.close().then(resolve);
        }
      }, 5);
    });
  }

  it('answers every frame when one of three runners stops mid-run, the rest sharing the work', async () => {
    const client = new Sam2Client({ urls: servers.map((s) => s.url), token: TOKEN, maxConcurrency: 6, retries: 2 });
    try {
      const stopped = stopAfter(servers[1], 2);
      const frames = 18;
      const results: Array<PromiseSettledResult<unknown>> = [];
      // Waves of 9 frames, more than the 6 connections: some wait for one, as a camera's frames do.
      for (let wave = 0; wave < frames / 9; wave++) {
        results.push(...(await Promise.allSettled(Array.from({ length: 9 }, () => client.segment(scene.jpeg, { points: [scene.objects[0].point] })))));
      }
      await stopped;
      const failed = results.filter((r) => r.status === 'rejected');
      assert.deepEqual(failed, [], 'every frame answered');
      const stoppedAt = servers[1].requests.length;
      // The stopped runner took some frames and answered none of those in flight; the other two took the rest, and each a fair share.
      assert.ok(stoppedAt >= 2, `the stopped runner took ${stoppedAt}`);
      assert.ok(servers[1].requests.some((r) => r.status === 0), 'a frame was in flight on the stopped runner');
      const answered = [servers[0], servers[2]].map((s) => s.requests.filter((r) => r.status === 200).length);
      assert.ok(answered[0] + answered[1] + servers[1].requests.filter((r) => r.status === 200).length >= frames);
      assert.ok(answered.every((n) => n >= frames / 6), `answered by the two left: ${answered}`);
      assert.ok(servers.every((s) => s.requests.every((r) => r.authorization)), 'the token went to every runner');
    } finally {
      await client.close();
    }
  });

  it('takes several URLs in the endpoint\'s URL field, one per line or comma-separated, and refuses different paths', () => {
    const [a, b, c] = servers.map((s) => s.url);
    assert.deepEqual(clientOptions({ service: 'custom', url: `${a}\n${b}, ${c}` }, TOKEN).urls, [a, b, c]);
    assert.deepEqual(clientOptions({ service: 'custom', url: a }, TOKEN).urls, [a]);
    assert.throws(() => new Sam2Client({ urls: [a, `${b}/other`] }), /same path/);
    assert.throws(() => new Sam2Client({ urls: [] }), /non-empty/);
  });

  it('through a flow: every message answered with a runner stopped mid-run', async () => {
    await loadSegmentFlow({
      url: servers.map((s) => s.url).join('\n'),
      endpoint: { concurrency: 3, retries: 2 },
      segment: { queue: 'queue', queueLimit: 50, points: [{ x: scene.objects[0].point[0], y: scene.objects[0].point[1], label: 1 }] },
      token: TOKEN,
    });
    const frames = 18;
    const out = collect<{ masks: unknown[] }>('out', frames);
    const caught: unknown[] = [];
    helper.getNode('caught').on('input', (msg: unknown) => caught.push(msg));
    const stopped = stopAfter(servers[0], 1);
    for (let i = 0; i < frames; i++) helper.getNode('seg').receive({ payload: scene.jpeg });
    const messages = await out;
    await stopped;
    assert.equal(messages.length, frames);
    assert.deepEqual(caught, []);
    assert.ok(servers[1].requests.length > 0 && servers[2].requests.length > 0);
  });
});
