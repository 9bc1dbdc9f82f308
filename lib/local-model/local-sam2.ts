/**
 * `LocalSam2`: real SAM2 (or SAM 2.1) on this machine, from ONNX files the user provides, behind
 * the same `Segmenter` seam as the Livepeer client, so frames never leave the house.
 *
 * A call: the image's bytes are hashed (or the flow's `imageId` taken) and looked up in the
 * embedding cache before anything decodes them; on a miss the image becomes the encoder's
 * 1024x1024 tensor and the encoder runs once; then the decoder runs once per object. Model runs
 * go one at a time (ONNX Runtime already spreads one run over `threads` cores; two at once on a
 * Raspberry Pi only slow each other down), so `load.max` is 1.
 *
 * Single-mask output (`multimask: false`) is the best of the three candidates: neither export
 * exposes SAM2's single-mask token.
 */
import { createHash } from 'node:crypto';
import { assembleMasksOffThread, byScore } from '../assemble-masks';
import { ConcurrencyLimit } from '../concurrency';
import { Sam2InputError, Sam2NetworkError } from '../errors';
import { imageBytes, readImageHeader, DEFAULT_MAX_INPUT_PIXELS } from '../image-input';
import { linkSignals } from '../linked-signal';
import { checkObjectCount, DEFAULT_MAX_OBJECTS } from '../pipeline';
import { checkPrompts, type CheckedPrompts } from '../prompts';
import type { CallOptions, Segmenter, SegmenterLoad, SegmentOptions, Lease, SlotSource } from '../segmenter';
import { LOW_RES_SIZE, MODEL_INPUT_SIZE, type SegmentResult } from '../types';
import { EmbeddingCache } from './embedding-cache';
import { checkSignature, findModelFiles, SIGNATURES, type FormatName, type ModelFiles } from './formats';
import { candidatesFrom, promptFeeds, type Candidate, type FeedSpec } from './packing';
import { imageToTensor } from './preprocess';
import { loadRuntime, type OrtSession, type OrtTensor, type Runtime, type RuntimeChoice, type TensorData, type TensorType } from './runtime';

export interface LocalSam2Options {
  /** The folder holding the model's ONNX files (either export of shared LOCAL-MODELS.md). */
  modelDir: string;
  /** 'auto' (default): onnxruntime-node, else onnxruntime-web; 'node' or 'web' to insist. */
  runtime?: RuntimeChoice;
  /** CPU threads for one model run; default: every core. onnxruntime-web takes the first value set in a process. */
  threads?: number;
  /** Encoded frames kept (about 16 MiB each); default 4, 0 keeps none. */
  cacheSize?: number;
  /** Bytes of encoded frames kept; default 128 MiB. */
  cacheBytes?: number;
  /** Images declaring more pixels than this are refused before decoding; default 50e6. */
  maxInputPixels?: number;
  /** What `modelId` reports; default `local:<model name>`. */
  modelId?: string;
  /** Which model when the folder holds several: samexporter's file prefix, or onnx-community's suffix (`fp16`, `quantized`, ...). */
  variant?: string;
  /** Turn images upright by their EXIF orientation first (default true); false keeps the stored grid, as the Livepeer runner does. */
  applyOrientation?: boolean;
  /** onnxruntime-node only: execution providers in order, e.g. ['cuda', 'cpu']; default CPU. */
  executionProviders?: string[];
  /** Most objects one segmentEach call takes, unless the call says otherwise; default 100. */
  maxObjects?: number;
}

/** What a loaded model is, for a status line or the editor's Test connection. */
export interface LocalModelInfo {
  format: FormatName;
  runtime: 'onnxruntime-node' | 'onnxruntime-web';
  /** Why `auto` fell back to onnxruntime-web, when it did. */
  runtimeNote?: string;
  threads: number;
  modelId: string;
  modelDir: string;
  encoderFile: string;
  decoderFile: string;
  /** Whether the decoder takes `maskInput` (samexporter yes, onnx-community no). */
  maskInput: boolean;
  /** Time to create both sessions. */
  loadMs: number;
}

export interface LocalModelDescription extends LocalModelInfo {
  /** One encoder and one decoder run on a blank frame, after loading: what a frame and a click cost here. */
  warmUp?: { encodeMs: number; decodeMs: number };
}

/** Counters since the model was created. */
export interface LocalModelStats {
  encoderRuns: number;
  decoderRuns: number;
  cacheHits: number;
  cacheMisses: number;
  cachedFrames: number;
  cachedBytes: number;
}

/** The decoder's answer before any full-size mask is built: what the local server sends. */
export interface LowResResult {
  width: number;
  height: number;
  /** Best score first; three, or the best one with `multimask: false`. */
  candidates: Candidate[];
  timing: { encodeMs: number; decodeMs: number; cached: boolean };
}

/** One encoded frame: the encoder's outputs, by name, and the image's size. */
interface Frame {
  width: number;
  height: number;
  features: Record<string, { type: string; data: TensorData; dims: readonly number[] }>;
  bytes: number;
}

interface Loaded {
  files: ModelFiles;
  runtime: Runtime;
  encoder: OrtSession;
  decoder: OrtSession;
  info: LocalModelInfo;
  /** Element type each decoder input wants, where the runtime says. */
  decoderTypes: Record<string, string | undefined>;
  encoderType: string | undefined;
}

const DEFAULT_CACHE_SIZE = 4;
const DEFAULT_CACHE_BYTES = 128 * 1024 * 1024;

export class LocalSam2 implements Segmenter {
  private readonly options: LocalSam2Options;
  private readonly cache: EmbeddingCache<Frame>;
  private readonly limit = new ConcurrencyLimit(1);
  private readonly closing = new AbortController();
  private loading?: Promise<Loaded>;
  private inFlight = new Set<Promise<unknown>>();
  private encoderRuns = 0;
  private decoderRuns = 0;
  private warmUp?: Promise<{ encodeMs: number; decodeMs: number }>;
  /** The model's name once its files were found: `modelId` is read for every message. */
  private modelName?: string;

  constructor(options: LocalSam2Options) {
    if (!options || typeof options !== 'object') throw new Sam2InputError('modelDir', 'is missing', 'Pass { modelDir: "/path/to/model" }');
    this.options = { ...options };
    const count = options.cacheSize ?? DEFAULT_CACHE_SIZE;
    const bytes = options.cacheBytes ?? DEFAULT_CACHE_BYTES;
    if (!Number.isInteger(count) || count < 0) throw new Sam2InputError('cacheSize', `is ${JSON.stringify(count)}, not a whole number of 0 or more`, 'Set how many encoded frames to keep (about 16 MiB each); 0 keeps none');
    if (!Number.isInteger(bytes) || bytes < 0) throw new Sam2InputError('cacheBytes', `is ${JSON.stringify(bytes)}, not a whole number of 0 or more`, 'Set the most bytes of encoded frames to keep, e.g. 134217728 for 128 MiB');
    const maxPixels = options.maxInputPixels ?? DEFAULT_MAX_INPUT_PIXELS;
    if (!Number.isFinite(maxPixels) || maxPixels <= 0) throw new RangeError(`maxInputPixels must be a positive number, got ${maxPixels}`);
    this.cache = new EmbeddingCache<Frame>({ maxEntries: count, maxBytes: bytes });
  }

  /** `local:<name>` (the samexporter file prefix or the onnx-community folder), or the `modelId` option. */
  get modelId(): string {
    if (this.options.modelId) return this.options.modelId;
    if (this.modelName) return `local:${this.modelName}`;
    try {
      this.modelName = findModelFiles(this.options.modelDir, this.options.variant).name;
      return `local:${this.modelName}`;
    } catch {
      return `local:${String(this.options.modelDir ?? '').replace(/[/\\]+$/, '').split(/[/\\]/).pop() || 'model'}`;
    }
  }

  get load(): SegmenterLoad {
    return { active: this.limit.active, waiting: this.limit.queued, max: this.limit.max };
  }

  /** The model's one slot, for a node's frame queue to take ahead (lib/concurrency.ts). */
  get slots(): SlotSource {
    return this.limit;
  }

  get stats(): LocalModelStats {
    return {
      encoderRuns: this.encoderRuns,
      decoderRuns: this.decoderRuns,
      cacheHits: this.cache.hits,
      cacheMisses: this.cache.misses,
      cachedFrames: this.cache.size,
      cachedBytes: this.cache.bytes,
    };
  }

  /** Finds the files, loads the runtime and both graphs and checks their names; once. */
  open(): Promise<LocalModelInfo> {
    return this.loaded().then((l) => l.info);
  }

  /**
   * What Test connection shows: the format, the runtime, and (unless `warmUp: false`) the time
   * of one encoder and one decoder run on a blank frame, measured once after loading.
   */
  async describe(options: { warmUp?: boolean } = {}): Promise<LocalModelDescription> {
    const loaded = await this.loaded();
    if (options.warmUp === false) {
      const done = this.warmUp ? await this.warmUp.catch(() => undefined) : undefined;
      return { ...loaded.info, ...(done ? { warmUp: done } : {}) };
    }
    if (!this.warmUp) {
      this.warmUp = this.track(this.warm(loaded));
      this.warmUp.catch(() => (this.warmUp = undefined));
    }
    return { ...loaded.info, warmUp: await this.warmUp };
  }

  /** One encoder run on a blank frame and one decoder run on its centre, each timed alone. */
  private async warm(loaded: Loaded): Promise<{ encodeMs: number; decodeMs: number }> {
    const blank = new Float32Array(3 * MODEL_INPUT_SIZE * MODEL_INPUT_SIZE);
    const timedRun = <T>(work: () => Promise<T>) =>
      this.limit.run(async () => {
        const t0 = performance.now();
        const value = await work();
        return { value, ms: round(performance.now() - t0) };
      }, this.closing.signal);
    const encoded = await timedRun(() => this.encode(loaded, { width: MODEL_INPUT_SIZE, height: MODEL_INPUT_SIZE, tensor: blank }));
    const frame = encoded.value;
    const prompts = checkPrompts({ points: [[MODEL_INPUT_SIZE / 2, MODEL_INPUT_SIZE / 2]] }, MODEL_INPUT_SIZE, MODEL_INPUT_SIZE);
    const decoded = await timedRun(() => this.decode(loaded, frame, promptFeeds(loaded.files.format, prompts, frame.width, frame.height, 'warmUp')));
    return { encodeMs: encoded.ms, decodeMs: decoded.ms };
  }

  async segment(image: unknown, prompts: SegmentOptions = {}, call: CallOptions = {}): Promise<SegmentResult> {
    const [result] = await this.run(image, [prompts], call, call.promptsField ?? 'prompts', false);
    return result;
  }

  /** Several objects on one frame: the frame is encoded (or found in the cache) once, then one decoder run each. */
  async segmentEach(image: unknown, objects: SegmentOptions[], call: CallOptions = {}): Promise<SegmentResult[]> {
    if (!Array.isArray(objects) || objects.length === 0) throw new TypeError('segmentEach needs at least one object');
    const field = call.promptsField ?? 'objects';
    checkObjectCount(objects.length, call.maxObjects ?? this.options.maxObjects ?? DEFAULT_MAX_OBJECTS, field);
    return this.run(image, objects, call, field, true);
  }

  /** One object's candidates as 256x256 logits and scores, with no full-size mask built. */
  async predict(image: unknown, prompts: SegmentOptions = {}, call: CallOptions = {}): Promise<LowResResult> {
    const [result] = await this.lowRes(image, [prompts], call, call.promptsField ?? 'prompts', false);
    return result;
  }

  /** Forgets every encoded frame. */
  clearCache(): void {
    this.cache.clear();
  }

  /** Ends waiting calls, lets a model run already started finish, then frees both graphs. */
  async close(): Promise<void> {
    if (!this.closing.signal.aborted) this.closing.abort(new Sam2NetworkError('this local SAM2 model was closed'));
    await Promise.allSettled([...this.inFlight]);
    this.cache.clear();
    const loading = this.loading;
    if (!loading) return;
    const loaded = await loading.catch(() => undefined);
    if (loaded) await Promise.allSettled([loaded.encoder.release(), loaded.decoder.release()]);
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inFlight.add(p);
    const done = () => this.inFlight.delete(p);
    p.then(done, done);
    return p;
  }

  private loaded(): Promise<Loaded> {
    if (this.closing.signal.aborted) return Promise.reject(new Sam2NetworkError('this local SAM2 model is closed'));
    if (!this.loading) {
      this.loading = this.track(this.openModel());
      // A failed load may be retried after the user fixes the folder or installs a runtime.
      this.loading.catch(() => (this.loading = undefined));
    }
    return this.loading;
  }

  private async openModel(): Promise<Loaded> {
    const t0 = performance.now();
    const files = findModelFiles(this.options.modelDir, this.options.variant);
    const runtime = loadRuntime({ runtime: this.options.runtime, threads: this.options.threads, executionProviders: this.options.executionProviders });
    const create = async (file: string, graph: string): Promise<OrtSession> => {
      try {
        return await runtime.createSession(file);
      } catch (err) {
        throw new Sam2InputError('modelDir', `${file} does not load in ${runtime.name} (${firstLine(err)})`, `Check the file is a complete ${graph} export (a cut-short download fails like this), with its .onnx_data file beside it if it has one`);
      }
    };
    const encoder = await create(files.encoder, 'encoder');
    let decoder: OrtSession;
    try {
      decoder = await create(files.decoder, 'decoder');
      checkSignature(files, 'encoder', encoder.inputNames, encoder.outputNames);
      checkSignature(files, 'decoder', decoder.inputNames, decoder.outputNames);
    } catch (err) {
      await encoder.release().catch(() => undefined);
      throw err;
    }
    const typesOf = (s: OrtSession) => Object.fromEntries((s.inputMetadata ?? []).map((m) => [m.name, m.isTensor ? m.type : undefined]));
    const decoderTypes = typesOf(decoder);
    this.modelName = files.name;
    const info: LocalModelInfo = {
      format: files.format,
      runtime: runtime.name,
      ...(runtime.note ? { runtimeNote: runtime.note } : {}),
      threads: runtime.threads,
      modelId: this.options.modelId || `local:${files.name}`,
      modelDir: files.dir,
      encoderFile: files.encoder,
      decoderFile: files.decoder,
      maskInput: files.format === 'samexporter',
      loadMs: round(performance.now() - t0),
    };
    if (this.closing.signal.aborted) {
      await Promise.allSettled([encoder.release(), decoder.release()]);
      throw this.closing.signal.reason;
    }
    return { files, runtime, encoder, decoder, info, decoderTypes, encoderType: typesOf(encoder)[SIGNATURES[files.format].encoderIn] };
  }

  private async run(image: unknown, objects: SegmentOptions[], call: CallOptions, field: string, indexed: boolean): Promise<SegmentResult[]> {
    const results = await this.lowRes(image, objects, call, field, indexed);
    return Promise.all(
      results.map(async (r, i) => {
        const options = objects[i] ?? {};
        // The very assembly the other backends end with (lib/assemble-masks.ts): best first, only
        // the kept masks made, a large frame's on the mask workers.
        const cell = LOW_RES_SIZE * LOW_RES_SIZE;
        const logits = new Float32Array(r.candidates.length * cell);
        r.candidates.forEach((c, k) => logits.set(c.logits, k * cell));
        const assembled = await assembleMasksOffThread(
          { scores: r.candidates.map((c) => c.score), logits },
          { width: r.width, height: r.height, threshold: options.threshold ?? 0, returnLogits: options.returnLogits !== false, keep: options.keep ?? 'all' },
        );
        return { ...assembled, timing: r.timing };
      }),
    );
  }

  private lowRes(image: unknown, objects: SegmentOptions[], call: CallOptions, field: string, indexed: boolean): Promise<LowResResult[]> {
    return this.track(this.lowResWork(image, objects, call, field, indexed));
  }

  private async lowResWork(image: unknown, objects: SegmentOptions[], call: CallOptions, field: string, indexed: boolean): Promise<LowResResult[]> {
    if (this.closing.signal.aborted) throw new Sam2NetworkError('this local SAM2 model is closed');
    const imageField = call.imageField ?? 'image';
    const bytes = imageBytes(image, imageField);
    objects.forEach((o, i) => {
      const threshold = o?.threshold ?? 0;
      if (typeof threshold !== 'number' || !Number.isFinite(threshold)) {
        throw new Sam2InputError(`${indexed ? `${field}[${i}]` : field}.threshold`, `is ${JSON.stringify(threshold)}, not a finite number`, 'Set the logit above which a pixel is foreground, e.g. 0 (SAM2\'s own)');
      }
      const keep = o?.keep ?? 'all';
      if (keep !== 'all' && keep !== 'best') {
        throw new Sam2InputError(`${indexed ? `${field}[${i}]` : field}.keep`, `is ${JSON.stringify(keep)}`, "Use 'all' (a mask for every candidate) or 'best' (the best one's only)");
      }
    });
    const loaded = await this.loaded();
    const key = call.imageId ? `id:${call.imageId}` : `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    // Every object is checked before any model run, so a bad one costs nothing; a cached frame
    // knows its size, otherwise the image's header (read, not decoded) tells it.
    const size = this.cache.peek(key) ?? (await this.imageSize(bytes, imageField));
    const feeds = objects.map((o, i) => {
      const where = indexed ? `${field}[${i}]` : field;
      const checked = checkPrompts(o ?? {}, size.width, size.height, where);
      return { checked, feeds: promptFeeds(loaded.files.format, checked, size.width, size.height, where) };
    });

    const linked = linkSignals(call.signal ? [call.signal, this.closing.signal] : [this.closing.signal]);
    try {
      return await this.decodeAll(loaded, key, bytes, imageField, feeds, linked.signal, call.lease);
    } finally {
      linked.release();
    }
  }

  private async imageSize(bytes: Buffer, field: string): Promise<{ width: number; height: number }> {
    const header = await readImageHeader(bytes, { maxInputPixels: this.options.maxInputPixels, field });
    return this.options.applyOrientation === false ? { width: header.storedWidth, height: header.storedHeight } : header;
  }

  private async decodeAll(
    loaded: Loaded,
    key: string,
    bytes: Buffer,
    imageField: string,
    feeds: Array<{ checked: CheckedPrompts; feeds: Record<string, FeedSpec> }>,
    signal: AbortSignal,
    /** A slot the caller holds already (a node's frame queue): the runs use it instead of waiting for one. */
    lease?: Lease,
  ): Promise<LowResResult[]> {
    signal.throwIfAborted();
    let encodeMs = 0;
    const { value: frame, cached } = await this.cache.getOrCompute(
      key,
      async () => {
        // Time spent working (the tensor, then the encoder), not waiting for the model's turn.
        const t0 = performance.now();
        const input = await imageToTensor(bytes, { maxInputPixels: this.options.maxInputPixels, field: imageField, applyOrientation: this.options.applyOrientation });
        const prepareMs = performance.now() - t0;
        return this.limit.run(async () => {
          const t1 = performance.now();
          const encoded = await this.encode(loaded, input);
          encodeMs = round(prepareMs + performance.now() - t1);
          return encoded;
        }, signal, lease);
      },
      (f) => f.bytes,
    );
    const results: LowResResult[] = [];
    for (const { checked, feeds: prompt } of feeds) {
      signal.throwIfAborted();
      let decodeMs = 0;
      const candidates = await this.limit.run(async () => {
        const t0 = performance.now();
        const out = await this.decode(loaded, frame, prompt);
        decodeMs = round(performance.now() - t0);
        return out;
      }, signal, lease);
      candidates.sort(byScore);
      results.push({ width: frame.width, height: frame.height, candidates: checked.multimask ? candidates : candidates.slice(0, 1), timing: { encodeMs, decodeMs, cached } });
    }
    return results;
  }

  private async encode(loaded: Loaded, input: { width: number; height: number; tensor: Float32Array }): Promise<Frame> {
    const sig = SIGNATURES[loaded.files.format];
    const data = loaded.encoderType === 'float16' ? toHalf(input.tensor) : input.tensor;
    const type: TensorType = loaded.encoderType === 'float16' ? 'float16' : 'float32';
    let outputs: Record<string, OrtTensor>;
    try {
      outputs = await loaded.encoder.run({ [sig.encoderIn]: loaded.runtime.tensor(type, data, [1, 3, MODEL_INPUT_SIZE, MODEL_INPUT_SIZE]) });
    } catch (err) {
      throw new Error(`the SAM2 encoder (${loaded.files.encoder}) failed: ${firstLine(err)}`);
    } finally {
      this.encoderRuns++;
    }
    const features: Frame['features'] = {};
    let bytes = 0;
    for (const name of sig.encoderOut) {
      const t = outputs[name];
      const array = t.data as TensorData;
      features[name] = { type: t.type, data: array, dims: [...t.dims] };
      bytes += array.byteLength;
    }
    return { width: input.width, height: input.height, features, bytes };
  }

  private async decode(loaded: Loaded, frame: Frame, prompt: Record<string, FeedSpec>): Promise<Candidate[]> {
    const feeds: Record<string, OrtTensor> = {};
    for (const [name, f] of Object.entries(frame.features)) {
      const want = loaded.decoderTypes[name];
      if (want === 'float16' && f.type === 'float32') feeds[name] = loaded.runtime.tensor('float16', toHalf(f.data as Float32Array), f.dims);
      else if (want === 'float32' && f.type === 'float16') feeds[name] = loaded.runtime.tensor('float32', fromHalf(f.data as Uint16Array), f.dims);
      else feeds[name] = loaded.runtime.tensor(f.type as TensorType, f.data, f.dims);
    }
    for (const [name, f] of Object.entries(prompt)) {
      const half = loaded.decoderTypes[name] === 'float16' && f.type === 'float32';
      feeds[name] = loaded.runtime.tensor(half ? 'float16' : f.type, half ? toHalf(f.data as Float32Array) : f.data, f.dims);
    }
    let outputs: Record<string, OrtTensor>;
    try {
      outputs = await loaded.decoder.run(feeds);
    } catch (err) {
      throw new Error(`the SAM2 decoder (${loaded.files.decoder}) failed: ${firstLine(err)}`);
    } finally {
      this.decoderRuns++;
    }
    const asFloat = (t: OrtTensor) => ({ data: t.type === 'float16' ? fromHalf(t.data as Uint16Array) : (t.data as Float32Array), dims: t.dims });
    const names = SIGNATURES[loaded.files.format].decoderOut;
    return candidatesFrom(loaded.files.format, Object.fromEntries(names.map((n) => [n, asFloat(outputs[n])])));
  }
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0];
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 to IEEE half, round to nearest even: for `_fp16` exports whose inputs are float16. */
export function toHalf(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    f32[0] = values[i];
    const x = u32[0];
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    let mant = x & 0x7fffff;
    if (exp === 0xff) {
      out[i] = sign | 0x7c00 | (mant ? 0x200 : 0);
      continue;
    }
    let e = exp - 127 + 15;
    if (e >= 0x1f) {
      out[i] = sign | 0x7c00;
      continue;
    }
    if (e <= 0) {
      if (e < -10) {
        out[i] = sign;
        continue;
      }
      mant |= 0x800000;
      const shift = 14 - e;
      let half = mant >>> shift;
      const rest = mant & ((1 << shift) - 1);
      const mid = 1 << (shift - 1);
      if (rest > mid || (rest === mid && half & 1)) half++;
      out[i] = sign | half;
      continue;
    }
    let half = (e << 10) | (mant >>> 13);
    const rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
    e = half >>> 10;
    out[i] = sign | (e >= 0x1f ? 0x7c00 : half);
  }
  return out;
}

/** IEEE half to float32. */
export function fromHalf(values: Uint16Array): Float32Array {
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const h = values[i];
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    out[i] = exp === 0 ? sign * mant * 2 ** -24 : exp === 0x1f ? (mant ? NaN : sign * Infinity) : sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  return out;
}
