/**
 * `npm start`: the local SAM2 server (unless SAM2_URL names a real endpoint) and Node-RED
 * with this package from the working tree and the example flows, in `.node-red-user/` inside
 * the clone. Not shipped in the npm package: it needs the repository's node-red devDependency.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startLocalServer } from '../local-server/server';

const ROOT = resolve(__dirname, '..', '..');
const USER_DIR = join(ROOT, '.node-red-user');
const EXAMPLES = join(ROOT, 'examples');
const PORT = Number(process.env.PORT || 1880);

interface FlowNode {
  id: string;
  type: string;
  url?: string;
}

/** Every example flow, each on its own tab with its own sam2-endpoint config node. */
function exampleFlows(): FlowNode[] {
  return readdirSync(EXAMPLES)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .flatMap((file) => JSON.parse(readFileSync(join(EXAMPLES, file), 'utf8')) as FlowNode[]);
}

/** JSON from a file in the user dir, or `fallback` when there is none yet. */
function readJson<T>(file: string, fallback: T): T {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as T) : fallback;
}

/**
 * The flows to run: the user's own from an earlier start (their edits are kept), or the
 * examples. Either way the endpoints point at `url` and carry `token`.
 */
function prepareFlows(url: string, token: string | undefined): void {
  const flowsFile = join(USER_DIR, 'flows.json');
  const credentialsFile = join(USER_DIR, 'flows_cred.json');
  const kept = existsSync(flowsFile);
  const flows = readJson<FlowNode[]>(flowsFile, exampleFlows());
  const credentials = readJson<Record<string, { token?: string }>>(credentialsFile, {});
  for (const node of flows.filter((n) => n.type === 'sam2-endpoint')) {
    node.url = url;
    if (token) credentials[node.id] = { ...credentials[node.id], token };
    else delete credentials[node.id]?.token;
  }
  writeFileSync(flowsFile, JSON.stringify(flows, null, 2));
  // Written in clear: the demo's settings turn credential encryption off (credentialSecret: false).
  writeFileSync(credentialsFile, JSON.stringify(credentials));
  console.log(kept ? 'Flows: yours from the last start (delete .node-red-user/flows.json to get the examples back)' : 'Flows: the four examples, one tab each');
}

async function main(): Promise<void> {
  mkdirSync(join(USER_DIR, 'node_modules'), { recursive: true });
  const link = join(USER_DIR, 'node_modules', 'node-red-contrib-sam2');
  rmSync(link, { recursive: true, force: true });
  symlinkSync(ROOT, link, 'dir');

  let url = process.env.SAM2_URL;
  let stopServer = async () => {};
  if (!url) {
    const server = await startLocalServer({ port: Number(process.env.SAM2_SERVER_PORT || 8936) });
    url = server.url;
    stopServer = () => server.close();
    console.log(`Local SAM2 server (a classical stand-in, not SAM2): ${url}`);
  }
  prepareFlows(url, process.env.SAM2_TOKEN);
  if (!existsSync(join(USER_DIR, 'settings.js'))) {
    writeFileSync(join(USER_DIR, 'settings.js'), `// Files the example flows write (sam2-ball-mask.png) land here too, not in the clone.
module.exports = { flowFile: 'flows.json', uiHost: '127.0.0.1', credentialSecret: false, fileWorkingDirectory: __dirname };\n`);
  }

  const nodeRed = spawn(process.execPath, [require.resolve('node-red/red.js'), '--userDir', USER_DIR, '--port', String(PORT), '--settings', join(USER_DIR, 'settings.js')], { stdio: 'inherit' });
  console.log(`Node-RED editor: http://127.0.0.1:${PORT}/  (Ctrl-C stops both)`);
  const stop = () => nodeRed.kill('SIGINT');
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  nodeRed.on('exit', (code) => {
    void stopServer().then(() => process.exit(code ?? 0));
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
