import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { linkSignals } from '../lib/linked-signal';
import { heldBy } from './fixtures/signals';

describe('linkSignals', () => {
  it('aborts with the reason of the first signal that aborts', () => {
    const [a, b] = [new AbortController(), new AbortController()];
    const { signal } = linkSignals([a.signal, b.signal]);
    assert.equal(signal.aborted, false);
    const reason = new Error('b went first');
    b.abort(reason);
    a.abort(new Error('too late'));
    assert.equal(signal.reason, reason);
  });

  it('starts aborted when a signal already is', () => {
    const a = new AbortController();
    a.abort(new Error('before'));
    const { signal, release } = linkSignals([new AbortController().signal, a.signal]);
    assert.equal((signal.reason as Error).message, 'before');
    release();
  });

  it('leaves nothing on long-lived signals once released, however many times it is used', () => {
    const lasting = new AbortController();
    for (let i = 0; i < 100; i++) {
      const request = new AbortController();
      const { release } = linkSignals([lasting.signal, request.signal]);
      if (i % 2) request.abort();
      release();
    }
    assert.equal(getEventListeners(lasting.signal, 'abort').length, 0);
    assert.equal(heldBy(lasting.signal), 0);
  });

  it('puts one listener on a source however many links follow it, and all of them abort', () => {
    const flow = new AbortController();
    const links = Array.from({ length: 50 }, () => linkSignals([flow.signal]));
    assert.equal(getEventListeners(flow.signal, 'abort').length, 1);
    links[0].release();
    assert.equal(getEventListeners(flow.signal, 'abort').length, 1);
    flow.abort(new Error('stopped'));
    assert.ok(links.slice(1).every((l) => (l.signal.reason as Error)?.message === 'stopped'));
    assert.equal(links[0].signal.aborted, false, 'a released link no longer follows');
    links.forEach((l) => l.release());
    assert.equal(getEventListeners(flow.signal, 'abort').length, 0);
  });

  it('no longer follows a signal after release', () => {
    const a = new AbortController();
    const { signal, release } = linkSignals([a.signal]);
    release();
    a.abort();
    assert.equal(signal.aborted, false);
  });
});
