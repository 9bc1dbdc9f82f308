/**
 * What a node does with frames that arrive while it is busy. Cameras send frames faster than
 * any SAM2 endpoint answers, so waiting work must be bounded and every frame accounted for:
 * each one is either run or handed to `onDrop` with the reason.
 *
 * - `latest`: one frame waits at most; a newer one replaces it (the camera default).
 * - `queue`: first in, first out, up to `limit` waiting; past that the new frame is refused.
 * - `drop-new`: while every slot is busy, new frames are dropped.
 *
 * With `slots` (a backend's, shared with every other node on the same endpoint) a frame starts
 * only once it holds one of them: until then it waits here, under this queue's policy, and
 * never in a line of the backend's where no policy applies (lib/concurrency.ts says why).
 */
import type { Lease, SlotSource } from './segmenter';

export type QueuePolicy = 'latest' | 'queue' | 'drop-new';
export const QUEUE_POLICIES: readonly QueuePolicy[] = ['latest', 'queue', 'drop-new'];

export type DropReason = 'replaced' | 'busy' | 'full' | 'closed';

export interface FrameQueueOptions<T> {
  policy: QueuePolicy;
  /** Frames that may wait with `queue`. */
  limit: number;
  /** Frames worked on at once. */
  concurrency: number;
  /** The backend's slots: a frame starts only with one, which `work` gets and the queue gives back. */
  slots?: SlotSource;
  work: (item: T, lease?: Lease) => Promise<void>;
  onDrop: (item: T, reason: DropReason) => void;
  /** Called whenever the counts change, e.g. to refresh a status. */
  onChange?: () => void;
}

export class FrameQueue<T> {
  private readonly waiting: T[] = [];
  private running = 0;
  private closed = false;
  private readonly settled = new Set<Promise<void>>();
  /** Stops listening for a free slot; set while frames wait for one. */
  private stopListening?: () => void;

  constructor(private readonly options: FrameQueueOptions<T>) {
    if (!QUEUE_POLICIES.includes(options.policy)) throw new RangeError(`queue policy must be one of ${QUEUE_POLICIES.join(', ')}, got ${options.policy}`);
  }

  get active(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting.length;
  }

  push(item: T): void {
    if (this.closed) return this.options.onDrop(item, 'closed');
    if (this.running < this.options.concurrency && this.waiting.length === 0) {
      const { slots } = this.options;
      const lease = slots ? slots.tryTake() : undefined;
      if (!slots || lease) return this.start(item, lease);
    }
    switch (this.options.policy) {
      case 'drop-new':
        return this.options.onDrop(item, 'busy');
      case 'latest': {
        const older = this.waiting.splice(0);
        this.waiting.push(item);
        older.forEach((old) => this.options.onDrop(old, 'replaced'));
        break;
      }
      case 'queue':
        if (this.waiting.length >= this.options.limit) return this.options.onDrop(item, 'full');
        this.waiting.push(item);
        break;
    }
    this.listenForSlot();
    this.options.onChange?.();
  }

  /** Drops every waiting frame and resolves when the running ones have finished. */
  async close(): Promise<void> {
    this.closed = true;
    this.stopListening?.();
    this.stopListening = undefined;
    this.waiting.splice(0).forEach((item) => this.options.onDrop(item, 'closed'));
    await Promise.allSettled([...this.settled]);
  }

  /** With shared slots, frames that wait are started when the backend offers this queue a slot. */
  private listenForSlot(): void {
    const { slots } = this.options;
    if (!slots || this.stopListening) return;
    while (this.waiting.length > 0 && this.running < this.options.concurrency) {
      const lease = slots.tryTake();
      if (!lease) break;
      this.start(this.waiting.shift() as T, lease);
    }
    if (this.waiting.length === 0) return;
    this.stopListening = slots.whenFree((take) => {
      if (this.closed || this.waiting.length === 0 || this.running >= this.options.concurrency) {
        this.stopListening = undefined;
        return 'done';
      }
      const lease = take();
      if (lease) this.start(this.waiting.shift() as T, lease);
      if (this.waiting.length === 0) {
        this.stopListening = undefined;
        return 'done';
      }
      return 'more';
    });
  }

  private start(item: T, lease?: Lease): void {
    this.running++;
    this.options.onChange?.();
    const run = this.options
      .work(item, lease)
      .catch(() => undefined) // `work` reports its own failures; the queue only keeps count.
      .finally(() => {
        this.settled.delete(run);
        this.running--;
        if (this.options.slots) {
          // The slot goes back to the backend, which offers it to whoever waited first: this
          // queue's next frame, or another node's.
          lease?.release();
          if (!this.closed) this.listenForSlot();
          this.options.onChange?.();
          return;
        }
        const next = this.waiting.shift();
        if (next !== undefined && !this.closed) this.start(next);
        else this.options.onChange?.();
      });
    this.settled.add(run);
  }
}
