/**
 * Reads a non-2xx answer into one message. Four parties can answer, each in its own shape
 * (see shared API.md): the runner (FastAPI `detail` as text, object or validation list), the
 * go-livepeer gateway (`error.message`), Livepeer Studio (`errors: [...]`) and proxies (plain
 * text or HTML). Users need the server's own words, so we dig them out of whichever it is.
 */

import type { ErrorBodyKind } from './errors';

const MAX_DETAIL_CHARS = 500;

function fromValidationList(list: unknown[]): string {
  return list
    .map((item) => {
      if (item && typeof item === 'object') {
        const { loc, msg } = item as { loc?: unknown; msg?: unknown };
        const where = Array.isArray(loc) ? loc.join('.') : '';
        return where ? `${where}: ${String(msg)}` : String(msg);
      }
      return String(item);
    })
    .join('; ');
}

function fromJson(body: unknown): string | undefined {
  if (typeof body === 'string') return body;
  if (!body || typeof body !== 'object') return undefined;
  const { detail, error, errors, message } = body as Record<string, unknown>;
  if (typeof detail === 'string') return detail;
  if (Array.isArray(detail)) return fromValidationList(detail);
  if (detail && typeof detail === 'object' && 'msg' in detail) return String((detail as { msg: unknown }).msg);
  if (error && typeof error === 'object' && 'message' in error) return String((error as { message: unknown }).message);
  if (typeof error === 'string') return error;
  if (Array.isArray(errors)) return errors.map(String).join('; ');
  if (typeof message === 'string') return message;
  return undefined;
}

/** The server's message from an error body, or a description of the status when it gave none. */
export function errorDetail(status: number, body: string, statusText = ''): string {
  const text = body.trim();
  let detail: string | undefined;
  if (text) {
    try {
      detail = fromJson(JSON.parse(text));
    } catch {
      // Not JSON: an HTML page from a proxy says little in its markup, so keep only the text.
      detail = text.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim();
    }
  }
  if (!detail) detail = statusText || `HTTP ${status} with an empty body`;
  return detail.length > MAX_DETAIL_CHARS ? `${detail.slice(0, MAX_DETAIL_CHARS)}…` : detail;
}

/** `Retry-After` as milliseconds: either delay-seconds or an HTTP date. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (!raw) return undefined;
  const seconds = Number(raw);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(raw);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Which shape an error body has: one of the SAM2 API's own (runner, gateway, Studio) or what else. */
export function errorBodyKind(body: string): ErrorBodyKind {
  const text = body.trim();
  if (!text) return 'empty';
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return /^<|<html[\s>]/i.test(text) ? 'html' : 'text';
  }
  if (json && typeof json === 'object' && !Array.isArray(json)) {
    const { detail, error, errors } = json as Record<string, unknown>;
    if (typeof detail === 'string' || Array.isArray(detail) || (detail && typeof detail === 'object' && 'msg' in detail)) return 'runner';
    if (error && typeof error === 'object' && typeof (error as { message?: unknown }).message === 'string') return 'gateway';
    if (Array.isArray(errors) && errors.every((e) => typeof e === 'string')) return 'studio';
  }
  return 'json';
}
