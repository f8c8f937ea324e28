// Issue 11 item 3: an Open vSwitch port row never keeps an old VLAN tag. Every add sets exactly
// pipework's columns in one transaction that replaces any row of that name — on the stale-row
// path (the guest's netns was deleted, its row stayed, another guest comes under the same port
// name), and on the existing-row paths (the row is still there: its device deleted while the
// guest lives; or the device still there, during a --replace). The tag is checked in the
// database, in the external-ids, and by traffic: the new guest reaches a tag-10 guest, not a
// tag-20 one.
// Issue 10 defect 6: `del --stale docker:NAME` cleans only the Docker guest's leftovers, not those
// of a netns with the same name (an OVS row, a resolv.conf).
// Run as root.
//
// Names: OVS bridge `ovshdo`; netns `hdo…`, OVS host ends `hdo…h`; Docker container and netns
// `hd-ow`; addresses 10.125.0.0/24 (VLANs 10 and 20), 10.125.1.0/24.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { addNetns, delNetns, getLink, ip, ping } from './helpers/netns.js';
import { waitFor } from './helpers/run.js';
import { assertResolvConfUnchanged } from './helpers/bridge-common.js';
import { dockerAvailable, ensureImage, removeContainer, runContainer } from './helpers/docker.js';
import { addOvsBridge, cleanupTheme, lsJson, ovsAvailable, ovsPorts, pw, show, type OvsPort } from './helpers/hardening.js';

const OVS = 'ovshdo';
let skip: string | false = false;

before(async () => {
  await cleanupTheme('o', { docker: true });
  if (!(await ovsAvailable())) {
    skip = 'Open vSwitch (ovsdb-server and ovs-vswitchd) is not running';
    return;
  }
  await addOvsBridge(OVS);
  // The two reference guests: one on VLAN 10, one on VLAN 20.
  for (const [g, vlan] of [['hdo10', 10], ['hdo20', 20]] as const) {
    await addNetns(g);
    const args = [OVS, '-l', `${g}h`, g, `10.125.0.${vlan}/24`, `@${vlan}`];
    const r = await pw(args);
    assert.equal(r.code, 0, show(args, r));
  }
});

after(async () => {
  await cleanupTheme('o', { docker: true });
  assertResolvConfUnchanged();
});

async function port(name: string): Promise<OvsPort | undefined> {
  return (await ovsPorts()).find((p) => p.name === name);
}

/** GUEST (with ADDRESS's host part) is on VLAN `vlan`: the row says so, and traffic agrees. */
async function onVlan(guest: string, localIf: string, vlan: 10 | 20): Promise<void> {
  const row = await port(localIf);
  assert.ok(row !== undefined, `a row ${localIf}`);
  assert.equal(row.bridge, OVS);
  assert.equal(row.tag, vlan, `ovs-vsctl get Port ${localIf} tag is ${vlan}: ${JSON.stringify(row)}`);
  assert.equal(row.ids['pipework.vlan']?.replace(/"/gu, ''), String(vlan), `external-ids say ${vlan}: ${JSON.stringify(row.ids)}`);
  const other = vlan === 10 ? 20 : 10;
  assert.ok(await ping(guest, `10.125.0.${vlan}`, 4, { retryMs: 5_000 }), `${guest} reaches the tag-${vlan} guest`);
  assert.ok(!(await ping(guest, `10.125.0.${other}`, 4, { retryMs: 1_500 })), `${guest} does NOT reach the tag-${other} guest`);
}

void describe('an OVS port name re-used: the new row has the new tag', () => {
  void test('stale-row path: attach @20, delete the netns (the row stays, STALE), another guest under the same -l @10 → tag 10', async (t) => {
    if (skip !== false) return t.skip(skip);
    await addNetns('hdoa');
    const first = [OVS, '-l', 'hdoxh', 'hdoa', '10.125.0.1/24', '@20'];
    assert.equal((await pw(first)).code, 0);
    await onVlan('hdoa', 'hdoxh', 20);
    await delNetns('hdoa');
    await waitFor('the device goes with the netns', async () => (await getLink('hdoxh')) === undefined, 10_000);
    assert.equal((await port('hdoxh'))?.tag, 20, 'the row stayed behind, with its tag');
    const stale = (await lsJson([OVS])).find((e) => e.localIf === 'hdoxh');
    assert.match(String(stale?.state ?? ''), /STALE/u, `ls shows it as STALE: ${JSON.stringify(stale)}`);

    await addNetns('hdob');
    const second = [OVS, '-l', 'hdoxh', 'hdob', '10.125.0.2/24', '@10'];
    const r = await pw(second);
    assert.equal(r.code, 0, show(second, r));
    await onVlan('hdob', 'hdoxh', 10);
    assert.equal((await port('hdoxh'))?.ids['pipework.guest']?.replace(/"/gu, ''), 'netns:hdob', 'the row is the new guest\'s');
    const entry = (await lsJson([OVS])).find((e) => e.localIf === 'hdoxh');
    assert.equal(entry?.guest, 'netns:hdob');
    assert.equal(entry.vlan, 10);
  });

  void test('existing-row path: the device deleted while the guest lives (the row stays), the same guest again @10 → tag 10', async (t) => {
    if (skip !== false) return t.skip(skip);
    await addNetns('hdoc');
    const first = [OVS, '-l', 'hdoyh', 'hdoc', '10.125.0.3/24', '@20'];
    assert.equal((await pw(first)).code, 0);
    await onVlan('hdoc', 'hdoyh', 20);
    await ip(['link', 'del', 'eth1'], 'hdoc');
    assert.equal((await port('hdoyh'))?.tag, 20, 'the row is still there');
    const again = [OVS, '-l', 'hdoyh', 'hdoc', '10.125.0.3/24', '@10'];
    const r = await pw(again);
    assert.equal(r.code, 0, show(again, r));
    await onVlan('hdoc', 'hdoyh', 10);
  });

  void test('existing-row path: --replace from @20 to @10 under the same -l (row and device there) → tag 10', async (t) => {
    if (skip !== false) return t.skip(skip);
    await addNetns('hdod');
    const first = [OVS, '-l', 'hdozh', 'hdod', '10.125.0.4/24', '@20'];
    assert.equal((await pw(first)).code, 0);
    await onVlan('hdod', 'hdozh', 20);
    const replace = ['--replace', OVS, '-l', 'hdozh', 'hdod', '10.125.0.4/24', '@10'];
    const r = await pw(replace);
    assert.equal(r.code, 0, show(replace, r));
    await onVlan('hdod', 'hdozh', 10);
    const [entry] = await lsJson(['hdod']);
    assert.equal(entry?.vlan, 10);
  });
});

// -------------------------------------------------------------------------------------------------
void describe('del --stale docker:NAME leaves the leftovers of a netns with the same name (issue 10, defect 6)', () => {
  const NAME = 'hd-ow';
  const RESOLV = `/etc/netns/${NAME}/resolv.conf`;
  let dockerSkip: string | false = false;

  before(async () => {
    if (skip !== false) return;
    if (!(await dockerAvailable())) {
      dockerSkip = 'no Docker daemon answers on /var/run/docker.sock';
      return;
    }
    await ensureImage();
    await runContainer(NAME);
    await addNetns(NAME);
    for (const [kind, l, a] of [['docker', 'hdowd', '10.125.1.1/24'], ['netns', 'hdown', '10.125.1.2/24']] as const) {
      const args = [OVS, '-l', l, `${kind}:${NAME}`, a];
      const r = await pw(args);
      assert.equal(r.code, 0, show(args, r));
    }
    // Both guests die: their rows stay (stale).
    await removeContainer(NAME);
    await delNetns(NAME);
    // And the dead netns leaves a resolv.conf as a DHCP lease writes it (pipework's first line, naming the netns inode).
    mkdirSync(`/etc/netns/${NAME}`, { recursive: true });
    writeFileSync(RESOLV, `# Written by pipework from the DHCP lease on eth1 (netns:${NAME}, netns 4026500001)\nnameserver 10.125.1.53\n`);
    await waitFor('both devices gone', async () => (await getLink('hdowd')) === undefined && (await getLink('hdown')) === undefined, 10_000);
  });

  void test('del --stale docker:hd-ow removes only the Docker guest\'s row; del --stale netns:hd-ow then the netns\' row and resolv.conf', async (t) => {
    if (skip !== false) return t.skip(skip);
    if (dockerSkip !== false) return t.skip(dockerSkip);
    assert.ok(await port('hdowd'), 'the Docker guest\'s stale row');
    assert.ok(await port('hdown'), 'the netns guest\'s stale row');
    const r = await pw(['del', '--stale', `docker:${NAME}`]);
    assert.equal(r.code, 0, show(['del', '--stale', `docker:${NAME}`], r));
    assert.equal(await port('hdowd'), undefined, 'the Docker guest\'s row is gone');
    assert.ok(await port('hdown'), 'the netns guest\'s row is still there');
    assert.ok(existsSync(RESOLV), 'the netns guest\'s resolv.conf is still there');

    const n = await pw(['del', '--stale', `netns:${NAME}`]);
    assert.equal(n.code, 0, show(['del', '--stale', `netns:${NAME}`], n));
    assert.equal(await port('hdown'), undefined, 'now the netns guest\'s row is gone');
    assert.ok(!existsSync(RESOLV), `and its resolv.conf: ${existsSync(RESOLV) ? readFileSync(RESOLV, 'utf8') : ''}`);
  });
});
