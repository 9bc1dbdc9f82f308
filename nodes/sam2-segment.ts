/**
 * sam2-segment: a frame in, masks out. This file is the Node-RED side only: queueing, status
 * and reporting every outcome. A frame goes, in order:
 *
 *   input → FrameQueue (lib/frame-queue.ts: this node's policy, a slot of the endpoint's)
 *         → image bytes (lib/image-input.ts) → planMessage (segment-message.ts: prompts)
 *         → the endpoint's Segmenter (lib/pipeline.ts and its backend) → masks
 *         → buildOutput (encoders, one decode of the frame) → writeMessage → send
 */
import { join } from 'node:path';
import type { Node, NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from '@node-red/registry';
import { SEGMENT_DEFAULTS } from '../lib/defaults';
import { FrameQueue, type DropReason, type QueuePolicy } from '../lib/frame-queue';
import { imageBytes } from '../lib/image-input';
import { FramePixels } from '../lib/raw-image';
import type { Lease, RetryInfo } from '../lib/segmenter';
import { attachEditor } from './admin/frame-link';
import { registerEditorRoutes } from './admin/routes';
import type { Sam2EndpointNode } from './endpoint-settings';
import { buildOutput, compileSettings, outcomeText, planMessage, writeMessage, type CompiledSettings, type SegmentSettings } from './segment-message';
import { Sam2Tracker } from '../lib/tracker';
import { compileTracking, trackObjects, trackStatus, wantsReset, writeTrackedMessage, type TrackSettings } from './track-message';

interface SegmentConfig extends NodeDef, SegmentSettings, TrackSettings {
  endpoint: string;
  /** Message property holding the image, `payload` by default. */
  property?: string;
  queue?: QueuePolicy;
  queueLimit?: number | string;
  /** Send dropped messages to a second output. */
  dropOutput?: boolean;
  preview?: boolean;
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
    const property = config.property || SEGMENT_DEFAULTS.property;
    const queueLimit = Number(config.queueLimit) || SEGMENT_DEFAULTS.queueLimit;
    const closing = new AbortController();
    let dropped = 0;
    let droppedSinceSent = 0;
    let lastOutcome = '';

    // The saved settings, checked once: a bad one is reported now and on each message.
    let compiled: CompiledSettings | undefined;
    let settingsProblem: Error | undefined;
    let tracking: ReturnType<typeof compileTracking>;
    try {
      compiled = compileSettings(config);
      tracking = compileTracking(config);
    } catch (err) {
      settingsProblem = err as Error;
    }

    const showLoad = () => {
      if (closing.signal.aborted) return;
      const waiting = queue.queued ? `, ${queue.queued} waiting` : '';
      const drops = dropped ? ` · ${dropped} dropped` : '';
      if (queue.active) node.status({ fill: 'blue', shape: 'dot', text: `segmenting (${queue.active} in flight${waiting})${drops}` });
      else if (lastOutcome) node.status({ fill: 'green', shape: 'dot', text: `${lastOutcome}${drops}` });
    };

    const segmenter = endpoint?.segmenter;
    // "Track across frames": one tracker for the node's stream, frames in the order they are segmented.
    const tracker = segmenter && tracking ? new Sam2Tracker(segmenter, tracking) : undefined;
    const queue = new FrameQueue<Job>({
      policy: config.queue || SEGMENT_DEFAULTS.queue,
      limit: queueLimit,
      concurrency: segmenter?.slots.max ?? 1,
      slots: segmenter?.slots,
      work: (job, lease) => segment(job, lease),
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

    async function segment({ msg, send, done }: Job, lease?: Lease): Promise<void> {
      const started = Date.now();
      try {
        if (!endpoint) throw new Error('sam2-segment has no sam2-endpoint: open the node and choose or add one');
        if (!segmenter) throw new Error(`sam2-endpoint "${endpoint.name || endpoint.id}" is misconfigured: ${endpoint.problem}`);
        if (!compiled || settingsProblem) throw settingsProblem as Error;
        const plan = planMessage(compiled, msg.sam2);
        const field = `msg.${property}`;
        const image = RED.util.getMessageProperty(msg, property);
        const bytes = imageBytes(image, field);
        editor.frame(bytes);
        const call = {
          signal: closing.signal,
          lease,
          imageField: field,
          promptsField: plan.promptsField,
          onRetry: ({ attempt, retries, delayMs, error }: RetryInfo) =>
            node.status({ fill: 'yellow', shape: 'ring', text: shorten(`retry ${attempt}/${retries} in ${Math.round(delayMs / 100) / 10} s: ${error.message}`) }),
        };
        if (tracker) {
          if (wantsReset(msg.sam2)) tracker.reset();
          const tracked = await tracker.update(bytes, { ...call, objects: trackObjects(plan, msg.sam2, tracker) });
          if (closing.signal.aborted) return done();
          // The live preview shows the first tracked object.
          const following = tracked.tracks.filter((t) => t.state === 'tracking');
          editor.answer(bytes, { width: tracked.width, height: tracked.height, masks: following.map(({ mask, score, area, bbox, centroid }) => ({ mask, score, area, bbox, centroid })) });
          const out = await writeTrackedMessage(msg, tracked, compiled, plan.choice, { image, modelId: segmenter.modelId, timeMs: Date.now() - started, dropped: droppedSinceSent });
          droppedSinceSent = 0;
          lastOutcome = trackStatus(tracked);
          send(config.dropOutput ? [out, null] : out);
          return done();
        }
        const results = plan.several ? await segmenter.segmentEach(bytes, plan.objects, call) : [await segmenter.segment(bytes, plan.objects[0], call)];
        // Decoded once, if anything draws on it: every object's overlays and cut-outs, and the preview.
        const frame = new FramePixels(bytes);
        const outputs = await Promise.all(results.map((r) => buildOutput(r, compiled as CompiledSettings, plan.choice, () => frame.pixels())));
        editor.answer(frame, results[0]);
        if (closing.signal.aborted) return done();
        const answered = { plan, results, outputs, image, modelId: segmenter.modelId, timeMs: Date.now() - started, dropped: droppedSinceSent };
        const out = writeMessage(msg, answered);
        droppedSinceSent = 0;
        lastOutcome = outcomeText(answered);
        send(config.dropOutput ? [out, null] : out);
        done();
      } catch (err) {
        // Stopping the flow aborts requests on purpose: that is not a failure to report.
        if (closing.signal.aborted) return done();
        const error = err instanceof Error ? err : new Error(String(err));
        lastOutcome = '';
        node.status({ fill: 'red', shape: 'ring', text: shorten(error.message) });
        done(error);
      }
    }

    if (!endpoint) node.status({ fill: 'red', shape: 'ring', text: 'no sam2-endpoint chosen' });
    else if (settingsProblem) {
      node.status({ fill: 'red', shape: 'ring', text: shorten(settingsProblem.message) });
      node.error(`sam2-segment settings: ${settingsProblem.message}`);
    } else node.status({});

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
