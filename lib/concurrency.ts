/**
 * The slots of one backend: at most `max` requests in flight at once, across every node and
 * caller that shares it.
 *
 * Two kinds of caller wait for a slot here, in one line, first come first served:
 * - a plain call (`run`), which waits as a promise: the library used on its own, the editor's
 *   Try and Test connection;
 * - a frame queue (`whenFree`), which does not hand its frames over at all. It is told when a
 *   slot is free, and only then picks the frame its own policy says is next. Frames therefore
 *   wait only where a policy governs them: "latest wins" holds even when two nodes share an
 *   endpoint, because a stale frame never sits in a line behind another node's work.
 * A slot taken ahead (`tryTake`) is a `Lease`: the call that gets it runs in it without waiting
 * again, and whoever took it gives it back.
 */
import type { Lease } from './segmenter';

interface Waiter {
  /** Offers a free slot; true when the waiter took it. */
  offer(): boolean;
  cancel(reason: unknown): void;
}

export class ConcurrencyLimit {
  private running = 0;
  private readonly waiting: Waiter[] = [];

  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`maxConcurrency must be a whole number of at least 1, got ${max}`);
  }

  get active(): number {
    return this.running;
  }

  /** Plain calls waiting for a slot (frame queues that wait for one are not counted: their frames wait under their own policy). */
  get queued(): number {
    return this.waiting.filter((w) => !(w as { listener?: true }).listener).length;
  }

  /** A slot now, or undefined when all are taken (those already waiting are offered a free one first). */
  tryTake(): Lease | undefined {
    if (this.running >= this.max) return undefined;
    if (this.waiting.length > 0) {
      this.offerFreeSlots();
      if (this.running >= this.max) return undefined;
    }
    return this.lease();
  }

  /**
   * `listener` is offered each free slot in turn with everyone else waiting; it takes the slot
   * by calling `tryTake` synchronously inside (it is let through) and says whether it wants
   * more. Returns a function that stops listening.
   */
  whenFree(listener: (take: () => Lease | undefined) => 'more' | 'done'): () => void {
    const waiter: Waiter & { listener: true } = {
      listener: true,
      offer: () => {
        let taken = false;
        const take = (): Lease | undefined => {
          if (taken || this.running >= this.max) return undefined;
          taken = true;
          return this.lease();
        };
        const wants = listener(take);
        if (wants === 'more') this.waiting.push(waiter); // behind the others: one node does not starve another
        return taken;
      },
      cancel: () => undefined,
    };
    this.waiting.push(waiter);
    return () => {
      const at = this.waiting.indexOf(waiter);
      if (at >= 0) this.waiting.splice(at, 1);
    };
  }

  /** Runs `task` in a slot: `lease`'s when the caller holds one, else the next free one. */
  async run<T>(task: () => Promise<T>, signal?: AbortSignal, lease?: Lease): Promise<T> {
    if (lease) return task();
    const own = await this.acquire(signal);
    try {
      return await task();
    } finally {
      own.release();
    }
  }

  private lease(): Lease {
    this.running++;
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.running--;
        this.offerFreeSlots();
      },
    };
  }

  private offerFreeSlots(): void {
    // Each waiter is looked at once per release: one that passes goes out of the line, one
    // that takes the slot ends the round.
    for (let tries = this.waiting.length; tries > 0 && this.running < this.max; tries--) {
      const next = this.waiting.shift();
      if (!next) return;
      if (next.offer()) return;
    }
  }

  private acquire(signal?: AbortSignal): Promise<Lease> {
    signal?.throwIfAborted();
    const now = this.tryTake();
    if (now) return Promise.resolve(now);
    return new Promise<Lease>((resolve, reject) => {
      const onAbort = () => waiter.cancel(signal?.reason);
      const waiter: Waiter = {
        offer: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(this.lease());
          return true;
        },
        cancel: (reason: unknown) => {
          const at = this.waiting.indexOf(waiter);
          if (at >= 0) this.waiting.splice(at, 1);
          signal?.removeEventListener('abort', onAbort);
          reject(reason);
        },
      };
      this.waiting.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
