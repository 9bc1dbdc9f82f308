/**
 * A whole frame through Sam2Client against the local server, full mode against efficient
 * mode, at 1080p and 4K, and in efficient mode the best mask only (`keep: 'best'`, what the
 * node does with Masks "best") against all three, and against all three as issue 15 found
 * them: every candidate rebuilt pixel by pixel, then measured in a second pass. The server
 * runs in a child process so its work is not counted as the client's. Figures per frame:
 * client CPU, bytes down, peak memory added.
 */
import { Sam2Client } from '../lib/client';
import { maskStats } from '../lib/mask-stats';
import { checkPrompts } from '../lib/prompts';
import type { SegmentOptions } from '../lib/segmenter';
import { LOW_RES_SIZE } from '../lib/types';
import { perPixelMask } from './per-pixel-mask';
import { iou, makeScene } from '../test/fixtures/scenes';
import type { Report } from './run';
import { startServerProcess } from './server-process';

const FRAMES = 3;

/**
 * Efficient mode's "all" as the issue found it: the very upload, request and decoder ours
 * uses (so the baseline gets today's faster decoder: it is, if anything, cheaper than it was),
 * then every candidate's mask rebuilt per pixel and measured in a second pass.
 */
class IssueTimeClient extends Sam2Client {
  async segmentAll(image: Buffer, prompts: SegmentOptions): Promise<{ masks: Uint8Array[]; transfer?: { receivedBytes: number } }> {
    const frame = await this.backend.prepare(image, { imageField: 'image' });
    const checked = checkPrompts(prompts, frame.width, frame.height);
    const request = { frame, prompts: checked, count: checked.multimask ? 3 : 1, threshold: 0, returnLogits: true, keep: 'all' as const, modelId: this.modelId, promptsField: 'prompts' };
    this.backend.check?.(request);
    const answer = await this.backend.run(request, new AbortController().signal, {});
    const cell = LOW_RES_SIZE * LOW_RES_SIZE;
    const order = Array.from(answer.scores, (score, c) => ({ score, c })).sort((a, b) => b.score - a.score);
    const masks = order.map(({ c }) => {
      const mask = perPixelMask((answer.logits as Float32Array).subarray(c * cell, (c + 1) * cell), LOW_RES_SIZE, LOW_RES_SIZE, frame.width, frame.height, 0);
      maskStats(mask, frame.width, frame.height);
      return mask;
    });
    return { masks, transfer: answer.transfer };
  }
}

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
      const runs: Array<[string, boolean, 'all' | 'best' | 'issue']> = [
        ['full', false, 'all'],
        ['efficient', true, 'all'],
        ['efficient, best only', true, 'best'],
        ['efficient, all as issue 15 found it', true, 'issue'],
      ];
      for (const [mode, efficient, keep] of runs) {
        const client = new IssueTimeClient({ url: server.url, efficient });
        const segment = (): Promise<{ masks: Array<{ mask: Uint8Array } | Uint8Array>; transfer?: { receivedBytes: number } }> =>
          keep === 'issue' ? client.segmentAll(scene.jpeg, prompts) : client.segment(scene.jpeg, { ...prompts, keep });
        await segment(); // warm-up: connection, JIT
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
          const result = await segment();
          wall += performance.now() - wallStart;
          const used = process.cpuUsage(cpuStart);
          cpu += (used.user + used.system) / 1000;
          peak = Math.max(peak, stop());
          bytes += result.transfer?.receivedBytes ?? 0;
          const first = result.masks[0];
          mask = first instanceof Uint8Array ? first : first.mask;
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
      const issue = rows['efficient, all as issue 15 found it'];
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
        name: `frame ${width}x${height} efficient: best only now / all masks as issue 15 found them, client CPU`,
        ratio: +(best.cpuMs / issue.cpuMs).toFixed(2),
        target: 0.5,
        sameBestMask: Buffer.from(best.mask).equals(Buffer.from(issue.mask)),
      });
      report({
        name: `frame ${width}x${height} efficient: all masks now / as issue 15 found them, client CPU`,
        ratio: +(efficient.cpuMs / issue.cpuMs).toFixed(2),
        bestOverAllNow: +(best.cpuMs / efficient.cpuMs).toFixed(2),
        sameBestMask: Buffer.from(efficient.mask).equals(Buffer.from(issue.mask)),
      });
    }
  } finally {
    server.stop();
  }
}
