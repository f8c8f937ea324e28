// Running the new host kinds' plans with a fake Runner: a kernel that lacks a feature,
// ovs-vsctl's exit-0 failures, and the undo that removes an OVS bridge only when it is empty.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { OVS_SETUP_ERROR } from '../../src/drivers/ovs.js';
import { newRun } from '../../src/engine/context.js';
import { execute, rollback } from '../../src/engine/executor.js';
import type { Plan, Step } from '../../src/model/plan.js';
import { planAttach } from '../../src/engine/planner.js';
import type { NetnsHandle } from '../../src/exec/netns.js';
import type { HostLink } from '../../src/host/links.js';
import { featureText } from '../../src/host/kernel.js';
import { StepFailedError, UnsupportedError } from '../../src/model/errors.js';
import { DUMMY_DEVICES } from '../../src/drivers/dummy.js';
import { MACVLAN_DEVICES } from '../../src/drivers/macvlan.js';
import {
  FakeRunner, GUEST_BATCH, attachContext, GUEST_FORCE_BATCH, HOST_BATCH, HOST_FORCE_BATCH, NS_FD, assertRejects, batchFailure, fakeNs,
  nic, ovsFacts, settled, type Call, type ExtraHostFacts, type FakeAnswer,
} from './fakes.js';

/** One plan through the executor, as attach runs it. */
async function applyPlan(plan: Plan, o: { runner: FakeRunner; ns: NetnsHandle }): Promise<void> {
  await execute([{ plan: settled(plan), ns: o.ns }], newRun({ runner: o.runner }));
}

const VETH = 'veth1pl4242';
const NIC_MAC = '52:54:00:12:34:56';

function plan(argv: string[], links: HostLink[], extra: ExtraHostFacts = {}): Plan {
  return planAttach(attachContext(argv, { name: 'web', links, ...extra }));
}

/** What an ovs-vsctl call does: the port transaction (del-port then add-port in one) counts as add-port. */
function ovsVerb(c: Call): string | undefined {
  if (c.argv[0] !== 'ovs-vsctl') return undefined;
  return ['add-br', 'add-port', 'del-port', 'list-ports', 'del-br'].find((v) => c.argv.includes(v));
}
const isOvs = (c: Call, verb: string): boolean => ovsVerb(c) === verb;
const indexOf = (p: Plan, pred: (s: Step) => boolean): number => {
  const i = p.steps.findIndex(pred);
  assert.ok(i >= 0);
  return i;
};
const execIs = (verb: string) => (s: Step) => s.action.kind === 'exec' && s.action.argv.includes(verb);

/** What ovs-vsctl prints (on stderr, exiting 0) when the port's device cannot be opened. */
const OVS_HALF_DONE: FakeAnswer = {
  code: 0,
  stderr: `ovs-vsctl: ${OVS_SETUP_ERROR} '${VETH}': could not open network device ${VETH} (No such device).  See ovs-vswitchd log for details.\n`
    + 'ovs-vsctl: The default log directory is "/var/log/openvswitch".\n',
};

void describe('applyPlan: a kernel that lacks a feature', () => {
  for (const why of ['Error: Unknown device type.', 'RTNETLINK answers: Operation not supported']) {
    void test(`the first step's batch fails with "${why}": the feature is named, and nothing was changed`, async () => {
      const p = plan(['dummy0', 'web', '10.0.0.2/24'], []);
      const runner = new FakeRunner(() => batchFailure(1, why));
      const err = await assertRejects(applyPlan(p, { runner, ns: fakeNs() }), UnsupportedError,
        'this kernel lacks', featureText(DUMMY_DEVICES), 'kernel module dummy', p.steps[0]!.title, 'nothing was changed');
      assert.equal((err as UnsupportedError).reason, 'unsupported');
      assert.ok(!err.message.includes('Unknown device type'), err.message);
      assert.equal(runner.calls.length, 1, 'nothing to undo');
    });
  }

  void test('a macvlan on a new VLAN device: the VLAN device is removed again, and the message says so', async () => {
    const p = plan(['eth0', 'web', '10.0.0.2/24', '@10'], [nic('eth0')]);
    // The VLAN device goes alone (another plan of the run may make it too), then one host batch:
    // its pipework mark, macvlan, VLAN up. The macvlan (line 2 of that batch) is refused.
    const runner = new FakeRunner((_c, i) => (i === 1 ? batchFailure(2, 'Error: Unknown device type.') : { code: 0 }));
    const err = await assertRejects(applyPlan(p, { runner, ns: fakeNs() }), UnsupportedError,
      featureText(MACVLAN_DEVICES), 'everything done before it was undone');
    assert.ok(!err.message.includes('except what cannot be'), err.message);
    assert.deepEqual(runner.lines()[0], ['link add link eth0 name eth0.10 mtu 1500 type vlan id 10']);
    assert.deepEqual(runner.calls.slice(2), [{ argv: HOST_FORCE_BATCH, input: 'link del dev eth0.10\n', nsFd: NS_FD }]);
  });

  void test('a kernel without 802.1Q: the first step is refused, nothing was changed', async () => {
    const p = plan(['eth0', 'web', '10.0.0.2/24', '@10'], [nic('eth0')]);
    const runner = new FakeRunner(() => batchFailure(1, 'Error: Unknown device type.'));
    await assertRejects(applyPlan(p, { runner, ns: fakeNs() }), UnsupportedError, featureText('vlan'), '8021q', 'nothing was changed');
  });

  void test('a new bridge with VLAN filtering on a kernel without it: the classic words', async () => {
    const p = plan(['brpwunit9z', 'web', '10.0.0.2/24', '@10'], []);
    const runner = new FakeRunner(() => batchFailure(1, 'Error: Unknown device type.'));
    await assertRejects(applyPlan(p, { runner, ns: fakeNs() }), UnsupportedError,
      'VLAN configuration currently unsupported for Linux bridge', 'nothing was changed');
  });

  void test('another failure of a step that needs a feature stays a step failure', async () => {
    const p = plan(['dummy0', 'web', '10.0.0.2/24'], []);
    const runner = new FakeRunner(() => batchFailure(1, 'RTNETLINK answers: File exists'));
    await assertRejects(applyPlan(p, { runner, ns: fakeNs() }), StepFailedError, 'step 1 of', 'File exists', 'nothing was changed');
  });

  void test('"Unknown device type" from a step that needs nothing stays a step failure', async () => {
    const p = plan(['eth0', 'web', '10.0.0.2/24'], [nic('eth0')]);
    // The guest batch (the record, the address, up) fails at its first line.
    const runner = new FakeRunner((_c, i) => (i === 1 ? batchFailure(1, 'Error: Unknown device type.') : { code: 0 }));
    await assertRejects(applyPlan(p, { runner, ns: fakeNs() }), StepFailedError, 'step 2 of');
  });
});

void describe('applyPlan: ovs-vsctl exits 0 but failed', () => {
  const OVS = ovsFacts({ bridges: ['ovsbr0'] });

  void test('"Error detected while setting up" fails the step, and its own undo (del-port) runs before the rest', async () => {
    const p = plan(['ovsbr0', 'web', '10.0.0.2/24'], [nic('ovsbr0')], { ovs: OVS });
    const port = indexOf(p, execIs('add-port'));
    const runner = new FakeRunner((c) => (isOvs(c, 'add-port') ? OVS_HALF_DONE : { code: 0 }));
    const err = await assertRejects(applyPlan(p, { runner, ns: fakeNs() }), StepFailedError,
      `step ${port + 1} of ${p.steps.length}`, p.steps[port]!.title, 'ovs-vsctl reported', OVS_SETUP_ERROR, 'undone');
    assert.equal((err as StepFailedError).stepIndex, port);
    assert.deepEqual(runner.calls.map((c) => c.argv), [
      HOST_BATCH,
      p.steps[port]!.action.kind === 'exec' ? p.steps[port]!.action.argv : [],
      ['ovs-vsctl', '--timeout=10', '--if-exists', 'del-port', 'ovsbr0', VETH],
      HOST_FORCE_BATCH,
    ]);
    assert.equal(runner.calls[3]!.input, `link del dev ${VETH}\n`);
  });

  void test('exit 0 with other chatter on stderr is a success', async () => {
    const p = plan(['ovsbr0', 'web', '10.0.0.2/24'], [nic('ovsbr0')], { ovs: OVS });
    const runner = new FakeRunner((c) => (isOvs(c, 'add-port') ? { code: 0, stderr: 'ovs-vsctl: warning: something harmless\n' } : { code: 0 }));
    await applyPlan(p, { runner, ns: fakeNs() });
    assert.ok(!runner.calls.some((c) => isOvs(c, 'del-port') || c.argv.includes('-force')));
    assert.equal(runner.calls.at(-1)!.argv.join(' '), GUEST_BATCH.join(' '));
  });

  void test('a non-zero exit is a failure whose step did nothing: only the earlier steps are undone', async () => {
    const p = plan(['ovsbr0', 'web', '10.0.0.2/24'], [nic('ovsbr0')], { ovs: OVS });
    const runner = new FakeRunner((c) => (isOvs(c, 'add-port') ? { code: 1, stderr: 'ovs-vsctl: no bridge named ovsbr0\n' } : { code: 0 }));
    await assertRejects(applyPlan(p, { runner, ns: fakeNs() }), StepFailedError, 'no bridge named ovsbr0');
    assert.ok(!runner.calls.some((c) => isOvs(c, 'del-port')));
    assert.deepEqual(runner.calls.at(-1), { argv: HOST_FORCE_BATCH, input: `link del dev ${VETH}\n`, nsFd: NS_FD });
  });

  void test('exec steps receive the namespace fd like ip batches do', async () => {
    const p = plan(['ovsbr0', 'web', '10.0.0.2/24'], [nic('ovsbr0')], { ovs: OVS });
    const runner = new FakeRunner();
    await applyPlan(p, { runner, ns: fakeNs() });
    const port = runner.calls.find((c) => isOvs(c, 'add-port'));
    assert.equal(port?.nsFd, NS_FD);
    assert.equal(port?.input, undefined);
  });
});

void describe('rollback: an OVS bridge pipework made is removed only when empty', () => {
  /** ovs7 is created; the guest batch fails, so everything is undone. */
  async function run(listPorts: FakeAnswer): Promise<FakeRunner> {
    const p = plan(['ovs7', 'web', '10.0.0.2/24'], [], { ovs: ovsFacts() });
    assert.equal(p.steps[0]!.undo[0]?.kind === 'exec' && p.steps[0]!.undo[0].onlyIfOvsBridgeEmpty, 'ovs7');
    const runner = new FakeRunner((c) => {
      if (isOvs(c, 'list-ports')) return listPorts;
      if (c.argv.join(' ') === GUEST_BATCH.join(' ')) return batchFailure(2, 'RTNETLINK answers: Permission denied');
      return { code: 0 };
    });
    await assertRejects(applyPlan(p, { runner, ns: fakeNs() }), StepFailedError, 'Permission denied');
    return runner;
  }
  const verbs = (r: FakeRunner): string[] => r.calls.flatMap((c) => ovsVerb(c) ?? []);

  void test('another port is left on it (list-ports prints one): del-br is skipped', async () => {
    const runner = await run({ code: 0, stdout: 'vethother\n' });
    assert.deepEqual(verbs(runner), ['add-br', 'add-port', 'del-port', 'list-ports']);
    assert.deepEqual(runner.calls.find((c) => isOvs(c, 'list-ports'))?.argv, ['ovs-vsctl', '--timeout=10', 'list-ports', 'ovs7']);
    assert.ok(!runner.calls.some((c) => isOvs(c, 'del-br')));
  });

  void test('no port left: the bridge goes, after the pair and the port', async () => {
    const runner = await run({ code: 0, stdout: '\n' });
    assert.deepEqual(verbs(runner), ['add-br', 'add-port', 'del-port', 'list-ports', 'del-br']);
    const delBr = runner.calls.findIndex((c) => isOvs(c, 'del-br'));
    const delPair = runner.calls.findIndex((c) => c.argv.join(' ') === HOST_FORCE_BATCH.join(' ') && c.input?.includes(`link del dev ${VETH}`));
    assert.ok(delPair >= 0 && delPair < delBr, 'the veth goes before the bridge');
  });

  void test('list-ports failing counts as not empty: the bridge is kept', async () => {
    const runner = await run({ code: 1, stderr: 'ovs-vsctl: unix:/var/run/openvswitch/db.sock: database connection failed\n' });
    assert.ok(!runner.calls.some((c) => isOvs(c, 'del-br')));
  });

  void test('add-br itself half-done: its own undo runs (if the bridge is empty)', async () => {
    const p = plan(['ovs7', 'web', '10.0.0.2/24'], [], { ovs: ovsFacts() });
    const runner = new FakeRunner((c) => (isOvs(c, 'add-br') ? { code: 0, stderr: `ovs-vsctl: ${OVS_SETUP_ERROR} 'ovs7': could not add network device ovs7 to ofproto (Address family not supported by protocol)\n` }
      : { code: 0 }));
    await assertRejects(applyPlan(p, { runner, ns: fakeNs() }), StepFailedError, 'step 1 of', OVS_SETUP_ERROR);
    assert.deepEqual(verbs(runner), ['add-br', 'list-ports', 'del-br']);
  });

  void test('rollback alone: exec undos with onlyIfOvsBridgeEmpty ask first, plain ones do not', async () => {
    const done: Step[] = [
      { title: 'a', action: { kind: 'exec', place: 'host', argv: ['true'] }, undo: [{ kind: 'exec', place: 'host', argv: ['drop-bridge'], onlyIfOvsBridgeEmpty: 'ovs1' }] },
      { title: 'b', action: { kind: 'exec', place: 'host', argv: ['true'] }, undo: [{ kind: 'exec', place: 'host', argv: ['drop-port'] }] },
    ];
    const runner = new FakeRunner((c) => (isOvs(c, 'list-ports') ? { code: 0, stdout: 'p1\np2\n' } : { code: 0 }));
    assert.deepEqual(await rollback(done.map((step) => ({ step })), newRun({ runner }), fakeNs()), []);
    assert.deepEqual(runner.calls.map((c) => c.argv[0]), ['drop-port', 'ovs-vsctl']);
  });
});

void describe('applyPlan: --direct-phys', () => {
  void test('the move into the guest and the MAC are batched per place; a later failure gives the NIC back', async () => {
    const p = plan(['--direct-phys', 'eth0', 'web', '10.0.0.2/24', '02:42:ac:11:00:02'], [nic('eth0')]);
    // Host: the move. Guest: the MAC, the record, the address (fails), up.
    const runner = new FakeRunner((_c, i) => (i === 1 ? batchFailure(3, 'RTNETLINK answers: Permission denied') : { code: 0 }));
    await assertRejects(applyPlan(p, { runner, ns: fakeNs() }), StepFailedError, 'Permission denied', 'undone');
    assert.deepEqual(runner.calls.map((c) => c.argv), [HOST_BATCH, GUEST_BATCH, GUEST_FORCE_BATCH]);
    assert.deepEqual(runner.lines()[0], ['link set dev eth0 netns /proc/self/fd/3 name eth1']);
    // Newest first: the record is cleared, the MAC restored, then the NIC goes home under its name.
    assert.deepEqual(runner.lines()[2], [
      'link set dev eth1 alias ""',
      `link set dev eth1 address ${NIC_MAC}`,
      'link set dev eth1 netns /proc/self/fd/4 name eth0',
    ]);
  });

  void test('a rolled-back --direct-phys leaves no pipework record on the NIC it gives back', async () => {
    const p = plan(['--direct-phys', 'eth0', 'web', '10.0.0.2/24'], [nic('eth0')]);
    const runner = new FakeRunner((_c, i) => (i === 1 ? batchFailure(2, 'RTNETLINK answers: Permission denied') : { code: 0 }));
    await assertRejects(applyPlan(p, { runner, ns: fakeNs() }), StepFailedError);
    assert.deepEqual(runner.lines().at(-1), ['link set dev eth1 alias ""', 'link set dev eth1 netns /proc/self/fd/4 name eth0']);
  });

  void test('other kinds\' records need no undo: the device they are on goes', async () => {
    const p = plan(['eth0', 'web', '10.0.0.2/24'], [nic('eth0')]);
    const runner = new FakeRunner((_c, i) => (i === 1 ? batchFailure(2, 'RTNETLINK answers: Permission denied') : { code: 0 }));
    await assertRejects(applyPlan(p, { runner, ns: fakeNs() }), StepFailedError);
    // Then the guest is looked at once: what the undo removed must be gone.
    assert.deepEqual(runner.lines().slice(-2), [['link del dev eth1'], ['link show']]);
  });
});
