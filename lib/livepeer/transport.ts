/**
 * The Livepeer AI `segment-anything-2` API as a backend (shared API.md): the gateway, Studio
 * or a self-hosted runner. Its two steps of the pipeline (lib/pipeline.ts):
 * - prepare: the image as JPEG or PNG the runner reads, at 1024x1024 in efficient mode;
 * - run: the multipart form over a pooled connection, retried where it is worth it, the answer
 *   decoded as it streams in (lib/decode-response.ts) within a deadline and a size limit.
 */
import { Blob } from 'node:buffer';
import { FormData, Pool } from 'undici';
import { errorDetail, parseRetryAfter } from '../api-error';
import { decodeSegmentResponse, type DecodedResponse, type DecodeOptions } from '../decode-response';
import { Sam2ApiError, Sam2NetworkError } from '../errors';
import { prepareImage, type PreparedImage } from '../image-input';
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
  ca?: string | Buffer;
}

export class LivepeerTransport implements Backend<PreparedImage> {
  /** The base URL as given, without a trailing slash: what error messages name. */
  readonly url: string;
  readonly modelId: string;
  private readonly route: string;
  private readonly pool: Pool;

  constructor(private readonly options: TransportOptions) {
    const base = new URL(options.url);
    this.url = base.origin + base.pathname.replace(/\/+$/, '');
    this.route = `${base.pathname.replace(/\/+$/, '')}/segment-anything-2`;
    this.modelId = options.modelId;
    this.pool = new Pool(base.origin, {
      connections: options.connections,
      connect: { timeout: options.connectTimeoutMs, ...(options.ca ? { ca: options.ca } : {}) },
      headersTimeout: options.firstByteTimeoutMs,
      bodyTimeout: options.stallTimeoutMs,
    });
  }

  prepare(bytes: Buffer, call: CallOptions): Promise<PreparedImage> {
    return prepareImage(bytes, { field: call.imageField, efficient: this.options.efficient, maxInputPixels: this.options.maxInputPixels });
  }

  async run(request: PlannedRequest<PreparedImage>, signal: AbortSignal, call: CallOptions): Promise<BackendAnswer> {
    const { frame, prompts, count, threshold, returnLogits, modelId } = request;
    const fields = {
      model_id: modelId,
      ...promptFields(prompts, frame.uploadWidth / frame.width, frame.uploadHeight / frame.height),
      // Binary masks are a quarter of the text of logits; other thresholds are rebuilt from the 256x256 logits.
      return_logits: 'false',
    };
    // A shrunk upload's masks are the wrong size, and another threshold needs the logits: then
    // the masks' text is skipped and they are made from the logits (assemble-masks.ts).
    const rebuild = frame.uploadWidth !== frame.width || frame.uploadHeight !== frame.height || threshold !== 0;
    const decode: DecodeOptions = {
      masks: rebuild ? 'skip' : 'binary',
      logits: rebuild || returnLogits ? 'logits' : 'skip',
      maxBytes: this.options.maxResponseBytes,
      expectedShape: { count, height: frame.uploadHeight, width: frame.uploadWidth },
    };
    const { decoded, transfer } = await withRetries((attemptSignal) => this.attempt(frame, fields, attemptSignal, decode), this.options.retries, signal, call.onRetry);
    return {
      scores: decoded.scores,
      logits: decoded.logits?.data as Float32Array | undefined,
      masks: rebuild ? undefined : (decoded.masks?.data as Uint8Array | undefined),
      transfer,
    };
  }

  /** Ends the connection pool and every request on it. */
  async close(): Promise<void> {
    await this.pool.destroy();
  }

  private async attempt(
    prepared: PreparedImage,
    fields: Record<string, string>,
    signal: AbortSignal,
    decode: DecodeOptions,
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
      const response = await this.pool.request({
        path: this.route,
        method: 'POST',
        body: form,
        headers: this.options.token ? { authorization: `Bearer ${this.options.token}` } : {},
        signal: attemptSignal,
      });
      if (response.statusCode !== 200) {
        const text = await readLimited(response.body, ERROR_BODY_LIMIT);
        throw new Sam2ApiError(response.statusCode, errorDetail(response.statusCode, text), parseRetryAfter(response.headers['retry-after']));
      }
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
