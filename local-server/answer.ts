/**
 * The 200 answer's body, produced a chunk at a time. A 4K frame with logits is ~500 MB of
 * text, more than one V8 string can hold, so nothing here builds the whole body: the
 * server pulls chunks as the socket drains.
 *
 * The texts are Python's `str()` of nested lists of float32 values, as the runner sends.
 * The JSON around them is compact (`{"masks":"...","scores":"..."}`), as FastAPI writes
 * it; only the lists use `, `.
 */
import { maskFromLogits, resizeBilinear } from '../lib/bilinear';
import { LOW_RES_SIZE } from '../lib/types';
import { pyFloatList, pyFloatRepr } from './python-repr';

export const CHUNK_BYTES = 512 * 1024;

/** Packs text and bytes into fixed-size chunks; full chunks wait in `ready` until taken. */
class ChunkWriter {
  private buf = Buffer.allocUnsafe(CHUNK_BYTES);
  private pos = 0;
  private ready: Buffer[] = [];

  /** Latin-1 text: every character of these bodies is ASCII. */
  text(s: string): void {
    let off = 0;
    while (off < s.length) {
      if (this.pos === CHUNK_BYTES) this.flush();
      const n = Math.min(s.length - off, CHUNK_BYTES - this.pos);
      this.buf.write(off === 0 && n === s.length ? s : s.slice(off, off + n), this.pos, n, 'latin1');
      this.pos += n;
      off += n;
    }
  }

  bytes(b: Buffer, start = 0, end = b.length): void {
    while (start < end) {
      if (this.pos === CHUNK_BYTES) this.flush();
      const n = Math.min(end - start, CHUNK_BYTES - this.pos);
      b.copy(this.buf, this.pos, start, start + n);
      this.pos += n;
      start += n;
    }
  }

  private flush(): void {
    if (this.pos === 0) return;
    this.ready.push(this.buf.subarray(0, this.pos));
    this.buf = Buffer.allocUnsafe(CHUNK_BYTES);
    this.pos = 0;
  }

  /** The chunks filled so far. */
  *take(): Generator<Buffer> {
    const ready = this.ready;
    this.ready = [];
    yield* ready;
  }

  /** Everything written, the last chunk partly filled. */
  *finish(): Generator<Buffer> {
    this.flush();
    yield* this.take();
  }
}

/**
 * A binary mask's text. Masks are mostly long runs, so each run is copied from ready-made
 * `0.0, ` / `1.0, ` text (5 bytes an item) instead of formatting numbers one by one.
 */
function* binaryMask(w: ChunkWriter, mask: Uint8Array, width: number, height: number): Generator<Buffer> {
  const zeros = Buffer.from('0.0, '.repeat(width), 'latin1');
  const ones = Buffer.from('1.0, '.repeat(width), 'latin1');
  const row = Buffer.allocUnsafe(5 * width + 2);
  row[0] = 0x5b; // [
  w.text('[');
  for (let y = 0; y < height; y++) {
    const base = y * width;
    let pos = 1;
    for (let x = 0; x < width; ) {
      const v = mask[base + x];
      let end = x + 1;
      while (end < width && mask[base + end] === v) end++;
      (v ? ones : zeros).copy(row, pos, x * 5, end * 5);
      pos += (end - x) * 5;
      x = end;
    }
    // The last item's ", " becomes "]" and, between rows, "], ".
    row[5 * width - 1] = 0x5d;
    row[5 * width] = 0x2c;
    row[5 * width + 1] = 0x20;
    w.bytes(row, 0, y < height - 1 ? 5 * width + 2 : 5 * width);
    yield* w.take();
  }
  w.text(']');
}

function* floatGrid(w: ChunkWriter, values: Float32Array, width: number, height: number): Generator<Buffer> {
  w.text('[');
  for (let y = 0; y < height; y++) {
    const base = y * width;
    let s = y === 0 ? '[' : ', [';
    for (let x = 0; x < width; x++) s += x === 0 ? pyFloatRepr(values[base]) : `, ${pyFloatRepr(values[base + x])}`;
    w.text(`${s}]`);
    yield* w.take();
  }
  w.text(']');
}

export interface AnswerMask {
  /** 256x256 low-resolution logits. */
  logits: Float32Array;
  score: number;
}

/**
 * The body for `masks` (best first) on a `width` x `height` image: masks are the logits
 * resized the way SAM2 resizes them, thresholded at 0 unless `returnLogits`.
 */
export function* answerChunks(masks: AnswerMask[], width: number, height: number, returnLogits: boolean): Generator<Buffer> {
  const w = new ChunkWriter();
  w.text('{"masks":"[');
  for (let c = 0; c < masks.length; c++) {
    if (c > 0) w.text(', ');
    const { logits } = masks[c];
    if (returnLogits) yield* floatGrid(w, resizeBilinear(logits, LOW_RES_SIZE, LOW_RES_SIZE, width, height), width, height);
    else yield* binaryMask(w, maskFromLogits(logits, LOW_RES_SIZE, LOW_RES_SIZE, width, height), width, height);
  }
  w.text(`]","scores":"${pyFloatList(masks.map((m) => Math.fround(m.score)))}","logits":"[`);
  for (let c = 0; c < masks.length; c++) {
    if (c > 0) w.text(', ');
    yield* floatGrid(w, masks[c].logits, LOW_RES_SIZE, LOW_RES_SIZE);
  }
  w.text(']"}');
  yield* w.finish();
}
