// pipework on a Linux bridge, what must fail and leave nothing behind: refusals before anything
// changes, and rollback of every step (PIPEWORK_FAIL_STEP=N) and of a step the kernel refuses.
// Guests are named network namespaces that already have an interface and a default route, so
// "unchanged" means something. Run as root.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { addNetns, addVeth, delNetns, getLink, ip, waitDad } from './helpers/netns.js';
import { waitFor } from './helpers/run.js';
import {
  assertGuestUnchanged,
  assertOursUnchanged,
  addSettledBridge,
  assertResolvConfUnchanged,
  cleanupAll,
  planSteps,
  pw,
  pwOk,
  pwRefused,
  removeLink,
  routeLines,
  snapshotGuest,
  snapshotOurs,
  type GuestSnapshot,
} from './helpers/bridge-common.js';
import type { HostSnapshot } from './helpers/guard.js';

before(async () => {
  await cleanupAll();
});

after(async () => {
  await cleanupAll();
  assertResolvConfUnchanged();
});

/** A guest NS with eth0 (host end HOSTIF, 192.168.N.2/24, up) and a default route via .1. */
async function guestWithDefault(ns: string, hostIf: string, net: string): Promise<void> {
  await addNetns(ns);
  await removeLink(hostIf);
  await addVeth(hostIf, `${hostIf}p`, { peerNs: ns, peerRename: 'eth0' });
  await ip(['link', 'set', hostIf, 'up']);
  await ip(['addr', 'add', `${net}.2/24`, 'dev', 'eth0'], ns);
  await ip(['link', 'set', 'eth0', 'up'], ns);
  await ip(['route', 'add', 'default', 'via', `${net}.1`, 'dev', 'eth0'], ns);
  // Let the kernel finish with eth0 (IPv6 link-local DAD, then its local route) before any
  // snapshot of the guest is taken.
  await waitDad('eth0', ns, 5_000);
  await waitDad(hostIf, undefined, 5_000);
  await waitFor('the link-local address\'s local route', async () =>
    (await routeLines(ns, 6, 'local')).some((r) => r.startsWith('local fe80::') && r.includes('dev eth0')), 5_000, 50);
}

// 11 -----------------------------------------------------------------------------------------
void describe('refusals before anything changes', () => {
  const G = 'pwb-e1';
  const BR = 'brpwbe';
  const EXISTING = 'brpwbe2';
  let host: HostSnapshot;
  let guest: GuestSnapshot;
  before(async () => {
    await guestWithDefault(G, 'pwbe1h', '192.168.243');
    await removeLink(BR);
    await ip(['link', 'add', EXISTING, 'type', 'bridge']);
    await ip(['link', 'set', EXISTING, 'up']);
    host = await snapshotOurs();
    guest = await snapshotGuest(G);
  });
  after(async () => {
    await delNetns(G);
    await removeLink('pwbe1h');
    await removeLink(EXISTING);
    await removeLink(BR);
  });

  const unchanged = async (): Promise<void> => {
    await assertOursUnchanged(host);
    await assertGuestUnchanged(G, guest);
  };

  const A = '10.241.13.1/24';
  const cases: [string, string[], RegExp][] = [
    ['bad IPv4 address', [BR, G, '10.241.300.1/24'], /10\.241\.300\.1/u],
    ['bad IPv6 address', [BR, G, '2001:db8::g/64'], /2001:db8::g/u],
    ['bad prefix', [BR, G, '10.241.13.1/33'], /33/u],
    ['no prefix', [BR, G, '10.241.13.1'], /netmask/u],
    ['bad MAC', [BR, G, A, '02:11:22:33:44'], /02:11:22:33:44/u],
    ['multicast MAC', [BR, G, A, '01:00:5e:00:00:01'], /multicast/u],
    ['too-long -i', [BR, '-i', 'averyverylongif0', G, A], /averyverylongif0/u],
    ['too-long -l', [BR, '-l', 'pwbaverylonglink', G, A], /pwbaverylonglink/u],
    ['VLAN on a new Linux bridge', [BR, G, A, '@10'], /VLAN configuration currently unsupported for Linux bridge/u],
    ['VLAN on an existing Linux bridge', [EXISTING, G, A, '02:11:22:33:44:55@10'], /VLAN configuration currently unsupported for Linux bridge/u],
    ['unknown host interface', ['foo0', G, A], /I do not know how to set up interface foo0/u],
    ['no host interface has that MAC', ['mac:02:00:00:00:99:99', G, A], /02:00:00:00:99:99/u],
    ['IPv6 gateway for an IPv4 address', [BR, G, '10.241.13.1/24@2001:db8::1'], /gateway/u],
    ['IPv4 gateway for an IPv6 address', [BR, G, '2001:db8:241:13::1/64@10.241.13.254'], /gateway/u],
    ['-a 6 with an IPv4 address', [BR, '-a', '6', G, A], /IPv4|-a 6/u],
    ['-a 5', [BR, '-a', '5', G, A], /-a 5/u],
    ['VLAN id out of range', [BR, G, A, '@5000'], /5000/u],
    ['0/0 with a gateway', [BR, G, '0/0@10.241.13.254'], /0\/0/u],
    ['gateway equal to the address', [BR, G, '10.241.13.1/24@10.241.13.1'], /own address/u],
    ['unknown guest', [BR, 'netns:pwb-nosuch', A], /pwb-nosuch/u],
    ['extra argument', [BR, G, A, '02:11:22:33:44:55', 'extra'], /extra/u],
  ];
  for (const [what, args, message] of cases) {
    void test(`${what}: pipework ${args.join(' ')}`, async () => {
      await pwRefused(args, message);
      await unchanged();
    });
  }

  const tooFew: string[][] = [[], [BR], [BR, G], [BR, '-i', 'eth2', G], ['route', G]];
  for (const args of tooFew) {
    void test(`too few arguments: pipework ${args.join(' ')} → syntax on stdout, exit 1`, async () => {
      const r = await pw(args);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stdout, /^Syntax:\n/u);
      assert.match(r.stdout, /^pipework \[--direct-phys\] <hostif> \[-i <guestif>\] \[-l <localif>\] \[-a 4\|6\] <guest> <ip>\/<prefix>\[@<gateway>\] \[<mac>\]\[@<vlan>\]$/mu);
      assert.match(r.stdout, /^pipework route <guest> /mu);
      assert.match(r.stdout, /^pipework --wait \[-i <guestif>\]/mu);
      assert.equal(r.stderr, '');
      await unchanged();
    });
  }
});

// 12 -----------------------------------------------------------------------------------------
void describe('rollback', () => {
  const G = 'pwb-f1';
  const BR = 'brpwbf';
  const EXISTING = 'brpwbf2';
  // Off-subnet gateway: the plan also adds an on-link host route; the guest's default goes.
  const ARGS = [BR, G, '10.241.14.1/24@10.241.99.254'];
  before(async () => {
    await guestWithDefault(G, 'pwbf1h', '192.168.244');
    await removeLink(BR);
    await removeLink(EXISTING);
  });
  after(async () => {
    await delNetns(G);
    await removeLink('pwbf1h');
    await removeLink(BR);
    await removeLink(EXISTING);
  });

  /** Put G back as guestWithDefault made it, after a failed rollback left something behind. */
  const restore = async (): Promise<void> => {
    await removeLink(BR);
    await removeLink('eth1', G);
    await ip(['route', 'replace', 'default', 'via', '192.168.244.1', 'dev', 'eth0'], G);
  };

  /** Compare host and guest with the snapshots; return a description of the difference, if any. */
  const difference = async (host: HostSnapshot, guest: GuestSnapshot): Promise<string | undefined> => {
    try {
      await assertOursUnchanged(host, 1_000);
      await assertGuestUnchanged(G, guest);
      return undefined;
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    }
  };

  /** Run ARGS with PIPEWORK_FAIL_STEP=1..n; return what each failed rollback left behind. */
  const failEveryStep = async (args: string[], steps: number[], n: number): Promise<string[]> => {
    const host = await snapshotOurs();
    const guest = await snapshotGuest(G);
    const problems: string[] = [];
    for (const step of steps) {
      const r = await pw(args, { PIPEWORK_FAIL_STEP: String(step) });
      assert.equal(r.code, 1, `PIPEWORK_FAIL_STEP=${step}: exit ${r.code}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, new RegExp(`^pipework: step ${step} of ${n} \\(.+\\) failed: injected failure[^\n]*\n$`, 'u'));
      const diff = await difference(host, guest);
      if (diff !== undefined) {
        problems.push(`PIPEWORK_FAIL_STEP=${step} → ${r.stderr.trim()}\n${diff}`);
        await restore();
      }
    }
    return problems;
  };

  void test('PIPEWORK_FAIL_STEP=N for every step of a plan that creates the bridge: all undone', async () => {
    const plan = await pwOk(['--dry-run', ...ARGS]);
    const n = planSteps(plan);
    for (const title of [
      `create bridge ${BR}`,
      "remove the guest's IPv4 default route",
      'add an on-link route to gateway 10.241.99.254',
      'set the IPv4 default route via 10.241.99.254',
    ]) {
      assert.ok(plan.includes(title), `the plan has "${title}":\n${plan}`);
    }
    const problems = await failEveryStep(ARGS, Array.from({ length: n }, (_, i) => i + 1), n);
    assert.ok(problems.length === 0, `rollback left state behind:\n\n${problems.join('\n\n')}`);
    // And without the hook the same line works.
    await pwOk(ARGS);
    assert.deepEqual((await routeLines(G, 4)).filter((r) => r.startsWith('default')), ['default via 10.241.99.254 dev eth1']);
    await restore();
  });

  void test('PIPEWORK_FAIL_STEP=N on an existing bridge: the bridge stays, with no port left', async () => {
    await addSettledBridge(EXISTING, 'pwbf2x', 'pwbf2y');
    const args = [EXISTING, G, '10.241.15.1/24@10.241.15.254'];
    const n = planSteps(await pwOk(['--dry-run', ...args]));
    const problems = await failEveryStep(args, Array.from({ length: n }, (_, i) => i + 1), n);
    assert.ok(problems.length === 0, `rollback left state behind:\n\n${problems.join('\n\n')}`);
    assert.ok((await getLink(EXISTING)) !== undefined, 'the existing bridge is still there');
  });

  void test('a gateway only the kernel knows is bad (an IPv6 address the guest holds itself): exit 1, the step is named, all undone', async () => {
    // The subnet's own broadcast is refused before planning (below); an address another interface
    // of the guest holds is known only to the kernel: "Gateway can not be a local address".
    await ip(['addr', 'add', 'fd00:241:14::77/128', 'dev', 'lo'], G);
    try {
      const args = [BR, G, 'fd00:241:14::1/64@fd00:241:14::77'];
      const host = await snapshotOurs();
      const guest = await snapshotGuest(G);
      const r = await pwRefused(args,
        /step \d+ of \d+ \(set the IPv6 default route via fd00:241:14::77 on eth1\) failed: .*Gateway can not be a local address/u);
      const diff = await difference(host, guest);
      if (diff !== undefined) await restore();
      assert.equal(diff, undefined, `after: ${r.stderr}`);
    } finally {
      await ip(['addr', 'del', 'fd00:241:14::77/128', 'dev', 'lo'], G);
    }
  });

  void test('the subnet broadcast as a gateway is refused before anything changes', async () => {
    const host = await snapshotOurs();
    const guest = await snapshotGuest(G);
    await pwRefused([BR, G, '10.241.14.1/24@10.241.14.255'],
      /^pipework: invalid gateway '10\.241\.14\.255': it is the broadcast address of 10\.241\.14\.0\/24/u);
    assert.equal(await difference(host, guest), undefined);
  });
});
