/**
 * The Livepeer AI `segment-anything-2` API as a backend (shared API.md): the gateway, Studio
 * or a self-hosted runner. Its two steps of the pipeline (lib/pipeline.ts):
 * - prepare: the image as JPEG or PNG the runner reads, at 1024x1024 in efficient mode;
 * - run: the multipart form over a pooled connection, retried where it is worth it, the answer
 *   inflated (lib/inflate.ts) and decoded (lib/decode/) as it streams in, within a deadline
 *   and a size limit on the inflated answer.
 *
 * Several runners behind one endpoint (the same path on each) share the work through undici's
 * BalancedPool. A runner that fails the way a stopped or overloaded one does (connection
 * refused or reset, 502, 503, 504) leaves the pool for a cool-down and then comes back, so the
 * retry of the frame it was answering goes to another one. The token goes to each of them:
 * they were saved together as one endpoint; redirects are not followed, so it goes nowhere else.
 */
import { Blob } from 'node:buffer';
import { BalancedPool, FormData, Pool, type Dispatcher } from 'undici';
import { errorBodyKind, errorDetail, parseRetryAfter } from '../api-error';
import { decodeSegmentResponse, type DecodedResponse, type DecodeOptions } from '../decode';
import { Sam2ApiError, Sam2DecodeError, Sam2NetworkError } from '../errors';
import { prepareImage, type PreparedImage } from '../image-input';
import { ACCEPT_ENCODING, inflateBody } from '../inflate';
import { linkSignals } from '../linked-signal';
import type { Backend, BackendAnswer, PlannedRequest } from '../pipeline';
import { promptFields } from '../prompts';
import type { CallOptions } from '../segmenter';
import { networkError } from './network-error';
import { withRetries } from './retry';

const ERROR_BODY_LIMIT = 64 * 1024;

/** How long a failed runner of several is left out before it is tried again. */
export const RUNNER_COOL_DOWN_MS = 10_000;

export interface TransportOptions {
  /** Base URLs, one per runner, all with the same path; the route `/segment-anything-2` is appended. */
  urls: string[];
  token: string;
  modelId: string;
  efficient: boolean;
  /** Side of the square upload in efficient mode. */
  uploadSize: number;
  timeoutMs: number;
  connectTimeoutMs: number;
  firstByteTimeoutMs: number;
  stallTimeoutMs: number;
  /** Connections in the pool: the pipeline's concurrency bound. */
  connections: number;
  retries: number;
  maxResponseBytes: number;
  maxInputPixels: number;
  /** A promise while the CA file is read: the pool is made when it resolves. */
  ca?: string | Buffer | Promise<string | Buffer>;
  /** Accept SVG input, drawn at a bounded cost (lib/vector-image.ts). */
  allowVector?: boolean;
}

/** What an attempt learns about the runner that took it (set as undici hands it to one). */
interface Served {
  origin?: string;
  pool?: Dispatcher;
}

export class LivepeerTransport implements Backend<PreparedImage> {
  /** The first base URL as given, without a trailing slash: what error messages name when no runner took the request. */
  readonly url: string;
  /** Every runner's base URL, without a trailing slash. */
  readonly urls: string[];
  readonly modelId: string;
  private readonly path: string;
  private readonly route: string;
  private readonly origins: string[];
  private pool: Pool | BalancedPool | undefined;
  /** The pool once the CA file is read, when the CA came as a promise. */
  private readonly poolReady: Promise<Pool | BalancedPool> | undefined;
  private readonly coolDowns = new Set<ReturnType<typeof setTimeout>>();
  private closed = false;
  /** The form fields of each planned request, made once when it is checked. */
  private readonly fieldsOf = new WeakMap<PlannedRequest<PreparedImage>, Record<string, string>>();

  constructor(private readonly options: TransportOptions) {
    if (options.urls.length === 0) throw new TypeError('urls must hold at least one URL');
    const bases = options.urls.map((u) => new URL(u));
    this.path = bases[0].pathname.replace(/\/+$/, '');
    const other = bases.find((b) => b.pathname.replace(/\/+$/, '') !== this.path);
    if (other) throw new TypeError(`every runner URL must have the same path: ${bases[0].href} and ${other.href} differ`);
    this.origins = [...new Set(bases.map((b) => b.origin))];
    this.urls = this.origins.map((o) => o + this.path);
    this.url = this.urls[0];
    this.route = `${this.path}/segment-anything-2`;
    this.modelId = options.modelId;
    const ca = options.ca;
    if (ca instanceof Promise) {
      this.poolReady = ca.then((read) => this.makePool(read));
      this.poolReady.catch(() => undefined); // each request reports it
    } else {
      this.pool = this.makePool(ca);
    }
  }

  private makePool(ca: string | Buffer | undefined): Pool | BalancedPool {
    if (this.closed) throw new Sam2NetworkError('this SAM2 client was closed');
    const poolOptions = {
      connections: this.options.connections,
      connect: { timeout: this.options.connectTimeoutMs, ...(ca ? { ca } : {}) },
      headersTimeout: this.options.firstByteTimeoutMs,
      bodyTimeout: this.options.stallTimeoutMs,
    };
    if (this.origins.length === 1) {
      this.pool = new Pool(this.origins[0], poolOptions);
      return this.pool;
    }
    // Each runner's pool tells the attempt it serves which runner it is (through the request's
    // opaque), so a failure leaves that runner out, not another.
    const factory = (origin: string | URL, opts: object): Dispatcher => {
      const pool = new Pool(origin, opts);
      const dispatch = pool.dispatch.bind(pool);
      pool.dispatch = (request, handler) => {
        const served = (request as { opaque?: unknown }).opaque as Served | undefined;
        if (served) {
          served.origin = String(origin).replace(/\/+$/, '');
          served.pool = pool;
        }
        return dispatch(request, handler);
      };
      return pool;
    };
    this.pool = new BalancedPool(this.origins, { ...poolOptions, factory });
    return this.pool;
  }

  prepare(bytes: Buffer, call: CallOptions): Promise<PreparedImage> {
    return prepareImage(bytes, { field: call.imageField, efficient: this.options.efficient, uploadSize: this.options.uploadSize, maxInputPixels: this.options.maxInputPixels, allowVector: this.options.allowVector });
  }

  /** The form fields, made when the request is planned: one over the runner's 1 MiB limit is refused before anything is sent. */
  check(request: PlannedRequest<PreparedImage>): void {
    this.fieldsOf.set(request, this.fields(request));
  }

  private fields({ frame, prompts, modelId, promptsField }: PlannedRequest<PreparedImage>): Record<string, string> {
    return {
      model_id: modelId,
      ...promptFields(prompts, frame.uploadWidth / frame.width, frame.uploadHeight / frame.height, promptsField),
      // Binary masks are a quarter of the text of logits; other thresholds are rebuilt from the 256x256 logits.
      return_logits: 'false',
    };
  }

  async run(request: PlannedRequest<PreparedImage>, signal: AbortSignal, call: CallOptions): Promise<BackendAnswer> {
    const { frame, count, threshold, returnLogits } = request;
    const fields = this.fieldsOf.get(request) ?? this.fields(request);
    // A shrunk upload's masks are the wrong size, and another threshold needs the logits: then
    // the masks' text is skipped and they are made from the logits (assemble-masks.ts).
    const rebuild = frame.uploadWidth !== frame.width || frame.uploadHeight !== frame.height || threshold !== 0;
    const decode: DecodeOptions = {
      masks: rebuild ? 'skip' : 'binary',
      logits: rebuild || returnLogits ? 'logits' : 'skip',
      maxBytes: this.options.maxResponseBytes,
      expectedShape: { count, height: frame.uploadHeight, width: frame.uploadWidth },
    };
    const { decoded, transfer } = await withRetries(
      (attemptSignal) => this.attempt(frame, fields, attemptSignal, decode, call.onProgress),
      this.options.retries,
      signal,
      call.onRetry,
    );
    return {
      scores: decoded.scores,
      logits: decoded.logits?.data as Float32Array | undefined,
      masks: rebuild ? undefined : (decoded.masks?.data as Uint8Array | undefined),
      transfer,
    };
  }

  /** Ends the connection pool and every request on it, and every cool-down's timer. */
  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.coolDowns) clearTimeout(timer);
    this.coolDowns.clear();
    if (this.pool) await this.pool.destroy();
    else await this.poolReady?.then((pool) => pool.destroy(), () => undefined);
  }

  /**
   * A runner of several failed as a stopped or overloaded one does: it leaves the pool (its
   * requests in flight end as they will) and comes back after the cool-down. The last runner
   * in the pool stays: with nowhere else to go, retrying it is all there is.
   */
  private coolDown(err: unknown, served: Served): void {
    if (!(this.pool instanceof BalancedPool) || !served.origin || this.closed) return;
    const runnerFailed = err instanceof Sam2ApiError ? [502, 503, 504].includes(err.status) : err instanceof Sam2NetworkError && err.retryable;
    if (!runnerFailed) return;
    const pool = this.pool;
    if (pool.getUpstream(served.origin) !== served.pool || pool.upstreams.length < 2) return;
    pool.removeUpstream(served.origin);
    const origin = served.origin;
    const timer = setTimeout(() => {
      this.coolDowns.delete(timer);
      if (!this.closed) pool.addUpstream(origin);
    }, RUNNER_COOL_DOWN_MS);
    this.coolDowns.add(timer);
  }

  private async attempt(
    prepared: PreparedImage,
    fields: Record<string, string>,
    signal: AbortSignal,
    decode: DecodeOptions,
    onProgress?: CallOptions['onProgress'],
  ): Promise<{ decoded: DecodedResponse; transfer: NonNullable<BackendAnswer['transfer']> }> {
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
    const served: Served = {};
    try {
      const pool = this.pool ?? (await (this.poolReady as Promise<Pool | BalancedPool>));
      const response = await pool.request({
        path: this.route,
        method: 'POST',
        body: form,
        // A compressed answer is 15-20x smaller; inflated as it streams (lib/inflate.ts).
        headers: { 'accept-encoding': ACCEPT_ENCODING, ...(this.options.token ? { authorization: `Bearer ${this.options.token}` } : {}) },
        signal: attemptSignal,
        opaque: served,
      });
      if (response.statusCode >= 300 && response.statusCode < 400) {
        // Never followed: the token is for this server only, and the answer belongs to the route asked.
        await response.body.dump({ limit: ERROR_BODY_LIMIT }).catch(() => undefined);
        throw redirectError(response.statusCode, response.headers.location, this.url);
      }
      if (response.statusCode !== 200) {
        // Inflated like an answer (lib/inflate.ts): a proxy may compress its error pages too.
        const text = await readLimited(response.body, response.headers['content-encoding'], ERROR_BODY_LIMIT);
        throw new Sam2ApiError(response.statusCode, errorDetail(response.statusCode, text), parseRetryAfter(response.headers['retry-after']), { body: errorBodyKind(text) });
      }
      let receivedBytes = 0;
      const counted = (async function* () {
        for await (const chunk of response.body) {
          receivedBytes += chunk.length;
          onProgress?.({ receivedBytes });
          yield chunk as Uint8Array;
        }
      })();
      // Bytes on the wire are counted; maxBytes applies to the answer once inflated.
      const answer = inflateBody(counted, response.headers['content-encoding'], decode.maxBytes);
      const decoded = await decodeSegmentResponse(answer, { ...decode, signal: attemptSignal });
      return { decoded, transfer: { sentBytes: prepared.upload.length, receivedBytes } };
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      if (deadline.signal.aborted) throw deadline.signal.reason;
      const failure = networkError(err, served.origin ? served.origin + this.path : this.url);
      this.coolDown(failure, served);
      throw failure;
    } finally {
      clearTimeout(timer);
      linked.release();
    }
  }
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

/** An error body's text, at most `limit` bytes of it once inflated; a damaged or unknown encoding reads as what came through. */
async function readLimited(body: AsyncIterable<Uint8Array> & { destroy(): unknown }, encoding: string | string[] | undefined, limit: number): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of inflateBody(body, encoding)) {
      parts.push(Buffer.from(chunk));
      size += chunk.length;
      if (size >= limit) {
        body.destroy();
        break;
      }
    }
  } catch (err) {
    // The status says what went wrong; the encoding of its text must not hide it.
    if (!(err instanceof Sam2DecodeError)) throw err;
    body.destroy();
  }
  return Buffer.concat(parts).subarray(0, limit).toString('utf8');
}
