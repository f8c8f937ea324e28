// pipework watch against the real engines: the machine's dockerd and a Podman service of the
// test's own (podman system service on its own socket, stopped by PID). Labelled containers
// started before and after the watcher are plumbed and ping each other; a restart is plumbed
// again; an OVS label's port row is gone once its container dies; a bad label, a label naming a
// host interface outside --allow and a label from the image are logged and change nothing;
// --once; a container that dies while being plumbed and a SIGTERM mid-work leave nothing. Root.
//
// Names: containers wa-…, bridges br-wa…, OVS bridges ovs-wa…, addresses 10.247.x.y.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanupPrefix } from './helpers/guard.js';
import { clientsIn, dhcpAgentPath, dhcpStateKeys, removeDhcpFiles, startDhcpServer, stopDhcpClients, type DhcpServer } from './helpers/dhcp-server.js';
import * as docker from './helpers/docker.js';
import { addBridge, addNetns, delNetns, ip } from './helpers/netns.js';
import * as podman from './helpers/podman.js';
import { repoRoot, runPipework, sh, shOk, waitFor } from './helpers/run.js';
import {
  addressesOf, dockerKill, dockerRemove, dockerRemovePrefix, dockerRestart, dockerRun, linksOf, ovsRowsOf, pingFrom, runningPid,
  startWatcher, type Started, type WatcherProc, type WatchLine,
} from './watch-lib.js';

const DOCKER = '/var/run/docker.sock';
const PODMAN = '/tmp/wa-podman.sock';
const BR = 'br-wa1';
const OVS = 'ovs-wa1';
/** A bridge of the test's own with a DHCP server on it. */
const DHCP_BR = 'br-wa3';
/** A "NIC" for macvlan children: one end of a veth pair whose other end is in netns wa-peer. */
const NIC = 'wa-nic0';
const IMAGE_WITH_LABEL = 'wa-labelled:latest';
// OVS labels ask VLAN 10 or none: both are granted (without @ a host interface is served untagged only).
const ALLOW = ['--allow', `${BR},${OVS},${OVS}@10,${DHCP_BR},${NIC}`];
const SOCKETS = ['--docker', DOCKER, '--podman', PODMAN];

let service: podman.PodmanService | undefined;
let dhcp: DhcpServer | undefined;
let scratch: string | undefined;
let watcher: WatcherProc | undefined;
const started = new Map<string, Started>();

const attached = (name: string, iface = 'eth1', result = 'created') => (l: WatchLine) =>
  l.action === 'attach' && l.container === name && l.interface === iface && l.result === result;

async function podmanRun(name: string, labels: Record<string, string>): Promise<Started> {
  const c = await podman.runContainer(name, podman.PODMAN_TEST_IMAGE, ['sleep', '3600'], { labels });
  return { id: c.id, name, pid: c.pid };
}

function bridgePorts(bridge: string): string[] {
  try {
    return readdirSync(`/sys/class/net/${bridge}/brif`);
  } catch {
    return [];
  }
}

async function cleanup(): Promise<void> {
  await dockerRemovePrefix(DOCKER, 'wa-');
  await stopDhcpClients(dhcpAgentPath(repoRoot), 'wa-');
  removeDhcpFiles('wa-');
  if (service !== undefined) {
    for (const n of await podman.listContainers()) if (n.startsWith('wa-')) await podman.removeContainer(n);
  }
  await cleanupPrefix('br-wa');
  await cleanupPrefix('ovs-wa');
  await delNetns('wa-peer');
  await cleanupPrefix('wa-nic');
}

describe('pipework watch on Docker and Podman', { timeout: 300_000 }, () => {
  before(async () => {
    assert.ok(await docker.dockerAvailable(), 'these tests need the machine dockerd on /var/run/docker.sock');
    assert.ok(await podman.podmanAvailable(), 'these tests need podman');
    await docker.ensureImage();
    await podman.ensureImage();
    service = await podman.startService(PODMAN);
    await cleanup();
    // Two containers that run before the watcher does.
    started.set('wa-d1', await dockerRun(DOCKER, 'wa-d1', { labels: { 'pipework.eth1': `${BR} 10.247.1.1/24` } }));
    started.set('wa-p1', await podmanRun('wa-p1', { 'pipework.eth1': `${BR} 10.247.1.2/24` }));
    watcher = await startWatcher([...ALLOW, ...SOCKETS]);
  });

  after(async () => {
    if (watcher) await watcher.stop('SIGKILL');
    await cleanup();
    await sh(['docker', 'rmi', '-f', IMAGE_WITH_LABEL], { timeoutMs: 30_000 });
    await dhcp?.stop();
    await service?.stop();
    if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
  });

  test('containers running before it starts are plumbed, and ping each other', async () => {
    const w = watcher!;
    await w.waitFor('wa-d1 plumbed', attached('wa-d1'));
    await w.waitFor('wa-p1 plumbed', attached('wa-p1'));
    assert.deepEqual(await addressesOf(started.get('wa-d1')!.pid, 'eth1'), ['10.247.1.1/24']);
    assert.deepEqual(await addressesOf(started.get('wa-p1')!.pid, 'eth1'), ['10.247.1.2/24']);
    assert.ok(await pingFrom(started.get('wa-d1')!.pid, '10.247.1.2'), 'docker wa-d1 → podman wa-p1');
    assert.ok(await pingFrom(started.get('wa-p1')!.pid, '10.247.1.1'), 'podman wa-p1 → docker wa-d1');
    const line = w.lines.find(attached('wa-d1'))!;
    assert.equal(line.trigger, 'list');
    // Owned by the watcher: `pipework ls --owner watch` says so, and `del` (the command line's) leaves it.
    const ls = await runPipework(['ls', '--owner', 'watch', '--json', `docker:wa-d1`]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /"owner": "watch"/u);
    const del = await runPipework(['del', 'docker:wa-d1']);
    assert.notEqual(del.code, 0, 'the command line does not remove what the watcher made');
    assert.match(del.stderr, /plumbed by watch/u);
    assert.deepEqual(await addressesOf(started.get('wa-d1')!.pid, 'eth1'), ['10.247.1.1/24']);
    assert.equal(line.hostIf, BR);
    assert.equal(line.runtime, 'docker');
    assert.equal(typeof line.durationMs, 'number');
  });

  test('containers started afterwards are plumbed: a pipework_cmd variable, two labels at once (bridge and OVS)', async () => {
    const w = watcher!;
    started.set('wa-d2', await dockerRun(DOCKER, 'wa-d2', { env: ['pipework_cmd=br-wa1 -i eth1 @CONTAINER_NAME@ 10.247.1.1@INSTANCE@/24'] }));
    started.set('wa-p2', await podmanRun('wa-p2', { 'pipework.eth1': `${BR} 10.247.1.22/24`, 'pipework.eth2': `${OVS} 10.247.2.22/24 @10` }));
    const d2 = await w.waitFor('wa-d2 plumbed', attached('wa-d2'));
    assert.equal(d2.trigger, 'start');
    assert.equal(d2.source, 'variable pipework_cmd');
    assert.equal(typeof d2.sinceEventMs, 'number');
    await w.waitFor('wa-p2 eth1', attached('wa-p2', 'eth1'));
    await w.waitFor('wa-p2 eth2', attached('wa-p2', 'eth2'));
    assert.deepEqual(await addressesOf(started.get('wa-d2')!.pid, 'eth1'), ['10.247.1.12/24']);
    assert.deepEqual(await addressesOf(started.get('wa-p2')!.pid, 'eth2'), ['10.247.2.22/24']);
    assert.ok(await pingFrom(started.get('wa-d1')!.pid, '10.247.1.12'), 'wa-d1 → wa-d2');
    assert.ok(await pingFrom(started.get('wa-d2')!.pid, '10.247.1.22'), 'wa-d2 → wa-p2');
    const rows = await ovsRowsOf(started.get('wa-p2')!.id);
    assert.equal(rows.length, 1, 'one OVS port for wa-p2 eth2');
  });

  test('a restart brings a new namespace: plumbed again', async () => {
    const w = watcher!;
    const before = started.get('wa-d1')!;
    const from = w.lines.length;
    await dockerRestart(DOCKER, before.id);
    const pid = await runningPid(DOCKER, before.id, before.pid);
    started.set('wa-d1', { ...before, pid });
    const line = await w.waitFor('wa-d1 plumbed again', (l) => attached('wa-d1')(l) && l.trigger === 'start', 20_000, from);
    assert.equal(line.result, 'created');
    assert.deepEqual(await addressesOf(pid, 'eth1'), ['10.247.1.1/24']);
    assert.ok(await pingFrom(pid, '10.247.1.2'), 'the restarted wa-d1 → wa-p1');
  });

  test("an OVS label's port row is gone once its container dies", async () => {
    const w = watcher!;
    const c = await dockerRun(DOCKER, 'wa-d3', { labels: { 'pipework.eth1': `${OVS} 10.247.2.3/24 @10` } });
    const line = await w.waitFor('wa-d3 plumbed', attached('wa-d3'));
    assert.ok(await pingFrom(c.pid, '10.247.2.22'), 'wa-d3 → wa-p2 on the same OVS tag');
    const rows = await ovsRowsOf(c.id);
    assert.equal(rows.length, 1, `one port row for wa-d3: ${rows.join(', ')}`);
    const from = w.lines.length;
    await dockerKill(DOCKER, c.id);
    const cleaned = await w.waitFor('wa-d3 cleaned', (l) => l.action === 'clean' && l.container === 'wa-d3', 20_000, from);
    assert.equal(cleaned.result, 'removed', JSON.stringify(cleaned));
    assert.match(cleaned.message ?? '', new RegExp(`stale Open vSwitch port ${rows[0]!} of ${OVS}`, 'u'));
    assert.deepEqual(await ovsRowsOf(c.id), []);
    assert.ok(!existsSync(`/sys/class/net/${rows[0]!}`));
    assert.ok((await shOk(['ovs-vsctl', '--timeout=10', 'list-ports', OVS])).split('\n').every((p) => p !== rows[0]), 'the port is off the bridge');
    assert.equal(line.hostIf, OVS);
    await dockerRemove(DOCKER, 'wa-d3');
  });

  test('a bad label is logged (container, label, why) and nothing else happens: not even its good label', async () => {
    const w = watcher!;
    const c = await dockerRun(DOCKER, 'wa-d5', { labels: { 'pipework.eth1': `${BR} 10.247.1.5/24`, 'pipework.eth2': `${BR} 10.247.1.500/24` } });
    const line = await w.waitFor('wa-d5 refused', (l) => l.action === 'refuse' && l.container === 'wa-d5');
    assert.equal(line.result, 'invalid');
    assert.equal(line.source, 'label pipework.eth2');
    assert.equal(line.text, `${BR} 10.247.1.500/24`);
    assert.match(line.message ?? '', /10\.247\.1\.500/u);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(linksOf(c.pid).sort(), ['lo']);
    assert.ok(!w.has((l) => l.action === 'attach' && l.container === 'wa-d5'));
    await dockerRemove(DOCKER, 'wa-d5');
  });

  test('the allowlist refuses a label naming another host interface; nothing is made', async () => {
    const w = watcher!;
    const c = await dockerRun(DOCKER, 'wa-d6', { labels: { 'pipework.eth1': 'br-wa9 10.247.1.6/24' } });
    const line = await w.waitFor('wa-d6 refused', (l) => l.action === 'refuse' && l.container === 'wa-d6');
    assert.equal(line.result, 'refused');
    assert.match(line.message ?? '', /host interface br-wa9 is not served: it serves only br-wa1, ovs-wa1/u);
    assert.ok(!existsSync('/sys/class/net/br-wa9'), 'the bridge was not made');
    assert.deepEqual(linksOf(c.pid).sort(), ['lo']);
    await dockerRemove(DOCKER, 'wa-d6');
  });

  test('a label the container inherited from its image is ignored; --once --trust-image-labels plumbs it, then exits 0', async () => {
    const w = watcher!;
    const build = await sh(['docker', 'build', '-q', '-t', IMAGE_WITH_LABEL, '-'], {
      input: `FROM ${docker.DOCKER_TEST_IMAGE}\nLABEL pipework.eth1="${BR} 10.247.1.8/24"\n`, timeoutMs: 120_000, env: { DOCKER_BUILDKIT: '0' },
    });
    assert.equal(build.code, 0, build.stderr);
    const c = await dockerRun(DOCKER, 'wa-d8', { image: IMAGE_WITH_LABEL });
    const line = await w.waitFor('wa-d8 ignored', (l) => l.action === 'ignore' && l.container === 'wa-d8');
    assert.equal(line.source, 'label pipework.eth1');
    assert.match(line.message ?? '', /comes from the image/u);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(linksOf(c.pid).sort(), ['lo']);
    assert.ok(!w.has((l) => l.action === 'attach' && l.container === 'wa-d8'));

    const once = await startWatcher([...ALLOW, ...SOCKETS, '--once', '--trust-image-labels']);
    const status = await once.done(60_000);
    // Exit 0, unless a container that is not this test's could not be plumbed (another suite's
    // container with a pipework.* label of its own on this shared machine): then 1, as it should.
    const foreign = once.lines.filter((l) => (l.action === 'refuse' || (l.action === 'attach' && l.result === 'failed')) && !(l.container ?? '').startsWith('wa-'));
    assert.ok(!once.has((l) => (l.action === 'refuse' || l.result === 'failed') && (l.container ?? '').startsWith('wa-')), once.dump());
    assert.equal(status.code, foreign.length > 0 ? 1 : 0, once.dump());
    assert.ok(once.has(attached('wa-d8')), once.dump());
    // What the long-running watcher plumbed is left as it is.
    assert.ok(once.has(attached('wa-d1', 'eth1', 'unchanged')), once.dump());
    assert.deepEqual(await addressesOf(c.pid, 'eth1'), ['10.247.1.8/24']);
    assert.ok(await pingFrom(c.pid, '10.247.1.2'));
  });

  test('--once exits 1 when a container could not be plumbed (a bad label), and changes nothing of it', async () => {
    const c = await dockerRun(DOCKER, 'wa-d7', { labels: { 'pipework.eth1': `${BR} 10.247.1.7/24 zz` } });
    const once = await startWatcher([...ALLOW, '--docker', DOCKER, '--once']);
    const status = await once.done(60_000);
    assert.equal(status.code, 1, once.dump());
    const line = once.lines.find((l) => l.action === 'refuse' && l.container === 'wa-d7');
    assert.ok(line, once.dump());
    assert.match(line.message ?? '', /MAC/u);
    assert.deepEqual(linksOf(c.pid).sort(), ['lo']);
    await dockerRemove(DOCKER, 'wa-d7');
  });

  test('a NIC in --allow gets macvlan children that reach its network; --direct-phys needs --allow-direct', async () => {
    const w = watcher!;
    await addNetns('wa-peer');
    await ip(['link', 'add', NIC, 'type', 'veth', 'peer', 'name', 'wa-nic1', 'netns', 'wa-peer']);
    await ip(['link', 'set', NIC, 'up']);
    await ip(['addr', 'add', '10.247.5.1/24', 'dev', 'wa-nic1'], 'wa-peer');
    await ip(['link', 'set', 'wa-nic1', 'up'], 'wa-peer');
    const c = await dockerRun(DOCKER, 'wa-d14', { labels: { 'pipework.eth1': `${NIC} 10.247.5.2/24` } });
    const line = await w.waitFor('wa-d14 plumbed', attached('wa-d14'));
    assert.equal(line.hostIf, NIC);
    const kind = await shOk(['nsenter', '-t', String(c.pid), '-n', 'ip', '-j', '-d', 'link', 'show', 'dev', 'eth1']);
    assert.equal((JSON.parse(kind) as { linkinfo?: { info_kind?: string } }[])[0]?.linkinfo?.info_kind, 'macvlan');
    assert.ok(await pingFrom(c.pid, '10.247.5.1'), 'wa-d14 → the far end of the NIC');
    const d = await dockerRun(DOCKER, 'wa-d15', { labels: { 'pipework.eth1': `--direct-phys ${NIC} 10.247.5.3/24` } });
    const refused = await w.waitFor('wa-d15 refused', (l) => l.action === 'refuse' && l.container === 'wa-d15');
    assert.match(refused.message ?? '', /--allow-direct/u);
    assert.ok(existsSync(`/sys/class/net/${NIC}`), `${NIC} is still on the host`);
    assert.deepEqual(linksOf(d.pid).sort(), ['lo']);
    await dockerRemove(DOCKER, 'wa-d14');
    await dockerRemove(DOCKER, 'wa-d15');
  });

  test('a DHCP client that stays to renew the lease is stopped when its container dies', async () => {
    const w = watcher!;
    scratch = mkdtempSync(join(process.env['PIPEWORK_TEST_TMP'] ?? tmpdir(), 'wa-dhcp-'));
    await addBridge(DHCP_BR);
    dhcp = await startDhcpServer({ ns: 'wa-srv', hostEnd: 'wa-srv0', bridge: DHCP_BR, net: '10.247.9', dir: scratch });
    const c = await dockerRun(DOCKER, 'wa-d11', { labels: { 'pipework.eth1': `${DHCP_BR} udhcpc-f` } });
    await w.waitFor('wa-d11 plumbed with a lease', attached('wa-d11'), 30_000);
    const [address] = await addressesOf(c.pid, 'eth1');
    assert.match(address ?? '', /^10\.247\.9\.1\d\d\/24$/u);
    const inode = statSync(`/proc/${c.pid}/ns/net`).ino;
    const clients = clientsIn(inode);
    assert.equal(clients.length, 1, 'one udhcpc stays in wa-d11 to renew');
    const keys = dhcpStateKeys().filter((k) => k.startsWith(`${inode}-`));
    assert.equal(keys.length, 1, `its state: ${dhcpStateKeys().join(', ')}`);
    const from = w.lines.length;
    await dockerKill(DOCKER, c.id);
    await w.waitFor('wa-d11 cleaned', (l) => l.action === 'clean' && l.container === 'wa-d11', 20_000, from);
    await waitFor('its client gone', () => clientsIn(inode).length === 0 && !clients.some((p) => existsSync(`/proc/${p}`)), 10_000);
    await waitFor('its state gone', () => !dhcpStateKeys().includes(keys[0]!), 10_000);
    await dockerRemove(DOCKER, 'wa-d11');
  });

  test('a container that dies while being plumbed leaves nothing (its lease wait is undone)', async () => {
    const w = watcher!;
    // No DHCP server answers on ovs-wa1: the lease wait is the work in flight.
    const c = await dockerRun(DOCKER, 'wa-d9', { labels: { 'pipework.eth1': `--dhcp-timeout 30 ${OVS} udhcpc` } });
    const rows = await waitFor('the port row of wa-d9 while its lease is awaited', async () => {
      const r = await ovsRowsOf(c.id);
      return r.length > 0 ? r : undefined;
    }, 20_000, 50);
    const from = w.lines.length;
    await dockerKill(DOCKER, c.id);
    const line = await w.waitFor('wa-d9 undone', (l) => l.action === 'attach' && l.container === 'wa-d9', 20_000, from);
    assert.equal(line.result, 'undone', JSON.stringify(line));
    assert.match(line.message ?? '', /the container died/u);
    await waitFor('no row of wa-d9', async () => (await ovsRowsOf(c.id)).length === 0, 10_000);
    await waitFor(`host end ${rows[0]!} gone`, () => !existsSync(`/sys/class/net/${rows[0]!}`), 10_000);
    await dockerRemove(DOCKER, 'wa-d9');
  });

  test('an attach that fails mid-way is undone and logged, and the watcher goes on', async () => {
    // The engine's test hook: the second plan of a run (eth2 here) fails at its second step.
    const failing = await startWatcher(['--allow', 'br-wa4', '--docker', DOCKER], { PIPEWORK_FAIL_STEP: '2:2' });
    try {
      const c = await dockerRun(DOCKER, 'wa-d16', { labels: { 'pipework.eth1': 'br-wa4 10.247.6.1/24', 'pipework.eth2': 'br-wa4 10.247.6.2/24' } });
      const line = await failing.waitFor('wa-d16 failed', (l) => l.action === 'attach' && l.container === 'wa-d16');
      assert.equal(line.result, 'failed', failing.dump());
      assert.equal(line.interface, 'eth1, eth2');
      assert.match(line.message ?? '', /injected failure.*everything the run did was undone/u);
      assert.deepEqual(linksOf(c.pid).sort(), ['lo'], 'neither interface is left');
      assert.ok(!existsSync('/sys/class/net/br-wa4'), 'the bridge this run made is gone with it');
      // A planning refusal: lo is not pipework's to make.
      const d = await dockerRun(DOCKER, 'wa-d17', { labels: { 'pipework.lo': 'br-wa4 10.247.6.3/24' } });
      const refused = await failing.waitFor('wa-d17 failed', (l) => l.action === 'attach' && l.container === 'wa-d17');
      assert.equal(refused.result, 'failed');
      assert.deepEqual(linksOf(d.pid).sort(), ['lo']);
      // One interface: one plan, which the hook spares.
      const e = await dockerRun(DOCKER, 'wa-d18', { labels: { 'pipework.eth1': 'br-wa4 10.247.6.4/24' } });
      await failing.waitFor('wa-d18 plumbed', attached('wa-d18'));
      assert.deepEqual(await addressesOf(e.pid, 'eth1'), ['10.247.6.4/24']);
    } finally {
      await failing.stop('SIGTERM');
      for (const n of ['wa-d16', 'wa-d17', 'wa-d18']) await dockerRemove(DOCKER, n);
    }
  });

  test('the Podman service restarts: the watcher reconnects, and a container started while it was down is plumbed', async () => {
    const w = watcher!;
    const from = w.lines.length;
    await service!.stop();
    await w.waitFor('the podman stream lost', (l) => l.action === 'connect' && l.runtime === 'podman' && l.result === 'lost', 20_000, from);
    // Podman needs no service to run a container: its start happens while nobody listens.
    const c = await podmanRun('wa-p3', { 'pipework.eth1': `${BR} 10.247.1.33/24` });
    service = await podman.startService(PODMAN);
    await w.waitFor('reconnected to podman', (l) => l.action === 'connect' && l.runtime === 'podman' && l.result === 'reconnected', 30_000, from);
    await w.waitFor('wa-p3 plumbed', attached('wa-p3'), 30_000, from);
    assert.deepEqual(await addressesOf(c.pid, 'eth1'), ['10.247.1.33/24']);
    assert.ok(await pingFrom(c.pid, '10.247.1.1'), 'wa-p3 → wa-d1');
    // Once, though both the list and the resumed stream (Podman keeps its events) brought it.
    assert.equal(w.lines.slice(from).filter(attached('wa-p3')).length, 1, w.dump());
  });

  test('SIGTERM mid-work: what is in flight is undone, exit 0 within 2 s', async () => {
    const w = watcher!;
    const c = await dockerRun(DOCKER, 'wa-d10', { labels: { 'pipework.eth1': `--dhcp-timeout 30 ${BR} udhcpc` } });
    // Its host end on the bridge: the veth is made, the lease is being waited for.
    const hostEnd = `veth1pl${c.pid}`;
    await waitFor(`${hostEnd} on ${BR} while the lease of wa-d10 is awaited`, () => bridgePorts(BR).includes(hostEnd), 20_000, 20);
    const status = await w.stop('SIGTERM');
    watcher = undefined;
    assert.equal(status.code, 0, w.dump());
    assert.ok(status.ms < 2_000, `exited after ${Math.round(status.ms)} ms`);
    assert.ok(w.has((l) => l.action === 'attach' && l.container === 'wa-d10' && l.result === 'undone'), w.dump());
    assert.ok(w.has((l) => l.action === 'watch' && l.result === 'stopped'));
    assert.ok(!linksOf(c.pid).includes('eth1'), 'eth1 is gone from wa-d10');
    assert.ok(!existsSync(`/sys/class/net/${hostEnd}`), `${hostEnd} is gone`);
  });

  test('after a crash: what its containers left while no watcher ran is cleaned at the next start; without --allow it serves nothing, and SIGINT ends it', async () => {
    // A watcher plumbs an OVS port, then dies without cleaning up (SIGKILL), and so does the container.
    const crashed = await startWatcher(['--allow', `${OVS}@10`, '--docker', DOCKER]);
    const c = await dockerRun(DOCKER, 'wa-d12', { labels: { 'pipework.eth1': `${OVS} 10.247.2.12/24 @10` } });
    await crashed.waitFor('wa-d12 plumbed', attached('wa-d12'));
    const [row] = await ovsRowsOf(c.id);
    assert.ok(row !== undefined);
    await crashed.stop('SIGKILL');
    await dockerKill(DOCKER, c.id);
    await waitFor(`${row} gone with the namespace`, () => !existsSync(`/sys/class/net/${row}`), 10_000);
    assert.deepEqual(await ovsRowsOf(c.id), [row], 'the stale row stays while no watcher runs');

    const next = await startWatcher(['--docker', DOCKER]);
    const started = next.lines.find((l) => l.action === 'watch' && l.result === 'started')!;
    assert.match(started.message ?? '', /no --allow: this watcher serves no host interface/u);
    const cleaned = await next.waitFor('the stale row cleaned', (l) => l.action === 'clean' && l.container === 'wa-d12');
    assert.equal(cleaned.trigger, 'sweep');
    assert.deepEqual(await ovsRowsOf(c.id), []);
    const d13 = await dockerRun(DOCKER, 'wa-d13', { labels: { 'pipework.eth1': `${BR} 10.247.1.13/24` } });
    const refused = await next.waitFor('wa-d13 refused', (l) => l.action === 'refuse' && l.container === 'wa-d13');
    assert.match(refused.message ?? '', /serves no host interface/u);
    assert.deepEqual(linksOf(d13.pid).sort(), ['lo']);
    const status = await next.stop('SIGINT');
    assert.equal(status.code, 0, next.dump());
    assert.ok(status.ms < 2_000, `exited after ${Math.round(status.ms)} ms`);
    await dockerRemove(DOCKER, 'wa-d12');
    await dockerRemove(DOCKER, 'wa-d13');
  });
});
