// The VLAN-segmented Open vSwitch example, as root: traffic within a VLAN and none across,
// a second apply unchanged, a tag changed in the file re-makes that link alone, destroy removes
// the OVS bridge it made and every row — and never an OVS bridge that was there before.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { sh } from './helpers/run.js';
import { assertSameState, cleanupAll, example, hostState, ifindex, ping, pw, pwOk, scratch, write } from './topology-lib.js';

const REWRITE: [string, string][] = [['vlab-', 'tgvlab-'], ['ovs-vlab', 'ovs-tgvlab'], ['name: ovs-vlans', 'name: tgvlan']];

async function ovsRunning(): Promise<boolean> {
  return (await sh(['ovs-appctl', '--timeout=2', '-t', 'ovs-vswitchd', 'version'])).code === 0;
}

async function portTag(port: string): Promise<string> {
  return (await sh(['ovs-vsctl', '--timeout=5', 'get', 'Port', port, 'tag'])).stdout.trim();
}

void describe('topology: the VLAN-segmented Open vSwitch example', async () => {
  const running = await ovsRunning();
  let dir: string;
  let file: string;
  let pristine: unknown;

  before(async () => {
    // A suite that cannot run here fails (never passes silently): scripts/test.sh starts OVS.
    assert.ok(running, 'ovs-vswitchd is not running: start Open vSwitch (scripts/test.sh does)');
    await cleanupAll();
    dir = scratch();
    file = example('ovs-vlans.yaml', dir, REWRITE);
    pristine = await hostState();
  });
  after(async () => {
    await pw(['destroy', '--name', 'tgvlan']);
    await cleanupAll();
  });

  void test('apply: the OVS bridge is made and marked; same VLAN pings, across VLANs nothing', async () => {
    const r = await pwOk(['apply', file]);
    assert.match(r.stdout, /made tgvlab-r1, tgvlab-r2, tgvlab-b1, tgvlab-b2, tgvlab-r3, ovs-tgvlab/u);
    assert.equal((await sh(['ovs-vsctl', '--timeout=5', 'br-get-external-id', 'ovs-tgvlab', 'pipework.topology'])).stdout.trim(), 'tgvlan');
    assert.ok(await ping('tgvlab-r1', '10.42.0.12'), 'red ↔ red');
    assert.ok(await ping('tgvlab-b1', '10.42.0.22'), 'blue ↔ blue');
    assert.ok(await ping('tgvlab-r1', '10.42.0.13'), 'red ↔ r3, whose own link says VLAN 10');
    assert.ok(!(await ping('tgvlab-r1', '10.42.0.21', 1)), 'red must not reach blue');
    assert.ok(!(await ping('tgvlab-b1', '10.42.0.11', 1)), 'blue must not reach red');
  });

  void test('a second apply is unchanged, state identical', async () => {
    const before = await hostState();
    assert.match((await pwOk(['apply', file])).stdout, /up to date \(5 unchanged\)/u);
    await assertSameState(before, 'a second apply changed something');
  });

  void test('a VLAN changed in the file: that link alone is re-made, in its new VLAN', async () => {
    const r1 = await ifindex('tgvlab-r1', 'eth1');
    writeFileSync(file, readFileSync(file, 'utf8').replace('r3 lab 10.42.0.13/24 @10', 'r3 lab 10.42.0.13/24 @20'));
    const r = await pwOk(['apply', file]);
    assert.match(r.stdout, /^links\[4\] r3:eth1: replaced$/mu);
    assert.equal(await ifindex('tgvlab-r1', 'eth1'), r1);
    assert.ok(await ping('tgvlab-b1', '10.42.0.13'), 'r3 is on VLAN 20 now');
    assert.ok(!(await ping('tgvlab-r1', '10.42.0.13', 1)), 'and no longer on VLAN 10');
  });

  void test('an OVS port tag changed by hand is drift, repaired by apply', async () => {
    const port = (await sh(['ovs-vsctl', '--timeout=5', 'list-ports', 'ovs-tgvlab'])).stdout.split('\n').filter((p) => p !== '');
    const hostEnd = port[0]!;
    const tag = await portTag(hostEnd);
    await sh(['ovs-vsctl', '--timeout=5', 'set', 'Port', hostEnd, 'tag=33']);
    const r = await pwOk(['apply', file]);
    assert.match(r.stdout, /repaired \(port .* has tag 33, not \d+\)/u);
    assert.equal(await portTag(hostEnd), tag);
  });

  void test('destroy removes the OVS bridge it made and every row: the host exactly as before', async () => {
    await pwOk(['destroy', file]);
    await assertSameState(pristine, 'destroy left something behind');
    assert.notEqual((await sh(['ovs-vsctl', '--timeout=5', 'br-exists', 'ovs-tgvlab'])).code, 0);
  });

  void test('an OVS bridge that was there before (external or not) is never removed', async () => {
    await sh(['ovs-vsctl', '--timeout=10', 'add-br', 'ovs-tgpre', '--', 'set', 'bridge', 'ovs-tgpre', 'datapath_type=netdev']);
    try {
      const f = write(dir, 'pre.yaml', 'name: tgpre\nnetworks:\n  a: {ovs: ovs-tgpre, vlan: 5}\n  b: {ovs: ovs-tgpre, vlan: 6, external: true}\nguests:\n  x: {netns: tgpre-x}\n  y: {netns: tgpre-y}\nlinks:\n  - x a 10.49.0.1/24\n  - y a 10.49.0.2/24\n  - x:eth2 b 10.49.1.1/24\n');
      const refused = await pw(['apply', f]);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /networks\.b\.external: ovs-tgpre is also network a, which is not external/u);
      writeFileSync(f, readFileSync(f, 'utf8').replace(', external: true', ''));
      const before = await hostState();
      await pwOk(['apply', f]);
      assert.ok(await ping('tgpre-x', '10.49.0.2'));
      await pwOk(['destroy', f]);
      await assertSameState(before, 'destroy changed a pre-existing OVS bridge');
      assert.equal((await sh(['ovs-vsctl', '--timeout=5', 'br-exists', 'ovs-tgpre'])).code, 0);
    } finally {
      await sh(['ovs-vsctl', '--timeout=10', '--if-exists', 'del-br', 'ovs-tgpre']);
    }
  });
});
