/**
 * Which examples `npm start` deploys (demo/examples.ts), on the real example files: the
 * dashboard example only where Node-RED can load @flowfuse/node-red-dashboard, added once it
 * can, never again after the user deleted it, and on the user's own dashboard when they have one.
 * test/demo-start.test.ts runs the demo itself, where the dashboard is installed.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DASHBOARD, dashboardPages, nodeRedLoads, planExamples, readExamples, type FlowNode } from '../demo/examples';

const EXAMPLES = resolve(__dirname, '..', '..', 'examples');
const TABS = [1, 2, 3, 4, 5, 6].map((n) => `sam2-example-${n}`);
const without = () => false;
const withDashboard = (name: string) => name === DASHBOARD;

function tabs(flows: FlowNode[]): string[] {
  return flows.filter((n) => n.type === 'tab').map((n) => n.id);
}

describe('npm start\'s examples (demo/examples.ts)', () => {
  const examples = readExamples(EXAMPLES);

  it('knows example 6 needs the dashboard, and no other example needs anything', () => {
    assert.deepEqual(examples.map((e) => e.tab), TABS);
    assert.deepEqual(examples.filter((e) => e.needs).map((e) => [e.title, e.needs]), [['6 Dashboard (FlowFuse Dashboard 2)', DASHBOARD]]);
  });

  it('first start without the dashboard: the other five, and example 6 left out', () => {
    const plan = planExamples(undefined, examples, undefined, without);
    assert.deepEqual(tabs(plan.flows), TABS.slice(0, 5));
    assert.ok(!plan.flows.some((n) => n.type.startsWith('ui-')), 'no node type this Node-RED lacks: one would stop every flow');
    assert.deepEqual(plan.missing.map((e) => e.tab), ['sam2-example-6']);
    assert.deepEqual(plan.given, TABS.slice(0, 5));
  });

  it('a start over (flows.json deleted, sam2-demo.json kept): every example again', () => {
    const plan = planExamples(undefined, examples, TABS, withDashboard);
    assert.deepEqual(tabs(plan.flows), TABS);
    assert.deepEqual(plan.given, TABS);
  });

  it('adds example 6 once the dashboard is installed, keeping the user\'s flows, and never again after they delete it', () => {
    const first = planExamples(undefined, examples, undefined, without);
    // The user's own flow, and example 3 deleted, before the dashboard is installed.
    const mine: FlowNode[] = [...first.flows.filter((n) => n.z !== 'sam2-example-3' && n.id !== 'sam2-example-3'), { id: 'mine', type: 'tab' }];
    const later = planExamples(mine, examples, first.given, withDashboard);
    assert.deepEqual(later.added.map((e) => e.tab), ['sam2-example-6']);
    assert.deepEqual(later.missing, []);
    assert.deepEqual(tabs(later.flows), ['sam2-example-1', 'sam2-example-2', 'sam2-example-4', 'sam2-example-5', 'mine', 'sam2-example-6']);
    assert.deepEqual(later.flows.slice(0, mine.length), mine, 'the user\'s flows as they were');
    assert.deepEqual(later.given, TABS);

    const deleted = later.flows.filter((n) => n.z !== 'sam2-example-6' && n.id !== 'sam2-example-6');
    const again = planExamples(deleted, examples, later.given, withDashboard);
    assert.deepEqual(again.added, []);
    assert.deepEqual(again.flows, deleted);
  });

  it('a user dir from before example 6: it comes when the dashboard is there, the other examples are not brought back', () => {
    const flows = planExamples(undefined, examples, undefined, without).flows.filter((n) => n.z !== 'sam2-example-2' && n.id !== 'sam2-example-2');
    const plan = planExamples(flows, examples, undefined, withDashboard);
    assert.deepEqual(plan.added.map((e) => e.tab), ['sam2-example-6']);
    assert.ok(!tabs(plan.flows).includes('sam2-example-2'));
    const still = planExamples(flows, examples, undefined, without);
    assert.deepEqual([still.added, still.missing.map((e) => e.tab)], [[], ['sam2-example-6']]);
  });

  it('an example the user imported by hand is not added a second time', () => {
    const imported: FlowNode[] = [{ id: 'mine', type: 'tab' }, ...examples[5].nodes];
    const plan = planExamples(imported, examples, [], withDashboard);
    assert.deepEqual(plan.added.map((e) => e.tab), TABS.slice(0, 5));
    assert.equal(plan.flows.filter((n) => n.id === 'sam2-example-6-page').length, 1);
    assert.deepEqual(plan.given, TABS);
  });

  it('example 6 added to flows with a dashboard of the user\'s: its page on their ui-base, its own left out', () => {
    const mine: FlowNode[] = [{ id: 'my-base', type: 'ui-base', path: '/ui' }, { id: 'my-page', type: 'ui-page', ui: 'my-base', path: '/' }];
    const plan = planExamples(mine, examples, TABS.slice(0, 5), withDashboard);
    assert.deepEqual(plan.flows.filter((n) => n.type === 'ui-base').map((n) => n.id), ['my-base']);
    assert.equal(plan.flows.find((n) => n.id === 'sam2-example-6-page')?.ui, 'my-base');
    assert.deepEqual(dashboardPages(plan.flows, examples), [{ name: 'SAM2 live', path: '/ui/sam2' }]);
    // On the first start, the example brings its own ui-base at /dashboard.
    assert.deepEqual(dashboardPages(planExamples(undefined, examples, undefined, withDashboard).flows, examples), [{ name: 'SAM2 live', path: '/dashboard/sam2' }]);
  });

  describe('nodeRedLoads', () => {
    let userDir: string;
    beforeEach(() => {
      userDir = mkdtempSync(join(tmpdir(), 'sam2-demo-loads-'));
    });
    afterEach(() => rmSync(userDir, { recursive: true, force: true }));

    it('finds the dashboard where this clone\'s Node-RED looks: the clone\'s node_modules (a devDependency), or the user dir\'s', () => {
      assert.equal(nodeRedLoads(DASHBOARD, userDir), true, 'installed by npm install in the clone');
      assert.equal(nodeRedLoads('@flowfuse/node-red-dashboard-2-no-such-widget', userDir), false);
      // As Manage palette installs a module: in <userDir>/node_modules.
      mkdirSync(join(userDir, 'node_modules', '@flowfuse', 'node-red-dashboard-2-no-such-widget'), { recursive: true });
      writeFileSync(join(userDir, 'node_modules', '@flowfuse', 'node-red-dashboard-2-no-such-widget', 'package.json'), '{}');
      assert.equal(nodeRedLoads('@flowfuse/node-red-dashboard-2-no-such-widget', userDir), true);
    });
  });
});
