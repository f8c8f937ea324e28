// Issue 11 item 4: re-running an attach checks the live state and repairs drift. For each drift —
// the bridge deleted, the address flushed, the guest end or the host end set down, the host end
// taken off its bridge (nomaster), the default route of @gateway deleted, a wrong OVS tag — the
// same attach exits 0 and says on stderr what it repaired; with --json the outcome is `repaired`
// with a `repaired` list; the state is back and traffic flows again; a second re-run is
// `unchanged`. And `ls` shows live state: DRIFT (…) in STATE (`drift` with --json) for a host end
// off its bridge, a bridge gone, an address missing. Run as root.
//
// Names: netns `hdf1` (container-like: eth0 with a default route), `hdf2` (a peer, by hand on the
// bridge through `hdf2h`), `hdf3`/`hdf4` (OVS guests); bridge `br-hdf`, OVS bridge `ovshdf`, OVS
// host ends `hdfo3`/`hdfo4`; addresses 10.124.0.0/24 and 10.124.1.0/24.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { addContainerLikeNetns, addNetns, attachToBridge, getLink, ip, ping } from './helpers/netns.js';
import { sh, shOk, waitFor } from './helpers/run.js';
import { assertResolvConfUnchanged } from './helpers/bridge-common.js';
import { assertNoCrash, cleanupTheme, defaults, lsJson, ovsAvailable, ovsPorts, pw, show, v4 } from './helpers/hardening.js';

const G = 'hdf1';
const PEER = 'hdf2';
const BR = 'br-hdf';
const ATTACH = [BR, G, '10.124.0.1/24@10.124.0.254'];

before(async () => {
  await cleanupTheme('f');
  await addContainerLikeNetns(G, '192.168.124.2/24', '192.168.124.1');
  await addNetns(PEER);
});

after(async () => {
  await cleanupTheme('f');
  assertResolvConfUnchanged();
});

interface AttachJson {
  outcome?: string;
  repaired?: string[];
  interface?: { localIf?: string };
}

async function attachJson(args: readonly string[]): Promise<AttachJson> {
  const r = await pw(['--json', ...args]);
  assert.equal(r.code, 0, show(['--json', ...args], r));
  assertNoCrash(r, args);
  return JSON.parse(r.stdout) as AttachJson;
}

/** The peer's hand-made port joins the bridge again (after the bridge was re-made). */
async function peerOnBridge(): Promise<void> {
  const l = await getLink('hdf2h');
  if (l === undefined) await attachToBridge(PEER, BR, { hostIf: 'hdf2h', guestIf: 'eth1', addrs: ['10.124.0.100/24'] });
  else if (l.master !== BR) await ip(['link', 'set', 'hdf2h', 'master', BR, 'up']);
}

/** Everything the attach made is there and works. */
async function healthy(hostEnd: string): Promise<void> {
  const eth1 = await getLink('eth1', G);
  assert.ok(eth1?.flags.includes('UP'), 'eth1 is up');
  assert.deepEqual(await v4(G, 'eth1'), ['10.124.0.1/24']);
  assert.ok((await defaults(G)).includes('10.124.0.254 eth1'), `the default route via 10.124.0.254: ${(await defaults(G)).join(', ')}`);
  const h = await getLink(hostEnd);
  assert.equal(h?.master, BR, `${hostEnd} is a port of ${BR}`);
  assert.ok(h.flags.includes('UP'), `${hostEnd} is up`);
  assert.ok((await getLink(BR))?.flags.includes('UP'), `${BR} is up`);
  await peerOnBridge();
  assert.ok(await ping(G, '10.124.0.100', 4, { retryMs: 5_000 }), 'the guest reaches its peer on the bridge');
}

interface DriftCase {
  name: string;
  /** Make the drift (hostEnd: the attach's host end). */
  make(hostEnd: string): Promise<void>;
  /** What the repair message must mention. */
  says: RegExp;
  /** `ls` must show it as DRIFT. */
  lsShows?: boolean;
}

const CASES: DriftCase[] = [
  { name: 'the bridge deleted (ip link del br-hdf)', make: () => ip(['link', 'del', BR]).then(() => undefined), says: /bridge br-hdf/u, lsShows: true },
  { name: 'the address flushed', make: () => ip(['addr', 'flush', 'dev', 'eth1'], G).then(() => undefined), says: /10\.124\.0\.1\/24/u, lsShows: true },
  { name: 'the guest end set down', make: () => ip(['link', 'set', 'eth1', 'down'], G).then(() => undefined), says: /eth1.*down|down.*eth1/u },
  { name: 'the host end set down', make: (h) => ip(['link', 'set', h, 'down']).then(() => undefined), says: /down/u },
  { name: 'the host end taken off its bridge (nomaster)', make: (h) => ip(['link', 'set', h, 'nomaster']).then(() => undefined), says: /not a port of br-hdf/u, lsShows: true },
  { name: "the @gateway's default route deleted", make: () => ip(['route', 'del', 'default'], G).then(() => undefined), says: /default route|10\.124\.0\.254/u },
];

void describe('re-running an attach repairs drift (Linux bridge, @gateway)', () => {
  let hostEnd = '';

  before(async () => {
    const j = await attachJson(ATTACH);
    assert.equal(j.outcome, 'created');
    hostEnd = j.interface?.localIf ?? '';
    assert.notEqual(hostEnd, '');
    await healthy(hostEnd);
  });

  /** Start each case from a whole attach (an old build leaves the previous case's drift behind). */
  async function rebuildIfBroken(): Promise<void> {
    const eth1 = await getLink('eth1', G);
    const h = await getLink(hostEnd);
    const whole = eth1?.flags.includes('UP') === true && JSON.stringify(await v4(G, 'eth1')) === '["10.124.0.1/24"]' &&
      (await defaults(G)).includes('10.124.0.254 eth1') && h?.master === BR && h.flags.includes('UP');
    if (whole) return;
    await ip(['link', 'del', 'eth1'], G).catch(() => undefined);
    await ip(['link', 'del', BR]).catch(() => undefined);
    await ip(['route', 'replace', 'default', 'via', '192.168.124.1', 'dev', 'eth0'], G);
    const j = await attachJson(ATTACH);
    hostEnd = j.interface?.localIf ?? '';
    await healthy(hostEnd);
  }

  for (const c of CASES) {
    void test(`${c.name}: the re-run repairs it and says so; --json "repaired"; traffic again; then "unchanged"`, async () => {
      await rebuildIfBroken();
      await c.make(hostEnd);
      if (c.lsShows === true) {
        const [entry] = await lsJson([G]);
        assert.ok(entry?.drift !== undefined && entry.drift !== null && entry.drift !== false, `ls --json shows drift: ${JSON.stringify(entry)}`);
        const text = await pw(['ls', G]);
        assert.match(text.stdout, /DRIFT \(/u, `ls shows DRIFT (…) in STATE:\n${text.stdout}`);
      }
      // Plain re-run: exit 0 and one line on stderr naming what it repaired.
      const r = await pw(ATTACH);
      assert.equal(r.code, 0, show(ATTACH, r));
      assertNoCrash(r, ATTACH);
      assert.match(r.stderr, /repair|put right/u, `it says it repaired something\n${show(ATTACH, r)}`);
      assert.match(r.stderr, c.says, show(ATTACH, r));
      await healthy(hostEnd);
      // The same drift again, repaired through --json.
      await c.make(hostEnd);
      const j = await attachJson(ATTACH);
      assert.equal(j.outcome, 'repaired', JSON.stringify(j));
      assert.ok(Array.isArray(j.repaired) && j.repaired.length > 0 && j.repaired.some((s) => c.says.test(s)), `repaired names it: ${JSON.stringify(j.repaired)}`);
      await healthy(hostEnd);
      // And now there is nothing to repair.
      const again = await pw(ATTACH);
      assert.equal(again.code, 0, show(ATTACH, again));
      assert.equal(again.stderr, '', show(ATTACH, again));
      assert.equal((await attachJson(ATTACH)).outcome, 'unchanged');
      const [entry] = await lsJson([G]);
      assert.ok(entry !== undefined && (entry.drift === undefined || entry.drift === null), `no drift left: ${JSON.stringify(entry)}`);
    });
  }
});

void describe('re-running an OVS attach repairs a wrong tag', () => {
  let skip: string | false = false;
  const OVS = 'ovshdf';
  const A3 = [OVS, '-l', 'hdfo3', 'hdf3', '10.124.1.3/24', '@10'];
  const A4 = [OVS, '-l', 'hdfo4', 'hdf4', '10.124.1.4/24', '@10'];

  before(async () => {
    if (!(await ovsAvailable())) {
      skip = 'Open vSwitch (ovsdb-server and ovs-vswitchd) is not running';
      return;
    }
    await addNetns('hdf3');
    await addNetns('hdf4');
    for (const a of [A3, A4]) {
      const r = await pw(a);
      assert.equal(r.code, 0, show(a, r));
    }
    assert.ok(await ping('hdf3', '10.124.1.4', 4, { retryMs: 5_000 }), 'tag 10 reaches tag 10');
  });

  void test('tag set to 20 by hand: the re-run puts 10 back (stderr, --json repaired), traffic flows again, then unchanged', async (t) => {
    if (skip !== false) return t.skip(skip);
    const tagOf = async (): Promise<number | undefined> => (await ovsPorts()).find((p) => p.name === 'hdfo3')?.tag;
    await shOk(['ovs-vsctl', '--timeout=10', 'set', 'Port', 'hdfo3', 'tag=20']);
    assert.equal(await tagOf(), 20);
    assert.ok(!(await ping('hdf3', '10.124.1.4', 4, { retryMs: 1_000 })), 'on VLAN 20 it cannot reach VLAN 10');
    const r = await pw(A3);
    assert.equal(r.code, 0, show(A3, r));
    assert.match(r.stderr, /tag/u, `it says it repaired the tag\n${show(A3, r)}`);
    assert.equal(await tagOf(), 10);
    assert.ok(await ping('hdf3', '10.124.1.4', 4, { retryMs: 5_000 }), 'back on VLAN 10');
    await shOk(['ovs-vsctl', '--timeout=10', 'set', 'Port', 'hdfo3', 'tag=20']);
    const j = await attachJson(A3);
    assert.equal(j.outcome, 'repaired', JSON.stringify(j));
    assert.ok(j.repaired?.some((s) => /tag/u.test(s)), JSON.stringify(j.repaired));
    assert.equal(await tagOf(), 10);
    assert.equal((await attachJson(A3)).outcome, 'unchanged');
    const ext = await sh(['ovs-vsctl', '--timeout=10', 'get', 'Interface', 'hdfo3', 'external_ids:pipework.vlan'], { timeoutMs: 20_000 });
    assert.equal(ext.stdout.trim().replace(/"/gu, ''), '10');
    await waitFor('ping', () => ping('hdf3', '10.124.1.4', 4, { retryMs: 1_000 }), 10_000);
  });
});
