/**
 * `npm start`: the local SAM2 server (unless SAM2_URL names a real endpoint) and Node-RED
 * with this package from the working tree and the example flows, in `.node-red-user/` inside
 * the clone (or SAM2_USER_DIR). Not shipped in the npm package: it needs the repository's
 * node-red devDependency.
 *
 * The user dir is the user's after the first start: later starts touch only the examples'
 * endpoints, and only those still pointing where this script pointed them, and add an example
 * the user has not had yet once this Node-RED can run it (see prepareFlows).
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startLocalServer } from '../local-server/server';
import { dashboardPages, nodeRedLoads, planExamples, readExamples, type FlowNode } from './examples';

const ROOT = resolve(__dirname, '..', '..');
const USER_DIR = resolve(process.env.SAM2_USER_DIR || join(ROOT, '.node-red-user'));
const EXAMPLES = join(ROOT, 'examples');
const PORT = Number(process.env.PORT || 1880);
const SERVER_PORT = Number(process.env.SAM2_SERVER_PORT || 8936);

/** A problem the user fixes with a setting: said in a sentence, without a stack trace. */
class DemoError extends Error {}

type Credentials = Record<string, { token?: string } | undefined>;

/** What this script last did to the user dir, in `sam2-demo.json` there. */
interface DemoState {
  /** The URL the examples' endpoints were given: one still there is not the user's edit. */
  examplesUrl?: string;
  /** The tabs of the examples put in the user's flows (see planExamples): each is added once. */
  examples?: string[];
}

/** JSON from a file in the user dir, or `fallback` when there is none yet. */
function readJson<T>(file: string, fallback: T): T {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as T) : fallback;
}

/**
 * The flows to run: the examples on the first start, the user's own flows after that, with
 * any example this Node-RED could not run before (the dashboard one, until
 * @flowfuse/node-red-dashboard is installed) added once it can.
 *
 * The examples' endpoints point at `url` (the local server, or SAM2_URL) when the example is
 * added (on the first start, for most) and whenever SAM2_URL is set. Otherwise one follows
 * `url` only while it still has the URL this script gave it last time (say the local server
 * moved with SAM2_SERVER_PORT); an endpoint the user re-pointed or switched to another
 * service is theirs. Every other node and every other credential is left as it is. A token
 * is for the host it was saved for: an endpoint moved to another URL loses its stored token,
 * unless SAM2_TOKEN gives one.
 */
function prepareFlows(url: string, token: string | undefined, explicit: boolean): void {
  const flowsFile = join(USER_DIR, 'flows.json');
  const credentialsFile = join(USER_DIR, 'flows_cred.json');
  const stateFile = join(USER_DIR, 'sam2-demo.json');
  const first = !existsSync(flowsFile);
  const examples = readExamples(EXAMPLES);
  const exampleEndpoints = new Set(examples.flatMap((e) => e.nodes).filter((n) => n.type === 'sam2-endpoint').map((n) => n.id));
  const state = readJson<DemoState>(stateFile, {});
  // A flow with a node type Node-RED lacks stops every flow: an example needing a module it cannot load waits for it.
  const plan = planExamples(first ? undefined : readJson<FlowNode[]>(flowsFile, []), examples, state.examples, (name) => nodeRedLoads(name, USER_DIR));
  const flows = plan.flows;
  const added = new Set(plan.added.flatMap((e) => e.nodes.map((n) => n.id)));
  const credentials = readJson<Credentials>(credentialsFile, {});
  // Encrypted credentials (a credentialSecret of the user's own) cannot be edited here.
  const canEditCredentials = !('$' in credentials);

  let flowsChanged = first || plan.added.length > 0;
  let credentialsChanged = false;
  const moved: string[] = [];
  for (const node of flows) {
    if (node.type !== 'sam2-endpoint' || !exampleEndpoints.has(node.id)) continue;
    const unedited = node.service === 'custom' && state.examplesUrl !== undefined && node.url === state.examplesUrl;
    if (!(added.has(node.id) || explicit || unedited)) continue;
    if (node.url !== url || node.service !== 'custom') {
      node.service = 'custom';
      node.url = url;
      flowsChanged = true;
      if (!added.has(node.id)) moved.push(node.id);
      const stored = credentials[node.id];
      if (stored?.token !== undefined && canEditCredentials) {
        delete stored.token;
        if (Object.keys(stored).length === 0) delete credentials[node.id];
        credentialsChanged = true;
      }
    }
    if (token && canEditCredentials && credentials[node.id]?.token !== token) {
      credentials[node.id] = { ...credentials[node.id], token };
      credentialsChanged = true;
    }
  }
  if (flowsChanged) writeFileSync(flowsFile, JSON.stringify(flows, null, 2));
  // Written in clear: the demo's settings turn credential encryption off (credentialSecret: false).
  if (credentialsChanged) writeFileSync(credentialsFile, JSON.stringify(credentials, null, 2));
  if (token && !canEditCredentials) console.log('SAM2_TOKEN not stored: flows_cred.json is encrypted with your own credentialSecret; set the token in the editor');
  writeFileSync(stateFile, JSON.stringify({ examplesUrl: url, examples: plan.given } satisfies DemoState, null, 2) + '\n');
  if (first) console.log(`Flows: the examples, one tab each (${plan.added.map((e) => e.title.split(' ')[0]).join(', ')}), their endpoints at ${url}`);
  else {
    console.log(`Flows: yours from the last start in ${USER_DIR} (delete its flows.json to get the examples back)`);
    for (const example of plan.added) console.log(`Added example "${example.title}", now that this Node-RED can run it, its endpoint at ${url}`);
    if (moved.length) console.log(`Pointed at ${url}: ${moved.join(', ')}`);
  }
  for (const example of plan.missing) {
    console.log(
      `Example "${example.title}" left out: it needs ${example.needs}, which this Node-RED does not have. ` +
        `Run npm install in the clone (it is a devDependency) or install it from Menu → Manage palette, and npm start again adds the example`,
    );
  }
  for (const page of dashboardPages(flows, examples)) console.log(`Dashboard page "${page.name}": http://127.0.0.1:${PORT}${page.path}`);
}

/** The demo's settings.js as the first versions of this script wrote it, to be replaced by SETTINGS. */
const FORMER_SETTINGS = [
  `// Files the example flows write (sam2-ball-mask.png) land here too, not in the clone.
module.exports = { flowFile: 'flows.json', uiHost: '127.0.0.1', credentialSecret: false, fileWorkingDirectory: __dirname };\n`,
];

/**
 * Node-RED's settings for the demo. The editor opens on the example flows: Node-RED's welcome
 * tour (editorTheme.tours), its question about telemetry (asked while telemetry.enabled is
 * unset) and its notice of a newer Node-RED (telemetry.updateNotification) would come first.
 */
const SETTINGS = `// npm start's settings for Node-RED (yours to edit: the demo rewrites only its own earlier versions).
module.exports = {
  flowFile: 'flows.json',
  uiHost: '127.0.0.1',
  // flows_cred.json in clear, so npm start can store SAM2_TOKEN: keep this user dir to yourself.
  credentialSecret: false,
  // Files the example flows write (sam2-ball-mask.png) land here too, not in the clone.
  fileWorkingDirectory: __dirname,
  // The editor opens on the flows: no welcome tour, no telemetry question, no update notice.
  editorTheme: { tours: false },
  telemetry: { enabled: false, updateNotification: false },
};
`;

/** settings.js in the user dir: written when missing or still one this script wrote before; a user's own is kept. */
function writeSettings(): void {
  const file = join(USER_DIR, 'settings.js');
  if (existsSync(file) && !FORMER_SETTINGS.includes(readFileSync(file, 'utf8'))) return;
  writeFileSync(file, SETTINGS);
}

/** Whether something already listens on this port of 127.0.0.1 (Node-RED's `uiHost` here). */
function portTaken(port: number): Promise<boolean> {
  return new Promise((done, fail) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? done(true) : fail(err)));
    probe.listen(port, '127.0.0.1', () => probe.close(() => done(false)));
  });
}

/**
 * Whether `url` is a healthy local SAM2 server that takes requests without a token: it answers
 * `/health` as the runner does and `/debug/requests` (the local server's own route, open when
 * it has no token). A real runner has no debug routes; anything else answers neither.
 * Generous timeouts: the local server segments on its main thread, so while it works on a
 * frame (a second on a small machine) it answers nothing else.
 */
async function isLocalServer(url: string): Promise<boolean> {
  try {
    const health = await fetch(`${url}/health`, { signal: AbortSignal.timeout(10_000) });
    if (!health.ok || ((await health.json()) as { status?: string }).status !== 'OK') return false;
    const debug = await fetch(`${url}/debug/requests`, { signal: AbortSignal.timeout(10_000) });
    await debug.arrayBuffer();
    return debug.ok;
  } catch {
    return false;
  }
}

/** The local server on SERVER_PORT: started here, or the one already running there (a second demo, `npm run serve`). */
async function localServer(): Promise<{ url: string; close(): Promise<void>; ours: boolean }> {
  try {
    const server = await startLocalServer({ port: SERVER_PORT });
    console.log(`Local SAM2 server (a classical stand-in, not SAM2): ${server.url}`);
    return { url: server.url, close: () => server.close(), ours: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
  }
  const url = `http://127.0.0.1:${SERVER_PORT}`;
  if (await isLocalServer(url)) {
    console.log(`Local SAM2 server: using the one already running at ${url} (it keeps running when this demo stops)`);
    return { url, close: async () => {}, ours: false };
  }
  throw new DemoError(
    `Port ${SERVER_PORT}, the local SAM2 server's, is taken by something that is not a local SAM2 server. ` +
      `Stop it, or give the local server another port: SAM2_SERVER_PORT=${SERVER_PORT + 1} npm start`,
  );
}

async function main(): Promise<void> {
  // Checked before anything in the user dir changes: a Node-RED already there may be a
  // second demo running on these very flows.
  if (await portTaken(PORT)) {
    throw new DemoError(
      `Port ${PORT}, Node-RED's, is in use: another npm start or Node-RED is running (its editor: http://127.0.0.1:${PORT}/). ` +
        `Stop it, or start this one on another port: PORT=${PORT + 1} npm start`,
    );
  }

  // Node-RED loads this package from the clone, as if installed.
  mkdirSync(join(USER_DIR, 'node_modules'), { recursive: true });
  const link = join(USER_DIR, 'node_modules', 'node-red-contrib-sam2');
  rmSync(link, { recursive: true, force: true });
  symlinkSync(ROOT, link, 'dir');

  let url = process.env.SAM2_URL;
  let stopServer = async () => {};
  let both = false;
  if (!url) {
    const server = await localServer();
    url = server.url;
    stopServer = () => server.close();
    both = server.ours;
  }
  prepareFlows(url, process.env.SAM2_TOKEN || undefined, Boolean(process.env.SAM2_URL));
  writeSettings();

  const nodeRed = spawn(process.execPath, [require.resolve('node-red/red.js'), '--userDir', USER_DIR, '--port', String(PORT), '--settings', join(USER_DIR, 'settings.js')], { stdio: 'inherit' });
  console.log(`Node-RED editor: http://127.0.0.1:${PORT}/  (Ctrl-C stops ${both ? 'it and the local server' : 'it'})`);
  const stop = () => nodeRed.kill('SIGINT');
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  nodeRed.on('exit', (code) => {
    void stopServer().then(() => process.exit(code ?? 0));
  });
}

main().catch((err) => {
  console.error(err instanceof DemoError ? `npm start: ${err.message}` : err);
  process.exit(1);
});
