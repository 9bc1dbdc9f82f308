#!/usr/bin/env node
/**
 * `sam2-local-server` (and `npm run serve`): the local SAM2-compatible server from the
 * command line, for the demo and for building flows with no account; with `--model DIR`, a
 * runner of our own that answers with real SAM2 from ONNX files.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { FLAVOURS, type Flavour } from './error-bodies';
import { FAULT_HELP } from './faults';
import { findModelFiles } from '../lib/local-model/formats';
import { DEFAULT_MODEL_ID, startLocalServer } from './server';

const DEFAULT_PORT = 8936;

const USAGE = `Usage: sam2-local-server [options]

A local server that speaks the Livepeer AI segment-anything-2 API. By default it is not
SAM2: it segments by colour-similarity region growing, so its masks follow real edges.
With --model it answers with real SAM2 from ONNX files on this machine.

  --model <dir>     answer with the SAM2 model in this folder (samexporter's
                    <name>.encoder.onnx + <name>.decoder.onnx, or an onnx-community
                    sam2.1-hiera-*-ONNX folder); needs onnxruntime-node or onnxruntime-web
  --runtime <r>     with --model: auto (default), node or web
  --threads <n>     with --model: CPU threads for one model run (default: every core)
  --cache-size <n>  with --model: encoded frames kept (about 16 MiB each; default 4)
  --variant <v>     with --model: which model when the folder holds several (samexporter's
                    name before .encoder.onnx, or onnx-community's fp16, quantized, ...)

  --port <n>        port to listen on (default ${DEFAULT_PORT}, or SAM2_SERVER_PORT)
  --host <addr>     address to listen on (default 127.0.0.1)
  --token <t>       require "Authorization: Bearer <t>" (or SAM2_SERVER_TOKEN)
  --model-id <id>   the model it claims to run (default ${DEFAULT_MODEL_ID}; with --model,
                    the facebook/sam2-hiera-* id its file names suggest)
  --flavour <f>     error body shapes: ${FLAVOURS.join(', ')} (default runner)
  --fault <spec>    misbehave on every request; repeatable. Items joined by ";":
                    ${FAULT_HELP}
  --tls-key <file>  serve HTTPS with this PEM key...
  --tls-cert <file> ...and this PEM certificate (both or neither)
  --gzip            gzip answers (level 1, streamed) when the request accepts it,
                    as a proxy in front of a runner would
  -h, --help        this text
`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      token: { type: 'string' },
      'model-id': { type: 'string' },
      flavour: { type: 'string' },
      fault: { type: 'string', multiple: true },
      'tls-key': { type: 'string' },
      'tls-cert': { type: 'string' },
      gzip: { type: 'boolean' },
      model: { type: 'string' },
      runtime: { type: 'string' },
      threads: { type: 'string' },
      'cache-size': { type: 'string' },
      variant: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const portText = values.port ?? process.env.SAM2_SERVER_PORT ?? String(DEFAULT_PORT);
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be a port number, not ${JSON.stringify(portText)}`);
  const flavour = (values.flavour ?? 'runner') as Flavour;
  if (!FLAVOURS.includes(flavour)) throw new Error(`--flavour must be one of ${FLAVOURS.join(', ')}, not ${JSON.stringify(values.flavour)}`);

  if (Boolean(values['tls-key']) !== Boolean(values['tls-cert'])) throw new Error('--tls-key and --tls-cert go together: give both, or neither for plain HTTP');
  const tls = values['tls-key'] && values['tls-cert'] ? { key: readFileSync(values['tls-key']), cert: readFileSync(values['tls-cert']) } : undefined;

  const whole = (name: string, text: string | undefined, min: number): number | undefined => {
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be a whole number of at least ${min}, not ${JSON.stringify(text)}`);
    return n;
  };
  if (!values.model && (values.runtime || values.threads || values['cache-size'] || values.variant)) throw new Error('--runtime, --threads, --cache-size and --variant go with --model DIR');
  const runtime = values.runtime as 'auto' | 'node' | 'web' | undefined;
  if (runtime !== undefined && !['auto', 'node', 'web'].includes(runtime)) throw new Error(`--runtime must be auto, node or web, not ${JSON.stringify(runtime)}`);
  const model = values.model
    ? { modelDir: values.model, runtime, threads: whole('threads', values.threads, 1), cacheSize: whole('cache-size', values['cache-size'], 0), variant: values.variant }
    : undefined;
  const modelId = values['model-id'] ?? (model ? runnerModelId(findModelFiles(model.modelDir, model.variant).name) : undefined);

  const server = await startLocalServer({
    port,
    host: values.host,
    token: values.token ?? (process.env.SAM2_SERVER_TOKEN || undefined),
    modelId,
    model,
    flavour,
    faults: values.fault?.join(';'),
    tls,
    gzip: values.gzip,
  });
  const about = server.model ? await server.model.describe() : undefined;
  process.stdout.write(
    (about
      ? `SAM2 local server (SAM2 from ${about.modelDir}: ${about.format} export on ${about.runtime}, ${about.threads} threads; ` +
        `a frame ${about.warmUp?.encodeMs} ms to encode, ${about.warmUp?.decodeMs} ms a prompt) listening as ${modelId}.\n`
      : `SAM2 local server (a classical stand-in, not SAM2) listening.\n`) +
      `Endpoint URL: ${server.url}\n` +
      `  POST ${server.url}/segment-anything-2    GET ${server.url}/health\n`,
  );
  const stop = (): void => {
    process.stdout.write('Stopping.\n');
    server.close().catch((err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    });
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

/** The runner's id for a model whose files are named like SAM2's sizes (clients send it as model_id). */
function runnerModelId(name: string): string {
  const size = /base[-_]?plus|b\+/i.test(name) ? 'base-plus' : (/tiny|small|large/i.exec(name)?.[0].toLowerCase() ?? '');
  return size ? `facebook/sam2-hiera-${size}` : DEFAULT_MODEL_ID;
}

main().catch((err: unknown) => {
  console.error(`sam2-local-server: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
