/**
 * The three kinds of failure a caller must tell apart: its own input was wrong (fix the
 * message or the node), the server said no (status + the server's own words), or the
 * answer could not be read (a broken or truncated body). Each carries what a flow author
 * needs to act, and never the API token.
 */

/** Bad input caught before any network call. `field` names what to fix, e.g. `msg.sam2.box`. */
export class Sam2InputError extends Error {
  readonly code = 'SAM2_INPUT';
  constructor(readonly field: string, problem: string, fix: string) {
    super(`${field}: ${problem}. ${fix}`);
    this.name = 'Sam2InputError';
  }
}

/**
 * What an error answer's body was: one of the SAM2 API's own shapes (shared API.md: the
 * runner's `detail`, the gateway's `error.message`, Studio's `errors`), something else, or a
 * redirect. Who relays an answer to someone else (the editor's Test connection) relays the
 * words of the SAM2 shapes only.
 */
export type ErrorBodyKind = 'runner' | 'gateway' | 'studio' | 'json' | 'html' | 'text' | 'empty' | 'compressed' | 'redirect';

/** A non-2xx answer (or a 200 that carries no masks). `detail` is the server's message. */
export class Sam2ApiError extends Error {
  readonly code = 'SAM2_API';
  /** Absent for a message of this package's own (e.g. a 200 without masks). */
  readonly body?: ErrorBodyKind;
  /** Where a redirect points (no user:password part). */
  readonly location?: string;
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly retryAfterMs?: number,
    answer: { body?: ErrorBodyKind; location?: string } = {},
  ) {
    super(status ? `SAM2 API answered ${status}: ${detail}` : `SAM2 API: ${detail}`);
    this.name = 'Sam2ApiError';
    if (answer.body) this.body = answer.body;
    if (answer.location) this.location = answer.location;
  }
}

/** The answer's text is not what the API sends: `field` and byte `offset` say where. */
export class Sam2DecodeError extends Error {
  readonly code = 'SAM2_DECODE';
  constructor(
    readonly field: string,
    readonly offset: number,
    problem: string,
  ) {
    super(`cannot read the answer's ${field} at byte ${offset}: ${problem}`);
    this.name = 'Sam2DecodeError';
  }
}

/**
 * The connection failed, stalled or ran past its deadline; `cause` holds the low-level error.
 * `retryable` is true for failures to connect or a dropped connection, where trying again
 * is likely to work; a timeout is not retried, because the next try would wait as long.
 */
export class Sam2NetworkError extends Error {
  readonly code = 'SAM2_NETWORK';
  readonly retryable: boolean;
  constructor(message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super(message, { cause: options.cause });
    this.name = 'Sam2NetworkError';
    this.retryable = options.retryable ?? false;
  }
}
