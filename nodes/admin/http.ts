/**
 * What every admin route of this package shares: refusals with a status and words the dialog
 * shows, and the one way a JSON body is read.
 */
import type { NodeAPI } from '@node-red/registry';
import type { Request, Response } from 'express';

/** A refusal with the status and words the dialog shows. */
export class RouteError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** `application/json` and `application/<anything>+json`. */
const JSON_TYPE = /^application\/([\w.-]+\+)?json\s*(;|$)/i;

/**
 * The JSON body. Node-RED's admin app parses `application/json` itself, up to `apiMaxLength`
 * (5 MB unless set); a photo is bigger, so the dialog sends its own `+json` type, which
 * Node-RED leaves unread for us. Other types are refused, even those Node-RED has parsed: a
 * web page may post text or form data to this machine without the browser asking first, but
 * not JSON.
 */
export async function jsonBody(req: Request, limit: number): Promise<Record<string, unknown>> {
  if (!JSON_TYPE.test(req.headers['content-type'] ?? '')) throw new RouteError(415, 'Send the request as JSON');
  let body: unknown = req.body;
  if (!req.readableEnded) {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) throw new RouteError(413, `The request is over ${limit / 1024 / 1024} MB: open a smaller image`);
      chunks.push(chunk);
    }
    try {
      body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
    } catch {
      throw new RouteError(400, 'The request body is not JSON');
    }
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new RouteError(400, 'The request body must be a JSON object');
  return body as Record<string, unknown>;
}


type Handler = (req: Request, res: Response) => Promise<void>;

/** Every refusal as `{ error }` with its status; anything unexpected is logged and answered 500. */
export function route(RED: NodeAPI, handler: Handler): (req: Request, res: Response) => void {
  return (req, res) => {
    handler(req, res).catch((err: Error) => {
      if (res.headersSent) return;
      if (err instanceof RouteError) {
        res.status(err.status).json({ error: err.message });
      } else {
        RED.log.warn(`sam2 editor: ${req.method} ${req.path}: ${err.message}`);
        res.status(500).json({ error: err.message });
      }
    });
  };
}
