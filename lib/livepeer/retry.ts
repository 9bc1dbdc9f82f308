/**
 * Which failures are worth another try, and how long to wait before it. The Livepeer gateway
 * answers 503 when no GPU node is free and Studio 429 with Retry-After; a runner that restarts
 * drops connections. A 400, 401, 422 or a 500 says the same on every try, so it is never retried.
 */
import { Sam2ApiError, Sam2NetworkError } from '../errors';
import type { RetryInfo } from '../segmenter';

const RETRY_STATUSES = new Set([429, 502, 503, 504]);
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 20_000;

export function isRetryable(err: unknown): boolean {
  if (err instanceof Sam2ApiError) return RETRY_STATUSES.has(err.status);
  return err instanceof Sam2NetworkError && err.retryable;
}

/** Exponential backoff with full jitter, or the server's Retry-After when it gave one. */
export function backoff(attempt: number, err: unknown): number {
  if (err instanceof Sam2ApiError && err.retryAfterMs !== undefined) return Math.min(err.retryAfterMs, BACKOFF_MAX_MS * 3);
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** attempt);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/** `send` once, and again after each retryable failure, `retries` times at most; ends at once when `signal` aborts. */
export async function withRetries<T>(
  send: (signal: AbortSignal) => Promise<T>,
  retries: number,
  signal: AbortSignal,
  onRetry?: (info: RetryInfo) => void,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await send(signal);
    } catch (err) {
      signal.throwIfAborted();
      if (attempt >= retries || !isRetryable(err)) throw err;
      const delayMs = backoff(attempt, err);
      onRetry?.({ attempt: attempt + 1, retries, delayMs, error: err as Error });
      await sleep(delayMs, signal);
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
