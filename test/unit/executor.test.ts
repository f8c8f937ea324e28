// The executor with several plans at once (what `pipework batch` and a topology run): host
// segments of every plan in one `ip -batch`, guest segments fanned out through one xargs, each
// plan's namespace tokens rewritten to its own fd, and all or nothing: a failure anywhere undoes
// every plan, newest first, and says which line failed.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { driverFor } from '../../src/drivers/registry.js';
import { newRun, type RunOptions } from '../../src/engine/context.js';
import { StaleFactsError, execute, type Job } from '../../src/engine/executor.js';
import { HOST_LOCK, acquire } from '../../src/engine/lock.js';
import type { Action, IpAction, Plan, Step } from '../../src/model/plan.js';
import { planAttach } from '../../src/engine/planner.js';
import { ownNetnsFd } from '../../src/exec/runner.js';
import { featureText } from '../../src/host/kernel.js';
import { CommandError, InterruptedError, StepFailedError, UnsupportedError } from '../../src/model/errors.js';
import type { AttachRecord } from '../../src/model/record.js';
import {
  FakeRunner, HOST_BATCH, HOST_FORCE_BATCH, GUEST_FORCE_BATCH, assertRejects, attachContext, batchFailure, fakeNs, guestFacts, nic, settled,
  type Call, type FakeAnswer,
} from './fakes.js';

/** Three guests, each its own namespace fd (the host's is the process's own, handed down last). */
const G = [fakeNs('docker container a (pid 101)', 71, 4026531001), fakeNs('docker container b (pid 102)', 72, 4026531002), fakeNs('netns blue', 73, 4026531003)];
const HOST_FD = ownNetnsFd();
const XARGS = ['xargs', '-0', '-n', '5', '-P', '8', 'nsenter'];
/** A VLAN sub-interface name that does not exist on this machine (vlanKept reads its sysfs alias). */
const MISSING_VLAN = 'pwqunit0000008z';

function step(place: 'host' | 'guest', args: string[], undo: Action[] = [], extra: Partial<Step> = {}): Step {
  return { title: `${place} ${args.join(' ')}`, action: { kind: 'ip', place, args }, undo, ...extra };
}
function ip(place: 'host' | 'guest', ...args: string[]): IpAction {
  return { kind: 'ip', place, args };
}
const plan = (...steps: Step[]): Plan => ({ guestLabel: 'g', outcome: 'created', warnings: [], steps });
const jobs = (...plans: Plan[]): Job[] => plans.map((p, k) => ({ plan: settled(p), ns: G[k]!, label: `line ${k + 1}` }));
const run = (runner: FakeRunner, js: Job[], o: RunOptions = {}) => execute(js, newRun({ runner, ...o }));

/** What the guests' batch files said when xargs ran them (they are gone once the run is over). */
interface Fanned {
  call: Call;
  /** Per group: the namespace it enters, and its batch file's lines. */
  groups: { net: string; lines: string[] }[];
}
function readFanOut(call: Call): Fanned {
  const words = (call.input ?? '').split('\0');
  const groups: Fanned['groups'] = [];
  for (let i = 0; i + 4 < words.length; i += 5) {
    assert.deepEqual([words[i + 1], words[i + 2], words[i + 3]], ['--', 'ip', '-batch'], words.join(' '));
    groups.push({ net: words[i]!, lines: readFileSync(words[i + 4]!, 'utf8').split('\n').filter((l) => l !== '') });
  }
  return { call, groups };
}

/** A runner that reads the guests' batch files as xargs is started, and answers from `answer`. */
function recording(answer: (c: Call, i: number, fanned?: Fanned) => FakeAnswer = () => ({ code: 0 })): { runner: FakeRunner; fanned: Fanned[] } {
  const fanned: Fanned[] = [];
  const runner = new FakeRunner((c, i) => {
    if (c.argv[0] !== 'xargs') return answer(c, i);
    const f = readFanOut(c);
    fanned.push(f);
    return answer(c, i, f);
  });
  return { runner, fanned };
}

/** ip -batch FILE's complaint, as xargs passes it on, for the k-th guest's file at `line` (1-based). */
function fannedFailure(f: Fanned, k: number, line: number, why = 'RTNETLINK answers: File exists'): FakeAnswer {
  const file = (f.call.input ?? '').split('\0')[k * 5 + 4]!;
  return { code: 123, stderr: `${why}\nCommand failed ${file}:${line}\n` };
}

const isHostBatch = (c: Call) => c.argv.join(' ') === HOST_BATCH.join(' ');

void describe('execute: several plans, host segments in one ip -batch', () => {
  void test('every plan\'s host lines in one batch, each guest as its own fd and the host\'s last; each plan\'s fd 3 rewritten to its own', async () => {
    const a = planAttach(attachContext(['dummy0', 'a', '10.0.0.2/24'], { links: [], name: 'a', guest: { pid: 101, nsInode: 4026531001 } }));
    const b = planAttach(attachContext(['dummy0', 'b', '10.0.0.3/24'], { links: [], name: 'b', guest: { pid: 102, nsInode: 4026531002 } }));
    const { runner } = recording();
    await run(runner, jobs(a, b));
    assert.deepEqual(runner.calls[0], {
      argv: HOST_BATCH,
      input: 'link add name eth1 netns /proc/self/fd/3 type dummy\nlink add name eth1 netns /proc/self/fd/4 type dummy\n',
      fds: [71, 72, HOST_FD],
    });
    assert.equal(runner.calls.filter(isHostBatch).length, 1);
  });

  void test('a NIC given back by a later plan names the host namespace (the last fd), never another guest\'s', async () => {
    const rec = (nicName: string): AttachRecord => ({
      role: 'guest', guest: 'docker:a', nsInode: 1, guestIf: 'eth1', hostIf: nicName, hostKind: 'phys', origName: nicName,
    });
    const giveBack = (nicName: string): Plan => plan(...driverFor('phys').planDel(rec(nicName), 'eth1'));
    const { runner, fanned } = recording();
    await run(runner, jobs(giveBack('eno1'), giveBack('eno2'), giveBack('eno3')));
    // Wave 1: each guest gives its NIC back, in one xargs; wave 2: the records are cleared on the host, in one batch.
    assert.deepEqual(runner.calls.map((c) => c.argv), [XARGS, HOST_BATCH]);
    assert.deepEqual(fanned[0]!.groups, [
      { net: '--net=/proc/self/fd/3', lines: ['link set dev eth1 netns /proc/self/fd/6 name eno1'] },
      { net: '--net=/proc/self/fd/4', lines: ['link set dev eth1 netns /proc/self/fd/6 name eno2'] },
      { net: '--net=/proc/self/fd/5', lines: ['link set dev eth1 netns /proc/self/fd/6 name eno3'] },
    ]);
    assert.deepEqual(fanned[0]!.call.fds, [71, 72, 73, HOST_FD]);
    assert.deepEqual(runner.lines()[1], ['link set dev eno1 alias ""', 'link set dev eno2 alias ""', 'link set dev eno3 alias ""']);
  });

  void test('one plan\'s host segment and another\'s guest segment in one wave: each runs as a single plan\'s would', async () => {
    const { runner, fanned } = recording();
    await run(runner, jobs(
      plan(step('host', ['link', 'set', 'dev', 'h0', 'up']), step('guest', ['link', 'set', 'dev', 'g0', 'up'])),
      plan(step('guest', ['link', 'set', 'dev', 'g1', 'up'])),
    ));
    // Wave 1: job 0's host line (alone: one plan, with its own namespace as fd 3) and job 1's guest line (alone too);
    // wave 2: job 0's guest line.
    assert.deepEqual(runner.calls.map((c) => [c.argv.join(' '), c.input, c.nsFd]), [
      [HOST_BATCH.join(' '), 'link set dev h0 up\n', 71],
      ['nsenter --net=/proc/self/fd/3 -- ip -batch -', 'link set dev g1 up\n', 72],
      ['nsenter --net=/proc/self/fd/3 -- ip -batch -', 'link set dev g0 up\n', 71],
    ]);
    assert.deepEqual(fanned, []);
  });
});

void describe('execute: guest segments of several plans through one xargs', () => {
  void test('one xargs nsenter: a group per guest (its fd, ip -batch FILE), every namespace handed down', async () => {
    const { runner, fanned } = recording();
    await run(runner, jobs(
      plan(step('guest', ['addr', 'add', '10.0.0.2/24', 'dev', 'eth1']), step('guest', ['link', 'set', 'dev', 'eth1', 'up'])),
      plan(step('guest', ['addr', 'add', '10.0.0.3/24', 'dev', 'eth1'])),
    ));
    assert.equal(runner.calls.length, 1);
    const [call] = runner.calls;
    assert.deepEqual(call!.argv, XARGS);
    assert.deepEqual(call!.fds, [71, 72, HOST_FD]);
    assert.equal(call!.nsFd, undefined);
    const words = call!.input!.split('\0');
    assert.equal(words.at(-1), '', 'every word ends with a NUL');
    assert.equal(words.length, 2 * 5 + 1);
    assert.match(words[4]!, /\/pipework-batch-[^/]+\/g0\.batch$/u);
    assert.match(words[9]!, /\/pipework-batch-[^/]+\/g1\.batch$/u);
    assert.deepEqual(fanned[0]!.groups, [
      { net: '--net=/proc/self/fd/3', lines: ['addr add 10.0.0.2/24 dev eth1', 'link set dev eth1 up'] },
      { net: '--net=/proc/self/fd/4', lines: ['addr add 10.0.0.3/24 dev eth1'] },
    ]);
    // The files are gone once the run is over.
    assert.ok(!existsSync(words[4]!) && !existsSync(words[9]!));
  });

  void test('a guest\'s batch that fails names its plan\'s line and step; the lines before it, and the other guests, are undone', async () => {
    const { runner } = recording((c, _i, f) => (f ? fannedFailure(f, 1, 2) : { code: 0 }));
    const err = await assertRejects(run(runner, jobs(
      plan(step('guest', ['link', 'set', 'dev', 'a1', 'up'], [ip('guest', 'link', 'set', 'dev', 'a1', 'down')])),
      plan(
        step('guest', ['link', 'set', 'dev', 'b1', 'up'], [ip('guest', 'link', 'set', 'dev', 'b1', 'down')]),
        step('guest', ['route', 'add', 'default', 'via', '10.0.0.1'], [ip('guest', 'route', 'del', 'default', 'via', '10.0.0.1')]),
      ),
    )), StepFailedError, 'line 2: step 2 of 2 (guest route add default via 10.0.0.1) failed: RTNETLINK answers: File exists', 'everything the run did was undone');
    assert.deepEqual((err as StepFailedError).step, { index: 1, title: 'guest route add default via 10.0.0.1', argv: ['ip', 'route', 'add', 'default', 'via', '10.0.0.1'], job: 'line 2' });
    // Newest plan first: line 2's first step, then line 1's; the failed step itself is not undone.
    assert.deepEqual(runner.calls.slice(1).map((c) => [c.argv.join(' '), c.input, c.nsFd]), [
      [GUEST_FORCE_BATCH.join(' '), 'link set dev b1 down\n', 72],
      [GUEST_FORCE_BATCH.join(' '), 'link set dev a1 down\n', 71],
    ]);
  });

  void test('xargs failing without saying which guest\'s line: every guest\'s segment may be done, and is undone with -force, failures ignored', async () => {
    const { runner } = recording((c) => (c.argv[0] === 'xargs' ? { code: 125, stderr: 'xargs: nsenter: terminated by signal 9\n' }
      : c.argv.includes('-force') ? batchFailure(1, 'RTNETLINK answers: No such device') : { code: 0 }));
    const err = await assertRejects(run(runner, jobs(
      plan(step('guest', ['link', 'set', 'dev', 'a1', 'up'], [ip('guest', 'link', 'set', 'dev', 'a1', 'down')])),
      plan(step('guest', ['link', 'set', 'dev', 'b1', 'up'], [ip('guest', 'link', 'set', 'dev', 'b1', 'down')])),
    )), StepFailedError, "running the guests' batches failed", 'terminated by signal 9', 'everything the run did was undone');
    assert.deepEqual((err as StepFailedError).undoFailures, []);
    assert.deepEqual(runner.calls.slice(1).map((c) => [c.argv.join(' '), c.input]), [
      [GUEST_FORCE_BATCH.join(' '), 'link set dev b1 down\n'],
      [GUEST_FORCE_BATCH.join(' '), 'link set dev a1 down\n'],
    ]);
  });
});

void describe('execute: a failure in one plan undoes every plan', () => {
  const three = () => jobs(
    plan(step('host', ['link', 'add', 'name', 'a0', 'type', 'dummy'], [ip('host', 'link', 'del', 'dev', 'a0')])),
    plan(
      step('host', ['link', 'add', 'name', 'b0', 'type', 'dummy'], [ip('host', 'link', 'del', 'dev', 'b0')]),
      step('host', ['link', 'add', 'name', 'b1', 'type', 'dummy'], [ip('host', 'link', 'del', 'dev', 'b1')]),
    ),
    plan(step('host', ['link', 'add', 'name', 'c0', 'type', 'dummy'], [ip('host', 'link', 'del', 'dev', 'c0')])),
  );

  void test('the merged host batch failing at line 2 of plan 2: named as line 2, its step and command kept, the cause too', async () => {
    // Batch lines: a0, b0, b1, c0: the third line (plan 2's second step) fails.
    const { runner } = recording((c) => (c.argv.includes('-force') ? { code: 0 } : batchFailure(3)));
    const err = await assertRejects(run(runner, three()), StepFailedError,
      'line 2: step 2 of 2 (host link add name b1 type dummy) failed: RTNETLINK answers: File exists; everything the run did was undone');
    const e = err as StepFailedError;
    assert.deepEqual(e.step, { index: 1, title: 'host link add name b1 type dummy', argv: ['ip', 'link', 'add', 'name', 'b1', 'type', 'dummy'], job: 'line 2' });
    assert.equal(e.stepIndex, 1);
    assert.ok(e.cause instanceof CommandError, String(e.cause));
    assert.deepEqual(e.cause.argv, HOST_BATCH);
    assert.ok(e.cause.stderr.includes('Command failed -:3'), e.cause.stderr);
    assert.ok(!e.message.includes('Command failed'));
    // Undone: plan 2's first line, then plan 1's (newest first); plan 3's line came after the failure and never ran.
    assert.deepEqual(runner.calls.slice(1).map((c) => [c.argv.join(' '), c.input, c.nsFd]), [
      [HOST_FORCE_BATCH.join(' '), 'link del dev b0\n', 72],
      [HOST_FORCE_BATCH.join(' '), 'link del dev a0\n', 71],
    ]);
  });

  void test('a later wave failing: everything every plan did before is undone, newest plan first', async () => {
    const js = jobs(
      plan(step('host', ['link', 'add', 'name', 'a0', 'type', 'dummy'], [ip('host', 'link', 'del', 'dev', 'a0')]),
        step('guest', ['link', 'set', 'dev', 'a1', 'up'], [ip('guest', 'link', 'set', 'dev', 'a1', 'down')])),
      plan(step('host', ['link', 'add', 'name', 'b0', 'type', 'dummy'], [ip('host', 'link', 'del', 'dev', 'b0')]),
        step('guest', ['link', 'set', 'dev', 'b1', 'up'], [ip('guest', 'link', 'set', 'dev', 'b1', 'down')])),
    );
    const { runner } = recording((c, _i, f) => (f ? fannedFailure(f, 0, 1) : { code: 0 }));
    await assertRejects(run(runner, js), StepFailedError, 'line 1: step 2 of 2', 'everything the run did was undone');
    assert.deepEqual(runner.calls.slice(2).map((c) => [c.argv.join(' '), c.input, c.nsFd]), [
      [GUEST_FORCE_BATCH.join(' '), 'link set dev b1 down\n', 72],
      [HOST_FORCE_BATCH.join(' '), 'link del dev b0\n', 72],
      [HOST_FORCE_BATCH.join(' '), 'link del dev a0\n', 71],
    ]);
  });

  void test('failAt {job, step} injects a failure in that plan only (0-based, counted among all the run\'s plans)', async () => {
    const { runner } = recording();
    const js = [{ ...jobs(plan())[0]!, label: 'line 1' }, ...three().map((j, k) => ({ ...j, ns: G[k]!, label: `line ${k + 2}` }))];
    const err = await assertRejects(run(runner, js, { failAt: { job: 2, step: 1 } }), StepFailedError,
      'line 3: step 2 of 2 (host link add name b1 type dummy) failed: injected failure (PIPEWORK_FAIL_STEP)');
    assert.equal((err as StepFailedError).step?.job, 'line 3');
    // Everything before the injected step ran, in one batch (the injected step ends its plan's segment).
    assert.deepEqual(runner.lines()[0], ['link add name a0 type dummy', 'link add name b0 type dummy', 'link add name c0 type dummy']);
    assert.deepEqual(runner.calls.slice(1).map((c) => c.input), ['link del dev c0\n', 'link del dev b0\n', 'link del dev a0\n']);
  });

  void test('with other plans that had nothing to do, the failure still names its line', async () => {
    const { runner } = recording(() => batchFailure(1));
    const unchanged: Plan = { guestLabel: 'g', outcome: 'unchanged', warnings: [], steps: [] };
    const js = [
      { plan: unchanged, ns: G[0]!, label: 'line 1' },
      { plan: unchanged, ns: G[1]!, label: 'line 2' },
      { plan: plan(step('host', ['link', 'add', 'name', 'c0', 'type', 'dummy'])), ns: G[2]!, label: 'line 3' },
    ];
    const err = await assertRejects(run(runner, js), StepFailedError, 'line 3: step 1 of 1');
    assert.equal((err as StepFailedError).step?.job, 'line 3');
  });

  void test('a host batch that dies without saying which line: every plan\'s segment of it is undone with -force, failures ignored', async () => {
    const { runner } = recording((c) => (c.argv.includes('-force') ? batchFailure(1, 'Cannot find device') : { code: 137, stderr: '' }));
    const err = await assertRejects(run(runner, three()), StepFailedError, 'line 1: step 1 of 1', 'everything the run did was undone');
    assert.deepEqual((err as StepFailedError).undoFailures, []);
    // Every line of the batch may have been applied: each is undone, newest plan first.
    assert.deepEqual(runner.calls.slice(1).map((c) => [c.argv.join(' '), c.input, c.nsFd]), [
      [HOST_FORCE_BATCH.join(' '), 'link del dev c0\n', 73],
      [HOST_FORCE_BATCH.join(' '), 'link del dev b1\nlink del dev b0\n', 72],
      [HOST_FORCE_BATCH.join(' '), 'link del dev a0\n', 71],
    ]);
  });

  void test('an irreversible step done in one plan: the message says what could not be undone, never that everything was', async () => {
    const removed = { ...step('guest', ['link', 'del', 'dev', 'eth1']), title: 'remove eth1 (bridge br0)', irreversible: true };
    const { runner } = recording((c) => (isHostBatch(c) ? batchFailure(1) : { code: 0 }));
    const err = await assertRejects(run(runner, jobs(
      plan(removed),
      plan(step('guest', ['link', 'set', 'dev', 'b1', 'up'], [ip('guest', 'link', 'set', 'dev', 'b1', 'down')]), step('host', ['link', 'add', 'name', 'b0', 'type', 'dummy'])),
    )), StepFailedError, 'line 2: step 2 of 2', 'except what cannot be: remove eth1 (bridge br0)');
    assert.ok(!err.message.includes('everything the run did was undone'), err.message);
    assert.ok(err.message.endsWith('except what cannot be: remove eth1 (bridge br0)'), err.message);
  });

  void test('a kernel that lacks a feature, in any plan of the run: named as such, with its line', async () => {
    const a = plan(step('host', ['link', 'add', 'name', 'a0', 'type', 'dummy'], [ip('host', 'link', 'del', 'dev', 'a0')]));
    const b = plan({ ...step('host', ['link', 'add', 'link', 'eth0', 'name', 'eth0.10', 'type', 'vlan', 'id', '10']), needs: featureText('vlan') });
    const { runner } = recording((c) => (isHostBatch(c) ? batchFailure(2, 'Error: Unknown device type.') : { code: 0 }));
    const err = await assertRejects(run(runner, jobs(a, b)), UnsupportedError,
      'line 2: this kernel lacks 802.1Q VLAN devices (kernel module 8021q), needed to host link add link eth0', 'everything the run did was undone');
    assert.ok(!err.message.includes('Unknown device type'), err.message);
    assert.equal((err as UnsupportedError).reason, 'unsupported');
    assert.deepEqual(runner.lines().at(-1), ['link del dev a0']);
  });

  void test('"Unknown device type" from a step that needs nothing stays a step failure', async () => {
    const { runner } = recording((c) => (isHostBatch(c) ? batchFailure(2, 'Error: Unknown device type.') : { code: 0 }));
    await assertRejects(run(runner, jobs(plan(step('host', ['a'])), plan(step('host', ['b'])))), StepFailedError, 'line 2: step 1 of 1', 'Unknown device type');
  });

  void test('interrupted between waves: nothing new starts, everything done is undone, exit 130', async () => {
    const controller = new AbortController();
    const { runner } = recording((c) => {
      if (isHostBatch(c)) controller.abort('SIGINT');
      return { code: 0 };
    });
    const err = await assertRejects(run(runner, jobs(
      plan(step('host', ['link', 'add', 'name', 'a0', 'type', 'dummy'], [ip('host', 'link', 'del', 'dev', 'a0')]), step('guest', ['link', 'set', 'dev', 'a1', 'up'])),
      plan(step('host', ['link', 'add', 'name', 'b0', 'type', 'dummy'], [ip('host', 'link', 'del', 'dev', 'b0')])),
    ), { signal: controller.signal }), InterruptedError, 'interrupted by SIGINT', 'line 1', 'step 2 of 2', 'everything the run did was undone');
    assert.equal((err as InterruptedError).exitCode, 130);
    assert.ok(!runner.calls.some((c) => c.input?.includes('link set dev a1 up')), 'the guest step never started');
    assert.deepEqual(runner.calls.slice(1).map((c) => c.input), ['link del dev b0\n', 'link del dev a0\n']);
  });
});

void describe('execute: waiting for another run on the host', () => {
  void test('interrupted while another run holds the host\'s links: it stops waiting, changes nothing, exit 130', async () => {
    // Another run holds the host lock (briefly: a real run on this machine may want it too).
    const other = await acquire([HOST_LOCK], { timeoutMs: 5000, what: () => 'the host', purpose: 'another unit-test run' });
    const controller = new AbortController();
    const { runner } = recording();
    const running = run(runner, jobs(plan(step('host', ['link', 'add', 'name', 'a0', 'type', 'dummy'], [ip('host', 'link', 'del', 'dev', 'a0')]))),
      { signal: controller.signal });
    const outcome = running.then(() => 'done', (err: unknown) => err);
    setTimeout(() => controller.abort('SIGINT'), 20);
    // The other run lets go well after the interrupt.
    const released = new Promise<void>((r) => setTimeout(() => { other.release(); r(); }, 400));
    const first = await Promise.race([outcome, released.then(() => 'still waiting when the other run let go')]);
    await released;
    const err = await outcome;
    assert.ok(first instanceof InterruptedError, `expected an InterruptedError before the other run let go, got ${String(first)}`);
    assert.ok(err instanceof InterruptedError);
    assert.equal(err.exitCode, 130);
    assert.deepEqual(runner.calls, [], 'nothing ran');
  });
});

void describe('execute: steps decided when they run', () => {
  const vlanStep = (name: string): Step => ({
    title: `remove VLAN sub-interface ${name} if pipework made it and nothing else uses it`,
    action: { kind: 'ip', place: 'host', args: ['link', 'del', 'dev', name], onlyIfVlanUnused: name },
    undo: [],
  });

  void test('an onlyIfVlanUnused step is never merged into the batch of the other plans: it waits for its turn, alone', async () => {
    assert.equal(existsSync(`/sys/class/net/${MISSING_VLAN}`), false);
    const { runner } = recording();
    await run(runner, jobs(
      plan(step('host', ['link', 'set', 'dev', 'a0', 'up']), vlanStep(MISSING_VLAN), step('host', ['link', 'set', 'dev', 'a1', 'up'])),
      plan(step('host', ['link', 'set', 'dev', 'b0', 'up']), step('host', ['link', 'set', 'dev', 'b1', 'up'])),
    ));
    // Wave 1: a0 with plan 2's lines; wave 2: the VLAN step (gone already: nothing runs); wave 3: a1 alone.
    assert.deepEqual(runner.lines(), [['link set dev a0 up', 'link set dev b0 up', 'link set dev b1 up'], ['link set dev a1 up']]);
    assert.ok(!runner.calls.some((c) => c.input?.includes(MISSING_VLAN)));
    assert.deepEqual(runner.calls.map((c) => c.fds ?? c.nsFd), [[71, 72, HOST_FD], 71]);
  });

  void test('a sub-interface pipework did not make (no mark) is kept, in a run of several plans too', async () => {
    const { runner } = recording();
    await run(runner, jobs(plan(vlanStep('lo')), plan(vlanStep('lo'), step('host', ['link', 'set', 'dev', 'b0', 'up']))));
    assert.deepEqual(runner.lines(), [['link set dev b0 up']]);
  });

  void test('a host link a step requires that is gone means the facts were stale: the run is undone and planned again', async () => {
    const { runner } = recording();
    const err = await assertRejects(run(runner, [
      { plan: plan(step('host', ['link', 'add', 'name', 'a0', 'type', 'dummy'], [ip('host', 'link', 'del', 'dev', 'a0')])), ns: G[0]!, label: 'line 1' },
      { plan: plan(step('host', ['link', 'set', 'dev', 'v0', 'master', 'pwunitgone9z'], [], { requires: ['pwunitgone9z'] })), ns: G[1]!, label: 'line 2' },
    ]), StaleFactsError, 'pwunitgone9z vanished');
    assert.equal((err as StaleFactsError).link, 'pwunitgone9z');
    assert.deepEqual(runner.calls, [], 'checked before anything ran');
    // A link that is there (every machine has lo) is fine.
    const ok = recording();
    await run(ok.runner, [{ plan: plan(step('host', ['link', 'set', 'dev', 'v0', 'up'], [], { requires: ['lo'] })), ns: G[0]!, label: 'line 1' }]);
    assert.deepEqual(ok.runner.lines(), [['link set dev v0 up']]);
  });
});

void describe('execute: a realistic batch', () => {
  void test('two bridge attaches: one host batch for both host sides, one xargs for both guests', async () => {
    const attach = (name: string, pid: number, inode: number, address: string) =>
      planAttach(attachContext(['br0', name, address], { name, guest: { pid, nsInode: inode }, facts: guestFacts() }));
    const a = attach('a', 101, 4026531001, '10.0.0.2/24');
    const b = attach('b', 102, 4026531002, '10.0.0.3/24');
    const { runner, fanned } = recording();
    await run(runner, jobs(a, b));
    assert.deepEqual(runner.calls.map((c) => c.argv), [HOST_BATCH, XARGS]);
    const host = runner.lines()[0]!;
    assert.equal(host.length, 8);
    assert.equal(host[0], 'link add name veth1pl101 mtu 1500 type veth peer name eth1 mtu 1500 netns /proc/self/fd/3');
    assert.equal(host[4], 'link add name veth1pl102 mtu 1500 type veth peer name eth1 mtu 1500 netns /proc/self/fd/4');
    assert.deepEqual(fanned[0]!.groups.map((g) => [g.net, g.lines.slice(1)]), [
      ['--net=/proc/self/fd/3', ['addr add 10.0.0.2/24 brd 10.0.0.255 dev eth1', 'link set dev eth1 up']],
      ['--net=/proc/self/fd/4', ['addr add 10.0.0.3/24 brd 10.0.0.255 dev eth1', 'link set dev eth1 up']],
    ]);
  });

  void test('a macvlan plan and a bridge plan: the macvlan made in its own guest, on the host, in the shared batch', async () => {
    const mac = planAttach(attachContext(['eth0', 'a', '10.0.0.2/24'], { links: [nic('eth0')], name: 'a', guest: { pid: 101, nsInode: 4026531001 }, facts: guestFacts() }));
    const br = planAttach(attachContext(['br0', 'b', '10.0.0.3/24'], { name: 'b', guest: { pid: 102, nsInode: 4026531002 }, facts: guestFacts() }));
    const { runner } = recording();
    await run(runner, jobs(br, mac));
    const host = runner.lines()[0]!;
    assert.equal(host.at(-1), 'link add link eth0 name eth1 mtu 1500 netns /proc/self/fd/4 type macvlan mode bridge');
    assert.ok(host[0]!.endsWith(' netns /proc/self/fd/3'), host[0]);
  });
});

void describe('execute: "undone" only when the kernel shows it (issue 19 item 2)', () => {
  const guestLinkDel = () => plan(
    step('guest', ['link', 'add', 'name', 'x9', 'type', 'dummy'], [ip('guest', 'link', 'del', 'dev', 'x9')]),
    step('guest', ['addr', 'add', '10.0.0.2/24', 'dev', 'x9']),
  );
  const answer = (stillThere: boolean) => (c: Call): FakeAnswer => {
    if (c.input?.includes('addr add 10.0.0.2/24 dev x9') === true) return batchFailure(2, 'RTNETLINK answers: Permission denied');
    if (c.input === 'link show\n') return { code: 0, stdout: `${JSON.stringify(stillThere ? [{ ifname: 'lo' }, { ifname: 'x9' }] : [{ ifname: 'lo' }])}\n` };
    return { code: 0 };
  };

  void test('an undo that exits 0 but leaves the link: the error says so, not "undone"', async () => {
    const runner = new FakeRunner(answer(true));
    const err = await assertRejects(run(runner, [{ plan: settled(guestLinkDel()), ns: G[0]! }]), StepFailedError,
      'still there after undoing: x9 in docker container a (pid 101)');
    assert.doesNotMatch(err.message, /everything done before it was undone/u);
  });

  void test('the kernel shows it gone: "undone"', async () => {
    const runner = new FakeRunner(answer(false));
    await assertRejects(run(runner, [{ plan: settled(guestLinkDel()), ns: G[0]! }]), StepFailedError, 'everything done before it was undone');
  });
});
