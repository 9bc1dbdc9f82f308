/**
 * sam2-segment: a frame in, masks out. The work happens in lib/: client.ts sends the frame and
 * decode-response.ts reads the answer; segment-message.ts maps messages to requests and back.
 * This file is the Node-RED side only: queueing, status, and reporting every outcome.
 */
import { join } from 'node:path';
import type { Node, NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from '@node-red/registry';
import { Sam2InputError } from '../lib/errors';
import { imageBytes, uprightImage } from '../lib/image-input';
import { FrameQueue, type DropReason, type QueuePolicy } from '../lib/frame-queue';
import type { RetryInfo } from '../lib/client';
import { buildOutput, imageProperty, outputChoice, perObject, readOverrides, requestOptions, type SegmentSettings } from './segment-message';
import type { Sam2EndpointNode } from './endpoint-settings';
import { rangeSetting } from './setting-ranges';
import { attachEditor } from './admin/frame-link';
import { registerEditorRoutes } from './admin/routes';

interface SegmentConfig extends NodeDef, SegmentSettings {
  endpoint: string;
  /** Message property holding the image, `payload` by default. */
  property?: string;
  queue?: QueuePolicy;
  queueLimit?: number | string;
  /** Send dropped messages to a second output. */
  dropOutput?: boolean;
  /** Most entries in msg.sam2.objects (each is a request). */
  maxObjects?: number | string;
}

interface CheckedSettings {
  property: string;
  queueLimit: number;
  maxObjects: number;
}

/** The node's own settings, each checked against its range at deploy. */
function checkSettings(config: SegmentConfig): CheckedSettings {
  rangeSetting(config.threshold, { name: 'Threshold', min: -1000, max: 1000, fallback: 0 });
  rangeSetting(config.tolerance, { name: 'Tolerance', min: 0, max: 1000, fallback: 1, unit: 'pixels' });
  rangeSetting(config.overlayOpacity, { name: 'Opacity', min: 0, max: 1, fallback: 0.5 });
  rangeSetting(config.overlayOutline, { name: 'Outline', min: 0, max: 100, integer: true, fallback: 0, unit: 'pixels' });
  return {
    property: imageProperty(config.property),
    queueLimit: rangeSetting(config.queueLimit, { name: 'Queue up to', min: 1, max: 10000, integer: true, fallback: 10, unit: 'messages' }),
    maxObjects: rangeSetting(config.maxObjects, { name: 'Max objects', min: 1, max: 1000, integer: true, fallback: 100, unit: 'objects per message' }),
  };
}

interface Job {
  msg: NodeMessageInFlow;
  send: (msg: NodeMessage | Array<NodeMessage | null>) => void;
  done: (err?: Error) => void;
}

const DROP_WORDS: Record<DropReason, string> = {
  replaced: 'replaced by a newer frame while busy',
  busy: 'arrived while busy',
  full: 'the queue was full',
  closed: 'the node was stopped',
};

function shorten(text: string, max = 60): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export = function register(RED: NodeAPI): void {
  // The example flows read their sample photos from $env('SAM2_EXAMPLES_DIR'): an imported flow
  // cannot know where npm put this package. A value the user set is kept.
  process.env.SAM2_EXAMPLES_DIR ??= join(__dirname, '..', '..', 'examples');

  function Sam2Segment(this: Node, config: SegmentConfig) {
    RED.nodes.createNode(this, config);
    const node = this;
    const editor = attachEditor(RED, node, config);
    const endpoint = RED.nodes.getNode(config.endpoint) as Sam2EndpointNode | null;
    let settings: CheckedSettings = { property: 'payload', queueLimit: 10, maxObjects: 100 };
    let problem: string | undefined;
    try {
      settings = checkSettings(config);
    } catch (err) {
      problem = `sam2-segment settings: ${(err as Error).message}`;
    }
    const { property, queueLimit, maxObjects } = settings;
    const closing = new AbortController();
    let dropped = 0;
    let droppedSinceSent = 0;
    let lastOutcome = '';

    const showLoad = () => {
      if (closing.signal.aborted) return;
      const waiting = queue.queued ? `, ${queue.queued} waiting` : '';
      const drops = dropped ? ` · ${dropped} dropped` : '';
      if (queue.active) node.status({ fill: 'blue', shape: 'dot', text: `segmenting (${queue.active} in flight${waiting})${drops}` });
      else if (lastOutcome) node.status({ fill: 'green', shape: 'dot', text: `${lastOutcome}${drops}` });
    };

    const queue = new FrameQueue<Job>({
      policy: config.queue || 'latest',
      limit: queueLimit,
      concurrency: endpoint?.client?.load.max ?? endpoint?.concurrency ?? 1,
      work: (job) => segment(job),
      onDrop: (job, reason) => {
        if (reason === 'full') {
          job.done(new Error(`sam2-segment: message refused, the queue already holds ${queueLimit} messages; raise "Queue limit" or choose the "latest" policy`));
          return;
        }
        if (reason !== 'closed') {
          dropped++;
          droppedSinceSent++;
          if (config.dropOutput) job.send([null, { ...job.msg, sam2Dropped: { reason: DROP_WORDS[reason], dropped } }]);
        }
        job.done();
      },
      onChange: showLoad,
    });

    async function segment({ msg, send, done }: Job): Promise<void> {
      const started = Date.now();
      let bytes: Buffer | undefined;
      let imageField = '';
      try {
        if (problem) throw new Error(problem);
        if (!endpoint) throw new Error('sam2-segment has no sam2-endpoint: open the node and choose or add one');
        await endpoint.ready;
        if (!endpoint.client) throw new Error(`sam2-endpoint "${endpoint.name || endpoint.id}" is misconfigured: ${endpoint.problem}`);
        const overrides = readOverrides(msg.sam2);
        const several = overrides.objects !== undefined;
        const objects = perObject(overrides, maxObjects).map((own) => requestOptions(config, own));
        const choice = outputChoice(config, overrides);
        const field = `msg.${property}`;
        imageField = field;
        const image = imageBytes(RED.util.getMessageProperty(msg, property), field);
        bytes = image;
        const client = endpoint.client;
        const call = {
          signal: closing.signal,
          maxObjects,
          imageField: field,
          promptsField: several ? 'msg.sam2.objects' : 'msg.sam2',
          onRetry: ({ attempt, retries, delayMs, error }: RetryInfo) =>
            node.status({ fill: 'yellow', shape: 'ring', text: shorten(`retry ${attempt}/${retries} in ${Math.round(delayMs / 100) / 10} s: ${error.message}`) }),
        };
        const results = several ? await client.segmentEach(bytes, objects, call) : [await client.segment(bytes, objects[0], call)];
        const result = results[0];
        // Only a frame that passed the checks is kept for the dialog.
        editor.frame(bytes);
        editor.answer(bytes, result);
        // Decoded once for all the objects' overlays and cut-outs, and only if one is wanted.
        let upright: Promise<Buffer> | undefined;
        const outputs = await Promise.all(results.map((r) => buildOutput(r, config, choice, () => (upright ??= uprightImage(image)))));
        if (closing.signal.aborted) return done();
        const output = outputs[0];
        const { maskInput: _sent, ...sentPrompts } = objects[0];
        const out = msg as NodeMessageInFlow & Record<string, unknown>;
        out.image = RED.util.getMessageProperty(msg, property);
        out.payload = output.payload;
        out.masks = output.masks;
        out.scores = output.scores;
        if (output.overlay) out.overlay = output.overlay;
        if (output.cutout) out.cutout = output.cutout;
        if (several) {
          out.payload = outputs.map((o) => o.payload);
          out.objects = outputs.map(({ logits: _logits, ...o }) => o);
        }
        out.sam2 = {
          ...(several ? { objects: objects.map(({ maskInput: _m, ...p }) => p) } : sentPrompts),
          modelId: objects[0].modelId || client.modelId,
          width: result.width,
          height: result.height,
          logits: several ? outputs.map((o) => o.logits) : output.logits,
          timeMs: Date.now() - started,
          ...(droppedSinceSent ? { dropped: droppedSinceSent } : {}),
        };
        droppedSinceSent = 0;
        lastOutcome = `${result.masks.length} mask${result.masks.length === 1 ? '' : 's'} · best ${result.masks[0].score.toFixed(2)} · ${Date.now() - started} ms`;
        send(config.dropOutput ? [out, null] : out);
        done();
      } catch (err) {
        // Stopping the flow aborts requests on purpose: that is not a failure to report.
        if (closing.signal.aborted) return done();
        // The image passed its checks when the failure is the server's, or about the prompts.
        if (bytes && !(err instanceof Sam2InputError && err.field === imageField)) editor.frame(bytes);
        const error = err instanceof Error ? err : new Error(String(err));
        lastOutcome = '';
        node.status({ fill: 'red', shape: 'ring', text: shorten(error.message) });
        done(error);
      }
    }

    if (problem) {
      node.error(problem);
      node.status({ fill: 'red', shape: 'ring', text: shorten(problem) });
    } else if (!endpoint) node.status({ fill: 'red', shape: 'ring', text: 'no sam2-endpoint chosen' });
    else {
      node.status({});
      // An endpoint whose settings are unusable (its CA file is read later) shows it here, where the user looks.
      const showProblem = (): void => {
        if (endpoint.problem && !closing.signal.aborted) node.status({ fill: 'red', shape: 'ring', text: shorten(`endpoint: ${endpoint.problem}`) });
      };
      if (endpoint.ready) void endpoint.ready.then(showProblem);
      else showProblem();
    }

    node.on('input', (msg, send, done) => queue.push({ msg, send, done }));
    node.on('close', (_removed: boolean, done: () => void) => {
      closing.abort();
      editor.close();
      void queue.close().finally(() => {
        node.status({});
        done();
      });
    });
  }
  registerEditorRoutes(RED);
  RED.nodes.registerType('sam2-segment', Sam2Segment);
};
