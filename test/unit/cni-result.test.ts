// Results: IPAM plugins' output and prevResults read back, and our ADD result printed in the
// shape of each version; the spec the request becomes (gateways, default routes, names).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseNetConf } from '../../src/front/cni/config.js';
import { CniError, Code, parseParams, SUPPORTED_VERSIONS } from '../../src/front/cni/protocol.js';
import { canonicalPrefix, formatResult, parseIpamOutput, parseResult, readPrevResult, type ResultData } from '../../src/front/cni/result.js';
import { attachmentMac, buildAttach, firstAddress, guestName, hostEndName, ownerContainerId } from '../../src/front/cni/spec.js';
import { encodeRecord } from '../../src/model/record.js';
import { wantedRecord } from '../../src/engine/planner.js';
import { resultProblems } from './cni-shape.js';

/** What Debian's host-local printed here for 0.4.0 and 1.0.0. */
const HOST_LOCAL_040 = '{"cniVersion":"0.4.0","ips":[{"version":"4","address":"10.22.0.2/16","gateway":"10.22.0.1"}],"dns":{}}';
const HOST_LOCAL_100 = '{"cniVersion":"1.0.0","ips":[{"address":"10.22.0.2/16","gateway":"10.22.0.1"}],"routes":[{"dst":"0.0.0.0/0"}],"dns":{}}';

function codeOf(f: () => unknown): number {
  try {
    f();
  } catch (err) {
    if (err instanceof CniError) return err.code;
    throw err;
  }
  return 0;
}

void describe('IPAM results and prevResults', () => {
  void test('host-local at 0.4.0 and 1.0.0', () => {
    const a = parseIpamOutput(HOST_LOCAL_040, 'host-local');
    assert.equal(a.ips[0]!.address.cidr, '10.22.0.2/16');
    assert.equal(a.ips[0]!.gateway, '10.22.0.1');
    assert.deepEqual(a.routes, []);
    const b = parseIpamOutput(HOST_LOCAL_100, 'host-local');
    assert.deepEqual(b.routes, [{ dst: '0.0.0.0/0', family: 4 }]);
  });
  void test('dual stack, routes with gateways, DNS, a prevResult with interfaces', () => {
    const r = parseResult({
      cniVersion: '1.0.0',
      interfaces: [{ name: 'br', mac: 'AA:BB:CC:DD:EE:FF' }, { name: 'eth0', sandbox: '/run/netns/x' }],
      ips: [{ address: '10.1.0.5/24', gateway: '10.1.0.1', interface: 1 }, { address: 'fd00:1::5/64', gateway: 'fd00:1::1', interface: 1 }],
      routes: [{ dst: '10.9.0.0/16', gw: '10.1.0.254' }, { dst: '::/0' }, { dst: '10.7.3.4/16' }],
      dns: { nameservers: ['10.1.0.1'], search: ['a'], bogus: 1 },
    }, 'prevResult');
    assert.equal(r.interfaces[0]!.mac, 'aa:bb:cc:dd:ee:ff');
    assert.equal(r.ips[1]!.address.family, 6);
    assert.equal(r.ips[1]!.interface, 1);
    // A destination is read as Go's ParseCIDR reads it: the network.
    assert.deepEqual(r.routes, [{ dst: '10.9.0.0/16', family: 4, gw: '10.1.0.254' }, { dst: '::/0', family: 6 }, { dst: '10.7.0.0/16', family: 4 }]);
    assert.deepEqual(r.dns, { nameservers: ['10.1.0.1'], search: ['a'] });
  });
  void test('what is not a result is refused with a code', () => {
    assert.equal(codeOf(() => parseIpamOutput('oops', 'x')), Code.DecodingFailure);
    assert.equal(codeOf(() => parseIpamOutput('{"cniVersion":"1.0.0","ips":[]}', 'x')), Code.InvalidConfig);
    assert.equal(codeOf(() => parseIpamOutput('{"cniVersion":"0.2.0","ip4":{"ip":"10.0.0.2/24"}}', 'x')), Code.DecodingFailure);
    assert.equal(codeOf(() => parseIpamOutput('{"ips":[{"address":"10.0.0.2"}]}', 'x')), Code.DecodingFailure);
    assert.equal(codeOf(() => parseIpamOutput('{"ips":[{"address":"10.0.0.2/24","gateway":"fd00::1"}]}', 'x')), Code.DecodingFailure);
    assert.equal(codeOf(() => parseIpamOutput('{"ips":[{"address":"10.0.0.2/24"}],"routes":[{"dst":"nope"}]}', 'x')), Code.DecodingFailure);
    // 1.1.0 route attributes the engine cannot set are refused, not dropped.
    assert.equal(codeOf(() => parseIpamOutput('{"ips":[{"address":"10.0.0.2/24"}],"routes":[{"dst":"0.0.0.0/0","table":100}]}', 'x')), Code.UnsupportedField);
  });
  void test('canonicalPrefix', () => {
    assert.deepEqual(canonicalPrefix('10.1.2.3/16'), { text: '10.1.0.0/16', family: 4 });
    assert.deepEqual(canonicalPrefix('fd00:1:2:3::9/48'), { text: 'fd00:1:2::/48', family: 6 });
    assert.equal(canonicalPrefix('10.1.2.3'), undefined);
  });
});

const RESULT: ResultData = {
  interfaces: [{ name: 'br-x', mac: '02:00:00:00:00:01' }, { name: 'pwc0', mac: '02:00:00:00:00:02' }, { name: 'eth0', mac: '02:00:00:00:00:03', mtu: 1400, sandbox: '/run/netns/x' }],
  ips: parseIpamOutput('{"ips":[{"address":"10.1.0.5/24","gateway":"10.1.0.1"},{"address":"fd00::5/64"}]}', 't').ips.map((ip) => ({ ...ip, interface: 2 })),
  routes: [{ dst: '0.0.0.0/0', family: 4, gw: '10.1.0.1' }],
};

void describe('our ADD result, in each version\'s shape', () => {
  for (const v of SUPPORTED_VERSIONS) {
    void test(v, () => {
      const out = JSON.parse(formatResult(RESULT, v)) as Record<string, unknown>;
      assert.deepEqual(resultProblems(out, v), []);
      const ips = out['ips'] as Record<string, unknown>[];
      assert.equal(ips[0]!['interface'], 2);
      assert.equal('version' in ips[0]!, !v.startsWith('1.'));
      const ifs = out['interfaces'] as Record<string, unknown>[];
      assert.equal(ifs[2]!['sandbox'], '/run/netns/x');
      assert.equal('mtu' in ifs[2]!, v === '1.1.0');
      assert.deepEqual(out['dns'], {});
    });
  }
  void test('the checker catches the other versions\' shapes', () => {
    const v100 = JSON.parse(formatResult(RESULT, '1.0.0')) as Record<string, unknown>;
    assert.notDeepEqual(resultProblems({ ...v100, cniVersion: '0.4.0' }, '0.4.0'), []);
    const v110 = JSON.parse(formatResult(RESULT, '1.1.0')) as Record<string, unknown>;
    assert.notDeepEqual(resultProblems({ ...v110, cniVersion: '1.0.0' }, '1.0.0'), []);
  });
});

/** What a plugin before pipework in a chain returned (the reference bridge, 1.1.0 route attributes and all). */
function earlier(version: string): Record<string, unknown> {
  const v1 = version.startsWith('1.');
  return {
    cniVersion: version,
    interfaces: [{ name: 'cni0', mac: '0a:00:00:00:00:01' }, { name: 'veth1', mac: '0a:00:00:00:00:02' }, { name: 'eth9', mac: '0a:00:00:00:00:03', sandbox: '/run/netns/x', ...(version === '1.1.0' && { mtu: 1450, socketPath: '/run/x.sock' }) }],
    ips: [{ ...(!v1 && { version: '4' }), interface: 2, address: '10.88.0.7/16', gateway: '10.88.0.1' }],
    routes: [{ dst: '0.0.0.0/0', gw: '10.88.0.1', ...(version === '1.1.0' && { table: 100, priority: 5 }) }],
    dns: { nameservers: ['10.88.0.1'], search: ['pod.local'], domain: 'before' },
  };
}

void describe('ADD not first in a chain: what came before, then ours', () => {
  for (const v of SUPPORTED_VERSIONS) {
    void test(`${v}: prevResult's interfaces, IPs and routes first, ours after with their indices moved, DNS merged`, () => {
      const prev = readPrevResult(earlier(v));
      const ours: ResultData = { ...RESULT, dns: { nameservers: ['10.1.0.1', '10.88.0.1'], search: ['x'] } };
      const out = JSON.parse(formatResult(ours, v, prev)) as Record<string, unknown>;
      assert.deepEqual(resultProblems(out, v), []);
      const ifs = out['interfaces'] as Record<string, unknown>[];
      assert.deepEqual(ifs.map((i) => i['name']), ['cni0', 'veth1', 'eth9', 'br-x', 'pwc0', 'eth0']);
      assert.equal(ifs[2]!['sandbox'], '/run/netns/x');
      assert.equal('socketPath' in ifs[2]!, v === '1.1.0');
      const ips = out['ips'] as Record<string, unknown>[];
      assert.deepEqual(ips.map((ip) => [ip['address'], ip['interface']]), [['10.88.0.7/16', 2], ['10.1.0.5/24', 5], ['fd00::5/64', 5]]);
      assert.deepEqual(ips.map((ip) => ip['version']), v.startsWith('1.') ? [undefined, undefined, undefined] : ['4', '4', '6']);
      const routes = out['routes'] as Record<string, unknown>[];
      assert.deepEqual(routes.map((r) => r['dst']), ['0.0.0.0/0', '0.0.0.0/0']);
      assert.equal(routes[0]!['table'], v === '1.1.0' ? 100 : undefined);
      assert.deepEqual(out['dns'], { nameservers: ['10.88.0.1', '10.1.0.1'], domain: 'before', search: ['pod.local', 'x'] });
    });
  }
  void test('the first of a chain (no prevResult) prints ours alone, as before', () => {
    assert.equal(formatResult(RESULT, '1.0.0', undefined), formatResult(RESULT, '1.0.0'));
    const out = JSON.parse(formatResult(RESULT, '1.0.0', readPrevResult({ cniVersion: '1.0.0' }))) as Record<string, unknown>;
    assert.deepEqual((out['ips'] as Record<string, unknown>[]).map((ip) => ip['interface']), [2, 2]);
  });
  void test('a 0.4.0 prevResult without ips[].version gets it; a 1.0.0 one with it loses it', () => {
    const p040 = readPrevResult({ cniVersion: '0.4.0', ips: [{ address: 'fd00::7/64' }] });
    const a = JSON.parse(formatResult({ interfaces: [], ips: [], routes: [] }, '0.4.0', p040)) as Record<string, unknown>;
    assert.deepEqual(a['ips'], [{ version: '6', address: 'fd00::7/64' }]);
    const p100 = readPrevResult({ cniVersion: '1.0.0', ips: [{ version: '4', address: '10.0.0.7/8' }] });
    const b = JSON.parse(formatResult({ interfaces: [], ips: [], routes: [] }, '1.0.0', p100)) as Record<string, unknown>;
    assert.deepEqual(b['ips'], [{ address: '10.0.0.7/8' }]);
  });
  void test('a hostile prevResult is refused (code 6) before anything is made; unknown keys are not passed on', () => {
    for (const bad of [
      'not an object', [], { ip4: { ip: '10.0.0.2/24' } },
      { interfaces: [{ mac: 'x' }] }, { interfaces: ['eth0'] }, { interfaces: [{ name: 'eth0', sandbox: 5 }] }, { interfaces: [{ name: 'eth0', mtu: -1 }] },
      { ips: [{ address: '10.0.0.2' }] }, { ips: [{ address: '10.0.0.2/24', gateway: 'fd00::1' }] },
      { interfaces: [{ name: 'a' }], ips: [{ address: '10.0.0.2/24', interface: 1 }] }, { ips: [{ address: '10.0.0.2/24', interface: -1 }] },
      { ips: [{ address: '10.0.0.2/24', interface: 0.5 }] },
      { routes: [{ dst: 'nope' }] }, { routes: [{ dst: '0.0.0.0/0', table: 'main' }] }, { routes: [{ dst: '0.0.0.0/0', gw: '::1' }] },
    ]) {
      assert.equal(codeOf(() => readPrevResult(bad)), Code.DecodingFailure, JSON.stringify(bad));
    }
    const out = JSON.parse(formatResult({ interfaces: [], ips: [], routes: [] }, '1.1.0', readPrevResult({
      interfaces: [{ name: 'eth9', evil: '$(reboot)' }], ips: [{ address: '10.0.0.2/24', extra: 1 }], routes: [{ dst: '10.0.0.0/8', via: 'x' }], bogus: true,
    }))) as Record<string, unknown>;
    assert.deepEqual(resultProblems(out, '1.1.0'), []);
    assert.deepEqual(out['interfaces'], [{ name: 'eth9' }]);
  });
});

function request(extra: Record<string, unknown>, env: Record<string, string> = {}) {
  const params = parseParams({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'f00dcafe0123456789', CNI_NETNS: '/run/netns/cn1', CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni', ...env });
  const conf = parseNetConf(JSON.stringify({ cniVersion: '1.0.0', name: 'net1', ...extra }), params);
  return { params, conf };
}

void describe('the spec a request becomes', () => {
  void test('host-local on a bridge: the addresses, no route of its own, deterministic names', () => {
    const { params, conf } = request({ bridge: 'br-x' });
    const a = buildAttach({ conf, params, ipam: parseIpamOutput(HOST_LOCAL_040, 'host-local') });
    assert.equal(a.spec.guestIf, 'eth0');
    assert.deepEqual(a.spec.host, { kind: 'bridge', bridge: 'br-x', create: true });
    assert.equal(a.spec.hostEnd, hostEndName('f00dcafe0123456789', 'eth0'));
    assert.match(a.spec.hostEnd, /^pwc[0-9a-f]{12}$/u);
    assert.equal(a.spec.mac, attachmentMac('net1', 'f00dcafe0123456789', 'eth0'));
    assert.deepEqual(a.spec.owner, { kind: 'cni', network: 'net1', containerId: 'f00dcafe0123456789', ifname: 'eth0' });
    assert.deepEqual(a.spec.guest, { kind: 'netns-path', path: '/run/netns/cn1', name: 'f00dcafe0123' });
    assert.equal(a.spec.addressing.kind === 'static' && a.spec.addressing.addresses[0]!.cidr, '10.22.0.2/16');
    assert.deepEqual(a.spec.addressing.kind === 'static' && a.spec.addressing.routes, []);
    assert.deepEqual(a.gateways, []);
    assert.equal(a.spec.onConflict, 'refuse');
  });
  void test('names differ per container and interface, and always fit', () => {
    const names = new Set<string>();
    for (let i = 0; i < 500; i++) names.add(hostEndName(`c${i}`, i % 2 === 0 ? 'eth0' : 'net1'));
    assert.equal(names.size, 500);
    assert.notEqual(hostEndName('a', 'eth0'), hostEndName('a', 'eth1'));
    assert.match(attachmentMac('n', 'c', 'eth0'), /^02(:[0-9a-f]{2}){5}$/u);
  });
  void test('a route without a gateway takes its family\'s first gateway (ConfigureIface)', () => {
    const { params, conf } = request({ bridge: 'br-x' });
    const a = buildAttach({ conf, params, ipam: parseIpamOutput(HOST_LOCAL_100, 'host-local') });
    assert.deepEqual(a.spec.addressing.kind === 'static' && a.spec.addressing.routes, [{ dst: 'default', family: 4, gateway: '10.22.0.1' }]);
    // The result keeps the route as IPAM gave it.
    assert.deepEqual(a.routes, [{ dst: '0.0.0.0/0', family: 4 }]);
  });
  void test('isGateway computes a missing gateway and puts it on the bridge; isDefaultGateway adds the default route', () => {
    const { params, conf } = request({ bridge: 'br-x', isDefaultGateway: true });
    const a = buildAttach({ conf, params, ipam: parseIpamOutput('{"ips":[{"address":"10.5.0.9/16"},{"address":"fd00:5::9/64","gateway":"fd00:5::fe"}]}', 'static') });
    assert.deepEqual(a.ips.map((ip) => ip.gateway), ['10.5.0.1', 'fd00:5::fe']);
    assert.deepEqual(a.gateways, [{ cidr: '10.5.0.1/16', family: 4 }, { cidr: 'fd00:5::fe/64', family: 6 }]);
    assert.deepEqual(a.routes, [{ dst: '0.0.0.0/0', family: 4, gw: '10.5.0.1' }, { dst: '::/0', family: 6, gw: 'fd00:5::fe' }]);
    // A default route IPAM already gives (with a gateway) is not added twice.
    const b = buildAttach({ conf, params, ipam: parseIpamOutput('{"ips":[{"address":"10.5.0.9/16","gateway":"10.5.0.1"}],"routes":[{"dst":"0.0.0.0/0","gw":"10.5.0.254"}]}', 'static') });
    assert.deepEqual(b.routes, [{ dst: '0.0.0.0/0', family: 4, gw: '10.5.0.254' }]);
  });
  void test('IPv6 duplicate address detection: off unless enabledad, as the reference bridge plugin', () => {
    const dad = (extra: Record<string, unknown>) => {
      const { params, conf } = request(extra);
      const a = buildAttach({ conf, params, ipam: parseIpamOutput('{"ips":[{"address":"fd00:5::9/64"}]}', 'static') }).spec.addressing;
      return a.kind === 'static' ? a.dad : 'dhcp';
    };
    assert.equal(dad({ bridge: 'br-x' }), false);
    assert.equal(dad({ bridge: 'br-x', enabledad: true }), true);
    assert.equal(dad({ master: 'eth9', enabledad: false }), false);
  });
  void test('firstAddress', () => {
    assert.equal(firstAddress('10.5.0.9/16'), '10.5.0.1');
    assert.equal(firstAddress('10.5.255.255/31'), '10.5.255.255');
    assert.equal(firstAddress('fd00:5::9/64'), 'fd00:5::1');
  });
  void test('macvlan, passthru and a moved NIC keep their own MAC unless asked', () => {
    const m = request({ master: 'eth9', mode: 'passthru' });
    assert.equal(buildAttach({ ...m }).spec.mac, undefined);
    assert.deepEqual(buildAttach({ ...m }).spec.host, { kind: 'macvlan', parent: 'eth9', mode: 'passthru' });
    const d = request({ device: 'ens5' });
    assert.equal(buildAttach({ ...d }).spec.mac, undefined);
    assert.equal(buildAttach({ ...d }).spec.hostEnd, undefined);
    const asked = request({ device: 'ens5' }, { CNI_ARGS: 'MAC=02:11:22:33:44:55' });
    assert.equal(buildAttach({ ...asked }).spec.mac, '02:11:22:33:44:55');
    const def = request({ mode: 'bridge' });
    assert.equal(buildAttach({ ...def, master: 'eth7' }).spec.host.kind === 'macvlan' && (buildAttach({ ...def, master: 'eth7' }).spec.host as { parent: string }).parent, 'eth7');
  });
  void test('the guest is named after the pod when the runtime says', () => {
    assert.equal(guestName({ containerId: 'abcdef0123456789' }, { args: { ignoreUnknown: true, unknown: [], k8sPod: 'web', k8sNamespace: 'prod' } }), 'prod/web');
    assert.equal(guestName({ containerId: 'abcdef0123456789' }, { args: { ignoreUnknown: true, unknown: [], k8sPod: 'c1' } }), 'c1');
  });
  void test('the record of a long but realistic attachment fits in the link alias; an extreme one is refused before anything changes', () => {
    const id = 'f'.repeat(64);
    const { params, conf } = request({ ovs: 'ovs-cn-data1', vlan: 4094, mtu: 9000 }, {
      CNI_CONTAINERID: id, CNI_IFNAME: 'net1', CNI_NETNS: `/run/netns/cni-${'a'.repeat(36)}`,
      CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=a-long-namespace-name;K8S_POD_NAME=a-pod-name-of-forty-characters-or-more-x',
    });
    const alias = (network: string, v6: string) => {
      const a = buildAttach({ conf: { ...conf, name: network }, params, ipam: parseIpamOutput(`{"ips":[{"address":"10.250.250.250/16"},{"address":"${v6}"}]}`, 'static') });
      const record = wantedRecord(a.spec, { kind: 'netns', name: a.spec.guest.kind === 'netns-path' ? a.spec.guest.name! : '', nsInode: 4026532999, label: 'x' });
      return encodeRecord({ ...record, localIf: a.spec.hostEnd! });
    };
    const ok = alias('network-name-24-chars-xx', 'fd00:aaaa:bbbb:1::abcd/64');
    assert.ok(Buffer.byteLength(ok) <= 255, ok);
    // The 64-character id is named by its first 12 characters and a hash.
    assert.match(ok, /ow=cni:network-name-24-chars-xx\/ffffffffffff\+[0-9a-f]{11}\/net1/u);
    assert.throws(() => alias('network-name-of-thirty-chars-x', 'fd00:1234:5678:9abc:def0:1234:5678:9abc/64'), /does not fit in a link alias/u);
  });
  void test('short container ids are owners as they are', () => {
    assert.equal(ownerContainerId('c1'), 'c1');
    assert.equal(ownerContainerId('x'.repeat(24)), 'x'.repeat(24));
    assert.notEqual(ownerContainerId(`${'a'.repeat(12)}1${'b'.repeat(20)}`), ownerContainerId(`${'a'.repeat(12)}2${'b'.repeat(20)}`));
  });
});
