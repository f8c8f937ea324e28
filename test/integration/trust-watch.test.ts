// What a container's labels, or an image's, could make root do through the watcher and the
// topology door (issue 18, items 4, 6 and 7), tried as an attacker would, against the machine's
// dockerd:
//   - labels choose VLANs only within --allow HOSTIF@VLAN,…: tag 10 granted, tag 20 and untagged
//     refused; a VLAN on a Linux bridge served untagged refused, the bridge untouched;
//   - --dhcp-image from a label or a pipework_cmd variable: refused (the watcher's own option
//     is the operator's);
//   - a container named like a topology's guest and labelled pipework-topology=NAME (by whoever
//     started it, or by its image) is neither adopted by apply nor removed by destroy.
// Root. Names: containers tsw… (topology ones tswtopo-…, tswimg-…, tswown-…), bridges br-tsw…,
// OVS bridge ovstsw1, addresses 10.162.0.0/16 inside what the test made.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanupPrefix } from './helpers/guard.js';
import * as docker from './helpers/docker.js';
import { addBridge, ip } from './helpers/netns.js';
import { runPipework, sh, shOk } from './helpers/run.js';
import { linksOf, ovsInterfaceRows, startWatcher, type WatchLine, type WatcherProc } from './watch-lib.js';

const DOCKER = '/var/run/docker.sock';
const BR = 'br-tsw1';
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

async function cleanup(): Promise<void> {
  for (const t of TOPOLOGIES) await runPipework(['destroy', '--name', t], { timeoutMs: 120_000 });
  await docker.removeContainersByPrefix('tsw');
  await sh(['ovs-vsctl', '--timeout=10', '--if-exists', 'del-br', OVS], { timeoutMs: 15_000 });
  await cleanupPrefix('br-tsw');
  for (const t of TOPOLOGIES) {
    rmSync(`${STATE_DIR}/${t}.json`, { force: true });
    rmSync(`${OWNED_DIR}/${t}.containers.json`, { force: true });
  }
}

describe('trust: what a label or an image may make the watcher and the topology door do', { timeout: 600_000 }, () => {
  before(async () => {
    assert.ok(await docker.dockerAvailable(), 'these tests need the machine dockerd on /var/run/docker.sock');
    await docker.ensureImage(IMAGE);
    await cleanup();
    scratch = mkdtempSync(join(process.env['PIPEWORK_TEST_TMP'] ?? tmpdir(), 'tsw-'));
    await addBridge(BR);
    await shOk(['ovs-vsctl', '--timeout=10', 'add-br', OVS, '--', 'set', 'bridge', OVS, 'datapath_type=netdev'], { timeoutMs: 15_000 });
    await ip(['link', 'set', OVS, 'up']);
  });

  after(async () => {
    try {
      await cleanup();
      await sh(['docker', 'rmi', '-f', TO_EVIL_IMAGE, TOPO_LABEL_IMAGE], { timeoutMs: 30_000 });
    } finally {
      if (scratch !== '') rmSync(scratch, { recursive: true, force: true });
    }
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
