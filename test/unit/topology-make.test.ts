// What apply makes of netns a run given up half-way left (issue 19 item 5): one made but never
// marked is finished (lo up, the mark), the empty file of an `ip netns add` that never mounted goes
// before the netns is made again, and one that exists and is not in the state file is left alone.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { planMake } from '../../src/front/topology/make.js';
import type { Live } from '../../src/front/topology/live.js';
import type { HostLink } from '../../src/host/links.js';
import { parseTopology } from '../../src/front/topology/parse.js';

const TOPOLOGY = parseTopology(`name: tmk
networks:
  lan: {bridge: br-tmk}
guests:
  a: {netns: tmk-a}
  b: {netns: tmk-b}
  c: {netns: tmk-c}
  d: {netns: tmk-d}
links:
  - a lan 10.9.0.1/24
`, 'tmk.yaml');

function live(unfinished: [string, 'pristine' | 'unmounted'][]): Live {
  return {
    topology: 'tmk', hostEnds: new Map(), allHostEnds: [], bridges: new Set(), ovsBridges: new Set(), vxlans: new Set(),
    netns: new Map(unfinished.map(([n]) => [n, 7])), unfinished: new Map(unfinished), containers: [],
  };
}

void describe('topology: netns a given-up run left', () => {
  void test('made but unmarked: only the mark step; unmounted: removed, made, marked; present: nothing; absent: made', () => {
    const exists = new Set(['tmk-a', 'tmk-b', 'tmk-c']);
    const plan = planMake(TOPOLOGY, live([['tmk-a', 'pristine'], ['tmk-b', 'unmounted']]), () => undefined, (n) => exists.has(n));
    const netnsSteps = plan.steps.filter((s) => s.action.kind === 'ip' && s.action.args[0] === 'netns').map((s) => (s.action.kind === 'ip' ? s.action.args.slice(0, 3).join(' ') : ''));
    assert.deepEqual(netnsSteps, [
      'netns exec tmk-a',
      'netns del tmk-b', 'netns add tmk-b', 'netns exec tmk-b',
      'netns add tmk-d', 'netns exec tmk-d',
    ]);
    assert.deepEqual(plan.netns, ['tmk-b', 'tmk-d'], 'what the run makes (and its undo removes) are the ones it adds');
    const del = plan.steps.find((s) => s.title.includes('unmounted'));
    assert.equal(del?.irreversible, true);
  });
});

void describe('topology: a bridge a given-up run made and never marked', () => {
  void test('apply marks it (and does not make it again)', () => {
    const l = live([]);
    l.bridges.add('br-tmk');
    l.unmarkedBridges = new Set(['br-tmk']);
    const br = { name: 'br-tmk', isBridge: true, up: true, ports: [], mtu: 1500, alias: '' } as unknown as HostLink;
    const plan = planMake(TOPOLOGY, l, (n) => (n === 'br-tmk' ? br : undefined), () => true);
    assert.deepEqual(plan.bridges, []);
    assert.deepEqual(plan.steps.filter((s) => s.title.includes('br-tmk')).map((s) => s.title), ['mark bridge br-tmk as made by topology tmk']);
  });
});
