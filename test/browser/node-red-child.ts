/**
 * A real Node-RED runtime with this package loaded, in its own process: the runtime is a
 * singleton per process, and other tests load it through node-red-node-test-helper. Started by
 * node-red-host.ts over IPC; it answers with the port it listens on.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';

/**
 * Node-RED's embedding API. Required, not imported: its published types pull the editor's DOM
 * types into every file of the build.
 */
interface EmbeddedNodeRed {
  init(server: ReturnType<typeof createServer>, settings: object): void;
  start(): Promise<void>;
  stop(): Promise<void>;
  httpAdmin: express.Express;
  httpNode: express.Express;
}
const RED = require('node-red') as EmbeddedNodeRed;

process.once('message', (settings: object) => {
  const app = express();
  const server = createServer(app);
  RED.init(server, settings);
  app.use('/', RED.httpAdmin);
  app.use('/api', RED.httpNode);
  server.listen(0, '127.0.0.1', () => {
    RED.start().then(
      () => process.send?.({ port: (server.address() as AddressInfo).port }),
      (err: Error) => process.send?.({ error: err.stack ?? err.message }),
    );
  });
  process.once('disconnect', () => {
    void RED.stop().finally(() => server.close(() => process.exit(0)));
  });
});
