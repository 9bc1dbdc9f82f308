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

/** A non-2xx answer (or a 200 that carries no masks). `detail` is the server's message. */
export class Sam2ApiError extends Error {
  readonly code = 'SAM2_API';
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly retryAfterMs?: number,
  ) {
    super(status ? `SAM2 API answered ${status}: ${detail}` : `SAM2 API: ${detail}`);
    this.name = 'Sam2ApiError';
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
