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
import { Sam2InputError } from '../lib/errors';
import { FrameQueue, type DropReason, type QueuePolicy } from '../lib/frame-queue';
import { imageBytes } from '../lib/image-input';
import { FramePixels } from '../lib/raw-image';
import type { Lease, Progress, RetryInfo } from '../lib/segmenter';
import { attachEditor } from './admin/frame-link';
import { registerEditorRoutes } from './admin/routes';
import type { Sam2EndpointNode } from './endpoint-settings';
import {
  buildOutput,
  compileSettings,
  hasOwnPrompt,
  imageProperty,
  NO_PROMPT_STATUS,
  outcomeText,
  planMessage,
  segmentRequests,
  promptWarning,
  writeMessage,
  type CompiledSettings,
  type SegmentSettings,
} from './segment-message';
import { rangeSetting } from './setting-ranges';
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
  /** Long side of the live preview, pixels (admin/frame-link.ts). */
  previewSize?: number | string;
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

/** The status shows an answer's progress at most this often: 4 a second reads as live, and costs the editor's websocket nothing. */
const PROGRESS_INTERVAL_MS = 250;

/** Bytes as the status shows them, in MB of 1024 x 1024 like the endpoint's "Max answer". */
function sizeText(bytes: number): string {
  if (bytes < 1000 * 1024) return `${Math.max(1, Math.round(bytes / 1024))} kB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

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
    let property: string = SEGMENT_DEFAULTS.property;
    let queueLimit: number = SEGMENT_DEFAULTS.queueLimit;
    const closing = new AbortController();
    let dropped = 0;
    let droppedSinceSent = 0;
    let lastOutcome = '';
    /** Yellow when the last answer went without a prompt: answered, but probably not what was meant. */
    let lastFill: 'green' | 'yellow' = 'green';
    let warnedNoPrompt = false;
    let lastProgressAt = 0;

    // The saved settings, checked once: a bad one is reported now and on each message.
    let compiled: CompiledSettings | undefined;
    let settingsProblem: Error | undefined;
    let tracking: ReturnType<typeof compileTracking>;
    try {
      property = imageProperty(config.property);
      // 0 used to become 10 and a negative limit refused everything: out of range is refused by name.
      queueLimit = rangeSetting(config.queueLimit, { name: 'Queue up to', min: 1, max: 10000, integer: true, fallback: SEGMENT_DEFAULTS.queueLimit, unit: 'messages' });
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
      else if (lastOutcome) node.status({ fill: lastFill, shape: 'dot', text: `${lastOutcome}${drops}` });
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
      let bytes: Buffer | undefined;
      const field = `msg.${property}`;
      try {
        if (!endpoint) throw new Error('sam2-segment has no sam2-endpoint: open the node and choose or add one');
        // A CA file is read before the endpoint can send: the first frames wait for it.
        if (endpoint.ready) await endpoint.ready;
        if (!segmenter || endpoint.problem) throw new Error(`sam2-endpoint "${endpoint.name || endpoint.id}" is misconfigured: ${endpoint.problem}`);
        if (!compiled || settingsProblem) throw settingsProblem as Error;
        const plan = planMessage(compiled, msg.sam2);
        const image = RED.util.getMessageProperty(msg, property);
        bytes = imageBytes(image, field);
        const call = {
          signal: closing.signal,
          lease,
          maxObjects: compiled.maxObjects,
          imageField: field,
          promptsField: plan.promptsField,
          onRetry: ({ attempt, retries, delayMs, error }: RetryInfo) =>
            node.status({ fill: 'yellow', shape: 'ring', text: shorten(`retry ${attempt}/${retries} in ${Math.round(delayMs / 100) / 10} s: ${error.message}`) }),
          // Tens of MB can take seconds: say how much has come, a few times a second.
          onProgress: ({ receivedBytes }: Progress) => {
            const now = Date.now();
            if (now - lastProgressAt < PROGRESS_INTERVAL_MS || closing.signal.aborted) return;
            lastProgressAt = now;
            const waiting = queue.queued ? ` (${queue.queued} waiting)` : '';
            node.status({ fill: 'blue', shape: 'dot', text: `receiving ${sizeText(receivedBytes)}…${waiting}` });
          },
        };
        if (tracker) {
          if (wantsReset(msg.sam2)) tracker.reset();
          const tracked = await tracker.update(bytes, { ...call, objects: trackObjects(plan, msg.sam2, tracker) });
          editor.frame(bytes);
          if (closing.signal.aborted) return done();
          // The live preview shows every tracked object.
          const following = tracked.tracks.filter((t) => t.state === 'tracking');
          editor.answer(bytes, following.map(({ mask, score, area, bbox, centroid }) => ({ width: tracked.width, height: tracked.height, masks: [{ mask, score, area, bbox, centroid }], candidates: [{ score }] })));
          const out = await writeTrackedMessage(msg, tracked, compiled, plan.choice, { image, modelId: segmenter.modelId, timeMs: Date.now() - started, dropped: droppedSinceSent });
          droppedSinceSent = 0;
          lastOutcome = trackStatus(tracked);
          send(config.dropOutput ? [out, null] : out);
          return done();
        }
        const requests = segmentRequests(plan);
        const results = plan.several ? await segmenter.segmentEach(bytes, requests, call) : [await segmenter.segment(bytes, requests[0], call)];
        // Only a frame that passed the checks is kept for the dialog.
        editor.frame(bytes);
        // Decoded once, if anything draws on it: every object's overlays and cut-outs, and the preview.
        const frame = new FramePixels(bytes);
        const outputs = await Promise.all(results.map((r) => buildOutput(r, compiled as CompiledSettings, plan.choice, () => frame.pixels())));
        editor.answer(frame, results);
        if (closing.signal.aborted) return done();
        const answered = { plan, results, outputs, image, modelId: segmenter.modelId, timeMs: Date.now() - started, dropped: droppedSinceSent };
        const out = writeMessage(msg, answered);
        droppedSinceSent = 0;
        lastOutcome = outcomeText(answered);
        const warning = promptWarning(plan);
        lastFill = warning ? 'yellow' : 'green';
        if (warning && !warnedNoPrompt) {
          // Once per deploy: a camera at 10 fps must not fill the debug sidebar.
          warnedNoPrompt = true;
          node.warn(`sam2-segment: ${warning}`);
        }
        send(config.dropOutput ? [out, null] : out);
        done();
      } catch (err) {
        // Stopping the flow aborts requests on purpose: that is not a failure to report.
        if (closing.signal.aborted) return done();
        // The image passed its checks when the failure is the server's, or about the prompts.
        if (bytes && !(err instanceof Sam2InputError && err.field === field)) editor.frame(bytes);
        const error = err instanceof Error ? err : new Error(String(err));
        lastOutcome = '';
        node.status({ fill: 'red', shape: 'ring', text: shorten(error.message) });
        done(error);
      }
    }

    if (!endpoint) node.status({ fill: 'red', shape: 'ring', text: 'no sam2-endpoint chosen' });
    else if (settingsProblem) {
      node.status({ fill: 'red', shape: 'ring', text: shorten(`settings: ${settingsProblem.message}`) });
      node.error(`sam2-segment settings: ${settingsProblem.message}`);
    } else {
      // No prompt of its own: it still answers messages that bring their prompts in msg.sam2.
      const idle = (): void => {
        if (compiled && !hasOwnPrompt(compiled)) node.status({ fill: 'yellow', shape: 'ring', text: NO_PROMPT_STATUS });
        else node.status({});
      };
      idle();
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
