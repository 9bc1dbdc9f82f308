/**
 * A local server that speaks the Livepeer AI runner's `segment-anything-2` API (shared
 * API.md) for tests, the demo, benchmarks and offline flow building. It is not SAM2: its
 * masks come from the classical segmenter in segmenter.ts. Everything around them follows
 * the runner: the order of its checks, its status codes and bodies, Python's number text,
 * 256x256 logits and masks resized from them. It can also misbehave on demand (faults.ts).
 *
 * With `model` (the CLI's `--model DIR`) it is a runner of our own: the masks come from real
 * SAM2 in ONNX files on this machine (lib/local-model), everything around them stays the same,
 * so one machine with a GPU or a fast CPU can serve Node-RED instances elsewhere.
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { Sam2InputError } from '../lib/errors';
import { LocalSam2, type LocalSam2Options } from '../lib/local-model/local-sam2';
import { LOW_RES_SIZE } from '../lib/types';
import { answerChunks, type AnswerMask } from './answer';
import { acceptsGzip, gzipChunks, GZIP_MIN_BYTES } from './compress';
import {
  FLAVOURS,
  HttpFailure,
  OOM_ERROR,
  PIPELINE_ERROR,
  defaultFailure,
  errorBody,
  runnerFailure,
  type Flavour,
} from './error-bodies';
import { closed, deliver, FaultSpecError, garbageBytes, mergeFaults, oversizeChunks, parseFaults, type Faults } from './faults';
import { gridPrompts, loadPromptJson, readForm, toNdArray, validateForm, type NdArray, type ReceivedForm } from './request-form';
import { imageFeatures, imageInfo, segment } from './segmenter';

export interface LocalServerOptions {
  /** Default 0: any free port. */
  port?: number;
  /** Default '127.0.0.1'. */
  host?: string;
  /** When set, requests must carry `Authorization: Bearer <token>`. */
  token?: string;
  /** The model the pipeline is configured with; default 'facebook/sam2-hiera-large'. */
  modelId?: string;
  /** Which error body shapes to speak (shared API.md); default 'runner'. */
  flavour?: Flavour;
  /** A fault spec applied to every request (see faults.ts). */
  faults?: string;
  /** A fault spec for the n-th segment request (from 0), or none: mixes faults into long runs. */
  faultsFor?: (n: number) => string | undefined;
  /** Images above this many pixels get the runner's out-of-memory answer; default 50e6. */
  maxPixels?: number;
  /** Serve HTTPS with this key and certificate (PEM), as a self-hosted runner behind TLS does. */
  tls?: { key: string | Buffer; cert: string | Buffer };
  /** Request bodies over this many bytes are refused with 413 as they stream in; default 512 MiB. */
  maxBodyBytes?: number;
  /**
   * Answer with real SAM2 from these ONNX files instead of the classical segmenter. The model is
   * loaded before the server listens, so a wrong folder fails the start with the reason.
   */
  model?: LocalSam2Options;
  /**
   * Gzip answers (level 1, as they stream) for requests whose Accept-Encoding allows it, as
   * a proxy or Starlette's GZipMiddleware in front of a runner would; default false, as the
   * runner itself sends them uncompressed.
   */
  gzip?: boolean;
}

/** What the server received, for tests that check every field arrives as sent. */
export interface ReceivedRequest {
  path: string;
  /** Whether an Authorization header came; the token itself is never kept. */
  authorization: boolean;
  /** Text fields exactly as received. */
  fields: Record<string, string>;
  image?: { filename?: string; contentType?: string; bytes: number; format?: string; width?: number; height?: number };
  /** The status answered; 0 while none has been (or, with `hang`, ever will be). */
  status: number;
}

export interface LocalServer {
  /** Base URL, e.g. http://127.0.0.1:41234 (https with `tls`); the route is `${url}/segment-anything-2`. */
  url: string;
  port: number;
  /** Segment requests received, most recent last, the last 100. */
  requests: ReceivedRequest[];
  /** Segment requests received since the server started, all of them counted. */
  readonly requestCount: number;
  /** The next segment requests get these fault specs, one each, in order. */
  injectFaults(...specs: string[]): void;
  /** TCP connections open now: lets a test see a client really connected, or really let go. */
  openConnections(): number;
  /** With `model`: the loaded model (format, runtime, warm-up times). */
  model?: LocalSam2;
  /** Stops listening and destroys every open connection. */
  close(): Promise<void>;
}

export const DEFAULT_MODEL_ID = 'facebook/sam2-hiera-large';
const DEFAULT_MAX_PIXELS = 50e6;
const MAX_RECORDED = 100;
/** Bodies beyond this are refused as they arrive, never held in memory. */
const MAX_BODY_BYTES = 512 * 1024 * 1024;
/** The debug routes take a small JSON body. */
const MAX_DEBUG_BODY_BYTES = 64 * 1024;
const SEGMENT_ROUTE = /\/segment-anything-2\/?$/;
/** A prefix that is itself the route (`/segment-anything-2/segment-anything-2`) is not served: the runner answers 404. */
const ROUTE_IN_PREFIX = /(^|\/)segment-anything-2(\/|$)/;

/** The route, under any prefix (Studio's `/api/beta/generate`), with or without a trailing slash, once. */
export function isSegmentRoute(path: string): boolean {
  return SEGMENT_ROUTE.test(path) && !ROUTE_IN_PREFIX.test(path.replace(SEGMENT_ROUTE, ''));
}

/** A body over the limit, found while it streamed in. */
class BodyTooLarge extends Error {}

interface Reply {
  status: number;
  headers: Record<string, string>;
  chunks: Iterable<Buffer>;
  /** Known up front for error bodies; streamed answers have none. */
  length?: number;
}

function jsonReply(status: number, body: string, headers: Record<string, string> = {}): Reply {
  const bytes = Buffer.from(body);
  return { status, headers: { 'content-type': 'application/json', ...headers }, chunks: [bytes], length: bytes.length };
}

function failureReply(failure: HttpFailure, flavour: Flavour): Reply {
  return jsonReply(failure.status, errorBody(failure, flavour), failure.headers);
}

/**
 * The whole body; rejects with BodyTooLarge as soon as it passes `limit` (a Content-Length
 * over it is refused before reading). The request is then paused, not destroyed, so the 413
 * can still be written; the connection closes after it.
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.pause();
    return Promise.reject(new BodyTooLarge());
  }
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    const stop = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    const onData = (part: Buffer): void => {
      size += part.length;
      if (size > limit) {
        stop();
        req.pause();
        parts.length = 0;
        reject(new BodyTooLarge());
      } else parts.push(part);
    };
    const onEnd = (): void => {
      stop();
      resolve(Buffer.concat(parts));
    };
    const onError = (err: Error): void => {
      stop();
      reject(err);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

function hostForUrl(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

export async function startLocalServer(options: LocalServerOptions = {}): Promise<LocalServer> {
  const host = options.host ?? '127.0.0.1';
  const modelId = options.modelId ?? DEFAULT_MODEL_ID;
  const flavour = options.flavour ?? 'runner';
  if (!FLAVOURS.includes(flavour)) throw new Error(`flavour must be one of ${FLAVOURS.join(', ')}, not ${JSON.stringify(flavour)}`);
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  const maxBodyBytes = options.maxBodyBytes ?? MAX_BODY_BYTES;
  const token = options.token ? Buffer.from(options.token) : undefined;
  const everyRequest = options.faults ? parseFaults(options.faults) : undefined;
  const queued: Faults[] = [];
  let segmentRequests = 0;
  const requests: ReceivedRequest[] = [];
  const sockets = new Set<Socket>();
  const shutdown = new AbortController();
  // The runner's images are not turned by their EXIF orientation (shared API.md): answer on the stored grid.
  const sam2 = options.model ? new LocalSam2({ ...options.model, applyOrientation: false }) : undefined;
  if (sam2) {
    try {
      await sam2.describe();
    } catch (err) {
      await sam2.close();
      throw err;
    }
  }

  /** The bearer check of the runner and of FastAPI's HTTPBearer: scheme case-insensitive, token exact. */
  const authorized = (req: IncomingMessage): boolean => {
    if (!token) return true;
    const header = req.headers.authorization ?? '';
    const space = header.indexOf(' ');
    if (space < 0 || header.slice(0, space).toLowerCase() !== 'bearer') return false;
    const given = Buffer.from(header.slice(space + 1));
    return given.length === token.length && timingSafeEqual(given, token);
  };
  const unauthorized = (): HttpFailure => runnerFailure(401, 'Invalid bearer token.', { 'www-authenticate': 'Bearer' });

  let requestCount = 0;
  const record = (entry: ReceivedRequest): void => {
    requestCount++;
    requests.push(entry);
    if (requests.length > MAX_RECORDED) requests.splice(0, requests.length - MAX_RECORDED);
  };

  /** The runner's route, check by check in its order. */
  const segmentReply = async (req: IncomingMessage, form: ReceivedForm): Promise<Reply> => {
    const params = validateForm(form);
    if (!authorized(req)) throw unauthorized();
    // The runner compares only a non-empty model_id ("" is the field's default), so an empty
    // or missing one is served by whatever model is loaded; only a gateway, which routes by
    // model id, would fail further on. We answer as the runner does.
    if (params.modelId !== '' && params.modelId !== modelId) {
      throw runnerFailure(400, `pipeline configured with ${modelId} but called with ${params.modelId}.`);
    }
    const arrays: Record<string, NdArray | undefined> = {};
    for (const [name, text] of [
      ['point_coords', params.pointCoords],
      ['point_labels', params.pointLabels],
      ['box', params.box],
      ['mask_input', params.maskInput],
    ] as const) {
      const json = loadPromptJson(name, text);
      arrays[name] = json === undefined ? undefined : toNdArray(json);
    }
    const info = await imageInfo(params.image.bytes);
    if (!info) throw runnerFailure(500, PIPELINE_ERROR);
    if (info.width * info.height > maxPixels) throw runnerFailure(500, OOM_ERROR);
    const prompts = gridPrompts(
      { pointCoords: arrays.point_coords, pointLabels: arrays.point_labels, box: arrays.box, maskInput: arrays.mask_input },
      params.normalizeCoords,
      info.width,
      info.height,
      LOW_RES_SIZE,
    );
    let masks: AnswerMask[];
    if (sam2) {
      masks = await modelMasks(sam2, params.image.bytes, prompts, params.multimask);
    } else {
      let features;
      try {
        features = await imageFeatures(params.image.bytes);
      } catch {
        throw runnerFailure(500, PIPELINE_ERROR);
      }
      masks = segment(features, prompts, params.multimask);
    }
    return {
      status: 200,
      headers: { 'content-type': 'application/json' },
      chunks: answerChunks(masks, info.width, info.height, params.returnLogits),
    };
  };

  /** The answer a fault asks for instead of the real one, if it asks for one. */
  const faultReply = (faults: Faults): Reply | undefined => {
    const status = faults.status ?? 200;
    const body = faults.body;
    if (!body && status === 200) return undefined;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (!body) {
      if (flavour === 'studio' && status === 429) headers['retry-after'] = '1';
      const reply = failureReply(defaultFailure(status, flavour), flavour);
      return { ...reply, headers: { ...reply.headers, ...headers } };
    }
    if (body.kind === 'text') return jsonReply(status, body.text, headers);
    if (body.kind === 'garbage') {
      const bytes = garbageBytes();
      return { status, headers, chunks: [bytes], length: bytes.length };
    }
    return { status, headers, chunks: oversizeChunks(body.bytes) };
  };

  const send = async (res: ServerResponse, reply: Reply, faults: Faults): Promise<void> => {
    const headers = { ...reply.headers };
    if (faults.retryAfter) headers['retry-after'] = faults.retryAfter;
    // Faults act on the bytes on the wire: a cut at byte n cuts the compressed body.
    const compress = options.gzip === true && (reply.length === undefined || reply.length >= GZIP_MIN_BYTES) && acceptsGzip(res.req.headers['accept-encoding']);
    if (options.gzip) headers.vary = 'accept-encoding';
    if (compress) headers['content-encoding'] = 'gzip';
    const length = compress ? undefined : reply.length;
    // A cut body must not promise a length, or the client would wait for the rest.
    const cut = faults.end?.kind === 'reset' || faults.end?.kind === 'truncate';
    if (length !== undefined && !cut) headers['content-length'] = String(length);
    res.writeHead(reply.status, headers);
    if (faults.end?.kind === 'stall') {
      res.flushHeaders();
      await closed(res, shutdown.signal);
      return;
    }
    await deliver(res, compress ? gzipChunks(reply.chunks) : reply.chunks, faults, length, shutdown.signal);
  };

  /** 413 while the body is still arriving; the connection is closed after it, so nothing more is read. */
  const refuseLarge = async (res: ServerResponse, limit: number): Promise<void> => {
    res.shouldKeepAlive = false;
    await send(res, jsonReply(413, errorBody(runnerFailure(413, `Request body over ${limit} bytes`), flavour), { connection: 'close' }), {});
    // The rest of the body is never read: the connection ends once the answer is out.
    res.once('finish', () => res.socket?.destroySoon?.());
    if (res.writableFinished) res.socket?.destroySoon?.();
  };

  const handleSegment = async (req: IncomingMessage, res: ServerResponse, path: string): Promise<void> => {
    // Queued faults belong to requests in their order of arrival, so take one before any await.
    const fromQueue = queued.shift();
    const chosen = options.faultsFor?.(segmentRequests++);
    let body: Buffer;
    try {
      body = await readBody(req, maxBodyBytes);
    } catch (err) {
      if (!(err instanceof BodyTooLarge)) throw err;
      record({ path, authorization: req.headers.authorization !== undefined, fields: {}, status: 413 });
      return refuseLarge(res, maxBodyBytes);
    }
    let faults: Faults = {};
    let faultError: FaultSpecError | undefined;
    try {
      // With a token set, faults by header are for those who hold it, as the debug routes are.
      const header = authorized(req) ? req.headers['x-sam2-fault'] : undefined;
      faults = mergeFaults(everyRequest, chosen ? parseFaults(chosen) : undefined, fromQueue, header ? parseFaults(Array.isArray(header) ? header.join(';') : header) : undefined);
    } catch (err) {
      if (!(err instanceof FaultSpecError)) throw err;
      faultError = err;
    }

    let form: ReceivedForm = { text: {}, files: {} };
    let parseFailure: HttpFailure | undefined;
    try {
      form = await readForm(body, req.headers['content-type']);
    } catch (err) {
      if (!(err instanceof HttpFailure)) throw err;
      parseFailure = err;
    }
    const entry: ReceivedRequest = { path, authorization: req.headers.authorization !== undefined, fields: { ...form.text }, status: 0 };
    const image = form.files.image;
    if (image) {
      const info = await imageInfo(image.bytes);
      entry.image = { filename: image.filename, contentType: image.contentType, bytes: image.bytes.length, ...info };
    }
    record(entry);
    if (faultError) {
      entry.status = 400;
      await send(res, failureReply(runnerFailure(400, `x-sam2-fault: ${faultError.message}`), flavour), {});
      return;
    }

    if (faults.latencyMs) {
      try {
        await delay(faults.latencyMs, undefined, { signal: shutdown.signal });
      } catch {
        return;
      }
    }
    if (faults.end?.kind === 'hang') {
      await closed(res, shutdown.signal);
      return;
    }
    let reply = faultReply(faults);
    if (!reply) {
      try {
        if (parseFailure) throw parseFailure;
        reply = await segmentReply(req, form);
      } catch (err) {
        if (!(err instanceof HttpFailure)) throw err;
        reply = failureReply(err, flavour);
      }
    }
    entry.status = reply.status;
    await send(res, reply, faults);
  };

  const handleDebug = async (req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> => {
    // Every debug path, known or not, answers 401 without the token: nothing about them is told.
    if (!authorized(req)) {
      req.resume();
      await send(res, failureReply(unauthorized(), flavour), {});
      return true;
    }
    if (path === '/debug/requests' && req.method === 'GET') {
      await send(res, jsonReply(200, JSON.stringify(requests)), {});
      return true;
    }
    if (path === '/debug/faults' && req.method === 'POST') {
      let body: string;
      try {
        body = (await readBody(req, MAX_DEBUG_BODY_BYTES)).toString();
      } catch (err) {
        if (!(err instanceof BodyTooLarge)) throw err;
        await refuseLarge(res, MAX_DEBUG_BODY_BYTES);
        return true;
      }
      let reply: Reply;
      {
        try {
          const specs = (JSON.parse(body) as { faults?: unknown }).faults;
          if (!Array.isArray(specs) || !specs.every((s) => typeof s === 'string')) {
            throw new FaultSpecError('send {"faults": ["status=503", ...]}');
          }
          server.injectFaults(...specs);
          reply = jsonReply(200, JSON.stringify({ queued: queued.length }));
        } catch (err) {
          reply = failureReply(runnerFailure(400, `/debug/faults: ${err instanceof Error ? err.message : String(err)}`), flavour);
        }
      }
      await send(res, reply, {});
      return true;
    }
    return false;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://local').pathname;
    if (isSegmentRoute(path)) {
      if (req.method === 'POST') return handleSegment(req, res, path);
      return send(res, jsonReply(405, JSON.stringify({ detail: 'Method Not Allowed' }), { allow: 'POST' }), {});
    }
    if (path === '/health' && req.method === 'GET') return send(res, jsonReply(200, JSON.stringify({ status: 'OK' })), {});
    if (path.startsWith('/debug/') && (await handleDebug(req, res, path))) return;
    req.resume();
    return send(res, jsonReply(404, JSON.stringify({ detail: 'Not Found' })), {});
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch((err: unknown) => {
      if (shutdown.signal.aborted) return;
      console.error('sam2 local server:', err);
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json' }).end(errorBody(runnerFailure(500, PIPELINE_ERROR), flavour));
      } else {
        res.destroy();
      }
    });
  };
  const http = options.tls ? createTlsServer({ key: options.tls.key, cert: options.tls.cert }, onRequest) : createServer(onRequest);
  // 'connection' is the TCP socket for both: the one to destroy on close.
  http.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port ?? 0, host, () => {
      http.off('error', reject);
      resolve();
    });
  });
  const address = http.address();
  const port = typeof address === 'object' && address ? address.port : (options.port ?? 0);

  const server: LocalServer = {
    url: `${options.tls ? 'https' : 'http'}://${hostForUrl(host)}:${port}`,
    port,
    requests,
    get requestCount() {
      return requestCount;
    },
    injectFaults(...specs: string[]): void {
      // All or nothing: a bad spec must not leave half the list queued.
      const parsed = specs.map((spec) => parseFaults(spec));
      queued.push(...parsed);
    },
    openConnections: () => sockets.size,
    ...(sam2 ? { model: sam2 } : {}),
    async close(): Promise<void> {
      shutdown.abort();
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
        for (const socket of sockets) socket.destroy();
      });
      await sam2?.close();
    },
  };
  return server;
}

/**
 * SAM2's masks for the runner's parsed prompts. `gridPrompts` made the runner's checks and put
 * coordinates on the 256 grid; divided by 256 they are relative, exactly (a power of two).
 * Input the model cannot take (e.g. no prompt at all, labels other than 0 and 1, a mask input
 * for an onnx-community export) is a 400 with our words; a model failure is the pipeline's 500.
 */
async function modelMasks(sam2: LocalSam2, image: Buffer, prompts: ReturnType<typeof gridPrompts>, multimask: boolean): Promise<AnswerMask[]> {
  const relative = (v: number): number => v / LOW_RES_SIZE;
  try {
    const answer = await sam2.predict(image, {
      ...(prompts.points.length ? { points: prompts.points.map((p) => [relative(p.x), relative(p.y)] as [number, number]), labels: prompts.points.map((p) => p.label) } : {}),
      ...(prompts.box ? { box: prompts.box.map(relative) as [number, number, number, number] } : {}),
      ...(prompts.maskInput ? { maskInput: prompts.maskInput } : {}),
      multimask,
      normalizeCoords: false,
    });
    return answer.candidates;
  } catch (err) {
    // An image SAM2 cannot read is the pipeline's 500 on the runner too.
    if (err instanceof Sam2InputError && err.field !== 'image') throw runnerFailure(400, err.message);
    console.error('sam2 local server: the model failed:', err instanceof Error ? err.message : err);
    throw runnerFailure(500, PIPELINE_ERROR);
  }
}
