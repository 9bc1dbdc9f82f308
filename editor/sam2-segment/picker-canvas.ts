/**
 * The prompt picker: the frame drawn on a canvas with the prompts and the mask tried on top,
 * and the mouse on it (click a foreground point, shift-click or right-click a background
 * point, drag a box). Prompts are measured in the frame's own pixels (or 0..1 of it), never
 * the canvas's, so they do not depend on the size the frame is drawn at.
 */
import { SEGMENT_DEFAULTS } from '../../lib/defaults';
import type { Box, FrameSize, Prompts } from './prompts';

/** How far the mouse must move before a press becomes a box instead of a point, in CSS pixels. */
const DRAG_THRESHOLD = 4;
const MAX_CANVAS_HEIGHT = 480;
/** The frame is not drawn shorter than this to fit the tray: on a very short screen the tray scrolls instead. */
const MIN_CANVAS_HEIGHT = 160;
export const FOREGROUND = '#27ae60';
export const BACKGROUND = '#e74c3c';
const BOX_COLOUR = '#1f6fd1';
/** Alpha of the mask's tint over the frame. */
const MASK_ALPHA = 140;

/** The frame on show, and, for a file opened here, its data URL (sent with Try; never stored in the flow). */
export interface Frame extends FrameSize {
  img: HTMLImageElement;
  dataUrl: string | null;
}

interface Drag {
  /** Where the press was, in CSS pixels on the canvas. */
  start: [number, number];
  background: boolean;
  moved: boolean;
  /** The box being drawn, in the prompts' units, once moved. */
  box: Box | null;
}

export interface PickerEvents {
  /** The prompts changed under the mouse. */
  promptsChanged(): void;
  /** A frame was shown or taken away: whatever was tried on the old one no longer applies. */
  frameChanged(): void;
  /** The overlay colour the dialog has chosen, as typed. */
  overlayColour(): string;
}

function context2d(canvas: HTMLCanvasElement): CanvasRenderingContext2D {
  const ctx = canvas.getContext('2d');
  if (!ctx) {
    throw new Error('sam2-segment: this browser gives no 2D canvas');
  }
  return ctx;
}

export class PickerCanvas {
  /** Null while a message shows instead of a frame. */
  frame: Frame | null = null;
  private mask: HTMLImageElement | null = null;
  private maskLayer: HTMLCanvasElement | null = null;
  private drag: Drag | null = null;
  private readonly canvas: HTMLCanvasElement;
  private readonly frameBox = $('#sam2-segment-frame');

  constructor(private readonly prompts: Prompts, private readonly events: PickerEvents) {
    this.canvas = document.getElementById('sam2-segment-canvas') as HTMLCanvasElement;
    this.listen();
  }

  /** A message in the frame's place (loading, no frame yet, unreadable file). */
  showMessage(text: string): void {
    this.frame = null;
    this.frameBox.addClass('sam2-segment-frame-empty');
    $('#sam2-segment-frame-message').text(text);
    $('#sam2-segment-caption').text('');
    this.events.frameChanged();
  }

  setFrame(frame: Frame, caption: string): void {
    this.frame = frame;
    this.frameBox.removeClass('sam2-segment-frame-empty');
    $('#sam2-segment-caption').text(caption);
    this.events.frameChanged();
    this.layout();
  }

  /**
   * Sizes the canvas to the dialog's width, in device pixels: at most MAX_CANVAS_HEIGHT tall,
   * and short enough that the whole frame and Try's answer under it are in view in the tray
   * as it opens (on a 1280×720 screen too), down to MIN_CANVAS_HEIGHT.
   */
  layout(): void {
    const frame = this.frame;
    if (!frame || !this.frameBox.is(':visible')) {
      return;
    }
    const available = this.frameBox.width() ?? 0;
    const maxHeight = Math.max(MIN_CANVAS_HEIGHT, Math.min(MAX_CANVAS_HEIGHT, this.roomInTray()));
    const cssWidth = Math.min(available, (maxHeight * frame.width) / frame.height);
    const cssHeight = (cssWidth * frame.height) / frame.width;
    const ratio = window.devicePixelRatio || 1;
    this.canvas.style.width = `${cssWidth}px`;
    this.canvas.style.height = `${cssHeight}px`;
    this.canvas.width = Math.max(1, Math.round(cssWidth * ratio));
    this.canvas.height = Math.max(1, Math.round(cssHeight * ratio));
    this.buildMaskLayer();
  }

  /**
   * The height the canvas can take with the tray scrolled to its top, so that the frame and the
   * row under it (Try's status and mask buttons) end at the tray's bottom edge.
   */
  private roomInTray(): number {
    const box = this.frameBox[0];
    let scroller = box.parentElement;
    while (scroller && !/^(auto|scroll)$/.test(getComputedStyle(scroller).overflowY)) {
      scroller = scroller.parentElement;
    }
    if (!scroller) {
      return MAX_CANVAS_HEIGHT;
    }
    const top = box.getBoundingClientRect().top - scroller.getBoundingClientRect().top + scroller.scrollTop;
    const borders = box.offsetHeight - box.clientHeight;
    // One line of Try's answer, as the row's CSS sets it, not its height now: the frame keeps
    // its size when an answer (and the mask buttons) fill the row, and a resize of the tray
    // after Try (Node-RED 5 sends one) does not shrink it.
    const result = document.getElementById('sam2-segment-result');
    const style = result ? getComputedStyle(result) : undefined;
    const below = style ? (parseFloat(style.minHeight) || 0) + parseFloat(style.marginTop) + parseFloat(style.marginBottom) : 0;
    return Math.floor(scroller.clientHeight - top - borders - below);
  }

  /** The mask to tint over the frame (white on black PNG), or none. */
  showMask(mask: HTMLImageElement | null): void {
    this.mask = mask;
    this.buildMaskLayer();
  }

  /** The shown mask tinted in the overlay colour, at the canvas's size; again after a colour change. */
  buildMaskLayer(): void {
    if (!this.frame || !this.mask) {
      this.maskLayer = null;
      this.draw();
      return;
    }
    const layer = document.createElement('canvas');
    layer.width = this.canvas.width;
    layer.height = this.canvas.height;
    const ctx = context2d(layer);
    ctx.drawImage(this.mask, 0, 0, layer.width, layer.height);
    const pixels = ctx.getImageData(0, 0, layer.width, layer.height);
    const typed = this.events.overlayColour() || '';
    const hex = /^#([0-9a-f]{6})$/i.exec(typed) ? typed : SEGMENT_DEFAULTS.overlayColor;
    const c = parseInt(hex.slice(1), 16);
    const d = pixels.data;
    const w = layer.width;
    const h = layer.height;
    const on = new Uint8Array(w * h);
    for (let i = 0; i < on.length; i++) {
      on[i] = d[i * 4] > 127 ? 1 : 0;
    }
    // Outlined as the runtime's overlay is, so it shows on an object of any colour: a dark line
    // on the mask's edge and a light one inside it. ring[i] counts steps in from the edge.
    const line = Math.max(1, Math.round(window.devicePixelRatio || 1));
    const ring = new Uint8Array(w * h);
    const neighbours = (j: number, visit: (k: number) => void): void => {
      const x = j % w;
      if (x > 0) visit(j - 1);
      if (x < w - 1) visit(j + 1);
      if (j >= w) visit(j - w);
      if (j < w * (h - 1)) visit(j + w);
    };
    let front: number[] = [];
    for (let i = 0; i < on.length; i++) {
      if (!on[i]) continue;
      neighbours(i, (j) => {
        if (!on[j] && !ring[i]) {
          ring[i] = 1;
          front.push(i);
        }
      });
    }
    for (let step = 2; step <= 2 * line && front.length; step++) {
      const next: number[] = [];
      for (const j of front) {
        neighbours(j, (k) => {
          if (on[k] && !ring[k]) {
            ring[k] = step;
            next.push(k);
          }
        });
      }
      front = next;
    }
    for (let i = 0; i < on.length; i++) {
      const p = i * 4;
      const shade = ring[i] ? (ring[i] <= line ? 0 : 255) : -1;
      d[p] = shade >= 0 ? shade : c >> 16;
      d[p + 1] = shade >= 0 ? shade : (c >> 8) & 255;
      d[p + 2] = shade >= 0 ? shade : c & 255;
      d[p + 3] = !on[i] ? 0 : shade >= 0 ? 255 : MASK_ALPHA;
    }
    ctx.putImageData(pixels, 0, 0);
    this.maskLayer = layer;
    this.draw();
  }

  draw(): void {
    const frame = this.frame;
    if (!frame) {
      return;
    }
    const ctx = context2d(this.canvas);
    const ratio = window.devicePixelRatio || 1;
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    ctx.drawImage(frame.img, 0, 0, this.canvas.width, this.canvas.height);
    if (this.maskLayer) {
      ctx.drawImage(this.maskLayer, 0, 0);
    }
    const shownBox = this.drag && this.drag.moved ? this.drag.box : this.prompts.box;
    if (shownBox) {
      this.drawBox(ctx, frame, shownBox, ratio);
    }
    this.prompts.points.forEach((p, i) => {
      const [x, y] = this.toCanvas(frame, p.x, p.y);
      drawPoint(ctx, x, y, p.label, i + 1, ratio);
    });
  }

  /** From a position on the canvas (CSS pixels) to the prompts' units. */
  private toFrame(frame: Frame, cssX: number, cssY: number): [number, number] {
    const rect = this.canvas.getBoundingClientRect();
    const fx = Math.min(Math.max(cssX / rect.width, 0), 1);
    const fy = Math.min(Math.max(cssY / rect.height, 0), 1);
    return this.prompts.relative ? [fx, fy] : [fx * frame.width, fy * frame.height];
  }

  /** From the prompts' units to the canvas's drawing pixels. */
  private toCanvas(frame: Frame, x: number, y: number): [number, number] {
    const sx = this.prompts.relative ? this.canvas.width : this.canvas.width / frame.width;
    const sy = this.prompts.relative ? this.canvas.height : this.canvas.height / frame.height;
    return [x * sx, y * sy];
  }

  private drawBox(ctx: CanvasRenderingContext2D, frame: Frame, b: Box, ratio: number): void {
    const a = this.toCanvas(frame, b[0], b[1]);
    const z = this.toCanvas(frame, b[2], b[3]);
    ctx.lineWidth = 2 * ratio;
    ctx.setLineDash([6 * ratio, 4 * ratio]);
    ctx.strokeStyle = '#fff';
    ctx.strokeRect(a[0], a[1], z[0] - a[0], z[1] - a[1]);
    ctx.lineDashOffset = 5 * ratio;
    ctx.strokeStyle = BOX_COLOUR;
    ctx.strokeRect(a[0], a[1], z[0] - a[0], z[1] - a[1]);
    ctx.setLineDash([]);
    ctx.lineDashOffset = 0;
  }

  private cssPosition(e: PointerEvent): [number, number] {
    const rect = this.canvas.getBoundingClientRect();
    return [e.clientX - rect.left, e.clientY - rect.top];
  }

  /** Click for a point (shift or the right button: background), drag for the box. */
  private listen(): void {
    const canvas = this.canvas;
    canvas.addEventListener('contextmenu', (e) => {
      e.preventDefault();
    });
    canvas.addEventListener('pointerdown', (e) => {
      if (!this.frame || (e.button !== 0 && e.button !== 2)) {
        return;
      }
      e.preventDefault();
      canvas.setPointerCapture(e.pointerId);
      this.drag = { start: this.cssPosition(e), background: e.button === 2 || e.shiftKey, moved: false, box: null };
    });
    canvas.addEventListener('pointermove', (e) => {
      const drag = this.drag;
      if (!drag || !this.frame) {
        return;
      }
      const at = this.cssPosition(e);
      if (!drag.moved && Math.abs(at[0] - drag.start[0]) < DRAG_THRESHOLD && Math.abs(at[1] - drag.start[1]) < DRAG_THRESHOLD) {
        return;
      }
      drag.moved = true;
      const a = this.toFrame(this.frame, drag.start[0], drag.start[1]);
      const z = this.toFrame(this.frame, at[0], at[1]);
      drag.box = [Math.min(a[0], z[0]), Math.min(a[1], z[1]), Math.max(a[0], z[0]), Math.max(a[1], z[1])].map((v) => this.prompts.round(v)) as Box;
      this.draw();
    });
    const endDrag = (e: PointerEvent) => {
      const done = this.drag;
      if (!done) {
        return;
      }
      this.drag = null;
      // A frame taken away mid-drag (Last frame arriving) leaves nothing to place a prompt on.
      if (e.type === 'pointercancel' || !this.frame) {
        this.draw();
        return;
      }
      if (done.moved) {
        if (done.box && done.box[2] > done.box[0] && done.box[3] > done.box[1]) {
          this.prompts.box = done.box;
        }
      } else {
        const at = this.toFrame(this.frame, done.start[0], done.start[1]);
        this.prompts.points.push({ x: this.prompts.round(at[0]), y: this.prompts.round(at[1]), label: done.background ? 0 : 1 });
      }
      this.events.promptsChanged();
    };
    canvas.addEventListener('pointerup', endDrag);
    canvas.addEventListener('pointercancel', endDrag);
  }
}

/** A numbered dot: green with a plus for foreground, red with a minus for background. */
function drawPoint(ctx: CanvasRenderingContext2D, x: number, y: number, label: number, n: number, ratio: number): void {
  const r = 6 * ratio;
  ctx.beginPath();
  ctx.arc(x, y, r, 0, Math.PI * 2);
  ctx.fillStyle = label === 1 ? FOREGROUND : BACKGROUND;
  ctx.fill();
  ctx.lineWidth = 2 * ratio;
  ctx.strokeStyle = '#fff';
  ctx.stroke();
  ctx.beginPath();
  ctx.moveTo(x - r / 2, y);
  ctx.lineTo(x + r / 2, y);
  if (label === 1) {
    ctx.moveTo(x, y - r / 2);
    ctx.lineTo(x, y + r / 2);
  }
  ctx.lineWidth = 1.5 * ratio;
  ctx.stroke();
  ctx.font = `bold ${11 * ratio}px sans-serif`;
  ctx.lineWidth = 3 * ratio;
  ctx.strokeStyle = 'rgba(0,0,0,0.7)';
  ctx.strokeText(String(n), x + r + 2 * ratio, y - r);
  ctx.fillStyle = '#fff';
  ctx.fillText(String(n), x + r + 2 * ratio, y - r);
}
