// The CNI front door's pure parts: the CNI_* variables, CNI_ARGS, and the network configuration
// (host side by key, the reference plugins' keys, refusals with the spec's codes).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCniArgs } from '../../src/front/cni/args.js';
import { DEFAULT_BRIDGE, DEFAULT_DATA_DIR, parseNetConf, peekVersion, type NetConf } from '../../src/front/cni/config.js';
import { CniError, Code, errorJson, parseParams, versionAtLeast, versionJson } from '../../src/front/cni/protocol.js';

/** Assert `f` throws a CniError with `code` whose message matches `msg`. */
function throwsCode(f: () => unknown, code: number, msg?: RegExp): CniError {
  let caught: unknown;
  try {
    f();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof CniError, `expected a CniError, got ${String(caught)}`);
  assert.equal(caught.code, code, `code of: ${caught.message}`);
  if (msg) assert.match(caught.message, msg);
  return caught;
}

const ENV = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'abc123', CNI_NETNS: '/run/netns/x', CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni:/opt/cni/bin' };

function conf(extra: Record<string, unknown>, args = '', command: 'ADD' | 'DEL' = 'ADD', lenient = false): NetConf {
  return parseNetConf(JSON.stringify({ cniVersion: '1.0.0', name: 'net1', type: 'pipework', ...extra }), { args, command }, { lenient });
}

void describe('CNI parameters', () => {
  void test('ADD with everything', () => {
    const p = parseParams(ENV);
    assert.deepEqual(p, { command: 'ADD', containerId: 'abc123', netns: '/run/netns/x', ifname: 'eth0', args: '', path: ['/usr/lib/cni', '/opt/cni/bin'] });
  });
  void test('missing variables are named (code 4), per command', () => {
    throwsCode(() => parseParams({}), Code.InvalidEnvironment, /CNI_COMMAND/u);
    throwsCode(() => parseParams({ CNI_COMMAND: 'ADD' }), Code.InvalidEnvironment, /\[CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME\]/u);
    throwsCode(() => parseParams({ ...ENV, CNI_NETNS: '' }), Code.InvalidEnvironment, /CNI_NETNS/u);
    // DEL may come without a netns; GC, STATUS and VERSION need only the command.
    assert.equal(parseParams({ ...ENV, CNI_COMMAND: 'DEL', CNI_NETNS: '' }).netns, '');
    for (const c of ['GC', 'STATUS', 'VERSION']) assert.equal(parseParams({ CNI_COMMAND: c }).command, c);
  });
  void test('invalid values (code 4)', () => {
    throwsCode(() => parseParams({ ...ENV, CNI_COMMAND: 'add' }), Code.InvalidEnvironment, /unknown CNI_COMMAND 'add'/u);
    throwsCode(() => parseParams({ ...ENV, CNI_CONTAINERID: '-x' }), Code.InvalidEnvironment, /CNI_CONTAINERID/u);
    throwsCode(() => parseParams({ ...ENV, CNI_CONTAINERID: 'a/b' }), Code.InvalidEnvironment, /CNI_CONTAINERID/u);
    throwsCode(() => parseParams({ ...ENV, CNI_IFNAME: 'a-name-longer-than-15' }), Code.InvalidEnvironment, /CNI_IFNAME.*longer than 15/u);
    throwsCode(() => parseParams({ ...ENV, CNI_IFNAME: 'a/b' }), Code.InvalidEnvironment, /CNI_IFNAME/u);
    throwsCode(() => parseParams({ ...ENV, CNI_NETNS: 'relative' }), Code.InvalidEnvironment, /CNI_NETNS/u);
  });
});

void describe('versions', () => {
  void test('comparison', () => {
    assert.ok(versionAtLeast('0.4.0', '0.4.0'));
    assert.ok(versionAtLeast('1.0.0', '0.4.0'));
    assert.ok(!versionAtLeast('0.3.1', '0.4.0'));
    assert.ok(versionAtLeast('1.1.0', '1.1.0'));
    assert.ok(!versionAtLeast('1.0.0', '1.1.0'));
  });
  void test('VERSION answers the version asked about, and every one we speak', () => {
    assert.deepEqual(JSON.parse(versionJson('0.4.0')), { cniVersion: '0.4.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
    assert.equal((JSON.parse(versionJson(undefined)) as { cniVersion: string }).cniVersion, '1.1.0');
    assert.equal((JSON.parse(versionJson('x"y')) as { cniVersion: string }).cniVersion, '1.1.0');
  });
  void test('the error object', () => {
    assert.deepEqual(JSON.parse(errorJson(new CniError(7, 'bad', 'why'), '0.4.0')), { cniVersion: '0.4.0', code: 7, msg: 'bad', details: 'why' });
  });
  void test('peekVersion', () => {
    assert.equal(peekVersion('{"cniVersion":"0.3.1"}'), '0.3.1');
    assert.equal(peekVersion('not json'), undefined);
    assert.equal(peekVersion('{"cniVersion":1}'), undefined);
  });
});

void describe('CNI_ARGS', () => {
  void test('the well-known keys, as podman, containerd and Multus send them', () => {
    assert.deepEqual(parseCniArgs('IgnoreUnknown=1;K8S_POD_NAME=web;MAC=02:00:00:00:00:01;IP=10.0.0.5'), {
      ignoreUnknown: true, unknown: [], k8sPod: 'web', mac: '02:00:00:00:00:01', ip: '10.0.0.5',
    });
    const multus = parseCniArgs('IgnoreUnknown=true;K8S_POD_NAMESPACE=default;K8S_POD_NAME=p;K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=u-1');
    assert.equal(multus.k8sNamespace, 'default');
    assert.equal(multus.k8sInfraContainerId, 'abc');
    assert.equal(multus.k8sPodUid, 'u-1');
    assert.deepEqual(parseCniArgs(''), { ignoreUnknown: false, unknown: [] });
  });
  void test('IgnoreUnknown lets unknown keys through, wherever it is; without it they are refused', () => {
    assert.deepEqual(parseCniArgs('FOO=1;IgnoreUnknown=TRUE').unknown, ['FOO']);
    throwsCode(() => parseCniArgs('FOO=1'), Code.InvalidEnvironment, /unknown key 'FOO'/u);
    throwsCode(() => parseCniArgs('FOO=1;IgnoreUnknown=0'), Code.InvalidEnvironment, /FOO/u);
    throwsCode(() => parseCniArgs('IgnoreUnknown=yes'), Code.InvalidEnvironment, /IgnoreUnknown=yes/u);
  });
  void test('a pair without exactly one = is refused, as libcni does', () => {
    throwsCode(() => parseCniArgs('K8S_POD_NAME'), Code.InvalidEnvironment, /not KEY=VALUE/u);
    throwsCode(() => parseCniArgs('MAC=a=b'), Code.InvalidEnvironment, /not KEY=VALUE/u);
  });
});

void describe('network configuration: decoding and the version', () => {
  void test('bad JSON is code 6; a version we do not speak is code 1, naming it', () => {
    throwsCode(() => parseNetConf('{', { args: '', command: 'ADD' }), Code.DecodingFailure, /decoding/u);
    throwsCode(() => parseNetConf('[]', { args: '', command: 'ADD' }), Code.DecodingFailure);
    const e = throwsCode(() => parseNetConf('{"cniVersion":"0.2.0","name":"n"}', { args: '', command: 'ADD' }), Code.IncompatibleVersion);
    assert.match(e.details, /config is "0\.2\.0"/u);
    // libcni's default when there is none is 0.1.0.
    throwsCode(() => parseNetConf('{"name":"n"}', { args: '', command: 'ADD' }), Code.IncompatibleVersion);
    for (const v of ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']) assert.equal(parseNetConf(`{"cniVersion":"${v}","name":"n"}`, { args: '', command: 'ADD' }).cniVersion, v);
  });
  void test('the network name is required and checked (code 7)', () => {
    throwsCode(() => parseNetConf('{"cniVersion":"1.0.0"}', { args: '', command: 'ADD' }), Code.InvalidConfig, /missing network name/u);
    throwsCode(() => conf({ name: '-bad' }), Code.InvalidConfig, /invalid network name/u);
    throwsCode(() => conf({ name: 'a'.repeat(65) }), Code.InvalidConfig, /longer than 64/u);
  });
});

void describe('network configuration: the host side', () => {
  void test('the reference bridge plugin default: cni0, nothing else', () => {
    const c = conf({});
    assert.deepEqual(c.host, { kind: 'bridge', bridge: DEFAULT_BRIDGE, isGateway: false, isDefaultGateway: false, forceAddress: false, hairpin: false, promisc: false });
    assert.equal(c.dataDir, DEFAULT_DATA_DIR);
    assert.equal(c.ipMasq, false);
  });
  void test('a podman-written bridge conflist entry, type changed', () => {
    const c = conf({ bridge: 'cni-podman0', isGateway: true, ipMasq: true, hairpinMode: true, ipam: { type: 'host-local', routes: [{ dst: '0.0.0.0/0' }], ranges: [[{ subnet: '10.88.0.0/16', gateway: '10.88.0.1' }]] } });
    assert.deepEqual(c.host, { kind: 'bridge', bridge: 'cni-podman0', isGateway: true, isDefaultGateway: false, forceAddress: false, hairpin: true, promisc: false });
    assert.equal(c.ipMasq, true);
    assert.deepEqual(c.ipam, { type: 'host-local' });
  });
  void test('isDefaultGateway implies isGateway; vlan 0 is none', () => {
    const c = conf({ bridge: 'br-x', isDefaultGateway: true, vlan: 0, mtu: 1400 });
    assert.equal(c.host.kind === 'bridge' && c.host.isGateway, true);
    assert.equal(c.host.vlan, undefined);
    assert.equal(c.mtu, 1400);
  });
  void test('ovs, macvlan (master and mode, or mode alone: the default route\'s interface), device', () => {
    assert.deepEqual(conf({ ovs: 'ovs-br', vlan: 10 }).host, { kind: 'ovs', bridge: 'ovs-br', vlan: 10 });
    assert.deepEqual(conf({ master: 'eth9', mode: 'vepa' }).host, { kind: 'macvlan', master: 'eth9', mode: 'vepa' });
    assert.deepEqual(conf({ master: 'eth9' }).host, { kind: 'macvlan', master: 'eth9', mode: 'bridge' });
    assert.deepEqual(conf({ mode: 'private' }).host, { kind: 'macvlan', mode: 'private' });
    // Podman writes "master": "" for a macvlan without a parent: the reference plugin takes the
    // default route's interface then, and mode bridge.
    assert.deepEqual(conf({ master: '' }).host, { kind: 'macvlan', mode: 'bridge' });
    assert.deepEqual(conf({ master: null, mode: '' }).host, { kind: 'macvlan', mode: 'bridge' });
    assert.deepEqual(conf({ master: '', mode: 'vepa', vlan: 7 }).host, { kind: 'macvlan', mode: 'vepa', vlan: 7 });
    assert.deepEqual(conf({ device: 'ens5', vlan: 30 }).host, { kind: 'phys', device: 'ens5', vlan: 30 });
  });
  void test('one host side only; bad names and values are code 7', () => {
    throwsCode(() => conf({ bridge: 'a', ovs: 'b' }), Code.InvalidConfig, /conflicting keys ovs and bridge/u);
    throwsCode(() => conf({ master: 'a', device: 'b' }), Code.InvalidConfig, /conflicting/u);
    throwsCode(() => conf({ bridge: 'a-bridge-name-too-long' }), Code.InvalidConfig, /invalid bridge/u);
    throwsCode(() => conf({ bridge: 7 }), Code.InvalidConfig, /invalid bridge/u);
    // A bridge name names a host link (sysfs paths, netlink lookups by name): what the kernel
    // would refuse, or would make a path, is refused; what only a shell would read is a name
    // (no shell is ever used: cni-protocol.test.ts runs ADD and DEL on 'cn;>pw' and 'cn$(>pw)').
    for (const hostile of ['../x', 'br/x', 'br x', 'br:x', '.', '..', 'br\nx', '']) {
      throwsCode(() => conf({ bridge: hostile, isGateway: true }), Code.InvalidConfig, /invalid bridge/u);
    }
    assert.deepEqual(conf({ bridge: 'cn$(>pw)' }).host, { kind: 'bridge', bridge: 'cn$(>pw)', isGateway: false, isDefaultGateway: false, forceAddress: false, hairpin: false, promisc: false });
    throwsCode(() => conf({ master: 'eth0', mode: 'weird' }), Code.InvalidConfig, /unknown macvlan mode/u);
    throwsCode(() => conf({ master: 0 }), Code.InvalidConfig, /invalid master/u);
    throwsCode(() => conf({ master: 'a b' }), Code.InvalidConfig, /invalid master/u);
    throwsCode(() => conf({ master: '', bridge: 'b' }), Code.InvalidConfig, /conflicting/u);
    throwsCode(() => conf({ vlan: 4095 }), Code.InvalidConfig, /invalid vlan/u);
    throwsCode(() => conf({ vlan: '10' }), Code.InvalidConfig, /invalid vlan/u);
    throwsCode(() => conf({ mtu: 50 }), Code.InvalidConfig, /mtu/u);
    throwsCode(() => conf({ mtu: 1.5 }), Code.InvalidConfig, /mtu/u);
    throwsCode(() => conf({ isGateway: 'yes' }), Code.InvalidConfig, /isGateway/u);
    throwsCode(() => conf({ hairpinMode: true, promiscMode: true }), Code.InvalidConfig, /hairpin mode and promiscuous mode/u);
    throwsCode(() => conf({ ipam: 'host-local' }), Code.InvalidConfig, /ipam/u);
    throwsCode(() => conf({ ipam: { type: '../x' } }), Code.InvalidConfig, /ipam\.type/u);
    throwsCode(() => conf({ dataDir: 'relative' }), Code.InvalidConfig, /dataDir/u);
  });
});

void describe('network configuration: keys pipework does not implement are refused (code 2), naming key and value', () => {
  for (const [key, value] of [
    ['macspoofchk', true], ['vlanTrunk', [{ id: 5 }]], ['ipMasqBackend', 'nftables'],
    ['disableContainerInterface', true], ['portIsolation', true], ['linkInContainer', true], ['bcqueuelen', 100], ['hwaddr', 'aa:bb:cc:dd:ee:ff'],
    ['pciBusID', '0000:00:1f.6'], ['vlanId', 5], ['someTypo', 1],
  ] as const) {
    void test(`${key}: ${JSON.stringify(value)}`, () => {
      const e = throwsCode(() => conf({ [key]: value }), Code.UnsupportedField);
      assert.ok(e.message.includes(key) && e.message.includes(JSON.stringify(value)), e.message);
    });
  }
  void test('their harmless values pass (what pipework does anyway)', () => {
    conf({ macspoofchk: false, vlanTrunk: [], ipMasqBackend: 'iptables', disableContainerInterface: false, portIsolation: false });
    conf({ master: 'eth0', linkInContainer: false });
  });
  void test('bridge keys elsewhere, mode without master, ipMasq without a routed bridge', () => {
    throwsCode(() => conf({ ovs: 'o', isGateway: true }), Code.UnsupportedField, /isGateway/u);
    throwsCode(() => conf({ master: 'eth0', hairpinMode: true }), Code.UnsupportedField, /hairpinMode/u);
    throwsCode(() => conf({ device: 'eth1', promiscMode: true }), Code.UnsupportedField, /promiscMode/u);
    throwsCode(() => conf({ ovs: 'o', vlan: 10, preserveDefaultVlan: true }), Code.UnsupportedField, /preserveDefaultVlan/u);
    throwsCode(() => conf({ bridge: 'b', mode: 'bridge' }), Code.UnsupportedField, /mode/u);
    throwsCode(() => conf({ master: 'eth0', ipMasq: true }), Code.UnsupportedField, /ipMasq/u);
    throwsCode(() => conf({ bridge: 'b', isGateway: true, vlan: 10 }), Code.UnsupportedField, /isGateway: true/u);
    conf({ ovs: 'o', ipMasq: true });
  });
  void test('false, elsewhere than on a Linux bridge, asks for what pipework does there: it passes (a value that is no boolean is code 7)', () => {
    for (const host of [{ ovs: 'o', vlan: 10 }, { master: 'eth0' }, { device: 'eth1' }]) {
      conf({ ...host, isGateway: false, isDefaultGateway: false, forceAddress: false, hairpinMode: false, promiscMode: false, preserveDefaultVlan: false });
      throwsCode(() => conf({ ...host, hairpinMode: 'off' }), Code.InvalidConfig, /hairpinMode/u);
      throwsCode(() => conf({ ...host, isGateway: 0 }), Code.InvalidConfig, /isGateway/u);
    }
  });
  void test('preserveDefaultVlan: false is what pipework does with a vlan; true only where there is none', () => {
    assert.equal(conf({ bridge: 'b', vlan: 10, preserveDefaultVlan: false }).host.vlan, 10);
    conf({ bridge: 'b', preserveDefaultVlan: true });
    const e = throwsCode(() => conf({ bridge: 'b', vlan: 10, preserveDefaultVlan: true }), Code.UnsupportedField);
    assert.match(e.message, /preserveDefaultVlan: true/u);
    throwsCode(() => conf({ bridge: 'b', vlan: 10, preserveDefaultVlan: 'no' }), Code.InvalidConfig, /preserveDefaultVlan/u);
    throwsCode(() => conf({ bridge: 'b', preserveDefaultVlan: null }), Code.InvalidConfig, /preserveDefaultVlan/u);
  });
  void test('enabledad: DAD off unless true, as the reference bridge plugin; a boolean only', () => {
    assert.equal(conf({}).dad, false);
    assert.equal(conf({ enabledad: false }).dad, false);
    assert.equal(conf({ enabledad: true }).dad, true);
    assert.equal(conf({ master: 'eth0', enabledad: true }).dad, true);
    for (const v of ['false', 0, 1, null, [], {}]) throwsCode(() => conf({ enabledad: v }), Code.InvalidConfig, /enabledad/u);
  });
  void test('capabilities and runtimeConfig other than mac and ips', () => {
    throwsCode(() => conf({ capabilities: { portMappings: true } }), Code.UnsupportedField, /capabilities\.portMappings/u);
    throwsCode(() => conf({ runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] } }), Code.UnsupportedField, /runtimeConfig\.portMappings/u);
    conf({ capabilities: { mac: true, ips: true, portMappings: false }, runtimeConfig: { portMappings: [], aliases: {} } });
  });
  void test('conflist-level keys and the runtimes\' cni.dev/ keys are accepted', () => {
    conf({ cniVersions: ['1.0.0'], disableCheck: true, disableGC: false, 'cni.dev/something': 1 });
  });
  void test('DEL is lenient: ADD would have refused, so nothing was made', () => {
    const c = conf({ macspoofchk: true, someTypo: 1, mtu: 'x', ovs: 'o', isGateway: true }, '', 'DEL', true);
    assert.equal(c.host.kind, 'ovs');
    assert.equal(c.mtu, undefined);
    // What cleanup needs is still checked.
    throwsCode(() => conf({ name: '-x' }, '', 'DEL', true), Code.InvalidConfig);
    throwsCode(() => conf({ ipam: { type: 'a/b' } }, '', 'DEL', true), Code.InvalidConfig);
  });
});

void describe('network configuration: MAC, addresses, DNS, GC attachments', () => {
  void test('MAC precedence: runtimeConfig > args.cni > CNI_ARGS > mac', () => {
    const base = { mac: '02:00:00:00:00:04' };
    assert.equal(conf(base).mac, '02:00:00:00:00:04');
    assert.equal(conf(base, 'MAC=02:00:00:00:00:03').mac, '02:00:00:00:00:03');
    assert.equal(conf({ ...base, args: { cni: { mac: '02:00:00:00:00:02' } } }, 'MAC=02:00:00:00:00:03').mac, '02:00:00:00:00:02');
    assert.equal(conf({ ...base, args: { cni: { mac: '02:00:00:00:00:02' } }, runtimeConfig: { mac: '02:00:00:00:00:01' } }, 'MAC=02:00:00:00:00:03').mac, '02:00:00:00:00:01');
    assert.equal(conf({ mac: '02-AB-00-00-00-04' }).mac, '02:ab:00:00:00:04');
    throwsCode(() => conf({ mac: '01:00:5e:00:00:01' }), Code.InvalidConfig, /multicast/u);
    throwsCode(() => conf({}, 'MAC=nope'), Code.InvalidEnvironment, /CNI_ARGS MAC/u);
  });
  void test('addresses asked for go to IPAM; without ipam they are refused on ADD', () => {
    const c = conf({ ipam: { type: 'static' }, runtimeConfig: { ips: ['10.1.0.5/24'] }, args: { cni: { ips: ['10.1.0.6/24'] } } }, 'IP=10.1.0.7/24');
    assert.deepEqual(c.ipsRequested, ['10.1.0.5/24', '10.1.0.6/24', '10.1.0.7/24']);
    throwsCode(() => conf({ runtimeConfig: { ips: ['10.1.0.5/24'] } }), Code.InvalidConfig, /no ipam/u);
    throwsCode(() => conf({}, 'IP=10.1.0.7/24'), Code.InvalidConfig, /no ipam/u);
    // ipam without a type is layer 2 only, as in the reference plugins.
    assert.equal(conf({ ipam: {} }).ipam, undefined);
  });
  void test('dns', () => {
    assert.deepEqual(conf({ dns: { nameservers: ['10.1.0.1'], search: ['x.local'], domain: 'x.local', options: ['ndots:2'] } }).dns,
      { nameservers: ['10.1.0.1'], domain: 'x.local', search: ['x.local'], options: ['ndots:2'] });
    assert.equal(conf({ dns: {} }).dns, undefined);
    throwsCode(() => conf({ dns: { nameservers: '10.1.0.1' } }), Code.InvalidConfig, /dns\.nameservers/u);
    throwsCode(() => conf({ dns: { servers: [] } }), Code.UnsupportedField, /dns\.servers/u);
  });
  void test('GC: both names of the valid attachments are read', () => {
    assert.deepEqual(conf({ 'cni.dev/valid-attachments': [{ containerID: 'a', ifname: 'eth0' }], 'cni.dev/attachments': [{ containerID: 'b', ifname: 'net1' }] }).validAttachments,
      [{ containerId: 'a', ifname: 'eth0' }, { containerId: 'b', ifname: 'net1' }]);
    assert.equal(conf({}).validAttachments, undefined);
    throwsCode(() => conf({ 'cni.dev/valid-attachments': [{ containerId: 'a' }] }), Code.InvalidConfig, /valid-attachments/u);
  });
});

void describe('the examples parse as they are shipped', () => {
  const dir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'examples', 'cni');
  const entries = (list: { cniVersion: string; name: string; plugins: Record<string, unknown>[] }) =>
    list.plugins.filter((p) => p['type'] === 'pipework').map((p) => JSON.stringify({ ...p, cniVersion: list.cniVersion, name: list.name }));
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.conflist'))) {
    void test(f, () => {
      const list = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { cniVersion: string; name: string; plugins: Record<string, unknown>[] };
      const mine = entries(list);
      assert.equal(mine.length, 1);
      parseNetConf(mine[0]!, { args: 'IgnoreUnknown=1;K8S_POD_NAME=x', command: 'ADD' });
    });
  }
  void test('multus-nad.yaml: the NetworkAttachmentDefinition\'s config', () => {
    const yaml = readFileSync(join(dir, 'multus-nad.yaml'), 'utf8');
    const block = /config: \|\n((?: {4}.*\n)+)/u.exec(yaml)?.[1];
    assert.ok(block !== undefined);
    const c = parseNetConf(block, { args: 'IgnoreUnknown=true;K8S_POD_NAMESPACE=default;K8S_POD_NAME=p', command: 'ADD' });
    assert.deepEqual(c.host, { kind: 'ovs', bridge: 'ovs-data', vlan: 100 });
  });
});
