/**
 * The calls the dialogs make to this package's admin routes (nodes/admin/routes.ts), with the
 * bodies and answers those routes speak. Through jQuery, because Node-RED's editor adds the
 * user's login token to every jQuery request; the URLs are relative so that they work under
 * any httpAdminRoot.
 */

/** What a refused request said: the route's `{ error }`, else the HTTP status text, else `fallback`. */
export function failureMessage(xhr: JQueryXHR, fallback: string): string {
  const said = (xhr.responseJSON as { error?: unknown } | undefined)?.error;
  return said ? String(said) : xhr.statusText || fallback;
}

/** The endpoint dialog's fields as they stand, unsaved (nodes/endpoint-settings.ts reads them). */
export interface EndpointTestSettings {
  service: string;
  url: string;
  modelId: string;
  timeout: number | undefined;
  concurrency: number | undefined;
  retries: number | undefined;
  efficient: boolean;
  uploadSize: number | undefined;
  maxResponseMB: number | undefined;
  maxInputMP: number | undefined;
  caFile: string;
  modelDir: string;
  runtime: string;
  threads: number | undefined;
  cacheSize: number | undefined;
  allowVector: boolean;
}

export interface EndpointTestBody {
  /** The config node's id: without `token`, the route uses the token stored for it. */
  id: string;
  settings: EndpointTestSettings;
  token?: string;
}

export interface EndpointTestAnswer {
  ok: boolean;
  /** A sentence for the user, the token hidden. */
  message: string;
}

/** POST sam2-endpoint/test: connects with these settings and segments a small test image. */
export function testEndpoint(body: EndpointTestBody): JQueryRequest<EndpointTestAnswer> {
  return $.ajax<EndpointTestAnswer>({
    url: 'sam2-endpoint/test',
    type: 'POST',
    contentType: 'application/json',
    data: JSON.stringify(body),
    dataType: 'json',
  });
}

/** Prompts to try: in the node's coordinates, on the opened image or else the node's last frame. */
export interface TryBody {
  /** The sam2-endpoint config node's id; it must be deployed. */
  endpoint: string;
  points: Array<[number, number]>;
  labels: number[];
  box: [number, number, number, number] | null;
  multimask: boolean | 'auto';
  /** True when the prompts are in pixels (the API's own normalisation), false when relative. */
  normalizeCoords: boolean;
  threshold?: number;
  /** A data URL of an image opened in the dialog; absent for the node's last frame. */
  image?: string;
  /** The endpoint's settings as the editor has them, saved or not: Try uses them before a deploy. Never a token. */
  endpointSettings?: Record<string, unknown>;
}

export interface TryMask {
  /** data:image/png;base64 of the mask, white on black, at the image's size. */
  png: string;
  score: number;
  area: number;
}

export interface TryAnswer {
  width: number;
  height: number;
  timeMs: number;
  /** Best score first. */
  masks: TryMask[];
}

/** POST sam2-segment/<id>/try: segments once with these prompts through the chosen endpoint. */
export function tryPrompts(nodeId: string, body: TryBody): JQueryRequest<TryAnswer> {
  // Not application/json: Node-RED reads that itself and refuses bodies over its
  // apiMaxLength (5 MB by default), which a photo opened here easily is.
  return $.ajax<TryAnswer>({
    url: `sam2-segment/${nodeId}/try`,
    type: 'POST',
    contentType: 'application/vnd.sam2-try+json',
    data: JSON.stringify(body),
    dataType: 'json',
  });
}

/** The last frame's JPEG thumbnail and the frame's own size (headers X-Sam2-Frame-Width/-Height). */
export interface LastFrame {
  jpeg: Blob;
  /** 0 when the header is missing. */
  width: number;
  height: number;
}

/**
 * GET sam2-segment/<id>/frame: the deployed node's last frame. On a refusal, `refused` gets
 * the route's own words when it sent `{ error }`, else null.
 */
export function lastFrame(nodeId: string, loaded: (frame: LastFrame) => void, refused: (said: string | null) => void): void {
  // jQuery keeps no binary body for a failed request: hold the XHR to read the refusal's words.
  const request = new XMLHttpRequest();
  $.ajax<Blob>({
    url: `sam2-segment/${nodeId}/frame`,
    type: 'GET',
    cache: false,
    xhr: () => request,
    xhrFields: { responseType: 'blob' },
    success: (blob, _textStatus, xhr) => {
      loaded({
        jpeg: blob,
        width: Number(xhr.getResponseHeader('X-Sam2-Frame-Width')),
        height: Number(xhr.getResponseHeader('X-Sam2-Frame-Height')),
      });
    },
    error: () => {
      const body: unknown = request.response;
      if (!(body instanceof Blob)) {
        refused(null);
        return;
      }
      void body.text().then((text) => {
        let said: unknown = null;
        try {
          said = (JSON.parse(text) as { error?: unknown } | null)?.error;
        } catch {
          said = null;
        }
        refused(said ? String(said) : null);
      });
    },
  });
}

/** POST sam2-segment/<id>/preview: turns the running node's live preview on or off. */
export function setPreview(nodeId: string, enabled: boolean, done: () => void, failed: (xhr: JQueryXHR) => void): void {
  $.ajax({
    url: `sam2-segment/${nodeId}/preview`,
    type: 'POST',
    contentType: 'application/json',
    data: JSON.stringify({ enabled }),
    success: () => done(),
    error: (xhr) => failed(xhr),
  });
}
