/**
 * The link between a running sam2-segment and its dialog: the node's last frame (made into a
 * small JPEG only when the dialog asks) and the live preview under the node, throttled and
 * sent over comms only while it is switched on.
 */
import type { Node, NodeAPI } from '@node-red/registry';
import sharp from 'sharp';
import { FramePixels } from '../../lib/raw-image';
import type { SegmentResult } from '../../lib/types';
import { RouteError } from './http';

export interface NodeEditorLink {
  /** Every frame the node reads. */
  frame(bytes: Buffer): void;
  /** Every answer, with the frame it answers (its pixels shared with the node's overlays when they were decoded). */
  answer(frame: Buffer | FramePixels, result: SegmentResult): void;
  close(): void;
}

export interface EditorConfig {
  preview?: boolean;
  /** The live preview's mask colour, '#rrggbb'. */
  overlayColor?: string;
}

/** The frame the dialog shows is at most this many pixels on its long side. */
const FRAME_LONG_SIDE = 800;
/** The live preview under the node in the workspace. */
const PREVIEW_LONG_SIDE = 160;
const PREVIEW_INTERVAL_MS = 500;
const PREVIEW_OPACITY = 0.5;
const DEFAULT_PREVIEW_COLOR = '#ff3b30';

export interface Thumbnail {
  jpeg: Buffer;
  /** The frame's own size, upright: the pixels the dialog's coordinates are in. */
  width: number;
  height: number;
}

export interface Frame {
  bytes: Buffer;
  thumbnail?: Promise<Thumbnail>;
}

export interface EditorState {
  last?: Frame;
  /** The frame whose thumbnail the dialog got last: a camera moves on while the user clicks, and Try must segment what they see. */
  shown?: Frame;
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
  const color = parseColor(config.overlayColor) ?? parseColor(DEFAULT_PREVIEW_COLOR)!;
  let preview = config.preview === true;
  let closed = false;
  let pending: { frame: FramePixels; result: SegmentResult } | undefined;
  let timer: NodeJS.Timeout | undefined;
  let rendering = false;
  let lastSent = 0;

  const state: EditorState = {
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
    timer = setTimeout(flush, Math.max(0, lastSent + PREVIEW_INTERVAL_MS - Date.now()));
  };
  const flush = (): void => {
    timer = undefined;
    const job = pending;
    pending = undefined;
    if (!job || !preview || closed) return;
    rendering = true;
    lastSent = Date.now();
    previewImage(job.frame, job.result, color)
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
      // Only a reference: a camera at 10 fps on a Raspberry Pi must not pay for thumbnails
      // that nobody looks at. The dialog's JPEG is made when it asks, once per frame.
      state.last = { bytes };
    },
    answer(frame, result) {
      if (!preview || closed || result.masks.length === 0) return;
      pending = { frame: Buffer.isBuffer(frame) ? new FramePixels(frame) : frame, result };
      schedule();
    },
    close() {
      closed = true;
      pending = undefined;
      clearTimeout(timer);
      timer = undefined;
      states.delete(node);
    },
  };
}

function parseColor(text: string | undefined): [number, number, number] | undefined {
  const hex = /^#([0-9a-f]{6})$/i.exec(text ?? '');
  if (!hex) return undefined;
  const n = parseInt(hex[1], 16);
  return [n >> 16, (n >> 8) & 255, n & 255];
}

export function thumbnailOf(frame: Frame): Promise<Thumbnail> {
  frame.thumbnail ??= (async () => {
    const meta = await sharp(frame.bytes)
      .metadata()
      .catch(() => ({ width: 0, height: 0, orientation: 1 }));
    if (!meta.width || !meta.height) throw new RouteError(415, 'The last frame is not an image this runtime can read');
    const turned = (meta.orientation ?? 1) >= 5;
    const jpeg = await sharp(frame.bytes)
      .rotate()
      .resize(FRAME_LONG_SIDE, FRAME_LONG_SIDE, { fit: 'inside', withoutEnlargement: true })
      .jpeg({ quality: 85 })
      .toBuffer();
    return { jpeg, width: turned ? meta.height : meta.width, height: turned ? meta.width : meta.height };
  })();
  // A frame that fails once fails again: keep the rejection, but never leave it unhandled.
  frame.thumbnail.catch(() => undefined);
  return frame.thumbnail;
}

/** The frame, small, with the best mask tinted over it, as a data URL. */
async function previewImage(frame: FramePixels, result: SegmentResult, [r, g, b]: [number, number, number]) {
  const { width, height } = result;
  const scale = PREVIEW_LONG_SIDE / Math.max(width, height);
  const w = Math.max(1, Math.round(width * scale));
  const h = Math.max(1, Math.round(height * scale));
  // The node's overlays decoded the frame already: shrink those pixels. Otherwise a JPEG shrinks
  // as it loads, far cheaper than a full decode for a 160-pixel picture.
  let source: sharp.Sharp;
  if (frame.decoded) {
    const pixels = await frame.pixels();
    source = sharp(pixels.data, { raw: { width: pixels.width, height: pixels.height, channels: pixels.channels } });
  } else {
    source = sharp(frame.bytes).rotate();
  }
  const rgb = await source.resize(w, h, { fit: 'fill' }).removeAlpha().raw().toBuffer();
  const best = result.masks[0];
  const keep = 1 - PREVIEW_OPACITY;
  for (let y = 0; y < h; y++) {
    const row = Math.min(height - 1, Math.floor(((y + 0.5) * height) / h)) * width;
    for (let x = 0; x < w; x++) {
      if (!best.mask[row + Math.min(width - 1, Math.floor(((x + 0.5) * width) / w))]) continue;
      const i = (y * w + x) * 3;
      rgb[i] = rgb[i] * keep + r * PREVIEW_OPACITY;
      rgb[i + 1] = rgb[i + 1] * keep + g * PREVIEW_OPACITY;
      rgb[i + 2] = rgb[i + 2] * keep + b * PREVIEW_OPACITY;
    }
  }
  const jpeg = await sharp(rgb, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 75 }).toBuffer();
  return { image: `data:image/jpeg;base64,${jpeg.toString('base64')}`, width: w, height: h, score: best.score };
}

