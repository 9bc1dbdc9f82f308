import assert from 'node:assert/strict';
import { ConcurrencyLimit } from '../lib/concurrency';
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

  it('with shared slots: frames wait in their own queue, each queue is offered a free slot in turn, and the shared line stays empty', async () => {
    const slots = new ConcurrencyLimit(1);
    const started: string[] = [];
    const dropped: string[] = [];
    const finish = new Map<string, () => void>();
    const make = () =>
      new FrameQueue<string>({
        policy: 'latest',
        limit: 1,
        concurrency: slots.max,
        slots,
        work: (item, lease) => {
          assert.ok(lease, `${item} starts holding a slot`);
          started.push(item);
          return new Promise<void>((resolve) => finish.set(item, resolve));
        },
        onDrop: (item) => dropped.push(item),
      });
    const a = make();
    const b = make();
    ['a1', 'a2', 'a3'].forEach((f) => a.push(f));
    ['b1', 'b2'].forEach((f) => b.push(f));
    assert.deepEqual(started, ['a1']);
    assert.deepEqual(dropped, ['a2', 'b1'], 'each queue keeps only its newest waiting frame');
    assert.equal(slots.queued, 0);
    const complete = async (item: string) => {
      finish.get(item)?.();
      await new Promise<void>((resolve) => setImmediate(resolve));
    };
    await complete('a1');
    assert.deepEqual(started, ['a1', 'a3'], 'a waited first, so it gets the slot a1 gave back, for its newest frame');
    a.push('a4');
    await complete('a3');
    assert.deepEqual(started, ['a1', 'a3', 'b2'], 'then b, which waited longer than a4: one node does not starve another');
    await complete('b2');
    assert.deepEqual(started, ['a1', 'a3', 'b2', 'a4']);
    assert.deepEqual(dropped, ['a2', 'b1']);
    await complete('a4');
    assert.equal(slots.active, 0, 'every slot was given back');
    // A plain call gets the slot at once when nothing waits.
    assert.equal(await slots.run(async () => 'ran'), 'ran');
  });
});
