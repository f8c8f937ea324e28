// DHCP in the attach plan: client command lines, steps and undo, every refusal, the record,
// the stop steps of del/--replace, and the grammar of --dhcp-timeout / --dhcp-image (all pure).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Action, Plan } from '../../src/model/plan.js';
import { planAttach, type PlanInput } from '../../src/engine/planner.js';
import { parseCommandLine } from '../../src/front/classic/grammar.js';
import { DHCP_METHODS, type DhcpMethod } from '../../src/model/dhcp-methods.js';
import {
  METHOD_INFO, classicLeasefile, classicPidfile, clientArgv, dhclientConf, dhcpHostname, fileSafe, helperCommand, helperName,
} from '../../src/dhcp/methods.js';
import { DHCP_AGENT } from '../../src/dhcp/paths.js';
import { planDhcpStop, type DhcpFacts } from '../../src/dhcp/plan.js';
import { formatWatch, parseWatch, stateKey } from '../../src/dhcp/state.js';
import { InvalidArgumentError, NotFoundError, UnsupportedError, UsageError } from '../../src/model/errors.js';
import { configOf, decodeRecord, encodeRecord, type AttachRecord } from '../../src/model/record.js';
import { assertThrows, attachContext, bridge, guestFacts } from './fakes.js';

const AGENT = ['/usr/bin/node', '/opt/pipework/build/src/dhcp/agent.js'];
const NSINODE = 4026532999;

function facts(extra: Partial<DhcpFacts> = {}): DhcpFacts {
  return {
    agent: AGENT,
    installed: { udhcpc: true, dhclient: true, dhcpcd: true },
    guestKind: 'docker',
    guestName: 'web_1',
    guestId: '0123456789abcdef0123',
    watch: { kind: 'pid', pid: 4242, start: '777' },
    dns: { path: '/var/lib/docker/containers/0123/resolv.conf', create: false, hostId: '65024:793' },
    timeoutSec: 30,
    ...extra,
  };
}

/** Docker container web_1 (pid 4242) on br0, with arping, and these DHCP facts (null: none gathered). */
function ctx(argv: string[], dhcp: DhcpFacts | null = facts(), links = guestFacts()): PlanInput {
  return attachContext(argv, {
    name: 'web_1',
    guest: { pid: 4242, nsInode: NSINODE },
    container: { id: '0123456789abcdef0123', name: 'web_1' },
    links: [bridge('br0')],
    facts: links,
    hasArping: true,
    ...(dhcp !== null && { dhcp }),
  });
}

function show(a: Action): string {
  if (a.kind === 'keep') return `${a.place}: ${a.text === null ? 'forget' : 'keep'} ${a.key}`;
  return a.kind === 'ip' ? `${a.place}: ip ${a.args.join(' ')}` : `${a.place}: ${a.argv.join(' ')}${a.detached ? ' &' : ''}`;
}
const guestSteps = (p: Plan): string[] => p.steps.slice(4).map((s) => show(s.action));

void describe('client command lines', () => {
  const base = { guestIf: 'eth1', family: 4 as const, hostname: 'web-1', timeoutSec: 30, hook: '/run/pipework/dhcp/K/hook.mjs', stateDir: '/run/pipework/dhcp/K', options: [] };
  void test('udhcpc: one-shot quits once leased and fails after the tries; -f stays; the hostname, the user options, then the interface, the hook and the pidfile', () => {
    assert.deepEqual(clientArgv({ ...base, method: 'udhcpc', pidfile: '/var/run/udhcpc.web_1.pid', options: ['-O', 'mtu'] }), [
      'udhcpc', '-t', '30', '-T', '1', '-O', 'search', '-O', 'staticroutes', '-x', 'hostname:web-1', '-O', 'mtu',
      '-i', 'eth1', '-q', '-n', '-s', '/run/pipework/dhcp/K/hook.mjs', '-p', '/var/run/udhcpc.web_1.pid',
    ]);
    assert.deepEqual(clientArgv({ ...base, method: 'udhcpc-f', pidfile: '/var/run/udhcpc.web_1.pid' }), [
      'udhcpc', '-t', '5', '-A', '5', '-T', '1', '-O', 'search', '-O', 'staticroutes', '-x', 'hostname:web-1', '-i', 'eth1', '-s', '/run/pipework/dhcp/K/hook.mjs', '-p', '/var/run/udhcpc.web_1.pid',
    ]);
  });

  void test('dhclient: -1 only when one-shot; -6 with a DUID-LL; our configuration, hook, pidfile and lease file; the interface last', () => {
    const files = { pidfile: '/var/run/dhclient.web_1.pid', leasefile: '/etc/dhclient/dhclient.web_1.leases', conf: '/run/pipework/dhcp/K/dhclient.conf' };
    assert.deepEqual(clientArgv({ ...base, method: 'dhclient', ...files, options: ['-I'] }), [
      'dhclient', '-v', '-I', '-4', '-1', '-cf', files.conf, '-sf', base.hook, '-pf', files.pidfile, '-lf', files.leasefile, 'eth1',
    ]);
    assert.deepEqual(clientArgv({ ...base, method: 'dhclient-f', family: 6, ...files }), [
      'dhclient', '-v', '-D', 'LL', '-6', '-cf', files.conf, '-sf', base.hook, '-pf', files.pidfile, '-lf', files.leasefile, 'eth1',
    ]);
  });

  void test('dhcpcd: the MAC as client id, no IPv4LL, our default route; -6 with DUID-LL; a log in the state directory', () => {
    assert.deepEqual(clientArgv({ ...base, method: 'dhcpcd', options: ['--noarp'] }), [
      'dhcpcd', '-t', '30', '-h', 'web-1', '--clientid=', '-L', '-G', '--noarp', '-4', '-1', '-c', base.hook, '-j', '/run/pipework/dhcp/K/dhcpcd.log', 'eth1',
    ]);
    assert.deepEqual(clientArgv({ ...base, method: 'dhcpcd-f', family: 6, timeoutSec: 2.5 }), [
      'dhcpcd', '-t', '3', '-h', 'web-1', '--duid=ll', '-6', '-c', base.hook, '-j', '/run/pipework/dhcp/K/dhcpcd.log', 'eth1',
    ]);
  });

  void test("dhclient's configuration is bounded and sends the guest's name", () => {
    const v4 = dhclientConf({ family: 4, hostname: 'web-1', timeoutSec: 7, staying: false });
    assert.match(v4, /^timeout 7;$/mu);
    assert.match(v4, /^send host-name "web-1";$/mu);
    assert.match(v4, /rfc3442-classless-static-routes code 121/u);
    assert.match(dhclientConf({ family: 4, timeoutSec: 7, staying: true }), /^timeout 17;$/mu);
    assert.doesNotMatch(dhclientConf({ family: 4, timeoutSec: 7, staying: true }), /host-name/u);
    assert.match(dhclientConf({ family: 6, timeoutSec: 7, staying: false }), /dhcp6\.name-servers/u);
  });

  void test('host names, file names, the classic pidfile and lease file names, the helper', () => {
    assert.equal(dhcpHostname('web_1'), 'web-1');
    assert.equal(dhcpHostname('-x.'), 'x');
    assert.equal(dhcpHostname('___'), undefined);
    assert.equal(dhcpHostname('a'.repeat(80)), 'a'.repeat(63));
    assert.equal(fileSafe('../x y'), '__x_y');
    assert.equal(classicPidfile('udhcpc', 'web', 'eth1', 4), '/var/run/udhcpc.web.pid');
    assert.equal(classicPidfile('udhcpc-f', 'web', 'eth2', 4), '/var/run/udhcpc.web.eth2.pid');
    assert.equal(classicPidfile('dhclient-f', 'web', 'eth1', 6), '/var/run/dhclient6.web.pid');
    assert.equal(classicPidfile('dhcpcd-f', 'web', 'eth1', 4), undefined);
    assert.equal(classicPidfile('dhcp', 'web', 'eth1', 4), undefined);
    assert.equal(classicLeasefile('web', 'eth1', 4), '/etc/dhclient/dhclient.web.leases');
    assert.equal(classicLeasefile('web', 'eth3', 6), '/etc/dhclient/dhclient6.web.eth3.leases');
    assert.equal(helperName('0123456789abcdef', 'eth1'), 'pipework-dhcp-0123456789ab-eth1');
    assert.deepEqual(helperCommand({ guestIf: 'eth1', hostname: 'web-1', hookInHelper: '/run/h', options: ['-O', 'mtu'] }), [
      'udhcpc', '-t', '5', '-T', '1', '-A', '5', '-O', 'search', '-x', 'hostname:web-1', '-O', 'mtu', '-f', '-i', 'eth1', '-s', '/run/h',
    ]);
  });

  void test('which methods stay, which do IPv6', () => {
    const staying = DHCP_METHODS.filter((m) => METHOD_INFO[m].staying);
    assert.deepEqual(staying, ['dhcp', 'udhcpc-f', 'dhclient-f', 'dhcpcd-f']);
    assert.deepEqual(DHCP_METHODS.filter((m) => METHOD_INFO[m].v6), ['dhclient', 'dhclient-f', 'dhcpcd', 'dhcpcd-f']);
  });

  void test('the supervisor watch round-trips', () => {
    for (const w of [{ kind: 'pid', pid: 4242, start: '777' }, { kind: 'nsfile', path: '/var/run/netns/a b', inode: 42 }] as const) {
      assert.deepEqual(parseWatch(formatWatch(w)), w);
    }
    assert.equal(parseWatch('pid:x:1'), undefined);
    assert.equal(stateKey(42, 'eth1'), '42-eth1');
  });
});

void describe('planAttach with a DHCP method', () => {
  const acquire = (method: DhcpMethod, extra: string[] = [], tail: string[] = []): string => [
    'guest: unshare --mount --propagation private --', ...AGENT, 'acquire', '--method', method, '--if', 'eth1', '--family', '4', '--timeout', '30',
    '--key', `${NSINODE}-eth1`, '--guest', 'docker:web_1', '--watch', 'pid:4242:777', '--hostname', 'web-1', ...extra,
    '--dns', '/var/lib/docker/containers/0123/resolv.conf', '--host-resolv', '65024:793', '--', ...tail,
  ].join(' ');

  void test('udhcpc: record, link up, the lease (no undo: nothing stays), no ARP step, no arping warning', () => {
    const p = planAttach(ctx(['br0', 'web_1', 'udhcpc:-O mtu']));
    assert.equal(p.record?.dhcp, 'udhcpc');
    assert.equal(p.record?.address, undefined);
    assert.deepEqual(guestSteps(p), [
      `guest: ip link set dev eth1 alias ${encodeRecord(p.record)}`,
      'guest: ip link set dev eth1 up',
      acquire('udhcpc', ['--pidfile', '/var/run/udhcpc.web_1.pid'], ['-O', 'mtu']),
    ]);
    const last = p.steps.at(-1)!;
    assert.deepEqual(last.undo, []);
    assert.equal(last.action.kind === 'exec' && last.action.timeoutMs, 60_000);
    assert.equal(last.action.kind === 'exec' && last.action.errorLabel, 'DHCP (udhcpc)');
    assert.deepEqual(p.warnings, []);
    assert.deepEqual(planAttach(ctx(['br0', 'web_1', 'udhcpc'], facts(), guestFacts())).warnings, []);
  });

  void test('staying methods: the lease step stops the client on undo, then the supervisor is made sure of', () => {
    const p = planAttach(ctx(['br0', 'web_1', 'dhclient-f', '--dhcp-timeout', '5'], facts({ timeoutSec: 5 })));
    const steps = guestSteps(p);
    const lease = p.steps.at(-2)!;
    assert.match(steps[2]!, / acquire --method dhclient-f .* --timeout 5 .*--pidfile \/var\/run\/dhclient\.web_1\.pid --leasefile \/etc\/dhclient\/dhclient\.web_1\.leases /u);
    assert.deepEqual(lease.undo.map(show), [`host: ${AGENT.join(' ')} stop --key ${NSINODE}-eth1`]);
    assert.equal(lease.action.kind === 'exec' && lease.action.timeoutMs, 35_000);
    assert.equal(steps[3], `host: ${AGENT.join(' ')} supervise --ensure`);
  });

  void test('-a 6: IPv6 is enabled first; the record says DHCPv6', () => {
    const p = planAttach(ctx(['br0', '-a', '6', 'web_1', 'dhcpcd']));
    assert.equal(p.record?.dhcp6, true);
    const steps = guestSteps(p);
    assert.equal(steps[0], 'guest: sysctl -q -w net/ipv6/conf/eth1/disable_ipv6=0');
    assert.match(steps[3]!, / --family 6 /u);
    assert.equal(configOf(p.record), 'bridge br0, dhcp dhcpcd (IPv6)');
  });

  void test('a named netns: the watch is its file, DNS goes to /etc/netns/<name>/resolv.conf (created)', () => {
    const c = ctx(['br0', 'blue', 'udhcpc-f'], facts({
      guestKind: 'netns', guestName: 'blue', watch: { kind: 'nsfile', path: '/var/run/netns/blue', inode: NSINODE },
      dns: { path: '/etc/netns/blue/resolv.conf', create: true, hostId: '1:2' },
    }));
    const step = guestSteps(planAttach(c))[2]!;
    assert.match(step, / --watch nsfile:4026532999:\/var\/run\/netns\/blue --hostname blue --pidfile \/var\/run\/udhcpc\.blue\.pid --dns \/etc\/netns\/blue\/resolv\.conf --dns-create --host-resolv 1:2 --$/u);
  });

  void test("the 'dhcp' method: a helper container on the host side of the plan, removed on undo", () => {
    const p = planAttach(ctx(['br0', 'web_1', 'dhcp:-O mtu', '--dhcp-image', 'busybox:1.36'], facts({
      helper: { runtime: 'docker', image: 'busybox:1.36', imagePresent: true, hook: '/opt/pipework/bin/pipework-dhcp-helper-hook' },
    })));
    const last = p.steps.at(-1)!;
    assert.equal(show(last.action), `host: ${AGENT.join(' ')} acquire-container --runtime docker --guest-id 0123456789abcdef0123 ` +
      '--name pipework-dhcp-0123456789ab-eth1 --image busybox:1.36 --if eth1 --timeout 30 --hook /opt/pipework/bin/pipework-dhcp-helper-hook ' +
      '--hostname web-1 -- -O mtu');
    assert.deepEqual(last.undo.map(show), [`host: ${AGENT.join(' ')} stop --helper docker:pipework-dhcp-0123456789ab-eth1`]);
    assert.equal(p.record?.dhcp, 'dhcp');
  });

  void test('refusals, before anything changes', () => {
    assertThrows(() => planAttach(ctx(['br0', 'web_1', 'udhcpc'], facts({ installed: { udhcpc: false } }))),
      UnsupportedError, "you asked for DHCP client udhcpc, but I can't find it", 'Debian package udhcpc');
    assertThrows(() => planAttach(ctx(['br0', 'web_1', 'dhcpcd-f'], facts({ installed: {} }))), UnsupportedError, 'dhcpcd', 'dhcpcd-base');
    assertThrows(() => planAttach(ctx(['br0', '-a', '6', 'web_1', 'udhcpc-f'])), InvalidArgumentError, 'udhcpc-f is IPv4 only', 'dhclient');
    assertThrows(() => planAttach(ctx(['br0', 'blue', 'dhcp'], facts({ guestKind: 'netns', guestName: 'blue' }))),
      InvalidArgumentError, 'Docker-specific DHCP method', 'not a Docker or Podman container', 'use udhcpc, dhclient or dhcpcd');
    assertThrows(() => planAttach(ctx(['br0', 'web_1', 'dhcp'], facts({ helper: { runtime: 'docker', image: 'busybox', imagePresent: false, hook: '/h' } }))),
      NotFoundError, 'needs the image busybox', 'does not pull', '--dhcp-image');
    assertThrows(() => planAttach(ctx(['br0', 'web_1', 'dhcp'])), UnsupportedError, 'API');
    assertThrows(() => planAttach(ctx(['br0', 'web_1', 'dhcp'], null)), UnsupportedError, 'DHCP');
  });

  void test('an idempotent re-run is unchanged; another method (or a static address) is a conflict unless --replace, which stops the client first', () => {
    const first = planAttach(ctx(['br0', 'web_1', 'udhcpc-f']));
    const present = guestFacts(['lo', { name: 'eth1', up: true, alias: encodeRecord(first.record!) }]);
    assert.equal(planAttach(ctx(['br0', 'web_1', 'udhcpc-f'], facts(), present)).outcome, 'unchanged');
    assertThrows(() => planAttach(ctx(['br0', 'web_1', 'dhclient'], facts(), present)), Error, 'dhcp udhcpc-f', 'dhcp dhclient');
    assertThrows(() => planAttach(ctx(['br0', 'web_1', '10.0.0.2/24'], facts(), present)), Error, 'dhcp udhcpc-f', '10.0.0.2/24');
    const replaced = planAttach(ctx(['br0', 'web_1', '10.0.0.2/24', '--replace'], null, present));
    assert.equal(show(replaced.steps[0]!.action), `host: ${DHCP_AGENT.join(' ')} stop --key ${NSINODE}-eth1`);
    assert.equal(show(replaced.steps[1]!.action), 'guest: ip link set dev eth1 down');
    assert.match(show(replaced.steps[2]!.action), /^guest: ip link set dev eth1 name pwo[0-9a-f]{12}$/u);
    // Without what it takes to start the client again, stopping it cannot be undone.
    assert.equal(replaced.steps[0]!.irreversible, true);
  });

  void test('--replace of a staying client, when it can be started again: a failed replace restarts it', () => {
    const first = planAttach(ctx(['br0', 'web_1', 'udhcpc-f']));
    const present = guestFacts(['lo', { name: 'eth1', up: true, alias: encodeRecord(first.record!) }]);
    const input = ctx(['br0', 'web_1', '10.0.0.2/24', '--replace'], null, present);
    input.facts.replacedDhcp = facts();
    const stop = planAttach(input).steps[0]!;
    assert.equal(show(stop.action), `host: ${DHCP_AGENT.join(' ')} stop --key ${NSINODE}-eth1`);
    assert.equal(stop.irreversible, false);
    // Undo runs its actions last to first: the lease again, then the supervisor made sure of.
    assert.deepEqual(stop.undo.map(show).reverse().map((a) => a.split(' ').slice(0, 2).join(' ')), ['guest: unshare', `host: ${AGENT[0]!}`]);
    assert.match(show(stop.undo.at(-1)!), / acquire --method udhcpc-f --if eth1 /u);
    assert.equal(show(stop.undo[0]!), `host: ${AGENT.join(' ')} supervise --ensure`);
  });
});

void describe('the record and the stop steps', () => {
  const rec = (dhcp: DhcpMethod, guest = 'docker:web_1'): AttachRecord => ({
    role: 'guest', guest, nsInode: NSINODE, guestIf: 'eth1', hostIf: 'br0', hostKind: 'bridge', localIf: 'veth1pl4242', dhcp,
  });

  void test('dhcp and dhcp6 round-trip through the alias; an unknown method is not our record', () => {
    const r = { ...rec('dhclient-f'), dhcp6: true };
    assert.match(encodeRecord(r), /;d=dhclient-f;d6=1$/u);
    assert.deepEqual(decodeRecord(encodeRecord(r)), r);
    assert.deepEqual(decodeRecord(encodeRecord(rec('udhcpc'))), rec('udhcpc'));
    assert.equal(decodeRecord(`${encodeRecord(rec('udhcpc')).replace('d=udhcpc', 'd=pump')}`), undefined);
  });

  void test('stop steps: a staying client by its key, a helper by its name, the resolv.conf of a named netns', () => {
    assert.deepEqual(planDhcpStop(rec('udhcpc'), 'eth1', AGENT), []);
    assert.deepEqual(planDhcpStop({ ...rec('udhcpc'), dhcp: undefined }, 'eth1', AGENT), []);
    assert.deepEqual(planDhcpStop(rec('dhcpcd-f'), 'eth1', AGENT).map((s) => show(s.action)), [`host: ${AGENT.join(' ')} stop --key ${NSINODE}-eth1`]);
    assert.deepEqual(planDhcpStop(rec('dhcp'), 'eth1', AGENT, '0123456789abcdef').map((s) => show(s.action)),
      [`host: ${AGENT.join(' ')} stop --helper docker:pipework-dhcp-0123456789ab-eth1`]);
    assert.deepEqual(planDhcpStop(rec('dhcp', 'podman:web'), 'eth1', AGENT, 'abcdef0123456789').map((s) => show(s.action)),
      [`host: ${AGENT.join(' ')} stop --helper podman:pipework-dhcp-abcdef012345-eth1`]);
    assert.deepEqual(planDhcpStop(rec('udhcpc', 'netns:blue'), 'eth1', AGENT).map((s) => show(s.action)),
      [`host: ${AGENT.join(' ')} stop --dns-file /etc/netns/blue/resolv.conf --if eth1`]);
    assert.deepEqual(planDhcpStop(rec('udhcpc-f', 'netns:blue'), 'eth1', AGENT).map((s) => show(s.action)),
      [`host: ${AGENT.join(' ')} stop --key ${NSINODE}-eth1 --dns-file /etc/netns/blue/resolv.conf --if eth1`]);
  });
});

void describe('grammar: --dhcp-timeout and --dhcp-image', () => {
  const attach = (...argv: string[]) => {
    const r = parseCommandLine(argv);
    assert.equal(r.kind, 'attach');
    return r;
  };
  void test('accepted with a DHCP method, before or after the positionals, with a space or =', () => {
    assert.equal(attach('br0', 'c1', 'udhcpc', '--dhcp-timeout', '5').dhcpTimeoutSec, 5);
    assert.equal(attach('--dhcp-timeout=2.5', 'br0', 'c1', 'dhclient-f').dhcpTimeoutSec, 2.5);
    assert.equal(attach('br0', '-i', 'eth2', '--dhcp-timeout', '9', 'c1', 'dhcpcd').dhcpTimeoutSec, 9);
    const r = attach('br0', 'c1', 'dhcp', '--dhcp-image', 'registry.example:5000/tools/busybox:1.36');
    assert.equal(r.dhcpImage, 'registry.example:5000/tools/busybox:1.36');
    assert.equal(attach('br0', 'c1', 'dhcp', '--dhcp-image=busybox@sha256:' + 'a'.repeat(64)).dhcpImage, `busybox@sha256:${'a'.repeat(64)}`);
    assert.equal(attach('br0', 'c1', 'udhcpc').dhcpTimeoutSec, undefined);
  });

  void test('refused: bad values, with a static address, --dhcp-image with a host client, on other verbs', () => {
    assertThrows(() => parseCommandLine(['br0', 'c1', 'udhcpc', '--dhcp-timeout', '0']), InvalidArgumentError, '--dhcp-timeout');
    assertThrows(() => parseCommandLine(['br0', 'c1', 'udhcpc', '--dhcp-timeout', 'soon']), InvalidArgumentError, '--dhcp-timeout');
    assertThrows(() => parseCommandLine(['br0', 'c1', 'udhcpc', '--dhcp-timeout', '3601']), InvalidArgumentError, 'at most 3600');
    assertThrows(() => parseCommandLine(['br0', 'c1', 'udhcpc', '--dhcp-timeout']), UsageError, '--dhcp-timeout needs');
    assertThrows(() => parseCommandLine(['br0', 'c1', 'dhcp', '--dhcp-image', 'Bad Image']), InvalidArgumentError, '--dhcp-image');
    assertThrows(() => parseCommandLine(['br0', 'c1', 'dhcp', '--dhcp-image', '-x']), InvalidArgumentError, '--dhcp-image');
    assertThrows(() => parseCommandLine(['br0', 'c1', '10.0.0.2/24', '--dhcp-timeout', '5']), UsageError, 'goes with a DHCP method');
    assertThrows(() => parseCommandLine(['br0', 'c1', 'udhcpc', '--dhcp-image', 'busybox']), UsageError, "goes with the 'dhcp' method");
    assertThrows(() => parseCommandLine(['del', 'c1', '--dhcp-timeout', '5']), UsageError, 'del');
    assertThrows(() => parseCommandLine(['--wait', '--dhcp-timeout', '5']), UsageError, '--wait');
    assertThrows(() => parseCommandLine(['--dhcp-timeout', '5', 'route', 'c1', 'show']), UsageError, '--dhcp-');
  });
});
