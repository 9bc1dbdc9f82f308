/**
 * The runtime side of both nodes' editors. The sam2-segment dialog shows the node's last
 * frame and tries prompts on it; the sam2-endpoint dialog tests its settings. Both run here
 * and not in the browser, because the endpoint's token must never reach the browser.
 */
import type { Node, NodeAPI } from '@node-red/registry';
import type { Request, Response } from 'express';
import sharp from 'sharp';
import { clientOptions, endpointUrl, type EndpointSettings, type Sam2EndpointNode } from './endpoint-settings';
import { Sam2Client, type SegmentOptions } from './lib/client';
import { Sam2ApiError, Sam2DecodeError, Sam2InputError, Sam2NetworkError } from './lib/errors';
import { maskToPng } from './lib/mask-png';
import type { SegmentResult } from './lib/types';

export interface NodeEditorLink {
  /** Every frame the node reads. */
  frame(bytes: Buffer): void;
  /** Every answer, with the frame it answers. */
  answer(bytes: Buffer, result: SegmentResult): void;
  close(): void;
}

export interface EditorConfig {
  preview?: boolean;
  /** The live preview's mask colour, '#rrggbb'. */
  overlayColor?: string;
}

/** The frame the dialog shows is at most this many pixels on its long side. */
const FRAME_LONG_SIDE = 800;
/** The live preview under the node in the workspace. */
const PREVIEW_LONG_SIDE = 160;
const PREVIEW_INTERVAL_MS = 500;
const PREVIEW_OPACITY = 0.5;
const DEFAULT_PREVIEW_COLOR = '#ff3b30';
/** A photo opened in the dialog arrives as a data URL in JSON: a third larger than the file. */
const TRY_BODY_LIMIT = 20 * 1024 * 1024;
const TEST_IMAGE_SIZE = 64;
/** What Node-RED puts in a password field of a dialog when a value is stored. */
const STORED_PASSWORD = '__PWRD__';

interface Thumbnail {
  jpeg: Buffer;
  /** The frame's own size, upright: the pixels the dialog's coordinates are in. */
  width: number;
  height: number;
}

interface Frame {
  bytes: Buffer;
  thumbnail?: Promise<Thumbnail>;
}

interface EditorState {
  last?: Frame;
  /** The frame whose thumbnail the dialog got last: a camera moves on while the user clicks, and Try must segment what they see. */
  shown?: Frame;
  setPreview(enabled: boolean): void;
}

const states = new WeakMap<object, EditorState>();

export function attachEditor(RED: NodeAPI, node: Node, config: EditorConfig): NodeEditorLink {
  const topic = `sam2-segment/preview/${node.id}`;
  const color = parseColor(config.overlayColor) ?? parseColor(DEFAULT_PREVIEW_COLOR)!;
  let preview = config.preview === true;
  let closed = false;
  let pending: { bytes: Buffer; result: SegmentResult } | undefined;
  let timer: NodeJS.Timeout | undefined;
  let rendering = false;
  let lastSent = 0;

  const state: EditorState = {
    setPreview(enabled) {
      preview = enabled;
      if (!enabled) {
        pending = undefined;
        clearTimeout(timer);
        timer = undefined;
        // Every open editor drops the image, not only the one whose button was pressed.
        RED.comms.publish(topic, { enabled: false }, false);
      }
    },
  };
  states.set(node, state);

  const schedule = (): void => {
    if (timer || rendering || closed || !pending) return;
    timer = setTimeout(flush, Math.max(0, lastSent + PREVIEW_INTERVAL_MS - Date.now()));
  };
  const flush = (): void => {
    timer = undefined;
    const job = pending;
    pending = undefined;
    if (!job || !preview || closed) return;
    rendering = true;
    lastSent = Date.now();
    previewImage(job.bytes, job.result, color)
      .then((image) => {
        if (preview && !closed) RED.comms.publish(topic, { enabled: true, ...image }, false);
      })
      .catch((err: Error) => node.warn(`live preview: ${err.message}`))
      .finally(() => {
        rendering = false;
        schedule();
      });
  };

  return {
    frame(bytes) {
      // Only a reference: a camera at 10 fps on a Raspberry Pi must not pay for thumbnails
      // that nobody looks at. The dialog's JPEG is made when it asks, once per frame.
      state.last = { bytes };
    },
    answer(bytes, result) {
      if (!preview || closed || result.masks.length === 0) return;
      pending = { bytes, result };
      schedule();
    },
    close() {
      closed = true;
      pending = undefined;
      clearTimeout(timer);
      timer = undefined;
      states.delete(node);
    },
  };
}

function parseColor(text: string | undefined): [number, number, number] | undefined {
  const hex = /^#([0-9a-f]{6})$/i.exec(text ?? '');
  if (!hex) return undefined;
  const n = parseInt(hex[1], 16);
  return [n >> 16, (n >> 8) & 255, n & 255];
}

function thumbnailOf(frame: Frame): Promise<Thumbnail> {
  frame.thumbnail ??= (async () => {
    const meta = await sharp(frame.bytes)
      .metadata()
      .catch(() => ({ width: 0, height: 0, orientation: 1 }));
    if (!meta.width || !meta.height) throw new RouteError(415, 'The last frame is not an image this runtime can read');
    const turned = (meta.orientation ?? 1) >= 5;
    const jpeg = await sharp(frame.bytes)
      .rotate()
      .resize(FRAME_LONG_SIDE, FRAME_LONG_SIDE, { fit: 'inside', withoutEnlargement: true })
      .jpeg({ quality: 85 })
      .toBuffer();
    return { jpeg, width: turned ? meta.height : meta.width, height: turned ? meta.width : meta.height };
  })();
  // A frame that fails once fails again: keep the rejection, but never leave it unhandled.
  frame.thumbnail.catch(() => undefined);
  return frame.thumbnail;
}

/** The frame, small, with the best mask tinted over it, as a data URL. */
async function previewImage(bytes: Buffer, result: SegmentResult, [r, g, b]: [number, number, number]) {
  const { width, height } = result;
  const scale = PREVIEW_LONG_SIDE / Math.max(width, height);
  const w = Math.max(1, Math.round(width * scale));
  const h = Math.max(1, Math.round(height * scale));
  const rgb = await sharp(bytes).rotate().resize(w, h, { fit: 'fill' }).removeAlpha().raw().toBuffer();
  const best = result.masks[0];
  const keep = 1 - PREVIEW_OPACITY;
  for (let y = 0; y < h; y++) {
    const row = Math.min(height - 1, Math.floor(((y + 0.5) * height) / h)) * width;
    for (let x = 0; x < w; x++) {
      if (!best.mask[row + Math.min(width - 1, Math.floor(((x + 0.5) * width) / w))]) continue;
      const i = (y * w + x) * 3;
      rgb[i] = rgb[i] * keep + r * PREVIEW_OPACITY;
      rgb[i + 1] = rgb[i + 1] * keep + g * PREVIEW_OPACITY;
      rgb[i + 2] = rgb[i + 2] * keep + b * PREVIEW_OPACITY;
    }
  }
  const jpeg = await sharp(rgb, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 75 }).toBuffer();
  return { image: `data:image/jpeg;base64,${jpeg.toString('base64')}`, width: w, height: h, score: best.score };
}

/** A refusal with the status and words the dialog shows. */
class RouteError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** `application/json` and `application/<anything>+json`. */
const JSON_TYPE = /^application\/([\w.-]+\+)?json\s*(;|$)/i;

/**
 * The JSON body. Node-RED's admin app parses `application/json` itself, up to `apiMaxLength`
 * (5 MB unless set); a photo is bigger, so the dialog sends its own `+json` type, which
 * Node-RED leaves unread for us. Other types are refused, even those Node-RED has parsed: a
 * web page may post text or form data to this machine without the browser asking first, but
 * not JSON.
 */
async function jsonBody(req: Request, limit: number): Promise<Record<string, unknown>> {
  if (!JSON_TYPE.test(req.headers['content-type'] ?? '')) throw new RouteError(415, 'Send the request as JSON');
  let body: unknown = req.body;
  if (!req.readableEnded) {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) throw new RouteError(413, `The request is over ${limit / 1024 / 1024} MB: open a smaller image`);
      chunks.push(chunk);
    }
    try {
      body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
    } catch {
      throw new RouteError(400, 'The request body is not JSON');
    }
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new RouteError(400, 'The request body must be a JSON object');
  return body as Record<string, unknown>;
}

function stateOf(RED: NodeAPI, id: string): EditorState | undefined {
  const node = RED.nodes.getNode(id) as Node | null;
  return node ? states.get(node) : undefined;
}

type Handler = (req: Request, res: Response) => Promise<void>;

/** Every refusal as `{ error }` with its status; anything unexpected is logged and answered 500. */
function route(RED: NodeAPI, handler: Handler): (req: Request, res: Response) => void {
  return (req, res) => {
    handler(req, res).catch((err: Error) => {
      if (res.headersSent) return;
      if (err instanceof RouteError) {
        res.status(err.status).json({ error: err.message });
      } else {
        RED.log.warn(`sam2 editor: ${req.method} ${req.path}: ${err.message}`);
        res.status(500).json({ error: err.message });
      }
    });
  };
}

const registered = new WeakSet<object>();

export function registerEditorRoutes(RED: NodeAPI): void {
  // Both node files call this; the admin app is what must not get the routes twice.
  if (registered.has(RED.httpAdmin)) return;
  registered.add(RED.httpAdmin);
  const app = RED.httpAdmin;

  app.get(
    '/sam2-segment/:id/frame',
    RED.auth.needsPermission('sam2-segment.read'),
    route(RED, async (req, res) => {
      const state = stateOf(RED, String(req.params.id));
      if (!state) throw new RouteError(404, 'This node is not deployed yet: deploy it and send it an image, or open an image file here');
      const frame = state.last;
      if (!frame) throw new RouteError(404, 'No frame yet: send the node an image, or open an image file here');
      const thumbnail = await thumbnailOf(frame);
      state.shown = frame;
      res.set({
        'Content-Type': 'image/jpeg',
        'Cache-Control': 'no-store',
        'X-Sam2-Frame-Width': String(thumbnail.width),
        'X-Sam2-Frame-Height': String(thumbnail.height),
      });
      res.send(thumbnail.jpeg);
    }),
  );

  app.post(
    '/sam2-segment/:id/try',
    RED.auth.needsPermission('sam2-segment.write'),
    route(RED, async (req, res) => {
      const body = await jsonBody(req, TRY_BODY_LIMIT);
      if (typeof body.endpoint !== 'string' || !body.endpoint) throw new RouteError(400, 'Choose an endpoint first');
      const endpoint = RED.nodes.getNode(body.endpoint) as Sam2EndpointNode | null;
      if (!endpoint) throw new RouteError(409, 'The endpoint is not deployed yet: deploy it, then try again');
      if (endpoint.type !== 'sam2-endpoint') throw new RouteError(400, `Node ${body.endpoint} is not a sam2-endpoint`);
      if (!endpoint.client) throw new RouteError(409, `The endpoint's settings are not usable: ${endpoint.problem}`);
      const opened = body.image !== undefined && body.image !== null && body.image !== '';
      let image: unknown = body.image;
      if (!opened) {
        const state = stateOf(RED, String(req.params.id));
        const frame = state?.shown ?? state?.last;
        if (!frame) throw new RouteError(404, 'No frame to try on: send the node an image, or open an image file here');
        image = frame.bytes;
      }
      const abort = new AbortController();
      res.on('close', () => {
        if (!res.writableFinished) abort.abort(new Error('the editor stopped waiting'));
      });
      const prompts: SegmentOptions = {
        points: body.points as SegmentOptions['points'],
        labels: body.labels as SegmentOptions['labels'],
        box: (body.box ?? undefined) as SegmentOptions['box'],
        multimask: body.multimask as boolean | undefined,
        normalizeCoords: body.normalizeCoords as boolean | undefined,
        returnLogits: false,
      };
      if (body.threshold !== undefined) prompts.threshold = body.threshold as number;
      const started = Date.now();
      let result: SegmentResult;
      try {
        result = await endpoint.client.segment(image, prompts, {
          signal: abort.signal,
          imageField: opened ? 'the opened image' : 'the last frame',
          promptsField: 'prompts',
        });
      } catch (err) {
        throw asRouteError(err);
      }
      const timeMs = Date.now() - started;
      const masks = await Promise.all(
        result.masks.map(async (m) => ({
          png: `data:image/png;base64,${(await maskToPng(m.mask, result.width, result.height)).toString('base64')}`,
          score: m.score,
          area: m.area,
          bbox: m.bbox,
        })),
      );
      res.json({ width: result.width, height: result.height, timeMs, masks });
    }),
  );

  app.post(
    '/sam2-segment/:id/preview',
    RED.auth.needsPermission('sam2-segment.write'),
    route(RED, async (req, res) => {
      const body = await jsonBody(req, 1024);
      if (typeof body.enabled !== 'boolean') throw new RouteError(400, 'Send { "enabled": true } or { "enabled": false }');
      const state = stateOf(RED, String(req.params.id));
      if (!state) throw new RouteError(404, 'This node is not deployed yet: deploy it first');
      state.setPreview(body.enabled);
      res.json({ preview: body.enabled });
    }),
  );

  app.post(
    '/sam2-endpoint/test',
    RED.auth.needsPermission('sam2-endpoint.write'),
    route(RED, async (req, res) => {
      const body = await jsonBody(req, 64 * 1024);
      const settings = (body.settings ?? {}) as EndpointSettings;
      // Only an endpoint's own token: the id comes from the browser, and another node's
      // credentials must not be sent to a URL typed in this dialog.
      const own = typeof body.id === 'string' && (RED.nodes.getNode(body.id) as Node | null)?.type === 'sam2-endpoint';
      const stored = own ? (RED.nodes.getCredentials(body.id as string) as { token?: string } | undefined) : undefined;
      const token = typeof body.token === 'string' && body.token !== STORED_PASSWORD ? body.token : (stored?.token ?? '');
      res.json(await testEndpoint(settings, token));
    }),
  );
}

/** What the dialogs show for a failed Try: the server's own words, and its status. */
function asRouteError(err: unknown): Error {
  if (err instanceof Sam2InputError) return new RouteError(400, err.message);
  if (err instanceof Sam2ApiError) return new RouteError(502, err.message);
  if (err instanceof Sam2NetworkError) return new RouteError(504, err.message);
  if (err instanceof Sam2DecodeError) return new RouteError(502, err.message);
  return err instanceof Error ? err : new Error(String(err));
}

interface EndpointTestResult {
  ok: boolean;
  /** Whether anything answered; null when the settings stopped the test before it was sent. */
  reachable: boolean | null;
  /** null when the server does not say (no token asked for, or it did not get that far). */
  tokenAccepted: boolean | null;
  modelAnswered: boolean;
  timeMs: number;
  /** The endpoint's base URL, without any user:password part. */
  url?: string;
  /** What happened and what to do about it, for the dialog. */
  message: string;
}

/** A small picture with one obvious object, so any working endpoint finds a mask at its centre. */
async function testImage(): Promise<Buffer> {
  const size = TEST_IMAGE_SIZE;
  const rgb = Buffer.alloc(size * size * 3, 40);
  const c = size / 2;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      if ((x + 0.5 - c) ** 2 + (y + 0.5 - c) ** 2 <= (size / 4) ** 2) rgb.fill(220, (y * size + x) * 3, (y * size + x) * 3 + 3);
    }
  }
  return sharp(rgb, { raw: { width: size, height: size, channels: 3 } }).png().toBuffer();
}

function publicUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}

/** The first `code` along an error's causes: what undici and Node say went wrong underneath. */
function causeCode(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string' && !e.code.startsWith('SAM2_')) return e.code;
  }
  return undefined;
}

const NETWORK_HINTS: Record<string, string> = {
  ENOTFOUND: 'the host name does not resolve: check the URL',
  EAI_AGAIN: 'the host name could not be looked up: check the URL and this machine\'s DNS',
  ECONNREFUSED: 'nothing accepts connections there: check the host and port, and that the server runs',
  ECONNRESET: 'the connection was cut: check the URL\'s scheme (http or https) and any proxy',
  EHOSTUNREACH: 'the host is unreachable from this machine: check the network',
  ENETUNREACH: 'the network is unreachable from this machine',
  UND_ERR_CONNECT_TIMEOUT: 'the connection timed out: check the host, port and firewall',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'its TLS certificate is self-signed: set CA file to the PEM that signed it',
  SELF_SIGNED_CERT_IN_CHAIN: 'its TLS certificate is signed by an unknown authority: set CA file to that authority\'s PEM',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'its TLS certificate cannot be verified: set CA file to the PEM that signed it',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'its TLS certificate\'s issuer is unknown here: set CA file to the issuer\'s PEM',
  CERT_HAS_EXPIRED: 'its TLS certificate has expired',
  ERR_TLS_CERT_ALTNAME_INVALID: 'its TLS certificate is for another host name: check the URL',
  EPROTO: 'TLS failed: check whether the server speaks https or plain http',
};

const MODEL_MISMATCH = /configured with (\S+?) but called with (\S+?)\.?$/;

/**
 * Sends one small image with a point at its centre, with the unsaved settings from the dialog,
 * and says in words what worked and what to change. Never retried: the user waits for it.
 */
async function testEndpoint(settings: EndpointSettings, token: string): Promise<EndpointTestResult> {
  const started = Date.now();
  const say = (result: Omit<EndpointTestResult, 'timeMs'>): EndpointTestResult => {
    const hide = (text: string) => (token ? text.split(token).join('•••') : text);
    return { ...result, message: hide(result.message), url: result.url && hide(result.url), timeMs: Date.now() - started };
  };
  let url: string;
  let client: Sam2Client;
  try {
    url = publicUrl(endpointUrl(settings));
    client = new Sam2Client({ ...clientOptions(settings, token), retries: 0 });
  } catch (err) {
    return say({ ok: false, reachable: null, tokenAccepted: null, modelAnswered: false, message: `The settings are not usable: ${(err as Error).message}` });
  }
  const modelId = client.modelId;
  const c = TEST_IMAGE_SIZE / 2;
  try {
    const result = await client.segment(await testImage(), { points: [[c, c]], labels: [1], multimask: true });
    const best = result.masks[0];
    const found = best ? `${result.masks.length} mask${result.masks.length === 1 ? '' : 's'}, best score ${best.score.toFixed(2)}` : 'no masks';
    const access = token ? 'the token was accepted' : 'no token was needed';
    return say({
      ok: true,
      reachable: true,
      tokenAccepted: token ? true : null,
      modelAnswered: true,
      url,
      message: `Connected to ${url}: ${access}, and ${modelId} answered a 64x64 test image with ${found} in ${Date.now() - started} ms.`,
    });
  } catch (err) {
    return say({ url, ...explainFailure(err, url, modelId, token !== '') });
  } finally {
    await client.close();
  }
}

function explainFailure(err: unknown, url: string, modelId: string, hadToken: boolean): Omit<EndpointTestResult, 'timeMs' | 'url'> {
  const failed = { ok: false, modelAnswered: false };
  if (err instanceof Sam2NetworkError) {
    const hint = NETWORK_HINTS[causeCode(err) ?? ''];
    return { ...failed, reachable: false, tokenAccepted: null, message: `Could not reach ${url}: ${hint ?? err.message}.` };
  }
  if (err instanceof Sam2ApiError) {
    const reached = { ...failed, reachable: true };
    const said = `(${err.status}: ${err.detail})`;
    if (err.status === 401 || err.status === 403) {
      return {
        ...reached,
        tokenAccepted: false,
        message: hadToken
          ? `${url} refused the token ${said}. Check the token: Livepeer Studio needs an API key from its dashboard; a self-hosted runner needs its AUTH_TOKEN.`
          : `${url} needs a token ${said}. Enter the API key or the runner's AUTH_TOKEN.`,
      };
    }
    const mismatch = err.status === 400 ? MODEL_MISMATCH.exec(err.detail) : null;
    if (mismatch) {
      return {
        ...reached,
        tokenAccepted: hadToken ? true : null,
        message: `The token was accepted, but the runner has ${mismatch[1]} loaded, not ${modelId}. Set Model to ${mismatch[1]}.`,
      };
    }
    if (err.status === 404 || err.status === 405) {
      return {
        ...reached,
        tokenAccepted: null,
        message: `A server answered at ${url}, but not the segment-anything-2 route ${said}. The URL should be the gateway's or runner's base, without /segment-anything-2.`,
      };
    }
    if (err.status === 429) {
      return { ...reached, tokenAccepted: hadToken ? true : null, message: `The endpoint is reachable but limits requests right now ${said}. Try again shortly.` };
    }
    if (err.status === 503) {
      return { ...reached, tokenAccepted: null, message: `The gateway is reachable but has no GPU free for ${modelId} now ${said}. Try again later.` };
    }
    return { ...reached, tokenAccepted: null, message: `The endpoint is reachable but answered an error ${said}.` };
  }
  if (err instanceof Sam2DecodeError) {
    return { ...failed, reachable: true, tokenAccepted: null, message: `Something answered at ${url}, but not as a SAM2 endpoint does (${err.message}). Check the URL.` };
  }
  return { ...failed, reachable: null, tokenAccepted: null, message: `The test failed: ${(err as Error).message}` };
}
