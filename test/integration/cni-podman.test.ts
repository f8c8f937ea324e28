// A real runtime: Podman 4.3 with its CNI backend, running the installed launcher named in a
// .conflist of cniVersion 0.4.0 (as Podman writes them). Containers get the interface and reach
// each other; `podman rm` leaves nothing (host ends, OVS rows, leases, records, nat rules). Once
// with the plugin started per request, once with the resident daemon serving it; and an Open
// vSwitch network with VLAN tags, where two tags do not see each other.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { delLink } from './helpers/netns.js';
import { assertHostUnchanged, snapshotHost } from './helpers/guard.js';
import { PODMAN_TEST_IMAGE, ensureImage, podman, podmanOk } from './helpers/podman.js';
import { pipeworkBin, sh, sleep, waitFor } from './helpers/run.js';
import { cleanupCni, hostLocalLeases, ourHostLinks, ourNatRules, ourOvsPorts, records, RECORDS, scratch } from './cni-env.js';

const tmp = scratch('podman');
const BIN = join(tmp.dir, 'bin');
const NETD = join(tmp.dir, 'net.d');
/** pipework's records: the default directory (a configuration may not choose another). */
const DATA = RECORDS;
const IPAM_DATA = join(tmp.dir, 'ipam');
const SOCKET = join(tmp.dir, 'cni.sock');
const CONF = join(tmp.dir, 'containers.conf');
const OVS = 'ovs-cnpod';
const ours = (n: string) => n.startsWith('cn') || n.startsWith('pwc') || n.startsWith('br-cn') || n.startsWith('ovs-cn');

function hardNofile(): string {
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
  return line?.trim().split(/\s+/u)[4] ?? '1048576';
}

/** A conflist as Podman writes one (cniVersion 0.4.0), our plugin first, tuning chained after it. */
function conflist(name: string, plugin: Record<string, unknown>, subnet: string, range: Record<string, string> = {}): void {
  writeFileSync(join(NETD, `${name}.conflist`), JSON.stringify({
    cniVersion: '0.4.0',
    name,
    plugins: [
      { type: 'pipework', ...plugin, ipam: { type: 'host-local', dataDir: IPAM_DATA, routes: [{ dst: '0.0.0.0/0' }], ranges: [[{ subnet, ...range }]] } },
      { type: 'tuning' },
    ],
  }, null, 2));
}

const run = (args: string[]) => podman(args, { env: { CONTAINERS_CONF: CONF } });
const runOk = (args: string[]) => podmanOk(args, { env: { CONTAINERS_CONF: CONF }, timeoutMs: 120_000 });

async function start(name: string, network: string): Promise<string> {
  await run(['rm', '-f', '-t', '0', name]);
  await runOk(['run', '-d', '--name', name, '--network', network, PODMAN_TEST_IMAGE, 'sleep', '600']);
  const ip = (await runOk(['inspect', name, '--format', `{{ (index .NetworkSettings.Networks "${network}").IPAddress }}`])).trim();
  assert.match(ip, /^10\.244\.\d+\.\d+$/u, `${name} has an address on ${network}`);
  return ip;
}

async function pings(from: string, to: string): Promise<boolean> {
  for (let i = 0; i < 5; i++) {
    if ((await run(['exec', from, 'ping', '-c', '1', '-W', '1', to])).code === 0) return true;
    await sleep(200);
  }
  return false;
}

async function nothingLeft(network: string): Promise<void> {
  assert.deepEqual(await ourHostLinks(network), [], `no host end of ${network}`);
  assert.deepEqual(await ourOvsPorts(network), [], `no OVS row of ${network}`);
  assert.deepEqual(hostLocalLeases(IPAM_DATA, network), [], `no lease of ${network}`);
  assert.deepEqual(records(DATA, network), [], `no record of ${network}`);
  assert.deepEqual((await ourNatRules()).filter((l) => l.includes(`"${network}\\"`)), [], `no nat rule of ${network}`);
}

const podmanWorks = spawnSync('podman', ['version'], { timeout: 30_000 }).status === 0;
const ovsWorks = spawnSync('ovs-vsctl', ['--timeout=5', 'show'], { timeout: 10_000 }).status === 0;
let snap: Awaited<ReturnType<typeof snapshotHost>>;

void describe('Podman 4.3 with the CNI backend runs pipework', { skip: !podmanWorks && 'podman does not run here' }, () => {
  before(async () => {
    snap = await snapshotHost({ only: ours });
    for (const d of [BIN, NETD, IPAM_DATA]) mkdirSync(d, { recursive: true });
    const n = hardNofile();
    writeFileSync(CONF, `[containers]\ndefault_ulimits = ["nofile=${n}:${n}", "nproc=32768:32768"]\n[network]\nnetwork_backend = "cni"\nnetwork_config_dir = "${NETD}"\ncni_plugin_dirs = ["${BIN}", "/usr/lib/cni"]\n`);
    const inst = await sh([process.execPath, pipeworkBin, 'cni', 'install', '--dir', BIN, '--socket', SOCKET]);
    assert.equal(inst.code, 0, inst.stderr);
    await ensureImage();
    conflist('cn-pbr', { bridge: 'br-cnpod', isGateway: true, ipMasq: true, hairpinMode: true }, '10.244.1.0/24', { gateway: '10.244.1.1' });
    conflist('cn-povs10', { ovs: OVS, vlan: 10 }, '10.244.2.0/24', { rangeStart: '10.244.2.10', rangeEnd: '10.244.2.49' });
    conflist('cn-povs20', { ovs: OVS, vlan: 20 }, '10.244.2.0/24', { rangeStart: '10.244.2.50', rangeEnd: '10.244.2.99' });
  });
  after(async () => {
    for (const c of ['cn-pa', 'cn-pb', 'cn-pc', 'cn-po1', 'cn-po2', 'cn-po3']) await run(['rm', '-f', '-t', '0', c]);
    await cleanupCni();
    await delLink('br-cnpod');
    if (ovsWorks) await sh(['ovs-vsctl', '--timeout=10', '--if-exists', 'del-br', OVS]);
    await assertHostUnchanged(snap, 5_000, { only: ours });
    tmp.dispose();
  });

  void test('podman sees the network; VERSION of the plugin answers 0.4.0', async () => {
    const ls = await runOk(['network', 'ls', '--format', '{{.Name}}']);
    for (const n of ['cn-pbr', 'cn-povs10', 'cn-povs20']) assert.ok(ls.split('\n').includes(n), `podman lists ${n}: ${ls}`);
  });

  void test('bridge (isGateway, ipMasq, hairpin, tuning chained): two containers reach each other; podman rm leaves nothing', async () => {
    const a = await start('cn-pa', 'cn-pbr');
    const b = await start('cn-pb', 'cn-pbr');
    assert.ok(await pings('cn-pa', b), `cn-pa reaches cn-pb at ${b}`);
    assert.ok(await pings('cn-pb', '10.244.1.1'), 'and its gateway on the bridge');
    assert.equal((await ourHostLinks('cn-pbr')).length, 2);
    assert.equal(records(DATA, 'cn-pbr').length, 2);
    assert.ok((await ourNatRules()).some((l) => l.includes(`-s ${a}/32`)), 'masquerading for cn-pa');
    await runOk(['rm', '-f', '-t', '0', 'cn-pa', 'cn-pb']);
    await nothingLeft('cn-pbr');
  });

  void test('the same, served by the resident daemon', async () => {
    const log = join(tmp.dir, 'daemon.log');
    const d: ChildProcess = spawn(process.execPath, [pipeworkBin, 'cni', 'daemon', '--socket', SOCKET], { stdio: ['ignore', 'ignore', 'pipe'] });
    let text = '';
    d.stderr!.on('data', (b: Buffer) => {
      text += b.toString();
      writeFileSync(log, text);
    });
    try {
      await waitFor('the daemon to listen', () => text.includes('serving'), 20_000);
      const b = await start('cn-pb', 'cn-pbr');
      await start('cn-pc', 'cn-pbr');
      assert.ok(await pings('cn-pc', b));
      await runOk(['rm', '-f', '-t', '0', 'cn-pb', 'cn-pc']);
      await nothingLeft('cn-pbr');
      const served = text.split('\n').filter((l) => / (ADD|DEL) [0-9a-f]{12} eth0: ok /u.test(l));
      assert.ok(served.filter((l) => l.includes(' ADD ')).length >= 2 && served.filter((l) => l.includes(' DEL ')).length >= 2, `the daemon served them:\n${text}`);
    } finally {
      d.kill('SIGTERM');
      await new Promise((r) => d.once('exit', r));
    }
  });

  void test('Open vSwitch with VLAN tags: tag 10 reaches tag 10, not tag 20; podman rm removes the rows', { skip: !ovsWorks && 'Open vSwitch is not running' }, async () => {
    await start('cn-po1', 'cn-povs10');
    const two = await start('cn-po2', 'cn-povs10');
    const three = await start('cn-po3', 'cn-povs20');
    const rows = await ourOvsPorts('cn-povs');
    assert.equal(rows.length, 3);
    const tags = await Promise.all(rows.map(async (p) => (await sh(['ovs-vsctl', '--timeout=5', 'get', 'Port', p, 'tag'])).stdout.trim()));
    assert.deepEqual(tags.sort(), ['10', '10', '20']);
    assert.ok(await pings('cn-po1', two), 'the same tag');
    assert.ok(!(await pings('cn-po1', three)), 'another tag: no traffic');
    await runOk(['rm', '-f', '-t', '0', 'cn-po1', 'cn-po2', 'cn-po3']);
    await nothingLeft('cn-povs10');
    await nothingLeft('cn-povs20');
  });
});
