/**
 * Long work on the event loop, a slice per turn: every job cut into slices waits here between
 * its slices, and each turn of the event loop runs one slice of one job, in turn. With a plain
 * `await setImmediate` per slice, the six overlays and cut-outs of a three-mask message each ran
 * a slice in the same turn, one after another, and held the loop six slices long (232 ms for a
 * 48 MP frame, bench/responsive.bench.ts); here a turn holds it for one slice, whatever runs.
 */

const waiting: Array<() => void> = [];
let scheduled = false;

function runOne(): void {
  scheduled = false;
  const resume = waiting.shift();
  if (waiting.length > 0) schedule();
  resume?.();
}

function schedule(): void {
  scheduled = true;
  setImmediate(runOne);
}

/** Resolves on a later turn of the event loop, after timers and I/O have run, when it is this caller's turn. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => {
    waiting.push(resolve);
    if (!scheduled) schedule();
  });
}

/** A piece of work as a generator that yields between its slices. */
export type Slices<T> = Generator<void, T, void>;

/** Every slice at once: for work small enough not to need the turns. */
export function runNow<T>(slices: Slices<T>): T {
  for (;;) {
    const step = slices.next();
    if (step.done) return step.value;
  }
}

/**
 * Each slice on a turn of its own, the first one too: several jobs started in one go (a
 * message's overlays and cut-outs) would otherwise each run their first slice at once.
 */
export async function runInTurns<T>(slices: Slices<T>): Promise<T> {
  for (;;) {
    await nextTurn();
    const step = slices.next();
    if (step.done) return step.value;
  }
}
