/**
 * `npm start`: the local SAM2 server (unless SAM2_URL names a real endpoint) and Node-RED
 * with this package from the working tree and a demo flow, in `.node-red-user/` inside the
 * clone. Not shipped in the npm package: it needs the repository's node-red devDependency.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startLocalServer } from './server';

const ROOT = resolve(__dirname, '..', '..', '..');
const USER_DIR = join(ROOT, '.node-red-user');
const PORT = Number(process.env.PORT || 1880);

function demoFlow(url: string, service: string): object[] {
  const image = join(ROOT, 'examples', 'images', 'studio-1280x720.jpg');
  return [
    { id: 'demo-tab', type: 'tab', label: 'SAM2 demo' },
    { id: 'demo-endpoint', type: 'sam2-endpoint', name: service === 'custom' ? 'local server' : 'SAM2', service, url, modelId: 'facebook/sam2-hiera-large', timeout: 120, concurrency: 2, retries: 2, efficient: true },
    { id: 'demo-inject', type: 'inject', z: 'demo-tab', name: 'every 5 s', repeat: '5', once: true, onceDelay: 1, topic: '', x: 120, y: 100, wires: [['demo-read']] },
    { id: 'demo-read', type: 'file in', z: 'demo-tab', name: 'read photo', filename: image, filenameType: 'str', format: '', x: 300, y: 100, wires: [['demo-segment']] },
    { id: 'demo-segment', type: 'sam2-segment', z: 'demo-tab', name: 'segment the teapot', endpoint: 'demo-endpoint', property: 'payload', points: [{ x: 640, y: 360, label: 1 }], box: null, multimask: true, coordinates: 'pixels', queue: 'latest', queueLimit: 10, select: 'all', format: 'png', x: 500, y: 100, wires: [['demo-debug']] },
    { id: 'demo-debug', type: 'debug', z: 'demo-tab', name: 'scores', active: true, tosidebar: true, complete: 'scores', targetType: 'msg', x: 700, y: 100, wires: [] },
  ];
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
  writeFileSync(join(USER_DIR, 'flows.json'), JSON.stringify(demoFlow(url, 'custom'), null, 2));
  const credentials = process.env.SAM2_TOKEN ? { 'demo-endpoint': { token: process.env.SAM2_TOKEN } } : {};
  // Credentials are written in clear once; Node-RED encrypts them with credentialSecret on its first save.
  writeFileSync(join(USER_DIR, 'flows_cred.json'), JSON.stringify(credentials));
  if (!existsSync(join(USER_DIR, 'settings.js'))) {
    writeFileSync(join(USER_DIR, 'settings.js'), `module.exports = { flowFile: 'flows.json', uiHost: '127.0.0.1', credentialSecret: false };\n`);
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
