/**
 * Error answers in the three shapes a client meets (shared API.md): the runner's FastAPI
 * `detail`, the go-livepeer gateway's `error.message` and Livepeer Studio's `errors` list.
 * Bodies are compact (`{"detail":{"msg":"..."}}`) because that is how FastAPI's and Go's
 * JSON encoders write them; a client must read them as JSON, not match text.
 */
import { STATUS_CODES } from 'node:http';

export type Flavour = 'runner' | 'gateway' | 'studio';

export const FLAVOURS: readonly Flavour[] = ['runner', 'gateway', 'studio'];

/** One item of FastAPI's 422 list (pydantic v1 wording, as the runner's FastAPI gives it). */
export interface ValidationItem {
  loc: [string, string];
  msg: string;
  type: string;
}

/** A failed request, with what the runner would put in `detail` and the words other shapes carry. */
export class HttpFailure extends Error {
  constructor(
    readonly status: number,
    readonly detail: unknown,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** The runner's usual shape: `{"detail": {"msg": message}}`. */
export function runnerFailure(status: number, message: string, headers?: Record<string, string>): HttpFailure {
  return new HttpFailure(status, { msg: message }, message, headers);
}

export function validationFailure(items: ValidationItem[]): HttpFailure {
  return new HttpFailure(422, items, items.map((it) => `${it.loc[1]}: ${it.msg}`).join('; '));
}

export const PIPELINE_ERROR = 'Segment-anything-2 pipeline error.';
export const OOM_ERROR = 'Out of memory error. Try reducing input image resolution.';
export const PARSE_BODY_ERROR = 'There was an error parsing the body';

/** Starlette answers a body it cannot parse with a plain-text `detail`. */
export function parseBodyFailure(): HttpFailure {
  return new HttpFailure(400, PARSE_BODY_ERROR, PARSE_BODY_ERROR);
}

/**
 * What each party says for a status when it has no words of its own: the gateway's fixed
 * texts for 500 and 503, Studio's for 429, and the reason phrase otherwise.
 */
export function defaultMessage(status: number, flavour: Flavour): string {
  if (flavour === 'gateway' && status === 503) return 'Service Unavailable Error';
  if (flavour === 'gateway' && status === 500) return 'Internal Server Error';
  if (flavour === 'studio' && status === 429) return 'Too many AI requests';
  if (flavour === 'runner' && status === 500) return PIPELINE_ERROR;
  return STATUS_CODES[status] ?? `HTTP ${status}`;
}

export function defaultFailure(status: number, flavour: Flavour): HttpFailure {
  return runnerFailure(status, defaultMessage(status, flavour));
}

/** The body text of `failure` as `flavour` writes it. */
export function errorBody(failure: HttpFailure, flavour: Flavour): string {
  switch (flavour) {
    case 'runner':
      return JSON.stringify({ detail: failure.detail });
    case 'gateway':
      // The gateway hides the runner's 500 text behind its own fixed words.
      return JSON.stringify({ error: { message: failure.status === 500 ? defaultMessage(500, 'gateway') : failure.message } });
    case 'studio':
      return JSON.stringify({ errors: [failure.message] });
  }
}
