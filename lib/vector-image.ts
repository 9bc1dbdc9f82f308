/**
 * Vector images (SVG) as input. They are not camera frames, so prepareImage refuses them unless
 * the flow allows them; when it does, they are drawn once, to PNG, in a child process that is
 * killed at a deadline. The cost of drawing an SVG does not follow from its size: nested
 * `<use>` elements multiply (ten per level, nine levels: a billion rectangles from 2 KB), and
 * librsvg cannot be interrupted from inside this process. A child process holds neither the
 * event loop nor the libuv thread pool that sharp, file and DNS work share.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Sam2InputError } from './errors';

/** Largest vector file accepted, when allowed at all. */
export const MAX_VECTOR_BYTES = 1024 * 1024;
/** Wall time for drawing one, the child's start (~0.2 s) included. */
export const VECTOR_TIME_LIMIT_MS = 5000;

const GZIP = [0x1f, 0x8b];

/**
 * Whether the bytes are a vector image or may be one: markup (SVG is XML; the first thing after
 * any byte-order mark and white space is `<`), gzip data (SVGZ) or PDF. Decided before any
 * image library sees them, because even reading an SVG's size may mean laying it all out.
 */
export function vectorKind(bytes: Buffer): 'svg' | 'svgz' | 'pdf' | undefined {
  if (bytes[0] === GZIP[0] && bytes[1] === GZIP[1]) return 'svgz';
  if (bytes.subarray(0, 5).toString('latin1') === '%PDF-') return 'pdf';
  let i = 0;
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) i = 3;
  else if ((bytes[0] === 0xfe && bytes[1] === 0xff) || (bytes[0] === 0xff && bytes[1] === 0xfe)) return 'svg'; // UTF-16 text
  while (i < bytes.length && i < 4096 && (bytes[i] === 0x20 || bytes[i] === 0x09 || bytes[i] === 0x0a || bytes[i] === 0x0d)) i++;
  return bytes[i] === 0x3c ? 'svg' : undefined;
}

/** The SVG drawn as PNG within the deadline and the pixel limit, or a Sam2InputError naming `field`. */
export function rasteriseVector(bytes: Buffer, maxPixels: number, field: string, timeLimitMs = VECTOR_TIME_LIMIT_MS): Promise<Buffer> {
  if (bytes.length > MAX_VECTOR_BYTES) {
    return Promise.reject(new Sam2InputError(field, `is a vector image of ${bytes.length} bytes, over the ${MAX_VECTOR_BYTES} bytes accepted`, 'Send a JPEG or PNG, or a smaller SVG'));
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(__dirname, 'vector-child.js'), String(Math.floor(maxPixels))], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let size = 0;
    let said = '';
    let settled = false;
    const fail = (problem: string, fix = 'Send a JPEG or PNG, or a simpler SVG'): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Sam2InputError(field, problem, fix));
    };
    const timer = setTimeout(() => fail(`is a vector image that could not be drawn within ${timeLimitMs / 1000} s (it is too complex)`), timeLimitMs);
    child.stdout.on('data', (chunk: Buffer) => {
      size += chunk.length;
      // A PNG of maxPixels RGBA pixels, even uncompressed, is under 4 bytes a pixel plus headers.
      if (size > maxPixels * 4 + 65536) return fail('is a vector image whose drawing is larger than the pixel limit');
      out.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => (said = (said + chunk.toString()).slice(0, 300)));
    child.on('error', (err) => fail(`is a vector image that could not be drawn (${err.message})`));
    child.on('close', (code) => {
      if (settled) return;
      if (code !== 0) {
        const tooBig = /pixel limit/i.test(said);
        return fail(
          tooBig ? `is a vector image that would be drawn over the limit of ${maxPixels} pixels` : `is a vector image that could not be drawn (${said.trim() || `exit ${code}`})`,
          tooBig ? 'Send a smaller image, or raise "Max image" on the sam2-endpoint node' : 'Send a JPEG or PNG, or a simpler SVG',
        );
      }
      settled = true;
      clearTimeout(timer);
      resolve(Buffer.concat(out));
    });
    child.stdin.on('error', () => undefined); // the child may exit before reading it all
    child.stdin.end(bytes);
  });
}
