import assert from 'node:assert/strict';
import { Sam2InputError } from '../lib/errors';
import { checkPrompts, maskInputText, promptFields } from '../lib/prompts';
import type { Prompts } from '../lib/types';

describe('prompts', () => {
  it('defaults labels to foreground and normalizeCoords to the API default', () => {
    const checked = checkPrompts({ points: [[10, 20], [30, 40]] }, 100, 100);
    assert.deepEqual(checked.labels, [1, 1]);
    assert.equal(checked.normalizeCoords, true);
  });

  it('resolves multimask "auto" (the default): three for one point alone, one for a box or several points', () => {
    const cases: Array<[string, Prompts, boolean]> = [
      ['one point', { points: [[10, 20]] }, true],
      ['no point or box (the API\'s own three)', {}, true],
      ['one background point', { points: [[10, 20]], labels: [0] }, true],
      ['two points', { points: [[10, 20], [30, 40]] }, false],
      ['a box', { box: [1, 2, 30, 40] }, false],
      ['a point and a box', { points: [[10, 20]], box: [1, 2, 30, 40] }, false],
    ];
    for (const [what, prompts, expected] of cases) {
      assert.equal(checkPrompts(prompts, 100, 100).multimask, expected, `${what}, left out`);
      assert.equal(checkPrompts({ ...prompts, multimask: 'auto' }, 100, 100).multimask, expected, `${what}, "auto"`);
      // Forced either way, whatever the prompts.
      assert.equal(checkPrompts({ ...prompts, multimask: true }, 100, 100).multimask, true, `${what}, true`);
      assert.equal(checkPrompts({ ...prompts, multimask: false }, 100, 100).multimask, false, `${what}, false`);
    }
  });

  it('accepts {x, y} points as the editor and detectors write them', () => {
    const checked = checkPrompts({ points: [{ x: 5, y: 6 }] as unknown as Prompts['points'] }, 10, 10);
    assert.deepEqual(checked.points, [[5, 6]]);
  });

  it('writes the form fields exactly as the API reads them', () => {
    const fields = promptFields(checkPrompts({ points: [[10, 20]], labels: [0], box: [1, 2, 30, 40], multimask: false }, 100, 100));
    assert.deepEqual(fields, {
      point_coords: '[[10,20]]',
      point_labels: '[0]',
      box: '[1,2,30,40]',
      multimask_output: 'false',
      normalize_coords: 'true',
    });
  });

  it('scales pixel coordinates to a resized upload, and leaves relative ones alone', () => {
    const pixels = promptFields(checkPrompts({ points: [[1920, 540]], box: [0, 0, 960, 1080] }, 1920, 1080), 1024 / 1920, 1024 / 1080);
    assert.equal(pixels.point_coords, '[[1024,512]]');
    assert.equal(pixels.box, '[0,0,512,1024]');
    const relative = promptFields(checkPrompts({ points: [[0.5, 0.5]], normalizeCoords: false }, 1920, 1080), 0.5, 0.5);
    assert.equal(relative.point_coords, '[[0.5,0.5]]');
    assert.equal(relative.normalize_coords, 'false');
  });

  it('writes mask_input compactly enough for the runner\'s 1 MiB field limit', () => {
    const logits = new Float32Array(256 * 256).map((_, i) => Math.sin(i) * 20 - 8.123456954956055);
    const text = maskInputText(logits);
    assert.ok(text.length < 1024 * 1024, `${text.length} bytes`);
    const parsed = JSON.parse(text) as number[][][];
    assert.deepEqual([parsed.length, parsed[0].length, parsed[0][0].length], [1, 256, 256]);
    assert.ok(Math.abs(parsed[0][3][7] - logits[3 * 256 + 7]) <= 0.005);
  });

  it('accepts mask_input flat, 256x256, 1x256x256, or as a Float32Array that went through JSON', () => {
    const flat = Array.from({ length: 65536 }, (_, i) => i % 7);
    const nested = Array.from({ length: 256 }, (_, y) => flat.slice(y * 256, y * 256 + 256));
    const viaJson = JSON.parse(JSON.stringify(new Float32Array(flat)));
    for (const maskInput of [flat, nested, [nested], viaJson]) {
      const checked = checkPrompts({ maskInput }, 10, 10);
      assert.equal(checked.maskInput?.[300], 300 % 7);
    }
  });

  const bad: Array<[string, Prompts, string, RegExp]> = [
    ['a point that is not a pair', { points: [[1, 2, 3]] as unknown as Prompts['points'] }, 'msg.sam2.points[0]', /not a pair of finite numbers/],
    ['NaN in a point', { points: [[NaN, 2]] }, 'msg.sam2.points[0]', /not a pair of finite numbers/],
    ['Infinity in a box', { box: [0, 0, Infinity, 4] }, 'msg.sam2.box', /four finite numbers/],
    ['labels count differs', { points: [[1, 1], [2, 2]], labels: [1] }, 'msg.sam2.labels', /1 labels for 2 points/],
    ['a label that is not 0 or 1', { points: [[1, 1]], labels: [2] }, 'msg.sam2.labels[0]', /foreground/],
    ['a point outside the image', { points: [[101, 5]] }, 'msg.sam2.points[0]', /outside the image.*100x50/],
    ['a relative point above 1', { points: [[1.5, 0.5]], normalizeCoords: false }, 'msg.sam2.points[0]', /0 to 1/],
    ['an inverted box', { box: [50, 10, 20, 40] }, 'msg.sam2.box', /inverted.*x2 > x1/],
    ['a box outside the image', { box: [0, 0, 20, 60] }, 'msg.sam2.box', /outside the image/],
    ['a maskInput of the wrong size', { maskInput: [1, 2, 3] }, 'msg.sam2.maskInput', /3 values, not 256x256/],
    ['a multimask that is not boolean', { multimask: 'yes' as unknown as boolean }, 'msg.sam2.multimask', /not true, false or "auto"/],
    ['labels without points', { labels: [1] }, 'msg.sam2.labels', /no points/],
  ];
  for (const [what, prompts, field, words] of bad) {
    it(`refuses ${what}, naming ${field}`, () => {
      assert.throws(
        () => checkPrompts(prompts, 100, 50, 'msg.sam2'),
        (err: unknown) => err instanceof Sam2InputError && err.field === field && words.test(err.message),
      );
    });
  }
});
