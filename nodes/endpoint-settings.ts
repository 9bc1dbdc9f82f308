/**
 * The sam2-endpoint node's saved properties, and how they become client options. Kept apart
 * from the node so the editor's "Test connection" builds its client by the same rules.
 */
import { readFileSync } from 'node:fs';
import type { Node } from '@node-red/registry';
import { Sam2Client, type Sam2ClientOptions } from '../lib/client';
import { COMMUNITY_URL, DEFAULT_MODEL_ID, ENDPOINT_DEFAULTS, STUDIO_URL } from '../lib/defaults';
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
  /** `community`, `studio`, or `custom` (then `url` is used). */
  service?: string;
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

/** The backend the endpoint's service names: today the Livepeer API, by any of its three services. */
export function createSegmenter(settings: EndpointSettings, token: string | undefined): Segmenter {
  return new Sam2Client(clientOptions(settings, token));
}
