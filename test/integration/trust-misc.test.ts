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
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeworkBin, sh, shOk } from './helpers/run.js';

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

after(() => {
  rmSync(SCRATCH, { recursive: true, force: true });
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
