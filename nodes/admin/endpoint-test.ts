/**
 * The sam2-endpoint dialog's "Test connection": one small request with the dialog's unsaved
 * settings, and what worked and what to change, in words. It runs in the runtime, because the
 * endpoint's token must never reach the browser.
 *
 * It sends a request to any URL typed in the dialog, so it must not become a way to read other
 * services on this network: of an answer it relays the words of the SAM2 API's own error
 * shapes only (runner, gateway, Studio); of anything else, only what kind of answer it was.
 */
import sharp from 'sharp';
import { endpointUrl, loadClientOptions, localOptions, type EndpointSettings } from '../endpoint-settings';
import { LocalSam2 } from '../../lib/local-model/local-sam2';
import { Sam2Client } from '../../lib/client';
import { Sam2ApiError, Sam2DecodeError, Sam2NetworkError, type ErrorBodyKind } from '../../lib/errors';

const TEST_IMAGE_SIZE = 64;

export interface EndpointTestResult {
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

/** Answers whose words are relayed: the SAM2 API's own error shapes. */
const SAM2_SHAPES = new Set<ErrorBodyKind | undefined>(['runner', 'gateway', 'studio', undefined]);
const KIND_WORDS: Partial<Record<ErrorBodyKind, string>> = {
  json: 'JSON that is not a SAM2 API error',
  html: 'an HTML page',
  text: 'plain text',
  empty: 'an empty body',
  compressed: 'a compressed body',
};

/** The test refused before sending: the saved token is for another origin. */
export function storedTokenElsewhere(savedOrigin: string | undefined, target: string): EndpointTestResult {
  const saved = savedOrigin ? `belongs to ${savedOrigin}` : 'belongs to the address saved with it';
  return {
    ok: false,
    reachable: null,
    tokenAccepted: null,
    modelAnswered: false,
    timeMs: 0,
    url: target,
    message: `Nothing was sent: the saved token ${saved}, and this test goes to ${target}. Type the token for ${target} in Token (or empty the field if it needs none), then test again.`,
  };
}

/**
 * Sends one small image with a point at its centre, with the unsaved settings from the dialog,
 * and says in words what worked and what to change. Never retried: the user waits for it.
 */
export async function testEndpoint(settings: EndpointSettings, token: string): Promise<EndpointTestResult> {
  if (settings.service === 'local') return testLocalModel(settings);
  const started = Date.now();
  const say = (result: Omit<EndpointTestResult, 'timeMs'>): EndpointTestResult => {
    const hide = (text: string) => (token ? text.split(token).join('•••') : text);
    return { ...result, message: hide(result.message), url: result.url && hide(result.url), timeMs: Date.now() - started };
  };
  let url: string;
  let client: Sam2Client;
  try {
    url = publicUrl(endpointUrl(settings));
    client = new Sam2Client({ ...(await loadClientOptions(settings, token)), retries: 0 });
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
    if (err.body === 'redirect') {
      const to = err.location ? new URL(err.location).origin : undefined;
      return {
        ...reached,
        tokenAccepted: null,
        message: to
          ? `${url} answered ${err.status}, a redirect to ${to}. It was not followed, and the token was not sent there: if that is the endpoint, set URL to it.`
          : `${url} answered ${err.status}, a redirect to no valid address. Check the URL.`,
      };
    }
    const own = SAM2_SHAPES.has(err.body);
    const said = own ? `(${err.status}: ${err.detail})` : `(${err.status}, with ${KIND_WORDS[err.body!] ?? 'a body that is not a SAM2 API error'})`;
    if (err.status === 401 || err.status === 403) {
      return {
        ...reached,
        tokenAccepted: false,
        message: hadToken
          ? `${url} refused the token ${said}. Check the token: Livepeer Studio needs an API key from its dashboard; a self-hosted runner needs its AUTH_TOKEN.`
          : `${url} needs a token ${said}. Enter the API key or the runner's AUTH_TOKEN.`,
      };
    }
    const mismatch = own && err.status === 400 ? MODEL_MISMATCH.exec(err.detail) : null;
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
    return own
      ? { ...reached, tokenAccepted: null, message: `The endpoint is reachable but answered an error ${said}.` }
      : { ...reached, tokenAccepted: null, message: `Something answered at ${url} ${said}, but not as a SAM2 endpoint does. Check the URL.` };
  }
  if (err instanceof Sam2DecodeError) {
    // The decoder's words may quote the answer (its keys): say only where it stopped being a SAM2 answer.
    const compressed = /Content-Encoding: ([^\s),]+)/.exec(err.message) ?? /compressed as "([^"]+)" \(Content-Encoding\)/.exec(err.message);
    const what = compressed ? `its answer is compressed (Content-Encoding: ${compressed[1]})` : `its answer is not a SAM2 answer (unreadable in ${err.field} at byte ${err.offset})`;
    return { ...failed, reachable: true, tokenAccepted: null, message: `Something answered at ${url}, but ${what}. Check the URL.` };
  }
  return { ...failed, reachable: null, tokenAccepted: null, message: `The test failed: ${(err as Error).message}` };
}

/**
 * Service `local`: loads the model from the dialog's folder, times one encoder and one decoder
 * run, and segments the test image, so the user sees what a frame and a click will cost here.
 */
async function testLocalModel(settings: EndpointSettings): Promise<EndpointTestResult> {
  const started = Date.now();
  const done = (ok: boolean, message: string): EndpointTestResult => ({ ok, reachable: null, tokenAccepted: null, modelAnswered: ok, message, timeMs: Date.now() - started });
  let model: LocalSam2;
  try {
    model = new LocalSam2({ ...localOptions(settings), cacheSize: 1 });
  } catch (err) {
    return done(false, `The settings are not usable: ${(err as Error).message}`);
  }
  try {
    const info = await model.describe();
    const c = TEST_IMAGE_SIZE / 2;
    const result = await model.segment(await testImage(), { points: [[c, c]], labels: [1], multimask: true });
    const warm = info.warmUp ? `; one frame's encoder takes ${info.warmUp.encodeMs} ms and each click's decoder ${info.warmUp.decodeMs} ms` : '';
    const note = info.runtimeNote ? ` (${info.runtimeNote})` : '';
    return done(
      true,
      `Loaded ${info.modelId}, a ${info.format} export, on ${info.runtime}${note} with ${info.threads} thread${info.threads === 1 ? '' : 's'} in ${info.loadMs} ms${warm}. ` +
        `It answered a 64x64 test image with ${result.masks.length} masks, best score ${result.masks[0].score.toFixed(2)}. ` +
        (info.maskInput ? 'It takes mask inputs, for refining and tracking.' : 'This export takes no mask input: refining and tracking prompt by box and point alone.'),
    );
  } catch (err) {
    return done(false, `The model could not be used: ${(err as Error).message}`);
  } finally {
    await model.close();
  }
}
