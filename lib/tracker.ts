/**
 * Follows objects through a stream of frames over any `Segmenter` (the Livepeer API, a
 * self-hosted runner, a local model), by prompting each frame from the last result, as
 * annotation tools do between key frames. It is not SAM2's video predictor, which keeps a
 * memory of earlier frames inside the model: none of the backends offers that, and an image
 * segmenter only sees one frame and the prompts it is given.
 *
 * Each `update(image, { objects })` is one frame, numbered from 0:
 * 1. `objects` (prompts as for `segmentEach`: clicks on the first frame, a detector's boxes
 *    on any frame) are matched against the tracks first. Each pair of an object and a track
 *    whose boxes share area is scored by their IoU (a point counts as a 1x1 box; a lost
 *    track's box spans its last one and that box moved on by its last velocity for the
 *    frames it has been lost, grown as a tracking box is, so an object that went behind
 *    something and came out the other side is still matched, as is one that turned back),
 *    and pairs
 *    are taken best first, each object and each track once. An object taken by a tracking
 *    track, or left over but overlapping one, is not sent: it is that track (or shares its
 *    place) and must not start a second one. An object taken by a lost track is sent, and a
 *    good answer finds that track again under its old id ('found'). Any other object starts
 *    a new track ('entered').
 * 2. Every tracking track is prompted from its last result: its box grown by `margin` of its
 *    size on each side (at least `minMargin` of the frame), a foreground point at its centroid
 *    when the centroid lies in its mask, and its 256x256 logits as `maskInput`, one mask
 *    (multimask off). All of the frame's requests go out in one `segmentEach`, so the image
 *    is prepared once and they share the backend's concurrency.
 * 3. A tracking track whose answer is empty, scores below `minScore`, grows by more than
 *    `maxAreaRatio` in one step or collapses by more than its square (steady shrinking is
 *    what an object going behind something does; at the frame's edge any shrinking is
 *    allowed: the object is going out of the picture), or leaves its grown box (over a fifth of
 *    it outside, or pressed along half of one of the box's sides that is not the frame's
 *    edge) is lost ('lost', with the reason). A lost track keeps its last good mask, box and
 *    centroid, is not prompted, and waits for an object to find it; after `maxLost` frames
 *    lost it ends ('left'), is reported once with state 'ended', and is forgotten.
 *
 * Frames skipped by the caller (a `latest` queue dropping frames) are just a longer step:
 * the grown box is what absorbs motion between two updates. Updates run one at a time in
 * the order called; a failed update (a network error, bad input) changes nothing.
 */
import sharp from 'sharp';
import { SEGMENT_DEFAULTS } from './defaults';
import { boxIou, containment, growBox, intersection, scaleBox, touchesFrame, type Box } from './box-geometry';
import { Sam2InputError } from './errors';
import { imageBytes } from './image-input';
import { maskStats } from './mask-stats';
import { checkPrompts } from './prompts';
import type { CallOptions, Segmenter, SegmentOptions } from './segmenter';
import type { Sam2Mask } from './types';

export type TrackState = 'tracking' | 'lost' | 'ended';
export type TrackEventType = 'entered' | 'lost' | 'found' | 'left';
/** Why a track was lost: an empty answer, a low score, an area jump, or the mask leaving its grown box. */
export type LostReason = 'empty' | 'score' | 'area' | 'box';

export interface Track {
  id: number;
  state: TrackState;
  /** The last good mask (this frame's while tracking), width * height bytes of 0 or 1. */
  mask: Uint8Array;
  score: number;
  area: number;
  bbox: [number, number, number, number];
  centroid: [number, number] | null;
  /** The frame the mask is from. */
  seen: number;
  /** Frames this track has been lost, this one included; 0 while tracking. */
  lostFrames: number;
}

export interface TrackEvent {
  type: TrackEventType;
  id: number;
  /** For 'lost'. */
  reason?: LostReason;
}

export interface TrackerFrame {
  /** This frame's number, from 0. */
  frame: number;
  width: number;
  height: number;
  /** Tracking and lost tracks, and those that ended on this frame, by id. */
  tracks: Track[];
  /** What changed on this frame, in the order it was decided. */
  events: TrackEvent[];
}

export interface TrackerOptions {
  /** Each side of a track's last box moves out by this share of the box's width or height; default 0.5. */
  margin?: number;
  /** ...but at least this share of the frame's width or height; default 0.08. */
  minMargin?: number;
  /** A tracking answer scoring below this loses the track; default 0.5. */
  minScore?: number;
  /** Lost frames before a track ends; default 5. */
  maxLost?: number;
  /** A track is lost when its area grows or shrinks by more than this factor in one step; default 2.5. */
  maxAreaRatio?: number;
  /** Passed with every request (e.g. `threshold`, `modelId`); prompts come from the tracks. */
  request?: Pick<SegmentOptions, 'threshold' | 'modelId'>;
}

export interface UpdateOptions extends CallOptions {
  /** Prompts that start tracks or find lost ones, as for `segmentEach`. */
  objects?: SegmentOptions[];
}

interface TrackRecord extends Track {
  logits: Float32Array | undefined;
  /** Centroid motion per frame, in pixels, averaged over steps where the object was whole. */
  velocity: [number, number];
  /** The frame size the mask and box are in. */
  width: number;
  height: number;
}

/** What one request is for. */
type Job = { kind: 'follow'; track: TrackRecord; grown: Box } | { kind: 'find'; track: TrackRecord } | { kind: 'start'; index: number };

function option(value: number | undefined, fallback: number, name: string, min: number, integer = false): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
    throw new RangeError(`${name} must be ${integer ? 'a whole number' : 'a number'} of ${min} or more, got ${value}`);
  }
  return value;
}

/** The upright size of an image (EXIF orientation applied), as the segmenter's masks will be. */
async function imageSize(image: unknown, field: string): Promise<{ width: number; height: number }> {
  const bytes = imageBytes(image, field);
  let meta: sharp.Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch {
    throw new Sam2InputError(field, `is ${bytes.length} bytes that are not an image (no known image header)`, 'Send JPEG, PNG, WebP, GIF, TIFF or AVIF bytes');
  }
  if (!meta.width || !meta.height) throw new Sam2InputError(field, `is a ${meta.format ?? 'file'} with no pixel size`, 'Send a still image with a width and height');
  const turned = (meta.orientation ?? 1) >= 5;
  return { width: turned ? meta.height : meta.width, height: turned ? meta.width : meta.height };
}

/** Where an object's prompts point, in pixels: its box, or the box around its foreground points. */
function footprint(object: SegmentOptions, width: number, height: number, field: string): Box | undefined {
  const checked = checkPrompts(object, width, height, field);
  const sx = checked.normalizeCoords ? 1 : width;
  const sy = checked.normalizeCoords ? 1 : height;
  if (checked.box) return [checked.box[0] * sx, checked.box[1] * sy, checked.box[2] * sx, checked.box[3] * sy];
  const fg = (checked.points ?? []).filter((_, i) => checked.labels?.[i] !== 0);
  if (fg.length === 0) return undefined;
  const xs = fg.map((p) => p[0] * sx);
  const ys = fg.map((p) => p[1] * sy);
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs) + 1, Math.max(...ys) + 1];
}

export class Sam2Tracker {
  readonly margin: number;
  readonly minMargin: number;
  readonly minScore: number;
  readonly maxLost: number;
  readonly maxAreaRatio: number;
  private readonly request: Pick<SegmentOptions, 'threshold' | 'modelId'>;
  private tracks: TrackRecord[] = [];
  private nextId = 1;
  private frame = 0;
  /** Updates run one after another: each needs the last one's result. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly segmenter: Segmenter,
    options: TrackerOptions = {},
  ) {
    this.margin = option(options.margin, SEGMENT_DEFAULTS.trackMargin, 'margin', 0);
    this.minMargin = option(options.minMargin, 0.08, 'minMargin', 0);
    this.minScore = option(options.minScore, SEGMENT_DEFAULTS.trackMinScore, 'minScore', 0);
    this.maxLost = option(options.maxLost, SEGMENT_DEFAULTS.trackMaxLost, 'maxLost', 0, true);
    this.maxAreaRatio = option(options.maxAreaRatio, 2.5, 'maxAreaRatio', 1);
    this.request = { ...(options.request ?? {}) };
  }

  /** Tracks now (tracking and lost), by id. */
  get current(): Track[] {
    return this.tracks.map(publicTrack);
  }

  /** Forgets every track; the next update is frame 0 again and ids start from 1. */
  reset(): void {
    this.tracks = [];
    this.nextId = 1;
    this.frame = 0;
  }

  /** Segments one frame: follows the tracks, starts or finds tracks from `objects`. */
  update(image: unknown, options: UpdateOptions = {}): Promise<TrackerFrame> {
    const run = this.queue.then(() => this.step(image, options));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async step(image: unknown, options: UpdateOptions): Promise<TrackerFrame> {
    const { objects = [], ...call } = options;
    if (!Array.isArray(objects)) throw new Sam2InputError(call.promptsField ?? 'objects', `is ${typeof objects}, not an array`, 'Give objects as a list of prompts, e.g. [{ box: [x1, y1, x2, y2] }]');
    const { width, height } = await imageSize(image, call.imageField ?? 'image');
    const field = call.promptsField ?? 'objects';
    const footprints = objects.map((o, i) => footprint(o, width, height, `${field}[${i}]`));

    // 1. Objects against the tracks, best overlap first.
    const frame = this.frame;
    const boxes = new Map<TrackRecord, Box>();
    for (const t of this.tracks) {
      const b = t.width === width && t.height === height ? t.bbox : scaleBox(t.bbox, width / t.width, height / t.height);
      if (t.state === 'tracking') boxes.set(t, b);
      else {
        // From where a lost object was to where it would be by now had it kept going, grown.
        const [dx, dy] = [t.velocity[0] * (frame - t.seen), t.velocity[1] * (frame - t.seen)];
        const span: Box = [Math.min(b[0], b[0] + dx), Math.min(b[1], b[1] + dy), Math.max(b[2], b[2] + dx), Math.max(b[3], b[3] + dy)];
        boxes.set(t, growBox(span, this.margin, this.minMargin, width, height));
      }
    }
    const pairs: Array<{ i: number; track: TrackRecord; iou: number }> = [];
    footprints.forEach((f, i) => {
      if (!f) return;
      for (const t of this.tracks) {
        const b = boxes.get(t) as Box;
        if (intersection(f, b) > 0) pairs.push({ i, track: t, iou: boxIou(f, b) });
      }
    });
    pairs.sort((a, b) => b.iou - a.iou);
    const objectTaken = new Map<number, TrackRecord>();
    const trackTaken = new Set<TrackRecord>();
    for (const p of pairs) {
      if (objectTaken.has(p.i) || trackTaken.has(p.track)) continue;
      objectTaken.set(p.i, p.track);
      trackTaken.add(p.track);
    }
    const jobs: Job[] = [];
    const prompts: SegmentOptions[] = [];
    for (const t of this.tracks) {
      if (t.state !== 'tracking') continue;
      const b = boxes.get(t) as Box;
      const grown = growBox(b, this.margin, this.minMargin, width, height);
      const p: SegmentOptions = { ...this.request, box: grown, multimask: false, returnLogits: true };
      if (t.centroid) {
        const [cx, cy] = t.centroid;
        const inMask = t.mask[Math.min(t.height - 1, Math.floor(cy)) * t.width + Math.min(t.width - 1, Math.floor(cx))] === 1;
        if (inMask) p.points = [[(cx * width) / t.width, (cy * height) / t.height]];
      }
      if (t.logits) p.maskInput = t.logits;
      jobs.push({ kind: 'follow', track: t, grown });
      prompts.push(p);
    }
    objects.forEach((o, i) => {
      const taken = objectTaken.get(i);
      if (taken && taken.state === 'lost') {
        jobs.push({ kind: 'find', track: taken });
      } else if (taken) {
        return; // it is a tracking track already
      } else {
        const f = footprints[i];
        if (f && this.tracks.some((t) => intersection(f, boxes.get(t) as Box) > 0)) return; // overlaps a track another object took
        jobs.push({ kind: 'start', index: i });
      }
      prompts.push({ ...this.request, ...o, returnLogits: true });
    });

    const answers = prompts.length > 0 ? await this.segmenter.segmentEach(image, prompts, { ...call, promptsField: field }) : [];

    // 2. Decide, on copies, so a failure above leaves the tracker as it was.
    const events: TrackEvent[] = [];
    const next = new Map<TrackRecord, TrackRecord>(this.tracks.map((t) => [t, { ...t }]));
    const started: TrackRecord[] = [];
    const lostNow = new Set<TrackRecord>();
    const band = Math.max(2, 0.01 * Math.max(width, height));
    jobs.forEach((job, k) => {
      const best = answers[k].masks[0] as Sam2Mask | undefined;
      if (job.kind === 'follow') {
        const t = next.get(job.track) as TrackRecord;
        const reason = best ? this.judge(job.track, best, job.grown, width, height, band) : 'empty';
        if (reason) {
          t.state = 'lost';
          t.lostFrames = 1;
          lostNow.add(t);
          events.push({ type: 'lost', id: t.id, reason });
        } else {
          Object.assign(t, this.record(best as Sam2Mask, width, height, frame), { velocity: motion(job.track, best as Sam2Mask, width, height, frame) });
        }
      } else if (job.kind === 'find') {
        const t = next.get(job.track) as TrackRecord;
        if (best && best.area > 0 && best.score >= this.minScore && !this.duplicate(best, next.values(), started, t, width)) {
          Object.assign(t, this.record(best, width, height, frame), { state: 'tracking', lostFrames: 0 });
          events.push({ type: 'found', id: t.id });
        }
      } else if (best && best.area > 0 && !this.duplicate(best, next.values(), started, undefined, width)) {
        const t: TrackRecord = { id: this.nextId + started.length, ...this.record(best, width, height, frame), state: 'tracking', lostFrames: 0, velocity: [0, 0] };
        started.push(t);
        events.push({ type: 'entered', id: t.id });
      }
    });

    // 3. Lost tracks age; those lost too long end.
    const tracks: TrackRecord[] = [];
    for (const t of [...next.values(), ...started]) {
      if (t.state === 'lost' && !lostNow.has(t) && t.seen !== frame) t.lostFrames++;
      if (t.state === 'lost' && t.lostFrames > this.maxLost) {
        t.state = 'ended';
        events.push({ type: 'left', id: t.id });
      }
      tracks.push(t);
    }
    tracks.sort((a, b) => a.id - b.id);
    this.tracks = tracks.filter((t) => t.state !== 'ended');
    this.nextId += started.length;
    this.frame++;
    return { frame, width, height, tracks: tracks.map(publicTrack), events };
  }

  /** Why a tracking answer loses its track, or undefined when it keeps it. */
  private judge(track: TrackRecord, m: Sam2Mask, grown: Box, width: number, height: number, band: number): LostReason | undefined {
    if (m.area === 0) return 'empty';
    if (m.score < this.minScore) return 'score';
    const ratio = m.area / (width * height) / (track.area / (track.width * track.height));
    if (ratio > this.maxAreaRatio) return 'area';
    // Shrinking is what an object going behind something or out of the picture does, a step
    // at a time; only a collapse (the square of the ratio) away from the frame's edge is lost.
    if (ratio < 1 / this.maxAreaRatio ** 2 && !touchesFrame(m.bbox, width, height, band)) return 'area';
    const sits = containment(m.mask, width, height, grown, m.area, band);
    if (sits.outside > 0.2 || sits.alongEdge > 0.5) return 'box';
    return undefined;
  }

  /** Whether a new or found mask is mostly one a track already holds this frame. */
  private duplicate(m: Sam2Mask, tracks: Iterable<TrackRecord>, started: TrackRecord[], self: TrackRecord | undefined, width: number): boolean {
    for (const t of [...tracks, ...started]) {
      if (t === self || t.state !== 'tracking' || t.width !== width || intersection(t.bbox, m.bbox) === 0) continue;
      let shared = 0;
      for (let i = 0; i < m.mask.length; i++) if (m.mask[i] && t.mask[i]) shared++;
      if (shared / (m.area + t.area - shared) > 0.5) return true;
    }
    return false;
  }

  private record(m: Sam2Mask, width: number, height: number, frame: number): Omit<TrackRecord, 'id' | 'state' | 'lostFrames' | 'velocity'> {
    // Backends give the centroid with the mask (lib/mask-stats.ts); one that does not gets it here.
    const centroid = m.centroid !== undefined ? m.centroid : maskStats(m.mask, width, height).centroid;
    return { mask: m.mask, score: m.score, area: m.area, bbox: [...m.bbox], centroid: centroid ? [...centroid] : null, seen: frame, logits: m.logits, width, height };
  }
}

/**
 * The track's velocity after this answer: the centroid's step per frame, averaged with the
 * earlier velocity, on steps where the area held within a quarter (a whole object moving);
 * a shrinking or growing mask moves its centroid for other reasons, so those keep the old one.
 */
function motion(t: TrackRecord, m: Sam2Mask, width: number, height: number, frame: number): [number, number] {
  const c = m.centroid !== undefined ? m.centroid : maskStats(m.mask, width, height).centroid;
  const ratio = m.area / t.area;
  if (!c || !t.centroid || t.width !== width || t.height !== height || ratio < 0.8 || ratio > 1.25) return t.velocity;
  const k = frame - t.seen;
  const step: [number, number] = [(c[0] - t.centroid[0]) / k, (c[1] - t.centroid[1]) / k];
  const known = t.velocity[0] !== 0 || t.velocity[1] !== 0;
  return known ? [(t.velocity[0] + step[0]) / 2, (t.velocity[1] + step[1]) / 2] : step;
}

function publicTrack(t: TrackRecord): Track {
  return { id: t.id, state: t.state, mask: t.mask, score: t.score, area: t.area, bbox: [...t.bbox], centroid: t.centroid ? [...t.centroid] : null, seen: t.seen, lostFrames: t.lostFrames };
}
