/**
 * One AbortSignal for several, released when the work it guards is over.
 *
 * `AbortSignal.any` would do, but on Node 20 every signal it is given keeps a weak reference to
 * the result in a set that is emptied only when that signal aborts. A node's or a client's
 * signal lives as long as the flow, so it would grow by an entry per request, without end.
 * Listeners that are removed when the request ends leave nothing behind.
 *
 * Each source signal gets one listener however many links follow it: the links are kept in a
 * set beside it. One listener per link put fifty on a node's signal for a message with fifty
 * objects, and Node warns of a leak past ten (MaxListenersExceededWarning).
 */
export interface LinkedSignal {
  /** Aborts, with the same reason, when the first of the given signals aborts. */
  signal: AbortSignal;
  /** Stops following the given signals; call it once the work is over, however it ended. */
  release(): void;
}

type Follower = (reason: unknown) => void;

/** The links following each source signal, and the one listener that tells them. */
const followers = new WeakMap<AbortSignal, { set: Set<Follower>; listener: () => void }>();

function follow(source: AbortSignal, follower: Follower): () => void {
  let entry = followers.get(source);
  if (!entry) {
    const set = new Set<Follower>();
    const listener = (): void => {
      followers.delete(source);
      for (const f of [...set]) f(source.reason);
    };
    entry = { set, listener };
    followers.set(source, entry);
    source.addEventListener('abort', listener, { once: true });
  }
  const { set, listener } = entry;
  set.add(follower);
  return () => {
    if (!set.delete(follower) || set.size > 0) return;
    source.removeEventListener('abort', listener);
    if (followers.get(source)?.set === set) followers.delete(source);
  };
}

export function linkSignals(signals: AbortSignal[]): LinkedSignal {
  const controller = new AbortController();
  const already = signals.find((s) => s.aborted);
  if (already) {
    controller.abort(already.reason);
    return { signal: controller.signal, release: () => undefined };
  }
  const abort: Follower = (reason) => controller.abort(reason);
  const unfollow = [...new Set(signals)].map((source) => follow(source, abort));
  return {
    signal: controller.signal,
    release: () => unfollow.forEach((stop) => stop()),
  };
}
