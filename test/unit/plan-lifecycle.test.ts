// Re-runs, --replace and del: planning against what the records on the interfaces say.
import { GUEST_NETNS } from '../../src/model/plan.js';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { driverFor } from '../../src/drivers/registry.js';
import { chooseTargets, type DetachRequest } from '../../src/engine/detach.js';
import type { GuestInfo } from '../../src/model/guest-info.js';
import { parkedGuestName, parkedHostName } from '../../src/drivers/names.js';
import type { Action, Plan } from '../../src/model/plan.js';
import { planAttach, planDetach, type PlanInput } from '../../src/engine/planner.js';
import type { GuestFacts, GuestLink } from '../../src/guest/netstate.js';
import type { HostLink } from '../../src/host/links.js';
import { ConflictError } from '../../src/model/errors.js';
import { configOf, decodeRecord, encodeRecord, type AttachRecord } from '../../src/model/record.js';
import { ownerFilter } from '../../src/model/owner.js';
import { aliasTargets, assertThrows, attachContext, bridge, guestFacts, nic, type LinkSpec } from './fakes.js';

const LABEL = 'docker container c1 (pid 4242)';
const VETH = 'veth1pl4242';

interface Opts {
  links?: LinkSpec[];
  routes?: unknown[];
  host?: HostLink[];
  /** `ip -d` kinds of host links (the gatherer looks them up). */
  kinds?: Record<string, string>;
  /** The guest as another kind names it (default: Docker container c1). */
  guestAs?: Pick<GuestInfo, 'kind' | 'name'>;
}

function ctx(argv: string[], o: Opts = {}): PlanInput {
  const input = attachContext(argv, {
    links: o.host ?? [bridge('br0')],
    ...(o.kinds && { details: Object.fromEntries(Object.entries(o.kinds).map(([name, kind]) => [name, { kind }])) }),
    facts: guestFacts(o.links ?? ['lo', 'eth0'], o.routes ?? []),
  });
  return o.guestAs ? { ...input, guest: { ...input.guest, ...o.guestAs } } : input;
}

/** Where --replace parks the old eth1 of this guest, and its host end. */
const PARKED = parkedGuestName({ pid: 4242, nsInode: 4026532999 }, 'eth1');
const PARKED_HOST = parkedHostName({ pid: 4242, nsInode: 4026532999 }, 'eth1');

const plan = (argv: string[], o: Opts = {}): Plan => planAttach(ctx(argv, o));

function show(a: Action): string {
  if (a.kind === 'keep') return `${a.place}: ${a.text === null ? 'forget' : 'keep'} ${a.key}`;
  return a.kind === 'ip' ? `${a.place}: ip ${a.args.join(' ')}` : `${a.place}: ${a.argv.join(' ')}`;
}
const actions = (p: Plan): string[] => p.steps.map((s) => show(s.action));

/** The guest link a first run of `argv` leaves behind: up, a veth, carrying the record. */
function plumbed(argv: string[], o: Opts = {}, name = 'eth1'): GuestLink {
  const first = plan(argv, o);
  assert.equal(first.outcome, 'created');
  assert.ok(first.record);
  return { name, alias: encodeRecord(first.record), kind: 'veth', mac: '02:42:ac:11:00:09', up: true };
}

/** The routes a first `10.0.0.2/24@10.0.0.1` run leaves in the guest (what ip -json prints). */
const ROUTES_VIA_ETH1 = [
  { type: 'unicast', dst: 'default', gateway: '10.0.0.1', dev: 'eth1', table: 'main', protocol: 'boot', scope: 'global', flags: [] },
  { type: 'unicast', dst: '10.0.0.0/24', dev: 'eth1', table: 'main', protocol: 'kernel', scope: 'link', prefsrc: '10.0.0.2', flags: [] },
];

void describe('planAttach: re-running the same attach (idempotent)', () => {
  const SAME: string[][] = [
    ['br0', 'c1', '10.0.0.2/24'],
    ['br0', 'c1', '10.0.0.2/24@10.0.0.1'],
    ['br0', 'c1', '0/0'],
    ['br0', 'c1', '2001:db8::2/64@fe80::1'],
    ['br0', 'c1', '10.0.0.2/24', '02:42:ac:11:00:02'],
    ['br0', 'c1', '10.0.0.2/24', 'U:myhost.foo.com'],
    ['br0', '-i', 'eth5', 'c1', '10.0.0.2/24'],
    ['br0', '-l', 'myveth', 'c1', '10.0.0.2/24'],
    ['br7', 'c1', '10.0.0.2/24'],
  ];
  for (const argv of SAME) {
    void test(`the same configuration again changes nothing: ${argv.join(' ')}`, () => {
      const guestIf = argv.includes('-i') ? argv[argv.indexOf('-i') + 1]! : 'eth1';
      const link = plumbed(argv, {}, guestIf);
      // Host facts as after the first run: the host end exists, is up and a port of its bridge (and br7 now exists).
      const master = argv[0]!;
      const host = [bridge('br0'), bridge('br7'), ...[VETH, 'myveth', 'veth5pl4242'].map((n) => nic(n, { up: true, master }))];
      const p = plan(argv, { links: ['lo', 'eth0', link], host, kinds: { [VETH]: 'veth', myveth: 'veth', veth5pl4242: 'veth' } });
      assert.equal(p.outcome, 'unchanged');
      assert.deepEqual(p.steps, []);
      assert.deepEqual(p.warnings, []);
      assert.equal(p.guestLabel, LABEL);
      assert.ok(p.record);
      assert.equal(p.record.guestIf, guestIf);
      assert.equal(configOf(p.record), configOf(plan(argv).record!));
      // The record is the one already there, host end included.
      assert.deepEqual(p.record, decodeRecord(link.alias));
      const localIf = argv.includes('-l') ? argv[argv.indexOf('-l') + 1]! : `veth${guestIf.replace(/^eth/u, '')}pl4242`;
      assert.equal(p.record.localIf, localIf);
    });
  }

  void test('an unchanged re-run reports the existing record: its host end even when -l is not given again', () => {
    const link = plumbed(['br0', '-l', 'myveth', 'c1', '10.0.0.2/24@10.0.0.1', '02:42:ac:11:00:02']);
    const p = plan(['br0', 'c1', '10.0.0.2/24@10.0.0.1', '02:42:ac:11:00:02'], { links: ['lo', 'eth0', link] });
    assert.equal(p.outcome, 'unchanged');
    assert.deepEqual(p.record, {
      role: 'guest', guest: 'docker:c1', nsInode: 4026532999, guestIf: 'eth1', hostIf: 'br0', hostKind: 'bridge',
      localIf: 'myveth', address: '10.0.0.2/24', gateway: '10.0.0.1', mac: '02:42:ac:11:00:02',
    });
  });

  void test('an unchanged re-run by another name for the guest reports the record as it was written', () => {
    const link = plumbed(['br0', 'c1', '10.0.0.2/24']);
    const p = plan(['br0', 'pid:4242', '10.0.0.2/24'], { links: ['lo', 'eth0', link], guestAs: { kind: 'pid', name: '4242' } });
    assert.equal(p.outcome, 'unchanged');
    assert.equal(p.record?.guest, 'docker:c1');
    assert.equal(p.record?.localIf, VETH);
    assert.equal(p.record?.role, 'guest');
  });

  void test('an unchanged re-run of a macvlan on a VLAN reports its VLAN sub-interface', () => {
    const host = [nic('eth0'), nic('eth0.10')];
    const first = plan(['eth0', 'c1', '10.0.0.2/24', '@10'], { host: [nic('eth0')] });
    assert.equal(first.record?.vlanIf, 'eth0.10');
    const link: GuestLink = { name: 'eth1', alias: encodeRecord(first.record), kind: 'macvlan', up: true };
    const p = plan(['eth0', 'c1', '10.0.0.2/24', '@10'], { links: ['lo', 'eth0', link], host });
    assert.equal(p.outcome, 'unchanged');
    assert.deepEqual(p.steps, []);
    assert.equal(p.record?.vlanIf, 'eth0.10');
    assert.equal(p.record?.localIf, undefined);
  });

  void test('--replace with the same configuration changes nothing either', () => {
    const link = plumbed(['br0', 'c1', '10.0.0.2/24']);
    const p = plan(['br0', 'c1', '10.0.0.2/24', '--replace'], { links: ['lo', 'eth0', link] });
    assert.equal(p.outcome, 'unchanged');
    assert.deepEqual(p.steps, []);
  });

  void test('the same address spelled differently is the same configuration', () => {
    const link = plumbed(['br0', 'c1', '2001:db8::2/64@2001:db8::1']);
    const p = plan(['br0', 'c1', '2001:DB8:0:0::2/64@2001:0db8::0001'], { links: ['lo', 'eth0', link] });
    assert.equal(p.outcome, 'unchanged');
  });

  void test('the guest named another way (pid: instead of docker:) is the same configuration', () => {
    const link = plumbed(['br0', 'c1', '10.0.0.2/24']);
    const p = plan(['br0', 'pid:4242', '10.0.0.2/24'], { links: ['lo', 'eth0', link], guestAs: { kind: 'pid', name: '4242' } });
    assert.equal(p.outcome, 'unchanged');
  });

  void test('without -l, any host end name matches; with -l, it must be the recorded one', () => {
    const link = plumbed(['br0', '-l', 'myveth', 'c1', '10.0.0.2/24']);
    assert.equal(plan(['br0', 'c1', '10.0.0.2/24'], { links: ['lo', 'eth0', link] }).outcome, 'unchanged');
    assert.equal(plan(['br0', '-l', 'myveth', 'c1', '10.0.0.2/24'], { links: ['lo', 'eth0', link] }).outcome, 'unchanged');
    assertThrows(() => plan(['br0', '-l', 'otherveth', 'c1', '10.0.0.2/24'], { links: ['lo', 'eth0', link] }),
      ConflictError, 'eth1', LABEL, '--replace');
    // The default name is recorded too: asking for another one is a change.
    const byDefault = plumbed(['br0', 'c1', '10.0.0.2/24']);
    assert.equal(plan(['br0', '-l', VETH, 'c1', '10.0.0.2/24'], { links: ['lo', 'eth0', byDefault] }).outcome, 'unchanged');
    assertThrows(() => plan(['br0', '-l', 'myveth', 'c1', '10.0.0.2/24'], { links: ['lo', 'eth0', byDefault] }), ConflictError, 'eth1');
  });

  void test('a MAC asked for the first time and not now (or the other way round) is another configuration', () => {
    const withMac = plumbed(['br0', 'c1', '10.0.0.2/24', '02:42:ac:11:00:02']);
    const withoutMac = plumbed(['br0', 'c1', '10.0.0.2/24']);
    // The message names both configurations, and the field that differs (recorded → asked).
    assertThrows(() => plan(['br0', 'c1', '10.0.0.2/24'], { links: ['lo', 'eth0', withMac] }),
      ConflictError, '(bridge br0, 10.0.0.2/24, mac 02:42:ac:11:00:02;', 'asked: bridge br0, 10.0.0.2/24;', 'what differs: mac 02:42:ac:11:00:02 → none)');
    assertThrows(() => plan(['br0', 'c1', '10.0.0.2/24', '02:42:ac:11:00:02'], { links: ['lo', 'eth0', withoutMac] }),
      ConflictError, '(bridge br0, 10.0.0.2/24;', 'asked: bridge br0, 10.0.0.2/24, mac 02:42:ac:11:00:02;', 'what differs: mac none → 02:42:ac:11:00:02)');
    assertThrows(() => plan(['br0', 'c1', '10.0.0.2/24', '02:42:ac:11:00:03'], { links: ['lo', 'eth0', withMac] }), ConflictError,
      'what differs: mac 02:42:ac:11:00:02 → 02:42:ac:11:00:03');
    // The MAC the kernel happened to give (GuestLink.mac) is not the one asked for: no conflict.
    assert.equal(plan(['br0', 'c1', '10.0.0.2/24'], { links: ['lo', 'eth0', withoutMac] }).outcome, 'unchanged');
  });

  for (const [what, second] of [
    ['another address', ['br0', 'c1', '10.0.0.3/24']],
    ['another prefix', ['br0', 'c1', '10.0.0.2/16']],
    ['a gateway', ['br0', 'c1', '10.0.0.2/24@10.0.0.1']],
    ['no address', ['br0', 'c1', '0/0']],
    ['another bridge', ['br1', 'c1', '10.0.0.2/24']],
  ] as const) {
    void test(`${what} than recorded is a conflict`, () => {
      const link = plumbed(['br0', 'c1', '10.0.0.2/24']);
      assertThrows(() => plan([...second], { links: ['lo', 'eth0', link], host: [bridge('br0'), bridge('br1')] }), ConflictError, 'eth1');
    });
  }
});

void describe('planAttach: conflicts with an existing interface', () => {
  void test('the message names the interface, the guest, both configurations, what differs, and the two ways out', () => {
    const link = plumbed(['br0', 'c1', '10.0.0.2/24@10.0.0.1']);
    const err = assertThrows(() => plan(['br0', 'c1', '10.0.0.3/24', 'U:x'], { links: ['lo', 'eth0', link] }), ConflictError,
      'eth1', LABEL, 'another configuration',
      '(bridge br0, 10.0.0.2/24, gateway 10.0.0.1;',
      'asked: bridge br0, 10.0.0.3/24, mac 02:40:1b:30:e3:b8;',
      'what differs: address 10.0.0.2/24 → 10.0.0.3/24; gateway 10.0.0.1 → none; mac none → 02:40:1b:30:e3:b8)',
      "'pipework del -i eth1 c1'", '--replace');
    assert.equal((err as ConflictError).reason, 'conflict');
  });

  void test('the suggested del names the interface asked with -i and the guest as given', () => {
    const link = plumbed(['br0', '-i', 'net2', 'pid:4242', '10.0.0.2/24'], {}, 'net2');
    assertThrows(() => plan(['br0', '-i', 'net2', 'pid:4242', '10.0.0.9/24'], { links: ['lo', 'eth0', link] }),
      ConflictError, "'pipework del -i net2 pid:4242'", 'net2 in');
  });

  const FOREIGN: [string, GuestLink][] = [
    ['no alias', { name: 'eth1', up: true }],
    ['an administrator\'s alias', { name: 'eth1', alias: 'uplink to rack 4', up: true }],
    ['a garbled record', { name: 'eth1', alias: 'pipework/1;r=guest', up: false }],
  ];
  for (const [what, link] of FOREIGN) {
    void test(`an interface of that name with ${what} is not pipework's: refused, even with --replace`, () => {
      for (const argv of [['br0', 'c1', '10.0.0.2/24'], ['br0', 'c1', '10.0.0.2/24', '--replace']]) {
        const err = assertThrows(() => plan(argv, { links: ['lo', 'eth0', link] }), ConflictError, 'eth1', LABEL, 'not made by pipework', '-i');
        assert.ok(!err.message.includes('--replace'), err.message);
      }
    });
  }

  void test('only the interface of the requested name matters', () => {
    const other = plumbed(['br0', '-i', 'eth2', 'c1', '10.0.0.9/24'], {}, 'eth2');
    const p = plan(['br0', 'c1', '10.0.0.2/24'], { links: ['lo', 'eth0', other, { name: 'eth3', alias: 'x', up: true }] });
    assert.equal(p.outcome, 'created');
    assert.ok(!actions(p).some((a) => a.includes('link del')));
  });
});

void describe('planAttach --replace', () => {
  function replaced(o: Opts = {}): Plan {
    const link = plumbed(['br0', 'c1', '10.0.0.2/24']);
    return plan(['br0', 'c1', '10.0.0.3/24', '--replace'], {
      links: ['lo', 'eth0', link],
      // After the first run the host end exists, is up, and is a port of br0.
      host: [bridge('br0'), nic(VETH, { up: true, master: 'br0' })],
      kinds: { [VETH]: 'veth' },
      ...o,
    });
  }

  void test('parks the old interface (and its host end) under other names, plumbs the new configuration, then removes the parked one', () => {
    const p = replaced();
    assert.equal(p.outcome, 'replaced');
    assert.match(PARKED, /^pwo[0-9a-f]{12}$/u);
    assert.match(PARKED_HOST, /^pwp[0-9a-f]{12}$/u);
    assert.deepEqual(actions(p), [
      'guest: ip link set dev eth1 down',
      `guest: ip link set dev eth1 name ${PARKED}`,
      `host: ip link set dev ${VETH} down`,
      `host: ip link set dev ${VETH} name ${PARKED_HOST}`,
      `host: ip link add name ${VETH} mtu 1500 type veth peer name eth1 mtu 1500 netns ${GUEST_NETNS}`,
      `host: ip link set dev ${VETH} alias pipework/1;r=host;g=docker:c1;n=4026532999;i=eth1;h=br0;k=bridge;l=${VETH};a=10.0.0.3/24`,
      `host: ip link set dev ${VETH} master br0`,
      `host: ip link set dev ${VETH} up`,
      `guest: ip link set dev eth1 alias pipework/1;r=guest;g=docker:c1;n=4026532999;i=eth1;h=br0;k=bridge;l=${VETH};a=10.0.0.3/24`,
      'guest: ip addr add 10.0.0.3/24 brd 10.0.0.255 dev eth1',
      'guest: ip link set dev eth1 up',
      `guest: ip link del dev ${PARKED}`,
    ]);
    assert.equal(p.record?.address, '10.0.0.3/24');
    // A failure anywhere before the end puts the old one back as it was: renamed back and up.
    assert.deepEqual(p.steps[0]!.undo.map(show), ['guest: ip link set dev eth1 up']);
    assert.deepEqual(p.steps[1]!.undo.map(show), [`guest: ip link set dev ${PARKED} name eth1`]);
    assert.deepEqual(p.steps[2]!.undo.map(show), [`host: ip link set dev ${VETH} up`]);
    assert.deepEqual(p.steps[3]!.undo.map(show), [`host: ip link set dev ${PARKED_HOST} name ${VETH}`]);
    // Only the removal of the parked pair, last, cannot be undone.
    assert.deepEqual(p.steps.map((s) => s.irreversible === true), [...p.steps.slice(1).map(() => false), true]);
    const last = p.steps.at(-1)!;
    assert.deepEqual(last.undo, [], 'a removed pair cannot be brought back');
    assert.ok(last.title.includes(PARKED) && last.title.includes(PARKED_HOST) && last.title.includes('br0') && last.title.includes('(replaced)'), last.title);
  });

  void test('the old host end, up and in use, is not "a link that exists and is up": it is parked out of the way', () => {
    const p = replaced();
    assert.ok(!actions(p).some((a) => a === `host: ip link del dev ${VETH}`), 'no stale-link removal either');
    // Without --replace the same facts are a conflict about the configuration, not about the host end.
    const link = plumbed(['br0', 'c1', '10.0.0.2/24']);
    const err = assertThrows(() => plan(['br0', 'c1', '10.0.0.3/24'], { links: ['lo', 'eth0', link], host: [bridge('br0'), nic(VETH, { up: true })] }),
      ConflictError, 'another configuration');
    assert.ok(!err.message.includes('exists and is up'));
  });

  void test('a new host end name that is taken by another link that is up is still refused', () => {
    assertThrows(() => plan(['br0', '-l', 'busy0', 'c1', '10.0.0.3/24', '--replace'], {
      links: ['lo', 'eth0', plumbed(['br0', 'c1', '10.0.0.2/24'])],
      host: [bridge('br0'), nic(VETH, { up: true }), nic('busy0', { up: true })],
      kinds: { [VETH]: 'veth', busy0: 'veth' },
    }), ConflictError, 'Link busy0 exists and is up');
  });

  void test('moving to another -l name: the old host end keeps its name (it goes with the parked pair), the new name is used', () => {
    const p = plan(['br0', '-l', 'newveth', 'c1', '10.0.0.2/24', '--replace'], {
      links: ['lo', 'eth0', plumbed(['br0', 'c1', '10.0.0.2/24'])],
      host: [bridge('br0'), nic(VETH, { up: true })],
    });
    assert.equal(p.outcome, 'replaced');
    assert.deepEqual(actions(p).slice(0, 2), ['guest: ip link set dev eth1 down', `guest: ip link set dev eth1 name ${PARKED}`]);
    assert.ok(actions(p)[2]!.startsWith('host: ip link add name newveth '), actions(p)[2]);
    assert.ok(!actions(p).some((a) => a.includes(PARKED_HOST)), actions(p).join('\n'));
    assert.equal(actions(p).at(-1), `guest: ip link del dev ${PARKED}`);
    assert.ok(p.steps.at(-1)!.title.includes(VETH), p.steps.at(-1)!.title);
  });

  void test('moving to another bridge', () => {
    const p = plan(['br1', 'c1', '10.0.0.2/24', '--replace'], {
      links: ['lo', 'eth0', plumbed(['br0', 'c1', '10.0.0.2/24'])],
      host: [bridge('br0'), bridge('br1'), nic(VETH, { up: true })],
    });
    assert.equal(p.outcome, 'replaced');
    assert.ok(actions(p).includes(`host: ip link set dev ${VETH} master br1`));
    assert.equal(p.record?.hostIf, 'br1');
  });

  void test(
    'routes that went away with the old interface are not deleted again, and come back with it on undo',
    () => {
      const link = plumbed(['br0', 'c1', '10.0.0.2/24@10.0.0.1']);
      const p = plan(['br0', 'c1', '10.0.0.3/24@10.0.0.1', '--replace'], {
        links: ['lo', 'eth0', link],
        routes: ROUTES_VIA_ETH1,
        host: [bridge('br0'), nic(VETH, { up: true })],
        kinds: { [VETH]: 'veth' },
      });
      assert.deepEqual(actions(p).slice(0, 2), ['guest: ip link set dev eth1 down', `guest: ip link set dev eth1 name ${PARKED}`]);
      const touchesOldRoute = p.steps.filter((s) => s.action.kind === 'ip' && s.action.args[0] === 'route' && s.action.args[1] === 'del');
      assert.deepEqual(touchesOldRoute.map((s) => show(s.action)), []);
      // The kernel drops the default route when the old interface goes down: it is put back (not the kernel's own prefix route).
      assert.deepEqual(p.steps[0]!.undo.map(show), [
        'guest: ip route replace default via 10.0.0.1 dev eth1',
        'guest: ip link set dev eth1 up',
      ]);
      assert.deepEqual(p.steps[1]!.undo.map(show), [`guest: ip link set dev ${PARKED} name eth1`]);
      assert.ok(actions(p).includes('guest: ip route replace default via 10.0.0.1 dev eth1'));
    },
  );
});

void describe('planDel of a bridge record', () => {
  const REC: AttachRecord = { role: 'guest', guest: 'docker:c1', nsInode: 1, guestIf: 'eth1', hostIf: 'br0', hostKind: 'bridge', localIf: VETH };
  const planDetachLink = (guestIf: string, record: AttachRecord) => driverFor(record.hostKind).planDel(record, guestIf);

  void test('one guest-side link deletion, with no undo, marked irreversible', () => {
    const steps = planDetachLink('eth1', REC);
    assert.deepEqual(steps, [{
      title: `remove eth1 and its host end ${VETH} (bridge br0)`,
      action: { kind: 'ip', place: 'guest', args: ['link', 'del', 'dev', 'eth1'] },
      undo: [],
      irreversible: true,
    }]);
  });

  void test('a record without the host end name still gives a clean title', () => {
    const { localIf: _l, ...rec } = REC;
    assert.equal(planDetachLink('eth1', rec)[0]!.title, 'remove eth1 (bridge br0)');
  });
});

void describe('chooseTargets and planDetach', () => {
  const request = (which: DetachRequest['which']): DetachRequest => ({ guest: { kind: 'any', name: 'c1' }, which, owner: ownerFilter('cli'), ownerName: 'cli' });
  const detachTargets = (facts: GuestFacts, which: DetachRequest['which'], label: string) => chooseTargets(facts, aliasTargets(facts), request(which), label).targets;
  const eth1 = (): GuestLink => plumbed(['br0', 'c1', '10.0.0.2/24']);
  const eth2 = (): GuestLink => plumbed(['br0', '-i', 'eth2', 'c1', '10.0.1.2/24'], {}, 'eth2');
  const foreign: GuestLink = { name: 'eth3', alias: 'uplink to rack 4', up: true };
  const bare: GuestLink = { name: 'eth0', up: true };

  void test('by name: the pipework interface of that name, with its record', () => {
    const targets = detachTargets(guestFacts(['lo', bare, eth1(), eth2(), foreign]), { guestIf: 'eth2' }, LABEL);
    assert.equal(targets.length, 1);
    assert.equal(targets[0]!.guestIf, 'eth2');
    assert.equal(targets[0]!.record.address, '10.0.1.2/24');
    assert.equal(targets[0]!.record.localIf, 'veth2pl4242');
  });

  void test('by name, absent: nothing to do (like CNI DEL)', () => {
    assert.deepEqual(detachTargets(guestFacts(['lo', bare, eth2()]), { guestIf: 'eth1' }, LABEL), []);
    assert.deepEqual(detachTargets(guestFacts([]), { guestIf: 'eth1' }, LABEL), []);
  });

  void test("by name, present but not pipework's: refused, naming it and the guest", () => {
    assertThrows(() => detachTargets(guestFacts(['lo', bare, eth1()]), { guestIf: 'eth0' }, LABEL), ConflictError, 'eth0', LABEL, 'not plumbed by pipework');
    assertThrows(() => detachTargets(guestFacts(['lo', foreign]), { guestIf: 'eth3' }, LABEL), ConflictError, 'eth3');
    assertThrows(() => detachTargets(guestFacts(['lo', { name: 'eth1', alias: 'pipework/1;r=guest', up: true }]), { guestIf: 'eth1' }, LABEL),
      ConflictError, 'eth1');
  });

  void test('--all: every pipework interface, in link order, and nothing else', () => {
    const targets = detachTargets(guestFacts(['lo', bare, eth2(), foreign, eth1()]), { all: true }, LABEL);
    assert.deepEqual(targets.map((t) => t.guestIf), ['eth2', 'eth1']);
    assert.deepEqual(detachTargets(guestFacts(['lo', bare, foreign]), { all: true }, LABEL), []);
  });

  void test('planDetach: one deletion per target; outcome removed, or unchanged when there is none', () => {
    const targets = detachTargets(guestFacts(['lo', eth1(), eth2()]), { all: true }, LABEL);
    const p = planDetach(targets, guestFacts(), LABEL);
    assert.equal(p.outcome, 'removed');
    assert.equal(p.guestLabel, LABEL);
    assert.deepEqual(p.warnings, []);
    assert.deepEqual(actions(p), ['guest: ip link del dev eth1', 'guest: ip link del dev eth2']);
    assert.ok(p.steps.every((s) => s.undo.length === 0));
    assert.equal(p.record, undefined);

    const none = planDetach([], guestFacts(), LABEL);
    assert.equal(none.outcome, 'unchanged');
    assert.deepEqual(none.steps, []);
  });
});
