/** `dummy*`: a dummy interface made directly inside the guest (no host side remains). */
import { GUEST_NETNS } from '../model/plan.js';
import { featureText, type KernelFeature } from '../host/kernel.js';
import { changes, type Driver } from './driver.js';
import { removeGuestLinkStep } from './veth.js';
import { ownRecord, withoutHostNames } from './confirm.js';

/** What the kernel must have for this kind. */
export const DUMMY_DEVICES: KernelFeature = { module: 'dummy', what: 'dummy devices' };

export const dummyDriver: Driver<'dummy'> = {
  kind: 'dummy',
  veth: false,
  hostLinks: () => [],
  names: () => ({}),
  // Nothing of it is on the host: the guest's own record, with no host name in it.
  confirm(link, own, nsInode) {
    const r = link.kind === 'dummy' ? ownRecord('dummy', link, own, nsInode) : undefined;
    return r !== undefined ? withoutHostNames(r) : undefined;
  },
  drift: () => [],
  preflight: () => undefined,

  planAdd({ spec }) {
    return {
      steps: [{
        title: `create dummy interface ${spec.guestIf} in the guest`,
        action: {
          kind: 'ip', place: 'host',
          args: [
            'link', 'add', 'name', spec.guestIf, ...(spec.mac !== undefined ? ['address', spec.mac] : []),
            ...(spec.mtu !== undefined ? ['mtu', String(spec.mtu)] : []), 'netns', GUEST_NETNS, 'type', 'dummy',
          ],
        },
        undo: [{ kind: 'ip', place: 'guest', args: ['link', 'del', 'dev', spec.guestIf] }],
        needs: featureText(DUMMY_DEVICES),
      }],
      warnings: [],
      record: {},
    };
  },

  planDel: (record, guestIf) => [removeGuestLinkStep(guestIf, record)],
  check: () => [],
  // Nothing of it is on the host.
  locks: () => changes(),
  locksOf: () => changes(),
  leftovers: () => [],
};
