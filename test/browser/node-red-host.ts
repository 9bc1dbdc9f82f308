/**
 * Starts Node-RED with this package (see node-red-child.ts) in a temporary user directory, and
 * talks to its admin API the way the editor does.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';

/** The package's root: Node-RED loads it from there as it would from node_modules. */
export const PACKAGE_ROOT = resolve(__dirname, '../../..');

export interface NodeRedOptions {
  /** Written as the flow file before start. */
  flows?: object[];
  /** Stored credentials by node id, as Node-RED keeps them with `credentialSecret: false`. */
  credentials?: Record<string, object>;
  /** Node-RED's adminAuth setting. */
  adminAuth?: object;
}

export interface NodeRedHost {
  url: string;
  userDir: string;
  /** Output of the runtime, for a failing test to show. */
  log: string[];
  stop(): Promise<void>;
}

export async function startNodeRed(options: NodeRedOptions = {}): Promise<NodeRedHost> {
  const userDir = mkdtempSync(join(tmpdir(), 'sam2-node-red-'));
  writeFileSync(join(userDir, 'flows.json'), JSON.stringify(options.flows ?? []));
  if (options.credentials) writeFileSync(join(userDir, 'flows_cred.json'), JSON.stringify(options.credentials));
  const settings = {
    userDir,
    flowFile: 'flows.json',
    // Unencrypted credentials: the plain file written above is read as it is.
    credentialSecret: false,
    nodesDir: [PACKAGE_ROOT],
    uiHost: '127.0.0.1',
    httpAdminRoot: '/',
    httpNodeRoot: '/api',
    logging: { console: { level: 'warn', metrics: false, audit: false } },
    telemetry: { enabled: false, updateNotification: false },
    editorTheme: { tours: false, projects: { enabled: false } },
    ...(options.adminAuth ? { adminAuth: options.adminAuth } : {}),
  };
  const log: string[] = [];
  const child: ChildProcess = fork(join(__dirname, 'node-red-child.js'), [], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  child.stdout?.on('data', (chunk: Buffer) => log.push(chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => log.push(chunk.toString()));
  child.send(settings);
  const [reply] = (await Promise.race([
    once(child, 'message'),
    once(child, 'exit').then(([code]) => {
      throw new Error(`Node-RED exited with ${code} before it started:\n${log.join('')}`);
    }),
  ])) as [{ port?: number; error?: string }];
  if (reply.error) throw new Error(`Node-RED did not start: ${reply.error}\n${log.join('')}`);
  return {
    url: `http://127.0.0.1:${reply.port}`,
    userDir,
    log,
    async stop() {
      if (child.exitCode === null) {
        const exited = once(child, 'exit');
        child.disconnect();
        await exited;
      }
      rmSync(userDir, { recursive: true, force: true });
    },
  };
}

export interface AdminResponse {
  status: number;
  headers: Headers;
  body: Buffer;
  json<T = Record<string, unknown>>(): T;
}

/** A request to the admin API, as the editor makes it: `Node-RED-API-Version: v2` and the bearer token when given. */
export async function admin(
  host: NodeRedHost,
  method: string,
  path: string,
  options: { body?: unknown; token?: string; contentType?: string } = {},
): Promise<AdminResponse> {
  const headers: Record<string, string> = { 'Node-RED-API-Version': 'v2' };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    headers['content-type'] = options.contentType ?? 'application/json';
    body = JSON.stringify(options.body);
  }
  const res = await fetch(`${host.url}${path}`, { method, headers, body });
  const bytes = Buffer.from(await res.arrayBuffer());
  return {
    status: res.status,
    headers: res.headers,
    body: bytes,
    json<T>() {
      return JSON.parse(bytes.toString('utf8')) as T;
    },
  };
}

/** Waits for a condition the runtime reaches on its own, checking every 50 ms. */
export async function until<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The editor's globals that deployFromEditor touches, in the page: this build has no DOM types. */
interface EditorGlobals {
  sam2Deployed?: Promise<void>;
  RED: { events: { on(event: string, handler: () => void): void; off(event: string, handler: () => void): void } };
}

/** Presses Deploy in the editor and waits for the editor to hear that the runtime took the flows. */
export async function deployFromEditor(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = globalThis as unknown as EditorGlobals;
    w.sam2Deployed = new Promise((resolve) => {
      const heard = () => {
        w.RED.events.off('deploy', heard);
        resolve();
      };
      w.RED.events.on('deploy', heard);
    });
  });
  await page.click('#red-ui-header-button-deploy');
  await page.evaluate(() => (globalThis as unknown as EditorGlobals).sam2Deployed);
}
