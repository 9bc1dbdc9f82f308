/**
 * The value each node setting takes when a flow leaves it out, in one place: the editor's
 * dialogs are bundled with this module (their `defaults` and placeholders come from it), and
 * the runtime and README are to agree with it. Keyed by the nodes' own property names and in
 * the units the dialogs show (seconds, MB, megapixels), not the client's options.
 *
 * Imports nothing: it is compiled into the package for Node and bundled into the browser.
 */

/** sam2-endpoint: what an endpoint uses for a setting left empty. */
export const ENDPOINT_DEFAULTS = {
  service: 'community',
  modelId: 'facebook/sam2-hiera-large',
  /** Seconds for each whole attempt. */
  timeout: 120,
  /** Requests in flight at once. */
  concurrency: 2,
  /** Further attempts after a failed one. */
  retries: 2,
  /** Upload images above 1024x1024 at 1024x1024 and rebuild the masks from logits. */
  efficient: true,
  /** Largest answer accepted, in MB. */
  maxResponseMB: 1024,
  /** Largest image accepted, in megapixels. */
  maxInputMP: 50,
} as const;

/** sam2-segment: what a node uses for a setting left empty. */
export const SEGMENT_DEFAULTS = {
  /** Message property holding the image. */
  property: 'payload',
  multimask: true,
  /** `pixels` or `relative` (0..1). */
  coordinates: 'pixels',
  /** `latest`, `queue` or `drop-new`. */
  queue: 'latest',
  /** Messages held under the `queue` policy. */
  queueLimit: 10,
  /** A second output for the messages the queue policy drops. */
  dropOutput: false,
  /** `all` or `best`. */
  select: 'all',
  /** `png`, `raw`, `rle` or `polygons`. */
  format: 'png',
  /** Polygon simplification, in pixels. */
  tolerance: 1,
  /** Mask logit threshold. */
  threshold: 0,
  /** Also send the frame with the mask drawn over it. */
  overlay: false,
  overlayColor: '#ff3b30',
  /** 0 (outline only) to 1. */
  overlayOpacity: 0.5,
  /** Outline width in pixels, 0 for none. */
  overlayOutline: 2,
  /** `jpeg` or `png`. */
  overlayFormat: 'jpeg',
  /** Also send a cut-out of the best mask, transparent around it. */
  cutout: false,
} as const;
