/**
 * The three queue policies as a flow author sees them, in a Node-RED runtime against the local
 * server. Frames arrive in one burst (all within one turn of the event loop, as a camera's
 * backlog does) at an endpoint with one request at a time, so which frame goes, waits or is
 * dropped does not depend on how fast the server answers.
 */
import assert from 'node:assert/strict';
import helper from 'node-red-node-test-helper';
import endpointNode = require('../nodes/sam2-endpoint');
import segmentNode = require('../nodes/sam2-segment');
import { startLocalServer, type LocalServer } from '../local-server/server';
import { makeScene, type Scene } from './fixtures/scenes';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const catchNode = require('@node-red/nodes/core/common/25-catch.js');

helper.init(require.resolve('node-red'));

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
    await helper.load([endpointNode, segmentNode, catchNode], [
      { id: 'tab', type: 'tab', label: 'queue' },
      { id: 'ep', type: 'sam2-endpoint', service: 'custom', url: server.url, concurrency: 1, retries: 0 },
      { id: 'seg', type: 'sam2-segment', z: 'tab', endpoint: 'ep', wires: [['sent'], ['dropped']], ...segment },
      { id: 'sent', type: 'helper', z: 'tab' },
      { id: 'dropped', type: 'helper', z: 'tab' },
      { id: 'catcher', type: 'catch', z: 'tab', scope: null, uncaught: false, wires: [['failed']] },
      { id: 'failed', type: 'helper', z: 'tab' },
    ]);
  }

  /** Collects what reaches a node until `count` messages have. */
  function collect(id: string, count: number): Promise<FrameMsg[]> {
    const seen: FrameMsg[] = [];
    return new Promise((resolve) => {
      helper.getNode(id).on('input', (msg: FrameMsg) => {
        seen.push(msg);
        if (seen.length === count) resolve(seen);
      });
    });
  }

  function burst(...frames: string[]): void {
    for (const frame of frames) helper.getNode('seg').receive({ payload: scene.jpeg, frame });
  }

  it('latest: segments the first and the newest, and the next message sent counts the frames dropped', async () => {
    await load({ queue: 'latest' });
    const sent = collect('sent', 2);
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
    const sent = collect('sent', 2);
    const dropped = collect('dropped', 2);
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
    const sent = collect('sent', 3);
    const failed = collect('failed', 1);
    burst('A', 'B', 'C', 'D');
    const [refused] = await failed;
    assert.equal(refused.frame, 'D');
    assert.match(refused.error!.message, /queue already holds 2 messages; raise "Queue limit" or choose the "latest" policy/);
    assert.deepEqual((await sent).map((m) => m.frame), ['A', 'B', 'C']);
  });

  it('drop-new: keeps the frame in hand and drops what arrives meanwhile', async () => {
    await load({ queue: 'drop-new', dropOutput: true, outputs: 2 });
    const sent = collect('sent', 2);
    const dropped = collect('dropped', 2);
    burst('A', 'B', 'C');
    assert.deepEqual((await dropped).map((m) => [m.frame, m.sam2Dropped?.reason]), [['B', 'arrived while busy'], ['C', 'arrived while busy']]);
    // Once A is answered the node takes frames again.
    await new Promise<void>((resolve) => helper.getNode('sent').once('input', () => resolve()));
    burst('E');
    assert.deepEqual((await sent).map((m) => m.frame), ['A', 'E']);
  });
});
