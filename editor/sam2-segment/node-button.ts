/**
 * Where the live preview button sits on the workspace. Node-RED draws a node's button on its
 * left (or, with `align: 'right'`, its right) edge, where the inject node has no input port
 * and the debug node no output port; this node has both, and there the button lies under the
 * input port, more so while it is off (Node-RED slides a toggle that is off towards the node).
 * So the button goes just left of the port, in the same place on or off (Node-RED fades it when
 * off): a click on it is a click on the button, and a press on the port starts a wire. Its grey
 * mount stays where Node-RED draws it for a button that is on, no further out towards the nodes
 * wired in from the left; the button moves within it, to the mount's left end.
 */

/** Between the button and the input port, and between the mount's left end and the button, in workspace pixels. */
const GAP = 2;

/** Places node group `el`'s button clear of its input port, when the editor has drawn it elsewhere. */
export function placeButton(el: SVGGElement): void {
  const mount = el.querySelector('.red-ui-flow-node-button');
  const button = el.querySelector('.red-ui-flow-node-button-button');
  const port = el.querySelector('.red-ui-flow-port-input .red-ui-flow-port');
  if (!mount || !button || !port) {
    return;
  }
  // The port is centred on the node's left edge, x 0.
  const x = -(Number(port.getAttribute('width')) / 2 + GAP + Number(button.getAttribute('width')) + GAP);
  if (!Number.isFinite(x)) {
    return;
  }
  const drawn = /translate\(\s*[-\d.]+\s*[, ]\s*([-\d.]+)\s*\)/.exec(mount.getAttribute('transform') ?? '');
  const placed = `translate(${x},${drawn ? drawn[1] : 2})`;
  if (mount.getAttribute('transform') !== placed) {
    mount.setAttribute('transform', placed);
  }
  if (button.getAttribute('x') !== String(GAP)) {
    button.setAttribute('x', String(GAP));
  }
}

/** Once, when the node type joins the palette: every time the editor draws a sam2-segment, place its button. */
export function placeButtons(): void {
  RED.hooks.add('viewRedrawNode.sam2-segment', ({ node, el }) => {
    if (node.type === 'sam2-segment') {
      placeButton(el);
    }
  });
}
