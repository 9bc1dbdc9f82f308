/**
 * A counting semaphore: at most `max` tasks run at once, the rest wait in arrival order.
 * One instance lives in each client, so every node sharing an endpoint shares its bound.
 */
export class ConcurrencyLimit {
  private running = 0;
  private readonly waiting: Array<{ start: () => void; cancel: (reason: unknown) => void }> = [];

  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`maxConcurrency must be a whole number of at least 1, got ${max}`);
  }

  get active(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting.length;
  }

  async run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.acquire(signal);
    try {
      return await task();
    } finally {
      this.release();
    }
  }

  private acquire(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (this.running < this.max) {
      this.running++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => entry.cancel(signal?.reason);
      const entry = {
        start: () => {
          signal?.removeEventListener('abort', onAbort);
          this.running++;
          resolve();
        },
        cancel: (reason: unknown) => {
          const at = this.waiting.indexOf(entry);
          if (at >= 0) this.waiting.splice(at, 1);
          signal?.removeEventListener('abort', onAbort);
          reject(reason);
        },
      };
      this.waiting.push(entry);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private release(): void {
    this.running--;
    this.waiting.shift()?.start();
  }
}
