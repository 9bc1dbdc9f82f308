/**
 * `npm start` as a user lives with it: the real demo (dist/demo/start.js, a child process with
 * its own local server and Node-RED) in a temporary user dir (SAM2_USER_DIR), started, edited
 * through the admin API the way the editor deploys, stopped, and started again.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startLocalServer } from '../local-server/server';
import { until } from './browser/node-red-host';
import { freePort } from './fixtures/ports';

const ROOT = resolve(__dirname, '..', '..');
const START = join(ROOT, 'dist', 'demo', 'start.js');
const EXAMPLE_ENDPOINTS = [1, 2, 3, 4, 5, 6].map((n) => `sam2-example-${n}-endpoint`);
const USER_TOKEN = 'tok-user-own-7d2c-keep';
const EXAMPLE_TOKEN = 'tok-user-example-2-91ab';

interface FlowNode {
  id: string;
  type: string;
  service?: string;
  url?: string;
  [key: string]: unknown;
}

interface Demo {
  child: ChildProcess;
  log: string[];
  editor: string;
  /** Resolves with the exit code once the demo has exited. */
  exited: Promise<number | null>;
}

/** Runs `npm start`'s script with these settings; resolves when it has exited or Node-RED has started its flows. */
function runDemo(env: Record<string, string>): Promise<Demo & { started: boolean }> {
  const child = spawn(process.execPath, [START], {
    cwd: ROOT,
    env: { ...process.env, SAM2_URL: '', SAM2_TOKEN: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log: string[] = [];
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  const demo = { child, log, editor: `http://127.0.0.1:${env.PORT}`, exited };
  return new Promise((done) => {
    const onData = (chunk: Buffer): void => {
      log.push(chunk.toString());
      if (/Started flows/.test(log.join(''))) done({ ...demo, started: true });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then(() => done({ ...demo, started: false }));
  });
}

async function startDemo(env: Record<string, string>): Promise<Demo> {
  const demo = await runDemo(env);
  assert.ok(demo.started, `npm start did not start Node-RED:\n${demo.log.join('')}`);
  return demo;
}

/** Ctrl-C, as the demo says: it stops Node-RED and the local server, and exits. */
async function stopDemo(demo: Demo | undefined): Promise<void> {
  if (!demo || demo.child.exitCode !== null) return;
  demo.child.kill('SIGINT');
  await demo.exited;
}

async function admin<T>(demo: Demo, method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { 'Node-RED-API-Version': 'v2' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${demo.editor}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${text}`);
  return (res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text) as T;
}

async function flows(demo: Demo): Promise<FlowNode[]> {
  return (await admin<{ flows: FlowNode[] }>(demo, 'GET', '/flows')).flows;
}

function node(list: FlowNode[], id: string): FlowNode {
  const found = list.find((n) => n.id === id);
  assert.ok(found, `the flows hold ${id}`);
  return found;
}

/** Whether the editor shows a token as set on this endpoint (what the dialog's field reflects). */
async function hasToken(demo: Demo, id: string): Promise<boolean> {
  return Boolean((await admin<{ has_token?: boolean }>(demo, 'GET', `/credentials/sam2-endpoint/${id}`)).has_token);
}

/**
 * The editor opens on the flows: the settings it loads switch off Node-RED's welcome tour
 * (`editorTheme.tours`), and telemetry, so it neither asks about telemetry (it asks while
 * `telemetryEnabled` is unset) nor checks for a newer Node-RED to announce.
 */
async function assertOpensOnFlows(demo: Demo): Promise<void> {
  const settings = await admin<{ editorTheme?: { tours?: boolean }; telemetryEnabled?: boolean }>(demo, 'GET', '/settings');
  assert.equal(settings.editorTheme?.tours, false, 'no welcome tour');
  assert.equal(settings.telemetryEnabled, false, 'no telemetry question, no update check');
}

describe('npm start (demo/start.ts)', function () {
  this.timeout(120_000);
  let userDir: string;
  let demo: Demo | undefined;

  beforeEach(() => {
    userDir = mkdtempSync(join(tmpdir(), 'sam2-demo-'));
  });
  afterEach(async () => {
    await stopDemo(demo);
    demo = undefined;
    rmSync(userDir, { recursive: true, force: true });
  });

  it('keeps the user\'s own endpoint, their edits and their tokens from one start to the next', async () => {
    const env = { PORT: String(await freePort()), SAM2_SERVER_PORT: String(await freePort()), SAM2_USER_DIR: userDir };
    const local = `http://127.0.0.1:${env.SAM2_SERVER_PORT}`;
    demo = await startDemo(env);
    await assertOpensOnFlows(demo);
    let deployed = await flows(demo);
    for (const id of EXAMPLE_ENDPOINTS) assert.equal(node(deployed, id).url, local, `${id} points at the demo's local server on the first start`);

    // The user, in the editor: an endpoint of their own with a token, example 1's endpoint
    // re-pointed at their runner with a token, a token saved on example 2's endpoint; Deploy.
    const own = { id: 'my-runner', type: 'sam2-endpoint', name: 'my runner', service: 'custom', url: 'https://sam2.example.net', credentials: { token: USER_TOKEN } };
    const edited = deployed.map((n) => {
      if (n.id === 'sam2-example-1-endpoint') return { ...n, url: 'http://192.0.2.7:8936', credentials: { token: USER_TOKEN } };
      if (n.id === 'sam2-example-2-endpoint') return { ...n, credentials: { token: EXAMPLE_TOKEN } };
      return n;
    });
    await admin(demo, 'POST', '/flows', { flows: [...edited, own] });
    await stopDemo(demo);

    demo = await startDemo(env);
    deployed = await flows(demo);
    assert.equal(node(deployed, 'my-runner').url, 'https://sam2.example.net');
    assert.equal(node(deployed, 'sam2-example-1-endpoint').url, 'http://192.0.2.7:8936', 'the re-pointed example endpoint stays where the user put it');
    for (const id of ['sam2-example-2-endpoint', 'sam2-example-3-endpoint', 'sam2-example-4-endpoint']) assert.equal(node(deployed, id).url, local);
    for (const id of ['my-runner', 'sam2-example-1-endpoint', 'sam2-example-2-endpoint']) assert.ok(await hasToken(demo, id), `the editor still shows ${id}'s token as set`);
    const stored = JSON.parse(readFileSync(join(userDir, 'flows_cred.json'), 'utf8')) as Record<string, { token?: string }>;
    assert.equal(stored['my-runner']?.token, USER_TOKEN);
    assert.equal(stored['sam2-example-1-endpoint']?.token, USER_TOKEN);
    assert.equal(stored['sam2-example-2-endpoint']?.token, EXAMPLE_TOKEN);
    await stopDemo(demo);

    // The local server moved (its port was busy, say): the examples' endpoints the user left
    // alone follow it, and a token saved for the old address is not sent to the new one.
    const moved = { ...env, SAM2_SERVER_PORT: String(await freePort()) };
    demo = await startDemo(moved);
    deployed = await flows(demo);
    for (const id of ['sam2-example-2-endpoint', 'sam2-example-3-endpoint', 'sam2-example-4-endpoint']) assert.equal(node(deployed, id).url, `http://127.0.0.1:${moved.SAM2_SERVER_PORT}`);
    assert.equal(node(deployed, 'sam2-example-1-endpoint').url, 'http://192.0.2.7:8936');
    assert.equal(node(deployed, 'my-runner').url, 'https://sam2.example.net');
    assert.equal(await hasToken(demo, 'sam2-example-2-endpoint'), false, 'the moved endpoint lost the token saved for its old address');
    assert.ok(await hasToken(demo, 'my-runner'));
    assert.ok(await hasToken(demo, 'sam2-example-1-endpoint'));
  });

  it('deploys the dashboard example too, with @flowfuse/node-red-dashboard (a devDependency) loaded, and says where its page is', async () => {
    const env = { PORT: String(await freePort()), SAM2_SERVER_PORT: String(await freePort()), SAM2_USER_DIR: userDir };
    demo = await startDemo(env);
    const tabs = (await flows(demo)).filter((n) => n.type === 'tab').map((n) => n.id);
    assert.deepEqual(tabs, [1, 2, 3, 4, 5, 6].map((n) => `sam2-example-${n}`), 'every example, one tab each');
    // The palette's list, as the editor asks for it.
    const modules = (await (await fetch(`${demo.editor}/nodes`, { headers: { accept: 'application/json' } })).json()) as Array<{ module: string; types: string[]; enabled: boolean; err?: string }>;
    const dashboard = modules.filter((m) => m.module === '@flowfuse/node-red-dashboard');
    assert.ok(dashboard.flatMap((m) => m.types).includes('ui-template'), 'Node-RED loaded the dashboard\'s nodes');
    assert.ok(dashboard.every((m) => m.enabled && !m.err), JSON.stringify(dashboard));
    const url = `${demo.editor}/dashboard/sam2`;
    assert.ok(demo.log.join('').includes(`Dashboard page "SAM2 live": ${url}`), demo.log.join(''));
    const page = await fetch(url);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<div id="app"/, 'the dashboard\'s app');
  });

  it('points every example endpoint at SAM2_URL with SAM2_TOKEN when they are set, and nothing else', async () => {
    const env = { PORT: String(await freePort()), SAM2_SERVER_PORT: String(await freePort()), SAM2_USER_DIR: userDir };
    // A user dir from before the demo switched the tour off: its settings.js, as written then, is brought up to date.
    writeFileSync(
      join(userDir, 'settings.js'),
      `// Files the example flows write (sam2-ball-mask.png) land here too, not in the clone.\nmodule.exports = { flowFile: 'flows.json', uiHost: '127.0.0.1', credentialSecret: false, fileWorkingDirectory: __dirname };\n`,
    );
    demo = await startDemo(env);
    await assertOpensOnFlows(demo);
    const own = { id: 'my-runner', type: 'sam2-endpoint', name: 'my runner', service: 'custom', url: 'https://sam2.example.net', credentials: { token: USER_TOKEN } };
    await admin(demo, 'POST', '/flows', { flows: [...(await flows(demo)), own] });
    await stopDemo(demo);

    const real = await startLocalServer({ token: 'tok-real-endpoint-55e0' });
    try {
      demo = await startDemo({ ...env, SAM2_URL: real.url, SAM2_TOKEN: 'tok-real-endpoint-55e0' });
      assert.ok(!demo.log.join('').includes('Local SAM2 server'), 'no local server is started for a real endpoint');
      const deployed = await flows(demo);
      for (const id of EXAMPLE_ENDPOINTS) assert.equal(node(deployed, id).url, real.url);
      assert.equal(node(deployed, 'my-runner').url, 'https://sam2.example.net');
      const stored = JSON.parse(readFileSync(join(userDir, 'flows_cred.json'), 'utf8')) as Record<string, { token?: string }>;
      for (const id of EXAMPLE_ENDPOINTS) assert.equal(stored[id]?.token, 'tok-real-endpoint-55e0');
      assert.equal(stored['my-runner']?.token, USER_TOKEN, 'the user\'s own endpoint keeps its own token');
      // Example 1 as the user runs it: the request reaches the real endpoint with its token.
      const before = real.requestCount;
      await admin(demo, 'POST', '/inject/sam2-example-1-go');
      await until('the request at the real endpoint', () => real.requestCount > before, 30_000);
      assert.equal(real.requestCount, before + 1);
      assert.ok(real.requests.at(-1)!.authorization);
    } finally {
      await stopDemo(demo);
      await real.close();
    }
  });

  /** What a user reads when a start fails: one sentence naming the setting, no stack trace. */
  function assertPlainFailure(log: string, setting: RegExp): void {
    assert.match(log, setting);
    assert.doesNotMatch(log, /^\s+at /m, `no stack trace:\n${log}`);
  }

  it('a second demo while one runs: on the same port it says which setting moves it; on another it uses the running local server', async () => {
    const env = { PORT: String(await freePort()), SAM2_SERVER_PORT: String(await freePort()), SAM2_USER_DIR: userDir };
    demo = await startDemo(env);
    const flowsFile = join(userDir, 'flows.json');
    const written = statSync(flowsFile).mtimeMs;

    const same = await runDemo(env);
    assert.equal(same.started, false);
    assert.equal(await same.exited, 1);
    assertPlainFailure(same.log.join(''), new RegExp(`Port ${env.PORT}, Node-RED's, is in use.*PORT=${Number(env.PORT) + 1} npm start`));
    assert.equal(statSync(flowsFile).mtimeMs, written, 'the running demo\'s flows are left alone');

    const otherDir = mkdtempSync(join(tmpdir(), 'sam2-demo-'));
    let second: Demo | undefined;
    try {
      second = await startDemo({ ...env, PORT: String(await freePort()), SAM2_USER_DIR: otherDir });
      assert.match(second.log.join(''), new RegExp(`using the one already running at http://127.0.0.1:${env.SAM2_SERVER_PORT}`));
      const deployed = await flows(second);
      for (const id of EXAMPLE_ENDPOINTS) assert.equal(node(deployed, id).url, `http://127.0.0.1:${env.SAM2_SERVER_PORT}`);
      // Example 1 in the second demo, answered by the first demo's server.
      await admin(second, 'POST', '/inject/sam2-example-1-go');
      const file = join(otherDir, 'sam2-ball-mask.png');
      await until('example 1 to write its mask', () => existsSync(file), 30_000);
      await stopDemo(second);
      const health = await fetch(`http://127.0.0.1:${env.SAM2_SERVER_PORT}/health`);
      assert.equal(health.status, 200, 'stopping the second demo leaves the first one\'s server running');
    } finally {
      await stopDemo(second);
      rmSync(otherDir, { recursive: true, force: true });
    }
  });

  it('says which setting moves the local server when something else holds its port', async () => {
    const squatter = createHttpServer((_req, res) => res.writeHead(404).end('not here')).listen(0, '127.0.0.1');
    await once(squatter, 'listening');
    try {
      const port = (squatter.address() as { port: number }).port;
      const failed = await runDemo({ PORT: String(await freePort()), SAM2_SERVER_PORT: String(port), SAM2_USER_DIR: userDir });
      assert.equal(failed.started, false);
      assert.equal(await failed.exited, 1);
      assertPlainFailure(failed.log.join(''), new RegExp(`Port ${port}, the local SAM2 server's, is taken by something that is not a local SAM2 server.*SAM2_SERVER_PORT=${port + 1} npm start`));
      assert.ok(!existsSync(join(userDir, 'flows.json')), 'nothing was deployed');
    } finally {
      squatter.close();
    }
  });
});
