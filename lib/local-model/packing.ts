/**
 * One object's prompts as each export's decoder takes them, and its answer back as three
 * candidates (shared LOCAL-MODELS.md). Coordinates go to the 1024x1024 frame the encoder saw:
 * x * 1024 / W and y * 1024 / H for pixels, x * 1024 and y * 1024 for relative coordinates.
 *
 * - samexporter: `point_coords` [1, P, 2] and `point_labels` [1, P] float32 (1 fg, 0 bg), a box
 *   as two more points labelled 2 and 3 after the clicked ones; `mask_input` [1, 1, 256, 256]
 *   with `has_mask_input` [1] (zeros and 0 without one). The graph adds its own padding point.
 * - onnx-community: `input_points` [1, 1, P, 2] float32 and `input_labels` [1, 1, P] int64,
 *   `input_boxes` [1, nb, 4]; a box only gives points [1, 1, 0, 2] and labels [1, 1, 0], points
 *   only give boxes [1, 0, 4], as transformers.js packs them. No mask input.
 */
import { Sam2InputError } from '../errors';
import type { CheckedPrompts } from '../prompts';
import { LOW_RES_SIZE, MODEL_INPUT_SIZE } from '../types';
import type { FormatName } from './formats';
import type { TensorData, TensorType } from './runtime';

export interface FeedSpec {
  type: TensorType;
  data: TensorData;
  dims: number[];
}

const CELLS = LOW_RES_SIZE * LOW_RES_SIZE;

/** Prompts in the 1024-space of the encoder's input: points with labels, and the box. */
export function toModelSpace(prompts: CheckedPrompts, width: number, height: number): { points: Array<[number, number]>; labels: number[]; box?: [number, number, number, number] } {
  const sx = prompts.normalizeCoords ? MODEL_INPUT_SIZE / width : MODEL_INPUT_SIZE;
  const sy = prompts.normalizeCoords ? MODEL_INPUT_SIZE / height : MODEL_INPUT_SIZE;
  const points = (prompts.points ?? []).map(([x, y]) => [x * sx, y * sy] as [number, number]);
  const box = prompts.box ? ([prompts.box[0] * sx, prompts.box[1] * sy, prompts.box[2] * sx, prompts.box[3] * sy] as [number, number, number, number]) : undefined;
  return { points, labels: prompts.labels ?? [], box };
}

/** The decoder's prompt inputs (the image features are added by the caller). */
export function promptFeeds(format: FormatName, prompts: CheckedPrompts, width: number, height: number, field: string): Record<string, FeedSpec> {
  if (!prompts.points && !prompts.box) {
    throw new Sam2InputError(field, 'has no point and no box', 'Give at least one point ([[x, y]]) or a box ([x1, y1, x2, y2]) to say which object to segment');
  }
  const { points, labels, box } = toModelSpace(prompts, width, height);
  if (format === 'samexporter') {
    const coords = [...points];
    const kinds = [...labels];
    if (box) {
      coords.push([box[0], box[1]], [box[2], box[3]]);
      kinds.push(2, 3);
    }
    const mask = prompts.maskInput ?? new Float32Array(CELLS);
    return {
      point_coords: { type: 'float32', data: Float32Array.from(coords.flat()), dims: [1, coords.length, 2] },
      point_labels: { type: 'float32', data: Float32Array.from(kinds), dims: [1, kinds.length] },
      mask_input: { type: 'float32', data: mask, dims: [1, 1, LOW_RES_SIZE, LOW_RES_SIZE] },
      has_mask_input: { type: 'float32', data: Float32Array.of(prompts.maskInput ? 1 : 0), dims: [1] },
    };
  }
  if (prompts.maskInput) {
    throw new Sam2InputError(
      `${field}.maskInput`,
      'is set, but this model (the onnx-community export) has no mask input, so it cannot refine an earlier mask',
      'Remove maskInput and refine with more points instead, or use a samexporter export of the model, which takes a mask input',
    );
  }
  return {
    input_points: { type: 'float32', data: Float32Array.from(points.flat()), dims: [1, 1, points.length, 2] },
    input_labels: { type: 'int64', data: BigInt64Array.from(labels.map((l) => BigInt(l))), dims: [1, 1, labels.length] },
    input_boxes: { type: 'float32', data: Float32Array.from(box ?? []), dims: [1, box ? 1 : 0, 4] },
  };
}

export interface Candidate {
  /** 256x256 low-resolution logits. */
  logits: Float32Array;
  score: number;
}

/** The decoder's three candidates, in the model's order. `masks`/`scores` are float32 arrays. */
export function candidatesFrom(format: FormatName, outputs: Record<string, { data: Float32Array; dims: readonly number[] }>): Candidate[] {
  const masks = outputs[format === 'samexporter' ? 'masks' : 'pred_masks'];
  const scores = outputs[format === 'samexporter' ? 'iou_predictions' : 'iou_scores'];
  const count = scores.data.length;
  const low = masks.dims.slice(-2);
  if (low[0] !== LOW_RES_SIZE || low[1] !== LOW_RES_SIZE || masks.data.length !== count * CELLS || count < 1) {
    throw new Error(`the decoder gave masks of shape [${masks.dims.join(', ')}] with ${count} scores; a SAM2 decoder gives [.., 3, 256, 256] and 3 scores`);
  }
  // Copies, so each mask's logits stand alone (a flow may keep one and drop the others).
  return Array.from({ length: count }, (_, k) => ({ logits: masks.data.slice(k * CELLS, (k + 1) * CELLS), score: scores.data[k] }));
}
