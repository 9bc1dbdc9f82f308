import assert from 'node:assert/strict';
import { join } from 'node:path';

describe('the package main entry', () => {
  it('exports the client, the decoder and the encoders, and no server', () => {
    // Resolve through package.json's "main", as `require('node-red-contrib-sam2')` would.
    const pkg = require(join(__dirname, '..', '..', 'package.json')) as { main: string };
    const entry = require(join(__dirname, '..', '..', pkg.main)) as Record<string, unknown>;
    for (const name of ['Sam2Client', 'LocalSam2', 'Sam2Tracker', 'decodeSegmentResponse', 'maskToRle', 'rleToMask', 'maskToPolygons', 'maskToPng', 'renderOverlay', 'renderCutout', 'maskStats', 'Sam2ApiError']) {
      assert.equal(typeof entry[name], 'function', name);
    }
    const mask = Uint8Array.from([0, 1, 1, 0, 1, 1]);
    const rle = (entry.maskToRle as (m: Uint8Array, w: number, h: number) => { size: number[]; counts: string })(mask, 3, 2);
    assert.deepEqual((entry.rleToMask as (r: unknown) => Uint8Array)(rle), mask);
    assert.equal(entry.startLocalServer, undefined, 'the local server is its own entry, node-red-contrib-sam2/local-server');
  });

  it('exports the local server as node-red-contrib-sam2/local-server, through package.json "exports"', async () => {
    // A package may require itself by name once it has "exports": the same path a user takes.
    const server = require('node-red-contrib-sam2/local-server') as typeof import('../local-server');
    const running = await server.startLocalServer();
    try {
      assert.match(running.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    } finally {
      await running.close();
    }
  });
});
