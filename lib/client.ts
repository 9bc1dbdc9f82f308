/**
 * The SAM2 client for the Livepeer AI `segment-anything-2` API: one frame in, masks out. It is
 * the shared pipeline (lib/pipeline.ts: prepare, check, plan, bound, assemble) over the
 * Livepeer HTTP transport (lib/livepeer/transport.ts: pool, retries, streaming decode). The
 * Node-RED nodes are a thin layer over it, and it is usable on its own.
 */
import { COMMUNITY_URL, DEFAULT_MODEL_ID, ENDPOINT_DEFAULTS } from './defaults';
import { DEFAULT_MAX_INPUT_PIXELS, type PreparedImage } from './image-input';
import { LivepeerTransport } from './livepeer/transport';
import { SegmentPipeline } from './pipeline';
import { cleanToken } from './token';

export type { CallOptions, RetryInfo, SegmentOptions } from './segmenter';
export { DEFAULT_MODEL_ID };
/** The Livepeer community gateway. */
export const DEFAULT_URL = COMMUNITY_URL;

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
  /**
   * Certificate authorities (PEM) to trust instead of the public ones, for a self-hosted runner
   * with a private CA. TLS is always verified. A promise (a file still being read): requests
   * wait for it, and fail with its error if it rejects.
   */
  ca?: string | Buffer | Promise<string | Buffer>;
  /** Accept SVG input (rasterised at a bounded cost); refused by default. */
  allowVector?: boolean;
  /** Most objects one segmentEach call takes (default 100): each is a request, all held until the last ends. */
  maxObjects?: number;
}

/** Node's timers hold at most 2^31-1 ms; a longer delay fires at once. */
const TIMER_MAX_MS = 2 ** 31 - 1;
const DEFAULT_MAX_OBJECTS = 100;

export class Sam2Client extends SegmentPipeline<PreparedImage> {
  readonly url: string;
  readonly efficient: boolean;

  constructor(options: Sam2ClientOptions = {}) {
    if (options.url !== undefined && !String(options.url).trim()) {
      throw new TypeError("url is empty: give the gateway's or runner's base URL, or leave url out for the community gateway");
    }
    const base = new URL(options.url ?? DEFAULT_URL);
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new TypeError(`url must start with http:// or https://, got ${base.protocol}`);
    }
    const timeoutMs = positive(options.timeoutMs, ENDPOINT_DEFAULTS.timeoutS * 1000, 'timeoutMs', TIMER_MAX_MS);
    const maxConcurrency = positive(options.maxConcurrency, ENDPOINT_DEFAULTS.concurrency, 'maxConcurrency');
    const retries = options.retries ?? ENDPOINT_DEFAULTS.retries;
    if (!Number.isInteger(retries) || retries < 0) throw new RangeError(`retries must be a whole number of 0 or more, got ${options.retries}`);
    const efficient = options.efficient ?? ENDPOINT_DEFAULTS.efficient;
    const transport = new LivepeerTransport({
      url: base.href,
      token: cleanToken(options.token, 'token'),
      modelId: options.modelId || DEFAULT_MODEL_ID,
      efficient,
      timeoutMs,
      connectTimeoutMs: positive(options.connectTimeoutMs, ENDPOINT_DEFAULTS.connectTimeoutS * 1000, 'connectTimeoutMs', TIMER_MAX_MS),
      firstByteTimeoutMs: positive(options.firstByteTimeoutMs, timeoutMs, 'firstByteTimeoutMs', TIMER_MAX_MS),
      stallTimeoutMs: positive(options.stallTimeoutMs, ENDPOINT_DEFAULTS.stallTimeoutS * 1000, 'stallTimeoutMs', TIMER_MAX_MS),
      connections: maxConcurrency,
      retries,
      maxResponseBytes: positive(options.maxResponseBytes, ENDPOINT_DEFAULTS.maxResponseMB * 1024 * 1024, 'maxResponseBytes'),
      maxInputPixels: positive(options.maxInputPixels, DEFAULT_MAX_INPUT_PIXELS, 'maxInputPixels'),
      ca: options.ca,
      allowVector: options.allowVector === true,
    });
    super(transport, maxConcurrency, positive(options.maxObjects, DEFAULT_MAX_OBJECTS, 'maxObjects'));
    this.url = transport.url;
    this.efficient = efficient;
  }
}

function positive(value: number | undefined, fallback: number, name: string, max = Infinity): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a positive number, got ${value}`);
  if (value > max) throw new RangeError(`${name} must be at most ${max} (what Node's timers hold), got ${value}`);
  return value;
}
