/**
 * The SAM2 client: one frame in, masks out. It prepares the image, sends the form over a
 * pooled connection, retries what is worth retrying, and decodes the answer as it streams
 * in. The Node-RED nodes are a thin layer over this, and it is usable on its own.
 */
import { Blob } from 'node:buffer';
import { FormData, Pool, errors as undiciErrors } from 'undici';
import { errorBodyKind, errorDetail, parseRetryAfter } from './api-error';
import { maskFromLogits } from './bilinear';
import { ConcurrencyLimit } from './concurrency';
import { checkContentEncoding, contentEncodings } from './content-encoding';
import { decodeSegmentResponse, type DecodedResponse } from './decode-response';
import { Sam2ApiError, Sam2DecodeError, Sam2InputError, Sam2NetworkError } from './errors';
import { imageBytes, prepareImage, DEFAULT_MAX_INPUT_PIXELS, type PreparedImage } from './image-input';
import { linkSignals } from './linked-signal';
import { byScore } from './mask-order';
import { maskStats } from './mask-stats';
import { checkPrompts, promptFields } from './prompts';
import type { CallOptions, Segmenter, SegmenterLoad, SegmentOptions } from './segmenter';
import { cleanToken } from './token';
import { LOW_RES_SIZE, type Sam2Mask, type SegmentResult } from './types';

export type { CallOptions, RetryInfo, SegmentOptions } from './segmenter';

export const DEFAULT_URL = 'https://dream-gateway.livepeer.cloud';
export const DEFAULT_MODEL_ID = 'facebook/sam2-hiera-large';

export interface Sam2ClientOptions {
  /** Gateway, Livepeer Studio (`https://livepeer.studio/api/beta/generate`) or a runner; the route is appended. */
  url?: string;
  /** Bearer token; empty or absent sends no Authorization header. */
  token?: string;
  modelId?: string;
  /** Deadline for each whole attempt, from sending to the last byte of the answer. */
  timeoutMs?: number;
  connectTimeoutMs?: number;
  /** How long to wait for the answer's status line and headers. */
  firstByteTimeoutMs?: number;
  /** How long the answer's body may go without a single byte. */
  stallTimeoutMs?: number;
  /** Requests in flight at once, across everything that shares this client. */
  maxConcurrency?: number;
  /** Tries after the first for connection failures, 429, 502, 503 and 504. */
  retries?: number;
  /** Upload images above 1024x1024 at 1024x1024 and rebuild the masks from logits (see README). */
  efficient?: boolean;
  /** Answers larger than this end with an error. */
  maxResponseBytes?: number;
  /** Images declaring more pixels than this are refused before decoding. */
  maxInputPixels?: number;
  /** Certificate authorities (PEM) to trust instead of the public ones, for a self-hosted runner with a private CA. TLS is always verified. */
  ca?: string | Buffer;
  /** Accept SVG input (rasterised at a bounded cost); refused by default. */
  allowVector?: boolean;
  /** Most objects one segmentEach call takes (default 100): each is a request, all held until the last ends. */
  maxObjects?: number;
}

/** One request, checked and ready to send. */
interface RequestPlan {
  prepared: PreparedImage;
  fields: Record<string, string>;
  /** Masks expected: 3 with multimask, else 1. */
  count: number;
  threshold: number;
  /** Rebuild masks from logits (a shrunk upload, or a threshold other than SAM2's 0.0). */
  rebuild: boolean;
  returnLogits: boolean;
}

const RETRY_STATUSES = new Set([429, 502, 503, 504]);
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 20_000;
const ERROR_BODY_LIMIT = 64 * 1024;
/** Node's timers hold at most 2^31-1 ms; a longer delay fires at once. */
const TIMER_MAX_MS = 2 ** 31 - 1;
const DEFAULT_MAX_OBJECTS = 100;

/** Low-level failures that mean the connection broke, not that the server was slow. */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH',
  'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_CLOSED',
]);

/** OpenSSL's verdicts on a chain that does not lead to a trusted authority: a CA file fixes these. */
const UNTRUSTED_CERTIFICATE_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_UNTRUSTED',
]);

export class Sam2Client implements Segmenter {
  readonly url: string;
  readonly modelId: string;
  readonly efficient: boolean;
  readonly allowVector: boolean;
  private readonly token: string;
  private readonly options: Required<Omit<Sam2ClientOptions, 'url' | 'token' | 'modelId' | 'efficient' | 'ca' | 'allowVector'>>;
  private readonly pool: Pool;
  private readonly route: string;
  private readonly limit: ConcurrencyLimit;
  /** Aborted by close(), so every request and backoff wait ends with it. */
  private readonly closing = new AbortController();

  constructor(options: Sam2ClientOptions = {}) {
    if (options.url !== undefined && !String(options.url).trim()) {
      throw new TypeError('url is empty: give the gateway\'s or runner\'s base URL, or leave url out for the community gateway');
    }
    const base = new URL(options.url ?? DEFAULT_URL);
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new TypeError(`url must start with http:// or https://, got ${base.protocol}`);
    }
    this.url = base.origin + base.pathname.replace(/\/+$/, '');
    this.route = `${base.pathname.replace(/\/+$/, '')}/segment-anything-2`;
    this.token = cleanToken(options.token, 'token');
    this.modelId = options.modelId || DEFAULT_MODEL_ID;
    this.efficient = options.efficient ?? true;
    this.allowVector = options.allowVector === true;
    const timeoutMs = positive(options.timeoutMs, 120_000, 'timeoutMs', TIMER_MAX_MS);
    this.options = {
      timeoutMs,
      connectTimeoutMs: positive(options.connectTimeoutMs, 10_000, 'connectTimeoutMs', TIMER_MAX_MS),
      firstByteTimeoutMs: positive(options.firstByteTimeoutMs, timeoutMs, 'firstByteTimeoutMs', TIMER_MAX_MS),
      stallTimeoutMs: positive(options.stallTimeoutMs, 30_000, 'stallTimeoutMs', TIMER_MAX_MS),
      maxConcurrency: positive(options.maxConcurrency, 2, 'maxConcurrency'),
      retries: options.retries ?? 2,
      maxResponseBytes: positive(options.maxResponseBytes, 1024 ** 3, 'maxResponseBytes'),
      maxInputPixels: positive(options.maxInputPixels, DEFAULT_MAX_INPUT_PIXELS, 'maxInputPixels'),
      maxObjects: positive(options.maxObjects, DEFAULT_MAX_OBJECTS, 'maxObjects'),
    };
    if (!Number.isInteger(this.options.retries) || this.options.retries < 0) {
      throw new RangeError(`retries must be a whole number of 0 or more, got ${options.retries}`);
    }
    this.limit = new ConcurrencyLimit(this.options.maxConcurrency);
    this.pool = new Pool(base.origin, {
      connections: this.options.maxConcurrency,
      connect: { timeout: this.options.connectTimeoutMs, ...(options.ca ? { ca: options.ca } : {}) },
      headersTimeout: this.options.firstByteTimeoutMs,
      bodyTimeout: this.options.stallTimeoutMs,
    });
  }

  /** Requests being sent or answered now, and calls waiting for a free slot. */
  get load(): SegmenterLoad {
    return { active: this.limit.active, waiting: this.limit.queued, max: this.limit.max };
  }

  /**
   * Segments one image. `image` is a Buffer, Uint8Array, base64 text, data URL or a
   * JSON-flattened Buffer. Resolves to every mask, best score first.
   */
  async segment(image: unknown, prompts: SegmentOptions = {}, call: CallOptions = {}): Promise<SegmentResult> {
    const prepared = await this.prepare(image, call);
    return this.send(this.plan(prepared, prompts, call.promptsField ?? 'prompts'), call);
  }

  /**
   * Segments several objects in one image, one request each (the API takes one box a request).
   * The image is decoded and prepared once and every object's prompts are checked before
   * anything is sent; the requests share the concurrency bound, and the first failure cancels
   * the rest. Results come in the order of `objects`; errors name `promptsField[i]`.
   */
  async segmentEach(image: unknown, objects: SegmentOptions[], call: CallOptions = {}): Promise<SegmentResult[]> {
    if (objects.length === 0) throw new TypeError('segmentEach needs at least one object');
    const field = call.promptsField ?? 'objects';
    const maxObjects = call.maxObjects ?? this.options.maxObjects;
    if (objects.length > maxObjects) {
      throw new Sam2InputError(field, `has ${objects.length} objects, over the limit of ${maxObjects}`, 'Send fewer objects in one message (each is a request), or raise the limit (maxObjects)');
    }
    const prepared = await this.prepare(image, call);
    const plans = objects.map((prompts, i) => this.plan(prepared, prompts, `${field}[${i}]`));
    const failed = new AbortController();
    const linked = linkSignals(call.signal ? [call.signal, failed.signal] : [failed.signal]);
    try {
      return await Promise.all(
        plans.map((plan) =>
          this.send(plan, { ...call, signal: linked.signal }).catch((err: unknown) => {
            failed.abort(err);
            throw err;
          }),
        ),
      );
    } finally {
      linked.release();
    }
  }

  private async prepare(image: unknown, call: CallOptions): Promise<PreparedImage> {
    if (this.closing.signal.aborted) throw new Sam2NetworkError('this SAM2 client is closed');
    const imageField = call.imageField ?? 'image';
    return prepareImage(imageBytes(image, imageField), {
      field: imageField,
      efficient: this.efficient,
      maxInputPixels: this.options.maxInputPixels,
      allowVector: this.allowVector,
    });
  }

  /** Checks one object's prompts against the prepared image and decides what to ask for. */
  private plan(prepared: PreparedImage, prompts: SegmentOptions, promptsField: string): RequestPlan {
    const checked = checkPrompts(prompts, prepared.width, prepared.height, promptsField);
    const threshold: unknown = prompts.threshold ?? 0;
    if (typeof threshold !== 'number' || !Number.isFinite(threshold)) {
      throw new Sam2InputError(`${promptsField}.threshold`, `is ${JSON.stringify(threshold) ?? String(threshold)}, not a finite number`, "Use a number such as 0 (SAM2's own threshold) or 0.5");
    }
    const fields = {
      model_id: prompts.modelId || this.modelId,
      ...promptFields(checked, prepared.uploadWidth / prepared.width, prepared.uploadHeight / prepared.height, promptsField),
      // Binary masks are a quarter of the text of logits; other thresholds are rebuilt from the 256x256 logits.
      return_logits: 'false',
    };
    const shrunk = prepared.uploadWidth !== prepared.width || prepared.uploadHeight !== prepared.height;
    return { prepared, fields, count: checked.multimask ? 3 : 1, threshold, rebuild: shrunk || threshold !== 0, returnLogits: prompts.returnLogits ?? true };
  }

  private async send({ prepared, fields, count, threshold, rebuild, returnLogits }: RequestPlan, call: CallOptions): Promise<SegmentResult> {
    const linked = linkSignals(call.signal ? [call.signal, this.closing.signal] : [this.closing.signal]);
    const signal = linked.signal;
    try {
      const { decoded, transfer } = await this.limit.run(
        () =>
          this.withRetries(
            (attemptSignal) =>
              this.attempt(prepared, fields, attemptSignal, {
                masks: rebuild ? 'skip' : 'binary',
                logits: rebuild || returnLogits ? 'logits' : 'skip',
                maxBytes: this.options.maxResponseBytes,
                expectedShape: { count, height: prepared.uploadHeight, width: prepared.uploadWidth },
              }),
            signal,
            call.onRetry,
          ),
        signal,
      );
      return { ...assemble(decoded, prepared, { rebuild, threshold, returnLogits }), transfer };
    } finally {
      linked.release();
    }
  }

  /** Ends every request in flight and the connection pool; leaves no socket or timer behind. */
  async close(): Promise<void> {
    this.closing.abort(new Sam2NetworkError('this SAM2 client was closed'));
    await this.pool.destroy();
  }

  private async withRetries<T>(send: (signal: AbortSignal) => Promise<T>, signal: AbortSignal, onRetry?: CallOptions['onRetry']): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await send(signal);
      } catch (err) {
        signal.throwIfAborted();
        if (attempt >= this.options.retries || !isRetryable(err)) throw err;
        const delayMs = backoff(attempt, err);
        onRetry?.({ attempt: attempt + 1, retries: this.options.retries, delayMs, error: err as Error });
        await sleep(delayMs, signal);
      }
    }
  }

  private async attempt(
    prepared: PreparedImage,
    fields: Record<string, string>,
    signal: AbortSignal,
    decode: Parameters<typeof decodeSegmentResponse>[1],
  ): Promise<{ decoded: DecodedResponse; transfer: NonNullable<SegmentResult['transfer']> }> {
    const form = new FormData();
    form.append('image', new Blob([prepared.upload], { type: prepared.contentType }), prepared.contentType === 'image/png' ? 'image.png' : 'image.jpg');
    for (const [name, value] of Object.entries(fields)) form.append(name, value);

    const deadline = new AbortController();
    const timer = setTimeout(
      () => deadline.abort(new Sam2NetworkError(`no complete answer within ${this.options.timeoutMs} ms (timeoutMs)`)),
      this.options.timeoutMs,
    );
    const linked = linkSignals([signal, deadline.signal]);
    const attemptSignal = linked.signal;
    try {
      const response = await this.pool.request({
        path: this.route,
        method: 'POST',
        body: form,
        headers: this.token ? { authorization: `Bearer ${this.token}` } : {},
        signal: attemptSignal,
      });
      if (response.statusCode >= 300 && response.statusCode < 400) {
        // Never followed: the token is for this server only, and the answer belongs to the route asked.
        await response.body.dump({ limit: ERROR_BODY_LIMIT }).catch(() => undefined);
        throw redirectError(response.statusCode, response.headers.location, this.url);
      }
      if (response.statusCode !== 200) {
        const compressed = contentEncodings(response.headers['content-encoding']).some((e) => e !== 'identity');
        const text = await readLimited(response.body, ERROR_BODY_LIMIT);
        const body = compressed ? 'compressed' : errorBodyKind(text);
        const detail = compressed ? `a compressed error body (Content-Encoding: ${String(response.headers['content-encoding'])}), not read` : errorDetail(response.statusCode, text);
        throw new Sam2ApiError(response.statusCode, detail, parseRetryAfter(response.headers['retry-after']), { body });
      }
      checkContentEncoding(response.headers['content-encoding'], this.url);
      let receivedBytes = 0;
      const counted = (async function* () {
        for await (const chunk of response.body) {
          receivedBytes += chunk.length;
          yield chunk as Uint8Array;
        }
      })();
      const decoded = await decodeSegmentResponse(counted, { ...decode, signal: attemptSignal });
      return { decoded, transfer: { sentBytes: prepared.upload.length, receivedBytes } };
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      if (deadline.signal.aborted) throw deadline.signal.reason;
      throw networkError(err, this.url);
    } finally {
      clearTimeout(timer);
      linked.release();
    }
  }
}

function positive(value: number | undefined, fallback: number, name: string, max = Infinity): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a positive number, got ${value}`);
  if (value > max) throw new RangeError(`${name} must be at most ${max} (what Node's timers hold), got ${value}`);
  return value;
}

/** A 3xx answer, in words: where it points, and that it was not followed. */
function redirectError(status: number, location: string | string[] | undefined, url: string): Sam2ApiError {
  const raw = Array.isArray(location) ? location[0] : location;
  let target: string | undefined;
  try {
    const parsed = new URL(raw ?? '', `${url}/`);
    parsed.username = '';
    parsed.password = '';
    target = raw ? parsed.toString() : undefined;
  } catch {
    target = undefined;
  }
  const detail = target
    ? `${url} redirects to ${target}; redirects are not followed, so the token goes nowhere else: set the endpoint's URL to the address it points to, if you trust it`
    : `${url} answered with a redirect that names no valid address; check the endpoint's URL`;
  return new Sam2ApiError(status, detail, undefined, { body: 'redirect', location: target });
}

function isRetryable(err: unknown): boolean {
  if (err instanceof Sam2ApiError) return RETRY_STATUSES.has(err.status);
  return err instanceof Sam2NetworkError && err.retryable;
}

/** Exponential backoff with full jitter, or the server's Retry-After when it gave one. */
function backoff(attempt: number, err: unknown): number {
  if (err instanceof Sam2ApiError && err.retryAfterMs !== undefined) return Math.min(err.retryAfterMs, BACKOFF_MAX_MS * 3);
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** attempt);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

async function readLimited(body: AsyncIterable<Uint8Array> & { destroy(): unknown }, limit: number): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    parts.push(Buffer.from(chunk));
    size += chunk.length;
    if (size >= limit) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(parts).subarray(0, limit).toString('utf8');
}

/** undici's errors, in words a flow author can act on; our own errors pass through. */
function networkError(err: unknown, url: string): unknown {
  if (err instanceof Sam2ApiError || err instanceof Sam2DecodeError || err instanceof Sam2NetworkError) return err;
  const code = (err as { code?: string }).code ?? '';
  const cause = (err as { cause?: { code?: string } }).cause;
  const causeCode = cause?.code ?? '';
  if (err instanceof undiciErrors.HeadersTimeoutError) return new Sam2NetworkError(`${url} sent no answer in time (firstByteTimeoutMs)`, { cause: err });
  if (err instanceof undiciErrors.BodyTimeoutError) return new Sam2NetworkError(`the answer from ${url} stalled (stallTimeoutMs)`, { cause: err });
  if (CONNECTION_CODES.has(code) || CONNECTION_CODES.has(causeCode)) {
    return new Sam2NetworkError(`connection to ${url} failed: ${causeCode || code}`, { cause: err, retryable: true });
  }
  const tlsCode = causeCode || code;
  if (UNTRUSTED_CERTIFICATE_CODES.has(tlsCode)) {
    return new Sam2NetworkError(
      `the certificate of ${url} is not trusted (${tlsCode}): for a runner with a private certificate authority, set the endpoint's CA file to that authority's PEM file`,
      { cause: err },
    );
  }
  if (tlsCode === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return new Sam2NetworkError(`the certificate of ${url} is for another host name (${tlsCode}): use the name it was issued for in the URL`, { cause: err });
  }
  if (err instanceof Error && /certificate|self.signed|SSL|TLS/i.test(`${code} ${causeCode} ${err.message}`)) {
    return new Sam2NetworkError(`TLS check of ${url} failed (${tlsCode || err.message}); TLS is always verified: fix the certificate, or for a private CA set the endpoint's CA file`, { cause: err });
  }
  // undici's parser and header errors (HTTPParserError, often without a code; HPE_*, UND_ERR_*): the answer is not HTTP as it should be.
  const name = err instanceof Error ? err.name : '';
  if (err instanceof undiciErrors.UndiciError || name === 'HTTPParserError' || /^(HPE_|UND_ERR_)/.test(code) || /^(HPE_|UND_ERR_)/.test(causeCode)) {
    const what = (err as Error).message || code;
    return new Sam2NetworkError(`the answer from ${url} is not well-formed HTTP (${code || causeCode || name}: ${what}); check the URL and any proxy in front of the runner`, { cause: err });
  }
  return err;
}

function assemble(
  decoded: DecodedResponse,
  prepared: PreparedImage,
  how: { rebuild: boolean; threshold: number; returnLogits: boolean },
): Omit<SegmentResult, 'transfer'> {
  const { width, height } = prepared;
  const count = decoded.scores.length;
  if (count === 0) throw new Sam2ApiError(200, 'the server answered without any mask (the gateway does this when its runner failed)');
  const cell = LOW_RES_SIZE * LOW_RES_SIZE;
  const logits = decoded.logits?.data;
  const masks: Sam2Mask[] = [];
  for (let c = 0; c < count; c++) {
    const low = logits?.subarray(c * cell, (c + 1) * cell);
    const mask = how.rebuild
      ? maskFromLogits(low as Float32Array, LOW_RES_SIZE, LOW_RES_SIZE, width, height, how.threshold)
      : (decoded.masks?.data as Uint8Array).subarray(c * width * height, (c + 1) * width * height);
    const { area, bbox } = maskStats(mask, width, height);
    masks.push({ mask, score: decoded.scores[c], area, bbox, ...(how.returnLogits && low ? { logits: low.slice() } : {}) });
  }
  // The API sends best first; sorting again costs nothing and protects every consumer's "masks[0] is best".
  masks.sort(byScore);
  return { width, height, masks };
}
