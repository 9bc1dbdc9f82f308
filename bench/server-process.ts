/**
 * The local server in a child process of its own, for benchmarks of the client: its work (the
 * segmenter, Python list text) must not count against the client's CPU or event loop.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';

export function startServerProcess(args: string[] = []): Promise<{ url: string; stop: () => void }> {
  const child = spawn(process.execPath, [join(__dirname, '..', 'local-server', 'cli.js'), '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const url = /Endpoint URL: (\S+)/.exec(text)?.[1];
      if (url) resolve({ url, stop: () => child.kill() });
    });
    child.once('exit', (code) => reject(new Error(`local server exited with ${code}`)));
  });
}
