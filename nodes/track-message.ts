/**
 * sam2-segment's "Track across frames" (lib/tracker.ts does the tracking): the saved
 * settings checked once, what each frame asks the tracker, and the message and status
 * words for a tracked frame. The node's own prompts start tracks only while nothing is
 * tracked (the first frame, or after every track ended or `msg.sam2.reset`); prompts that
 * come on a message (a detector's boxes) are offered on any frame, where they start new
 * tracks or find lost ones.
 */
import { Sam2InputError } from '../lib/errors';
import { formatMask, type FormattedMask } from '../lib/mask-formats';
import type { SegmentOptions } from '../lib/segmenter';
import type { Sam2Tracker, Track, TrackerFrame, TrackerOptions } from '../lib/tracker';
import type { CompiledSettings, MessagePlan, OutputChoice } from './segment-message';

/** The dialog's tracking settings, as saved. */
export interface TrackSettings {
  track?: boolean;
  trackMargin?: number | string;
  trackMinScore?: number | string;
  trackMaxLost?: number | string;
}

function setting(value: number | string | undefined, field: string, check: (n: number) => boolean, fix: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || !check(n)) throw new Sam2InputError(field, `is ${JSON.stringify(value)}`, fix);
  return n;
}

/** The tracker's options when "Track across frames" is on, else undefined; a bad setting throws naming it. */
export function compileTracking(settings: TrackSettings): TrackerOptions | undefined {
  if (!settings.track) return undefined;
  return {
    margin: setting(settings.trackMargin, 'Margin', (n) => n >= 0, 'Use a share of the object\'s size, 0 or more (0.5 grows each side by half)'),
    minScore: setting(settings.trackMinScore, 'Minimum score', (n) => n >= 0 && n <= 1, 'Use a score between 0 and 1'),
    maxLost: setting(settings.trackMaxLost, 'Frames before a track ends', (n) => Number.isInteger(n) && n >= 0, 'Use a whole number of frames, 0 or more'),
  };
}

/** Whether `msg.sam2` carries prompts of its own (points, a box or objects). */
function messagePrompts(sam2: unknown): boolean {
  if (!sam2 || typeof sam2 !== 'object') return false;
  const o = sam2 as Record<string, unknown>;
  return o.points !== undefined || o.box !== undefined || o.objects !== undefined;
}

/** `msg.sam2.reset === true`: forget every track before this frame. */
export function wantsReset(sam2: unknown): boolean {
  return Boolean(sam2 && typeof sam2 === 'object' && (sam2 as { reset?: unknown }).reset === true);
}

/** The prompts this frame offers the tracker. */
export function trackObjects(plan: MessagePlan, sam2: unknown, tracker: Sam2Tracker): SegmentOptions[] {
  if (messagePrompts(sam2)) return plan.objects;
  return tracker.current.length === 0 ? plan.objects : [];
}

/** One track as it goes out on `msg.sam2.tracks`: the tracker's numbers, its mask in the node's format. */
export type TrackOut = Omit<Track, 'mask'> & { mask: FormattedMask };

/**
 * The outgoing message for a tracked frame: `msg.payload` the tracking tracks' masks (in the
 * node's format, by id), `msg.sam2.tracks` every track with its state, `msg.sam2.events`
 * what happened on this frame.
 */
export async function writeTrackedMessage<M extends object>(
  msg: M,
  frame: TrackerFrame,
  compiled: CompiledSettings,
  choice: OutputChoice,
  info: { image: unknown; modelId: string; timeMs: number; dropped: number },
): Promise<M> {
  const tracks: TrackOut[] = await Promise.all(
    frame.tracks.map(async (t) => ({
      id: t.id,
      state: t.state,
      score: t.score,
      area: t.area,
      bbox: t.bbox,
      centroid: t.centroid,
      seen: t.seen,
      lostFrames: t.lostFrames,
      mask: await formatMask(t.mask, frame.width, frame.height, t.score, {
        format: choice.format,
        tolerance: compiled.tolerance,
        stats: { area: t.area, bbox: t.bbox, centroid: t.centroid },
      }),
    })),
  );
  const out = msg as Record<string, unknown>;
  const following = tracks.filter((t) => t.state === 'tracking');
  out.image = info.image;
  out.payload = following.map((t) => t.mask.png ?? t.mask.raw ?? t.mask.rle ?? t.mask.polygons);
  out.masks = following.map((t) => t.mask);
  out.sam2 = {
    frame: frame.frame,
    tracks,
    events: frame.events,
    width: frame.width,
    height: frame.height,
    modelId: info.modelId,
    timeMs: info.timeMs,
    ...(info.dropped ? { dropped: info.dropped } : {}),
  };
  return msg;
}

/** The status's words for a tracked frame, e.g. "2 tracked · 1 lost". */
export function trackStatus(frame: TrackerFrame): string {
  const tracked = frame.tracks.filter((t) => t.state === 'tracking').length;
  const lost = frame.tracks.filter((t) => t.state === 'lost').length;
  const parts = [`${tracked} tracked`];
  if (lost) parts.push(`${lost} lost`);
  return parts.join(' · ');
}
