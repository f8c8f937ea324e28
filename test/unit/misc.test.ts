// Small pure pieces: --dry-run printing, ip batch lines, route parsing, LXC cgroups,
// guest references, carrier detection, pass-through argv.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { driverFor } from '../../src/drivers/registry.js';
import { planAttach } from '../../src/engine/planner.js';
import { formatPlan, nsNaming, shellQuote } from '../../src/engine/print.js';
import { batchLine, ipBatch, ipJsonBatch } from '../../src/exec/ip.js';
import { inNetns } from '../../src/exec/netns.js';
import { hasProgram } from '../../src/exec/programs.js';
import { passthroughArgv } from '../../src/front/cli/commands/passthrough.js';
import { hasCarrier, waitForInterface } from '../../src/front/cli/commands/wait.js';
import { parseRoutes, readGuestFacts } from '../../src/guest/netstate.js';
import { cgroupRoots, hostCgroupRoots, lxcCgroupCandidates } from '../../src/guest/lxc.js';
import { formatGuestRef, parseGuestRef, splitGuestRef } from '../../src/guest/resolve.js';
import { HostLinkCache } from '../../src/host/links.js';
import { CommandError, InvalidArgumentError, PipeworkError } from '../../src/model/errors.js';
import {
  DOCKER_ROUTES_JSON, FakeRunner, GUEST_BATCH, HOST_BATCH, NS_FD, assertRejects, assertThrows, attachContext, batchFailure, fakeNs, guestFacts, nic,
} from './fakes.js';

void describe('formatPlan (--dry-run)', () => {
  const ALIAS = 'pipework/1;r=%s;g=docker:c1;n=1;i=eth1;h=br0;k=bridge;l=veth1pl4242;a=10.0.0.2/24;gw=10.0.0.1;m=02:42:ac:11:00:02';
  const small = () => {
    const input = attachContext(['br0', 'c1', '10.0.0.2/24@10.0.0.1', '02:42:ac:11:00:02'], { guest: { pid: 4242, nsInode: 1 }, hasArping: true, facts: guestFacts() });
    return { input, plan: planAttach(input) };
  };

  void test('a small plan, as exact shell commands with numbered titles: a guest with a PID is entered by /proc/PID/ns/net', () => {
    const { input, plan } = small();
    const ns = '/proc/4242/ns/net';
    assert.equal(formatPlan(plan, nsNaming(input.guest)), [
      '# docker container c1 (pid 4242)',
      'ip link add name veth1pl4242 mtu 1500 type veth peer name eth1 mtu 1500 address 02:42:ac:11:00:02 netns 4242    # 1. create veth pair veth1pl4242 (host) and eth1 (guest)',
      `ip link set dev veth1pl4242 alias '${ALIAS.replace('%s', 'host')}'    # 2. record the configuration on veth1pl4242`,
      'ip link set dev veth1pl4242 master br0    # 3. attach veth1pl4242 to bridge br0',
      'ip link set dev veth1pl4242 up    # 4. bring veth1pl4242 up',
      `nsenter --net=${ns} ip link set dev eth1 alias '${ALIAS.replace('%s', 'guest')}'    # 5. record the configuration on eth1`,
      `nsenter --net=${ns} ip addr add 10.0.0.2/24 brd 10.0.0.255 dev eth1    # 6. add address 10.0.0.2/24 to eth1`,
      `nsenter --net=${ns} ip link set dev eth1 up    # 7. bring eth1 up`,
      `nsenter --net=${ns} ip route replace default via 10.0.0.1 dev eth1    # 8. set the IPv4 default route via 10.0.0.1 on eth1`,
      `nsenter --net=${ns} arping -c 1 -A -I eth1 10.0.0.2    # 9. announce 10.0.0.2 with a gratuitous ARP`,
      '',
    ].join('\n'));
  });

  void test('a named netns: ip -n NAME inside, netns NAME on the host, ip netns exec for programs', () => {
    const { plan } = small();
    const out = formatPlan(plan, nsNaming({ kind: 'netns', name: 'blue' })).split('\n');
    assert.equal(out[1], 'ip link add name veth1pl4242 mtu 1500 type veth peer name eth1 mtu 1500 address 02:42:ac:11:00:02 netns blue    # 1. create veth pair veth1pl4242 (host) and eth1 (guest)');
    assert.equal(out[6], 'ip -n blue addr add 10.0.0.2/24 brd 10.0.0.255 dev eth1    # 6. add address 10.0.0.2/24 to eth1');
    assert.equal(out[9], 'ip netns exec blue arping -c 1 -A -I eth1 10.0.0.2    # 9. announce 10.0.0.2 with a gratuitous ARP');
  });

  void test('a netns guest known by its file (a CNI_NETNS without a name): entered by that path', () => {
    const { plan } = small();
    const byPath = formatPlan(plan, nsNaming({ kind: 'netns', name: '/run/netns/cni-1234' })).split('\n');
    assert.equal(byPath[6], 'nsenter --net=/run/netns/cni-1234 ip addr add 10.0.0.2/24 brd 10.0.0.255 dev eth1    # 6. add address 10.0.0.2/24 to eth1');
    assert.ok(byPath[1]!.includes(' netns /run/netns/cni-1234 '), byPath[1]);
  });

  void test('a NIC given back names the host namespace (PID 1), and a step decided at run time says so', () => {
    const input = attachContext(['--direct-phys', 'eth0', 'c1', '10.0.0.2/24', '@10'], { links: [nic('eth0')], facts: guestFacts() });
    const record = planAttach(input).record!;
    const steps = driverFor('phys').planDel(record, 'eth1');
    const out = formatPlan({ guestLabel: 'g', outcome: 'removed', warnings: [], steps }, nsNaming(input.guest)).split('\n');
    assert.equal(out[1], 'nsenter --net=/proc/4242/ns/net ip link set dev eth1 netns 1 name eth0.10    # 1. give eth1 back to the host as eth0.10');
    assert.equal(out[2], "ip link set dev eth0.10 alias pipework/vlan    # 2. clear pipework's record on eth0.10");
    assert.ok(out[3]!.startsWith('ip link del dev eth0.10    # 3. '), out[3]);
    assert.ok(out[3]!.endsWith(' (decided when it runs)'), out[3]);
  });

  void test('host exec steps print bare', () => {
    const out = formatPlan({ guestLabel: 'x', outcome: 'created', warnings: ['w'], steps: [{ title: 't', action: { kind: 'exec', place: 'host', argv: ['echo', 'hi'] }, undo: [] }] },
      nsNaming({ kind: 'netns', name: 'blue' }));
    assert.equal(out, '# x\necho hi    # 1. t\n');
  });

  void test('shellQuote: plain words as they are, anything else in single quotes a shell reads back', () => {
    assert.equal(shellQuote('eth1'), 'eth1');
    assert.equal(shellQuote('--net=/proc/1/ns/net'), '--net=/proc/1/ns/net');
    assert.equal(shellQuote('10.0.0.2/24@10.0.0.1'), '10.0.0.2/24@10.0.0.1');
    assert.equal(shellQuote(''), "''");
    assert.equal(shellQuote('a;b'), "'a;b'");
    assert.equal(shellQuote('a b'), "'a b'");
    assert.equal(shellQuote("it's"), "'it'\\''s'");
    assert.equal(shellQuote('$(reboot)'), "'$(reboot)'");
  });
});

void describe('batchLine', () => {
  void test('joins safe tokens with spaces', () => {
    assert.equal(batchLine(['link', 'set', 'dev', 'eth1', 'up']), 'link set dev eth1 up');
    assert.equal(batchLine(['addr', 'add', '2001:db8::2/64', 'dev', 'eth1.100']), 'addr add 2001:db8::2/64 dev eth1.100');
  });

  void test('an empty token (clearing an alias) is written as ""', () => {
    assert.equal(batchLine(['link', 'set', 'dev', 'eth0', 'alias', '']), 'link set dev eth0 alias ""');
    assert.equal(batchLine(['']), '""');
  });

  void test('refuses tokens ip would re-split or treat specially', () => {
    for (const bad of ['a b', 'a\tb', 'a\nb', 'a"b', "a'b", 'a#b', '#', 'a\\b', ' ']) {
      assert.throws(() => batchLine(['link', 'set', bad]), /unsafe token/u, JSON.stringify(bad));
    }
  });
});

void describe('ipBatch and ipJsonBatch', () => {
  void test('ipBatch: host lines, force flag, no namespace entry for host', async () => {
    const runner = new FakeRunner();
    assert.equal(await ipBatch(runner, [['link', 'set', 'dev', 'a', 'up']], { ns: fakeNs(), where: 'the host' }), undefined);
    assert.equal(await ipBatch(runner, [['x']], { ns: fakeNs(), enter: true, force: true, where: 'g' }), undefined);
    assert.equal(await ipBatch(runner, [['y']], { where: 'the host' }), undefined);
    assert.deepEqual(runner.calls, [
      { argv: HOST_BATCH, input: 'link set dev a up\n', nsFd: NS_FD },
      { argv: inNetns(['ip', '-force', '-batch', '-']), input: 'x\n', nsFd: NS_FD },
      { argv: HOST_BATCH, input: 'y\n' },
    ]);
  });

  void test('ipBatch: failure line and message from stderr', async () => {
    const runner = new FakeRunner(() => batchFailure(3, 'Error: Nexthop has invalid gateway.'));
    const f = await ipBatch(runner, [['a'], ['b'], ['c']], { ns: fakeNs(), enter: true, where: 'g' });
    assert.ok(f);
    assert.equal(f.failedLine, 2);
    assert.equal(f.message, 'Error: Nexthop has invalid gateway.');
    assert.ok(f.error instanceof CommandError);
    assert.deepEqual(f.error.argv, GUEST_BATCH);
  });

  void test('ipBatch: a failure with empty stderr still has a message', async () => {
    const runner = new FakeRunner(() => ({ code: 2 }));
    const f = await ipBatch(runner, [['a']], { where: 'the host' });
    assert.ok(f);
    assert.equal(f.failedLine, 0);
    assert.ok(f.message.includes('exit 2'), f.message);
  });

  void test('ipJsonBatch: one parsed array per line, inside the namespace', async () => {
    const runner = new FakeRunner(() => ({ code: 0, stdout: '[{"ifname":"lo"}]\n[]\n' }));
    const out = await ipJsonBatch(runner, [['link', 'show'], ['route', 'show', 'table', 'all']], { ns: fakeNs(), where: 'g' });
    assert.deepEqual(out, [[{ ifname: 'lo' }], []]);
    assert.deepEqual(runner.calls[0], {
      argv: inNetns(['ip', '-json', '-details', '-batch', '-']), input: 'link show\nroute show table all\n', nsFd: NS_FD,
    });
  });

  void test('ipJsonBatch: a count mismatch is an error', async () => {
    const runner = new FakeRunner(() => ({ code: 0, stdout: '[]\n' }));
    await assertRejects(ipJsonBatch(runner, [['a'], ['b']], { where: 'h' }), Error, '1 results for 2 commands');
  });
});

void describe('parseRoutes', () => {
  void test('families from ip -json -details route show table all', () => {
    const routes = parseRoutes(DOCKER_ROUTES_JSON);
    assert.deepEqual(routes.map((r) => `${r.family} ${r.table} ${r.type ?? '-'} ${r.dst}`), [
      '4 main unicast default',
      '4 main unicast 172.17.0.0/16',
      '4 local local 172.17.0.2',
      '4 local broadcast 172.17.255.255',
      '6 main unicast 2001:db8:1::/64',
      '6 main unicast fe80::/64',
      '6 main unicast default',
      '6 local local 2001:db8:1::2',
      '6 local multicast ff00::/8',
    ]);
    assert.deepEqual(routes[0], {
      family: 4, dst: 'default', gateway: '172.17.0.1', dev: 'eth0', table: 'main', protocol: 'boot', scope: 'global', type: 'unicast',
    });
    assert.deepEqual(routes[6], {
      family: 6, dst: 'default', gateway: '2001:db8:1::1', dev: 'eth0', metric: 1024, table: 'main', protocol: 'boot', scope: 'global', type: 'unicast',
    });
  });

  void test('without -details (no table for main), and gateway-less defaults', () => {
    // `ip -json route show table all` as iproute2 6.1 prints it: main-table routes carry no "table".
    const raw = [
      { dst: 'default', dev: 'wg0', scope: 'link', flags: [] },
      { type: 'local', dst: '127.0.0.1', dev: 'lo', table: 'local', protocol: 'kernel', scope: 'host', prefsrc: '127.0.0.1', flags: [] },
      { dst: 'default', dev: 'wg0', metric: 1024, flags: [], pref: 'medium' },
      { dst: 'default', gateway: 'fe80::1', dev: 'eth0', protocol: 'ra', metric: 1024, flags: [], pref: 'medium' },
      { dst: '10.0.0.0/8', gateway: '172.17.0.1', dev: 'eth0', flags: [] },
    ];
    const routes = parseRoutes(raw);
    assert.deepEqual(routes.map((r) => [r.family, r.table, r.dst]), [
      [4, 'main', 'default'],
      [4, 'local', '127.0.0.1'],
      [6, 'main', 'default'],
      [6, 'main', 'default'],
      [4, 'main', '10.0.0.0/8'],
    ]);
    assert.deepEqual(routes[0], { family: 4, dst: 'default', dev: 'wg0', table: 'main', scope: 'link' });
    assert.equal(routes[3]!.protocol, 'ra');
  });

  void test('readGuestFacts: links and routes in one ip process inside the guest', async () => {
    const links = [{ ifindex: 1, ifname: 'lo' }, { ifindex: 9, ifname: 'eth0', link_index: 10 }];
    const runner = new FakeRunner(() => ({ code: 0, stdout: `${JSON.stringify(links)}\n${JSON.stringify(DOCKER_ROUTES_JSON)}\n` }));
    const facts = await readGuestFacts(runner, fakeNs());
    assert.deepEqual(facts.links, [{ name: 'lo', up: false, index: 1 }, { name: 'eth0', up: false, index: 9, peer: { index: 10, elsewhere: false } }]);
    // Read with ip: names, aliases and addresses are all known.
    assert.equal(facts.complete, true);
    assert.deepEqual(facts.routes, parseRoutes(DOCKER_ROUTES_JSON));
    assert.equal(runner.calls.length, 1);
    assert.deepEqual(runner.calls[0]!.argv, inNetns(['ip', '-json', '-details', '-batch', '-']));
  });

  void test('a route without dst is a default route', () => {
    assert.deepEqual(parseRoutes([{ gateway: '10.0.0.1' }]), [{ family: 4, dst: 'default', gateway: '10.0.0.1', table: 'main' }]);
  });
});

void describe('LXC cgroups', () => {
  const MOUNTS_V2 = [
    'sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0',
    'proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0',
    'cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate,memory_recursiveprot 0 0',
    '',
  ].join('\n');
  const MOUNTS_V1 = [
    'tmpfs /sys/fs/cgroup tmpfs ro,nosuid,nodev,noexec,mode=755 0 0',
    'cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate 0 0',
    'cgroup /sys/fs/cgroup/systemd cgroup rw,nosuid,nodev,noexec,relatime,xattr,name=systemd 0 0',
    'cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,nodev,noexec,relatime,cpu,cpuacct 0 0',
    'cgroup /sys/fs/cgroup/devices cgroup rw,nosuid,nodev,noexec,relatime,devices 0 0',
    'cgroup /sys/fs/cgroup/net_cls,net_prio cgroup rw,nosuid,nodev,noexec,relatime,net_cls,net_prio 0 0',
  ].join('\n');

  void test('cgroup v2 only', () => {
    assert.deepEqual(cgroupRoots(MOUNTS_V2), ['/sys/fs/cgroup']);
  });

  void test('hybrid v1 + v2: the v2 mount and the v1 devices hierarchy, in mount order', () => {
    assert.deepEqual(cgroupRoots(MOUNTS_V1), ['/sys/fs/cgroup/unified', '/sys/fs/cgroup/devices']);
  });

  void test('v1 devices co-mounted with another controller', () => {
    assert.deepEqual(cgroupRoots('cgroup /cg/devmem cgroup rw,memory,devices 0 0\ncgroup /cg/x cgroup rw,devicesx 0 0'), ['/cg/devmem']);
  });

  void test("this host's roots: the statfs shortcut agrees with the mount table, and is kept", () => {
    const fromMounts = cgroupRoots(readFileSync('/proc/mounts', 'utf8'));
    const roots = hostCgroupRoots();
    assert.ok(roots.length > 0 && roots.every((r) => fromMounts.includes(r)), `${roots.join(',')} vs ${fromMounts.join(',')}`);
    assert.equal(hostCgroupRoots(), roots);
  });

  void test('nothing to find', () => {
    assert.deepEqual(cgroupRoots(''), []);
    assert.deepEqual(cgroupRoots('garbage\n\n'), []);
  });

  void test('LXC 4/5, LXC 3 and old layouts', () => {
    assert.deepEqual(lxcCgroupCandidates('/sys/fs/cgroup', 'web'), [
      '/sys/fs/cgroup/lxc.payload.web',
      '/sys/fs/cgroup/lxc.payload/web',
      '/sys/fs/cgroup/lxc/web',
    ]);
  });
});

void describe('splitGuestRef', () => {
  void test('known prefixes pick a kind', () => {
    assert.deepEqual(splitGuestRef('docker:c1'), { kind: 'docker', name: 'c1' });
    assert.deepEqual(splitGuestRef('podman:web'), { kind: 'podman', name: 'web' });
    assert.deepEqual(splitGuestRef('lxc:u1'), { kind: 'lxc', name: 'u1' });
    assert.deepEqual(splitGuestRef('pid:1234'), { kind: 'pid', name: '1234' });
    assert.deepEqual(splitGuestRef('netns:blue'), { kind: 'netns', name: 'blue' });
    assert.deepEqual(splitGuestRef('netns:a:b'), { kind: 'netns', name: 'a:b' });
    assert.deepEqual(splitGuestRef('pid:'), { kind: 'pid', name: '' });
  });

  void test('anything else is a plain name', () => {
    assert.deepEqual(splitGuestRef('c1'), { name: 'c1' });
    assert.deepEqual(splitGuestRef('1234'), { name: '1234' });
    assert.deepEqual(splitGuestRef('k8s:pod'), { name: 'k8s:pod' });
    assert.deepEqual(splitGuestRef('Docker:c1'), { name: 'Docker:c1' });
    assert.deepEqual(splitGuestRef(':c1'), { name: ':c1' });
    assert.deepEqual(splitGuestRef('4f0c3a2b1d9e'), { name: '4f0c3a2b1d9e' });
  });
});

void describe('parseGuestRef and formatGuestRef', () => {
  void test('a kind prefix picks the kind; a bare name is looked up the classic way', () => {
    assert.deepEqual(parseGuestRef('docker:web'), { kind: 'docker', name: 'web' });
    assert.deepEqual(parseGuestRef('podman:web'), { kind: 'podman', name: 'web' });
    assert.deepEqual(parseGuestRef('lxc:u1'), { kind: 'lxc', name: 'u1' });
    assert.deepEqual(parseGuestRef('netns:blue'), { kind: 'netns', name: 'blue' });
    assert.deepEqual(parseGuestRef('pid:1234'), { kind: 'pid', pid: 1234 });
    assert.deepEqual(parseGuestRef('web'), { kind: 'any', name: 'web' });
    assert.deepEqual(parseGuestRef('k8s:pod'), { kind: 'any', name: 'k8s:pod' });
  });

  void test('a leading / of a container name (as docker inspect prints it) is dropped, and says it is a container', () => {
    assert.deepEqual(parseGuestRef('/web'), { kind: 'docker', name: 'web' });
    assert.deepEqual(parseGuestRef('docker:/web'), { kind: 'docker', name: 'web' });
    assert.deepEqual(parseGuestRef('podman:/web'), { kind: 'podman', name: 'web' });
    // Not where a name may hold one.
    assert.deepEqual(parseGuestRef('netns:/x'), { kind: 'netns', name: '/x' });
    assert.deepEqual(parseGuestRef('//x'), { kind: 'any', name: '//x' });
  });

  void test('refused: a PID that is not a number, an empty name', () => {
    assertThrows(() => parseGuestRef('pid:abc'), InvalidArgumentError, "invalid PID 'abc'");
    assertThrows(() => parseGuestRef('pid:0'), InvalidArgumentError, "'0'");
    assertThrows(() => parseGuestRef('pid:-1'), InvalidArgumentError, 'PID');
    assertThrows(() => parseGuestRef('pid:'), InvalidArgumentError, 'empty');
    assertThrows(() => parseGuestRef('netns:'), InvalidArgumentError, 'empty');
    assertThrows(() => parseGuestRef(''), InvalidArgumentError, 'empty');
  });

  void test('written back as text', () => {
    for (const text of ['docker:web', 'podman:web', 'lxc:u1', 'netns:blue', 'pid:1234', 'web']) assert.equal(formatGuestRef(parseGuestRef(text)), text);
    assert.equal(formatGuestRef({ kind: 'netns-path', path: '/run/netns/cni-1' }), '/run/netns/cni-1');
    assert.equal(formatGuestRef({ kind: 'netns-path', path: '/run/netns/cni-1', name: 'pod web' }), 'pod web');
  });
});

void describe('hasCarrier and waitForInterface', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pw-unit-sys-'));
    mkdirSync(join(dir, 'eth1'));
    writeFileSync(join(dir, 'eth1', 'carrier'), '1\n');
    mkdirSync(join(dir, 'eth2'));
    writeFileSync(join(dir, 'eth2', 'carrier'), '0\n');
    mkdirSync(join(dir, 'eth3'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  void test('carrier 1 → true; 0, unreadable or absent → false', () => {
    assert.equal(hasCarrier('eth1', dir), true);
    assert.equal(hasCarrier('eth2', dir), false);
    assert.equal(hasCarrier('eth3', dir), false);
    assert.equal(hasCarrier('eth9', dir), false);
  });

  void test('waitForInterface times out with a one-line message naming the interface', async () => {
    const started = Date.now();
    await assertRejects(waitForInterface({ kind: 'wait', guestIf: 'pwunitnone0', timeoutSec: 0.05 }, 10), PipeworkError, 'pwunitnone0', '0.05');
    assert.ok(Date.now() - started < 1000);
  });
});

void describe('passthroughArgv', () => {
  void test('route and rule become ip subcommands, tc runs as is', () => {
    assert.deepEqual(passthroughArgv({ kind: 'passthrough', tool: 'route', guest: 'c1', args: ['add', 'default', 'via', '10.0.0.1'], dryRun: false, json: false }),
      ['ip', 'route', 'add', 'default', 'via', '10.0.0.1']);
    assert.deepEqual(passthroughArgv({ kind: 'passthrough', tool: 'rule', guest: 'c1', args: ['add', 'from', '10.0.0.0/24', 'table', '100'], dryRun: false, json: false }),
      ['ip', 'rule', 'add', 'from', '10.0.0.0/24', 'table', '100']);
    assert.deepEqual(passthroughArgv({ kind: 'passthrough', tool: 'tc', guest: 'c1', args: ['-s', 'qdisc', 'show'], dryRun: true, json: false }),
      ['tc', '-s', 'qdisc', 'show']);
    assert.deepEqual(passthroughArgv({ kind: 'passthrough', tool: 'route', guest: 'c1', args: ['--', 'x y'], dryRun: false, json: false }),
      ['ip', 'route', '--', 'x y']);
  });

  void test('inNetns enters the held namespace by fd path', () => {
    assert.deepEqual(inNetns(['ip', 'route']), ['nsenter', '--net=/proc/self/fd/3', '--', 'ip', 'route']);
  });
});

void describe('facts kept for a run', () => {
  void test('HostLinkCache reads a link once and answers the same after, until it forgets', () => {
    const facts = new HostLinkCache();
    const lo = facts.link('lo');
    assert.equal(lo?.type, 772);
    assert.equal(facts.link('lo'), lo);
    assert.equal(facts.link('pwu-no-such-link'), undefined);
    assert.equal(facts.link('pwu-no-such-link'), undefined);
    facts.forget();
    const again = facts.link('lo');
    assert.notEqual(again, lo, 'read again');
    assert.deepEqual(again, lo);
  });

  void test("hasProgram looks in the given PATH and keeps its answer in the run's cache (a new run asks again)", () => {
    const dir = mkdtempSync(join(tmpdir(), 'pwu-path-'));
    try {
      const run = new Map<string, boolean>();
      assert.equal(hasProgram('pwu-prog', run, dir), false);
      writeFileSync(join(dir, 'pwu-prog'), '');
      assert.equal(hasProgram('pwu-prog', run, dir), false, 'the first answer is kept for the run');
      assert.equal(hasProgram('pwu-prog', run, `${dir}:`), true);
      assert.equal(hasProgram('pwu-prog', new Map(), dir), true, 'another run sees it');
      assert.equal(hasProgram('pwu-prog', undefined, dir), true, 'no cache: asked every time');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
