/**
 * The NIC itself (--direct-phys, CNI `device`; for SR-IOV virtual functions): moved into the
 * guest and renamed in one step, or its 802.1Q sub-interface with a VLAN. Its host name (and
 * MAC, when one is set) is recorded, so it goes back under them — kept on the host (src/host/
 * kept-records.ts) before it moves, since the guest can rewrite whatever the device carries.
 */
import { keptKey, keptRecord, keptText } from '../host/kept-records.js';
import { ownRecord, withoutHostNames } from './confirm.js';
import { vlanIfName } from './names.js';
import { NotFoundError } from '../model/errors.js';
import { ownerText, sameAttachment, type AttachRecord } from '../model/record.js';
import { returnedNics } from '../host/stale.js';
import { hostLink } from './facts.js';
import { GUEST_NETNS, HOST_NETNS, type Step } from '../model/plan.js';
import { changes, lockKey, type Driver, type DriverInput, type HostSidePlan, type Leftover } from './driver.js';
import { planNicDown, planVlanIf, planVlanRemoval, upIfDown } from './vlan.js';
import { VLAN_MARK } from '../model/vlan.js';

/**
 * Keep on the host `record` and the MAC the NIC goes back with: the one asked for, or its own
 * (its VLAN sub-interface's, or the NIC's when pipework makes that), as the facts saw it on the host.
 */
function keepStep(input: DriverInput<'phys'>, record: AttachRecord): Step {
  const { host, facts, spec } = input;
  const parent = host.vlan !== undefined ? input.names.vlanIf! : host.device;
  const key = keptKey(input.guest.nsInode, spec.guestIf);
  const mac = spec.mac ?? hostLink(facts, parent)?.mac ?? hostLink(facts, host.device)?.mac;
  return {
    title: `keep on the host the configuration of ${spec.guestIf}`,
    action: { kind: 'keep', place: 'host', key, text: keptText({ record, ...(mac !== undefined && { mac }) }) },
    undo: [],
  };
}

export const physDriver: Driver<'phys'> = {
  kind: 'phys',
  veth: false,
  movesIn: true,
  // The same NIC (and VLAN) moved in again with another configuration: it stays where it is.
  replacesInPlace: (existing, host) => existing.hostIf === host.device && existing.vlan === host.vlan,
  hostLinks: (host) => [host.device],
  names: (host) => (host.vlan !== undefined ? { vlanIf: vlanIfName(host.device, host.vlan) } : {}),

  /**
   * What was kept on the host when the NIC moved in (src/host/kept-records.ts), for a device the
   * guest did not make itself (one whose peer or lower device is on the host, or with no kind: a
   * real NIC). Nothing kept (an older pipework moved it): a real NIC only, back under its own name.
   */
  confirm(link, own, nsInode) {
    const kept = keptRecord(nsInode, link.name);
    if (kept !== undefined) return link.kind !== undefined && link.peer?.elsewhere !== true ? undefined : kept.record;
    const r = ownRecord('phys', link, own, nsInode);
    if (r === undefined || link.name === 'lo' || link.kind !== undefined || (r.origName !== undefined && r.origName !== r.hostIf)) return undefined;
    const out = { ...withoutHostNames(r), origName: r.hostIf };
    return out;
  },

  drift: () => [],
  preflight: (host, probe) => (probe.link(host.device) === undefined ? { missing: `device ${host.device} does not exist on this host (or is in a container already)` } : undefined),

  planAdd(input: DriverInput<'phys'>): HostSidePlan {
    const { host, facts, spec } = input;
    const nic = hostLink(facts, host.device);
    if (!nic) throw new NotFoundError(`host interface ${host.device} does not exist`);
    const steps: Step[] = [];
    let parent = host.device;
    let vlanMade = false;
    if (host.vlan !== undefined) {
      const vlanIf = input.names.vlanIf!;
      const vlan = planVlanIf(host.device, vlanIf, host.vlan, nic.mtu, facts);
      steps.push(...vlan.steps, ...upIfDown(host.device, facts).steps);
      parent = vlanIf;
      vlanMade = vlan.created;
    }
    const own: Partial<AttachRecord> = {};
    steps.push({
      title: `move ${parent} into the guest as ${spec.guestIf}`,
      action: { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', parent, 'netns', GUEST_NETNS, 'name', spec.guestIf] },
      // Give it back under its own name.
      undo: [{ kind: 'ip', place: 'guest', args: ['link', 'set', 'dev', spec.guestIf, 'netns', HOST_NETNS, 'name', parent] }],
      ...(!vlanMade && { requires: [parent] }),
    });
    let origMac: string | undefined;
    if (spec.mac !== undefined) {
      origMac = vlanMade ? undefined : hostLink(facts, parent)?.mac;
      steps.push({
        title: `set the MAC of ${spec.guestIf} to ${spec.mac}`,
        action: { kind: 'ip', place: 'guest', args: ['link', 'set', 'dev', spec.guestIf, 'address', spec.mac] },
        undo: origMac !== undefined ? [{ kind: 'ip', place: 'guest', args: ['link', 'set', 'dev', spec.guestIf, 'address', origMac] }] : [],
      });
    }
    if (spec.mtu !== undefined) {
      steps.push({
        title: `set the MTU of ${spec.guestIf} to ${spec.mtu}`,
        action: { kind: 'ip', place: 'guest', args: ['link', 'set', 'dev', spec.guestIf, 'mtu', String(spec.mtu)] },
        undo: [{ kind: 'ip', place: 'guest', args: ['link', 'set', 'dev', spec.guestIf, 'mtu', String(hostLink(facts, parent)?.mtu ?? nic.mtu)] }],
      });
    }
    Object.assign(own, {
      ...(host.vlan !== undefined && { vlanIf: parent }),
      ...(vlanMade && { vlanMade: true }),
      origName: parent,
      ...(origMac !== undefined && { origMac }),
    });
    // What it is to be given back as is kept on the host before it moves (and forgotten if the
    // attach is undone): the record it carries into the guest is the guest's to rewrite.
    steps.unshift({
      ...keepStep(input, { ...input.record, ...own }),
      title: `keep on the host what ${parent} is to be given back as`,
      undo: [{ kind: 'keep', place: 'host', key: keptKey(input.guest.nsInode, spec.guestIf), text: null }],
    });
    return { steps, warnings: [], record: own };
  },

  // What is kept on the host is the record the host believes (the guest can rewrite the alias).
  rerecord: (input) => [keepStep(input, input.record)],

  planDel(record: AttachRecord, guestIf: string): Step[] {
    const origName = record.origName ?? record.hostIf;
    // The NIC goes back to the host under its own name, without pipework's record (a VLAN
    // sub-interface pipework made gets its mark back, and goes if nothing else uses it).
    return [
      ...(record.origMac !== undefined ? [{
        title: `restore the MAC of ${guestIf} to ${record.origMac}`,
        action: { kind: 'ip' as const, place: 'guest' as const, args: ['link', 'set', 'dev', guestIf, 'address', record.origMac] },
        undo: [],
      }] : []),
      {
        title: `give ${guestIf} back to the host as ${origName}`,
        action: { kind: 'ip', place: 'guest', args: ['link', 'set', 'dev', guestIf, 'netns', HOST_NETNS, 'name', origName] },
        undo: [],
        irreversible: true,
      },
      {
        title: `clear pipework's record on ${origName}`,
        action: { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', origName, 'alias', record.vlanMade === true ? VLAN_MARK : ''] },
        undo: [],
      },
      ...planVlanRemoval(record),
      ...(record.vlanIf !== undefined ? planNicDown(record.hostIf) : []),
      {
        title: `forget what was kept of ${origName} on the host`,
        action: { kind: 'keep', place: 'host', key: keptKey(record.nsInode, guestIf), text: null },
        undo: [],
      },
    ];
  },

  check: () => [],
  locks: ({ host, names }) => changes(lockKey.nic(host.device), host.vlan !== undefined ? lockKey.nic(names.vlanIf!) : undefined),
  locksOf: (record) => changes(lockKey.nic(record.hostIf), record.vlanIf !== undefined ? lockKey.nic(record.vlanIf) : undefined),
  // A NIC comes back to the host when its guest's namespace goes, under the name it had there:
  // found by what was kept of it (never by what it carries back), and given its own name back.
  leftovers(view, of) {
    // (Only what was kept can come back: the host's links are listed only then.)
    const links = view.kept.size === 0 ? [] : view.links().map((l) => ({ ifname: l.name, ...(l.alias !== undefined && { ifalias: l.alias }), address: l.mac }));
    const nics: Leftover[] = returnedNics(links, view.kept).filter((n) => of === undefined || sameAttachment(n.record, of)).map((n) => ({
      what: `${n.link} given back as ${n.record.origName ?? n.link}`, name: n.link,
      owner: ownerText(n.record), record: n.record, live: false, steps: planReturnedNic(n.link, n.record, n.key),
      locks: changes(lockKey.nic(n.link), lockKey.nic(n.record.origName ?? n.record.hostIf)),
    }));
    // A VLAN sub-interface pipework made for it goes with its last user.
    const vlan: Leftover[] = of?.vlanIf !== undefined && view.link(of.vlanIf) !== undefined
      ? [{ what: `VLAN sub-interface ${of.vlanIf}`, name: of.vlanIf, owner: ownerText(of), record: of, live: false, steps: planVlanRemoval(of), locks: changes(lockKey.nic(of.vlanIf)) }]
      : [];
    return [...nics, ...vlan];
  },
};

/**
 * A NIC a dead guest gave back (the kernel returns it under its guest-side name): back under its
 * own name and MAC, from what was kept on the host of it; a VLAN sub-interface pipework made gets
 * its mark back and goes if nothing uses it; then the kept record goes too.
 */
export function planReturnedNic(link: string, record: AttachRecord, key: string): Step[] {
  const orig = record.origName ?? link;
  return [
    {
      title: `rename ${link} back to ${orig} and clear pipework's record`,
      action: { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', link, ...(orig !== link ? ['name', orig] : []), 'alias', record.vlanMade === true ? VLAN_MARK : ''] },
      undo: [],
    },
    ...(record.origMac !== undefined ? [{
      title: `restore the MAC of ${orig} to ${record.origMac}`,
      action: { kind: 'ip' as const, place: 'host' as const, args: ['link', 'set', 'dev', orig, 'address', record.origMac] },
      undo: [],
    }] : []),
    ...(record.vlanMade === true ? planVlanRemoval({ ...record, vlanIf: orig }) : []),
    { title: `forget what was kept of ${orig} on the host`, action: { kind: 'keep', place: 'host', key, text: null }, undo: [] },
  ];
}
