/**
 * What decodeSegmentResponse takes and gives: its options and the typed arrays it returns.
 * Apart from the code so that every layer can name them without importing the entry point.
 */

export type MaskDecoding = 'binary' | 'logits' | 'skip';

export interface DecodeOptions {
  /** binary: 1 where value > threshold, else 0, in a Uint8Array; logits: a Float32Array; skip: not stored. */
  masks: MaskDecoding;
  /** The 256x256 low-resolution logits: decoded (default) or skipped. */
  logits?: 'logits' | 'skip';
  /** For binary masks; default 0.0, the threshold SAM2 itself uses. */
  threshold?: number;
  /** Largest body accepted, in bytes; default 1 GiB. */
  maxBytes?: number;
  /** Known sizes: outputs are allocated once, and an answer that disagrees is an error. */
  expectedShape?: { count?: number; height?: number; width?: number };
  /** Stops reading; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface DecodedArray<T> {
  data: T;
  /** [C, H, W] */
  shape: [number, number, number];
}

export interface DecodedResponse {
  /** null when skipped. */
  masks: DecodedArray<Uint8Array | Float32Array> | null;
  scores: Float32Array;
  /** null when skipped. */
  logits: DecodedArray<Float32Array> | null;
}

/** The options once defaults are applied, as the response layer uses them. */
export type ResolvedOptions = Required<Pick<DecodeOptions, 'masks' | 'logits' | 'threshold' | 'maxBytes'>> & Pick<DecodeOptions, 'expectedShape'>;
