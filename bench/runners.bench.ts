/**
 * One endpoint over three local servers (child processes, as separate runners would be), one
 * killed a third of the way through a run of frames: how many frames are answered. Baseline,
 * in the same run: the same pool with no retries, so a frame caught on the killed runner is
 * lost. Target: every frame answered.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Sam2Client } from '../lib/client';
import { makeScene } from '../test/fixtures/scenes';
import type { Report } from './run';

const FRAMES = 60;
const AT_ONCE = 6;

function startServer(): Promise<{ url: string; child: ChildProcess }> {
  // Each answer takes 100 ms more, as a GPU's would, so the kill finds frames in flight.
  const child = spawn(process.execPath, [join(__dirname, '..', 'local-server', 'cli.js'), '--port', '0', '--fault', 'latency=100'], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let text = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const url = /Endpoint URL: (\S+)/.exec(text)?.[1];
      if (url) resolve({ url, child });
    });
    child.once('exit', (code) => reject(new Error(`local server exited with ${code}`)));
  });
}

async function runOnce(retries: number): Promise<{ answered: number; wallMs: number }> {
  const servers = await Promise.all([0, 1, 2].map(() => startServer()));
  const client = new Sam2Client({ urls: servers.map((s) => s.url), retries, maxConcurrency: AT_ONCE });
  const scene = await makeScene('studio', 640, 480);
  const prompts = { points: [scene.objects[0].point] as Array<[number, number]> };
  let answered = 0;
  let sent = 0;
  const started = performance.now();
  try {
    const worker = async () => {
      while (sent < FRAMES) {
        if (++sent === Math.round(FRAMES / 3)) servers[1].child.kill('SIGKILL');
        await client.segment(scene.jpeg, prompts).then(() => answered++, () => undefined);
      }
    };
    await Promise.all(Array.from({ length: AT_ONCE }, worker));
  } finally {
    await client.close();
    for (const s of servers) s.child.kill();
  }
  return { answered, wallMs: Math.round(performance.now() - started) };
}

export async function run(report: Report): Promise<void> {
  const ours = await runOnce(2);
  const baseline = await runOnce(0);
  report({
    name: `${FRAMES} frames over 3 runners, one killed a third of the way through`,
    ratio: +(ours.answered / FRAMES).toFixed(3),
    answered: ours.answered,
    frames: FRAMES,
    wallMs: ours.wallMs,
    baselineAnsweredNoRetries: baseline.answered,
    target: FRAMES,
  });
}
