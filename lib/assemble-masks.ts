/**
 * The last step of every backend: a model's answer (scores and 256x256 low-resolution logits,
 * sometimes full-size masks too) becomes the result every consumer reads, masks at the image's
 * size, best first, each measured once here so that no encoder has to measure it again.
 */
import { maskAndStatsFromLogits } from './bilinear';
import { byScore } from './mask-order';
import { Sam2ApiError } from './errors';
import { OFF_THREAD_PIXELS, maskPool } from './mask-pool';
import { maskStats, maskStatsInSlices, type MaskStats } from './mask-stats';
import { LOW_RES_SIZE, type Sam2Candidate, type Sam2Mask, type SegmentResult } from './types';

/** What a model answered for one prompt, before masks are made at the image's size. */
export interface ModelAnswer {
  /** One per mask, in the model's order. */
  scores: ArrayLike<number>;
  /** `scores.length` x 256 x 256 low-resolution logits; absent only when full masks came and none were asked for. */
  logits?: Float32Array;
  /** `scores.length` masks of width x height 0/1 bytes, thresholded at 0.0, when the backend had them already. */
  masks?: Uint8Array;
}

export interface AssembleOptions {
  width: number;
  height: number;
  /** Logit above which a pixel is foreground; full masks are used only at SAM2's own 0.0. */
  threshold: number;
  returnLogits: boolean;
  /** `'best'`: only the best candidate's full-size mask is made and measured (default `'all'`). */
  keep?: 'all' | 'best';
}

/** Best score first, NaN last (lib/mask-order.ts); exported here too for the backends that import it from here. */
export { byScore };

/**
 * The candidates best first, and for those kept the full-size mask: taken from the answer's
 * masks when it has them at the threshold asked for, else rebuilt from the logits. With
 * `keep: 'best'` the others are never rebuilt or measured: at 4K that is two 8 MB masks and
 * their passes saved on every frame.
 */
export function assembleMasks(answer: ModelAnswer, how: AssembleOptions): Omit<SegmentResult, 'transfer' | 'timing'> {
  const { width, height, threshold } = how;
  const plan = assemblyPlan(answer, how);
  const masks: Sam2Mask[] = plan.kept.map((c) => {
    if (!plan.useMasks) {
      const { mask, stats } = maskAndStatsFromLogits(plan.low(c) as Float32Array, LOW_RES_SIZE, LOW_RES_SIZE, width, height, threshold);
      return plan.keptMask(c, mask, stats);
    }
    const mask = plan.fullMask(c);
    return plan.keptMask(c, mask, maskStats(mask, width, height));
  });
  return { width, height, masks, candidates: plan.candidates };
}

/**
 * assembleMasks without holding the event loop: large masks (OFF_THREAD_PIXELS and up) are
 * rebuilt and measured on a worker thread (lib/mask-pool.ts), full mode's masks measured in
 * slices that yield; the result is the same, byte for byte. Small ones are made inline, where
 * the hand-over would cost more than the work.
 */
export async function assembleMasksOffThread(answer: ModelAnswer, how: AssembleOptions): Promise<Omit<SegmentResult, 'transfer' | 'timing'>> {
  const { width, height, threshold } = how;
  if (width * height < OFF_THREAD_PIXELS) return assembleMasks(answer, how);
  const plan = assemblyPlan(answer, how);
  const masks = await Promise.all(
    plan.kept.map(async (c) => {
      if (plan.useMasks) {
        const mask = plan.fullMask(c);
        return plan.keptMask(c, mask, await maskStatsInSlices(mask, width, height));
      }
      const { mask, stats } = await maskPool().run({ kind: 'rebuild', logits: (plan.low(c) as Float32Array).slice(), width, height, threshold });
      return plan.keptMask(c, mask, stats);
    }),
  );
  return { width, height, masks, candidates: plan.candidates };
}

/** What assembling an answer takes, shared by the inline and the off-the-event-loop paths. */
export interface AssemblyPlan {
  /** Candidate indices in the answer, best first, of the masks to make. */
  kept: number[];
  /** The answer's own full-size masks are used (threshold 0.0 and they came). */
  useMasks: boolean;
  candidates: Sam2Candidate[];
  low(c: number): Float32Array | undefined;
  fullMask(c: number): Uint8Array;
  keptMask(c: number, mask: Uint8Array, stats: MaskStats): Sam2Mask;
}

export function assemblyPlan(answer: ModelAnswer, how: AssembleOptions): AssemblyPlan {
  const { width, height, threshold } = how;
  const count = answer.scores.length;
  if (count === 0) throw new Sam2ApiError(200, 'the server answered without any mask (the gateway does this when its runner failed)');
  const cell = LOW_RES_SIZE * LOW_RES_SIZE;
  const useMasks = answer.masks !== undefined && threshold === 0;
  if (!useMasks && !answer.logits) throw new Sam2ApiError(200, 'the answer has neither masks nor logits to make them from');
  const low = (c: number) => answer.logits?.subarray(c * cell, (c + 1) * cell);
  // The API sends best first; sorting again costs nothing and protects every consumer's "masks[0] is best".
  const order = Array.from({ length: count }, (_, c) => c).sort((a, b) => byScore({ score: answer.scores[a] }, { score: answer.scores[b] }));
  const logits = order.map((c) => (how.returnLogits ? low(c)?.slice() : undefined));
  const candidates: Sam2Candidate[] = order.map((c, i) => ({ score: answer.scores[c], ...(logits[i] ? { logits: logits[i] } : {}) }));
  return {
    kept: how.keep === 'best' ? order.slice(0, 1) : order,
    useMasks,
    candidates,
    low,
    fullMask: (c) => (answer.masks as Uint8Array).subarray(c * width * height, (c + 1) * width * height),
    // The same logits array as the candidate's: one copy, whichever a consumer reads.
    keptMask: (c, mask, stats) => {
      const logitsOfMask = logits[order.indexOf(c)];
      return { mask, score: answer.scores[c], ...stats, ...(logitsOfMask ? { logits: logitsOfMask } : {}) };
    },
  };
}
