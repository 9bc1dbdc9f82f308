/**
 * The request side of the runner's route, step by step in its order: Starlette parses the
 * form (400 on a broken body), FastAPI validates each field (422, all errors at once),
 * then the route parses the prompt fields as JSON (400) and hands numpy arrays to SAM2,
 * whose own checks surface as the pipeline's 500.
 */
import { parseBodyFailure, runnerFailure, validationFailure, PIPELINE_ERROR, type ValidationItem } from './error-bodies';
import { pyJsonLoads, PyJsonError, type PyJson } from './python-json';

/** Starlette's limits: a text part over 1 MiB, or more than 1000 fields or files, fails the parse. */
const MAX_TEXT_PART_BYTES = 1024 * 1024;
const MAX_FIELDS = 1000;

export interface UploadedFile {
  filename?: string;
  contentType?: string;
  bytes: Buffer;
}

export interface ReceivedForm {
  /** Text parts, the last one winning when a name repeats (Starlette's lookup does the same). */
  text: Record<string, string>;
  files: Record<string, UploadedFile>;
}

/**
 * Parses a request body the way Starlette does: multipart and urlencoded are forms; any
 * other content type is an empty form (so FastAPI then reports the image missing).
 */
export async function readForm(body: Buffer, contentType: string | undefined): Promise<ReceivedForm> {
  const form: ReceivedForm = { text: {}, files: {} };
  const type = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'multipart/form-data' && type !== 'application/x-www-form-urlencoded') return form;
  let data: FormData;
  try {
    data = await new Response(body, { headers: { 'content-type': contentType as string } }).formData();
  } catch {
    throw parseBodyFailure();
  }
  let count = 0;
  for (const [name, value] of data) {
    if (++count > MAX_FIELDS) throw parseBodyFailure();
    if (typeof value === 'string') {
      if (Buffer.byteLength(value) > MAX_TEXT_PART_BYTES) throw parseBodyFailure();
      delete form.files[name];
      form.text[name] = value;
    } else {
      delete form.text[name];
      form.files[name] = {
        filename: value.name || undefined,
        contentType: value.type || undefined,
        bytes: Buffer.from(await value.arrayBuffer()),
      };
    }
  }
  return form;
}

export interface FormParams {
  image: UploadedFile;
  modelId: string;
  pointCoords?: string;
  pointLabels?: string;
  box?: string;
  maskInput?: string;
  multimask: boolean;
  returnLogits: boolean;
  normalizeCoords: boolean;
}

const TRUE_WORDS = new Set(['1', 'on', 't', 'true', 'y', 'yes']);
const FALSE_WORDS = new Set(['0', 'off', 'f', 'false', 'n', 'no']);

/**
 * FastAPI's validation of the route's parameters, in their declared order. An empty text
 * field counts as absent (FastAPI does this for forms), so it takes the default.
 */
export function validateForm(form: ReceivedForm): FormParams {
  const errors: ValidationItem[] = [];
  const image = form.files.image;
  if (!image) {
    errors.push(
      form.text.image !== undefined && form.text.image !== ''
        ? { loc: ['body', 'image'], msg: "Expected UploadFile, received: <class 'str'>", type: 'value_error' }
        : { loc: ['body', 'image'], msg: 'field required', type: 'value_error.missing' },
    );
  }
  const text = (name: string): string | undefined => {
    if (form.files[name]) {
      errors.push({ loc: ['body', name], msg: 'str type expected', type: 'type_error.str' });
      return undefined;
    }
    const v = form.text[name];
    return v === '' ? undefined : v;
  };
  const bool = (name: string, fallback: boolean): boolean => {
    const v = form.files[name] ? undefined : form.text[name];
    if (!form.files[name] && (v === undefined || v === '')) return fallback;
    const word = (v ?? '').toLowerCase();
    if (TRUE_WORDS.has(word)) return true;
    if (FALSE_WORDS.has(word)) return false;
    errors.push({ loc: ['body', name], msg: 'value could not be parsed to a boolean', type: 'type_error.bool' });
    return fallback;
  };
  const params: FormParams = {
    image: image as UploadedFile,
    modelId: text('model_id') ?? '',
    pointCoords: text('point_coords'),
    pointLabels: text('point_labels'),
    box: text('box'),
    maskInput: text('mask_input'),
    multimask: bool('multimask_output', true),
    returnLogits: bool('return_logits', true),
    normalizeCoords: bool('normalize_coords', true),
  };
  if (errors.length > 0) throw validationFailure(errors);
  return params;
}

/** A JSON prompt field after `json.loads`, or the runner's 400 when it does not parse. */
export function loadPromptJson(name: string, text: string | undefined): PyJson | undefined {
  if (text === undefined) return undefined;
  try {
    return pyJsonLoads(text);
  } catch (err) {
    if (err instanceof PyJsonError) throw runnerFailure(400, `Error parsing JSON for ${name}: ${err.message}`);
    throw err;
  }
}

/** A numeric array as numpy would build it from nested lists: its shape and its values, row-major. */
export interface NdArray {
  shape: number[];
  data: Float64Array;
}

function pyTuple(shape: number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
}

/**
 * `np.array(value)`. Ragged nesting makes numpy raise a ValueError, which the route turns
 * into a 400 with numpy's words; values that are not numbers make an object or string array
 * that only fails inside SAM2, so they are the pipeline's 500.
 */
export function toNdArray(value: PyJson): NdArray {
  const shape: number[] = [];
  let level: PyJson[] = [value];
  while (level.length > 0 && Array.isArray(level[0])) {
    const n = (level[0] as PyJson[]).length;
    if (!level.every((v) => Array.isArray(v) && v.length === n)) {
      throw runnerFailure(
        400,
        `setting an array element with a sequence. The requested array has an inhomogeneous shape after ${shape.length} dimensions. The detected shape was ${pyTuple(shape)} + inhomogeneous part.`,
      );
    }
    shape.push(n);
    level = (level as PyJson[][]).flat();
  }
  if (level.some((v) => Array.isArray(v))) {
    throw runnerFailure(
      400,
      `setting an array element with a sequence. The requested array has an inhomogeneous shape after ${shape.length} dimensions. The detected shape was ${pyTuple(shape)} + inhomogeneous part.`,
    );
  }
  const data = new Float64Array(level.length);
  level.forEach((v, i) => {
    if (typeof v === 'number') data[i] = v;
    else if (typeof v === 'boolean') data[i] = v ? 1 : 0;
    else throw runnerFailure(500, PIPELINE_ERROR);
  });
  return { shape, data };
}

/** Prompts in the 256x256 low-resolution grid, ready for the segmenter. */
export interface GridPrompts {
  points: Array<{ x: number; y: number; label: number }>;
  box?: [number, number, number, number];
  maskInput?: Float32Array;
}

function sameShape(shape: number[], ...allowed: number[][]): boolean {
  return allowed.some((a) => a.length === shape.length && a.every((n, i) => n === -1 || n === shape[i]));
}

/**
 * The checks SAM2's `predict` makes (each failure is its 500), and the scaling it applies:
 * pixel coordinates of the uploaded image when `normalize_coords` is true, else relative.
 */
export function gridPrompts(
  fields: { pointCoords?: NdArray; pointLabels?: NdArray; box?: NdArray; maskInput?: NdArray },
  normalizeCoords: boolean,
  width: number,
  height: number,
  gridSize: number,
): GridPrompts {
  const fail = (): never => {
    throw runnerFailure(500, PIPELINE_ERROR);
  };
  // Relative first, then to the grid, so pixels and their relative equivalents land on the same spot.
  const gx = (x: number): number => (normalizeCoords ? x / width : x) * gridSize;
  const gy = (y: number): number => (normalizeCoords ? y / height : y) * gridSize;
  const out: GridPrompts = { points: [] };
  const { pointCoords, pointLabels, box, maskInput } = fields;
  if (pointCoords) {
    if (!pointLabels) fail();
    const coords = pointCoords as NdArray;
    const labels = pointLabels as NdArray;
    if (!sameShape(coords.shape, [-1, 2], [1, -1, 2]) || coords.data.length === 0) fail();
    const n = coords.data.length / 2;
    if (!sameShape(labels.shape, [n], [1, n])) fail();
    for (let i = 0; i < n; i++) {
      out.points.push({ x: gx(coords.data[2 * i]), y: gy(coords.data[2 * i + 1]), label: labels.data[i] });
    }
  }
  if (box) {
    // The route sorts boxes along the wrong axis, so more than one box breaks it (shared API.md).
    if (box.data.length !== 4 || !sameShape(box.shape, [4], [1, 4], [2, 2], [1, 2, 2])) fail();
    const [x1, y1, x2, y2] = box.data;
    out.box = [gx(x1), gy(y1), gx(x2), gy(y2)];
  }
  if (maskInput) {
    if (!sameShape(maskInput.shape, [1, gridSize, gridSize], [1, 1, gridSize, gridSize])) fail();
    out.maskInput = Float32Array.from(maskInput.data);
  }
  return out;
}

