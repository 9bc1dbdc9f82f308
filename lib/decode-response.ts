/**
 * The streaming decoder's old path, kept so that existing imports keep working; the
 * decoder itself is in lib/decode/, one layer per file.
 */
export { decodeSegmentResponse } from './decode';
export type { DecodeOptions, DecodedArray, DecodedResponse, MaskDecoding } from './decode';
