/**
 * The sam2-segment node in the editor: its properties and their checks, labels, the live
 * preview button (node-button.ts places it), and its dialog (dialog.ts and the modules beside
 * it). The dialog's template is nodes/sam2-segment.html; its words are in
 * nodes/locales/<lang>/sam2-segment.*.
 *
 * Adding a setting: a row in the template (`node-input-<name>`), its default in
 * lib/defaults.ts, an entry in `defaults` below and in SegmentNode; Node-RED then loads and
 * saves the field itself. A row shown only for some choices: `showWhen` in dialog.ts.
 */
import { SEGMENT_DEFAULTS } from '../../lib/defaults';
import { absent, between, isNumber, whole } from '../shared/validators';
import { openDialog, type OpenDialog } from './dialog';
import { multimaskValue } from './multimask';
import { placeButtons } from './node-button';
import { listenForPreviews, sendPreview, type PreviewNode } from './preview';

/** The node's properties as the editor holds them; a flow written by hand may leave any out. */
export interface SegmentNode extends PreviewNode {
  name: string;
  endpoint: string;
  property: string;
  points: unknown;
  box: unknown;
  multimask?: boolean | 'auto';
  coordinates: string;
  queue: string;
  queueLimit: number | string;
  maxObjects?: number | string;
  dropOutput: boolean;
  select: string;
  format: string;
  tolerance: number | string;
  threshold: number | string;
  overlay: boolean;
  overlayColor: string;
  overlayOpacity: number | string;
  overlayOutline: number | string;
  overlayFormat: string;
  cutout: boolean;
  track: boolean;
  trackMargin: number | string;
  trackMinScore: number | string;
  trackMaxLost: number | string;
  /** The preview under the node, pixels on its long side. */
  previewSize: number | string;
  /** 2 with the output for dropped messages, else 1. */
  outputs: number;
}

function validPoints(v: unknown): boolean {
  return absent(v) || (Array.isArray(v) && v.every((p: { x?: unknown; y?: unknown; label?: unknown } | null) =>
    !!p && isNumber(p.x) && isNumber(p.y) && (p.label === 0 || p.label === 1)));
}

function validBox(v: unknown): boolean {
  return absent(v) || (Array.isArray(v) && v.length === 4 && v.every(isNumber) && v[2] > v[0] && v[3] > v[1]);
}

/** The open dialog, for oneditsave, oneditcancel and oneditresize. */
let dialog: OpenDialog | null = null;

RED.nodes.registerType<SegmentNode>('sam2-segment', {
  category: 'analysis',
  color: '#9fc6dc',
  icon: 'sam2.svg',
  inputs: 1,
  outputs: 1,
  defaults: {
    name: { value: '' },
    endpoint: { value: '', type: 'sam2-endpoint', required: true },
    property: { value: SEGMENT_DEFAULTS.property, required: true },
    points: { value: [], validate: validPoints },
    box: { value: null, validate: validBox },
    multimask: { value: SEGMENT_DEFAULTS.multimask },
    coordinates: { value: SEGMENT_DEFAULTS.coordinates },
    queue: { value: SEGMENT_DEFAULTS.queue },
    queueLimit: { value: SEGMENT_DEFAULTS.queueLimit, validate: RED.validators.number(true) },
    maxObjects: { value: SEGMENT_DEFAULTS.maxObjects, validate: RED.validators.number(true) },
    dropOutput: { value: false },
    select: { value: SEGMENT_DEFAULTS.select },
    format: { value: SEGMENT_DEFAULTS.format },
    tolerance: { value: SEGMENT_DEFAULTS.tolerance, validate: RED.validators.number(true) },
    threshold: { value: SEGMENT_DEFAULTS.threshold, validate: RED.validators.number(true) },
    overlay: { value: false },
    overlayColor: { value: SEGMENT_DEFAULTS.overlayColor },
    overlayOpacity: { value: SEGMENT_DEFAULTS.overlayOpacity, validate: between(0, 1) },
    overlayOutline: { value: SEGMENT_DEFAULTS.overlayOutline, validate: whole(0) },
    overlayFormat: { value: SEGMENT_DEFAULTS.overlayFormat },
    cutout: { value: false },
    track: { value: false },
    trackMargin: { value: SEGMENT_DEFAULTS.trackMargin, validate: between(0, 100) },
    trackMinScore: { value: SEGMENT_DEFAULTS.trackMinScore, validate: between(0, 1) },
    trackMaxLost: { value: SEGMENT_DEFAULTS.trackMaxLost, validate: whole(0) },
    preview: { value: false },
    previewSize: { value: SEGMENT_DEFAULTS.previewSize, validate: (v: unknown) => v === undefined || v === '' || (Number.isInteger(Number(v)) && Number(v) >= 32 && Number(v) <= 640) },
    outputs: { value: 1 },
  },
  paletteLabel() {
    return this._('sam2-segment.paletteLabel');
  },
  label() {
    return this.name || this._('sam2-segment.paletteLabel');
  },
  labelStyle() {
    return this.name ? 'node_label_italic' : '';
  },
  outputLabels(i) {
    return this._(i === 0 ? 'sam2-segment.outputLabels.masks' : 'sam2-segment.outputLabels.dropped');
  },
  button: {
    toggle: 'preview',
    onclick() {
      // The editor has already flipped `preview`: tell the running node, and keep the
      // new value with the flow so it survives the next deploy.
      const node = this;
      RED.history.push({
        t: 'edit',
        node,
        changes: { preview: !node.preview },
        dirty: RED.nodes.dirty(),
        changed: node.changed,
        callback: (ev) => {
          sendPreview(ev.node);
        },
      });
      node.changed = true;
      node.dirty = true;
      RED.nodes.dirty(true);
      RED.view.redraw();
      sendPreview(node);
    },
  },
  onpaletteadd() {
    listenForPreviews();
    placeButtons();
  },
  oneditprepare() {
    dialog = openDialog(this);
  },
  oneditsave() {
    if (dialog) {
      const prompts = dialog.save();
      dialog.dispose();
      dialog = null;
      this.points = prompts.points;
      this.box = prompts.box;
      this.multimask = multimaskValue();
    }
    $('#node-input-outputs').val($('#node-input-dropOutput').prop('checked') ? 2 : 1);
  },
  oneditcancel() {
    if (dialog) {
      dialog.dispose();
      dialog = null;
    }
  },
  oneditresize() {
    if (dialog) {
      dialog.layout();
    }
  },
});
