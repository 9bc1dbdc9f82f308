/**
 * The Livepeer AI `segment-anything-2` API as a backend (shared API.md): the gateway, Studio
 * or a self-hosted runner. Its two steps of the pipeline (lib/pipeline.ts):
 * - prepare: the image as JPEG or PNG the runner reads, at 1024x1024 in efficient mode;
 * - run: the multipart form over a pooled connection, retried where it is worth it, the answer
 *   inflated (lib/inflate.ts) and decoded (lib/decode/) as it streams in, within a deadline
 *   and a size limit on the inflated answer.
 */
import { Blob } from 'node:buffer';
import { FormData, Pool } from 'undici';
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

export interface TransportOptions {
  /** Base URL; the route `/segment-anything-2` is appended. */
  url: string;
  token: string;
  modelId: string;
  efficient: boolean;
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

export class LivepeerTransport implements Backend<PreparedImage> {
  /** The base URL as given, without a trailing slash: what error messages name. */
  readonly url: string;
  readonly modelId: string;
  private readonly route: string;
  private readonly origin: string;
  private pool: Pool | undefined;
  /** The pool once the CA file is read, when the CA came as a promise. */
  private readonly poolReady: Promise<Pool> | undefined;
  private closed = false;
  /** The form fields of each planned request, made once when it is checked. */
  private readonly fieldsOf = new WeakMap<PlannedRequest<PreparedImage>, Record<string, string>>();

  constructor(private readonly options: TransportOptions) {
    const base = new URL(options.url);
    this.url = base.origin + base.pathname.replace(/\/+$/, '');
    this.route = `${base.pathname.replace(/\/+$/, '')}/segment-anything-2`;
    this.modelId = options.modelId;
    this.origin = base.origin;
    const ca = options.ca;
    if (ca instanceof Promise) {
      this.poolReady = ca.then((read) => this.makePool(read));
      this.poolReady.catch(() => undefined); // each request reports it
    } else {
      this.pool = this.makePool(ca);
    }
  }

  private makePool(ca: string | Buffer | undefined): Pool {
    if (this.closed) throw new Sam2NetworkError('this SAM2 client was closed');
    this.pool = new Pool(this.origin, {
      connections: this.options.connections,
      connect: { timeout: this.options.connectTimeoutMs, ...(ca ? { ca } : {}) },
      headersTimeout: this.options.firstByteTimeoutMs,
      bodyTimeout: this.options.stallTimeoutMs,
    });
    return this.pool;
  }

  prepare(bytes: Buffer, call: CallOptions): Promise<PreparedImage> {
    return prepareImage(bytes, { field: call.imageField, efficient: this.options.efficient, maxInputPixels: this.options.maxInputPixels, allowVector: this.options.allowVector });
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

  /** Ends the connection pool and every request on it. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.pool) await this.pool.destroy();
    else await this.poolReady?.then((pool) => pool.destroy(), () => undefined);
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
    try {
      const pool = this.pool ?? (await (this.poolReady as Promise<Pool>));
      const response = await pool.request({
        path: this.route,
        method: 'POST',
        body: form,
        // A compressed answer is 15-20x smaller; inflated as it streams (lib/inflate.ts).
        headers: { 'accept-encoding': ACCEPT_ENCODING, ...(this.options.token ? { authorization: `Bearer ${this.options.token}` } : {}) },
        signal: attemptSignal,
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
      throw networkError(err, this.url);
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
