// Rollback on the real kernel, counted: a gateway attach on a new bridge and on an existing one,
// with PIPEWORK_FAIL_STEP=N for every step N of the plan (counted from --dry-run --json), and a
// --replace with a failure injected before and after the old interface was removed. After each
// run: exit 1, the error names step N, and nothing the run made is left (a "leak").
// Run as root.
//
// Names: netns `pwl-r…`, bridges `brpwlr…`, other host links `pwlr…`. The guest has its own
// eth0 (a veth pair living inside it) with 192.168.247.2/24 and a default route, so "the guest is
// unchanged" covers a default route that a failed run removed and had to put back.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cleanupPrefix, snapshotHost, type HostSnapshot } from './helpers/guard.js';
import { addContainerLikeNetns, getLink, ip, ipJson, listLinks } from './helpers/netns.js';
import { sleep, waitFor, type RunResult } from './helpers/run.js';
import {
  addSettledBridge,
  assertResolvConfUnchanged,
  netnsIds,
  pw,
  removeLink,
  snapshotDiff,
  snapshotGuest,
  waitOperstate,
  type GuestSnapshot,
} from './helpers/bridge-common.js';

const NS_PREFIX = 'pwl-r';
const BR_PREFIX = 'brpwlr';
const LINK_PREFIX = 'pwlr';
const isOurName = (n: string): boolean => n.startsWith(NS_PREFIX) || n.startsWith(BR_PREFIX) || n.startsWith(LINK_PREFIX);

const G = 'pwl-r1';
const NEW_BR = 'brpwlr';
const OLD_BR = 'brpwlr2';

async function cleanup(): Promise<void> {
  await cleanupPrefix(NS_PREFIX);
  await cleanupPrefix(BR_PREFIX);
  await cleanupPrefix(LINK_PREFIX);
}

/** Totals over the whole file, printed at the end. */
const totals = { runs: 0, leaks: 0 };

before(async () => {
  await cleanup();
  await addContainerLikeNetns(G, '192.168.247.2/24', '192.168.247.1');
});

after(async () => {
  process.stderr.write(`lifecycle-rollback: ${totals.runs} injected failures, ${totals.leaks} leaks\n`);
  await cleanup();
  assertResolvConfUnchanged();
});

// ---- state ---------------------------------------------------------------------------------------

/** Host links that are ours: our names, ports of our bridges, veths whose peer is in our netns. */
async function ourHostLinks(): Promise<Set<string>> {
  const ids = await netnsIds();
  return new Set((await listLinks())
    .filter((l) => isOurName(l.ifname) || (l.master !== undefined && isOurName(l.master)) ||
      (l.link_netnsid !== undefined && isOurName(ids.get(l.link_netnsid) ?? '')))
    .map((l) => l.ifname));
}

async function snapshotOurs(): Promise<HostSnapshot> {
  const ours = await ourHostLinks();
  return snapshotHost({ only: (n) => ours.has(n) || isOurName(n) });
}

/** Wait (at most 5 s) until DAD is done in G and on our host links (the state then stays put). */
async function settle(): Promise<void> {
  await waitFor('DAD done', async () => {
    if ((await ipJson(['-6', 'addr', 'show', 'tentative'], G)).length > 0) return false;
    return !((await ipJson(['-6', 'addr', 'show', 'tentative'])) as { ifname: string }[]).some((l) => isOurName(l.ifname));
  }, 5_000, 50);
}

interface State {
  host: HostSnapshot;
  guest: GuestSnapshot;
}

async function snapshot(): Promise<State> {
  await settle();
  return { host: await snapshotOurs(), guest: await snapshotGuest(G) };
}

/** The difference from EXPECTED, after giving the kernel up to a second to finish; [] when none. */
async function differences(expected: State): Promise<string[]> {
  // A link that went down and up again (a --replace undone) gets its IPv6 link-local address
  // back after DAD: compare once that is done, as snapshot() does.
  await settle();
  const deadline = Date.now() + 1_000;
  for (;;) {
    const now = { host: await snapshotOurs(), guest: await snapshotGuest(G) };
    const diff = [
      ...snapshotDiff(expected.host, now.host).map((l) => `host ${l}`),
      ...snapshotDiff(expected.guest, now.guest).map((l) => `guest ${l}`),
    ];
    if (diff.length === 0 || Date.now() >= deadline) return diff;
    await sleep(100);
  }
}

/** Put G and the host back as the `before` hook left them (after a leak). */
async function restore(): Promise<void> {
  await removeLink('eth1', G);
  await removeLink(NEW_BR);
  await ip(['route', 'replace', 'default', 'via', '192.168.247.1', 'dev', 'eth0'], G);
}

// ---- running -------------------------------------------------------------------------------------

function show(args: readonly string[], r: RunResult): string {
  return `pipework ${args.join(' ')}\nexit ${r.code}\nstdout: ${JSON.stringify(r.stdout)}\nstderr: ${JSON.stringify(r.stderr)}`;
}

async function ok(args: readonly string[]): Promise<string> {
  const r = await pw(args);
  assert.equal(r.code, 0, show(args, r));
  return r.stdout;
}

/** Step titles of ARGS' plan, from --dry-run --json. */
async function planTitles(args: readonly string[]): Promise<string[]> {
  const j = JSON.parse(await ok(['--dry-run', '--json', ...args])) as { plan: { title: string }[] };
  return j.plan.map((s) => s.title);
}

/** Escape for a RegExp. */
const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/gu, '\\$&');

/**
 * Run ARGS with PIPEWORK_FAIL_STEP=N: exit 1, nothing on stdout, one stderr line naming step N
 * of the plan by its title. Returns the stderr line.
 */
async function failAt(args: readonly string[], n: number, titles: readonly string[]): Promise<string> {
  const r = await pw(args, { PIPEWORK_FAIL_STEP: String(n) });
  totals.runs++;
  const what = `PIPEWORK_FAIL_STEP=${n} ${show(args, r)}`;
  assert.equal(r.code, 1, what);
  assert.equal(r.stdout, '', what);
  assert.match(r.stderr, new RegExp(
    `^pipework: step ${n} of ${titles.length} \\(${esc(titles[n - 1]!)}\\) failed: injected failure \\(PIPEWORK_FAIL_STEP\\)[^\\n]*\\n$`, 'u'), what);
  return r.stderr.trim();
}

/** PIPEWORK_FAIL_STEP=1..n of ARGS; after each the state must be EXPECTED. Returns the leaks. */
async function failEveryStep(args: readonly string[], expected: State): Promise<{ n: number; leaks: string[] }> {
  const titles = await planTitles(args);
  const leaks: string[] = [];
  for (let n = 1; n <= titles.length; n++) {
    const message = await failAt(args, n, titles);
    const diff = await differences(expected);
    if (diff.length > 0) {
      totals.leaks++;
      leaks.push(`PIPEWORK_FAIL_STEP=${n} → ${message}\n${diff.join('\n')}`);
      await restore();
    }
  }
  return { n: titles.length, leaks };
}

// -------------------------------------------------------------------------------------------------
void describe('PIPEWORK_FAIL_STEP=N for every step of a gateway attach', () => {
  after(async () => {
    await removeLink('eth1', G);
    await removeLink(NEW_BR);
    await removeLink(OLD_BR);
  });

  void test('on a NEW bridge (off-subnet gateway: on-link route too): every step fails cleanly, 0 leaks', async (t) => {
    const args = [NEW_BR, G, '10.247.70.1/24@10.247.99.254'];
    const titles = await planTitles(args);
    for (const title of [`create bridge ${NEW_BR}`, "remove the guest's IPv4 default route", 'add an on-link route to gateway 10.247.99.254',
      'set the IPv4 default route via 10.247.99.254']) {
      assert.ok(titles.some((s) => s.startsWith(title)), `the plan has "${title}…":\n${titles.join('\n')}`);
    }
    assert.equal(await getLink(NEW_BR), undefined);
    const { n, leaks } = await failEveryStep(args, await snapshot());
    t.diagnostic(`new bridge: ${n} steps, ${n} injected failures, ${leaks.length} leaks`);
    assert.deepEqual(leaks, [], `rollback left state behind:\n\n${leaks.join('\n\n')}`);
    assert.equal(await getLink(NEW_BR), undefined, 'the bridge the runs created is gone');
    // Without the hook the same line works.
    await ok(args);
    assert.deepEqual((await ipJson(['-4', 'route', 'show', 'default'], G) as { gateway?: string; dev?: string }[]).map((r) => `${r.gateway} ${r.dev}`),
      ['10.247.99.254 eth1']);
    await ok(['del', G]);
    await restore();
  });

  void test('on an EXISTING bridge (in-subnet gateway): every step fails cleanly, the bridge stays, 0 leaks', async (t) => {
    await addSettledBridge(OLD_BR, 'pwlrx0', 'pwlrx1');
    const args = [OLD_BR, G, '10.247.71.1/24@10.247.71.254'];
    const titles = await planTitles(args);
    assert.ok(!titles.some((s) => s.startsWith('create bridge')), titles.join('\n'));
    const { n, leaks } = await failEveryStep(args, await snapshot());
    t.diagnostic(`existing bridge: ${n} steps, ${n} injected failures, ${leaks.length} leaks`);
    assert.deepEqual(leaks, [], `rollback left state behind:\n\n${leaks.join('\n\n')}`);
    assert.equal((await getLink(OLD_BR))?.linkinfo?.info_kind, 'bridge', 'the existing bridge is still there');
    assert.deepEqual(await ipJson(['link', 'show', 'master', OLD_BR]), [], 'with no port left');
  });
});

// -------------------------------------------------------------------------------------------------
void describe('--replace with an injected failure', () => {
  const OLD = [OLD_BR, G, '10.247.72.1/24'];
  // The new configuration also takes over the guest's default route (from eth0): a failure after
  // that must put it back.
  const NEW = ['--replace', OLD_BR, G, '10.247.73.1/24@10.247.73.254'];
  let titles: string[] = [];
  let withOld: State; // the guest with the old eth1

  before(async () => {
    await removeLink('eth1', G);
    if ((await getLink(OLD_BR)) === undefined) await addSettledBridge(OLD_BR, 'pwlrx0', 'pwlrx1');
    await waitOperstate(OLD_BR, 'DOWN');
    await ok(OLD);
    await waitOperstate(OLD_BR, 'UP');
    withOld = await snapshot();
    titles = await planTitles(NEW);
    assert.match(`${titles[0]!}\n${titles[1]!}`, /^take eth1 down to park it.*\npark eth1 as pwo/u, `steps 1 and 2 move the old eth1 out of the way:\n${titles.join('\n')}`);
    assert.match(titles[titles.length - 1]!, /^remove pwo\S+ .*\(replaced\)$/u, `the old one goes last:\n${titles.join('\n')}`);
    assert.ok(titles.some((s) => s.startsWith("remove the guest's IPv4 default route")), titles.join('\n'));
  });
  after(async () => {
    await removeLink('eth1', G);
    await removeLink(OLD_BR);
    await ip(['route', 'replace', 'default', 'via', '192.168.247.1', 'dev', 'eth0'], G);
  });

  void test('failure at every step N: the old eth1 is back as it was (same link, address, host end on its bridge, ' +
    'default route), nothing leaks, and the error names step N', async (t) => {
    const oldIndex = (await getLink('eth1', G))!.ifindex;
    const problems: string[] = [];
    for (let n = 1; n <= titles.length; n++) {
      const message = await failAt(NEW, n, titles);
      assert.doesNotMatch(message, /cannot be/u, `step ${n}: everything is undone`);
      const diff = await differences(withOld);
      if (diff.length > 0) {
        totals.leaks++;
        problems.push(`PIPEWORK_FAIL_STEP=${n} → ${message}\n${diff.join('\n')}`);
      }
      assert.equal((await getLink('eth1', G))?.ifindex, oldIndex, `step ${n}: the very same eth1`);
    }
    assert.deepEqual(problems, [], `unexpected state:\n\n${problems.join('\n\n')}`);
    t.diagnostic(`--replace: ${titles.length} injected failures, the old eth1 back after each`);
  });

  void test('a --replace the kernel refuses (a gateway it will not route through) leaves the old eth1 working', async () => {
    // An IPv6 address the guest's lo holds: no validator can know it, the kernel refuses the route.
    await ip(['addr', 'add', 'fd00:247:73::77/128', 'dev', 'lo'], G);
    try {
      const r = await pw(['--replace', OLD_BR, G, 'fd00:247:73::1/64@fd00:247:73::77']);
      assert.equal(r.code, 1, show(['--replace'], r));
      assert.match(r.stderr, /Gateway can not be a local address/u, show(['--replace'], r));
    } finally {
      await ip(['addr', 'del', 'fd00:247:73::77/128', 'dev', 'lo'], G);
    }
    assert.deepEqual(await differences(withOld), [], 'the old eth1 as it was');
  });

  void test('then the same --replace without a failure: the new configuration, the old one gone', async () => {
    await ok(NEW);
    const links = (await ipJson(['link', 'show'], G) as { ifname: string }[]).map((l) => l.ifname);
    assert.ok(!links.some((l) => l.startsWith('pwo')), `no parked link left: ${links.join(' ')}`);
    assert.deepEqual((await ipJson(['-4', 'route', 'show', 'default'], G) as { gateway?: string; dev?: string }[]).map((r) => `${r.gateway} ${r.dev}`),
      ['10.247.73.254 eth1']);
  });
});
