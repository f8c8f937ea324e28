// The DHCP hook's actions (with a recording runner), the guest resolv.conf writer's safety, the
// generated hook file, and the /proc readers the supervisor relies on. No root needed.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dnsMarker, handle, hookSource, writeDns, type HookConfig } from '../../src/dhcp/hook.js';
import { parseStat, processAlive, readStat } from '../../src/exec/proc.js';
import { guestAlive } from '../../src/dhcp/state.js';
import { removeOwnDns } from '../../src/dhcp/supervisor.js';
import { FakeRunner } from './fakes.js';

let dir: string;
before(() => { dir = mkdtempSync(join(tmpdir(), 'pwd-unit-')); });
after(() => rmSync(dir, { recursive: true, force: true }));

function config(extra: Partial<HookConfig> = {}): HookConfig {
  return { program: 'udhcpc', method: 'udhcpc-f', guestIf: 'eth1', family: 4, oneshot: false, stateDir: dir, ...extra };
}

const JSON_BATCH = ['ip', '-json', '-details', '-batch', '-'];
const BATCH = ['ip', '-batch', '-'];

/** Answers `ip -json` reads with an interface holding `addrs` and these default routes. */
function fakeGuest(addrs: string[], defaults: { gateway: string; dev: string }[]): FakeRunner {
  return new FakeRunner((call) => {
    if (call.argv.join(' ') !== JSON_BATCH.join(' ')) return { code: 0 };
    const link = [{ ifname: 'eth1', addr_info: addrs.map((a) => ({ family: 'inet', local: a.split('/')[0], prefixlen: Number(a.split('/')[1]) })) }];
    const routes = defaults.map((r) => ({ dst: 'default', ...r }));
    return { code: 0, stdout: `${JSON.stringify(link)}\n${JSON.stringify(routes)}\n` };
  });
}

void describe('the hook', () => {
  void test('a lease: reads the interface and routes once, then one ip batch; DNS into the guest file, in place', async () => {
    const target = join(dir, 'guest-resolv.conf');
    writeFileSync(target, 'nameserver 192.0.2.1\n');
    const inode = statSync(target).ino;
    const runner = fakeGuest(['10.251.7.140/24'], [{ gateway: '172.17.0.1', dev: 'eth0' }]);
    const code = await handle(
      { kind: 'bind4', address: '10.251.7.135', prefix: 24, broadcast: '10.251.7.255', routers: ['10.251.7.1'], dns: ['10.251.7.53'], search: ['lab.example'] },
      config({ dns: { path: target, create: false, hostId: '0:0' } }), runner,
    );
    assert.equal(code, 0);
    assert.deepEqual(runner.calls.map((c) => c.argv), [JSON_BATCH, BATCH]);
    assert.deepEqual(runner.lines()[1], ['addr del 10.251.7.140/24 dev eth1', 'addr replace 10.251.7.135/24 brd 10.251.7.255 dev eth1']);
    assert.equal(readFileSync(target, 'utf8'), `# ${dnsMarker('eth1')} (udhcpc-f)\nsearch lab.example\nnameserver 10.251.7.53\n`);
    assert.equal(statSync(target).ino, inode, 'the file is rewritten in place (Docker bind-mounts that inode)');
    assert.match(readFileSync(join(dir, 'hook.log'), 'utf8'), /wrote 1 DNS server\(s\)/u);
  });

  void test('preinit brings the link up; deconfig flushes IPv4 only; a refused stale lease exits 1; ignored events do nothing', async () => {
    let runner = new FakeRunner();
    assert.equal(await handle({ kind: 'preinit', family: 4 }, config(), runner), 0);
    assert.deepEqual(runner.lines(), [['link set dev eth1 up']]);
    runner = new FakeRunner();
    assert.equal(await handle({ kind: 'unbind4' }, config(), runner), 0);
    assert.deepEqual(runner.calls.map((c) => c.argv), [['ip', '-4', 'addr', 'flush', 'dev', 'eth1'], ['ip', '-4', 'route', 'flush', 'dev', 'eth1'], BATCH]);
    runner = new FakeRunner();
    assert.equal(await handle({ kind: 'unbind4', address: '10.1.1.5', prefix: 24 }, config(), runner), 0);
    assert.deepEqual(runner.lines(), [['addr del 10.1.1.5/24 dev eth1']]);
    runner = new FakeRunner();
    assert.equal(await handle({ kind: 'reject', why: 'stale' }, config(), runner), 1);
    assert.equal(await handle({ kind: 'ignore', why: 'x' }, config(), runner), 0);
    assert.deepEqual(runner.calls, []);
  });

  void test('a failing ip line makes the hook fail (the client sees exit 1)', async () => {
    const runner = new FakeRunner((call) => (call.argv.includes('-json')
      ? { code: 0, stdout: '[{"ifname":"eth1","addr_info":[]}]\n[]\n' }
      : { code: 1, stderr: 'RTNETLINK answers: Permission denied\nCommand failed -:1\n' }));
    assert.equal(await handle({ kind: 'bind4', address: '10.1.1.5', prefix: 24, routers: [], dns: [], search: [] }, config(), runner), 1);
  });
});

void describe("writing the guest's resolv.conf", () => {
  void test('never through a symlink, never into the host file, never into a non-file', () => {
    const real = join(dir, 'real.conf');
    writeFileSync(real, 'original\n');
    const link = join(dir, 'link.conf');
    symlinkSync(real, link);
    assert.throws(() => writeDns({ path: link, create: false }, 'x\n'), /ELOOP|symbolic/u);
    assert.equal(readFileSync(real, 'utf8'), 'original\n');
    const st = statSync(real);
    assert.match(writeDns({ path: real, create: false, hostId: `${st.dev}:${st.ino}` }, 'x\n'), /is the host's/u);
    assert.equal(readFileSync(real, 'utf8'), 'original\n');
    assert.throws(() => writeDns({ path: join(dir, 'absent.conf'), create: false }, 'x\n'), /ENOENT/u);
  });

  void test('a named netns: the directory and file are made, and removed again only while they are ours', () => {
    const file = join(dir, 'etc-netns', 'blue', 'resolv.conf');
    assert.match(writeDns({ path: file, create: true }, `# ${dnsMarker('eth1')} (udhcpc)\nnameserver 10.0.0.53\n`), /wrote 1/u);
    assert.equal(removeOwnDns(file, 'eth2'), false, 'another interface wrote it');
    assert.equal(removeOwnDns(file, 'eth1'), true);
    assert.equal(existsSync(file), false);
    mkdirSync(join(dir, 'other'), { recursive: true });
    writeFileSync(join(dir, 'other', 'resolv.conf'), 'nameserver 1.1.1.1\n');
    assert.equal(removeOwnDns(join(dir, 'other', 'resolv.conf'), 'eth1'), false, 'a file pipework did not write stays');
  });

  void test('the generated hook: absolute node, our module, the configuration as JSON', () => {
    const src = hookSource('/usr/bin/node', 'file:///opt/pipework/build/src/dhcp/hook.js', config({ method: 'udhcpc' }));
    const lines = src.split('\n');
    assert.equal(lines[0], '#!/usr/bin/node');
    assert.equal(lines[2], 'import { runHook } from "file:///opt/pipework/build/src/dhcp/hook.js";');
    assert.deepEqual(JSON.parse(/^await runHook\((.*)\);$/mu.exec(src)![1]!), config({ method: 'udhcpc' }));
  });
});

void describe('/proc, for the supervisor', () => {
  void test('a stat line whose name holds spaces and parentheses', () => {
    const fields = ['S', '1', '4242', '4242', '0', '-1', '4194560', '0', '0', '0', '0', '0', '0', '0', '0', '20', '0', '1', '0', '987654'];
    assert.deepEqual(parseStat(`4242 (a) b (c)) ${fields.join(' ')} 1 2 3`), {
      pid: 4242, comm: 'a) b (c)', state: 'S', ppid: 1, session: 4242, start: '987654',
    });
    assert.equal(parseStat('garbage'), undefined);
  });

  void test('a process is itself only with its start time; a guest netns file by its inode', () => {
    const me = readStat(process.pid)!;
    assert.equal(processAlive(process.pid, me.start), true);
    assert.equal(processAlive(process.pid, `${me.start}1`), false);
    assert.equal(processAlive(2 ** 22 + 7, '1'), false);
    const ino = statSync('/proc/self/ns/net').ino;
    assert.equal(guestAlive({ kind: 'nsfile', path: '/proc/self/ns/net', inode: ino }), true);
    assert.equal(guestAlive({ kind: 'nsfile', path: '/proc/self/ns/net', inode: ino + 1 }), false);
    assert.equal(guestAlive({ kind: 'nsfile', path: join(dir, 'gone'), inode: ino }), false);
    assert.equal(guestAlive({ kind: 'pid', pid: process.pid, start: me.start }), true);
  });
});
