/**
 * README's code runs as pasted. Every ```js block in README.md (found when the tests load, so
 * a block added later is run too) is saved as a CommonJS script in an empty directory where
 * `node-red-contrib-sam2` resolves to this package, as it would after `npm install`, and run
 * with `node` against a local server whose URL it gets as SAM2_URL (blocks default to the local
 * server's own http://127.0.0.1:8936 for a user who runs them as they are).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startLocalServer, type LocalServer } from '../local-server/server';
import { writeFormatA } from './fixtures/sam2-models';

const ROOT = resolve(__dirname, '..', '..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

interface Block {
  /** The section it is in, and its place there: what a failure names. */
  where: string;
  language: string;
  code: string;
}

/** The fenced blocks of a Markdown text, each with the heading it sits under. */
function codeBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  let heading = '(top)';
  let inSection = 0;
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const title = /^#{1,6}\s+(.*)$/.exec(lines[i]);
    if (title) {
      heading = title[1];
      inSection = 0;
      continue;
    }
    const fence = /^```(\w*)\s*$/.exec(lines[i]);
    if (!fence) continue;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]); i++) body.push(lines[i]);
    inSection++;
    blocks.push({ where: `"${heading}", block ${inSection}`, language: fence[1], code: body.join('\n') + '\n' });
  }
  return blocks;
}

const JS = new Set(['js', 'javascript', 'cjs']);
const jsBlocks = codeBlocks(README).filter((b) => JS.has(b.language));

function run(script: string, cwd: string, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    // A clean environment but for PATH and HOME: nothing of this test run leaks into the block.
    const child = spawn(process.execPath, [script], { cwd, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    // A block that leaves a socket or timer open never exits: that is a failure too.
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
  });
}

describe('README code blocks, as pasted', function () {
  this.timeout(90_000);
  let server: LocalServer;
  let dir: string;
  let modelDir: string;

  before(async () => {
    server = await startLocalServer();
    dir = mkdtempSync(join(tmpdir(), 'sam2-readme-'));
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(ROOT, join(dir, 'node_modules', 'node-red-contrib-sam2'), 'dir');
    // A block about a model on this machine gets a stand-in with SAM2's signatures (no weights here).
    modelDir = writeFormatA(join(dir, 'sam2-model'));
  });
  after(async () => {
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('README has JavaScript blocks to run', () => {
    assert.ok(jsBlocks.length >= 1, 'no ```js block found in README.md: has the fence changed?');
  });

  for (const [n, block] of jsBlocks.entries()) {
    it(`runs the ${block.where} (js)`, async () => {
      const script = join(dir, `block-${n}.cjs`);
      writeFileSync(script, block.code);
      const before = server.requestCount;
      const { code, stdout, stderr } = await run(script, dir, { SAM2_URL: server.url, SAM2_MODEL_DIR: modelDir });
      assert.equal(code, 0, `README ${block.where} exited with ${code}:\n${stderr}${stdout}`);
      assert.equal(stderr, '', `README ${block.where} wrote to stderr`);
      if (block.code.includes('Sam2Client')) assert.ok(server.requestCount > before, `README ${block.where} made a client but sent no request to the local server:\n${stdout}`);
    });
  }

  it('names only npm scripts that package.json has', () => {
    const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    const named = [...README.matchAll(/npm run ([\w:-]+)/g)].map((m) => m[1]);
    assert.ok(named.length > 0);
    for (const name of new Set(named)) assert.ok(name in scripts, `README says "npm run ${name}", which package.json does not have`);
  });
});
