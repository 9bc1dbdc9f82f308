/**
 * A self-hosted runner behind TLS with a private certificate authority: refused by default
 * with words that point to the fix, trusted once the endpoint's CA file names that authority.
 * The authority and the server's certificate are made for each run with openssl.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Sam2Client } from '../lib/client';
import { Sam2NetworkError } from '../lib/errors';
import { startLocalServer, type LocalServer } from '../local-server/server';
import { helper, loadSegmentFlow, nextMessage } from './fixtures/flow';
import { makeScene, type Scene } from './fixtures/scenes';

/** A private CA, and a certificate for 127.0.0.1 signed by it: `ca.pem`, `server.key`, `server.pem` in `dir`. */
function makeCertificates(dir: string): void {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ecKey, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=sam2 test private CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  openssl('req', ...ecKey, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'server.ext');
}

interface OutMsg {
  masks: unknown[];
  error?: { message: string };
}

describe('a runner behind TLS with a private CA', function () {
  this.timeout(30_000);
  let dir: string;
  let server: LocalServer;
  let scene: Scene;
  const clients: Sam2Client[] = [];

  before(async function () {
    dir = mkdtempSync(join(tmpdir(), 'sam2-tls-'));
    try {
      makeCertificates(dir);
    } catch (err) {
      throw new Error(`these tests make their certificates with openssl, which failed or is missing (apt-get install openssl): ${(err as Error).message}`);
    }
    server = await startLocalServer({ tls: { key: readFileSync(join(dir, 'server.key')), cert: readFileSync(join(dir, 'server.pem')) } });
    scene = await makeScene('studio', 320, 240);
  });
  after(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await helper.unload();
  });

  function client(options: ConstructorParameters<typeof Sam2Client>[0] = {}): Sam2Client {
    const made = new Sam2Client({ url: server.url, retries: 2, ...options });
    clients.push(made);
    return made;
  }

  it('refuses the runner\'s certificate by default, at once, saying how to trust it', async () => {
    const before = server.requestCount;
    const retries: unknown[] = [];
    await assert.rejects(client().segment(scene.jpeg, {}, { onRetry: (info) => retries.push(info) }), (err: Error) => {
      assert.ok(err instanceof Sam2NetworkError, `a network error, not ${err.constructor.name}`);
      assert.match(err.message, /certificate of https:\/\/127\.0\.0\.1:\d+ is not trusted/);
      assert.match(err.message, /CA file/);
      return true;
    });
    assert.deepEqual(retries, [], 'a certificate that is not trusted will not become trusted by retrying');
    assert.equal(server.requestCount, before, 'no request reached the server');
  });

  it('segments once the client trusts the private CA', async () => {
    const result = await client({ ca: readFileSync(join(dir, 'ca.pem')) }).segment(scene.jpeg, { points: [scene.objects[0].point] });
    assert.equal(result.masks.length, 3);
    assert.deepEqual([result.width, result.height], [320, 240]);
  });

  describe('sam2-local-server --tls-key --tls-cert', () => {
    const cli = join(__dirname, '..', 'local-server', 'cli.js');

    it('serves HTTPS that a client trusting the CA can use', async () => {
      const child = spawn(process.execPath, [cli, '--port', '0', '--tls-key', join(dir, 'server.key'), '--tls-cert', join(dir, 'server.pem')], { stdio: ['ignore', 'pipe', 'pipe'] });
      try {
        const url = await new Promise<string>((resolve, reject) => {
          let out = '';
          child.stdout.on('data', (c: Buffer) => {
            out += c.toString();
            const found = /Endpoint URL: (\S+)/.exec(out);
            if (found) resolve(found[1]);
          });
          child.once('exit', (code) => reject(new Error(`exited with ${code}: ${out}`)));
        });
        assert.match(url, /^https:\/\/127\.0\.0\.1:\d+$/);
        const result = await client({ url, ca: readFileSync(join(dir, 'ca.pem')) }).segment(scene.jpeg);
        assert.equal(result.masks.length, 3);
      } finally {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
    });

    it('refuses a key without a certificate', async () => {
      const child = spawn(process.execPath, [cli, '--port', '0', '--tls-key', join(dir, 'server.key')], { stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      child.stderr.on('data', (c: Buffer) => (err += c.toString()));
      const [code] = (await once(child, 'exit')) as [number | null];
      assert.equal(code, 1);
      assert.match(err, /--tls-key and --tls-cert go together/);
    });
  });

  describe('through a sam2-endpoint in a flow', () => {
    async function load(endpoint: Record<string, unknown>): Promise<void> {
      await loadSegmentFlow({ url: server.url, endpoint });
    }

    function next(id: string): Promise<OutMsg> {
      return nextMessage<OutMsg>(id);
    }

    it('segments with the CA file set', async () => {
      await load({ caFile: join(dir, 'ca.pem') });
      const out = next('out');
      helper.getNode('seg').receive({ payload: scene.jpeg });
      assert.equal((await out).masks.length, 3);
    });

    it('without it, tells a Catch node the certificate is not trusted and to set the CA file', async () => {
      await load({});
      const caught = next('caught');
      helper.getNode('seg').receive({ payload: scene.jpeg });
      assert.match((await caught).error!.message, /certificate of https:\/\/127\.0\.0\.1:\d+ is not trusted.*CA file/);
    });

    it('names a CA file that cannot be read, on every message, without stopping the flow', async () => {
      const missing = join(dir, 'no-such-ca.pem');
      await load({ caFile: missing });
      for (let i = 0; i < 2; i++) {
        const caught = next('caught');
        helper.getNode('seg').receive({ payload: scene.jpeg });
        const message = (await caught).error!.message;
        assert.ok(message.includes(`CA file: ${missing} is not a readable regular file`), message);
      }
    });
  });
});
