/**
 * What every backend does the same way, in the order a frame goes through it:
 *
 *   image bytes → prepare (backend) → check prompts → plan → a slot → run (backend) → assemble
 *
 * A backend (`Backend`) knows only its own two steps: how to prepare an image for its model
 * (an upload for the Livepeer API, a tensor for a local model) and how to run one planned
 * request on it. Everything else is here, once: reading the image from any form a flow
 * carries, checking the prompts against the image as users see it, bounding the work in
 * flight, several objects on one image, and making masks from the answer (assemble-masks.ts).
 */
import { imageBytes } from './image-input';
import { assembleMasks, assembleMasksOffThread, type ModelAnswer } from './assemble-masks';
import { ConcurrencyLimit } from './concurrency';
import { Sam2InputError, Sam2NetworkError } from './errors';
import { linkSignals } from './linked-signal';
import { checkPrompts, type CheckedPrompts } from './prompts';
import type { CallOptions, Lease, Segmenter, SegmenterLoad, SegmentOptions, SlotSource } from './segmenter';
import type { SegmentResult } from './types';

/** An image made ready for one backend's model; `width` x `height` is the image as users see it. */
export interface PreparedFrame {
  width: number;
  height: number;
}

/** One request, checked and ready for the backend. */
export interface PlannedRequest<F extends PreparedFrame> {
  frame: F;
  prompts: CheckedPrompts;
  /** Masks the model answers: 3 with multimask, else 1. */
  count: number;
  threshold: number;
  returnLogits: boolean;
  /** Which candidates get a full-size mask. */
  keep: 'all' | 'best';
  modelId: string;
  /** Where the prompts came from (`msg.sam2`, `msg.sam2.objects[2]`), for errors a backend finds in them. */
  promptsField: string;
}

/** A backend's answer to one request: the model's answer and what the backend measured. */
export interface BackendAnswer extends ModelAnswer {
  transfer?: SegmentResult['transfer'];
  timing?: SegmentResult['timing'];
}

export interface Backend<F extends PreparedFrame> {
  readonly modelId: string;
  /** Reads and readies the image; throws `Sam2InputError` naming `call.imageField` for what it cannot use. */
  prepare(bytes: Buffer, call: CallOptions): Promise<F>;
  run(request: PlannedRequest<F>, signal: AbortSignal, call: CallOptions): Promise<BackendAnswer>;
  /**
   * The backend's own checks of a planned request (e.g. a form field over the runner's 1 MiB
   * limit), run when it is planned: for several objects, before any is sent. Throws a
   * Sam2InputError naming `request.promptsField`.
   */
  check?(request: PlannedRequest<F>): void;
  close(): Promise<void>;
}

export const DEFAULT_MAX_OBJECTS = 100;

/** Every backend's bound on the objects of one call: each is held until the last one ends. */
export function checkObjectCount(count: number, maxObjects: number, field: string): void {
  if (count > maxObjects) {
    throw new Sam2InputError(field, `has ${count} objects, over the limit of ${maxObjects}`, 'Send fewer objects in one message (each is a request), or raise the limit (maxObjects)');
  }
}

export class SegmentPipeline<F extends PreparedFrame> implements Segmenter {
  private readonly limit: ConcurrencyLimit;
  /** Aborted by close(), so every request and wait ends with it. */
  private readonly closing = new AbortController();

  constructor(
    protected readonly backend: Backend<F>,
    maxConcurrency: number,
    /** Most objects one segmentEach call takes, unless the call says otherwise: each is a request, all held until the last ends. */
    private readonly maxObjects = DEFAULT_MAX_OBJECTS,
    /** Large masks made on worker threads (default), or all on the event loop as before (for comparison). */
    private readonly offThread = true,
  ) {
    this.limit = new ConcurrencyLimit(maxConcurrency);
  }

  get modelId(): string {
    return this.backend.modelId;
  }

  /** Requests being answered now, and plain calls waiting for a free slot. */
  get load(): SegmenterLoad {
    return { active: this.limit.active, waiting: this.limit.queued, max: this.limit.max };
  }

  get slots(): SlotSource {
    return this.limit;
  }

  /**
   * Segments one image. `image` is a Buffer, Uint8Array, base64 text, data URL or a
   * JSON-flattened Buffer. Resolves to every mask, best score first.
   */
  async segment(image: unknown, prompts: SegmentOptions = {}, call: CallOptions = {}): Promise<SegmentResult> {
    const frame = await this.prepare(image, call);
    return this.send(this.plan(frame, prompts, call.promptsField ?? 'prompts'), call, call.lease);
  }

  /**
   * Segments several objects in one image, one request each (the Livepeer API takes one box a
   * request). The image is prepared once and every object's prompts are checked before
   * anything is sent; the requests share the concurrency bound, and the first failure cancels
   * the rest. Results come in the order of `objects`; errors name `promptsField[i]`.
   */
  async segmentEach(image: unknown, objects: SegmentOptions[], call: CallOptions = {}): Promise<SegmentResult[]> {
    if (objects.length === 0) throw new TypeError('segmentEach needs at least one object');
    const field = call.promptsField ?? 'objects';
    checkObjectCount(objects.length, call.maxObjects ?? this.maxObjects, field);
    const frame = await this.prepare(image, call);
    const plans = objects.map((prompts, i) => this.plan(frame, prompts, `${field}[${i}]`));
    const failed = new AbortController();
    const linked = linkSignals(call.signal ? [call.signal, failed.signal] : [failed.signal]);
    const each = { ...call, signal: linked.signal };
    // Progress of the whole message: each object's bytes so far, added up.
    const received = plans.map(() => 0);
    const callFor = (i: number): CallOptions =>
      call.onProgress
        ? {
            ...each,
            onProgress: ({ receivedBytes }) => {
              received[i] = receivedBytes;
              call.onProgress?.({ receivedBytes: received.reduce((a, b) => a + b, 0) });
            },
          }
        : each;
    const results: SegmentResult[] = new Array(plans.length);
    try {
      if (!call.lease) {
        await Promise.all(plans.map(async (plan, i) => (results[i] = await this.send(plan, callFor(i)).catch(fail))));
      } else {
        // The caller's slot runs the objects one after another, helped by any slot free now: the
        // objects of one frame never wait in the shared line behind other frames.
        const leases: Lease[] = [call.lease];
        for (let extra = this.limit.tryTake(); extra && leases.length < plans.length; extra = leases.length < plans.length ? this.limit.tryTake() : undefined) {
          leases.push(extra);
        }
        let next = 0;
        const worker = async (lease: Lease) => {
          try {
            while (next < plans.length && !linked.signal.aborted) {
              const i = next++;
              results[i] = await this.send(plans[i], callFor(i), lease).catch(fail);
            }
          } finally {
            if (lease !== call.lease) lease.release();
          }
        };
        await Promise.all(leases.map(worker));
        linked.signal.throwIfAborted();
      }
      return results;
    } finally {
      linked.release();
    }

    function fail(err: unknown): never {
      failed.abort(err);
      throw err;
    }
  }

  /** Ends every request in flight and the backend; leaves no socket or timer behind. */
  async close(): Promise<void> {
    this.closing.abort(new Sam2NetworkError('this SAM2 client was closed'));
    await this.backend.close();
  }

  private async prepare(image: unknown, call: CallOptions): Promise<F> {
    if (this.closing.signal.aborted) throw new Sam2NetworkError('this SAM2 client is closed');
    const imageField = call.imageField ?? 'image';
    return this.backend.prepare(imageBytes(image, imageField), { ...call, imageField });
  }

  /** Checks one object's prompts against the image as users see it and decides what to ask for. */
  private plan(frame: F, prompts: SegmentOptions, promptsField: string): PlannedRequest<F> {
    const checked = checkPrompts(prompts, frame.width, frame.height, promptsField);
    const threshold: unknown = prompts.threshold ?? 0;
    if (typeof threshold !== 'number' || !Number.isFinite(threshold)) {
      throw new Sam2InputError(`${promptsField}.threshold`, `is ${JSON.stringify(threshold) ?? String(threshold)}, not a finite number`, "Use a number such as 0 (SAM2's own threshold) or 0.5");
    }
    const keep = prompts.keep ?? 'all';
    if (keep !== 'all' && keep !== 'best') throw new Sam2InputError(`${promptsField}.keep`, `is ${JSON.stringify(keep)}`, "Use 'all' (a mask for every candidate) or 'best' (the best one's only)");
    const request: PlannedRequest<F> = {
      frame,
      prompts: checked,
      count: checked.multimask ? 3 : 1,
      threshold,
      returnLogits: prompts.returnLogits ?? true,
      keep,
      modelId: prompts.modelId || this.backend.modelId,
      promptsField,
    };
    this.backend.check?.(request);
    return request;
  }

  private async send(plan: PlannedRequest<F>, call: CallOptions, lease?: Lease): Promise<SegmentResult> {
    const linked = linkSignals(call.signal ? [call.signal, this.closing.signal] : [this.closing.signal]);
    try {
      const answer = await this.limit.run(() => this.backend.run(plan, linked.signal, call), linked.signal, lease);
      const how = { width: plan.frame.width, height: plan.frame.height, threshold: plan.threshold, returnLogits: plan.returnLogits, keep: plan.keep };
      const result: SegmentResult = this.offThread ? await assembleMasksOffThread(answer, how) : assembleMasks(answer, how);
      if (answer.transfer) result.transfer = answer.transfer;
      if (answer.timing) result.timing = answer.timing;
      return result;
    } finally {
      linked.release();
    }
  }
}
