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

const Name = Type.String({
  pattern: NAME_PATTERN,
  description: 'The topology\'s name: marks everything apply makes (1 to 16 of a-z, 0-9, -; not starting with -).',
  ...say('expected 1 to 16 lower-case letters, digits or dashes, not starting with a dash (like demo or lab-2)'),
});

const IfName = Type.String({ minLength: 1, maxLength: 15, description: 'A Linux interface name (at most 15 characters).', ...say('expected an interface name of 1 to 15 characters') });
const Vlan = Type.Integer({ minimum: 1, maximum: 4094, description: '802.1Q VLAN id (an OVS tag).', ...say('expected a VLAN id from 1 to 4094') });
const Mtu = Type.Integer({ minimum: 68, maximum: 65535, description: 'MTU of the interfaces on this network.', ...say('expected an MTU from 68 to 65535') });

export const VxlanSchema = Type.Object({
  vni: Type.Integer({ minimum: 1, maximum: 16_777_215, description: 'The VXLAN network identifier (one per network).', ...say('expected a VNI from 1 to 16777215') }),
  port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'The UDP port (default 4789, IANA\'s).', ...say('expected a UDP port from 1 to 65535') })),
  dev: Type.Optional(Type.String({ description: 'The underlay device (needed with group).', ...say('expected an interface name') })),
  group: Type.Optional(Type.String({ description: 'A multicast group for broadcasts instead of one copy per peer host.', ...say('expected a multicast address like 239.1.1.1') })),
}, { additionalProperties: false, description: 'A VXLAN segment on this Linux bridge, spanning the hosts of hosts: (no learning; one FDB entry per peer host).' });

export const HostSchema = Type.Object({
  underlay: Type.String({ description: 'The host\'s address on the underlay (VXLAN\'s outer source and destination).', ...say('expected an IP address like 192.0.2.1') }),
}, { additionalProperties: false, description: 'A host of a multi-host file.' });

export const NetworkSchema = Type.Object({
  bridge: Type.Optional(Type.String({ description: 'A Linux bridge: made when missing (unless external).', ...say('expected a bridge name') })),
  ovs: Type.Optional(Type.String({ description: 'An Open vSwitch bridge: made when missing (unless external).', ...say('expected an Open vSwitch bridge name') })),
  macvlan: Type.Optional(Type.String({ description: 'macvlan children of this NIC (of <nic>.<vlan> with vlan).', ...say('expected a NIC name') })),
  vlan: Type.Optional(Vlan),
  mtu: Type.Optional(Mtu),
  subnet: Type.Optional(Type.String({ description: 'The subnet `address: auto` takes addresses from, e.g. 10.10.0.0/24.', ...say('expected a subnet like 10.10.0.0/24') })),
  external: Type.Optional(Type.Boolean({ description: 'It must exist; never made, changed or removed.', ...say('expected true or false') })),
  vxlan: Type.Optional(VxlanSchema),
}, {
  additionalProperties: false,
  description: 'A network is one host side, like the classic <hostif>: exactly one of bridge, ovs, macvlan.',
  // Editors learn "exactly one kind" from this; load.ts says it with the file's positions.
  oneOf: [{ required: ['bridge'] }, { required: ['ovs'] }, { required: ['macvlan'] }],
});

export const GuestSchema = Type.Object({
  netns: Type.Optional(Type.String({ description: 'A named network namespace: made when missing, removed by destroy if apply made it.', ...say('expected a network namespace name') })),
  container: Type.Optional(Type.String({ description: 'Any classic guest reference (docker:…, podman:…, lxc:…, pid:…, netns:…, a name or id): never made or removed.', ...say('expected a guest reference like web1 or docker:web1') })),
  image: Type.Optional(Type.String({ description: 'A container apply starts from this image (--network none) and destroy removes.', ...say('expected an image name like busybox:latest') })),
  command: Type.Optional(Type.Array(Type.String(), { minItems: 1, description: 'The container\'s command (image guests).', ...say('expected a list of words, like [sleep, infinity]') })),
  runtime: Type.Optional(Type.Union([Type.Literal('docker'), Type.Literal('podman')], { description: 'Which runtime starts an image guest (default docker).', ...say('expected docker or podman') })),
  host: Type.Optional(Type.String({ pattern: KEY_PATTERN, description: 'The key of hosts: this guest lives on (multi-host files).', ...say('expected a host name (a key of hosts:)') })),
}, {
  additionalProperties: false,
  description: 'A guest: exactly one of netns, container, image.',
  oneOf: [{ required: ['netns'] }, { required: ['container'] }, { required: ['image'] }],
});

const Duration = Type.Union([Type.String(), Type.Number()], { description: 'A time like 20ms, 1.5s or 300us (a number: milliseconds).', ...say('expected a time like 20ms') });

export const ImpairSchema = Type.Object({
  delay: Type.Optional(Duration),
  jitter: Type.Optional(Duration),
  loss: Type.Optional(Type.Union([Type.String(), Type.Number()], { description: 'Packet loss, like 1% (a number: percent).', ...say('expected a percentage like 1%') })),
  rate: Type.Optional(Type.String({ description: 'A rate like 10mbit, 512kbit or 1gbit (tc units; kbps = kilobytes per second).', ...say('expected a rate like 10mbit') })),
}, { additionalProperties: false, description: 'Impairments inside the guest on this interface: netem (delay, jitter, loss) and tbf (rate).' });

export const BriefLinkSchema = Type.String({
  description: 'Brief link: "<guest>[:<ifname>] <network> <address|dhcp-method|auto> [<mac>][@<vlan>]".',
  ...say('expected a link like "web:eth1 front 10.10.0.2/24@10.10.0.1"'),
});

export const ExtendedLinkSchema = Type.Object({
  guest: Type.String({ description: 'A key of guests:.', ...say('expected a guest name') }),
  interface: Type.Optional(IfName),
  network: Type.String({ description: 'A key of networks:.', ...say('expected a network name') }),
  address: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String(), { minItems: 1 })], {
    description: 'One address (or auto), or a list: IPv4 and IPv6 on one interface.',
    ...say('expected an address like 10.0.0.2/24, auto, or a list of addresses'),
  })),
  dhcp: Type.Optional(Type.String({ description: 'A DHCP method (udhcpc, udhcpc-f, dhclient, dhclient-f, dhcpcd, dhcpcd-f, dhcp), optionally :<client options>.', ...say('expected a DHCP method like udhcpc') })),
  gateway: Type.Optional(Type.String({ description: 'The IPv4 default route via this address.', ...say('expected an IPv4 address') })),
  gateway6: Type.Optional(Type.String({ description: 'The IPv6 default route via this address.', ...say('expected an IPv6 address') })),
  mac: Type.Optional(Type.String({ description: 'The guest interface\'s MAC, or U:<text> for a stable one.', ...say('expected a MAC like 02:42:ac:11:00:02 or U:<text>') })),
  vlan: Type.Optional(Vlan),
  mtu: Type.Optional(Mtu),
  impair: Type.Optional(ImpairSchema),
}, { additionalProperties: false, description: 'Extended link.' });

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
      out[k] = strip(v);
    }
    return out;
  };
  const body = strip(TopologySchema) as Record<string, unknown>;
  return { $schema: 'http://json-schema.org/draft-07/schema#', $id: SCHEMA_ID, ...body };
}
