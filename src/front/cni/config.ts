/**
 * The network configuration on stdin → what pipework will do, checked before anything changes.
 * The host side comes from the key that names it: `bridge` (a Linux bridge, the reference bridge
 * plugin's key and default), `ovs` (an Open vSwitch bridge), `master` + `mode` (macvlan, the
 * reference macvlan plugin's keys), `device` (a NIC moved in, like host-device). The reference
 * plugins' other keys mean what they mean there; a key we do not implement is refused with code 2
 * naming it — never ignored. Pure.
 */
import { parseMac } from '../../model/mac.js';
import { ifNameProblem } from '../../model/ifname.js';
import type { DnsSpec, MacvlanMode } from '../../model/attach-spec.js';
import { parseCniArgs, type CniArgs } from './args.js';
import { Code, CniError, isSupportedVersion, type CniParams, type CniVersion } from './protocol.js';

export type HostConf =
  | {
    kind: 'bridge'; bridge: string; isGateway: boolean; isDefaultGateway: boolean; forceAddress: boolean;
    hairpin: boolean; promisc: boolean; vlan?: number;
  }
  | { kind: 'ovs'; bridge: string; vlan?: number }
  /** `master` undefined: the interface of the host's default route, as the reference plugin picks it. */
  | { kind: 'macvlan'; master?: string; mode: MacvlanMode; vlan?: number }
  | { kind: 'phys'; device: string; vlan?: number };

export interface Attachment {
  containerId: string;
  ifname: string;
}

export interface NetConf {
  cniVersion: CniVersion;
  name: string;
  host: HostConf;
  mtu?: number;
  /** For the container interface: runtimeConfig.mac, else args.cni.mac, else CNI_ARGS MAC, else `mac`. */
  mac?: string;
  ipMasq: boolean;
  /**
   * IPv6 duplicate address detection on the container interface (`enabledad`): off unless asked
   * for, as the reference bridge plugin has it — addresses are usable at once, never tentative.
   */
  dad: boolean;
  ipam?: { type: string };
  dns?: DnsSpec;
  /** Where pipework keeps its records of attachments. */
  dataDir: string;
  prevResult?: Record<string, unknown>;
  /** GC: the attachments still valid (cni.dev/valid-attachments, or the older cni.dev/attachments). */
  validAttachments?: Attachment[];
  /** Addresses asked for (runtimeConfig.ips, args.cni.ips, CNI_ARGS IP): the IPAM plugin applies them. */
  ipsRequested: string[];
  args: CniArgs;
}

/** The reference bridge plugin's default bridge. */
export const DEFAULT_BRIDGE = 'cni0';
export const DEFAULT_DATA_DIR = '/var/lib/cni/pipework';
/** Longer names would not fit in the record pipework writes on each interface (its owner). */
export const MAX_NETWORK_NAME = 64;

/** Keys every network may have (the spec's, the runtimes', ours). */
const COMMON = new Set([
  'cniVersion', 'cniVersions', 'name', 'type', 'ipam', 'dns', 'args', 'capabilities', 'runtimeConfig', 'prevResult',
  'disableCheck', 'disableGC', 'loadOnlyInlinedPlugins', 'dataDir', 'mtu', 'mac', 'vlan', 'ipMasq', 'enabledad',
  'cni.dev/valid-attachments', 'cni.dev/attachments',
]);
const HOST_KEYS = ['ovs', 'master', 'device', 'bridge'] as const;
/**
 * Keys of the reference bridge plugin that mean something only on a Linux bridge. Elsewhere
 * `false` asks for what pipework does there anyway (no gateway, no hairpin…) and passes.
 */
const BRIDGE_ONLY = ['isGateway', 'isDefaultGateway', 'forceAddress', 'hairpinMode', 'promiscMode', 'preserveDefaultVlan'] as const;

/**
 * Keys of the reference plugins that pipework does not implement: refused, unless the value
 * asks for what pipework does anyway.
 */
const NOT_IMPLEMENTED: Record<string, { harmless?: (v: unknown) => boolean; why: string }> = {
  macspoofchk: { harmless: (v) => v === false, why: 'pipework does not implement MAC spoof checking' },
  ipMasqBackend: { harmless: (v) => v === 'iptables', why: 'pipework masquerades with iptables only' },
  vlanTrunk: { harmless: (v) => Array.isArray(v) && v.length === 0, why: 'VLAN trunks on a bridge port are not implemented' },
  disableContainerInterface: { harmless: (v) => v === false, why: 'pipework always brings the container interface up' },
  portIsolation: { harmless: (v) => v === false, why: 'bridge port isolation is not implemented' },
  linkInContainer: { harmless: (v) => v === false, why: 'pipework makes the macvlan from a master on the host' },
  bcqueuelen: { why: "a macvlan's broadcast queue length is not implemented" },
  hwaddr: { why: 'pipework moves a NIC in by name: use "device"' },
  kernelpath: { why: 'pipework moves a NIC in by name: use "device"' },
  pciBusID: { why: 'pipework moves a NIC in by name: use "device"' },
  vlanId: { why: 'pipework names the VLAN "vlan"' },
};

/** Capabilities (runtimeConfig keys) we honour. */
const CAPABILITIES = new Set(['mac', 'ips']);

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/u;

/** Why `name` is not a network name (the CNI spec's rule; it names a directory of records), or undefined. */
export function networkNameProblem(name: string): string | undefined {
  if (!NAME.test(name)) return 'a network name starts with a letter or digit, followed by letters, digits, _ . or -';
  if (name.length > MAX_NETWORK_NAME) return `a network name has at most ${MAX_NETWORK_NAME} characters`;
  return undefined;
}

/** Where the node's operator allows records besides the default directory (src/front/cni/operator.ts). */
export interface OperatorDataDirs {
  dataDirs: readonly string[];
  /** Where they are said (named in a refusal). */
  source: string;
  /** Why that file was not read, if it was not. */
  problem?: string;
}

/** No operator's settings (the unit tests', and a request that names no other directory). */
const NO_OPERATOR = (): OperatorDataDirs => ({ dataDirs: [], source: 'its settings' });

/**
 * The directory for this network's records. The configuration's author (in Kubernetes, whoever
 * may write a NetworkAttachmentDefinition) does not choose where root writes and deletes files:
 * only the default directory, or exactly one the operator lists (a trailing `/` aside); anything
 * else is code 7 naming it. `operator` is asked only for a directory other than the default.
 */
export function allowedDataDir(dataDir: unknown, operator: () => OperatorDataDirs = NO_OPERATOR): string {
  if (dataDir === undefined) return DEFAULT_DATA_DIR;
  const dir = typeof dataDir === 'string' && dataDir.length > 1 ? dataDir.replace(/\/+$/u, '') : dataDir;
  if (dir === DEFAULT_DATA_DIR) return DEFAULT_DATA_DIR;
  const allowed = typeof dir === 'string' && dir !== '' ? operator() : undefined;
  if (allowed !== undefined && allowed.dataDirs.includes(dir as string)) return dir as string;
  const ignored = allowed?.problem !== undefined ? `; ${allowed.source} was not read: ${allowed.problem}` : '';
  invalid(
    `dataDir '${typeof dataDir === 'string' ? dataDir : show(dataDir)}' is not allowed`,
    `pipework keeps its records in ${DEFAULT_DATA_DIR}, or in a directory the node's operator lists under "dataDirs" in ${allowed?.source ?? 'its settings'}: remove dataDir from the configuration${ignored}`,
  );
}

function show(v: unknown): string {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function unsupported(key: string, value: unknown, why: string): never {
  throw new CniError(Code.UnsupportedField, `unsupported field ${key}: ${show(value)}`, why);
}

function invalid(msg: string, details = ''): never {
  throw new CniError(Code.InvalidConfig, msg, details);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function bool(conf: Record<string, unknown>, key: string): boolean {
  const v = conf[key];
  if (v === undefined) return false;
  if (typeof v !== 'boolean') invalid(`invalid ${key}: ${show(v)} (expected true or false)`);
  return v;
}

function ifName(conf: Record<string, unknown>, key: string): string | undefined {
  const v = conf[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') invalid(`invalid ${key}: ${show(v)} (expected an interface name)`);
  const problem = ifNameProblem(v);
  if (problem !== undefined) invalid(`invalid ${key} '${v}': an interface name ${problem}`);
  return v;
}

function int(conf: Record<string, unknown>, key: string, min: number, max: number): number | undefined {
  const v = conf[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) invalid(`invalid ${key}: ${show(v)} (expected a whole number from ${min} to ${max})`);
  return v;
}

function strings(v: unknown, what: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((x): x is string => typeof x === 'string')) invalid(`invalid ${what}: ${show(v)} (expected a list of strings)`);
  return v;
}

function mac(text: unknown, what: string, code: number = Code.InvalidConfig): string {
  if (typeof text !== 'string') throw new CniError(code, `invalid ${what}: ${show(text)} (expected a MAC address)`);
  try {
    return parseMac(text);
  } catch (err) {
    throw new CniError(code, `invalid ${what}: ${(err as Error).message}`);
  }
}

function parseDns(v: unknown): DnsSpec | undefined {
  if (v === undefined) return undefined;
  if (!isObject(v)) invalid(`invalid dns: ${show(v)} (expected an object)`);
  const extra = Object.keys(v).filter((k) => !['nameservers', 'domain', 'search', 'options'].includes(k));
  if (extra.length > 0) unsupported(`dns.${extra[0]!}`, v[extra[0]!], 'dns has nameservers, domain, search and options');
  const dns: DnsSpec = {};
  const nameservers = strings(v['nameservers'], 'dns.nameservers');
  const search = strings(v['search'], 'dns.search');
  const options = strings(v['options'], 'dns.options');
  if (nameservers.length > 0) dns.nameservers = nameservers;
  if (v['domain'] !== undefined) {
    if (typeof v['domain'] !== 'string') invalid(`invalid dns.domain: ${show(v['domain'])}`);
    if (v['domain'] !== '') dns.domain = v['domain'];
  }
  if (search.length > 0) dns.search = search;
  if (options.length > 0) dns.options = options;
  return Object.keys(dns).length > 0 ? dns : undefined;
}

function parseAttachments(v: unknown, key: string): Attachment[] {
  if (!Array.isArray(v)) invalid(`invalid ${key}: ${show(v)} (expected a list of {containerID, ifname})`);
  return v.map((a) => {
    if (!isObject(a) || typeof a['containerID'] !== 'string' || typeof a['ifname'] !== 'string') {
      invalid(`invalid ${key} entry: ${show(a)} (expected {containerID, ifname})`);
    }
    return { containerId: a['containerID'], ifname: a['ifname'] };
  });
}

/** Only the cniVersion (VERSION's stdin, or an error's version); undefined when unreadable. */
export function peekVersion(stdin: string): string | undefined {
  try {
    const v = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

export interface ParseOptions {
  /**
   * DEL and GC: a key ADD would have refused is not refused now (nothing was made then), and an
   * invalid value of a key cleanup does not need is passed over.
   */
  lenient?: boolean;
  /** The directories the node's operator allows for records besides the default (read only when asked for). */
  operator?: () => OperatorDataDirs;
}

/** stdin → the network configuration, or a CniError with the spec's code. */
export function parseNetConf(stdin: string, params: Pick<CniParams, 'args' | 'command'>, options: ParseOptions = {}): NetConf {
  let raw: unknown;
  try {
    raw = JSON.parse(stdin);
  } catch (err) {
    throw new CniError(Code.DecodingFailure, `error decoding the network configuration on stdin: ${(err as Error).message}`);
  }
  if (!isObject(raw)) throw new CniError(Code.DecodingFailure, 'the network configuration on stdin is not a JSON object');
  const conf = raw;
  const lenient = options.lenient === true;
  // What cleanup can do without: in lenient mode a bad value is passed over.
  const soft = <T>(f: () => T, fallback: T): T => {
    if (!lenient) return f();
    try {
      return f();
    } catch {
      return fallback;
    }
  };

  // The version first: a version we do not speak is code 1, whatever else is wrong (libcni's default is 0.1.0).
  const version = conf['cniVersion'] ?? '0.1.0';
  if (typeof version !== 'string') throw new CniError(Code.DecodingFailure, `invalid cniVersion: ${show(version)} (expected a string)`);
  if (!isSupportedVersion(version)) {
    throw new CniError(Code.IncompatibleVersion, 'incompatible CNI versions', `config is "${version}", plugin supports ["0.3.0" "0.3.1" "0.4.0" "1.0.0" "1.1.0"]`);
  }

  const name = conf['name'];
  if (typeof name !== 'string' || name === '') invalid('missing network name', 'the configuration needs a "name"');
  if (!NAME.test(name)) invalid(`invalid network name '${name}'`, networkNameProblem(name));
  if (name.length > MAX_NETWORK_NAME) invalid(`network name '${name.slice(0, 20)}…' is longer than ${MAX_NETWORK_NAME} characters`);
  // Where the records go, on every command (DEL and GC delete there): never the configuration's choice.
  const dataDir = allowedDataDir(conf['dataDir'], options.operator);

  const args = parseCniArgs(params.args);

  if (!lenient) {
    for (const [key, value] of Object.entries(conf)) {
      if (COMMON.has(key) || (HOST_KEYS as readonly string[]).includes(key) || (BRIDGE_ONLY as readonly string[]).includes(key) || key === 'mode') continue;
      if (key.startsWith('cni.dev/')) continue; // reserved for runtimes
      const known = NOT_IMPLEMENTED[key];
      if (known) {
        if (known.harmless?.(value) === true) continue;
        unsupported(key, value, known.why);
      }
      unsupported(key, value, 'pipework does not know this key; docs/cni.md lists the keys it implements');
    }
  }

  // The host side.
  const named = HOST_KEYS.filter((k) => conf[k] !== undefined);
  if (named.length > 1) invalid(`conflicting keys ${named.join(' and ')}: a network has one host side (bridge, ovs, master or device)`);
  const vlanRaw = soft(() => int(conf, 'vlan', 0, 4094), undefined);
  const vlan = vlanRaw === 0 ? undefined : vlanRaw;
  const withVlan = vlan !== undefined ? { vlan } : {};
  let host: HostConf;
  const kindName = named[0] ?? (conf['mode'] !== undefined ? 'master' : 'bridge');
  const refuseHere = (keys: readonly string[], where: string) => {
    if (lenient) return;
    for (const k of keys) if (bool(conf, k)) unsupported(k, conf[k], `${k} applies to a Linux bridge (bridge), not to ${where}`);
  };
  switch (kindName) {
    case 'bridge': {
      const hairpin = soft(() => bool(conf, 'hairpinMode'), false);
      const promisc = soft(() => bool(conf, 'promiscMode'), false);
      if (hairpin && promisc && !lenient) invalid('cannot set hairpin mode and promiscuous mode at the same time', 'hairpinMode and promiscMode exclude each other (as in the reference bridge plugin)');
      const isDefaultGateway = soft(() => bool(conf, 'isDefaultGateway'), false);
      host = {
        kind: 'bridge', bridge: ifName(conf, 'bridge') ?? DEFAULT_BRIDGE,
        // isDefaultGateway implies isGateway, as in the reference plugin.
        isGateway: soft(() => bool(conf, 'isGateway'), false) || isDefaultGateway, isDefaultGateway,
        forceAddress: soft(() => bool(conf, 'forceAddress'), false), hairpin, promisc, ...withVlan,
      };
      if (conf['mode'] !== undefined && !lenient) unsupported('mode', conf['mode'], 'mode is the macvlan mode: it goes with master');
      if (host.isGateway && vlan !== undefined && !lenient) {
        unsupported(conf['isDefaultGateway'] === true ? 'isDefaultGateway' : 'isGateway', true, 'with a vlan the reference plugin puts the gateway on a VLAN sub-interface of the bridge, which pipework does not make');
      }
      // Without a vlan a port stays in the default VLAN anyway; with one, pipework's port carries that VLAN alone.
      if (soft(() => bool(conf, 'preserveDefaultVlan'), false) && vlan !== undefined && !lenient) {
        unsupported('preserveDefaultVlan', true, 'with a vlan, pipework always takes the port out of the default VLAN 1 (preserveDefaultVlan: false)');
      }
      break;
    }
    case 'ovs':
      refuseHere(BRIDGE_ONLY, 'an Open vSwitch bridge (ovs)');
      if (conf['mode'] !== undefined && !lenient) unsupported('mode', conf['mode'], 'mode is the macvlan mode: it goes with master');
      host = { kind: 'ovs', bridge: ifName(conf, 'ovs')!, ...withVlan };
      break;
    case 'master': {
      refuseHere(BRIDGE_ONLY, 'a macvlan (master)');
      const mode = conf['mode'] ?? 'bridge';
      if (mode !== '' && mode !== 'bridge' && mode !== 'private' && mode !== 'vepa' && mode !== 'passthru') {
        invalid(`unknown macvlan mode: ${show(mode)}`, 'mode is bridge, private, vepa or passthru');
      }
      // An empty master is none (Podman writes "master": "" for a macvlan without a parent): the
      // default route's interface, as the reference plugin takes it.
      const master = conf['master'] === '' || conf['master'] === null ? undefined : ifName(conf, 'master');
      host = { kind: 'macvlan', ...(master !== undefined && { master }), mode: mode === '' ? 'bridge' : mode, ...withVlan };
      break;
    }
    default:
      refuseHere(BRIDGE_ONLY, 'a NIC moved in (device)');
      if (conf['mode'] !== undefined && !lenient) unsupported('mode', conf['mode'], 'mode is the macvlan mode: it goes with master');
      host = { kind: 'phys', device: ifName(conf, 'device')!, ...withVlan };
  }

  const ipMasq = soft(() => bool(conf, 'ipMasq'), false);
  const dad = soft(() => bool(conf, 'enabledad'), false);
  if (ipMasq && host.kind !== 'bridge' && host.kind !== 'ovs' && !lenient) {
    unsupported('ipMasq', true, 'masquerading applies to bridge and ovs networks, where the host routes for the containers');
  }

  let ipam: NetConf['ipam'];
  const ipamRaw = conf['ipam'];
  if (ipamRaw !== undefined) {
    if (!isObject(ipamRaw)) invalid(`invalid ipam: ${show(ipamRaw)} (expected an object with a type)`);
    const type = ipamRaw['type'];
    if (type !== undefined && type !== '') {
      if (typeof type !== 'string' || type.includes('/') || type === '.' || type === '..') invalid(`invalid ipam.type: ${show(type)} (expected the name of an IPAM plugin on CNI_PATH)`);
      ipam = { type };
    }
  }

  // What the runtime passes (capabilities it was told we have).
  const runtimeConfig = conf['runtimeConfig'] ?? {};
  if (!isObject(runtimeConfig)) invalid(`invalid runtimeConfig: ${show(runtimeConfig)}`);
  if (!lenient) {
    for (const [key, value] of Object.entries(runtimeConfig)) {
      if (CAPABILITIES.has(key)) continue;
      const empty = value === null || (Array.isArray(value) && value.length === 0) || (isObject(value) && Object.keys(value).length === 0);
      if (!empty) unsupported(`runtimeConfig.${key}`, value, `pipework implements the capabilities ${[...CAPABILITIES].join(' and ')}; ${key} is for another plugin of the chain`);
    }
    const caps = conf['capabilities'];
    if (caps !== undefined) {
      if (!isObject(caps)) invalid(`invalid capabilities: ${show(caps)}`);
      for (const [key, value] of Object.entries(caps)) {
        if (value === true && !CAPABILITIES.has(key)) unsupported(`capabilities.${key}`, value, `pipework implements the capabilities ${[...CAPABILITIES].join(' and ')}`);
      }
    }
  }
  const argsCni = isObject(conf['args']) && isObject(conf['args']['cni']) ? conf['args']['cni'] : {};

  const macWanted = soft(() => {
    if (runtimeConfig['mac'] !== undefined && runtimeConfig['mac'] !== '') return mac(runtimeConfig['mac'], 'runtimeConfig.mac');
    if (argsCni['mac'] !== undefined && argsCni['mac'] !== '') return mac(argsCni['mac'], 'args.cni.mac');
    if (args.mac !== undefined && args.mac !== '') return mac(args.mac, 'CNI_ARGS MAC', Code.InvalidEnvironment);
    if (conf['mac'] !== undefined) return mac(conf['mac'], 'mac');
    return undefined;
  }, undefined);

  const ipsRequested = [
    ...soft(() => strings(runtimeConfig['ips'], 'runtimeConfig.ips'), []),
    ...soft(() => strings(argsCni['ips'], 'args.cni.ips'), []),
    ...(args.ip !== undefined && args.ip !== '' ? [args.ip] : []),
  ];
  if (ipsRequested.length > 0 && ipam === undefined && !lenient && params.command === 'ADD') {
    invalid(`addresses were asked for (${ipsRequested.join(', ')}) but the network has no ipam`, 'the IPAM plugin applies requested addresses: add an ipam section, e.g. {"type": "static"} or {"type": "host-local", …}');
  }

  const mtuRaw = soft(() => int(conf, 'mtu', 0, 65535), undefined);
  if (mtuRaw !== undefined && mtuRaw !== 0 && mtuRaw < 68 && !lenient) invalid(`invalid mtu: ${mtuRaw} (the smallest IPv4 MTU is 68)`);
  const prevResult = conf['prevResult'];
  const dns = soft(() => parseDns(conf['dns']), undefined);

  let validAttachments: Attachment[] | undefined;
  for (const key of ['cni.dev/valid-attachments', 'cni.dev/attachments']) {
    if (conf[key] === undefined) continue;
    validAttachments = [...(validAttachments ?? []), ...parseAttachments(conf[key], key)];
  }

  return {
    cniVersion: version,
    name,
    host,
    ...(mtuRaw !== undefined && mtuRaw !== 0 && { mtu: mtuRaw }),
    ...(macWanted !== undefined && { mac: macWanted }),
    ipMasq,
    dad,
    ...(ipam !== undefined && { ipam }),
    ...(dns !== undefined && { dns }),
    dataDir,
    ...(isObject(prevResult) && { prevResult }),
    ...(validAttachments !== undefined && { validAttachments }),
    ipsRequested,
    args,
  };
}
