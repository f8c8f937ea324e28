// Running one plan with a fake Runner (the executor, as attach and del use it): batching,
// namespace entry, rollback at every step.
import { GUEST_NETNS, HOST_NETNS } from '../../src/model/plan.js';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { VLAN_MARK } from '../../src/model/vlan.js';
import { failPointFromEnv, newRun } from '../../src/engine/context.js';
import { execute, rollback } from '../../src/engine/executor.js';
import { parkedGuestName, parkedHostName } from '../../src/drivers/names.js';
import type { Action, IpAction, Plan, Step } from '../../src/model/plan.js';
import { planAttach, planDetach } from '../../src/engine/planner.js';
import type { NetnsHandle } from '../../src/exec/netns.js';
import { readHostLink, type HostLink } from '../../src/host/links.js';
import { featureText } from '../../src/host/kernel.js';
import { StepFailedError, UnsupportedError } from '../../src/model/errors.js';
import { encodeRecord, type AttachRecord } from '../../src/model/record.js';
import { DUMMY_DEVICES } from '../../src/drivers/dummy.js';
import {
  DOCKER_ROUTES_JSON, FakeRunner, GUEST_BATCH, GUEST_FORCE_BATCH, HOST_BATCH, HOST_FORCE_BATCH, NS_FD,
  assertRejects, attachContext, batchFailure, bridge, fakeNs, guestFacts, nic, settled, type Call,
} from './fakes.js';

/** One plan through the executor; `failAtStep` is 1-based, as PIPEWORK_FAIL_STEP counts. */
async function applyPlan(plan: Plan, o: { runner: FakeRunner; ns: NetnsHandle; failAtStep?: number }): Promise<void> {
  await execute([{ plan: settled(plan), ns: o.ns }], newRun({ runner: o.runner, ...(o.failAtStep !== undefined && { failAt: { job: 0, step: o.failAtStep - 1 } }) }));
}

/** Undo these steps, as the executor does for the steps a run did. */
function undo(steps: Step[], o: { runner: FakeRunner; ns: NetnsHandle }): Promise<string[]> {
  return rollback(steps.map((step) => ({ step })), newRun({ runner: o.runner }), o.ns);
}

/** A bridge name that does not exist on this machine (the raceOk/onlyIfBridgeEmpty checks read sysfs). */
const MISSING_BR = 'brpwunit9z';
/** A VLAN sub-interface name that does not exist on this machine (vlanKept reads its sysfs alias). */
const MISSING_VLAN = 'pwqunit0000009z';

/** A realistic plan without detached steps: existing br0, IPv4 with an off-link gateway, a Docker guest. */
function realisticPlan(): Plan {
  return planAttach(attachContext(['br0', 'c1', '10.0.0.2/24@10.9.9.1'], { facts: guestFacts(['lo', 'eth0'], DOCKER_ROUTES_JSON) }));
}

function step(place: 'host' | 'guest', args: string[], undo: Action[] = [], extra: Partial<Step> = {}): Step {
  return { title: `${place} ${args.join(' ')}`, action: { kind: 'ip', place, args }, undo, ...extra };
}
function ip(place: 'host' | 'guest', ...args: string[]): IpAction {
  return { kind: 'ip', place, args };
}
const inChild = (w: string): string => (w === GUEST_NETNS ? '/proc/self/fd/3' : w === HOST_NETNS ? '/proc/self/fd/4' : w);
const line = (a: Action): string => (a.kind === 'ip' ? a.args.map(inChild).join(' ') : a.kind === 'keep' ? `keep ${a.key}` : a.argv.join(' '));

/** The calls rollback must make for these done steps: undo actions newest first, grouped by place. */
function expectedUndoCalls(done: Step[]): Call[] {
  const actions = done.slice().reverse().flatMap((s) => s.undo.slice().reverse());
  const calls: Call[] = [];
  for (const a of actions) {
    assert.equal(a.kind, 'ip', 'test helper handles ip undos only');
    const argv = a.place === 'guest' ? GUEST_FORCE_BATCH : HOST_FORCE_BATCH;
    const last = calls.at(-1);
    if (last && last.argv === argv) last.input = `${last.input ?? ''}${line(a)}\n`;
    else calls.push({ argv, input: `${line(a)}\n`, nsFd: NS_FD });
  }
  return calls;
}

void describe('applyPlan: batching', () => {
  void test('host lines in one batch, guest lines in another inside the namespace', async () => {
    const plan = realisticPlan();
    const runner = new FakeRunner();
    await applyPlan(plan, { runner, ns: fakeNs() });
    const host = plan.steps.filter((s) => s.action.place === 'host').map((s) => line(s.action));
    const guest = plan.steps.filter((s) => s.action.place === 'guest').map((s) => line(s.action));
    assert.deepEqual(runner.calls, [
      { argv: HOST_BATCH, input: `${host.join('\n')}\n`, nsFd: NS_FD },
      { argv: GUEST_BATCH, input: `${guest.join('\n')}\n`, nsFd: NS_FD },
    ]);
    assert.deepEqual(runner.lines()[0], [
      'link add name veth1pl4242 mtu 1500 type veth peer name eth1 mtu 1500 netns /proc/self/fd/3',
      'link set dev veth1pl4242 alias pipework/1;r=host;g=docker:c1;n=4026532999;i=eth1;h=br0;k=bridge;l=veth1pl4242;a=10.0.0.2/24;gw=10.9.9.1;r4=172.17.0.1@eth0',
      'link set dev veth1pl4242 master br0',
      'link set dev veth1pl4242 up',
    ]);
  });

  void test('places alternate: one batch per run of consecutive steps', async () => {
    const plan: Plan = {
      guestLabel: 'g',
      outcome: 'created',
      warnings: [],
      steps: [
        step('host', ['link', 'set', 'dev', 'a', 'up']),
        step('guest', ['link', 'set', 'dev', 'b', 'up']),
        step('guest', ['link', 'set', 'dev', 'c', 'up']),
        step('host', ['link', 'set', 'dev', 'd', 'up']),
      ],
    };
    const runner = new FakeRunner();
    await applyPlan(plan, { runner, ns: fakeNs() });
    assert.deepEqual(runner.calls.map((c) => c.argv), [HOST_BATCH, GUEST_BATCH, HOST_BATCH]);
    assert.deepEqual(runner.lines(), [['link set dev a up'], ['link set dev b up', 'link set dev c up'], ['link set dev d up']]);
  });

  void test('a raceOk step (bridge creation) goes alone; the rest follow in one batch', async () => {
    const plan = planAttach(attachContext([MISSING_BR, 'c1', '10.0.0.2/24'], { links: [], guest: { pid: 4242, nsInode: 1 } }));
    const runner = new FakeRunner();
    await applyPlan(plan, { runner, ns: fakeNs() });
    assert.deepEqual(runner.calls.map((c) => c.argv), [HOST_BATCH, HOST_BATCH, GUEST_BATCH]);
    assert.deepEqual(runner.lines()[0], [`link add name ${MISSING_BR} type bridge`]);
    assert.equal(runner.lines()[1]![0], `link set dev ${MISSING_BR} up`);
  });

  void test('an exec step (IPv6 sysctl) runs inside the namespace, then the guest batch carrying the record', async () => {
    const plan = planAttach(attachContext(['br0', 'c1', '2001:db8::2/64'], { guest: { pid: 4242, nsInode: 1 }, hasArping: true }));
    assert.ok(plan.steps.every((s) => s.action.kind !== 'exec' || !s.action.detached), 'no detached steps for IPv6');
    const runner = new FakeRunner();
    await applyPlan(plan, { runner, ns: fakeNs() });
    // The record rides in the address batch: one guest ip process, not two.
    assert.deepEqual(runner.calls.map((c) => c.argv), [
      HOST_BATCH,
      ['nsenter', '--net=/proc/self/fd/3', '--', 'sysctl', '-q', '-w', 'net/ipv6/conf/eth1/disable_ipv6=0'],
      GUEST_BATCH,
    ]);
    assert.equal(runner.calls[1]!.nsFd, NS_FD);
    assert.equal(runner.calls[1]!.input, undefined);
    const guestLines = runner.lines()[2]!;
    assert.equal(guestLines.length, 3, guestLines.join('\n'));
    assert.ok(guestLines[0]!.startsWith('link set dev eth1 alias pipework/1;r=guest;'), guestLines.join('\n'));
    assert.deepEqual(guestLines.slice(1), ['addr add 2001:db8::2/64 dev eth1', 'link set dev eth1 up']);
  });

  void test('an empty plan runs nothing', async () => {
    const runner = new FakeRunner();
    await applyPlan({ guestLabel: 'g', steps: [], warnings: [], outcome: 'unchanged' }, { runner, ns: fakeNs() });
    assert.deepEqual(runner.calls, []);
  });
});

void describe('applyPlan: failures and rollback', () => {
  void test('a failure at line N of a guest batch undoes the steps before it, newest first', async () => {
    const plan = realisticPlan();
    // Steps: 1-4 host (veth, alias, master, up), 5 guest alias, 6 addr, 7 del default, 8 link up,
    // 9 on-link route, 10 default via gw. Line 5 of the guest batch is the on-link route.
    assert.equal(plan.steps.length, 10);
    const runner = new FakeRunner((call, i) => (i === 1 ? batchFailure(5) : { code: 0 }));
    const err = await assertRejects(applyPlan(plan, { runner, ns: fakeNs() }), StepFailedError,
      'step 9 of 10', plan.steps[8]!.title, 'RTNETLINK answers: File exists', 'undone');
    assert.equal((err as StepFailedError).stepIndex, 8);
    assert.deepEqual((err as StepFailedError).undoFailures, []);
    assert.ok(!err.message.includes('Command failed'));
    assert.deepEqual(runner.calls.slice(2), expectedUndoCalls(plan.steps.slice(0, 8)));
    assert.deepEqual(runner.lines().slice(2), [
      ['route add default via 172.17.0.1 dev eth0'],
      ['link del dev veth1pl4242'],
    ]);
  });

  void test('a failure at line 1 of the first batch undoes nothing', async () => {
    const plan = realisticPlan();
    const runner = new FakeRunner(() => batchFailure(1, 'RTNETLINK answers: Operation not permitted'));
    const err = await assertRejects(applyPlan(plan, { runner, ns: fakeNs() }), StepFailedError, 'step 1 of 10', 'Operation not permitted');
    assert.equal((err as StepFailedError).stepIndex, 0);
    assert.equal(runner.calls.length, 1);
  });

  void test('a batch that fails without saying which line: named by its first line, and every line of it counts as maybe done', async () => {
    const plan = realisticPlan();
    const runner = new FakeRunner((_c, i) => (i === 1 ? { code: 1, stderr: 'nsenter: reassociate to namespace failed\n' } : { code: 0 }));
    await assertRejects(applyPlan(plan, { runner, ns: fakeNs() }), StepFailedError, 'step 5 of 10', 'nsenter');
    // The guest batch's undos run too (newest first, with -force), then the host's.
    assert.deepEqual(runner.calls.slice(2).map((c) => c.argv), [GUEST_FORCE_BATCH, HOST_FORCE_BATCH]);
    assert.deepEqual(runner.lines().slice(2), [
      ['route del default via 10.9.9.1 dev eth1', 'route add default via 172.17.0.1 dev eth0'],
      ['link del dev veth1pl4242'],
    ]);
  });

  void test('undoing what a dead batch may have done: its undos\' failures are not reported', async () => {
    const plan = realisticPlan();
    // The guest batch is killed (no "Command failed" line); undoing its lines then fails (they never ran).
    const runner = new FakeRunner((c, i) => (i === 1 ? { code: 137, stderr: '' }
      : c.argv.join(' ') === GUEST_FORCE_BATCH.join(' ') ? batchFailure(1, 'RTNETLINK answers: No such process') : { code: 0 }));
    const err = await assertRejects(applyPlan(plan, { runner, ns: fakeNs() }), StepFailedError, 'step 5 of 10', 'everything done before it was undone');
    assert.deepEqual((err as StepFailedError).undoFailures, []);
  });

  const STEPS = realisticPlan().steps.length;
  for (let k = 1; k <= STEPS + 1; k++) {
    void test(`failAtStep ${k}: the steps before it are undone, and the error names the step`, async () => {
      const plan = realisticPlan();
      const runner = new FakeRunner();
      const ctx = { runner, ns: fakeNs(), failAtStep: k };
      if (k > STEPS) {
        await applyPlan(plan, ctx);
        assert.equal(runner.calls.length, 2);
        return;
      }
      const err = await assertRejects(applyPlan(plan, ctx), StepFailedError, `step ${k} of ${STEPS}`, plan.steps[k - 1]!.title, 'injected failure');
      assert.equal((err as StepFailedError).stepIndex, k - 1);
      // What ran forward: exactly steps 1..k-1, in order, in per-place batches.
      const forward = runner.calls.filter((c) => !c.argv.includes('-force'));
      assert.deepEqual(forward.flatMap((c) => (c.input ?? '').split('\n').filter((l) => l !== '')),
        plan.steps.slice(0, k - 1).map((s) => line(s.action)));
      // And then the undo of exactly those steps.
      const undo = runner.calls.filter((c) => c.argv.includes('-force'));
      assert.deepEqual(undo, expectedUndoCalls(plan.steps.slice(0, k - 1)));
      assert.deepEqual(runner.calls, [...forward, ...undo], 'undo comes after everything done');
    });
  }

  void test('undo failures are reported, and the message says so', async () => {
    const plan = realisticPlan();
    const runner = new FakeRunner((call) => (call.argv.includes('-force') ? batchFailure(1, 'Cannot find device "veth1pl4242"') : { code: 0 }));
    const err = await assertRejects(applyPlan(plan, { runner, ns: fakeNs(), failAtStep: 8 }), StepFailedError,
      'step 8 of 10', 'undoing the earlier steps also failed', 'Cannot find device');
    const { undoFailures } = err as StepFailedError;
    assert.equal(undoFailures.length, 2);
    assert.ok(undoFailures[0]!.startsWith('ip route add default via 172.17.0.1 dev eth0: '));
    assert.ok(undoFailures[1]!.startsWith('ip link del dev veth1pl4242: '));
  });

  void test('a failing exec step is rolled back like an ip step', async () => {
    const plan: Plan = {
      guestLabel: 'g',
      outcome: 'created',
      warnings: [],
      steps: [
        step('host', ['link', 'add', 'name', 'x0', 'type', 'veth', 'peer', 'name', 'x1'], [ip('host', 'link', 'del', 'dev', 'x0')]),
        { title: 'run a client', action: { kind: 'exec', place: 'guest', argv: ['udhcpc', '-i', 'x1'] }, undo: [] },
      ],
    };
    const runner = new FakeRunner((call) => (call.argv.includes('udhcpc') ? { code: 1, stderr: 'udhcpc: no lease\n' } : { code: 0 }));
    const err = await assertRejects(applyPlan(plan, { runner, ns: fakeNs() }), StepFailedError, 'step 2 of 2', 'run a client', 'no lease');
    assert.ok(err.cause instanceof Error);
    // The error keeps which step, and its command.
    assert.deepEqual((err as StepFailedError).step, { index: 1, title: 'run a client', argv: ['udhcpc', '-i', 'x1'] });
    assert.deepEqual(runner.calls.map((c) => c.argv), [HOST_BATCH, ['nsenter', '--net=/proc/self/fd/3', '--', 'udhcpc', '-i', 'x1'], HOST_FORCE_BATCH]);
  });

  void test('raceOk: "File exists" on a bridge that is not there is a real failure', async () => {
    assert.equal(readHostLink(MISSING_BR), undefined, `${MISSING_BR} must not exist on this machine`);
    const plan = planAttach(attachContext([MISSING_BR, 'c1', '10.0.0.2/24'], { links: [], guest: { pid: 4242, nsInode: 1 } }));
    const runner = new FakeRunner(() => batchFailure(1));
    const err = await assertRejects(applyPlan(plan, { runner, ns: fakeNs() }), StepFailedError, 'step 1 of', MISSING_BR, 'File exists');
    assert.equal((err as StepFailedError).stepIndex, 0);
    assert.equal(runner.calls.length, 1, 'nothing to undo');
  });

  void test('a bridge we created is deleted on undo only if it is empty (a missing bridge is skipped)', async () => {
    const plan = planAttach(attachContext([MISSING_BR, 'c1', '10.0.0.2/24'], { links: [], guest: { pid: 4242, nsInode: 1 } }));
    // Steps: bridge add (alone), bridge up + veth + alias + master + up, then the guest batch: alias, addr, link up.
    const runner = new FakeRunner((_c, i) => (i === 2 ? batchFailure(3) : { code: 0 }));
    await assertRejects(applyPlan(plan, { runner, ns: fakeNs() }), StepFailedError, 'step 9 of 9');
    // The bridge's undo (onlyIfBridgeEmpty) is skipped: sysfs has no such bridge.
    assert.deepEqual(runner.lines().slice(3), [['link del dev veth1pl4242']]);
  });

  void test(
    'an error that is not a failed command (an unsafe batch token: an internal error) still rolls back what was done',
    async () => {
      const plan: Plan = {
        guestLabel: 'g',
        outcome: 'created',
        warnings: [],
        steps: [
          step('host', ['link', 'add', 'name', 'x0', 'type', 'veth', 'peer', 'name', 'x1'], [ip('host', 'link', 'del', 'dev', 'x0')]),
          step('guest', ['link', 'set', 'dev', 'a#b', 'up']),
        ],
      };
      const runner = new FakeRunner();
      // An internal error stays one (the CLI reports it as such, exit 70).
      await assertRejects(applyPlan(plan, { runner, ns: fakeNs() }), Error, 'unsafe token');
      assert.deepEqual(runner.lines().at(-1), ['link del dev x0']);
    },
  );
});

/**
 * A plan without the guarded steps that bring down a NIC pipework brought up (they ask the real
 * host at run time: covered in planner.test.ts and the integration tests).
 */
function withoutNicDown(plan: Plan): Plan {
  return { ...plan, steps: plan.steps.filter((s) => !(s.action.kind === 'ip' && s.action.onlyIfAltName !== undefined)) };
}

/** `pipework <argv> --replace` over eth1 that a first `<first>` run left in the guest. */
function replacePlan(argv: string[], host: HostLink[], first: string[] = ['br0', 'c1', '10.0.0.2/24'], firstHost: HostLink[] = [bridge('br0'), nic('eth0')]): Plan {
  const before = planAttach(attachContext(first, { links: firstHost }));
  const eth1 = { name: 'eth1', alias: encodeRecord(before.record!), kind: 'veth', up: true };
  const plan = planAttach(attachContext([...argv, '--replace'], { links: host, facts: guestFacts(['lo', 'eth0', eth1]) }));
  assert.equal(plan.outcome, 'replaced');
  return plan;
}
const PARKED = parkedGuestName({ pid: 4242, nsInode: 4026532999 }, 'eth1');
const PARKED_HOST = parkedHostName({ pid: 4242, nsInode: 4026532999 }, 'eth1');

void describe('applyPlan: irreversible steps', () => {
  void test('--replace: a failure while the new interface is built puts the old one back as it was; nothing is lost', async () => {
    const plan = replacePlan(['br0', 'c1', '10.0.0.3/24'], [bridge('br0'), nic('veth1pl4242', { up: true, master: 'br0' })]);
    assert.ok(plan.steps.slice(0, -1).every((s) => s.irreversible !== true));
    // Call 0: the guest batch parking eth1; call 1: the host batch parking the host end, then the new pair (refused).
    const runner = new FakeRunner((_c, i) => (i === 1 ? batchFailure(3) : { code: 0 }));
    const err = await assertRejects(applyPlan(plan, { runner, ns: fakeNs() }), StepFailedError,
      `step 5 of ${plan.steps.length}`, plan.steps[4]!.title, 'File exists', '; everything done before it was undone');
    assert.ok(!err.message.includes('except what cannot be'), err.message);
    assert.deepEqual(runner.lines()[0], ['link set dev eth1 down', `link set dev eth1 name ${PARKED}`]);
    assert.deepEqual(runner.lines()[1]!.slice(0, 3), ['link set dev veth1pl4242 down', `link set dev veth1pl4242 name ${PARKED_HOST}`, line(plan.steps[4]!.action)]);
    // Newest first: the host end gets its name back and comes up, then the guest end.
    assert.deepEqual(runner.calls.slice(2).map((c) => c.argv), [HOST_FORCE_BATCH, GUEST_FORCE_BATCH]);
    assert.deepEqual(runner.lines().slice(2), [
      [`link set dev ${PARKED_HOST} name veth1pl4242`, 'link set dev veth1pl4242 up'],
      [`link set dev ${PARKED} name eth1`, 'link set dev eth1 up'],
    ]);
  });

  void test('--replace: a failure after the parked interface is gone says what could not be undone', async () => {
    // The old eth1 is a macvlan on eth0.10: after it goes, its VLAN sub-interface is looked at (and the failure injected there).
    const plan = withoutNicDown(replacePlan(['br0', 'c1', '10.0.0.3/24'], [bridge('br0'), nic('eth0'), nic('eth0.10')], ['eth0', 'c1', '10.0.0.2/24', '@10']));
    const removal = plan.steps.length - 2;
    const removed = plan.steps[removal]!;
    assert.equal(removed.irreversible, true);
    assert.equal(removed.title, `remove ${PARKED} (macvlan eth0) (replaced)`);
    const runner = new FakeRunner();
    const err = await assertRejects(applyPlan(plan, { runner, ns: fakeNs(), failAtStep: plan.steps.length }), StepFailedError,
      `step ${plan.steps.length} of ${plan.steps.length}`, 'injected failure', `; everything done before it was undone, except what cannot be: ${removed.title}`);
    assert.ok(err.message.endsWith(`except what cannot be: ${removed.title}`), err.message);
    assert.ok(runner.lines().some((l) => l.includes(`link del dev ${PARKED}`)), 'the removal ran');
  });

  void test('a failure of the irreversible step itself: nothing was changed', async () => {
    const record: AttachRecord = { role: 'guest', guest: 'docker:c1', nsInode: 4026532999, guestIf: 'eth1', hostIf: 'br0', hostKind: 'bridge', localIf: 'veth1pl4242' };
    const plan = planDetach([{ guestIf: 'eth1', record }], guestFacts(), 'g');
    assert.equal(plan.steps[0]!.irreversible, true);
    const runner = new FakeRunner(() => batchFailure(1, 'Cannot find device "eth1"'));
    const err = await assertRejects(applyPlan(plan, { runner, ns: fakeNs() }), StepFailedError, 'step 1 of', 'nothing was changed');
    assert.ok(!err.message.includes('except what cannot be'), err.message);
  });

  void test('a kernel that lacks a feature while --replace builds the new interface: named, and the old one is back', async () => {
    const plan = replacePlan(['eth0', 'c1', '10.0.0.3/24', '@10'], [bridge('br0'), nic('eth0')]);
    const runner = new FakeRunner((_c, i) => (i === 1 ? batchFailure(1, 'Error: Unknown device type.') : { code: 0 }));
    const err = await assertRejects(applyPlan(plan, { runner, ns: fakeNs() }), UnsupportedError,
      'this kernel lacks', featureText('vlan'), 'everything done before it was undone');
    assert.ok(!err.message.includes('except what cannot be'), err.message);
    assert.deepEqual(runner.lines().at(-1), [`link set dev ${PARKED} name eth1`, 'link set dev eth1 up']);
  });

  void test('a kernel that lacks a feature, after an irreversible step: both are said', async () => {
    const plan: Plan = {
      guestLabel: 'g',
      outcome: 'replaced',
      warnings: [],
      steps: [
        { ...step('guest', ['link', 'del', 'dev', 'eth1']), title: 'remove eth1', irreversible: true },
        { ...step('host', ['link', 'add', 'name', 'x0', 'type', 'dummy']), needs: featureText(DUMMY_DEVICES) },
      ],
    };
    const runner = new FakeRunner((_c, i) => (i === 1 ? batchFailure(1, 'Error: Unknown device type.') : { code: 0 }));
    await assertRejects(applyPlan(plan, { runner, ns: fakeNs() }), UnsupportedError,
      'this kernel lacks', featureText(DUMMY_DEVICES), 'except what cannot be: remove eth1');
  });

  void test('every irreversible step done before the failure is named, in order; the rest is undone', async () => {
    const plan: Plan = {
      guestLabel: 'g',
      outcome: 'replaced',
      warnings: [],
      steps: [
        step('host', ['link', 'add', 'name', 'x0', 'type', 'dummy'], [ip('host', 'link', 'del', 'dev', 'x0')]),
        { ...step('guest', ['link', 'del', 'dev', 'eth1']), title: 'remove eth1', irreversible: true },
        step('guest', ['link', 'set', 'dev', 'eth3', 'up'], [ip('guest', 'link', 'set', 'dev', 'eth3', 'down')]),
        { ...step('guest', ['link', 'del', 'dev', 'eth2']), title: 'remove eth2', irreversible: true },
        step('host', ['link', 'set', 'dev', 'x0', 'up']),
      ],
    };
    const runner = new FakeRunner((_c, i) => (i === 2 ? batchFailure(1) : { code: 0 }));
    await assertRejects(applyPlan(plan, { runner, ns: fakeNs() }), StepFailedError,
      'step 5 of 5', 'everything done before it was undone, except what cannot be: remove eth1; remove eth2');
    assert.deepEqual(runner.calls.slice(3), expectedUndoCalls(plan.steps.slice(0, 4)));
    assert.deepEqual(runner.lines().slice(3), [['link set dev eth3 down'], ['link del dev x0']]);
    // Irreversible steps after the failed one are not named: they never ran.
    const early = new FakeRunner(() => batchFailure(1));
    const before = await assertRejects(applyPlan(plan, { runner: early, ns: fakeNs() }), StepFailedError, 'step 1 of 5', 'nothing was changed');
    assert.ok(!before.message.includes('remove eth'), before.message);
  });
});

void describe('applyPlan: a VLAN sub-interface removed only if unused (onlyIfVlanUnused)', () => {
  const vlanStep = (name: string): Step => ({
    title: `remove VLAN sub-interface ${name} if pipework made it and nothing else uses it`,
    action: { kind: 'ip', place: 'host', args: ['link', 'del', 'dev', name], onlyIfVlanUnused: name },
    undo: [],
  });
  const record = (guestIf: string, vlanIf: string): AttachRecord => ({
    role: 'guest', guest: 'docker:c1', nsInode: 4026532999, guestIf, hostIf: 'eth0', hostKind: 'macvlan', vlan: 10, vlanIf,
  });

  void test('a sub-interface that is not there is left alone: nothing runs for it', async () => {
    assert.equal(existsSync(`/sys/class/net/${MISSING_VLAN}`), false, `${MISSING_VLAN} must not exist on this machine`);
    const plan = withoutNicDown(planDetach([{ guestIf: 'eth1', record: record('eth1', MISSING_VLAN) }], guestFacts(), 'g'));
    assert.equal(plan.steps.length, 2);
    const runner = new FakeRunner();
    await applyPlan(plan, { runner, ns: fakeNs() });
    assert.deepEqual(runner.calls, [{ argv: GUEST_BATCH, input: 'link del dev eth1\n', nsFd: NS_FD }]);
  });

  void test('a sub-interface without the pipework mark (one pipework did not make) is kept', async (t) => {
    let alias: string;
    try {
      alias = readFileSync('/sys/class/net/lo/ifalias', 'utf8').trim();
    } catch {
      t.skip('no /sys/class/net/lo/ifalias here');
      return;
    }
    assert.notEqual(alias, VLAN_MARK);
    const runner = new FakeRunner();
    await applyPlan({ guestLabel: 'g', outcome: 'removed', warnings: [], steps: [vlanStep('lo')] }, { runner, ns: fakeNs() });
    assert.deepEqual(runner.calls, [], 'lo is not deleted, and no namespace is asked');
  });

  void test('a skipped step does not stop the plan: the next target is removed too', async () => {
    const plan = withoutNicDown(planDetach([
      { guestIf: 'eth1', record: record('eth1', MISSING_VLAN) },
      { guestIf: 'eth2', record: record('eth2', MISSING_VLAN) },
    ], guestFacts(), 'g'));
    const runner = new FakeRunner();
    await applyPlan(plan, { runner, ns: fakeNs() });
    assert.deepEqual(runner.lines(), [['link del dev eth1'], ['link del dev eth2']]);
    assert.deepEqual(runner.calls.map((c) => c.argv), [GUEST_BATCH, GUEST_BATCH], 'nothing on the host');
  });

  void test('it runs alone: never batched with the host steps around it', async () => {
    const plan: Plan = {
      guestLabel: 'g',
      outcome: 'removed',
      warnings: [],
      steps: [step('host', ['link', 'set', 'dev', 'a0', 'up']), vlanStep(MISSING_VLAN), step('host', ['link', 'set', 'dev', 'b0', 'up'])],
    };
    const runner = new FakeRunner();
    await applyPlan(plan, { runner, ns: fakeNs() });
    assert.deepEqual(runner.calls, [
      { argv: HOST_BATCH, input: 'link set dev a0 up\n', nsFd: NS_FD },
      { argv: HOST_BATCH, input: 'link set dev b0 up\n', nsFd: NS_FD },
    ]);
  });
});

void describe('rollback', () => {
  void test('undo actions run newest first, grouped by place, with -force; exec undos run alone', async () => {
    const done: Step[] = [
      step('host', ['a'], [ip('host', 'u1')]),
      step('host', ['b'], [ip('host', 'u2a'), ip('host', 'u2b')]),
      step('guest', ['c'], [ip('guest', 'u3')]),
      { title: 'exec', action: { kind: 'exec', place: 'guest', argv: ['true'] }, undo: [{ kind: 'exec', place: 'guest', argv: ['kill-it'] }] },
      step('guest', ['d'], [ip('guest', 'u5')]),
    ];
    const runner = new FakeRunner();
    const failures = await undo(done, { runner, ns: fakeNs() });
    assert.deepEqual(failures, []);
    assert.deepEqual(runner.calls, [
      { argv: GUEST_FORCE_BATCH, input: 'u5\n', nsFd: NS_FD },
      { argv: ['nsenter', '--net=/proc/self/fd/3', '--', 'kill-it'], nsFd: NS_FD },
      { argv: GUEST_FORCE_BATCH, input: 'u3\n', nsFd: NS_FD },
      { argv: HOST_FORCE_BATCH, input: 'u2b\nu2a\nu1\n', nsFd: NS_FD },
    ]);
  });

  void test('nothing done: nothing run', async () => {
    const runner = new FakeRunner();
    assert.deepEqual(await undo([step('host', ['a'])], { runner, ns: fakeNs() }), []);
    assert.deepEqual(runner.calls, []);
  });

  void test('a failed undo line is reported with the line and the reason', async () => {
    const runner = new FakeRunner(() => batchFailure(2, 'RTNETLINK answers: No such process'));
    const failures = await undo([step('host', ['a'], [ip('host', 'one')]), step('host', ['b'], [ip('host', 'two')])], { runner, ns: fakeNs() });
    assert.deepEqual(failures, ['ip one: RTNETLINK answers: No such process']);
  });

  void test('a failed exec undo is reported', async () => {
    const runner = new FakeRunner(() => ({ code: 3, stderr: 'nope\n' }));
    const failures = await undo([{ title: 'x', action: { kind: 'exec', place: 'host', argv: ['x'] }, undo: [{ kind: 'exec', place: 'host', argv: ['undo-x'] }] }],
      { runner, ns: fakeNs() });
    assert.equal(failures.length, 1);
    assert.ok(failures[0]!.includes('undo-x') && failures[0]!.includes('nope'));
    assert.deepEqual(runner.calls[0]!.argv, ['undo-x']);
  });
});

void describe('failPointFromEnv', () => {
  void test('PIPEWORK_FAIL_STEP=N is step N of the first plan; K:N step N of the K-th (both 1-based, made 0-based)', () => {
    assert.deepEqual(failPointFromEnv({ PIPEWORK_FAIL_STEP: '3' }), { job: 0, step: 2 });
    assert.deepEqual(failPointFromEnv({ PIPEWORK_FAIL_STEP: '1' }), { job: 0, step: 0 });
    assert.deepEqual(failPointFromEnv({ PIPEWORK_FAIL_STEP: '2:5' }), { job: 1, step: 4 });
    assert.deepEqual(failPointFromEnv({ PIPEWORK_FAIL_STEP: '12:1' }), { job: 11, step: 0 });
  });

  void test('anything else is no fail point', () => {
    assert.equal(failPointFromEnv({}), undefined);
    for (const v of ['x', '-1', '0', '0:3', '3:0', ':3', '3:', '1.5', ' 3', '3 ', '1:2:3', '']) {
      assert.equal(failPointFromEnv({ PIPEWORK_FAIL_STEP: v }), undefined, JSON.stringify(v));
    }
  });
});

void test('sanity: this machine has no bridge named like the test one', () => {
  assert.equal(existsSync(`/sys/class/net/${MISSING_BR}`), false);
});

void test('sanity: this machine has no VLAN sub-interface named like the test one', () => {
  assert.equal(existsSync(`/sys/class/net/${MISSING_VLAN}`), false);
});
