// What the watcher lets a container's labels decide (SPEC part H), its pure parts: --allow with
// VLANs per host interface, a label's VLAN judged against it, --dhcp-image (the operator's, never a
// label's), the watcher's translator (the container's own namespace only, an operator's bridge
// never changed), the bridge driver honouring that, and how a namespace's sharers are told apart.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ID, container, watchOpts } from './watch-fixtures.js';
import { ConflictError, InvalidArgumentError, UsageError } from '../../src/model/errors.js';
import { envRequest, labelRequest, readAsks } from '../../src/front/watch/asks.js';
import { humanLine } from '../../src/front/watch/log.js';
import { narrowSpec } from '../../src/front/watch/narrow.js';
import { parseAllow, parseWatchArgs, WATCH_HELP } from '../../src/front/watch/options.js';
import { policyOf, refuseRequest, refuseSpec } from '../../src/front/watch/policy.js';
import { resolveClassic } from '../../src/front/classic/spec.js';
import { planAttach } from '../../src/engine/planner.js';
import { NotOwnNetnsError, checkOwnNetns, foreignHolders, joinedNamespace, type HostView, type NsProcess } from '../../src/guest/exclusive.js';
import type { GuestLocation } from '../../src/guest/guest.js';
import type { ContainerInspect } from '../../src/guest/runtime-api.js';
import { attachContext, bridge, fakeNs, hostLookup, nic, ovsFacts } from './fakes.js';

const OTHER = 'cd'.repeat(32);


void describe('--allow HOSTIF[@VLAN[,VLAN…]][,HOSTIF…]', () => {
  void test('numbers after @ are VLANs until a name starts the next host interface; without @ untagged only', () => {
    assert.deepEqual(parseAllow('ovs-lan@10,20,br0'), [
      { hostIf: 'ovs-lan', untagged: false, vlans: [10, 20] },
      { hostIf: 'br0', untagged: true, vlans: [] },
    ]);
    assert.deepEqual(parseAllow('br0,ovs-lan@10'), [
      { hostIf: 'br0', untagged: true, vlans: [] },
      { hostIf: 'ovs-lan', untagged: false, vlans: [10] },
    ]);
    assert.deepEqual(parseAllow('eth1@4094,1,eth2@7'), [
      { hostIf: 'eth1', untagged: false, vlans: [1, 4094] },
      { hostIf: 'eth2', untagged: false, vlans: [7] },
    ]);
  });

  void test('the same host interface twice (one option or several) is one grant: untagged and VLANs merged', () => {
    const o = watchOpts(['--allow', 'ovs-a@10', '--allow=ovs-a,br1', '--allow', 'ovs-a@20,10']);
    assert.deepEqual(o.allow, [
      { hostIf: 'ovs-a', untagged: true, vlans: [10, 20] },
      { hostIf: 'br1', untagged: true, vlans: [] },
    ]);
  });

  void test('refused: a bare number (a VLAN must follow a host interface and @), a bad VLAN, an empty part, @ with nothing', () => {
    const bad: [string, RegExp][] = [
      ['br0,10', /'10' is a number, not a host interface.*br0@10/u],
      ['10', /'10' is a number/u],
      ['ovs-a@0', /invalid VLAN id '0'/u],
      ['ovs-a@4095', /invalid VLAN id '4095'/u],
      ['ovs-a@x', /invalid VLAN id 'x'/u],
      ['ovs-a@', /invalid VLAN id ''/u],
      ['ovs-a@10@20', /invalid VLAN id '10@20'/u],
      ['@10', /host interface/u],
      ['br0,,br1', /separated by commas/u],
      ['ovs-a@10,', /separated by commas/u],
      ['a-very-long-interface-name@10', /longer than 15/u],
    ];
    for (const [text, why] of bad) {
      assert.throws(() => parseAllow(text), (e: unknown) => e instanceof InvalidArgumentError && why.test(e.message), text);
    }
  });

  void test('the help says how VLANs are granted', () => {
    assert.match(WATCH_HELP, /--allow <hostif>\[@<vlan>\[,<vlan>…\]\]/u);
    assert.match(WATCH_HELP, /untagged only/u);
  });
});

void describe('a label\'s VLAN, judged against --allow', () => {
  const host = hostLookup([bridge('br1'), nic('eth1'), nic('ovs-a')], ovsFacts({ bridges: ['ovs-a'] }));
  const judge = (allow: string, value: string): string | undefined => {
    const policy = policyOf(watchOpts(['--allow', allow]));
    const request = labelRequest(container(), 'pipework.eth1', value);
    return refuseRequest(request, policy) ?? refuseSpec(resolveClassic(request, host, { kind: 'watch' }), policy);
  };

  void test('a granted VLAN passes; another VLAN, or none where only VLANs are granted, is refused naming what is served', () => {
    assert.equal(judge('ovs-a@10', 'ovs-a 10.0.0.5/24 @10'), undefined);
    assert.match(judge('ovs-a@10', 'ovs-a 10.0.0.5/24 @20')!, /VLAN 20 on ovs-a is not served: ovs-a serves VLAN 10 only \(--allow ovs-a@20 would grant it\)/u);
    assert.match(judge('ovs-a@10', 'ovs-a 10.0.0.5/24')!, /ovs-a is served on VLAN 10 only, and the label names no VLAN/u);
    assert.equal(judge('ovs-a@10,20', 'ovs-a 10.0.0.5/24 U:web@20'), undefined);
  });

  void test('without @ a host interface is served untagged only: any VLAN is refused', () => {
    assert.equal(judge('br1', 'br1 10.0.0.5/24'), undefined);
    assert.match(judge('br1', 'br1 10.0.0.5/24 @10')!, /VLAN 10 on br1 is not served: br1 serves untagged traffic only \(--allow br1@10 would grant it\)/u);
    assert.match(judge('eth1', 'eth1 10.0.0.5/24 @30')!, /VLAN 30 on eth1 is not served/u);
  });

  void test('untagged and VLANs both granted', () => {
    assert.equal(judge('ovs-a,ovs-a@10', 'ovs-a 10.0.0.5/24'), undefined);
    assert.equal(judge('ovs-a,ovs-a@10', 'ovs-a 10.0.0.5/24 @10'), undefined);
  });

  void test('a pipework_cmd variable is judged the same way', () => {
    const policy = policyOf(watchOpts(['--allow', 'ovs-a@10']));
    assert.match(refuseRequest(envRequest(container(), 'ovs-a @CONTAINER_NAME@ 10.0.0.5/24 @20'), policy)!, /VLAN 20/u);
  });

  void test('an IPoIB partition from a label is never served (a partition is not a VLAN the allowlist can grant)', () => {
    const ibHost = hostLookup([{ name: 'ib0', isBridge: false, type: 32, mtu: 2044, up: true, mac: '80:00', ports: [] }]);
    const policy = policyOf(watchOpts(['--allow', 'ib0']));
    const request = labelRequest(container(), 'pipework.ib0', 'ib0 10.0.0.5/24 @8001');
    // Before the host is looked at, @8001 is not a VLAN id at all (it is a partition key): refused either way.
    const why = refuseRequest(request, policy) ?? refuseSpec(resolveClassic(request, ibHost, { kind: 'watch' }), policy);
    assert.match(why!, /8001/u);
  });
});

void describe('--dhcp-image: the operator\'s choice, never a label\'s', () => {
  void test('refused in a label and in a pipework_cmd variable, in both spellings', () => {
    for (const value of ['--dhcp-image evil br1 dhcp', '--dhcp-image=evil br1 dhcp', 'br1 --dhcp-image evil dhcp']) {
      assert.throws(() => labelRequest(container(), 'pipework.eth1', value),
        (e: unknown) => e instanceof UsageError && /--dhcp-image is not accepted from a container: the helper image is the operator's choice \(pipework watch --dhcp-image\)/u.test(e.message), value);
    }
    assert.throws(() => envRequest(container(), 'br1 --dhcp-image=evil @CONTAINER_NAME@ dhcp'), /--dhcp-image is not accepted from a container/u);
  });

  void test('readAsks reports it as the label\'s problem (one logged line), the container is left alone', () => {
    const r = readAsks(container({ labels: { 'pipework.eth1': '--dhcp-image evil br1 dhcp' } }), false);
    assert.equal(r.asks.length, 0);
    assert.deepEqual(r.problems.map((p) => p.source), ['label pipework.eth1']);
  });

  void test('the watcher has its own --dhcp-image, checked like the command line\'s', () => {
    assert.equal(watchOpts(['--dhcp-image', 'registry.example/busybox:1.36']).dhcpImage, 'registry.example/busybox:1.36');
    assert.equal(watchOpts(['--dhcp-image=busybox']).dhcpImage, 'busybox');
    assert.equal(watchOpts([]).dhcpImage, undefined);
    assert.throws(() => parseWatchArgs(['watch', '--dhcp-image', 'Bad Image']), InvalidArgumentError);
    assert.throws(() => parseWatchArgs(['watch', '--dhcp-image', 'a', '--dhcp-image', 'b']), UsageError);
    assert.match(WATCH_HELP, /--dhcp-image <image>/u);
  });
});

void describe('the watcher\'s translator: what a label\'s spec may do', () => {
  const host = hostLookup([bridge('br1'), nic('ovs-a')], ovsFacts({ bridges: ['ovs-a'] }));
  const specOf = (value: string) => resolveClassic(labelRequest(container(), 'pipework.eth1', value), host, { kind: 'watch' });

  void test('the guest must own its namespace alone; an operator\'s bridge keeps its settings', () => {
    const s = narrowSpec(specOf('br1 10.0.0.5/24'), {});
    assert.deepEqual(s.guest, { kind: 'docker', name: ID, exclusive: true });
    assert.equal(s.host.kind === 'bridge' && s.host.keepSettings, true);
    const o = narrowSpec(specOf('ovs-a 10.0.0.5/24 @10'), {});
    assert.equal(o.host.kind, 'ovs');
    assert.deepEqual(o.guest, { kind: 'docker', name: ID, exclusive: true });
  });

  void test('an Open vSwitch port is an access port: untagged only when no VLAN is granted, never a trunk of every VLAN', () => {
    const untagged = narrowSpec(specOf('ovs-a 10.0.0.5/24'), {});
    assert.equal(untagged.host.kind === 'ovs' && untagged.host.accessOnly, true);
    const ctx = attachContext(['ovs-a', 'docker:web', '10.0.0.2/24'], { name: 'web', links: [nic('ovs-a')], ovs: ovsFacts({ bridges: ['ovs-a'] }), owner: { kind: 'watch' } });
    const port = (spec: typeof ctx.spec) => planAttach({ ...ctx, spec }).steps.map((st) => (st.action.kind === 'exec' ? st.action.argv.join(' ') : '')).find((a) => a.includes('add-port'))!;
    assert.match(port(narrowSpec(ctx.spec, {})), / add-port ovs-a \S+ vlan_mode=access /u);
    // The command line keeps the classic port (no tag: a trunk).
    assert.doesNotMatch(port(ctx.spec), /vlan_mode/u);
    const tagged = attachContext(['ovs-a', 'docker:web', '10.0.0.2/24', '@10'], { name: 'web', links: [nic('ovs-a')], ovs: ovsFacts({ bridges: ['ovs-a'] }), owner: { kind: 'watch' } });
    assert.match(port(narrowSpec(tagged.spec, {})), / add-port ovs-a \S+ tag=10 vlan_mode=access /u);
  });

  void test('the dhcp method\'s helper image is the watcher\'s (or the default), whatever the spec said', () => {
    const plain = specOf('br1 dhcp');
    const forged = { ...plain, addressing: { ...plain.addressing, image: 'evil' } } as typeof plain;
    const a = narrowSpec(forged, {});
    assert.equal(a.addressing.kind === 'dhcp' && a.addressing.image, undefined);
    const b = narrowSpec(forged, { dhcpImage: 'registry.example/busybox:1.36' });
    assert.equal(b.addressing.kind === 'dhcp' && b.addressing.image, 'registry.example/busybox:1.36');
    // Another method has no helper image.
    const c = narrowSpec(specOf('br1 udhcpc'), { dhcpImage: 'x' });
    assert.equal(c.addressing.kind === 'dhcp' && c.addressing.image, undefined);
  });
});

void describe('a bridge whose settings are kept (the watcher\'s)', () => {
  const input = (filtering: 'on' | 'off' | 'unsupported', links = [bridge('br0')]) => {
    const ctx = attachContext(['br0', 'docker:web', '10.0.0.2/24', '@10'], { name: 'web', links, bridgeVlanFiltering: { br0: filtering }, owner: { kind: 'watch' } });
    return { ...ctx, spec: narrowSpec(ctx.spec, {}) };
  };

  void test('VLAN filtering off: refused, saying the operator must turn it on — never a step that turns it on', () => {
    assert.throws(() => planAttach(input('off')), (e: unknown) => e instanceof ConflictError
      && /bridge br0 has VLAN filtering off, and a container's label does not change an operator's bridge: turn it on \(ip link set dev br0 type bridge vlan_filtering 1\) to serve VLAN 10/u.test(e.message));
  });

  void test('VLAN filtering on: the port joins the VLAN as usual', () => {
    const p = planAttach(input('on'));
    assert.ok(!p.steps.some((s) => s.action.kind === 'ip' && s.action.args.includes('vlan_filtering')));
    assert.ok(p.steps.some((s) => s.action.kind === 'exec' && s.action.argv.join(' ').startsWith('bridge vlan add')));
  });

  void test('a bridge the label\'s run makes itself is pipework\'s: made with filtering', () => {
    const p = planAttach(input('off', []));
    assert.ok(p.steps[0]!.action.kind === 'ip' && p.steps[0]!.action.args.join(' ') === 'link add name br0 type bridge vlan_filtering 1');
  });

  void test('without keepSettings (the command line) the classic behaviour stays: filtering is turned on', () => {
    const ctx = attachContext(['br0', 'web', '10.0.0.2/24', '@10'], { name: 'web', links: [bridge('br0')], bridgeVlanFiltering: { br0: 'off' } });
    assert.ok(planAttach(ctx).steps.some((s) => s.action.kind === 'ip' && s.action.args.join(' ') === 'link set dev br0 type bridge vlan_filtering 1'));
  });
});

void describe('whose network namespace: the runtime\'s network mode', () => {
  void test('modes that join another\'s namespace', () => {
    assert.deepEqual(joinedNamespace('host'), { kind: 'host' });
    assert.deepEqual(joinedNamespace(`container:${OTHER}`), { kind: 'container', ref: OTHER });
    assert.deepEqual(joinedNamespace('container:web'), { kind: 'container', ref: 'web' });
    assert.deepEqual(joinedNamespace('ns:/proc/42/ns/net'), { kind: 'path', path: '/proc/42/ns/net' });
    assert.deepEqual(joinedNamespace('ns:/run/netns/x'), { kind: 'path', path: '/run/netns/x' });
  });

  void test('modes that give a namespace of its own', () => {
    for (const m of [undefined, '', 'none', 'bridge', 'default', 'private', 'slirp4netns', 'pasta', 'my-network']) assert.equal(joinedNamespace(m), undefined, String(m));
  });
});

void describe('whose network namespace: the processes in it', () => {
  const proc = (pid: number, cgroup: string, over: Partial<NsProcess> = {}): NsProcess => ({ pid, comm: 'sleep', start: `${pid}00`, session: pid, cgroup, ...over });
  const own = proc(100, `12:pids:/docker/${ID}\n0::/\n`);

  void test('the container\'s own processes (its cgroup names its id) hold nothing', () => {
    assert.deepEqual(foreignHolders([own, proc(101, `0::/system.slice/docker-${ID}.scope\n`)], ID, []), []);
  });

  void test('another container\'s processes, by its id; an LXC container by name; any other process by PID', () => {
    const h = foreignHolders([
      own,
      proc(200, `12:pids:/docker/${OTHER}\n`),
      proc(201, `0::/machine.slice/libpod-${OTHER}.scope/container\n`),
      proc(300, '0::/lxc.payload.box1\n'),
      proc(400, '0::/user.slice/user-0.slice/session-3.scope\n', { comm: 'nsenter' }),
    ], ID, []);
    assert.deepEqual(h, [
      { kind: 'container', id: OTHER, pids: [200, 201] },
      { kind: 'lxc', name: 'box1', pids: [300] },
      { kind: 'process', pid: 400, comm: 'nsenter' },
    ]);
  });

  void test('pipework\'s own moment in a guest (the gratuitous ARP after an attach, an ip batch) is tolerated; the same name in a container is not', () => {
    const arp = proc(600, '0::/system.slice/pipework-watch.service\n', { comm: 'arping' });
    const ipBatch = proc(601, '0::/user.slice/user-0.slice/session-3.scope\n', { comm: 'ip' });
    const posing = proc(602, `0::/machine.slice/libpod-${OTHER}.scope/container\n`, { comm: 'arping' });
    assert.deepEqual(foreignHolders([own, arp, ipBatch, posing], ID, []), [{ kind: 'container', id: OTHER, pids: [602] }]);
  });

  void test("pipework's own staying DHCP clients (recorded: PID and start time, or their session) are tolerated", () => {
    const client = proc(500, '0::/\n', { comm: 'udhcpc', session: 500 });
    const helper = proc(501, '0::/\n', { comm: 'dhcpcd', session: 500 });
    const stranger = proc(502, '0::/\n', { comm: 'udhcpc', session: 502 });
    const recycled = proc(503, '0::/\n', { comm: 'udhcpc', start: 'other', session: 503 });
    const clients = [{ pid: 500, start: '50000', session: 500 }, { pid: 503, start: '50300', session: 9999 }];
    assert.deepEqual(foreignHolders([own, client, helper, stranger, recycled], ID, clients), [
      { kind: 'process', pid: 502, comm: 'udhcpc' },
      { kind: 'process', pid: 503, comm: 'udhcpc' },
    ]);
  });
});

void describe('the resolver\'s check: refused with one line naming the container and the owner', () => {
  const NS = 4026532999;
  const HOST = 4026531992;
  const THIRD = 'ef'.repeat(32);
  const HELPER = '12'.repeat(32);
  const FAKE = '34'.repeat(32);
  const proc = (pid: number, id: string): NsProcess => ({ pid, comm: 'sleep', start: `${pid}`, session: pid, cgroup: `0::/system.slice/docker-${id}.scope\n` });
  const containers: Record<string, { kind: 'docker' | 'podman'; info: ContainerInspect }> = {
    [OTHER]: { kind: 'docker', info: { Id: OTHER, Name: '/victim', HostConfig: { NetworkMode: 'none' } } },
    [THIRD]: { kind: 'docker', info: { Id: THIRD, Name: '/joiner', HostConfig: { NetworkMode: `container:${OTHER}` } } },
    [HELPER]: { kind: 'docker', info: { Id: HELPER, Name: '/pipework-dhcp-x', HostConfig: { NetworkMode: `container:${ID}` }, Config: { Labels: { 'pipework.dhcp-helper-for': ID } } } },
    // The label alone is not enough: its namespace must be exactly this guest's, as pipework makes it.
    [FAKE]: { kind: 'docker', info: { Id: FAKE, Name: '/fake-helper', HostConfig: { NetworkMode: `container:${OTHER}` }, Config: { Labels: { 'pipework.dhcp-helper-for': ID } } } },
  };
  const view = (procs: NsProcess[]): HostView => ({
    inspect: (ref) => Promise.resolve(containers[ref]),
    processesIn: () => procs,
    dhcpClientsIn: () => [],
    hostInode: () => HOST,
  });
  const loc = (networkMode: string): GuestLocation => ({ kind: 'docker', name: 'web', id: ID, pid: 42, nsPath: '/proc/42/ns/net', networkMode });
  const refused = async (p: Promise<void>, why: RegExp) => {
    await assert.rejects(p, (e: unknown) => e instanceof NotOwnNetnsError && e.reason === 'shared-netns' && why.test(e.message));
  };

  void test('--network container:<id>: the owner by its name', async () => {
    await refused(checkOwnNetns(loc(`container:${OTHER}`), fakeNs('web', 3, NS), view([])),
      /^docker container web joined the network namespace of docker container victim \(--network container:cdcdcdcdcdcd\); a label may plumb only a network namespace that is its container's alone$/u);
  });

  void test('--network host, or the host\'s namespace whatever the mode says', async () => {
    await refused(checkOwnNetns(loc('host'), fakeNs('web', 3, HOST), view([])), /docker container web joined the host's network namespace \(--network host\)/u);
    await refused(checkOwnNetns(loc('none'), fakeNs('web', 3, HOST), view([])), /docker container web is in the host's network namespace/u);
  });

  void test('ns:<path>: the owner is whoever holds it without having joined it', async () => {
    await refused(checkOwnNetns(loc('ns:/proc/7/ns/net'), fakeNs('web', 3, NS), view([proc(7, OTHER), proc(8, THIRD), proc(42, ID)])),
      /joined the network namespace of docker container victim \(--network ns:\/proc\/7\/ns\/net\)/u);
    await refused(checkOwnNetns(loc('ns:/run/netns/x'), fakeNs('web', 3, NS), view([proc(42, ID)])), /of the namespace at \/run\/netns\/x/u);
  });

  void test('its own namespace, held by another container too: refused naming it; by pipework\'s helper for it: fine', async () => {
    await refused(checkOwnNetns(loc('none'), fakeNs('web', 3, NS), view([proc(42, ID), proc(8, THIRD)])),
      /^the network namespace of docker container web is also held by docker container joiner; /u);
    await checkOwnNetns(loc('none'), fakeNs('web', 3, NS), view([proc(42, ID), proc(9, HELPER)]));
    await refused(checkOwnNetns(loc('none'), fakeNs('web', 3, NS), view([proc(42, ID), proc(10, FAKE)])), /also held by docker container fake-helper/u);
  });

  void test('pipework\'s recorded DHCP clients there are not another', async () => {
    const client: NsProcess = { pid: 11, comm: 'udhcpc', start: '500', session: 11, cgroup: '0::/\n' };
    await checkOwnNetns(loc('none'), fakeNs('web', 3, NS), { ...view([proc(42, ID), client]), dhcpClientsIn: () => [{ pid: 11, start: '500', session: 11 }] });
    await refused(checkOwnNetns(loc('none'), fakeNs('web', 3, NS), view([proc(42, ID), client])), /also held by process 11 \(udhcpc\)/u);
  });
});

void describe('the refusal of a container as a whole, in the log for people', () => {
  void test('it names the labels, not an empty value', () => {
    assert.equal(humanLine({ action: 'refuse', result: 'refused', runtime: 'docker', container: 'att', source: 'label pipework.eth1, label pipework.eth2', message: 'docker container att joined the network namespace of docker container vic (--network container:cdcdcdcdcdcd); …' }),
      'docker att: label pipework.eth1, label pipework.eth2 is refused: docker container att joined the network namespace of docker container vic (--network container:cdcdcdcdcdcd); …; the container is left alone');
  });
});
