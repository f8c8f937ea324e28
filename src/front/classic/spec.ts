/**
 * The classic line's heuristics, resolved here and nowhere else: what `<hostif>` means (an
 * existing bridge, OVS bridge, IPoIB or other NIC; a missing `br*`, `ovs*` or `dummy*` name),
 * `mac:<hostmac>`, `@<vlan>` as a VLAN id or an IPoIB partition key, eth1 or ib0 — into one
 * attach spec for the engine.
 */
import { LINK_TYPE_INFINIBAND, type HostLink } from '../../host/links.js';
import { readOvsFacts } from '../../host/ovs-facts.js';
import { parseGuestRef } from '../../guest/resolve.js';
import { InvalidArgumentError, NotFoundError } from '../../model/errors.js';
import { parsePkey, parseVlan } from '../../model/vlan.js';
import { DEFAULT_DHCP_TIMEOUT_SEC } from '../../dhcp/methods.js';
import type { RunContext } from '../../engine/context.js';
import { defaultGuestIf } from '../../engine/host-kinds.js';
import type { Addressing, AttachSpec, HostSide } from '../../model/attach-spec.js';
import { CLI_OWNER, type Owner } from '../../model/owner.js';
import type { AttachRequest } from './request.js';

/** What the classic heuristics look at on the host. */
export interface HostLookup {
  link(name: string): HostLink | undefined;
  byMac(mac: string): string | undefined;
  /** Open vSwitch's bridges (asked only for an existing link that is no Linux bridge nor IPoIB). */
  ovsBridges(): readonly string[];
}

/** The host interface's name (`mac:` resolved). */
function hostIfName(request: AttachRequest, links: Pick<HostLookup, 'byMac'>): string {
  if (request.hostIf.by === 'name') return request.hostIf.name;
  const found = links.byMac(request.hostIf.mac);
  if (found === undefined) {
    throw new NotFoundError(`MAC address ${request.hostIf.mac} was given for the host interface, but no host interface has it`);
  }
  return found;
}

/** What `<hostif>` is on this host, the classic way. */
function hostSideOf(request: AttachRequest, links: HostLookup): HostSide {
  const name = hostIfName(request, links);
  const link = links.link(name);
  // `@<text>` is a VLAN id for every kind but IPoIB (a partition key there): checked once the kind is known.
  const vlanOf = (): { vlan?: number } => (request.vlanText !== undefined ? { vlan: request.vlan ?? parseVlan(request.vlanText) } : {});
  if (link) {
    if (link.isBridge) return { kind: 'bridge', bridge: name, create: name.startsWith('br'), ...vlanOf() };
    if (link.type === LINK_TYPE_INFINIBAND) {
      return { kind: 'ipoib', parent: name, ...(request.vlanText !== undefined && { pkey: parsePkey(request.vlanText) }) };
    }
    // Only an interface that is neither a Linux bridge nor IPoIB may be an OVS bridge.
    if (links.ovsBridges().includes(name)) return { kind: 'ovs', bridge: name, create: name.startsWith('ovs'), ...vlanOf() };
    return request.directPhys ? { kind: 'phys', device: name, ...vlanOf() } : { kind: 'macvlan', parent: name, mode: 'bridge', ...vlanOf() };
  }
  if (name.startsWith('br')) return { kind: 'bridge', bridge: name, create: true, ...vlanOf() };
  if (name.startsWith('ovs')) return { kind: 'ovs', bridge: name, create: true, ...vlanOf() };
  if (name.startsWith('dummy')) {
    if (request.vlanText !== undefined) throw new InvalidArgumentError('a VLAN makes no sense on a dummy interface');
    return { kind: 'dummy', name };
  }
  // A NIC that an earlier --direct-phys run moved into the guest is no longer on the host: the
  // engine finds it there by its record.
  if (request.directPhys) return { kind: 'phys', device: name, ...vlanOf() };
  throw new NotFoundError(`I do not know how to set up interface ${name}: it does not exist, and only br* (Linux bridge), ovs* (Open vSwitch bridge) and dummy* names are created`);
}

function addressingOf(request: AttachRequest): Addressing {
  const c = request.config;
  if (c.kind === 'dhcp') {
    return {
      kind: 'dhcp', method: c.method, options: c.options, family: request.family ?? 4,
      timeoutSec: request.dhcpTimeoutSec ?? DEFAULT_DHCP_TIMEOUT_SEC, ...(request.dhcpImage !== undefined && { image: request.dhcpImage }),
    };
  }
  const { address, gateway } = c.spec;
  return {
    kind: 'static',
    addresses: address ? [address] : [],
    ...(gateway !== undefined && (address?.family === 6 ? { gateway6: gateway } : { gateway4: gateway })),
    routes: [],
  };
}

/** The classic line as a spec, from what the host looks like (pure). */
export function resolveClassic(request: AttachRequest, links: HostLookup, owner: Owner = CLI_OWNER): AttachSpec {
  const host = hostSideOf(request, links);
  if (request.directPhys && host.kind !== 'phys') {
    const what = host.kind === 'bridge' ? 'a Linux bridge' : host.kind === 'ovs' ? 'an Open vSwitch bridge' : host.kind === 'ipoib' ? 'an IPoIB interface' : 'a dummy interface to be created';
    throw new InvalidArgumentError(`--direct-phys moves a NIC into the guest, but ${'bridge' in host ? host.bridge : 'parent' in host ? host.parent : host.name} is ${what}; drop --direct-phys`);
  }
  return {
    guest: parseGuestRef(request.guest),
    guestIf: request.guestIf ?? defaultGuestIf(host.kind),
    host,
    ...(request.localIf !== undefined && { hostEnd: request.localIf }),
    ...(request.mac !== undefined && { mac: request.mac }),
    addressing: addressingOf(request),
    announce: true,
    owner,
    onConflict: request.replace ? 'replace' : 'refuse',
  };
}

/** The classic line as a spec, looking at this host (sysfs; Open vSwitch only when it may be one). */
export async function classicSpec(request: AttachRequest, ctx: RunContext, owner: Owner = CLI_OWNER): Promise<AttachSpec> {
  const links = ctx.cache.hostLinks;
  const link = links.link(hostIfName(request, links));
  const mayBeOvs = link !== undefined && !link.isBridge && link.type !== LINK_TYPE_INFINIBAND;
  const bridges = mayBeOvs ? (await (ctx.cache.ovs ??= readOvsFacts(ctx.runner, ctx.cache.programs))).bridges : [];
  return resolveClassic(request, { link: (n) => links.link(n), byMac: (m) => links.byMac(m), ovsBridges: () => bridges }, owner);
}
