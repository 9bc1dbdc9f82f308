/**
 * A whole frame through Sam2Client against the local server, full mode against efficient
 * mode, at 1080p and 4K, and in efficient mode the best mask only (`keep: 'best'`, what the
 * node does with Masks "best") against all three. The server runs in a child process so its
 * work is not counted as the client's. Figures per frame: client CPU, bytes down, peak memory added.
 */
import { Sam2Client } from '../lib/client';
import { iou, makeScene } from '../test/fixtures/scenes';
import type { Report } from './run';
import { startServerProcess } from './server-process';

const FRAMES = 3;

/** Peak of heap + array buffers above the level when sampling began. */
function memoryWatch(): () => number {
  const used = () => {
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const start = used();
  let peak = start;
  const timer = setInterval(() => (peak = Math.max(peak, used())), 2);
  return () => {
    clearInterval(timer);
    return Math.max(peak, used()) - start;
  };
}

export async function run(report: Report): Promise<void> {
  const server = await startServerProcess();
  try {
    for (const [width, height] of [[1920, 1080], [3840, 2160]]) {
      const scene = await makeScene('studio', width, height);
      const prompts = { points: [scene.objects[0].point] as Array<[number, number]> };
      const rows: Record<string, { cpuMs: number; downloadedMB: number; peakAddedMB: number; wallMs: number; mask: Uint8Array }> = {};
      const runs: Array<[string, boolean, 'all' | 'best']> = [['full', false, 'all'], ['efficient', true, 'all'], ['efficient, best only', true, 'best']];
      for (const [mode, efficient, keep] of runs) {
        const client = new Sam2Client({ url: server.url, efficient });
        await client.segment(scene.jpeg, { ...prompts, keep }); // warm-up: connection, JIT
        let cpu = 0;
        let wall = 0;
        let bytes = 0;
        let peak = 0;
        let mask: Uint8Array = new Uint8Array(0);
        for (let i = 0; i < FRAMES; i++) {
          (globalThis as { gc?: () => void }).gc?.();
          const stop = memoryWatch();
          const cpuStart = process.cpuUsage();
          const wallStart = performance.now();
          const result = await client.segment(scene.jpeg, { ...prompts, keep });
          wall += performance.now() - wallStart;
          const used = process.cpuUsage(cpuStart);
          cpu += (used.user + used.system) / 1000;
          peak = Math.max(peak, stop());
          bytes += result.transfer?.receivedBytes ?? 0;
          mask = result.masks[0].mask;
        }
        await client.close();
        rows[mode] = {
          cpuMs: Math.round(cpu / FRAMES),
          wallMs: Math.round(wall / FRAMES),
          downloadedMB: +(bytes / FRAMES / 1e6).toFixed(2),
          peakAddedMB: +(peak / 1e6).toFixed(1),
          mask,
        };
      }
      const { full, efficient } = rows;
      const best = rows['efficient, best only'];
      for (const [mode, row] of Object.entries(rows)) {
        const { mask: _mask, ...figures } = row;
        report({ name: `frame ${width}x${height} through Sam2Client, ${mode} mode`, ...figures });
      }
      report({
        name: `frame ${width}x${height}: efficient / full`,
        ratio: +(efficient.downloadedMB / full.downloadedMB).toFixed(3),
        bytesFewerTimes: +(full.downloadedMB / efficient.downloadedMB).toFixed(2),
        cpuRatio: +(efficient.cpuMs / full.cpuMs).toFixed(2),
        maskIoU: +iou(efficient.mask, full.mask).toFixed(4),
      });
      report({
        name: `frame ${width}x${height} efficient: best only / all masks, client CPU`,
        ratio: +(best.cpuMs / efficient.cpuMs).toFixed(2),
        target: 0.5,
        sameBestMask: Buffer.from(best.mask).equals(Buffer.from(efficient.mask)),
      });
    }
  } finally {
    server.stop();
  }
}
