/**
 * Masks that worker threads read where they lie: a mask rebuilt on a worker comes back in a
 * SharedArrayBuffer (copied there on the worker), so that its RLE or polygons, made on a worker
 * too (lib/mask-pool.ts), need no copy of it on the event loop. Posting a plain 48 MB mask
 * copies it there.
 */

export function isShared(bytes: Uint8Array): boolean {
  return bytes.buffer instanceof SharedArrayBuffer;
}

/** `bytes` itself when shared already, else a shared copy made at once (for a mask: 48 MB at most, a few ms). */
export function sharedNow(bytes: Uint8Array): Uint8Array {
  if (isShared(bytes)) return bytes;
  const copy = new Uint8Array(new SharedArrayBuffer(bytes.length));
  copy.set(bytes);
  return copy;
}
