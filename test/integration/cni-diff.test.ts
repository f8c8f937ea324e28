// Differential: the same conflist entry through Debian's reference `bridge` and `macvlan`
// plugins and through ours (only `type` changed) gives the same guest state — addresses, routes,
// MTU, link up, kind — the same host side (the bridge, its gateway address, hairpin, promisc,
// masquerading) and equivalent results (the same interfaces, addresses, routes and DNS; only
// the kernel's random names and MACs may differ).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { addNetns, delLink, delNetns, getAddrs, getLink, ip, ipJson, ping } from './helpers/netns.js';
import { assertHostUnchanged, snapshotHost } from './helpers/guard.js';
import { sh } from './helpers/run.js';
import { resultProblems } from '../unit/cni-shape.js';
import { cleanupCni, guestState, hostLocalLeases, runOurs, runReference, scratch, type CallResult, type GuestState } from './cni-env.js';

const tmp = scratch('diff');
const IPAM_DATA = join(tmp.dir, 'ipam');
const ours = (n: string) => n.startsWith('cn') || n.startsWith('pwc') || n.startsWith('br-cn');
const PARENT = 'cn-mvpar';

interface Seen {
  result: CallResult;
  guest: GuestState | undefined;
  host: Record<string, unknown>;
}

/** The host side the configuration touches: the bridge (up, addresses, promisc), the port's hairpin, NAT for the address. */
async function hostSide(conf: Record<string, unknown>, result: Record<string, unknown> | undefined): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const bridge = conf['bridge'] as string | undefined;
  if (bridge !== undefined) {
    const l = await getLink(bridge);
    out['bridge'] = l ? { up: l.flags.includes('UP'), promisc: l.flags.includes('PROMISC') || (l['promiscuity'] as number | undefined ?? 0) > 0 } : 'missing';
    out['bridgeAddresses'] = l ? (await getAddrs(bridge)).filter((a) => a.scope !== 'link').map((a) => `${a.local}/${a.prefixlen}`).sort() : [];
    const port = (result?.['interfaces'] as { name: string }[] | undefined)?.[1]?.name;
    if (port !== undefined) {
      const links = (await ipJson(['-d', 'link', 'show', 'dev', port])) as { master?: string; linkinfo?: { info_slave_data?: { hairpin?: boolean } } }[];
      out['port'] = { master: links[0]?.master, hairpin: links[0]?.linkinfo?.info_slave_data?.hairpin === true };
    }
  }
  const addr = (result?.['ips'] as { address: string }[] | undefined)?.[0]?.address.split('/')[0];
  if (addr !== undefined && conf['ipMasq'] === true) {
    const nat = (await sh(['iptables', '-w', '-t', 'nat', '-S'])).stdout.split('\n');
    const rule = nat.find((l) => l.startsWith(`-A POSTROUTING -s ${addr}/32 `));
    const chain = rule !== undefined ? /-j (\S+)$/u.exec(rule)?.[1] : undefined;
    out['masquerade'] = chain !== undefined && nat.some((l) => l.startsWith(`-A ${chain} `) && l.includes('-j MASQUERADE') && l.includes('! -d 224.0.0.0/4'));
  }
  return out;
}

/** The result without what is random per run (host veth names, MACs). */
function comparable(r: Record<string, unknown> | undefined): unknown {
  if (r === undefined) return undefined;
  const ifs = (r['interfaces'] as { name: string; sandbox?: string }[] | undefined) ?? [];
  return {
    interfaces: ifs.map((i, n) => ({ name: i.sandbox !== undefined || n === 0 ? i.name : '<host veth>', sandbox: i.sandbox })),
    ips: r['ips'], routes: r['routes'] ?? [], dns: r['dns'],
  };
}

async function through(kind: 'reference' | 'ours', type: string, base: Record<string, unknown>, netns: string, id: string): Promise<Seen> {
  const conf = { ...base, type: kind === 'ours' ? 'pipework' : type };
  const c = { containerId: id, netns: `/run/netns/${netns}`, ifname: 'eth0', conf };
  const result = kind === 'ours' ? await runOurs({ command: 'ADD', ...c }) : await runReference(type, { command: 'ADD', ...c });
  assert.equal(result.code, 0, `${kind} ADD: ${result.stdout} ${result.stderr}`);
  const guest = await guestState(netns, 'eth0');
  const host = await hostSide(base, result.json);
  const del = kind === 'ours' ? await runOurs({ command: 'DEL', ...c }) : await runReference(type, { command: 'DEL', ...c });
  assert.equal(del.code, 0, `${kind} DEL: ${del.stdout} ${del.stderr}`);
  assert.equal(await guestState(netns, 'eth0'), undefined, `${kind} DEL removes eth0`);
  assert.deepEqual(hostLocalLeases(IPAM_DATA, String(base['name'])), [], `${kind} DEL releases the address`);
  return { result, guest, host };
}

/** The same entry through both, each from a clean slate (no bridge, no reservations). */
async function compare(type: string, base: Record<string, unknown>): Promise<[Seen, Seen]> {
  const fresh = async () => {
    if (typeof base['bridge'] === 'string') await delLink(base['bridge']);
    rmSync(join(IPAM_DATA, String(base['name'])), { recursive: true, force: true });
  };
  await fresh();
  // One netns for both, in turn: the results name it as their sandbox.
  const ref = await through('reference', type, base, 'cn-dguest', 'dref1');
  await fresh();
  const mine = await through('ours', type, base, 'cn-dguest', 'dours1');
  await fresh();
  assert.deepEqual(mine.guest, ref.guest, 'the same guest state');
  assert.deepEqual(mine.host, ref.host, 'the same host side');
  assert.deepEqual(comparable(mine.result.json), comparable(ref.result.json), 'equivalent results');
  const version = String(base['cniVersion']);
  assert.deepEqual(resultProblems(mine.result.json, version), []);
  return [ref, mine];
}

function hostLocal(name: string, subnet: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { type: 'host-local', dataDir: IPAM_DATA, ranges: [[{ subnet }]], ...extra };
}

let snap: Awaited<ReturnType<typeof snapshotHost>>;

void describe('differential: Debian\'s reference plugins and ours, the same conflist entry', () => {
  before(async () => {
    snap = await snapshotHost({ only: ours });
    for (const n of ['cn-dguest', 'cn-dref', 'cn-dours', 'cn-dpeer']) await addNetns(n);
    // A macvlan master that is not eth0: a veth end, its peer in a netns of its own.
    await ip(['link', 'add', PARENT, 'mtu', '1500', 'type', 'veth', 'peer', 'name', 'cn-mvpeer', 'netns', 'cn-dpeer']);
    await ip(['link', 'set', PARENT, 'up']);
    // With its peer up, the master has carrier (macvlans on a master without carrier are down).
    await ip(['link', 'set', 'cn-mvpeer', 'up'], 'cn-dpeer');
  });
  after(async () => {
    await delLink(PARENT);
    for (const n of ['cn-dguest', 'cn-dref', 'cn-dours', 'cn-dpeer']) await delNetns(n);
    for (const b of ['br-cndiff1', 'br-cndiff2', 'br-cndiff3', 'br-cndiff4', 'br-cndiff7']) await delLink(b);
    await cleanupCni();
    for (const n of ['cndiff1', 'cndiff2', 'cndiff3', 'cndiff4', 'cndiff5', 'cndiff7']) rmSync(join('/var/lib/cni/pipework', n), { recursive: true, force: true });
    // The default records' directory, if these runs made it and nothing else is in it.
    try {
      rmdirSync('/var/lib/cni/pipework');
    } catch {
      // not empty, or not there
    }
    await assertHostUnchanged(snap, 5_000, { only: ours });
    tmp.dispose();
  });

  void test('bridge + host-local with a default route (0.4.0, as podman writes)', async () => {
    const [ref] = await compare('bridge', {
      cniVersion: '0.4.0', name: 'cndiff1', bridge: 'br-cndiff1',
      ipam: hostLocal('cndiff1', '10.241.1.0/24', { routes: [{ dst: '0.0.0.0/0' }, { dst: '10.242.0.0/16', gw: '10.241.1.254' }] }),
    });
    assert.deepEqual(ref.guest?.routes, ['10.241.1.0/24', '10.242.0.0/16 via 10.241.1.254', 'default via 10.241.1.1']);
  });

  void test('bridge: isGateway, isDefaultGateway, mtu, hairpinMode (1.0.0)', async () => {
    const [ref] = await compare('bridge', {
      cniVersion: '1.0.0', name: 'cndiff2', bridge: 'br-cndiff2', isGateway: true, isDefaultGateway: true, mtu: 1400, hairpinMode: true,
      ipam: hostLocal('cndiff2', '10.241.2.0/24'),
    });
    assert.equal(ref.guest?.mtu, 1400);
    assert.deepEqual(ref.host['bridgeAddresses'], ['10.241.2.1/24']);
  });

  void test('bridge: isGateway with ipMasq (masquerading for the container\'s address)', async () => {
    const [ref] = await compare('bridge', {
      cniVersion: '0.3.1', name: 'cndiff3', bridge: 'br-cndiff3', isGateway: true, ipMasq: true,
      ipam: hostLocal('cndiff3', '10.241.3.0/24', { routes: [{ dst: '0.0.0.0/0' }] }),
    });
    assert.equal(ref.host['masquerade'], true);
  });

  void test('dual stack: host-local IPv4 and IPv6 ranges, default routes for both (1.0.0)', async () => {
    const [ref] = await compare('bridge', {
      cniVersion: '1.0.0', name: 'cndiff7', bridge: 'br-cndiff7',
      ipam: { type: 'host-local', dataDir: IPAM_DATA, ranges: [[{ subnet: '10.241.7.0/24' }], [{ subnet: 'fd00:cd7::/64' }]], routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }] },
    });
    assert.deepEqual(ref.guest?.addresses, ['10.241.7.2/24', 'fd00:cd7::2/64']);
    assert.ok(ref.guest?.routes.includes('default via fd00:cd7::1'), JSON.stringify(ref.guest?.routes));
  });

  void test('bridge, layer 2 only (no ipam), promiscMode', async () => {
    const [ref] = await compare('bridge', { cniVersion: '1.0.0', name: 'cndiff4', bridge: 'br-cndiff4', promiscMode: true });
    assert.deepEqual(ref.guest?.addresses, []);
    assert.equal(ref.guest?.up, true);
  });

  void test('macvlan on a master, bridge mode, mtu (1.0.0), and the two reach each other', async () => {
    const base = { cniVersion: '1.0.0', name: 'cndiff5', master: PARENT, mode: 'bridge', mtu: 1400, ipam: hostLocal('cndiff5', '10.241.5.0/24') };
    const [ref] = await compare('macvlan', base);
    assert.equal(ref.guest?.kind, 'macvlan');
    // Both at once: a reference macvlan and ours on one master talk to each other (bridge mode).
    rmSync(join(IPAM_DATA, 'cndiff5'), { recursive: true, force: true });
    const c = (id: string, ns: string) => ({ command: 'ADD', containerId: id, netns: `/run/netns/${ns}`, ifname: 'eth0' });
    const r = await runReference('macvlan', { ...c('dm1', 'cn-dref'), conf: { ...base, type: 'macvlan' } });
    const o = await runOurs({ ...c('dm2', 'cn-dours'), conf: { ...base, type: 'pipework' } });
    try {
      assert.equal(r.code, 0, r.stdout);
      assert.equal(o.code, 0, o.stdout);
      const peer = (r.json!['ips'] as { address: string }[])[0]!.address.split('/')[0]!;
      assert.ok(await ping('cn-dours', peer), `our macvlan reaches the reference one at ${peer}`);
    } finally {
      await runReference('macvlan', { ...c('dm1', 'cn-dref'), command: 'DEL', conf: { ...base, type: 'macvlan' } });
      await runOurs({ ...c('dm2', 'cn-dours'), command: 'DEL', conf: { ...base, type: 'pipework' } });
    }
    assert.deepEqual(hostLocalLeases(IPAM_DATA, 'cndiff5'), []);
  });

  void test('what the reference refuses, we refuse too (and more clearly)', async () => {
    const base = { cniVersion: '1.0.0', name: 'cndiff6', bridge: 'br-cndiff6', hairpinMode: true, promiscMode: true };
    const c = { command: 'ADD', containerId: 'dx', netns: '/run/netns/cn-dref', ifname: 'eth0' };
    const r = await runReference('bridge', { ...c, conf: { ...base, type: 'bridge' } });
    const o = await runOurs({ ...c, conf: { ...base, type: 'pipework' } });
    assert.notEqual(r.code, 0);
    assert.notEqual(o.code, 0);
    assert.match(String(o.json?.['msg']), /hairpin mode and promiscuous mode/u);
    assert.equal(await getLink('br-cndiff6'), undefined, 'ours made nothing');
    await delLink('br-cndiff6');
  });
});
