/**
 * How a message becomes a request and an answer becomes a message: the node's saved prompts
 * merged with `msg.sam2`, and the masks written where the next node looks for them.
 */
import { Sam2InputError } from '../lib/errors';
import { formatMask, type FormattedMask, type MaskFormat } from '../lib/mask-formats';
import type { SegmentOptions } from '../lib/client';
import type { SegmentResult } from '../lib/types';

/** A point as the editor saves it. */
export interface EditorPoint {
  x: number;
  y: number;
  /** 1 foreground, 0 background. */
  label: number;
}

export interface SegmentSettings {
  points?: EditorPoint[];
  box?: [number, number, number, number] | null;
  multimask?: boolean;
  /** `pixels` (default) or `relative` (0..1). */
  coordinates?: string;
  select?: string;
  format?: string;
  tolerance?: number | string;
  threshold?: number | string;
  overlay?: boolean;
  overlayColor?: string;
  overlayOpacity?: number | string;
  overlayOutline?: number | string;
  overlayFormat?: string;
  cutout?: boolean;
}

/** What `msg.sam2` may carry in. */
export interface MessageOverrides {
  points?: unknown;
  labels?: unknown;
  box?: unknown;
  multimask?: unknown;
  normalizeCoords?: unknown;
  maskInput?: unknown;
  modelId?: unknown;
  format?: unknown;
  select?: unknown;
  threshold?: unknown;
  objects?: unknown;
}

const FORMATS: readonly MaskFormat[] = ['png', 'raw', 'rle', 'polygons'];
const SELECTIONS = ['best', 'all'] as const;
type Selection = (typeof SELECTIONS)[number];

function has(object: object, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(object, key);
}

function numberSetting(value: number | string | undefined, fallback: number): number {
  return value === undefined || value === '' ? fallback : Number(value);
}

/** Names a path may not walk through: they reach the object machinery, not the message. */
const UNSAFE_KEYS = /(^|\.|\[["']?)(__proto__|constructor|prototype)(["']?\]|\.|$)/;
/** `payload`, `payload.image`, `payload[0]`, `payload["a b"]`: what RED.util.getMessageProperty reads plainly. */
const PLAIN_PATH = /^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*|\[\d+\]|\["[^"\\\]]*"\]|\['[^'\\\]]*'\])*$/;

/** The Image property as a plain message path (a leading `msg.` is allowed), or a Sam2InputError. */
export function imageProperty(value: unknown): string {
  if (value === undefined || value === null || value === '') return 'payload';
  const text = typeof value === 'string' ? value.trim().replace(/^msg\./, '') : '';
  if (!PLAIN_PATH.test(text) || UNSAFE_KEYS.test(text)) {
    throw new Sam2InputError('Image property', `is ${JSON.stringify(value)}, not a plain message property path`, 'Use a path such as payload, payload.image or frames[0]');
  }
  return text;
}

/** `msg.sam2` as an object, or an error naming it when it is something else. */
export function readOverrides(value: unknown): MessageOverrides {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new Sam2InputError('msg.sam2', `is ${Array.isArray(value) ? 'an array' : typeof value}`, 'Set msg.sam2 to an object such as { points: [[x, y]], labels: [1] }, or remove it');
  }
  return value as MessageOverrides;
}

/**
 * `msg.sam2.objects`: one request per object (the API takes one box), each object's prompts
 * over the message's other overrides. Absent: one request with `msg.sam2` itself.
 */
export function perObject(overrides: MessageOverrides, maxObjects = 100): MessageOverrides[] {
  if (overrides.objects === undefined) return [overrides];
  const { objects, ...shared } = overrides;
  if (!Array.isArray(objects) || objects.length === 0) {
    throw new Sam2InputError('msg.sam2.objects', `is ${JSON.stringify(objects)?.slice(0, 100)}`, 'Give a non-empty array such as [{ points: [[x, y]] }, { box: [x1, y1, x2, y2] }]');
  }
  // Each object is a request whose answer is held until the last one ends: thousands would hold gigabytes.
  if (objects.length > maxObjects) {
    throw new Sam2InputError('msg.sam2.objects', `has ${objects.length} objects, over the limit of ${maxObjects}`, 'Send fewer objects in one message, or raise "Max objects" on the sam2-segment node');
  }
  return objects.map((object, i) => {
    const field = `msg.sam2.objects[${i}]`;
    if (!object || typeof object !== 'object' || Array.isArray(object)) {
      throw new Sam2InputError(field, `is ${JSON.stringify(object)}`, 'Each object is { points, labels, box }');
    }
    return { ...shared, ...(object as MessageOverrides) };
  });
}

/** The request's prompts: the node's own, each replaced by `msg.sam2`'s where it has one. */
export function requestOptions(settings: SegmentSettings, overrides: MessageOverrides): SegmentOptions {
  const saved = settings.points ?? [];
  const options: SegmentOptions = {
    points: saved.length ? saved.map((p) => [Number(p.x), Number(p.y)] as [number, number]) : undefined,
    labels: saved.length ? saved.map((p) => Number(p.label)) : undefined,
    box: settings.box ?? undefined,
    multimask: settings.multimask ?? true,
    normalizeCoords: settings.coordinates !== 'relative',
    threshold: numberSetting(settings.threshold, 0),
  };
  // Points and labels travel together: new points from a message drop the saved labels.
  if (has(overrides, 'points')) {
    options.points = (overrides.points ?? undefined) as SegmentOptions['points'];
    options.labels = undefined;
  }
  if (has(overrides, 'labels')) options.labels = (overrides.labels ?? undefined) as SegmentOptions['labels'];
  if (has(overrides, 'box')) options.box = (overrides.box ?? undefined) as SegmentOptions['box'];
  if (has(overrides, 'multimask')) options.multimask = overrides.multimask as boolean;
  if (has(overrides, 'normalizeCoords')) options.normalizeCoords = overrides.normalizeCoords as boolean;
  if (has(overrides, 'maskInput')) options.maskInput = (overrides.maskInput ?? undefined) as SegmentOptions['maskInput'];
  if (has(overrides, 'modelId')) {
    if (typeof overrides.modelId !== 'string' || !overrides.modelId) {
      throw new Sam2InputError('msg.sam2.modelId', `is ${JSON.stringify(overrides.modelId)}`, 'Use a model id such as facebook/sam2-hiera-large, or remove it to use the endpoint\'s');
    }
    options.modelId = overrides.modelId;
  }
  if (has(overrides, 'threshold')) {
    const t = overrides.threshold;
    if (typeof t !== 'number' || !Number.isFinite(t)) throw new Sam2InputError('msg.sam2.threshold', `is ${JSON.stringify(t)}`, 'Use a finite number; 0 is SAM2\'s own threshold');
    options.threshold = t;
  }
  return options;
}

export interface OutputChoice {
  format: MaskFormat;
  select: Selection;
}

/** Which masks and in which form, from the node's settings and `msg.sam2`. */
export function outputChoice(settings: SegmentSettings, overrides: MessageOverrides): OutputChoice {
  const format = has(overrides, 'format') ? overrides.format : settings.format || 'png';
  if (!FORMATS.includes(format as MaskFormat)) {
    throw new Sam2InputError(has(overrides, 'format') ? 'msg.sam2.format' : 'Format', `is ${JSON.stringify(format)}`, `Use one of ${FORMATS.join(', ')}`);
  }
  const select = has(overrides, 'select') ? overrides.select : settings.select || 'all';
  if (!SELECTIONS.includes(select as Selection)) {
    throw new Sam2InputError(has(overrides, 'select') ? 'msg.sam2.select' : 'Masks', `is ${JSON.stringify(select)}`, 'Use best or all');
  }
  return { format: format as MaskFormat, select: select as Selection };
}

export interface SegmentOutput {
  payload: unknown;
  masks: FormattedMask[];
  scores: number[];
  logits: Float32Array[];
  overlay?: Buffer;
  cutout?: Buffer;
}

/** Encodes the masks the user chose; `upright` is the full-size image, for overlays and cut-outs. */
export async function buildOutput(
  result: SegmentResult,
  settings: SegmentSettings,
  choice: OutputChoice,
  upright: () => Promise<Buffer>,
): Promise<SegmentOutput> {
  const chosen = choice.select === 'best' ? result.masks.slice(0, 1) : result.masks;
  const image = settings.overlay || settings.cutout ? await upright() : undefined;
  const overlay = settings.overlay
    ? {
        color: settings.overlayColor || undefined,
        opacity: settings.overlayOpacity === undefined || settings.overlayOpacity === '' ? undefined : Number(settings.overlayOpacity),
        outline: settings.overlayOutline === undefined || settings.overlayOutline === '' ? undefined : Number(settings.overlayOutline),
        format: settings.overlayFormat === 'png' ? ('png' as const) : ('jpeg' as const),
      }
    : false;
  const masks = await Promise.all(
    chosen.map((m) =>
      formatMask(m.mask, result.width, result.height, m.score, {
        format: choice.format,
        tolerance: numberSetting(settings.tolerance, 1),
        overlay,
        cutout: Boolean(settings.cutout),
        image,
      }),
    ),
  );
  const best = masks[0];
  return {
    payload: best.png ?? best.raw ?? best.rle ?? best.polygons,
    masks,
    scores: result.masks.map((m) => m.score),
    logits: result.masks.flatMap((m) => (m.logits ? [m.logits] : [])),
    overlay: best.overlay,
    cutout: best.cutout,
  };
}
