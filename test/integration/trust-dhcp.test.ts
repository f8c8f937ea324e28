// What a DHCP client may be made to do, as root, with hostile input (issue 18 items 1 and 4,
// issue 19 item 3):
// (a) DHCP client options that name a script, a file or pass environment to pipework's hook,
//     through the command line, a batch line, a topology file's dhcp:, a Docker label and a
//     pipework_cmd variable (pipework watch --once), and handed to the DHCP agent directly: each
//     refused in one line naming the option; the payload (it would only write a file in this
//     test's scratch directory) never runs; nothing is made.
// (b) The `dhcp` method's helper container runs pipework's command as its entrypoint — never the
//     image's ENTRYPOINT (which here would leave an address on lo in the guest) — with every
//     capability dropped but NET_ADMIN, NET_RAW and NET_BIND_SERVICE, and no-new-privileges; on
//     Docker and on Podman (its Docker-compatible API).
// (c) A staying client's mount namespace holds no other guest's network namespace: a Docker
//     container (its netns mounted under /run/docker/netns) and a named netns, plumbed before the
//     client started, really go when removed — their veth leaves the bridge at once.
//
// Names: netns tsd…, bridges br-tsd…, containers tsd-…, host veth ends tsd…; addresses in
// 10.161.0.0/16, only inside namespaces made here. Run as root (scripts/test.sh).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanupPrefix } from './helpers/guard.js';
import {
  addressesIn, clientsIn, dhcpAgentPath, removeDhcpFiles, startDhcpServer, stopDhcpClients, supervisorPid, type DhcpServer,
} from './helpers/dhcp-server.js';
import * as docker from './helpers/docker.js';
import { buildBusyboxTar } from './helpers/image.js';
import { addBridge, addNetns, delNetns, listLinks } from './helpers/netns.js';
import * as podman from './helpers/podman.js';
import { repoRoot, runPipework, sh, type RunResult, waitFor } from './helpers/run.js';
import { linksOf, startWatcher } from './watch-lib.js';

const RESOLV_AT_START = readFileSync('/etc/resolv.conf', 'utf8');
const AGENT = dhcpAgentPath(repoRoot);
const PODMAN_SOCK = '/tmp/tsd-podman.sock';
/** An image whose ENTRYPOINT leaves a mark (an address on lo) before running what it is given. */
const MARK = '10.161.99.1';
const ENTRY_IMAGE = 'tsd-entry:latest';
const ENTRYPOINT = `ENTRYPOINT ["/bin/sh", "-c", "ip addr add ${MARK}/32 dev lo; exec \\"$0\\" \\"$@\\""]`;

let scratch = '';
let dockerOk = false;
let podmanService: podman.PodmanService | undefined;
const servers: DhcpServer[] = [];

function show(args: readonly string[], r: RunResult): string {
  return `pipework ${args.join(' ')}\nexit ${r.code}\nstdout: ${JSON.stringify(r.stdout)}\nstderr: ${JSON.stringify(r.stderr)}`;
}

/** A payload: a script that, if anything ran it, would write `<name>.ran` in the scratch directory. */
function payload(name: string): { script: string; mark: string } {
  const script = join(scratch, `${name}.sh`);
  const mark = join(scratch, `${name}.ran`);
  writeFileSync(script, `#!/bin/sh\necho "$0 $*" >> ${mark}\n`);
  chmodSync(script, 0o755);
  return { script, mark };
}

/** A module that, if node loaded it (NODE_OPTIONS=--require=… passed to the hook), would write a mark. */
function evilModule(name: string): { module: string; mark: string } {
  const module = join(scratch, `${name}.cjs`);
  const mark = join(scratch, `${name}.ran`);
  writeFileSync(module, `require('node:fs').appendFileSync(${JSON.stringify(mark)}, 'loaded\\n');\n`);
  return { module, mark };
}

function bridgePorts(bridge: string): string[] {
  try {
    return readdirSync(`/sys/class/net/${bridge}/brif`);
  } catch {
    return [];
  }
}

const linkExists = (name: string): boolean => existsSync(`/sys/class/net/${name}`);

function assertResolv(): void {
  assert.equal(readFileSync('/etc/resolv.conf', 'utf8'), RESOLV_AT_START, "the host's /etc/resolv.conf changed");
}

/** Import the busybox rootfs as ENTRY_IMAGE, with an ENTRYPOINT that leaves the mark. */
async function importEntryImage(): Promise<void> {
  const tar = await buildBusyboxTar();
  try {
    await docker.removeContainersByPrefix('tsd-');
    await sh(['docker', 'rmi', '-f', ENTRY_IMAGE], { timeoutMs: 30_000 });
    const q = new URLSearchParams({ fromSrc: '-', repo: 'tsd-entry', tag: 'latest', changes: ENTRYPOINT });
    const r = await docker.dockerApi('POST', `/images/create?${q.toString()}`, { tarFile: tar.path, timeoutMs: 120_000 });
    assert.ok(r.status === 200 && !/"error"\s*:/u.test(r.body), `docker import: ${r.status} ${r.body}`);
    if (podmanService !== undefined) {
      await podman.podman(['rmi', '-f', `localhost/${ENTRY_IMAGE}`]);
      await podman.podmanOk(['import', '--change', ENTRYPOINT, tar.path, `localhost/${ENTRY_IMAGE}`], { timeoutMs: 120_000 });
    }
  } finally {
    await tar.dispose();
  }
}

async function cleanup(): Promise<void> {
  await stopDhcpClients(AGENT, 'tsd');
  if (dockerOk) {
    for (const name of await docker.listContainers()) {
      if (!name.startsWith('tsd-')) continue;
      const c = await docker.inspectContainer(name);
      if (c !== undefined) await docker.removeContainer(`pipework-dhcp-${c.Id.slice(0, 12)}-eth1`);
      await docker.removeContainer(name);
    }
  }
  if (podmanService !== undefined) {
    for (const name of await podman.listContainers()) {
      if (!name.startsWith('tsd-')) continue;
      const c = await podman.inspectContainer(name);
      if (c !== undefined) await podman.removeContainer(`pipework-dhcp-${c.Id.slice(0, 12)}-eth1`);
      await podman.removeContainer(name);
    }
  }
  await cleanupPrefix('tsd');
  await cleanupPrefix('br-tsd');
  removeDhcpFiles('tsd');
}

before(async () => {
  scratch = mkdtempSync(join(process.env['PIPEWORK_TEST_TMP'] ?? tmpdir(), 'tsd-'));
  chmodSync(scratch, 0o755);
  dockerOk = await docker.dockerAvailable();
  if (await podman.podmanAvailable()) podmanService = await podman.startService(PODMAN_SOCK);
  await cleanup();
});

after(async () => {
  for (const s of servers) await s.stop();
  await cleanup();
  await sh(['docker', 'rmi', '-f', ENTRY_IMAGE], { timeoutMs: 30_000 });
  if (podmanService !== undefined) {
    await podman.podman(['rmi', '-f', `localhost/${ENTRY_IMAGE}`]);
    await podmanService.stop();
  }
  rmSync(scratch, { recursive: true, force: true });
  assertResolv();
});

void describe('(a) hostile DHCP client options, through every front door', { timeout: 240_000 }, () => {
  void test('the command line: a script, a pidfile, environment for the hook — refused in one line, nothing runs, nothing is made', async () => {
    await addNetns('tsda1');
    const s1 = payload('cli-udhcpc');
    const s2 = payload('cli-dhclient');
    const s3 = payload('cli-dhcpcd');
    const s4 = payload('cli-udhcpc-long');
    // udhcpc writes its pidfile, then deletes it: a file that must stay as it is.
    const precious = join(scratch, 'precious');
    writeFileSync(precious, 'precious\n');
    const e1 = evilModule('cli-dhclient-env');
    const e2 = evilModule('cli-dhcpcd-env');
    const cases: [string, RegExp, string][] = [
      [`udhcpc:-s${s1.script}`, /^pipework: DHCP client option -s \(in '-s\/[^']*'\) is not accepted: it names a script/u, s1.mark],
      [`dhclient:-sf ${s2.script}`, /^pipework: DHCP client option -sf is not accepted: it names a script/u, s2.mark],
      [`dhcpcd:-c ${s3.script}`, /^pipework: DHCP client option -c is not accepted: it names a script/u, s3.mark],
      [`udhcpc-f:--script=${s4.script}`, /^pipework: DHCP client option --script is not accepted: it names a script/u, s4.mark],
      [`udhcpc:-p${precious}`, /^pipework: DHCP client option -p \(in '-p\/[^']*'\) is not accepted: it names a file/u, ''],
      [`dhclient:-e NODE_OPTIONS=--require=${e1.module}`, /^pipework: DHCP client option -e is not accepted: it passes environment to pipework's hook/u, e1.mark],
      [`dhcpcd-f:--env=NODE_OPTIONS=--require=${e2.module}`, /^pipework: DHCP client option --env is not accepted: it passes environment to pipework's hook/u, e2.mark],
    ];
    for (const [config, why, mark] of cases) {
      const args = ['br-tsda', 'tsda1', config, '--dhcp-timeout', '3'];
      const r = await runPipework(args, { timeoutMs: 60_000 });
      assert.equal(r.code, 1, show(args, r));
      assert.match(r.stderr, why, show(args, r));
      assert.equal(r.stderr.split('\n').filter((l) => l !== '').length, 1, show(args, r));
      if (mark !== '') assert.equal(existsSync(mark), false, `the payload ran: ${show(args, r)}`);
      assert.equal(readFileSync(precious, 'utf8'), 'precious\n', `a file was overwritten: ${show(args, r)}`);
      assert.equal(linkExists('br-tsda'), false, 'no bridge was made');
      assert.deepEqual((await listLinks('tsda1')).map((l) => l.ifname), ['lo'], 'no interface was made');
    }
    assertResolv();
  });

  void test('a batch line: refused with its line number; no line of the batch is applied', async () => {
    await addNetns('tsda2');
    const s = payload('batch');
    const file = join(scratch, 'hostile.batch');
    writeFileSync(file, `br-tsdb tsda2 10.161.1.2/24\nbr-tsdb tsda1 'udhcpc:--script=${s.script}' --dhcp-timeout 3\n`);
    const r = await runPipework(['batch', file], { timeoutMs: 60_000 });
    assert.equal(r.code, 1, show(['batch', file], r));
    assert.match(r.stderr, /^pipework: line 2: DHCP client option --script is not accepted: it names a script/u, r.stderr);
    assert.equal(existsSync(s.mark), false, 'the payload ran');
    assert.equal(linkExists('br-tsdb'), false);
    assert.deepEqual((await listLinks('tsda2')).map((l) => l.ifname), ['lo']);
  });

  void test("a topology file's dhcp: — refused at its line before anything is made", async () => {
    const s = payload('topology');
    const file = join(scratch, 'hostile.yaml');
    writeFileSync(file, [
      'name: tsdtopo',
      'networks:',
      '  n: {bridge: br-tsdt}',
      'guests:',
      '  g: {netns: tsdt1}',
      'links:',
      `  - {guest: g, network: n, dhcp: "dhclient-f:-sf ${s.script}"}`,
      '',
    ].join('\n'));
    const r = await runPipework(['apply', file], { timeoutMs: 90_000 });
    assert.equal(r.code, 1, show(['apply', file], r));
    assert.match(r.stderr, /hostile\.yaml:7:\d+: links\[0\]\.dhcp: DHCP client option -sf is not accepted: it names a script/u, r.stderr);
    assert.equal(existsSync(s.mark), false, 'the payload ran');
    assert.equal(linkExists('br-tsdt'), false);
    assert.equal(existsSync('/run/netns/tsdt1'), false, 'the guest netns was not made');
  });

  void test('a Docker label and a pipework_cmd variable, through pipework watch --once: refused and logged; the containers are untouched', async (t) => {
    if (!dockerOk) return t.skip('Docker is not running');
    await docker.ensureImage();
    const s1 = payload('label');
    const s2 = payload('env');
    const l1 = await docker.runContainer('tsd-l1', docker.DOCKER_TEST_IMAGE, ['sleep', '3600'], {
      labels: { 'pipework.eth1': `--dhcp-timeout 3 br-tsdw udhcpc:-s${s1.script}` },
    });
    const l2 = await docker.runContainer('tsd-l2', docker.DOCKER_TEST_IMAGE, ['sleep', '3600'], {
      env: [`pipework_cmd=br-tsdw --dhcp-timeout 3 @CONTAINER_NAME@ "dhcpcd:-c ${s2.script}"`],
    });
    const w = await startWatcher(['--allow', 'br-tsdw', '--docker', docker.DOCKER_SOCK, '--once']);
    await w.done(90_000);
    const refused = (name: string) => w.lines.find((l) => l.action === 'refuse' && l.container === name);
    assert.match(refused('tsd-l1')?.message ?? '', /DHCP client option -s \(in '-s\/[^']*'\) is not accepted: it names a script/u, w.dump());
    assert.match(refused('tsd-l2')?.message ?? '', /DHCP client option -c is not accepted: it names a script/u, w.dump());
    assert.ok(!w.has((l) => l.action === 'attach' && (l.container === 'tsd-l1' || l.container === 'tsd-l2')), w.dump());
    assert.equal(existsSync(s1.mark), false, 'the label payload ran');
    assert.equal(existsSync(s2.mark), false, 'the variable payload ran');
    assert.equal(linkExists('br-tsdw'), false);
    assert.deepEqual(linksOf(l1.pid), ['lo']);
    assert.deepEqual(linksOf(l2.pid), ['lo']);
    await docker.removeContainer('tsd-l1');
    await docker.removeContainer('tsd-l2');
  });

  void test('the DHCP agent checks the options it is handed again', async () => {
    await addNetns('tsda3');
    const s = payload('agent');
    const inode = statSync('/run/netns/tsda3').ino;
    const argv = ['ip', 'netns', 'exec', 'tsda3', process.execPath, AGENT, 'acquire', '--method', 'udhcpc', '--if', 'lo', '--family', '4',
      '--timeout', '3', '--key', `${inode}-lo`, '--guest', 'netns:tsda3', '--watch', `nsfile:${inode}:/run/netns/tsda3`, '--', '-s', s.script];
    const r = await sh(argv, { timeoutMs: 30_000 });
    assert.equal(r.code, 1, `${argv.join(' ')}\n${r.stderr}`);
    assert.match(r.stderr, /^DHCP client option -s is not accepted: it names a script/u);
    assert.equal(existsSync(s.mark), false, 'the payload ran');
    assert.equal(existsSync(`/run/pipework/dhcp/${inode}-lo`), false);
  });
});

void describe("(b) the 'dhcp' method's helper container", { timeout: 180_000 }, () => {
  before(async () => {
    if (!dockerOk) return;
    await importEntryImage();
    await addBridge('br-tsdh');
    servers.push(await startDhcpServer({ ns: 'tsdhsrv', hostEnd: 'tsdhsrv0', bridge: 'br-tsdh', net: '10.161.2', dir: scratch }));
  });

  /** The helper's udhcpc in the guest's netns: its capabilities and no_new_privs. */
  function helperProcess(guestPid: number): { capBnd: string; capEff: string; noNewPrivs: string } {
    const [pid] = clientsIn(statSync(`/proc/${guestPid}/ns/net`).ino);
    assert.ok(pid !== undefined, 'the helper runs udhcpc in the guest');
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (k: string) => new RegExp(`^${k}:\\s*(\\S+)$`, 'mu').exec(status)?.[1] ?? '';
    return { capBnd: field('CapBnd'), capEff: field('CapEff'), noNewPrivs: field('NoNewPrivs') };
  }
  // NET_BIND_SERVICE (10), NET_ADMIN (12), NET_RAW (13).
  const CAPS = '0000000000003400';

  void test("Docker: pipework's command is the entrypoint (the image's never runs); capabilities dropped but three; no-new-privileges", async (t) => {
    if (!dockerOk) return t.skip('Docker is not running');
    await docker.ensureImage();
    const c = await docker.runContainer('tsd-h1');
    const args = ['br-tsdh', c.name, 'dhcp', '--dhcp-image', ENTRY_IMAGE];
    const r = await runPipework(args, { timeoutMs: 60_000 });
    assert.equal(r.code, 0, show(args, r));
    assert.match((await addressesIn(c.pid, 'eth1'))[0] ?? '', /^10\.161\.2\.\d+\/24$/u);
    assert.deepEqual(await addressesIn(c.pid, 'lo'), [], "the image's ENTRYPOINT ran in the guest's namespace");
    const helper = `pipework-dhcp-${c.id.slice(0, 12)}-eth1`;
    const raw = JSON.parse((await docker.dockerApi('GET', `/containers/${helper}/json`)).body) as {
      Config: { Entrypoint: string[] | null; Cmd: string[] | null };
      HostConfig: { CapDrop: string[] | null; CapAdd: string[] | null; SecurityOpt: string[] | null; Privileged: boolean };
    };
    assert.equal(raw.Config.Entrypoint?.[0], 'udhcpc', JSON.stringify(raw.Config));
    assert.ok(raw.Config.Cmd === null || raw.Config.Cmd.length === 0, JSON.stringify(raw.Config));
    assert.deepEqual(raw.HostConfig.CapDrop, ['ALL']);
    assert.deepEqual([...(raw.HostConfig.CapAdd ?? [])].sort(), ['NET_ADMIN', 'NET_BIND_SERVICE', 'NET_RAW']);
    assert.deepEqual(raw.HostConfig.SecurityOpt, ['no-new-privileges']);
    assert.equal(raw.HostConfig.Privileged, false);
    const p = helperProcess(c.pid);
    assert.equal(p.capBnd, CAPS);
    assert.equal(p.capEff, CAPS);
    assert.equal(p.noNewPrivs, '1');
    const del = await runPipework(['del', c.name], { timeoutMs: 60_000 });
    assert.equal(del.code, 0, del.stderr);
    assertResolv();
  });

  void test('Podman (its Docker-compatible API): the same', async (t) => {
    if (!dockerOk || podmanService === undefined) return t.skip('Podman or Docker is not here');
    await podman.ensureImage();
    const c = await podman.runContainer('tsd-h2');
    const env = { CONTAINER_HOST: `unix://${PODMAN_SOCK}` };
    const args = ['br-tsdh', `podman:${c.name}`, 'dhcp', '--dhcp-image', `localhost/${ENTRY_IMAGE}`];
    const r = await runPipework(args, { timeoutMs: 60_000, env });
    assert.equal(r.code, 0, show(args, r));
    assert.match((await addressesIn(c.pid, 'eth1'))[0] ?? '', /^10\.161\.2\.\d+\/24$/u);
    assert.deepEqual(await addressesIn(c.pid, 'lo'), [], "the image's ENTRYPOINT ran in the guest's namespace");
    const helper = `pipework-dhcp-${c.id.slice(0, 12)}-eth1`;
    const raw = JSON.parse((await docker.dockerApi('GET', `/containers/${helper}/json`, { socketPath: PODMAN_SOCK })).body) as {
      Config: { Entrypoint: string[] | string | null };
    };
    assert.equal(Array.isArray(raw.Config.Entrypoint) ? raw.Config.Entrypoint[0] : raw.Config.Entrypoint, 'udhcpc', JSON.stringify(raw.Config));
    const p = helperProcess(c.pid);
    assert.equal(p.capBnd, CAPS);
    assert.equal(p.capEff, CAPS);
    assert.equal(p.noNewPrivs, '1');
    const del = await runPipework(['del', `podman:${c.name}`], { timeoutMs: 60_000, env });
    assert.equal(del.code, 0, del.stderr);
    assertResolv();
  });
});

void describe("(c) a staying client's mount namespace keeps no other guest's namespace alive", { timeout: 180_000 }, () => {
  before(async () => {
    await addBridge('br-tsdc');
    servers.push(await startDhcpServer({ ns: 'tsdcsrv', hostEnd: 'tsdcsrv0', bridge: 'br-tsdc', net: '10.161.3', dir: scratch }));
  });

  /** Plumb `guest` statically on br-tsdc; its host end (the new port of the bridge). */
  async function plumb(guest: string, address: string): Promise<string> {
    const ports = bridgePorts('br-tsdc');
    const r = await runPipework(['br-tsdc', guest, address], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, show(['br-tsdc', guest, address], r));
    const [port] = bridgePorts('br-tsdc').filter((p) => !ports.includes(p));
    assert.ok(port !== undefined);
    return port;
  }

  /** A staying udhcpc for a new named netns `name`; its PID. */
  async function stayingClient(name: string): Promise<number> {
    await addNetns(name);
    const r = await runPipework(['br-tsdc', name, 'udhcpc-f'], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, show(['br-tsdc', name, 'udhcpc-f'], r));
    const [pid] = clientsIn(statSync(`/run/netns/${name}`).ino);
    assert.ok(pid !== undefined, 'the client stays');
    return pid;
  }

  function nsfsMounts(pid: number): string[] {
    return readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n').filter((l) => / - nsfs /u.test(l));
  }

  void test('a Docker container removed while another guest has a staying client: its veth leaves the bridge', async (t) => {
    if (!dockerOk) return t.skip('Docker is not running');
    await docker.ensureImage();
    const c = await docker.runContainer('tsd-gone');
    const port = await plumb(c.name, '10.161.3.10/24');
    const sandbox = c.sandboxKey.slice(c.sandboxKey.lastIndexOf('/') + 1);
    assert.ok(nsfsMounts(process.pid).some((l) => l.includes(`/run/docker/netns/${sandbox}`)), `the host mounts ${c.sandboxKey}`);
    const client = await stayingClient('tsdc1');
    assert.deepEqual(nsfsMounts(client), [], "the client's mount namespace holds network namespaces");
    // The supervisor of staying clients is not started from inside such a mount namespace either.
    const sup = supervisorPid();
    if (sup !== undefined) assert.equal(readlinkSync(`/proc/${sup}/ns/mnt`), readlinkSync('/proc/self/ns/mnt'));
    await docker.removeContainer(c.name);
    await waitFor(`${port} (the veth) to leave br-tsdc and go once ${c.name} is removed`, () => !bridgePorts('br-tsdc').includes(port) && !linkExists(port), 5_000, 100);
    await runPipework(['del', 'tsdc1'], { timeoutMs: 30_000 });
  });

  void test('a named netns deleted while another guest has a staying client: its veth leaves the bridge', async () => {
    await addNetns('tsdc2');
    const port = await plumb('tsdc2', '10.161.3.11/24');
    const client = await stayingClient('tsdc3');
    assert.deepEqual(nsfsMounts(client), [], "the client's mount namespace holds network namespaces");
    await delNetns('tsdc2');
    await waitFor(`${port} (the veth) to leave br-tsdc and go once tsdc2 is deleted`, () => !bridgePorts('br-tsdc').includes(port) && !linkExists(port), 5_000, 100);
    await runPipework(['del', 'tsdc3'], { timeoutMs: 30_000 });
  });
});
