/**
 * The last step of every backend: a model's answer (scores and 256x256 low-resolution logits,
 * sometimes full-size masks too) becomes the result every consumer reads, masks at the image's
 * size, best first, each measured once here so that no encoder has to measure it again.
 */
import { maskFromLogits } from './bilinear';
import { byScore } from './mask-order';
import { Sam2ApiError } from './errors';
import { maskStats } from './mask-stats';
import { LOW_RES_SIZE, type Sam2Mask, type SegmentResult } from './types';

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
}

/** Best score first, NaN last (lib/mask-order.ts); exported here too for the backends that import it from here. */
export { byScore };

export function assembleMasks(answer: ModelAnswer, how: AssembleOptions): Omit<SegmentResult, 'transfer' | 'timing'> {
  const { width, height, threshold } = how;
  const count = answer.scores.length;
  if (count === 0) throw new Sam2ApiError(200, 'the server answered without any mask (the gateway does this when its runner failed)');
  const cell = LOW_RES_SIZE * LOW_RES_SIZE;
  const useMasks = answer.masks !== undefined && threshold === 0;
  if (!useMasks && !answer.logits) throw new Sam2ApiError(200, 'the answer has neither masks nor logits to make them from');
  const masks: Sam2Mask[] = [];
  for (let c = 0; c < count; c++) {
    const low = answer.logits?.subarray(c * cell, (c + 1) * cell);
    const mask = useMasks
      ? (answer.masks as Uint8Array).subarray(c * width * height, (c + 1) * width * height)
      : maskFromLogits(low as Float32Array, LOW_RES_SIZE, LOW_RES_SIZE, width, height, threshold);
    masks.push({ mask, score: answer.scores[c], ...maskStats(mask, width, height), ...(how.returnLogits && low ? { logits: low.slice() } : {}) });
  }
  // The API sends best first; sorting again costs nothing and protects every consumer's "masks[0] is best".
  masks.sort(byScore);
  return { width, height, masks };
}
