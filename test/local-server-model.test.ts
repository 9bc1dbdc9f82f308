/**
 * `sam2-local-server --model DIR`: a runner of our own. A `Sam2Client` pointed at it must get
 * what it would get from a Livepeer runner with that model: the same fields and text, the same
 * errors, and masks that are the model's (checked against LocalSam2 on the same files).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { FormData, request } from 'undici';
import { Sam2Client } from '../lib/client';
import { Sam2ApiError } from '../lib/errors';
import { LocalSam2 } from '../lib/local-model/local-sam2';
import { startLocalServer, type LocalServer } from '../local-server/server';
import { BEST, RADII, expectedLogits, writeFormatA, writeFormatB } from './fixtures/sam2-models';

const CLI = join(__dirname, '..', 'local-server', 'cli.js');

function plain(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 180, g: 90, b: 40 } } }).png().toBuffer();
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

async function post(server: LocalServer, image: Buffer, fields: Record<string, string>): Promise<{ status: number; body: string }> {
  const form = new FormData();
  form.append('image', new Blob([image], { type: 'image/png' }), 'frame.png');
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  const res = await request(`${server.url}/segment-anything-2`, { method: 'POST', body: form });
  return { status: res.statusCode, body: await res.body.text() };
}

describe('sam2-local-server --model: real SAM2 from ONNX files behind the Livepeer API', function () {
  this.timeout(120_000);
  let root: string;
  let dirA: string;
  let dirB: string;

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'sam2-runner-'));
    dirA = writeFormatA(join(root, 'a'));
    dirB = writeFormatB(join(root, 'b'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  describe('in process', () => {
    let server: LocalServer;
    let direct: LocalSam2;
    before(async () => {
      server = await startLocalServer({ model: { modelDir: dirA, runtime: 'node', threads: 1 }, modelId: 'facebook/sam2-hiera-tiny' });
      direct = new LocalSam2({ modelDir: dirA, runtime: 'node', threads: 1 });
    });
    after(async () => {
      await server?.close();
      await direct?.close();
    });

    it('answers a Sam2Client with the model\'s masks, scores and logits, in full and efficient mode', async () => {
      assert.equal((await server.model?.describe())?.format, 'samexporter');
      for (const [efficient, w, h] of [[false, 640, 360], [true, 1600, 900]] as const) {
        const client = new Sam2Client({ url: server.url, modelId: 'facebook/sam2-hiera-tiny', efficient, retries: 0 });
        try {
          const image = await plain(w, h);
          const prompts = { points: [[400, 200]] as Array<[number, number]>, box: [300, 100, 500, 300] as [number, number, number, number], multimask: true };
          const remote = await client.segment(image, prompts);
          const local = await direct.segment(image, prompts);
          assert.deepEqual([remote.width, remote.height, remote.masks.length], [w, h, 3]);
          const corners: Array<[number, number]> = [[(400 * 1024) / w, (200 * 1024) / h], [(300 * 1024) / w, (100 * 1024) / h], [(500 * 1024) / w, (300 * 1024) / h]];
          assert.ok(maxDiff(remote.masks[0].logits as Float32Array, expectedLogits(corners, RADII[BEST])) < 1e-3, `efficient ${efficient}`);
          remote.masks.forEach((m, i) => {
            assert.ok(Math.abs(m.score - local.masks[i].score) < 1e-6);
            assert.ok(maxDiff(m.logits as Float32Array, local.masks[i].logits as Float32Array) < 1e-4);
            assert.ok(Math.abs(m.area - local.masks[i].area) <= local.masks[i].area * 0.01, `mask ${i}: ${m.area} against ${local.masks[i].area}`);
          });
          const one = await client.segment(image, { ...prompts, multimask: false });
          assert.equal(one.masks.length, 1);
          assert.equal(one.masks[0].score, remote.masks[0].score);
        } finally {
          await client.close();
        }
      }
    });

    it('sends the runner\'s text and the runner\'s errors', async () => {
      const image = await plain(40, 20);
      const ok = await post(server, image, { model_id: 'facebook/sam2-hiera-tiny', point_coords: '[[10, 10]]', point_labels: '[1]', multimask_output: 'false', return_logits: 'false' });
      assert.equal(ok.status, 200);
      const body = JSON.parse(ok.body) as { masks: string; scores: string; logits: string };
      assert.match(body.masks, /^\[\[\[(?:[01]\.0(?:, |\], \[)?)+\]\]\]$/);
      assert.match(body.scores, /^\[0\.9\d+\]$/);
      assert.ok(body.logits.startsWith('[[['));

      const wrongModel = await post(server, image, { model_id: 'facebook/sam2-hiera-large', point_coords: '[[1, 1]]', point_labels: '[1]' });
      assert.equal(wrongModel.status, 400);
      assert.deepEqual(JSON.parse(wrongModel.body), { detail: { msg: 'pipeline configured with facebook/sam2-hiera-tiny but called with facebook/sam2-hiera-large.' } });
      const notImage = await post(server, Buffer.from('not an image'), { point_coords: '[[1, 1]]', point_labels: '[1]' });
      assert.deepEqual([notImage.status, JSON.parse(notImage.body)], [500, { detail: { msg: 'Segment-anything-2 pipeline error.' } }]);
      const badJson = await post(server, image, { point_coords: '[[1, 1]' });
      assert.equal(badJson.status, 400);
      assert.match(JSON.parse(badJson.body).detail.msg, /^Error parsing JSON for point_coords/);
      const noPrompt = await post(server, image, {});
      assert.equal(noPrompt.status, 400);
      assert.match(JSON.parse(noPrompt.body).detail.msg, /no point and no box/);
    });
  });

  it('an onnx-community model refuses mask_input with a message a Sam2Client shows', async () => {
    const server = await startLocalServer({ model: { modelDir: dirB, runtime: 'node', threads: 1 } });
    const client = new Sam2Client({ url: server.url, retries: 0 });
    try {
      const image = await plain(64, 64);
      await assert.rejects(
        client.segment(image, { points: [[5, 5]], maskInput: new Float32Array(256 * 256) }),
        (err: unknown) => err instanceof Sam2ApiError && err.status === 400 && /no mask input/.test(err.detail),
      );
      const fine = await client.segment(image, { points: [[5, 5]] });
      assert.equal(fine.masks.length, 3);
    } finally {
      await client.close();
      await server.close();
    }
  });

  it('a wrong folder stops the start with the reason', async () => {
    await assert.rejects(startLocalServer({ model: { modelDir: root, runtime: 'node' } }), /not a SAM2 model: expected/);
  });

  describe('the command line', () => {
    function run(args: string[]): Promise<{ url?: string; line: string; stop: () => Promise<number | null>; exited: Promise<number | null>; stderr: () => string }> {
      const child = spawn(process.execPath, [CLI, '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stderr.on('data', (c: Buffer) => (err += c.toString()));
      const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
      return new Promise((resolve) => {
        const stop = async () => {
          child.kill('SIGTERM');
          return exited;
        };
        child.stdout.on('data', (c: Buffer) => {
          out += c.toString();
          const url = /Endpoint URL: (\S+)/.exec(out)?.[1];
          if (url) resolve({ url, line: out.split('\n')[0], stop, exited, stderr: () => err });
        });
        exited.then(() => resolve({ line: out, stop, exited, stderr: () => err }));
      });
    }

    it('serves the model under the id its file names suggest, as a runner configured with it would', async () => {
      const started = await run(['--model', dirA, '--threads', '1', '--runtime', 'node']);
      try {
        assert.ok(started.url, started.stderr());
        assert.match(started.line, /SAM2 from .*samexporter export on onnxruntime-node, 1 threads; .* listening as facebook\/sam2-hiera-tiny/);
        const client = new Sam2Client({ url: started.url, modelId: 'facebook/sam2-hiera-tiny', retries: 0 });
        try {
          const result = await client.segment(await plain(320, 240), { points: [[160, 120]] });
          assert.ok(maxDiff(result.masks[0].logits as Float32Array, expectedLogits([[512, 512]], RADII[BEST])) < 1e-3);
        } finally {
          await client.close();
        }
      } finally {
        await started.stop();
      }
    });

    it('a folder without a model ends the command with the reason', async () => {
      const started = await run(['--model', root]);
      assert.equal(await started.exited, 1);
      assert.match(started.stderr(), /sam2-local-server: modelDir: .* not a SAM2 model: expected samexporter's/);
    });
  });
});
