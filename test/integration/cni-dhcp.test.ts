// DHCP IPAM through pipework's CNI plugin: Debian's `dhcp` plugin and its daemon (started here,
// by PID, on a socket of this test's own) against dnsmasq in a netns, on a veth "NIC" whose peer
// is dnsmasq's interface. The dhcp plugin looks the container interface up in the netns, so ADD
// makes it first, then asks IPAM, then adds the addresses — all or nothing. For a macvlan (the
// shipped examples/cni/pipework-macvlan.conflist), a Linux bridge and a NIC moved in: ADD, CHECK
// (and CHECK seeing the address gone), DEL giving the lease back (dnsmasq's lease goes), and
// failures before, during and after IPAM, a SIGTERM while the lease is awaited, and a plugin
// killed while it waits, cleaned by DEL and by GC. Then Podman with its CNI backend on the same
// macvlan network. Names: tcd…, addresses 10.175.0.0/16.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { attachmentMac } from '../../src/front/cni/spec.js';
import { decodeRecord } from '../../src/model/record.js';
import { addNetns, delLink, delNetns, getLink, ip, ipJson, ping } from './helpers/netns.js';
import { assertHostUnchanged, snapshotHost } from './helpers/guard.js';
import { PODMAN_TEST_IMAGE, ensureImage, podman, podmanOk } from './helpers/podman.js';
import { pipeworkBin, repoRoot, sh, sleep, waitFor } from './helpers/run.js';
import { guestState, records, RECORDS, runOurs, type Call, type CallResult } from './cni-env.js';

const PREFIX = 'tcd';
const base = process.env['PIPEWORK_TEST_TMP'] ?? tmpdir();
mkdirSync(base, { recursive: true });
const DIR = mkdtempSync(join(base, `${PREFIX}-dhcp-`));
const SOCK = join(DIR, 'dhcp.sock');
const LEASES = join(DIR, 'dnsmasq.leases');
const DHCP = '/usr/lib/cni/dhcp';
const SRV = 'tcd-srv';
const GUESTS = ['tcd-g1', 'tcd-g2', 'tcd-g3'];
/** The "NICs": host end → dnsmasq's end in SRV, and its /24. */
const NICS = [
  { nic: 'tcd-nic0', peer: 'tcd-srv0', net: '10.175.1' },
  { nic: 'tcd-nic1', peer: 'tcd-srv1', net: '10.175.2' },
  { nic: 'tcd-nic2', peer: 'tcd-srv2', net: '10.175.3' },
] as const;
const BRIDGE = 'br-tcd1';
const ours = (n: string) => n.startsWith(PREFIX) || n.startsWith(`br-${PREFIX}`);

const canRun = existsSync(DHCP) && spawnSync('dnsmasq', ['--version'], { timeout: 10_000 }).status === 0;
const why = !existsSync(DHCP) ? `${DHCP} is missing (Debian containernetworking-plugins)` : 'dnsmasq is missing (Debian dnsmasq-base)';

let dnsmasq: ChildProcess | undefined;
let dnsmasqLog = '';
let daemon: ChildProcess | undefined;
let daemonLog = '';

/** Start a program of ours, its stderr kept; the caller stops it by PID. */
function startLogged(argv: string[], onLog: (text: string) => void): ChildProcess {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr.on('data', (b: Buffer) => onLog(b.toString()));
  return child;
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  process.kill(child.pid, 'SIGCONT');
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await gone;
  clearTimeout(t);
}

/** The lease dnsmasq holds for MAC (its lease file: expiry mac address hostname client-id). */
function leaseOf(mac: string): string | undefined {
  const text = existsSync(LEASES) ? readFileSync(LEASES, 'utf8') : '';
  return text.split('\n').map((l) => l.split(' ')).find((f) => f[1]?.toLowerCase() === mac.toLowerCase())?.[2];
}

/** A network of ours with dhcp IPAM through this test's daemon. */
function network(name: string, host: Record<string, unknown>, version = '1.0.0', ipam: Record<string, unknown> = {}): Record<string, unknown> {
  return { cniVersion: version, name, type: 'pipework', ...host, ipam: { type: 'dhcp', daemonSocketPath: SOCK, ...ipam } };
}

function call(command: string, id: string, netns: string, conf: Record<string, unknown>, more: Partial<Call> = {}): Promise<CallResult> {
  return runOurs({ command, containerId: id, netns: netns === '' ? '' : `/run/netns/${netns}`, ifname: 'eth0', conf, timeoutMs: 60_000, ...more });
}

/** The state pipework keeps of an attachment (its record file), or undefined. */
function stateOf(network: string, id: string): { phase: string; record: string } | undefined {
  const file = join(RECORDS, network, id, 'eth0.json');
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) as { phase: string; record: string } : undefined;
}

/** Host links whose pipework record names one of this test's networks (host ends). */
async function ourHostEnds(): Promise<string[]> {
  const links = (await ipJson(['link', 'show'])) as { ifname: string; ifalias?: string }[];
  return links.filter((l) => decodeRecord(l.ifalias)?.owner?.startsWith(`cni:${PREFIX}-`) === true).map((l) => l.ifname);
}

/** ADD, the address dnsmasq leased on the interface and in the result; returns the result. */
async function addLeased(id: string, netns: string, conf: Record<string, unknown>, net: string): Promise<{ json: Record<string, unknown>; address: string; mac: string }> {
  const a = await call('ADD', id, netns, conf);
  assert.equal(a.code, 0, a.stdout + a.stderr);
  const ips = a.json!['ips'] as { address: string; gateway?: string }[];
  assert.equal(ips.length, 1, a.stdout);
  const address = ips[0]!.address;
  assert.match(address, new RegExp(`^${net.replace(/\./gu, '\\.')}\\.(1[0-4]\\d|150)/24$`, 'u'), 'an address of the range dnsmasq serves');
  assert.equal(ips[0]!.gateway, `${net}.1`, 'the router dnsmasq gave');
  const g = await guestState(netns, 'eth0');
  assert.ok(g, 'eth0 is in the netns');
  assert.deepEqual(g.addresses, [address]);
  assert.ok(g.up);
  assert.ok(g.routes.includes(`default via ${net}.1`), `the default route IPAM gave: ${g.routes.join(', ')}`);
  const links = (await ipJson(['link', 'show', 'dev', 'eth0'], netns)) as { address: string }[];
  const mac = links[0]!.address;
  assert.equal(leaseOf(mac), address.split('/')[0], 'dnsmasq leased that address to that MAC');
  assert.ok(await ping(netns, `${net}.1`), 'the DHCP server answers through it');
  return { json: a.json!, address, mac };
}

/** DEL (twice): the lease is given back to dnsmasq, nothing of the attachment is left. */
async function delReleases(id: string, netns: string, conf: Record<string, unknown>, mac: string): Promise<void> {
  const d = await call('DEL', id, netns, conf);
  assert.equal(d.code, 0, d.stdout + d.stderr);
  await waitFor('dnsmasq to drop the lease (DHCPRELEASE)', () => leaseOf(mac) === undefined, 5_000);
  assert.ok(dnsmasqLog.split('\n').some((l) => l.includes('DHCPRELEASE') && l.toLowerCase().includes(mac.toLowerCase())), 'released by the client, not expired');
  assert.equal(await guestState(netns, 'eth0'), undefined);
  assert.deepEqual(records(RECORDS, String(conf['name'])).filter((r) => r.startsWith(`${id}/`)), []);
  assert.equal((await call('DEL', id, netns, conf)).code, 0, 'a second DEL succeeds');
}

/** The direct children of a process (the IPAM plugin a pipework process runs). */
function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((t) => readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/u)).filter((p) => p !== '').map(Number);
  } catch {
    return [];
  }
}

/** Our plugin started by hand (so the test can signal it by PID): ADD, with dnsmasq made to wait. */
function startAdd(id: string, netns: string, conf: Record<string, unknown>): { child: ChildProcess; done: Promise<{ code: number | null; stdout: string }> } {
  const child = spawn(process.execPath, [pipeworkBin], {
    env: { ...process.env, CNI_COMMAND: 'ADD', CNI_CONTAINERID: id, CNI_NETNS: `/run/netns/${netns}`, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout.on('data', (b: Buffer) => {
    stdout += b.toString();
  });
  child.stderr.resume();
  child.stdin.end(JSON.stringify(conf));
  const done = new Promise<{ code: number | null; stdout: string }>((resolve) => child.once('exit', (code) => resolve({ code, stdout })));
  return { child, done };
}

/** Wait until the dhcp daemon is asking for a lease for this attachment (dnsmasq stopped: it waits). */
async function leaseAsked(id: string, network: string): Promise<void> {
  await waitFor(`the dhcp daemon to ask for ${id}'s lease`, () => daemonLog.includes(`${id}/${network}/eth0: acquiring lease`), 20_000);
}

let snap: Awaited<ReturnType<typeof snapshotHost>>;

void describe('CNI ADD with the dhcp IPAM plugin (Debian\'s, and its daemon) against dnsmasq', { skip: !canRun && why }, () => {
  before(async () => {
    snap = await snapshotHost({ only: ours });
    await addNetns(SRV);
    for (const g of GUESTS) await addNetns(g);
    for (const { nic, peer, net } of NICS) {
      await ip(['link', 'add', nic, 'type', 'veth', 'peer', 'name', peer, 'netns', SRV]);
      await ip(['addr', 'add', `${net}.1/24`, 'dev', peer], SRV);
      await ip(['link', 'set', peer, 'up'], SRV);
      await ip(['link', 'set', nic, 'up']);
    }
    await ip(['link', 'add', BRIDGE, 'type', 'bridge']);
    await ip(['link', 'set', NICS[1].nic, 'master', BRIDGE]);
    await ip(['link', 'set', BRIDGE, 'up']);
    // One dnsmasq for the three NICs (a range on each; the router is dnsmasq's own address there).
    dnsmasq = startLogged(['ip', 'netns', 'exec', SRV, 'dnsmasq', '--no-daemon', '--conf-file=/dev/null', '--port=0', '--no-resolv', '--no-hosts',
      '--bind-interfaces', '--no-ping', ...NICS.map((n) => `--interface=${n.peer}`),
      ...NICS.map((n) => `--dhcp-range=${n.net}.100,${n.net}.150,255.255.255.0,2m`), `--dhcp-leasefile=${LEASES}`], (t) => {
      dnsmasqLog += t;
    });
    // Short DHCP timeouts: a lease that cannot come gives up within seconds.
    daemon = startLogged([DHCP, 'daemon', '-socketpath', SOCK, '-timeout', '3s', '-resendmax', '5s'], (t) => {
      daemonLog += t;
    });
    await waitFor('the dhcp daemon\'s socket', () => existsSync(SOCK), 10_000);
    await waitFor('dnsmasq to start', () => dnsmasqLog.includes('DHCP, IP range'), 10_000);
  });

  after(async () => {
    for (const n of existsSync(RECORDS) ? readdirSync(RECORDS).filter((x) => x.startsWith(`${PREFIX}-`)) : []) rmSync(join(RECORDS, n), { recursive: true, force: true });
    for (const l of await ourHostEnds()) await ip(['link', 'del', l]).catch(() => undefined);
    await stop(daemon);
    await stop(dnsmasq);
    for (const g of GUESTS) await delNetns(g);
    await delNetns(SRV);
    await delLink(BRIDGE);
    for (const { nic } of NICS) await delLink(nic);
    await assertHostUnchanged(snap, 5_000, { only: ours });
    rmSync(DIR, { recursive: true, force: true });
  });

  void test('macvlan: the shipped example conflist (only its master and the daemon\'s socket changed) gets a lease; CHECK passes; DEL releases it', async () => {
    const example = JSON.parse(readFileSync(join(repoRoot, 'examples', 'cni', 'pipework-macvlan.conflist'), 'utf8')) as { cniVersion: string; plugins: Record<string, unknown>[] };
    const plugin = example.plugins[0]!;
    const ipam = plugin['ipam'] as Record<string, unknown>;
    assert.equal(ipam['type'], 'dhcp');
    const conf = { ...plugin, cniVersion: example.cniVersion, name: 'tcd-lan', master: NICS[0].nic, ipam: { ...ipam, daemonSocketPath: SOCK } };
    const { json, address, mac } = await addLeased('tcdm1', 'tcd-g1', conf, NICS[0].net);
    assert.equal(mac, attachmentMac('tcd-lan', 'tcdm1', 'eth0'), 'the MAC pipework derives');
    assert.deepEqual((json['interfaces'] as { name: string }[]).map((i) => i.name), ['eth0']);
    // What pipework recorded has the leased address: on the interface and in its record file.
    const alias = ((await ipJson(['link', 'show', 'dev', 'eth0'], 'tcd-g1')) as { ifalias?: string }[])[0]?.ifalias;
    assert.equal(decodeRecord(alias)?.address, address);
    assert.equal(stateOf('tcd-lan', 'tcdm1')?.phase, 'attached');
    assert.equal(decodeRecord(stateOf('tcd-lan', 'tcdm1')?.record)?.address, address);
    const ls = await sh([process.execPath, pipeworkBin, 'ls', '--owner', 'cni:tcd-lan']);
    assert.ok(ls.stdout.includes(address), ls.stdout);
    // CHECK (the dhcp plugin's own CHECK asks its daemon again).
    const check = await call('CHECK', 'tcdm1', 'tcd-g1', { ...conf, prevResult: json });
    assert.equal(check.code, 0, check.stdout + check.stderr);
    // A second container on the same network: another lease.
    const two = await addLeased('tcdm2', 'tcd-g2', conf, NICS[0].net);
    assert.notEqual(two.address, address);
    assert.ok(await ping('tcd-g1', two.address.split('/')[0]!), 'the two macvlans reach each other');
    await delReleases('tcdm2', 'tcd-g2', conf, two.mac);
    await delReleases('tcdm1', 'tcd-g1', conf, mac);
  });

  void test('CHECK sees a DHCP address that went missing', async () => {
    const conf = network('tcd-chk', { master: NICS[0].nic });
    const { json, address, mac } = await addLeased('tcdc1', 'tcd-g1', conf, NICS[0].net);
    await ip(['addr', 'del', address, 'dev', 'eth0'], 'tcd-g1');
    const check = await call('CHECK', 'tcdc1', 'tcd-g1', { ...conf, prevResult: json });
    assert.equal(check.json?.['code'], 103, check.stdout);
    assert.match(String(check.json?.['msg']), new RegExp(address.replace(/\./gu, '\\.'), 'u'));
    await delReleases('tcdc1', 'tcd-g1', conf, mac);
  });

  void test('Linux bridge (cniVersion 0.4.0): the lease comes through the bridge; the host end records the address; DEL releases it', async () => {
    const conf = network('tcd-br', { bridge: BRIDGE }, '0.4.0');
    const { json, address, mac } = await addLeased('tcdb1', 'tcd-g2', conf, NICS[1].net);
    const ends = await ourHostEnds();
    assert.equal(ends.length, 1);
    const end = (await getLink(ends[0]!))!;
    assert.equal(end.master, BRIDGE);
    const hostAlias = ((await ipJson(['link', 'show', 'dev', ends[0]!])) as { ifalias?: string }[])[0]?.ifalias;
    assert.equal(decodeRecord(hostAlias)?.address, address, 'the record the host believes has the lease');
    const check = await call('CHECK', 'tcdb1', 'tcd-g2', { ...conf, prevResult: json });
    assert.equal(check.code, 0, check.stdout + check.stderr);
    await delReleases('tcdb1', 'tcd-g2', conf, mac);
    assert.deepEqual(await ourHostEnds(), []);
  });

  void test('a NIC moved in (device): leased, kept on the host with its address, given back on DEL', async () => {
    const nic = NICS[2];
    const conf = network('tcd-dev', { device: nic.nic });
    const { json, address, mac } = await addLeased('tcdd1', 'tcd-g3', conf, nic.net);
    assert.equal(await getLink(nic.nic), undefined, 'gone from the host');
    const check = await call('CHECK', 'tcdd1', 'tcd-g3', { ...conf, prevResult: json });
    assert.equal(check.code, 0, check.stdout + check.stderr);
    const ls = await sh([process.execPath, pipeworkBin, 'ls', '--owner', 'cni:tcd-dev']);
    assert.ok(ls.stdout.includes(address), `ls shows the lease of the NIC: ${ls.stdout}`);
    await delReleases('tcdd1', 'tcd-g3', conf, mac);
    assert.ok(await getLink(nic.nic), 'back on the host');
    await ip(['link', 'set', nic.nic, 'up']);
  });

  void test('IPAM fails once the interface exists (no daemon on that socket): the interface is undone, nothing left', async () => {
    const nobody = join(DIR, 'nobody.sock');
    for (const [name, host, netns] of [['tcd-fm', { master: NICS[0].nic }, 'tcd-g1'], ['tcd-fb', { bridge: BRIDGE }, 'tcd-g2']] as const) {
      const conf = network(name, host, '1.0.0', { daemonSocketPath: nobody });
      const r = await call('ADD', 'tcdf1', netns, conf);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(String(r.json?.['msg']), /IPAM plugin dhcp \(ADD\)/u, r.stdout);
      assert.equal(await guestState(netns, 'eth0'), undefined, `${name}: no eth0 left`);
      assert.deepEqual(records(RECORDS, name), []);
      assert.deepEqual(await ourHostEnds(), [], `${name}: no host end left`);
    }
  });

  void test('a step after IPAM fails: the lease is released before the interface goes, nothing left', async () => {
    const conf = network('tcd-late', { master: NICS[0].nic });
    const mac = attachmentMac('tcd-late', 'tcdl1', 'eth0');
    // Plan 2 of the run is the addresses (the interface is plan 1); its step 2 adds the address.
    const r = await call('ADD', 'tcdl1', 'tcd-g1', conf, { env: { PIPEWORK_FAIL_STEP: '2:2' } });
    assert.equal(r.json?.['code'], 101, r.stdout + r.stderr);
    assert.match(String(r.json?.['msg']), /injected failure.*everything the run did was undone/u);
    assert.ok(dnsmasqLog.split('\n').some((l) => l.includes('DHCPACK') && l.includes(mac)), 'a lease was given');
    await waitFor('dnsmasq to drop the lease', () => leaseOf(mac) === undefined, 5_000);
    assert.ok(dnsmasqLog.split('\n').some((l) => l.includes('DHCPRELEASE') && l.includes(mac)), 'released through the interface, before it went');
    assert.equal(await guestState('tcd-g1', 'eth0'), undefined);
    assert.deepEqual(records(RECORDS, 'tcd-late'), []);
  });

  void test('SIGTERM while the lease is awaited: undone (code 11), nothing left', async () => {
    const conf = network('tcd-int', { master: NICS[0].nic });
    process.kill(dnsmasq!.pid!, 'SIGSTOP');
    try {
      const { child, done } = startAdd('tcdi1', 'tcd-g1', conf);
      try {
        await leaseAsked('tcdi1', 'tcd-int');
        assert.ok(await guestState('tcd-g1', 'eth0'), 'the interface exists while IPAM works');
        process.kill(child.pid!, 'SIGTERM');
        const r = await Promise.race([done, sleep(30_000).then(() => undefined)]);
        assert.ok(r, 'the plugin ended');
        assert.equal(r.code, 1);
        assert.equal((JSON.parse(r.stdout) as { code: number }).code, 11, r.stdout);
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      assert.equal(await guestState('tcd-g1', 'eth0'), undefined);
      assert.deepEqual(records(RECORDS, 'tcd-int'), []);
    } finally {
      process.kill(dnsmasq!.pid!, 'SIGCONT');
    }
  });

  void test('a plugin killed (SIGKILL) while IPAM works leaves its interface and record: DEL cleans it; GC too', async () => {
    for (const how of ['DEL', 'GC'] as const) {
      const name = `tcd-kill${how.toLowerCase()}`;
      const conf = network(name, { master: NICS[0].nic });
      process.kill(dnsmasq!.pid!, 'SIGSTOP');
      try {
        const { child, done } = startAdd('tcdk1', 'tcd-g1', conf);
        await leaseAsked('tcdk1', name);
        // The dhcp plugin it runs goes too (as a runtime's timeout would take both).
        const plugins = childrenOf(child.pid!);
        process.kill(child.pid!, 'SIGKILL');
        for (const p of plugins) {
          try {
            process.kill(p, 'SIGKILL');
          } catch {
            // gone already
          }
        }
        await done;
        assert.ok(await guestState('tcd-g1', 'eth0'), 'the interface made before IPAM is there');
        assert.equal(stateOf(name, 'tcdk1')?.phase, 'ipam', 'and the record written before it');
        const r = how === 'DEL'
          ? await call('DEL', 'tcdk1', 'tcd-g1', conf)
          : await runOurs({ command: 'GC', conf: { ...conf, cniVersion: '1.1.0', 'cni.dev/valid-attachments': [] }, timeoutMs: 60_000 });
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.equal(await guestState('tcd-g1', 'eth0'), undefined, `${how} removed the interface`);
        assert.deepEqual(records(RECORDS, name), [], `${how} removed the record`);
      } finally {
        process.kill(dnsmasq!.pid!, 'SIGCONT');
      }
    }
  });

  void describe('under Podman 4.3 with its CNI backend', { skip: spawnSync('podman', ['version'], { timeout: 30_000 }).status !== 0 && 'podman does not run here' }, () => {
    const BIN = join(DIR, 'bin');
    const NETD = join(DIR, 'net.d');
    const CONF = join(DIR, 'containers.conf');
    const NET = 'tcd-pdhcp';
    const run = (args: string[]) => podman(args, { env: { CONTAINERS_CONF: CONF } });
    const runOk = (args: string[]) => podmanOk(args, { env: { CONTAINERS_CONF: CONF }, timeoutMs: 120_000 });

    before(async () => {
      for (const d of [BIN, NETD]) mkdirSync(d, { recursive: true });
      const limits = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
      const n = limits?.trim().split(/\s+/u)[4] ?? '1048576';
      writeFileSync(CONF, `[containers]\ndefault_ulimits = ["nofile=${n}:${n}", "nproc=32768:32768"]\n[network]\nnetwork_backend = "cni"\nnetwork_config_dir = "${NETD}"\ncni_plugin_dirs = ["${BIN}", "/usr/lib/cni"]\n`);
      const inst = await sh([process.execPath, pipeworkBin, 'cni', 'install', '--dir', BIN, '--socket', join(DIR, 'cni.sock')]);
      assert.equal(inst.code, 0, inst.stderr);
      await ensureImage();
      // As Podman writes them (0.4.0), tuning chained after ours.
      writeFileSync(join(NETD, `${NET}.conflist`), JSON.stringify({
        cniVersion: '0.4.0', name: NET,
        plugins: [{ type: 'pipework', master: NICS[0].nic, mode: 'bridge', ipam: { type: 'dhcp', daemonSocketPath: SOCK } }, { type: 'tuning' }],
      }, null, 2));
    });
    after(async () => {
      for (const c of ['tcd-p1', 'tcd-p2']) await run(['rm', '-f', '-t', '0', c]);
    });

    void test('two containers get leases and reach each other and the server; podman rm releases them', async () => {
      const macs: string[] = [];
      const addrs: string[] = [];
      for (const c of ['tcd-p1', 'tcd-p2']) {
        await run(['rm', '-f', '-t', '0', c]);
        await runOk(['run', '-d', '--name', c, '--network', NET, PODMAN_TEST_IMAGE, 'sleep', '600']);
        const ip4 = (await runOk(['inspect', c, '--format', `{{ (index .NetworkSettings.Networks "${NET}").IPAddress }}`])).trim();
        const mac = (await runOk(['inspect', c, '--format', `{{ (index .NetworkSettings.Networks "${NET}").MacAddress }}`])).trim();
        assert.match(ip4, /^10\.175\.1\.(1[0-4]\d|150)$/u, `${c} has a lease from dnsmasq`);
        assert.equal(leaseOf(mac), ip4, `dnsmasq leased ${ip4} to ${c}`);
        macs.push(mac);
        addrs.push(ip4);
      }
      const pings = async (from: string, to: string) => {
        for (let i = 0; i < 5; i++) {
          if ((await run(['exec', from, 'ping', '-c', '1', '-W', '1', to])).code === 0) return true;
          await sleep(200);
        }
        return false;
      };
      assert.ok(await pings('tcd-p1', addrs[1]!), 'tcd-p1 reaches tcd-p2');
      assert.ok(await pings('tcd-p2', `${NICS[0].net}.1`), 'and the DHCP server');
      assert.equal(records(RECORDS, NET).length, 2);
      await runOk(['rm', '-f', '-t', '0', 'tcd-p1', 'tcd-p2']);
      for (const mac of macs) await waitFor(`dnsmasq to drop the lease of ${mac}`, () => leaseOf(mac) === undefined, 10_000);
      assert.deepEqual(records(RECORDS, NET), []);
    });
  });
});
