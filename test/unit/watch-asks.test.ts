// The watcher's pure parts: its options, what a container's labels and pipework_cmd variables ask
// for (through the classic grammar), who may ask (the allowlist), and its log lines.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ID, container, watchOpts } from './watch-fixtures.js';
import { InvalidArgumentError, UsageError } from '../../src/model/errors.js';
import { macFromText } from '../../src/model/mac.js';
import { asksForPipework, envRequest, expandMacros, instanceOf, labelRequest, readAsks } from '../../src/front/watch/asks.js';
import { humanLine, makeLogger } from '../../src/front/watch/log.js';
import { parseAllow, parseWatchArgs, sourcesOf } from '../../src/front/watch/options.js';
import { policyOf, refuseRequest, refuseSpec } from '../../src/front/watch/policy.js';
import { resolveClassic } from '../../src/front/classic/spec.js';
import type { HostLink } from '../../src/host/links.js';



describe('watch options', () => {
  test('the allowlist: commas, repeated, --allow=, no duplicates', () => {
    const o = watchOpts(['--allow', 'br1,ovs-a', '--allow=eth1', '--allow', 'br1']);
    assert.deepEqual(o.allow.map((g) => g.hostIf), ['br1', 'ovs-a', 'eth1']);
    assert.ok(o.allow.every((g) => g.untagged && g.vlans.length === 0), 'without @: untagged only');
    assert.equal(o.allowDirect, false);
    assert.equal(o.trustImageLabels, false);
    assert.equal(o.once, false);
    assert.equal(o.json, false);
  });

  test('flags and sockets (a path or unix://path)', () => {
    const o = watchOpts(['--allow', 'eth1', '--allow-direct', '--trust-image-labels', '--once', '--json', '--docker', 'unix:///run/d.sock', '--podman=/tmp/p.sock']);
    assert.equal(o.allowDirect, true);
    assert.equal(o.trustImageLabels, true);
    assert.equal(o.once, true);
    assert.equal(o.json, true);
    assert.equal(o.docker, '/run/d.sock');
    assert.equal(o.podman, '/tmp/p.sock');
  });

  test('no --allow is accepted (it serves nothing, and says so)', () => {
    assert.deepEqual(watchOpts([]).allow, []);
  });

  test('help', () => {
    assert.deepEqual(parseWatchArgs(['watch', '--help']), { kind: 'help' });
    assert.deepEqual(parseWatchArgs(['watch', '-h']), { kind: 'help' });
  });

  test('refusals: unknown option, a positional word, a missing value, a bad name or socket, twice', () => {
    assert.throws(() => parseWatchArgs(['watch', '--alow', 'br1']), (e: unknown) => e instanceof UsageError && /unknown option '--alow'/u.test(e.message));
    assert.throws(() => parseWatchArgs(['watch', 'br1']), (e: unknown) => e instanceof UsageError && /takes only options/u.test(e.message));
    assert.throws(() => parseWatchArgs(['watch', '--allow']), (e: unknown) => e instanceof UsageError && /needs host interface names/u.test(e.message));
    assert.throws(() => parseWatchArgs(['watch', '--allow', 'br1,,br2']), InvalidArgumentError);
    assert.throws(() => parseWatchArgs(['watch', '--allow', 'a-very-long-interface-name']), (e: unknown) => e instanceof InvalidArgumentError && /longer than 15/u.test(e.message));
    assert.throws(() => parseWatchArgs(['watch', '--docker', 'tcp://1.2.3.4:2375']), (e: unknown) => e instanceof InvalidArgumentError && /absolute path of a unix socket/u.test(e.message));
    assert.throws(() => parseWatchArgs(['watch', '--docker', '/a', '--docker', '/b']), UsageError);
    assert.throws(() => parseWatchArgs(['watch', '--allow-direct']), (e: unknown) => e instanceof UsageError && /--allow/u.test(e.message));
  });

  test('sources: none given → both defaults (DOCKER_HOST / CONTAINER_HOST honoured); some given → only those', () => {
    assert.deepEqual(sourcesOf(watchOpts([]), {}), [
      { runtime: 'docker', socket: '/var/run/docker.sock', explicit: false },
      { runtime: 'podman', socket: '/run/podman/podman.sock', explicit: false },
    ]);
    assert.deepEqual(sourcesOf(watchOpts([]), { DOCKER_HOST: 'unix:///x/d.sock', CONTAINER_HOST: 'ssh://h' }).map((s) => s.socket), ['/x/d.sock', '/run/podman/podman.sock']);
    assert.deepEqual(sourcesOf(watchOpts(['--podman', '/p.sock']), {}), [{ runtime: 'podman', socket: '/p.sock', explicit: true }]);
  });
});

describe('labels → classic requests', () => {
  test('pipework.<ifname>=<hostif> <address>: the guest is the container by id, -i the key', () => {
    const r = labelRequest(container(), 'pipework.eth1', 'br1 10.0.0.5/24@10.0.0.1');
    assert.equal(r.kind, 'attach');
    assert.deepEqual(r.hostIf, { by: 'name', name: 'br1' });
    assert.equal(r.guest, `docker:${ID}`);
    assert.equal(r.guestIf, 'eth1');
    assert.equal(r.config.kind, 'static');
    assert.equal(r.config.kind === 'static' && r.config.spec.gateway, '10.0.0.1');
  });

  test('MAC, VLAN, DHCP method with options, -a, --direct-phys, --dhcp-timeout', () => {
    const a = labelRequest(container(), 'pipework.eth2', 'ovs-a 10.1.0.2/24 U:web@10');
    assert.equal(a.mac, macFromText('web'));
    assert.equal(a.vlan, 10);
    const b = labelRequest(container(), 'pipework.eth3', '--dhcp-timeout 5 eth1 udhcpc:-B');
    assert.deepEqual(b.hostIf, { by: 'name', name: 'eth1' });
    assert.equal(b.config.kind === 'dhcp' && b.config.method, 'udhcpc');
    assert.deepEqual(b.config.kind === 'dhcp' && b.config.options, ['-B']);
    assert.equal(b.dhcpTimeoutSec, 5);
    const c = labelRequest(container(), 'pipework.eth4', '-a 6 br1 fd00::5/64');
    assert.equal(c.family, 6);
    const d = labelRequest(container(), 'pipework.eth5', '--direct-phys eth7 10.2.0.2/24');
    assert.equal(d.directPhys, true);
    const e = labelRequest(container(), 'pipework.eth6', 'mac:52:54:00:12:34:56 10.3.0.2/24');
    assert.deepEqual(e.hostIf, { by: 'mac', mac: '52:54:00:12:34:56' });
  });

  test('malformed labels say what is wrong', () => {
    const bad: [string, string, RegExp][] = [
      ['pipework.eth1', '', /empty/u],
      ['pipework.eth1', 'br1', /too few words/u],
      ['pipework.eth1', 'br1 10.0.0.500/24', /10\.0\.0\.500/u],
      ['pipework.eth1', 'br1 10.0.0.5/24 zz:zz', /MAC/u],
      ['pipework.eth1', 'br1 10.0.0.5/24 @99999', /VLAN/u],
      ['pipework.eth1', 'br1 10.0.0.5/24 extra words', /unexpected argument/u],
      ['pipework.eth1', 'br1 UDHCPC', /did you mean udhcpc/u],
      ['pipework.eth1', "br1 '10.0.0.5/24", /unterminated/u],
      ['pipework.', 'br1 10.0.0.5/24', /not an interface name/u],
      ['pipework.a-very-long-ifname', 'br1 10.0.0.5/24', /longer than 15/u],
      ['pipework.eth1', '-i eth2 br1 10.0.0.5/24', /interface is the label's key/u],
      ['pipework.eth1', 'br1 -l eth0 10.0.0.5/24', /-l .*names a link on the host/u],
      ['pipework.eth1', '--replace br1 10.0.0.5/24', /--replace/u],
      ['pipework.eth1', '--json br1 10.0.0.5/24', /--json is not accepted in a label/u],
      ['pipework.eth1', 'del br1', /not an attach|too few|unexpected/u],
      ['pipework.eth1', 'route 10.0.0.0/8 via 1.2.3.4', /not an attach|unexpected/u],
    ];
    for (const [key, value, why] of bad) {
      assert.throws(() => labelRequest(container(), key, value), (e: unknown) => e instanceof Error && why.test(e.message), `${key}=${value}`);
    }
  });
});

describe('pipework_cmd variables (the fork)', () => {
  test('macros: @CONTAINER_NAME@, @CONTAINER_ID@, @INSTANCE@, @HOSTNAME@, @COMPOSE_PROJECT_NAME@', () => {
    const c = container({ hostname: 'h1', labels: { 'com.docker.compose.project': 'proj' } });
    assert.equal(expandMacros('@CONTAINER_NAME@ @CONTAINER_ID@ 10.0.0.@INSTANCE@/24 @HOSTNAME@ @COMPOSE_PROJECT_NAME@', c), `web_3 ${ID} 10.0.0.3/24 h1 proj`);
    assert.equal(instanceOf('app-12-x'), '12');
    assert.equal(instanceOf('db_007'), '7');
    assert.equal(instanceOf('web'), undefined);
    assert.throws(() => expandMacros('10.0.0.@INSTANCE@/24', container({ name: 'web' })), /web has none/u);
    assert.throws(() => expandMacros('@FOO@', c), /unknown macro @FOO@/u);
    assert.throws(() => expandMacros('@COMPOSE_PROJECT_NAME@', container()), /compose project/u);
  });

  test('a whole classic line for this container (leading pipework word, -i, by name, id or 12+ hex of it)', () => {
    const a = envRequest(container(), 'pipework br1 -i eth2 @CONTAINER_NAME@ 10.0.0.@INSTANCE@/24@10.0.0.1');
    assert.equal(a.guest, `docker:${ID}`);
    assert.equal(a.guestIf, 'eth2');
    assert.equal(a.config.kind === 'static' && a.config.spec.address?.address, '10.0.0.3');
    assert.equal(envRequest(container(), 'br1 web_3 dhcp').guestIf, undefined);
    assert.equal(envRequest(container(), `br1 docker:/${ID.slice(0, 12)} 10.0.0.9/24`).guest, `docker:${ID}`);
    assert.equal(envRequest(container(), 'br1 @CONTAINER_ID@ 10.0.0.9/24').guest, `docker:${ID}`);
  });

  test('a line naming another guest, or with options a container may not use, is refused', () => {
    assert.throws(() => envRequest(container(), 'br1 other 10.0.0.5/24'), /names the guest 'other', not this container/u);
    assert.throws(() => envRequest(container(), `br1 podman:${ID} 10.0.0.5/24`), /not this container/u);
    assert.throws(() => envRequest(container(), `br1 ${ID.slice(0, 6)} 10.0.0.5/24`), /not this container/u);
    assert.throws(() => envRequest(container(), 'br1 -l vethx @CONTAINER_NAME@ 10.0.0.5/24'), /-l/u);
    assert.throws(() => envRequest(container(), 'route @CONTAINER_NAME@ add 10.0.0.0/8 dev eth1'), /not an attach|unexpected|too few/u);
  });
});

describe('readAsks: the container own, the image inherited', () => {
  test('every label and variable, sorted by key; others ignored; problems do not stop the others from being read', () => {
    const c = container({
      labels: { 'pipework.eth2': 'br1 10.0.0.6/24', 'pipework.eth1': 'br1 10.0.0.5/24', 'other': 'x', 'pipework.eth3': 'br1' },
      env: ['PATH=/bin', 'pipework_cmd_eth4=br1 -i eth4 @CONTAINER_NAME@ 10.0.0.7/24', 'X_pipework_cmd=nonsense'],
    });
    assert.equal(asksForPipework(c.labels, c.env), true);
    const r = readAsks(c, false);
    assert.deepEqual(r.asks.map((a) => a.source), ['label pipework.eth1', 'label pipework.eth2', 'variable pipework_cmd_eth4']);
    assert.deepEqual(r.problems.map((p) => p.source), ['label pipework.eth3', 'variable X_pipework_cmd']);
    assert.deepEqual(r.inherited, []);
  });

  test('nothing for pipework', () => {
    assert.equal(asksForPipework({ a: '1' }, ['PATH=/bin']), false);
  });

  test("labels and variables equal to the image's are ignored unless trusted; a label the container overrides is its own", () => {
    const c = container({
      labels: { 'pipework.eth1': 'br1 10.0.0.5/24', 'pipework.eth2': 'br1 10.0.0.9/24' },
      env: ['pipework_cmd=br1 @CONTAINER_NAME@ 10.0.0.7/24'],
      image: { labels: { 'pipework.eth1': 'br1 10.0.0.5/24', 'pipework.eth2': 'br1 10.0.0.6/24' }, env: ['pipework_cmd=br1 @CONTAINER_NAME@ 10.0.0.7/24'] },
    });
    const r = readAsks(c, false);
    assert.deepEqual(r.asks.map((a) => a.source), ['label pipework.eth2']);
    assert.deepEqual(r.inherited.map((p) => p.source), ['label pipework.eth1', 'variable pipework_cmd']);
    assert.match(r.inherited[0]!.why, /comes from the image/u);
    assert.equal(readAsks(c, true).asks.length, 3);
  });

  test('an image that cannot be read: nothing can be told apart, so nothing is trusted (unless trusted)', () => {
    const { image: _image, ...rest } = container({ labels: { 'pipework.eth1': 'br1 10.0.0.5/24' } });
    assert.equal(readAsks(rest, false).asks.length, 0);
    assert.match(readAsks(rest, false).inherited[0]!.why, /could not be read/u);
    assert.equal(readAsks(rest, true).asks.length, 1);
  });
});

describe('policy: only what --allow names', () => {
  const policy = policyOf({ allow: parseAllow('br1,eth1,eth1@20,ovs-a@10'), allowDirect: false });
  const link = (name: string, over: Partial<HostLink> = {}): HostLink => ({ name, isBridge: false, up: true, mtu: 1500, type: 1, mac: '52:54:00:00:00:01', ports: [], ...over });
  const host = {
    link: (n: string) => ({ br1: link('br1', { isBridge: true }), eth1: link('eth1'), eth9: link('eth9', { mac: '52:54:00:00:00:09' }), 'ovs-a': link('ovs-a') } as Record<string, HostLink>)[n],
    byMac: (m: string) => (m === '52:54:00:00:00:09' ? 'eth9' : undefined),
    ovsBridges: () => ['ovs-a'],
  };

  test('an allowed bridge, OVS bridge or NIC passes; another host interface is refused, naming what is served', () => {
    for (const v of ['br1 10.0.0.5/24', 'ovs-a 10.0.0.5/24 @10', 'eth1 10.0.0.5/24 @20']) {
      const r = labelRequest(container(), 'pipework.eth1', v);
      assert.equal(refuseRequest(r, policy), undefined, v);
      assert.equal(refuseSpec(resolveClassic(r, host, { kind: 'watch' }), policy), undefined, v);
    }
    const other = labelRequest(container(), 'pipework.eth1', 'eth0 10.0.0.5/24');
    assert.match(refuseRequest(other, policy)!, /host interface eth0 is not served: it serves only br1, eth1 and eth1@20, ovs-a@10 \(--allow\)/u);
    const br = labelRequest(container(), 'pipework.eth1', 'br-new 10.0.0.5/24');
    assert.match(refuseRequest(br, policy)!, /br-new is not served/u);
  });

  test('what only the host can tell (a VLAN id out of range on a bridge) fails when resolved', () => {
    const r = labelRequest(container(), 'pipework.eth1', 'br1 10.0.0.5/24 @5000');
    assert.throws(() => resolveClassic(r, host, { kind: 'watch' }), /VLAN/u);
  });

  test('mac:<hostmac> is judged once it names an interface', () => {
    const r = labelRequest(container(), 'pipework.eth1', 'mac:52:54:00:00:00:09 10.0.0.5/24');
    assert.equal(refuseRequest(r, policy), undefined);
    assert.match(refuseSpec(resolveClassic(r, host, { kind: 'watch' }), policy)!, /eth9 is not served/u);
  });

  test('--direct-phys needs --allow-direct as well', () => {
    const r = labelRequest(container(), 'pipework.eth1', '--direct-phys eth1 10.0.0.5/24');
    assert.match(refuseRequest(r, policy)!, /--allow-direct/u);
    const direct = { ...policy, allowDirect: true };
    assert.equal(refuseRequest(r, direct), undefined);
    const spec = resolveClassic(r, host, { kind: 'watch' });
    assert.equal(spec.host.kind, 'phys');
    assert.equal(refuseSpec(spec, direct), undefined);
    assert.match(refuseSpec(spec, policy)!, /--allow-direct/u);
  });

  test('without --allow nothing is served', () => {
    const r = labelRequest(container(), 'pipework.eth1', 'br1 10.0.0.5/24');
    assert.match(refuseRequest(r, policyOf({ allow: [], allowDirect: false }))!, /serves no host interface/u);
  });

  test('the spec carries the watch owner and the container by id', () => {
    const spec = resolveClassic(labelRequest(container(), 'pipework.eth1', 'br1 10.0.0.5/24'), host, { kind: 'watch' });
    assert.deepEqual(spec.owner, { kind: 'watch' });
    assert.deepEqual(spec.guest, { kind: 'docker', name: ID });
    assert.equal(spec.guestIf, 'eth1');
  });
});

describe('log lines', () => {
  test('for people: one line naming container, interface, result, time', () => {
    assert.equal(humanLine({ action: 'attach', result: 'created', runtime: 'docker', container: 'web', interface: 'eth1', hostIf: 'br1', addresses: ['10.0.0.5/24'], durationMs: 23.4 }),
      'docker web: eth1 on br1 (10.0.0.5/24): created in 23 ms');
    assert.equal(humanLine({ action: 'refuse', result: 'refused', runtime: 'podman', container: 'db', source: 'label pipework.eth2', text: 'eth0 dhcp', message: 'host interface eth0 is not served' }),
      'podman db: label pipework.eth2 "eth0 dhcp" is refused: host interface eth0 is not served; the container is left alone');
    assert.match(humanLine({ action: 'refuse', result: 'invalid', container: 'db', source: 'label pipework.eth2', text: 'br1', message: 'too few words' }), /is malformed: too few words/u);
    assert.equal(humanLine({ action: 'clean', result: 'nothing', runtime: 'docker', container: 'web' }), 'docker web: died; nothing of it was left on the host');
    // A container that could not be inspected is named by its id.
    assert.equal(humanLine({ action: 'attach', result: 'failed', runtime: 'docker', id: '5baed341e3bb', message: 'cannot inspect the container: HTTP 500' }),
      'docker 5baed341e3bb: interfaces: failed: cannot inspect the container: HTTP 500');
  });

  test('for machines: one JSON object per line, with time and rounded durations', () => {
    const lines: string[] = [];
    makeLogger(true, (l) => lines.push(l)).log({ action: 'attach', result: 'created', container: 'web', interface: 'eth1', durationMs: 12.345, sinceEventMs: 20.06 });
    const o = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.equal(o['container'], 'web');
    assert.equal(o['interface'], 'eth1');
    assert.equal(o['action'], 'attach');
    assert.equal(o['result'], 'created');
    assert.equal(o['durationMs'], 12.3);
    assert.equal(o['sinceEventMs'], 20.1);
    assert.match(String(o['time']), /^\d{4}-\d\d-\d\dT/u);
    const human: string[] = [];
    makeLogger(false, (l) => human.push(l)).log({ action: 'watch', result: 'started', message: 'serving br1' });
    assert.deepEqual(human, ['pipework watch: serving br1']);
  });
});
