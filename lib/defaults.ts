/**
 * Every default a user sees, in one place: the client and the local model use these, the
 * nodes apply them to what a flow leaves out, the editor's dialogs show them (bundled into the
 * editor at build, not written again there), and README's tables state them.
 */

/** The Livepeer community gateway: chosen only by name (service `community`), never by omission. */
export const COMMUNITY_URL = 'https://dream-gateway.livepeer.cloud';
export const STUDIO_URL = 'https://livepeer.studio/api/beta/generate';
export const DEFAULT_MODEL_ID = 'facebook/sam2-hiera-large';

/** A sam2-endpoint, and a Sam2Client's options, when nothing else is said. */
export const ENDPOINT_DEFAULTS = {
  modelId: DEFAULT_MODEL_ID,
  /** Seconds for each whole attempt, from sending to the last byte. */
  timeoutS: 120,
  connectTimeoutS: 10,
  /** Seconds an answer may go without a byte. */
  stallTimeoutS: 30,
  /** Requests in flight at once across every node on the endpoint. */
  concurrency: 2,
  retries: 2,
  efficient: true,
  /** Side of the square upload in efficient mode: what SAM2 sees is 1024; smaller for slow links. */
  uploadSize: 1024,
  /** Largest answer accepted, MB (of 1024 x 1024 bytes). */
  maxResponseMB: 1024,
  /** Largest image accepted, megapixels (of 1,000,000). */
  maxInputMP: 50,
  /** Service `local` (a model on this machine): which onnxruntime; `auto` takes onnxruntime-node, else onnxruntime-web. */
  runtime: 'auto',
  /** CPU threads for one model run; 0: every core. */
  threads: 0,
  /** Encoded frames kept for later prompts on the same frame, about 16 MiB each. */
  cacheSize: 4,
} as const;

/** A sam2-segment's settings when the flow leaves them out. */
export const SEGMENT_DEFAULTS = {
  property: 'payload',
  /** `'auto'`: three candidates for a single point without a box, one for a box or several points. */
  multimask: 'auto',
  coordinates: 'pixels',
  queue: 'latest',
  queueLimit: 10,
  /** Most entries in msg.sam2.objects: each is a request whose answer is held until the last ends. */
  maxObjects: 100,
  select: 'all',
  format: 'png',
  /** Polygon simplification, pixels. */
  tolerance: 1,
  /** Logit above which a pixel is foreground: SAM2's own. */
  threshold: 0,
  /**
   * Magenta: red and blue with no green, a hue no part of the spectrum has, so it is rare in
   * what cameras see (foliage, sky and water, skin, wood and brick, red and orange things,
   * grey roads and walls) and stands apart from each. A red tint vanished on the demo's own
   * red ball; cyan or blue would on sky, water and pools. The outline (lib/overlay.ts) is
   * dark and light, so the mask shows even on a magenta object.
   */
  overlayColor: '#ff00ff',
  overlayOpacity: 0.5,
  overlayOutline: 2,
  overlayFormat: 'jpeg',
  /** "Track across frames" (lib/tracker.ts): each side of a track's last box grows by this share of its size. */
  trackMargin: 0.5,
  /** ...a tracking answer scoring below this loses its track. */
  trackMinScore: 0.5,
  /** ...and a lost track ends after this many frames. */
  trackMaxLost: 5,
  /**
   * The live preview under the node in the editor (off until its button is pressed): its long
   * side in pixels, and at most one every `previewIntervalMs`, the latest answer winning.
   * 160 px is a node's width and about 5 KB of JPEG; twice a second keeps a camera at 10 fps
   * from filling the editor's websocket.
   */
  previewSize: 160,
  previewMinSize: 32,
  previewMaxSize: 640,
  previewIntervalMs: 500,
} as const;

/**
 * A sam2-endpoint's properties that make its backend: the editor's Try sends them as the editor
 * has them (never the token), and the runtime compares them with the deployed endpoint's.
 */
export const BACKEND_SETTINGS = [
  'service', 'url', 'modelId', 'timeout', 'concurrency', 'retries', 'efficient', 'uploadSize', 'maxResponseMB', 'maxInputMP', 'caFile', 'allowVector', 'modelDir', 'runtime', 'threads', 'cacheSize',
] as const;
