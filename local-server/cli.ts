#!/usr/bin/env node
/**
 * `sam2-local-server` (and `npm run serve`): the local SAM2-compatible server from the
 * command line, for the demo and for building flows with no account.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { FLAVOURS, type Flavour } from './error-bodies';
import { FAULT_HELP } from './faults';
import { DEFAULT_MODEL_ID, startLocalServer } from './server';

const DEFAULT_PORT = 8936;

const USAGE = `Usage: sam2-local-server [options]

A local server that speaks the Livepeer AI segment-anything-2 API. It is not SAM2: it
segments by colour-similarity region growing, so its masks follow real edges.

  --port <n>        port to listen on (default ${DEFAULT_PORT}, or SAM2_SERVER_PORT)
  --host <addr>     address to listen on (default 127.0.0.1)
  --token <t>       require "Authorization: Bearer <t>" (or SAM2_SERVER_TOKEN)
  --model-id <id>   the model it claims to run (default ${DEFAULT_MODEL_ID})
  --flavour <f>     error body shapes: ${FLAVOURS.join(', ')} (default runner)
  --fault <spec>    misbehave on every request; repeatable. Items joined by ";":
                    ${FAULT_HELP}
  --tls-key <file>  serve HTTPS with this PEM key...
  --tls-cert <file> ...and this PEM certificate (both or neither)
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

  const server = await startLocalServer({
    port,
    host: values.host,
    token: values.token ?? (process.env.SAM2_SERVER_TOKEN || undefined),
    modelId: values['model-id'],
    flavour,
    faults: values.fault?.join(';'),
    tls,
  });
  process.stdout.write(
    `SAM2 local server (a classical stand-in, not SAM2) listening.\n` +
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

main().catch((err: unknown) => {
  console.error(`sam2-local-server: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
