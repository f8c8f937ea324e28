// The lifecycle verbs on the real kernel: `del`, `ls`, idempotent re-runs and `--replace`,
// `--dry-run` and `--json` (results and errors). Guests are named network namespaces (and one
// Docker container for `del`); bridges are Linux bridges. Run as root.
//
// Names: netns and containers `pwl-m…`, bridges `brpwlm…`, other host links `pwlm…`. Host ends
// that pipework names itself (`pwv` + hash, or `veth1pl<pid>` for Docker) are in scope through
// their bridge or their peer's namespace. Addresses 10.247.1x–4x.0/24, only inside our netns.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertHostUnchanged, cleanupPrefix, snapshotHost, type HostSnapshot } from './helpers/guard.js';
import {
  addNetns,
  delNetns,
  getLink,
  ip,
  ipJson,
  listLinks,
  ping,
  type IpLink,
  type NsRef,
} from './helpers/netns.js';
import { shOk, sleep, waitFor, type RunResult } from './helpers/run.js';
import {
  assertGuestUnchanged,
  assertResolvConfUnchanged,
  netnsIds,
  planSteps,
  pw,
  removeLink,
  snapshotGuest,
  waitOperstate,
  type GuestSnapshot,
} from './helpers/bridge-common.js';
import * as docker from './helpers/docker.js';

const NS_PREFIX = 'pwl-m';
const BR_PREFIX = 'brpwlm';
const LINK_PREFIX = 'pwlm';
const isOurName = (n: string): boolean => n.startsWith(NS_PREFIX) || n.startsWith(BR_PREFIX) || n.startsWith(LINK_PREFIX);

before(async () => {
  await cleanup();
});

after(async () => {
  await cleanup();
  assertResolvConfUnchanged();
});

async function cleanup(): Promise<void> {
  await docker.removeContainersByPrefix(NS_PREFIX);
  await cleanupPrefix(NS_PREFIX);
  await cleanupPrefix(BR_PREFIX);
  await cleanupPrefix(LINK_PREFIX);
}

// ---- running pipework ------------------------------------------------------------------------

function show(args: readonly string[], r: RunResult): string {
  return `pipework ${args.join(' ')}\nexit ${r.code}\nstdout: ${JSON.stringify(r.stdout)}\nstderr: ${JSON.stringify(r.stderr)}`;
}

/** Exit 0, nothing on stderr; returns stdout. */
async function ok(args: readonly string[]): Promise<string> {
  const r = await pw(args);
  assert.equal(r.code, 0, show(args, r));
  assert.equal(r.stderr, '', show(args, r));
  return r.stdout;
}

/** Exit 0 with --json; returns the parsed object. */
async function okJson(args: readonly string[]): Promise<Record<string, unknown>> {
  return JSON.parse(await ok([...args, '--json'])) as Record<string, unknown>;
}

/** Exit 1, nothing on stdout, one "pipework: …" line on stderr matching MESSAGE. */
async function refused(args: readonly string[], message: RegExp): Promise<RunResult> {
  const r = await pw(args);
  assert.equal(r.code, 1, show(args, r));
  assert.equal(r.stdout, '', show(args, r));
  assert.match(r.stderr, /^pipework: [^\n]+\n$/u, `one error line expected\n${show(args, r)}`);
  assert.match(r.stderr, message, show(args, r));
  return r;
}

// ---- host state scoped to these tests ----------------------------------------------------------

/** Host links that are ours: our names, ports of our bridges, veths whose peer is in our netns. */
async function ourHostLinks(): Promise<Set<string>> {
  const ids = await netnsIds();
  return new Set((await listLinks())
    .filter((l) => isOurName(l.ifname) || (l.master !== undefined && isOurName(l.master)) ||
      (l.link_netnsid !== undefined && isOurName(ids.get(l.link_netnsid) ?? '')))
    .map((l) => l.ifname));
}

async function snapshotOurs(extra: readonly string[] = []): Promise<HostSnapshot> {
  const ours = await ourHostLinks();
  return snapshotHost({ only: (n) => ours.has(n) || isOurName(n) || extra.includes(n) });
}

async function assertOursUnchanged(before: HostSnapshot, extra: readonly string[] = []): Promise<void> {
  const ours = new Set([...(await ourHostLinks()), ...before.links.map((l) => l.name)]);
  await assertHostUnchanged(before, 3_000, { only: (n) => ours.has(n) || isOurName(n) || extra.includes(n) });
}

/** Lines only in A ("- …") and only in B ("+ …"); empty when both hold the same lines. */
function lineDiff(a: readonly string[], b: readonly string[]): string[] {
  const inA = new Set(a);
  const inB = new Set(b);
  return [...a.filter((l) => !inB.has(l)).map((l) => `- ${l}`), ...b.filter((l) => !inA.has(l)).map((l) => `+ ${l}`)];
}

// ---- exact kernel state (for "byte-identical") ---------------------------------------------------

/** Drop the fields of `ip -d -json` that tick by themselves (bridge and port timers). */
function stable(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value), (k: string, v: unknown) => (k.endsWith('_timer') ? undefined : v)) as unknown;
}

/**
 * Everything an attach can touch, as JSON lines: every link with its addresses, every route
 * (all tables, both families) and rule of guest NS; host links HOSTLINKS (`ip -d`: ifindex, MAC,
 * alias, master, flags, addresses) and host routes on them.
 */
async function kernelState(ns: NsRef, hostLinks: readonly string[]): Promise<string[]> {
  const lines: string[] = [];
  const add = (what: string, items: unknown[]): void => {
    for (const i of items) lines.push(`${what}: ${JSON.stringify(stable(i))}`);
  };
  add('guest link', await ipJson(['-d', 'addr', 'show'], ns));
  for (const fam of ['-4', '-6']) {
    add(`guest route${fam}`, await ipJson([fam, 'route', 'show', 'table', 'all'], ns));
    add(`guest rule${fam}`, await ipJson([fam, 'rule', 'show'], ns));
  }
  const host = (await ipJson(['-d', 'addr', 'show'])) as IpLink[];
  add('host link', host.filter((l) => hostLinks.includes(l.ifname)));
  for (const fam of ['-4', '-6']) {
    const routes = (await ipJson([fam, 'route', 'show', 'table', 'all'])) as { dev?: string }[];
    add(`host route${fam}`, routes.filter((r) => r.dev !== undefined && hostLinks.includes(r.dev)));
  }
  return lines;
}

/** Wait (at most 5 s) until no IPv6 address in NS (and on the host links HOSTLINKS) is tentative. */
async function waitNoTentative(ns: NsRef, hostLinks: readonly string[] = []): Promise<void> {
  await waitFor(`DAD done in ${String(ns)} and on ${hostLinks.join(', ')}`, async () => {
    if ((await ipJson(['-6', 'addr', 'show', 'tentative'], ns)).length > 0) return false;
    const host = (await ipJson(['-6', 'addr', 'show', 'tentative'])) as { ifname: string }[];
    return !host.some((l) => hostLinks.includes(l.ifname));
  }, 5_000, 50);
}

/** snapshotGuest once DAD is done (a link-local address gets its local route only then). */
async function settledGuest(ns: string): Promise<GuestSnapshot> {
  await waitNoTentative(ns);
  return snapshotGuest(ns);
}

/** kernelState once it stops changing (DAD, carrier, bridge port states settle asynchronously). */
async function settledState(ns: NsRef, hostLinks: readonly string[]): Promise<string[]> {
  const deadline = Date.now() + 10_000;
  await waitNoTentative(ns, hostLinks);
  let last = await kernelState(ns, hostLinks);
  for (;;) {
    await sleep(300);
    const now = await kernelState(ns, hostLinks);
    if (lineDiff(last, now).length === 0 && !now.some((l) => l.includes('"tentative":true'))) return now;
    if (Date.now() >= deadline) assert.fail(`the kernel state did not settle in 10 s:\n${lineDiff(last, now).join('\n')}`);
    last = now;
  }
}

async function assertStateUnchanged(before: string[], ns: NsRef, hostLinks: readonly string[], what: string): Promise<void> {
  const diff = lineDiff(before, await kernelState(ns, hostLinks));
  assert.equal(diff.length, 0, `${what}: the kernel state changed:\n${diff.join('\n')}`);
}

// ---- small readers -----------------------------------------------------------------------------

async function mustLink(name: string, ns?: NsRef): Promise<IpLink> {
  const l = await getLink(name, ns);
  assert.ok(l !== undefined, `link ${name} missing${ns !== undefined ? ` in ${String(ns)}` : ' on the host'}`);
  return l;
}

async function bridgePorts(br: string): Promise<string[]> {
  return ((await ipJson(['link', 'show', 'master', br])) as IpLink[]).map((l) => l.ifname).sort();
}

/** Link names in NS. */
async function linkNames(ns: NsRef): Promise<string[]> {
  return ((await ipJson(['link', 'show'], ns)) as IpLink[]).map((l) => l.ifname).sort();
}

/** IPv4 addresses on DEV in NS as "a/p". */
async function v4(dev: string, ns: NsRef): Promise<string[]> {
  const [l] = (await ipJson(['-4', 'addr', 'show', 'dev', dev], ns)) as { addr_info: { local: string; prefixlen: number }[] }[];
  return (l?.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`);
}

interface LsJsonEntry {
  guest: string;
  guestIf: string;
  hostIf: string;
  hostKind: string;
  localIf?: string;
  address?: string;
  gateway?: string;
  mac?: string;
  seenOn: string;
  link: string;
  state: string;
  addresses?: string[];
  currentMac?: string;
}

interface LsJson {
  command: string;
  guest?: { kind: string; name: string; netnsInode: number; pid?: number; id?: string };
  interfaces: LsJsonEntry[];
}

async function lsJson(...target: string[]): Promise<LsJson> {
  return (await okJson(['ls', ...target])) as unknown as LsJson;
}

/** The host end pipework made for GUESTIF in guest G (read with `ls --json G`). */
async function hostEndOf(guest: string, guestIf = 'eth1'): Promise<string> {
  const e = (await lsJson(guest)).interfaces.find((i) => i.guestIf === guestIf);
  assert.ok(e?.localIf !== undefined, `ls ${guest} has no ${guestIf}`);
  return e.localIf;
}

const COLUMNS = ['GUEST', 'GUESTIF', 'HOSTIF', 'KIND', 'LOCALIF', 'ADDRESS', 'GATEWAY', 'MAC', 'OWNER', 'STATE'];

/**
 * The `ls` table as header + rows (no value has a space in it). Rows keep only the COLUMNS
 * these tests check (the table may grow more columns), and the header must have them all, in order.
 */
function parseTable(out: string): { header: string[]; rows: Record<string, string>[] } {
  if (out === '') return { header: [], rows: [] };
  const [head, ...lines] = out.trimEnd().split('\n');
  const all = head!.trim().split(/\s+/u);
  const rows = lines.map((l) => {
    const cells = l.trim().split(/\s+/u);
    assert.equal(cells.length, all.length, `row "${l}" has ${cells.length} cells, the header ${all.length}`);
    return Object.fromEntries(all.flatMap((h, i) => (COLUMNS.includes(h) ? [[h, cells[i]!]] : [])));
  });
  return { header: all.filter((h) => COLUMNS.includes(h)), rows };
}

// 1 ----------------------------------------------------------------------------------------------
void describe('del', () => {
  const G = 'pwl-md1';
  const GONE = 'pwl-md2';
  const BR = 'brpwlmd';
  const C = 'pwl-md3';
  before(async () => {
    await addNetns(G);
    // An interface made by hand, not by pipework: a veth pair living entirely inside G.
    await ip(['link', 'add', 'hand0', 'type', 'veth', 'peer', 'name', 'hand1'], G);
    await ip(['link', 'set', 'hand0', 'up'], G);
  });
  after(async () => {
    await docker.removeContainer(C);
    await delNetns(G);
    await delNetns(GONE);
    await removeLink(BR);
  });

  void test('del removes eth1 and its host end, leaves the bridge and the other interfaces', async () => {
    await ok([BR, G, '10.247.11.1/24']);
    await ok([BR, '-i', 'eth2', G, '10.247.12.1/24']);
    const end1 = await hostEndOf(G, 'eth1');
    const end2 = await hostEndOf(G, 'eth2');
    assert.deepEqual(await bridgePorts(BR), [end1, end2].sort());

    assert.equal(await ok(['del', G]), '', 'del is quiet');
    assert.equal(await getLink('eth1', G), undefined, 'eth1 is gone from the guest');
    await waitFor(`host end ${end1} gone`, async () => (await getLink(end1)) === undefined, 3_000, 50);
    const br = await mustLink(BR);
    assert.equal(br.linkinfo?.info_kind, 'bridge', 'the bridge stays');
    assert.deepEqual(await bridgePorts(BR), [end2]);
    assert.deepEqual(await linkNames(G), ['eth2', 'hand0', 'hand1', 'lo'], 'eth2 and the hand-made pair stay');
    assert.equal((await mustLink(end2)).master, BR);
  });

  void test('del again: exit 0, nothing changes (--json: outcome unchanged, nothing removed)', async () => {
    const host = await snapshotOurs();
    const guest = await settledGuest(G);
    assert.equal(await ok(['del', G]), '');
    assert.equal(await ok(['del', '-i', 'eth1', G]), '');
    const j = await okJson(['del', G]);
    assert.equal(j['outcome'], 'unchanged');
    assert.deepEqual(j['removed'], []);
    // An interface the guest never had is "already gone" too.
    assert.equal(await ok(['del', '-i', 'eth9', G]), '');
    await assertOursUnchanged(host);
    await assertGuestUnchanged(G, guest);
  });

  void test('del -i hand0 (not made by pipework): exit 1, "not plumbed by pipework", nothing changes', async () => {
    const host = await snapshotOurs();
    const guest = await settledGuest(G);
    await refused(['del', '-i', 'hand0', G], /hand0 in network namespace pwl-md1 was not plumbed by pipework \(or the host does not confirm its record\); not removing it/u);
    await refused(['del', '-i', 'lo', G], /lo .*not plumbed by pipework/u);
    await assertOursUnchanged(host);
    await assertGuestUnchanged(G, guest);
  });

  void test('del --all removes every pipework interface of the guest, not the hand-made one', async () => {
    await ok([BR, G, '10.247.11.1/24']);
    await ok([BR, '-i', 'eth3', G, '10.247.13.1/24']);
    const ends = [await hostEndOf(G, 'eth1'), await hostEndOf(G, 'eth2'), await hostEndOf(G, 'eth3')];
    assert.deepEqual(await bridgePorts(BR), [...ends].sort());
    const handBefore = (await snapshotGuest(G)).links.filter((l) => l.startsWith('hand'));

    const j = await okJson(['del', '--all', G]);
    assert.equal(j['outcome'], 'removed');
    const removed = (j['removed'] as { guestIf: string; localIf: string; hostIf: string }[]);
    assert.deepEqual(removed.map((r) => r.guestIf).sort(), ['eth1', 'eth2', 'eth3']);
    assert.deepEqual(removed.map((r) => r.localIf).sort(), [...ends].sort());
    assert.ok(removed.every((r) => r.hostIf === BR));

    assert.deepEqual(await linkNames(G), ['hand0', 'hand1', 'lo']);
    assert.deepEqual((await snapshotGuest(G)).links.filter((l) => l.startsWith('hand')), handBefore, 'hand0/hand1 untouched');
    await waitFor('every host end gone', async () => {
      for (const e of ends) if ((await getLink(e)) !== undefined) return false;
      return true;
    }, 3_000, 50);
    assert.deepEqual(await bridgePorts(BR), []);
    assert.ok((await getLink(BR)) !== undefined, 'the bridge stays');
    // And again: nothing left to remove.
    assert.equal((await okJson(['del', '--all', G]))['outcome'], 'unchanged');
  });

  void test('del of a guest that no longer exists: exit 0, and its host end went with it', async () => {
    await addNetns(GONE);
    await ok([BR, GONE, '10.247.14.1/24']);
    const end = await hostEndOf(GONE);
    await delNetns(GONE);
    await waitFor(`host end ${end} gone with its namespace`, async () => (await getLink(end)) === undefined, 5_000, 50);
    await waitOperstate(BR, 'DOWN'); // no port left
    const host = await snapshotOurs();
    for (const args of [['del', GONE], ['del', `netns:${GONE}`], ['del', '--all', GONE]]) {
      const r = await pw(args);
      assert.equal(r.code, 0, show(args, r));
      assert.equal(r.stdout, '', show(args, r));
    }
    const j = await okJson(['del', GONE]);
    assert.equal(j['outcome'], 'unchanged');
    assert.deepEqual(j['guest'], { name: GONE, found: false });
    assert.deepEqual(j['removed'], []);
    await assertOursUnchanged(host);
  });

  void test('del on a Docker container guest: eth1 and its veth1pl<pid> host end go; del after the container is gone: exit 0', async () => {
    assert.equal(await docker.dockerAvailable(), true, 'Docker does not answer on /var/run/docker.sock (scripts/test.sh starts dockerd)');
    await docker.ensureImage();
    const c = await docker.runContainer(C);
    await ok([BR, C, '10.247.15.1/24']);
    const end = `veth1pl${c.pid}`;
    assert.equal(await hostEndOf(C), end, 'the classic host end name');
    assert.equal((await mustLink(end)).master, BR);
    assert.ok((await getLink('eth1', c.pid)) !== undefined, 'eth1 inside the container');
    const row = parseTable(await ok(['ls', BR])).rows.find((r) => r['LOCALIF'] === end);
    assert.equal(row?.['GUEST'], `docker:${C}`);

    assert.equal(await ok(['del', C]), '');
    assert.equal(await getLink('eth1', c.pid), undefined, 'eth1 gone from the container');
    await waitFor(`host end ${end} gone`, async () => (await getLink(end)) === undefined, 3_000, 50);
    assert.deepEqual(await linkNames(c.pid), ['lo'], 'the container is back to lo only');
    assert.equal(parseTable(await ok(['ls', BR])).rows.length, 0, 'nothing left on the bridge');

    await docker.removeContainer(C);
    const r = await pw(['del', C]);
    assert.equal(r.code, 0, show(['del', C], r));
    assert.equal((await okJson(['del', `docker:${C}`]))['outcome'], 'unchanged');
  });
});

// 2 ----------------------------------------------------------------------------------------------
void describe('ls', () => {
  const G1 = 'pwl-ms1';
  const G2 = 'pwl-ms2';
  const BR1 = 'brpwlms1';
  const BR2 = 'brpwlms2';
  const MAC = '02:00:00:47:21:01';
  const ends: Record<string, string> = {};
  /** The guest interfaces' MACs (the kernel's choice where none was asked for). */
  const macs: Record<string, string> = {};
  before(async () => {
    await addNetns(G1);
    await addNetns(G2);
    await ok([BR1, G1, `10.247.21.1/24@10.247.21.254`, MAC]);
    await ok([BR2, '-i', 'eth2', G1, '10.247.22.1/24']);
    await ok([BR2, G2, '10.247.22.2/24']);
    ends['g1eth1'] = await hostEndOf(G1, 'eth1');
    ends['g1eth2'] = await hostEndOf(G1, 'eth2');
    ends['g2eth1'] = await hostEndOf(G2, 'eth1');
    macs['g1eth2'] = (await mustLink('eth2', G1)).address!;
    macs['g2eth1'] = (await mustLink('eth1', G2)).address!;
  });
  after(async () => {
    await delNetns(G1);
    await delNetns(G2);
    await removeLink(BR1);
    await removeLink(BR2);
  });

  // Everywhere (host-wide, per bridge, per guest) the same rows: the guest side's live MAC and
  // addresses, and who made it.
  const expected = (): Record<string, string>[] => [
    { GUEST: `netns:${G1}`, GUESTIF: 'eth1', HOSTIF: BR1, KIND: 'bridge', LOCALIF: ends['g1eth1']!, ADDRESS: '10.247.21.1/24', GATEWAY: '10.247.21.254', MAC, OWNER: 'cli', STATE: 'UP' },
    { GUEST: `netns:${G1}`, GUESTIF: 'eth2', HOSTIF: BR2, KIND: 'bridge', LOCALIF: ends['g1eth2']!, ADDRESS: '10.247.22.1/24', GATEWAY: '-', MAC: macs['g1eth2']!, OWNER: 'cli', STATE: 'UP' },
    { GUEST: `netns:${G2}`, GUESTIF: 'eth1', HOSTIF: BR2, KIND: 'bridge', LOCALIF: ends['g2eth1']!, ADDRESS: '10.247.22.2/24', GATEWAY: '-', MAC: macs['g2eth1']!, OWNER: 'cli', STATE: 'UP' },
  ];
  const byLocal = (a: Record<string, string>, b: Record<string, string>): number => a['LOCALIF']!.localeCompare(b['LOCALIF']!);

  void test('ls: a host-wide table with our three interfaces, one row each', async () => {
    // Host ends report UP once the kernel's linkwatch has seen carrier.
    await waitFor('host ends UP', async () =>
      parseTable(await ok(['ls'])).rows.filter((r) => r['GUEST']!.startsWith(`netns:${NS_PREFIX}`)).every((r) => r['STATE'] === 'UP'), 3_000, 100);
    const { header, rows } = parseTable(await ok(['ls']));
    assert.deepEqual(header, COLUMNS);
    const ours = rows.filter((r) => r['GUEST']!.startsWith(`netns:${NS_PREFIX}`));
    assert.deepEqual(ours.sort(byLocal), expected().sort(byLocal));
  });

  void test('ls <bridge>: only that bridge\'s interfaces', async () => {
    const t2 = parseTable(await ok(['ls', BR2]));
    assert.deepEqual(t2.header, COLUMNS);
    assert.deepEqual(t2.rows.sort(byLocal), expected().filter((r) => r['HOSTIF'] === BR2).sort(byLocal));
    const t1 = parseTable(await ok(['ls', BR1]));
    assert.deepEqual(t1.rows, expected().filter((r) => r['HOSTIF'] === BR1));
  });

  void test('ls <guest>: the guest ends with their real addresses and MAC (an address added by hand shows too)', async () => {
    await ip(['addr', 'add', '10.247.21.9/24', 'dev', 'eth1'], G1);
    try {
      const eth2Mac = (await mustLink('eth2', G1)).address;
      const { header, rows } = parseTable(await ok(['ls', G1]));
      assert.deepEqual(header, COLUMNS);
      const byIf = (a: Record<string, string>, b: Record<string, string>): number => a['GUESTIF']!.localeCompare(b['GUESTIF']!);
      assert.deepEqual(rows.sort(byIf), [
        { ...expected()[0]!, ADDRESS: '10.247.21.1/24,10.247.21.9/24' },
        { ...expected()[1]!, MAC: eth2Mac! },
      ]);
      // Host-wide too (the same live addresses).
      const everywhere = parseTable(await ok(['ls'])).rows.filter((r) => r['GUEST'] === `netns:${G1}`).sort(byIf);
      assert.equal(everywhere[0]?.['ADDRESS'], '10.247.21.1/24,10.247.21.9/24');
      assert.equal((await mustLink('eth1', G1)).address, MAC);
      // The other guest's own view.
      assert.deepEqual(parseTable(await ok(['ls', `netns:${G2}`])).rows.map((r) => r['GUESTIF']), ['eth1']);
    } finally {
      await ip(['addr', 'del', '10.247.21.9/24', 'dev', 'eth1'], G1);
    }
  });

  void test('ls --json (host-wide, bridge, guest) parses and has the documented fields', async () => {
    const all = await lsJson();
    assert.equal(all.command, 'ls');
    assert.equal(all.guest, undefined);
    const ours = all.interfaces.filter((i) => i.guest.startsWith(`netns:${NS_PREFIX}`));
    assert.equal(ours.length, 3);
    const e1 = ours.find((i) => i.localIf === ends['g1eth1']);
    assert.deepEqual(e1, {
      guest: `netns:${G1}`, guestIf: 'eth1', hostIf: BR1, hostKind: 'bridge', localIf: ends['g1eth1'],
      address: '10.247.21.1/24', gateway: '10.247.21.254', mac: MAC, owner: 'cli',
      seenOn: 'guest', link: 'eth1', state: 'UP', addresses: ['10.247.21.1/24'], currentMac: MAC,
    });
    const e3 = ours.find((i) => i.localIf === ends['g2eth1']);
    assert.deepEqual(e3, {
      guest: `netns:${G2}`, guestIf: 'eth1', hostIf: BR2, hostKind: 'bridge', localIf: ends['g2eth1'], owner: 'cli',
      address: '10.247.22.2/24', seenOn: 'guest', link: 'eth1', state: 'UP', addresses: ['10.247.22.2/24'], currentMac: macs['g2eth1'],
    });

    const br2 = await lsJson(BR2);
    assert.deepEqual(br2.interfaces.map((i) => i.localIf).sort(), [ends['g1eth2'], ends['g2eth1']].sort());

    const g1 = await lsJson(G1);
    const inode = Number((await shOk(['stat', '-L', '-c', '%i', `/var/run/netns/${G1}`])).trim());
    assert.deepEqual(g1.guest, { kind: 'netns', name: G1, netnsInode: inode });
    const eth2Mac = (await mustLink('eth2', G1)).address;
    assert.deepEqual(g1.interfaces.sort((a, b) => a.guestIf.localeCompare(b.guestIf)), [
      {
        guest: `netns:${G1}`, guestIf: 'eth1', hostIf: BR1, hostKind: 'bridge', localIf: ends['g1eth1'],
        address: '10.247.21.1/24', gateway: '10.247.21.254', mac: MAC, owner: 'cli',
        seenOn: 'guest', link: 'eth1', state: 'UP', addresses: ['10.247.21.1/24'], currentMac: MAC,
      },
      {
        guest: `netns:${G1}`, guestIf: 'eth2', hostIf: BR2, hostKind: 'bridge', localIf: ends['g1eth2'], owner: 'cli',
        address: '10.247.22.1/24', seenOn: 'guest', link: 'eth2', state: 'UP', addresses: ['10.247.22.1/24'], currentMac: eth2Mac,
      },
    ]);
  });

  void test('after del they are gone from ls (table and --json, host-wide, bridge and guest)', async () => {
    await ok(['del', '--all', G1]);
    await waitFor('G1 host ends gone', async () =>
      (await getLink(ends['g1eth1']!)) === undefined && (await getLink(ends['g1eth2']!)) === undefined, 3_000, 50);
    const rows = parseTable(await ok(['ls'])).rows.filter((r) => r['GUEST']!.startsWith(`netns:${NS_PREFIX}`));
    assert.deepEqual(rows.map((r) => r['LOCALIF']), [ends['g2eth1']]);
    assert.equal(await ok(['ls', G1]), '', 'no table at all when there is nothing');
    assert.equal(await ok(['ls', BR1]), '');
    assert.deepEqual((await lsJson(G1)).interfaces, []);
    assert.deepEqual((await lsJson(BR1)).interfaces, []);
    assert.deepEqual((await lsJson(BR2)).interfaces.map((i) => i.guest), [`netns:${G2}`]);
    assert.equal((await lsJson()).interfaces.filter((i) => i.guest === `netns:${G1}`).length, 0);
  });
});

// 3 ----------------------------------------------------------------------------------------------
void describe('idempotent re-runs, conflicts and --replace', () => {
  const G = 'pwl-mi1';
  const PEER = 'pwl-mi2';
  const BR = 'brpwlmi';
  const BR2 = 'brpwlmi2';
  const BR3 = 'brpwlmi3';
  const MAC = '02:00:00:47:31:01';
  const ARGS = [BR, G, '10.247.31.1/24@10.247.31.254', MAC];
  const OLD = `bridge ${BR}, 10.247.31.1/24, gateway 10.247.31.254, mac ${MAC}`;
  let end = '';
  before(async () => {
    await addNetns(G);
    await addNetns(PEER);
    await ok([BR, PEER, '10.247.31.2/24']);
    await ok([BR2, '-i', 'eth2', PEER, '10.247.32.2/24']);
  });
  after(async () => {
    await delNetns(G);
    await delNetns(PEER);
    for (const b of [BR, BR2, BR3]) await removeLink(b);
  });

  void test('the same attach twice: exit 0, outcome "unchanged", host and guest kernel state identical', async () => {
    const first = await okJson(ARGS);
    assert.equal(first['outcome'], 'created');
    end = await hostEndOf(G);
    const scope = [end, BR];
    const before = await settledState(G, scope);
    assert.ok(before.some((l) => l.startsWith('host link') && l.includes(`"ifname":"${end}"`)), 'the host end is in the compared state');

    assert.equal(await ok(ARGS), '', 'second run: quiet, exit 0');
    await assertStateUnchanged(before, G, scope, 'second run');
    const again = await okJson(ARGS);
    assert.equal(again['outcome'], 'unchanged');
    const { localIf: _l, ...rest } = again['interface'] as Record<string, unknown>;
    assert.deepEqual(rest, {
      guest: `netns:${G}`, guestIf: 'eth1', hostIf: BR, hostKind: 'bridge',
      address: '10.247.31.1/24', gateway: '10.247.31.254', mac: MAC, owner: 'cli',
    });
    assert.match(await ok(['--dry-run', ...ARGS]), /^# .*network namespace pwl-mi1: nothing to do \(unchanged\)\n$/u);
    // The classic order of options, and our options in other places, are the same request.
    assert.equal(await ok([BR, '-i', 'eth1', G, '10.247.31.1/24@10.247.31.254', MAC]), '');
    await assertStateUnchanged(before, G, scope, 'third and fourth run');
    assert.equal(await ping(G, '10.247.31.2'), true, 'traffic still works');
  });

  void test('--json of an unchanged re-run reports the whole interface record, host end included, as the first run did', async () => {
    const again = await okJson(ARGS);
    assert.equal(again['outcome'], 'unchanged');
    assert.deepEqual(again['interface'], {
      guest: `netns:${G}`, guestIf: 'eth1', hostIf: BR, hostKind: 'bridge', localIf: end,
      address: '10.247.31.1/24', gateway: '10.247.31.254', mac: MAC, owner: 'cli',
    });
  });

  const conflicts: [string, string[], string][] = [
    ['another address', [BR, G, '10.247.31.5/24@10.247.31.254', MAC], `bridge ${BR}, 10.247.31.5/24, gateway 10.247.31.254, mac ${MAC}`],
    ['another gateway', [BR, G, '10.247.31.1/24@10.247.31.253', MAC], `bridge ${BR}, 10.247.31.1/24, gateway 10.247.31.253, mac ${MAC}`],
    ['no gateway', [BR, G, '10.247.31.1/24', MAC], `bridge ${BR}, 10.247.31.1/24, mac ${MAC}`],
    ['another bridge (one that does not exist yet)', [BR3, G, '10.247.31.1/24@10.247.31.254', MAC], `bridge ${BR3}, 10.247.31.1/24, gateway 10.247.31.254, mac ${MAC}`],
    ['another MAC', [BR, G, '10.247.31.1/24@10.247.31.254', '02:00:00:47:31:99'], `bridge ${BR}, 10.247.31.1/24, gateway 10.247.31.254, mac 02:00:00:47:31:99`],
    ['no MAC', [BR, G, '10.247.31.1/24@10.247.31.254'], `bridge ${BR}, 10.247.31.1/24, gateway 10.247.31.254`],
  ];
  for (const [what, args, asked] of conflicts) {
    void test(`${what} for the existing pipework eth1: exit 1, names both configurations, suggests del/--replace, nothing changes`, async () => {
      const scope = [end, BR, BR3];
      const state = await settledState(G, scope);
      const host = await snapshotOurs();
      const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/gu, '\\$&');
      const r = await refused(args, new RegExp(
        `eth1 in network namespace ${G} is already plumbed by pipework with another configuration ` +
        `\\(${esc(OLD)}; asked: ${esc(asked)}; what differs: [^)]+\\); run 'pipework del -i eth1 ${G}' first, or add --replace`, 'u'));
      assert.ok(r.stderr.includes(OLD) && r.stderr.includes(asked));
      await assertStateUnchanged(state, G, scope, what);
      await assertOursUnchanged(host);
      assert.equal(await getLink(BR3), undefined, `${BR3} was not created`);
    });
  }

  void test('--replace: the new configuration (bridge, address, MAC) is in place, the old host end is gone, traffic works', async () => {
    const oldIndex = (await mustLink(end)).ifindex;
    const NEW = [BR2, G, '10.247.32.1/24', '02:00:00:47:32:01'];
    const j = await okJson(['--replace', ...NEW]);
    assert.equal(j['outcome'], 'replaced');
    assert.deepEqual(await v4('eth1', G), ['10.247.32.1/24']);
    const eth1 = await mustLink('eth1', G);
    assert.equal(eth1.address, '02:00:00:47:32:01');
    // The old gateway went with the old link; the new configuration has none.
    assert.deepEqual((await ipJson(['-4', 'route', 'show', 'default'], G)), []);
    const newEnd = await mustLink(end); // same guest and ifname: the same hashed name
    assert.notEqual(newEnd.ifindex, oldIndex, 'a new host end');
    assert.equal(newEnd.master, BR2);
    const hostIndexes = ((await ipJson(['link', 'show'])) as IpLink[]).map((l) => l.ifindex);
    assert.ok(!hostIndexes.includes(oldIndex), `the old host end (ifindex ${oldIndex}) is gone`);
    assert.ok(!(await bridgePorts(BR)).includes(end), `nothing of G left on ${BR}`);
    const [entry] = (await lsJson(G)).interfaces;
    assert.equal(entry?.hostIf, BR2);
    assert.equal(entry?.mac, '02:00:00:47:32:01');
    assert.equal(entry?.gateway, undefined);
    assert.equal(await ping(G, '10.247.32.2'), true, 'G → PEER on the new bridge');
    assert.equal(await ping(PEER, '10.247.32.1'), true, 'PEER → G');
    // The same --replace again: nothing to replace.
    assert.equal((await okJson(['--replace', ...NEW]))['outcome'], 'unchanged');
  });

  void test('--replace with another -l: the old host end name is gone, the new one is on the bridge', async () => {
    const j = await okJson(['--replace', BR2, '-l', 'pwlmi1x', G, '10.247.32.1/24', '02:00:00:47:32:01']);
    assert.equal(j['outcome'], 'replaced');
    await waitFor(`${end} gone`, async () => (await getLink(end)) === undefined, 3_000, 50);
    assert.equal((await mustLink('pwlmi1x')).master, BR2);
    assert.equal(await hostEndOf(G), 'pwlmi1x');
    assert.equal(await ping(G, '10.247.32.2'), true);
    await ok(['del', G]);
    assert.equal(await getLink('pwlmi1x'), undefined);
  });

  // (Committed code failed here: it deleted the old default route after step 1 had removed it
  // with the old eth1 — "RTNETLINK answers: No such process" — and the old eth1 was lost.)
  void test('--replace changing the gateway of an interface that holds the default route: the new default is in place', async () => {
    await ok([BR, G, '10.247.31.1/24@10.247.31.254']);
    try {
      const r = await pw(['--replace', BR, G, '10.247.31.1/24@10.247.31.253']);
      assert.equal(r.code, 0, show(['--replace', BR, G, '10.247.31.1/24@10.247.31.253'], r));
      assert.deepEqual((await ipJson(['-4', 'route', 'show', 'default'], G) as { gateway?: string }[]).map((x) => x.gateway), ['10.247.31.253']);
    } finally {
      await ok(['del', G]);
    }
  });
});

// 4 ----------------------------------------------------------------------------------------------
void describe('--dry-run and --json', () => {
  const G = 'pwl-mj1';
  const BR = 'brpwlmj';
  const ADDR = '10.247.41.1/24@10.247.41.254';
  before(async () => {
    await addNetns(G);
    await ip(['link', 'add', 'hand0', 'type', 'veth', 'peer', 'name', 'hand1'], G);
    await removeLink(BR);
  });
  after(async () => {
    await delNetns(G);
    await removeLink(BR);
  });

  interface PlanJsonStep { title: string; where: string; command: string[]; shell: string }

  /** The text line --dry-run prints for a --json plan step: the shell line, which names the netns. */
  const textOf = (s: PlanJsonStep): string => s.shell;

  void test('attach --dry-run prints the plan (the exact commands, numbered) and changes nothing; --json has the same commands', async () => {
    const host = await snapshotOurs();
    const guest = await settledGuest(G);
    const text = await ok(['--dry-run', BR, G, ADDR]);
    const lines = text.trimEnd().split('\n');
    assert.equal(lines[0], '# network namespace pwl-mj1');
    const n = planSteps(text);
    assert.ok(n >= 8, text);
    lines.slice(1).forEach((l, i) => assert.match(l, new RegExp(`^\\S.*    # ${i + 1}\\. \\S`, 'u'), text));
    assert.ok(lines.includes(`ip link add name ${BR} type bridge    # 1. create bridge ${BR}`), text);
    assert.ok(lines.some((l) => l.startsWith('ip -n pwl-mj1 addr add 10.247.41.1/24 brd 10.247.41.255 dev eth1    # ')), text);
    assert.ok(lines.some((l) => l.startsWith('ip -n pwl-mj1 route replace default via 10.247.41.254 dev eth1    # ')), text);

    const j = await okJson(['--dry-run', BR, G, ADDR]);
    assert.equal(j['command'], 'attach');
    assert.equal(j['outcome'], 'would-be-created');
    const plan = j['plan'] as PlanJsonStep[];
    assert.equal(plan.length, n);
    plan.forEach((s, i) => {
      assert.ok(s.where === 'host' || s.where === 'guest', JSON.stringify(s));
      assert.ok(Array.isArray(s.command) && s.command.length > 1 && s.command.every((a) => typeof a === 'string'));
      assert.equal(lines[i + 1], `${textOf(s)}    # ${i + 1}. ${s.title}`, 'the JSON step is the text step');
    });
    assert.deepEqual(plan[0]?.command, ['ip', 'link', 'add', 'name', BR, 'type', 'bridge']);
    assert.equal((j['interface'] as { address: string }).address, '10.247.41.1/24');
    assert.equal(await getLink(BR), undefined, 'no bridge');
    await assertOursUnchanged(host);
    await assertGuestUnchanged(G, guest);
  });

  void test('del --dry-run (text and --json, -i and --all) prints the plan and changes nothing', async () => {
    await ok([BR, G, ADDR]);
    const end = await hostEndOf(G);
    const scope = [end, BR];
    const state = await settledState(G, scope);
    const host = await snapshotOurs();

    const delPlan = new RegExp(`^# network namespace pwl-mj1\nip -n pwl-mj1 link del dev eth1    # 1\\. remove eth1 [^\n]*${end}[^\n]*${BR}[^\n]*\n$`, 'u');
    assert.match(await ok(['del', '--dry-run', G]), delPlan);
    assert.match(await ok(['--dry-run', 'del', '--all', G]), delPlan);
    assert.match(await ok(['del', '--dry-run', '-i', 'eth7', G]), /^# .*network namespace pwl-mj1: nothing to do \(unchanged\)\n$/u);
    const j = await okJson(['del', '--dry-run', G]);
    assert.equal(j['outcome'], 'would-be-removed');
    assert.deepEqual((j['removed'] as { guestIf: string; localIf: string }[]).map((r) => [r.guestIf, r.localIf]), [['eth1', end]]);
    const plan = j['plan'] as PlanJsonStep[];
    assert.equal(plan.length, 1);
    assert.deepEqual({ ...plan[0], title: '' }, { title: '', where: 'guest', command: ['ip', '-n', G, 'link', 'del', 'dev', 'eth1'], shell: `ip -n ${G} link del dev eth1` });
    assert.match(plan[0]!.title, new RegExp(`^remove eth1 .*${end}.*${BR}`, 'u'));
    await assertStateUnchanged(state, G, scope, 'del --dry-run');
    await assertOursUnchanged(host);
  });

  // With --json an error is {"error": {"reason", "message"}} on stdout; stderr keeps the one line.
  const ERR_ADDR = '10.247.41.2/24';
  const errors: [string, string[]][] = [
    ['not-found', [BR, 'netns:pwl-mjnosuch', ERR_ADDR]],
    ['not-found', ['ls', 'pwl-mjnosuch']],
    ['not-found', ['nosuchpwlm0', G, ERR_ADDR]],
    ['not-found', ['mac:02:00:00:47:41:99', G, ERR_ADDR]],
    ['conflict', [BR, G, ERR_ADDR]],
    ['conflict', ['del', '-i', 'hand0', G]],
    ['conflict', [BR, '-i', 'hand0', G, ERR_ADDR]],
    ['invalid-argument', [BR, G, '10.247.41.300/24']],
    ['invalid-argument', [BR, '-i', 'eth2', G, ERR_ADDR, '01:00:5e:00:00:01']],
    ['invalid-argument', [BR, '-i', 'averyverylongname', G, ERR_ADDR]],
    ['invalid-argument', [BR, '-i', 'eth2', G, ERR_ADDR, '@5000']],
    ['usage', ['--bogus', BR, G, ERR_ADDR]],
    ['usage', [BR, '-i', 'eth2', '-i', 'eth3', G, ERR_ADDR]],
    ['usage', ['ls', '--all']],
    ['usage', ['del', '--all', '-i', 'eth1', G]],
    ['usage', ['del']],
    ['unsupported', [BR, '-i', 'eth2', G, ERR_ADDR, '@10']],
  ];
  for (const [reason, args] of errors) {
    void test(`--json error ${reason}: pipework ${args.join(' ')} --json`, async () => {
      const host = await snapshotOurs();
      const guest = await settledGuest(G);
      const argv = [...args, '--json'];
      const r = await pw(argv);
      assert.equal(r.code, 1, show(argv, r));
      let parsed: unknown;
      assert.doesNotThrow(() => { parsed = JSON.parse(r.stdout); }, show(argv, r));
      const error = (parsed as { error: { reason: string; message: string } }).error;
      assert.deepEqual(Object.keys(parsed as object), ['error']);
      assert.deepEqual(Object.keys(error).sort(), ['message', 'reason']);
      assert.equal(error.reason, reason, show(argv, r));
      assert.ok(error.message.length > 0 && !error.message.includes('\n'));
      assert.equal(r.stderr, `pipework: ${error.message}\n`, 'stderr: the same message, one line');
      await assertOursUnchanged(host);
      await assertGuestUnchanged(G, guest);
    });
  }

  void test('a guest name with a "/" or ".." that matches nothing: not-found (and del of it: exit 0, nothing to remove)', async () => {
    for (const name of ['pwl-mjnosuch/', 'pwl-mj/nosuch', '..']) {
      const argv = [BR, name, ERR_ADDR, '--json'];
      const r = await pw(argv);
      assert.equal(r.code, 1, show(argv, r));
      assert.equal((JSON.parse(r.stdout) as { error: { reason: string } }).error.reason, 'not-found', show(argv, r));
      const d = await pw(['del', name]);
      assert.equal(d.code, 0, show(['del', name], d));
    }
  });

  void test('--json error for too few arguments is JSON alone on stdout', async () => {
    const r = await pw([BR, G, '--json']);
    assert.equal(r.code, 1);
    const parsed = JSON.parse(r.stdout) as { error: { reason: string } };
    assert.equal(parsed.error.reason, 'usage');
  });
});
