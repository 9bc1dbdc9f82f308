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
  /** Largest answer accepted, MB (of 1024 x 1024 bytes). */
  maxResponseMB: 1024,
  /** Largest image accepted, megapixels (of 1,000,000). */
  maxInputMP: 50,
} as const;

/** A sam2-segment's settings when the flow leaves them out. */
export const SEGMENT_DEFAULTS = {
  property: 'payload',
  multimask: true,
  coordinates: 'pixels',
  queue: 'latest',
  queueLimit: 10,
  select: 'all',
  format: 'png',
  /** Polygon simplification, pixels. */
  tolerance: 1,
  /** Logit above which a pixel is foreground: SAM2's own. */
  threshold: 0,
  overlayColor: '#ff3b30',
  overlayOpacity: 0.5,
  overlayOutline: 2,
  overlayFormat: 'jpeg',
  /** "Track across frames" (lib/tracker.ts): each side of a track's last box grows by this share of its size. */
  trackMargin: 0.5,
  /** ...a tracking answer scoring below this loses its track. */
  trackMinScore: 0.5,
  /** ...and a lost track ends after this many frames. */
  trackMaxLost: 5,
} as const;
