/**
 * sam2-endpoint: where requests go and how. One Segmenter (and so one connection pool and
 * one concurrency bound) per config node, shared by every sam2-segment that uses it.
 */
import type { NodeAPI, NodeDef } from '@node-red/registry';
import { createSegmenter, type EndpointCredentials, type EndpointSettings, type Sam2EndpointNode } from './endpoint-settings';
import { registerEditorRoutes } from './admin/routes';

export = function register(RED: NodeAPI): void {
  function Sam2Endpoint(this: Sam2EndpointNode, config: NodeDef & EndpointSettings) {
    RED.nodes.createNode(this, config);
    try {
      this.segmenter = createSegmenter(config, this.credentials.token);
    } catch (err) {
      // A bad setting must not stop the flow from deploying: each message that needs this
      // endpoint reports it through its own node, where a Catch node can see it.
      this.problem = (err as Error).message;
      this.error(`sam2-endpoint settings: ${this.problem}`);
    }
    this.on('close', (done: () => void) => {
      void (this.segmenter?.close() ?? Promise.resolve()).finally(done);
    });
  }
  registerEditorRoutes(RED);
  RED.nodes.registerType<Sam2EndpointNode, NodeDef & EndpointSettings, object, EndpointCredentials>('sam2-endpoint', Sam2Endpoint, {
    credentials: { token: { type: 'password' } },
  });
};
