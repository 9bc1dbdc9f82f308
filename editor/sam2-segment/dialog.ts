/**
 * The sam2-segment dialog while it is open: its tabs and the rows shown only for some
 * choices, and the prompt picker put together from its parts (prompts.ts the state,
 * picker-canvas.ts the frame and mouse, points-table.ts the numbers, try-panel.ts Try,
 * frame-source.ts the frame). Node-RED moves the plain properties between node and fields
 * itself; the prompts go back to the node only through `save()` on Done.
 */
import { SEGMENT_DEFAULTS } from '../../lib/defaults';
import { showDefaults, showWhen } from '../shared/fields';
import { FrameSource } from './frame-source';
import { PickerCanvas } from './picker-canvas';
import { PointsTable } from './points-table';
import { Prompts, type Box, type Point } from './prompts';
import { TryPanel } from './try-panel';
import type { SegmentNode } from './index';

const PREFIX = 'node-input-';

export interface OpenDialog {
  /** The prompts as edited, for the node. */
  save(): { points: Point[]; box: Box | null };
  /** Stops a Try in flight and lets the frame go. */
  dispose(): void;
  /** The dialog was resized: fit the picker to it. */
  layout(): void;
}

export function openDialog(node: SegmentNode): OpenDialog {
  const _: RED.EditorNode['_'] = (key, substitutions) => node._(key, substitutions);
  const prompts = new Prompts(node);

  // A flow written by hand may leave the property out; the runtime then reads msg.payload.
  if (!node.property) {
    $(`#${PREFIX}property`).val(SEGMENT_DEFAULTS.property);
  }
  $(`#${PREFIX}property`).typedInput({ default: 'msg', types: ['msg'] });
  showDefaults(PREFIX, {
    tolerance: SEGMENT_DEFAULTS.tolerance,
    threshold: SEGMENT_DEFAULTS.threshold,
    overlayOpacity: SEGMENT_DEFAULTS.overlayOpacity,
    overlayOutline: SEGMENT_DEFAULTS.overlayOutline,
    queueLimit: SEGMENT_DEFAULTS.queueLimit,
    trackMargin: SEGMENT_DEFAULTS.trackMargin,
    trackMinScore: SEGMENT_DEFAULTS.trackMinScore,
    trackMaxLost: SEGMENT_DEFAULTS.trackMaxLost,
    maxObjects: SEGMENT_DEFAULTS.maxObjects,
    previewSize: SEGMENT_DEFAULTS.previewSize,
  });

  /** `keepFields`: the change came from a field being typed in, which must keep its focus. */
  function promptsChanged(keepFields?: boolean): void {
    if (!keepFields) {
      table.render();
    }
    showNoPrompt();
    if (answersEachClick()) {
      tryPanel.clearMasks();
      picker.draw();
      tryPanel.runSoon();
    } else if (tryPanel.hasMasks) {
      tryPanel.clearMasks();
      tryPanel.setStatus(_('sam2-segment.try.changed'));
    } else {
      picker.draw();
    }
  }

  /** Without points or a box, every message must bring its own prompts: say so. */
  function showNoPrompt(): void {
    $('#sam2-segment-no-prompt').toggle(prompts.points.length === 0 && !prompts.box);
  }

  /** A model on this machine answers each click by itself: no Try press (its frame is cached). */
  function answersEachClick(): boolean {
    const chosen = RED.nodes.node(String($('#node-input-endpoint').val() ?? '')) as (RED.EditorNode & { service?: string }) | null;
    return chosen?.service === 'local';
  }

  const picker = new PickerCanvas(prompts, {
    promptsChanged: () => promptsChanged(),
    frameChanged: () => tryPanel.clearMasks(),
    overlayColour: () => $(`#${PREFIX}overlayColor`).val(),
  });
  const table = new PointsTable(prompts, _, { promptsChanged, frame: () => picker.frame });
  const tryPanel = new TryPanel(node.id, _, prompts, picker);
  const frames = new FrameSource(node.id, _, picker);

  const tabs = RED.tabs.create({
    id: 'sam2-segment-tabs',
    onchange: (tab) => {
      $('#sam2-segment-tabs-content').children().hide();
      $(`#${tab.id}`).show();
      if (tab.id === 'sam2-segment-tab-prompts') {
        picker.layout();
      }
    },
  });
  tabs.addTab({ id: 'sam2-segment-tab-prompts', label: _('sam2-segment.tabs.prompts') });
  tabs.addTab({ id: 'sam2-segment-tab-output', label: _('sam2-segment.tabs.output') });
  tabs.addTab({ id: 'sam2-segment-tab-queue', label: _('sam2-segment.tabs.queue') });

  showWhen('#sam2-segment-row-tolerance', `#${PREFIX}format`, (format) => format.val() === 'polygons');
  showWhen('#sam2-segment-row-overlay', `#${PREFIX}overlay`, (overlay) => overlay.prop('checked'));
  showWhen('#sam2-segment-row-track', `#${PREFIX}track`, (track) => track.prop('checked'));
  showWhen('#sam2-segment-row-queueLimit', `#${PREFIX}queue`, (queue) => queue.val() === 'queue');
  $(`#${PREFIX}overlayColor`).on('input change', () => picker.buildMaskLayer());

  const coordinates = $(`#${PREFIX}coordinates`);
  coordinates.on('change', () => {
    if (prompts.convertTo(coordinates.val() === 'relative' ? 'relative' : 'pixels', picker.frame)) {
      promptsChanged();
    }
  });
  $('#sam2-segment-clear').on('click', () => {
    prompts.points = [];
    prompts.box = null;
    promptsChanged();
  });

  // Saved true / false (flows from before 'auto') mean on / off.
  $('#sam2-segment-multimask').val(node.multimask === true ? 'true' : node.multimask === false ? 'false' : SEGMENT_DEFAULTS.multimask);
  table.render();
  showNoPrompt();
  frames.loadLast();

  return {
    save: () => {
      table.readBox();
      return prompts.saved();
    },
    dispose: () => {
      tryPanel.abort();
      frames.release();
      picker.frame = null;
      tryPanel.clearMasks();
    },
    layout: () => picker.layout(),
  };
}
