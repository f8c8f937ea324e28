// CNI the way runtimes use it (issue 21, items 3–5): pipework in a chain with the reference
// plugins from /usr/lib/cni — CHECK after tuning changed the MTU and the MAC, ADD after another
// plugin passing its result on — and the reference plugins' keys as a runtime's conflist has
// them (enabledad, ipMasq on a second interface, a macvlan without a master, harmless false
// values), an Open vSwitch name that is another link, DEL with a configuration without ipam,
// a netns path whose inode came back, and the records' folder of a network once its last
// attachment goes. Everything here is named tcs…, in 10.176.0.0/16 (and fd00:10:176::/64).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addNetns, delLink, delNetns, getAddrs, ip, ipJson, ping } from './helpers/netns.js';
import { assertHostUnchanged, snapshotHost } from './helpers/guard.js';
import { pipeworkBin, sh } from './helpers/run.js';
import {
  fakeLeases, hostLocalLeases, macOf, ourHostLinks, recordAsBefore, records, RECORDS, runOurs, runPluginBinary, runReference, writeFakeIpam, type Call, type CallResult,
} from './cni-env.js';
import { masqChain } from '../../src/drivers/network/masq.js';
import { decodeRecord, encodeRecord } from '../../src/model/record.js';
import { resultProblems } from '../unit/cni-shape.js';

const TMP = mkdtempSync(join(process.env['PIPEWORK_TEST_TMP'] ?? tmpdir(), 'tcs-chain-'));
const IPAM_DATA = join(TMP, 'ipam');
/** A fake IPAM plugin that speaks 1.1.0 (cni-env.ts), its leases here. */
const FAKE_IPAM = join(TMP, 'fake-ipam');
const BRIDGE = 'br-tcs';
const OVS = 'ovs-tcs';
const NETNS = ['tcs-t1', 'tcs-t2', 'tcs-p1', 'tcs-d1', 'tcs-d2', 'tcs-q1', 'tcs-m1', 'tcs-m2', 'tcs-h', 'tcs-hp', 'tcs-o1', 'tcs-l1', 'tcs-r1', 'tcs-f1', 'tcs-f2'];
const ours = (n: string) => n.startsWith('tcs') || n.startsWith('br-tcs') || n.startsWith('ovs-tcs');
const ovsWorks = spawnSync('ovs-vsctl', ['--timeout=5', 'show'], { timeout: 10_000 }).status === 0;

function hostLocal(subnet: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { type: 'host-local', dataDir: IPAM_DATA, ranges: [[{ subnet }]], ...extra };
}

function net(name: string, subnet: string, extra: Record<string, unknown> = {}, version = '1.0.0'): Record<string, unknown> {
  return { cniVersion: version, name, type: 'pipework', bridge: BRIDGE, ipam: hostLocal(subnet), ...extra };
}

function call(command: string, id: string, ns: string, conf: Record<string, unknown>, more: Partial<Call> = {}): Promise<CallResult> {
  return runOurs({ command, containerId: id, netns: ns === '' ? '' : `/run/netns/${ns}`, ifname: 'eth0', conf, ...more });
}

const msgOf = (r: CallResult) => (typeof r.json?.['msg'] === 'string' ? r.json['msg'] : '');
const ips = (r: CallResult) => (r.json?.['ips'] as { address: string; interface?: number }[] | undefined) ?? [];
const names = (r: CallResult) => ((r.json?.['interfaces'] as { name: string }[] | undefined) ?? []).map((i) => i.name);

/** iptables nat rules of a tcs network (by the comment on them). */
async function natOf(network: string): Promise<string[]> {
  const r = await sh(['iptables', '-w', '-t', 'nat', '-S'], { timeoutMs: 10_000 });
  return r.stdout.split('\n').filter((l) => l.includes(`name: \\"${network}\\"`));
}

/** Everything tcs networks left: host ends and OVS rows by owner, nat rules, records. */
async function cleanupTcs(): Promise<void> {
  for (const l of await ourHostLinks('tcs')) await ip(['link', 'del', l]).catch(() => undefined);
  const rows = await sh(['ovs-vsctl', '--timeout=5', '--format=csv', '--data=bare', '--no-headings', '--columns=name,external_ids', 'list', 'Interface'], { timeoutMs: 10_000 });
  for (const line of rows.stdout.split('\n').filter((l) => l.includes('cni:tcs'))) await sh(['ovs-vsctl', '--timeout=5', '--if-exists', 'del-port', line.split(',')[0]!]);
  const nat = await sh(['iptables', '-w', '-t', 'nat', '-S'], { timeoutMs: 10_000 });
  const lines = nat.stdout.split('\n').filter((l) => l.includes('name: \\"tcs'));
  for (const l of lines.filter((x) => x.startsWith('-A POSTROUTING'))) {
    const words = l.slice('-A POSTROUTING '.length).match(/"(?:[^"\\]|\\.)*"|\S+/gu)!.map((w) => (w.startsWith('"') ? JSON.parse(w) as string : w));
    await sh(['iptables', '-w', '-t', 'nat', '-D', 'POSTROUTING', ...words]);
  }
  for (const c of new Set(lines.map((l) => /-A (PW-[0-9A-F]+) /u.exec(l)?.[1]).filter((c): c is string => c !== undefined))) {
    await sh(['iptables', '-w', '-t', 'nat', '-F', c]);
    await sh(['iptables', '-w', '-t', 'nat', '-X', c]);
  }
  for (const n of ['tcs-tun', 'tcs-tunref', 'tcs-after', 'tcs-dad', 'tcs-dadref', 'tcs-masq', 'tcs-masq2', 'tcs-mv', 'tcs-ovsk', 'tcs-ovsl', 'tcs-del', 'tcs-ino', 'tcs-fold', 'tcs-fold2']) {
    rmSync(join(RECORDS, n), { recursive: true, force: true });
  }
}

let snap: Awaited<ReturnType<typeof snapshotHost>>;

void describe('CNI as runtimes use it: chains, the reference plugins\' keys, records', () => {
  before(async () => {
    snap = await snapshotHost({ only: ours });
    writeFakeIpam(TMP, 'tcs-ipam');
    for (const n of NETNS) await addNetns(n);
  });
  after(async () => {
    for (const n of NETNS) await delNetns(n);
    await cleanupTcs();
    await delLink(BRIDGE);
    await delLink('tcs-lb');
    await delLink('tcs-lv');
    if (ovsWorks) await sh(['ovs-vsctl', '--timeout=10', '--if-exists', 'del-br', OVS]);
    await assertHostUnchanged(snap, 5_000, { only: ours });
    assert.deepEqual(await ourHostLinks('tcs'), [], 'no host end of a tcs network is left');
    rmSync(TMP, { recursive: true, force: true });
  });

  for (const version of ['0.4.0', '1.0.0']) {
    void test(`${version}: CHECK after tuning changed the MTU and the MAC passes, as with the reference bridge; a MAC changed behind the chain's back is 103, without command-line advice`, async () => {
      const tuning = { cniVersion: version, name: 'tcs-tun', type: 'tuning', mtu: 1400, mac: '02:00:00:17:60:01' };
      // The same chain with the reference bridge first, then with pipework first.
      const chains = [
        { first: 'bridge', conf: { cniVersion: version, name: 'tcs-tunref', type: 'bridge', bridge: BRIDGE, ipam: hostLocal('10.176.1.0/24') }, ns: 'tcs-t1' },
        { first: 'pipework', conf: net('tcs-tun', '10.176.2.0/24', {}, version), ns: 'tcs-t2' },
      ];
      for (const c of chains) {
        const run = (cmd: string, conf: Record<string, unknown>, type: string) => (type === 'pipework' ? call(cmd, 'tun1', c.ns, conf) : runReference(type, { command: cmd, containerId: 'tun1', netns: `/run/netns/${c.ns}`, ifname: 'eth0', conf }));
        const a = await run('ADD', c.conf, c.first);
        assert.equal(a.code, 0, a.stdout + a.stderr);
        let t: CallResult | undefined;
        try {
          t = await run('ADD', { ...tuning, prevResult: a.json }, 'tuning');
          assert.equal(t.code, 0, t.stdout + t.stderr);
          assert.equal(await macOf(c.ns, 'eth0'), '02:00:00:17:60:01');
          assert.equal(((await ipJson(['link', 'show', 'dev', 'eth0'], c.ns)) as { mtu: number }[])[0]?.mtu, 1400);
          const check = await run('CHECK', { ...c.conf, prevResult: t.json }, c.first);
          assert.equal(check.code, 0, `${c.first}: ${check.stdout}${check.stderr}`);
          if (c.first === 'pipework') {
            // Changed by someone else, and not in the chain's result: that is drift.
            await ip(['link', 'set', 'dev', 'eth0', 'address', '02:00:00:17:60:99'], c.ns);
            const drift = await run('CHECK', { ...c.conf, prevResult: t.json }, c.first);
            assert.equal(drift.json?.['code'], 103, drift.stdout);
            assert.match(msgOf(drift), /MAC 02:00:00:17:60:99, not 02:00:00:17:60:01/u);
            assert.doesNotMatch(drift.stdout, /pipework del|--replace|-i eth0/u);
          }
        } finally {
          await run('DEL', { ...tuning, prevResult: t?.json ?? a.json }, 'tuning');
          const del = await run('DEL', { ...c.conf, prevResult: t?.json ?? a.json }, c.first);
          assert.equal(del.code, 0, del.stdout);
        }
      }
      assert.deepEqual(hostLocalLeases(IPAM_DATA, 'tcs-tun'), []);
      assert.deepEqual(records(RECORDS, 'tcs-tun'), []);
    });
  }

  for (const version of ['0.4.0', '1.0.0', '1.1.0']) {
    void test(`${version}: not first in a chain, ADD prints what came before with its own part, in the version's shape; tuning and CHECK after it`, async () => {
      // What an earlier plugin returned: the reference bridge's result (it speaks up to 1.0.0).
      const refVersion = version === '1.1.0' ? '1.0.0' : version;
      const earlier = await runReference('bridge', {
        command: 'ADD', containerId: 'aft1', netns: '/run/netns/tcs-p1', ifname: 'eth0',
        conf: { cniVersion: refVersion, name: 'tcs-aft0', type: 'bridge', bridge: BRIDGE, ipam: hostLocal('10.176.3.0/24'), dns: { nameservers: ['10.176.3.1'] } },
      });
      assert.equal(earlier.code, 0, earlier.stdout);
      const prevResult = { ...earlier.json, cniVersion: version };
      // (Debian's host-local stops at 1.0.0: at 1.1.0, an IPAM plugin that speaks it.)
      const v11 = version === '1.1.0';
      const conf = {
        ...net('tcs-after', '10.176.4.0/24', { dns: { nameservers: ['10.176.4.1'], search: ['tcs.example'] } }, version),
        ...(v11 && { ipam: { type: 'tcs-ipam', dataDir: FAKE_IPAM, address: '10.176.4.5/24', gateway: '10.176.4.1' } }),
      };
      const more = { ifname: 'net1', ...(v11 && { path: `${TMP}:/usr/lib/cni` }) };
      let final: Record<string, unknown> | undefined = prevResult;
      try {
        const a = await call('ADD', 'aft1', 'tcs-p1', { ...conf, prevResult }, more);
        assert.equal(a.code, 0, a.stdout + a.stderr);
        assert.deepEqual(resultProblems(a.json, version), []);
        assert.deepEqual(names(a), [...names(earlier), BRIDGE, names(a)[4]!, 'net1']);
        assert.match(names(a)[4]!, /^pwc[0-9a-f]{12}$/u);
        // Its IPs keep pointing at its interface; ours at ours (moved past what came before).
        assert.deepEqual(ips(a).map((x) => x.interface), [2, 5]);
        assert.equal(ips(a)[0]!.address, ips(earlier)[0]!.address);
        assert.match(ips(a)[1]!.address, /^10\.176\.4\.\d+\/24$/u);
        assert.deepEqual((a.json!['dns'] as { nameservers?: string[] }).nameservers, ['10.176.3.1', '10.176.4.1']);
        final = a.json;
        if (version !== '1.1.0') {
          const t = await runReference('tuning', { command: 'ADD', containerId: 'aft1', netns: '/run/netns/tcs-p1', ifname: 'net1', conf: { cniVersion: version, name: 'tcs-after', type: 'tuning', mac: '02:00:00:17:64:01', prevResult: a.json } });
          assert.equal(t.code, 0, t.stdout + t.stderr);
          final = t.json;
        }
        const check = await call('CHECK', 'aft1', 'tcs-p1', { ...conf, prevResult: final }, more);
        assert.equal(check.code, 0, check.stdout + check.stderr);
      } finally {
        const del = await call('DEL', 'aft1', 'tcs-p1', { ...conf, prevResult: final }, more);
        assert.equal(del.code, 0, del.stdout);
        await runReference('bridge', { command: 'DEL', containerId: 'aft1', netns: '/run/netns/tcs-p1', ifname: 'eth0', conf: { cniVersion: refVersion, name: 'tcs-aft0', type: 'bridge', bridge: BRIDGE, ipam: hostLocal('10.176.3.0/24') } });
      }
      assert.deepEqual(hostLocalLeases(IPAM_DATA, 'tcs-after'), []);
      assert.deepEqual(fakeLeases(FAKE_IPAM), []);
    });
  }

  void test('enabledad: DAD off unless asked for, as the reference bridge (accept_dad 0, the address usable at once); true turns it on', async () => {
    const v6 = { type: 'host-local', dataDir: IPAM_DATA, ranges: [[{ subnet: 'fd00:10:176::/64' }]] };
    const acceptDad = async (ns: string) => (await sh(['ip', 'netns', 'exec', ns, 'cat', '/proc/sys/net/ipv6/conf/eth0/accept_dad'])).stdout.trim();
    const ref = { cniVersion: '1.0.0', name: 'tcs-dadref', type: 'bridge', bridge: BRIDGE, ipam: v6 };
    const r = await runReference('bridge', { command: 'ADD', containerId: 'dad1', netns: '/run/netns/tcs-d1', ifname: 'eth0', conf: ref });
    assert.equal(r.code, 0, r.stdout);
    const refDad = await acceptDad('tcs-d1');
    assert.equal((await runReference('bridge', { command: 'DEL', containerId: 'dad1', netns: '/run/netns/tcs-d1', ifname: 'eth0', conf: ref })).code, 0);
    for (const [extra, want] of [[{}, '0'], [{ enabledad: false }, '0'], [{ enabledad: true }, '1']] as const) {
      const conf = { cniVersion: '1.0.0', name: 'tcs-dad', type: 'pipework', bridge: BRIDGE, ipam: v6, ...extra };
      const a = await call('ADD', 'dad2', 'tcs-d2', conf);
      assert.equal(a.code, 0, `${JSON.stringify(extra)}: ${a.stdout}${a.stderr}`);
      assert.equal(await acceptDad('tcs-d2'), want, JSON.stringify(extra));
      if (want === '0') {
        assert.equal(refDad, '0', 'the reference bridge turns DAD off too');
        // Not tentative: usable as soon as ADD answers.
        const addrs = await getAddrs('eth0', 'tcs-d2', 6);
        const global = addrs.filter((x) => x.scope === 'global');
        assert.equal(global.length, 1, JSON.stringify(addrs));
        assert.notEqual(global[0]!.tentative, true, JSON.stringify(global));
      }
      assert.equal((await call('DEL', 'dad2', 'tcs-d2', conf)).code, 0);
    }
    const bad = await call('ADD', 'dad2', 'tcs-d2', { cniVersion: '1.0.0', name: 'tcs-dad', type: 'pipework', bridge: BRIDGE, enabledad: 'no' });
    assert.equal(bad.json?.['code'], 7, bad.stdout);
  });

  void test('ipMasq on two interfaces of one container on one network: a chain each; DEL and GC still find a chain of the records before by its name', async () => {
    const conf = net('tcs-masq', '10.176.5.0/24', { isGateway: true, ipMasq: true });
    const a0 = await call('ADD', 'mq1', 'tcs-q1', conf);
    assert.equal(a0.code, 0, a0.stdout);
    const a1 = await call('ADD', 'mq1', 'tcs-q1', conf, { ifname: 'eth1' });
    assert.equal(a1.code, 0, a1.stdout);
    const nat = await natOf('tcs-masq');
    assert.ok(nat.some((l) => l.includes(masqChain('tcs-masq', 'mq1', 'eth0'))), nat.join('\n'));
    assert.ok(nat.some((l) => l.includes(masqChain('tcs-masq', 'mq1', 'eth1'))), nat.join('\n'));
    assert.equal(nat.filter((l) => l.startsWith('-A POSTROUTING')).length, 2);
    for (const [ifname, r] of [['eth0', a0], ['eth1', a1]] as const) {
      const check = await call('CHECK', 'mq1', 'tcs-q1', { ...conf, prevResult: r.json }, { ifname });
      assert.equal(check.code, 0, check.stdout);
    }
    assert.equal((await call('DEL', 'mq1', 'tcs-q1', conf)).code, 0);
    const left = await natOf('tcs-masq');
    assert.ok(left.length > 0 && left.every((l) => l.includes(masqChain('tcs-masq', 'mq1', 'eth1'))), left.join('\n'));
    assert.equal((await call('DEL', 'mq1', 'tcs-q1', conf, { ifname: 'eth1' })).code, 0);
    assert.deepEqual(await natOf('tcs-masq'), []);

    // As a pipework before this change left it: the container's chain, a record of version 2.
    const old = net('tcs-masq2', '10.176.6.0/24', { ipMasq: true });
    for (const id of ['mq2', 'mq3']) {
      const a = await call('ADD', id, 'tcs-q1', old, { ifname: id === 'mq2' ? 'eth2' : 'eth3' });
      assert.equal(a.code, 0, a.stdout);
      await recordAsBefore('tcs-masq2', id, id === 'mq2' ? 'eth2' : 'eth3', 2);
    }
    assert.ok((await natOf('tcs-masq2')).some((l) => l.includes(masqChain('tcs-masq2', 'mq2'))));
    assert.equal((await call('DEL', 'mq2', 'tcs-q1', old, { ifname: 'eth2' })).code, 0);
    assert.ok(!(await natOf('tcs-masq2')).some((l) => l.includes(masqChain('tcs-masq2', 'mq2'))), 'DEL removed the old chain');
    const gc = await runOurs({ command: 'GC', conf: { ...old, cniVersion: '1.1.0', 'cni.dev/valid-attachments': [] } });
    assert.equal(gc.code, 0, gc.stdout);
    assert.deepEqual(await natOf('tcs-masq2'), [], 'GC removed the old chain');
    assert.deepEqual(hostLocalLeases(IPAM_DATA, 'tcs-masq2'), []);
    assert.deepEqual(hostLocalLeases(IPAM_DATA, 'tcs-masq'), []);
  });

  void test('macvlan with "master": "" (as Podman writes one without a parent): the default route\'s interface, mode bridge, as the reference plugin; harmless false values pass', async () => {
    // A host of its own: the plugins run in netns tcs-h, whose default route goes out tcs-hv,
    // and whose router (10.176.9.1) is at the other end, in tcs-hp.
    await ip(['link', 'add', 'tcs-hv', 'type', 'veth', 'peer', 'name', 'tcs-hvp', 'netns', 'tcs-hp'], 'tcs-h');
    await ip(['addr', 'add', '10.176.9.2/24', 'dev', 'tcs-hv'], 'tcs-h');
    await ip(['link', 'set', 'tcs-hv', 'up'], 'tcs-h');
    await ip(['addr', 'add', '10.176.9.1/24', 'dev', 'tcs-hvp'], 'tcs-hp');
    await ip(['link', 'set', 'tcs-hvp', 'up'], 'tcs-hp');
    await ip(['route', 'add', 'default', 'via', '10.176.9.1'], 'tcs-h');
    const inHost = (argv: string[]) => ['ip', 'netns', 'exec', 'tcs-h', ...argv];
    const base = { cniVersion: '1.0.0', name: 'tcs-mv', master: '', ipam: { type: 'host-local', dataDir: IPAM_DATA, ranges: [[{ subnet: '10.176.9.0/24', rangeStart: '10.176.9.100', rangeEnd: '10.176.9.120' }]] } };
    const c = (id: string, ns: string, command = 'ADD') => ({ command, containerId: id, netns: `/run/netns/${ns}`, ifname: 'eth0' });
    const refConf = { ...base, type: 'macvlan' };
    const ourConf = { ...base, type: 'pipework', hairpinMode: false, isGateway: false, promiscMode: false };
    const r = await runPluginBinary(inHost([join('/usr/lib/cni', 'macvlan')]), { ...c('mv1', 'tcs-m1'), conf: refConf });
    const o = await runPluginBinary(inHost([process.execPath, pipeworkBin]), { ...c('mv2', 'tcs-m2'), conf: ourConf });
    try {
      assert.equal(r.code, 0, r.stdout);
      assert.equal(o.code, 0, o.stdout + o.stderr);
      const link = ((await ipJson(['-d', 'link', 'show', 'dev', 'eth0'], 'tcs-m2')) as { linkinfo?: { info_kind?: string; info_data?: { mode?: string } } }[])[0];
      assert.equal(link?.linkinfo?.info_kind, 'macvlan');
      assert.equal(link?.linkinfo?.info_data?.mode, 'bridge');
      // On the default route's interface: the router behind it answers, and so does the reference one's macvlan.
      assert.ok(await ping('tcs-m2', '10.176.9.1'), 'the macvlan reaches the router through tcs-hv');
      assert.ok(await ping('tcs-m2', ips(r)[0]!.address.split('/')[0]!), 'and the reference macvlan beside it');
    } finally {
      await runPluginBinary(inHost([join('/usr/lib/cni', 'macvlan')]), { ...c('mv1', 'tcs-m1', 'DEL'), conf: refConf });
      const del = await runPluginBinary(inHost([process.execPath, pipeworkBin]), { ...c('mv2', 'tcs-m2', 'DEL'), conf: ourConf });
      assert.equal(del.code, 0, del.stdout);
    }
    assert.deepEqual(hostLocalLeases(IPAM_DATA, 'tcs-mv'), []);
    assert.deepEqual(records(RECORDS, 'tcs-mv'), []);
  });

  void test('Open vSwitch: preserveDefaultVlan: false, isGateway: false, hairpinMode: false ask for what pipework does, and pass', { skip: !ovsWorks && 'Open vSwitch is not running' }, async () => {
    const conf = { cniVersion: '1.0.0', name: 'tcs-ovsk', type: 'pipework', ovs: OVS, vlan: 176, preserveDefaultVlan: false, isGateway: false, hairpinMode: false, ipam: hostLocal('10.176.10.0/24') };
    const a = await call('ADD', 'ok1', 'tcs-o1', conf);
    assert.equal(a.code, 0, a.stdout + a.stderr);
    assert.equal((await call('DEL', 'ok1', 'tcs-o1', conf)).code, 0);
    const refused = await call('ADD', 'ok1', 'tcs-o1', { ...conf, preserveDefaultVlan: true });
    assert.equal(refused.json?.['code'], 2, refused.stdout);
    assert.match(msgOf(refused), /preserveDefaultVlan: true/u);
    await sh(['ovs-vsctl', '--timeout=10', '--if-exists', 'del-br', OVS]);
  });

  void test('"ovs" naming a Linux bridge or another link: code 104 naming it, before anything is made', { skip: !ovsWorks && 'Open vSwitch is not running' }, async () => {
    await ip(['link', 'add', 'tcs-lb', 'type', 'bridge']);
    await ip(['link', 'add', 'tcs-lv', 'type', 'veth', 'peer', 'name', 'tcs-lvp', 'netns', 'tcs-l1']);
    try {
      for (const [name, why] of [['tcs-lb', /tcs-lb is a Linux bridge, not an Open vSwitch bridge/u], ['tcs-lv', /tcs-lv exists and is not an Open vSwitch bridge/u]] as const) {
        const conf = { cniVersion: '1.0.0', name: 'tcs-ovsl', type: 'pipework', ovs: name, ipam: hostLocal('10.176.11.0/24') };
        const a = await call('ADD', 'ol1', 'tcs-l1', conf);
        assert.equal(a.json?.['code'], 104, a.stdout);
        assert.match(msgOf(a), why);
        assert.doesNotMatch(a.stdout, /ovs-vsctl/u);
        assert.notEqual((await sh(['ovs-vsctl', '--timeout=5', 'br-exists', name])).code, 0, 'no Open vSwitch bridge was made');
      }
      assert.deepEqual(records(RECORDS, 'tcs-ovsl'), []);
      assert.deepEqual(hostLocalLeases(IPAM_DATA, 'tcs-ovsl'), []);
    } finally {
      await delLink('tcs-lb');
      await delLink('tcs-lv');
    }
  });

  void test('DEL with a configuration without ipam releases the lease with the IPAM configuration ADD recorded; a record that does not vouch for it is not used', async () => {
    const conf = net('tcs-del', '10.176.12.0/24');
    const { ipam: _ipam, ...noIpam } = conf;
    const a = await call('ADD', 'dl1', 'tcs-f1', conf);
    assert.equal(a.code, 0, a.stdout);
    assert.equal(hostLocalLeases(IPAM_DATA, 'tcs-del').length, 1);
    const del = await call('DEL', 'dl1', 'tcs-f1', noIpam);
    assert.equal(del.code, 0, del.stdout + del.stderr);
    assert.deepEqual(hostLocalLeases(IPAM_DATA, 'tcs-del'), []);
    assert.deepEqual(records(RECORDS, 'tcs-del'), []);
    // A record whose recorded configuration names another network (or plugin) is not trusted with it.
    const b = await call('ADD', 'dl2', 'tcs-f1', conf);
    assert.equal(b.code, 0, b.stdout);
    const file = join(RECORDS, 'tcs-del', 'dl2', 'eth0.json');
    const rec = JSON.parse(readFileSync(file, 'utf8')) as { ipamConfig: string };
    writeFileSync(file, JSON.stringify({ ...rec, ipamConfig: JSON.stringify({ ...JSON.parse(rec.ipamConfig) as object, name: 'tcs-other' }) }));
    const del2 = await call('DEL', 'dl2', 'tcs-f1', noIpam);
    assert.equal(del2.code, 0, del2.stdout);
    assert.match(del2.stderr, /not used \(it is network tcs-other's, not tcs-del's\)/u);
    assert.equal(hostLocalLeases(IPAM_DATA, 'tcs-del').length, 1, 'the lease stays');
    assert.equal((await call('DEL', 'dl2', 'tcs-f1', conf)).code, 0);
    assert.deepEqual(hostLocalLeases(IPAM_DATA, 'tcs-del'), []);
  });

  void test('a new netns that took a dead one\'s inode under the same path: ADD cleans the stale record and attaches afresh', async () => {
    const conf = net('tcs-ino', '10.176.13.0/24', { ipMasq: true });
    const a = await call('ADD', 'in1', 'tcs-r1', conf);
    assert.equal(a.code, 0, a.stdout);
    const first = ips(a)[0]!.address;
    // The container's netns dies (its interface with it) and a new one is made under the same
    // path. The kernel may give it the dead one's inode: that is made sure of here, by telling
    // the record the new one's.
    await delNetns('tcs-r1');
    await addNetns('tcs-r1');
    const file = join(RECORDS, 'tcs-ino', 'in1', 'eth0.json');
    const rec = JSON.parse(readFileSync(file, 'utf8')) as { record: string };
    writeFileSync(file, JSON.stringify({ ...rec, record: encodeRecord({ ...decodeRecord(rec.record)!, nsInode: statSync('/run/netns/tcs-r1').ino }) }));
    const again = await call('ADD', 'in1', 'tcs-r1', conf);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.match(again.stderr, /cleaning a stale attachment of eth0/u);
    assert.equal(hostLocalLeases(IPAM_DATA, 'tcs-ino').length, 1, `the old lease (${first}) was released`);
    assert.equal((await natOf('tcs-ino')).filter((l) => l.startsWith('-A POSTROUTING')).length, 1);
    // Now it is there: a second ADD is refused.
    const third = await call('ADD', 'in1', 'tcs-r1', conf);
    assert.equal(third.json?.['code'], 100, third.stdout);
    assert.equal((await call('DEL', 'in1', 'tcs-r1', conf)).code, 0);
    assert.deepEqual(hostLocalLeases(IPAM_DATA, 'tcs-ino'), []);
    assert.deepEqual(await natOf('tcs-ino'), []);
  });

  void test('the records\' folder of a network goes with its last attachment — DEL, GC, a failed ADD — also with ADDs and DELs at once', async () => {
    const folder = join(RECORDS, 'tcs-fold');
    const conf = net('tcs-fold', '10.176.14.0/24');
    const a = await call('ADD', 'fo1', 'tcs-f1', conf);
    assert.equal(a.code, 0, a.stdout);
    assert.ok(existsSync(folder));
    assert.equal((await call('DEL', 'fo1', 'tcs-f1', conf)).code, 0);
    assert.equal(existsSync(folder), false, 'DEL of the last attachment');
    // An ADD that fails after its record was written (IPAM refuses) leaves no folder either.
    const failed = await call('ADD', 'fo1', 'tcs-f1', net('tcs-fold', '10.176.14.0/33'));
    assert.notEqual(failed.code, 0);
    assert.equal(existsSync(folder), false, 'a failed ADD');
    // GC of everything.
    assert.equal((await call('ADD', 'fo2', 'tcs-f2', conf)).code, 0);
    const gc = await runOurs({ command: 'GC', conf: { ...conf, cniVersion: '1.1.0', 'cni.dev/valid-attachments': [] } });
    assert.equal(gc.code, 0, gc.stdout);
    assert.equal(existsSync(folder), false, 'GC of the last attachment');
    // Many at once: every request succeeds, whichever removes or makes the folder meanwhile.
    const many = net('tcs-fold2', '10.176.15.0/24');
    const ifs = (i: number) => `net${i}`;
    const addAll = (from: number, to: number) => Promise.all(Array.from({ length: to - from }, (_, k) => call('ADD', `fm${(from + k) % 3}`, 'tcs-f2', many, { ifname: ifs(from + k) })));
    const delAll = (from: number, to: number) => Promise.all(Array.from({ length: to - from }, (_, k) => call('DEL', `fm${(from + k) % 3}`, 'tcs-f2', many, { ifname: ifs(from + k) })));
    for (const r of await addAll(0, 6)) assert.equal(r.code, 0, r.stdout + r.stderr);
    const [dels, adds] = await Promise.all([delAll(0, 6), addAll(6, 10)]);
    for (const r of [...dels, ...adds]) assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(records(RECORDS, 'tcs-fold2').length, 4);
    for (const r of await delAll(6, 10)) assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(existsSync(join(RECORDS, 'tcs-fold2')), false, 'the last of many DELs');
    assert.deepEqual(hostLocalLeases(IPAM_DATA, 'tcs-fold2'), []);
  });
});
