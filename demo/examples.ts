/**
 * The example flows as `npm start` deploys them: which of them the Node-RED it starts can run,
 * and how they join the user's flows. No side effects: demo/start.ts reads and writes the files.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Where Dashboard 2's nodes (`ui-base`, `ui-page`, `ui-button`...: every `ui-` type) come from. */
export const DASHBOARD = '@flowfuse/node-red-dashboard';

export interface FlowNode {
  id: string;
  type: string;
  z?: string;
  name?: string;
  label?: string;
  service?: string;
  url?: string;
  /** A ui-page's ui-base, or a ui-template's when scoped to the whole dashboard. */
  ui?: string;
  /** A ui-base's or ui-page's path. */
  path?: string;
}

export interface Example {
  /** The file's name without `.json`, as the Import menu shows it. */
  title: string;
  /** Its tab's id: an example is one tab with its own config nodes. */
  tab: string;
  nodes: FlowNode[];
  /** A node module it needs beside Node-RED and this package, if any. */
  needs?: string;
}

/** Every example in `dir`, in the Import menu's order, with the module each needs. */
export function readExamples(dir: string): Example[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => {
      const nodes = JSON.parse(readFileSync(join(dir, file), 'utf8')) as FlowNode[];
      const tab = nodes.find((n) => n.type === 'tab');
      if (!tab) throw new Error(`examples/${file} has no tab`);
      return { title: file.slice(0, -'.json'.length), tab: tab.id, nodes, needs: nodes.some((n) => n.type.startsWith('ui-')) ? DASHBOARD : undefined };
    });
}

/**
 * Whether the Node-RED that `npm start` runs (this clone's node-red, with `userDir`) loads the
 * node module `name`. Node-RED looks in `<userDir>/node_modules` (where Manage palette installs)
 * and in every `node_modules` folder from its own core nodes up, which in a clone includes the
 * clone's own node_modules, so its devDependencies.
 */
export function nodeRedLoads(name: string, userDir: string): boolean {
  const places = [join(userDir, 'node_modules')];
  const nodeRed = dirname(require.resolve('node-red/red.js'));
  let dir = dirname(require.resolve('@node-red/nodes', { paths: [nodeRed] }));
  while (dirname(dir) !== dir) {
    places.push(join(dir, 'node_modules'));
    dir = dirname(dir);
  }
  return places.some((place) => existsSync(join(place, name, 'package.json')));
}

export interface ExamplePlan {
  flows: FlowNode[];
  /** Examples put in the flows now. */
  added: Example[];
  /** Examples left out: this Node-RED cannot load the module they need. */
  missing: Example[];
  /** The tabs of every example this script has put in the user's flows, now or before. */
  given: string[];
}

/**
 * The flows with the examples the user has not had yet. `flows` undefined is the first start
 * (or a start over, flows.json deleted): every example this Node-RED can run. Later an example is added once, when it becomes
 * runnable (the dashboard installed after the first start), and never again: one the user
 * deleted stays deleted. `given` is what the last start returned; a user dir from before it
 * was kept had every example that needs nothing extra. An example whose nodes are already in
 * the flows (imported by hand) counts as given.
 *
 * Dashboard 2 runs one ui-base: an example added to flows that have one of the user's own
 * brings its pages to it, as Dashboard 2's editor does on import, and leaves its own out.
 */
export function planExamples(
  flows: FlowNode[] | undefined,
  examples: Example[],
  given: string[] | undefined,
  loads: (name: string) => boolean,
): ExamplePlan {
  const result: FlowNode[] = flows ? [...flows] : [];
  // No flows yet (the first start, or flows.json deleted to start over): what was given before is gone.
  const had = new Set(flows ? (given ?? examples.filter((e) => !e.needs).map((e) => e.tab)) : []);
  const added: Example[] = [];
  const missing: Example[] = [];
  for (const example of examples) {
    if (had.has(example.tab)) continue;
    const ids = new Set(result.map((n) => n.id));
    if (example.nodes.some((n) => ids.has(n.id))) {
      had.add(example.tab);
      continue;
    }
    if (example.needs && !loads(example.needs)) {
      missing.push(example);
      continue;
    }
    result.push(...onOneDashboard(result, example.nodes));
    had.add(example.tab);
    added.push(example);
  }
  return { flows: result, added, missing, given: examples.filter((e) => had.has(e.tab)).map((e) => e.tab) };
}

/** An example's nodes, on the flows' own ui-base if they have one. */
function onOneDashboard(flows: FlowNode[], nodes: FlowNode[]): FlowNode[] {
  const base = flows.find((n) => n.type === 'ui-base');
  const own = new Set(nodes.filter((n) => n.type === 'ui-base').map((n) => n.id));
  if (!base || own.size === 0) return nodes;
  return nodes.filter((n) => !own.has(n.id)).map((n) => (n.ui && own.has(n.ui) ? { ...n, ui: base.id } : n));
}

/** The URL path of each dashboard page of these examples that is in the flows, by page name. */
export function dashboardPages(flows: FlowNode[], examples: Example[]): Array<{ name: string; path: string }> {
  const pages = new Set(examples.flatMap((e) => e.nodes.filter((n) => n.type === 'ui-page').map((n) => n.id)));
  return flows
    .filter((n) => n.type === 'ui-page' && pages.has(n.id))
    .map((page) => {
      const base = flows.find((n) => n.id === page.ui);
      return { name: page.name ?? page.id, path: `${(base?.path ?? '/dashboard').replace(/\/$/, '')}${page.path ?? ''}` };
    });
}
