/**
 * Encoded frames, least recently used out first, bounded by count and by bytes. The encoder is
 * the expensive half of SAM2 (about 1.2-1.4 s a frame for tiny on a CPU, against 44-66 ms a
 * prompt for the decoder), and one encoded frame is about 16 MiB of float32 features, so a
 * second object, a refinement round or an editor click on a cached frame costs one decoder run.
 *
 * Keys are the image's content hash or an id the flow vouches for (`msg.imageId`); they are
 * looked up before the image is decoded. Two calls that miss on the same key at once share one
 * encoder run.
 */

export interface CacheLimits {
  /** Frames kept; 0 keeps none. */
  maxEntries: number;
  /** Bytes of features kept; a frame larger than this is used once and not kept. */
  maxBytes: number;
}

export class EmbeddingCache<V> {
  private readonly entries = new Map<string, { value: V; bytes: number }>();
  private readonly pending = new Map<string, Promise<V>>();
  private total = 0;
  hits = 0;
  misses = 0;

  constructor(readonly limits: CacheLimits) {
    for (const [name, v] of Object.entries(limits)) {
      if (!Number.isInteger(v) || v < 0) throw new RangeError(`${name} must be a whole number of 0 or more, got ${v}`);
    }
  }

  get size(): number {
    return this.entries.size;
  }

  get bytes(): number {
    return this.total;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** The cached value without marking it used, or undefined. */
  peek(key: string): V | undefined {
    return this.entries.get(key)?.value;
  }

  /** The cached value (now the most recently used), or undefined. */
  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.value;
  }

  set(key: string, value: V, bytes: number): void {
    this.delete(key);
    if (this.limits.maxEntries === 0 || bytes > this.limits.maxBytes) return;
    this.entries.set(key, { value, bytes });
    this.total += bytes;
    for (const [oldest, entry] of this.entries) {
      if (this.entries.size <= this.limits.maxEntries && this.total <= this.limits.maxBytes) break;
      this.entries.delete(oldest);
      this.total -= entry.bytes;
    }
  }

  delete(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.total -= entry.bytes;
  }

  clear(): void {
    this.entries.clear();
    this.total = 0;
  }

  /**
   * The value for `key`: from the cache, from a computation already running for it, or from
   * `compute` (then kept, with the size `sizeOf` gives). `cached` says whether no new
   * computation was started for this call.
   */
  async getOrCompute(key: string, compute: () => Promise<V>, sizeOf: (value: V) => number): Promise<{ value: V; cached: boolean }> {
    const hit = this.get(key);
    if (hit !== undefined) {
      this.hits++;
      return { value: hit, cached: true };
    }
    const running = this.pending.get(key);
    if (running) {
      this.hits++;
      return { value: await running, cached: true };
    }
    this.misses++;
    const promise = compute();
    this.pending.set(key, promise);
    try {
      const value = await promise;
      this.set(key, value, sizeOf(value));
      return { value, cached: false };
    } finally {
      this.pending.delete(key);
    }
  }
}
