// Issue 18 item 3: a forged record makes root act on a host link. A guest with NET_ADMIN can
// rewrite the alias of its own interfaces, pipework's guest-side record included; the record
// says which host link is the interface's host end (`l=`), which NIC a moved-in one goes back
// as (`o=`, `om=`). Each test plays the guest (its alias written with `ip` inside its namespace,
// as a container with NET_ADMIN would) and then runs what an operator or the watcher runs next:
// a re-run of the same line (Linux bridge and Open vSwitch), --replace, del, and the watcher's
// own re-run from a label. The victim host link must come out untouched: not enslaved, not up,
// no OVS row, not renamed. Run as root.
//
// Names: containers `tsr-…`, netns `tsr…`, bridges `br-tsr…`, OVS bridge `ovstsr1`, other host
// links `tsr…`; addresses 10.165.0.0/16, inside our own guests only.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { addNetns, delLink, delNetns, getLink, ip, listLinks } from './helpers/netns.js';
import { pipeworkBin, sh, shOk } from './helpers/run.js';
import { assertResolvConfUnchanged } from './helpers/bridge-common.js';
import { dockerAvailable, ensureImage, removeContainer, runContainer, type DockerContainer } from './helpers/docker.js';
import { addOvsBridge, ovsAvailable, ovsPorts, show } from './helpers/hardening.js';
import { startWatcher } from './watch-lib.js';
import { encodeRecord, decodeRecord, type AttachRecord } from '../../src/model/record.js';

const VICTIM = 'tsrvic0';
const VICTIM_PEER = 'tsrvic1';
const NIC = 'tsrnic0';
const NIC_PEER = 'tsrnic1';
const BR = 'br-tsr1';
const BR2 = 'br-tsr2';
const OVS = 'ovstsr1';
let c: DockerContainer | undefined;
/** Known before the tests are declared: a test that cannot run says so (skipped with its reason). */
const docker = await dockerAvailable();

function pw(args: string[], env: Record<string, string> = {}) {
  return sh([process.execPath, pipeworkBin, ...args], { env, timeoutMs: 60_000 });
}

/** Write an alias inside the container's namespace, as its root with NET_ADMIN would. */
async function forge(dev: string, change: (r: AttachRecord) => AttachRecord): Promise<void> {
  const alias = readFileSync(`/proc/${c!.pid}/root/sys/class/net/${dev}/ifalias`, 'utf8').trim();
  const r = decodeRecord(alias);
  assert.ok(r, `${dev} carries pipework's record: ${alias}`);
  await shOk(['nsenter', `--net=/proc/${c!.pid}/ns/net`, 'ip', 'link', 'set', 'dev', dev, 'alias', encodeRecord(change(r))]);
}

/** The victim as it must stay: down, a port of nothing, not an OVS port, under its own name. */
async function victimUntouched(): Promise<void> {
  const v = await getLink(VICTIM);
  assert.ok(v, `${VICTIM} is still there under its name`);
  assert.equal(v.master, undefined, `${VICTIM} was not made a port of anything`);
  assert.ok(!(v.flags ?? []).includes('UP'), `${VICTIM} was not brought up`);
  if (await ovsAvailable()) assert.ok(!(await ovsPorts()).some((p) => p.name === VICTIM), `${VICTIM} is no OVS port`);
}

before(async () => {
  await cleanup();
  await ip(['link', 'add', VICTIM, 'type', 'veth', 'peer', 'name', VICTIM_PEER]);
  if (docker) {
    await ensureImage();
    c = await runContainer('tsr-c1', undefined, ['sleep', '3600'], { capAdd: ['NET_ADMIN'] });
  }
});

async function cleanup(): Promise<void> {
  await removeContainer('tsr-c1');
  await removeContainer('tsr-w1');
  for (const l of [VICTIM, NIC, BR, BR2, 'tsrplant', 'tsrevil']) await delLink(l);
  if (await ovsAvailable()) await sh(['ovs-vsctl', '--timeout=10', '--if-exists', 'del-br', OVS]);
  await delNetns('tsr-g');
}

after(async () => {
  await cleanup();
  assertResolvConfUnchanged();
});

void describe('a forged guest-side record never names a host object (issue 18 item 3)', () => {
  test('re-run, --replace and del on a Linux bridge: the host end is the veth\'s peer, not what the alias says', { skip: !docker && 'Docker is not running here' }, async () => {
    const line = [BR, 'tsr-c1', '10.165.0.2/24'];
    assert.equal((await pw(line)).code, 0);
    const realEnd = (await listLinks()).find((l) => l.master === BR && l.ifname !== VICTIM)!.ifname;
    await forge('eth1', (r) => ({ ...r, localIf: VICTIM }));
    // The operator re-runs the same line: nothing to do (the real host end is fine).
    const again = await pw(line);
    assert.equal(again.code, 0, show(line, again));
    await victimUntouched();
    // --replace with another bridge parks the real host end, never the victim.
    await forge('eth1', (r) => ({ ...r, localIf: VICTIM, hostIf: BR }));
    const replaced = await pw(['--replace', BR2, 'tsr-c1', '10.165.0.3/24']);
    assert.equal(replaced.code, 0, show(['--replace'], replaced));
    await victimUntouched();
    // The new host end has the same (derived) name, on the new bridge; the old one went.
    assert.equal((await getLink(realEnd))?.master, BR2, 'the replaced interface\'s own host end went, its name now on the new bridge');
    assert.deepEqual(readdirSync(`/sys/class/net/${BR}/brif`), [], 'nothing is left on the old bridge');
    // del removes eth1 and its own host end only.
    await forge('eth1', (r) => ({ ...r, localIf: VICTIM }));
    const del = await pw(['del', 'tsr-c1']);
    assert.equal(del.code, 0, show(['del'], del));
    assert.ok(!(await listLinks(c!.pid)).some((l) => l.ifname === 'eth1'));
    await victimUntouched();
  });

  test('re-run on Open vSwitch: the forged host end never becomes a port with the tag', { skip: !docker && 'Docker is not running here' }, async (t) => {
    if (!(await ovsAvailable())) {
      t.skip('Open vSwitch is not running here');
      return;
    }
    await addOvsBridge(OVS);
    const line = [OVS, '-i', 'eth3', 'tsr-c1', '10.165.3.2/24', '@7'];
    assert.equal((await pw(line)).code, 0);
    await forge('eth3', (r) => ({ ...r, localIf: VICTIM }));
    // The real port also lost its row (drift): the re-run repairs the real one, not the victim.
    const real = (await ovsPorts()).find((p) => p.bridge === OVS && p.name !== OVS)!.name;
    await shOk(['ovs-vsctl', '--timeout=10', 'del-port', OVS, real]);
    const again = await pw(line);
    assert.equal(again.code, 0, show(line, again));
    await victimUntouched();
    assert.ok((await ovsPorts()).some((p) => p.name === real && p.tag === 7), 'the real host end is a port with tag 7 again');
    assert.equal((await pw(['del', '-i', 'eth3', 'tsr-c1'])).code, 0);
    await victimUntouched();
  });

  test('a NIC moved in goes back under the name and MAC kept on the host, whatever its alias says', { skip: !docker && 'Docker is not running here' }, async () => {
    // A stand-in NIC: a veth end on the host (its peer stays there).
    await ip(['link', 'add', NIC, 'address', '52:54:00:16:50:01', 'type', 'veth', 'peer', 'name', NIC_PEER]);
    assert.equal((await pw(['--direct-phys', NIC, '-i', 'eth2', 'tsr-c1', '10.165.1.2/24', '02:42:ac:16:50:02'])).code, 0);
    await forge('eth2', (r) => ({ ...r, origName: 'tsrevil', hostIf: 'tsrevil', origMac: '02:66:66:66:66:66' }));
    const del = await pw(['del', '-i', 'eth2', 'tsr-c1']);
    assert.equal(del.code, 0, show(['del'], del));
    assert.equal(await getLink('tsrevil'), undefined, 'no host link took the name the guest wrote');
    const back = await getLink(NIC);
    assert.ok(back, `${NIC} is back under its own name`);
    assert.equal(back.address, '52:54:00:16:50:01', 'with its own MAC');
    assert.equal(existsSync(`/run/pipework/records/${statSync(`/proc/${c!.pid}/ns/net`).ino}-eth2.json`), false, 'what was kept of it is gone');
  });

  test('a device the guest made, with a record it wrote, is not pipework\'s: del leaves it where it is', { skip: !docker && 'Docker is not running here' }, async () => {
    const inGuest = ['nsenter', `--net=/proc/${c!.pid}/ns/net`, 'ip'];
    await shOk([...inGuest, 'link', 'add', 'tsrx', 'type', 'veth', 'peer', 'name', 'tsry']);
    const fake: AttachRecord = {
      role: 'guest', guest: 'docker:tsr-c1', nsInode: statSync(`/proc/${c!.pid}/ns/net`).ino,
      guestIf: 'tsrx', hostIf: 'tsrplant', hostKind: 'phys', origName: 'tsrplant',
    };
    await shOk([...inGuest, 'link', 'set', 'dev', 'tsrx', 'alias', encodeRecord(fake)]);
    const del = await pw(['del', '-i', 'tsrx', 'tsr-c1']);
    assert.equal(del.code, 1, show(['del', '-i', 'tsrx'], del));
    assert.match(del.stderr, /tsrx in .* was not plumbed by pipework \(or the host does not confirm its record\); not removing it/u);
    assert.equal(await getLink('tsrplant'), undefined, 'nothing was planted on the host');
    assert.ok((await listLinks(c!.pid)).some((l) => l.ifname === 'tsrx'), 'the guest\'s own device is left alone');
  });

  test('the watcher\'s re-run of a label (--once) checks the real host end', { skip: !docker && 'Docker is not running here' }, async () => {
    const w = await runContainer('tsr-w1', undefined, ['sleep', '3600'], { capAdd: ['NET_ADMIN'], labels: { 'pipework.eth1': `${BR} 10.165.2.2/24` } });
    const once = async () => {
      const w = await startWatcher(['--once', '--allow', BR]);
      const { code } = await w.done(60_000);
      assert.equal(code, 0, w.dump());
    };
    await once();
    const alias = readFileSync(`/proc/${w.pid}/root/sys/class/net/eth1/ifalias`, 'utf8').trim();
    await shOk(['nsenter', `--net=/proc/${w.pid}/ns/net`, 'ip', 'link', 'set', 'dev', 'eth1', 'alias', encodeRecord({ ...decodeRecord(alias)!, localIf: VICTIM })]);
    await once();
    await victimUntouched();
    await removeContainer('tsr-w1');
  });
});

void describe('named netns guests too', () => {
  test('a forged record in a netns guest: del of the real interface only', async () => {
    await addNetns('tsr-g');
    assert.equal((await pw([BR, 'tsr-g', '10.165.4.2/24'])).code, 0);
    const alias = (await sh(['ip', 'netns', 'exec', 'tsr-g', 'cat', '/sys/class/net/eth1/ifalias'])).stdout.trim();
    await ip(['link', 'set', 'dev', 'eth1', 'alias', encodeRecord({ ...decodeRecord(alias)!, localIf: VICTIM })], 'tsr-g');
    assert.equal((await pw([BR, 'tsr-g', '10.165.4.2/24'])).code, 0);
    assert.equal((await pw(['del', 'tsr-g'])).code, 0);
    await victimUntouched();
    assert.deepEqual((await listLinks('tsr-g')).map((l) => l.ifname), ['lo']);
  });
});
