// The DHCP lab example, as root: dnsmasq in the server's netns (address given by the topology),
// clients leasing during the apply, a re-apply unchanged, destroy stopping the staying client
// and leaving the host (and /etc/resolv.conf) as before.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { sh, sleep } from './helpers/run.js';
import { addresses, assertSameState, cleanupAll, example, hostState, ping, pw, pwOk, scratch } from './topology-lib.js';

const REWRITE: [string, string][] = [['dlab-', 'tgdlab-'], ['name: dhcp-lab', 'name: tgdlab']];

/** DHCP client processes whose network namespace is this one. */
function clientsOf(netnsInode: number): number[] {
  const out: number[] = [];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/u.test(n)).map(Number)) {
    try {
      const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      if (['udhcpc', 'dhclient', 'dhcpcd'].includes(comm) && readlinkSync(`/proc/${pid}/ns/net`) === `net:[${netnsInode}]`) out.push(pid);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

void describe('topology: the DHCP lab example', () => {
  let dir: string;
  let file: string;
  let pristine: unknown;
  let dnsmasqPid: number | undefined;
  const resolv = readFileSync('/etc/resolv.conf', 'utf8');

  before(async () => {
    await cleanupAll();
    dir = scratch();
    file = example('dhcp-lab.yaml', dir, REWRITE);
    pristine = await hostState();
    // As the example says: the server's netns first, dnsmasq waiting in it for eth1.
    assert.equal((await sh(['ip', 'netns', 'add', 'tgdlab-server'])).code, 0);
    const pidFile = join(dir, 'dnsmasq.pid');
    const r = await sh(['ip', 'netns', 'exec', 'tgdlab-server', 'dnsmasq', '--conf-file=/dev/null', '--port=0', '--interface=eth1', '--bind-dynamic',
      '--no-resolv', '--no-hosts', '--dhcp-range=10.43.0.100,10.43.0.150,255.255.255.0,2m', `--dhcp-leasefile=${join(dir, 'leases')}`, `--pid-file=${pidFile}`]);
    assert.equal(r.code, 0, r.stderr);
    for (let i = 0; i < 50 && !existsSync(pidFile); i++) await sleep(50);
    dnsmasqPid = Number(readFileSync(pidFile, 'utf8').trim());
  });
  after(async () => {
    await pw(['destroy', '--name', 'tgdlab']);
    if (dnsmasqPid !== undefined) {
      try {
        process.kill(dnsmasqPid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    await cleanupAll();
    for (const d of ['tgdlab-c1', 'tgdlab-c2', 'tgdlab-server']) rmSync(`/etc/netns/${d}`, { recursive: true, force: true });
  });

  void test('apply: the server gets its address from the file, the clients lease theirs during the apply', async () => {
    const r = await pwOk(['apply', file]);
    assert.match(r.stdout, /topology tgdlab: 3 created; made tgdlab-c1, tgdlab-c2, br-tgdlab-lan$/mu);
    const c1 = await addresses('tgdlab-c1', 'eth1');
    const c2 = await addresses('tgdlab-c2', 'eth1');
    for (const a of [...c1, ...c2]) assert.match(a, /^10\.43\.0\.1[0-4]\d\/24$|^10\.43\.0\.150\/24$/u);
    assert.equal(c1.length + c2.length, 2);
    assert.ok(await ping('tgdlab-c1', '10.43.0.1'));
    assert.ok(await ping('tgdlab-c2', c1[0]!.split('/')[0]!));
    // The lease file names c2's stable MAC.
    assert.match(readFileSync(join(dir, 'leases'), 'utf8'), /02:[0-9a-f:]+ 10\.43\.0\.\d+ tgdlab-c2/u);
    // udhcpc-f stays to renew; udhcpc is gone.
    const inode = (name: string) => statSync(`/var/run/netns/${name}`).ino;
    assert.equal(clientsOf(inode('tgdlab-c2')).length, 1, 'udhcpc-f renews in c2');
    assert.equal(clientsOf(inode('tgdlab-c1')).length, 0, 'udhcpc exited once leased');
    assert.equal(readFileSync('/etc/resolv.conf', 'utf8'), resolv);
  });

  void test('a second apply is unchanged (no new lease asked)', async () => {
    const leases = readFileSync(join(dir, 'leases'), 'utf8');
    assert.match((await pwOk(['apply', file])).stdout, /up to date \(3 unchanged\)/u);
    assert.equal(readFileSync(join(dir, 'leases'), 'utf8'), leases);
  });

  void test('destroy stops the staying client, removes what it made, keeps the server netns it did not make', async () => {
    const inode = statSync('/var/run/netns/tgdlab-c2').ino;
    await pwOk(['destroy', file]);
    assert.equal(clientsOf(inode).length, 0);
    assert.ok(existsSync('/var/run/netns/tgdlab-server'), 'the server netns was made by the test, not the topology');
    if (dnsmasqPid !== undefined) process.kill(dnsmasqPid, 'SIGTERM');
    dnsmasqPid = undefined;
    await sh(['ip', 'netns', 'del', 'tgdlab-server']);
    await assertSameState(pristine, 'destroy left something behind');
    assert.equal(readFileSync('/etc/resolv.conf', 'utf8'), resolv);
  });
});
