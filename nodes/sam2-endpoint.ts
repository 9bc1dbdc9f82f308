/**
 * sam2-endpoint: where requests go and how. One Sam2Client (and so one connection pool and
 * one concurrency bound) per config node, shared by every sam2-segment that uses it. With a CA
 * file the client is built once the file is read (asynchronously, see endpoint-settings.ts);
 * `ready` settles then, and sam2-segment waits for it before the first request.
 */
import type { NodeAPI, NodeDef } from '@node-red/registry';
import { Sam2Client, type Sam2ClientOptions } from '../lib/client';
import { clientOptions, endpointUrl, originOf, readCaFile, type EndpointCredentials, type EndpointSettings, type Sam2EndpointNode } from './endpoint-settings';
import { registerEditorRoutes } from './admin/routes';

export = function register(RED: NodeAPI): void {
  function Sam2Endpoint(this: Sam2EndpointNode, config: NodeDef & EndpointSettings) {
    RED.nodes.createNode(this, config);
    const node = this;
    let closed = false;
    // A bad setting must not stop the flow from deploying: each message that needs this
    // endpoint reports it through its own node, where a Catch node can see it.
    const refuse = (err: unknown): void => {
      node.problem = err instanceof Error ? err.message : String(err);
      node.error(`sam2-endpoint settings: ${node.problem}`);
      node.status({ fill: 'red', shape: 'ring', text: node.problem.slice(0, 60) });
    };
    const build = (options: Sam2ClientOptions): void => {
      try {
        node.client = new Sam2Client(options);
      } catch (err) {
        refuse(err);
      }
    };
    try {
      node.savedOrigin = originOf(endpointUrl(config));
      const options = clientOptions(config, node.credentials.token);
      node.concurrency = options.maxConcurrency;
      if (!config.caFile) build(options);
      else {
        node.ready = readCaFile(config.caFile).then(
          (ca) => {
            if (!closed) build({ ...options, ca });
          },
          refuse,
        );
      }
    } catch (err) {
      refuse(err);
    }
    node.on('close', (done: () => void) => {
      closed = true;
      void (node.ready ?? Promise.resolve())
        .then(() => node.client?.close())
        .finally(done);
    });
  }
  registerEditorRoutes(RED);
  RED.nodes.registerType<Sam2EndpointNode, NodeDef & EndpointSettings, object, EndpointCredentials>('sam2-endpoint', Sam2Endpoint, {
    credentials: { token: { type: 'password' } },
  });
};
