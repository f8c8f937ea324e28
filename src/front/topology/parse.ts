/**
 * A topology's text → a validated Topology (src/front/topology/model.ts), or every problem in it
 * at once, each as `FILE:LINE:COL: path.to.key: what is wrong`. Pure: nothing on the host is
 * looked at here (make.ts's hostProblems does that, before any change). The heavy part of the
 * door (the yaml package, TypeBox): the bundle loads it only when a file's model is not cached.
 *
 * Three passes, each reporting with the file's positions: YAML syntax (the `yaml` package keeps
 * every node's source range), the schema (schema.ts, one definition that also emits the JSON
 * Schema), then meaning: undefined networks and guests, two links on one guest interface, a
 * duplicate address or MAC in a network, and every value that does not parse.
 */
import { DefaultErrorFunction, SetErrorFunction, ValueErrorType } from '@sinclair/typebox/errors';
import { Value } from '@sinclair/typebox/value';
import type { TSchema } from '@sinclair/typebox';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node, type Pair, type YAMLMap } from 'yaml';
import { parseAddressSpec, type StaticAddress } from '../../model/address.js';
import { DHCP_METHODS, isDhcpMethod } from '../../model/dhcp-methods.js';
import { checkDhcpOptions, splitDhcpOptions } from '../../model/dhcp-options.js';
import { InvalidArgumentError, PipeworkError } from '../../model/errors.js';
import { ifNameProblem } from '../../model/ifname.js';
import { parseMac } from '../../model/mac.js';
import { parseVlan } from '../../model/vlan.js';
import { parseGuestRef } from '../../guest/resolve.js';
import { parseConfig, parseMacVlan } from '../classic/grammar.js';
import { TopologyFileError, type Problem } from './problems.js';
import { containerName, linkName, VXLAN_PORT, type TopologyGuest, type Host, type Link, type LinkAddressing, type Network, type Pos, type Subnet, type Topology } from './model.js';
import { KEY_PATTERN, TopologySchema, type RawExtendedLink, type RawGuest, type RawHost, type RawNetwork, type RawTopology } from './schema.js';
import { isIP } from 'node:net';
import { checkImage, checkNetnsName, addressValue, freeAddresses, fromBigInt, inSubnet, parseImpair, parseSubnet, splitBrief, type Word } from './values.js';

// TypeBox's messages are replaced by each schema's own `errorMessage` where it has one.
SetErrorFunction((param) => {
  const own = (param.schema as { errorMessage?: unknown }).errorMessage;
  return typeof own === 'string' ? own : DefaultErrorFunction(param);
});

type Segment = string | number;

function pathText(segments: readonly Segment[]): string {
  return segments.map((s, i) => (typeof s === 'number' ? `[${s}]` : `${i === 0 ? '' : '.'}${s}`)).join('');
}

function pointer(path: string): Segment[] {
  if (path === '' || path === '/') return [];
  return path.slice(1).split('/').map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~')).map((s) => (/^\d+$/u.test(s) ? Number(s) : s));
}

/** A map's pairs by key (a scalar key's value): found in one step, not by a walk of the map. */
const pairsOf = new WeakMap<YAMLMap, Map<unknown, Pair>>();
function pairIn(map: YAMLMap, key: unknown): Pair | undefined {
  let byKey = pairsOf.get(map);
  if (!byKey) {
    byKey = new Map();
    for (const p of map.items) {
      const k = isScalar(p.key) ? p.key.value : p.key;
      if (!byKey.has(k)) byKey.set(k, p);
    }
    pairsOf.set(map, byKey);
  }
  return byKey.get(key);
}

/**
 * Keys given twice in one map, each at its second place (the yaml package's own check compares
 * every key with every other: quadratic, seconds for a map of thousands of guests).
 */
function duplicateKeys(doc: Document): number[] {
  const out: number[] = [];
  visit(doc, {
    Map(_key, map) {
      const seen = new Set<unknown>();
      for (const p of map.items) {
        if (!isScalar(p.key)) continue;
        const k = p.key.value;
        if (seen.has(k) && p.key.range) out.push(p.key.range[0]);
        seen.add(k);
      }
    },
  });
  return out;
}

/** Source positions of the parsed document. */
class Positions {
  constructor(private readonly doc: Document, private readonly lc: LineCounter) {}

  at(offset: number): Pos {
    const { line, col } = this.lc.linePos(offset);
    return { line, col };
  }

  /** The node at `segments` (its key, with `key`), or the closest enclosing node that exists. */
  of(segments: readonly Segment[], key = false): Pos {
    let node: unknown = this.doc.contents;
    let last: Pos = { line: 1, col: 1 };
    for (const [i, seg] of segments.entries()) {
      const range = (node as Node | null)?.range;
      if (range) last = this.at(range[0]);
      if (isMap(node)) {
        const pair = pairIn(node, seg);
        if (!pair) return last;
        if (key && i === segments.length - 1 && isScalar(pair.key) && pair.key.range) return this.at(pair.key.range[0]);
        node = pair.value;
        if (node === null && isScalar(pair.key) && pair.key.range) return this.at(pair.key.range[0]);
      } else if (isSeq(node) && typeof seg === 'number') {
        node = node.items[seg];
        if (node === undefined) return last;
      } else {
        return last;
      }
    }
    const range = (node as Node | null)?.range;
    return range ? this.at(range[0]) : last;
  }

  /** Where a word of a one-line scalar starts (a brief link's words). */
  word(segments: readonly Segment[], offset: number): Pos {
    const node = this.doc.getIn(segments, true);
    if (!isScalar(node) || !node.range) return this.of(segments);
    const quoted = node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE';
    const start = this.at(node.range[0]);
    const end = this.at(node.range[1]);
    if (start.line !== end.line || (node.type !== 'PLAIN' && !quoted)) return start;
    return { line: start.line, col: start.col + (quoted ? 1 : 0) + offset };
  }
}

class Problems {
  readonly list: Problem[] = [];
  private readonly bad = new Set<string>();
  /** Networks and guests the file has that did not resolve (their problems are said): links to them say nothing more. */
  readonly unresolved = new Set<string>();
  constructor(readonly pos: Positions) {}

  add(segments: readonly Segment[], message: string, at?: Pos): void {
    const p = at ?? this.pos.of(segments);
    const path = pathText(segments);
    if (this.list.some((x) => x.path === path && x.message === message)) return;
    this.list.push({ line: p.line, col: p.col, path, message });
    this.bad.add(path);
  }

  /** Add the message of a refused value (an InvalidArgumentError from a parser). */
  refused(segments: readonly Segment[], err: unknown, at?: Pos): void {
    if (!(err instanceof PipeworkError)) throw err;
    this.add(segments, err.message, at);
  }

  /** Did the schema already refuse this path (or something inside it)? */
  isBad(segments: readonly Segment[]): boolean {
    const path = pathText(segments);
    for (const b of this.bad) if (b === path || b.startsWith(`${path}.`) || b.startsWith(`${path}[`)) return true;
    return false;
  }
}

const KEYS_OF: Record<string, readonly string[]> = {
  top: Object.keys(TopologySchema.properties),
};

/** Which keys an object at this path may have (for "unknown key" messages). */
function allowedKeys(schema: TSchema): string[] | undefined {
  const props = (schema as { properties?: Record<string, unknown> }).properties;
  return props ? Object.keys(props) : undefined;
}

/** The branch of a union that fits the value's JSON type, if exactly one does. */
function branchFor(schema: TSchema, value: unknown): TSchema | undefined {
  const anyOf = (schema as { anyOf?: TSchema[] }).anyOf;
  if (!anyOf) return undefined;
  const jsonType = Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value === 'number' ? 'number' : typeof value;
  const fits = anyOf.filter((b) => {
    const t = (b as { type?: string }).type;
    return t === jsonType || (jsonType === 'number' && t === 'integer');
  });
  return fits.length === 1 ? fits[0] : undefined;
}

/** Schema errors of `value` against `schema`, with a union resolved to the branch the value meant. */
function schemaErrors(schema: TSchema, value: unknown, base: Segment[], problems: Problems): void {
  // A key that is missing is said once, not again as a value of the wrong type.
  const missing = new Set<string>();
  for (const e of Value.Errors(schema, value)) {
    const segments = [...base, ...pointer(e.path)];
    // A union: the branch of the value's JSON type says what is wrong in detail.
    const branch = (e.schema as { anyOf?: unknown }).anyOf !== undefined ? branchFor(e.schema, e.value) : undefined;
    if (branch) {
      schemaErrors(branch, e.value, segments, problems);
      continue;
    }
    const parent = segments.slice(0, -1);
    const leaf = segments[segments.length - 1];
    if (e.type === ValueErrorType.ObjectAdditionalProperties && typeof leaf === 'string') {
      const container = parent[parent.length - 1];
      if ((container === 'networks' || container === 'guests' || container === 'hosts') && parent.length === 1) {
        problems.add(segments, `invalid ${container === 'networks' ? 'network' : container === 'hosts' ? 'host' : 'guest'} name '${leaf}': expected up to 63 letters, digits, '_', '.' or '-', starting with a letter or digit`, problems.pos.of(segments, true));
      } else {
        const parentSchema = parent.length === 0 ? TopologySchema : undefined;
        const keys = parentSchema ? KEYS_OF['top'] : allowedKeysAt(parent, value, base);
        problems.add(segments, `unknown key '${leaf}'${keys ? ` (expected ${keys.join(', ')})` : ''}`, problems.pos.of(segments, true));
      }
      continue;
    }
    if (e.type === ValueErrorType.ObjectRequiredProperty && typeof leaf === 'string') {
      problems.add(parent, `missing key '${leaf}'`, problems.pos.of(parent));
      missing.add(pathText(segments));
      continue;
    }
    if (missing.has(pathText(segments))) continue;
    // One message per key: the first says what is wrong there.
    if (problems.list.some((p) => p.path === pathText(segments))) continue;
    // `mtu: "1400"`: the number is right, its quotes are not.
    const wants = (e.schema as { type?: unknown }).type;
    if (typeof e.value === 'string' && (wants === 'integer' || wants === 'number' || wants === 'boolean')) {
      problems.add(segments, `${JSON.stringify(e.value)} is a string: ${e.message}${wants === 'boolean' ? '' : ', as a number'} (without quotes)`);
      continue;
    }
    problems.add(segments, e.message);
  }
}

/** The keys an object may have, found by its place in the file (links, networks, guests, impair). */
function allowedKeysAt(parent: Segment[], _value: unknown, base: Segment[]): string[] | undefined {
  const rel = parent.slice(base.length);
  const at = [...base, ...rel];
  if (at[0] === 'networks' && at.length === 2) return allowedKeys(TopologySchema.properties.networks.patternProperties[KEY_PATTERN] as TSchema);
  if (at[0] === 'guests' && at.length === 2) return allowedKeys(TopologySchema.properties.guests.patternProperties[KEY_PATTERN] as TSchema);
  if (at[0] === 'links' && at.length === 2) return ['guest', 'interface', 'network', 'address', 'dhcp', 'gateway', 'gateway6', 'mac', 'vlan', 'mtu', 'impair'];
  if (at[0] === 'networks' && at.length === 3 && at[2] === 'vxlan') return ['vni', 'port', 'dev', 'group'];
  if (at[0] === 'hosts' && at.length === 2) return ['underlay'];
  if (at[0] === 'links' && at[2] === 'impair') return ['delay', 'jitter', 'loss', 'rate'];
  return undefined;
}

export { jsonSchema } from './schema.js';

/**
 * Parse and validate a topology's text (as read from `file`): its model and its problems. With
 * problems, the model (when the text is a YAML map at all) holds what resolved — the networks,
 * guests and links without a problem of their own — for the checks of the host that go with
 * the file's problems (apply lists them all at once, before anything changes); never apply it.
 */
export function parseText(text: string, file: string): { topology?: Topology; problems: Problem[] } {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: false, strict: true });
  const pos = new Positions(doc, lc);
  const problems = new Problems(pos);
  for (const e of [...doc.errors, ...doc.warnings]) {
    const p = pos.at(e.pos[0]);
    problems.list.push({ line: p.line, col: p.col, path: '', message: e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/u, '') });
  }
  if (doc.errors.length === 0) for (const offset of duplicateKeys(doc)) problems.list.push({ ...pos.at(offset), path: '', message: 'Map keys must be unique' });
  const sorted = () => problems.list.sort((a, b) => a.line - b.line || a.col - b.col);
  if (problems.list.length > 0) return { problems: sorted() };
  const raw: unknown = doc.toJS({ maxAliasCount: 100 });
  if (raw === null || raw === undefined) return { problems: [{ line: 1, col: 1, path: '', message: 'the file is empty: a topology needs at least a name' }] };
  if (!Value.Check(TopologySchema, raw)) schemaErrors(TopologySchema, raw, [], problems);
  if (!isObject(raw)) return { problems: sorted() };
  const topology = resolve(raw as RawTopology, file, problems);
  return { topology, problems: sorted() };
}

/** Parse and validate a topology's text (as read from `file`); a bad one throws TopologyFileError. */
export function parseTopology(text: string, file: string): Topology {
  const { topology, problems } = parseText(text, file);
  if (problems.length > 0 || !topology) throw new TopologyFileError(file, problems);
  return topology;
}

// ---- meaning -----------------------------------------------------------------------------

const KEY_RE = new RegExp(KEY_PATTERN, 'u');
const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function resolve(raw: RawTopology, file: string, problems: Problems): Topology {
  const topology: Topology = { name: typeof raw.name === 'string' ? raw.name : '', file, networks: new Map(), guests: new Map(), links: [] };
  if (isObject(raw.hosts)) {
    topology.hosts = new Map();
    for (const [key, value] of Object.entries(raw.hosts)) {
      if (!isObject(value) || !KEY_RE.test(key)) continue;
      const host = resolveHost(key, value, problems);
      if (host) topology.hosts.set(key, host);
    }
    checkSharedUnderlays(topology.hosts, problems);
  }
  if (isObject(raw.networks)) {
    for (const [key, value] of Object.entries(raw.networks)) {
      if (!isObject(value) || !KEY_RE.test(key)) continue;
      const network = resolveNetwork(key, value, problems);
      if (network) topology.networks.set(key, network);
      else problems.unresolved.add(`networks.${key}`);
    }
    checkSharedDevices(topology, problems);
    checkVxlans(topology, raw.hosts !== undefined, problems);
  }
  if (isObject(raw.guests)) {
    for (const [key, value] of Object.entries(raw.guests)) {
      if (!isObject(value) || !KEY_RE.test(key)) continue;
      const guest = resolveGuest(key, value, topology.name, problems);
      if (!guest) {
        problems.unresolved.add(`guests.${key}`);
        continue;
      }
      if (typeof value.host === 'string' && !problems.isBad(['guests', key, 'host'])) {
        if (raw.hosts === undefined) problems.add(['guests', key, 'host'], 'host: names a key of hosts:, and the file has no hosts:');
        else if (topology.hosts?.has(value.host) !== true) problems.add(['guests', key, 'host'], `unknown host '${value.host}'${known(topology.hosts ?? new Map<string, unknown>())}`);
        else guest.host = value.host;
      } else if (value.host === undefined && raw.hosts !== undefined) {
        problems.add(['guests', key], 'the file has hosts:, so every guest says which one it lives on (host: NAME)', problems.pos.of(['guests', key], true));
      }
      topology.guests.set(key, guest);
    }
    checkSharedGuests(topology, problems);
  }
  if (Array.isArray(raw.links)) {
    raw.links.forEach((value, index) => {
      const link = typeof value === 'string' ? resolveBrief(value, index, topology, problems) : isObject(value) ? resolveExtended(value, index, topology, problems) : undefined;
      if (link) topology.links.push(link);
    });
    checkLinks(topology, problems);
  }
  return topology;
}

const NETWORK_KINDS = ['bridge', 'ovs', 'macvlan'] as const;

function resolveNetwork(key: string, raw: RawNetwork, problems: Problems): Network | undefined {
  const at = ['networks', key];
  const kinds = NETWORK_KINDS.filter((k) => raw[k] !== undefined);
  if (kinds.length !== 1) {
    problems.add(at, kinds.length === 0
      ? 'a network needs one of bridge:, ovs: or macvlan:'
      : `a network is one host side: give only one of ${kinds.map((k) => `${k}:`).join(', ')}`, problems.pos.of(at, true));
    return undefined;
  }
  const kind = kinds[0]!;
  const device = raw[kind];
  if (typeof device !== 'string' || problems.isBad([...at, kind])) return undefined;
  const problem = ifNameProblem(device);
  if (problem !== undefined) {
    problems.add([...at, kind], `invalid ${kind === 'macvlan' ? 'NIC' : 'bridge'} name '${device}': an interface name ${problem}`);
    return undefined;
  }
  const network: Network = { key, kind, device, external: raw.external === true, at: problems.pos.of([...at, kind]) };
  if (typeof raw.vlan === 'number' && !problems.isBad([...at, 'vlan'])) network.vlan = raw.vlan;
  if (typeof raw.mtu === 'number' && !problems.isBad([...at, 'mtu'])) network.mtu = raw.mtu;
  const vx = raw.vxlan;
  if (vx !== undefined && typeof vx.vni === 'number' && !problems.isBad([...at, 'vxlan'])) {
    const vat = [...at, 'vxlan'];
    network.vxlan = { vni: vx.vni, port: vx.port ?? VXLAN_PORT, at: problems.pos.of(vat) };
    if (typeof vx.dev === 'string') {
      const problem = ifNameProblem(vx.dev);
      if (problem !== undefined) problems.add([...vat, 'dev'], `invalid underlay device name '${vx.dev}': an interface name ${problem}`);
      else network.vxlan.dev = vx.dev;
    }
    if (typeof vx.group === 'string') {
      const family = isIP(vx.group);
      const multicast = family === 4 ? /^2(2[4-9]|3\d)\./u.test(vx.group) : family === 6 && /^ff/iu.test(vx.group);
      if (!multicast) problems.add([...vat, 'group'], `invalid group '${vx.group}': expected a multicast address (224.0.0.0/4 or ff00::/8)`);
      else if (vx.dev === undefined) problems.add([...vat, 'group'], 'group: needs dev: (the underlay device that joins the group)');
      else network.vxlan.group = vx.group.toLowerCase();
    }
  }
  if (typeof raw.subnet === 'string' && !problems.isBad([...at, 'subnet'])) {
    try {
      network.subnet = parseSubnet(raw.subnet);
    } catch (err) {
      problems.refused([...at, 'subnet'], err);
    }
  }
  return network;
}

function resolveHost(key: string, raw: RawHost, problems: Problems): Host | undefined {
  const at = ['hosts', key, 'underlay'];
  if (typeof raw.underlay !== 'string' || problems.isBad(at)) return undefined;
  const family = isIP(raw.underlay);
  if (family === 0) {
    problems.add(at, `invalid underlay address '${raw.underlay}': expected an IPv4 or IPv6 address (no prefix length)`);
    return undefined;
  }
  return { key, underlay: raw.underlay.toLowerCase(), family: family as 4 | 6, at: problems.pos.of(at) };
}

function checkSharedUnderlays(hosts: Map<string, Host>, problems: Problems): void {
  const seen = new Map<string, Host>();
  for (const h of hosts.values()) {
    const first = seen.get(h.underlay);
    if (first) problems.add(['hosts', h.key, 'underlay'], `${h.underlay} is also host ${first.key}'s underlay address: one address per host`, h.at);
    else seen.set(h.underlay, h);
  }
}

/** What the schema cannot say about `vxlan:`: on a Linux bridge, one VNI per network, hosts: to span. */
function checkVxlans(topology: Topology, hasHosts: boolean, problems: Problems): void {
  const byVni = new Map<string, Network>();
  for (const n of topology.networks.values()) {
    const v = n.vxlan;
    if (!v) continue;
    const at = ['networks', n.key, 'vxlan'];
    if (n.kind !== 'bridge') problems.add(at, `vxlan: goes with bridge: (a Linux bridge the VXLAN device is a port of), not ${n.kind}:`, v.at);
    if (n.external) problems.add(at, 'vxlan: needs a bridge pipework makes (not external: true)', v.at);
    if (!hasHosts) problems.add(at, 'vxlan: spans hosts: give hosts: at the top (each host\'s underlay address)', v.at);
    const first = byVni.get(String(v.vni));
    if (first) problems.add([...at, 'vni'], `VNI ${v.vni} is also network ${first.key}'s: two networks with one VNI would share one segment`);
    else byVni.set(String(v.vni), n);
  }
}

/** Networks on one device must agree on what it is and on whether it is external. */
function checkSharedDevices(topology: Topology, problems: Problems): void {
  const byDevice = new Map<string, Network>();
  for (const n of topology.networks.values()) {
    const first = byDevice.get(n.device);
    if (!first) {
      byDevice.set(n.device, n);
      continue;
    }
    if (first.kind !== n.kind) problems.add(['networks', n.key, n.kind], `${n.device} is also network ${first.key}, as ${first.kind}: one device is one kind`);
    else if (first.external !== n.external) problems.add(['networks', n.key, 'external'], `${n.device} is also network ${first.key}, which ${first.external ? 'is' : 'is not'} external: networks on one device must agree`, n.at);
  }
}

const GUEST_KINDS = ['netns', 'container', 'image'] as const;

function resolveGuest(key: string, raw: RawGuest, topology: string, problems: Problems): TopologyGuest | undefined {
  const at = ['guests', key];
  const kinds = GUEST_KINDS.filter((k) => raw[k] !== undefined);
  if (kinds.length !== 1) {
    problems.add(at, kinds.length === 0
      ? 'a guest needs one of netns:, container: or image:'
      : `a guest is one thing: give only one of ${kinds.map((k) => `${k}:`).join(', ')}`, problems.pos.of(at, true));
    return undefined;
  }
  const kind = kinds[0]!;
  if (kind !== 'image') {
    for (const k of ['command', 'runtime'] as const) if (raw[k] !== undefined) problems.add([...at, k], `${k}: goes with image: (a container apply starts), not ${kind}:`, problems.pos.of([...at, k], true));
  }
  const value = raw[kind];
  if (typeof value !== 'string' || problems.isBad([...at, kind])) return undefined;
  const where = problems.pos.of([...at, kind]);
  try {
    switch (kind) {
      case 'netns':
        return { key, kind, netns: checkNetnsName(value), at: where };
      case 'container':
        return { key, kind, ref: parseGuestRef(value), text: value, at: where };
      case 'image': {
        const name = containerName(topology, key);
        if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/u.test(name)) throw new InvalidArgumentError(`the container would be named '${name}', which Docker refuses: use a plainer guest name`);
        return {
          key, kind, image: checkImage(value), runtime: raw.runtime === 'podman' ? 'podman' : 'docker', container: name, at: where,
          ...(Array.isArray(raw.command) && { command: raw.command }),
        };
      }
    }
  } catch (err) {
    problems.refused([...at, kind], err);
    return undefined;
  }
}

/** Two guest keys for one namespace would plumb it twice under two names. */
function checkSharedGuests(topology: Topology, problems: Problems): void {
  const seen = new Map<string, string>();
  for (const g of topology.guests.values()) {
    const id = g.kind === 'netns' ? `netns:${g.netns}` : g.kind === 'container' ? JSON.stringify(g.ref) : `container:${g.container}`;
    const first = seen.get(id);
    if (first !== undefined) problems.add(['guests', g.key, g.kind], `the same guest as ${first}: give each guest one key`, g.at);
    else seen.set(id, g.key);
  }
}

/** The parts every link form has, checked against the file's networks and guests. */
interface LinkParts {
  index: number;
  at: Pos;
  guest?: { text: string; segments: Segment[]; at?: Pos };
  ifname?: { text: string; segments: Segment[]; at?: Pos };
  network?: { text: string; segments: Segment[]; at?: Pos };
}

function checkRefs(parts: LinkParts, topology: Topology, problems: Problems): { guest?: TopologyGuest; network?: Network; ifname?: string } {
  const out: { guest?: TopologyGuest; network?: Network; ifname?: string } = {};
  if (parts.guest) {
    const g = topology.guests.get(parts.guest.text);
    if (g) out.guest = g;
    else if (!problems.unresolved.has(`guests.${parts.guest.text}`)) problems.add(parts.guest.segments, `no guest '${parts.guest.text}' in guests:${known(topology.guests)}`, parts.guest.at);
  }
  if (parts.network) {
    const n = topology.networks.get(parts.network.text);
    if (n) out.network = n;
    else if (!problems.unresolved.has(`networks.${parts.network.text}`)) problems.add(parts.network.segments, `no network '${parts.network.text}' in networks:${known(topology.networks)}`, parts.network.at);
  }
  const ifname = parts.ifname?.text ?? 'eth1';
  const problem = ifNameProblem(ifname);
  if (problem !== undefined) problems.add(parts.ifname?.segments ?? ['links', parts.index], `invalid interface name '${ifname}': an interface name ${problem}`, parts.ifname?.at);
  else out.ifname = ifname;
  return out;
}

function known(map: Map<string, unknown>): string {
  return map.size === 0 ? ' (there are none)' : ` (there ${map.size === 1 ? 'is' : 'are'} ${[...map.keys()].join(', ')})`;
}

function resolveBrief(text: string, index: number, topology: Topology, problems: Problems): Link | undefined {
  const seg: Segment[] = ['links', index];
  let brief;
  try {
    brief = splitBrief(text);
  } catch (err) {
    problems.refused(seg, err);
    return undefined;
  }
  const wordAt = (w: Word) => problems.pos.word(seg, w.offset);
  const refs = checkRefs({
    index, at: problems.pos.of(seg),
    guest: { text: brief.guest.text, segments: seg, at: wordAt(brief.guest) },
    ...(brief.ifname && { ifname: { text: brief.ifname.text, segments: seg, at: wordAt(brief.ifname) } }),
    network: { text: brief.network.text, segments: seg, at: wordAt(brief.network) },
  }, topology, problems);
  let addressing: LinkAddressing | undefined;
  const config = brief.config.text;
  try {
    const auto = /^auto(?:@(.*))?$/u.exec(config);
    if (auto) {
      const gateway = auto[1];
      addressing = { kind: 'static', addresses: [], auto: true };
      if (gateway !== undefined) {
        const family = refs.network?.subnet?.family ?? (gateway.includes(':') ? 6 : 4);
        const probe = parseAddressSpec(`${family === 4 ? '192.0.2.1/32' : '2001:db8::1/128'}@${gateway}`);
        if (family === 4) addressing.gateway4 = probe.gateway!;
        else addressing.gateway6 = probe.gateway!;
      }
    } else {
      const c = parseConfig(config, undefined);
      addressing = c.kind === 'dhcp'
        ? { kind: 'dhcp', method: c.method, options: c.options }
        : {
          kind: 'static', addresses: c.spec.address ? [c.spec.address] : [], auto: false,
          ...(c.spec.gateway !== undefined && (c.spec.address?.family === 6 ? { gateway6: c.spec.gateway } : { gateway4: c.spec.gateway })),
        };
    }
  } catch (err) {
    problems.refused(seg, err, wordAt(brief.config));
  }
  let mac: string | undefined;
  let vlan: number | undefined;
  if (brief.macVlan) {
    try {
      const mv = parseMacVlan(brief.macVlan.text);
      mac = mv.mac;
      if (mv.vlanText !== undefined) vlan = mv.vlan ?? parseVlan(mv.vlanText);
    } catch (err) {
      problems.refused(seg, err, wordAt(brief.macVlan));
    }
  }
  if (!refs.guest || !refs.network || refs.ifname === undefined || !addressing) return undefined;
  const addressAt = addressing.kind === 'static' ? addressing.addresses.map(() => ({ segments: seg, at: wordAt(brief.config) })) : [];
  return finish({ index, guest: refs.guest.key, ifname: refs.ifname, network: refs.network, addressing, mac, vlan, at: problems.pos.of(seg), addressAt }, seg, problems);
}

function resolveExtended(raw: RawExtendedLink, index: number, topology: Topology, problems: Problems): Link | undefined {
  const seg: Segment[] = ['links', index];
  const str = (k: keyof RawExtendedLink) => (typeof raw[k] === 'string' && !problems.isBad([...seg, k]) ? raw[k] : undefined);
  const guestText = str('guest');
  const networkText = str('network');
  const refs = checkRefs({
    index, at: problems.pos.of(seg),
    ...(guestText !== undefined && { guest: { text: guestText, segments: [...seg, 'guest'] } }),
    ...(str('interface') !== undefined && { ifname: { text: str('interface')!, segments: [...seg, 'interface'] } }),
    ...(networkText !== undefined && { network: { text: networkText, segments: [...seg, 'network'] } }),
  }, topology, problems);
  if (raw.interface !== undefined && str('interface') === undefined) delete refs.ifname;

  let addressing: LinkAddressing | undefined;
  const addressAt: { segments: Segment[] }[] = [];
  if (raw.address !== undefined && raw.dhcp !== undefined) {
    problems.add([...seg, 'dhcp'], 'give address: or dhcp:, not both', problems.pos.of([...seg, 'dhcp'], true));
  } else if (raw.address === undefined && raw.dhcp === undefined) {
    problems.add(seg, "a link needs address: (an address, a list of them, auto, or 0/0 for none) or dhcp: (a method)");
  } else if (typeof raw.dhcp === 'string' && !problems.isBad([...seg, 'dhcp'])) {
    for (const k of ['gateway', 'gateway6'] as const) {
      if (raw[k] !== undefined) problems.add([...seg, k], `${k}: goes with a static address; DHCP brings its own`, problems.pos.of([...seg, k], true));
    }
    const colon = raw.dhcp.indexOf(':');
    const method = colon === -1 ? raw.dhcp : raw.dhcp.slice(0, colon);
    if (!isDhcpMethod(method)) problems.add([...seg, 'dhcp'], `unknown DHCP method '${method}': the methods are ${DHCP_METHODS.join(', ')}`);
    else {
      try {
        addressing = { kind: 'dhcp', method, options: colon === -1 ? [] : checkDhcpOptions(method, splitDhcpOptions(raw.dhcp.slice(colon + 1))) };
      } catch (err) {
        problems.refused([...seg, 'dhcp'], err);
      }
    }
  } else if (raw.address !== undefined && !problems.isBad([...seg, 'address'])) {
    addressing = extendedAddresses(raw, seg, problems, addressAt);
  }
  let mac: string | undefined;
  if (str('mac') !== undefined) {
    try {
      mac = parseMac(str('mac')!);
    } catch (err) {
      problems.refused([...seg, 'mac'], err);
    }
  }
  const vlan = typeof raw.vlan === 'number' && !problems.isBad([...seg, 'vlan']) ? raw.vlan : undefined;
  const mtu = typeof raw.mtu === 'number' && !problems.isBad([...seg, 'mtu']) ? raw.mtu : undefined;
  const impair = isObject(raw.impair)
    ? parseImpair(Object.fromEntries(Object.entries(raw.impair).filter(([k]) => !problems.isBad([...seg, 'impair', k]))), (k, err) => problems.refused([...seg, 'impair', k], err))
    : undefined;
  if (!refs.guest || !refs.network || refs.ifname === undefined || !addressing) return undefined;
  return finish({ index, guest: refs.guest.key, ifname: refs.ifname, network: refs.network, addressing, mac, vlan, mtu, impair, at: problems.pos.of(seg), addressAt }, seg, problems);
}

function extendedAddresses(raw: RawExtendedLink, seg: Segment[], problems: Problems, addressAt: { segments: Segment[] }[]): LinkAddressing | undefined {
  const items = typeof raw.address === 'string' ? [raw.address] : raw.address ?? [];
  const addresses: StaticAddress[] = [];
  let auto = false;
  let gateway4: string | undefined;
  let gateway6: string | undefined;
  let ok = true;
  items.forEach((item, i) => {
    const at: Segment[] = typeof raw.address === 'string' ? [...seg, 'address'] : [...seg, 'address', i];
    if (item === 'auto') {
      if (auto) problems.add(at, 'auto is given twice');
      auto = true;
      return;
    }
    if (item === '0/0') {
      if (items.length > 1) problems.add(at, '0/0 (no address) cannot go with other addresses');
      return;
    }
    try {
      const spec = parseAddressSpec(item);
      if (spec.address) {
        if (addresses.some((a) => a.cidr === spec.address!.cidr)) problems.add(at, `${spec.address.cidr} is given twice`);
        addresses.push(spec.address);
        addressAt.push({ segments: at });
      }
      if (spec.gateway !== undefined) {
        if (spec.address?.family === 6) gateway6 = spec.gateway;
        else gateway4 = spec.gateway;
      }
    } catch (err) {
      ok = false;
      problems.refused(at, err);
    }
  });
  for (const [k, family] of [['gateway', 4], ['gateway6', 6]] as const) {
    const text = raw[k];
    if (typeof text !== 'string' || problems.isBad([...seg, k])) continue;
    try {
      const probe = parseAddressSpec(`${family === 4 ? '192.0.2.1/32' : '2001:db8::1/128'}@${text}`);
      const prior = family === 4 ? gateway4 : gateway6;
      if (prior !== undefined && prior !== probe.gateway) problems.add([...seg, k], `two gateways: ${prior} (in address:) and ${probe.gateway!}`);
      if (family === 4) gateway4 = probe.gateway;
      else gateway6 = probe.gateway;
    } catch (err) {
      ok = false;
      const again = /is IPv(\d)/u.exec((err as Error).message);
      problems.refused([...seg, k], again ? new InvalidArgumentError(`${text} is IPv${again[1]!}: ${k}: is for IPv${family}${family === 4 ? ' (gateway6: for IPv6)' : ' (gateway: for IPv4)'}`) : err);
    }
  }
  if (!ok) return undefined;
  return { kind: 'static', addresses, auto, ...(gateway4 !== undefined && { gateway4 }), ...(gateway6 !== undefined && { gateway6 }) };
}

interface Draft {
  index: number;
  guest: string;
  ifname: string;
  network: Network;
  addressing: LinkAddressing;
  mac: string | undefined;
  vlan: number | undefined;
  mtu?: number | undefined;
  impair?: Link['impair'];
  at: Pos;
  /** Where each of addressing.addresses is written (its own node, or a word of a brief link). */
  addressAt?: { segments: Segment[]; at?: Pos }[];
}

/** Checks of one link that need its network; the Link itself. */
function finish(d: Draft, seg: Segment[], problems: Problems): Link | undefined {
  const n = d.network;
  const a = d.addressing;
  let ok = true;
  if (a.kind === 'static') {
    if (a.auto && n.subnet === undefined) {
      problems.add(seg, `address auto needs a subnet: on network ${n.key}`, d.at);
      ok = false;
    }
    if (a.auto && n.subnet !== undefined && a.addresses.some((x) => x.family === n.subnet!.family)) {
      problems.add(seg, `auto takes an IPv${n.subnet.family} address from ${n.subnet.cidr}, and the link already has one`, d.at);
      ok = false;
    }
    const families = new Set([...a.addresses.map((x) => x.family), ...(a.auto && n.subnet ? [n.subnet.family] : [])]);
    if (a.gateway4 !== undefined && !families.has(4)) problems.add(seg, `gateway ${a.gateway4} needs an IPv4 address on the link`, d.at);
    if (a.gateway6 !== undefined && !families.has(6)) problems.add(seg, `gateway6 ${a.gateway6} needs an IPv6 address on the link`, d.at);
    a.addresses.forEach((x, i) => {
      const problem = hostAddressProblem(x, n);
      if (problem === undefined) return;
      const where = d.addressAt?.[i];
      problems.add(where?.segments ?? seg, problem, where ? where.at : d.at);
    });
  }
  if (!ok) return undefined;
  const vlan = d.vlan ?? n.vlan;
  const mtu = d.mtu ?? n.mtu;
  return {
    index: d.index, guest: d.guest, ifname: d.ifname, network: n.key, addressing: a, at: d.at,
    ...(d.mac !== undefined && { mac: d.mac }),
    ...(vlan !== undefined && { vlan }),
    ...(mtu !== undefined && { mtu }),
    ...(d.impair !== undefined && { impair: d.impair }),
  };
}

/**
 * What is wrong with a link's static address on its network: outside the network's subnet, or
 * not a host's address — the subnet's network address, or (IPv4, prefixes up to /30) its
 * broadcast address, as the network's subnet or the address's own prefix says.
 */
export function hostAddressProblem(a: StaticAddress, network: Pick<Network, 'key' | 'subnet'>): string | undefined {
  const subnet = network.subnet?.family === a.family ? network.subnet : undefined;
  if (subnet && !inSubnet(subnet, a.address)) return `${a.cidr} is outside network ${network.key}'s subnet ${subnet.cidr}`;
  const own = parseSubnetOf(a);
  for (const [net, whose] of [...(subnet ? [[subnet, `network ${network.key}'s subnet`] as const] : []), [own, 'its prefix'] as const]) {
    const bits = net.family === 4 ? 32 : 128;
    if (net.family === 6 && net !== subnet) continue;
    if (net.prefix >= bits - 1) continue;
    const value = addressValue(a.address);
    const hostMask = (1n << BigInt(bits - net.prefix)) - 1n;
    if (value === net.base) return `${a.address} is the network address of ${net.cidr} (${whose}), not a host's: hosts are ${rangeOf(net)}`;
    if (net.family === 4 && value === (net.base | hostMask)) return `${a.address} is the broadcast address of ${net.cidr} (${whose}), not a host's: hosts are ${rangeOf(net)}`;
  }
  return undefined;
}

/** The network an address's own prefix puts it in. */
function parseSubnetOf(a: StaticAddress): Subnet {
  const bits = a.family === 4 ? 32 : 128;
  const hostMask = (1n << BigInt(bits - a.prefix)) - 1n;
  const base = addressValue(a.address) & ~hostMask;
  return { cidr: `${fromBigInt(base, a.family)}/${a.prefix}`, family: a.family, base, prefix: a.prefix };
}

function rangeOf(net: Subnet): string {
  const bits = net.family === 4 ? 32 : 128;
  const last = net.base | ((1n << BigInt(bits - net.prefix)) - 1n);
  return `${fromBigInt(net.base + 1n, net.family)} to ${fromBigInt(net.family === 4 ? last - 1n : last, net.family)}`;
}

/**
 * `auto` links that cannot all have an address: the subnet, less the file's own addresses and
 * gateways on the device, has fewer hosts than the links that take one. (On the host it can
 * only be fewer still: apply skips what else is in use there.)
 */
function checkAutoRoom(topology: Topology, problems: Problems): void {
  const taken = new Map<string, Set<string>>();
  const walks = new Map<string, Generator<string, undefined>>();
  for (const link of topology.links) {
    const network = topology.networks.get(link.network)!;
    if (link.addressing.kind !== 'static') continue;
    let set = taken.get(network.device);
    if (!set) taken.set(network.device, set = new Set());
    for (const a of link.addressing.addresses) set.add(a.address);
    for (const gw of [link.addressing.gateway4, link.addressing.gateway6]) if (gw !== undefined) set.add(gw);
  }
  for (const link of topology.links) {
    const network = topology.networks.get(link.network)!;
    const subnet = network.subnet;
    if (link.addressing.kind !== 'static' || !link.addressing.auto || !subnet) continue;
    const set = taken.get(network.device)!;
    const key = `${network.device} ${subnet.cidr}`;
    let walk = walks.get(key);
    if (!walk) walks.set(key, walk = freeAddresses(subnet, set));
    const address = walk.next().value;
    if (address === undefined) {
      problems.add(['links', link.index], `no free address left in ${subnet.cidr} (network ${network.key}) for auto: the file's addresses and the auto links before this one take all of its hosts (${rangeOf(subnet)})`, link.at);
    } else {
      set.add(address);
    }
  }
}

/** Across links: one link per guest interface; no address or MAC twice on one segment. */
function checkLinks(topology: Topology, problems: Problems): void {
  checkAutoRoom(topology, problems);
  const byIf = new Map<string, Link>();
  const addresses = new Map<string, Link>();
  const macs = new Map<string, Link>();
  for (const link of topology.links) {
    const seg: Segment[] = ['links', link.index];
    const key = linkName(link);
    const first = byIf.get(key);
    if (first) problems.add(seg, `${key} is already linked by links[${first.index}] (line ${first.at.line}): one link per guest interface`, link.at);
    else byIf.set(key, link);
    const network = topology.networks.get(link.network)!;
    // One segment: a device and a VLAN (two networks may share an OVS bridge with other tags).
    const segment = `${network.kind}:${network.device}:${link.vlan ?? ''}`;
    if (link.addressing.kind === 'static') {
      for (const a of link.addressing.addresses) {
        const other = addresses.get(`${segment}/${a.address}`);
        if (other) problems.add(seg, `address ${a.address} is also given to ${linkName(other)} (links[${other.index}], line ${other.at.line}) in network ${link.network}`, link.at);
        else addresses.set(`${segment}/${a.address}`, link);
      }
    }
    if (link.mac !== undefined) {
      const other = macs.get(`${segment}/${link.mac}`);
      if (other) problems.add(seg, `MAC ${link.mac} is also given to ${linkName(other)} (links[${other.index}], line ${other.at.line}) in network ${link.network}`, link.at);
      else macs.set(`${segment}/${link.mac}`, link);
    }
  }
}
