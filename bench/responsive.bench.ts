/**
 * How long Node-RED's event loop is held, at most, while a frame goes through Sam2Client and
 * the node's encoders (the default output: a PNG of every mask, best first): a 4K frame and a
 * 48 MP one, efficient mode, against the local server in a child process (its work is not the
 * client's). A 5 ms interval probe records the largest gap between its ticks: a gap of 5 ms
 * plus the longest stretch the loop could not run timers. Ours (large masks on worker threads)
 * against the old path (everything on the event loop, `offThread: false`) in the same run.
 * The same with an overlay and a cut-out of every mask. Target: no block over 50 ms.
 */
import { createHook } from 'node:async_hooks';
import { Sam2Client } from '../lib/client';
import { FramePixels } from '../lib/raw-image';
import { buildOutput, compileSettings } from '../nodes/segment-message';
import { makeScene } from '../test/fixtures/scenes';
import type { Report } from './run';
import { startServerProcess } from './server-process';

const FRAMES = 3;
const PROBE_MS = 5;

/** Starts the probe; the returned function stops it and gives the longest block in ms. */
function blockProbe(): () => number {
  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last - PROBE_MS);
    last = now;
  }, PROBE_MS);
  return () => {
    clearInterval(timer);
    return Math.max(worst, performance.now() - last - PROBE_MS);
  };
}

/**
 * The longest single callback the event loop ran (a timer, a socket's data, a promise's
 * continuation), timed by async hooks: our code's own longest step, apart from the time the
 * process was not scheduled or collected garbage, which the probe's gap includes.
 */
function stepProbe(): () => number {
  const started = new Map<number, number>();
  let longest = 0;
  const hook = createHook({
    before: (id) => void started.set(id, performance.now()),
    after: (id) => {
      const t = started.get(id);
      if (t === undefined) return;
      started.delete(id);
      longest = Math.max(longest, performance.now() - t);
    },
  }).enable();
  return () => {
    hook.disable();
    return longest;
  };
}

export async function run(report: Report): Promise<void> {
  const server = await startServerProcess();
  try {
    for (const [width, height, output] of [[3840, 2160, 'png'], [8000, 6000, 'png'], [3840, 2160, 'overlay'], [8000, 6000, 'overlay']] as const) {
      const compiled = output === 'png' ? compileSettings({}) : compileSettings({ overlay: true, cutout: true });
      const scene = await makeScene('studio', width, height);
      const prompts = { points: [scene.objects[0].point] as Array<[number, number]> };
      const worst: Record<string, number> = {};
      for (const offThread of [false, true]) {
        const client = new Sam2Client({ url: server.url, offThread });
        const frame = async () => {
          const result = await client.segment(scene.jpeg, prompts);
          const pixels = new FramePixels(scene.jpeg);
          return buildOutput(result, compiled, compiled.choice, () => pixels.pixels());
        };
        await frame(); // warm-up: connection, JIT, the workers started
        let longest = 0;
        let step = 0;
        for (let i = 0; i < FRAMES; i++) {
          (globalThis as { gc?: () => void }).gc?.();
          const stop = blockProbe();
          const stopSteps = stepProbe();
          await frame();
          longest = Math.max(longest, stop());
          step = Math.max(step, stopSteps());
        }
        await client.close();
        worst[offThread ? 'ours' : 'inline'] = Math.round(longest);
        worst[offThread ? 'oursStep' : 'inlineStep'] = Math.round(step);
      }
      report({
        name: `longest event-loop block during a ${width}x${height} frame (${((width * height) / 1e6).toFixed(0)} MP), Sam2Client + ${output === 'png' ? 'PNG of every mask' : 'PNG, overlay and cut-out of every mask'}`,
        ratio: +(worst.ours / worst.inline).toFixed(3),
        oursMs: worst.ours,
        inlineMs: worst.inline,
        oursLongestStepMs: worst.oursStep,
        inlineLongestStepMs: worst.inlineStep,
        targetMs: 50,
      });
    }
  } finally {
    server.stop();
  }
}
