/**
 * One AbortSignal for several, released when the work it guards is over.
 *
 * `AbortSignal.any` would do, but on Node 20 every signal it is given keeps a weak reference to
 * the result in a set that is emptied only when that signal aborts. A node's or a client's
 * signal lives as long as the flow, so it would grow by an entry per request, without end.
 * Listeners that are removed when the request ends leave nothing behind.
 */
export interface LinkedSignal {
  /** Aborts, with the same reason, when the first of the given signals aborts. */
  signal: AbortSignal;
  /** Stops following the given signals; call it once the work is over, however it ended. */
  release(): void;
}

export function linkSignals(signals: AbortSignal[]): LinkedSignal {
  const controller = new AbortController();
  const already = signals.find((s) => s.aborted);
  if (already) {
    controller.abort(already.reason);
    return { signal: controller.signal, release: () => undefined };
  }
  const links = signals.map((source) => {
    const follow = (): void => controller.abort(source.reason);
    source.addEventListener('abort', follow, { once: true });
    return { source, follow };
  });
  return {
    signal: controller.signal,
    release: () => links.forEach(({ source, follow }) => source.removeEventListener('abort', follow)),
  };
}
