/**
 * `npm run bench:soak [frames]`: a camera's worth of frames (10,000 by default) through a
 * deployed flow (sam2-segment with the `latest` queue and a second output for dropped frames,
 * a Catch node for failures) against the local server, with server faults and corrupt frames
 * mixed in. Every frame must come out once: sent, dropped or failed. Memory is read after a
 * warm-up and at the end; sockets and handles once the flow and the server have stopped.
 * Exits non-zero when the counts do not add up, memory grows, or anything is left open.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { startLocalServer } from '../local-server/server';
import { makeScene } from '../test/fixtures/scenes';

/**
 * Node-RED embedded in this process, with this package loaded as a user's would be. Not the
 * test helper: it spies on every node call and so keeps every message, which is a leak here.
 * Required, not imported: its published types pull the editor's DOM types into the build.
 */
interface EmbeddedNodeRed {
  init(server: ReturnType<typeof createServer>, settings: object): void;
  start(): Promise<void>;
  stop(): Promise<void>;
  nodes: { getNode(id: string): FlowNode | null };
  events: { once(event: 'flows:started', listener: () => void): void };
}
interface FlowNode {
  receive(msg: object): void;
  on(event: 'input', listener: (msg: { frame: number; error: { message: string } }) => void): void;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const RED = require('node-red') as EmbeddedNodeRed;

const FRAMES = Number(process.argv[2] ?? process.env.SOAK_FRAMES ?? 10_000);
const WARM_UP = Math.min(1_000, Math.floor(FRAMES / 10));
/** A frame every this many ms: faster than the endpoint answers, so the queue must drop. */
const FRAME_INTERVAL_MS = 4;
/** Every this many frames, one is a damaged JPEG: it must fail alone, before any request. */
const CORRUPT_EVERY = 500;
/**
 * Heap growth from warm-up to end that still counts as noise: Node-RED's own context, the
 * runtime's log buffers and V8's pretenuring move a few MB either way between two full GCs;
 * a leak of even one frame's worth per hundred frames (a 320x240 JPEG is ~8 KB, its masks
 * ~230 KB) would pass this by far over 10,000 frames.
 */
const HEAP_NOISE_MB = 8;

/** The server fault for the n-th request: one in ten requests misbehaves, in six ways. */
function faultFor(n: number): string | undefined {
  switch (n % 60) {
    case 5: return 'status=503'; // retried
    case 15: return 'status=429;retry-after=0'; // retried at once, as the server asked
    case 25: return 'reset=1500'; // connection dropped mid-answer: retried
    case 35: return 'status=500'; // not retried: fails
    case 45: return 'truncate=2000'; // a cut answer: fails, named by the decoder
    case 55: return n % 120 === 55 ? 'garbage' : 'latency=150';
    default: return undefined;
  }
}

/** `status=503`, `reset`, `garbage`...: a fault's name, with the status when it is one. */
function faultKind(spec: string): string {
  const first = spec.split(';')[0];
  return first.startsWith('status=') ? first : first.split('=')[0];
}

interface Counts {
  received: number;
  sent: number;
  dropped: number;
  failed: number;
}

function settled(c: Counts): number {
  return c.sent + c.dropped + c.failed;
}

function heapMB(): { heapMB: number; rssMB: number } {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return { heapMB: +(m.heapUsed / 2 ** 20).toFixed(1), rssMB: +(m.rss / 2 ** 20).toFixed(1) };
}

/** Active handles by kind, e.g. { TCPSocketWrap: 2, Timeout: 1 }. */
function resources(): Record<string, number> {
  const kinds: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) kinds[kind] = (kinds[kind] ?? 0) + 1;
  return kinds;
}

/** What `now` has beyond `base`, kind by kind. */
function beyond(now: Record<string, number>, base: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(now).filter(([kind, n]) => n > (base[kind] ?? 0)).map(([kind, n]) => [kind, n - (base[kind] ?? 0)]));
}

function waitFor(what: string, done: () => boolean, timeoutMs: number): Promise<void> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (done()) return resolve();
      if (Date.now() - start > timeoutMs) return reject(new Error(`soak: gave up waiting for ${what} after ${timeoutMs} ms`));
      setTimeout(check, 20);
    };
    check();
  });
}

async function main(): Promise<void> {
  if (!(globalThis as { gc?: unknown }).gc) throw new Error('run with node --expose-gc (npm run bench:soak does)');
  // Written first: stdout's own handle opens on first use, and must not count as left open.
  process.stdout.write(`soak: ${FRAMES} frames, one every ${FRAME_INTERVAL_MS} ms, against the local server with faults mixed in\n`);
  const baseline = resources();

  const scenes = await Promise.all(['studio', 'garden'].map((name) => makeScene(name, 320, 240)));
  // Frames that differ a little, as a camera's do: the two scenes at a few JPEG qualities.
  const frames = await Promise.all(scenes.flatMap((s) => [60, 75, 90].map((quality) => sharp(s.rgb, { raw: { width: 320, height: 240, channels: 3 } }).jpeg({ quality }).toBuffer())));
  const corrupt = frames[0].subarray(0, frames[0].length >> 1);
  const faultsSent: Record<string, number> = {};
  const server = await startLocalServer({
    faultsFor: (n) => {
      const spec = faultFor(n);
      if (spec) faultsSent[faultKind(spec)] = (faultsSent[faultKind(spec)] ?? 0) + 1;
      return spec;
    },
  });

  const userDir = mkdtempSync(join(tmpdir(), 'sam2-soak-'));
  writeFileSync(join(userDir, 'flows.json'), JSON.stringify([
    { id: 'soak', type: 'tab', label: 'soak' },
    { id: 'endpoint', type: 'sam2-endpoint', service: 'custom', url: server.url, concurrency: 2, retries: 2, timeout: 30 },
    {
      id: 'segment', type: 'sam2-segment', z: 'soak', endpoint: 'endpoint', queue: 'latest', dropOutput: true, outputs: 2,
      points: [{ x: 64, y: 65, label: 1 }], select: 'best', format: 'rle', wires: [['sent'], ['dropped']],
    },
    // Inactive debug nodes: ends of wires that do nothing but receive, for the counts below.
    { id: 'sent', type: 'debug', z: 'soak', active: false, wires: [] },
    { id: 'dropped', type: 'debug', z: 'soak', active: false, wires: [] },
    { id: 'catcher', type: 'catch', z: 'soak', scope: ['segment'], uncaught: false, wires: [['failed']] },
    { id: 'failed', type: 'debug', z: 'soak', active: false, wires: [] },
  ]));
  RED.init(createServer(), {
    userDir,
    flowFile: 'flows.json',
    nodesDir: [resolve(__dirname, '..', '..')],
    httpAdminRoot: false,
    httpNodeRoot: false,
    // Failures are counted below; Node-RED would also print each one.
    logging: { console: { level: 'off' } },
    telemetry: { enabled: false, updateNotification: false },
  });
  const flowsStarted = new Promise<void>((resolve) => RED.events.once('flows:started', resolve));
  await RED.start();
  await flowsStarted;
  const node = (id: string): FlowNode => {
    const found = RED.nodes.getNode(id);
    if (!found) throw new Error(`soak: node ${id} did not start`);
    return found;
  };

  const counts: Counts = { received: 0, sent: 0, dropped: 0, failed: 0 };
  const failures: Record<string, number> = {};
  // How often each frame came out, by its number: totals alone would hide one frame out twice and another never.
  const outcomes = new Uint8Array(FRAMES);
  node('sent').on('input', (msg) => {
    counts.sent++;
    outcomes[msg.frame]++;
  });
  node('dropped').on('input', (msg) => {
    counts.dropped++;
    outcomes[msg.frame]++;
  });
  node('failed').on('input', (msg) => {
    counts.failed++;
    outcomes[msg.frame]++;
    // Group by the words before any number, so each kind of failure is one line.
    const kind = msg.error.message.replace(/\b\d[\d.]*\b/g, 'N').slice(0, 90);
    failures[kind] = (failures[kind] ?? 0) + 1;
  });

  const segment = node('segment');
  const started = Date.now();
  let warm: ReturnType<typeof heapMB> | undefined;
  for (let i = 0; i < FRAMES; i++) {
    counts.received++;
    segment.receive({ payload: i % CORRUPT_EVERY === CORRUPT_EVERY - 1 ? corrupt : frames[i % frames.length], frame: i });
    await new Promise((resolve) => setTimeout(resolve, FRAME_INTERVAL_MS));
    if (i + 1 === WARM_UP) {
      await waitFor('the warm-up frames', () => settled(counts) === counts.received, 60_000);
      warm = heapMB();
    }
  }
  await waitFor('every frame to be sent, dropped or failed', () => settled(counts) === counts.received, 120_000);
  const seconds = (Date.now() - started) / 1000;
  const end = heapMB();

  await RED.stop();
  // The endpoint's pool must let go of its connections: the server's side shows it.
  await waitFor('the client to close its connections', () => server.openConnections() === 0, 5_000).catch(() => undefined);
  const serverSockets = server.openConnections();
  await server.close();
  rmSync(userDir, { recursive: true, force: true });
  // A closed handle leaves the list a turn of the event loop later.
  await waitFor('handles to close', () => Object.keys(beyond(resources(), baseline)).length === 0, 2_000).catch(() => undefined);
  const left = beyond(resources(), baseline);

  const addsUp = counts.received === settled(counts) && outcomes.every((n) => n === 1);
  const growthMB = +(end.heapMB - warm!.heapMB).toFixed(1);
  const row = {
    name: `soak: ${FRAMES} frames through a deployed flow, faults mixed in`,
    ...counts,
    addsUp,
    seconds: +seconds.toFixed(1),
    framesPerSecond: +(counts.received / seconds).toFixed(1),
    answeredPerSecond: +(counts.sent / seconds).toFixed(1),
    faultsSent,
    failures,
    afterWarmUp: warm,
    atEnd: end,
    heapGrowthMB: growthMB,
    heapNoiseMB: HEAP_NOISE_MB,
    serverSocketsOpenAfterClose: serverSockets,
    handlesLeft: left,
  };
  process.stdout.write(JSON.stringify(row) + '\n');
  process.stdout.write(
    `\n${counts.received} received = ${counts.sent} sent + ${counts.dropped} dropped + ${counts.failed} failed: ${addsUp ? 'adds up, each frame exactly once' : 'DOES NOT ADD UP, or a frame came out twice or never'}\n` +
      `heap ${warm!.heapMB} MB after ${WARM_UP} frames, ${end.heapMB} MB at the end (${growthMB >= 0 ? '+' : ''}${growthMB} MB; noise allowed ${HEAP_NOISE_MB} MB); rss ${warm!.rssMB} → ${end.rssMB} MB\n` +
      `after stopping: ${serverSockets} sockets open at the server, handles left ${JSON.stringify(left)}\n`,
  );
  assert.ok(addsUp, 'every frame is sent, dropped or failed, exactly once');
  assert.ok(growthMB <= HEAP_NOISE_MB, `heap grew ${growthMB} MB`);
  assert.equal(serverSockets, 0, 'no connection left open');
  assert.deepEqual(left, {}, 'no handle left');
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  // Node-RED may still be running after a failure part way: end here rather than hang.
  process.exit(1);
});
