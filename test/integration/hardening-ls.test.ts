// Issue 11 item 18: `ls` lists macvlan and --direct-phys interfaces (found by entering every
// namespace) in the global listing and in `ls <nic>`; the global listing shows each guest
// interface's live MAC; a guest with a ~200-character name (a Docker container) shows its name
// (shortened with … when the record cannot hold it, never ?), and `del` works for it.
// Issue 11 item 19: `--dry-run` prints lines a shell can run as shown: the printed lines of a
// netns attach, run with `bash -e`, make the same kernel state as a real attach (links,
// addresses, routes, records), and pipework reads and removes what they made. Run as root.
//
// Names: netns `hdl…`, bridges `br-hdl…`, stand-in NICs `hdlp0`/`hdlq0` (veth ends on the host,
// peers `hdlp1`/`hdlq1`), Docker container `hd-l…`; addresses 10.128.1.0/24–10.128.4.0/24.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { addNetns, getLink, ip, ipJson, type IpLink } from './helpers/netns.js';
import { sh, shOk } from './helpers/run.js';
import { assertResolvConfUnchanged, routeLines, snapshotDiff } from './helpers/bridge-common.js';
import { dockerAvailable, ensureImage, runContainer } from './helpers/docker.js';
import { aliasOf, cleanupTheme, lsJson, pw, show, type LsEntry } from './helpers/hardening.js';

before(async () => {
  await cleanupTheme('l', { docker: true });
});

after(async () => {
  await cleanupTheme('l', { docker: true });
  assertResolvConfUnchanged();
});

async function ok(args: readonly string[]): Promise<string> {
  const r = await pw(args);
  assert.equal(r.code, 0, show(args, r));
  return r.stdout;
}

async function macOf(ns: string | number, dev: string): Promise<string> {
  const argv = typeof ns === 'number' ? ['nsenter', `--net=/proc/${ns}/ns/net`, 'ip', '-json', 'link', 'show', 'dev', dev] : ['ip', '-n', ns, '-json', 'link', 'show', 'dev', dev];
  const [l] = JSON.parse(await shOk(argv)) as { address: string }[];
  return l!.address;
}

/** The text listing's rows, as column maps (by the header's column starts). */
function rows(text: string): Record<string, string>[] {
  const [head, ...lines] = text.split('\n').filter((l) => l.trim() !== '');
  if (head === undefined) return [];
  const cols = [...head.matchAll(/\S+/gu)].map((m) => ({ name: m[0], at: m.index }));
  return lines.map((l) => Object.fromEntries(cols.map((c, i) => [c.name, l.slice(c.at, cols[i + 1]?.at ?? l.length).trim()])));
}

// -------------------------------------------------------------------------------------------------
void describe('ls lists every kind, with live MACs (item 18)', () => {
  before(async () => {
    for (const g of ['hdl1', 'hdl2', 'hdl3']) await addNetns(g);
    await ip(['link', 'add', 'hdlp0', 'type', 'veth', 'peer', 'name', 'hdlp1']);
    await ip(['link', 'set', 'hdlp1', 'up']);
    await ip(['link', 'add', 'hdlq0', 'type', 'veth', 'peer', 'name', 'hdlq1']);
    await ok(['hdlp0', 'hdl1', '10.128.1.1/24']);
    await ok(['--direct-phys', 'hdlq0', 'hdl2', '10.128.2.1/24']);
    await ok(['br-hdl', 'hdl3', '10.128.3.1/24']);
  });

  void test('the global listing has the macvlan and the --direct-phys interface, each with its live MAC', async () => {
    const all = await lsJson();
    const by = (g: string): LsEntry | undefined => all.find((e) => e.guest === `netns:${g}`);
    assert.equal(by('hdl1')?.hostKind, 'macvlan', `macvlan listed: ${JSON.stringify(by('hdl1'))}`);
    assert.equal(by('hdl1')?.hostIf, 'hdlp0');
    assert.equal(by('hdl2')?.hostKind, 'phys', `--direct-phys listed: ${JSON.stringify(by('hdl2'))}`);
    assert.equal(by('hdl2')?.hostIf, 'hdlq0');
    const text = rows((await pw(['ls'])).stdout);
    for (const g of ['hdl1', 'hdl2', 'hdl3']) {
      const row = text.find((r) => r['GUEST'] === `netns:${g}`);
      assert.ok(row, `the text listing has netns:${g}`);
      assert.equal(row['MAC'], await macOf(g, 'eth1'), `the live MAC of ${g}'s eth1 (not '-')`);
    }
  });

  void test('ls <nic> lists the macvlan on hdlp0 and the NIC hdlq0 moved into its guest', async () => {
    const p = await lsJson(['hdlp0']);
    assert.deepEqual(p.map((e) => `${e.guest} ${e.guestIf ?? ''} ${e.hostKind ?? ''}`), ['netns:hdl1 eth1 macvlan']);
    const q = await lsJson(['hdlq0']);
    assert.deepEqual(q.map((e) => `${e.guest} ${e.guestIf ?? ''} ${e.hostKind ?? ''}`), ['netns:hdl2 eth1 phys']);
    const text = (await pw(['ls', 'hdlp0'])).stdout;
    assert.match(text, /netns:hdl1\s+eth1\s+hdlp0\s+macvlan/u, text);
  });

  void test('del gives the NIC back and removes the macvlan; ls <nic> is then empty', async () => {
    await ok(['del', 'hdl1']);
    await ok(['del', 'hdl2']);
    assert.ok(await getLink('hdlq0'), 'hdlq0 is back on the host under its name');
    assert.deepEqual(await lsJson(['hdlp0']), []);
    assert.deepEqual(await lsJson(['hdlq0']), []);
    await ok(['del', 'hdl3']);
  });
});

// -------------------------------------------------------------------------------------------------
void describe('a guest with a 200-character name (item 18)', () => {
  const NAME = `hd-l${'x'.repeat(196)}`;

  void test('ls shows its name (shortened with … if need be, never ?), ls <name> and del work', async (t) => {
    if (!(await dockerAvailable())) return t.skip('no Docker daemon answers on /var/run/docker.sock');
    assert.equal(NAME.length, 200);
    await ensureImage();
    const c = await runContainer(NAME);
    await ok(['br-hdlx', NAME, '10.128.4.1/24']);
    const mine = (await lsJson()).filter((e) => e.guest.startsWith('docker:hd-lxxx'));
    assert.equal(mine.length, 1, `one entry for it: ${JSON.stringify(mine)}`);
    const g = mine[0]!.guest;
    assert.ok(g === `docker:${NAME}` || (g.endsWith('…') && `docker:${NAME}`.startsWith(g.slice(0, -1))), `its name, or its start and …: ${g}`);
    assert.ok(!g.includes('?'));
    const text = rows((await pw(['ls'])).stdout).find((r) => (r['GUEST'] ?? '').startsWith('docker:hd-lxxx'));
    assert.ok(text && !text['GUEST']!.includes('?'), `the text listing names it: ${JSON.stringify(text)}`);
    assert.equal(text['MAC'], await macOf(c.pid, 'eth1'));
    assert.equal((await lsJson([NAME])).length, 1, 'ls <its name> finds it');
    await ok(['del', NAME]);
    assert.equal((await sh(['nsenter', `--net=/proc/${c.pid}/ns/net`, 'ip', 'link', 'show', 'eth1'])).code, 1, 'eth1 is gone');
    assert.deepEqual(await lsJson(['br-hdlx']), [], 'nothing of it left on its bridge');
  });
});

// -------------------------------------------------------------------------------------------------
void describe('--dry-run prints lines a shell runs as shown (item 19)', () => {
  const G = 'hdly';
  const BR = 'br-hdly';
  const ARGS = [BR, G, '10.128.5.5/24@10.128.5.1', '02:12:34:56:78:9a'];

  /** What an attach made: the bridge, the host end, the guest's links, addresses, routes, and pipework's records. */
  async function made(): Promise<{ bridge: string[]; hostEnds: string[]; guestLinks: string[]; addrs: string[]; routes: string[]; records: string[] }> {
    const br = await getLink(BR);
    const ends = (await ipJson(['-d', 'link', 'show', 'master', BR])) as IpLink[];
    const guest = (await ipJson(['-d', 'addr', 'show'], G)) as (IpLink & { addr_info: { local: string; prefixlen: number; broadcast?: string }[] })[];
    return {
      bridge: [`${br?.linkinfo?.info_kind ?? 'none'} ${br?.flags.includes('UP') === true ? 'up' : 'down'}`],
      hostEnds: ends.map((l) => `${l.ifname} ${l.linkinfo?.info_kind ?? ''} mtu=${l.mtu} up=${String(l.flags.includes('UP'))} alias=${aliasOf(l)}`),
      guestLinks: guest.map((l) => `${l.ifname} ${l.linkinfo?.info_kind ?? ''} mtu=${l.mtu} mac=${l.address ?? ''} up=${String(l.flags.includes('UP'))} alias=${aliasOf(l)}`).sort(),
      addrs: guest.flatMap((l) => l.addr_info.filter((a) => !a.local.startsWith('fe80')).map((a) => `${l.ifname} ${a.local}/${a.prefixlen} brd=${a.broadcast ?? ''}`)).sort(),
      routes: await routeLines(G, 4),
      records: (await lsJson([G])).map((e) => JSON.stringify({ ...e, state: undefined, currentMac: undefined })),
    };
  }

  before(async () => {
    await addNetns(G);
  });

  void test('bash -e runs the printed plan; the state equals a real attach\'s; pipework reads it and del removes it', async () => {
    const plan = await ok(['--dry-run', ...ARGS]);
    assert.equal(await getLink(BR), undefined, '--dry-run changed nothing');
    const run = await sh(['bash', '-e', '-c', plan], { timeoutMs: 30_000 });
    assert.equal(run.code, 0, `bash -e on the printed plan:\n${plan}\nexit ${run.code}\n${run.stderr}`);
    const byShell = await made();
    assert.ok(byShell.hostEnds.some((l) => l.includes(';g=netns:hdly;')), `the shell wrote the record in full (no split at ';'):\n${byShell.hostEnds.join('\n')}`);
    // pipework takes what the shell made as its own: the same attach is unchanged.
    const again = await pw(['--json', ...ARGS]);
    assert.equal(again.code, 0, show(ARGS, again));
    assert.equal((JSON.parse(again.stdout) as { outcome: string }).outcome, 'unchanged');
    await ok(['del', G]);
    assert.equal(await getLink('eth1', G), undefined, 'del removed what the shell made');
    await ip(['link', 'del', BR]);

    await ok(ARGS);
    const real = await made();
    assert.deepEqual(snapshotDiff(real, byShell), [], 'the printed plan made what the real attach makes');
    await ok(['del', G]);
  });
});
