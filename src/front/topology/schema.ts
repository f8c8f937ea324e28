/**
 * The topology file format, version 1 (SPEC part D), defined once: TypeBox schemas are JSON
 * Schema, so the same definition validates a file (src/front/topology/load.ts) and is what
 * `pipework schema` prints for editors. Checks a schema cannot say (a link naming an undefined
 * network, two links on one guest interface, an address that does not parse) are in load.ts.
 *
 * Adding a key (issue 15: `hosts:` at the top, `vxlan:` on a network, `host:` on a guest) is one
 * property here and its meaning in load.ts / model.ts.
 */
import { Type, type Static } from '@sinclair/typebox';
import { KEY_PATTERN, NAME_PATTERN } from './model.js';

export { KEY_PATTERN, NAME_PATTERN };

/** What the schema says when a value does not match (used instead of TypeBox's own words). */
const say = (errorMessage: string) => ({ errorMessage });

// ---- for editors -------------------------------------------------------------------------
//
// Values the tool parses itself (addresses, MACs, brief links, rates…) are checked by parse.ts,
// whose messages name what is wrong; the JSON Schema `pipework schema` prints carries the same
// rules as patterns and bounds, for editors: `editor(…)` keeps them out of the tool's own schema
// pass (TypeBox would check them, with a message that says less) and jsonSchema() puts them in.
// What a pattern cannot say is in the field's description (tests: topology-schema.test.ts).

/** Keywords only the printed JSON Schema has (merged into the node by jsonSchema()). */
const editor = (keywords: Record<string, unknown>) => ({ editor: keywords });

/** `k` is given (with `properties`, as Ajv's strictRequired wants every required key defined). */
const has = (...keys: string[]) => ({ required: keys, properties: Object.fromEntries(keys.map((k) => [k, true])) });

const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const IPV4 = `${OCTET}(?:\\.${OCTET}){3}`;
/** RFC 3986's IPv6address (with an IPv4 tail), written out. */
const IPV6 = (() => {
  const h = '[0-9A-Fa-f]{1,4}';
  const ls32 = `(?:${h}:${h}|${IPV4})`;
  const upTo = (n: number) => (n === 0 ? '' : `(?:${h}:){0,${n}}${h}`);
  return `(?:${[
    `(?:${h}:){6}${ls32}`,
    `::(?:${h}:){5}${ls32}`,
    `(?:${h})?::(?:${h}:){4}${ls32}`,
    `(?:${upTo(1)})?::(?:${h}:){3}${ls32}`,
    `(?:${upTo(2)})?::(?:${h}:){2}${ls32}`,
    `(?:${upTo(3)})?::${h}:${ls32}`,
    `(?:${upTo(4)})?::${ls32}`,
    `(?:${upTo(5)})?::${h}`,
    `(?:${upTo(6)})?::`,
  ].join('|')})`;
})();
const P4 = '(?:[1-9]|[12][0-9]|3[0-2])';
const P6 = '(?:[1-9]|[1-9][0-9]|1[01][0-9]|12[0-8])';
/** An interface's address, with its gateway: `<ip>/<prefix>[@<gateway>]` (or 0/0). */
const ADDRESS = `(?:0/0|${IPV4}/${P4}(?:@${IPV4})?|${IPV6}/${P6}(?:@${IPV6})?)`;
const DHCP = `(?:${['dhcp', 'udhcpc', 'udhcpc-f', 'dhclient', 'dhclient-f', 'dhcpcd', 'dhcpcd-f'].join('|')})`;
/** A Linux interface name: 1 to 15 printable characters, none of / : " ' \\ # % (nor . or ..). */
const IFNAME = '(?!\\.{1,2}(?![^\\s]))[!$&(-.0-9;-\\[\\]-~]{1,15}';
/** Six hex bytes (a unicast, not all-zero MAC), or U:<text>. */
const MAC = '(?:U:[^\\s]+|(?!(?:0{1,2}[:-]){5}0{1,2}(?![0-9A-Fa-f]))[0-9A-Fa-f]?[02468AaCcEe](?:[:-][0-9A-Fa-f]{1,2}){5})';
const VLAN_ID = '(?:[1-9][0-9]{0,2}|[1-3][0-9]{3}|40[0-8][0-9]|409[0-4])';
const KEY = '[A-Za-z0-9][A-Za-z0-9_.-]{0,62}';
const whole = (re: string) => `^${re}$`;
const DESCRIBE_ADDRESS = 'The tool also refuses what a pattern does not say: a loopback, multicast, broadcast or unspecified address, a gateway that is the address itself or its network\'s network or broadcast address, an address outside the network\'s subnet, and (IPv4, up to /30) a network or broadcast address as a host\'s.';

const Name = Type.String({
  pattern: NAME_PATTERN,
  description: 'The topology\'s name: marks everything apply makes (1 to 16 of a-z, 0-9, -; not starting with -).',
  ...say('expected 1 to 16 lower-case letters, digits or dashes, not starting with a dash (like demo or lab-2)'),
});

const IfName = Type.String({ minLength: 1, maxLength: 15, description: 'A Linux interface name (at most 15 characters; no whitespace, /, :, quotes, \\, # or %).', ...say('expected an interface name of 1 to 15 characters'), ...editor({ pattern: whole(IFNAME) }) });
const Vlan = Type.Integer({ minimum: 1, maximum: 4094, description: '802.1Q VLAN id (an OVS tag).', ...say('expected a VLAN id from 1 to 4094') });
const Mtu = Type.Integer({ minimum: 68, maximum: 65535, description: 'MTU of the interfaces on this network.', ...say('expected an MTU from 68 to 65535') });

export const VxlanSchema = Type.Object({
  vni: Type.Integer({ minimum: 1, maximum: 16_777_215, description: 'The VXLAN network identifier (one per network).', ...say('expected a VNI from 1 to 16777215') }),
  port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'The UDP port (default 4789, IANA\'s).', ...say('expected a UDP port from 1 to 65535') })),
  dev: Type.Optional(Type.String({ description: 'The underlay device (needed with group).', ...say('expected an interface name'), ...editor({ pattern: whole(IFNAME) }) })),
  group: Type.Optional(Type.String({
    description: 'A multicast group for broadcasts instead of one copy per peer host (224.0.0.0/4 or ff00::/8).', ...say('expected a multicast address like 239.1.1.1'),
    ...editor({ pattern: whole(`(?:(?=2(?:2[4-9]|3[0-9])\\.)${IPV4}|(?=[Ff][Ff])${IPV6})`) }),
  })),
}, {
  additionalProperties: false,
  description: 'A VXLAN segment on this Linux bridge, spanning the hosts of hosts: (no learning; one FDB entry per peer host). The tool also refuses (a schema cannot say it) vxlan: on a network that is not bridge: or is external, in a file without hosts:, and one VNI on two networks.',
  ...editor({ dependencies: { group: ['dev'] } }),
});

export const HostSchema = Type.Object({
  underlay: Type.String({ description: 'The host\'s address on the underlay (VXLAN\'s outer source and destination; one per host).', ...say('expected an IP address like 192.0.2.1'), ...editor({ pattern: whole(`(?:${IPV4}|${IPV6})`) }) }),
}, { additionalProperties: false, description: 'A host of a multi-host file.' });

export const NetworkSchema = Type.Object({
  bridge: Type.Optional(Type.String({ description: 'A Linux bridge: made when missing (unless external).', ...say('expected a bridge name'), ...editor({ pattern: whole(IFNAME) }) })),
  ovs: Type.Optional(Type.String({ description: 'An Open vSwitch bridge: made when missing (unless external).', ...say('expected an Open vSwitch bridge name'), ...editor({ pattern: whole(IFNAME) }) })),
  macvlan: Type.Optional(Type.String({ description: 'macvlan children of this NIC (of <nic>.<vlan> with vlan).', ...say('expected a NIC name'), ...editor({ pattern: whole(IFNAME) }) })),
  vlan: Type.Optional(Vlan),
  mtu: Type.Optional(Mtu),
  subnet: Type.Optional(Type.String({
    description: 'The subnet `address: auto` takes addresses from, e.g. 10.10.0.0/24 (IPv4 up to /30, IPv6 up to /127). The tool also refuses (a pattern cannot say it) a subnet with host bits set (10.10.0.5/24), and a file whose auto links do not fit in it.',
    ...say('expected a subnet like 10.10.0.0/24'),
    ...editor({ pattern: whole(`(?:${IPV4}/(?:[12]?[0-9]|30)|${IPV6}/(?:[0-9]|[1-9][0-9]|1[01][0-9]|12[0-7]))`) }),
  })),
  external: Type.Optional(Type.Boolean({ description: 'It must exist; never made, changed or removed.', ...say('expected true or false') })),
  vxlan: Type.Optional(VxlanSchema),
}, {
  additionalProperties: false,
  description: 'A network is one host side, like the classic <hostif>: exactly one of bridge, ovs, macvlan. The tool also refuses (a schema cannot say it) two networks on one device that disagree on its kind or on external.',
  // Editors learn "exactly one kind" from this; parse.ts says it with the file's positions.
  ...editor({ oneOf: [has('bridge'), has('ovs'), has('macvlan')] }),
});

export const GuestSchema = Type.Object({
  netns: Type.Optional(Type.String({
    description: 'A named network namespace: made when missing, removed by destroy if apply made it.', ...say('expected a network namespace name'),
    ...editor({ pattern: whole(KEY) }),
  })),
  container: Type.Optional(Type.String({
    description: 'Any classic guest reference (docker:…, podman:…, lxc:…, pid:…, netns:…, a name or id): never made or removed. The tool checks the reference\'s own grammar (a pattern does not).',
    ...say('expected a guest reference like web1 or docker:web1'), ...editor({ minLength: 1 }),
  })),
  image: Type.Optional(Type.String({
    description: 'A container apply starts from this image (--network none) and destroy removes: [registry[:port]/]name[:tag][@sha256:digest], lower case. The container is named <name>-<guest>.',
    ...say('expected an image name like busybox:latest'),
    ...editor({ pattern: '^(?!.*//)[a-z0-9][a-z0-9._\\-/:]*(?:@sha256:[0-9a-f]{64})?$', maxLength: 255 }),
  })),
  command: Type.Optional(Type.Array(Type.String(), { minItems: 1, description: 'The container\'s command (image guests).', ...say('expected a list of words, like [sleep, infinity]') })),
  runtime: Type.Optional(Type.Union([Type.Literal('docker'), Type.Literal('podman')], { description: 'Which runtime starts an image guest (default docker).', ...say('expected docker or podman') })),
  host: Type.Optional(Type.String({ pattern: KEY_PATTERN, description: 'The key of hosts: this guest lives on (multi-host files).', ...say('expected a host name (a key of hosts:)') })),
}, {
  additionalProperties: false,
  description: 'A guest: exactly one of netns, container, image (command and runtime go with image). The tool also refuses (a schema cannot say it) two guest keys for one namespace, and host: naming no key of hosts:.',
  ...editor({
    oneOf: [
      { ...has('netns'), not: { anyOf: [has('command'), has('runtime')] } },
      { ...has('container'), not: { anyOf: [has('command'), has('runtime')] } },
      has('image'),
    ],
  }),
});

const Duration = Type.Union([
  Type.String(editor({ pattern: '^\\s*[0-9]+(?:\\.[0-9]+)?\\s*(?:us|ms|s)?\\s*$' })),
  Type.Number(editor({ minimum: 0 })),
], { description: 'A time like 20ms, 1.5s or 300us (a number: milliseconds).', ...say('expected a time like 20ms') });

const RATE_UNIT = ['bit', 'kbit', 'mbit', 'gbit', 'tbit', 'bps', 'kbps', 'mbps', 'gbps']
  .map((u) => [...u].map((c) => `[${c}${c.toUpperCase()}]`).join('')).join('|');

export const ImpairSchema = Type.Object({
  delay: Type.Optional(Duration),
  jitter: Type.Optional(Duration),
  loss: Type.Optional(Type.Union([
    Type.String(editor({ pattern: '^\\s*(?:100(?:\\.0+)?|[0-9]{1,2}(?:\\.[0-9]+)?)\\s*%?\\s*$' })),
    Type.Number(editor({ minimum: 0, maximum: 100 })),
  ], { description: 'Packet loss, like 1% (a number: percent), 0% to 100%.', ...say('expected a percentage like 1%') })),
  rate: Type.Optional(Type.String({
    description: 'A rate like 10mbit, 512kbit or 1gbit (tc units; kbps = kilobytes per second), at least 8 bit per second.', ...say('expected a rate like 10mbit'),
    ...editor({ pattern: `^\\s*[0-9]+(?:\\.[0-9]+)?\\s*(?:${RATE_UNIT})\\s*$` }),
  })),
}, { additionalProperties: false, description: 'Impairments inside the guest on this interface: netem (delay, jitter, loss) and tbf (rate).' });

export const BriefLinkSchema = Type.String({
  description: `Brief link: "<guest>[:<ifname>] <network> <address|dhcp-method|auto> [<mac>][@<vlan>]". The tool also refuses (a schema cannot say it) a guest or network that is not a key of guests: or networks:, auto on a network without subnet:, DHCP client options a client may not take, and two links on one guest interface or with one address or MAC in a network. ${DESCRIBE_ADDRESS}`,
  ...say('expected a link like "web:eth1 front 10.10.0.2/24@10.10.0.1"'),
  ...editor({
    pattern: whole(`\\s*${KEY}(?::${IFNAME})?\\s+${KEY}\\s+(?:auto(?:@(?:${IPV4}|${IPV6}))?|${ADDRESS}|${DHCP}(?::[^\\s]*)?)(?:\\s+(?:${MAC}(?:@${VLAN_ID})?|@${VLAN_ID}))?\\s*`),
  }),
});

export const ExtendedLinkSchema = Type.Object({
  guest: Type.String({ description: 'A key of guests: (the tool checks that it is one).', ...say('expected a guest name'), ...editor({ pattern: whole(KEY) }) }),
  interface: Type.Optional(IfName),
  network: Type.String({ description: 'A key of networks: (the tool checks that it is one).', ...say('expected a network name'), ...editor({ pattern: whole(KEY) }) }),
  address: Type.Optional(Type.Union([
    Type.String(editor({ pattern: whole(`(?:auto|${ADDRESS})`) })),
    Type.Array(Type.String(editor({ pattern: whole(`(?:auto|${ADDRESS})`) })), { minItems: 1, ...editor({ uniqueItems: true }) }),
  ], {
    description: `One address (<ip>/<prefix>, optionally @<gateway>; auto: the next free one of the network's subnet; 0/0: none), or a list: IPv4 and IPv6 on one interface. The tool also refuses (a schema cannot say it) auto on a network without subnet: or beside an address of the subnet's family, 0/0 beside other addresses, and two gateways of one family. ${DESCRIBE_ADDRESS}`,
    ...say('expected an address like 10.0.0.2/24, auto, or a list of addresses'),
  })),
  dhcp: Type.Optional(Type.String({
    description: 'A DHCP method (udhcpc, udhcpc-f, dhclient, dhclient-f, dhcpcd, dhcpcd-f, dhcp), optionally :<client options> (the tool checks the options). Not with address, gateway or gateway6.',
    ...say('expected a DHCP method like udhcpc'), ...editor({ pattern: whole(`${DHCP}(?::.*)?`) }),
  })),
  gateway: Type.Optional(Type.String({ description: 'The IPv4 default route via this address (needs an IPv4 address on the link).', ...say('expected an IPv4 address'), ...editor({ pattern: whole(IPV4) }) })),
  gateway6: Type.Optional(Type.String({ description: 'The IPv6 default route via this address (needs an IPv6 address on the link).', ...say('expected an IPv6 address'), ...editor({ pattern: whole(IPV6) }) })),
  mac: Type.Optional(Type.String({ description: 'The guest interface\'s MAC (unicast, not all zero), or U:<text> for a stable one.', ...say('expected a MAC like 02:42:ac:11:00:02 or U:<text>'), ...editor({ pattern: whole(`(?:U:.+|${MAC})`) }) })),
  vlan: Type.Optional(Vlan),
  mtu: Type.Optional(Mtu),
  impair: Type.Optional(ImpairSchema),
}, {
  additionalProperties: false,
  description: 'Extended link: guest, network, and address or dhcp (not both).',
  ...editor({
    oneOf: [
      has('address'),
      { ...has('dhcp'), not: { anyOf: [has('gateway'), has('gateway6')] } },
    ],
  }),
});

export const LinkSchema = Type.Union([BriefLinkSchema, ExtendedLinkSchema], {
  ...say('expected a link: a string like "web:eth1 front 10.10.0.2/24", or a map with guest:, network: and address: or dhcp:'),
});

export const TopologySchema = Type.Object({
  version: Type.Optional(Type.Literal(1, { description: 'The format version (1).', ...say('expected 1 (the only format version)') })),
  name: Name,
  hosts: Type.Optional(Type.Record(Type.String({ pattern: KEY_PATTERN }), HostSchema, { additionalProperties: false, ...say('expected a map of hosts') })),
  networks: Type.Optional(Type.Record(Type.String({ pattern: KEY_PATTERN }), NetworkSchema, { additionalProperties: false, ...say('expected a map of networks') })),
  guests: Type.Optional(Type.Record(Type.String({ pattern: KEY_PATTERN }), GuestSchema, { additionalProperties: false, ...say('expected a map of guests') })),
  links: Type.Optional(Type.Array(LinkSchema, { ...say('expected a list of links') })),
}, { additionalProperties: false, title: 'pipework topology', description: 'A pipework topology file (format version 1).' });

export type RawTopology = Static<typeof TopologySchema>;
export type RawNetwork = Static<typeof NetworkSchema>;
export type RawGuest = Static<typeof GuestSchema>;
export type RawExtendedLink = Static<typeof ExtendedLinkSchema>;
export type RawImpair = Static<typeof ImpairSchema>;
export type RawVxlan = Static<typeof VxlanSchema>;
export type RawHost = Static<typeof HostSchema>;

export const SCHEMA_ID = 'urn:pipework:topology:1';

/** The JSON Schema `pipework schema` prints (draft-07, what editors' YAML plugins read). */
export function jsonSchema(): Record<string, unknown> {
  const strip = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(strip);
    if (node === null || typeof node !== 'object') return node;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
      // Ours (messages), not JSON Schema's; and TypeBox's symbols are dropped by Object.entries.
      if (k === 'errorMessage') continue;
      // The editors' keywords (see editor()) join the node.
      if (k === 'editor') Object.assign(out, strip(v));
      else out[k] = strip(v);
    }
    return out;
  };
  const body = strip(TopologySchema) as Record<string, unknown>;
  return { $schema: 'http://json-schema.org/draft-07/schema#', $id: SCHEMA_ID, ...body };
}
