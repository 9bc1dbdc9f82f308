/**
 * The path a user takes: `npm pack`, `npm install <tarball>` into an empty Node-RED user
 * directory, and a real Node-RED (child process) running a flow through sam2-segment against
 * the local server. Also where credentials are checked on disk and in the admin API.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runInNewContext } from 'node:vm';
import sharp from 'sharp';
import { request } from 'undici';
import { SEGMENT_DEFAULTS } from '../lib/defaults';
import { startLocalServer, type LocalServer } from '../local-server/server';
import { freePort } from './fixtures/ports';

const ROOT = resolve(__dirname, '..', '..');
const TOKEN = 'tok-packaged-4b1e-never-leak';

/** Resolves once Node-RED has said its flows started; rejects if it exits first. */
function started(child: ChildProcess, log: string[]): Promise<void> {
  return new Promise((done, fail) => {
    const onData = (chunk: Buffer) => {
      log.push(chunk.toString());
      if (/Started flows/.test(log.join(''))) done();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => fail(new Error(`Node-RED exited with ${code}:\n${log.join('')}`)));
  });
}

describe('the packed tarball in an empty Node-RED user directory', function () {
  this.timeout(240_000);
  let userDir: string;
  let server: LocalServer;
  let nodeRed: ChildProcess | undefined;
  let base: string;
  const log: string[] = [];

  before(async () => {
    userDir = mkdtempSync(join(tmpdir(), 'sam2-userdir-'));
    const packed = execFileSync('npm', ['pack', '--silent', '--pack-destination', userDir], { cwd: ROOT, encoding: 'utf8' }).trim().split('\n').pop()!;
    writeFileSync(join(userDir, 'package.json'), JSON.stringify({ name: 'node-red-project', private: true }));
    execFileSync('npm', ['install', '--no-audit', '--no-fund', join(userDir, packed)], { cwd: userDir, stdio: 'ignore' });
    server = await startLocalServer({ token: TOKEN });
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    writeFileSync(
      join(userDir, 'settings.js'),
      `module.exports = { uiPort: ${port}, uiHost: '127.0.0.1', flowFile: 'flows.json', credentialSecret: 'test-secret', fileWorkingDirectory: ${JSON.stringify(userDir)}, logging: { console: { level: 'info' } } };`,
    );
    nodeRed = spawn(process.execPath, [require.resolve('node-red/red.js'), '--userDir', userDir, '--settings', join(userDir, 'settings.js')], { stdio: ['ignore', 'pipe', 'pipe'] });
    await started(nodeRed, log);
  });

  after(async () => {
    if (nodeRed && nodeRed.exitCode === null) {
      const exited = new Promise((r) => nodeRed!.once('exit', r));
      nodeRed.kill('SIGINT');
      await exited;
    }
    await server?.close();
    rmSync(userDir, { recursive: true, force: true });
  });

  it('offers the local server as node-red-contrib-sam2/local-server, and a main entry without it', () => {
    // As a user's script in the Node-RED user directory would require them.
    const script = `
      const main = require('node-red-contrib-sam2');
      const { startLocalServer } = require('node-red-contrib-sam2/local-server');
      if (typeof main.Sam2Client !== 'function' || 'startLocalServer' in main) throw new Error('main entry');
      startLocalServer().then(async (s) => {
        const client = new main.Sam2Client({ url: s.url });
        const png = await require('sharp')({ create: { width: 64, height: 48, channels: 3, background: '#808080' } }).png().toBuffer();
        const r = await client.segment(png, { points: [[32, 24]] });
        console.log(JSON.stringify({ width: r.width, height: r.height, masks: r.masks.length }));
        await client.close();
        await s.close();
      });`;
    const out = execFileSync(process.execPath, ['-e', script], { cwd: userDir, encoding: 'utf8' });
    assert.deepEqual(JSON.parse(out), { width: 64, height: 48, masks: 3 });
  });

  it('registers both node types from the installed package', async () => {
    const res = await request(`${base}/nodes`, { headers: { accept: 'application/json' } });
    const nodes = (await res.body.json()) as Array<{ module: string; types: string[]; enabled: boolean; err?: string }>;
    const ours = nodes.filter((n) => n.module === 'node-red-contrib-sam2');
    assert.deepEqual(ours.flatMap((n) => n.types).sort(), ['sam2-endpoint', 'sam2-segment']);
    assert.ok(ours.every((n) => n.enabled && !n.err), JSON.stringify(ours));
  });

  it('serves each dialog with its editor script bundled in, a plain script that registers the type with the documented defaults', async () => {
    const registered: Record<string, { defaults: Record<string, { value: unknown }>; credentials?: Record<string, unknown> }> = {};
    for (const type of ['sam2-endpoint', 'sam2-segment']) {
      const res = await request(`${base}/nodes/node-red-contrib-sam2/${type}`, { headers: { accept: 'text/html' } });
      assert.equal(res.statusCode, 200);
      const html = await res.body.text();
      assert.ok(html.includes(`<script type="text/html" data-template-name="${type}">`), `${type}: the dialog's template`);
      assert.ok(html.includes(`<script type="text/html" data-help-name="${type}">`), `${type}: the help text`);
      const scripts = [...html.matchAll(/<script type="text\/javascript">([\s\S]*?)<\/script>/g)].map((m) => m[1]);
      assert.equal(scripts.length, 1, `${type}: one editor script`);
      // What the editor page does with it: run it as a classic script (an import left in would not parse).
      runInNewContext(scripts[0], {
        RED: { nodes: { registerType: (name: string, definition: (typeof registered)[string]) => (registered[name] = definition) }, validators: { number: () => () => true } },
      });
    }
    assert.deepEqual(Object.keys(registered).sort(), ['sam2-endpoint', 'sam2-segment']);
    const value = (type: string, name: string) => registered[type].defaults[name]?.value;
    assert.deepEqual(
      ['service', 'modelId', 'timeout', 'concurrency', 'retries', 'efficient', 'maxResponseMB', 'maxInputMP'].map((name) => value('sam2-endpoint', name)),
      ['community', 'facebook/sam2-hiera-large', 120, 2, 2, true, 1024, 50],
    );
    assert.deepEqual(Object.keys(registered['sam2-endpoint'].credentials ?? {}), ['token'], 'the token is a credential, kept out of the flow');
    assert.deepEqual(
      ['property', 'multimask', 'queue', 'queueLimit', 'format', 'threshold', 'overlayColor', 'overlayOpacity', 'overlayOutline'].map((name) => value('sam2-segment', name)),
      ['payload', 'auto', 'latest', 10, 'png', 0, '#ff00ff', 0.5, 2],
    );
    // The one module the runtime, the dialogs and README take their defaults from.
    const d = SEGMENT_DEFAULTS as Record<string, unknown>;
    for (const name of ['property', 'multimask', 'queue', 'queueLimit', 'format', 'threshold', 'overlayColor', 'overlayOpacity', 'overlayOutline']) {
      assert.equal(value('sam2-segment', name), d[name], `${name}: the dialog's default is lib/defaults.ts's`);
    }
  });

  it('segments an image end to end, and keeps the token out of the flow export and flows.json', async () => {
    const flow = [
      { id: 'tab', type: 'tab', label: 'test' },
      { id: 'ep', type: 'sam2-endpoint', z: '', service: 'custom', url: server.url, credentials: { token: TOKEN } },
      { id: 'in', type: 'http in', z: 'tab', url: '/segment', method: 'post', wires: [['seg']] },
      { id: 'seg', type: 'sam2-segment', z: 'tab', endpoint: 'ep', points: [{ x: 640, y: 360, label: 1 }], wires: [['sum']] },
      {
        id: 'sum',
        type: 'function',
        z: 'tab',
        func: 'msg.payload = { masks: msg.masks.length, scores: msg.scores, areas: msg.masks.map(m => m.area), pngBytes: msg.payload.length }; return msg;',
        wires: [['res', 'dbg']],
      },
      { id: 'dbg', type: 'debug', z: 'tab', active: true, tosidebar: true, console: false, complete: 'payload' },
      { id: 'res', type: 'http response', z: 'tab' },
    ];
    const deploy = await request(`${base}/flows`, { method: 'POST', headers: { 'content-type': 'application/json', 'node-red-deployment-type': 'full' }, body: JSON.stringify(flow) });
    assert.equal(deploy.statusCode, 204, await deploy.body.text());

    const image = readFileSync(join(ROOT, 'examples', 'studio-1280x720.jpg'));
    let res = await request(`${base}/segment`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: image });
    // The deploy returns before the flows have started; the route answers 404 until then.
    for (let i = 0; res.statusCode === 404 && i < 100; i++) {
      await res.body.dump();
      await new Promise((r) => setTimeout(r, 50));
      res = await request(`${base}/segment`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: image });
    }
    assert.equal(res.statusCode, 200);
    const summary = (await res.body.json()) as { masks: number; scores: number[]; areas: number[]; pngBytes: number };
    assert.equal(summary.masks, 3);
    assert.deepEqual(summary.scores, [...summary.scores].sort((a, b) => b - a));
    assert.ok(summary.areas[0] > 0 && summary.areas[0] < 1280 * 720);
    assert.ok(server.requests.at(-1)?.authorization, 'the token was sent to the server');

    const exported = await (await request(`${base}/flows`)).body.text();
    assert.ok(!exported.includes(TOKEN), 'the admin API export holds the token');
    assert.ok(!readFileSync(join(userDir, 'flows.json'), 'utf8').includes(TOKEN), 'flows.json holds the token');
    assert.ok(!readFileSync(join(userDir, 'flows_cred.json'), 'utf8').includes(TOKEN), 'flows_cred.json holds the token in clear');
    assert.ok(!log.join('').includes(TOKEN), 'the log holds the token');
  });

  it('offers the examples in the Import menu, and the first one runs as imported from node_modules', async () => {
    const modules = (await (await request(`${base}/library/examples/flows/`)).body.json()) as string[];
    assert.ok(modules.includes('node-red-contrib-sam2'), JSON.stringify(modules));
    const listing = (await (await request(`${base}/library/examples/flows/node-red-contrib-sam2`)).body.json()) as Array<{ fn: string }>;
    assert.deepEqual(listing.map((entry) => entry.fn), [
      '1 Segment a saved photo by a point',
      '2 Camera stream, latest frame wins',
      '3 Box from a detector (Frigate, coco-ssd)',
      '4 Refine a mask with its logits',
      '5 Follow an object, message when it leaves',
      '6 Dashboard (FlowFuse Dashboard 2)',
    ]);
    // What the editor fetches when the example is chosen; only the server's address and token change.
    const example = (await (await request(`${base}/library/examples/flows/node-red-contrib-sam2/${encodeURIComponent('1 Segment a saved photo by a point')}`)).body.json()) as Array<Record<string, unknown>>;
    for (const node of example.filter((n) => n.type === 'sam2-endpoint')) Object.assign(node, { url: server.url, credentials: { token: TOKEN } });
    const deploy = await request(`${base}/flows`, { method: 'POST', headers: { 'content-type': 'application/json', 'node-red-deployment-type': 'full' }, body: JSON.stringify(example) });
    assert.equal(deploy.statusCode, 204, await deploy.body.text());

    const maskFile = join(userDir, 'sam2-ball-mask.png');
    let pressed = await request(`${base}/inject/sam2-example-1-go`, { method: 'POST' });
    // As above: the inject node answers 404 until the new flows have started.
    for (let i = 0; pressed.statusCode === 404 && i < 100; i++) {
      await pressed.body.dump();
      await new Promise((r) => setTimeout(r, 50));
      pressed = await request(`${base}/inject/sam2-example-1-go`, { method: 'POST' });
    }
    assert.equal(pressed.statusCode, 200);
    // The file node creates the file before it writes to it: read it once it holds an image.
    let written: sharp.Metadata | undefined;
    for (let i = 0; !written && i < 200; i++) {
      written = existsSync(maskFile) ? await sharp(maskFile).metadata().catch(() => undefined) : undefined;
      if (!written) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(written, `no image in ${maskFile} after 10 s`);
    // The photo came from the installed package's examples folder, through SAM2_EXAMPLES_DIR.
    const { width, height, channels } = written;
    assert.deepEqual([width, height, channels], [1280, 720, 1]);
  });
});
