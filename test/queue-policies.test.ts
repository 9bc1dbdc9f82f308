/**
 * The three queue policies as a flow author sees them, in a Node-RED runtime against the local
 * server. Frames arrive in one burst (all within one turn of the event loop, as a camera's
 * backlog does) at an endpoint with one request at a time, so which frame goes, waits or is
 * dropped does not depend on how fast the server answers.
 */
import assert from 'node:assert/strict';
import endpointNode = require('../nodes/sam2-endpoint');
import segmentNode = require('../nodes/sam2-segment');
import { startLocalServer, type LocalServer } from '../local-server/server';
import { collect, helper, loadSegmentFlow } from './fixtures/flow';
import { makeScene, type Scene } from './fixtures/scenes';

interface FrameMsg {
  frame: string;
  sam2?: { dropped?: number };
  sam2Dropped?: { reason: string; dropped: number };
  error?: { message: string };
}

describe('queue policies in a flow', function () {
  this.timeout(30_000);
  let server: LocalServer;
  let scene: Scene;

  before(async () => {
    server = await startLocalServer();
    scene = await makeScene('garden', 160, 120);
  });
  after(() => server.close());
  afterEach(() => helper.unload());

  async function load(segment: Record<string, unknown>): Promise<void> {
    await loadSegmentFlow({ url: server.url, endpoint: { concurrency: 1 }, segment, token: undefined });
  }

  function collectFrames(id: string, count: number): Promise<FrameMsg[]> {
    return collect<FrameMsg>(id, count);
  }

  function burst(...frames: string[]): void {
    for (const frame of frames) helper.getNode('seg').receive({ payload: scene.jpeg, frame });
  }

  it('latest: segments the first and the newest, and the next message sent counts the frames dropped', async () => {
    await load({ queue: 'latest' });
    const sent = collectFrames('out', 2);
    const statuses: string[] = [];
    helper.getNode('seg').on('call:status', (call: { args: [{ text?: string }] }) => statuses.push(call.args[0].text ?? ''));
    burst('A', 'B', 'C', 'D');
    const [first, last] = await sent;
    assert.deepEqual([first.frame, last.frame], ['A', 'D']);
    // B and C were replaced while A was in flight: A is the next message sent after they went.
    assert.equal(first.sam2?.dropped, 2);
    assert.equal(last.sam2?.dropped, undefined, 'each drop is counted on one message only');
    await new Promise((resolve) => setImmediate(resolve));
    assert.match(statuses.at(-1)!, /· 2 dropped$/, 'the status counts them too');
  });

  it('latest with the second output: each dropped frame leaves there, with why and how many so far', async () => {
    await load({ queue: 'latest', dropOutput: true, outputs: 2 });
    const sent = collectFrames('out', 2);
    const dropped = collectFrames('dropped', 2);
    burst('A', 'B', 'C', 'D');
    assert.deepEqual((await sent).map((m) => m.frame), ['A', 'D']);
    const out = await dropped;
    assert.deepEqual(out.map((m) => m.frame), ['B', 'C']);
    assert.deepEqual(out.map((m) => m.sam2Dropped), [
      { reason: 'replaced by a newer frame while busy', dropped: 1 },
      { reason: 'replaced by a newer frame while busy', dropped: 2 },
    ]);
  });

  it('queue: keeps order up to the limit and refuses the next with an error a Catch node sees', async () => {
    await load({ queue: 'queue', queueLimit: 2 });
    const sent = collectFrames('out', 3);
    const failed = collectFrames('caught', 1);
    burst('A', 'B', 'C', 'D');
    const [refused] = await failed;
    assert.equal(refused.frame, 'D');
    assert.match(refused.error!.message, /queue already holds 2 messages; raise "Queue limit" or choose the "latest" policy/);
    assert.deepEqual((await sent).map((m) => m.frame), ['A', 'B', 'C']);
  });

  it('drop-new: keeps the frame in hand and drops what arrives meanwhile', async () => {
    await load({ queue: 'drop-new', dropOutput: true, outputs: 2 });
    const sent = collectFrames('out', 2);
    const dropped = collectFrames('dropped', 2);
    burst('A', 'B', 'C');
    assert.deepEqual((await dropped).map((m) => [m.frame, m.sam2Dropped?.reason]), [['B', 'arrived while busy'], ['C', 'arrived while busy']]);
    // Once A is answered the node takes frames again.
    await new Promise<void>((resolve) => helper.getNode('out').once('input', () => resolve()));
    burst('E');
    assert.deepEqual((await sent).map((m) => m.frame), ['A', 'E']);
  });

  it('latest, two nodes sharing one endpoint: each drops its own stale frames, and no frame waits where no policy applies', async () => {
    await helper.load([endpointNode, segmentNode], [
      { id: 'tab', type: 'tab', label: 'shared' },
      { id: 'ep', type: 'sam2-endpoint', service: 'custom', url: server.url, concurrency: 1, retries: 0 },
      { id: 'segA', type: 'sam2-segment', z: 'tab', endpoint: 'ep', queue: 'latest', wires: [['sentA']] },
      { id: 'segB', type: 'sam2-segment', z: 'tab', endpoint: 'ep', queue: 'latest', wires: [['sentB']] },
      { id: 'sentA', type: 'helper', z: 'tab' },
      { id: 'sentB', type: 'helper', z: 'tab' },
    ]);
    const segmenter = (helper.getNode('ep') as unknown as { segmenter: { load: { waiting: number } } }).segmenter;
    // The endpoint's own line, looked at whenever either node's status changes.
    let mostWaiting = 0;
    for (const id of ['segA', 'segB']) helper.getNode(id).on('call:status', () => (mostWaiting = Math.max(mostWaiting, segmenter.load.waiting)));
    const before = server.requestCount;
    const sentA = collectFrames('sentA', 2);
    const sentB = collectFrames('sentB', 1);
    for (const frame of ['A1', 'A2', 'A3', 'A4']) helper.getNode('segA').receive({ payload: scene.jpeg, frame });
    for (const frame of ['B1', 'B2', 'B3', 'B4']) helper.getNode('segB').receive({ payload: scene.jpeg, frame });
    const [a, b] = await Promise.all([sentA, sentB]);
    assert.deepEqual(a.map((m) => m.frame), ['A1', 'A4']);
    // B1 waited in node B's own queue, so B2..B4 replaced it: it was never sent stale.
    assert.deepEqual(b.map((m) => m.frame), ['B4']);
    assert.equal(b[0].sam2?.dropped, 3);
    assert.equal(a[0].sam2?.dropped, 2, 'A2 and A3 were replaced while A1 was in flight');
    assert.equal(server.requestCount - before, 3, 'only the frames sent reached the server');
    assert.equal(mostWaiting, 0, 'nothing waited in the endpoint\'s line');
  });
});
