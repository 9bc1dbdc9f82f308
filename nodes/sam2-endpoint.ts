/**
 * sam2-endpoint: where requests go and how. One Segmenter (and so one connection pool and
 * one concurrency bound) per config node, shared by every sam2-segment that uses it. With a CA
 * file the segmenter is built once the file is read (asynchronously, see endpoint-settings.ts);
 * `ready` settles then, and sam2-segment waits for it before the first request.
 */
import type { NodeAPI, NodeDef } from '@node-red/registry';
import { LocalSam2 } from '../lib/local-model/local-sam2';
import { clientOptions, createSegmenter, endpointUrl, originsOf, readCaFile, type EndpointCredentials, type EndpointSettings, type Sam2EndpointNode } from './endpoint-settings';
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
    node.deployed = config;
    try {
      if (config.service === 'local') {
        const model = createSegmenter(config, undefined) as LocalSam2;
        node.segmenter = model;
        // Loading a model takes seconds: start now, not at the first frame. A folder that does
        // not hold a model is said here, and again to each message that needs it.
        model.open().then(
          (info) => node.log(`SAM2 model ${info.modelId} (${info.format}) loaded on ${info.runtime} in ${info.loadMs} ms`),
          (err: Error) => {
            if (!closed) node.error(`sam2-endpoint model: ${err.message}`);
          },
        );
      } else {
        connect();
      }
    } catch (err) {
      refuse(err);
    }

    /** The Livepeer API: the URL's origin is the one the token was saved for. */
    function connect(): void {
      node.savedOrigin = originsOf(endpointUrl(config));
      // Checked now, so a bad setting is reported at deploy, not once the CA file is read.
      clientOptions(config, node.credentials.token);
      // The segmenter exists at once (its slots are shared by the nodes' queues); with a CA file
      // its connections wait for the read, and `ready` says when it is over.
      const ca = config.caFile ? readCaFile(config.caFile) : undefined;
      ca?.catch(() => undefined); // reported through `ready` below, or moot if the segmenter cannot be made
      node.segmenter = createSegmenter(config, node.credentials.token, ca);
      if (ca) {
        node.ready = ca.then(
          () => undefined,
          (err: unknown) => {
            if (!closed) refuse(err);
          },
        );
      }
    }
    node.on('close', (done: () => void) => {
      closed = true;
      void (node.segmenter?.close() ?? Promise.resolve()).finally(done);
    });
  }
  registerEditorRoutes(RED);
  RED.nodes.registerType<Sam2EndpointNode, NodeDef & EndpointSettings, object, EndpointCredentials>('sam2-endpoint', Sam2Endpoint, {
    credentials: { token: { type: 'password' } },
  });
};
