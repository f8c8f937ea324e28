/**
 * An attach request + facts about the host and the guest → a plan. Pure: every refusal
 * happens here, before anything changes.
 */
import type { AttachRequest } from '../cli/request.js';
import type { GuestFacts, GuestLink } from '../guest/facts.js';
import { planBridgeCreate, planBridgePort } from '../host/bridge.js';
import { planDummy } from '../host/dummy.js';
import { LINK_TYPE_INFINIBAND, type HostFacts } from '../host/facts.js';
import { parsePkey, planIpoib } from '../host/ipoib.js';
import { parseVlan } from '../model/vlan.js';
import { vethHostName, type GuestIdentity } from '../host/naming.js';
import { planNic } from '../host/nic.js';
import { checkOvsUsable, planOvsBridgeCreate, planOvsPort, type OvsPortIds } from '../host/ovs.js';
import { planVeth, upStep } from '../host/veth.js';
import { ConflictError, InvalidArgumentError, NotFoundError, UnsupportedError } from '../model/errors.js';
import { configOf, decodeRecord, encodeRecord, type AttachRecord, type HostKindName } from '../model/record.js';
import { planStaticAddress } from './address.js';
import { planDhcp, planDhcpStop, type DhcpFacts } from '../dhcp/plan.js';
import { DHCP_AGENT } from '../dhcp/paths.js';
import { planDetachLink } from './detach.js';
import type { Plan, Step } from './types.js';

export interface AttachContext {
  request: AttachRequest;
  guestLabel: string;
  /** The guest as `kind:name`, recorded on the interfaces. */
  guestRef: string;
  guest: GuestIdentity;
  /** Docker/Podman container id and name, for the classic OVS external-ids. */
  container?: { id: string; name: string };
  host: HostFacts;
  guestFacts: GuestFacts;
  /** Is iputils arping installed? */
  hasArping: boolean;
  /** What a DHCP method needs (src/dhcp/facts.ts); present when the request asks for DHCP. */
  dhcp?: DhcpFacts;
}

export type HostKind =
  | { kind: 'bridge'; name: string; create: boolean }
  | { kind: 'ovs'; name: string; create: boolean }
  | { kind: 'macvlan' | 'phys' | 'ipoib' | 'dummy'; name: string };

/** Which kind of host side a `<hostif>` means, the classic way. */
export function classifyHostIf(request: AttachRequest, host: HostFacts, guestFacts?: GuestFacts): HostKind {
  let name: string;
  if (request.hostIf.by === 'mac') {
    const found = host.byMac(request.hostIf.mac);
    if (found === undefined) {
      throw new NotFoundError(`MAC address ${request.hostIf.mac} was given for the host interface, but no host interface has it`);
    }
    name = found;
  } else {
    name = request.hostIf.name;
  }
  const link = host.link(name);
  if (link) {
    if (link.isBridge) return { kind: 'bridge', name, create: false };
    if (host.ovs?.bridges.includes(name)) return { kind: 'ovs', name, create: false };
    if (link.type === LINK_TYPE_INFINIBAND) return { kind: 'ipoib', name };
    return { kind: request.directPhys ? 'phys' : 'macvlan', name };
  }
  // A NIC that an earlier --direct-phys run moved into this guest is no longer on the host.
  const movedIn = guestFacts?.links.some((l) => {
    const r = decodeRecord(l.alias);
    return r?.hostKind === 'phys' && r.hostIf === name;
  });
  if (movedIn) return { kind: 'phys', name };
  if (name.startsWith('br')) return { kind: 'bridge', name, create: true };
  if (name.startsWith('ovs')) return { kind: 'ovs', name, create: !host.ovs?.bridges.includes(name) };
  if (name.startsWith('dummy')) return { kind: 'dummy', name };
  throw new NotFoundError(`I do not know how to set up interface ${name}: it does not exist, and only br* (Linux bridge), ovs* (Open vSwitch bridge) and dummy* names are created`);
}

/** Is an existing pipework interface what this request asks for? */
function sameConfig(existing: AttachRecord, wanted: AttachRecord, request: AttachRequest): boolean {
  if (configOf(existing) !== configOf(wanted)) return false;
  return request.localIf === undefined || request.localIf === existing.localIf;
}

/** What to do about an interface of the requested name that already exists in the guest. */
function existingInterface(ctx: AttachContext, link: GuestLink, wanted: AttachRecord): { unchanged: AttachRecord } | AttachRecord {
  const existing = decodeRecord(link.alias);
  if (existing === undefined) {
    throw new ConflictError(`${ctx.guestLabel} already has an interface named ${link.name}, not made by pipework; choose another with -i`);
  }
  if (sameConfig(existing, wanted, ctx.request)) return { unchanged: existing };
  if (!ctx.request.replace) {
    throw new ConflictError(
      `${link.name} in ${ctx.guestLabel} is already plumbed by pipework with another configuration (${configOf(existing)}; ` +
      `asked: ${configOf(wanted)}); run 'pipework del -i ${link.name} ${ctx.request.guest}' first, or add --replace`,
    );
  }
  return existing;
}

interface HostSide {
  steps: Step[];
  warnings: string[];
  /** Fields the host side adds to the record (host end, VLAN sub-interface, original name). */
  record: Partial<AttachRecord>;
}

function ovsIds(ctx: AttachContext): OvsPortIds {
  return {
    ...(ctx.container && { containerId: ctx.container.id, containerName: `/${ctx.container.name}` }),
    ...(ctx.guest.pid !== undefined && { nsPid: ctx.guest.pid }),
    // A guest the classic keys cannot name (a named netns) is named by ours, so its stale
    // row can be found again.
    ...(!ctx.container && ctx.guest.pid === undefined && { guest: ctx.guestRef }),
  };
}

/** The host side for each kind: everything up to the guest interface existing with its final name. */
function planHostSide(ctx: AttachContext, hostKind: HostKind, guestIf: string, record: AttachRecord, replacing?: AttachRecord): HostSide {
  const { request, host } = ctx;
  const vlan = hostKind.kind === 'ipoib' ? undefined : request.vlan;
  const veth = (bridgeMtu: number): { localIf: string; steps: Step[] } => {
    const localIf = request.localIf ?? vethHostName(ctx.guest, guestIf);
    return {
      localIf,
      steps: planVeth({
        localIf, guestIf, mtu: bridgeMtu, host,
        hostAlias: encodeRecord({ ...record, localIf, role: 'host' }),
        ...(replacing?.localIf !== undefined && { replacingLocalIf: replacing.localIf }),
        ...(request.mac !== undefined && { mac: request.mac }),
      }),
    };
  };
  switch (hostKind.kind) {
    case 'bridge': {
      const { localIf, steps } = veth(host.link(hostKind.name)?.mtu ?? 1500);
      return {
        steps: [
          ...(hostKind.create ? planBridgeCreate(hostKind.name, vlan) : []),
          ...steps,
          ...planBridgePort(hostKind.name, localIf, vlan, hostKind.create, host),
        ],
        warnings: [],
        record: { localIf },
      };
    }
    case 'ovs': {
      const ovs = checkOvsUsable(host.ovs, hostKind.name);
      const created = hostKind.create ? planOvsBridgeCreate(hostKind.name, ovs) : { steps: [], warnings: [] };
      const { localIf, steps } = veth(host.link(hostKind.name)?.mtu ?? 1500);
      return {
        steps: [...created.steps, ...steps, upStep(localIf), ...planOvsPort(hostKind.name, localIf, vlan, ovsIds(ctx))],
        warnings: created.warnings,
        record: { localIf },
      };
    }
    case 'macvlan':
    case 'phys': {
      const nic = planNic({
        nic: hostKind.name, guestIf, directPhys: hostKind.kind === 'phys', host,
        ...(vlan !== undefined && { vlan }), ...(request.mac !== undefined && { mac: request.mac }),
      });
      return {
        steps: nic.steps,
        warnings: [],
        record: {
          ...(nic.vlanIf !== undefined && { vlanIf: nic.vlanIf }),
          ...(nic.vlanMade === true && hostKind.kind === 'phys' && { vlanMade: true }),
          ...(hostKind.kind === 'phys' && { origName: nic.parent }),
          ...(nic.origMac !== undefined && { origMac: nic.origMac }),
        },
      };
    }
    case 'dummy':
      return { steps: planDummy(guestIf, request.mac), warnings: [], record: {} };
    case 'ipoib':
      return { steps: planIpoib(hostKind.name, guestIf, record.vlan, request.mac), warnings: [], record: {} };
  }
}

export function planAttach(ctx: AttachContext): Plan {
  const { request } = ctx;
  const hostKind = classifyHostIf(request, ctx.host, ctx.guestFacts);
  const dhcp = request.config.kind === 'dhcp' ? request.config : undefined;
  if (dhcp !== undefined && ctx.dhcp === undefined) {
    throw new UnsupportedError(`DHCP (${dhcp.method}): internal: no DHCP facts were gathered`);
  }
  if (request.directPhys && hostKind.kind !== 'phys' && hostKind.kind !== 'bridge' && hostKind.kind !== 'ovs') {
    throw new InvalidArgumentError(`--direct-phys needs a physical host interface; ${hostKind.name} is ${hostKind.kind === 'dummy' ? 'a dummy interface to be created' : 'an IPoIB interface'}`);
  }
  if (hostKind.kind !== 'ipoib' && request.vlanText !== undefined && request.vlan === undefined) {
    parseVlan(request.vlanText); // throws: "invalid VLAN id …"
  }
  if (hostKind.kind === 'dummy' && request.vlanText !== undefined) {
    throw new InvalidArgumentError('a VLAN makes no sense on a dummy interface');
  }

  const guestIf = request.guestIf ?? (hostKind.kind === 'ipoib' ? 'ib0' : 'eth1');
  const spec = request.config.kind === 'static' ? request.config.spec : {};
  const dhcpFamily = request.family ?? 4;
  const kindName: HostKindName = hostKind.kind;
  const record: AttachRecord = {
    role: 'guest',
    guest: ctx.guestRef,
    nsInode: ctx.guest.nsInode,
    guestIf,
    hostIf: hostKind.name,
    hostKind: kindName,
    ...(spec.address && { address: spec.address.cidr }),
    ...(spec.gateway !== undefined && { gateway: spec.gateway }),
    ...(request.mac !== undefined && { mac: request.mac }),
    ...(dhcp !== undefined && { dhcp: dhcp.method, ...(dhcpFamily === 6 && { dhcp6: true }) }),
    ...(hostKind.kind === 'ipoib'
      ? request.vlanText !== undefined && { vlan: parsePkey(request.vlanText) }
      : request.vlan !== undefined && { vlan: request.vlan }),
  };

  const steps: Step[] = [];
  const present = ctx.guestFacts.links.find((l) => l.name === guestIf);
  let replacing: AttachRecord | undefined;
  let routes = ctx.guestFacts.routes;
  if (present) {
    const found = existingInterface(ctx, present, record);
    // The same configuration again: nothing to do; report what is there (with its host end).
    if ('unchanged' in found) return { guestLabel: ctx.guestLabel, steps: [], warnings: [], record: { ...found.unchanged, role: 'guest' }, outcome: 'unchanged' };
    replacing = found;
    // A DHCP client that renews this interface's lease (or its helper container) stops first.
    steps.push(...planDhcpStop(found, present.name, DHCP_AGENT, ctx.container?.id), ...planDetachLink(present.name, found));
    // Routes through the interface being replaced go with it.
    routes = routes.filter((r) => r.dev !== present.name);
  }

  const hostSide = planHostSide(ctx, hostKind, guestIf, record, replacing);
  Object.assign(record, hostSide.record);
  const addressSteps = dhcp !== undefined
    ? planDhcp({ method: dhcp.method, options: dhcp.options, family: dhcpFamily }, guestIf, ctx.guest.nsInode, ctx.guestRef, ctx.dhcp!, ctx.guestLabel)
    : planStaticAddress(spec, guestIf, { ...ctx.guestFacts, routes });
  // The record rides in the guest's address batch (after the IPv6 sysctl): no extra process.
  const firstIp = addressSteps.findIndex((s) => s.action.kind === 'ip');
  addressSteps.splice(firstIp === -1 ? addressSteps.length : firstIp, 0, {
    title: `record the configuration on ${guestIf}`,
    action: { kind: 'ip', place: 'guest', args: ['link', 'set', 'dev', guestIf, 'alias', encodeRecord(record)] },
    // A NIC moved in (--direct-phys) goes back on failure: without our record.
    undo: hostKind.kind === 'phys' ? [{ kind: 'ip', place: 'guest', args: ['link', 'set', 'dev', guestIf, 'alias', ''] }] : [],
  });
  steps.push(...hostSide.steps, ...addressSteps);
  // --replace: the old interface's VLAN sub-interface is looked at last, once the new one
  // (which may hang off the same one) is in place.
  const vlanChecks = steps.filter((s) => s.action.kind === 'ip' && s.action.onlyIfVlanUnused !== undefined);
  steps.splice(0, steps.length, ...steps.filter((s) => !vlanChecks.includes(s)), ...vlanChecks);

  const warnings = [...hostSide.warnings];
  const address = spec.address;
  if (dhcp !== undefined) {
    // The DHCP client announces its address itself.
  } else if (!ctx.hasArping) {
    warnings.push('Warning: arping not found; interface may not be immediately reachable');
  } else if (address?.family === 4) {
    steps.push({
      title: `announce ${address.address} with a gratuitous ARP`,
      action: { kind: 'exec', place: 'guest', argv: ['arping', '-c', '1', '-A', '-I', guestIf, address.address], detached: true },
      undo: [],
    });
  }
  return { guestLabel: ctx.guestLabel, steps, warnings, record, outcome: replacing ? 'replaced' : 'created' };
}
