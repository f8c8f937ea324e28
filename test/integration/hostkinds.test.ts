// pipework's host kinds other than a Linux bridge, with real traffic, on this kernel: macvlan on
// a NIC, --direct-phys, Open vSwitch (userspace datapath), and what the kernel lacks (802.1Q
// VLAN, dummy, bridge VLAN filtering), each refused by name with nothing changed. Run as root,
// with dockerd and Open vSwitch running (scripts/test.sh starts both).
//
// A veth pair stands in for a physical NIC (this machine has none to spare): pipework treats any
// existing interface that is not a bridge, an OVS bridge or IPoIB as "physical".
//
// Names: netns `pwk-…`, host links `pwk…`, OVS bridges `ovspwk…`, Linux bridges `brpwk…`,
// containers `pwk-…`. Addresses 10.242.N.0/24, only between our own namespaces (and, for
// --direct-phys, the host-side peer of the moved veth end).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { cleanupPrefix, snapshotHost, type HostSnapshot } from './helpers/guard.js';
import {
  addNetns,
  delNetns,
  getLink,
  ip,
  ipJson,
  ping,
  type IpAddrLink,
  type IpLink,
  type NsRef,
} from './helpers/netns.js';
import { runPipework, sh, shOk, sleep, waitFor, type RunResult } from './helpers/run.js';
import { classicSkip, runClassic } from './helpers/classic.js';
import {
  DOCKER_TEST_IMAGE,
  ensureImage,
  removeContainer,
  removeContainersByPrefix,
  runContainer,
  type DockerContainer,
} from './helpers/docker.js';
import {
  assertResolvConfUnchanged,
  planSteps,
  pwOk,
  pwRefused,
  snapshotDiff,
  snapshotGuest,
  type GuestSnapshot,
} from './helpers/bridge-common.js';

// ---- names and host state scoped to this file ---------------------------------------------------

const NS_PREFIX = 'pwk-';
const LINK_PREFIX = 'pwk';
const OVS_PREFIX = 'ovspwk';
const BR_PREFIX = 'brpwk';
const CONTAINER_PREFIX = 'pwk-';

/** Host links that are ours but not under our prefixes (host ends pipework names for Docker guests). */
const extraNames = new Set<string>();
/** Guest interface names these tests use: one appearing on the host would be a leak. */
const GUEST_IFNAMES = new Set(['eth1', 'eth2', 'eth5']);

function isOurs(name: string): boolean {
  return name.startsWith(LINK_PREFIX) || name.startsWith(OVS_PREFIX) || name.startsWith(BR_PREFIX) ||
    name.startsWith('dummypwk') || extraNames.has(name) || GUEST_IFNAMES.has(name);
}

function snapshotOurs(): Promise<HostSnapshot> {
  return snapshotHost({ only: isOurs });
}

async function assertHostSame(before: HostSnapshot, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const diff = snapshotDiff(before, await snapshotOurs());
    if (diff.length === 0) return;
    if (Date.now() >= deadline) assert.fail(`the host changed:\n${diff.join('\n')}`);
    await sleep(100);
  }
}

async function assertGuestSame(ns: string, before: GuestSnapshot): Promise<void> {
  const diff = snapshotDiff(before, await snapshotGuest(ns));
  if (diff.length > 0) assert.fail(`guest ${ns} changed:\n${diff.join('\n')}`);
}

async function cleanupAll(): Promise<void> {
  await removeContainersByPrefix(CONTAINER_PREFIX);
  await cleanupPrefix(NS_PREFIX);
  await cleanupPrefix(OVS_PREFIX);
  await cleanupPrefix(BR_PREFIX);
  await cleanupPrefix(LINK_PREFIX);
  for (const n of extraNames) await sh(['ip', 'link', 'del', 'dev', n], { timeoutMs: 10_000 });
}

before(async () => {
  await cleanupAll();
});

after(async () => {
  await cleanupAll();
  assertResolvConfUnchanged();
});

// ---- small helpers ------------------------------------------------------------------------------

function pw(args: readonly string[], env?: Record<string, string>): Promise<RunResult> {
  return runPipework(args, { timeoutMs: 30_000, ...(env !== undefined && { env }) });
}

async function mustLink(name: string, ns?: NsRef): Promise<IpLink> {
  const l = await getLink(name, ns);
  assert.ok(l !== undefined, `link ${name} missing ${ns !== undefined ? `in ${String(ns)}` : 'on the host'}`);
  return l;
}

/** Turn IPv6 off on host link NAME, so no link-local address appears on it later, on its own. */
function noIpv6(name: string): void {
  writeFileSync(`/proc/sys/net/ipv6/conf/${name}/disable_ipv6`, '1');
}

/**
 * A veth pair NAME <-> NAME+'p' on the host standing in for a NIC; both ends up unless told.
 * IPv6 is off on both ends: a link-local address that the kernel adds whenever carrier comes
 * would otherwise show as a host change that pipework did not make.
 */
async function standInNic(name: string, opts: { mtu?: number; up?: boolean; peerAddr?: string } = {}): Promise<void> {
  await sh(['ip', 'link', 'del', 'dev', name], { timeoutMs: 10_000 });
  const mtu = opts.mtu !== undefined ? ['mtu', String(opts.mtu)] : [];
  await ip(['link', 'add', 'name', name, ...mtu, 'type', 'veth', 'peer', 'name', `${name}p`, ...mtu]);
  noIpv6(name);
  noIpv6(`${name}p`);
  if (opts.peerAddr !== undefined) await ip(['addr', 'add', opts.peerAddr, 'dev', `${name}p`]);
  await ip(['link', 'set', 'dev', `${name}p`, 'up']);
  if (opts.up !== false) await ip(['link', 'set', 'dev', name, 'up']);
}

/**
 * A named netns guest with lo up and IPv6 off for every new link (as Docker does for its
 * containers), so snapshots of it do not race with IPv6 link-local addresses appearing.
 */
async function addGuest(ns: string): Promise<void> {
  await addNetns(ns);
  await shOk(['ip', 'netns', 'exec', ns, 'sysctl', '-q', '-w',
    'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
}

/** Remove a Docker container and wait (at most 5 s) until its host ends have gone with it. */
async function removeDocker(name: string, ends: readonly string[]): Promise<void> {
  await removeContainer(name);
  for (const end of ends) {
    await waitFor(`${end} gone with container ${name}`, async () => (await getLink(end)) === undefined, 5_000, 50);
  }
}

async function dockerExec(name: string, argv: readonly string[]): Promise<RunResult> {
  return sh(['docker', 'exec', name, ...argv], { timeoutMs: 15_000 });
}

async function guestAddrs(dev: string, ns: NsRef): Promise<string[]> {
  const [l] = (await ipJson(['-4', 'addr', 'show', 'dev', dev], ns)) as IpAddrLink[];
  return (l?.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen} brd ${a.broadcast ?? '-'}`);
}

/** `pipework ls --json TARGET` interfaces. */
async function lsJson(target?: string): Promise<Record<string, unknown>[]> {
  const out = await pwOk(['ls', '--json', ...(target !== undefined ? [target] : [])]);
  return (JSON.parse(out) as { interfaces: Record<string, unknown>[] }).interfaces;
}

// ---- Open vSwitch helpers -----------------------------------------------------------------------

async function vsctl(args: readonly string[]): Promise<RunResult> {
  return sh(['ovs-vsctl', '--timeout=5', ...args], { timeoutMs: 10_000 });
}

async function vsctlOk(args: readonly string[]): Promise<string> {
  return shOk(['ovs-vsctl', '--timeout=5', ...args], { timeoutMs: 10_000 });
}

async function ovsReachable(): Promise<boolean> {
  return (await vsctl(['show'])).code === 0;
}

async function ovsBridges(): Promise<string[]> {
  return (await vsctlOk(['list-br'])).split('\n').map((s) => s.trim()).filter((s) => s !== '');
}

async function ovsPorts(bridge: string): Promise<string[]> {
  return (await vsctlOk(['list-ports', bridge])).split('\n').map((s) => s.trim()).filter((s) => s !== '').sort();
}

/** external_ids of Interface PORT, read back with `ovs-vsctl --columns=external_ids list Interface`. */
async function externalIds(port: string): Promise<Record<string, string>> {
  const out = await vsctlOk(['--format=json', '--columns=external_ids', 'list', 'Interface', port]);
  const table = JSON.parse(out) as { data: [['map', [string, string][]]][] };
  const row = table.data[0];
  assert.ok(row !== undefined, `no Interface row ${port}`);
  return Object.fromEntries(row[0][1]);
}

/** The tag of Port PORT ('[]' when none). */
async function portTag(port: string): Promise<string> {
  return (await vsctlOk(['get', 'Port', port, 'tag'])).trim();
}

async function delOvsBridge(bridge: string): Promise<void> {
  await vsctl(['--if-exists', 'del-br', bridge]);
}

// =================================================================================================
// 1. macvlan on a NIC
// =================================================================================================
void describe('macvlan on a NIC: two netns guests and a Docker container', () => {
  const NIC = 'pwknic0';
  const A = 'pwk-m1';
  const B = 'pwk-m2';
  const C = 'pwk-md1';
  let docker: DockerContainer;
  let nicIndex: number;
  let beforeA: GuestSnapshot;
  let host: HostSnapshot;

  before(async () => {
    await ensureImage();
    await standInNic(NIC, { mtu: 1400 });
    await addGuest(A);
    await addGuest(B);
    docker = await runContainer(C, DOCKER_TEST_IMAGE);
    nicIndex = (await mustLink(NIC)).ifindex;
    beforeA = await snapshotGuest(A);
    host = await snapshotOurs();
  });
  after(async () => {
    await removeContainer(C);
    await delNetns(A);
    await delNetns(B);
    await sh(['ip', 'link', 'del', 'dev', NIC]);
  });

  /** eth1 in NS is a bridge-mode macvlan on the NIC, UP with carrier, MTU 1400, with ADDR. */
  async function assertMacvlan(ns: NsRef, addr: string): Promise<void> {
    await waitFor(`${String(ns)} eth1 operstate UP`, async () => (await getLink('eth1', ns))?.operstate === 'UP', 3_000, 50);
    const l = await mustLink('eth1', ns);
    assert.equal(l.linkinfo?.info_kind, 'macvlan', 'kind');
    assert.equal(l.linkinfo?.info_data?.['mode'], 'bridge', 'macvlan mode');
    assert.equal(l.mtu, 1400, 'MTU is the NIC\'s');
    assert.equal(l['link_index'], nicIndex, 'the parent is the NIC');
    assert.notEqual(l.link_netnsid, undefined, 'the parent lives in another namespace (the host)');
    assert.ok(l.flags.includes('UP') && l.flags.includes('LOWER_UP'), `UP with carrier: ${l.flags.join(',')}`);
    const [net, prefix] = addr.split('/') as [string, string];
    assert.deepEqual(await guestAddrs('eth1', ns), [`${net}/${prefix} brd ${net.replace(/\.\d+$/u, '.255')}`]);
  }

  void test('attach: exact state, the NIC stays up, MTU follows the NIC', async () => {
    await pwOk([NIC, A, '10.242.1.1/24']);
    await pwOk([NIC, B, '10.242.1.2/24']);
    await pwOk([NIC, C, '10.242.1.3/24']);
    await assertMacvlan(A, '10.242.1.1/24');
    await assertMacvlan(B, '10.242.1.2/24');
    await assertMacvlan(docker.pid, '10.242.1.3/24');
    const nic = await mustLink(NIC);
    assert.ok(nic.flags.includes('UP'), 'the NIC is up');
    assert.equal(nic.mtu, 1400);
    // Nothing new on the host: the macvlans were made directly inside the guests.
    await assertHostSame(host);
  });

  void test('the interface shows up inside the container', async () => {
    const r = await dockerExec(C, ['ip', 'link', 'show', 'eth1']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /eth1@if\d+: <[^>]*\bUP\b[^>]*> mtu 1400 /u);
    const a = await dockerExec(C, ['ip', '-4', 'addr', 'show', 'eth1']);
    assert.match(a.stdout, /inet 10\.242\.1\.3\/24 /u);
  });

  void test('traffic between the macvlans', async () => {
    assert.ok(await ping(A, '10.242.1.2'), 'netns A -> netns B');
    assert.ok(await ping(A, '10.242.1.3'), 'netns A -> container');
    assert.ok(await ping(B, '10.242.1.1'), 'netns B -> netns A');
    const r = await dockerExec(C, ['ping', '-c', '1', '-W', '2', '10.242.1.2']);
    assert.equal(r.code, 0, `container -> netns B (docker exec ping): ${r.stdout}${r.stderr}`);
  });

  void test('re-running the same attach succeeds and changes nothing', async () => {
    const g = await snapshotGuest(A);
    await pwOk([NIC, A, '10.242.1.1/24']);
    await assertGuestSame(A, g);
  });

  void test('ls <guest> shows kind macvlan', async () => {
    const out = await pwOk(['ls', A]);
    assert.match(out, /^netns:pwk-m1\s+eth1\s+pwknic0\s+macvlan\s+-\s+-\s+10\.242\.1\.1\/24\s/mu, out);
    const entries = await lsJson(C);
    assert.equal(entries.length, 1, JSON.stringify(entries));
    assert.equal(entries[0]!['hostKind'], 'macvlan');
    assert.equal(entries[0]!['hostIf'], NIC);
    assert.equal(entries[0]!['guestIf'], 'eth1');
  });

  void test('del removes the macvlan; the NIC stays as it was', async () => {
    await pwOk(['del', A]);
    assert.equal(await getLink('eth1', A), undefined, 'eth1 gone from A');
    await assertGuestSame(A, beforeA);
    await pwOk(['del', C]);
    assert.equal(await getLink('eth1', docker.pid), undefined, 'eth1 gone from the container');
    const r = await dockerExec(C, ['ip', 'link', 'show', 'eth1']);
    assert.notEqual(r.code, 0, 'the container no longer sees eth1');
    // B still talks on the NIC; the NIC is untouched.
    await assertMacvlan(B, '10.242.1.2/24');
    await assertHostSame(host);
    // del of what is already gone succeeds.
    await pwOk(['del', A]);
  });
});

void describe('macvlan on a NIC that is down: pipework brings it up, and rollback takes it down again', () => {
  const NIC = 'pwknic1';
  const G = 'pwk-m3';
  let host: HostSnapshot;
  let guest: GuestSnapshot;
  before(async () => {
    await standInNic(NIC, { up: false });
    await addGuest(G);
    host = await snapshotOurs();
    guest = await snapshotGuest(G);
  });
  after(async () => {
    await delNetns(G);
    await sh(['ip', 'link', 'del', 'dev', NIC]);
  });

  void test('an injected failure at every step leaves the NIC down and the guest unchanged', async () => {
    const args = [NIC, G, '10.242.9.1/24'];
    const plan = await pwOk(['--dry-run', ...args]);
    assert.match(plan, /ip link set dev pwknic1 up/u, plan);
    const n = planSteps(plan);
    assert.ok(n >= 4, plan);
    for (let step = 1; step <= n; step++) {
      await pwRefused(args, new RegExp(`step ${step} of ${n} .*injected failure`, 'u'), { PIPEWORK_FAIL_STEP: String(step) });
      await assertHostSame(host);
      await assertGuestSame(G, guest);
    }
  });

  void test('attach brings the NIC up; the macvlan has carrier', async () => {
    await pwOk([NIC, G, '10.242.9.1/24']);
    assert.ok((await mustLink(NIC)).flags.includes('UP'));
    await waitFor('eth1 carrier', async () => (await getLink('eth1', G))?.flags.includes('LOWER_UP') === true, 3_000, 50);
    await pwOk(['del', G]);
    await assertGuestSame(G, guest);
  });
});

// =================================================================================================
// 2. --direct-phys
// =================================================================================================
void describe('--direct-phys: the NIC itself moves into the guest and comes back', () => {
  const NIC = 'pwkdp0';
  const G = 'pwk-d1';
  const MAC = '02:42:ac:f2:02:02';
  const args = ['--direct-phys', NIC, '-i', 'eth5', G, '10.242.2.2/24', MAC];
  let orig: IpLink;
  let host: HostSnapshot;
  let guest: GuestSnapshot;

  /** What must be identical when the NIC is back: name, index, MAC, MTU, kind, peer, flags, no alias. */
  function identity(l: IpLink): Record<string, unknown> {
    return {
      ifname: l.ifname, ifindex: l.ifindex, address: l.address, mtu: l.mtu, kind: l.linkinfo?.info_kind,
      peer: l.link, flags: [...l.flags].sort(), ifalias: l['ifalias'] ?? '',
    };
  }

  before(async () => {
    // The NIC stays down (nothing uses it yet); its peer is up on the host with an address.
    await standInNic(NIC, { up: false, peerAddr: '10.242.2.1/24' });
    await addGuest(G);
    orig = await mustLink(NIC);
    host = await snapshotOurs();
    guest = await snapshotGuest(G);
  });
  after(async () => {
    await delNetns(G);
    await sh(['ip', 'link', 'del', 'dev', NIC]);
  });

  void test('attach: the NIC is eth5 in the guest with the MAC; traffic with its host-side peer', async () => {
    assert.equal(identity(orig).ifalias, '', 'no alias to begin with');
    await pwOk(args);
    assert.equal(await getLink(NIC), undefined, `${NIC} left the host`);
    const g = await mustLink('eth5', G);
    assert.equal(g.ifindex, orig.ifindex, 'the very same device');
    assert.equal(g.linkinfo?.info_kind, 'veth');
    assert.equal(g.address, MAC);
    assert.equal(g.mtu, orig.mtu);
    assert.ok(g.flags.includes('UP'), g.flags.join(','));
    assert.deepEqual(await guestAddrs('eth5', G), ['10.242.2.2/24 brd 10.242.2.255']);
    assert.ok(await ping(G, '10.242.2.1'), 'guest -> host-side peer');
    assert.ok(await ping(undefined, '10.242.2.2'), 'host-side peer -> guest');
    const out = await pwOk(['ls', G]);
    assert.match(out, /^netns:pwk-d1\s+eth5\s+pwkdp0\s+phys\s/mu, out);
  });

  void test('del -i eth5 gives it back under its name, with its MAC and no alias', async () => {
    await pwOk(['del', '-i', 'eth5', G]);
    assert.equal(await getLink('eth5', G), undefined, 'eth5 left the guest');
    const back = await mustLink(NIC);
    assert.deepEqual(identity(back), identity(orig));
    await assertHostSame(host);
    await assertGuestSame(G, guest);
  });

  void test('an injected failure at every step leaves it on the host unchanged', async () => {
    const plan = await pwOk(['--dry-run', ...args]);
    const n = planSteps(plan);
    assert.ok(n >= 4, plan);
    const problems: string[] = [];
    for (let step = 1; step <= n; step++) {
      await pwRefused(args, new RegExp(`step ${step} of ${n} .*injected failure`, 'u'), { PIPEWORK_FAIL_STEP: String(step) });
      const now = await getLink(NIC);
      if (now === undefined) {
        problems.push(`step ${step}: ${NIC} is not back on the host`);
        break;
      }
      const diff = snapshotDiff(identity(orig), identity(now));
      if (diff.length > 0) {
        problems.push(`step ${step}:\n  ${diff.join('\n  ')}`);
        // Put it right for the next round (this is what a clean rollback must have done).
        await ip(['link', 'set', 'dev', NIC, 'alias', '']);
      }
      await assertGuestSame(G, guest);
    }
    if (problems.length > 0) assert.fail(`after a rolled-back --direct-phys the NIC differs:\n${problems.join('\n')}`);
    await assertHostSame(host);
  });
});

// =================================================================================================
// 3. Open vSwitch (userspace datapath)
// =================================================================================================
void describe('Open vSwitch: a new bridge, VLAN tags, external-ids, del, stale rows', () => {
  const BR = 'ovspwk0';
  const A = 'pwk-o1'; // tag 10, host end pwko1
  const C = 'pwk-od1'; // Docker, tag 10, the classic host end name
  const B = 'pwk-o3'; // tag 20, host end pwko3
  let docker: DockerContainer;
  let dockerEnd: string;
  let host: HostSnapshot;

  before(async () => {
    assert.ok(await ovsReachable(), 'Open vSwitch is not running (ovs-vsctl show fails): scripts/test.sh starts it');
    await ensureImage();
    await delOvsBridge(BR);
    await addGuest(A);
    await addGuest(B);
    docker = await runContainer(C, DOCKER_TEST_IMAGE);
    dockerEnd = `veth1pl${docker.pid}`;
    extraNames.add(dockerEnd);
    host = await snapshotOurs();
  });
  after(async () => {
    await removeDocker(C, [dockerEnd]);
    await delNetns(A);
    await delNetns(B);
    await delOvsBridge(BR);
  });

  void test('a missing ovs* bridge is created with the userspace datapath, with a note', async () => {
    assert.ok(!(await ovsBridges()).includes(BR));
    const out = await pwOk([BR, '-l', 'pwko1', A, '10.242.3.1/24', '@10']);
    assert.match(out, /userspace \(netdev\) datapath/u, `the note about the datapath: ${JSON.stringify(out)}`);
    assert.ok((await ovsBridges()).includes(BR));
    assert.equal((await vsctlOk(['get', 'Bridge', BR, 'datapath_type'])).trim(), 'netdev');
    await mustLink(BR);
    // A second guest on the existing bridge: no note.
    const out2 = await pwOk([BR, C, '10.242.3.3/24', '@10']);
    assert.equal(out2, '');
    await pwOk([BR, '-l', 'pwko3', B, '10.242.3.2/24', '@20']);
    assert.deepEqual(await ovsPorts(BR), ['pwko1', 'pwko3', dockerEnd].sort());
  });

  void test('ports: tags, external-ids, host ends up, guest ends with the bridge MTU', async () => {
    assert.equal(await portTag('pwko1'), '10');
    assert.equal(await portTag(dockerEnd), '10');
    assert.equal(await portTag('pwko3'), '20');
    // A named netns has no PID: no nspid, no container; pipework.guest names it instead.
    assert.deepEqual(await externalIds('pwko1'), {
      'pipework.interface': 'pwko1', 'pipework.bridge': BR, 'pipework.vlan': '10', 'pipework.guest': `netns:${A}`,
    });
    assert.deepEqual(await externalIds('pwko3'), {
      'pipework.interface': 'pwko3', 'pipework.bridge': BR, 'pipework.vlan': '20', 'pipework.guest': `netns:${B}`,
    });
    assert.deepEqual(await externalIds(dockerEnd), {
      'pipework.interface': dockerEnd,
      'pipework.bridge': BR,
      'pipework.containerid': docker.id,
      'pipework.containername': `/${C}`,
      'pipework.nspid': String(docker.pid),
      'pipework.vlan': '10',
    });
    const brMtu = (await mustLink(BR)).mtu;
    for (const [end, ns] of [['pwko1', A], [dockerEnd, docker.pid], ['pwko3', B]] as const) {
      const h = await mustLink(end);
      assert.equal(h.linkinfo?.info_kind, 'veth', `${end} kind`);
      assert.ok(h.flags.includes('UP'), `${end} is up`);
      const g = await mustLink('eth1', ns);
      assert.equal(g.linkinfo?.info_kind, 'veth');
      assert.equal(g.mtu, brMtu, `eth1 of ${String(ns)} takes the bridge's MTU`);
      assert.equal(h['link_index'], g.ifindex, `${end} is the peer of eth1 in ${String(ns)}`);
    }
  });

  void test('tag 10 <-> tag 10 pings; tag 10 <-> tag 20 does not', async () => {
    assert.ok(await ping(A, '10.242.3.3', 4, { retryMs: 3_000 }), 'A (10) -> container (10)');
    assert.ok(await ping(docker.pid, '10.242.3.1'), 'container (10) -> A (10)');
    assert.equal(await ping(A, '10.242.3.2', 4, { retryMs: 0 }), false, 'A (10) must not reach B (20)');
    assert.equal(await ping(B, '10.242.3.3', 4, { retryMs: 0 }), false, 'B (20) must not reach the container (10)');
  });

  void test('ls lists the three ports on the bridge', async () => {
    const entries = (await lsJson(BR)).filter((e) => e['hostIf'] === BR);
    const summary = entries.map((e) => `${String(e['localIf'])} ${String(e['vlan'])} ${String(e['hostKind'])}`).sort();
    assert.deepEqual(summary, [`${dockerEnd} 10 ovs`, 'pwko1 10 ovs', 'pwko3 20 ovs'].sort());
  });

  void test('del removes the port', async () => {
    await pwOk(['del', A]);
    assert.deepEqual(await ovsPorts(BR), [dockerEnd, 'pwko3'].sort());
    assert.equal(await getLink('pwko1'), undefined, 'host end gone');
    assert.equal(await getLink('eth1', A), undefined, 'guest end gone');
    assert.notEqual((await vsctl(['get', 'Interface', 'pwko1', 'external_ids'])).code, 0, 'no Interface row left');
  });

  void test('a guest that dies leaves a stale row: ls shows STALE, del --stale removes it', async () => {
    await delNetns(B);
    await waitFor('pwko3 gone with its netns', async () => (await getLink('pwko3')) === undefined, 5_000, 50);
    assert.ok((await ovsPorts(BR)).includes('pwko3'), 'the row stays in the OVS database');
    const out = await pwOk(['ls']);
    assert.match(out, new RegExp(`^netns:${B}\\s+\\S+\\s+ovspwk0\\s+ovs\\s+pwko3\\s+20\\s.*STALE`, 'mu'), out);

    // A dead Docker guest: its row names the container, so del --stale <name> finds it.
    await removeContainer(C);
    await waitFor(`${dockerEnd} gone with the container`, async () => (await getLink(dockerEnd)) === undefined, 5_000, 50);
    const out2 = await pwOk(['ls', BR]);
    assert.match(out2, new RegExp(`^${C}\\s+\\S+\\s+ovspwk0\\s+ovs\\s+${dockerEnd}\\s+10\\s.*STALE`, 'mu'), out2);
    await pwOk(['del', '--stale', C]);
    assert.deepEqual(await ovsPorts(BR), ['pwko3'], 'only the named guest\'s row went');

    // A named netns is named by pipework.guest in its row: del --stale <netns> finds it.
    await pwOk(['del', '--stale', B]);
    assert.deepEqual(await ovsPorts(BR), []);
    const out3 = await pwOk(['ls', BR]);
    assert.doesNotMatch(out3, /pwko3|STALE/u, out3);
  });

  void test('cleanup check: only the bridge we made is left', async () => {
    await delOvsBridge(BR);
    await assertHostSame({ ...host, netns: host.netns.filter((n) => n !== B) });
  });
});

void describe('Open vSwitch: an injected failure at every step on a new bridge leaves nothing', () => {
  const BR = 'ovspwk1';
  const G = 'pwk-o4';
  const END = 'pwkof0';
  let host: HostSnapshot;
  let guest: GuestSnapshot;
  before(async () => {
    assert.ok(await ovsReachable(), 'Open vSwitch is not running');
    await delOvsBridge(BR);
    await addGuest(G);
    host = await snapshotOurs();
    guest = await snapshotGuest(G);
  });
  after(async () => {
    await delNetns(G);
    await delOvsBridge(BR);
  });

  void test('every step', async () => {
    const args = [BR, '-l', END, G, '10.242.4.1/24', '@30'];
    const plan = await pwOk(['--dry-run', ...args]);
    const n = planSteps(plan);
    assert.match(plan, /add-br ovspwk1 .*datapath_type=netdev/u, plan);
    assert.ok(n >= 6, plan);
    for (let step = 1; step <= n; step++) {
      await pwRefused(args, new RegExp(`step ${step} of ${n} .*injected failure`, 'u'), { PIPEWORK_FAIL_STEP: String(step) });
      assert.ok(!(await ovsBridges()).includes(BR), `step ${step}: bridge ${BR} left behind`);
      assert.notEqual((await vsctl(['port-to-br', END])).code, 0, `step ${step}: port ${END} left behind`);
      assert.equal(await getLink(END), undefined, `step ${step}: link ${END} left behind`);
      await assertHostSame(host);
      await assertGuestSame(G, guest);
    }
    // And without an injected failure it works.
    await pwOk(args);
    assert.deepEqual(await ovsPorts(BR), [END]);
    assert.equal(await portTag(END), '30');
  });
});

// ---- 3b. the classic script on twin Docker containers ---------------------------------------------


void describe('Open vSwitch: same port, tag and external-ids as the classic script', { skip: classicSkip }, () => {
  const sides = [
    { c: 'pwk-cca', br: 'ovspwkca' },
    { c: 'pwk-ccb', br: 'ovspwkcb' },
  ] as const;
  const containers: DockerContainer[] = [];

  before(async () => {
    assert.ok(await ovsReachable(), 'Open vSwitch is not running');
    await ensureImage();
    for (const s of sides) {
      await delOvsBridge(s.br);
      // The classic script would make a kernel-datapath bridge, which fails on this kernel.
      await vsctlOk(['add-br', s.br, '--', 'set', 'bridge', s.br, 'datapath_type=netdev']);
      const ct = await runContainer(s.c, DOCKER_TEST_IMAGE);
      containers.push(ct);
      extraNames.add(`veth1pl${ct.pid}`);
      extraNames.add(`veth2pl${ct.pid}`);
    }
  });
  after(async () => {
    for (const [i, s] of sides.entries()) {
      const pid = containers[i]?.pid;
      await removeDocker(s.c, pid !== undefined ? [`veth1pl${pid}`, `veth2pl${pid}`] : []);
      await delOvsBridge(s.br);
    }
  });


  /** Ports, tags, external-ids and the guest's interfaces, with this side's names replaced. */
  async function state(i: number): Promise<unknown> {
    const { c, br } = sides[i]!;
    const ct = containers[i]!;
    const norm = (s: string): string => s.split(ct.id).join('{ID}').split(c).join('{C}').split(br).join('{BR}')
      .split(String(ct.pid)).join('{PID}');
    const ports: unknown[] = [];
    for (const p of await ovsPorts(br)) {
      const ids = await externalIds(p);
      const h = await mustLink(p);
      ports.push({
        port: norm(p),
        tag: await portTag(p),
        ids: Object.fromEntries(Object.entries(ids).map(([k, v]) => [k, norm(v)])),
        kind: h.linkinfo?.info_kind,
        mtu: h.mtu,
        up: h.flags.includes('UP'),
      });
    }
    const guest = ((await ipJson(['-d', 'addr', 'show'], ct.pid)) as IpAddrLink[])
      .filter((l) => l.ifname !== 'lo')
      .map((l) => ({
        name: l.ifname,
        kind: l.linkinfo?.info_kind,
        mtu: l.mtu,
        flags: [...l.flags].sort(),
        mac: l.address?.startsWith('02:42:ac:f2:') === true ? l.address : 'random',
        addrs: l.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen} brd ${a.broadcast ?? '-'}`),
      }))
      .sort((a, b) => a.name.localeCompare(b.name));
    return { ports, guest };
  }

  void test('tagged port, then an untagged second interface with a MAC', async () => {
    const lines = [
      ['{BR}', '{C}', '10.242.6.1/24', '@40'],
      ['{BR}', '-i', 'eth2', '{C}', '10.242.7.1/24', '02:42:ac:f2:07:01'],
    ];
    for (const line of lines) {
      const fill = (i: number): string[] => line.map((a) => a.replace('{BR}', sides[i]!.br).replace('{C}', sides[i]!.c));
      const r1 = await runClassic(fill(0), containers[0]!.pid);
      const r2 = await pw(fill(1));
      assert.equal(r1.code, 0, `classic: ${r1.stdout}${r1.stderr}`);
      assert.equal(r2.code, 0, `ours: ${r2.stdout}${r2.stderr}`);
    }
    const [classic, ours] = [await state(0), await state(1)];
    assert.deepEqual(ours, classic);
  });
});

// =================================================================================================
// 4. What this kernel lacks, and 5. unknown names
// =================================================================================================
void describe('refusals: what this kernel lacks, and unknown names; nothing changes', () => {
  const NIC = 'pwknic2';
  const G = 'pwk-r1';
  const EXISTING = 'brpwk8';
  let host: HostSnapshot;
  let guest: GuestSnapshot;
  before(async () => {
    await standInNic(NIC);
    await addGuest(G);
    await sh(['ip', 'link', 'del', 'dev', 'brpwk7']);
    await ip(['link', 'add', EXISTING, 'type', 'bridge']);
    await ip(['link', 'set', EXISTING, 'up']);
    host = await snapshotOurs();
    guest = await snapshotGuest(G);
  });
  after(async () => {
    await delNetns(G);
    await sh(['ip', 'link', 'del', 'dev', NIC]);
    await sh(['ip', 'link', 'del', 'dev', EXISTING]);
    await sh(['ip', 'link', 'del', 'dev', 'brpwk7']);
  });

  const unchanged = async (): Promise<void> => {
    await assertHostSame(host);
    await assertGuestSame(G, guest);
  };
  const ADDR = '10.242.8.1/24';

  void test('@10 on the NIC: 802.1Q VLAN', async () => {
    await pwRefused([NIC, G, ADDR, '@10'], /802\.1Q VLAN/u);
    await unchanged();
    assert.equal(await getLink(`${NIC}.10`), undefined);
  });

  void test('--direct-phys @10 on the NIC: 802.1Q VLAN', async () => {
    await pwRefused(['--direct-phys', NIC, G, ADDR, '@10'], /802\.1Q VLAN/u);
    await unchanged();
  });

  void test('dummypwk0: dummy devices', async () => {
    await pwRefused(['dummypwk0', G, ADDR], /dummy devices/u);
    await unchanged();
    const r = await pw(['--json', 'dummypwk0', G, ADDR]);
    assert.equal(r.code, 1);
    assert.equal((JSON.parse(r.stdout) as { error: { reason: string } }).error.reason, 'unsupported');
    await unchanged();
  });

  void test('@7 on a new Linux bridge: the classic text', async () => {
    await pwRefused(['brpwk7', G, ADDR, '@7'], /VLAN configuration currently unsupported for Linux bridge/u);
    assert.equal(await getLink('brpwk7'), undefined, 'the bridge was not left behind');
    await unchanged();
  });

  void test('@7 on an existing Linux bridge: the classic text', async () => {
    await pwRefused([EXISTING, G, ADDR, '@7'], /VLAN configuration currently unsupported for Linux bridge/u);
    await unchanged();
  });

  void test('a missing ovs* bridge while ovs-vswitchd is not reachable', { skip: 'needs the shared OVS daemons stopped; not done on a shared test machine' }, () => undefined);

  void test('an unknown missing name: I do not know how to set up interface', async () => {
    await pwRefused(['pwkfoo0', G, ADDR], /I do not know how to set up interface pwkfoo0/u);
    await unchanged();
  });
});
