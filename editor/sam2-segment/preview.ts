/**
 * The live preview on the workspace: the node's button turns it on or off in the running node
 * (POST sam2-segment/<id>/preview), and while it is on the runtime publishes a small image on
 * comms topic `sam2-segment/preview/<id>` that is drawn under the node.
 */
import { failureMessage, setPreview } from '../shared/admin';

const PREVIEW_CLASS = 'sam2-segment-preview';
const SVG_NS = 'http://www.w3.org/2000/svg';

/** What the runtime publishes (nodes/admin/frame-link.ts): `{ enabled: false }`, or on with a data URL and its size. */
interface PreviewMessage {
  enabled?: boolean;
  image?: string;
  width?: number;
  height?: number;
}

export interface PreviewNode extends RED.EditorNode {
  preview?: boolean;
}

/** Draws (or, with null or `enabled: false`, removes) the preview under node `id`. */
export function showPreview(id: string, data: PreviewMessage | null): void {
  const group = document.getElementById(id);
  const node = RED.nodes.node(id) as PreviewNode | null;
  if (!group) {
    return;
  }
  let image = group.querySelector(`image.${PREVIEW_CLASS}`);
  if (!data || !data.enabled || !node || !node.preview) {
    if (image) {
      image.remove();
    }
    return;
  }
  if (!image) {
    image = document.createElementNS(SVG_NS, 'image');
    image.setAttribute('class', PREVIEW_CLASS);
    image.setAttribute('pointer-events', 'none');
    group.appendChild(image);
  }
  // Below the node's status text.
  image.setAttribute('x', '0');
  image.setAttribute('y', String((node.h || 30) + 18));
  image.setAttribute('width', String(data.width));
  image.setAttribute('height', String(data.height));
  image.setAttribute('href', String(data.image));
}

/** Switches the running node's live preview to the editor's `preview` value, and says so. */
export function sendPreview(node: PreviewNode): void {
  const enabled = node.preview === true;
  const label = RED.utils.sanitize(node.name || node._('sam2-segment.paletteLabel'));
  if (!enabled) {
    showPreview(node.id, null);
  }
  setPreview(
    node.id,
    enabled,
    () => {
      RED.notify(node._(enabled ? 'sam2-segment.preview.on' : 'sam2-segment.preview.off', { label }), { type: 'success', timeout: 2000 });
    },
    (xhr) => {
      if (xhr.status === 404) {
        RED.notify(node._('sam2-segment.preview.notDeployed'), { type: 'warning', timeout: 4000 });
      } else {
        RED.notify(node._('sam2-segment.preview.failed', { message: failureMessage(xhr, String(xhr.status)) }), 'error');
      }
    },
  );
}

/** Once, when the node type joins the palette: draw whatever previews the runtime sends. */
export function listenForPreviews(): void {
  RED.comms.subscribe('sam2-segment/preview/#', (topic, data) => {
    showPreview(topic.slice(topic.lastIndexOf('/') + 1), data as PreviewMessage | null);
  });
}
