// DHCP and Docker: the `dhcp` method (busybox udhcpc in a helper container that shares the
// guest's network and PID namespaces, from a locally built busybox image), its refusals, its
// bounded failure and its teardown; and a host client (udhcpc) writing the lease's DNS servers
// into the container's own resolv.conf, never the host's. A real dnsmasq serves. Run as root.
//
// Names: containers and netns `pwd-k…`, bridges `brpwdk…`, host links `pwdk…`.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanupPrefix } from './helpers/guard.js';
import { addBridge, addNetns, getLink } from './helpers/netns.js';
import { runPipework, type RunResult } from './helpers/run.js';
import * as docker from './helpers/docker.js';
import { addressesIn, clientsIn, defaultRoutes, removeDhcpFiles, startDhcpServer, type DhcpServer } from './helpers/dhcp-server.js';

const PREFIX = 'pwd-k';
const BR = 'brpwdk1';
const NET = '10.251.72';
const IMAGE = docker.DOCKER_TEST_IMAGE;
const RESOLV_AT_START = readFileSync('/etc/resolv.conf', 'utf8');
const HAVE = ['dnsmasq', 'udhcpc'].every((p) => ['/usr/sbin', '/usr/bin'].some((d) => existsSync(`${d}/${p}`)));

let dockerOk = false;
let server: DhcpServer | undefined;
let scratch: string;

function show(args: readonly string[], r: RunResult): string {
  return `pipework ${args.join(' ')}\nexit ${r.code}\nstdout: ${JSON.stringify(r.stdout)}\nstderr: ${JSON.stringify(r.stderr)}`;
}
async function pw(args: string[]): Promise<RunResult> {
  return runPipework(args, { timeoutMs: 60_000 });
}
async function pwOk(args: string[]): Promise<RunResult> {
  const r = await pw(args);
  assert.equal(r.code, 0, show(args, r));
  assert.equal(r.stderr, '', show(args, r));
  return r;
}
function assertResolv(): void {
  assert.equal(readFileSync('/etc/resolv.conf', 'utf8'), RESOLV_AT_START, "the host's /etc/resolv.conf changed");
}
const helperOf = (id: string): string => `pipework-dhcp-${id.slice(0, 12)}-eth1`;
async function helperExists(id: string): Promise<boolean> {
  return (await docker.inspectContainer(helperOf(id))) !== undefined;
}

async function cleanup(): Promise<void> {
  if (dockerOk) {
    for (const name of await docker.listContainers()) {
      if (!name.startsWith(PREFIX)) continue;
      const c = await docker.inspectContainer(name);
      if (c !== undefined) await docker.removeContainer(helperOf(c.Id));
      await docker.removeContainer(name);
    }
  }
  await cleanupPrefix(PREFIX);
  await cleanupPrefix('brpwdk');
  await cleanupPrefix('pwdk');
  removeDhcpFiles(PREFIX);
}

before(async () => {
  dockerOk = HAVE && (await docker.dockerAvailable());
  if (!dockerOk) return;
  await cleanup();
  await docker.ensureImage(IMAGE);
  scratch = mkdtempSync(join(process.env['PIPEWORK_TEST_TMP'] ?? tmpdir(), 'pwd-k'));
  await addBridge(BR);
  server = await startDhcpServer({ ns: 'pwd-ksrv', hostEnd: 'pwdksrv', bridge: BR, net: NET, dir: scratch });
});

after(async () => {
  if (!dockerOk) return;
  await server?.stop();
  await cleanup();
  rmSync(scratch, { recursive: true, force: true });
  assertResolv();
});

void describe('DHCP with Docker containers', { skip: HAVE ? false : 'dnsmasq or udhcpc is not installed' }, () => {
  void test("the 'dhcp' method: a helper container shares the guest's network and PIDs; the lease, the route, the guest's DNS; del removes the helper", async (t) => {
    if (!dockerOk) return t.skip('Docker is not running');
    const c = await docker.runContainer(`${PREFIX}help`);
    await pwOk([BR, c.name, 'dhcp', '--dhcp-image', IMAGE]);
    const addrs = await addressesIn(c.pid, 'eth1');
    assert.match(addrs[0] ?? '', /^10\.251\.72\.(1[0-4]\d|150)\/24$/u);
    assert.deepEqual(await defaultRoutes(c.pid), [`default via ${NET}.1 dev eth1`]);
    const helper = await docker.inspectContainer(helperOf(c.id));
    assert.ok(helper?.State.Running, 'the helper runs');
    assert.equal(helper.HostConfig.NetworkMode, `container:${c.id}`);
    const raw = JSON.parse((await docker.dockerApi('GET', `/containers/${helper.Id}/json`)).body) as { HostConfig: { PidMode: string; AutoRemove: boolean } };
    assert.equal(raw.HostConfig.PidMode, `container:${c.id}`);
    assert.equal(raw.HostConfig.AutoRemove, true);
    assert.match(readFileSync(`/proc/${c.pid}/root/etc/resolv.conf`, 'utf8'), new RegExp(`^nameserver ${NET}\\.53$`, 'mu'));
    assert.match((await pwOk(['ls', c.name])).stdout, /,dhcp:dhcp /u);
    // Idempotent.
    assert.equal((JSON.parse((await pwOk([BR, c.name, 'dhcp', '--dhcp-image', IMAGE, '--json'])).stdout) as { outcome: string }).outcome, 'unchanged');
    await pwOk(['del', c.name]);
    assert.equal(await helperExists(c.id), false, 'del removed the helper');
    assert.deepEqual(await addressesIn(c.pid, 'eth1'), []);
    assertResolv();
  });

  void test("--replace from 'dhcp' to a static address removes the helper first", async (t) => {
    if (!dockerOk) return t.skip('Docker is not running');
    const c = await docker.runContainer(`${PREFIX}repl`);
    await pwOk([BR, c.name, 'dhcp', '--dhcp-image', IMAGE]);
    assert.ok(await helperExists(c.id));
    await pwOk([BR, c.name, `${NET}.9/24`, '--replace']);
    assert.equal(await helperExists(c.id), false);
    assert.deepEqual(await addressesIn(c.pid, 'eth1'), [`${NET}.9/24`]);
  });

  void test("the 'dhcp' method's refusals: an image that is not here, a guest that is not a container — nothing changes", async (t) => {
    if (!dockerOk) return t.skip('Docker is not running');
    const c = await docker.runContainer(`${PREFIX}noimg`);
    let args = [BR, c.name, 'dhcp', '--dhcp-image', 'pwd-no-such-image:1'];
    let r = await pw(args);
    assert.equal(r.code, 1, show(args, r));
    assert.match(r.stderr, /^pipework: the 'dhcp' method needs the image pwd-no-such-image:1 for its helper container, and docker does not have it \(pipework does not pull images\)[^\n]*--dhcp-image\n$/u);
    assert.equal(await getLink('eth1', c.pid), undefined);
    assert.equal(await helperExists(c.id), false);
    await addNetns(`${PREFIX}ns`);
    args = [BR, `${PREFIX}ns`, 'dhcp'];
    r = await pw(args);
    assert.equal(r.code, 1, show(args, r));
    assert.match(r.stderr, /^pipework: you asked for the Docker-specific DHCP method 'dhcp'[^\n]* is not a Docker or Podman container; use udhcpc, dhclient or dhcpcd instead\n$/u);
    assert.equal(await getLink('eth1', `${PREFIX}ns`), undefined);
  });

  void test("the 'dhcp' method without a server: bounded, the helper and the interface are gone", async (t) => {
    if (!dockerOk) return t.skip('Docker is not running');
    const c = await docker.runContainer(`${PREFIX}nosrv`);
    const args = ['brpwdk2', c.name, 'dhcp', '--dhcp-image', IMAGE, '--dhcp-timeout', '2'];
    const t0 = Date.now();
    const r = await pw(args);
    assert.equal(r.code, 1, show(args, r));
    assert.match(r.stderr, /DHCP \(dhcp\): no DHCP lease on eth1 within 2 s/u, show(args, r));
    assert.ok(Date.now() - t0 < 15_000);
    assert.equal(await helperExists(c.id), false);
    assert.equal(await getLink('eth1', c.pid), undefined);
    assert.equal(await getLink('brpwdk2'), undefined);
  });

  void test("a host client on a Docker guest writes the DNS servers into the container's resolv.conf, never the host's", async (t) => {
    if (!dockerOk) return t.skip('Docker is not running');
    const c = await docker.runContainer(`${PREFIX}udh`);
    const inode = statSync(`/proc/${c.pid}/ns/net`).ino;
    await pwOk([BR, c.name, 'udhcpc']);
    const resolv = readFileSync(`/proc/${c.pid}/root/etc/resolv.conf`, 'utf8');
    assert.match(resolv, /^# Written by pipework from the DHCP lease on eth1 \(udhcpc, netns \d+\)\n/u);
    assert.match(resolv, new RegExp(`^nameserver ${NET}\\.53$`, 'mu'));
    assert.match(resolv, /^search pwd\.test$/mu);
    const info = JSON.parse((await docker.dockerApi('GET', `/containers/${c.id}/json`)).body) as { ResolvConfPath: string };
    assert.equal(readFileSync(info.ResolvConfPath, 'utf8'), resolv, "it is the container's ResolvConfPath");
    assert.deepEqual(clientsIn(inode), []);
    assertResolv();
    await pwOk(['del', c.name]);
  });
});
