// The lock and socket layer, tried as a local user and as busy runs would (issue 18 item 5,
// issue 19 items 1, 2 and 4): a user who is not root can neither take nor squat pipework's locks,
// its DHCP supervisor or its CNI daemon, nor pose as the daemon to the launcher; a run that
// waits names its holder, gives up after one documented limit, and undoes what it made however
// long another run holds the host; a signal after a run has committed changes nothing. Run as
// root; the local user is `nobody` (setpriv).
//
// Names: netns `tsl…`, bridges `br-tsl…`, host ends made by pipework for them; addresses in
// 10.164.0.0/16, inside our own netns only. Scratch files under PIPEWORK_TEST_TMP, and one
// directory `nobody` owns under /tmp (removed at the end).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addBridge, addNetns, delLink, delNetns, getLink, listLinks } from './helpers/netns.js';
import { pipeworkBin, repoRoot, sh, waitFor } from './helpers/run.js';
import { assertResolvConfUnchanged } from './helpers/bridge-common.js';
import { show, signalGroup, sleepUntil, startPipework } from './helpers/hardening.js';
import { clientsIn, netnsInode, startDhcpServer } from './helpers/dhcp-server.js';

const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--'];
const NETNS = ['tsl-a', 'tsl-b', 'tsl-c', 'tsl-d'];
const BATCH_N = 100;
const BATCH_GUESTS = Array.from({ length: BATCH_N }, (_, i) => `tsl-g${String(i + 1).padStart(3, '0')}`);
const BRIDGES = ['br-tsl1', 'br-tsl2', 'br-tsl3', 'br-tsl4'];
const scratchRoot = process.env['PIPEWORK_TEST_TMP'] ?? tmpdir();
let dir = '';
/** A directory `nobody` owns (and can reach), for the squatter's own socket. */
let nobodyDir = '';
const started: ChildProcess[] = [];

/** A script of the test's; `nobody`'s scripts go where nobody can read them. */
function nodeScript(name: string, source: string, forNobody = false): string {
  const file = join(forNobody ? nobodyDir : dir, name);
  writeFileSync(file, source);
  chmodSync(file, 0o644);
  return file;
}

/** Start a helper process; resolves once it printed `ready` (or its first line). */
async function startHelper(argv: string[], readyText = 'ready'): Promise<{ child: ChildProcess; out: () => string }> {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let out = '';
  child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
  child.stderr.on('data', (b: Buffer) => { out += b.toString(); });
  await waitFor(`${argv.join(' ')} to be ready`, () => out.includes(readyText), 15_000);
  return { child, out: () => out };
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve();
      return;
    }
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/** A real holder of one of pipework's locks: the lock module itself, in a process of its own. */
async function holdLock(key: string, purpose: string, ms: number): Promise<ChildProcess> {
  const script = nodeScript(`hold-${key.replace(/\W/gu, '_')}.mjs`, `
import { acquire } from ${JSON.stringify(join(repoRoot, 'build', 'src', 'engine', 'lock.js'))};
const held = await acquire([process.argv[2]], { what: () => 'the test', purpose: process.argv[3] });
process.stdout.write('ready\\n');
setTimeout(() => { held.release(); process.exit(0); }, Number(process.argv[4]));
`);
  return (await startHelper([process.execPath, script, key, purpose, String(ms)])).child;
}

function pw(args: string[], env: Record<string, string> = {}, timeoutMs = 60_000) {
  return sh([process.execPath, pipeworkBin, ...args], { env, timeoutMs });
}

async function resetGuest(ns: string): Promise<void> {
  for (const l of await listLinks(ns)) if (l.ifname !== 'lo') await sh(['ip', '-n', ns, 'link', 'del', l.ifname]);
}

before(async () => {
  await cleanup();
  dir = mkdtempSync(join(scratchRoot, 'tsl-'));
  nobodyDir = mkdtempSync(join(tmpdir(), 'tsl-nobody-'));
  chmodSync(nobodyDir, 0o755);
  chownSync(nobodyDir, 65534, 65534);
  for (const n of NETNS) await addNetns(n);
});

async function cleanup(): Promise<void> {
  for (const c of started.splice(0)) await stop(c);
  for (const n of [...NETNS, ...BATCH_GUESTS]) await delNetns(n);
  await delNetns('tsl-srv');
  for (const b of BRIDGES) await delLink(b);
  for (const l of await listLinks()) if (/^tsl/u.test(l.ifname)) await delLink(l.ifname);
}

after(async () => {
  await cleanup();
  rmSync(dir, { recursive: true, force: true });
  if (nobodyDir !== '') rmSync(nobodyDir, { recursive: true, force: true });
  assertResolvConfUnchanged();
});

void describe('a local user who is not root (issue 18 item 5)', () => {
  test('cannot squat a lock or the DHCP supervisor: runs and the supervisor go on as if it were not there', async () => {
    // What the abstract names of the old lock layer were: any user could bind them.
    const squat = nodeScript('squat.mjs', `
import { createServer } from 'node:net';
// (A name another old pipework on this machine holds right now is simply skipped.)
for (const name of ['\\0pipework/lock/host', '\\0pipework-dhcp-supervisor', '\\0pipework/lock/${'x'.repeat(60)}']) {
  createServer((c) => c.destroy()).on('error', () => undefined).listen(name);
}
setTimeout(() => process.stdout.write('ready\\n'), 200);
setInterval(() => undefined, 1000);
`, true);
    const squatter = await startHelper([...NOBODY, process.execPath, squat]);
    try {
      // Nothing can be made where the locks are.
      const touch = await sh([...NOBODY, 'touch', '/run/pipework/locks/host'], { cwd: '/' });
      assert.notEqual(touch.code, 0, 'nobody cannot create a lock file');
      assert.ok(existsSync('/run/pipework/locks'));
      // An attach goes on at once (the old layer made it wait 60 s, then fail).
      const t0 = performance.now();
      const r = await pw(['br-tsl1', 'tsl-a', '10.164.1.1/24'], {}, 30_000);
      const ms = performance.now() - t0;
      assert.equal(r.code, 0, show(['br-tsl1', 'tsl-a', '10.164.1.1/24'], r));
      assert.ok(ms < 15_000, `the attach took ${ms.toFixed(0)} ms`);
      // A staying DHCP client is supervised: its guest goes, and so does the client (the old
      // supervisor found its name taken and never ran, so the client stayed).
      const server = await startDhcpServer({ ns: 'tsl-srv', hostEnd: 'tslsrv0', bridge: 'br-tsl1', net: '10.164.9', dir });
      try {
        const d = await pw(['br-tsl1', '-i', 'eth2', 'tsl-d', 'udhcpc-f', '--dhcp-timeout', '15']);
        assert.equal(d.code, 0, show(['udhcpc-f'], d));
        const inode = netnsInode('tsl-d');
        assert.equal(clientsIn(inode).length, 1, 'one udhcpc renews the lease');
        await delNetns('tsl-d');
        await waitFor('the client to be stopped once its guest is gone', () => clientsIn(inode).length === 0, 10_000);
        // And the resolv.conf its lease wrote for the guest goes with it (stopped, or exited by itself).
        await waitFor('/etc/netns/tsl-d to go with its guest', () => !existsSync('/etc/netns/tsl-d'), 10_000);
      } finally {
        rmSync('/etc/netns/tsl-d', { recursive: true, force: true });
        await server.stop();
        await delNetns('tsl-srv');
        await addNetns('tsl-d');
      }
    } finally {
      await stop(squatter.child);
      await resetGuest('tsl-a');
      await delLink('br-tsl1');
    }
  });

  test('a lock directory a local user could write is refused, and nothing changes', async () => {
    const planted = join(nobodyDir, 'run');
    mkdirSync(planted, { mode: 0o777 });
    chmodSync(planted, 0o777);
    const r = await pw(['br-tsl1', 'tsl-a', '10.164.1.1/24'], { PIPEWORK_RUN_DIR: planted });
    assert.equal(r.code, 1, show(['br-tsl1', 'tsl-a'], r));
    assert.match(r.stderr, new RegExp(`refusing to keep pipework's locks and sockets under ${planted}/locks: .* only root may be able to write there`, 'u'));
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.equal(await getLink('br-tsl1'), undefined, 'no bridge was made');
    assert.deepEqual(readdirSync(planted), []);
  });

  test('cannot pose as the CNI daemon: the launcher ignores a socket not served by root', async () => {
    const bin = join(dir, 'cni-bin');
    const payload = join(dir, 'payload-ran');
    const socket = join(nobodyDir, 'fake.sock');
    const install = await pw(['cni', 'install', '--dir', bin, '--socket', join(dir, 'run', 'cni.sock')]);
    assert.equal(install.code, 0, install.stderr);
    assert.match(install.stdout, /compiled launcher/u);
    // A fake daemon that asks the launcher (root, under the runtime) to run a program.
    const fake = nodeScript('fake-daemon.mjs', `
import { createServer } from 'node:net';
const field = (s) => { const b = Buffer.from(s); const n = Buffer.alloc(4); n.writeUInt32BE(b.length); return Buffer.concat([n, b]); };
const u32 = (v) => { const n = Buffer.alloc(4); n.writeUInt32BE(v); return n; };
createServer((c) => {
  c.once('data', () => {
    c.write(Buffer.concat([Buffer.from('X'), u32(2), field('/usr/bin/touch'), field(process.argv[2]), field(''), field(''), u32(5000)]));
  });
  c.on('error', () => undefined);
}).listen(process.argv[3], () => process.stdout.write('ready\\n'));
`, true);
    const daemon = await startHelper([...NOBODY, process.execPath, fake, payload, socket]);
    try {
      const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'tslnet', type: 'pipework', bridge: 'br-tsl4' });
      const r = await sh([join(bin, 'pipework')], {
        input: conf, timeoutMs: 30_000,
        env: { CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'tsl-fake-daemon', CNI_IFNAME: 'eth9', CNI_PATH: '/usr/lib/cni', PIPEWORK_CNI_SOCKET: socket },
      });
      assert.equal(existsSync(payload), false, 'the fake daemon\'s program did not run');
      assert.match(r.stderr, /is not served by root; ignoring it/u);
      assert.equal(r.code, 0, `DEL served by Node itself: ${r.stdout} ${r.stderr}`);
    } finally {
      await stop(daemon.child);
    }
  });

  test('the CNI daemon serves only root, and only from a directory only root can write', async () => {
    const open = join(nobodyDir, 'open');
    mkdirSync(open, { mode: 0o777 });
    chmodSync(open, 0o777);
    const refused = await pw(['cni', 'daemon', '--socket', join(open, 'cni.sock')], {}, 15_000);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /refusing to keep pipework's locks and sockets under .*; only root may be able to write there/u);
    assert.equal(existsSync(join(open, 'cni.sock')), false);

    // A root-only directory of its own (the scratch directory's parents are closed to nobody).
    const sockDir = mkdtempSync(join(tmpdir(), 'tsl-root-'));
    const socket = join(sockDir, 'cni.sock');
    const d = await startHelper([process.execPath, pipeworkBin, 'cni', 'daemon', '--socket', socket], 'serving');
    try {
      // Open the way on purpose (as a careless unit file might): the peer check still says no.
      chmodSync(sockDir, 0o711);
      chmodSync(socket, 0o666);
      const client = nodeScript('client.mjs', `
import { connect } from 'node:net';
const c = connect(process.argv[2]);
c.on('connect', () => c.end(Buffer.from('PWC1')));
c.on('data', (b) => process.stdout.write('answered ' + b.length + '\\n'));
c.on('close', () => { process.stdout.write('closed\\n'); process.exit(0); });
c.on('error', (e) => { process.stdout.write('error ' + e.code + '\\n'); process.exit(0); });
`, true);
      const r = await sh([...NOBODY, process.execPath, client, socket], { timeoutMs: 15_000, cwd: '/' });
      if (d.out().includes('refused a connection')) {
        assert.match(d.out(), /refused a connection from uid 65534 \(only root may send requests\)/u);
        assert.match(r.stdout, /closed|ECONNRESET|EPIPE/u);
      } else {
        // Without the native addon the peer cannot be read: then only the directory keeps others out.
        assert.equal(process.env['PIPEWORK_SYS_ADDON'], 'none', `the daemon served uid 65534: ${r.stdout} ${d.out()}`);
      }
      assert.doesNotMatch(r.stdout, /answered/u);
    } finally {
      d.child.kill('SIGTERM');
      await waitFor('the daemon to stop', () => d.child.exitCode !== null, 15_000);
      rmSync(sockDir, { recursive: true, force: true });
    }
  });
});

void describe('waiting on another run (issue 19 items 1 and 2)', () => {
  test('a run that waits says for whom; past the one limit it gives up, naming the holder, and changes nothing', async () => {
    await addBridge('br-tsl2');
    const holder = await holdLock('host', 'attach netns:tsl-x eth1 (the test\'s holder)', 2_500);
    const r = await pw(['br-tsl2', 'tsl-b', '10.164.2.2/24']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`pipework: waiting for pipework \\(pid ${holder.pid}, attach netns:tsl-x eth1 \\(the test's holder\\)\\) on the host's links`, 'u'));
    await resetGuest('tsl-b');

    const long = await holdLock('host', 'topology apply tsl-long', 20_000);
    try {
      const t = await pw(['br-tsl2', 'tsl-b', '10.164.2.2/24'], { PIPEWORK_LOCK_WAIT_MS: '1500' });
      assert.equal(t.code, 1, t.stderr);
      assert.match(t.stderr, new RegExp(`pipework \\(pid ${long.pid}, topology apply tsl-long\\) is still working on the host's links after 2 s; try again once it is done`, 'u'));
      assert.deepEqual((await listLinks('tsl-b')).map((l) => l.ifname), ['lo'], 'nothing was made');
    } finally {
      await stop(long);
    }
  });

  test('a failed attach is undone even while another run holds the host\'s links longer than the limit, and says so truthfully', async () => {
    await addBridge('br-tsl3');
    // A DHCP attach with no server: its veth is made, then the lease never comes.
    const s = startPipework(['br-tsl3', 'tsl-c', 'udhcpc', '--dhcp-timeout', '2'], 60_000, { PIPEWORK_LOCK_WAIT_MS: '1500' });
    await waitFor('the veth in tsl-c', async () => (await listLinks('tsl-c')).some((l) => l.ifname === 'eth1'), 15_000);
    const holder = await holdLock('host', 'a slow run', 5_000);
    const r = await s.result;
    assert.equal(r.code, 1, show(['udhcpc'], r));
    assert.match(r.stderr, /no DHCP lease on eth1/u);
    assert.match(r.stderr, new RegExp(`waiting for pipework \\(pid ${holder.pid}, a slow run\\) on the host's links \\(to undo what this run did\\)`, 'u'));
    assert.match(r.stderr, /everything done before it was undone/u);
    assert.deepEqual((await listLinks('tsl-c')).map((l) => l.ifname), ['lo'], 'eth1 is gone');
    assert.deepEqual(readdirSync('/sys/class/net/br-tsl3/brif'), [], 'no port is left on the bridge');
  });
});

void describe(`signals after a run committed (issue 19 item 4): a ${BATCH_N}-line batch`, () => {
  let file = '';
  before(async () => {
    await sh(['bash', '-c', 'for n in "$@"; do ip netns add "$n" && ip -n "$n" link set lo up || exit 1; done', 'bash', ...BATCH_GUESTS], { timeoutMs: 120_000 });
    file = join(dir, 'batch.txt');
    writeFileSync(file, BATCH_GUESTS.map((g, i) => `br-tsl4 ${g} 10.164.${100 + Math.floor(i / 200)}.${(i % 200) + 1}/16\n`).join(''));
  });

  async function state(): Promise<{ ports: number; guests: number }> {
    const ports = existsSync('/sys/class/net/br-tsl4/brif') ? readdirSync('/sys/class/net/br-tsl4/brif').length : 0;
    const out = await sh(['bash', '-c', 'n=0; for g in "$@"; do ip -n "$g" -o link show dev eth1 >/dev/null 2>&1 && n=$((n+1)); done; echo $n', 'bash', ...BATCH_GUESTS], { timeoutMs: 60_000 });
    return { ports, guests: Number(out.stdout.trim()) };
  }

  async function reset(): Promise<void> {
    await sh(['bash', '-c', 'for g in "$@"; do ip -n "$g" link del eth1 2>/dev/null; done; true', 'bash', ...BATCH_GUESTS], { timeoutMs: 60_000 });
    await delLink('br-tsl4');
  }

  test('a group SIGTERM at every 10 ms around the end: exit 0 with everything, or 130 with nothing; never the default action', { timeout: 600_000 }, async (t) => {
    const plain = startPipework(['batch', file]);
    const base = await plain.result;
    assert.equal(base.code, 0, base.stderr);
    await reset();
    const T = base.ms;
    const problems: string[] = [];
    const moments: string[] = [];
    for (let d = Math.round(T * 0.9); d <= Math.round(T * 1.05) + 30; d += 10) {
      const s = startPipework(['batch', file]);
      await sleepUntil(s.t0, d);
      signalGroup(s.pid, 'SIGTERM');
      const r = await s.result;
      const st = await state();
      moments.push(`${d}→${r.signal ?? r.code}`);
      if (r.signal !== null) problems.push(`${d} ms: killed by ${r.signal} (default action); state ${JSON.stringify(st)}`);
      else if (r.code === 0 && !(st.ports === BATCH_N && st.guests === BATCH_N)) problems.push(`${d} ms: exit 0 but ${JSON.stringify(st)}`);
      else if (r.code === 130 && !(st.ports === 0 && st.guests === 0)) problems.push(`${d} ms: exit 130 but ${JSON.stringify(st)}`);
      else if (r.code !== 0 && r.code !== 130) problems.push(`${d} ms: exit ${r.code}: ${r.stderr}`);
      if (r.code === 0 && /came after the changes were made: they stay/u.test(r.stderr)) moments[moments.length - 1] += '(late)';
      await reset();
    }
    t.diagnostic(`uninterrupted ${T.toFixed(0)} ms; ${moments.join(' ')}`);
    assert.deepEqual(problems, []);
  });
});
