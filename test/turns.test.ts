import assert from 'node:assert/strict';
import { runInTurns, type Slices } from '../lib/turns';

/** A job of `count` slices that notes each slice it runs. */
function* job(name: string, count: number, log: string[]): Slices<string> {
  for (let i = 0; i < count; i++) {
    if (i > 0) yield;
    log.push(name);
  }
  return `${name} done`;
}

describe('long work a slice per turn of the event loop', () => {
  it('several jobs at once run one slice per turn between them, not one each, and all finish', async () => {
    const log: string[] = [];
    let running = true;
    // A mark per turn of the event loop: what else in Node-RED waits for.
    const tick = (): void => {
      log.push('|');
      if (running) setImmediate(tick);
    };
    setImmediate(tick);
    const results = await Promise.all([runInTurns(job('a', 5, log)), runInTurns(job('b', 5, log)), runInTurns(job('c', 5, log))]);
    running = false;
    assert.deepEqual(results, ['a done', 'b done', 'c done']);
    assert.equal(log.filter((e) => e !== '|').length, 15);
    // Nothing runs in the tick that starts the jobs, and never two slices in one turn.
    assert.equal(log[0], '|', `the first slice waits for a turn: ${log.join('')}`);
    const turns = log.join('').split('|').slice(1);
    assert.ok(turns.every((t) => t.length <= 1), `slices per turn: ${log.join('')}`);
    // Taken in turn: each job gets slices while the others still wait.
    assert.notDeepEqual(log.filter((e) => e !== '|').slice(0, 3), ['a', 'a', 'a']);
  });
});
