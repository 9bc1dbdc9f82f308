/**
 * The link between a running sam2-segment and its dialog: the node's last frame (made into a
 * small JPEG only when the dialog asks) and the live preview under the node, throttled and
 * sent over comms only while it is switched on.
 *
 * The preview is what the node outputs, small, as image-preview nodes show theirs: the overlay
 * (every object's best mask, tinted and outlined in the node's colours), or the cut-out when the
 * node makes cut-outs. Comms message on `sam2-segment/preview/<node id>`:
 *   { enabled: true, kind: 'overlay' | 'cutout', image: data URL (JPEG, or PNG with alpha for a
 *     cut-out), width, height (of the image, CSS pixels), score (best), objects (count) }
 *   { enabled: false } when it is switched off.
 *
 * The last frame is kept as a small JPEG, never as the bytes that came in: only frames that
 * passed the node's checks are offered (a tiny file declaring a huge image is refused by the
 * node and must not be decoded later by the dialog), and a camera's full-size frame is not
 * held for a dialog that may never open. Making the JPEG costs a shrink-on-load decode, so it
 * is done for at most one frame per FRAME_INTERVAL_MS, the newest winning, or at once when
 * the dialog asks.
 */
import type { Node, NodeAPI } from '@node-red/registry';
import sharp from 'sharp';
import { SEGMENT_DEFAULTS } from '../../lib/defaults';
import { maskStats } from '../../lib/mask-stats';
import { Sam2InputError } from '../../lib/errors';
import { overlaySettings, tint } from '../../lib/overlay';
import { FramePixels } from '../../lib/raw-image';
import { rasteriseVector, vectorKind } from '../../lib/vector-image';
import type { SegmentResult } from '../../lib/types';

export interface NodeEditorLink {
  /** A frame that passed the node's checks. */
  frame(bytes: Buffer): void;
  /** Every answer (one result per object), with the frame it answers (its pixels shared with the node's overlays when they were decoded). */
  answer(frame: Buffer | FramePixels, results: readonly SegmentResult[]): void;
  close(): void;
}

/** The node's saved settings the preview follows. */
export interface EditorConfig {
  preview?: boolean;
  /** Long side of the preview in pixels; empty for the default. */
  previewSize?: number | string;
  /** The overlay's colour and opacity, '#rrggbb' and 0..1, used by the preview whether or not the node outputs an overlay. */
  overlayColor?: string;
  overlayOpacity?: number | string;
  /** The node outputs cut-outs: the preview shows the cut-out. */
  cutout?: boolean;
}

/** The frame the dialog shows is at most this many pixels on its long side. */
const FRAME_LONG_SIDE = 800;
/** At most one frame a second becomes the dialog's JPEG while nobody asks for it. */
const FRAME_INTERVAL_MS = 1000;
/** A frame that passed the node's checks is within its pixel limit; this is the ceiling regardless. */
const FRAME_MAX_PIXELS = 1000 * 1_000_000;
/** The overlay's double line, dark and light, at its default width: 1 pixel each at any preview size. */
const PREVIEW_OUTLINE = 2;

interface PreviewLook {
  kind: 'overlay' | 'cutout';
  longSide: number;
  rgb: [number, number, number];
  opacity: number;
}

/**
 * What the preview shows and how big, from the node's settings. A setting it cannot use is
 * said once, at deploy, and the default used: the preview must not stop the node.
 */
function previewLook(config: EditorConfig, warn: (text: string) => void): PreviewLook {
  let longSide: number = SEGMENT_DEFAULTS.previewSize;
  const { previewMinSize: min, previewMaxSize: max } = SEGMENT_DEFAULTS;
  if (config.previewSize !== undefined && config.previewSize !== '') {
    const n = Number(config.previewSize);
    if (Number.isInteger(n) && n >= min && n <= max) longSide = n;
    else warn(new Sam2InputError('Preview size', `is ${JSON.stringify(config.previewSize)}, not a whole number of pixels from ${min} to ${max}`, `Use e.g. ${SEGMENT_DEFAULTS.previewSize}; the preview is ${longSide} px until then`).message);
  }
  let looks: ReturnType<typeof overlaySettings>;
  try {
    const opacity = config.overlayOpacity;
    looks = overlaySettings({ color: config.overlayColor || undefined, opacity: opacity === undefined || opacity === '' ? undefined : Number(opacity) });
  } catch {
    // The node reports a bad colour or opacity itself when its overlay is on; the preview keeps the defaults.
    looks = overlaySettings({});
  }
  return { kind: config.cutout ? 'cutout' : 'overlay', longSide, rgb: looks.rgb, opacity: looks.opacity };
}

export interface Thumbnail {
  jpeg: Buffer;
  /** The frame's own size, upright: the pixels the dialog's coordinates are in. */
  width: number;
  height: number;
  /** The JPEG's size: the frame's, or smaller (at most FRAME_LONG_SIDE on its long side). */
  jpegWidth: number;
  jpegHeight: number;
}

export interface EditorState {
  /** The newest kept frame, made now if one is waiting for its turn. */
  current(): Promise<Thumbnail | undefined>;
  /** The frame whose JPEG the dialog got last: a camera moves on while the user clicks, and Try must segment what they see. */
  shown?: Thumbnail;
  setPreview(enabled: boolean): void;
}

const states = new WeakMap<object, EditorState>();

/** The editor state of a deployed sam2-segment, or undefined when none is deployed under `id`. */
export function editorState(RED: NodeAPI, id: string): EditorState | undefined {
  const node = RED.nodes.getNode(id) as Node | null;
  return node ? states.get(node) : undefined;
}

export function attachEditor(RED: NodeAPI, node: Node, config: EditorConfig): NodeEditorLink {
  const topic = `sam2-segment/preview/${node.id}`;
  const look = previewLook(config, (text) => node.warn(`live preview: ${text}`));
  let preview = config.preview === true;
  let closed = false;
  let pending: { frame: FramePixels; results: readonly SegmentResult[] } | undefined;
  let timer: NodeJS.Timeout | undefined;
  let rendering = false;
  let lastSent = 0;
  let last: Thumbnail | undefined;
  let waitingFrame: Buffer | undefined;
  let frameTimer: NodeJS.Timeout | undefined;
  let framing: Promise<void> | undefined;
  let lastFramed = 0;

  const makeFrame = (): Promise<void> => {
    clearTimeout(frameTimer);
    frameTimer = undefined;
    const bytes = waitingFrame;
    waitingFrame = undefined;
    if (!bytes || closed) return Promise.resolve();
    lastFramed = Date.now();
    framing = thumbnailOf(bytes)
      .then((made) => {
        if (!closed) last = made;
      })
      // Only frames that passed the node's checks come here; one that still fails is not kept.
      .catch(() => undefined)
      .finally(() => {
        framing = undefined;
        scheduleFrame();
      });
    return framing;
  };
  const scheduleFrame = (): void => {
    if (frameTimer || framing || closed || !waitingFrame) return;
    frameTimer = setTimeout(makeFrame, Math.max(0, lastFramed + FRAME_INTERVAL_MS - Date.now()));
  };

  const state: EditorState = {
    async current() {
      if (framing) await framing;
      if (waitingFrame) await makeFrame();
      return last;
    },
    setPreview(enabled) {
      preview = enabled;
      if (!enabled) {
        pending = undefined;
        clearTimeout(timer);
        timer = undefined;
        // Every open editor drops the image, not only the one whose button was pressed.
        RED.comms.publish(topic, { enabled: false }, false);
      }
    },
  };
  states.set(node, state);

  const schedule = (): void => {
    if (timer || rendering || closed || !pending) return;
    timer = setTimeout(flush, Math.max(0, lastSent + SEGMENT_DEFAULTS.previewIntervalMs - Date.now()));
  };
  const flush = (): void => {
    timer = undefined;
    const job = pending;
    pending = undefined;
    if (!job || !preview || closed) return;
    rendering = true;
    lastSent = Date.now();
    previewImage(job.frame, job.results, look)
      .then((image) => {
        if (preview && !closed) RED.comms.publish(topic, { enabled: true, ...image }, false);
      })
      .catch((err: Error) => node.warn(`live preview: ${err.message}`))
      .finally(() => {
        rendering = false;
        schedule();
      });
  };

  return {
    frame(bytes) {
      // A camera at 10 fps on a Raspberry Pi pays for one small JPEG a second at most.
      waitingFrame = bytes;
      scheduleFrame();
    },
    answer(frame, results) {
      // While off, nothing at all: no copy, no timer, no image work.
      if (!preview || closed || !results.some((r) => r.masks.length > 0)) return;
      pending = { frame: Buffer.isBuffer(frame) ? new FramePixels(frame) : frame, results };
      schedule();
    },
    close() {
      closed = true;
      pending = undefined;
      clearTimeout(timer);
      timer = undefined;
      clearTimeout(frameTimer);
      frameTimer = undefined;
      waitingFrame = undefined;
      last = undefined;
      states.delete(node);
    },
  };
}

/** The frame upright, at most FRAME_LONG_SIDE on its long side, as JPEG without metadata. */
export async function thumbnailOf(input: Buffer): Promise<Thumbnail> {
  const bytes = vectorKind(input) === 'svg' ? await rasteriseVector(input, FRAME_MAX_PIXELS, 'the last frame') : input;
  const meta = await sharp(bytes, { limitInputPixels: FRAME_MAX_PIXELS }).metadata();
  if (!meta.width || !meta.height || meta.width * meta.height > FRAME_MAX_PIXELS) throw new Error('the frame has no usable size');
  const turned = (meta.orientation ?? 1) >= 5;
  const { data, info } = await sharp(bytes, { limitInputPixels: FRAME_MAX_PIXELS })
    .rotate()
    .resize(FRAME_LONG_SIDE, FRAME_LONG_SIDE, { fit: 'inside', withoutEnlargement: true })
    .jpeg({ quality: 85 })
    .toBuffer({ resolveWithObject: true });
  return { jpeg: data, width: turned ? meta.height : meta.width, height: turned ? meta.width : meta.height, jpegWidth: info.width, jpegHeight: info.height };
}

/** Samples a full-size mask over `box` (x, y, width, height in its pixels) at `w` x `h`. */
function sampleMask(mask: Uint8Array, width: number, [bx, by, bw, bh]: [number, number, number, number], w: number, h: number): Uint8Array {
  const small = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    const row = (by + Math.min(bh - 1, Math.floor(((y + 0.5) * bh) / h))) * width + bx;
    for (let x = 0; x < w; x++) small[y * w + x] = mask[row + Math.min(bw - 1, Math.floor(((x + 0.5) * bw) / w))];
  }
  return small;
}

/** A region of the frame, upright, at `w` x `h`, as 3-byte pixels. */
async function frameRegion(frame: FramePixels, region: sharp.Region | undefined, w: number, h: number): Promise<Buffer> {
  // The node's overlays decoded the frame already: shrink those pixels. Otherwise a JPEG shrinks
  // as it loads, far cheaper than a full decode for a 160-pixel picture.
  let source: sharp.Sharp;
  if (frame.decoded) {
    const pixels = await frame.pixels();
    source = sharp(pixels.data, { raw: { width: pixels.width, height: pixels.height, channels: pixels.channels } });
  } else {
    source = sharp(frame.bytes).rotate();
  }
  // Extract before resize: the region is in the upright frame's pixels.
  if (region) source = source.extract(region);
  return source.resize(w, h, { fit: 'fill' }).flatten({ background: '#ffffff' }).removeAlpha().raw().toBuffer();
}

/** What the node outputs, small: the overlay of every object's best mask, or their cut-out; as a data URL. */
async function previewImage(frame: FramePixels, results: readonly SegmentResult[], look: PreviewLook) {
  const found = results.filter((r) => r.masks.length > 0);
  const { width, height } = found[0];
  const best = found.map((r) => r.masks[0]);
  const score = Math.max(...best.map((m) => m.score));
  const common = { kind: look.kind, score, objects: results.length };
  if (look.kind === 'cutout') {
    // The objects' box at full size, shrunk to fit: a cut-out is the object alone, so a small
    // object still fills the preview.
    const boxes = best.filter((m) => m.area > 0).map((m) => m.bbox);
    if (boxes.length > 0) {
      const x1 = Math.min(...boxes.map((b) => b[0]));
      const y1 = Math.min(...boxes.map((b) => b[1]));
      const bw = Math.max(...boxes.map((b) => b[2])) - x1;
      const bh = Math.max(...boxes.map((b) => b[3])) - y1;
      const scale = Math.min(1, look.longSide / Math.max(bw, bh));
      const w = Math.max(1, Math.round(bw * scale));
      const h = Math.max(1, Math.round(bh * scale));
      const rgb = await frameRegion(frame, { left: x1, top: y1, width: bw, height: bh }, w, h);
      const alpha = new Uint8Array(w * h);
      for (const m of best) {
        const small = sampleMask(m.mask, width, [x1, y1, bw, bh], w, h);
        for (let i = 0; i < small.length; i++) if (small[i]) alpha[i] = 255;
      }
      const rgba = Buffer.alloc(w * h * 4);
      for (let i = 0; i < w * h; i++) {
        if (!alpha[i]) continue;
        rgba.set(rgb.subarray(i * 3, i * 3 + 3), i * 4);
        rgba[i * 4 + 3] = 255;
      }
      const png = await sharp(rgba, { raw: { width: w, height: h, channels: 4 } }).png().toBuffer();
      return { ...common, image: `data:image/png;base64,${png.toString('base64')}`, width: w, height: h };
    }
  }
  const scale = look.longSide / Math.max(width, height);
  const w = Math.max(1, Math.round(width * scale));
  const h = Math.max(1, Math.round(height * scale));
  const rgb = await frameRegion(frame, undefined, w, h);
  // Each object's mask sampled at the preview's size, then tinted and outlined as the overlay is.
  for (const m of best) {
    const small = sampleMask(m.mask, width, [0, 0, width, height], w, h);
    const { area, bbox } = maskStats(small, w, h);
    if (area) tint(rgb, small, w, bbox, look.rgb, look.opacity, PREVIEW_OUTLINE);
  }
  const jpeg = await sharp(rgb, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 75 }).toBuffer();
  return { ...common, kind: 'overlay' as const, image: `data:image/jpeg;base64,${jpeg.toString('base64')}`, width: w, height: h };
}
