// The test helper ships no types; these cover what our tests use.
declare module 'node-red-node-test-helper' {
  import type { Node } from '@node-red/registry';
  /** The helper spies on node methods and emits `call:<method>` with each call. */
  interface TestNode extends Node {
    receive(msg: object): void;
    on(event: string, listener: (...args: any[]) => void): this;
  }
  interface TestHelper {
    init(nodeRedRuntimePath: string, settings?: object): void;
    load(nodes: unknown, flow: object[], credentials?: object): Promise<void>;
    unload(): Promise<void>;
    getNode(id: string): TestNode;
    startServer(): Promise<void>;
    stopServer(): Promise<void>;
    settings(settings: object): void;
    /** supertest over the admin app. */
    request(): { get(path: string): Promise<{ status: number; headers: Record<string, string>; body: unknown }> };
  }
  const helper: TestHelper;
  export = helper;
}
