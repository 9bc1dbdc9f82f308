/**
 * The admin routes both dialogs call: the sam2-segment dialog's last frame, Try and live
 * preview switch, and the sam2-endpoint dialog's Test connection. Registered once per admin app.
 */
import type { NodeAPI } from '@node-red/registry';
import { createSegmenter, endpointUrl, originsOf, readCaFile, sameBackend, type EndpointSettings, type Sam2EndpointNode } from '../endpoint-settings';
import type { Segmenter } from '../../lib/segmenter';
import type { SegmentOptions } from '../../lib/segmenter';
import { Sam2ApiError, Sam2DecodeError, Sam2InputError, Sam2NetworkError } from '../../lib/errors';
import { maskToPng } from '../../lib/mask-png';
import type { SegmentResult } from '../../lib/types';
import { storedTokenElsewhere, testEndpoint } from './endpoint-test';
import { editorState, type Thumbnail } from './frame-link';
import { jsonBody, route, RouteError } from './http';

/** A photo opened in the dialog arrives as a data URL in JSON: a third larger than the file. */
const TRY_BODY_LIMIT = 20 * 1024 * 1024;
/** What Node-RED puts in a password field of a dialog when a value is stored. */
const STORED_PASSWORD = '__PWRD__';

const registered = new WeakSet<object>();

export function registerEditorRoutes(RED: NodeAPI): void {
  // Both node files call this; the admin app is what must not get the routes twice.
  if (registered.has(RED.httpAdmin)) return;
  registered.add(RED.httpAdmin);
  const app = RED.httpAdmin;

  app.get(
    '/sam2-segment/:id/frame',
    RED.auth.needsPermission('sam2-segment.read'),
    route(RED, async (req, res) => {
      const state = editorState(RED, String(req.params.id));
      if (!state) throw new RouteError(404, 'This node is not deployed yet: deploy it and send it an image, or open an image file here');
      const frame = await state.current();
      if (!frame) throw new RouteError(404, 'No frame yet: send the node an image, or open an image file here');
      state.shown = frame;
      res.set({
        'Content-Type': 'image/jpeg',
        'Cache-Control': 'no-store',
        'X-Sam2-Frame-Width': String(frame.width),
        'X-Sam2-Frame-Height': String(frame.height),
      });
      res.send(frame.jpeg);
    }),
  );

  app.post(
    '/sam2-segment/:id/try',
    RED.auth.needsPermission('sam2-segment.write'),
    route(RED, async (req, res) => {
      const body = await jsonBody(req, TRY_BODY_LIMIT);
      if (typeof body.endpoint !== 'string' || !body.endpoint) throw new RouteError(400, 'Choose an endpoint first');
      const endpoint = RED.nodes.getNode(body.endpoint) as Sam2EndpointNode | null;
      if (endpoint && endpoint.type !== 'sam2-endpoint') throw new RouteError(400, `Node ${body.endpoint} is not a sam2-endpoint`);
      const edited = body.endpointSettings && typeof body.endpointSettings === 'object' ? (body.endpointSettings as EndpointSettings) : undefined;
      // The deployed endpoint when the dialog's settings are its own; otherwise (not deployed
      // yet, or edited since) a backend for this Try alone, from the dialog's settings.
      let segmenter: Segmenter | undefined;
      let ownSegmenter: Segmenter | undefined;
      if (endpoint && (!edited || (endpoint.deployed && sameBackend(edited, endpoint.deployed)))) {
        await endpoint.ready;
        if (!endpoint.segmenter) throw new RouteError(409, `The endpoint's settings are not usable: ${endpoint.problem}`);
        segmenter = endpoint.segmenter;
      } else if (edited) {
        // The stored token stays in the runtime, and goes only to the origin it was saved for.
        let origin: string | undefined;
        try {
          origin = originsOf(endpointUrl(edited));
        } catch {
          origin = undefined;
        }
        const stored = endpoint ? (RED.nodes.getCredentials(body.endpoint) as { token?: string } | undefined)?.token : undefined;
        const token = stored && origin !== undefined && origin === endpoint?.savedOrigin ? stored : undefined;
        try {
          const ca = edited.caFile ? readCaFile(edited.caFile) : undefined;
          ca?.catch(() => undefined); // a CA file that cannot be used fails the request, which says so
          ownSegmenter = createSegmenter({ ...edited, retries: 0 }, token, ca);
        } catch (err) {
          throw new RouteError(400, `The endpoint's settings are not usable: ${(err as Error).message}`);
        }
        segmenter = ownSegmenter;
      } else {
        throw new RouteError(409, 'The endpoint is not deployed yet: deploy it, then try again');
      }
      const opened = body.image !== undefined && body.image !== null && body.image !== '';
      let image: unknown = body.image;
      let frame: Thumbnail | undefined;
      if (!opened) {
        const state = editorState(RED, String(req.params.id));
        frame = state?.shown ?? (await state?.current());
        if (!frame) throw new RouteError(404, 'No frame to try on: send the node an image, or open an image file here');
        image = frame.jpeg;
      }
      // The kept frame is its small JPEG: pixel prompts are scaled onto it, and sizes back.
      const sx = frame ? frame.jpegWidth / frame.width : 1;
      const sy = frame ? frame.jpegHeight / frame.height : 1;
      const scaled = (sx !== 1 || sy !== 1) && body.normalizeCoords !== false;
      const scalePoint = (p: unknown) => (scaled && Array.isArray(p) && p.length === 2 && p.every((n) => typeof n === 'number') ? [p[0] * sx, p[1] * sy] : p);
      const scaleBox = (b: unknown) =>
        scaled && Array.isArray(b) && b.length === 4 && b.every((n) => typeof n === 'number') ? [b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy] : b;
      const abort = new AbortController();
      res.on('close', () => {
        if (!res.writableFinished) abort.abort(new Error('the editor stopped waiting'));
      });
      const prompts: SegmentOptions = {
        points: (Array.isArray(body.points) ? body.points.map(scalePoint) : body.points) as SegmentOptions['points'],
        labels: body.labels as SegmentOptions['labels'],
        box: scaleBox(body.box ?? undefined) as SegmentOptions['box'],
        multimask: body.multimask as boolean | 'auto' | undefined,
        normalizeCoords: body.normalizeCoords as boolean | undefined,
        returnLogits: false,
      };
      if (body.threshold !== undefined) prompts.threshold = body.threshold as number;
      const started = Date.now();
      let result: SegmentResult;
      try {
        result = await segmenter.segment(image, prompts, {
          signal: abort.signal,
          imageField: opened ? 'the opened image' : 'the last frame',
          promptsField: 'prompts',
        });
      } catch (err) {
        throw asRouteError(err);
      } finally {
        await ownSegmenter?.close();
      }
      const timeMs = Date.now() - started;
      const masks = await Promise.all(
        result.masks.map(async (m) => ({
          png: `data:image/png;base64,${(await maskToPng(m.mask, result.width, result.height)).toString('base64')}`,
          score: m.score,
          area: Math.round(m.area / (sx * sy)),
          bbox: sx === 1 && sy === 1 ? m.bbox : [m.bbox[0] / sx, m.bbox[1] / sy, m.bbox[2] / sx, m.bbox[3] / sy].map(Math.round),
        })),
      );
      res.json({ width: frame?.width ?? result.width, height: frame?.height ?? result.height, timeMs, masks });
    }),
  );

  app.post(
    '/sam2-segment/:id/preview',
    RED.auth.needsPermission('sam2-segment.write'),
    route(RED, async (req, res) => {
      const body = await jsonBody(req, 1024);
      if (typeof body.enabled !== 'boolean') throw new RouteError(400, 'Send { "enabled": true } or { "enabled": false }');
      const state = editorState(RED, String(req.params.id));
      if (!state) throw new RouteError(404, 'This node is not deployed yet: deploy it first');
      state.setPreview(body.enabled);
      res.json({ preview: body.enabled });
    }),
  );

  app.post(
    '/sam2-endpoint/test',
    RED.auth.needsPermission('sam2-endpoint.write'),
    route(RED, async (req, res) => {
      const body = await jsonBody(req, 64 * 1024);
      const settings = (body.settings && typeof body.settings === 'object' ? body.settings : {}) as EndpointSettings;
      if (typeof body.token === 'string' && body.token !== STORED_PASSWORD) {
        res.json(await testEndpoint(settings, body.token));
        return;
      }
      // The stored token: only an endpoint's own (the id comes from the browser, and another
      // node's credentials must not be sent anywhere), and only to the origin it was saved for,
      // as Node-RED never hands stored credentials to a new destination.
      const node = typeof body.id === 'string' ? (RED.nodes.getNode(body.id) as Sam2EndpointNode | null) : null;
      const own = node?.type === 'sam2-endpoint';
      const stored = own ? (RED.nodes.getCredentials(body.id as string) as { token?: string } | undefined)?.token : undefined;
      if (!stored) {
        res.json(await testEndpoint(settings, ''));
        return;
      }
      let target: string | undefined;
      try {
        target = originsOf(endpointUrl(settings));
      } catch {
        target = undefined; // unusable settings: the test says so and sends nothing
      }
      if (target !== undefined && target !== node?.savedOrigin) {
        res.json(storedTokenElsewhere(node?.savedOrigin, target));
        return;
      }
      res.json(await testEndpoint(settings, target === undefined ? '' : stored));
    }),
  );
}


/** What the dialogs show for a failed Try: the server's own words, and its status. */
function asRouteError(err: unknown): Error {
  if (err instanceof Sam2InputError) return new RouteError(400, err.message);
  if (err instanceof Sam2ApiError) return new RouteError(502, err.message);
  if (err instanceof Sam2NetworkError) return new RouteError(504, err.message);
  if (err instanceof Sam2DecodeError) return new RouteError(502, err.message);
  return err instanceof Error ? err : new Error(String(err));
}

