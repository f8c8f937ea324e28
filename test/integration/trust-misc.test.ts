// Issue 18, item 6 (first two parts) and one piece of item 5, tried as an attacker would:
//  - bash completion must never run what it finds in a netns or link name (a guest names its
//    links; a NIC given back keeps its name; a named netns can be called almost anything);
//  - a CNI configuration's dataDir may not choose where root writes or deletes files, and no
//    symbolic link, `..` or forged record under the records' directory may lead it elsewhere;
//  - `pipework cni install --socket` into a directory other users can write is refused.
// Each payload would only create or remove files under this test's scratch directory.
//
// Names: netns `tsc…`, links `tsc…`, bridges `br-tsc…`, CNI networks `tsc…` (their records under
// /var/lib/cni/pipework are removed after), addresses 10.163.0.0/16 only inside our netns.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeworkBin, sh, shOk } from './helpers/run.js';
import { addNetns, delNetns, getLink, listLinks } from './helpers/netns.js';
import { runOurs, type Call, type CallResult } from './cni-env.js';
import { hostEndName } from '../../src/front/cni/spec.js';
import { decodeRecord } from '../../src/model/record.js';

const base = process.env['PIPEWORK_TEST_TMP'] ?? tmpdir();
mkdirSync(base, { recursive: true });
const SCRATCH = mkdtempSync(join(base, 'tsc-'));

/** Delete a named netns whatever its name (`ip netns list` output cannot be split safely). */
async function delNetnsNamed(name: string): Promise<void> {
  if (existsSync(join('/run/netns', name))) await sh(['ip', 'netns', 'del', name], { timeoutMs: 10_000 });
}

async function delLinkNamed(name: string): Promise<void> {
  if (existsSync(join('/sys/class/net', name))) await sh(['ip', 'link', 'del', 'dev', name], { timeoutMs: 10_000 });
}

void describe('bash completion never runs what a name contains', () => {
  // Run from CWD: a payload that ran would leave a file here.
  const CWD = join(SCRATCH, 'completion');
  const NETNS = [
    'tsc $(touch tsc-pwn-ns1)',
    'tsc`touch tsc-pwn-ns2`',
    'tsc\n$(touch tsc-pwn-ns3)',
    "tsc'$(touch tsc-pwn-ns4)'\"",
    'tsc*',
    'tscplain',
  ];
  // Link names: 15 bytes at most, no whitespace or '/'.
  const LINKS = ['tsc$(>tscpl)', 'tsc`>tscpb`', 'tsc*x'];
  const PEERS = ['tscp0', 'tscp1', 'tscp2'];
  const TRAP = 'tscglobbed'; // what `tsc*` matches here if anything globs it

  const cleanup = async () => {
    for (const n of NETNS) await delNetnsNamed(n);
    for (const p of PEERS) await delLinkNamed(p);
    for (const l of LINKS) await delLinkNamed(l);
  };

  before(async () => {
    await cleanup();
    mkdirSync(CWD, { recursive: true });
    await shOk(['touch', join(CWD, TRAP)]);
    for (const n of NETNS) await shOk(['ip', 'netns', 'add', n]);
    for (const [i, l] of LINKS.entries()) await shOk(['ip', 'link', 'add', l, 'type', 'veth', 'peer', 'name', PEERS[i]!]);
  });
  after(cleanup);

  /**
   * Complete `pipework WORDS… CUR` in a real bash that sourced `pipework completion bash`;
   * for each candidate, also what bash reads back when it is accepted onto a command line.
   */
  async function complete(words: string[], cur: string): Promise<{ candidates: string[]; accepted: string[] }> {
    const script = await shOk([process.execPath, pipeworkBin, 'completion', 'bash']);
    const driver = [
      'source /dev/stdin <<<"$PW_SCRIPT"',
      'COMP_WORDS=(pipework "$@")',
      'COMP_CWORD=$((${#COMP_WORDS[@]} - 1))',
      'COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}',
      '_pipework',
      'printf "C%s\\0" "${COMPREPLY[@]}"',
      // Accepting a candidate puts it on a command line as it is: what does bash read back?
      'for c in "${COMPREPLY[@]}"; do eval "set -- $c"; printf "A%s:%s\\0" "$#" "$1"; done',
    ].join('\n');
    const r = await sh(['bash', '--norc', '--noprofile', '-c', driver, 'bash', ...words, cur], {
      cwd: CWD, timeoutMs: 60_000, env: { PW_SCRIPT: script },
    });
    assert.equal(r.code, 0, r.stderr);
    const items = r.stdout.split('\0').filter((x) => x !== '');
    return {
      candidates: items.filter((x) => x.startsWith('C')).map((x) => x.slice(1)),
      accepted: items.filter((x) => x.startsWith('A')).map((x) => {
        const [n, ...rest] = x.slice(1).split(':');
        assert.equal(n, '1', `a candidate is one word on a command line: ${JSON.stringify(x)}`);
        return rest.join(':');
      }),
    };
  }

  /** Start each test with only the trap in CWD. */
  function resetCwd(): void {
    for (const f of readdirSync(CWD)) if (f !== TRAP) rmSync(join(CWD, f), { force: true });
  }

  function assertNothingRan(): void {
    assert.deepEqual(readdirSync(CWD).sort(), [TRAP], 'no payload created a file');
  }

  void test('guests: netns names with $(…), backticks, quotes, a newline, a * and spaces', async () => {
    resetCwd();
    const { candidates, accepted } = await complete(['eth1'], 'tsc');
    assertNothingRan();
    assert.ok(!candidates.includes(TRAP) && !accepted.includes(TRAP), `nothing was globbed: ${JSON.stringify(candidates)}`);
    assert.ok(accepted.includes('tscplain'), 'a plain name completes');
    assert.ok(candidates.includes('tscplain'), 'a plain name comes back literally');
    // Every candidate, once on a command line, is exactly one of the names: never code, never a glob.
    for (const a of accepted) assert.ok(NETNS.includes(a) || !a.startsWith('tsc'), `candidate reads back as an existing name: ${JSON.stringify(a)}`);
    // And each hostile name still completes, quoted so that it reads back as itself.
    for (const n of NETNS) assert.ok(accepted.includes(n), `${JSON.stringify(n)} completes: ${JSON.stringify(candidates)}`);
    assertNothingRan();
  });

  void test('host interfaces: link names with $(…), backticks and a *', async () => {
    resetCwd();
    const { candidates, accepted } = await complete([], 'tsc');
    assertNothingRan();
    assert.ok(!candidates.includes(TRAP) && !accepted.includes(TRAP), `nothing was globbed: ${JSON.stringify(candidates)}`);
    for (const p of PEERS) assert.ok(candidates.includes(p), `${p} comes back literally: ${JSON.stringify(candidates)}`);
    for (const a of accepted) assert.ok([...LINKS, ...PEERS].includes(a) || !a.startsWith('tsc'), `candidate reads back as an existing name: ${JSON.stringify(a)}`);
    for (const l of LINKS) assert.ok(accepted.includes(l), `${JSON.stringify(l)} completes: ${JSON.stringify(candidates)}`);
    assertNothingRan();
  });

  void test('the payloads are live: the same names through compgen -W would have run', async () => {
    // A check of the test itself: bash does evaluate these names when it expands them.
    const dir = mkdtempSync(join(SCRATCH, 'live-'));
    const r = await sh(['bash', '--norc', '--noprofile', '-c', 'compgen -W "$W" -- tsc >/dev/null'], { cwd: dir, env: { W: 'tsc$(>tscpl)' } });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(join(dir, 'tscpl')));
  });
});


void describe('cni install --socket only where no user but root can write', () => {
  const D = join(SCRATCH, 'install');
  const install = (socket: string, bin: string) => sh([process.execPath, pipeworkBin, 'cni', 'install', '--no-compile', '--dir', bin, '--socket', socket], { timeoutMs: 60_000 });

  before(async () => {
    mkdirSync(join(D, 'ww', 'sub'), { recursive: true });
    chmodSync(join(D, 'ww'), 0o777);
    mkdirSync(join(D, 'gw'));
    chmodSync(join(D, 'gw'), 0o775);
    mkdirSync(join(D, 'sticky'));
    chmodSync(join(D, 'sticky'), 0o1777);
    mkdirSync(join(D, 'nobodys'));
    await shOk(['chown', '65534:65534', join(D, 'nobodys')]);
    mkdirSync(join(D, 'safe'), { mode: 0o700 });
    symlinkSync(join(D, 'ww'), join(D, 'link'));
  });

  const refusals: [string, string, RegExp][] = [
    ['a world-writable directory', 'ww/cni.sock', /ww is writable by its group and others/u],
    ['a group-writable directory', 'gw/cni.sock', /gw is writable by its group/u],
    ['a sticky world-writable directory (as /tmp)', 'sticky/cni.sock', /sticky is writable by its group and others/u],
    ['a directory yet to make in a sticky one', 'sticky/later/cni.sock', /sticky is writable by its group and others/u],
    ['a directory another user owns', 'nobodys/cni.sock', /nobodys is owned by uid 65534, not root/u],
    ['a root-only directory below a world-writable one', 'ww/sub/cni.sock', /ww is writable by its group and others/u],
    ['a symbolic link to a world-writable directory', 'link/cni.sock', /ww is writable by its group and others/u],
  ];
  for (const [what, socket, why] of refusals) {
    void test(`refused: ${what}`, async () => {
      const bin = mkdtempSync(join(D, 'bin-'));
      const r = await install(join(D, socket), bin);
      assert.notEqual(r.code, 0, `refused: ${r.stdout}`);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, `one line: ${r.stderr}`);
      assert.match(lines[0]!, /--socket/u);
      assert.match(lines[0]!, why);
      assert.deepEqual(readdirSync(bin), [], 'nothing installed');
    });
  }

  void test('a directory only root can write is fine', async () => {
    const bin = mkdtempSync(join(D, 'bin-'));
    const r = await install(join(D, 'safe', 'cni.sock'), bin);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readdirSync(bin), ['pipework']);
    const u = await sh([process.execPath, pipeworkBin, 'cni', 'uninstall', '--dir', bin]);
    assert.equal(u.code, 0, u.stderr);
  });
});

void describe('CNI: a configuration never chooses where root writes or deletes files', () => {
  const RECORDS = '/var/lib/cni/pipework';
  const D = join(SCRATCH, 'cni');
  const NS = 'tsc-n1';
  const BRIDGE = 'br-tsc';
  /** Our networks' directories under the default records' directory. */
  const NETWORKS = ['tscadd', 'tscdel', 'tscgc', 'tscgc2', 'tsclink', 'tscnet2', 'tscnet3', 'tscok'];

  const conf = (name: string, extra: Record<string, unknown> = {}) => ({ cniVersion: '1.1.0', name, type: 'pipework', bridge: BRIDGE, ...extra });
  const call = (c: Partial<Call> & Pick<Call, 'command' | 'conf'>): Promise<CallResult> =>
    runOurs({ ifname: 'eth0', path: '/usr/lib/cni', ...c });

  /** A record as pipework writes it (nothing on the host matches it: cleaning it touches nothing). */
  function plant(path: string, network: string, containerId: string, ifname = 'eth0'): void {
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, `${JSON.stringify({
      version: 1, network, containerId, ifname, netns: '', hostKind: 'bridge', hostIf: 'br-tscnone', hostEnd: 'tscnone0',
      phase: 'attached', created: new Date().toISOString(),
    })}\n`);
  }

  async function ourLinks(): Promise<string[]> {
    return (await listLinks()).filter((l) => l.ifname === BRIDGE || (decodeRecord(typeof l.ifalias === 'string' ? l.ifalias : undefined)?.owner ?? '').startsWith('cni:tsc')).map((l) => l.ifname);
  }

  async function assertNothingPlumbed(): Promise<void> {
    assert.deepEqual(await ourLinks(), [], 'no bridge, no host end');
    assert.equal(await getLink('eth0', NS), undefined, 'nothing in the netns');
  }

  function assertRefused(r: CallResult, code: number, msg: RegExp): void {
    assert.equal(r.code, 1, `refused: ${r.stdout}${r.stderr}`);
    assert.equal(r.json?.['code'], code, r.stdout);
    assert.match(String(r.json?.['msg']), msg);
  }

  const cleanup = async () => {
    for (const n of NETWORKS) rmSync(join(RECORDS, n), { recursive: true, force: true });
    for (const l of await ourLinks()) await sh(['ip', 'link', 'del', 'dev', l]);
    await delNetns(NS);
  };

  before(async () => {
    await cleanup();
    mkdirSync(D, { recursive: true });
    await addNetns(NS);
  });
  // Each test starts with nothing plumbed (a test that failed may have left something).
  beforeEach(async () => {
    for (const l of await ourLinks()) await sh(['ip', 'link', 'del', 'dev', l]);
    if (await getLink('eth0', NS)) await sh(['ip', '-n', NS, 'link', 'del', 'dev', 'eth0']);
  });
  after(cleanup);

  void test('ADD with dataDir in a scratch directory: code 7 naming it, nothing written, nothing plumbed', async () => {
    const dir = join(D, 'add-data');
    mkdirSync(dir);
    const r = await call({ command: 'ADD', containerId: 'a1', netns: `/run/netns/${NS}`, conf: conf('tscadd', { dataDir: dir }) });
    assertRefused(r, 7, new RegExp(`dataDir '${dir}' is not allowed`, 'u'));
    assert.deepEqual(readdirSync(dir), [], 'nothing written there');
    assert.equal(existsSync(join(RECORDS, 'tscadd')), false, 'nor under the default directory');
    await assertNothingPlumbed();
  });

  void test('DEL with dataDir /etc: code 7, and /etc untouched', async () => {
    const r = await call({ command: 'DEL', containerId: 'a1', netns: '', conf: conf('tscdel', { dataDir: '/etc' }) });
    assertRefused(r, 7, /dataDir '\/etc' is not allowed/u);
    assert.equal(existsSync('/etc/tscdel'), false);
  });

  void test('GC with dataDir in a scratch directory: code 7, its records left alone', async () => {
    const dir = join(D, 'gc-data');
    const record = join(dir, 'tscgc', 'v1', 'eth0.json');
    plant(record, 'tscgc', 'v1');
    const r = await call({ command: 'GC', conf: conf('tscgc', { dataDir: dir, 'cni.dev/valid-attachments': [] }) });
    assertRefused(r, 7, /dataDir '.*gc-data' is not allowed/u);
    assert.ok(existsSync(record), 'the file is still there');
  });

  void test('a symbolic link planted under the records\' directory is never followed: ADD, DEL, GC', async () => {
    const target = join(D, 'linked');
    const record = join(target, 'c1', 'eth0.json');
    plant(record, 'tsclink', 'c1');
    mkdirSync(RECORDS, { recursive: true, mode: 0o700 });
    symlinkSync(target, join(RECORDS, 'tsclink'));

    const del = await call({ command: 'DEL', containerId: 'c1', netns: '', conf: conf('tsclink') });
    assertRefused(del, 5, /symbolic link/u);
    assert.ok(existsSync(record), 'DEL deleted nothing through the link');

    const add = await call({ command: 'ADD', containerId: 'c9', netns: `/run/netns/${NS}`, conf: conf('tsclink') });
    assertRefused(add, 5, /symbolic link/u);
    assert.deepEqual(readdirSync(target), ['c1'], 'ADD wrote nothing through the link');
    await assertNothingPlumbed();

    const gc = await call({ command: 'GC', conf: conf('tsclink', { 'cni.dev/valid-attachments': [] }) });
    assert.notEqual(gc.code, 0, 'GC says what it could not do');
    assert.match(String(gc.json?.['msg']), /symbolic link/u);
    assert.ok(existsSync(record), 'GC deleted nothing through the link');
  });

  void test('a container\'s directory or a record that is a symbolic link: refused, nothing deleted', async () => {
    const target = join(D, 'linked2');
    const record = join(target, 'eth0.json');
    plant(record, 'tscnet2', 'c2');
    mkdirSync(join(RECORDS, 'tscnet2'), { recursive: true, mode: 0o700 });
    symlinkSync(target, join(RECORDS, 'tscnet2', 'c2'));
    const del = await call({ command: 'DEL', containerId: 'c2', netns: '', conf: conf('tscnet2') });
    assertRefused(del, 5, /symbolic link/u);
    assert.ok(existsSync(record));

    const secret = join(D, 'secret.json');
    plant(secret, 'tscnet3', 'c3');
    mkdirSync(join(RECORDS, 'tscnet3', 'c3'), { recursive: true, mode: 0o700 });
    symlinkSync(secret, join(RECORDS, 'tscnet3', 'c3', 'eth0.json'));
    const del3 = await call({ command: 'DEL', containerId: 'c3', netns: '', conf: conf('tscnet3') });
    assertRefused(del3, 5, /symbolic link/u);
    assert.ok(existsSync(secret));
    assert.ok(lstatSync(join(RECORDS, 'tscnet3', 'c3', 'eth0.json')).isSymbolicLink(), 'the link is left for the operator to see');
  });

  void test('GC checks what it lists back from disk: a forged name in a record, a linked container directory', async () => {
    // A record whose ifname climbs out of the records' directory to a file that looks like one.
    const victim = join(D, 'victim.json');
    plant(victim, 'tscgc2', 'c5');
    plant(join(RECORDS, 'tscgc2', 'c5', 'eth0.json'), 'tscgc2', 'c5', `${'../'.repeat(10)}${victim.slice(1, -'.json'.length)}`);
    const linked = join(D, 'linked3');
    plant(join(linked, 'eth0.json'), 'tscgc2', 'c6');
    symlinkSync(linked, join(RECORDS, 'tscgc2', 'c6'));

    const gc = await call({ command: 'GC', conf: conf('tscgc2', { 'cni.dev/valid-attachments': [] }) });
    assert.notEqual(gc.code, 0, `GC reports what it would not touch: ${gc.stdout}`);
    assert.ok(existsSync(victim), 'the file the forged name pointed at is still there');
    assert.ok(existsSync(join(linked, 'eth0.json')), 'nothing deleted through the link');
  });

  void test('.. in the network name, the container id or the interface name is refused before any path is made', async () => {
    const bad = await call({ command: 'DEL', containerId: 'c1', netns: '', conf: conf('../tscx') });
    assertRefused(bad, 7, /invalid network name/u);
    for (const [containerId, ifname] of [['..', 'eth0'], ['../../etc', 'eth0'], ['c1', '..']] as const) {
      for (const command of ['ADD', 'DEL'] as const) {
        const r = await call({ command, containerId, ifname, netns: command === 'ADD' ? `/run/netns/${NS}` : '', conf: conf('tscok') });
        assertRefused(r, 4, /invalid CNI_(CONTAINERID|IFNAME)/u);
      }
    }
    assert.equal(existsSync(join(RECORDS, 'tscok')), false);
    await assertNothingPlumbed();
  });

  void test('a directory the operator allows in /etc/pipework/cni.json: used when only root can write it', async (t) => {
    const FILE = '/etc/pipework/cni.json';
    if (existsSync(FILE)) {
      t.skip(`${FILE} exists on this machine: not replacing the operator's file`);
      return;
    }
    const madeDir = !existsSync('/etc/pipework');
    const allowed = join(D, 'allowed');
    const open = join(D, 'allowed-ww');
    mkdirSync(allowed, { mode: 0o700 });
    mkdirSync(open);
    chmodSync(open, 0o777);
    mkdirSync('/etc/pipework', { recursive: true });
    writeFileSync(FILE, JSON.stringify({ dataDirs: [allowed, open] }), { mode: 0o644 });
    try {
      const c = conf('tscop', { cniVersion: '1.0.0', dataDir: allowed, ipam: { type: 'static', addresses: [{ address: '10.163.0.3/24' }] } });
      const add = await call({ command: 'ADD', containerId: 'op1', netns: `/run/netns/${NS}`, conf: c });
      assert.equal(add.code, 0, add.stdout + add.stderr);
      assert.ok(existsSync(join(allowed, 'tscop', 'op1', 'eth0.json')));
      const del = await call({ command: 'DEL', containerId: 'op1', netns: `/run/netns/${NS}`, conf: c });
      assert.equal(del.code, 0, del.stdout + del.stderr);
      // The network's folder of records goes with its last record (issue 21); the operator's directory stays.
      assert.ok(!existsSync(join(allowed, 'tscop')));
      assert.deepEqual(readdirSync(allowed), []);
      await sh(['ip', 'link', 'del', 'dev', BRIDGE]); // made by ADD, left by DEL (as the reference plugin does)
      await assertNothingPlumbed();

      // Allowed, but other users could plant links there: refused before anything changes.
      const ww = await call({ command: 'ADD', containerId: 'op2', netns: `/run/netns/${NS}`, conf: { ...c, dataDir: open } });
      assertRefused(ww, 5, /only where no user but root can write, and .*allowed-ww is writable by its group and others/u);
      assert.deepEqual(readdirSync(open), []);
      await assertNothingPlumbed();

      // A file others could have written is not read at all.
      chmodSync(FILE, 0o666);
      const loose = await call({ command: 'ADD', containerId: 'op3', netns: `/run/netns/${NS}`, conf: c });
      assertRefused(loose, 7, /dataDir '.*allowed' is not allowed/u);
      assert.match(String(loose.json?.['details']), /cni\.json was not read: .*writable by/u);
      await assertNothingPlumbed();
    } finally {
      rmSync(FILE, { force: true });
      if (madeDir) rmSync('/etc/pipework', { recursive: true, force: true });
    }
  });

  void test('the default directory still works: ADD, DEL leave nothing', async () => {
    const c = conf('tscok', { cniVersion: '1.0.0', ipam: { type: 'static', addresses: [{ address: '10.163.0.2/24' }] } });
    const add = await call({ command: 'ADD', containerId: 'ok1', netns: `/run/netns/${NS}`, conf: c });
    assert.equal(add.code, 0, add.stdout + add.stderr);
    assert.ok(existsSync(join(RECORDS, 'tscok', 'ok1', 'eth0.json')));
    assert.ok(await getLink(hostEndName('ok1', 'eth0')));
    const del = await call({ command: 'DEL', containerId: 'ok1', netns: `/run/netns/${NS}`, conf: c });
    assert.equal(del.code, 0, del.stdout + del.stderr);
    assert.equal(existsSync(join(RECORDS, 'tscok', 'ok1')), false);
    assert.equal(await getLink(hostEndName('ok1', 'eth0')), undefined);
  });
});

after(() => {
  rmSync(SCRATCH, { recursive: true, force: true });
});
