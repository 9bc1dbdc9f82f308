/**
 * Loads an ONNX runtime only when a local model is first used: `onnxruntime-node` (native,
 * fastest; CUDA on linux x64 where the user has its files) or `onnxruntime-web` (WebAssembly,
 * no native build: Alpine, the Home Assistant add-on). Both are optional peer dependencies, so
 * a palette install without them stays small; a user without either gets an error naming the
 * package to install. Both speak onnxruntime-common's API; the few parts of it used here are
 * typed below so this package's types never depend on a package that may be absent.
 */
import { readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { Sam2InputError } from '../errors';

export type RuntimeChoice = 'auto' | 'node' | 'web';
export type RuntimePackage = 'onnxruntime-node' | 'onnxruntime-web';

export type TensorType = 'float32' | 'float16' | 'int64';
export type TensorData = Float32Array | Uint16Array | BigInt64Array;

export interface OrtTensor {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: unknown;
}

export interface OrtValueMetadata {
  name: string;
  isTensor: boolean;
  type?: string;
  shape?: ReadonlyArray<number | string>;
}

export interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata?: readonly OrtValueMetadata[];
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}

interface OrtModule {
  InferenceSession: { create(path: string | Uint8Array, options?: Record<string, unknown>): Promise<OrtSession> };
  Tensor: new (type: string, data: TensorData, dims: readonly number[]) => OrtTensor;
  env: { wasm?: { numThreads?: number; simd?: boolean }; logLevel?: string };
}

export interface Runtime {
  name: RuntimePackage;
  /** Why `auto` did not take onnxruntime-node, when it fell back to onnxruntime-web. */
  note?: string;
  threads: number;
  createSession(file: string): Promise<OrtSession>;
  tensor(type: TensorType, data: TensorData, dims: readonly number[]): OrtTensor;
}

export interface RuntimeOptions {
  runtime?: RuntimeChoice;
  threads?: number;
  /** onnxruntime-node only, e.g. ['cuda', 'cpu']; default CPU. */
  executionProviders?: string[];
}

const INSTALL_HINT =
  'Install one in the folder Node-RED runs from (usually ~/.node-red): "npm install onnxruntime-node" ' +
  '(native, fastest) or "npm install onnxruntime-web" (WebAssembly: works on Alpine and in the Home Assistant add-on)';

/** `require` of an optional package; the cause tells "not installed" from "installed but broken". */
function tryRequire(name: RuntimePackage): { module?: OrtModule; missing: boolean; error?: Error } {
  try {
    return { module: require(name) as OrtModule, missing: false };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const missing = e.code === 'MODULE_NOT_FOUND' && e.message.includes(`'${name}'`);
    return { missing, error: e };
  }
}

/** The web runtime's thread count is process-wide and fixed at its first session: set it once. */
let webThreadsSet: number | undefined;

function nodeRuntime(ort: OrtModule, threads: number, providers: string[] | undefined): Runtime {
  return {
    name: 'onnxruntime-node',
    threads,
    createSession: (file) =>
      ort.InferenceSession.create(file, {
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        executionProviders: providers ?? ['cpu'],
        graphOptimizationLevel: 'all',
      }),
    tensor: (type, data, dims) => new ort.Tensor(type, data, dims),
  };
}

function webRuntime(ort: OrtModule, threads: number, note?: string): Runtime {
  const wasm = (ort.env.wasm ??= {});
  if (webThreadsSet === undefined) {
    wasm.numThreads = threads;
    webThreadsSet = threads;
  }
  return {
    name: 'onnxruntime-web',
    note,
    threads: webThreadsSet,
    // onnxruntime-web reads the model file itself but sees no folder: an `.onnx_data` sidecar
    // must be mounted under the name the graph gives it (the file's own name, by convention).
    createSession: (file) =>
      ort.InferenceSession.create(file, { executionProviders: ['wasm'], graphOptimizationLevel: 'all', externalData: sidecars(file) }),
    tensor: (type, data, dims) => new ort.Tensor(type, data, dims),
  };
}

/** `<file>_data` or `<file>.data` files beside the model: its external weights. */
function sidecars(file: string): Array<{ path: string; data: string }> {
  const name = basename(file);
  let names: string[] = [];
  try {
    names = readdirSync(dirname(file));
  } catch {
    return [];
  }
  return names.filter((n) => n.startsWith(`${name}_data`) || n.startsWith(`${name}.data`)).map((n) => ({ path: n, data: join(dirname(file), n) }));
}

export function defaultThreads(): number {
  return Math.max(1, availableParallelism());
}

/** The runtime asked for, or for `auto` the native one and then the WebAssembly one. */
export function loadRuntime(options: RuntimeOptions = {}): Runtime {
  const choice = options.runtime ?? 'auto';
  if (choice !== 'auto' && choice !== 'node' && choice !== 'web') {
    throw new Sam2InputError('runtime', `is ${JSON.stringify(choice)}`, 'Use "auto", "node" (onnxruntime-node) or "web" (onnxruntime-web)');
  }
  const threads = options.threads ?? defaultThreads();
  if (!Number.isInteger(threads) || threads < 1) {
    throw new Sam2InputError('threads', `is ${JSON.stringify(threads)}, not a whole number of at least 1`, 'Set threads to how many CPU cores the model may use, e.g. 4 on a Raspberry Pi 4');
  }
  if (choice !== 'web') {
    const node = tryRequire('onnxruntime-node');
    if (node.module) return nodeRuntime(node.module, threads, options.executionProviders);
    if (choice === 'node') {
      throw new Sam2InputError(
        'runtime',
        node.missing ? 'is "node" but the package onnxruntime-node is not installed' : `is "node" but onnxruntime-node does not load here (${firstLine(node.error)})`,
        node.missing
          ? 'Run "npm install onnxruntime-node" in the folder Node-RED runs from (usually ~/.node-red), or choose the "web" runtime with onnxruntime-web'
          : 'Its native library may not exist for this system (e.g. Alpine): install onnxruntime-web and choose the "web" runtime',
      );
    }
    const web = tryRequire('onnxruntime-web');
    if (web.module) {
      const note = node.missing ? undefined : `onnxruntime-node is installed but does not load here (${firstLine(node.error)}), so onnxruntime-web runs the model`;
      return webRuntime(web.module, threads, note);
    }
    throw new Sam2InputError(
      'runtime',
      'needs onnxruntime-node or onnxruntime-web to run the model, and neither is installed' + (node.missing ? '' : ` (onnxruntime-node is there but does not load: ${firstLine(node.error)})`),
      INSTALL_HINT,
    );
  }
  const web = tryRequire('onnxruntime-web');
  if (web.module) return webRuntime(web.module, threads);
  throw new Sam2InputError(
    'runtime',
    web.missing ? 'is "web" but the package onnxruntime-web is not installed' : `is "web" but onnxruntime-web does not load (${firstLine(web.error)})`,
    'Run "npm install onnxruntime-web" in the folder Node-RED runs from (usually ~/.node-red), or choose the "node" runtime with onnxruntime-node',
  );
}

function firstLine(err: Error | undefined): string {
  return (err?.message ?? 'unknown error').split('\n')[0];
}
