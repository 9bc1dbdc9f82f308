/**
 * Which of the two SAM2 ONNX exports a folder holds (shared LOCAL-MODELS.md), from its file
 * names, and then from the graphs' own input and output names once they are loaded:
 *
 * - A, samexporter (also X-AnyLabeling, AURA): `<name>.encoder.onnx` + `<name>.decoder.onnx`;
 *   the decoder takes a mask input.
 * - B, onnx-community `sam2.1-hiera-*-ONNX` (transformers.js): `onnx/vision_encoder*.onnx` +
 *   `onnx/prompt_encoder_mask_decoder*.onnx`, each with its `.onnx_data` sidecar, in variants
 *   (`_fp16`, `_quantized`, ...) side by side; no mask input.
 *
 * A folder that holds neither gets an error that lists what it holds and what was expected.
 */
import { readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { Sam2InputError } from '../errors';

export type FormatName = 'samexporter' | 'onnx-community';

export interface ModelFiles {
  format: FormatName;
  dir: string;
  encoder: string;
  decoder: string;
  /** The model's name: samexporter's file prefix, or the folder's name for onnx-community. */
  name: string;
  /** onnx-community's variant suffix ('' for fp32, 'fp16', 'quantized', ...); '' for samexporter. */
  variant: string;
}

/** Each format's graph signatures: what the loaded sessions must show. */
export const SIGNATURES: Record<FormatName, { encoderIn: string; encoderOut: string[]; decoderIn: string[]; decoderOut: string[] }> = {
  samexporter: {
    encoderIn: 'image',
    encoderOut: ['high_res_feats_0', 'high_res_feats_1', 'image_embed'],
    decoderIn: ['image_embed', 'high_res_feats_0', 'high_res_feats_1', 'point_coords', 'point_labels', 'mask_input', 'has_mask_input'],
    decoderOut: ['masks', 'iou_predictions'],
  },
  'onnx-community': {
    encoderIn: 'pixel_values',
    encoderOut: ['image_embeddings.0', 'image_embeddings.1', 'image_embeddings.2'],
    decoderIn: ['input_points', 'input_labels', 'input_boxes', 'image_embeddings.0', 'image_embeddings.1', 'image_embeddings.2'],
    decoderOut: ['iou_scores', 'pred_masks'],
  },
};

const EXPECTED =
  'samexporter\'s "<name>.encoder.onnx" and "<name>.decoder.onnx", or the onnx-community layout ' +
  '"onnx/vision_encoder.onnx" and "onnx/prompt_encoder_mask_decoder.onnx" (with their .onnx_data files)';
const WHERE =
  'Get SAM2 as ONNX files (samexporter\'s export, or an onnx-community "sam2.1-hiera-tiny-ONNX" repository; -small, -base-plus and -large too) and set the model folder to where they are';

const ENCODER_B = /^vision_encoder(?:_(.+))?\.onnx$/;
const DECODER_B = /^prompt_encoder_mask_decoder(?:_(.+))?\.onnx$/;
/** Which onnx-community variant to take when several are there and none was asked for. */
const VARIANT_PREFERENCE = ['', 'fp16', 'quantized', 'int8', 'uint8', 'q4', 'q4f16', 'bnb4'];

function list(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function shown(names: string[], max = 12): string {
  if (names.length === 0) return 'nothing';
  const head = names.slice(0, max).map((n) => JSON.stringify(n)).join(', ');
  return names.length > max ? `${head} and ${names.length - max} more` : head;
}

/** Finds the model's two files in `modelDir`; `variant` picks one of several. */
export function findModelFiles(modelDir: string, variant?: string): ModelFiles {
  if (typeof modelDir !== 'string' || modelDir.trim() === '') {
    throw new Sam2InputError('modelDir', 'is empty', `Set it to the folder that holds the model files: ${EXPECTED}`);
  }
  const dir = resolve(modelDir);
  if (!isDir(dir)) throw new Sam2InputError('modelDir', `${JSON.stringify(dir)} is not a folder on this machine`, `${WHERE}`);
  const top = list(dir);

  // A: <name>.encoder.onnx beside <name>.decoder.onnx
  const pairs = top
    .filter((f) => f.endsWith('.encoder.onnx'))
    .map((f) => f.slice(0, -'.encoder.onnx'.length))
    .filter((name) => top.includes(`${name}.decoder.onnx`));
  if (pairs.length > 0) {
    const chosen = variant ? pairs.filter((p) => p === variant) : pairs;
    if (chosen.length !== 1) {
      throw new Sam2InputError(
        'modelDir',
        variant ? `has no samexporter model named ${JSON.stringify(variant)} (it has ${shown(pairs)})` : `holds ${pairs.length} samexporter models (${shown(pairs)})`,
        'Keep one model in the folder, or name the one to use (the variant setting: the part before ".encoder.onnx")',
      );
    }
    const name = chosen[0];
    return { format: 'samexporter', dir, encoder: join(dir, `${name}.encoder.onnx`), decoder: join(dir, `${name}.decoder.onnx`), name, variant: '' };
  }

  // B: onnx/vision_encoder*.onnx beside onnx/prompt_encoder_mask_decoder*.onnx (or the onnx folder itself)
  const onnxDir = isDir(join(dir, 'onnx')) ? join(dir, 'onnx') : dir;
  const inner = onnxDir === dir ? top : list(onnxDir);
  const encoders = new Map(inner.flatMap((f) => (ENCODER_B.test(f) ? [[ENCODER_B.exec(f)?.[1] ?? '', f] as const] : [])));
  const decoders = new Map(inner.flatMap((f) => (DECODER_B.test(f) ? [[DECODER_B.exec(f)?.[1] ?? '', f] as const] : [])));
  const variants = [...encoders.keys()].filter((v) => decoders.has(v));
  if (variants.length > 0) {
    let pick: string | undefined;
    if (variant !== undefined && variant !== '') {
      pick = variants.find((v) => v === variant);
      if (pick === undefined) {
        throw new Sam2InputError(
          'modelDir',
          `has no onnx-community variant ${JSON.stringify(variant)} (it has ${shown(variants.map((v) => v || 'fp32 (no suffix)'))})`,
          'Choose one of those, or leave the variant empty for the full-precision files',
        );
      }
    } else {
      pick = VARIANT_PREFERENCE.find((v) => variants.includes(v)) ?? variants.sort()[0];
    }
    const name = basename(basename(dir) === 'onnx' ? dirname(dir) : dir);
    return { format: 'onnx-community', dir, encoder: join(onnxDir, encoders.get(pick) as string), decoder: join(onnxDir, decoders.get(pick) as string), name, variant: pick };
  }

  const onnxFiles = [...top, ...(onnxDir !== dir ? inner.map((f) => `onnx/${f}`) : [])];
  const half =
    top.some((f) => f.endsWith('.encoder.onnx') || f.endsWith('.decoder.onnx')) || encoders.size > 0 || decoders.size > 0
      ? ' (an encoder without its decoder, or the other way round)'
      : '';
  throw new Sam2InputError('modelDir', `${JSON.stringify(dir)} holds ${shown(onnxFiles)}${half}, not a SAM2 model: expected ${EXPECTED}`, WHERE);
}

/** Checks a loaded graph has the names its format needs; the error lists what it has. */
export function checkSignature(files: ModelFiles, graph: 'encoder' | 'decoder', inputNames: readonly string[], outputNames: readonly string[]): void {
  const sig = SIGNATURES[files.format];
  const wantIn = graph === 'encoder' ? [sig.encoderIn] : sig.decoderIn;
  const wantOut = graph === 'encoder' ? sig.encoderOut : sig.decoderOut;
  const missingIn = wantIn.filter((n) => !inputNames.includes(n));
  const missingOut = wantOut.filter((n) => !outputNames.includes(n));
  // An input we would not feed fails every run (e.g. an older export's `orig_im_size`): say so now.
  const extraIn = inputNames.filter((n) => !wantIn.includes(n));
  if (missingIn.length === 0 && missingOut.length === 0 && extraIn.length === 0) return;
  const file = graph === 'encoder' ? files.encoder : files.decoder;
  throw new Sam2InputError(
    'modelDir',
    `${basename(file)} is not a ${files.format} SAM2 ${graph}: it takes ${shown([...inputNames])} and gives ${shown([...outputNames])}, ` +
      `but a ${files.format} ${graph} takes ${shown(wantIn)} and gives ${shown(wantOut)}` +
      (missingIn.length === 0 && missingOut.length === 0 ? ` (${shown(extraIn)} ${extraIn.length === 1 ? 'is' : 'are'} not SAM2's)` : ''),
    `Use the ${graph} file exported with the decoder beside it (${EXPECTED})`,
  );
}
