/**
 * Checks prompts against the image before anything is sent, and writes them as the API's
 * form fields. Every error names the field a flow author has to change and how.
 */
import { Sam2InputError } from './errors';
import { LOW_RES_SIZE, type Prompts } from './types';

export type Point = [number, number];
export type Box = [number, number, number, number];

/** Prompts that passed every check, in the image's own coordinates. */
export interface CheckedPrompts {
  points?: Point[];
  labels?: number[];
  box?: Box;
  maskInput?: Float32Array;
  multimask: boolean;
  normalizeCoords: boolean;
}

const MASK_INPUT_LENGTH = LOW_RES_SIZE * LOW_RES_SIZE;

function isNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function checkPoint(value: unknown, field: string): Point {
  const pair = Array.isArray(value) ? value : value && typeof value === 'object' ? [(value as { x?: unknown }).x, (value as { y?: unknown }).y] : undefined;
  if (!pair || pair.length !== 2 || !pair.every(isNumber)) {
    throw new Sam2InputError(field, `is ${JSON.stringify(value) ?? String(value)}, not a pair of finite numbers`, 'Write each point as [x, y]');
  }
  return [pair[0], pair[1]];
}

/** Whether a coordinate lies on the image: pixels 0..size, or 0..1 when coordinates are relative. */
function inside(value: number, size: number, relative: boolean): boolean {
  return value >= 0 && value <= (relative ? 1 : size);
}

function outsideFix(relative: boolean, width: number, height: number): string {
  return relative
    ? 'Relative coordinates run from 0 to 1; use pixels with normalizeCoords true'
    : `The image is ${width}x${height} pixels; keep x within 0..${width} and y within 0..${height}`;
}

function checkBoolean(value: unknown, field: string, fallback: boolean): boolean {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'boolean') throw new Sam2InputError(field, `is ${JSON.stringify(value)}, not true or false`, 'Set it to true or false');
  return value;
}

/** 256x256 low-resolution logits in any nesting a flow may carry (flat, [256][256], [1][256][256]). */
function checkMaskInput(value: unknown, field: string): Float32Array {
  let flat: ArrayLike<unknown> | undefined;
  if (value instanceof Float32Array) flat = value;
  else if (ArrayBuffer.isView(value) && !(value instanceof DataView)) flat = value as unknown as ArrayLike<number>;
  else if (Array.isArray(value)) flat = (value as unknown[]).flat(2);
  else if (value && typeof value === 'object') flat = Object.values(value as object); // a Float32Array after a JSON round trip
  if (!flat || flat.length !== MASK_INPUT_LENGTH) {
    throw new Sam2InputError(
      field,
      `has ${flat ? flat.length : 0} values, not ${LOW_RES_SIZE}x${LOW_RES_SIZE} = ${MASK_INPUT_LENGTH}`,
      'Use a mask\'s low-resolution logits from an earlier answer (msg.sam2.logits[i])',
    );
  }
  const out = new Float32Array(MASK_INPUT_LENGTH);
  for (let i = 0; i < MASK_INPUT_LENGTH; i++) {
    const v = flat[i];
    if (!isNumber(v)) throw new Sam2InputError(`${field}[${i}]`, `is ${String(v)}, not a finite number`, 'Pass logits as numbers');
    out[i] = v;
  }
  return out;
}

/**
 * Checks prompts for an image of `width` x `height`. `prefix` is where they came from
 * (e.g. `msg.sam2`), so errors point at the exact property.
 */
export function checkPrompts(prompts: Prompts, width: number, height: number, prefix = 'prompts'): CheckedPrompts {
  const normalizeCoords = checkBoolean(prompts.normalizeCoords, `${prefix}.normalizeCoords`, true);
  const multimask = checkBoolean(prompts.multimask, `${prefix}.multimask`, true);
  const relative = !normalizeCoords;
  const checked: CheckedPrompts = { multimask, normalizeCoords };

  const rawPoints: unknown = prompts.points;
  const rawLabels: unknown = prompts.labels;
  if (rawPoints !== undefined && rawPoints !== null) {
    if (!Array.isArray(rawPoints)) throw new Sam2InputError(`${prefix}.points`, `is ${typeof rawPoints}, not an array`, 'Write points as [[x, y], ...]');
    const points = rawPoints.map((p, i) => checkPoint(p, `${prefix}.points[${i}]`));
    points.forEach(([x, y], i) => {
      if (!inside(x, width, relative) || !inside(y, height, relative)) {
        throw new Sam2InputError(`${prefix}.points[${i}]`, `[${x}, ${y}] lies outside the image`, outsideFix(relative, width, height));
      }
    });
    let labels: number[];
    if (rawLabels === undefined || rawLabels === null) {
      labels = points.map(() => 1);
    } else {
      if (!Array.isArray(rawLabels)) throw new Sam2InputError(`${prefix}.labels`, `is ${typeof rawLabels}, not an array`, 'Write labels as [1, 0, ...], one per point');
      if (rawLabels.length !== points.length) {
        throw new Sam2InputError(`${prefix}.labels`, `has ${rawLabels.length} labels for ${points.length} points`, 'Give one label per point: 1 foreground, 0 background');
      }
      labels = rawLabels.map((l, i) => {
        if (l !== 0 && l !== 1) throw new Sam2InputError(`${prefix}.labels[${i}]`, `is ${JSON.stringify(l)}`, 'Use 1 for a foreground point and 0 for a background point');
        return l;
      });
    }
    if (points.length > 0) {
      checked.points = points;
      checked.labels = labels;
    }
  } else if (Array.isArray(rawLabels) && rawLabels.length > 0) {
    throw new Sam2InputError(`${prefix}.labels`, 'is set but there are no points', 'Set points as well, or remove labels');
  }

  const rawBox: unknown = prompts.box;
  if (rawBox !== undefined && rawBox !== null) {
    if (!Array.isArray(rawBox) || rawBox.length !== 4 || !rawBox.every(isNumber)) {
      throw new Sam2InputError(`${prefix}.box`, `is ${JSON.stringify(rawBox)}, not four finite numbers`, 'Write the box as [x1, y1, x2, y2]');
    }
    const [x1, y1, x2, y2] = rawBox as Box;
    if (x2 <= x1 || y2 <= y1) {
      throw new Sam2InputError(`${prefix}.box`, `[${rawBox.join(', ')}] is inverted or empty`, 'Write it as [x1, y1, x2, y2] with x2 > x1 and y2 > y1 (the top-left corner first)');
    }
    if (![x1, x2].every((x) => inside(x, width, relative)) || ![y1, y2].every((y) => inside(y, height, relative))) {
      throw new Sam2InputError(`${prefix}.box`, `[${rawBox.join(', ')}] reaches outside the image`, outsideFix(relative, width, height));
    }
    checked.box = [x1, y1, x2, y2];
  }

  if (prompts.maskInput !== undefined && prompts.maskInput !== null) {
    checked.maskInput = checkMaskInput(prompts.maskInput, `${prefix}.maskInput`);
  }
  return checked;
}

/** The runner (Starlette) refuses a form whose text part is over 1 MiB, with a bare 400. */
export const MAX_FIELD_BYTES = 1024 * 1024;

/** Which prompt each form field carries, for errors. */
const FIELD_SOURCES: Record<string, string> = { point_coords: 'points', point_labels: 'labels', box: 'box', mask_input: 'maskInput' };

/**
 * Prompts as the API's form fields (shared API.md), with pixel coordinates scaled by
 * `scaleX`/`scaleY` when the upload was resized. Booleans are exactly `true`/`false`:
 * Livepeer Studio refuses anything else. A field over the runner's 1 MiB limit is refused
 * here, naming the prompt under `prefix`, instead of costing an upload and a bare 400.
 */
export function promptFields(prompts: CheckedPrompts, scaleX = 1, scaleY = 1, prefix = 'prompts'): Record<string, string> {
  const scale = prompts.normalizeCoords ? ([scaleX, scaleY] as const) : ([1, 1] as const);
  const fields: Record<string, string> = {};
  if (prompts.points) {
    fields.point_coords = JSON.stringify(prompts.points.map(([x, y]) => [x * scale[0], y * scale[1]]));
    fields.point_labels = JSON.stringify(prompts.labels);
  }
  if (prompts.box) {
    const [x1, y1, x2, y2] = prompts.box;
    fields.box = JSON.stringify([x1 * scale[0], y1 * scale[1], x2 * scale[0], y2 * scale[1]]);
  }
  if (prompts.maskInput) fields.mask_input = maskInputText(prompts.maskInput);
  fields.multimask_output = String(prompts.multimask);
  fields.normalize_coords = String(prompts.normalizeCoords);
  for (const [name, text] of Object.entries(fields)) {
    const bytes = Buffer.byteLength(text);
    if (bytes > MAX_FIELD_BYTES) {
      const source = FIELD_SOURCES[name] ?? name;
      throw new Sam2InputError(
        `${prefix}.${source}`,
        `is ${bytes} bytes as the form field ${name}, over the runner's limit of ${MAX_FIELD_BYTES} bytes (1 MiB) for one field`,
        source === 'points' || source === 'labels' ? 'Send fewer points: a few well-placed points work better than many' : 'Send a smaller value',
      );
    }
  }
  return fields;
}

/**
 * `mask_input` as 1x256x256 JSON with two decimals: full float reprs would be ~1.3 MB, over
 * the runner's 1 MiB limit for a text field; two decimals is ~0.4 MB and changes no mask.
 */
export function maskInputText(logits: Float32Array): string {
  const rows: string[] = new Array(LOW_RES_SIZE);
  const row: string[] = new Array(LOW_RES_SIZE);
  for (let y = 0; y < LOW_RES_SIZE; y++) {
    for (let x = 0; x < LOW_RES_SIZE; x++) {
      // toFixed keeps "-0.00" for tiny negatives; the sign is harmless and JSON-valid.
      row[x] = logits[y * LOW_RES_SIZE + x].toFixed(2);
    }
    rows[y] = `[${row.join(',')}]`;
  }
  return `[[${rows.join(',')}]]`;
}
