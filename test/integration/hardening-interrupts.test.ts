// Issue 11 item 1 (and item 2 under a group signal): a signal sent to pipework's whole process
// group — a terminal's ^C, `timeout`, a systemd stop; SIGINT, SIGTERM and SIGHUP — at many
// moments of a 100-line batch, of a single attach, and of a batch onto an Open vSwitch bridge.
// After each run either it completed (exit 0, everything there) or it exited 130 with one line
// and NOTHING is left: no host links (bridge, veths), no guest interfaces, no OVS rows, no
// records, no netns files beyond ours. Run as root.
//
// Names: netns `hdi…`, bridges `br-hdi…`, OVS bridge `ovshdi`; addresses 10.120.0.0/16 (batch),
// 10.121.0.0/24 (single attach), 10.128.0.0/16 (OVS batch), all inside our own netns.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addContainerLikeNetns, getLink, ip, ping } from './helpers/netns.js';
import { shOk, waitFor } from './helpers/run.js';
import { assertResolvConfUnchanged, snapshotDiff, snapshotGuest, type GuestSnapshot } from './helpers/bridge-common.js';
import {
  addOvsBridge,
  aliasOf,
  assertNoCrash,
  assertOneLine,
  cleanupTheme,
  guestLinks,
  lsJson,
  ourHostLinks,
  ourNetns,
  ovsAvailable,
  ovsBridges,
  ovsPorts,
  pw,
  show,
  signalGroup,
  sleepUntil,
  startPipework,
} from './helpers/hardening.js';

const N = 100;
const BATCH = Array.from({ length: N }, (_, i) => `hdi${String(i + 1).padStart(3, '0')}`);
const BR = 'br-hdi';
const SINGLE = 'hdis';
const BR1 = 'br-hdis';
const OVS_N = 20;
const OVS_GUESTS = Array.from({ length: OVS_N }, (_, i) => `hdio${String(i + 1).padStart(2, '0')}`);
const OVS_BR = 'ovshdi';
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const isOurs = (n: string): boolean => n.startsWith('hdi');
const ALL_NETNS = [...BATCH, SINGLE, ...OVS_GUESTS].sort();

let dir = '';
const files = { batch: '', ovs: '' };

/** Make named netns in bulk (one bash process). */
async function addManyNetns(names: readonly string[]): Promise<void> {
  await shOk(['bash', '-c', 'for n in "$@"; do ip netns add "$n" && ip -n "$n" link set lo up || exit 1; done', 'bash', ...names], { timeoutMs: 120_000 });
}

before(async () => {
  await cleanupTheme('i');
  dir = mkdtempSync(join(process.env['PIPEWORK_TEST_TMP'] ?? tmpdir(), 'hdi-'));
  await addManyNetns([...BATCH, ...OVS_GUESTS]);
  await addContainerLikeNetns(SINGLE, '192.168.121.2/24', '192.168.121.1');
  files.batch = join(dir, 'lines100.txt');
  writeFileSync(files.batch, BATCH.map((g, i) => `${BR} ${g} 10.120.0.${i + 1}/16\n`).join(''));
  files.ovs = join(dir, 'ovs20.txt');
  writeFileSync(files.ovs, OVS_GUESTS.map((g, i) => `${OVS_BR} ${g} 10.128.0.${i + 1}/16 @7\n`).join(''));
});

after(async () => {
  await cleanupTheme('i');
  rmSync(dir, { recursive: true, force: true });
  assertResolvConfUnchanged();
});

// ---- state ------------------------------------------------------------------------------------

/** What is left of the runs' work, as readable lines ([] when nothing). */
/** The guest's own links (a container-like netns has eth0 and its peer): never a leftover. */
const KEEP = new Set(['eth0', 'eth0p']);

async function leftovers(guests: readonly string[], bridges: readonly string[], ovsBridge?: string): Promise<string[]> {
  const out: string[] = [];
  for (const l of await ourHostLinks(isOurs, bridges)) out.push(`host link ${l.ifname} (master ${l.master ?? '-'}) ${aliasOf(l)}`);
  for (const [g, links] of await guestLinks(guests)) {
    const extra = links.filter((l) => !KEEP.has(l));
    if (extra.length > 0) out.push(`in ${g}: ${extra.join(' ')}`);
  }
  const ns = await ourNetns(isOurs);
  if (JSON.stringify(ns) !== JSON.stringify(ALL_NETNS)) out.push(`netns: ${snapshotDiff(ALL_NETNS, ns).join(' ')}`);
  if (ovsBridge !== undefined) {
    for (const p of await ovsPorts()) {
      if ((p.bridge === ovsBridge && p.name !== ovsBridge) || Object.values(p.ids).some((v) => v.includes('netns:hdi'))) out.push(`OVS row ${p.name} on ${p.bridge} ${JSON.stringify(p.ids)}`);
    }
  }
  return out;
}

/** Wait (at most 10 s: a deleted veth's peer goes asynchronously) until nothing is left. */
async function nothingLeft(guests: readonly string[], bridges: readonly string[], ovsBridge?: string): Promise<string[]> {
  let left: string[] = [];
  await waitFor('nothing left', async () => (left = await leftovers(guests, bridges, ovsBridge)).length === 0, 10_000, 200).catch(() => undefined);
  return left;
}

/** Remove whatever the runs left (after a completed run, or a leak), so the next run starts clean. */
async function reset(guests: readonly string[], bridges: readonly string[], ovsBridge?: string): Promise<void> {
  const script = 'for n in "$@"; do for l in $(ip -n "$n" -o link show | sed -n "s/^[0-9]*: \\([^:@]*\\).*/\\1/p"); do case "$l" in lo|eth0|eth0p) ;; *) ip -n "$n" link del "$l";; esac; done; done';
  await shOk(['bash', '-c', script, 'bash', ...guests], { timeoutMs: 120_000 });
  for (const b of bridges) await ip(['link', 'del', b]).catch(() => undefined);
  for (const l of await ourHostLinks(isOurs, [])) await ip(['link', 'del', l.ifname]).catch(() => undefined);
  if (ovsBridge !== undefined) {
    for (const p of await ovsPorts()) {
      if (p.bridge === ovsBridge && p.name !== ovsBridge) await shOk(['ovs-vsctl', '--timeout=10', '--if-exists', 'del-port', ovsBridge, p.name]);
    }
  }
  const left = await nothingLeft(guests, bridges, ovsBridge);
  assert.deepEqual(left, [], 'the reset between runs left nothing');
}

/** Every guest has exactly eth1 with the address of its line. */
async function batchComplete(guests: readonly string[], addrOf: (i: number) => string): Promise<string[]> {
  const script = 'for n in "$@"; do printf "%s %s\\n" "$n" "$(ip -n "$n" -4 -o addr show dev eth1 2>/dev/null | awk \'{print $4}\' | tr "\\n" " ")"; done';
  const out = await shOk(['bash', '-c', script, 'bash', ...guests], { timeoutMs: 60_000 });
  const got = out.split('\n').map((l) => l.trim());
  return guests.map((g, i) => `${g} ${addrOf(i)}`).filter((want) => !got.includes(want)).map((w) => `missing: ${w}`);
}

// ---- one signalled run ------------------------------------------------------------------------

interface Tally {
  runs: number;
  completed: number;
  interrupted: number;
  /** Interrupted after the run had changed something (its line says it undid it). */
  undone: number;
  /** Killed by the signal before pipework had set its handlers (nothing started, nothing left: fine). */
  early: number;
  /**
   * Killed by the signal with everything done, no output: the signal came while Node was
   * already ending (its handlers gone). Issue 19 item 4: a problem since pipework leaves with
   * process.exit (its handlers stay to the end); counted for the report.
   */
  lateKilled: number;
  problems: string[];
  /** "delay→outcome" of each run, for the diagnostic. */
  moments: string[];
}

const newTally = (): Tally => ({ runs: 0, completed: 0, interrupted: 0, undone: 0, early: 0, lateKilled: 0, problems: [], moments: [] });

interface Case {
  args: string[];
  guests: readonly string[];
  bridges: readonly string[];
  ovsBridge?: string;
  /** The run completed: check everything is there (returns problems), then clean it. */
  complete(): Promise<string[]>;
  /** Extra checks after an interrupted run (returns problems). */
  extra?(): Promise<string[]>;
}

/** Where a run stood when the signal came: before it changed anything, in the middle, after its end. */
type Moment = 'before' | 'middle' | 'after';

async function signalled(c: Case, sig: NodeJS.Signals, delayMs: number, tally: Tally): Promise<Moment> {
  const s = startPipework(c.args);
  await sleepUntil(s.t0, delayMs);
  signalGroup(s.pid, sig);
  const r = await s.result;
  tally.runs++;
  const problemsBefore = tally.problems.length;
  const what = `${sig} to the group after ${delayMs} ms (ended after ${r.ms.toFixed(0)} ms${r.signal !== null ? `, killed by ${r.signal}` : ''})`;
  const bad = (m: string): void => {
    tally.problems.push(`${what}: ${m}\n${show(c.args, r)}`);
  };
  let moment: Moment;
  if (r.signal === sig && r.stderr === '' && r.stdout === '') {
    const left = await leftovers(c.guests, c.bridges, c.ovsBridge);
    if (left.length === 0) {
      // The signal came before pipework had installed its handlers: it had started nothing.
      tally.early++;
      moment = 'before';
    } else {
      const missing = await c.complete();
      if (missing.length > 0) bad(`killed by the signal with no word, leaving half a run: ${left.slice(0, 8).join('; ')}`);
      else {
        tally.lateKilled++;
        bad('killed by the signal (its default action) after everything was done: the run committed, so it must end as it would have (exit 0)');
      }
      moment = 'after';
    }
  } else if (r.code === 0) {
    tally.completed++;
    moment = 'after';
    try {
      assertNoCrash(r, c.args);
    } catch (e) {
      bad((e as Error).message.split('\n')[0]!);
    }
    const missing = await c.complete();
    if (missing.length > 0) bad(`exit 0 but not everything is there: ${missing.slice(0, 5).join('; ')}`);
  } else if (r.code === 130) {
    tally.interrupted++;
    moment = /nothing was changed/u.test(r.stderr) ? 'before' : 'middle';
    if (moment === 'middle') tally.undone++;
    try {
      assertOneLine(r, c.args, /interrupted/u);
    } catch (e) {
      bad((e as Error).message.split('\n')[0]!);
    }
    const left = await nothingLeft(c.guests, c.bridges, c.ovsBridge);
    if (left.length > 0) bad(`exit 130 but left: ${left.slice(0, 8).join('; ')}${left.length > 8 ? ` … (${left.length})` : ''}`);
    const more = c.extra !== undefined ? await c.extra() : [];
    if (more.length > 0) bad(more.join('; '));
  } else {
    moment = 'middle';
    bad(`exit ${r.code}: neither completed (0) nor interrupted (130)`);
    const left = await leftovers(c.guests, c.bridges, c.ovsBridge);
    if (left.length > 0) bad(`and left: ${left.slice(0, 8).join('; ')}${left.length > 8 ? ` … (${left.length})` : ''}`);
  }
  tally.moments.push(`${delayMs}ms→${r.signal ?? r.code}/${moment}`);
  // A clean interrupted run left nothing to reset (checked above); the rest is put back.
  if (moment === 'after' || tally.problems.length > problemsBefore) await reset(c.guests, c.bridges, c.ovsBridge);
  return moment;
}

/**
 * Signal RUNS runs at many moments: first at ~50 ms (before pipework is even up), then where it
 * matters — each next delay halves the widest gap between a moment that was not yet "after" the
 * run and one that was not "before" it, so the runs spread over the window in which the run had
 * changed something (its length varies a lot with the machine's load). If no run was caught in
 * the middle, up to 4 more runs narrow the window further.
 */
async function spread(c: Case, sig: NodeJS.Signals, runs: number, uninterruptedMs: number, tally: Tally): Promise<void> {
  const points: { d: number; m: Moment }[] = [{ d: 0, m: 'before' }, { d: Math.round(uninterruptedMs * 1.3) + 200, m: 'after' }];
  const first = await signalled(c, sig, 50, tally);
  points.push({ d: 50, m: first });
  // Up to 4 more runs when none has yet caught the run in the middle (the window can be ~50 ms).
  for (let i = 1; i < runs || (i < runs + 4 && !points.some((p) => p.m === 'middle')); i++) {
    points.sort((a, b) => a.d - b.d);
    let best: [number, number] | undefined;
    for (let j = 0; j + 1 < points.length; j++) {
      const a = points[j]!;
      const b = points[j + 1]!;
      if (a.m === 'after' || b.m === 'before') continue;
      if (best === undefined || b.d - a.d > best[1] - best[0]) best = [a.d, b.d];
    }
    // Every gap settled (before … after with nothing in between): probe just past the last "before".
    const d = best !== undefined ? Math.round((best[0] + best[1]) / 2)
      : Math.max(...points.filter((p) => p.m === 'before').map((p) => p.d)) + 10 * i;
    points.push({ d, m: await signalled(c, sig, d, tally) });
  }
}

function report(t: { diagnostic(s: string): void }, name: string, tally: Tally): void {
  const line = `${name}: ${tally.runs} runs: ${tally.completed} completed, ${tally.interrupted} exit 130 ` +
    `(${tally.undone} after changing something), ${tally.early} killed before pipework set its handlers, ` +
    `${tally.lateKilled} killed by the signal as it was ending (everything done), ${tally.problems.length} problems; ${tally.moments.join(' ')}`;
  t.diagnostic(line);
  process.stderr.write(`hardening-interrupts: ${line}\n`);
}

// -------------------------------------------------------------------------------------------------
void describe(`a ${N}-line batch over named netns, signalled to its process group`, () => {
  let totalMs = 0;
  const addrOf = (i: number): string => `10.120.0.${i + 1}/16`;
  const c: Case = {
    args: ['batch', ''],
    guests: BATCH,
    bridges: [BR],
    complete: () => batchComplete(BATCH, addrOf),
  };

  before(() => {
    c.args = ['batch', files.batch];
  });

  void test('uninterrupted: exit 0, every guest has its eth1, two guests ping each other; timed', async (t) => {
    const s = startPipework(c.args);
    const r = await s.result;
    assert.equal(r.code, 0, show(c.args, r));
    assertNoCrash(r, c.args);
    totalMs = r.ms;
    assert.deepEqual(await batchComplete(BATCH, addrOf), []);
    assert.ok(await ping(BATCH[0], addrOf(N - 1).split('/')[0]!, 4, { retryMs: 5_000 }), `${BATCH[0]} pings ${BATCH[N - 1]}`);
    t.diagnostic(`uninterrupted batch: ${totalMs.toFixed(0)} ms`);
    await reset(BATCH, [BR]);
  });

  for (const sig of SIGNALS) {
    void test(`${sig} to the group at many moments: each run completed, or exited 130 with one line leaving nothing`, async (t) => {
      assert.ok(totalMs > 0, 'the uninterrupted run was timed');
      const tally = newTally();
      await spread(c, sig, 6, totalMs, tally);
      report(t, `batch ${sig}`, tally);
      assert.deepEqual(tally.problems, [], tally.problems.join('\n\n'));
      assert.ok(tally.interrupted > 0, `at least one run was interrupted (else this tested nothing): ${JSON.stringify(tally)}`);
      const records = (await lsJson()).filter((e) => /^netns:hdi/u.test(e.guest));
      assert.deepEqual(records, [], 'pipework ls shows nothing of ours');
    });
  }
});

// -------------------------------------------------------------------------------------------------
void describe('a single attach (new bridge, @gateway replacing the default route), signalled to its process group', () => {
  let totalMs = 0;
  let guestBefore: GuestSnapshot;
  const c: Case = {
    args: [BR1, SINGLE, '10.121.0.5/24@10.121.0.1'],
    guests: [SINGLE],
    bridges: [BR1],
    async complete() {
      const problems: string[] = [];
      const got = await guestLinks([SINGLE]);
      if (!(got.get(SINGLE) ?? []).includes('eth1')) problems.push('no eth1');
      const del = await pw(['del', SINGLE]);
      if (del.code !== 0) problems.push(`del failed: ${show(['del', SINGLE], del)}`);
      await ip(['route', 'replace', 'default', 'via', '192.168.121.1', 'dev', 'eth0'], SINGLE);
      return problems;
    },
    async extra() {
      const problems: string[] = [];
      const diff = snapshotDiff(guestBefore, await snapshotGuest(SINGLE));
      if (diff.length > 0) problems.push(`the guest changed: ${diff.join(', ')}`);
      const records = await lsJson([SINGLE]);
      if (records.length > 0) problems.push(`records: ${JSON.stringify(records)}`);
      // Put the default route back if it was lost, so later runs start alike.
      if (diff.length > 0) await ip(['route', 'replace', 'default', 'via', '192.168.121.1', 'dev', 'eth0'], SINGLE);
      return problems;
    },
  };

  before(async () => {
    guestBefore = await snapshotGuest(SINGLE);
  });

  void test('uninterrupted: exit 0, eth1 with its default route; timed', async (t) => {
    const s = startPipework(c.args);
    const r = await s.result;
    assert.equal(r.code, 0, show(c.args, r));
    totalMs = r.ms;
    assert.equal((await getLink('eth1', SINGLE))?.operstate, 'UP');
    t.diagnostic(`uninterrupted attach: ${totalMs.toFixed(0)} ms`);
    assert.deepEqual(await c.complete(), []);
    await reset([SINGLE], [BR1]);
    // pipework's veth made and removed leaves the guest as it was.
    assert.deepEqual(snapshotDiff(guestBefore, await snapshotGuest(SINGLE)), []);
  });

  for (const sig of SIGNALS) {
    void test(`${sig} to the group at many moments: completed, or exit 130 with the guest and host as they were`, async (t) => {
      const tally = newTally();
      await spread(c, sig, 6, totalMs, tally);
      report(t, `attach ${sig}`, tally);
      assert.deepEqual(tally.problems, [], tally.problems.join('\n\n'));
      assert.ok(tally.interrupted > 0, `at least one run was interrupted: ${JSON.stringify(tally)}`);
    });
  }
});

// -------------------------------------------------------------------------------------------------
void describe(`a ${OVS_N}-line batch onto an existing Open vSwitch bridge (tag 7), signalled to its process group`, () => {
  let totalMs = 0;
  let skip: string | false = false;
  const c: Case = {
    args: ['batch', ''],
    guests: OVS_GUESTS,
    bridges: [],
    ovsBridge: OVS_BR,
    async complete() {
      const problems = await batchComplete(OVS_GUESTS, (i) => `10.128.0.${i + 1}/16`);
      const rows = (await ovsPorts()).filter((p) => p.bridge === OVS_BR && p.name !== OVS_BR);
      if (rows.length !== OVS_N || rows.some((p) => p.tag !== 7)) problems.push(`OVS rows: ${JSON.stringify(rows.map((p) => [p.name, p.tag]))}`);
      return problems;
    },
  };

  before(async () => {
    c.args = ['batch', files.ovs];
    if (!(await ovsAvailable())) {
      skip = 'Open vSwitch (ovsdb-server and ovs-vswitchd) is not running';
      return;
    }
    await addOvsBridge(OVS_BR);
  });
  after(async () => {
    if ((await ovsBridges()).includes(OVS_BR)) await shOk(['ovs-vsctl', '--timeout=10', '--if-exists', 'del-br', OVS_BR]);
  });

  void test('uninterrupted: exit 0, 20 rows with tag 7, guests ping; timed', async (t) => {
    if (skip !== false) return t.skip(skip);
    const s = startPipework(c.args);
    const r = await s.result;
    assert.equal(r.code, 0, show(c.args, r));
    totalMs = r.ms;
    assert.deepEqual(await c.complete(), []);
    assert.ok(await ping(OVS_GUESTS[0], `10.128.0.${OVS_N}`, 4, { retryMs: 5_000 }), 'the first guest pings the last');
    t.diagnostic(`uninterrupted OVS batch: ${totalMs.toFixed(0)} ms`);
    await reset(OVS_GUESTS, [], OVS_BR);
  });

  for (const sig of SIGNALS) {
    void test(`${sig} to the group at many moments: completed, or exit 130 with no row, link or record left`, async (t) => {
      if (skip !== false) return t.skip(skip);
      const tally = newTally();
      await spread(c, sig, 4, totalMs, tally);
      report(t, `OVS batch ${sig}`, tally);
      assert.deepEqual(tally.problems, [], tally.problems.join('\n\n'));
      assert.ok(tally.interrupted > 0, `at least one run was interrupted: ${JSON.stringify(tally)}`);
    });
  }
});
