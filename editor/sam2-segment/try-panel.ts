/**
 * Try: segments the frame on show with the prompts being edited, through the deployed
 * endpoint, and shows the answer: the best mask tinted over the frame, its score, area and
 * time in the status line, and a button per mask to switch between them. Any change to the
 * prompts or the frame clears the masks (they no longer match).
 */
import { BACKEND_SETTINGS } from '../../lib/defaults';
import { failureMessage, tryPrompts, type TryAnswer, type TryBody, type TryMask } from '../shared/admin';
import { multimaskValue } from './multimask';
import type { PickerCanvas } from './picker-canvas';
import type { Prompts } from './prompts';

/** A mask as answered, with its PNG once the browser has decoded it. */
interface ShownMask extends TryMask {
  img?: HTMLImageElement;
}

/** How long prompts must rest before a Try runs by itself: a drag of the box is one Try, not fifty. */
const AUTO_TRY_DELAY_MS = 150;

export class TryPanel {
  private masks: ShownMask[] = [];
  private selected = 0;
  private request: JQueryRequest<TryAnswer> | null = null;
  private soon: ReturnType<typeof setTimeout> | undefined;
  private readonly status = $('#sam2-segment-status');
  private readonly button = $('#sam2-segment-try');

  constructor(
    private readonly nodeId: string,
    private readonly _: RED.EditorNode['_'],
    private readonly prompts: Prompts,
    private readonly picker: PickerCanvas,
  ) {
    this.button.on('click', () => this.run());
  }

  get hasMasks(): boolean {
    return this.masks.length > 0;
  }

  setStatus(text: string, isError?: boolean): void {
    this.status.text(text || '').toggleClass('sam2-segment-error', !!isError);
  }

  clearMasks(): void {
    this.masks = [];
    this.selected = 0;
    $('#sam2-segment-masks').empty();
    this.picker.showMask(null);
  }

  /** Stops a Try in flight (the dialog is closing). */
  abort(): void {
    clearTimeout(this.soon);
    if (this.request) {
      this.request.abort();
    }
  }

  /**
   * Try by itself, shortly after the prompts settle: with a model on this machine the frame's
   * encoding is cached, so each click costs one decoder run and answers at once. A Try still in
   * flight is dropped for the newer prompts.
   */
  runSoon(): void {
    clearTimeout(this.soon);
    this.soon = setTimeout(() => {
      if (this.request) {
        this.request.abort();
        this.request = null;
      }
      if (this.picker.frame && (this.prompts.points.length > 0 || this.prompts.box)) {
        this.run();
      }
    }, AUTO_TRY_DELAY_MS);
  }

  /** The selected mask over the frame, once its PNG is decoded. */
  private showSelected(): void {
    this.picker.showMask(this.masks[this.selected]?.img ?? null);
  }

  private renderMaskButtons(): void {
    const row = $('#sam2-segment-masks').empty();
    this.masks.forEach((m, i) => {
      $("<button type='button' class='red-ui-button red-ui-button-small sam2-segment-mask'>")
        .text(this._('sam2-segment.try.mask', { n: i + 1, score: m.score.toFixed(2) }))
        .toggleClass('selected', i === this.selected)
        .on('click', () => {
          this.selected = i;
          this.setStatus(this._('sam2-segment.try.shown', { n: i + 1, score: m.score.toFixed(2), area: m.area }));
          this.renderMaskButtons();
          this.showSelected();
        }).appendTo(row);
    });
  }

  private run(): void {
    const { _, prompts, picker } = this;
    const endpoint = $('#node-input-endpoint').val();
    const frame = picker.frame;
    if (!frame) {
      return this.setStatus(_('sam2-segment.try.needFrame'), true);
    }
    if (!prompts.points.length && !prompts.box) {
      return this.setStatus(_('sam2-segment.try.needPrompt'), true);
    }
    // `_ADD_`: the picker's "Add new sam2-endpoint..." entry, no endpoint yet.
    if (!endpoint || endpoint === '_ADD_') {
      return this.setStatus(_('sam2-segment.try.needEndpoint'), true);
    }
    const body: TryBody = {
      endpoint,
      points: prompts.points.map((p): [number, number] => [p.x, p.y]),
      labels: prompts.points.map((p) => p.label),
      box: prompts.box,
      multimask: multimaskValue(),
      normalizeCoords: !prompts.relative,
    };
    const typedThreshold = $('#node-input-threshold').val();
    const threshold = Number(typedThreshold);
    if (typedThreshold !== '' && isFinite(threshold)) {
      body.threshold = threshold;
    }
    if (frame.dataUrl) {
      body.image = frame.dataUrl;
    }
    // Try works before a deploy, with the endpoint's settings as the editor has them; its token
    // never leaves the runtime (the runtime uses a stored one only for the origin it was saved for).
    const chosen = RED.nodes.node(String(endpoint)) as (RED.EditorNode & Record<string, unknown>) | null;
    if (chosen) {
      body.endpointSettings = Object.fromEntries(BACKEND_SETTINGS.map((k) => [k, chosen[k]]));
    }
    this.abort();
    this.clearMasks();
    this.setStatus(_('sam2-segment.try.asking'));
    this.button.prop('disabled', true);
    this.request = tryPrompts(this.nodeId, body).done((answer) => {
      // Another frame came meanwhile: this answer is for one no longer shown.
      if (picker.frame !== frame) {
        return;
      }
      if (!answer.masks || !answer.masks.length) {
        return this.setStatus(_('sam2-segment.try.noMasks'), true);
      }
      const masks: ShownMask[] = answer.masks;
      this.masks = masks;
      this.selected = 0;
      const best = masks[0];
      this.setStatus(_('sam2-segment.try.result', { score: best.score.toFixed(2), area: best.area, ms: answer.timeMs }));
      this.renderMaskButtons();
      masks.forEach((m, i) => {
        const img = new Image();
        img.onload = () => {
          m.img = img;
          if (i === this.selected) {
            this.showSelected();
          }
        };
        img.src = m.png;
      });
    }).fail((xhr, textStatus) => {
      if (textStatus === 'abort') {
        return;
      }
      this.setStatus(_('sam2-segment.try.failed', { message: failureMessage(xhr, textStatus) }), true);
    }).always(() => {
      this.request = null;
      this.button.prop('disabled', false);
    });
  }
}
