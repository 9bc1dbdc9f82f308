/**
 * The streaming decoder against the obvious client (body to string, JSON.parse of the body,
 * JSON.parse of each field's text, then typed arrays) on answers the size of real ones.
 * Answers are generated deterministically from a smooth logit field shaped like SAM2's,
 * printed the way Python prints float32 values widened to double. Ours reads the 1080p ones
 * whole and as 64 KiB chunks (the same speed is the goal), decoding every field or, as
 * efficient mode does, skipping the masks. The 4K answer is only ever a stream, and the
 * baseline, which must gather it whole, runs in a child process because running out of
 * heap there kills the process.
 * Speed and memory come from separate runs, so that sampling memory does not slow the
 * timed ones.
 */
import { spawn } from 'node:child_process';
import { deepStrictEqual } from 'node:assert';
import { decodeSegmentResponse, type DecodeOptions, type DecodedResponse } from '../lib/decode-response';
import type { BenchRow, Report } from './run';
import { pyFloatRepr } from '../local-server/python-repr';

const CHUNK = 64 * 1024;
/** Distinct rows per mask; body rows repeat them in bands, which the decoder cannot exploit. */
const ROW_POOL = 64;
const MB = 1e6;

/** A logit at relative position (u, v) of mask k: a blob, strongly negative far from it, with some texture. */
function logit(k: number, u: number, v: number): number {
  const dx = u - 0.45 - 0.04 * k;
  const dy = v - 0.5;
  const r = Math.sqrt(dx * dx + dy * dy);
  return Math.fround(18 * (0.3 - r) / 0.3 + 0.9 * Math.sin(37 * u + k) * Math.cos(23 * v));
}

interface Answer {
  label: string;
  width: number;
  height: number;
  binary: boolean;
}

const enc = (s: string): Uint8Array => Buffer.from(s, 'latin1');

/** The printed text of an answer's distinct rows and of its logits, made once per answer. */
interface Printed {
  rows: Uint8Array[][];
  logits: Uint8Array;
}
const printed = new Map<Answer, Printed>();

function print(a: Answer): Printed {
  let p = printed.get(a);
  if (p) return p;
  const count = 3;
  const rows: Uint8Array[][] = [];
  for (let k = 0; k < count; k++) {
    const pool: Uint8Array[] = [];
    for (let j = 0; j < ROW_POOL; j++) {
      const v = (j + 0.5) / ROW_POOL;
      const row: string[] = new Array(a.width);
      for (let x = 0; x < a.width; x++) {
        const value = logit(k, (x + 0.5) / a.width, v);
        row[x] = a.binary ? (value > 0 ? '1.0' : '0.0') : pyFloatRepr(value);
      }
      pool.push(enc(`[${row.join(', ')}]`));
    }
    rows.push(pool);
  }
  const masks: string[] = [];
  for (let k = 0; k < count; k++) {
    const lines: string[] = [];
    for (let y = 0; y < 256; y++) {
      const row: string[] = [];
      for (let x = 0; x < 256; x++) row.push(pyFloatRepr(logit(k, (x + 0.5) / 256, (y + 0.5) / 256)));
      lines.push(`[${row.join(', ')}]`);
    }
    masks.push(`[${lines.join(', ')}]`);
  }
  p = { rows, logits: enc(`[${masks.join(', ')}]`) };
  printed.set(a, p);
  return p;
}

const OPEN_MASKS = enc('{"masks": "[');
const SEPARATOR = enc(', ');
const OPEN_LIST = enc('[');
const CLOSE_LIST = enc(']');
const SCORES = enc(`]", "scores": "[${[0.953125, 0.8740234375, 0.5126953125].map(pyFloatRepr).join(', ')}]", "logits": "`);
const END = enc('"}');

/** The answer's bytes in order, as pieces of any size. */
function* answerPieces(a: Answer): Generator<Uint8Array> {
  const { rows, logits } = print(a);
  yield OPEN_MASKS;
  for (let k = 0; k < rows.length; k++) {
    if (k > 0) yield SEPARATOR;
    yield OPEN_LIST;
    for (let y = 0; y < a.height; y++) {
      if (y > 0) yield SEPARATOR;
      yield rows[k][Math.floor((y * ROW_POOL) / a.height)];
    }
    yield CLOSE_LIST;
  }
  yield SCORES;
  yield logits;
  yield END;
}

/**
 * The same bytes as 64 KiB chunks. Two buffers take turns, since the decoder is done with a
 * chunk before it asks for the next: a network body's fresh buffers are the socket's cost,
 * and here their page faults would be counted against the decoder.
 */
function* streamChunks(a: Answer): Generator<Uint8Array> {
  const buffers = [new Uint8Array(CHUNK), new Uint8Array(CHUNK)];
  let turn = 0;
  let chunk = buffers[0];
  let used = 0;
  for (const piece of answerPieces(a)) {
    let at = 0;
    while (at < piece.length) {
      const n = Math.min(piece.length - at, CHUNK - used);
      chunk.set(piece.subarray(at, at + n), used);
      used += n;
      at += n;
      if (used === CHUNK) {
        yield chunk;
        turn ^= 1;
        chunk = buffers[turn];
        used = 0;
      }
    }
  }
  if (used > 0) yield chunk.subarray(0, used);
}

function* sliceChunks(body: Uint8Array): Generator<Uint8Array> {
  for (let at = 0; at < body.length; at += CHUNK) yield body.subarray(at, at + CHUNK);
}

/** Peak memory above a starting point, sampled whenever `sample` is called. */
class MemoryPeak {
  private readonly rss0: number;
  private readonly heap0: number;
  private rss = 0;
  private heap = 0;
  constructor() {
    (globalThis as { gc?: () => void }).gc?.();
    const m = process.memoryUsage();
    this.rss0 = m.rss;
    this.heap0 = m.heapUsed + m.arrayBuffers;
    this.sample();
  }
  sample(): void {
    const m = process.memoryUsage();
    this.rss = Math.max(this.rss, m.rss - this.rss0);
    this.heap = Math.max(this.heap, m.heapUsed + m.arrayBuffers - this.heap0);
  }
  figures(): { rssMB: number; heapMB: number } {
    return { rssMB: round(this.rss / MB), heapMB: round(this.heap / MB) };
  }
}

const round = (x: number, digits = 1): number => Number(x.toFixed(digits));

async function* counted(chunks: Iterable<Uint8Array>, memory: MemoryPeak | null, bytes: { n: number }): AsyncGenerator<Uint8Array> {
  let k = 0;
  for (const chunk of chunks) {
    bytes.n += chunk.length;
    if (memory !== null && ++k % 16 === 0) memory.sample();
    yield chunk;
  }
}

interface Run {
  seconds: number;
  bytes: number;
  outputBytes: number;
  memory: { rssMB: number; heapMB: number };
}

/** Ours on a body as 64 KiB chunks (an iterable) or whole (one Uint8Array). */
type Source = (() => Iterable<Uint8Array>) | Uint8Array;

async function runOurs(source: Source, options: DecodeOptions, sampleMemory: boolean): Promise<Run> {
  const memory = new MemoryPeak();
  const bytes = { n: 0 };
  const t0 = process.hrtime.bigint();
  let r: DecodedResponse;
  if (source instanceof Uint8Array) {
    bytes.n = source.length;
    r = await decodeSegmentResponse(source, options);
  } else {
    r = await decodeSegmentResponse(counted(source(), sampleMemory ? memory : null, bytes), options);
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  memory.sample();
  const outputBytes = (r.masks?.data.byteLength ?? 0) + r.scores.byteLength + (r.logits?.data.byteLength ?? 0);
  return { seconds, bytes: bytes.n, outputBytes, memory: memory.figures() };
}

/** The fastest of `timed` runs, and the memory of one more run that samples it. */
async function oursFigures(source: Source, options: DecodeOptions, timed: number): Promise<{ fast: Run; memory: Run }> {
  const runs: Run[] = [];
  for (let i = 0; i < timed; i++) runs.push(await runOurs(source, options, false));
  return { fast: fastest(runs), memory: await runOurs(source, options, true) };
}

/** oursFigures for several sources, their timed runs taking turns. */
async function oursFiguresTogether(sources: Source[], options: DecodeOptions, timed: number): Promise<Array<{ fast: Run; memory: Run }>> {
  const runs: Run[][] = sources.map(() => []);
  for (let i = 0; i < timed; i++) {
    for (let k = 0; k < sources.length; k++) runs[k].push(await runOurs(sources[k], options, false));
  }
  const out: Array<{ fast: Run; memory: Run }> = [];
  for (let k = 0; k < sources.length; k++) out.push({ fast: fastest(runs[k]), memory: await runOurs(sources[k], options, true) });
  return out;
}

interface Arrays {
  masks: Uint8Array | Float32Array;
  scores: Float32Array;
  logits: Float32Array;
}

/**
 * What users write today with the official SDK's answer. Efficient mode (masks rebuilt from
 * the logits) still parses the whole body, but not the masks' text.
 */
function baselineDecode(body: Buffer, binary: boolean, memory: MemoryPeak, withMasks = true): Arrays {
  const answer = JSON.parse(body.toString('utf8')) as { masks: string; scores: string; logits: string };
  memory.sample();
  const masks = withMasks ? (JSON.parse(answer.masks) as number[][][]) : [[[0]]];
  memory.sample();
  const [count, height, width] = [masks.length, masks[0].length, masks[0][0].length];
  const maskData = binary ? new Uint8Array(count * height * width) : new Float32Array(count * height * width);
  let p = 0;
  for (const mask of masks) {
    for (const row of mask) {
      for (const v of row) maskData[p++] = binary ? (v > 0 ? 1 : 0) : v;
    }
  }
  memory.sample();
  const scores = Float32Array.from(JSON.parse(answer.scores) as number[]);
  const logits = new Float32Array(count * 256 * 256);
  p = 0;
  for (const mask of JSON.parse(answer.logits) as number[][][]) {
    for (const row of mask) {
      for (const v of row) logits[p++] = v;
    }
  }
  memory.sample();
  return { masks: maskData, scores, logits };
}

/** The baseline timed; a streamed body is gathered first, as such a client must. */
function runBaseline(source: Buffer | Uint8Array[], binary: boolean, withMasks = true): Run {
  const memory = new MemoryPeak();
  const t0 = process.hrtime.bigint();
  const body = Array.isArray(source) ? Buffer.concat(source) : source;
  memory.sample();
  const out = baselineDecode(body, binary, memory, withMasks);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { seconds, bytes: body.length, outputBytes: out.masks.byteLength + out.scores.byteLength + out.logits.byteLength, memory: memory.figures() };
}

/** Figures for a wrong answer are worthless: ours must give exactly what JSON.parse gives. */
async function sameAsBaseline(body: Buffer, a: Answer): Promise<void> {
  const theirs = baselineDecode(body, a.binary, new MemoryPeak());
  const options: DecodeOptions = { masks: a.binary ? 'binary' : 'logits' };
  for (const ours of [await decodeSegmentResponse(counted(sliceChunks(body), null, { n: 0 }), options), await decodeSegmentResponse(body, options)]) {
    deepStrictEqual(ours.masks?.shape, [3, a.height, a.width]);
    deepStrictEqual(ours.masks?.data, theirs.masks);
    deepStrictEqual(ours.scores, theirs.scores);
    deepStrictEqual(ours.logits?.data, theirs.logits);
  }
  for (const skipped of [await decodeSegmentResponse(counted(sliceChunks(body), null, { n: 0 }), { masks: 'skip' }), await decodeSegmentResponse(body, { masks: 'skip' })]) {
    deepStrictEqual(skipped.masks, null);
    deepStrictEqual(skipped.logits?.data, theirs.logits);
  }
}

const mbps = (r: Run): number => round(r.bytes / MB / r.seconds, 0);
const fastest = (runs: Run[]): Run => runs.reduce((a, b) => (b.seconds < a.seconds ? b : a));

/**
 * One answer held in memory, decoded by ours whole and as 64 KiB chunks, and by the
 * baseline; then efficient mode (masks skipped, logits kept) the same three ways.
 */
async function heldBody(report: Report, a: Answer, oursRuns: number, baselineRuns: number): Promise<void> {
  const body = Buffer.concat([...answerPieces(a)]);
  await sameAsBaseline(body, a);
  const modes = [
    { name: `decode ${a.label}`, options: { masks: a.binary ? 'binary' : 'logits' } as DecodeOptions, withMasks: true },
    { name: `skip masks (efficient mode), ${a.label}`, options: { masks: 'skip' } as DecodeOptions, withMasks: false },
  ];
  for (const mode of modes) {
    // Taking turns, so that a busy moment of the machine does not fall on one side only.
    const wholeBody = new Uint8Array(body.buffer, body.byteOffset, body.length);
    const [chunked, whole] = await oursFiguresTogether([() => sliceChunks(body), wholeBody], mode.options, oursRuns);
    const baseline: Run[] = [];
    for (let i = 0; i < baselineRuns; i++) baseline.push(runBaseline(body, a.binary, mode.withMasks));
    const b = fastest(baseline);
    for (const [how, ours] of [['whole body', whole], ['64 KiB chunks', chunked]] as const) {
      const o = ours.fast;
      report({
        name: `${mode.name}, ${how}`,
        ratio: round(mbps(o) / mbps(b), 2),
        bodyMB: round(body.length / MB),
        oursMBps: mbps(o),
        baselineMBps: mbps(b),
        oursSeconds: round(o.seconds, 3),
        baselineSeconds: round(b.seconds, 3),
        ...(how === 'whole body' ? { wholeOverChunkedSpeed: round(mbps(o) / mbps(chunked.fast), 2) } : {}),
        outputMB: round(o.outputBytes / MB),
        oursAddedMB: ours.memory.memory,
        baselineAddedMB: peakOf(baseline),
      });
    }
  }
}

/** The worst memory seen across runs: the figure a box must have room for. */
function peakOf(runs: Run[]): { rssMB: number; heapMB: number } {
  return {
    rssMB: Math.max(...runs.map((r) => r.memory.rssMB)),
    heapMB: Math.max(...runs.map((r) => r.memory.heapMB)),
  };
}

const ANSWER_4K: Answer = { label: '3840x2160 x3 logit masks (streamed)', width: 3840, height: 2160, binary: false };
const CHILD_FLAG = '--decode-bench-4k-baseline';

/** Runs in the child: gather the stream into one body as the baseline must, then decode it. */
function baselineChild(): void {
  let result: unknown;
  try {
    // Copies, as a network body's chunks would be; the generator reuses its buffers.
    const chunks = Array.from(streamChunks(ANSWER_4K), (chunk) => chunk.slice());
    const run = runBaseline(chunks, false);
    result = { ok: true, mbps: mbps(run), seconds: round(run.seconds, 3), addedMB: run.memory };
  } catch (err) {
    result = { ok: false, reason: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
  }
  process.stdout.write(JSON.stringify(result));
}

function baselineInChild(): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--expose-gc', __filename, CHILD_FLAG], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code, signal) => {
      try {
        resolve(JSON.parse(out) as Record<string, unknown>);
      } catch {
        const last = err.trim().split('\n').filter(Boolean).slice(-1)[0] ?? '';
        resolve({ ok: false, reason: `process died (${signal ?? `exit code ${code}`}): ${last}` });
      }
    });
  });
}

/** How fast the generator alone makes the 4K stream: ours' time includes it. */
function streamOnly(): Run {
  const t0 = process.hrtime.bigint();
  let bytes = 0;
  for (const chunk of streamChunks(ANSWER_4K)) bytes += chunk.length;
  return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, bytes, outputBytes: 0, memory: { rssMB: 0, heapMB: 0 } };
}

/** The 4K answer is never whole, so spot-check ours against the values the generator printed. */
function checkStreamed(r: DecodedResponse): void {
  const { width, height } = ANSWER_4K;
  deepStrictEqual(r.masks?.shape, [3, height, width]);
  deepStrictEqual(r.logits?.shape, [3, 256, 256]);
  for (const [k, y, x] of [[0, 0, 0], [1, 1234, 2345], [2, height - 1, width - 1], [2, 700, 3000]]) {
    const printed = logit(k, (x + 0.5) / width, (Math.floor((y * ROW_POOL) / height) + 0.5) / ROW_POOL);
    deepStrictEqual(r.masks?.data[(k * height + y) * width + x], printed);
    deepStrictEqual(r.logits?.data[(k * 256 + (y % 256)) * 256 + (x % 256)], logit(k, ((x % 256) + 0.5) / 256, ((y % 256) + 0.5) / 256));
  }
}

async function streamed(report: Report): Promise<void> {
  print(ANSWER_4K);
  checkStreamed(await decodeSegmentResponse(counted(streamChunks(ANSWER_4K), null, { n: 0 }), { masks: 'logits' }));
  const source = streamOnly();
  const ours = await oursFigures(() => streamChunks(ANSWER_4K), { masks: 'logits' }, 2);
  const baseline = await baselineInChild();
  const row: BenchRow = {
    name: `decode ${ANSWER_4K.label}`,
    bodyMB: round(ours.fast.bytes / MB),
    oursMBps: mbps(ours.fast),
    oursSeconds: round(ours.fast.seconds, 3),
    generatorOnlyMBps: mbps(source),
    outputMB: round(ours.fast.outputBytes / MB),
    oursAddedMB: ours.memory.memory,
  };
  if (baseline.ok) {
    const { mbps: baselineMBps, seconds: baselineSeconds, addedMB: baselineAddedMB } = baseline;
    report({ ...row, ratio: round(row.oursMBps as number / (baselineMBps as number), 2), baselineMBps, baselineSeconds, baselineAddedMB });
  } else {
    report({ ...row, baseline: `failed: ${String(baseline.reason)}` });
  }
}

export async function run(report: Report): Promise<void> {
  await heldBody(report, { label: '1920x1080 x3 binary masks', width: 1920, height: 1080, binary: true }, 15, 3);
  await heldBody(report, { label: '1920x1080 x3 logit masks', width: 1920, height: 1080, binary: false }, 6, 3);
  await streamed(report);
}

if (require.main === module && process.argv.includes(CHILD_FLAG)) baselineChild();
