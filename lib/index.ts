/**
 * The package's main entry: everything that works without Node-RED. The nodes use these
 * same modules.
 */
export { Sam2Client, DEFAULT_MODEL_ID, DEFAULT_URL } from './client';
export type { Sam2ClientOptions } from './client';
export { LocalSam2 } from './local-model/local-sam2';
export type { LocalSam2Options, LocalModelInfo, LocalModelDescription, LocalModelStats, LowResResult } from './local-model/local-sam2';
export type { Segmenter, SegmenterLoad, SegmentOptions, CallOptions, RetryInfo, Progress } from './segmenter';
export { decodeSegmentResponse } from './decode';
export type { DecodeOptions, DecodedResponse, DecodedArray, MaskDecoding } from './decode';
export { Sam2InputError, Sam2ApiError, Sam2DecodeError, Sam2NetworkError } from './errors';
export { maskFromLogits, resizeBilinear } from './bilinear';
export { maskStats } from './mask-stats';
export type { MaskStats } from './mask-stats';
export { maskToPng } from './mask-png';
export { maskToRle, rleToMask } from './rle';
export type { CocoRle } from './rle';
export { maskToPolygons } from './polygons';
export type { MaskPolygon } from './polygons';
export { renderOverlay, renderCutout } from './overlay';
export { formatMask } from './mask-formats';
export type { FormattedMask, FormatOptions, MaskFormat } from './mask-formats';
export type { Prompts, Sam2Mask, SegmentResult } from './types';
export { Sam2Tracker } from './tracker';
export type { Track, TrackEvent, TrackEventType, TrackState, LostReason, TrackerFrame, TrackerOptions, UpdateOptions } from './tracker';
