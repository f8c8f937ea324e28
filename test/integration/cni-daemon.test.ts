// The installed plugin: `pipework cni install` (compiled launcher, shell fallback), VERSION
// without Node, a runtime's own (minimal) environment, NODE_EXTRA_CA_CERTS and NODE_OPTIONS set
// aside for Node and given back to IPAM; the resident daemon (requests served over its socket,
// one at a time or many at once, a plugin killed mid-request undone, SIGTERM, a second daemon).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addNetns, delLink, delNetns, ping } from './helpers/netns.js';
import { assertHostUnchanged, snapshotHost } from './helpers/guard.js';
import { pipeworkBin, sh, sleep, waitFor } from './helpers/run.js';
import { resultProblems } from '../unit/cni-shape.js';
import {
  cleanupCni, fakeIpamCalls, fakeLeases, guestState, hostLocalLeases, onlyJson, records, RECORDS, runPluginBinary, scratch, writeFakeIpam, type Call,
} from './cni-env.js';

const tmp = scratch('daemon');
const BIN = join(tmp.dir, 'bin');
const SHBIN = join(tmp.dir, 'shbin');
const SOCKET = join(tmp.dir, 'run', 'cni.sock');
/** pipework's records: the default directory (a configuration may not choose another). */
const DATA = RECORDS;
const IPAM_DATA = join(tmp.dir, 'ipam');
const FAKE = join(tmp.dir, 'fake');
const LAUNCHER = join(BIN, 'pipework');
const SHELL = join(SHBIN, 'pipework');
const MANY = 8;
const NETNS = ['cn-da', 'cn-db', ...Array.from({ length: MANY }, (_, i) => `cn-dm${i}`)];
const ours = (n: string) => n.startsWith('cn') || n.startsWith('pwc') || n.startsWith('br-cn');

function conf(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { cniVersion: '1.0.0', name, type: 'pipework', bridge: 'br-cndmn', ipam: { type: 'host-local', dataDir: IPAM_DATA, ranges: [[{ subnet: '10.245.0.0/24' }]] }, ...extra };
}

function via(launcher: string, c: Call) {
  return runPluginBinary([launcher], { path: `${FAKE}:/usr/lib/cni`, ...c });
}

interface Daemon {
  child: ChildProcess;
  log(): string;
  exited: Promise<number | null>;
}

async function startDaemon(): Promise<Daemon> {
  const child = spawn(process.execPath, [pipeworkBin, 'cni', 'daemon', '--socket', SOCKET], { stdio: ['ignore', 'ignore', 'pipe'] });
  let text = '';
  child.stderr.on('data', (b: Buffer) => {
    text += b.toString();
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  await waitFor('the daemon to serve', () => text.includes('serving'), 20_000);
  return { child, log: () => text, exited };
}

async function stopDaemon(d: Daemon): Promise<number | null> {
  if (d.child.exitCode === null) d.child.kill('SIGTERM');
  return d.exited;
}

let snap: Awaited<ReturnType<typeof snapshotHost>>;

void describe('the installed plugin and the resident daemon', () => {
  before(async () => {
    snap = await snapshotHost({ only: ours });
    for (const n of NETNS) await addNetns(n);
    mkdirSync(IPAM_DATA, { recursive: true });
    writeFakeIpam(FAKE);
    const a = await sh([process.execPath, pipeworkBin, 'cni', 'install', '--dir', BIN, '--socket', SOCKET]);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /compiled launcher/u);
    const b = await sh([process.execPath, pipeworkBin, 'cni', 'install', '--dir', SHBIN, '--socket', SOCKET, '--no-compile']);
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stdout, /shell launcher/u);
  });
  after(async () => {
    for (const n of NETNS) await delNetns(n);
    await cleanupCni();
    await delLink('br-cndmn');
    await assertHostUnchanged(snap, 5_000, { only: ours });
    tmp.dispose();
  });

  void test('install: never over a file that is not ours; uninstall removes only ours', async () => {
    const foreign = join(tmp.dir, 'foreign');
    mkdirSync(foreign, { recursive: true });
    writeFileSync(join(foreign, 'pipework'), '#!/bin/sh\necho not ours\n');
    const r = await sh([process.execPath, pipeworkBin, 'cni', 'install', '--dir', foreign]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /not pipework's CNI launcher/u);
    assert.equal(readFileSync(join(foreign, 'pipework'), 'utf8'), '#!/bin/sh\necho not ours\n');
    assert.notEqual((await sh([process.execPath, pipeworkBin, 'cni', 'uninstall', '--dir', foreign])).code, 0);
    const again = join(tmp.dir, 'again');
    assert.equal((await sh([process.execPath, pipeworkBin, 'cni', 'install', '--dir', again])).code, 0);
    assert.equal((await sh([process.execPath, pipeworkBin, 'cni', 'install', '--dir', again])).code, 0, 'a re-install replaces our own');
    assert.match((await sh([process.execPath, pipeworkBin, 'cni', 'uninstall', '--dir', again])).stdout, /removed/u);
    assert.ok(!existsSync(join(again, 'pipework')));
    assert.notEqual((await sh([process.execPath, pipeworkBin, 'cni', 'install', '--dir', 'relative'])).code, 0);
  });

  void test('VERSION from both launchers, for every version, in an empty environment', async () => {
    for (const launcher of [LAUNCHER, SHELL]) {
      for (const v of ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']) {
        const r = await sh(['env', '-i', 'CNI_COMMAND=VERSION', launcher], { input: JSON.stringify({ cniVersion: v }) });
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(JSON.parse(r.stdout), { cniVersion: v, supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
      }
      const none = await sh(['env', '-i', 'CNI_COMMAND=VERSION', launcher], { input: '' });
      assert.equal((JSON.parse(none.stdout) as { cniVersion: string }).cniVersion, '1.1.0');
    }
  });

  void test('cold path from both launchers: a runtime\'s own PATH; NODE_EXTRA_CA_CERTS and NODE_OPTIONS kept from Node and given to IPAM; the compiled one runs IPAM itself', async () => {
    const fakeData = join(IPAM_DATA, 'fake-env');
    for (const [i, launcher] of [LAUNCHER, SHELL].entries()) {
      const c = {
        ...conf('cndmn1', { ipam: { type: 'cn-ipam', dataDir: fakeData, address: `10.245.0.${100 + i}/24` } }),
      };
      const env = {
        PATH: '/nonexistent', NODE_EXTRA_CA_CERTS: '/etc/cn-made-up-ca.crt', NODE_OPTIONS: '--require /nonexistent/cn-breaks-node.js', PIPEWORK_CNI_SOCKET: 'none',
      };
      const add = await via(launcher, { command: 'ADD', containerId: `cold${i}`, netns: '/run/netns/cn-da', ifname: `eth${i}`, conf: c, env });
      assert.equal(add.code, 0, `${launcher}: ${add.stdout} ${add.stderr}`);
      assert.ok(onlyJson(add));
      assert.deepEqual(resultProblems(add.json, '1.0.0'), []);
      assert.ok((await guestState('cn-da', `eth${i}`))?.up);
      const del = await via(launcher, { command: 'DEL', containerId: `cold${i}`, netns: '/run/netns/cn-da', ifname: `eth${i}`, conf: c, env });
      assert.equal(del.code, 0, del.stdout);
    }
    // The IPAM plugin saw the runtime's NODE_EXTRA_CA_CERTS (and Node, started without it and NODE_OPTIONS, ran).
    const calls = fakeIpamCalls(fakeData).filter((x) => x.cmd === 'ADD' || x.cmd === 'DEL');
    assert.equal(calls.length, 4);
    assert.ok(calls.every((x) => x.ca === '/etc/cn-made-up-ca.crt' && x.opts === '--require /nonexistent/cn-breaks-node.js'), JSON.stringify(calls));
    // The compiled launcher started Node as its child and ran the IPAM plugin itself (a fork of a
    // small process, not of Node); the shell launcher execs Node, which runs it.
    // (Node's main thread is `node` to Node 20 and 22, `MainThread` to Node 24.)
    assert.deepEqual(calls.map((x) => (x.parent === 'MainThread' ? 'node' : x.parent)), ['pipework', 'pipework', 'node', 'node']);
    assert.deepEqual(fakeLeases(fakeData), []);
  });

  void test('the daemon serves ADD, CHECK and DEL over its socket; many at once', async () => {
    const d = await startDaemon();
    try {
      // isGateway: the bridge's addresses are read, and the gateway put there by one of many ADDs at once.
      const c = conf('cndmn2', { isGateway: true });
      const a = await via(LAUNCHER, { command: 'ADD', containerId: 'sa', netns: '/run/netns/cn-da', ifname: 'eth0', conf: c });
      assert.equal(a.code, 0, a.stdout + a.stderr);
      // The gratuitous ARP: started by the launcher (the daemon forks nothing), it runs in the netns for a second.
      // (The cold path's own, for its eth0 in this netns, may still run: the one for this address.)
      const mine = (a.json!['ips'] as { address: string }[])[0]!.address.split('/')[0]!;
      const arping = (await sh(['ip', 'netns', 'pids', 'cn-da'])).stdout.split('\n').filter((p) => p !== '')
        .map((p) => { try { return readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0'); } catch { return []; } })
        .find((argv) => argv[0]?.endsWith('arping') === true && argv.includes('eth0') && argv.includes(mine));
      assert.deepEqual(arping?.slice(1), ['-c', '1', '-A', '-I', 'eth0', mine, '']);
      assert.deepEqual(resultProblems(a.json, '1.0.0'), []);
      const b = await via(LAUNCHER, { command: 'ADD', containerId: 'sb', netns: '/run/netns/cn-db', ifname: 'eth0', conf: c });
      assert.equal(b.code, 0, b.stdout + b.stderr);
      const peer = (b.json!['ips'] as { address: string }[])[0]!.address.split('/')[0]!;
      assert.ok(await ping('cn-da', peer));
      assert.equal((await via(LAUNCHER, { command: 'CHECK', containerId: 'sa', netns: '/run/netns/cn-da', ifname: 'eth0', conf: { ...c, prevResult: a.json } })).code, 0);
      // The delegates ran as the launcher's children (not forks of the daemon), with the runtime's environment.
      const fakeData = join(IPAM_DATA, 'fake-daemon');
      const f = { ...c, ipam: { type: 'cn-ipam', dataDir: fakeData, address: '10.245.0.150/24' } };
      const fa = await via(LAUNCHER, { command: 'ADD', containerId: 'sf', netns: '/run/netns/cn-db', ifname: 'eth5', conf: f, env: { NODE_EXTRA_CA_CERTS: '/etc/cn-ca.crt' } });
      assert.equal(fa.code, 0, fa.stdout + fa.stderr);
      assert.equal((await via(LAUNCHER, { command: 'DEL', containerId: 'sf', netns: '/run/netns/cn-db', ifname: 'eth5', conf: f })).code, 0);
      assert.deepEqual(fakeIpamCalls(fakeData).map((x) => [x.cmd, x.parent]), [['ADD', 'pipework'], ['DEL', 'pipework']]);
      assert.equal(fakeIpamCalls(fakeData)[0]!.ca, '/etc/cn-ca.crt');
      // An error comes back as the plugin's own: the object on stdout, exit 1.
      const bad = await via(LAUNCHER, { command: 'ADD', containerId: 'sx', netns: '/run/netns/cn-da', ifname: 'eth0', conf: { ...c, macspoofchk: true } });
      assert.equal(bad.code, 1);
      assert.equal(bad.json?.['code'], 2);
      // Many containers at once, then all of them away at once.
      const adds = await Promise.all(Array.from({ length: MANY }, (_, i) => via(LAUNCHER, { command: 'ADD', containerId: `m${i}`, netns: `/run/netns/cn-dm${i}`, ifname: 'eth0', conf: c })));
      adds.forEach((r, i) => assert.equal(r.code, 0, `ADD ${i}: ${r.stdout} ${r.stderr}`));
      const addresses = adds.map((r) => (r.json!['ips'] as { address: string }[])[0]!.address);
      assert.equal(new Set(addresses).size, MANY);
      assert.ok(await ping('cn-dm0', addresses[MANY - 1]!.split('/')[0]!));
      // (No traffic to the host itself: the bridge's address is checked, once, as the kernel has it.)
      const gw = ((JSON.parse((await sh(['ip', '-json', '-4', 'addr', 'show', 'dev', 'br-cndmn'])).stdout) as { addr_info: { local: string; prefixlen: number }[] }[])[0]?.addr_info ?? [])
        .map((x) => `${x.local}/${x.prefixlen}`);
      assert.deepEqual(gw, ['10.245.0.1/24'], 'the gateway on the bridge, once');
      const dels = await Promise.all(Array.from({ length: MANY }, (_, i) => via(LAUNCHER, { command: 'DEL', containerId: `m${i}`, netns: `/run/netns/cn-dm${i}`, ifname: 'eth0', conf: c })));
      dels.forEach((r, i) => assert.equal(r.code, 0, `DEL ${i}: ${r.stdout}`));
      for (const id of ['sa', 'sb']) assert.equal((await via(LAUNCHER, { command: 'DEL', containerId: id, netns: `/run/netns/cn-d${id.slice(1)}`, ifname: 'eth0', conf: c })).code, 0);
      assert.deepEqual(hostLocalLeases(IPAM_DATA, 'cndmn2'), []);
      assert.deepEqual(records(DATA, 'cndmn2'), []);
      const served = d.log().split('\n').filter((l) => /: (ADD|DEL|CHECK) /u.test(l));
      assert.ok(served.length >= 2 * MANY + 5, `the daemon served them:\n${d.log()}`);
    } finally {
      assert.equal(await stopDaemon(d), 0, 'SIGTERM: exit 0');
    }
    assert.ok(!existsSync(SOCKET), 'the socket goes with it');
  });

  void test('a plugin killed mid-request: the daemon undoes the request and releases what IPAM gave', async () => {
    const d = await startDaemon();
    const fakeData = join(IPAM_DATA, 'fake-kill');
    try {
      const c = conf('cndmn3', { ipam: { type: 'cn-ipam', dataDir: fakeData, address: '10.245.0.200/24', sleepMs: 3000 } });
      const child = spawn(LAUNCHER, [], {
        env: { ...process.env, CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'k1', CNI_NETNS: '/run/netns/cn-db', CNI_IFNAME: 'eth7', CNI_PATH: `${FAKE}:/usr/lib/cni` },
        stdio: ['pipe', 'ignore', 'ignore'],
      });
      child.stdin.end(JSON.stringify(c));
      await waitFor('IPAM to be asked', () => fakeIpamCalls(fakeData).some((x) => x.cmd === 'ADD'), 10_000);
      child.kill('SIGKILL');
      // The daemon sees its plugin go: the run is undone, IPAM is told DEL.
      await waitFor('IPAM to be told DEL', () => fakeIpamCalls(fakeData).some((x) => x.cmd === 'DEL' && x.id === 'k1'), 10_000);
      await waitFor('the record to go', () => records(DATA, 'cndmn3').length === 0, 10_000);
      await sleep(500);
      assert.equal(await guestState('cn-db', 'eth7'), undefined);
      assert.deepEqual(fakeLeases(fakeData), []);
      assert.match(d.log(), /ADD k1 eth7: failed/u);
    } finally {
      assert.equal(await stopDaemon(d), 0);
    }
  });

  void test('no daemon, the launcher killed mid-request: its Node undoes the request, releases what IPAM gave, and ends', async () => {
    const fakeData = join(IPAM_DATA, 'fake-kill-cold');
    const c = conf('cndmn5', { ipam: { type: 'cn-ipam', dataDir: fakeData, address: '10.245.0.210/24', sleepMs: 3000 } });
    const child = spawn(LAUNCHER, [], {
      env: { ...process.env, PIPEWORK_CNI_SOCKET: 'none', CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'k5', CNI_NETNS: '/run/netns/cn-db', CNI_IFNAME: 'eth8', CNI_PATH: `${FAKE}:/usr/lib/cni` },
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    child.stdin.end(JSON.stringify(c));
    await waitFor('IPAM to be asked', () => fakeIpamCalls(fakeData).some((x) => x.cmd === 'ADD'), 20_000);
    // Node, the launcher's child, serves the request (found by its parent).
    const node = (await sh(['pgrep', '-P', String(child.pid)])).stdout.split('\n').filter((p) => p !== '').map(Number);
    child.kill('SIGKILL');
    // Node sees the launcher go: its run is undone, IPAM is told DEL (by Node itself now), and it ends.
    await waitFor('IPAM to be told DEL', () => fakeIpamCalls(fakeData).some((x) => x.cmd === 'DEL' && x.id === 'k5'), 15_000);
    await waitFor('the record to go', () => records(DATA, 'cndmn5').length === 0, 10_000);
    await waitFor('the launcher\'s Node to end', () => node.every((p) => !existsSync(`/proc/${p}`)), 10_000);
    assert.ok(node.length >= 1, 'Node ran as the launcher\'s child');
    assert.equal(await guestState('cn-db', 'eth8'), undefined);
    assert.deepEqual(fakeLeases(fakeData), []);
  });

  void test('a second daemon on the same socket refuses; a stale socket file is taken over', async () => {
    const d = await startDaemon();
    try {
      const second = await sh([process.execPath, pipeworkBin, 'cni', 'daemon', '--socket', SOCKET], { timeoutMs: 20_000 });
      assert.notEqual(second.code, 0);
      assert.match(second.stderr, /another pipework cni daemon answers/u);
    } finally {
      await stopDaemon(d);
    }
    writeFileSync(SOCKET, '');
    const e = await startDaemon();
    assert.equal(await stopDaemon(e), 0);
  });
});
