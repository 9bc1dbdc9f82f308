/**
 * The one owner of message ↔ request for sam2-segment:
 * - `compileSettings`: the node's saved settings, checked and turned into typed options once,
 *   when the node is built (a bad one is reported at deploy, not on every frame);
 * - `planMessage`: per message, `msg.sam2` over those options, into one request per object;
 * - `buildOutput`: the masks the user chose, encoded, drawing on one decode of the frame;
 * - `writeMessage`: the outgoing message, assembled here and nowhere else.
 */
import { SEGMENT_DEFAULTS } from '../lib/defaults';
import { Sam2InputError } from '../lib/errors';
import { formatMask, type FormattedMask, type MaskFormat } from '../lib/mask-formats';
import { overlaySettings, type OverlayOptions } from '../lib/overlay';
import type { RawImage } from '../lib/raw-image';
import type { SegmentOptions } from '../lib/segmenter';
import type { SegmentResult } from '../lib/types';
import { rangeSetting } from './setting-ranges';

/** A point as the editor saves it. */
export interface EditorPoint {
  x: number;
  y: number;
  /** 1 foreground, 0 background. */
  label: number;
}

/** The node's properties as the dialog saves them: strings where the dialog has text fields. */
export interface SegmentSettings {
  points?: EditorPoint[];
  box?: [number, number, number, number] | null;
  /** `'auto'`, or true / false (on / off): flows saved before `'auto'` hold a boolean. */
  multimask?: boolean | 'auto';
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
  /** Most entries in msg.sam2.objects (each is a request). */
  maxObjects?: number | string;
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
  /** In msg.sam2.objects[i]: what the object is, e.g. a detector's label ("person"); carried to msg.objects[i].name and msg.annotations. */
  name?: unknown;
}

const FORMATS: readonly MaskFormat[] = ['png', 'raw', 'rle', 'polygons'];
const SELECTIONS = ['best', 'all'] as const;
type Selection = (typeof SELECTIONS)[number];

export interface OutputChoice {
  format: MaskFormat;
  select: Selection;
}

/** The saved settings, checked once. */
export interface CompiledSettings {
  /** The node's own prompts and request options, before any `msg.sam2`. */
  prompts: SegmentOptions;
  choice: OutputChoice;
  tolerance: number;
  overlay: false | OverlayOptions;
  cutout: boolean;
  /** Most entries in msg.sam2.objects: each is a request whose answer is held until the last ends. */
  maxObjects: number;
}

/** One message's work: a request per object, and what to make of the answers. */
export interface MessagePlan {
  objects: SegmentOptions[];
  /** `msg.sam2.objects` was given: the output has one entry per object. */
  several: boolean;
  /** Each object's `name` (a detector's label such as "person"), where it has one. */
  names: Array<string | undefined>;
  choice: OutputChoice;
  /** Where the prompts came from, for errors. */
  promptsField: string;
}

function has(object: object, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(object, key);
}

/** A number from a text field: empty means the default; anything else must be a finite number. */
function numberSetting(value: number | string | undefined, fallback: number, field: string, fix: string): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new Sam2InputError(field, `is ${JSON.stringify(value)}, not a number`, fix);
  return n;
}

function choose<T extends string>(value: unknown, allowed: readonly T[], field: string, fix: string): T {
  if (!allowed.includes(value as T)) throw new Sam2InputError(field, `is ${JSON.stringify(value)}`, fix);
  return value as T;
}

/** The dialog's Multimask: `'auto'`, or a boolean saved by it before `'auto'` existed (or written by hand). */
function multimaskSetting(value: unknown): boolean | 'auto' {
  if (value === undefined || value === null || value === '') return SEGMENT_DEFAULTS.multimask;
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  return choose(value, ['auto'] as const, 'Multimask', 'Use auto, true (three masks) or false (one mask)');
}

/** The node's saved settings as typed options; throws naming the dialog's setting when one is unusable. */
export function compileSettings(settings: SegmentSettings): CompiledSettings {
  const saved = settings.points ?? [];
  const prompts: SegmentOptions = {
    points: saved.length ? saved.map((p) => [Number(p.x), Number(p.y)] as [number, number]) : undefined,
    labels: saved.length ? saved.map((p) => Number(p.label)) : undefined,
    box: settings.box ?? undefined,
    multimask: multimaskSetting(settings.multimask),
    normalizeCoords: (settings.coordinates || SEGMENT_DEFAULTS.coordinates) !== 'relative',
    threshold: numberSetting(settings.threshold, SEGMENT_DEFAULTS.threshold, 'Threshold', 'Use a number; 0 is SAM2\'s own threshold'),
  };
  const choice: OutputChoice = {
    format: choose(settings.format || SEGMENT_DEFAULTS.format, FORMATS, 'Format', `Use one of ${FORMATS.join(', ')}`),
    select: choose(settings.select || SEGMENT_DEFAULTS.select, SELECTIONS, 'Masks', 'Use best or all'),
  };
  const tolerance = numberSetting(settings.tolerance, SEGMENT_DEFAULTS.tolerance, 'Tolerance', 'Use a number of pixels, 0 or more');
  let overlay: false | OverlayOptions = false;
  if (settings.overlay) {
    overlay = {
      color: settings.overlayColor || SEGMENT_DEFAULTS.overlayColor,
      opacity: settings.overlayOpacity === undefined || settings.overlayOpacity === '' ? SEGMENT_DEFAULTS.overlayOpacity : Number(settings.overlayOpacity),
      outline: settings.overlayOutline === undefined || settings.overlayOutline === '' ? SEGMENT_DEFAULTS.overlayOutline : Number(settings.overlayOutline),
      format: settings.overlayFormat === 'png' ? 'png' : 'jpeg',
    };
    overlaySettings(overlay); // refuses a bad colour, opacity or outline now, by its setting's name
  }
  const maxObjects = rangeSetting(settings.maxObjects, { name: 'Max objects', min: 1, max: 1000, integer: true, fallback: SEGMENT_DEFAULTS.maxObjects, unit: 'objects per message' });
  return { prompts, choice, tolerance, overlay, cutout: Boolean(settings.cutout), maxObjects };
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

/** Longest object name kept: a label, not a document. */
const MAX_NAME_LENGTH = 100;

/** An object's `name`, checked: text, as a detector labels what it found. */
function objectName(name: unknown, i: number): string | undefined {
  if (name === undefined || name === null || name === '') return undefined;
  if (typeof name !== 'string' || name.length > MAX_NAME_LENGTH) {
    throw new Sam2InputError(`msg.sam2.objects[${i}].name`, `is ${JSON.stringify(name)?.slice(0, 60)}`, `Use a short text of at most ${MAX_NAME_LENGTH} characters, such as the detector's label "person", or leave it out`);
  }
  return name;
}

/** The request's prompts: the node's own, each replaced by `msg.sam2`'s where it has one. */
export function requestOptions(own: SegmentOptions, overrides: MessageOverrides): SegmentOptions {
  // Copies: the message carries what was sent on to the next node, which may change it.
  const options: SegmentOptions = {
    ...own,
    points: own.points?.map(([x, y]) => [x, y] as [number, number]),
    labels: own.labels?.slice(),
    box: own.box?.slice() as SegmentOptions['box'],
  };
  // Points and labels travel together: new points from a message drop the saved labels.
  if (has(overrides, 'points')) {
    options.points = (overrides.points ?? undefined) as SegmentOptions['points'];
    options.labels = undefined;
  }
  if (has(overrides, 'labels')) options.labels = (overrides.labels ?? undefined) as SegmentOptions['labels'];
  if (has(overrides, 'box')) options.box = (overrides.box ?? undefined) as SegmentOptions['box'];
  if (has(overrides, 'multimask')) options.multimask = overrides.multimask as boolean | 'auto';
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

/** Which masks and in which form: the node's choice, or `msg.sam2`'s. */
export function outputChoice(own: OutputChoice, overrides: MessageOverrides): OutputChoice {
  return {
    format: has(overrides, 'format') ? choose(overrides.format, FORMATS, 'msg.sam2.format', `Use one of ${FORMATS.join(', ')}`) : own.format,
    select: has(overrides, 'select') ? choose(overrides.select, SELECTIONS, 'msg.sam2.select', 'Use best or all') : own.select,
  };
}

/**
 * The requests as the segmenter gets them: with "best" chosen only the best candidate's mask
 * is made at full size (the others' scores and logits still come back). Not part of
 * `plan.objects`, which the message carries on as the prompts that were sent.
 */
export function segmentRequests(plan: MessagePlan): SegmentOptions[] {
  return plan.objects.map((object) => ({ ...object, keep: plan.choice.select }));
}

/** One message's requests and output choice, from the compiled settings and `msg.sam2`. */
export function planMessage(compiled: CompiledSettings, sam2: unknown): MessagePlan {
  const overrides = readOverrides(sam2);
  const several = overrides.objects !== undefined;
  const each = perObject(overrides, compiled.maxObjects);
  return {
    objects: each.map((own) => requestOptions(compiled.prompts, own)),
    several,
    names: several ? each.map((own, i) => objectName(own.name, i)) : [],
    choice: outputChoice(compiled.choice, overrides),
    promptsField: several ? 'msg.sam2.objects' : 'msg.sam2',
  };
}

/** The status at deploy of a node with neither points nor a box. */
export const NO_PROMPT_STATUS = 'no prompt: set points or a box, or send msg.sam2';

/** Whether the node's own settings prompt anything: without, every message must bring its prompts. */
export function hasOwnPrompt(compiled: CompiledSettings): boolean {
  return hasPrompt(compiled.prompts);
}

function hasPrompt(options: SegmentOptions): boolean {
  return Boolean((options.points && options.points.length > 0) || options.box || options.maskInput);
}

/**
 * The objects of a message that went without any prompt: no point, no box, no mask. The API
 * still answers them, SAM2 choosing on its own what to segment, which is seldom what was meant;
 * they are answered, and said so in the status and in `msg.sam2.warning`.
 */
export function unprompted(plan: MessagePlan): string[] {
  return plan.objects.flatMap((o, i) => (hasPrompt(o) ? [] : [plan.several ? `msg.sam2.objects[${i}]` : 'msg.sam2']));
}

/** `msg.sam2.warning` for a message some of whose objects went without a prompt, else undefined. */
export function promptWarning(plan: MessagePlan): string | undefined {
  const fields = unprompted(plan);
  if (fields.length === 0) return undefined;
  const which = fields[0] === 'msg.sam2' ? 'the node has no points or box and msg.sam2 gave none' : `${fields.join(', ')} had no points, box or maskInput`;
  return `no prompt: ${which}, so SAM2 chose what to segment on its own. Set points or a box in the node, or send msg.sam2.points or msg.sam2.box`;
}

export interface SegmentOutput {
  payload: unknown;
  masks: FormattedMask[];
  scores: number[];
  logits: Float32Array[];
  overlay?: Buffer;
  cutout?: Buffer;
}

/** Whether the frame's pixels are needed for this node's output (overlay or cut-out). */
export function drawsOnFrame(compiled: CompiledSettings): boolean {
  return Boolean(compiled.overlay) || compiled.cutout;
}

/**
 * Encodes the masks the user chose. `pixels` gives the frame decoded upright, once for every
 * mask and object of the message; it is called only when an overlay or cut-out is wanted.
 * Each mask's stats come from the result: they are not measured again.
 */
export async function buildOutput(
  result: SegmentResult,
  compiled: CompiledSettings,
  choice: OutputChoice,
  pixels: () => Promise<RawImage | Buffer>,
): Promise<SegmentOutput> {
  const chosen = choice.select === 'best' ? result.masks.slice(0, 1) : result.masks;
  const image = drawsOnFrame(compiled) ? await pixels() : undefined;
  const masks = await Promise.all(
    chosen.map((m) =>
      formatMask(m.mask, result.width, result.height, m.score, {
        format: choice.format,
        tolerance: compiled.tolerance,
        overlay: compiled.overlay,
        cutout: compiled.cutout,
        image,
        stats: { area: m.area, bbox: m.bbox, centroid: m.centroid },
      }),
    ),
  );
  const best = masks[0];
  return {
    payload: best.png ?? best.raw ?? best.rle ?? best.polygons,
    masks,
    // Every candidate's, kept or not: with "best" only one mask was made, but all were answered.
    scores: result.candidates.map((c) => c.score),
    logits: result.candidates.flatMap((c) => (c.logits ? [c.logits] : [])),
    overlay: best.overlay,
    cutout: best.cutout,
  };
}

export interface Answered {
  plan: MessagePlan;
  results: SegmentResult[];
  outputs: SegmentOutput[];
  /** The image as it was found on the message. */
  image: unknown;
  modelId: string;
  timeMs: number;
  /** Frames dropped since the last message this node sent. */
  dropped: number;
}

/**
 * One box as node-red-node-annotate-image draws it (its README: `type`, `bbox` as [x, y, w, h]
 * in the image's pixels, `label`); `score` is ours, which it ignores.
 */
export interface Annotation {
  type: 'rect';
  bbox: [number, number, number, number];
  label: string;
  score: number;
}

/**
 * The answer in a few numbers, JSON as it is, for an MQTT or Home Assistant flow to send on:
 * - `objects`: objects asked for (1 without `msg.sam2.objects`); `found`: those whose best mask
 *   is not empty; `masks`: masks sent, in `msg.masks` (with objects, in all of `msg.objects`);
 * - `bestScore`: the best score of all, 0..1; `areaShare`: the share of the frame the best mask
 *   covers (with objects: all their best masks together, overlaps counted once), 0..1;
 * - `width`, `height` of the frame, `timeMs` of the answer.
 */
export interface Summary {
  objects: number;
  found: number;
  masks: number;
  bestScore: number;
  areaShare: number;
  width: number;
  height: number;
  timeMs: number;
}

/** Four decimals: enough for a score or a share, and a summary that stays short as JSON. */
function round4(n: number): number {
  return Math.round(n * 10_000) / 10_000;
}

/** Foreground pixels of the union of `masks` (all at `width`), counted within their boxes. */
function unionArea(masks: readonly SegmentResult['masks'][number][], width: number): number {
  const shown = masks.filter((m) => m.area > 0);
  if (shown.length === 1) return shown[0].area;
  if (shown.length === 0) return 0;
  const [x1, y1] = [Math.min(...shown.map((m) => m.bbox[0])), Math.min(...shown.map((m) => m.bbox[1]))];
  const [x2, y2] = [Math.max(...shown.map((m) => m.bbox[2])), Math.max(...shown.map((m) => m.bbox[3]))];
  let area = 0;
  for (let y = y1; y < y2; y++) {
    for (let i = y * width + x1, end = y * width + x2; i < end; i++) {
      if (shown.some((m) => m.mask[i])) area++;
    }
  }
  return area;
}

/** Boxes for node-red-node-annotate-image: a mask sent each, or with objects each object's best; empty masks have none. */
export function annotationsOf(answered: Pick<Answered, 'plan' | 'outputs'>): Annotation[] {
  const { plan, outputs } = answered;
  const boxes = plan.several
    ? outputs.map((o, i) => ({ mask: o.masks[0], name: plan.names[i] ?? `object ${i + 1}` }))
    : outputs[0].masks.map((mask, i, all) => ({ mask, name: all.length > 1 ? `mask ${i + 1}` : '' }));
  return boxes
    .filter(({ mask }) => mask.area > 0)
    .map(({ mask, name }) => {
      const [x1, y1, x2, y2] = mask.bbox;
      return { type: 'rect', bbox: [x1, y1, x2 - x1, y2 - y1], label: `${name ? `${name} ` : ''}${mask.score.toFixed(2)}`, score: round4(mask.score) };
    });
}

export function summaryOf(answered: Pick<Answered, 'results' | 'outputs' | 'timeMs'>): Summary {
  const { results, outputs } = answered;
  const { width, height } = results[0];
  const best = results.map((r) => r.masks[0]).filter((m) => m !== undefined);
  return {
    objects: results.length,
    found: best.filter((m) => m.area > 0).length,
    masks: outputs.reduce((n, o) => n + o.masks.length, 0),
    bestScore: round4(Math.max(0, ...best.map((m) => m.score))),
    areaShare: width * height ? round4(unionArea(best, width) / (width * height)) : 0,
    width,
    height,
    timeMs: answered.timeMs,
  };
}

/** The outgoing message: the input message with the answer written where the next node looks. */
export function writeMessage<M extends object>(msg: M, answered: Answered): M {
  const { plan, results, outputs } = answered;
  const out = msg as Record<string, unknown>;
  const output = outputs[0];
  const result = results[0];
  out.image = answered.image;
  out.payload = plan.several ? outputs.map((o) => o.payload) : output.payload;
  out.masks = output.masks;
  out.scores = output.scores;
  if (output.overlay) out.overlay = output.overlay;
  if (output.cutout) out.cutout = output.cutout;
  if (plan.several) out.objects = outputs.map(({ logits: _logits, ...o }, i) => (plan.names[i] === undefined ? o : { name: plan.names[i], ...o }));
  out.annotations = annotationsOf(answered);
  out.summary = summaryOf(answered);
  const { maskInput: _sent, ...sentPrompts } = plan.objects[0];
  out.sam2 = {
    ...(plan.several ? { objects: plan.objects.map(({ maskInput: _m, ...p }, i) => (plan.names[i] === undefined ? p : { ...p, name: plan.names[i] })) } : sentPrompts),
    modelId: plan.objects[0].modelId || answered.modelId,
    width: result.width,
    height: result.height,
    logits: plan.several ? outputs.map((o) => o.logits) : output.logits,
    timeMs: answered.timeMs,
    ...(answered.dropped ? { dropped: answered.dropped } : {}),
  };
  const warning = promptWarning(plan);
  if (warning) (out.sam2 as Record<string, unknown>).warning = warning;
  return msg;
}

/** The status's words for a good answer; it starts `no prompt · ` when an object went without one. */
export function outcomeText(answered: Pick<Answered, 'results' | 'plan' | 'timeMs'>): string {
  const result = answered.results[0];
  const answeredCount = result.candidates.length;
  const warn = unprompted(answered.plan).length ? 'no prompt · ' : '';
  if (answered.plan.several) {
    const best = Math.max(...answered.results.map((r) => r.masks[0]?.score ?? 0));
    return `${warn}${answered.results.length} objects · best ${best.toFixed(2)} · ${answered.timeMs} ms`;
  }
  return `${warn}${answeredCount} mask${answeredCount === 1 ? '' : 's'} · best ${result.masks[0].score.toFixed(2)} · ${answered.timeMs} ms`;
}
