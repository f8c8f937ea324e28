// DHCP over an Open vSwitch bridge (userspace datapath): dnsmasq on one OVS port, guests plumbed
// by pipework on others; one-shot and staying clients get their lease and the staying one renews.
// Skipped when Open vSwitch does not run. Run as root.
//
// Names: netns `pwd-v…`, the OVS bridge `pwdovs1`, host links `pwdv…`.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanupPrefix } from './helpers/guard.js';
import { addNetns } from './helpers/netns.js';
import { repoRoot, runPipework, sh, shOk, waitFor, type RunResult } from './helpers/run.js';
import {
  addressesIn, clientsIn, defaultRoutes, dhcpAgentPath, macIn, netnsInode, removeDhcpFiles, startDhcpServer, stopDhcpClients, type DhcpServer,
} from './helpers/dhcp-server.js';

const PREFIX = 'pwd-v';
const OVS_BR = 'pwdovs1';
const NET = '10.251.73';
const RESOLV_AT_START = readFileSync('/etc/resolv.conf', 'utf8');
const HAVE = ['dnsmasq', 'udhcpc', 'dhclient', 'ovs-vsctl'].every((p) => ['/usr/sbin', '/usr/bin'].some((d) => existsSync(`${d}/${p}`)));

let ovsOk = false;
let server: DhcpServer | undefined;
let scratch: string;

function show(args: readonly string[], r: RunResult): string {
  return `pipework ${args.join(' ')}\nexit ${r.code}\nstdout: ${JSON.stringify(r.stdout)}\nstderr: ${JSON.stringify(r.stderr)}`;
}
async function pwOk(args: string[]): Promise<RunResult> {
  const r = await runPipework(args, { timeoutMs: 60_000 });
  assert.equal(r.code, 0, show(args, r));
  assert.equal(r.stderr, '', show(args, r));
  return r;
}

async function cleanup(): Promise<void> {
  await stopDhcpClients(dhcpAgentPath(repoRoot), PREFIX);
  await cleanupPrefix(PREFIX);
  await cleanupPrefix('pwdv');
  if (ovsOk) await sh(['ovs-vsctl', '--timeout=10', '--if-exists', 'del-br', OVS_BR], { timeoutMs: 15_000 });
  removeDhcpFiles(PREFIX);
}

before(async () => {
  if (!HAVE) return;
  ovsOk = (await sh(['ovs-vsctl', '--timeout=3', 'show'], { timeoutMs: 5_000 })).code === 0
    && (await sh(['ovs-appctl', '--timeout=3', '-t', 'ovs-vswitchd', 'version'], { timeoutMs: 5_000 })).code === 0;
  if (!ovsOk) return;
  await cleanup();
  scratch = mkdtempSync(join(process.env['PIPEWORK_TEST_TMP'] ?? tmpdir(), 'pwd-v'));
  await shOk(['ovs-vsctl', '--timeout=10', 'add-br', OVS_BR, '--', 'set', 'bridge', OVS_BR, 'datapath_type=netdev']);
  await shOk(['ip', 'link', 'set', OVS_BR, 'up']);
  server = await startDhcpServer({ ns: 'pwd-vsrv', hostEnd: 'pwdvsrv', bridge: OVS_BR, ovs: true, net: NET, dir: scratch });
});

after(async () => {
  if (!ovsOk) return;
  await server?.stop();
  await cleanup();
  rmSync(scratch, { recursive: true, force: true });
  assert.equal(readFileSync('/etc/resolv.conf', 'utf8'), RESOLV_AT_START);
});

void describe('DHCP over an Open vSwitch bridge', { skip: HAVE ? false : 'dnsmasq, udhcpc, dhclient or Open vSwitch is not installed' }, () => {
  void test('udhcpc and dhclient-f get a lease through OVS ports; the staying client renews; del cleans the ports', async (t) => {
    if (!ovsOk) return t.skip('Open vSwitch does not run');
    const guests = [['pwd-vu', 'udhcpc'], ['pwd-vd', 'dhclient-f']] as const;
    for (const [g, method] of guests) {
      await addNetns(g);
      await pwOk([OVS_BR, g, method]);
      const addrs = await addressesIn(g, 'eth1');
      assert.match(addrs[0] ?? '', /^10\.251\.73\.(1[0-4]\d|150)\/24$/u, `${method}: ${addrs.join(',')}`);
      assert.deepEqual(await defaultRoutes(g), [`default via ${NET}.1 dev eth1`]);
      assert.match(readFileSync(`/etc/netns/${g}/resolv.conf`, 'utf8'), new RegExp(`^nameserver ${NET}\\.53$`, 'mu'));
      assert.equal((await sh(['ip', 'netns', 'exec', g, 'ping', '-c', '1', '-W', '2', `${NET}.1`])).code, 0);
    }
    const ports = (await shOk(['ovs-vsctl', '--timeout=10', 'list-ports', OVS_BR])).split('\n').filter((p) => p !== '');
    assert.equal(ports.length, 3, ports.join(','));
    // dhclient honours T1 = 10 s.
    const mac = await macIn('pwd-vd', 'eth1');
    await waitFor('dhclient-f to renew through OVS', () => server!.acks(mac).length >= 2, 20_000, 250);
    const inode = netnsInode('pwd-vd');
    for (const [g] of guests) await pwOk(['del', g]);
    assert.deepEqual(clientsIn(inode), []);
    assert.deepEqual((await shOk(['ovs-vsctl', '--timeout=10', 'list-ports', OVS_BR])).split('\n').filter((p) => p !== ''), ['pwdvsrv']);
    assert.equal(readFileSync('/etc/resolv.conf', 'utf8'), RESOLV_AT_START);
  });
});
