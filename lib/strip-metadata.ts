/**
 * Metadata out of JPEG and PNG files without touching their pixels. Camera frames carry EXIF
 * (GPS position, device serials, times), XMP, IPTC, comments, ICC profiles, embedded
 * thumbnails and extra images after the end marker (phones' MPO); none of it helps SAM2 and
 * all of it would leave the machine with every upload. Re-encoding would strip it too, but
 * costs a decode and an encode per frame and loses JPEG quality each time; walking the
 * markers or chunks costs a scan of the bytes. What is kept is only what decoding needs.
 *
 * Formats: JPEG is a series of `FF xx` markers, most with a 2-byte big-endian length; after
 * SOS (`FF DA`) comes entropy-coded data in which `FF` is followed by `00` (a stuffed byte)
 * or `D0`-`D7` (restart markers), until the next real marker; `FF D9` ends the image.
 * PNG is an 8-byte signature and chunks of length (4), type (4), data and CRC (4); a chunk
 * whose type starts lower-case is ancillary (safe to drop), upper-case is critical.
 */

/** JPEG: the frame, tables and scans; APPn (EXIF, XMP, ICC, IPTC...) and COM are dropped. APP14 (Adobe) tells how to read colours, so it stays. */
export function stripJpeg(b: Buffer): Buffer | undefined {
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return undefined;
  const keep: Array<[number, number]> = [[0, 2]];
  let i = 2;
  for (;;) {
    if (i + 1 >= b.length || b[i] !== 0xff) return undefined;
    const m = b[i + 1];
    if (m === 0xff) {
      i++; // fill byte before a marker
      continue;
    }
    if (m === 0xd9) {
      keep.push([i, i + 2]); // EOI; whatever follows (another image, trailing data) is dropped
      break;
    }
    if ((m >= 0xd0 && m <= 0xd7) || m === 0x01) {
      keep.push([i, i + 2]);
      i += 2;
      continue;
    }
    if (m === 0x00 || m === 0xd8 || i + 3 >= b.length) return undefined;
    const end = i + 2 + b.readUInt16BE(i + 2);
    if (end < i + 4 || end > b.length) return undefined;
    const metadata = (m >= 0xe0 && m <= 0xef && m !== 0xee) || m === 0xfe;
    if (!metadata) keep.push([i, end]);
    i = end;
    if (m === 0xda) {
      // Entropy-coded data: up to the first FF that starts a real marker.
      let j = i;
      for (;;) {
        j = b.indexOf(0xff, j);
        if (j < 0 || j + 1 >= b.length) return undefined;
        const next = b[j + 1];
        if (next === 0x00 || (next >= 0xd0 && next <= 0xd7)) j += 2;
        else break;
      }
      keep.push([i, j]);
      i = j;
    }
  }
  return Buffer.concat(keep.map(([start, end]) => b.subarray(start, end)));
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Ancillary chunks decoding needs: transparency. Text, EXIF, times, ICC, physical size and animation go. */
const PNG_KEPT_ANCILLARY = new Set(['tRNS']);

/** PNG: the critical chunks (IHDR, PLTE, IDAT, IEND) and tRNS, up to IEND. */
export function stripPng(b: Buffer): Buffer | undefined {
  if (b.length < 8 || !b.subarray(0, 8).equals(PNG_SIGNATURE)) return undefined;
  const keep: Array<[number, number]> = [[0, 8]];
  let i = 8;
  for (;;) {
    if (i + 12 > b.length) return undefined;
    const end = i + 12 + b.readUInt32BE(i);
    if (end > b.length) return undefined;
    const type = b.toString('latin1', i + 4, i + 8);
    const critical = type.charCodeAt(0) < 0x61; // upper case
    if (critical || PNG_KEPT_ANCILLARY.has(type)) keep.push([i, end]);
    i = end;
    if (type === 'IEND') break;
  }
  return Buffer.concat(keep.map(([start, end]) => b.subarray(start, end)));
}
