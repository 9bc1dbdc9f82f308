/**
 * Bytes on the wire for one frame's answer with and without gzip: Sam2Client (which asks
 * for gzip) against the local server, plain and with --gzip (level 1, streamed), each in a
 * child process so that its compression is not counted as the client's CPU. Full mode's
 * answer is the big one (binary masks at the image's size plus the 256x256 logits);
 * efficient mode's is mostly logits. Figures per frame; the masks must come out the same.
 */
import { deepStrictEqual } from 'node:assert';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Sam2Client } from '../lib/client';
import { makeScene } from '../test/fixtures/scenes';
import type { Report } from './run';

const FRAMES = 3;

function startServer(args: string[]): Promise<{ url: string; stop: () => void }> {
  const child = spawn(process.execPath, [join(__dirname, '..', 'local-server', 'cli.js'), '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const url = /Endpoint URL: (\S+)/.exec(text)?.[1];
      if (url) resolve({ url, stop: () => child.kill() });
    });
    child.once('exit', (code) => reject(new Error(`local server exited with ${code}`)));
  });
}

export async function run(report: Report): Promise<void> {
  const [plain, gzip] = await Promise.all([startServer([]), startServer(['--gzip'])]);
  try {
    const scene = await makeScene('studio', 1920, 1080);
    const prompts = { points: [scene.objects[0].point] as Array<[number, number]> };
    for (const efficient of [false, true]) {
      const figures: Record<string, { MB: number; cpuMs: number; wallMs: number; masks: Uint8Array[] }> = {};
      for (const [name, server] of [['plain', plain], ['gzip', gzip]] as const) {
        const client = new Sam2Client({ url: server.url, efficient });
        await client.segment(scene.jpeg, prompts); // warm-up: connection, JIT
        let bytes = 0;
        let cpu = 0;
        let wall = 0;
        let masks: Uint8Array[] = [];
        for (let i = 0; i < FRAMES; i++) {
          const cpuStart = process.cpuUsage();
          const wallStart = performance.now();
          const result = await client.segment(scene.jpeg, prompts);
          wall += performance.now() - wallStart;
          const used = process.cpuUsage(cpuStart);
          cpu += (used.user + used.system) / 1000;
          bytes += result.transfer?.receivedBytes ?? 0;
          masks = result.masks.map((m) => m.mask);
        }
        await client.close();
        figures[name] = { MB: +(bytes / FRAMES / 1e6).toFixed(2), cpuMs: Math.round(cpu / FRAMES), wallMs: Math.round(wall / FRAMES), masks };
      }
      deepStrictEqual(figures.gzip.masks, figures.plain.masks);
      report({
        name: `bytes on the wire, 1920x1080 ${efficient ? 'efficient' : 'full'} answer: gzip (level 1) / none`,
        ratio: +(figures.gzip.MB / figures.plain.MB).toFixed(3),
        plainMB: figures.plain.MB,
        gzipMB: figures.gzip.MB,
        clientCpuMsPlain: figures.plain.cpuMs,
        clientCpuMsGzip: figures.gzip.cpuMs,
        wallMsPlain: figures.plain.wallMs,
        wallMsGzip: figures.gzip.wallMs,
      });
    }
  } finally {
    plain.stop();
    gzip.stop();
  }
}
