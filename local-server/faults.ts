/**
 * Fault injection: the failures a client meets on real networks and real servers, made on
 * demand so its retries, timeouts and decoders can be tested. A spec is `name[=value]`
 * items joined by `;`, e.g. `latency=300;status=503` or `status=429;retry-after=2`.
 * `body=` takes the rest of the spec (so a body may contain `;`) and must come last.
 */
import type { ServerResponse } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';

/** How the answer ends: cut (reset or cleanly truncated) after `at` bytes, or never. */
export type FaultEnd = { kind: 'reset' | 'truncate'; at?: number } | { kind: 'stall' } | { kind: 'hang' };

/** What the body is instead of the real answer. */
export type FaultBody = { kind: 'text'; text: string } | { kind: 'garbage' } | { kind: 'oversize'; bytes: number };

export interface Faults {
  latencyMs?: number;
  status?: number;
  retryAfter?: string;
  body?: FaultBody;
  end?: FaultEnd;
  trickleMs?: number;
  /** Piece size for `trickle`. */
  chunkBytes?: number;
}

export class FaultSpecError extends Error {}

export const FAULT_HELP =
  'latency=<ms>, status=<code>, retry-after=<seconds>, body=<text> (last), reset[=<bytes>], truncate[=<bytes>], ' +
  'trickle=<ms>, chunk=<bytes>, stall, hang, garbage, oversize=<bytes>';

/** Smallest oversize body: `[[[0.0]]]`. */
const MIN_OVERSIZE = 9;
/** `0.0, ` items per chunk of an oversize body: about 512 KiB. */
const OVERSIZE_RUN_ITEMS = 100_000;

function integer(name: string, value: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = value === undefined || !/^\d+$/.test(value) ? NaN : Number(value);
  if (!(n >= min && n <= max)) {
    throw new FaultSpecError(`fault ${name} needs a whole number from ${min} to ${max}, not ${value === undefined ? 'nothing' : JSON.stringify(value)}`);
  }
  return n;
}

function flag(name: string, value: string | undefined): void {
  if (value !== undefined) throw new FaultSpecError(`fault ${name} takes no value, not ${JSON.stringify(value)}`);
}

/** Parses one spec; throws FaultSpecError naming the item it cannot read. */
export function parseFaults(spec: string): Faults {
  const faults: Faults = {};
  const parts = spec.split(';');
  const setEnd = (end: FaultEnd): void => {
    if (faults.end) throw new FaultSpecError(`faults ${faults.end.kind} and ${end.kind} cannot be combined: choose one`);
    faults.end = end;
  };
  const setBody = (body: FaultBody): void => {
    if (faults.body) throw new FaultSpecError(`faults ${faults.body.kind === 'text' ? 'body' : faults.body.kind} and ${body.kind === 'text' ? 'body' : body.kind} cannot be combined: choose one`);
    faults.body = body;
  };
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    const eq = part.indexOf('=');
    const name = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    const value = eq < 0 ? undefined : part.slice(eq + 1).trim();
    if (name === '') {
      if (value !== undefined) throw new FaultSpecError(`fault item ${JSON.stringify(part)} has no name`);
      continue;
    }
    switch (name) {
      case 'latency':
        faults.latencyMs = integer(name, value, 0, 600_000);
        break;
      case 'status':
        faults.status = integer(name, value, 200, 599);
        break;
      case 'retry-after':
        if (!value) throw new FaultSpecError('fault retry-after needs a value, e.g. retry-after=2');
        faults.retryAfter = value;
        break;
      case 'body':
        // Verbatim, untrimmed, through the end of the spec.
        setBody({ kind: 'text', text: [eq < 0 ? '' : part.slice(eq + 1), ...parts.slice(i + 1)].join(';') });
        i = parts.length;
        break;
      case 'garbage':
        flag(name, value);
        setBody({ kind: 'garbage' });
        break;
      case 'oversize':
        setBody({ kind: 'oversize', bytes: integer(name, value, MIN_OVERSIZE) });
        break;
      case 'reset':
      case 'truncate':
        setEnd({ kind: name, at: value === undefined ? undefined : integer(name, value, 0) });
        break;
      case 'stall':
      case 'hang':
        flag(name, value);
        setEnd({ kind: name });
        break;
      case 'trickle':
        faults.trickleMs = integer(name, value, 0, 60_000);
        break;
      case 'chunk':
        faults.chunkBytes = integer(name, value, 1);
        break;
      default:
        throw new FaultSpecError(`unknown fault ${JSON.stringify(name)}; known faults: ${FAULT_HELP}`);
    }
  }
  return faults;
}

/** Later sets win, item by item: a header's `status` replaces the start option's. */
export function mergeFaults(...sets: Array<Faults | undefined>): Faults {
  return Object.assign({}, ...sets.filter(Boolean)) as Faults;
}

/** `garbage`: deterministic bytes that are not JSON, not UTF-8 and not empty. */
export function garbageBytes(): Buffer {
  const b = Buffer.alloc(4096);
  let s = 0x9e3779b9;
  for (let i = 0; i < b.length; i++) {
    s = (s ^ (s << 13)) >>> 0;
    s = (s ^ (s >>> 17)) >>> 0;
    s = (s ^ (s << 5)) >>> 0;
    b[i] = s & 0xff;
  }
  b.write('\u00ff\u00fe<not json>', 0, 'latin1');
  return b;
}

/**
 * `oversize`: an answer shaped like a real one whose `masks` text is exactly `bytes` long
 * (`[[[0.0, 0.0, ...]]]`, the last number widened to land on the size), then a score and
 * 1x256x256 zero logits.
 */
export function* oversizeChunks(bytes: number): Generator<Buffer> {
  const inner = bytes - 6;
  const more = Math.floor((inner - 3) / 5);
  const last = ['0.0', '10.0', '100.0', '1000.0', '10000.0'][inner - 3 - 5 * more];
  yield Buffer.from('{"masks":"[[[', 'latin1');
  const items = OVERSIZE_RUN_ITEMS;
  const run = Buffer.from('0.0, '.repeat(items), 'latin1');
  for (let left = more; left > 0; left -= items) yield run.subarray(0, Math.min(left, items) * 5);
  const zeroRow = `[${new Array(256).fill('0.0').join(', ')}]`;
  yield Buffer.from(`${last}]]]","scores":"[0.5]","logits":"[[${new Array(256).fill(zeroRow).join(', ')}]]"}`, 'latin1');
}

/** Resolves when the response's connection is gone or `signal` aborts. */
export function closed(res: ServerResponse, signal: AbortSignal): Promise<void> {
  if (res.destroyed || res.writableFinished || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('close', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    res.on('close', done);
    signal.addEventListener('abort', done);
  });
}

async function write(res: ServerResponse, chunk: Buffer, signal: AbortSignal): Promise<boolean> {
  if (res.destroyed || signal.aborted) return false;
  if (!res.write(chunk)) {
    await new Promise<void>((resolve) => {
      const done = (): void => {
        res.off('drain', done);
        res.off('close', done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      res.on('drain', done);
      res.on('close', done);
      signal.addEventListener('abort', done);
    });
  }
  return !res.destroyed && !signal.aborted;
}

/**
 * Resolves once everything written so far has left Node for the kernel: a socket's writes
 * complete in order, so an empty write's callback comes after them. A reset any earlier
 * would discard the part of the body that should reach the client.
 */
function handedToKernel(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const socket = res.socket;
    if (!socket || socket.destroyed) resolve();
    else socket.write(Buffer.alloc(0), () => resolve());
  });
}

/** The default cut point when none is given: half a body of known size, else 64 KiB in. */
const DEFAULT_CUT = 64 * 1024;
const DEFAULT_TRICKLE_PIECE = 16 * 1024;

/**
 * Sends `chunks` with backpressure, applying `trickle` and a cut: `truncate` ends the
 * response cleanly (a complete HTTP message whose JSON is cut short), `reset` sends a TCP
 * reset once the part before the cut has been handed to the kernel.
 */
export async function deliver(
  res: ServerResponse,
  chunks: Iterable<Buffer> | AsyncIterable<Buffer>,
  faults: Faults,
  length: number | undefined,
  signal: AbortSignal,
): Promise<void> {
  const end = faults.end?.kind === 'reset' || faults.end?.kind === 'truncate' ? faults.end : undefined;
  const cutAt = end ? (end.at ?? (length !== undefined ? Math.floor(length / 2) : DEFAULT_CUT)) : Infinity;
  const piece = faults.trickleMs !== undefined ? (faults.chunkBytes ?? DEFAULT_TRICKLE_PIECE) : Infinity;
  // A cut at byte 0 must still show the headers.
  if (end) res.flushHeaders();
  let sent = 0;
  let pieces = 0;
  for await (const chunk of chunks) {
    for (let off = 0; off < chunk.length; ) {
      let part = chunk.subarray(off, Math.min(chunk.length, off + piece));
      off += part.length;
      if (sent + part.length >= cutAt) part = part.subarray(0, cutAt - sent);
      if (pieces++ > 0 && faults.trickleMs) {
        try {
          await delay(faults.trickleMs, undefined, { signal });
        } catch {
          return;
        }
      }
      if (part.length > 0 && !(await write(res, part, signal))) return;
      sent += part.length;
      if (sent >= cutAt) {
        if (end?.kind === 'truncate') res.end();
        else await handedToKernel(res).then(() => res.socket?.resetAndDestroy());
        return;
      }
    }
  }
  res.end();
}
