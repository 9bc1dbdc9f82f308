/**
 * The sam2-endpoint node's saved properties, and how they become client options. Kept apart
 * from the node so the editor's "Test connection" builds its client by the same rules.
 */
import { readFileSync } from 'node:fs';
import type { Node } from '@node-red/registry';
import { Sam2Client, type Sam2ClientOptions } from '../lib/client';
import { COMMUNITY_URL, DEFAULT_MODEL_ID, ENDPOINT_DEFAULTS, STUDIO_URL } from '../lib/defaults';
import { Sam2InputError } from '../lib/errors';
import { LocalSam2, type LocalSam2Options } from '../lib/local-model/local-sam2';
import type { Segmenter } from '../lib/segmenter';

export interface EndpointCredentials {
  token?: string;
}

/** The running config node, as sam2-segment and the editor's admin routes see it. */
export interface Sam2EndpointNode extends Node<EndpointCredentials> {
  /** The backend its service names; absent when the settings are unusable, and `problem` then says why. */
  segmenter?: Segmenter;
  problem?: string;
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
  /** Largest answer accepted, in MB. */
  maxResponseMB?: number | string;
  /** Largest image accepted, in megapixels. */
  maxInputMP?: number | string;
  /** Path of a PEM file with the certificate authorities to trust for this endpoint (they replace the public ones). */
  caFile?: string;
}

function numberOr(value: number | string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  return Number(value);
}

export function endpointUrl(settings: EndpointSettings): string {
  const preset = SERVICE_URLS[settings.service as keyof typeof SERVICE_URLS];
  return preset ?? (settings.url || COMMUNITY_URL);
}

/** Client options from the node's properties; throws with the property's name when one is off. */
export function clientOptions(settings: EndpointSettings, token: string | undefined): Sam2ClientOptions {
  let ca: Buffer | undefined;
  if (settings.caFile) {
    try {
      ca = readFileSync(settings.caFile);
    } catch (err) {
      throw new Error(`CA file ${settings.caFile} cannot be read (${(err as NodeJS.ErrnoException).code}); check the path on the Node-RED machine`);
    }
  }
  return {
    url: endpointUrl(settings),
    token: token || undefined,
    modelId: settings.modelId || DEFAULT_MODEL_ID,
    timeoutMs: numberOr(settings.timeout, ENDPOINT_DEFAULTS.timeoutS) * 1000,
    maxConcurrency: numberOr(settings.concurrency, ENDPOINT_DEFAULTS.concurrency),
    retries: numberOr(settings.retries, ENDPOINT_DEFAULTS.retries),
    efficient: settings.efficient ?? ENDPOINT_DEFAULTS.efficient,
    maxResponseBytes: numberOr(settings.maxResponseMB, ENDPOINT_DEFAULTS.maxResponseMB) * 1024 * 1024,
    maxInputPixels: numberOr(settings.maxInputMP, ENDPOINT_DEFAULTS.maxInputMP) * 1_000_000,
    ca,
  };
}

/** LocalSam2's options from the node's properties (service `local`); throws naming the setting. */
export function localOptions(settings: EndpointSettings): LocalSam2Options {
  const modelDir = (settings.modelDir ?? '').trim();
  if (!modelDir) throw new Sam2InputError('Model folder', 'is empty', 'Set it to the folder on the Node-RED machine that holds the SAM2 .onnx files');
  const runtime = settings.runtime || ENDPOINT_DEFAULTS.runtime;
  if (runtime !== 'auto' && runtime !== 'node' && runtime !== 'web') throw new Sam2InputError('Runtime', `is ${JSON.stringify(runtime)}`, 'Use auto, node or web');
  const threads = numberOr(settings.threads, ENDPOINT_DEFAULTS.threads);
  if (!Number.isInteger(threads) || threads < 0 || threads > 256) throw new Sam2InputError('Threads', `is ${JSON.stringify(settings.threads)}`, 'Use a whole number from 0 (every core) to 256');
  const cacheSize = numberOr(settings.cacheSize, ENDPOINT_DEFAULTS.cacheSize);
  if (!Number.isInteger(cacheSize) || cacheSize < 0 || cacheSize > 1000) throw new Sam2InputError('Cache', `is ${JSON.stringify(settings.cacheSize)}`, 'Use a whole number of frames from 0 (none) to 1000; each takes about 16 MiB');
  return {
    modelDir,
    runtime,
    ...(threads > 0 ? { threads } : {}),
    cacheSize,
    // Enough bytes for the frames asked for: the count is the setting users see.
    cacheBytes: Math.max(1, cacheSize) * 20 * 1024 * 1024,
    maxInputPixels: numberOr(settings.maxInputMP, ENDPOINT_DEFAULTS.maxInputMP) * 1_000_000,
  };
}

/** The backend the endpoint's service names: a model on this machine, or the Livepeer API by any of its services. */
export function createSegmenter(settings: EndpointSettings, token: string | undefined): Segmenter {
  if (settings.service === 'local') return new LocalSam2(localOptions(settings));
  return new Sam2Client(clientOptions(settings, token));
}
