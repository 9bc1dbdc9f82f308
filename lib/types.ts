/** The shapes that cross module boundaries: prompts in, masks out. */

/** Prompts for one object, in the image's own pixels unless `normalizeCoords` is false. */
export interface Prompts {
  /** `[[x, y], ...]` */
  points?: Array<[number, number]>;
  /** One per point: 1 foreground, 0 background. Defaults to all foreground. */
  labels?: number[];
  /** `[x1, y1, x2, y2]` */
  box?: [number, number, number, number];
  /** 256x256 low-resolution logits from an earlier answer, to refine it. */
  maskInput?: Float32Array | number[] | number[][] | number[][][];
  /** Three candidate masks (true, the API's default) or one. */
  multimask?: boolean;
  /**
   * The API's `normalize_coords`: true (default) means coordinates are pixels of the image;
   * false means they are already relative, in [0, 1].
   */
  normalizeCoords?: boolean;
}

/** One mask of an answer. `mask` is row-major, `width * height` bytes of 0 or 1. */
export interface Sam2Mask {
  mask: Uint8Array;
  score: number;
  /** Foreground pixel count. */
  area: number;
  /** `[x1, y1, x2, y2]` in pixels, inclusive of the last foreground pixel + 1; `[0,0,0,0]` when empty. */
  bbox: [number, number, number, number];
  /** Mean foreground pixel centre `[x, y]`, or null when empty (lib/mask-stats.ts). */
  centroid: [number, number] | null;
  /** 256x256 low-resolution logits, for a later `maskInput`; absent when not asked for. */
  logits?: Float32Array;
}

export interface SegmentResult {
  width: number;
  height: number;
  /** Best score first. */
  masks: Sam2Mask[];
  /** What crossed the network for the attempt that answered: upload size and answer size in bytes. */
  transfer?: { sentBytes: number; receivedBytes: number };
  /** A model run on this machine: the encoder's and decoder's time, and whether the frame's encoding came from the cache. */
  timing?: { encodeMs: number; decodeMs: number; cached: boolean };
}

/** Low-resolution logits are always this size: SAM2's mask decoder output. */
export const LOW_RES_SIZE = 256;
/** SAM2 resizes every image to this square before encoding it. */
export const MODEL_INPUT_SIZE = 1024;
