/**
 * An attach request + facts about the host and the guest → a plan. Pure: every refusal
 * happens here, before anything changes.
 */
import type { AttachRequest } from '../cli/request.js';
import type { GuestFacts, GuestLink } from '../guest/facts.js';
import { planBridgeHost } from '../host/bridge.js';
import { LINK_TYPE_INFINIBAND, type HostFacts } from '../host/facts.js';
import { vethHostName, type GuestIdentity } from '../host/naming.js';
import { ConflictError, NotFoundError, UnsupportedError } from '../model/errors.js';
import { configOf, decodeRecord, encodeRecord, type AttachRecord } from '../model/record.js';
import { planStaticAddress } from './address.js';
import { planDetachLink } from './detach.js';
import type { Plan, Step } from './types.js';

export interface AttachContext {
  request: AttachRequest;
  guestLabel: string;
  /** The guest as `kind:name`, recorded on the interfaces. */
  guestRef: string;
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

/** Is an existing pipework interface what this request asks for? */
function sameConfig(existing: AttachRecord, wanted: AttachRecord, request: AttachRequest): boolean {
  if (configOf(existing) !== configOf(wanted)) return false;
  return request.localIf === undefined || request.localIf === existing.localIf;
}

/** What to do about an interface of the requested name that already exists in the guest. */
function existingInterface(ctx: AttachContext, link: GuestLink, wanted: AttachRecord): 'unchanged' | AttachRecord {
  const existing = decodeRecord(link.alias);
  if (existing === undefined) {
    throw new ConflictError(`${ctx.guestLabel} already has an interface named ${link.name}, not made by pipework; choose another with -i`);
  }
  if (sameConfig(existing, wanted, ctx.request)) return 'unchanged';
  if (!ctx.request.replace) {
    throw new ConflictError(
      `${link.name} in ${ctx.guestLabel} is already plumbed by pipework with another configuration (${configOf(existing)}; ` +
      `asked: ${configOf(wanted)}); run 'pipework del -i ${link.name} ${ctx.request.guest}' first, or add --replace`,
    );
  }
  return existing;
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
  const localIf = request.localIf ?? vethHostName(ctx.guest, guestIf);
  const bridge = hostKind.name;
  const { spec } = request.config;
  const record: AttachRecord = {
    role: 'guest',
    guest: ctx.guestRef,
    nsInode: ctx.guest.nsInode,
    guestIf,
    hostIf: bridge,
    hostKind: 'bridge',
    localIf,
    ...(spec.address && { address: spec.address.cidr }),
    ...(spec.gateway !== undefined && { gateway: spec.gateway }),
    ...(request.mac !== undefined && { mac: request.mac }),
  };

  const steps: Step[] = [];
  const present = ctx.guestFacts.links.find((l) => l.name === guestIf);
  let replacing: AttachRecord | undefined;
  if (present) {
    const found = existingInterface(ctx, present, record);
    if (found === 'unchanged') return { guestLabel: ctx.guestLabel, steps: [], warnings: [], record, outcome: 'unchanged' };
    replacing = found;
    steps.push(...planDetachLink(present.name, found));
  }

  const mtu = ctx.host.link(bridge)?.mtu ?? 1500;
  steps.push(
    ...planBridgeHost({
      bridge,
      create: hostKind.create,
      localIf,
      guestIf,
      mtu,
      host: ctx.host,
      hostAlias: encodeRecord({ ...record, role: 'host' }),
      ...(replacing?.localIf !== undefined && { replacingLocalIf: replacing.localIf }),
      ...(request.mac !== undefined && { mac: request.mac }),
      ...(ctx.localKind !== undefined && { localKind: ctx.localKind }),
    }),
    {
      title: `record the configuration on ${guestIf}`,
      action: { kind: 'ip', place: 'guest', args: ['link', 'set', 'dev', guestIf, 'alias', encodeRecord(record)] },
      undo: [],
    },
    ...planStaticAddress(spec, guestIf, ctx.guestFacts),
  );

  const warnings: string[] = [];
  const address = spec.address;
  if (!ctx.hasArping) {
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
