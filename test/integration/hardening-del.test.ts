// Issue 11 item 7: `del` undoes the attach's side effects — the default route that @gateway
// replaced comes back (when the guest has no other default route and its device still exists),
// and a macvlan parent NIC that the attach brought up goes down again once nothing else uses it
// (a veth end on the host stands in for the NIC), not while another guest's macvlan still does.
// Issue 11 item 9: a /etc/netns/NAME/resolv.conf written by a DHCP attach (one-shot udhcpc)
// survives `ip netns del NAME`; `del --stale` removes it, so does `del NAME` on a new netns of
// the same name; one that pipework did not write is never removed. Run as root.
//
// Names: netns `hdd…`, bridge `br-hdd`, the stand-in NIC `hddp0` (its peer `hddp1`), DHCP server
// netns `hddsrv` (host end `hddsv`); addresses 10.126.0.0/24, 10.126.1.0/24, 10.126.2.0/24 (DHCP),
// 192.168.125.0/24 on the guest's own eth0.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addBridge, addContainerLikeNetns, addNetns, delNetns, getLink, ip, ping } from './helpers/netns.js';
import { assertResolvConfUnchanged } from './helpers/bridge-common.js';
import { removeDhcpFiles, startDhcpServer, type DhcpServer } from './helpers/dhcp-server.js';
import { cleanupTheme, defaults, hasProgram, pw, show } from './helpers/hardening.js';

let dir = '';

before(async () => {
  await cleanupTheme('d');
  dir = mkdtempSync(join(process.env['PIPEWORK_TEST_TMP'] ?? tmpdir(), 'hdd-'));
});

after(async () => {
  await cleanupTheme('d');
  removeDhcpFiles('hdd');
  rmSync(dir, { recursive: true, force: true });
  assertResolvConfUnchanged();
});

async function ok(args: readonly string[]): Promise<void> {
  const r = await pw(args);
  assert.equal(r.code, 0, show(args, r));
}

// -------------------------------------------------------------------------------------------------
void describe('del puts back the default route that @gateway replaced', () => {
  const G = 'hdd1';
  const ATTACH = ['br-hdd', G, '10.126.0.5/24@10.126.0.1'];

  before(async () => {
    await addContainerLikeNetns(G, '192.168.125.2/24', '192.168.125.1');
  });

  void test('attach @gateway replaces the default route; del brings the old one back (via eth0)', async () => {
    assert.deepEqual(await defaults(G), ['192.168.125.1 eth0']);
    await ok(ATTACH);
    assert.deepEqual(await defaults(G), ['10.126.0.1 eth1']);
    await ok(['del', G]);
    assert.equal(await getLink('eth1', G), undefined);
    assert.deepEqual(await defaults(G), ['192.168.125.1 eth0'], 'the default route the attach replaced is back');
  });

  void test('not put back when the guest has another default route by then', async () => {
    await ok(ATTACH);
    await ip(['route', 'add', 'default', 'via', '192.168.125.1', 'dev', 'eth0', 'metric', '100'], G);
    await ok(['del', G]);
    const routes = (await ip(['-4', 'route', 'show', 'default'], G)).trim().split('\n');
    assert.deepEqual(routes, ['default via 192.168.125.1 dev eth0 metric 100'], 'only the guest\'s own one');
    await ip(['route', 'del', 'default', 'via', '192.168.125.1', 'dev', 'eth0', 'metric', '100'], G);
    await ip(['route', 'add', 'default', 'via', '192.168.125.1', 'dev', 'eth0'], G);
  });

  void test('not put back (and no error) when its device is gone', async () => {
    await ok(ATTACH);
    await ip(['link', 'del', 'eth0'], G);
    const r = await pw(['del', G]);
    assert.equal(r.code, 0, show(['del', G], r));
    assert.deepEqual(await defaults(G), []);
  });
});

// -------------------------------------------------------------------------------------------------
void describe('del brings a macvlan parent down again when the attach brought it up and nothing else uses it', () => {
  const NIC = 'hddp0';
  const up = async (): Promise<boolean> => (await getLink(NIC))?.flags.includes('UP') === true;

  before(async () => {
    // The stand-in NIC: a veth end on the host, down; its peer (the "wire") is up.
    await ip(['link', 'add', NIC, 'type', 'veth', 'peer', 'name', 'hddp1']);
    await ip(['link', 'set', 'hddp1', 'up']);
    for (const g of ['hdd2', 'hdd3']) await addNetns(g);
  });

  void test('one guest: the attach brings hddp0 up, del brings it down', async () => {
    assert.equal(await up(), false);
    await ok([NIC, 'hdd2', '10.126.1.2/24']);
    assert.equal((await getLink('eth1', 'hdd2'))?.linkinfo?.info_kind, 'macvlan');
    assert.equal(await up(), true, 'the attach brought the parent up');
    await ok(['del', 'hdd2']);
    assert.equal(await up(), false, 'del brought it down again');
  });

  void test('two guests: it stays up while the other guest\'s macvlan uses it, down after the last del', async () => {
    await ok([NIC, 'hdd2', '10.126.1.2/24']);
    await ok([NIC, 'hdd3', '10.126.1.3/24']);
    assert.ok(await ping('hdd2', '10.126.1.3', 4, { retryMs: 5_000 }), 'the two macvlans reach each other');
    await ok(['del', 'hdd2']);
    assert.equal(await up(), true, 'still up: hdd3 uses it');
    assert.ok(await ping('hdd3', '10.126.1.3', 4, { retryMs: 2_000 }), 'hdd3 still works');
    await ok(['del', 'hdd3']);
    assert.equal(await up(), false, 'down after the last one');
  });

  void test('a parent that was already up stays up after del', async () => {
    await ip(['link', 'set', NIC, 'up']);
    await ok([NIC, 'hdd2', '10.126.1.2/24']);
    await ok(['del', 'hdd2']);
    assert.equal(await up(), true, 'pipework did not bring it up, so it leaves it up');
    await ip(['link', 'set', NIC, 'down']);
  });
});

// -------------------------------------------------------------------------------------------------
void describe('a resolv.conf that a DHCP attach wrote for a named netns', () => {
  const BR = 'br-hdd';
  const V = 'hddv1';
  const FOREIGN = 'hddv2';
  const file = (ns: string): string => `/etc/netns/${ns}/resolv.conf`;
  let srv: DhcpServer | undefined;
  let skip: string | false = false;

  before(async () => {
    if (!hasProgram('udhcpc') || !hasProgram('dnsmasq')) {
      skip = 'udhcpc or dnsmasq is not installed';
      return;
    }
    await addBridge(BR);
    srv = await startDhcpServer({ ns: 'hddsrv', hostEnd: 'hddsv', bridge: BR, net: '10.126.2', dir });
  });
  after(async () => {
    await srv?.stop();
  });

  /** A DHCP attach of a new netns V; returns the resolv.conf pipework wrote. */
  async function leased(): Promise<string> {
    await addNetns(V);
    await ok(['--dhcp-timeout', '15', BR, V, 'udhcpc']);
    assert.ok(existsSync(file(V)), `${file(V)} was written`);
    const text = readFileSync(file(V), 'utf8');
    assert.match(text.split('\n')[0]!, /^# Written by pipework/u, `its first line is pipework's marker:\n${text}`);
    assert.match(text, /nameserver 10\.126\.2\.53/u);
    return text;
  }

  /** What a global `del --stale --dry-run --json` would remove (touches nothing). */
  async function staleListed(): Promise<string[]> {
    const r = await pw(['del', '--stale', '--dry-run', '--json']);
    assert.equal(r.code, 0, show(['del', '--stale', '--dry-run', '--json'], r));
    return ((JSON.parse(r.stdout) as { removed: { staleResolvConf?: string }[] }).removed)
      .map((x) => x.staleResolvConf).filter((x): x is string => x !== undefined);
  }

  void test('it survives ip netns del; del --stale removes it (found by the global listing too)', async (t) => {
    if (skip !== false) return t.skip(skip);
    await leased();
    await delNetns(V);
    assert.ok(existsSync(file(V)), 'ip netns del leaves it behind');
    assert.ok((await staleListed()).includes(file(V)), 'del --stale (global, dry run) lists it');
    await ok(['del', '--stale', `netns:${V}`]);
    assert.ok(!existsSync(file(V)), 'del --stale removed it');
  });

  void test('a new netns of the same name does not inherit it: del NAME removes it', async (t) => {
    if (skip !== false) return t.skip(skip);
    await leased();
    await delNetns(V);
    await addNetns(V);
    assert.ok(existsSync(file(V)), 'the new netns would see the old lease\'s DNS');
    await ok(['del', V]);
    assert.ok(!existsSync(file(V)), 'del of the new netns removed the stale file');
    await delNetns(V);
  });

  void test('one that pipework did not write is never removed', async (t) => {
    if (skip !== false) return t.skip(skip);
    mkdirSync(`/etc/netns/${FOREIGN}`, { recursive: true });
    const mine = 'nameserver 192.0.2.53\n';
    writeFileSync(file(FOREIGN), mine);
    assert.ok(!(await staleListed()).includes(file(FOREIGN)), 'del --stale does not list it');
    await ok(['del', '--stale', `netns:${FOREIGN}`]);
    assert.equal(readFileSync(file(FOREIGN), 'utf8'), mine);
    await addNetns(FOREIGN);
    await ok(['del', FOREIGN]);
    assert.equal(readFileSync(file(FOREIGN), 'utf8'), mine, 'nor by del of a netns of that name');
  });
});
