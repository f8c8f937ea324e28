// The engine's choices around plans: which specs of a run are the same attach (dedupe), which
// interfaces a del removes (chooseTargets), and what a record read back makes del do.
import { HOST_NETNS } from '../../src/model/plan.js';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { driverFor } from '../../src/drivers/registry.js';
import { VLAN_MARK } from '../../src/model/vlan.js';
import { dedupe } from '../../src/engine/attach.js';
import { chooseTargets, type DetachRequest } from '../../src/engine/detach.js';
import { attachNames } from '../../src/drivers/registry.js';
import { type AttachNames } from '../../src/drivers/names.js';
import { planDetach } from '../../src/engine/planner.js';
import { resolveClassic } from '../../src/front/classic/spec.js';
import type { GuestFacts, GuestLink } from '../../src/guest/netstate.js';
import { ConflictError } from '../../src/model/errors.js';
import { decodeRecord, encodeRecord, type AttachRecord } from '../../src/model/record.js';
import type { AttachSpec } from '../../src/model/attach-spec.js';
import { ownerFilter } from '../../src/model/owner.js';
import { aliasTargets, assertThrows, attachRequest, bridge, fakeNs, guestFacts, hostLookup, nic } from './fakes.js';

void describe('dedupe: the specs of one run that are the same attach', () => {
  const NS_A = fakeNs('docker container a (pid 101)', 71, 4026531001);
  const NS_B = fakeNs('docker container b (pid 102)', 72, 4026531002);
  const lookup = hostLookup([bridge('br0'), bridge('br1'), nic('eth0')]);
  /** Lines of a batch, each with the namespace its guest resolved to. */
  function lines(...entries: [string[], typeof NS_A][]): { specs: AttachSpec[]; guests: { ns: typeof NS_A }[]; names: AttachNames[] } {
    const specs = entries.map(([argv]) => resolveClassic(attachRequest(argv), lookup));
    const guests = entries.map(([, ns]) => ({ ns }));
    // The guest's PID (docker container a is pid 101, b is pid 102), as the engine gives it.
    const names = specs.map((s, i) => attachNames(s, { pid: guests[i]!.ns.inode - 4026531000 + 100, nsInode: guests[i]!.ns.inode }));
    return { specs, guests, names };
  }
  const label = (i: number) => `line ${i + 1}`;
  const run = (l: ReturnType<typeof lines>) => dedupe(l.specs, l.guests, l.names, label);

  void test('different guests, or different interfaces of one guest: each is its own', () => {
    assert.deepEqual(run(lines([['br0', 'a', '10.0.0.2/24'], NS_A], [['br0', 'b', '10.0.0.2/24'], NS_B])), [0, 1]);
    assert.deepEqual(run(lines([['br0', 'a', '10.0.0.2/24'], NS_A], [['br0', '-i', 'eth2', 'a', '10.0.0.3/24'], NS_A])), [0, 1]);
  });

  void test('the same spec twice is done once', () => {
    assert.deepEqual(run(lines([['br0', 'a', '10.0.0.2/24'], NS_A], [['br0', 'b', '10.0.0.9/24'], NS_B], [['br0', 'a', '10.0.0.2/24'], NS_A])), [0, 1, 0]);
  });

  void test('-i eth1 and the default are the same interface, compared once resolved', () => {
    assert.deepEqual(run(lines([['br0', 'a', '10.0.0.2/24'], NS_A], [['br0', '-i', 'eth1', 'a', '10.0.0.2/24'], NS_A])), [0, 0]);
  });

  void test('c1 and docker:c1 (the same namespace) with the same configuration are the same attach, done once', () => {
    assert.deepEqual(run(lines([['br0', 'a', '10.0.0.2/24'], NS_A], [['br0', 'docker:a', '10.0.0.2/24'], NS_A])), [0, 0]);
  });

  void test('two different configurations for one guest interface are refused, naming both lines and what differs', () => {
    assertThrows(() => run(lines([['br0', 'a', '10.0.0.2/24'], NS_A], [['br0', 'a', '10.0.0.3/24'], NS_A])),
      ConflictError, 'line 2: ', 'interface eth1 is already plumbed by line 1', 'addressing');
    assertThrows(() => run(lines([['br0', 'a', '10.0.0.2/24'], NS_A], [['br1', 'a', '10.0.0.2/24', '02:42:ac:11:00:02'], NS_A])),
      ConflictError, 'line 2: ', 'line 1', 'host', 'mac');
    // The same guest under another name, with another configuration: still the same interface.
    assertThrows(() => run(lines([['br0', 'a', '10.0.0.2/24'], NS_A], [['br0', 'docker:a', '10.0.0.3/24'], NS_A])),
      ConflictError, 'line 2: ', 'line 1', 'addressing');
  });

  void test('two specs with the same explicit host end (-l) are refused', () => {
    assertThrows(() => run(lines([['br0', '-l', 'vx0', 'a', '10.0.0.2/24'], NS_A], [['br0', '-l', 'vx0', 'b', '10.0.0.3/24'], NS_B])),
      ConflictError, 'line 2: host end vx0 is also the host end of line 1', '-l');
    // A repeated line is not a second user of its host end.
    assert.deepEqual(run(lines([['br0', '-l', 'vx0', 'a', '10.0.0.2/24'], NS_A], [['br0', '-l', 'vx0', 'a', '10.0.0.2/24'], NS_A])), [0, 0]);
  });
});

/** A guest link carrying the record of an attach. */
function plumbed(guestIf: string, extra: Partial<AttachRecord> = {}): GuestLink {
  const record: AttachRecord = { role: 'guest', guest: 'docker:c1', nsInode: 4026532999, guestIf, hostIf: 'br0', hostKind: 'bridge', localIf: `v${guestIf}pl4242`, ...extra };
  return { name: guestIf, alias: encodeRecord(record), up: true };
}

void describe('chooseTargets: which interfaces a del removes', () => {
  const LABEL = 'docker container c1 (pid 4242)';
  const req = (which: DetachRequest['which'], owner = 'cli'): DetachRequest => ({ guest: { kind: 'any', name: 'c1' }, which, owner: ownerFilter(owner), ownerName: owner });
  const choose = (facts: GuestFacts, r: DetachRequest) => chooseTargets(facts, aliasTargets(facts), r, LABEL);
  const names = (facts: GuestFacts, which: DetachRequest['which'], owner?: string) => choose(facts, req(which, owner)).targets.map((t) => t.guestIf);
  const ipoib = (guestIf: string) => plumbed(guestIf, { hostKind: 'ipoib', hostIf: 'ib0', localIf: undefined });

  void test('without -i: eth1', () => {
    assert.deepEqual(names(guestFacts(['lo', 'eth0', plumbed('eth1'), plumbed('eth2')]), {}), ['eth1']);
    assert.deepEqual(names(guestFacts(['lo', 'eth0', plumbed('eth2')]), {}), [], 'absent is fine');
  });

  void test('without -i: ib0 when only an IPoIB attach made it (its default there), eth1 otherwise', () => {
    assert.deepEqual(names(guestFacts(['lo', ipoib('ib0')]), {}), ['ib0']);
    assert.deepEqual(names(guestFacts(['lo', ipoib('ib0'), plumbed('eth1')]), {}), ['eth1']);
    // An ib0 that is not an IPoIB attach is not the default.
    assert.deepEqual(names(guestFacts(['lo', plumbed('ib0')]), {}), []);
    // eth1 not made by pipework, ib0 by an IPoIB attach: ib0 (eth1 is left alone).
    assert.deepEqual(names(guestFacts(['lo', 'eth1', ipoib('ib0')]), {}), ['ib0']);
  });

  void test('-i names one; one that pipework did not make is refused', () => {
    assert.deepEqual(names(guestFacts(['lo', plumbed('eth1'), plumbed('eth2')]), { guestIf: 'eth2' }), ['eth2']);
    assertThrows(() => choose(guestFacts(['lo', 'eth0', plumbed('eth1')]), req({ guestIf: 'eth0' })), ConflictError, 'eth0', LABEL, 'not plumbed by pipework');
    // A host end's record inside a guest is not a guest interface of pipework's.
    const hostEnd: GuestLink = { name: 'eth3', alias: encodeRecord({ ...decodeRecord(plumbed('eth3').alias)!, role: 'host' }), up: true };
    assertThrows(() => choose(guestFacts(['lo', hostEnd]), req({ guestIf: 'eth3' })), ConflictError, 'eth3', 'not plumbed by pipework');
  });

  void test('an interface another owner made is refused, naming the owner and how it is removed', () => {
    const facts = guestFacts(['lo', plumbed('eth1', { owner: 'topology:lab' })]);
    assertThrows(() => choose(facts, req({})), ConflictError,
      `eth1 in ${LABEL} was plumbed by topology:lab, not cli`, 'pipework del --owner topology:lab');
    assertThrows(() => choose(facts, req({ guestIf: 'eth1' })), ConflictError, 'topology:lab');
    // That owner (or all topologies) may.
    assert.deepEqual(names(facts, {}, 'topology:lab'), ['eth1']);
    assert.deepEqual(names(facts, { guestIf: 'eth1' }, 'topology'), ['eth1']);
    // A CLI interface is not another owner's to remove.
    assertThrows(() => choose(guestFacts(['lo', plumbed('eth1')]), req({}, 'cni:net1')), ConflictError, 'was plumbed by cli, not cni:net1', 'remove it through cli');
  });

  void test('--all: every interface of this owner, in link order; other owners\' are kept, and reported', () => {
    const facts = guestFacts(['lo', plumbed('eth2'), plumbed('eth1', { owner: 'topology:lab' }), 'eth0', plumbed('eth3'), plumbed('eth4', { owner: 'cni:n/c/eth4' })]);
    const { targets, others } = choose(facts, req({ all: true }));
    assert.deepEqual(targets.map((t) => t.guestIf), ['eth2', 'eth3']);
    assert.deepEqual(others.map((t) => [t.guestIf, t.record.owner]), [['eth1', 'topology:lab'], ['eth4', 'cni:n/c/eth4']]);
    const theirs = choose(facts, req({ all: true }, 'topology:lab'));
    assert.deepEqual(theirs.targets.map((t) => t.guestIf), ['eth1']);
    assert.deepEqual(theirs.others.map((t) => t.guestIf), ['eth2', 'eth3', 'eth4']);
  });

});

void describe('records read back: what del then does', () => {
  const PHYS_VLAN: AttachRecord = {
    role: 'guest', guest: 'docker:c1', nsInode: 4026532999, guestIf: 'eth1', hostIf: 'eth0', hostKind: 'phys', vlan: 10, vlanIf: 'eth0.10', origName: 'eth0.10',
  };

  void test('qm=1 (how booleans are written) reads back as vlanMade; so does the older qm=true', () => {
    const alias = encodeRecord({ ...PHYS_VLAN, vlanMade: true });
    assert.ok(alias.includes(';qm=1'), alias);
    assert.equal(decodeRecord(alias)?.vlanMade, true);
    assert.equal(decodeRecord(alias.replace(';qm=1', ';qm=true'))?.vlanMade, true);
    assert.equal(decodeRecord(encodeRecord(PHYS_VLAN))?.vlanMade, undefined);
  });

  void test('del of a --direct-phys …@vlan record that made the sub-interface: its mark back, then its removal if unused', () => {
    const record = decodeRecord(encodeRecord({ ...PHYS_VLAN, vlanMade: true }))!;
    const steps = driverFor('phys').planDel(record, 'eth1');
    assert.deepEqual(steps.map((s) => s.action), [
      { kind: 'ip', place: 'guest', args: ['link', 'set', 'dev', 'eth1', 'netns', HOST_NETNS, 'name', 'eth0.10'] },
      // The mark is what lets the removal below (decided when it runs) know it is pipework's.
      { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', 'eth0.10', 'alias', VLAN_MARK] },
      { kind: 'ip', place: 'host', args: ['link', 'del', 'dev', 'eth0.10'], onlyIfVlanUnused: 'eth0.10' },
      // And the NIC, if pipework brought it up for the sub-interface and nothing uses it then.
      { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', 'eth0', 'down'], onlyIfLinkUnused: 'eth0', onlyIfAltName: 'pwup.eth0' },
      { kind: 'ip', place: 'host', args: ['link', 'property', 'del', 'dev', 'eth0', 'altname', 'pwup.eth0'], onlyIfLinkUnused: 'eth0', onlyIfAltName: 'pwup.eth0' },
      // What was kept of it on the host goes last.
      { kind: 'keep', place: 'host', key: '4026532999-eth1.json', text: null },
    ]);
    // One it did not make gets no mark: the removal step then keeps it.
    const reused = driverFor('phys').planDel(decodeRecord(encodeRecord(PHYS_VLAN))!, 'eth1');
    assert.deepEqual(reused[1]!.action, { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', 'eth0.10', 'alias', ''] });
  });

  void test('del of an IPoIB child', () => {
    const rec: AttachRecord = { role: 'guest', guest: 'docker:c1', nsInode: 1, guestIf: 'ib0', hostIf: 'ib0', hostKind: 'ipoib', vlan: 0x10 };
    const p = planDetach([{ guestIf: 'ib0', record: rec }], guestFacts(), 'g');
    assert.deepEqual(p.steps.map((s) => s.action), [{ kind: 'ip', place: 'guest', args: ['link', 'del', 'dev', 'ib0'] }]);
  });
});
