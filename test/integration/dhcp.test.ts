// DHCP with real clients against a real server: dnsmasq in its own netns on a Linux bridge.
// Every method gets an address in the range, a working default route and the guest's own DNS;
// the staying ones renew (short lease; T1 10 s) and stop once their guest is gone; no server is
// a bounded failure that leaves nothing; a missing client changes nothing; DHCPv6 with -a 6; two
// guests on eth1 with dhcpcd at once; a stable MAC keeps its lease across re-plumbing. The host's
// /etc/resolv.conf is compared after every test. Run as root.
//
// Names: netns `pwd-…`, containers `pwd-…`, bridges `brpwd…`, other host links `pwd…`.
// Addresses 10.251.71.0/24 and fd77:71::/64, only inside our netns and on our bridges.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanupPrefix } from './helpers/guard.js';
import { addBridge, addNetns, getLink } from './helpers/netns.js';
import { repoRoot, runPipework, sh, shOk, waitFor, type RunResult } from './helpers/run.js';
import * as docker from './helpers/docker.js';
import {
  addressesIn, clientsIn, defaultRoutes, dhcpStateKeys, macIn, netnsInode, removeDhcpFiles, startDhcpServer, stopDhcpClients,
  dhcpAgentPath, supervisorPid, type DhcpServer,
} from './helpers/dhcp-server.js';

const PREFIX = 'pwd-';
const BR = 'brpwd1';
const NOSERVER_BR = 'brpwd2';
const NET = '10.251.71';
const V6 = 'fd77:71';
const AGENT = dhcpAgentPath(repoRoot);
const RESOLV_AT_START = readFileSync('/etc/resolv.conf', 'utf8');

const HAVE = ['dnsmasq', 'udhcpc', 'dhclient', 'dhcpcd'].every((p) => ['/usr/sbin', '/usr/bin', '/sbin', '/bin'].some((d) => existsSync(`${d}/${p}`)));
let dockerOk = false;
let server: DhcpServer;
let scratch: string;
const times: Record<string, number[]> = {};

function assertResolv(): void {
  assert.equal(readFileSync('/etc/resolv.conf', 'utf8'), RESOLV_AT_START, "the host's /etc/resolv.conf changed");
}

function show(args: readonly string[], r: RunResult): string {
  return `pipework ${args.join(' ')}\nexit ${r.code}\nstdout: ${JSON.stringify(r.stdout)}\nstderr: ${JSON.stringify(r.stderr)}`;
}

async function pw(args: string[], env?: Record<string, string>): Promise<RunResult & { ms: number }> {
  const t0 = Date.now();
  const r = await runPipework(args, { timeoutMs: 90_000, ...(env !== undefined && { env }) });
  return { ...r, ms: Date.now() - t0 };
}

async function pwOk(args: string[]): Promise<RunResult & { ms: number }> {
  const r = await pw(args);
  assert.equal(r.code, 0, show(args, r));
  assert.equal(r.stderr, '', show(args, r));
  return r;
}

function inRange(cidr: string | undefined): boolean {
  const m = /^10\.251\.71\.(\d+)\/24$/u.exec(cidr ?? '');
  return m !== null && Number(m[1]) >= 100 && Number(m[1]) <= 150;
}

function note(method: string, ms: number): void {
  (times[method] ??= []).push(ms);
}

/** An attach by DHCP went right: address in range, default route, the guest's DNS, the name the server saw. */
async function assertLeased(guest: string, method: string): Promise<string> {
  const addrs = await addressesIn(guest, 'eth1');
  assert.equal(addrs.length, 1, `${guest}: ${addrs.join(',')}`);
  assert.ok(inRange(addrs[0]), `${guest}: ${addrs[0]} is not in the range`);
  assert.deepEqual(await defaultRoutes(guest), [`default via ${NET}.1 dev eth1`]);
  const resolv = readFileSync(`/etc/netns/${guest}/resolv.conf`, 'utf8');
  assert.match(resolv, new RegExp(`^# Written by pipework from the DHCP lease on eth1 \\(${method}, netns \\d+\\)\\n`, 'u'));
  assert.match(resolv, new RegExp(`^nameserver ${NET}\\.53$`, 'mu'));
  assert.match(resolv, /^search pwd\.test$/mu);
  const lease = server.lease(await macIn(guest, 'eth1'));
  assert.equal(lease?.address, addrs[0]!.split('/')[0]);
  assert.equal(lease?.hostname, guest, 'the guest name is the host name the client sent');
  // The route works: the server answers.
  const ping = await sh(['ip', 'netns', 'exec', guest, 'ping', '-c', '1', '-W', '2', `${NET}.1`], { timeoutMs: 10_000 });
  assert.equal(ping.code, 0, ping.stdout + ping.stderr);
  return addrs[0]!;
}

async function assertGone(guest: string, inode: number): Promise<void> {
  assert.equal(await getLink('eth1', guest), undefined, `eth1 is still in ${guest}`);
  assert.deepEqual(clientsIn(inode), [], `a DHCP client still runs in ${guest}`);
  assert.ok(!dhcpStateKeys().some((k) => k.startsWith(`${inode}-`)), `state left for ${guest}`);
  assert.equal(existsSync(`/etc/netns/${guest}`), false, `/etc/netns/${guest} left`);
}

async function cleanup(): Promise<void> {
  await stopDhcpClients(AGENT, PREFIX);
  if (dockerOk) {
    for (const name of await docker.listContainers()) {
      if (name.startsWith(PREFIX)) {
        const c = await docker.inspectContainer(name);
        if (c !== undefined) await docker.removeContainer(`pipework-dhcp-${c.Id.slice(0, 12)}-eth1`);
        await docker.removeContainer(name);
      }
    }
  }
  await cleanupPrefix(PREFIX);
  await cleanupPrefix('brpwd');
  await cleanupPrefix('pwd');
  removeDhcpFiles(PREFIX);
}

/** The staying clients started first, so that their renewals happen while the other tests run. */
interface Staying {
  label: string;
  method: string;
  /** netns name, or Docker container name. */
  guest: string;
  docker: boolean;
  mac: string;
  nsInode: number;
  pid?: number;
  startedAt: number;
}
const staying: Staying[] = [];

before(async () => {
  if (!HAVE) return;
  await cleanup();
  scratch = mkdtempSync(join(process.env['PIPEWORK_TEST_TMP'] ?? tmpdir(), 'pwd-'));
  dockerOk = await docker.dockerAvailable();
  await addBridge(BR);
  server = await startDhcpServer({ ns: 'pwd-srv', hostEnd: 'pwdsrv1', bridge: BR, net: NET, v6: V6, dir: scratch });
  const specs: { label: string; method: string; guest: string; docker: boolean; extra?: string[] }[] = [
    { label: 'udhcpc-f', method: 'udhcpc-f', guest: 'pwd-su', docker: false },
    { label: 'dhclient-f', method: 'dhclient-f', guest: 'pwd-sd', docker: false },
    { label: 'dhcpcd-f', method: 'dhcpcd-f:-A', guest: 'pwd-sc', docker: false },
  ];
  if (dockerOk) {
    await docker.ensureImage(docker.DOCKER_TEST_IMAGE);
    specs.push(
      { label: 'dhclient-f (docker)', method: 'dhclient-f', guest: 'pwd-dock', docker: true },
      { label: 'dhcp (helper container)', method: 'dhcp', guest: 'pwd-help', docker: true, extra: ['--dhcp-image', docker.DOCKER_TEST_IMAGE] },
    );
  }
  for (const s of specs) {
    if (s.docker) await docker.runContainer(s.guest);
    else await addNetns(s.guest);
  }
  // In parallel: each attach waits for its own lease.
  await Promise.all(specs.map(async (s) => {
    const r = await pwOk([BR, s.guest, s.method, ...(s.extra ?? [])]);
    note(s.label, r.ms);
    const c = s.docker ? await docker.inspectContainer(s.guest) : undefined;
    const ref: string | number = c !== undefined ? c.State.Pid : s.guest;
    staying.push({
      label: s.label, method: s.method.split(':')[0]!, guest: s.guest, docker: s.docker, mac: await macIn(ref, 'eth1'),
      nsInode: c !== undefined ? statSync(`/proc/${c.State.Pid}/ns/net`).ino : netnsInode(s.guest),
      ...(c !== undefined && { pid: c.State.Pid }),
      startedAt: Date.now(),
    });
  }));
});

after(async () => {
  if (!HAVE) return;
  await server?.stop();
  await cleanup();
  rmSync(scratch, { recursive: true, force: true });
  assertResolv();
  const summary = Object.entries(times).map(([m, v]) => `${m}: ${v.map((x) => `${(x / 1000).toFixed(2)} s`).join(', ')}`).join('\n');
  process.stdout.write(`pipework attach with DHCP, wall time per method:\n${summary.replace(/^/gmu, '  ')}\n`);
});

void describe('DHCP methods against dnsmasq', { skip: HAVE ? false : 'dnsmasq, udhcpc, dhclient or dhcpcd is not installed' }, () => {
  void test('the staying methods got their lease and keep running; ls shows the method and the client', async () => {
    for (const s of staying.filter((x) => !x.docker)) {
      await assertLeased(s.guest, s.method);
      const ls = JSON.parse((await pwOk(['ls', '--json', s.guest])).stdout) as { interfaces: { address?: string; dhcp?: string; dhcpStatus?: { client?: { running: boolean; pid: number } } }[] };
      const entry = ls.interfaces[0]!;
      assert.equal(entry.dhcp, s.method);
      assert.equal(entry.dhcpStatus?.client?.running, true, JSON.stringify(entry));
      const pid = entry.dhcpStatus.client.pid;
      assert.deepEqual(clientsIn(s.nsInode).includes(pid), true);
      // The client's own mount namespace: its /etc/resolv.conf is a scratch file, not the host's;
      // dhcpcd's /run/dhcpcd and /var/lib/dhcpcd are this guest's own. (dhcpcd chroots its main
      // process: look through a process of the client that kept the real root.)
      const seer = clientsIn(s.nsInode).find((p) => readlinkSync(`/proc/${p}/root`) === '/');
      assert.ok(seer !== undefined);
      assert.match(readFileSync(`/proc/${seer}/root/etc/resolv.conf`, 'utf8'), /^# pipework: a DHCP client's private \/etc\/resolv\.conf/u);
      const mounts = readFileSync(`/proc/${seer}/mountinfo`, 'utf8');
      const key = `${s.nsInode}-eth1`;
      assert.match(mounts, new RegExp(`/pipework/dhcp/${key}/resolv\\.conf /etc/resolv\\.conf `, 'u'));
      if (s.method === 'dhcpcd-f') {
        assert.match(mounts, new RegExp(`/pipework/dhcp/${key}/run /run/dhcpcd `, 'u'));
        assert.match(mounts, new RegExp(`/pipework/dhcp/${key}/lib /var/lib/dhcpcd `, 'u'));
        assert.equal(readFileSync(`/run/pipework/dhcp/${key}/run/eth1-4.pid`, 'utf8').trim(), String(pid));
      }
      assert.doesNotMatch(readFileSync('/proc/self/mountinfo', 'utf8'), /pipework\/dhcp/u, 'nothing of it is mounted on the host');
      assert.match((await pwOk(['ls', s.guest])).stdout, new RegExp(`10\\.251\\.71\\.\\d+/24,dhcp:${s.method}`, 'u'));
    }
    for (const s of staying.filter((x) => x.docker)) {
      const addrs = await addressesIn(s.pid!, 'eth1');
      assert.ok(inRange(addrs[0]), `${s.label}: ${addrs.join(',')}`);
      assert.deepEqual(await defaultRoutes(s.pid!), [`default via ${NET}.1 dev eth1`]);
      // The container's own resolv.conf (its ResolvConfPath; the helper shares it).
      const resolv = readFileSync(`/proc/${s.pid!}/root/etc/resolv.conf`, 'utf8');
      assert.match(resolv, new RegExp(`^# Written by pipework from the DHCP lease on eth1 \\(${s.method}(, netns \\d+)?\\)\\n`, 'u'));
      assert.match(resolv, new RegExp(`^nameserver ${NET}\\.53$`, 'mu'));
    }
    const sup = supervisorPid();
    assert.ok(sup !== undefined, "pipework's DHCP supervisor runs");
    assertResolv();
  });

  for (const [method, label] of [['udhcpc', 'udhcpc'], ['dhclient', 'dhclient'], ['dhcpcd:-A', 'dhcpcd -A'], ['dhcpcd', 'dhcpcd']] as const) {
    void test(`one-shot ${label}: a lease, a default route, DNS in /etc/netns/<guest>/resolv.conf, no client left; del takes it all`, async () => {
      const guest = `pwd-o${method.replace(/[^a-z]/gu, '').slice(0, 8)}`;
      await addNetns(guest);
      const inode = netnsInode(guest);
      const r = await pwOk([BR, guest, method]);
      note(label, r.ms);
      await assertLeased(guest, method.split(':')[0]!);
      assert.deepEqual(clientsIn(inode), [], 'a one-shot client is gone once leased');
      assert.ok(!dhcpStateKeys().some((k) => k.startsWith(`${inode}-`)));
      assert.equal(existsSync(`/var/run/${method.split(':')[0]}.${guest}.pid`), false, 'no pidfile is left');
      // Idempotent: the same line again changes nothing.
      const again = await pwOk([BR, guest, method, '--json']);
      assert.equal((JSON.parse(again.stdout) as { outcome: string }).outcome, 'unchanged');
      await pwOk(['del', guest]);
      await assertGone(guest, inode);
      assertResolv();
    });
  }

  void test('no DHCP server: a bounded failure that undoes the attach (the bridge it made too) and leaves no client', async () => {
    const guest = 'pwd-nosrv';
    await addNetns(guest);
    const inode = netnsInode(guest);
    for (const method of ['udhcpc', 'udhcpc-f', 'dhclient', 'dhclient-f', 'dhcpcd', 'dhcpcd-f']) {
      const args = [NOSERVER_BR, guest, method, '--dhcp-timeout', '2'];
      const r = await pw(args);
      assert.equal(r.code, 1, show(args, r));
      assert.match(r.stderr, /^pipework: step \d+ of \d+ \(obtain a DHCP lease on eth1 with [a-z-]+ \(at most 2 s\)[^)]*\) failed: DHCP \([a-z-]+\): no DHCP lease on eth1( within 2 s|: [a-z]+ gave up after [\d.]+ s)/u, show(args, r));
      assert.match(r.stderr, /everything done before it was undone\n$/u);
      assert.ok(r.ms < 12_000, `${method} took ${r.ms} ms to give up`);
      assert.equal(await getLink(NOSERVER_BR), undefined, 'the bridge this run made is gone');
      await waitFor(`no client of ${method} left`, () => clientsIn(inode).length === 0, 3_000, 100);
      await assertGone(guest, inode);
      assert.equal(existsSync(`/var/run/udhcpc.${guest}.pid`) || existsSync(`/var/run/dhclient.${guest}.pid`), false, 'no pidfile is left');
    }
    assertResolv();
  });

  void test('a missing client is a clear error before anything is changed', async () => {
    const guest = 'pwd-miss';
    await addNetns(guest);
    // A PATH with what pipework needs but no DHCP client.
    const bin = join(scratch, 'bin');
    mkdirSync(bin, { recursive: true });
    for (const p of ['ip', 'nsenter', 'unshare', 'sysctl', 'mount', 'arping']) {
      const found = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'].map((d) => `${d}/${p}`).find((f) => existsSync(f));
      if (found !== undefined && !existsSync(join(bin, p))) symlinkSync(found, join(bin, p));
    }
    for (const [method, program] of [['udhcpc', 'udhcpc'], ['dhclient-f', 'dhclient'], ['dhcpcd', 'dhcpcd']] as const) {
      const args = [BR, guest, method];
      const r = await pw(args, { PATH: bin });
      assert.equal(r.code, 1, show(args, r));
      assert.match(r.stderr, new RegExp(`^pipework: you asked for DHCP client ${program}, but I can't find it: install ${program} \\(Debian package [a-z-]+\\)\\n$`, 'u'));
      assert.equal(await getLink('eth1', guest), undefined);
    }
    assertResolv();
  });

  void test('a staying client whose interface is removed by hand is stopped as well', async () => {
    const guest = 'pwd-byhand';
    await addNetns(guest);
    const inode = netnsInode(guest);
    await pwOk([BR, guest, 'udhcpc-f']);
    assert.equal(clientsIn(inode).length, 1);
    await shOk(['ip', '-n', guest, 'link', 'del', 'eth1']);
    await waitFor('the client of a removed interface to stop', () => clientsIn(inode).length === 0, 5_000, 100);
    await waitFor('its state to go', () => !dhcpStateKeys().some((k) => k.startsWith(`${inode}-`)), 3_000, 100);
    assert.equal(existsSync(`/var/run/udhcpc.${guest}.pid`), false);
  });

  void test('an interrupted attach (SIGINT while it waits for a lease) leaves no DHCP client behind', async () => {
    const guest = 'pwd-intr';
    await addNetns(guest);
    const inode = netnsInode(guest);
    for (const method of ['udhcpc-f', 'dhcpcd-f']) {
      const child = spawn(process.execPath, [join(repoRoot, 'bin', 'pipework'), NOSERVER_BR, guest, method, '--dhcp-timeout', '20'], { stdio: 'ignore', detached: true });
      await waitFor(`${method} to start`, () => clientsIn(inode).length > 0, 10_000, 50);
      process.kill(-child.pid!, 'SIGINT'); // the terminal's Ctrl-C: the whole process group
      await new Promise((r) => child.once('exit', r));
      await waitFor(`no ${method} left`, () => clientsIn(inode).length === 0, 10_000, 100);
      assert.ok(!dhcpStateKeys().some((k) => k.startsWith(`${inode}-`)));
      // pipework undid its attach too: no eth1, no bridge it made.
      assert.equal(await getLink('eth1', guest), undefined, 'the interrupted attach was undone');
      assert.equal(await getLink(NOSERVER_BR), undefined, 'the bridge it made was removed');
    }
  });

  void test('DHCPv6 with -a 6: dhclient and dhcpcd get an address from the DHCPv6 range', async () => {
    for (const [method, label] of [['dhclient', 'dhclient -6'], ['dhcpcd-f', 'dhcpcd-f -6']] as const) {
      const guest = `pwd-6${method.slice(0, 5)}`;
      await addNetns(guest);
      const inode = netnsInode(guest);
      const r = await pwOk([BR, '-a', '6', guest, method]);
      note(label, r.ms);
      const addrs = await addressesIn(guest, 'eth1', 6);
      assert.equal(addrs.length, 1, addrs.join(','));
      assert.match(addrs[0]!, /^fd77:71::1[0-9a-f]{2}\/128$/u);
      // The router's advertisement gives the on-link prefix and the default route.
      await waitFor('an IPv6 default route', async () => (await defaultRoutes(guest, 6)).length > 0, 10_000, 200);
      assert.match(readFileSync(`/etc/netns/${guest}/resolv.conf`, 'utf8'), /^nameserver fd77:71::53$/mu);
      assert.match((await pwOk(['ls', guest])).stdout, /dhcp6:/u);
      assert.equal(clientsIn(inode).length > 0, method.endsWith('-f'), 'a staying client runs, a one-shot one does not');
      await pwOk(['del', guest]);
      await assertGone(guest, inode);
    }
    assertResolv();
  });

  void test('two guests, both on eth1, with dhcpcd at once: no shared state, two leases, two clients', async () => {
    const guests = ['pwd-twina', 'pwd-twinb'];
    for (const g of guests) await addNetns(g);
    const inodes = guests.map(netnsInode);
    const rs = await Promise.all(guests.map((g) => pw([BR, g, 'dhcpcd-f:-A'])));
    rs.forEach((r, i) => assert.equal(r.code, 0, show([BR, guests[i]!, 'dhcpcd-f:-A'], r)));
    const addrs = await Promise.all(guests.map((g) => addressesIn(g, 'eth1')));
    assert.ok(inRange(addrs[0]![0]) && inRange(addrs[1]![0]));
    assert.notEqual(addrs[0]![0], addrs[1]![0]);
    for (const [i, inode] of inodes.entries()) {
      assert.ok(clientsIn(inode).length > 0, `dhcpcd runs for ${guests[i]}`);
      // Each has its own /run/dhcpcd: its pidfile and control socket are in its own state directory.
      assert.ok(existsSync(`/run/pipework/dhcp/${inode}-eth1/run/eth1-4.pid`));
    }
    assert.equal(existsSync('/run/dhcpcd/eth1-4.pid'), false, "nothing in the host's /run/dhcpcd");
    for (const g of guests) await pwOk(['del', g]);
    for (const [i, g] of guests.entries()) await assertGone(g, inodes[i]!);
    assertResolv();
  });

  void test('a stable MAC (U:<text>) gets the same lease after the guest is re-plumbed, whichever client asks', async () => {
    const guest = 'pwd-stable';
    await addNetns(guest);
    const mac = `02:${[...createHash('md5').update('pwd-stable-mac\n').digest().subarray(0, 5)].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;
    const seen: string[] = [];
    for (const method of ['udhcpc', 'dhclient', 'dhcpcd:-A', 'udhcpc-f']) {
      await pwOk([BR, guest, method, 'U:pwd-stable-mac']);
      assert.equal(await macIn(guest, 'eth1'), mac);
      seen.push((await addressesIn(guest, 'eth1'))[0]!);
      await pwOk(['del', guest]);
    }
    assert.ok(inRange(seen[0]));
    assert.deepEqual(seen, seen.map(() => seen[0]), `addresses: ${seen.join(', ')}`);
    // Another guest with that MAC, once the first is gone, gets it too.
    await addNetns('pwd-stable2');
    await pwOk([BR, 'pwd-stable2', 'dhcpcd:-A', 'U:pwd-stable-mac']);
    assert.deepEqual(await addressesIn('pwd-stable2', 'eth1'), [seen[0]]);
    await pwOk(['del', 'pwd-stable2']);
    assertResolv();
  });

  void test('staying clients renew while the guest lives, and are gone once it dies (the helper container too)', async (t: TestContext) => {
    // udhcpc renews at half the 2-minute lease (it does not honour T1); the others every 10 s.
    for (const s of staying) {
      await waitFor(`${s.label} to renew its lease`, () => server.acks(s.mac).length >= 2, Math.max(5_000, s.startedAt + 95_000 - Date.now()), 500);
      t.diagnostic(`${s.label}: ${server.acks(s.mac).length} DHCPACKs in ${((Date.now() - s.startedAt) / 1000).toFixed(0)} s`);
    }
    const sup = supervisorPid();
    assert.ok(sup !== undefined);
    const status = readFileSync(`/proc/${sup}/status`, 'utf8');
    const rollup = readFileSync(`/proc/${sup}/smaps_rollup`, 'utf8');
    const kb = (re: RegExp, text: string): number => Number(re.exec(text)?.[1] ?? NaN);
    t.diagnostic(`supervisor pid ${sup}: VmRSS ${kb(/VmRSS:\s+(\d+)/u, status)} kB, Pss ${kb(/^Pss:\s+(\d+)/mu, rollup)} kB, ` +
      `private ${kb(/Private_Clean:\s+(\d+)/u, rollup) + kb(/Private_Dirty:\s+(\d+)/u, rollup)} kB, for ${staying.filter((s) => s.method !== 'dhcp').length} clients`);
    assert.ok(kb(/VmRSS:\s+(\d+)/u, status) < 120_000);

    // The guests die: netns deleted (the client still holds it), containers killed.
    const before = new Map(staying.map((s) => [s.guest, clientsIn(s.nsInode)]));
    for (const s of staying) {
      if (s.docker) await docker.stopContainer(s.guest);
      else await shOk(['ip', 'netns', 'del', s.guest]);
    }
    const killedAt = Date.now();
    for (const s of staying) {
      if (s.method === 'dhcp') {
        const c = await docker.inspectContainer(s.guest);
        await waitFor('the helper container to go', async () => (await docker.listContainers()).every((n) => !n.startsWith(`pipework-dhcp-${c!.Id.slice(0, 12)}`)), 15_000, 200);
      } else {
        assert.ok((before.get(s.guest) ?? []).length > 0, `${s.label} ran before its guest died`);
        await waitFor(`${s.label}'s client to stop`, () => clientsIn(s.nsInode).length === 0, 10_000, 100);
      }
      t.diagnostic(`${s.label}: gone ${((Date.now() - killedAt) / 1000).toFixed(1)} s after its guest`);
    }
    await waitFor('the state directories to go', () => dhcpStateKeys().filter((k) => staying.some((s) => k.startsWith(`${s.nsInode}-`))).length === 0, 5_000, 100);
    await waitFor('the supervisor to leave, with no client left', () => supervisorPid() === undefined, 5_000, 100);
    assertResolv();
  });
});
