import assert from 'node:assert/strict';
import { FrameQueue, type DropReason, type QueuePolicy } from '../lib/frame-queue';

/** A queue whose work items finish only when the test says so. */
function harness(policy: QueuePolicy, concurrency = 1, limit = 2) {
  const started: number[] = [];
  const dropped: Array<[number, DropReason]> = [];
  const finish = new Map<number, () => void>();
  const queue = new FrameQueue<number>({
    policy,
    limit,
    concurrency,
    work: (n) => {
      started.push(n);
      return new Promise<void>((resolve) => finish.set(n, resolve));
    },
    onDrop: (n, reason) => dropped.push([n, reason]),
  });
  const complete = async (n: number) => {
    finish.get(n)?.();
    // Let the queue's settle handler run and start the next item.
    await new Promise<void>((resolve) => setImmediate(resolve));
  };
  return { queue, started, dropped, complete };
}

describe('frame queue', () => {
  it('latest: keeps only the newest waiting frame', async () => {
    const { queue, started, dropped, complete } = harness('latest');
    [1, 2, 3, 4].forEach((n) => queue.push(n));
    assert.deepEqual(started, [1]);
    assert.deepEqual(dropped, [[2, 'replaced'], [3, 'replaced']]);
    await complete(1);
    assert.deepEqual(started, [1, 4]);
  });

  it('queue: first in, first out, refusing past the limit', async () => {
    const { queue, started, dropped, complete } = harness('queue', 1, 2);
    [1, 2, 3, 4].forEach((n) => queue.push(n));
    assert.deepEqual(dropped, [[4, 'full']]);
    await complete(1);
    await complete(2);
    assert.deepEqual(started, [1, 2, 3]);
  });

  it('drop-new: drops what arrives while every slot is busy', async () => {
    const { queue, started, dropped, complete } = harness('drop-new', 2);
    [1, 2, 3].forEach((n) => queue.push(n));
    assert.deepEqual(started, [1, 2]);
    assert.deepEqual(dropped, [[3, 'busy']]);
    await complete(1);
    queue.push(4);
    assert.deepEqual(started, [1, 2, 4]);
  });

  it('close drops waiting frames and waits for running ones', async () => {
    const { queue, dropped, complete } = harness('queue', 1, 5);
    [1, 2, 3].forEach((n) => queue.push(n));
    let closed = false;
    const closing = queue.close().then(() => (closed = true));
    assert.deepEqual(dropped, [[2, 'closed'], [3, 'closed']]);
    await new Promise<void>((resolve) => setImmediate(resolve));
    assert.equal(closed, false);
    await complete(1);
    await closing;
    queue.push(9);
    assert.deepEqual(dropped.at(-1), [9, 'closed']);
  });

  it('refuses an unknown policy by name', () => {
    assert.throws(() => new FrameQueue({ policy: 'newest' as QueuePolicy, limit: 1, concurrency: 1, work: async () => {}, onDrop: () => {} }), /latest, queue, drop-new/);
  });
});
