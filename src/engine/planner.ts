/**
 * An attach spec + facts → a plan. Pure: no I/O; every refusal happens here, before anything
 * changes. Four shapes: create (nothing there yet), unchanged or repaired (pipework made it with
 * this configuration; live state is checked and put right), and replace (another configuration,
 * with onConflict = replace: the old one is parked under another name, the new one built, and
 * the old one removed only once the new one works).
 */
import { driverFor } from '../drivers/registry.js';
import type { Drift, DriverInput, Leftover } from '../drivers/driver.js';
import type { GuestFacts, GuestLink, GuestRoute } from '../guest/netstate.js';
import { ConflictError, UnsupportedError } from '../model/errors.js';
import { configDiff, configOf, encodeRecord, type AttachRecord } from '../model/record.js';
import { hostIfOf, recordedTagOf, type AttachSpec, type HostKind } from '../model/attach-spec.js';
import { formatOwner } from '../model/owner.js';
import { DHCP_AGENT } from '../dhcp/paths.js';
import { formatGuestRef } from '../guest/resolve.js';
import { keptKey, keptText } from '../host/kept-records.js';
import { planDhcp, planDhcpStop, type DhcpFacts } from '../dhcp/plan.js';
import type { DhcpMethod } from '../model/dhcp-methods.js';
import { defaultRoutes, gatewayOnLink, planStaticAddress, replacedRouteArgs, routeSpec } from './address.js';
import { guestLink, type Facts } from '../drivers/facts.js';
import { guestRefText, type GuestInfo } from '../model/guest-info.js';
import { impairChange, impairText, impairWords, parseImpairText, planImpair } from './impair.js';
import { parkedGuestName, parkedHostName, type AttachNames } from '../drivers/names.js';
import { decidedWhenRun, mergeLocks, type Action, type Plan, type Step } from '../model/plan.js';

export interface PlanInput {
  spec: AttachSpec;
  guest: GuestInfo;
  names: AttachNames;
  facts: Facts;
}

/** What an attach of this spec records on both ends of the interface. */
export function wantedRecord(spec: AttachSpec, guest: GuestInfo): AttachRecord {
  const a = spec.addressing;
  const addresses = a.kind === 'static' ? a.addresses : [];
  const owner = formatOwner(spec.owner);
  const vlan = recordedTagOf(spec.host);
  return {
    role: 'guest',
    guest: guestRefText(guest),
    nsInode: guest.nsInode,
    guestIf: spec.guestIf,
    hostIf: hostIfOf(spec.host),
    hostKind: spec.host.kind,
    ...(addresses[0] !== undefined && { address: addresses[0].cidr }),
    ...(addresses.length > 1 && { moreAddresses: addresses.slice(1).map((x) => x.cidr).join(',') }),
    ...(a.kind === 'static' && a.gateway4 !== undefined && { gateway: a.gateway4 }),
    // One gateway of IPv6 alone is recorded as `gateway`, as the classic line gives it.
    ...(a.kind === 'static' && a.gateway6 !== undefined && (a.gateway4 !== undefined ? { gateway6: a.gateway6 } : { gateway: a.gateway6 })),
    ...(spec.mac !== undefined && { mac: spec.mac }),
    ...(a.kind === 'dhcp' && { dhcp: a.method, ...(a.family === 6 && { dhcp6: true }) }),
    ...(vlan !== undefined && { vlan }),
    ...(spec.mtu !== undefined && { mtu: spec.mtu }),
    ...(owner !== 'cli' && { owner }),
    ...(impairText(spec.impair) !== undefined && { impair: impairText(spec.impair) }),
  };
}

/** Is an existing pipework interface what this spec asks for? */
function sameConfig(existing: AttachRecord, wanted: AttachRecord, spec: AttachSpec): boolean {
  if (configOf(existing) !== configOf(wanted)) return false;
  return spec.hostEnd === undefined || spec.hostEnd === existing.localIf;
}

function conflictText(existing: AttachRecord, wanted: AttachRecord, spec: AttachSpec): string {
  const diff = configDiff(existing, wanted);
  if (spec.hostEnd !== undefined && spec.hostEnd !== existing.localIf) diff.push(`host end ${existing.localIf ?? 'none'} → ${spec.hostEnd}`);
  return diff.join('; ');
}

function driverInput(input: PlanInput, record: AttachRecord, parkedHostEnd?: string): DriverInput<HostKind> {
  return {
    spec: input.spec, host: input.spec.host, guest: input.guest, names: input.names, facts: input.facts, record,
    ...(parkedHostEnd !== undefined && { parkedHostEnd }),
  };
}

export function planAttach(input: PlanInput): Plan {
  const plan = planAttachSteps(input);
  // What its host steps use and change: the spec's host side, and the one a --replace removes.
  const existing = input.facts.existing;
  const replaced = plan.outcome === 'replaced' && existing !== undefined ? driverFor(existing.hostKind).locksOf(existing) : undefined;
  return { ...plan, locks: mergeLocks(driverFor(input.spec.host.kind).locks(driverInput(input, plan.record ?? wantedRecord(input.spec, input.guest))), replaced) };
}

function planAttachSteps(input: PlanInput): Plan {
  const { spec, guest, facts } = input;
  const record = wantedRecord(spec, guest);
  const present = guestLink(facts, spec.guestIf);
  if (!present) return planCreate(input, record);
  const existing = facts.existing;
  if (existing === undefined) {
    throw new ConflictError(`${guest.label} already has an interface named ${present.name}, not made by pipework (or not as the host sees it)`, { advice: 'choose another with -i' });
  }
  const owner = existing.owner ?? 'cli';
  const mine = owner === (record.owner ?? 'cli');
  if (sameConfig(existing, record, spec) && (mine || spec.owner.kind === 'cli')) return planCheck(input, present, { ...existing, role: 'guest' });
  if (!mine) {
    throw new ConflictError(`${present.name} in ${guest.label} was plumbed by ${owner}, not ${record.owner ?? 'cli'} (${configOf(existing)}); only ${owner} changes or removes it`);
  }
  if (spec.onConflict !== 'replace') {
    throw new ConflictError(
      `${present.name} in ${guest.label} is already plumbed by pipework with another configuration (${configOf(existing)}; asked: ${configOf(record)}; ` +
      `what differs: ${conflictText(existing, record, spec)})`,
      { advice: `run 'pipework del -i ${present.name} ${formatGuestRef(spec.guest)}' first, or add --replace` },
    );
  }
  return planReplace(input, present, existing, record);
}

/** A new interface: the host side, then the guest side (record, addresses or DHCP, impairments, ARP). */
function planCreate(input: PlanInput, record: AttachRecord, parked?: Parked): Plan {
  const { spec, guest, facts } = input;
  const driver = driverFor(spec.host.kind);
  const a = spec.addressing;
  // Routes through the interface being replaced go with it.
  const routes = parked ? facts.guest.routes.filter((r) => r.dev !== spec.guestIf) : facts.guest.routes;
  let addressSteps: Step[];
  if (a.kind === 'dhcp') {
    if (facts.dhcp === undefined) throw new UnsupportedError(`DHCP (${a.method}): internal: no DHCP facts were gathered`);
    addressSteps = planDhcp({ method: a.method, options: a.options, family: a.family }, spec.guestIf, guest.nsInode, guestRefText(guest), facts.dhcp, guest.label);
  } else {
    const stat = planStaticAddress(a, spec.guestIf, routes);
    addressSteps = stat.steps;
    // What the gateways replace, to put back on del (carried over from the interface replaced).
    const replaced4 = parked?.record.replaced4 ?? stat.replaced[4];
    const replaced6 = parked?.record.replaced6 ?? stat.replaced[6];
    // (Not one through this very interface: its device is the text's second field, compared whole.)
    const viaOther = (text: string | undefined): text is string => text !== undefined && text.split('@')[1] !== spec.guestIf;
    if (a.gateway4 !== undefined && viaOther(replaced4)) record.replaced4 = replaced4;
    if (a.gateway6 !== undefined && viaOther(replaced6)) record.replaced6 = replaced6;
  }
  const hostSide = driver.planAdd(driverInput(input, record, parked?.hostEnd));
  Object.assign(record, hostSide.record);
  // The record rides in the guest's address batch (after the IPv6 sysctl): no extra process.
  const firstIp = addressSteps.findIndex((s) => s.action.kind === 'ip');
  addressSteps.splice(firstIp === -1 ? addressSteps.length : firstIp, 0, {
    title: `record the configuration on ${spec.guestIf}`,
    action: { kind: 'ip', place: 'guest', args: ['link', 'set', 'dev', spec.guestIf, 'alias', encodeRecord(record)] },
    // A NIC moved in (--direct-phys) goes back on failure: without our record.
    undo: driver.movesIn === true ? [{ kind: 'ip', place: 'guest', args: ['link', 'set', 'dev', spec.guestIf, 'alias', ''] }] : [],
  });
  const steps = [...hostSide.steps, ...addressSteps, ...planImpair(spec.guestIf, spec.impair, undefined)];
  const warnings = [...hostSide.warnings];
  const first = a.kind === 'static' ? a.addresses.find((x) => x.family === 4) : undefined;
  if (a.kind === 'dhcp' || !spec.announce) {
    // The DHCP client announces its address itself.
  } else if (!facts.arping) {
    if (a.addresses.length > 0) warnings.push('Warning: arping not found; interface may not be immediately reachable');
  } else if (first !== undefined) {
    steps.push({
      title: `announce ${first.address} with a gratuitous ARP`,
      action: { kind: 'exec', place: 'guest', argv: ['arping', '-c', '1', '-A', '-I', spec.guestIf, first.address], detached: true },
      undo: [],
    });
  }
  return { guestLabel: guest.label, steps, warnings, record, outcome: 'created' };
}

/** What a record says of the addresses (and the default routes their gateways replace). */
const ADDRESS_FIELDS = ['address', 'moreAddresses', 'gateway', 'gateway6', 'replaced4', 'replaced6'] as const;

/**
 * The second half of an attach whose addresses are known only once its interface exists
 * (attachSpecs' `addressLater`: a CNI IPAM plugin such as dhcp looks the interface up in the
 * guest). The first half (planCreate with no address) made the interface, up, recorded as having
 * none; `made` is that record. This one records the addresses wherever the kind keeps its
 * record (the alias; a veth's host end; what is kept of a NIC moved in), then adds them with the
 * routes. Its steps need no undo of their own: the first half's undo takes the interface, and
 * what is on it, with it. Pure.
 */
export function planAddressing(input: PlanInput, made: AttachRecord): Plan {
  const { spec, guest, facts } = input;
  const a = spec.addressing;
  if (a.kind !== 'static') throw new UnsupportedError(`internal: the addresses given once ${spec.guestIf} exists must be static ones`);
  const stat = planStaticAddress(a, spec.guestIf, facts.guest.routes.filter((r) => r.dev !== spec.guestIf));
  const record: AttachRecord = { ...made };
  for (const k of ADDRESS_FIELDS) delete record[k];
  const want = wantedRecord(spec, guest);
  for (const k of ADDRESS_FIELDS) if (want[k] !== undefined) record[k] = want[k];
  const viaOther = (text: string | undefined): text is string => text !== undefined && text.split('@')[1] !== spec.guestIf;
  if (a.gateway4 !== undefined && viaOther(stat.replaced[4])) record.replaced4 = stat.replaced[4];
  if (a.gateway6 !== undefined && viaOther(stat.replaced[6])) record.replaced6 = stat.replaced[6];
  const driver = driverFor(spec.host.kind);
  const steps: Step[] = [
    {
      title: `record the configuration on ${spec.guestIf}`,
      action: { kind: 'ip', place: 'guest', args: ['link', 'set', 'dev', spec.guestIf, 'alias', encodeRecord(record)] },
      undo: [],
    },
    ...(driver.rerecord?.(driverInput(input, record)) ?? []),
    // (It is up already: the first half brought it up.)
    ...stat.steps.filter((s) => !(s.action.kind === 'ip' && s.action.args.join(' ') === `link set dev ${spec.guestIf} up`)),
  ];
  const first = a.addresses.find((x) => x.family === 4);
  const warnings: string[] = [];
  if (spec.announce && first !== undefined) {
    if (!facts.arping) {
      warnings.push('Warning: arping not found; interface may not be immediately reachable');
    } else {
      steps.push({
        title: `announce ${first.address} with a gratuitous ARP`,
        action: { kind: 'exec', place: 'guest', argv: ['arping', '-c', '1', '-A', '-I', spec.guestIf, first.address], detached: true },
        undo: [],
      });
    }
  }
  // Its host steps only write records on links this run holds (a host end) or keeps: the host is shared.
  return { guestLabel: guest.label, steps, warnings, record, outcome: 'created', locks: { uses: [], changes: [] } };
}

/** The guest side, live, against the spec: link up, addresses, gateways, MTU, MAC, impairments. */
function guestDrift(input: PlanInput, link: GuestLink, existing: AttachRecord): Drift[] {
  const { spec } = input;
  const drifts: Drift[] = [];
  const dev = spec.guestIf;
  const a = spec.addressing;
  if (a.kind === 'static') {
    const have = new Set(link.addresses ?? []);
    for (const address of a.addresses) {
      if (have.has(address.cidr)) continue;
      drifts.push({
        what: `address ${address.cidr} is missing on ${dev}`,
        repair: [{
          title: `add address ${address.cidr} to ${dev}`,
          action: { kind: 'ip', place: 'guest', args: ['addr', 'add', address.cidr, ...(address.broadcast !== undefined ? ['brd', address.broadcast] : []), 'dev', dev] },
          undo: [{ kind: 'ip', place: 'guest', args: ['addr', 'del', address.cidr, 'dev', dev] }],
        }],
      });
    }
  }
  if (!link.up) drifts.push({ what: `${dev} is down`, repair: [{ title: `bring ${dev} up`, action: { kind: 'ip', place: 'guest', args: ['link', 'set', 'dev', dev, 'up'] }, undo: [] }] });
  if (a.kind === 'static') {
    for (const [family, gateway] of [[4, a.gateway4], [6, a.gateway6]] as const) {
      if (gateway === undefined) continue;
      const routes = defaultRoutes(input.facts.guest.routes, family);
      if (routes.some((r) => r.gateway === gateway && r.dev === dev)) continue;
      const onLink = gatewayOnLink(gateway, a.addresses);
      drifts.push({
        what: `the IPv${family} default route is not via ${gateway} on ${dev}`,
        repair: [
          ...(onLink || input.facts.guest.routes.some((r) => r.dst === gateway && r.dev === dev) ? [] : [{
            title: `add an on-link route to gateway ${gateway} via ${dev}`,
            action: { kind: 'ip' as const, place: 'guest' as const, args: ['route', 'replace', `${gateway}/${family === 4 ? 32 : 128}`, 'dev', dev] },
            undo: [],
          }]),
          {
            title: `set the IPv${family} default route via ${gateway} on ${dev}`,
            action: { kind: 'ip', place: 'guest', args: ['route', 'replace', 'default', 'via', gateway, 'dev', dev] },
            undo: [],
          },
        ],
      });
    }
  }
  // (What is left to others after the attach, a later difference is theirs: not drift.)
  const mine = (setting: 'mtu' | 'mac') => spec.laterOwned?.includes(setting) !== true;
  if (spec.mtu !== undefined && mine('mtu') && link.mtu !== undefined && link.mtu !== spec.mtu) {
    drifts.push({
      what: `${dev} has MTU ${link.mtu}, not ${spec.mtu}`,
      repair: [{ title: `set the MTU of ${dev} to ${spec.mtu}`, action: { kind: 'ip', place: 'guest', args: ['link', 'set', 'dev', dev, 'mtu', String(spec.mtu)] }, undo: [] }],
    });
  }
  if (spec.mac !== undefined && mine('mac') && link.mac !== undefined && link.mac !== spec.mac && driverFor(existing.hostKind).fixedMac !== true) {
    drifts.push({
      what: `${dev} has MAC ${link.mac}, not ${spec.mac}`,
      repair: [{ title: `set the MAC of ${dev} to ${spec.mac}`, action: { kind: 'ip', place: 'guest', args: ['link', 'set', 'dev', dev, 'address', spec.mac] }, undo: [] }],
    });
  }
  const recorded = parseImpairText(existing.impair);
  const impair = planImpair(dev, spec.impair, { ...(link.qdisc !== undefined && { qdisc: link.qdisc }), ...(recorded !== undefined && { recorded }) });
  if (impair.length > 0) {
    const record: AttachRecord = { ...existing };
    const text = impairText(spec.impair);
    if (text !== undefined) record.impair = text;
    else delete record.impair;
    // An edit (the spec asks for other impairments than the record's), or drift (the record's
    // are not there: a qdisc removed or replaced by hand).
    const edit = impairText(recorded) !== text;
    drifts.push({
      what: edit ? `impairments of ${dev}: ${impairChange(recorded, spec.impair).join(', ')}`
        : spec.impair === undefined ? `${dev} has a ${link.qdisc ?? ''} queueing discipline pipework did not set` : `${dev} is not impaired as recorded (${impairWords(spec.impair)})`,
      ...(edit && { edit }),
      repair: [...impair, {
        title: `record the configuration on ${dev}`,
        action: { kind: 'ip', place: 'guest', args: ['link', 'set', 'dev', dev, 'alias', encodeRecord(record)] },
        undo: [],
      },
      // The host end's record is the one a re-run believes (src/engine/trust.ts): it changes too.
      ...(record.localIf !== undefined ? [{
        title: `record the configuration on ${record.localIf}`,
        action: { kind: 'ip' as const, place: 'host' as const, args: ['link', 'set', 'dev', record.localIf, 'alias', encodeRecord({ ...record, role: 'host' })] },
        undo: [],
      }] : [])],
    });
  }
  return drifts;
}

/** Pipework made it with this configuration: nothing to do, unless live state drifted from it. */
function planCheck(input: PlanInput, link: GuestLink, existing: AttachRecord): Plan {
  const { spec, guest } = input;
  const names = existing.localIf !== undefined ? { ...input.names, hostEnd: existing.localIf } : input.names;
  const host = driverFor(spec.host.kind).check({ ...driverInput(input, existing), names });
  const drifts = [...host, ...(input.facts.guest.complete === true ? guestDrift(input, link, existing) : [])];
  const unrepairable = drifts.filter((d) => d.repair.length === 0);
  if (unrepairable.length > 0) {
    throw new ConflictError(`${spec.guestIf} in ${guest.label} cannot be put right: ${unrepairable.map((d) => d.what).join('; ')}`, { advice: "remove it ('pipework del') and attach again" });
  }
  if (drifts.length === 0) return { guestLabel: guest.label, steps: [], warnings: [], record: existing, outcome: 'unchanged' };
  return {
    guestLabel: guest.label,
    steps: drifts.flatMap((d) => d.repair),
    warnings: [],
    record: existing,
    outcome: 'repaired',
    repairs: drifts.map((d) => d.what),
    ...(drifts.some((d) => d.edit === true) && { edits: drifts.filter((d) => d.edit === true).map((d) => d.what) }),
  };
}

/**
 * What starts the client of a parked interface again (undoing its stop) — when that can still be
 * planned (a helper image given on the command line then is not recorded: then it stays stopped,
 * and the error says so).
 */
function restartActions(method: DhcpMethod, family: 4 | 6, dev: string, guest: GuestInfo, dhcp: DhcpFacts): Action[] {
  try {
    return planDhcp({ method, options: [], family }, dev, guest.nsInode, guestRefText(guest), dhcp, guest.label)
      .filter((s) => s.action.kind === 'exec').map((s) => s.action);
  } catch {
    return [];
  }
}

/** The interface a --replace moves out of the way, and the names it has meanwhile. */
interface Parked {
  record: AttachRecord;
  guestIf: string;
  /** Its host end's parked name, when the new one takes its name. */
  hostEnd?: string;
}

/** Routes and IPv6 addresses the kernel drops when a link goes down, to put back when it comes up again. */
function restoreAfterDown(link: GuestLink, routes: GuestRoute[], dev: string): Action[] {
  const v6 = (link.addresses ?? []).filter((a) => a.includes(':'));
  const gone = routes.filter((r) => r.dev === dev && r.table === 'main' && r.protocol !== 'kernel' && (r.type === undefined || r.type === 'unicast')
    && !(r.family === 6 && r.dst.startsWith('fe80:')));
  return [
    ...v6.map((cidr): Action => ({ kind: 'ip', place: 'guest', args: ['addr', 'add', cidr, 'dev', dev, 'nodad'] })),
    ...gone.map((r): Action => ({ kind: 'ip', place: 'guest', args: ['route', 'replace', ...routeSpec(r)] })),
  ];
}

function planReplace(input: PlanInput, link: GuestLink, existing: AttachRecord, record: AttachRecord): Plan {
  const { spec, guest, facts } = input;
  const dev = spec.guestIf;
  // The same device (a NIC moved in), with other addresses: it stays, and only its configuration changes.
  const oldDriver = driverFor(existing.hostKind);
  if (existing.hostKind === spec.host.kind && oldDriver.replacesInPlace?.(existing, spec.host) === true) {
    return planReaddress(input, link, existing, record);
  }
  const parkedIf = parkedGuestName(guest, dev);
  const hostEndTaken = existing.localIf !== undefined && existing.localIf === input.names.hostEnd;
  const parked: Parked = { record: existing, guestIf: parkedIf, ...(hostEndTaken && { hostEnd: parkedHostName(guest, dev) }) };
  const steps: Step[] = [];

  // 1. A DHCP client renewing the old lease stops first; started again if the replace fails.
  const restart = existing.dhcp !== undefined && facts.replacedDhcp !== undefined
    ? restartActions(existing.dhcp, existing.dhcp6 === true ? 6 : 4, dev, guest, facts.replacedDhcp)
    : [];
  for (const stop of planDhcpStop(existing, dev, DHCP_AGENT, guest.id)) {
    steps.push(restart.length > 0 ? { ...stop, irreversible: false, undo: restart.slice().reverse() } : stop);
  }

  // 2. Park the old interface (and its host end) under other names, down. Undo, in the order it
  // runs (rollback runs a step's undo actions last to first): rename back, up, what the kernel
  // dropped when it went down.
  const restore = restoreAfterDown(link, facts.guest.routes, dev);
  // Down and rename are two steps: kernels before 6.2 refuse to rename a device that is up
  // (EBUSY), and in one request the kernel renames before it applies the flags.
  steps.push({
    title: `take ${dev} down to park it while its replacement is built`,
    action: { kind: 'ip', place: 'guest', args: ['link', 'set', 'dev', dev, 'down'] },
    undo: [...restore.slice().reverse(), { kind: 'ip', place: 'guest', args: ['link', 'set', 'dev', dev, 'up'] }],
  }, {
    title: `park ${dev} as ${parkedIf}`,
    action: { kind: 'ip', place: 'guest', args: ['link', 'set', 'dev', dev, 'name', parkedIf] },
    undo: [{ kind: 'ip', place: 'guest', args: ['link', 'set', 'dev', parkedIf, 'name', dev] }],
  });
  let after = facts;
  if (parked.hostEnd !== undefined) {
    const old = existing.localIf!;
    // What its kind keeps of the host end besides the device (an OVS row) is taken off too, and
    // put back by the park's undo; the new interface then sees the host without it.
    const park = oldDriver.parkHostEnd?.(existing, guest, facts) ?? { takeOff: [], putBack: [], facts };
    after = park.facts;
    steps.push({
      title: `take host end ${old} down to park it`,
      action: { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', old, 'down'] },
      // Undone last to first: up, then what was taken off it.
      undo: [...park.putBack, { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', old, 'up'] }],
    }, {
      title: `park host end ${old} as ${parked.hostEnd}`,
      action: { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', old, 'name', parked.hostEnd] },
      undo: [{ kind: 'ip', place: 'host', args: ['link', 'set', 'dev', parked.hostEnd, 'name', old] }],
    }, ...park.takeOff);
  }

  // 3. The new interface, as if nothing were there.
  const created = planCreate({
    ...input, facts: { ...after, guest: { ...after.guest, links: after.guest.links.filter((l) => l.name !== dev) } },
  }, record, parked);
  steps.push(...created.steps);

  // 4. It worked: the parked one goes, with what it made on the host (its VLAN sub-interface if
  // nothing else uses it; what was taken off a parked host end is gone already).
  const oldRecord: AttachRecord = { ...existing, ...(parked.hostEnd !== undefined && { localIf: parked.hostEnd }) };
  const removal = oldDriver.planDel(oldRecord, parkedIf, { parked: parked.hostEnd !== undefined })
    .map((s) => ({ ...s, title: `${s.title} (replaced)` }));
  // What the old interface hung off (a VLAN sub-interface, a NIC pipework brought up) is looked at
  // last, in order, once the new one (which may hang off the same) is in place.
  const decidedLater = (s: Step) => decidedWhenRun(s.action);
  steps.push(...removal.filter((s) => !decidedLater(s)), ...removal.filter(decidedLater));
  return { guestLabel: guest.label, steps, warnings: created.warnings, record: created.record!, outcome: 'replaced' };
}

/** --replace of a NIC moved in by the same NIC: new addresses and routes on it, the old ones back on failure. */
function planReaddress(input: PlanInput, link: GuestLink, existing: AttachRecord, record: AttachRecord): Plan {
  const { spec, guest, facts } = input;
  const dev = spec.guestIf;
  const steps: Step[] = [];
  const restore = restoreAfterDown(link, facts.guest.routes, dev);
  const v4 = (link.addresses ?? []).filter((a) => !a.includes(':'));
  steps.push(...planDhcpStop(existing, dev, DHCP_AGENT, guest.id));
  steps.push({
    title: `clear the addresses of ${dev}`,
    action: { kind: 'ip', place: 'guest', args: ['addr', 'flush', 'dev', dev] },
    undo: [...restore.slice().reverse(), ...v4.map((cidr): Action => ({ kind: 'ip', place: 'guest', args: ['addr', 'add', cidr, 'dev', dev] }))],
  });
  if (link.alias !== undefined) {
    steps.push({
      title: `take the old record off ${dev}`,
      action: { kind: 'ip', place: 'guest', args: ['link', 'set', 'dev', dev, 'alias', ''] },
      undo: [{ kind: 'ip', place: 'guest', args: ['link', 'set', 'dev', dev, 'alias', link.alias] }],
    });
  }
  Object.assign(record, {
    ...(existing.origName !== undefined && { origName: existing.origName }),
    ...(existing.origMac !== undefined && { origMac: existing.origMac }),
    ...(existing.vlanIf !== undefined && { vlanIf: existing.vlanIf }),
    ...(existing.vlanMade === true && { vlanMade: true }),
  });
  const a = spec.addressing;
  const routes = facts.guest.routes.filter((r) => r.dev !== dev);
  const addressSteps = a.kind === 'dhcp'
    ? planDhcp({ method: a.method, options: a.options, family: a.family }, dev, guest.nsInode, guestRefText(guest), facts.dhcp!, guest.label)
    : planStaticAddress(a, dev, routes).steps;
  if (spec.mac !== undefined && spec.mac !== link.mac) {
    steps.push({
      title: `set the MAC of ${dev} to ${spec.mac}`,
      action: { kind: 'ip', place: 'guest', args: ['link', 'set', 'dev', dev, 'address', spec.mac] },
      undo: link.mac !== undefined ? [{ kind: 'ip', place: 'guest', args: ['link', 'set', 'dev', dev, 'address', link.mac] }] : [],
    });
  }
  const key = keptKey(guest.nsInode, dev);
  steps.push({
    title: `keep on the host the new configuration of ${dev}`,
    action: { kind: 'keep', place: 'host', key, text: keptText({ record, mac: spec.mac ?? link.mac }) },
    undo: [{ kind: 'keep', place: 'host', key, text: keptText({ record: existing, ...(link.mac !== undefined && { mac: link.mac }) }) }],
  }, {
    title: `record the configuration on ${dev}`,
    action: { kind: 'ip', place: 'guest', args: ['link', 'set', 'dev', dev, 'alias', encodeRecord(record)] },
    undo: [],
  }, ...addressSteps);
  return { guestLabel: guest.label, steps, warnings: [], record, outcome: 'replaced' };
}

/** The pipework interfaces to remove, read back from their records. */
export interface DetachTarget {
  guestIf: string;
  record: AttachRecord;
}

/** Steps that remove one pipework interface (and its host side), and put back what it replaced. */
export function planDetachOne(target: DetachTarget, guestFacts: GuestFacts, guestId?: string): Step[] {
  const { guestIf, record } = target;
  const steps = [
    // DHCP clients that renew the lease (or helper containers) stop first.
    ...planDhcpStop(record, guestIf, DHCP_AGENT, guestId),
    ...driverFor(record.hostKind).planDel(record, guestIf),
  ];
  // The default route `@gateway` replaced comes back, when nothing else routes by default.
  for (const [family, text] of [[4, record.replaced4], [6, record.replaced6]] as const) {
    const args = text !== undefined ? replacedRouteArgs(text, family) : undefined;
    if (args === undefined) continue;
    const dev = args[args.indexOf('dev') + 1];
    const others = defaultRoutes(guestFacts.routes, family).filter((r) => r.dev !== guestIf);
    // Only through an interface the guest still has, and only when nothing else routes by default.
    if (others.length > 0 || dev === guestIf || !guestFacts.links.some((l) => l.name === dev)) continue;
    steps.push({
      title: `put back the IPv${family} default route ${args.slice(1).join(' ')} that ${guestIf}'s gateway replaced`,
      action: { kind: 'ip', place: 'guest', args: ['route', 'replace', ...args] },
      undo: [],
    });
  }
  return steps;
}

/**
 * Removing one attachment, whatever is left of it: its guest interface when its guest is there
 * (`targets`), then what it left on the host (its driver's `leftovers`: those its guest's removal
 * takes with it are dropped when there is one), then what the front door made for it besides
 * (`extra`: a nat chain). A step two of them share is planned once.
 */
export function planRemoval(input: { targets: DetachTarget[]; guestFacts: GuestFacts; guestLabel: string; leftovers: Leftover[]; extra: Step[] }): Plan {
  const detach = planDetach(input.targets, input.guestFacts, input.guestLabel);
  const left = input.targets.length > 0 ? input.leftovers.filter((l) => !l.live) : input.leftovers;
  const seen = new Set(detach.steps.map((s) => JSON.stringify(s.action)));
  const rest = [...left.flatMap((l) => l.steps), ...input.extra].filter((s) => {
    const key = JSON.stringify(s.action);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  const steps = [...detach.steps, ...rest];
  return {
    guestLabel: input.guestLabel, steps, warnings: [], outcome: steps.length > 0 ? 'removed' : 'unchanged',
    locks: mergeLocks(detach.locks, ...left.map((l) => l.locks)),
  };
}

/** A whole plan of removals (the order of the targets). */
export function planDetach(targets: DetachTarget[], guestFacts: GuestFacts, guestLabel: string, guestId?: string): Plan {
  // Default routes are put back as the guest will be once every target is gone: never through
  // one of them, and not kept away by a default route that goes with one of them.
  const gone = new Set(targets.map((t) => t.guestIf));
  const after: GuestFacts = {
    ...guestFacts,
    links: guestFacts.links.filter((l) => !gone.has(l.name)),
    routes: guestFacts.routes.filter((r) => r.dev === undefined || !gone.has(r.dev)),
  };
  return {
    guestLabel,
    steps: targets.flatMap((t) => planDetachOne(t, after, guestId)),
    warnings: [],
    outcome: targets.length === 0 ? 'unchanged' : 'removed',
    locks: mergeLocks(...targets.map((t) => driverFor(t.record.hostKind).locksOf(t.record))),
  };
}
