/**
 * `require('node-red-contrib-sam2/local-server')`: the local SAM2-compatible server, for tests,
 * demos and building flows offline. Kept apart from the main entry, which has no server in it.
 */
export { startLocalServer, DEFAULT_MODEL_ID } from './server';
export type { LocalServer, LocalServerOptions, ReceivedRequest } from './server';
