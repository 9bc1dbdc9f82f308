/**
 * The one interface every backend offers and everything above it uses: the nodes, the
 * endpoint settings, the editor's routes and the tracker. A backend is the Livepeer HTTP API
 * (`Sam2Client`: the gateway, Studio or a self-hosted runner) or a model on this machine
 * (`LocalSam2`); none of them knows about Node-RED.
 *
 * The contract, whatever is behind it:
 * - `image` is a Buffer, Uint8Array, base64 text, data URL or a JSON-flattened Buffer;
 * - prompts are in the image's own pixels (or relative with `normalizeCoords: false`);
 * - the answer is every mask at the image's size as users see it (EXIF orientation applied),
 *   best score first, each with its 256x256 logits unless `returnLogits` is false;
 * - bad input is a `Sam2InputError` naming the field, thrown before any work is sent;
 * - `segmentEach` prepares the image once, checks every object first, and the first failure
 *   cancels the rest;
 * - `close` ends everything in flight and leaves nothing running.
 */
import type { Prompts, SegmentResult } from './types';

export interface SegmentOptions extends Prompts {
  /** Include each mask's 256x256 low-resolution logits (default true). */
  returnLogits?: boolean;
  /** Logit above which a pixel is foreground (default 0.0, SAM2's own). */
  threshold?: number;
  /** Overrides the backend's model for this call, where the backend has more than one. */
  modelId?: string;
}

export interface RetryInfo {
  /** 1 for the first retry. */
  attempt: number;
  retries: number;
  delayMs: number;
  error: Error;
}

export interface CallOptions {
  signal?: AbortSignal;
  /** Called before each retry's wait, e.g. to show it in a status. */
  onRetry?: (info: RetryInfo) => void;
  /**
   * Called as the answer arrives, with the bytes of it received so far (one attempt's: a retry
   * starts again from 0; `segmentEach` adds up its objects'). Called per piece read, so as
   * often as the network delivers: throttle what it shows.
   */
  onProgress?: (progress: Progress) => void;
  /** Where the image came from, for input errors (e.g. `msg.payload`). */
  imageField?: string;
  /** Where the prompts came from, for input errors (e.g. `msg.sam2`). */
  promptsField?: string;
  /**
   * A name for this image that the flow guarantees stays with its content (`msg.imageId`):
   * a backend that caches per image may use it instead of hashing the bytes.
   */
  imageId?: string;
  /** Most objects `segmentEach` takes in this call; more is a Sam2InputError naming `promptsField`. Default: the backend's own limit. */
  maxObjects?: number;
  /**
   * A slot the caller took ahead from `slots` (a frame queue does): the call runs in it and
   * waits in no line; `segmentEach` runs its objects in it one after another, and in any other
   * slot that is free at once. The caller gives it back.
   */
  lease?: Lease;
}

export interface Progress {
  receivedBytes: number;
}

/** One of a backend's slots, taken ahead; `release` gives it back (a second call does nothing). */
export interface Lease {
  release(): void;
}

/** Where callers that keep their own queue take slots: see lib/concurrency.ts. */
export interface SlotSource {
  readonly max: number;
  tryTake(): Lease | undefined;
  whenFree(listener: (take: () => Lease | undefined) => 'more' | 'done'): () => void;
}

/** Work in flight now, work waiting for a free slot, and how many may run at once. */
export interface SegmenterLoad {
  active: number;
  waiting: number;
  max: number;
}

export interface Segmenter {
  /** The model this backend answers with, as it would appear in `msg.sam2.modelId`. */
  readonly modelId: string;
  readonly load: SegmenterLoad;
  readonly slots: SlotSource;
  segment(image: unknown, prompts?: SegmentOptions, call?: CallOptions): Promise<SegmentResult>;
  segmentEach(image: unknown, objects: SegmentOptions[], call?: CallOptions): Promise<SegmentResult[]>;
  close(): Promise<void>;
}
