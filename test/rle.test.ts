import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Sam2InputError } from '../lib/errors';
import { maskToRle, rleToMask, type CocoRle } from '../lib/rle';

/** A row-major mask from rows of 0/1. */
function rows(...lines: number[][]): { mask: Uint8Array; width: number; height: number } {
  return { mask: Uint8Array.from(lines.flat()), width: lines[0]?.length ?? 0, height: lines.length };
}

/** The row-major mask whose column-major runs (0s first) are `runs`. */
function fromRuns(runs: number[], width: number, height: number): Uint8Array {
  const mask = new Uint8Array(width * height);
  let p = 0;
  runs.forEach((run, i) => {
    for (let k = 0; k < run; k++, p++) if (i % 2) mask[(p % height) * width + Math.floor(p / height)] = 1;
  });
  return mask;
}

/** A deterministic stream of pseudo-random numbers in [0, 1). */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/**
 * A second, deliberately plain encoder straight from the format's description: read the
 * columns, count runs, write each number 5 bits at a time. Ours finds runs a different way.
 */
function plainCounts(mask: Uint8Array, width: number, height: number): string {
  const runs: number[] = [];
  let value = 0;
  let run = 0;
  for (let x = 0; x < width; x++) {
    for (let y = 0; y < height; y++) {
      const v = mask[y * width + x] ? 1 : 0;
      if (v !== value) {
        runs.push(run);
        run = 0;
        value = v;
      }
      run++;
    }
  }
  runs.push(run);
  let out = '';
  runs.forEach((r, i) => {
    let x = i > 2 ? r - runs[i - 2] : r;
    for (;;) {
      const group = x & 0x1f;
      x >>= 5;
      const more = group & 0x10 ? x !== -1 : x !== 0;
      out += String.fromCharCode(48 + group + (more ? 0x20 : 0));
      if (!more) break;
    }
  });
  return out;
}

function expectCountsError(rle: CocoRle, pattern: RegExp): void {
  assert.throws(
    () => rleToMask(rle),
    (err: unknown) => err instanceof Sam2InputError && pattern.test(err.message),
  );
}

describe('COCO RLE', () => {
  describe('the strings pycocotools writes', () => {
    // Each was worked out by hand from maskApi.c's rleEncode and rleToString, and the same
    // masks given to pycocotools 2.0.11's mask.encode give the same bytes.
    const vectors: Array<{ name: string; mask: Uint8Array; width: number; height: number; counts: string }> = [
      // Columns: 0,1 | 1,1 -> runs 1, 3.
      { name: '2x2 with one clear corner', ...rows([0, 1], [1, 1]), counts: '13' },
      { name: '1x1 set: an empty first run of 0s', ...rows([1]), counts: '01' },
      { name: '1x1 clear', ...rows([0]), counts: '1' },
      { name: '4x3 all clear: 12 is "<"', ...rows([0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]), counts: '<' },
      { name: '4x3 all set', ...rows([1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]), counts: '0<' },
      // Columns 100 | 110 | 011 | 001 -> runs 0,1,2,2,2,2,2,1; from the 4th on, less the run
      // two before: 0,1,2, 1,0,0,0,-1, and -1 is the one group 31 ('O').
      { name: '4x3 diagonal band', ...rows([1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]), counts: '0121000O' },
      // Runs 70, 20, 5, 5 -> 70, 20, 5, -15. 70 = 6 + 2*32: 'V' (6 with "more") then '2';
      // 20 has its sign bit set, so it needs a second group: 'd' '0'; -15 is group 17, 'A'.
      { name: '10x10 with runs of 70 and 20', mask: fromRuns([70, 20, 5, 5], 10, 10), width: 10, height: 10, counts: 'V2d05A' },
      // Runs 3, 40, 3, 2 -> 3, 40, 3, -38. 40 = 8 + 1*32: 'X' '1'. -38 = 26 + (-2)*32, and
      // -2 = 30 + (-1)*32: 'j' (26 with "more") then 'N' (30, sign set, rest -1).
      { name: '6x8 with a negative two-group difference', mask: fromRuns([3, 40, 3, 2], 6, 8), width: 6, height: 8, counts: '3X13jN' },
      // 2073600 = 0 + 0*32 + 9*32^2 + 31*32^3 + 1*32^4: 'P' 'P' 'Y' 'o' '1' after the empty 0s run.
      { name: '1920x1080 all set: a five-group run', mask: new Uint8Array(1920 * 1080).fill(1), width: 1920, height: 1080, counts: '0PPYo1' },
    ];
    for (const v of vectors) {
      it(`${v.name}: "${v.counts}"`, () => {
        const rle = maskToRle(v.mask, v.width, v.height);
        assert.deepEqual(rle, { size: [v.height, v.width], counts: v.counts });
        assert.deepEqual(rleToMask(rle), v.mask);
      });
    }

    it('a 0x0 or 0-wide mask is the one empty run, as pycocotools writes it', () => {
      assert.deepEqual(maskToRle(new Uint8Array(0), 3, 0), { size: [0, 3], counts: '0' });
      assert.deepEqual(maskToRle(new Uint8Array(0), 0, 2), { size: [2, 0], counts: '0' });
      assert.deepEqual(rleToMask({ size: [0, 3], counts: '0' }), new Uint8Array(0));
    });

    it('counts any non-zero value as set', () => {
      const { mask, width, height } = rows([0, 255], [7, 1]);
      assert.equal(maskToRle(mask, width, height).counts, '13');
    });

    // From pycocotools' own test suite (github.com/ppwwyyxx/cocoapi, tests/test_cases.py,
    // testZeroLeadingRLE): counts written by another tool, starting with three empty runs.
    const ZERO_LEADING: CocoRle = {
      size: [1350, 1080],
      counts:
        '000lg0Zb01O00001O00001O001O00001O00001O001O00001O01O2N3M3M3M2N3M3N2M3M2N1O1O1O1O2N1O1O1O2N1O1O101N1O1O1O2N1O1O1O2N3M2N1O2N1O2O0O2N1O1O2N1O2N1O2N1O2N1O2N1O2O0O2N1O3M2N1O2N2N2N2N2N1O2N2N2N2N1O2N2N2N2N2N1N3N2N00O1O1O1O100000000000000O100000000000000001O0000001O00001O0O5L7I5K4L4L3M2N2N2N1O2m]OoXOm`0Sg0j^OVYOTa0lf0c^O]YO[a0ef0\\^OdYOba0bg0N2N2N2N2N2N2N2N2N2N2N2N2N2N2N2N2N3M2M4M2N3M2N3M2N3M2N3M2N3M2N3M2N3M2N3M2M4M2N2N3M2M4M2N2N3M2M3N3M2N3M2M3N3M2N2N3L3N2N3M2N3L3N2N3M5J4M3M4L3M3L5L3M3M4L3L4\\EXTOd6jo0K6J5K6I4M1O1O1O1N2O1O1O001N2O00001O0O101O000O2O00001N101N101N2N101N101N101N2O0O2O0O2O0O2O1N101N2N2O1N2O1N2O1N101N2O1N2O1N2O0O2O1N2N2O1N2O0O2O1N2O1N2N2N1N4M2N2M4M2N3L3N2N3L3N3L3N2N3L3N2N3L3M4L3M3M4L3M5K5K5K6J5K5K6J7I7I7Ibijn0',
    };

    it("decodes pycocotools' published zero-leading string to the same pixels pycocotools does", () => {
      const mask = rleToMask(ZERO_LEADING);
      // pycocotools 2.0.11: decode gives 152584 pixels, toBbox [0, 0, 331, 776], and these
      // row-major bytes.
      assert.equal(mask.reduce((n, v) => n + v, 0), 152584);
      assert.equal(createHash('sha256').update(mask).digest('hex'), '888f4e692e38571b57c2172deb6343a7d62093e41f060ab6d86925fc16437cd4');
      // Encoding merges the empty runs, as pycocotools' own encode of that mask does.
      const again = maskToRle(mask, 1080, 1350);
      assert.equal(again.counts.length, 719);
      assert.ok(again.counts.startsWith('0lg0Zb01O00001O00001O001O00001O00001O001O00001O01O2N'));
      assert.deepEqual(rleToMask(again), mask);
    });

    it("rejects pycocotools' published invalid string, whose runs overflow the image", () => {
      // Same suite, testInvalidRLECounts: pycocotools raises ValueError on it.
      const counts =
        'jd`0=`o06J5L4M3L3N2N2N2N2N1O2N2N101N1O2O0O1O2N100O1O2N100O1O1O1O1O101N1O1O1O1O1O1O101N1O100O101O0O100000000000000001O00001O1O0O2O1N3N1N3N3L5Kh0XO6J4K5L5Id[o5N]dPJ7K4K4M3N2M3N2N1O2N100O2O0O1000O01000O101N1O1O2N2N2M3M3M4J7Inml5H[RSJ6L2N2N2N2O000000000000O2O1N2N2Mkm81SRG6L3L3N2O1N2N2O0O2O00001O0000000000O2O001N2O0O2N2N3M3L5JRjf6MPVYI8J4L3N3M2N1O2O1N101N1000000O10000001O000O101N101N1O2N2N2N3L4L7FWZ_50ne`J0000001O000000001O0000001O1O0N3M3N1O2N2N2O1N2O001N2`RO^O`k0c0[TOEak0;\\\\TOJbk07\\\\TOLck03[TO0dk01ZTO2dk0OYTO4gk0KXTO7gk0IXTO8ik0HUTO:kk0ETTO=lk0CRTO>Pl0@oSOb0Rl0\\\\OmSOe0Tl0[OjSOg0Ul0YOiSOi0Wl0XOgSOi0Yl0WOeSOk0[l0VOaSOn0kh0cNmYO';
      expectCountsError({ size: [1024, 1024], counts }, /rle\.counts: .*(negative|pass the 1048576 pixels)/);
    });
  });

  describe('round trip', () => {
    it('decode(encode(m)) is m, and the counts match a plain encoder, on random masks of many sizes', () => {
      const next = random(2024);
      const sizes: Array<[number, number]> = [[0, 0], [1, 1], [1, 7], [7, 1], [2, 2], [3, 5], [4, 4], [8, 3], [13, 17], [64, 48], [100, 1], [1, 100], [127, 129], [256, 200]];
      for (const [width, height] of sizes) {
        for (const kind of ['empty', 'full', 'noise', 'sparse', 'blocks']) {
          const mask = new Uint8Array(width * height);
          const density = kind === 'sparse' ? 0.02 : 0.5;
          const block = 1 + Math.floor(next() * 9);
          for (let y = 0; y < height; y++) {
            for (let x = 0; x < width; x++) {
              if (kind === 'full') mask[y * width + x] = 1;
              else if (kind === 'noise' || kind === 'sparse') mask[y * width + x] = next() < density ? 1 : 0;
              else if (kind === 'blocks') mask[y * width + x] = (Math.floor(x / block) + Math.floor(y / (block + 1))) % 3 === 0 ? 1 : 0;
            }
          }
          const rle = maskToRle(mask, width, height);
          const label = `${kind} ${width}x${height}`;
          assert.deepEqual(rle.size, [height, width], label);
          assert.equal(rle.counts, plainCounts(mask, width, height), label);
          assert.match(rle.counts, /^[0-o]*$/, label);
          assert.deepEqual(rleToMask(rle), mask, label);
        }
      }
    });

    it('reads a mask that starts at an odd offset in its buffer, as a slice of a bigger answer may', () => {
      const backing = new Uint8Array(1 + 16 * 9);
      const mask = backing.subarray(1);
      const next = random(7);
      for (let i = 0; i < mask.length; i++) mask[i] = next() < 0.4 ? 1 : 0;
      assert.equal(maskToRle(mask, 16, 9).counts, plainCounts(mask, 16, 9));
    });
  });

  describe('errors', () => {
    it('a mask whose length does not match its size', () => {
      assert.throws(() => maskToRle(new Uint8Array(10), 4, 3), /mask has 10 values but 4x3 needs 12/);
    });

    it('a character outside 0..o', () => {
      expectCountsError({ size: [2, 2], counts: '1 3' }, /character 1 is " ", not one of '0' to 'o'/);
      expectCountsError({ size: [2, 2], counts: '1p' }, /character 1 is "p"/);
    });

    it('a string that ends in the middle of a number', () => {
      // 'V' carries the "more follows" flag, so the number it starts is unfinished.
      expectCountsError({ size: [10, 10], counts: 'V' }, /ends inside the number that starts at character 0/);
    });

    it('runs that do not add up to the size, short or long', () => {
      expectCountsError({ size: [2, 2], counts: '12' }, /add up to 3 pixels but size makes 4/);
      expectCountsError({ size: [2, 2], counts: '14' }, /pass the 4 pixels/);
      expectCountsError({ size: [2, 2], counts: '' }, /add up to 0 pixels but size makes 4/);
    });

    it('a difference that makes a run negative', () => {
      // Runs 1, 1, 1, then 'N' (-2) against the run two before (1): -1.
      expectCountsError({ size: [10, 1], counts: '111N' }, /run 3 \(at character 3\) has a negative length, -1/);
    });

    it('a number longer than any 32-bit count', () => {
      expectCountsError({ size: [10, 10], counts: 'PPPPPPP0' }, /longer than 7 characters/);
    });

    it('a size that is not [height, width] or counts that are not a string', () => {
      expectCountsError({ size: [2] as unknown as [number, number], counts: '4' }, /rle\.size: must be \[height, width\]/);
      expectCountsError({ size: [2, -2], counts: '4' }, /rle\.size/);
      expectCountsError({ size: [2, 2], counts: [1, 3] as unknown as string }, /must be a string, got an array \(uncompressed RLE\)/);
    });
  });
});
