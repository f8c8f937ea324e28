/**
 * An attach request + facts about the host and the guest → a plan. Pure: every refusal
 * happens here, before anything changes.
 */
import type { AttachRequest } from '../cli/request.js';
import type { GuestFacts } from '../guest/facts.js';
import { planBridgeHost } from '../host/bridge.js';
import { LINK_TYPE_INFINIBAND, type HostFacts } from '../host/facts.js';
import { vethHostName, type GuestIdentity } from '../host/naming.js';
import { ConflictError, NotFoundError, UnsupportedError } from '../model/errors.js';
import { planStaticAddress } from './address.js';
import type { Plan, Step } from './types.js';

export interface AttachContext {
  request: AttachRequest;
  guestLabel: string;
  guest: GuestIdentity;
  host: HostFacts;
  guestFacts: GuestFacts;
  /** Is iputils arping installed? */
  hasArping: boolean;
  /** `ip -d` kind of the would-be host end, when a link of that name exists. */
  localKind?: string;
}

export type HostKind =
  | { kind: 'linux-bridge'; name: string; create: boolean }
  | { kind: 'unsupported'; name: string; what: string };

/** Which kind of host side a `<hostif>` means, the classic way. */
export function classifyHostIf(request: AttachRequest, host: HostFacts): HostKind {
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
    if (link.isBridge) return { kind: 'linux-bridge', name, create: false };
    if (link.type === LINK_TYPE_INFINIBAND) return { kind: 'unsupported', name, what: 'IPoIB host interfaces' };
    return { kind: 'unsupported', name, what: 'host interfaces that are not Linux bridges (macvlan on a NIC, Open vSwitch)' };
  }
  if (name.startsWith('br')) return { kind: 'linux-bridge', name, create: true };
  if (name.startsWith('ovs')) return { kind: 'unsupported', name, what: 'Open vSwitch bridges' };
  if (name.startsWith('dummy')) return { kind: 'unsupported', name, what: 'dummy interfaces' };
  throw new NotFoundError(`I do not know how to set up interface ${name}: it does not exist, and only br* (Linux bridge), ovs* and dummy* names are created`);
}

export function planAttach(ctx: AttachContext): Plan {
  const { request } = ctx;
  const hostKind = classifyHostIf(request, ctx.host);
  if (hostKind.kind === 'unsupported') {
    throw new UnsupportedError(`${hostKind.name}: ${hostKind.what} are not supported by this version of pipework yet; use a Linux bridge`);
  }
  if (request.vlan !== undefined) {
    throw new UnsupportedError('VLAN configuration currently unsupported for Linux bridge');
  }
  if (request.config.kind === 'dhcp') {
    throw new UnsupportedError(`DHCP (${request.config.method}) is not supported by this version of pipework yet; give a static address`);
  }

  const guestIf = request.guestIf ?? 'eth1';
  if (ctx.guestFacts.links.includes(guestIf)) {
    throw new ConflictError(`${ctx.guestLabel} already has an interface named ${guestIf}; choose another with -i`);
  }
  const localIf = request.localIf ?? vethHostName(ctx.guest, guestIf);
  const bridge = hostKind.name;
  const mtu = ctx.host.link(bridge)?.mtu ?? 1500;

  const steps: Step[] = [
    ...planBridgeHost({
      bridge,
      create: hostKind.create,
      localIf,
      guestIf,
      mtu,
      host: ctx.host,
      ...(request.mac !== undefined && { mac: request.mac }),
      ...(ctx.localKind !== undefined && { localKind: ctx.localKind }),
    }),
    ...planStaticAddress(request.config.spec, guestIf, ctx.guestFacts),
  ];

  const warnings: string[] = [];
  const address = request.config.spec.address;
  if (!ctx.hasArping) {
    warnings.push('Warning: arping not found; interface may not be immediately reachable');
  } else if (address?.family === 4) {
    steps.push({
      title: `announce ${address.address} with a gratuitous ARP`,
      action: { kind: 'exec', place: 'guest', argv: ['arping', '-c', '1', '-A', '-I', guestIf, address.address], detached: true },
      undo: [],
    });
  }
  return { guestLabel: ctx.guestLabel, steps, warnings };
}
