/**
 * A few worker threads for the heavy per-frame work, so that no step of a frame holds
 * Node-RED's event loop (the editor, MQTT keep-alives, every other flow) for long: on the
 * event loop, a 49 MP frame's masks, rebuilt from logits and measured, held it about 1.4 s in
 * one stretch. Here the event loop only hands over 256 KB of logits and gets the mask's buffer
 * back (transferred, not copied); bench/responsive.bench.ts measures the longest block.
 *
 * Our own small pool rather than a dependency: it runs one kind of task, and needs only a
 * queue, a worker per core (at most 4, one core left for the event loop and libvips), workers
 * started when first needed and ended after a while idle so an idle Node-RED holds no threads.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { MaskStats } from './mask-stats';
import type { MaskPolygon } from './polygons';
import type { CocoRle } from './rle';

export interface RebuildTask {
  kind: 'rebuild';
  /** 256x256 logits, transferred to the worker (the caller gives up this copy). */
  logits: Float32Array;
  width: number;
  height: number;
  threshold: number;
}

/** A mask encoded as COCO RLE or polygons; `mask` is in shared memory (lib/shared-bytes.ts), read in place. */
export interface EncodeTask {
  kind: 'rle' | 'polygons';
  mask: Uint8Array;
  width: number;
  height: number;
  tolerance?: number;
}

export type MaskTask = RebuildTask | EncodeTask;

export interface RebuildResult {
  /** In shared memory, so that its encoders' workers read it without a copy. */
  mask: Uint8Array;
  stats: MaskStats;
}

interface Results {
  rebuild: RebuildResult;
  rle: CocoRle;
  polygons: MaskPolygon[];
}

/** Masks of at least this many pixels are made off the event loop; smaller ones cost less than the hand-over. */
export const OFF_THREAD_PIXELS = 1_000_000;
/** A worker idle this long ends; the next frame starts one again (about 30 ms, on its own thread). */
const IDLE_MS = 10_000;
const WORKER_FILE = join(__dirname, 'mask-worker.js');

interface Pending {
  resolve(result: unknown): void;
  reject(err: Error): void;
}

interface Slot {
  worker: Worker;
  busy: boolean;
  idle?: ReturnType<typeof setTimeout>;
}

class MaskPool {
  private readonly size = Math.max(1, Math.min(4, availableParallelism() - 1));
  private readonly slots: Slot[] = [];
  private readonly queue: Array<{ task: MaskTask; pending: Pending }> = [];
  private readonly pending = new Map<number, Pending & { slot: Slot }>();
  private nextId = 0;

  /** Runs `task` on a worker; a rebuild's logits are transferred there (the caller gives them up), shared bytes are read in place. */
  run<T extends MaskTask>(task: T): Promise<Results[T['kind']]> {
    return new Promise((resolve, reject) => {
      this.queue.push({ task, pending: { resolve: resolve as (result: unknown) => void, reject } });
      this.pump();
    });
  }

  private pump(): void {
    while (this.queue.length) {
      const slot = this.slots.find((s) => !s.busy) ?? (this.slots.length < this.size ? this.start() : undefined);
      if (!slot) return;
      const { task, pending } = this.queue.shift()!;
      const id = this.nextId++;
      slot.busy = true;
      if (slot.idle) clearTimeout(slot.idle);
      slot.worker.ref();
      this.pending.set(id, { ...pending, slot });
      slot.worker.postMessage({ id, task }, task.kind === 'rebuild' ? [task.logits.buffer as ArrayBuffer] : []);
    }
  }

  private start(): Slot {
    const worker = new Worker(WORKER_FILE);
    const slot: Slot = { worker, busy: false };
    worker.on('message', ({ id, result, error }: { id: number; result?: unknown; error?: string }) => {
      const pending = this.pending.get(id);
      if (!pending) return;
      this.pending.delete(id);
      slot.busy = false;
      this.rest(slot);
      if (error !== undefined) pending.reject(new Error(`mask worker: ${error}`));
      else pending.resolve(result);
      this.pump();
    });
    const fail = (err: Error) => {
      this.drop(slot);
      for (const [id, pending] of this.pending) {
        if (pending.slot !== slot) continue;
        this.pending.delete(id);
        pending.reject(new Error(`mask worker stopped: ${err.message}`));
      }
      this.pump();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => {
      if (this.slots.includes(slot)) fail(new Error(`exit code ${code}`));
    });
    this.slots.push(slot);
    return slot;
  }

  /** An idle worker keeps no process alive, and ends after IDLE_MS. */
  private rest(slot: Slot): void {
    slot.worker.unref();
    slot.idle = setTimeout(() => {
      this.drop(slot);
      void slot.worker.terminate();
    }, IDLE_MS);
    slot.idle.unref();
  }

  private drop(slot: Slot): void {
    if (slot.idle) clearTimeout(slot.idle);
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
  }
}

let shared: MaskPool | undefined;

/** The process's one pool: like libvips' threads, shared by every client. */
export function maskPool(): MaskPool {
  shared ??= new MaskPool();
  return shared;
}
