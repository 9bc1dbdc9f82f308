/**
 * The worker side of lib/mask-pool.ts: the per-frame loops that would hold Node-RED's event
 * loop for hundreds of milliseconds on a large frame (a 48 MP mask rebuilt from logits and
 * measured), run here instead, with the very functions the inline path uses, so the output is
 * the same bytes; and the encoders written in JS (COCO RLE, polygons) for such masks. Messages: `{ id, task }` in, `{ id, result }` or `{ id, error }` out.
 */
import { parentPort } from 'node:worker_threads';
import { maskAndStatsFromLogits } from './bilinear';
import { maskToPolygons } from './polygons';
import { maskToRle } from './rle';
import { LOW_RES_SIZE } from './types';
import type { MaskTask } from './mask-pool';

parentPort?.on('message', async ({ id, task }: { id: number; task: MaskTask }) => {
  try {
    if (task.kind === 'rebuild') {
      const { mask, stats } = maskAndStatsFromLogits(task.logits, LOW_RES_SIZE, LOW_RES_SIZE, task.width, task.height, task.threshold);
      // Copied here, not on the event loop, into the shared memory every later task reads in place.
      const shared = new Uint8Array(new SharedArrayBuffer(mask.length));
      shared.set(mask);
      parentPort!.postMessage({ id, result: { mask: shared, stats } });
    } else if (task.kind === 'rle') {
      parentPort!.postMessage({ id, result: maskToRle(task.mask, task.width, task.height) });
    } else if (task.kind === 'polygons') {
      parentPort!.postMessage({ id, result: await maskToPolygons(task.mask, task.width, task.height, { tolerance: task.tolerance }) });
    } else {
      throw new Error(`unknown task ${String((task as { kind?: unknown }).kind)}`);
    }
  } catch (err) {
    parentPort!.postMessage({ id, error: err instanceof Error ? err.message : String(err) });
  }
});
