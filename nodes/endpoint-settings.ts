/**
 * The sam2-endpoint node's saved properties, and how they become client options. Kept apart
 * from the node so the editor's "Test connection" builds its client by the same rules.
 */
import { constants, promises as fs } from 'node:fs';
import type { Node } from '@node-red/registry';
import { Sam2Client, type Sam2ClientOptions } from '../lib/client';
import { BACKEND_SETTINGS, COMMUNITY_URL, DEFAULT_MODEL_ID, ENDPOINT_DEFAULTS, STUDIO_URL } from '../lib/defaults';
import { Sam2InputError } from '../lib/errors';
import { LocalSam2, type LocalSam2Options } from '../lib/local-model/local-sam2';
import type { Segmenter } from '../lib/segmenter';
import { cleanToken } from '../lib/token';
import { rangeSetting, TIMER_MAX_MS } from './setting-ranges';

export interface EndpointCredentials {
  token?: string;
}

/** The running config node, as sam2-segment and the editor's admin routes see it. */
export interface Sam2EndpointNode extends Node<EndpointCredentials> {
  /** The backend its service names; absent when the settings are unusable, and `problem` then says why. */
  segmenter?: Segmenter;
  problem?: string;
  /** With a CA file: settles once it is read, `problem` set if it cannot be used; the segmenter's connections wait for it. */
  ready?: Promise<void>;
  /** The origin (scheme, host, port) the saved token belongs to: the editor's test may send it there only. */
  savedOrigin?: string;
  /** The settings it was deployed with: Try compares the dialog's with them. */
  deployed?: EndpointSettings;
}

export const SERVICE_URLS = {
  community: COMMUNITY_URL,
  studio: STUDIO_URL,
} as const;

export interface EndpointSettings {
  /** `community`, `studio`, `custom` (then `url` is used), or `local`: a SAM2 model on this machine (then `modelDir` is used). */
  service?: string;
  /** Service `local`: the folder of the model's ONNX files. */
  modelDir?: string;
  /** Service `local`: `auto`, `node` or `web`. */
  runtime?: string;
  threads?: number | string;
  cacheSize?: number | string;
  url?: string;
  modelId?: string;
  /** Seconds for each whole attempt. */
  timeout?: number | string;
  concurrency?: number | string;
  retries?: number | string;
  efficient?: boolean;
  /** Side of the square upload in efficient mode, pixels (256 to 1024). */
  uploadSize?: number | string;
  /** Largest answer accepted, in MB. */
  maxResponseMB?: number | string;
  /** Largest image accepted, in megapixels. */
  maxInputMP?: number | string;
  /** Path of a PEM file with the certificate authorities to trust for this endpoint (they replace the public ones). */
  caFile?: string;
  /** Accept SVG input, rasterised at a bounded cost; off by default, as vector images are not camera frames. */
  allowVector?: boolean;
}

/**
 * The base URL the settings choose. Only an explicit `community` goes to the public gateway:
 * an empty URL or an unknown service is refused, so frames and a token never go to a third
 * party nobody chose. A flow written without a service but with a URL means that URL.
 */
export function endpointUrl(settings: EndpointSettings): string {
  const service = settings.service;
  if (service === 'community') return SERVICE_URLS.community;
  if (service === 'studio') return SERVICE_URLS.studio;
  if (service !== 'custom' && service !== undefined && service !== '') {
    throw new Sam2InputError('Service', `is ${JSON.stringify(service)}, not one this node knows`, 'Choose the Livepeer community gateway, Livepeer Studio, or a self-hosted URL');
  }
  const url = typeof settings.url === 'string' ? settings.url.trim() : '';
  if (!url) {
    throw new Sam2InputError('URL', 'is empty', "Enter the base URL of your gateway or runner, or choose the Livepeer community gateway as Service to send frames there");
  }
  return url;
}

/** The runners' base URLs: the URL field takes several, one per line or separated by commas or spaces. */
export function endpointUrls(settings: EndpointSettings): string[] {
  return endpointUrl(settings).split(/[\s,]+/).filter(Boolean);
}

/**
 * The origins a URL field's token belongs to (several runners: all of them, in order), as one
 * text to compare with the saved one, or undefined when one does not parse.
 */
export function originsOf(urls: string): string | undefined {
  const origins = urls.split(/[\s,]+/).filter(Boolean).map(originOf);
  return origins.length > 0 && origins.every(Boolean) ? origins.join(' ') : undefined;
}

/** The origin a URL's token belongs to, or undefined when it does not parse. */
export function originOf(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

/** Largest CA file read: a bundle of a few hundred certificates is ~200 KB. */
export const CA_FILE_MAX_BYTES = 1024 * 1024;
const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;

/**
 * The CA file, read without holding the event loop: opened non-blocking (a pipe or a device
 * would otherwise wait or stream without end), accepted only as a regular file of at most
 * 1 MiB that holds a PEM certificate. Every failure to open it reads the same, so the
 * message does not tell which paths exist.
 */
export async function readCaFile(path: string): Promise<Buffer> {
  const fix = 'Set it to a PEM file of certificate authorities on the Node-RED machine that Node-RED can read';
  let file: fs.FileHandle;
  try {
    file = await fs.open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch {
    throw new Sam2InputError('CA file', `${path} is not a readable regular file`, fix);
  }
  try {
    const stat = await file.stat();
    if (!stat.isFile()) throw new Sam2InputError('CA file', `${path} is not a readable regular file`, fix);
    if (stat.size > CA_FILE_MAX_BYTES) throw new Sam2InputError('CA file', `${path} is ${stat.size} bytes, over the 1 MiB a certificate file needs`, fix);
    // The file may have grown since fstat: read one byte past the cap to notice.
    const buffer = Buffer.alloc(CA_FILE_MAX_BYTES + 1);
    let size = 0;
    for (;;) {
      const { bytesRead } = await file.read(buffer, size, buffer.length - size, size);
      if (bytesRead === 0) break;
      size += bytesRead;
      if (size > CA_FILE_MAX_BYTES) throw new Sam2InputError('CA file', `${path} is over the 1 MiB a certificate file needs`, fix);
    }
    const ca = buffer.subarray(0, size);
    if (!PEM_CERTIFICATE.test(ca.toString('latin1'))) {
      throw new Sam2InputError('CA file', `${path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`, fix);
    }
    return Buffer.from(ca);
  } finally {
    await file.close();
  }
}

/**
 * Client options from the node's properties, without the CA file (see `readCaFile`); throws a
 * Sam2InputError naming the property when one is off.
 */
export function clientOptions(settings: EndpointSettings, token: string | undefined, ca?: Buffer): Sam2ClientOptions {
  const d = ENDPOINT_DEFAULTS;
  const timeout = rangeSetting(settings.timeout, { name: 'Timeout', min: 0, above: true, max: Math.floor(TIMER_MAX_MS / 1000), fallback: d.timeoutS, unit: 'seconds' });
  return {
    urls: endpointUrls(settings),
    token: cleanToken(token, 'Token') || undefined,
    modelId: settings.modelId || DEFAULT_MODEL_ID,
    timeoutMs: Math.round(timeout * 1000),
    maxConcurrency: rangeSetting(settings.concurrency, { name: 'At once', min: 1, max: 64, integer: true, fallback: d.concurrency, unit: 'requests' }),
    retries: rangeSetting(settings.retries, { name: 'Retries', min: 0, max: 10, integer: true, fallback: d.retries }),
    efficient: settings.efficient ?? d.efficient,
    uploadSize: rangeSetting(settings.uploadSize, { name: 'Upload size', min: 256, max: 1024, integer: true, fallback: d.uploadSize, unit: 'pixels' }),
    maxResponseBytes: Math.round(rangeSetting(settings.maxResponseMB, { name: 'Max answer', min: 0, above: true, max: 4096, fallback: d.maxResponseMB, unit: 'MB' }) * 1024 * 1024),
    maxInputPixels: Math.round(rangeSetting(settings.maxInputMP, { name: 'Max image', min: 0, above: true, max: 1000, fallback: d.maxInputMP, unit: 'megapixels' }) * 1_000_000),
    allowVector: settings.allowVector === true,
    ca,
  };
}

/** LocalSam2's options from the node's properties (service `local`); throws naming the setting. */
export function localOptions(settings: EndpointSettings): LocalSam2Options {
  const modelDir = (settings.modelDir ?? '').trim();
  if (!modelDir) throw new Sam2InputError('Model folder', 'is empty', 'Set it to the folder on the Node-RED machine that holds the SAM2 .onnx files');
  const runtime = settings.runtime || ENDPOINT_DEFAULTS.runtime;
  if (runtime !== 'auto' && runtime !== 'node' && runtime !== 'web') throw new Sam2InputError('Runtime', `is ${JSON.stringify(runtime)}`, 'Use auto, node or web');
  const threads = rangeSetting(settings.threads, { name: 'Threads', min: 0, max: 256, integer: true, fallback: ENDPOINT_DEFAULTS.threads, unit: 'threads (0: every core)' });
  const cacheSize = rangeSetting(settings.cacheSize, { name: 'Cache', min: 0, max: 1000, integer: true, fallback: ENDPOINT_DEFAULTS.cacheSize, unit: 'frames of about 16 MiB' });
  return {
    modelDir,
    runtime,
    ...(threads > 0 ? { threads } : {}),
    cacheSize,
    // Enough bytes for the frames asked for: the count is the setting users see.
    cacheBytes: Math.max(1, cacheSize) * 20 * 1024 * 1024,
    maxInputPixels: Math.round(rangeSetting(settings.maxInputMP, { name: 'Max image', min: 0, above: true, max: 1000, fallback: ENDPOINT_DEFAULTS.maxInputMP, unit: 'megapixels' }) * 1_000_000),
  };
}

/** Client options with the CA file read: what the editor's Test connection uses. */
export async function loadClientOptions(settings: EndpointSettings, token: string | undefined): Promise<Sam2ClientOptions> {
  const options = clientOptions(settings, token);
  return settings.caFile ? { ...options, ca: await readCaFile(settings.caFile) } : options;
}

/**
 * The backend the endpoint's service names: a model on this machine (`local`), or the Livepeer
 * API by any of its services. `ca` is the CA file, read (readCaFile).
 */
export function createSegmenter(settings: EndpointSettings, token: string | undefined, ca?: Buffer | Promise<Buffer>): Segmenter {
  if (settings.service === 'local') return new LocalSam2(localOptions(settings));
  return new Sam2Client({ ...clientOptions(settings, token), ...(ca ? { ca } : {}) });
}

/** Whether two sets of endpoint settings make the same backend (a number typed as text is the same number). */
export function sameBackend(a: EndpointSettings, b: EndpointSettings): boolean {
  const text = (v: unknown) => (v === undefined || v === null ? '' : String(v).trim());
  return BACKEND_SETTINGS.every((k) => text((a as Record<string, unknown>)[k]) === text((b as Record<string, unknown>)[k]));
}
