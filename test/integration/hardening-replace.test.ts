// Issue 11 item 5: a failing --replace leaves the old interface exactly as it was (the same
// ifindex, address, routes, bridge port) and working — when the kernel refuses the new
// configuration's gateway, and when the new configuration is DHCP and no server answers.
// Issue 11 item 6 (the case bridge.test.ts does not cover): `-l NAME` naming a DOWN veth that
// pipework did not make, whose peer lives in another namespace: refused naming it, and both ends
// stay. Run as root.
//
// Names: netns `hdr…`, bridge `br-hdr`, the peer's host end `hdr2h`, DHCP server netns `hdrsrv`
// (host end `hdrsv`), foreign veth `hdrfl0`; addresses 10.123.0.0/24 (the DHCP server is .1 and
// leases .100–.150), 192.168.123.0/24 and fd00:124::/64 on the guest's own eth0.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addBridge, addContainerLikeNetns, addNetns, attachToBridge, getLink, ip, listLinks, ping } from './helpers/netns.js';
import { assertResolvConfUnchanged, netnsIds, snapshotDiff, snapshotGuest, type GuestSnapshot } from './helpers/bridge-common.js';
import { removeDhcpFiles, startDhcpServer } from './helpers/dhcp-server.js';
import { assertOneLine, cleanupTheme, hasProgram, pw, show, v4 } from './helpers/hardening.js';

const G = 'hdr1';
const BR = 'br-hdr';
const OLD = [BR, G, '10.123.0.21/24@10.123.0.1'];
let dir = '';

before(async () => {
  await cleanupTheme('r');
  dir = mkdtempSync(join(process.env['PIPEWORK_TEST_TMP'] ?? tmpdir(), 'hdr-'));
  await addBridge(BR);
  await addNetns('hdr2');
  await attachToBridge('hdr2', BR, { hostIf: 'hdr2h', guestIf: 'eth1', addrs: ['10.123.0.200/24'] });
  await addContainerLikeNetns(G, '192.168.123.2/24', '192.168.123.1');
  await ip(['-6', 'addr', 'add', 'fd00:124::2/64', 'dev', 'eth0', 'nodad'], G);
});

after(async () => {
  await cleanupTheme('r');
  removeDhcpFiles('hdr');
  rmSync(dir, { recursive: true, force: true });
  assertResolvConfUnchanged();
});

interface Whole {
  guest: GuestSnapshot;
  eth1: number;
  hostEnd: string;
  hostEndIndex: number;
  master: string;
}

/** The old interface, whole: the guest's state, eth1's ifindex, its host end and that one's bridge. */
async function whole(): Promise<Whole> {
  const eth1 = await getLink('eth1', G);
  assert.ok(eth1, 'eth1 exists');
  const ids = await netnsIds();
  const ends = (await listLinks()).filter((l) => l.link_netnsid !== undefined && ids.get(l.link_netnsid) === G);
  assert.equal(ends.length, 1, `one host end of ${G}: ${ends.map((l) => l.ifname).join(' ')}`);
  return { guest: await snapshotGuest(G), eth1: eth1.ifindex, hostEnd: ends[0]!.ifname, hostEndIndex: ends[0]!.ifindex, master: ends[0]!.master ?? '' };
}

async function assertAsBefore(before: Whole): Promise<void> {
  const now = await whole();
  assert.equal(now.eth1, before.eth1, 'the very same eth1 (ifindex)');
  assert.equal(now.hostEnd, before.hostEnd, 'the same host end');
  assert.equal(now.hostEndIndex, before.hostEndIndex, 'the same host end (ifindex)');
  assert.equal(now.master, BR, `its host end is still a port of ${BR}`);
  assert.deepEqual(snapshotDiff(before.guest, now.guest), [], 'the guest is exactly as it was (links, addresses, routes)');
  assert.deepEqual(await v4(G, 'eth1'), ['10.123.0.21/24']);
  assert.ok(await ping(G, '10.123.0.200', 4, { retryMs: 5_000 }), 'and it still works: the guest reaches its peer');
}

void describe('a failing --replace leaves the old interface exactly as it was, and working', () => {
  /** The old interface, made afresh if a previous case (on an old build) destroyed it. */
  async function theOld(): Promise<Whole> {
    if ((await getLink('eth1', G)) === undefined) {
      await ip(['route', 'replace', 'default', 'via', '192.168.123.1', 'dev', 'eth0'], G);
      const r = await pw(OLD);
      assert.equal(r.code, 0, show(OLD, r));
    }
    assert.ok(await ping(G, '10.123.0.200', 4, { retryMs: 5_000 }), 'the old eth1 works');
    return whole();
  }

  void test('the kernel refuses the new gateway (an IPv6 gateway that is a local address of the guest): exit 1, one line, the old eth1 untouched', async () => {
    const old = await theOld();
    const args = ['--replace', BR, G, 'fd00:123::22/64@fd00:124::2'];
    const r = await pw(args);
    assert.equal(r.code, 1, show(args, r));
    assertOneLine(r, args, /fail/u);
    const j = await pw(['--json', ...args]);
    assert.equal((JSON.parse(j.stdout) as { error?: { reason?: string } }).error?.reason, 'step-failed', show(args, j));
    await assertAsBefore(old);
  });

  void test('switching to udhcpc while no DHCP server answers (--dhcp-timeout 3): exit 1, the old eth1 untouched', async (t) => {
    if (!hasProgram('udhcpc') || !hasProgram('dnsmasq')) return t.skip('udhcpc or dnsmasq is not installed');
    // First: the same method works on this bridge while the server is up (another guest gets a lease) …
    const srv = await startDhcpServer({ ns: 'hdrsrv', hostEnd: 'hdrsv', bridge: BR, net: '10.123.0', dir });
    await addNetns('hdr3');
    const ok = ['--dhcp-timeout', '10', BR, 'hdr3', 'udhcpc'];
    const leased = await pw(ok);
    assert.equal(leased.code, 0, show(ok, leased));
    assert.equal((await v4('hdr3', 'eth1')).length, 1, 'hdr3 got a lease');
    // … then the server goes down, and the replace cannot get one.
    await srv.stop();
    const old = await theOld();
    const args = ['--replace', '--dhcp-timeout', '3', BR, G, 'udhcpc'];
    const r = await pw(args);
    assert.equal(r.code, 1, show(args, r));
    assertOneLine(r, args);
    await assertAsBefore(old);
  });
});

void describe('-l naming a DOWN veth pipework did not make, its peer in another namespace', () => {
  void test('refused naming it; it and its peer stay (same ifindex), nothing else changes', async () => {
    await addNetns('hdr4');
    await addNetns('hdr5');
    await ip(['link', 'add', 'hdrfl0', 'type', 'veth', 'peer', 'name', 'hdrfl1', 'netns', 'hdr4']);
    const mine = await getLink('hdrfl0');
    const peer = await getLink('hdrfl1', 'hdr4');
    assert.ok(mine && peer && !mine.flags.includes('UP'));
    const guestBefore = await snapshotGuest('hdr5');
    const args = [BR, '-l', 'hdrfl0', 'hdr5', '10.123.0.50/24'];
    const r = await pw(args);
    assert.equal(r.code, 1, show(args, r));
    assertOneLine(r, args, /hdrfl0/u);
    assert.match(r.stderr, /not made by pipework|did not make|refus/u, show(args, r));
    assert.equal((await getLink('hdrfl0'))?.ifindex, mine.ifindex, 'hdrfl0 is still there');
    assert.equal((await getLink('hdrfl1', 'hdr4'))?.ifindex, peer.ifindex, 'its peer in hdr4 is still there');
    assert.deepEqual(snapshotDiff(guestBefore, await snapshotGuest('hdr5')), [], 'the guest is unchanged');
  });
});
