/**
 * macvlan: a child of a host NIC (or of its 802.1Q sub-interface with a VLAN), created directly
 * inside the guest with its final name — bridge mode by default, as the classic tool made it.
 */
import { NotFoundError } from '../model/errors.js';
import { ownerText, type AttachRecord } from '../model/record.js';
import { hostLink } from './facts.js';
import { GUEST_NETNS, type Step } from '../model/plan.js';
import { featureText, type KernelFeature } from '../host/kernel.js';
import { changes, lockKey, type Driver, type DriverInput, type HostSidePlan } from './driver.js';
import { removeGuestLinkStep } from './veth.js';
import { planNicDown, planVlanIf, planVlanRemoval, upIfDown } from './vlan.js';
import { kernelParent, ownRecord, withoutHostNames } from './confirm.js';
import { vlanIfName } from './names.js';

/** What the kernel must have for this kind. */
export const MACVLAN_DEVICES: KernelFeature = { module: 'macvlan', what: 'macvlan devices' };

export const macvlanDriver: Driver<'macvlan'> = {
  kind: 'macvlan',
  veth: false,
  hostLinks: (host) => [host.parent],
  names: (host) => (host.vlan !== undefined ? { vlanIf: vlanIfName(host.parent, host.vlan) } : {}),

  // The guest's record for what is its own, with the parent read from the kernel: a macvlan the
  // guest made on a link of its own has its parent in the guest.
  confirm(link, own, nsInode, host) {
    const r = link.kind === 'macvlan' ? ownRecord('macvlan', link, own, nsInode) : undefined;
    const parent = r !== undefined ? kernelParent(link, host) : undefined;
    return r !== undefined && parent !== undefined ? { ...withoutHostNames(r), ...parent } : undefined;
  },

  drift(record, live) {
    const parent = record.vlanIf ?? record.hostIf;
    const link = live.link(parent);
    return !link ? [`${parent}, the macvlan's parent, is gone`] : link.up ? [] : [`${parent}, the macvlan's parent, is down`];
  },

  preflight: (host, probe) => (probe.link(host.parent) === undefined ? { missing: `master ${host.parent} does not exist on this host` } : undefined),

  planAdd(input: DriverInput<'macvlan'>): HostSidePlan {
    const { host, facts, spec } = input;
    const nic = hostLink(facts, host.parent);
    if (!nic) throw new NotFoundError(`host interface ${host.parent} does not exist`);
    const mtu = spec.mtu ?? nic.mtu;
    const steps: Step[] = [];
    let parent = host.parent;
    let vlanMade = false;
    const nicUp = upIfDown(host.parent, facts);
    if (host.vlan !== undefined) {
      const vlanIf = input.names.vlanIf!;
      const vlan = planVlanIf(host.parent, vlanIf, host.vlan, nic.mtu, facts);
      steps.push(...vlan.steps, ...nicUp.steps);
      parent = vlanIf;
      vlanMade = vlan.created;
    }
    steps.push({
      title: `create macvlan ${spec.guestIf} on ${parent} in the guest`,
      action: {
        kind: 'ip', place: 'host',
        args: [
          'link', 'add', 'link', parent, 'name', spec.guestIf, 'mtu', String(mtu),
          ...(spec.mac !== undefined ? ['address', spec.mac] : []),
          'netns', GUEST_NETNS, 'type', 'macvlan', 'mode', host.mode,
        ],
      },
      undo: [{ kind: 'ip', place: 'guest', args: ['link', 'del', 'dev', spec.guestIf] }],
      needs: featureText(MACVLAN_DEVICES),
      ...(!vlanMade && { requires: [parent] }),
    });
    const parentUp = host.vlan !== undefined ? upIfDown(parent, facts) : nicUp;
    steps.push(...parentUp.steps);
    return {
      steps,
      warnings: [],
      record: {
        ...(host.vlan !== undefined && { vlanIf: parent }),
        ...(host.mode !== 'bridge' && { mode: host.mode }),
      },
    };
  },

  planDel(record: AttachRecord, guestIf: string) {
    return [
      removeGuestLinkStep(guestIf, record), ...planVlanRemoval(record),
      // What pipework brought up goes down with its last user: an admin's VLAN sub-interface, the NIC.
      ...(record.vlanIf !== undefined ? planNicDown(record.vlanIf) : []), ...planNicDown(record.hostIf),
    ];
  },

  check(input: DriverInput<'macvlan'>) {
    const { host, facts } = input;
    const parent = host.vlan !== undefined ? input.names.vlanIf! : host.parent;
    const link = hostLink(facts, parent);
    if (!link) return [{ what: `${parent}, the macvlan's parent, is gone`, repair: [] }];
    return link.up ? [] : [{ what: `${parent}, the macvlan's parent, is down`, repair: upIfDown(parent, facts).steps }];
  },

  // The NIC (and its VLAN sub-interface) may be brought up, made, or taken down with its last user: alone.
  locks: ({ host, names }) => changes(lockKey.nic(host.parent), host.vlan !== undefined ? lockKey.nic(names.vlanIf!) : undefined),
  locksOf: (record) => changes(lockKey.nic(record.hostIf), record.vlanIf !== undefined ? lockKey.nic(record.vlanIf) : undefined),
  // The macvlan goes with its guest's namespace; what it used on the host stays: the host half of
  // its removal (each step decided when it runs: the VLAN sub-interface, the NIC brought up).
  leftovers(view, of) {
    if (of === undefined) return [];
    const steps = macvlanDriver.planDel(of, of.guestIf).filter((s) => s.action.place === 'host');
    return [{ what: `what ${of.guestIf} in ${of.guest} used on the host`, name: of.vlanIf ?? of.hostIf, owner: ownerText(of), record: of, live: false, steps, locks: macvlanDriver.locksOf(of) }];
  },
};
