// What a container's labels, or an image's, could make root do through the watcher and the
// topology door (issue 18, items 2, 4, 6 and 7), tried as an attacker would, against the real
// engines (the machine's dockerd; a Podman service of the test's own, stopped by PID):
//   - a container that joined another's network namespace (Docker and Podman `container:`,
//     Podman `ns:<path>`, `host`) asks for an interface there: refused, one line naming both, the
//     victim's links and routes unchanged; a labelled container whose namespace another joined is
//     refused too; pipework's own DHCP clients and helper container in a namespace are not
//     "another" (a re-list of a container plumbed with them stays unchanged);
//   - labels choose VLANs only within --allow HOSTIF@VLAN,…: tag 10 granted, tag 20 and untagged
//     refused; a VLAN on a Linux bridge served untagged refused, the bridge untouched;
//   - --dhcp-image from a label or a pipework_cmd variable: refused (the watcher's own option
//     is the operator's);
//   - a container named like a topology's guest and labelled pipework-topology=NAME (by whoever
//     started it, or by its image) is neither adopted by apply nor removed by destroy.
// Root. Names: containers tsw-… (topology ones tswtopo-…, tswimg-…, tswown-…), bridges br-tsw…,
// OVS bridge ovstsw1, netns tswsrv, addresses 10.162.0.0/16 inside what the test made.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanupPrefix } from './helpers/guard.js';
import { clientsIn, dhcpAgentPath, dhcpStateKeys, startDhcpServer, type DhcpServer } from './helpers/dhcp-server.js';
import * as docker from './helpers/docker.js';
import { addBridge, ip } from './helpers/netns.js';
import * as podman from './helpers/podman.js';
import { repoRoot, runPipework, sh, shOk } from './helpers/run.js';
import { addressesOf, linksOf, ovsInterfaceRows, startWatcher, type WatchLine, type WatcherProc } from './watch-lib.js';

const DOCKER = '/var/run/docker.sock';
const PODMAN = '/tmp/tsw-podman.sock';
const BR = 'br-tsw1';
const DHCP_BR = 'br-tsw2';
const TOPO_BR = 'br-tsw3';
const OVS = 'ovstsw1';
const IMAGE = docker.DOCKER_TEST_IMAGE;
/** An image a label would like to run with NET_ADMIN (here only a tag of the test image). */
const TO_EVIL_IMAGE = 'tsw-evil:latest';
/** An image that carries a topology's label, as any image may. */
const TOPO_LABEL_IMAGE = 'tsw-topolabel:latest';
const STATE_DIR = '/run/pipework/topology';
const OWNED_DIR = '/var/lib/pipework/topology';
const TOPOLOGIES = ['tswtopo', 'tswimg', 'tswown'];

let service: podman.PodmanService | undefined;
let dhcp: DhcpServer | undefined;
let scratch = '';

/** `pipework watch --once` with these options; its lines about the containers named, once it exited. */
async function once(args: string[]): Promise<WatcherProc> {
  const w = await startWatcher([...args, '--once']);
  await w.done(120_000);
  return w;
}

function about(w: WatcherProc, name: string): WatchLine[] {
  return w.lines.filter((l) => l.container === name);
}

/** Links, addresses and routes of a process's namespace, as comparable text. */
async function netState(pid: number): Promise<string> {
  const nsenter = ['nsenter', '-t', String(pid), '-n'];
  const links = JSON.parse(await shOk([...nsenter, 'ip', '-j', 'addr', 'show'])) as Record<string, unknown>[];
  const routes4 = await shOk([...nsenter, 'ip', '-j', '-4', 'route', 'show', 'table', 'all']);
  const routes6 = await shOk([...nsenter, 'ip', '-j', '-6', 'route', 'show', 'table', 'all']);
  const keep = links.map((l) => ({ ifindex: l['ifindex'], ifname: l['ifname'], ifalias: l['ifalias'], address: l['address'], operstate: l['operstate'], addr: l['addr_info'] }));
  return JSON.stringify({ links: keep, routes4: JSON.parse(routes4) as unknown, routes6: (JSON.parse(routes6) as { expires?: number }[]).map((r) => ({ ...r, expires: undefined })) });
}

/**
 * What a label's run could have changed on the host: the bridge's ports, and the host's default
 * routes (other suites may add and remove links of their own meanwhile: those are not compared).
 */
async function hostView(): Promise<string> {
  const ports = existsSync(`/sys/class/net/${BR}/brif`) ? readdirSync(`/sys/class/net/${BR}/brif`).sort() : [];
  return JSON.stringify({ ports, default4: await shOk(['ip', '-4', 'route', 'show', 'default']), default6: await shOk(['ip', '-6', 'route', 'show', 'default']) });
}

async function podmanRemovePrefix(prefix: string): Promise<void> {
  // --depend: a victim goes with the containers that joined its namespace.
  for (const n of await podman.listContainers()) if (n.startsWith(prefix)) await podman.podman(['rm', '-f', '-i', '-t', '0', '--depend', n]);
}

async function cleanup(): Promise<void> {
  for (const t of TOPOLOGIES) await runPipework(['destroy', '--name', t], { timeoutMs: 120_000 });
  await docker.removeContainersByPrefix('tsw');
  await podmanRemovePrefix('tsw');
  // Staying DHCP clients of this file's guests (named by container id in their records): the
  // supervisor stops them once their container is gone; stop any left by a failed run now.
  for (const key of dhcpStateKeys()) {
    try {
      const rec = JSON.parse(readFileSync(`/run/pipework/dhcp/${key}/client.json`, 'utf8')) as { guestIf: string; dns?: { path?: string } };
      if (rec.guestIf.startsWith('tsw')) await sh([process.execPath, dhcpAgentPath(repoRoot), 'stop', '--key', key], { timeoutMs: 20_000 });
    } catch {
      // not a record of ours
    }
  }
  await sh(['ovs-vsctl', '--timeout=10', '--if-exists', 'del-br', OVS], { timeoutMs: 15_000 });
  await cleanupPrefix('br-tsw');
  // Named netns tsw… (a DHCP server's, its processes killed) and host links tsw….
  await cleanupPrefix('tsw');
  for (const t of TOPOLOGIES) {
    rmSync(`${STATE_DIR}/${t}.json`, { force: true });
    rmSync(`${OWNED_DIR}/${t}.containers.json`, { force: true });
  }
}

describe('trust: what a label or an image may make the watcher and the topology door do', { timeout: 600_000 }, () => {
  before(async () => {
    assert.ok(await docker.dockerAvailable(), 'these tests need the machine dockerd on /var/run/docker.sock');
    assert.ok(await podman.podmanAvailable(), 'these tests need podman');
    await docker.ensureImage(IMAGE);
    await podman.ensureImage();
    service = await podman.startService(PODMAN);
    await cleanup();
    scratch = mkdtempSync(join(process.env['PIPEWORK_TEST_TMP'] ?? tmpdir(), 'tsw-'));
    await addBridge(BR);
    await addBridge(DHCP_BR);
    await shOk(['ovs-vsctl', '--timeout=10', 'add-br', OVS, '--', 'set', 'bridge', OVS, 'datapath_type=netdev'], { timeoutMs: 15_000 });
    await ip(['link', 'set', OVS, 'up']);
  });

  after(async () => {
    try {
      await dhcp?.stop();
      await cleanup();
      await sh(['docker', 'rmi', '-f', TO_EVIL_IMAGE, TOPO_LABEL_IMAGE], { timeoutMs: 30_000 });
    } finally {
      await service?.stop();
      if (scratch !== '') rmSync(scratch, { recursive: true, force: true });
    }
  });

  describe('a label plumbs only a namespace that is its container\'s alone', () => {
    test('Docker: a container started with --network container:<victim> is refused, one line naming both; the victim is untouched', async () => {
      const victim = await docker.runContainer('tsw-vic', IMAGE);
      // The victim has an interface of its own, and a default route through it.
      const own = await runPipework([BR, '-i', 'eth1', 'docker:tsw-vic', '10.162.1.1/24@10.162.1.254'], { timeoutMs: 60_000 });
      assert.equal(own.code, 0, own.stderr);
      const before = await netState(victim.pid);
      await docker.runContainer('tsw-att', IMAGE, ['sleep', '3600'], {
        networkMode: `container:${victim.id}`, labels: { 'pipework.eth2': `${BR} 10.162.1.66/24@10.162.1.99` },
      });
      const w = await once(['--allow', BR, '--docker', DOCKER]);
      const lines = about(w, 'tsw-att');
      assert.equal(lines.length, 1, w.dump());
      assert.equal(lines[0]!.action, 'refuse', w.dump());
      assert.equal(lines[0]!.result, 'refused');
      assert.match(lines[0]!.message ?? '', /docker container tsw-att joined the network namespace of docker container tsw-vic \(--network container:[0-9a-f]{12}/u);
      assert.equal(await netState(victim.pid), before, 'the victim\'s links and routes changed');
      assert.equal(about(w, 'tsw-vic').length, 0, 'the victim (no labels) is none of the watcher\'s business');
    });

    test('Docker: a labelled container whose namespace another container joined is refused too, naming the other', async () => {
      const shared = await docker.runContainer('tsw-shv', IMAGE, ['sleep', '3600'], { labels: { 'pipework.eth1': `${BR} 10.162.2.1/24` } });
      await docker.runContainer('tsw-sha', IMAGE, ['sleep', '3600'], { networkMode: `container:${shared.id}` });
      const before = await netState(shared.pid);
      const w = await once(['--allow', BR, '--docker', DOCKER]);
      const lines = about(w, 'tsw-shv');
      assert.equal(lines.length, 1, w.dump());
      assert.equal(lines[0]!.action, 'refuse', w.dump());
      assert.match(lines[0]!.message ?? '', /network namespace of docker container tsw-shv is also held by docker container tsw-sha/u);
      assert.equal(await netState(shared.pid), before);
    });

    test('Docker: a container with --network host is refused, naming the host; the host gets nothing', async () => {
      const hostBefore = await hostView();
      await docker.runContainer('tsw-hst', IMAGE, ['sleep', '3600'], { networkMode: 'host', labels: { 'pipework.tsw9': `${BR} 10.162.3.9/24` } });
      const w = await once(['--allow', BR, '--docker', DOCKER]);
      const lines = about(w, 'tsw-hst');
      assert.equal(lines.length, 1, w.dump());
      assert.equal(lines[0]!.action, 'refuse', w.dump());
      assert.match(lines[0]!.message ?? '', /docker container tsw-hst joined the host's network namespace \(--network host\)/u);
      assert.equal(await hostView(), hostBefore);
      assert.ok(!existsSync('/sys/class/net/tsw9'));
    });

    test('Podman: --network ns:/proc/<victim>/ns/net, container:<victim> and host are refused, each in one line naming the owner', async () => {
      const victim = await podman.runContainer('tsw-pvic', podman.PODMAN_TEST_IMAGE);
      const before = await netState(victim.pid);
      const label = { 'pipework.eth3': `${BR} 10.162.4.66/24@10.162.4.99` };
      await podman.runContainer('tsw-pns', podman.PODMAN_TEST_IMAGE, ['sleep', '3600'], { network: `ns:/proc/${victim.pid}/ns/net`, labels: label });
      await podman.runContainer('tsw-pct', podman.PODMAN_TEST_IMAGE, ['sleep', '3600'], { network: 'container:tsw-pvic', labels: label });
      await podman.runContainer('tsw-phs', podman.PODMAN_TEST_IMAGE, ['sleep', '3600'], { network: 'host', labels: label });
      const w = await once(['--allow', BR, '--podman', PODMAN]);
      for (const [name, why] of [
        ['tsw-pns', /podman container tsw-pns joined the network namespace of podman container tsw-pvic \(--network ns:\/proc\/\d+\/ns\/net\)/u],
        ['tsw-pct', /podman container tsw-pct joined the network namespace of podman container tsw-pvic \(--network container:[0-9a-f]{12}/u],
        ['tsw-phs', /podman container tsw-phs joined the host's network namespace \(--network host\)/u],
      ] as const) {
        const lines = about(w, name);
        assert.equal(lines.length, 1, `${name}:\n${w.dump()}`);
        assert.equal(lines[0]!.action, 'refuse', w.dump());
        assert.match(lines[0]!.message ?? '', why);
      }
      assert.equal(await netState(victim.pid), before, 'the victim\'s links and routes changed');
    });

    test("pipework's own DHCP client and helper container in a namespace are not another's: a re-list leaves the container plumbed, unchanged", async () => {
      dhcp = await startDhcpServer({ ns: 'tswsrv', hostEnd: 'tsw-sv0', bridge: DHCP_BR, net: '10.162.9', dir: scratch });
      const stays = await docker.runContainer('tsw-dhf', IMAGE, ['sleep', '3600'], { labels: { 'pipework.tswf1': `${DHCP_BR} udhcpc-f` } });
      const helped = await docker.runContainer('tsw-dhh', IMAGE, ['sleep', '3600'], { labels: { 'pipework.tswh1': `--dhcp-timeout 20 ${DHCP_BR} dhcp` } });
      const args = ['--allow', DHCP_BR, '--docker', DOCKER, '--dhcp-image', IMAGE];
      const first = await once(args);
      for (const [c, ifname] of [[stays, 'tswf1'], [helped, 'tswh1']] as const) {
        const line = about(first, c.name).find((l) => l.action === 'attach');
        assert.equal(line?.result, 'created', first.dump());
        assert.match((await addressesOf(c.pid, ifname))[0] ?? '', /^10\.162\.9\.1\d\d\/24$/u);
      }
      assert.equal(clientsIn(statSync(`/proc/${stays.pid}/ns/net`).ino).length, 1, 'a udhcpc stays in tsw-dhf');
      const helpers = JSON.parse((await docker.dockerApi('GET', `/containers/json?filters=${encodeURIComponent(JSON.stringify({ label: [`pipework.dhcp-helper-for=${helped.id}`] }))}`)).body) as unknown[];
      assert.equal(helpers.length, 1, 'a helper container shares tsw-dhh\'s namespace');
      const again = await once(args);
      for (const c of [stays, helped]) {
        const lines = about(again, c.name);
        assert.deepEqual(lines.map((l) => `${l.action} ${l.result}`), ['attach unchanged'], again.dump());
      }
    });
  });

  describe('labels choose VLANs only within --allow', () => {
    test('--allow ovstsw1@10: tag 10 is plumbed; tag 20 and untagged are refused, each in one line, and get no port', async () => {
      const ok = await docker.runContainer('tsw-v10', IMAGE, ['sleep', '3600'], { labels: { 'pipework.eth1': `${OVS} 10.162.10.1/24 @10` } });
      const v20 = await docker.runContainer('tsw-v20', IMAGE, ['sleep', '3600'], { labels: { 'pipework.eth1': `${OVS} 10.162.10.2/24 @20` } });
      const vun = await docker.runContainer('tsw-vun', IMAGE, ['sleep', '3600'], { labels: { 'pipework.eth1': `${OVS} 10.162.10.3/24` } });
      const w = await once(['--allow', `${OVS}@10`, '--docker', DOCKER]);
      assert.equal(about(w, 'tsw-v10').find((l) => l.action === 'attach')?.result, 'created', w.dump());
      const rows = [...(await ovsInterfaceRows())].filter(([, ids]) => [ok.id, v20.id, vun.id].includes(ids['pipework.containerid'] ?? ''));
      assert.deepEqual(rows.map(([, ids]) => ids['pipework.containerid']), [ok.id], 'one port, tsw-v10\'s');
      const tag = await shOk(['ovs-vsctl', '--timeout=10', 'get', 'Port', rows[0]![0], 'tag']);
      assert.equal(tag.trim(), '10');
      for (const [c, why] of [
        [v20, /VLAN 20 on ovstsw1 is not served: ovstsw1 serves VLAN 10 only/u],
        [vun, /ovstsw1 is served on VLAN 10 only, and the label names no VLAN/u],
      ] as const) {
        const lines = about(w, c.name);
        assert.equal(lines.length, 1, w.dump());
        assert.equal(lines[0]!.action, 'refuse');
        assert.equal(lines[0]!.result, 'refused');
        assert.match(lines[0]!.message ?? '', why);
        assert.deepEqual(linksOf(c.pid).sort(), ['lo']);
      }
    });

    test('--allow ovstsw1 (untagged only): the label\'s port carries untagged traffic only — a VLAN-tagged frame from the container is dropped, not trunked into that VLAN', async () => {
      const c = await docker.runContainer('tsw-vac', IMAGE, ['sleep', '3600'], { labels: { 'pipework.eth1': `${OVS} 10.162.12.1/24` } });
      // Another port of the bridge, on VLAN 10 (the operator's).
      await ip(['link', 'add', 'tsw-v10a', 'type', 'veth', 'peer', 'name', 'tsw-v10b']);
      await ip(['link', 'set', 'tsw-v10a', 'up']);
      await shOk(['ovs-vsctl', '--timeout=10', 'add-port', OVS, 'tsw-v10a', 'tag=10']);
      const w = await once(['--allow', OVS, '--docker', DOCKER]);
      assert.equal(about(w, 'tsw-vac').find((l) => l.action === 'attach')?.result, 'created', w.dump());
      const [port] = [...(await ovsInterfaceRows())].filter(([, ids]) => ids['pipework.containerid'] === c.id).map(([n]) => n);
      assert.ok(port !== undefined);
      // What Open vSwitch does with a frame tagged VLAN 10 that the container sends, and with an untagged one.
      const tagged = await shOk(['ovs-appctl', 'ofproto/trace', OVS, `in_port=${port},dl_vlan=10`]);
      assert.match(tagged, /Datapath actions: drop/u, tagged);
      const untagged = await shOk(['ovs-appctl', 'ofproto/trace', OVS, `in_port=${port}`]);
      assert.doesNotMatch(untagged, /Datapath actions: drop/u, untagged);
      assert.equal((await shOk(['ovs-vsctl', '--timeout=10', 'get', 'Port', port, 'vlan_mode'])).trim(), 'access');
    });

    test('--allow br-tsw1 (untagged only): a label asking a VLAN is refused, and the bridge\'s settings are left as they were', async () => {
      const filtering = () => (existsSync(`/sys/class/net/${BR}/bridge/vlan_filtering`) ? readFileSync(`/sys/class/net/${BR}/bridge/vlan_filtering`, 'utf8').trim() : 'none on this kernel');
      const was = filtering();
      const c = await docker.runContainer('tsw-bv', IMAGE, ['sleep', '3600'], { labels: { 'pipework.eth1': `${BR} 10.162.11.1/24 @10` } });
      const w = await once(['--allow', BR, '--docker', DOCKER]);
      const lines = about(w, 'tsw-bv');
      assert.equal(lines.length, 1, w.dump());
      assert.equal(lines[0]!.action, 'refuse', w.dump());
      assert.match(lines[0]!.message ?? '', /VLAN 10 on br-tsw1 is not served: br-tsw1 serves untagged traffic only/u);
      assert.equal(filtering(), was);
      assert.deepEqual(linksOf(c.pid).sort(), ['lo']);
    });
  });

  describe('--dhcp-image is the operator\'s, never a label\'s', () => {
    test('a label or a pipework_cmd variable naming a helper image is refused in one line; no helper container is made', async () => {
      await shOk(['docker', 'tag', IMAGE, TO_EVIL_IMAGE]);
      const since = Math.floor(Date.now() / 1000) - 1;
      const a = await docker.runContainer('tsw-di1', IMAGE, ['sleep', '3600'], { labels: { 'pipework.eth1': `--dhcp-image ${TO_EVIL_IMAGE} --dhcp-timeout 2 ${BR} dhcp` } });
      const b = await docker.runContainer('tsw-di2', IMAGE, ['sleep', '3600'], { env: [`pipework_cmd=${BR} --dhcp-image=${TO_EVIL_IMAGE} --dhcp-timeout 2 @CONTAINER_NAME@ dhcp`] });
      const w = await once(['--allow', BR, '--docker', DOCKER]);
      for (const c of [a, b]) {
        const lines = about(w, c.name);
        assert.equal(lines.length, 1, w.dump());
        assert.equal(lines[0]!.action, 'refuse', w.dump());
        assert.match(lines[0]!.message ?? '', /--dhcp-image is not accepted from a container: the helper image is the operator's choice/u);
        assert.deepEqual(linksOf(c.pid).sort(), ['lo']);
      }
      // No container was created from that image (a helper removes itself: Docker's events tell).
      const until = Math.ceil(Date.now() / 1000) + 1;
      const events = (await docker.dockerApi('GET', `/events?since=${since}&until=${until}&filters=${encodeURIComponent(JSON.stringify({ type: ['container'], event: ['create'] }))}`)).body;
      const created = events.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as { Actor: { Attributes: Record<string, string> } })
        .filter((e) => e.Actor.Attributes['image'] === TO_EVIL_IMAGE || [a, b].some((c) => (e.Actor.Attributes['name'] ?? '').startsWith(`pipework-dhcp-${c.id.slice(0, 12)}`)));
      assert.deepEqual(created, []);
    });
  });

  describe('a topology adopts and removes only the containers it started', () => {
    const file = (name: string, subnet: number): string => {
      const path = join(scratch, `${name}.yaml`);
      writeFileSync(path, `name: ${name}\nnetworks:\n  lan: {bridge: ${TOPO_BR}}\nguests:\n  web: {image: ${IMAGE}, command: [sleep, "3600"]}\nlinks:\n  - web lan 10.162.${subnet}.1/24\n`);
      return path;
    };

    async function refusedAndKept(topology: string, container: docker.DockerContainer, why: RegExp): Promise<void> {
      const f = file(topology, 20);
      const r = await runPipework(['apply', f], { timeoutMs: 120_000 });
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stderr, why);
      assert.deepEqual(linksOf(container.pid).sort(), ['lo'], 'not plumbed');
      const d = await runPipework(['destroy', f], { timeoutMs: 120_000 });
      assert.equal(d.code, 0, d.stderr);
      const d2 = await runPipework(['destroy', '--name', topology], { timeoutMs: 120_000 });
      assert.equal(d2.code, 0, d2.stderr);
      const still = await docker.inspectContainer(container.name);
      assert.equal(still?.Id, container.id, `destroy removed ${container.name}`);
      assert.equal(still.State.Running, true);
    }

    test('a container started by someone else, named like a guest and labelled pipework-topology=NAME, is neither adopted nor removed', async () => {
      const c = await docker.runContainer('tswtopo-web', IMAGE, ['sleep', '3600'], { labels: { 'pipework-topology': 'tswtopo', 'pipework-topology-guest': 'web' } });
      await refusedAndKept('tswtopo', c, /guests\.web\.image: a docker container named tswtopo-web exists and was not made by topology tswtopo: it carries the label pipework-topology=tswtopo, but its id is not one apply recorded/u);
    });

    test('the same with the label from the container\'s image', async () => {
      const build = await sh(['docker', 'build', '-q', '-t', TOPO_LABEL_IMAGE, '-'], {
        input: `FROM ${IMAGE}\nLABEL pipework-topology=tswimg pipework-topology-guest=web\n`, timeoutMs: 120_000, env: { DOCKER_BUILDKIT: '0' },
      });
      assert.equal(build.code, 0, build.stderr);
      const c = await docker.runContainer('tswimg-web', TOPO_LABEL_IMAGE);
      await refusedAndKept('tswimg', c, /a docker container named tswimg-web exists and was not made by topology tswimg: it carries the label pipework-topology=tswimg/u);
    });

    test('what apply started is recorded by id: a re-apply adopts it, destroy removes it', async () => {
      const f = file('tswown', 21);
      const r = await runPipework(['apply', f], { timeoutMs: 120_000 });
      assert.equal(r.code, 0, r.stderr);
      const c = await docker.inspectContainer('tswown-web');
      assert.ok(c !== undefined);
      const record = JSON.parse(readFileSync(`${OWNED_DIR}/tswown.containers.json`, 'utf8')) as { containers: { id: string }[] };
      assert.deepEqual(record.containers.map((x) => x.id), [c.Id]);
      const again = await runPipework(['apply', f], { timeoutMs: 120_000 });
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /up to date/u);
      const d = await runPipework(['destroy', f], { timeoutMs: 120_000 });
      assert.equal(d.code, 0, d.stderr);
      assert.equal(await docker.inspectContainer('tswown-web'), undefined);
      assert.equal(existsSync(`${OWNED_DIR}/tswown.containers.json`), false);
    });
  });
});
