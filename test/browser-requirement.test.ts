/**
 * The browser tests on a machine without Chromium, as `npm test` runs them there: reported as
 * skipped with the command that installs it (README's test command still passes), or failed
 * when SAM2_REQUIRE_BROWSER=1, as CI sets it so that they cannot silently not run.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..', '..');

/** The browser test files, each with a suite of its own that needs Chromium. */
const FILES = ['dashboard.test.js', 'editor.test.js', 'layout.test.js'].map((f) => join(ROOT, 'dist', 'test', 'browser', f));

/** Mocha on the browser tests alone, with Chromium looked for where there is none. */
function browserTests(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [require.resolve('mocha/bin/mocha.js'), '--no-config', '--timeout', '30000', ...FILES], {
      cwd: ROOT,
      env: { ...process.env, SAM2_REQUIRE_BROWSER: '', SAM2_CHROMIUM: join(ROOT, 'no-such-dir', 'chromium'), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('exit', (code) => done({ code, output }));
  });
}

describe('the browser tests without Chromium', function () {
  this.timeout(60_000);

  it('are skipped, saying how to install Chromium, and the run passes', async () => {
    const { code, output } = await browserTests({});
    assert.equal(code, 0, output);
    assert.equal(output.match(/Skipped: .*chromium is missing.*sudo apt-get install chromium/g)?.length, FILES.length, 'each suite says so');
    assert.match(output, /0 passing/);
    assert.match(output, /\d+ pending/);
    assert.doesNotMatch(output, /failing/);
  });

  it('fail with SAM2_REQUIRE_BROWSER=1, as in CI', async () => {
    const { code, output } = await browserTests({ SAM2_REQUIRE_BROWSER: '1' });
    assert.notEqual(code, 0, output);
    assert.match(output, new RegExp(`${FILES.length} failing`), 'each suite fails');
    assert.match(output, /SAM2_REQUIRE_BROWSER=1 and .*chromium is missing/);
  });
});
