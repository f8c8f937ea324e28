// Guest resolution end to end: every kind of guest pipework plumbs (Docker by name, full id and
// id prefix; Podman through its CLI and through its Docker-compatible API; LXC in its LXC 5
// `lxc.payload.NAME` and `lxc/NAME` cgroup layouts and through lxc-info; a plain PID; a named
// network namespace), each proven with real traffic between guests on a bridge, plus the
// refusals (not running, not found, ambiguous, the host's own namespace) and --dry-run.
//
// A missing runtime is a failure, not a skip: scripts/setup.sh installs them all and
// scripts/test.sh starts dockerd. Everything made here is named pwg-* (containers, netns),
// brpwg* (bridges) or pwgbin-* (scratch dirs); the veth host ends pipework makes are named
// after the guests' PIDs, which the file tracks.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, rmdirSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as docker from './helpers/docker.js';
import * as podman from './helpers/podman.js';
import * as lxc from './helpers/lxc.js';
import { assertHostUnchanged, cleanupPrefix, snapshotHost, type HostSnapshot } from './helpers/guard.js';
import { addBridge, addNetns, attachToBridge, getAddrs, getLink, ipJson, ping, waitDad, type IpLink, type NsRef } from './helpers/netns.js';
import { runPipework, shOk, sleep, waitFor, type RunResult } from './helpers/run.js';

const P = 'pwg-';
const BR = 'brpwg';
const SCRATCH = process.env.PIPEWORK_TEST_TMP ?? tmpdir();

/** PIDs of the guests made here: pipework names host ends `v<guestif>pl<pid>` after them. */
const ourPids = new Set<number>([1]);

// ---- small helpers -------------------------------------------------------------------------

function show(args: readonly string[], r: RunResult): string {
  return `pipework ${args.join(' ')}\n  exit ${r.code}\n  stdout: ${r.stdout.trim()}\n  stderr: ${r.stderr.trim()}`;
}

async function pw(args: readonly string[], env?: Record<string, string | undefined>): Promise<RunResult> {
  return runPipework(args, { timeoutMs: 30_000, ...(env !== undefined && { env }) });
}

async function pwOk(args: readonly string[], env?: Record<string, string | undefined>): Promise<RunResult> {
  const r = await pw(args, env);
  assert.equal(r.code, 0, show(args, r));
  return r;
}

/** Expect exit 1 with a stderr line matching `re`. */
async function pwFails(args: readonly string[], re: RegExp, env?: Record<string, string | undefined>): Promise<RunResult> {
  const r = await pw(args, env);
  assert.equal(r.code, 1, show(args, r));
  assert.match(r.stderr, re, show(args, r));
  return r;
}

/** The host end of a pipework veth: a veth, joined to `bridge`, up. */
async function assertBridgedVeth(hostEnd: string, bridge: string): Promise<IpLink> {
  const l = await getLink(hostEnd);
  assert.ok(l, `host end ${hostEnd} does not exist`);
  assert.equal(l.linkinfo?.info_kind, 'veth', `${hostEnd} is not a veth`);
  assert.equal(l.master, bridge, `${hostEnd} is not joined to ${bridge}`);
  assert.ok(l.flags.includes('UP'), `${hostEnd} is not up`);
  return l;
}

async function assertBridge(name: string): Promise<void> {
  const l = await getLink(name);
  assert.ok(l, `bridge ${name} does not exist`);
  assert.equal(l.linkinfo?.info_kind, 'bridge');
  assert.ok(l.flags.includes('UP'), `bridge ${name} is not up`);
}

async function assertNoLink(name: string, ns?: NsRef): Promise<void> {
  assert.equal(await getLink(name, ns), undefined, `link ${name} exists${ns === undefined ? ' on the host' : ` in ${String(ns)}`}`);
}

async function assertGuestAddr(ns: NsRef, dev: string, cidr: string): Promise<void> {
  const link = await getLink(dev, ns);
  assert.ok(link, `${dev} missing in guest ${String(ns)}`);
  assert.ok(link.flags.includes('UP'), `${dev} in guest ${String(ns)} is not up`);
  const addrs = (await getAddrs(dev, ns)).map((a) => `${a.local}/${a.prefixlen}`);
  assert.ok(addrs.includes(cidr), `${dev} in guest ${String(ns)} has ${addrs.join(', ')}, not ${cidr}`);
}

async function assertPing(from: NsRef, to: string, family: 4 | 6 = 4): Promise<void> {
  assert.ok(await ping(from, to, family, { retryMs: 4_000 }), `no ping reply from ${to} (IPv${family}) in guest ${String(from)}`);
}

/** Run argv in the network namespace of `pid` and return stdout. */
async function runInNs(pid: number, argv: string[]): Promise<string> {
  return shOk(['nsenter', `--net=/proc/${pid}/ns/net`, ...argv], { timeoutMs: 10_000 });
}

/** Host links whose master is `bridge`. */
async function bridgePorts(bridge: string): Promise<string[]> {
  const links = (await ipJson(['link', 'show', 'master', bridge])) as { ifname: string }[];
  return links.map((l) => l.ifname).sort();
}

// ---- host hygiene ---------------------------------------------------------------------------

/** Links this file could create or change: eth0/lo (never), our prefixes, our guests' veths. */
function ourLink(name: string): boolean {
  if (name === 'eth0' || name === 'lo' || name.startsWith(P) || name.startsWith(BR) || name.startsWith('pwg')) return true;
  const m = /^v.+pl(\d+)$/u.exec(name);
  return m !== null && ourPids.has(Number(m[1]));
}

function ourNetns(name: string): boolean {
  return name.startsWith('pwg') || (/^\d+$/u.test(name) && ourPids.has(Number(name)));
}

/** What changed between two snapshots in what this file could have touched. */
/**
 * The host end of a guest that has died (its PID is gone) vanishes on its own, some time
 * after the guest: the kernel tears a dead namespace's veths down asynchronously. That is
 * not a change made by the command under test.
 */
function goneWithDeadGuest(name: string): boolean {
  const pid = /^v.+pl(\d+)$/u.exec(name)?.[1];
  return pid !== undefined && !existsSync(`/proc/${pid}`);
}

function ourChanges(a: HostSnapshot, b: HostSnapshot): string[] {
  const out: string[] = [];
  const vanished = new Set(a.links.filter((l) => !b.links.some((x) => x.name === l.name) && goneWithDeadGuest(l.name)).map((l) => l.name));
  const byName = (s: HostSnapshot) =>
    new Map(s.links.filter((l) => ourLink(l.name) && !vanished.has(l.name)).map((l) => [l.name, JSON.stringify(l)]));
  const la = byName(a);
  const lb = byName(b);
  for (const n of new Set([...la.keys(), ...lb.keys()])) {
    if (la.get(n) !== lb.get(n)) out.push(`link ${n}: ${la.get(n) ?? 'absent'} -> ${lb.get(n) ?? 'absent'}`);
  }
  const ourRoute = (r: string) => {
    const dev = /\bdev=(\S+)/u.exec(r)?.[1];
    return dev === undefined || (ourLink(dev) && !vanished.has(dev));
  };
  for (const fam of ['routes4', 'routes6'] as const) {
    const ra = new Set(a[fam].filter(ourRoute));
    const rb = new Set(b[fam].filter(ourRoute));
    for (const r of ra) if (!rb.has(r)) out.push(`${fam} lost: ${r}`);
    for (const r of rb) if (!ra.has(r)) out.push(`${fam} gained: ${r}`);
  }
  const na = new Set(a.netns.filter(ourNetns));
  const nb = new Set(b.netns.filter(ourNetns));
  for (const n of na) if (!nb.has(n)) out.push(`netns lost: ${n}`);
  for (const n of nb) if (!na.has(n)) out.push(`netns gained: ${n}`);
  if (a.resolvConf !== b.resolvConf) out.push(`/etc/resolv.conf changed:\n${a.resolvConf}\n->\n${b.resolvConf}`);
  return out;
}

/**
 * assertHostUnchanged, tolerant of other test runs on the same machine: when the whole host
 * changed, it passes only if none of the changes is in what this file could have touched
 * (polled for 5 s, as the kernel tears down a dead namespace's veths asynchronously).
 */
async function checkHostUnchanged(before: HostSnapshot): Promise<void> {
  try {
    await assertHostUnchanged(before, 1_000);
    return;
  } catch {
    // Something changed: is it ours?
  }
  let changes: string[];
  const deadline = Date.now() + 5_000;
  for (;;) {
    changes = ourChanges(before, await snapshotHost());
    if (changes.length === 0) return;
    if (Date.now() >= deadline) break;
    await sleep(200);
  }
  assert.fail(`the host changed:\n${changes.join('\n')}`);
}

/** Every cgroup hierarchy's mount point. */
function cgroupMounts(): { mnt: string; v2: boolean; devices: boolean }[] {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[2] === 'cgroup' || f[2] === 'cgroup2')
    .map((f) => ({ mnt: f[1] ?? '', v2: f[2] === 'cgroup2', devices: (f[3] ?? '').split(',').includes('devices') }));
}

/** The hierarchies pipework (and the classic tool) look in: cgroup v2 and the v1 devices one. */
function lookupRoots(): string[] {
  return cgroupMounts().filter((m) => m.v2 || m.devices).map((m) => m.mnt);
}

/**
 * A directory of symlinks to every program on PATH except `hidden`: with PATH set to it,
 * pipework cannot fall back to those programs, which proves which lookup found a guest.
 */
function pathWithout(hidden: readonly string[]): { dir: string; dispose: () => void } {
  const dir = mkdtempSync(join(SCRATCH, 'pwgbin-'));
  const seen = new Set<string>(hidden);
  for (const d of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    if (d === '' || !existsSync(d)) continue;
    for (const entry of readdirSync(d)) {
      if (seen.has(entry)) continue;
      seen.add(entry);
      symlinkSync(join(d, entry), join(dir, entry));
    }
  }
  for (const h of hidden) assert.equal(existsSync(join(dir, h)), false);
  return { dir, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

// ---- processes this file starts ---------------------------------------------------------------

interface Sleeper {
  pid: number;
  stop(): Promise<void>;
}

const hostNetnsIno = (): number => statSync('/proc/self/ns/net').ino;

/** `sleep 300`, in a new network namespace (`unshare --net`) or in the host's. Killed by PID. */
async function startSleeper(ownNetns: boolean): Promise<Sleeper> {
  const argv = ownNetns ? ['unshare', '--net', 'sleep', '300'] : ['sleep', '300'];
  const child: ChildProcess = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`cannot start ${argv.join(' ')}`);
  ourPids.add(pid);
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    await Promise.race([exited, sleep(5_000)]);
  };
  try {
    // Until unshare has exec'd sleep, /proc/PID/cmdline names unshare; until then the netns
    // may still be the host's.
    await waitFor(`${argv.join(' ')} (pid ${pid}) to run`, () => {
      try {
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0];
        if (cmd !== 'sleep') return false;
        return ownNetns ? statSync(`/proc/${pid}/ns/net`).ino !== hostNetnsIno() : true;
      } catch {
        return false;
      }
    }, 5_000, 20);
  } catch (e) {
    await stop();
    throw e;
  }
  return { pid, stop };
}

async function cleanupAll(): Promise<void> {
  if (await docker.dockerAvailable()) await docker.removeContainersByPrefix(P);
  await podman.removeContainersByPrefix(P);
  await lxc.destroyByPrefix(P);
  await cleanupPrefix(P);
  await cleanupPrefix(BR);
}

let hostBefore: HostSnapshot;
const resolvBefore = readFileSync('/etc/resolv.conf', 'utf8');

before(async () => {
  assert.equal(process.getuid?.(), 0, 'the integration tests run as root');
  await cleanupAll();
  hostBefore = await snapshotHost();
});

after(async () => {
  await cleanupAll();
  await checkHostUnchanged(hostBefore);
  assert.equal(readFileSync('/etc/resolv.conf', 'utf8'), resolvBefore, '/etc/resolv.conf changed');
});

// ---- Docker ------------------------------------------------------------------------------------

void describe('Docker guests', () => {
  const bridge = `${BR}d`;
  const absentBridge = `${BR}z`;
  let d1: docker.DockerContainer;
  let d2: docker.DockerContainer;

  before(async () => {
    assert.equal(await docker.dockerAvailable(), true, 'Docker does not answer on /var/run/docker.sock (scripts/test.sh starts dockerd)');
    await docker.ensureImage();
    d1 = await docker.runContainer(`${P}d1`);
    d2 = await docker.runContainer(`${P}d2`);
    ourPids.add(d1.pid);
    ourPids.add(d2.pid);
  });

  after(async () => {
    await docker.removeContainersByPrefix(P);
    await cleanupPrefix(BR);
  });

  void test('--dry-run prints the plan and changes nothing', async () => {
    await assertNoLink(bridge);
    const snap = await snapshotHost();
    const args = ['--dry-run', bridge, d1.name, '10.91.0.1/24'];
    const r = await pwOk(args);
    // Lines a shell runs as shown: the guest named by its PID.
    assert.match(r.stdout, new RegExp(`^# docker container ${d1.name} \\(pid ${d1.pid}\\)$`, 'mu'), show(args, r));
    assert.match(r.stdout, new RegExp(`^ip link add name ${bridge} type bridge\\b`, 'mu'), show(args, r));
    assert.match(r.stdout, new RegExp(`^ip link add (name )?veth1pl${d1.pid}\\b.* type veth peer name eth1\\b.* netns ${d1.pid} `, 'mu'), show(args, r));
    assert.match(r.stdout, new RegExp(`^nsenter --net=/proc/${d1.pid}/ns/net ip addr add 10\\.91\\.0\\.1/24 brd 10\\.91\\.0\\.255 dev eth1`, 'mu'), show(args, r));
    await checkHostUnchanged(snap);
    await assertNoLink(bridge);
    await assertNoLink(`veth1pl${d1.pid}`);
    await assertNoLink('eth1', d1.pid);
  });

  void test('by name: a missing br* bridge is created; the host end is veth1pl<PID> on it', async () => {
    await pwOk([bridge, d1.name, '10.91.0.1/24']);
    await assertBridge(bridge);
    await assertBridgedVeth(`veth1pl${d1.pid}`, bridge);
    await assertGuestAddr(d1.pid, 'eth1', '10.91.0.1/24');
  });

  void test('by full id; the two containers ping each other over IPv4', async () => {
    assert.equal(d2.id.length, 64);
    await pwOk([bridge, d2.id, '10.91.0.2/24']);
    await assertBridgedVeth(`veth1pl${d2.pid}`, bridge);
    await assertGuestAddr(d2.pid, 'eth1', '10.91.0.2/24');
    await assertPing(d1.pid, '10.91.0.2');
    await assertPing(d2.pid, '10.91.0.1');
  });

  void test('by unique id prefix (short id and a shorter one) and with docker:', async () => {
    const all = JSON.parse((await docker.dockerApi('GET', '/containers/json?all=true')).body) as { Id: string }[];
    const ids = all.map((c) => c.Id);
    let len = 5;
    while (len < 64 && (!/\D/u.test(d1.id.slice(0, len)) || ids.filter((id) => id.startsWith(d1.id.slice(0, len))).length !== 1)) len++;
    const shortest = d1.id.slice(0, len);
    await pwOk([bridge, '-i', 'eth2', shortest, '10.91.2.1/24']);
    await assertBridgedVeth(`veth2pl${d1.pid}`, bridge);
    await assertGuestAddr(d1.pid, 'eth2', '10.91.2.1/24');
    await pwOk([bridge, '-i', 'eth2', d2.id.slice(0, 12), '10.91.2.2/24']);
    await assertBridgedVeth(`veth2pl${d2.pid}`, bridge);
    await assertGuestAddr(d2.pid, 'eth2', '10.91.2.2/24');
    await assertPing(d2.pid, '10.91.2.1');
    await pwOk([bridge, '-i', 'eth3', `docker:${d1.name}`, '10.91.3.1/24']);
    await assertBridgedVeth(`veth3pl${d1.pid}`, bridge);
    await assertGuestAddr(d1.pid, 'eth3', '10.91.3.1/24');
  });

  void test('IPv6 with -a 6: pipework enables IPv6 on the new link; the containers ping over it', async () => {
    const readSysctl = async (pid: number, path: string) =>
      (await runInNs(pid, ['cat', `/proc/sys/net/ipv6/conf/${path}/disable_ipv6`])).trim();
    // Docker starts its containers with IPv6 disabled; new links inherit that.
    assert.equal(await readSysctl(d1.pid, 'default'), '1', 'precondition: Docker disables IPv6 in containers');
    await pwOk([bridge, '-i', 'eth6', '-a', '6', d1.name, 'fd91::1/64']);
    await pwOk([bridge, '-i', 'eth6', '-a', '6', d2.name, 'fd91::2/64']);
    await assertBridgedVeth(`veth6pl${d1.pid}`, bridge);
    await assertBridgedVeth(`veth6pl${d2.pid}`, bridge);
    assert.equal(await readSysctl(d1.pid, 'eth6'), '0');
    assert.equal(await readSysctl(d2.pid, 'eth6'), '0');
    await waitDad('eth6', d1.pid, 5_000);
    await waitDad('eth6', d2.pid, 5_000);
    await assertGuestAddr(d1.pid, 'eth6', 'fd91::1/64');
    await assertGuestAddr(d2.pid, 'eth6', 'fd91::2/64');
    await assertPing(d1.pid, 'fd91::2', 6);
    await assertPing(d2.pid, 'fd91::1', 6);
  });

  void test('DOCKER_HOST=unix:///var/run/docker.sock works; unix:///nonexistent gives "not found"', async () => {
    await pwOk([bridge, '-i', 'eth7', d2.name, '10.91.7.2/24'], { DOCKER_HOST: 'unix:///var/run/docker.sock' });
    await assertBridgedVeth(`veth7pl${d2.pid}`, bridge);
    await assertGuestAddr(d2.pid, 'eth7', '10.91.7.2/24');
    const snap = await snapshotHost();
    await pwFails([bridge, '-i', 'eth7', d1.name, '10.91.7.1/24'], /not found/iu, { DOCKER_HOST: 'unix:///nonexistent' });
    await checkHostUnchanged(snap);
    await assertNoLink('eth7', d1.pid);
  });

  void test('a created but not started container: exit 1, "not running" (PID 0), after the classic retries', async () => {
    const name = `${P}d3`;
    const created = await docker.dockerApi('POST', `/containers/create?name=${name}`, {
      json: { Image: docker.DOCKER_TEST_IMAGE, Cmd: ['sleep', '300'], HostConfig: { NetworkMode: 'none' } },
    });
    assert.equal(created.status, 201, created.body);
    const snap = await snapshotHost();
    const t0 = Date.now();
    await pwFails([absentBridge, name, '10.91.9.3/24'], /not running|PID 0/iu);
    const ms = Date.now() - t0;
    assert.ok(ms >= 1_800 && ms < 8_000, `took ${ms} ms; the classic tool retries 3 times, 1 s apart (~2 s)`);
    await checkHostUnchanged(snap);
    await assertNoLink(absentBridge);
  });

  void test('a container on the host network (--network host) is refused and changes nothing', async () => {
    const h = await docker.runContainer(`${P}dh`, docker.DOCKER_TEST_IMAGE, ['sleep', '300'], { networkMode: 'host' });
    ourPids.add(h.pid);
    const snap = await snapshotHost();
    await pwFails([absentBridge, h.name, '10.91.9.4/24'], /shares the host's network namespace/iu);
    await checkHostUnchanged(snap);
    await assertNoLink(absentBridge);
    await assertNoLink(`veth1pl${h.pid}`);
  });

  void test('an unknown name: exit 1, "not found", host unchanged, no bridge made', async () => {
    const snap = await snapshotHost();
    const t0 = Date.now();
    await pwFails([absentBridge, `${P}nosuch${process.pid}`, '10.91.9.9/24'], /not found/iu);
    assert.ok(Date.now() - t0 < 10_000);
    await pwFails([absentBridge, `docker:${P}nosuch${process.pid}`, '10.91.9.9/24'], /not found/iu);
    await checkHostUnchanged(snap);
    await assertNoLink(absentBridge);
  });

  void test('an id prefix matching several containers: exit 1, "more than one"', async () => {
    // Create (not start) containers until two of ours share their first hex digit (at most 17).
    const made: { id: string }[] = [];
    let shared: string | undefined;
    for (let i = 0; i < 17 && shared === undefined; i++) {
      const r = await docker.dockerApi('POST', `/containers/create?name=${P}amb${i}`, {
        json: { Image: docker.DOCKER_TEST_IMAGE, Cmd: ['sleep', '300'], HostConfig: { NetworkMode: 'none' } },
      });
      assert.equal(r.status, 201, r.body);
      const { Id } = JSON.parse(r.body) as { Id: string };
      shared = made.find((m) => m.id[0] === Id[0])?.id[0];
      made.push({ id: Id });
    }
    assert.ok(shared !== undefined);
    const snap = await snapshotHost();
    await pwFails([absentBridge, `docker:${shared}`, '10.91.9.8/24'], /more than one|multiple/iu);
    await checkHostUnchanged(snap);
  });
});

// ---- Podman ------------------------------------------------------------------------------------

void describe('Podman guests', () => {
  const bridge = `${BR}p`;
  const bridge2 = `${BR}q`;
  let peer: docker.DockerContainer;
  let p1: podman.PodmanContainer;
  let p2: podman.PodmanContainer;
  const services: podman.PodmanService[] = [];
  const scratch: { dispose: () => void }[] = [];

  before(async () => {
    assert.equal(await docker.dockerAvailable(), true, 'Docker does not answer');
    assert.equal(await podman.podmanAvailable(), true, 'podman does not work');
    await docker.ensureImage();
    await podman.ensureImage();
    peer = await docker.runContainer(`${P}pd`);
    ourPids.add(peer.pid);
    await pwOk([bridge, peer.name, '10.92.0.1/24']);
    p1 = await podman.runContainer(`${P}p1`);
    p2 = await podman.runContainer(`${P}p2`);
    ourPids.add(p1.pid);
    ourPids.add(p2.pid);
  });

  after(async () => {
    for (const s of services) await s.stop();
    for (const s of scratch) s.dispose();
    await podman.removeContainersByPrefix(P);
    await docker.removeContainersByPrefix(P);
    await cleanupPrefix(BR);
  });

  void test('through the podman CLI (no API service): plumbed, pings a Docker container', async () => {
    assert.equal(existsSync('/run/podman/podman.sock'), false, 'precondition: no podman service on /run/podman/podman.sock');
    await pwOk([bridge, p1.name, '10.92.0.2/24'], { CONTAINER_HOST: undefined });
    await assertBridgedVeth(`veth1pl${p1.pid}`, bridge);
    await assertGuestAddr(p1.pid, 'eth1', '10.92.0.2/24');
    await assertPing(p1.pid, '10.92.0.1');
    await assertPing(peer.pid, '10.92.0.2');
  });

  void test('through `podman system service` on CONTAINER_HOST (podman CLI hidden): pings a Docker container', async () => {
    const sock = join(SCRATCH, `${P}podman-${process.pid}.sock`);
    const svc = await podman.startService(sock);
    services.push(svc);
    const noPodman = pathWithout(['podman']);
    scratch.push(noPodman);
    // Control: with the CLI hidden and no service named, pipework cannot find a podman container.
    await pwFails([bridge, p2.name, '10.92.0.3/24'], /not found/iu, { PATH: noPodman.dir, CONTAINER_HOST: undefined });
    await assertNoLink('eth1', p2.pid);
    await pwOk([bridge, p2.name, '10.92.0.3/24'], { PATH: noPodman.dir, CONTAINER_HOST: `unix://${sock}` });
    await assertBridgedVeth(`veth1pl${p2.pid}`, bridge);
    await assertGuestAddr(p2.pid, 'eth1', '10.92.0.3/24');
    await assertPing(p2.pid, '10.92.0.1');
    await assertPing(peer.pid, '10.92.0.3');
    await assertPing(p2.pid, '10.92.0.2');
    // The service is stopped by its PID.
    await svc.stop();
    assert.throws(() => process.kill(svc.pid, 0), 'podman system service still running');
    assert.equal(existsSync(sock), false);
  });

  void test('a created but not started podman container: exit 1, "not running" (PID 0), after the retries', async () => {
    const name = `${P}p3`;
    await podman.podmanOk(['create', '--name', name, '--network', 'none', podman.PODMAN_TEST_IMAGE, 'sleep', '300']);
    const snap = await snapshotHost();
    for (const ref of [name, `podman:${name}`]) {
      const t0 = Date.now();
      await pwFails([`${BR}z`, ref, '10.92.9.3/24'], /not running|PID 0/iu, { CONTAINER_HOST: undefined });
      const ms = Date.now() - t0;
      assert.ok(ms >= 1_800 && ms < 15_000, `${ref}: took ${ms} ms; expected the classic 3 tries, 1 s apart`);
    }
    await checkHostUnchanged(snap);
    await assertNoLink(`${BR}z`);
  });

  void test('podman: prefix; a Docker-only name under podman: is not found', async () => {
    await pwOk([bridge2, '-i', 'eth2', `podman:${p1.name}`, '10.92.1.2/24']);
    await pwOk([bridge2, '-i', 'eth2', `podman:${p2.id}`, '10.92.1.3/24']);
    await assertBridgedVeth(`veth2pl${p1.pid}`, bridge2);
    await assertBridgedVeth(`veth2pl${p2.pid}`, bridge2);
    await assertPing(p1.pid, '10.92.1.3');
    const snap = await snapshotHost();
    await pwFails([bridge2, '-i', 'eth3', `podman:${peer.name}`, '10.92.1.9/24'], /not found/iu);
    await checkHostUnchanged(snap);
  });
});

// ---- LXC ---------------------------------------------------------------------------------------

void describe('LXC guests', () => {
  const bridge = `${BR}l`;
  const ns = `${P}ln`;
  const l1 = `${P}l1`;
  const l2 = `${P}l2`;
  const l3 = `${P}l3`;
  /** cgroup parents LXC makes for custom layouts and leaves behind: removed if we made them. */
  const parents = ['lxc', 'pwgmon', 'pwgx', 'pwgxmon'];
  const preexisting = new Set<string>();
  let noLxcInfo: { dir: string; dispose: () => void } | undefined;

  before(async () => {
    assert.equal(await lxc.lxcAvailable(), true, 'the LXC tools are missing');
    for (const m of cgroupMounts()) for (const p of parents) if (existsSync(join(m.mnt, p))) preexisting.add(join(m.mnt, p));
    await addNetns(ns);
    await addBridge(bridge);
    await attachToBridge(ns, bridge, { hostIf: `${BR}lh`, guestIf: 'eth0', addrs: ['10.93.0.100/24'] });
    noLxcInfo = pathWithout(['lxc-info']);
  });

  after(async () => {
    noLxcInfo?.dispose();
    await lxc.destroyByPrefix(P);
    await cleanupPrefix(ns);
    await cleanupPrefix(BR);
    for (const m of cgroupMounts()) {
      for (const p of parents) {
        const dir = join(m.mnt, p);
        if (preexisting.has(dir)) continue;
        try {
          rmdirSync(dir);
        } catch {
          /* absent, or in use by someone else */
        }
      }
    }
  });

  void test('LXC 5 default layout (lxc.payload.NAME), found by its cgroup: pings a netns guest', async () => {
    const c = await lxc.runContainer(l1);
    ourPids.add(c.pid);
    const roots = lookupRoots();
    assert.ok(roots.some((r) => existsSync(join(r, `lxc.payload.${l1}`))), `no lxc.payload.${l1} under ${roots.join(', ')}`);
    // lxc-info hidden: only the cgroup lookup can find it.
    await pwOk([bridge, l1, '10.93.0.1/24'], { PATH: noLxcInfo!.dir });
    await assertBridgedVeth(`veth1pl${c.pid}`, bridge);
    await assertGuestAddr(c.pid, 'eth1', '10.93.0.1/24');
    await assertPing(c.pid, '10.93.0.100');
    await assertPing(ns, '10.93.0.1');
    // And once with the lxc: prefix.
    await pwOk([bridge, '-i', 'eth2', `lxc:${l1}`, '10.93.2.1/24'], { PATH: noLxcInfo!.dir });
    await assertBridgedVeth(`veth2pl${c.pid}`, bridge);
    await assertGuestAddr(c.pid, 'eth2', '10.93.2.1/24');
  });

  void test('lxc.cgroup.dir.container = lxc/NAME (the classic layout), found by its cgroup: pings a netns guest', async () => {
    // LXC 5 wants the monitor's cgroup dir set too ("lxc.cgroup.dir.payload and
    // lxc.cgroup.dir.monitor must both be set"), else the container does not start.
    const c = await lxc.runContainer(l2, { extraConfig: [`lxc.cgroup.dir.container = lxc/${l2}`, `lxc.cgroup.dir.monitor = pwgmon/${l2}`] });
    ourPids.add(c.pid);
    const roots = lookupRoots();
    assert.ok(roots.some((r) => existsSync(join(r, 'lxc', l2))), `no lxc/${l2} under ${roots.join(', ')}`);
    assert.ok(!roots.some((r) => existsSync(join(r, `lxc.payload.${l2}`))), `lxc.payload.${l2} exists too`);
    await pwOk([bridge, l2, '10.93.0.2/24'], { PATH: noLxcInfo!.dir });
    await assertBridgedVeth(`veth1pl${c.pid}`, bridge);
    await assertGuestAddr(c.pid, 'eth1', '10.93.0.2/24');
    await assertPing(c.pid, '10.93.0.100');
    await assertPing(ns, '10.93.0.2');
    await assertPing(c.pid, '10.93.0.1');
  });

  void test('a cgroup layout pipework does not know is found through lxc-info', async () => {
    const c = await lxc.runContainer(l3, { extraConfig: [`lxc.cgroup.dir.container = pwgx/${l3}`, `lxc.cgroup.dir.monitor = pwgxmon/${l3}`] });
    ourPids.add(c.pid);
    const snap = await snapshotHost();
    await pwFails([bridge, l3, '10.93.0.3/24'], /not found/iu, { PATH: noLxcInfo!.dir });
    await checkHostUnchanged(snap);
    await pwOk([bridge, l3, '10.93.0.3/24']);
    await assertBridgedVeth(`veth1pl${c.pid}`, bridge);
    await assertPing(c.pid, '10.93.0.100');
  });
});

// ---- PIDs and named netns --------------------------------------------------------------------

void describe('PID and named netns guests', () => {
  const bridge = `${BR}n`;
  const absentBridge = `${BR}y`;
  const n1 = `${P}n1`;
  const n2 = `${P}n2`;
  const sleepers: Sleeper[] = [];
  let s1: Sleeper;
  let s2: Sleeper;

  before(async () => {
    s1 = await startSleeper(true);
    sleepers.push(s1);
    s2 = await startSleeper(true);
    sleepers.push(s2);
    await addNetns(n1);
    await addNetns(n2);
  });

  after(async () => {
    for (const s of sleepers) await s.stop();
    await cleanupPrefix(n1);
    await cleanupPrefix(n2);
    await cleanupPrefix(BR);
  });

  void test('a plain PID (unshare --net sleep)', async () => {
    await pwOk([bridge, String(s1.pid), '10.94.0.1/24']);
    await assertBridge(bridge);
    await assertBridgedVeth(`veth1pl${s1.pid}`, bridge);
    await assertGuestAddr(s1.pid, 'eth1', '10.94.0.1/24');
  });

  void test('pid:<n>; the two PID guests ping each other', async () => {
    await pwOk([bridge, `pid:${s2.pid}`, '10.94.0.2/24']);
    await assertBridgedVeth(`veth1pl${s2.pid}`, bridge);
    await assertGuestAddr(s2.pid, 'eth1', '10.94.0.2/24');
    await assertPing(s1.pid, '10.94.0.2');
    await assertPing(s2.pid, '10.94.0.1');
  });

  void test('a named netns by name and with netns:, pinging the PID guests', async () => {
    const ports0 = await bridgePorts(bridge);
    await pwOk([bridge, n1, '10.94.0.3/24']);
    await pwOk([bridge, `netns:${n2}`, '10.94.0.4/24']);
    const added = (await bridgePorts(bridge)).filter((p) => !ports0.includes(p));
    assert.equal(added.length, 2, `new ports on ${bridge}: ${added.join(', ')}`);
    for (const p of added) {
      assert.ok(Buffer.byteLength(p) <= 15);
      await assertBridgedVeth(p, bridge);
    }
    await assertGuestAddr(n1, 'eth1', '10.94.0.3/24');
    await assertGuestAddr(n2, 'eth1', '10.94.0.4/24');
    await assertPing(n1, '10.94.0.4');
    await assertPing(n2, '10.94.0.1');
    await assertPing(s2.pid, '10.94.0.3');
  });

  void test('pid:1 (the host init, in the host netns) is refused and changes nothing', async () => {
    const snap = await snapshotHost();
    // Where /proc/1/ns/net can be opened the refusal is "shares the host's network namespace";
    // on VMs whose init has capabilities we lack, opening it fails (EACCES): refused either way.
    await pwFails([absentBridge, 'pid:1', '10.94.9.1/24'], /host's network namespace|cannot open the network namespace/iu);
    await checkHostUnchanged(snap);
    await assertNoLink(absentBridge);
    await assertNoLink('veth1pl1');
  });

  void test('a PID in the host netns is refused: "shares the host\'s network namespace"', async () => {
    const h = await startSleeper(false);
    sleepers.push(h);
    const snap = await snapshotHost();
    await pwFails([absentBridge, `pid:${h.pid}`, '10.94.9.2/24'], /shares the host's network namespace/iu);
    await pwFails([absentBridge, String(h.pid), '10.94.9.2/24'], /shares the host's network namespace/iu);
    await checkHostUnchanged(snap);
    await assertNoLink(absentBridge);
    await assertNoLink(`veth1pl${h.pid}`);
  });

  void test('netns:/pid: with nothing behind them: exit 1, "not found"/"no process"', async () => {
    const snap = await snapshotHost();
    await pwFails([absentBridge, `netns:${P}nosuch`, '10.94.9.3/24'], /not found/iu);
    await pwFails([absentBridge, 'pid:2147483647', '10.94.9.3/24'], /no process|not found/iu);
    await checkHostUnchanged(snap);
    await assertNoLink(absentBridge);
  });
});
