/**
 * IPoIB (link type 32): a child of the InfiniBand interface, created directly inside the guest,
 * in a partition (pkey). Classic names `<if>.<pid>` / `<if>.<pkey>.<pid>` only ever existed on the
 * host for a moment: ours never appear there.
 */
import { GUEST_NETNS } from '../model/plan.js';
import { InvalidArgumentError, NotFoundError } from '../model/errors.js';
import { hostLink } from './facts.js';
import { featureText, type KernelFeature } from '../host/kernel.js';
import { changes, lockKey, type Driver } from './driver.js';
import { removeGuestLinkStep } from './veth.js';
import { kernelParent, ownRecord, withoutHostNames } from './confirm.js';

/** What the kernel must have for this kind. */
export const IPOIB_DEVICES: KernelFeature = { module: 'ib_ipoib', what: 'IPoIB (IP over InfiniBand) devices' };

export function pkeyHex(pkey: number): string {
  return `0x${pkey.toString(16)}`;
}

export const ipoibDriver: Driver<'ipoib'> = {
  kind: 'ipoib',
  veth: false,
  fixedMac: true,
  hostLinks: (host) => [host.parent],
  defaultGuestIf: 'ib0',
  names: () => ({}),
  confirm(link, own, nsInode, host) {
    const r = link.kind === 'ipoib' ? ownRecord('ipoib', link, own, nsInode) : undefined;
    const parent = r !== undefined ? kernelParent(link, host) : undefined;
    return r !== undefined && parent !== undefined && parent.vlanIf === undefined ? { ...withoutHostNames(r), hostIf: parent.hostIf } : undefined;
  },
  drift: (record, live) => (live.link(record.hostIf) === undefined ? [`${record.hostIf}, the IPoIB parent, is gone`] : []),
  preflight: (host, probe) => (probe.link(host.parent) === undefined ? { missing: `host interface ${host.parent} does not exist` } : undefined),

  planAdd({ spec, host, facts }) {
    if (spec.mac !== undefined) throw new InvalidArgumentError('MACADDR configuration unsupported for IPoIB interfaces');
    if (!hostLink(facts, host.parent)) throw new NotFoundError(`host interface ${host.parent} does not exist`);
    const { pkey } = host;
    return {
      steps: [
        {
          title: `create IPoIB child ${spec.guestIf} of ${host.parent}${pkey !== undefined ? ` (pkey ${pkeyHex(pkey)})` : ''} in the guest`,
          action: {
            kind: 'ip', place: 'host',
            args: [
              'link', 'add', 'link', host.parent, 'name', spec.guestIf, ...(spec.mtu !== undefined ? ['mtu', String(spec.mtu)] : []),
              'netns', GUEST_NETNS, 'type', 'ipoib', ...(pkey !== undefined ? ['pkey', pkeyHex(pkey)] : []),
            ],
          },
          undo: [{ kind: 'ip', place: 'guest', args: ['link', 'del', 'dev', spec.guestIf] }],
          needs: featureText(IPOIB_DEVICES),
        },
        { title: `bring ${host.parent} up`, action: { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', host.parent, 'up'] }, undo: [] },
      ],
      warnings: [],
      record: {},
    };
  },

  planDel: (record, guestIf) => [removeGuestLinkStep(guestIf, record)],
  check: () => [],
  locks: ({ host }) => changes(lockKey.nic(host.parent)),
  locksOf: (record) => changes(lockKey.nic(record.hostIf)),
  // The child goes with its guest's namespace, and nothing of it was ever on the host.
  leftovers: () => [],
};
