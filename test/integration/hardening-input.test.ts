// Issue 11 items 2 (as a non-root user, and `ls | head`), 10–17: input refused up front (one line,
// exit 1, --json error.reason, nothing changed), batch files that are not files, conflict
// messages that show the field that differs, options in any order and `--`, clear messages for
// typos and foreign spellings, --direct-phys with a bridge, a netns and a container of the same
// name, and batch duplicates. Run as root (the non-root cases drop to `nobody` with setpriv).
//
// Names: netns `hdm…` (and `-hdmx`, a name that looks like an option), `hd-mamb` (also a Docker
// container); bridges `br-hdm…`; OVS bridge `ovshdm`; Docker containers `hd-m…`; host ends
// `hdm…`; addresses 10.127.0.0/16, inside our netns only.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addBridge, addNetns, getLink, ip, listNetns, ping } from './helpers/netns.js';
import { pipeworkBin, sh, shOk } from './helpers/run.js';
import { assertResolvConfUnchanged, snapshotDiff, snapshotGuest } from './helpers/bridge-common.js';
import { dockerAvailable, ensureImage, runContainer } from './helpers/docker.js';
import {
  addOvsBridge,
  assertNoCrash,
  assertOneLine,
  cleanupTheme,
  guestLinks,
  ovsAvailable,
  ovsPorts,
  pw,
  refused,
  show,
  v4,
} from './helpers/hardening.js';

const G = 'hdm1';
const H = 'hdm2';
const BR = 'br-hdm';
const DASH = '-hdmx';
let dir = '';

async function removeDashNetns(): Promise<void> {
  if ((await listNetns()).includes(DASH)) await shOk(['ip', 'netns', 'del', DASH]);
}

before(async () => {
  await cleanupTheme('m', { docker: true });
  await removeDashNetns();
  dir = mkdtempSync(join(process.env['PIPEWORK_TEST_TMP'] ?? tmpdir(), 'hdm-'));
  await addNetns(G);
  await addNetns(H);
});

after(async () => {
  await cleanupTheme('m', { docker: true });
  await removeDashNetns();
  rmSync(dir, { recursive: true, force: true });
  assertResolvConfUnchanged();
});

function batchFile(name: string, lines: string[]): string {
  const f = join(dir, name);
  writeFileSync(f, lines.map((l) => `${l}\n`).join(''));
  return f;
}

/** Nothing changed: no bridge BR, the guests as they were. */
async function unchanged(before: Awaited<ReturnType<typeof snapshotGuest>>[]): Promise<void> {
  assert.equal(await getLink(BR), undefined, `${BR} was not made`);
  for (const [i, g] of [G, H].entries()) assert.deepEqual(snapshotDiff(before[i]!, await snapshotGuest(g)), [], `${g} is unchanged`);
}

/** Undo whatever a case made (only an old build makes anything here), so each case starts alike. */
async function resetGuests(): Promise<void> {
  for (const g of [G, H]) {
    for (const l of (await guestLinks([g])).get(g) ?? []) await ip(['link', 'del', l], g).catch(() => undefined);
  }
  for (const b of [BR, 'br-hdmb']) await ip(['link', 'del', b]).catch(() => undefined);
  for (const l of ['hdmsame', 'hdmh1', 'hdmh2']) await ip(['link', 'del', l]).catch(() => undefined);
}

const snap = (): Promise<Awaited<ReturnType<typeof snapshotGuest>>[]> => Promise.all([snapshotGuest(G), snapshotGuest(H)]);

/** Run as `nobody` (no capabilities). */
function asNobody(args: readonly string[]): Promise<Awaited<ReturnType<typeof sh>>> {
  return sh(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--', process.execPath, pipeworkBin, ...args], { timeoutMs: 30_000, cwd: '/' });
}

// -------------------------------------------------------------------------------------------------
void describe('values the kernel would catch are refused up front as invalid-argument (item 10)', () => {
  afterEach(resetGuests);
  const cases: [string, string[], RegExp][] = [
    ['::1/128', [BR, G, '::1/128'], /::1/u],
    ['127.0.0.5/8', [BR, G, '127.0.0.5/8'], /127\.0\.0\.5/u],
    ['a gateway at the broadcast address', [BR, G, '10.127.0.5/24@10.127.0.255'], /10\.127\.0\.255/u],
    ['a gateway at the network address', [BR, G, '10.127.0.5/24@10.127.0.0'], /10\.127\.0\.0/u],
    ["-i 'eth%d'", [BR, '-i', 'eth%d', G, '10.127.0.5/24'], /eth%d/u],
    ['::ffff:10.0.0.3/96', [BR, G, '::ffff:10.0.0.3/96'], /::ffff:10\.0\.0\.3/u],
  ];
  for (const [name, args, re] of cases) {
    void test(`${name}: exit 1, one line naming it, reason invalid-argument, nothing changed`, async () => {
      const before = await snap();
      await refused(args, 'invalid-argument', re);
      await unchanged(before);
    });
  }

  void test('two batch lines with the same -l: refused (conflict) before anything is made', async () => {
    const before = await snap();
    const f = batchFile('same-l.txt', [`${BR} -l hdmsame ${G} 10.127.1.1/24`, `${BR} -l hdmsame ${H} 10.127.1.2/24`]);
    const r = await refused(['batch', f], 'conflict', /hdmsame/u);
    assert.match(r.stderr, /line 2/u, show(['batch', f], r));
    assert.match(r.stderr, /line 1/u, show(['batch', f], r));
    await unchanged(before);
    assert.equal(await getLink('hdmsame'), undefined);
  });
});

// -------------------------------------------------------------------------------------------------
void describe('batch files that are not files (item 11)', () => {
  void test('batch /nonexistent: not-found, exit 1, one line, no internal error', async () => {
    await refused(['batch', '/nonexistent-hdm'], 'not-found', /nonexistent-hdm/u);
  });
  void test('batch /tmp (a directory): invalid-argument, exit 1, one line', async () => {
    await refused(['batch', '/tmp'], 'invalid-argument', /\/tmp/u);
  });
});

// -------------------------------------------------------------------------------------------------
void describe('a conflict shows the field that differs (item 12)', () => {
  after(async () => {
    await pw(['del', G]);
    await ip(['link', 'del', BR]).catch(() => undefined);
  });

  void test('another address: "what differs: address A → B"; only -l differing: "host end X → Y"', async () => {
    const first = [BR, '-l', 'hdmh1', G, '10.127.2.1/24'];
    assert.equal((await pw(first)).code, 0);
    const addr = [BR, '-l', 'hdmh1', G, '10.127.2.9/24'];
    const r = await refused(addr, 'conflict', /what differs: address 10\.127\.2\.1\/24 → 10\.127\.2\.9\/24/u);
    assert.doesNotMatch(r.stderr, /host end/u, show(addr, r));
    const local = [BR, '-l', 'hdmh2', G, '10.127.2.1/24'];
    const l = await refused(local, 'conflict', /what differs: host end hdmh1 → hdmh2/u);
    assert.doesNotMatch(l.stderr, /what differs: [^;)]*address/u, show(local, l));
    assert.ok(await getLink('hdmh1'), 'the interface stays as it was');
    assert.equal(await getLink('hdmh2'), undefined);
  });
});

// -------------------------------------------------------------------------------------------------
void describe('options in any order, -ieth2, -i=eth2, and -- (item 13)', () => {
  after(async () => {
    await pw(['del', '--all', H]);
    await ip(['link', 'del', BR]).catch(() => undefined);
  });

  const forms: [string, string[], string, string | undefined][] = [
    ['-i before <hostif>', ['-i', 'eth2', BR, H, '10.127.3.2/24'], 'eth2', undefined],
    ['-ieth3', [BR, '-ieth3', H, '10.127.3.3/24'], 'eth3', undefined],
    ['-i=eth4', [BR, '-i=eth4', H, '10.127.3.4/24'], 'eth4', undefined],
    ['-i after <guest>', [BR, H, '-i', 'eth5', '10.127.3.5/24'], 'eth5', undefined],
    ['-i and -l after the address', [BR, H, '10.127.3.6/24', '-i', 'eth6', '-l', 'hdml6'], 'eth6', 'hdml6'],
    ['-l and -a before <hostif>', ['-l', 'hdml7', '-a', '4', BR, '-i', 'eth7', H, '10.127.3.7/24'], 'eth7', 'hdml7'],
  ];
  for (const [name, args, guestIf, localIf] of forms) {
    void test(`${name}: ${args.join(' ')} → ${guestIf} in ${H}${localIf !== undefined ? `, host end ${localIf}` : ''}`, async () => {
      const r = await pw(args);
      assert.equal(r.code, 0, show(args, r));
      assertNoCrash(r, args);
      assert.deepEqual(await v4(H, guestIf), [args.find((a) => a.startsWith('10.127.3.'))!]);
      if (localIf !== undefined) assert.equal((await getLink(localIf))?.master, BR);
      assert.equal((await guestLinks([H])).get(H)?.some((l) => l.startsWith('-') || l.startsWith('eth=')), false, 'no interface named after an option');
    });
  }

  void test('-- ends the options: a netns named -hdmx is a guest after --, an unknown option without it', async () => {
    await shOk(['ip', 'netns', 'add', DASH]);
    const without = [BR, DASH, '10.127.4.1/24'];
    const r0 = await pw(without);
    assert.equal(r0.code, 1, show(without, r0));
    assertOneLine(r0, without, /-hdmx/u);
    const args = [BR, '--', DASH, '10.127.4.1/24'];
    const r = await pw(args);
    assert.equal(r.code, 0, show(args, r));
    assert.deepEqual(await v4(DASH, 'eth1'), ['10.127.4.1/24']);
    const del = ['del', '--', DASH];
    const d = await pw(del);
    assert.equal(d.code, 0, show(del, d));
    assert.equal(await getLink('eth1', DASH), undefined);
    await removeDashNetns();
  });
});

// -------------------------------------------------------------------------------------------------
void describe('messages (item 14, item 2 as non-root, ls | head)', () => {
  afterEach(resetGuests);
  void test('a DHCP method typo (dhcpx, UDHCPC): neither an address nor a DHCP method, suggesting udhcpc', async () => {
    const before = await snap();
    for (const m of ['dhcpx', 'UDHCPC']) {
      const r = await refused([BR, G, m], 'invalid-argument', /neither an address.*nor a DHCP method/u);
      assert.match(r.stderr, /udhcpc/u);
      assert.doesNotMatch(r.stderr, /netmask|prefix length/iu, 'not "an address missing its netmask"');
    }
    await unchanged(before);
  });

  void test('pid:abc → an invalid PID, not "no process with PID abc"', async () => {
    await refused([BR, 'pid:abc', '10.127.5.1/24'], 'invalid-argument', /invalid PID/iu);
  });

  void test('a batch line "route …" says it is a route line, not "passthrough"', async () => {
    const f = batchFile('route.txt', [`route ${G} add 10.99.0.0/16 dev lo`]);
    const r = await pw(['batch', f]);
    assert.equal(r.code, 1, show(['batch', f], r));
    assertOneLine(r, ['batch', f], /route/u);
    assert.doesNotMatch(r.stderr, /passthrough/u);
    assert.match(r.stderr, /line 1/u);
  });

  void test('as a non-root user (nobody): an attach and a --dry-run each say "run it as root", one line, exit 1, no trace', async () => {
    for (const args of [[BR, G, '10.127.5.1/24'], ['--dry-run', BR, G, '10.127.5.1/24'], ['del', G]]) {
      const r = await asNobody(args);
      assert.equal(r.code, 1, show(args, r));
      assertOneLine(r, args, /run it as root/u);
      assert.doesNotMatch(r.stderr, /RTNETLINK|Operation not permitted/u, show(args, r));
    }
    assert.equal(await getLink(BR), undefined);
  });

  void test('pipework ls | head -1, and ls into a reader that is already gone: no EPIPE trace, exit 0', async () => {
    // A few interfaces of ours, so even a listing of this guest alone has several lines.
    for (let i = 0; i < 4; i++) {
      const r = await pw([BR, '-i', `eth${10 + i}`, '-l', `hdmls${i}`, H, `10.127.6.${i + 1}/24`]);
      assert.equal(r.code, 0, show([], r));
    }
    // The global listing into head -1; this guest's listing into a reader that reads a little, and one that reads nothing.
    for (const [what, reader] of [['', 'head -1'], [H, 'head -c 10'], [H, 'true']] as const) {
      const r = await sh(['bash', '-c', `set -o pipefail; "$0" "$1" ls $3 2>"$2" | ${reader} >/dev/null; echo "status=$?"; cat "$2"`,
        process.execPath, pipeworkBin, join(dir, 'ls.err'), what], { timeoutMs: 60_000 });
      assert.match(r.stdout, /^status=0\n/u, `pipework ls | ${reader}: pipework's exit status and stderr\n${r.stdout}${r.stderr}`);
      assert.doesNotMatch(r.stdout, /EPIPE|\n\s+at |node:events|Unhandled/u, `pipework ls | ${reader}: no trace\n${r.stdout}`);
    }
    await pw(['del', '--all', H]);
    await ip(['link', 'del', BR]).catch(() => undefined);
  });

  void test('a Docker name with its leading slash (/hd-m1, as docker inspect prints it) works', async (t) => {
    if (!(await dockerAvailable())) return t.skip('no Docker daemon answers on /var/run/docker.sock');
    await ensureImage();
    const c = await runContainer('hd-m1');
    const args = [BR, '/hd-m1', '10.127.7.1/24'];
    const r = await pw(args);
    assert.equal(r.code, 0, show(args, r));
    const addrs = await shOk(['nsenter', `--net=/proc/${c.pid}/ns/net`, 'ip', '-4', '-o', 'addr', 'show', 'dev', 'eth1']);
    assert.match(addrs, /10\.127\.7\.1\/24/u);
    const d = await pw(['del', '/hd-m1']);
    assert.equal(d.code, 0, show(['del', '/hd-m1'], d));
    await ip(['link', 'del', BR]).catch(() => undefined);
  });
});

// -------------------------------------------------------------------------------------------------
void describe('--direct-phys with a bridge is refused (item 15)', () => {
  afterEach(resetGuests);
  void test('a Linux bridge: invalid-argument, the bridge and the guest unchanged', async () => {
    await addBridge('br-hdmb');
    const before = await snapshotGuest(G);
    await refused(['--direct-phys', 'br-hdmb', G, '10.127.8.1/24'], 'invalid-argument', /--direct-phys.*br-hdmb|br-hdmb.*--direct-phys/u);
    assert.ok(await getLink('br-hdmb'), 'the bridge is still on the host');
    assert.deepEqual(await sh(['ip', '-o', 'link', 'show', 'master', 'br-hdmb']).then((r) => r.stdout), '');
    assert.deepEqual(snapshotDiff(before, await snapshotGuest(G)), []);
  });

  void test('an Open vSwitch bridge: invalid-argument, no port added, the guest unchanged', async (t) => {
    if (!(await ovsAvailable())) return t.skip('Open vSwitch is not running');
    await addOvsBridge('ovshdm');
    const before = await snapshotGuest(G);
    await refused(['--direct-phys', 'ovshdm', G, '10.127.8.2/24'], 'invalid-argument', /--direct-phys.*ovshdm|ovshdm.*--direct-phys/u);
    assert.ok(await getLink('ovshdm'), 'the OVS bridge is still on the host');
    assert.deepEqual((await ovsPorts()).filter((p) => p.bridge === 'ovshdm' && p.name !== 'ovshdm'), []);
    assert.deepEqual(snapshotDiff(before, await snapshotGuest(G)), []);
  });
});

// -------------------------------------------------------------------------------------------------
void describe('a netns and a Docker container with the same name (item 16)', () => {
  const NAME = 'hd-mamb';
  void test('refused as ambiguous naming netns:hd-mamb and docker:hd-mamb; with a prefix each works, and they reach each other', async (t) => {
    if (!(await dockerAvailable())) return t.skip('no Docker daemon answers on /var/run/docker.sock');
    await ensureImage();
    const c = await runContainer(NAME);
    await addNetns(NAME);
    const args = [BR, NAME, '10.127.9.1/24'];
    const r = await pw(args);
    assert.equal(r.code, 1, show(args, r));
    assertOneLine(r, args, /netns:hd-mamb/u);
    assert.match(r.stderr, /docker:hd-mamb/u, show(args, r));
    assert.equal(await getLink(BR), undefined, 'nothing was made');
    const n = [BR, `netns:${NAME}`, '10.127.9.1/24'];
    const d = [BR, `docker:${NAME}`, '10.127.9.2/24'];
    assert.equal((await pw(n)).code, 0);
    assert.equal((await pw(d)).code, 0);
    assert.deepEqual(await v4(NAME, 'eth1'), ['10.127.9.1/24']);
    assert.match(await shOk(['nsenter', `--net=/proc/${c.pid}/ns/net`, 'ip', '-4', '-o', 'addr', 'show', 'dev', 'eth1']), /10\.127\.9\.2\/24/u);
    assert.ok(await ping(NAME, '10.127.9.2', 4, { retryMs: 5_000 }), 'the netns reaches the container');
    assert.equal((await pw(['del', `netns:${NAME}`])).code, 0);
    assert.equal((await pw(['del', `docker:${NAME}`])).code, 0);
    await ip(['link', 'del', BR]).catch(() => undefined);
  });
});

// -------------------------------------------------------------------------------------------------
void describe('batch duplicates (item 17)', () => {
  afterEach(resetGuests);
  after(async () => {
    await pw(['del', G]);
    await ip(['link', 'del', BR]).catch(() => undefined);
  });

  void test('an identical duplicate line is done once: exit 0, one eth1', async () => {
    const line = `${BR} ${G} 10.127.10.1/24`;
    const f = batchFile('dup.txt', [line, line]);
    const r = await pw(['batch', f]);
    assert.equal(r.code, 0, show(['batch', f], r));
    assertNoCrash(r, ['batch', f]);
    assert.deepEqual(await v4(G, 'eth1'), ['10.127.10.1/24']);
    assert.deepEqual((await guestLinks([G])).get(G), ['eth1']);
    assert.equal((await pw(['del', G])).code, 0);
    await ip(['link', 'del', BR]);
  });

  void test('a line holding only "pipework" is refused as "line N: …", and nothing of the batch is done', async () => {
    const before = await snap();
    const f = batchFile('only.txt', [`${BR} ${H} 10.127.10.2/24`, 'pipework']);
    const r = await pw(['batch', f]);
    assert.equal(r.code, 1, show(['batch', f], r));
    assertOneLine(r, ['batch', f], /line 2/u);
    await unchanged(before);
  });

  void test('two different lines for one guest interface: refused naming both lines and the field that differs', async () => {
    const before = await snap();
    const f = batchFile('two.txt', [`${BR} ${G} 10.127.10.1/24`, `${BR} ${G} 10.127.10.9/24`]);
    const r = await pw(['batch', f]);
    assert.equal(r.code, 1, show(['batch', f], r));
    assertOneLine(r, ['batch', f], /line 2/u);
    assert.match(r.stderr, /line 1/u, show(['batch', f], r));
    assert.match(r.stderr, /address/u, show(['batch', f], r));
    await unchanged(before);
  });
});
