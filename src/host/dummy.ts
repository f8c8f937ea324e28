/** `dummy*`: a dummy interface made directly inside the guest (no host side remains). */
import { NS_PATH_IN_CHILD } from '../exec/runner.js';
import type { Step } from '../plan/types.js';
import { featureText } from './kernel.js';

export function planDummy(guestIf: string, mac: string | undefined): Step[] {
  return [{
    title: `create dummy interface ${guestIf} in the guest`,
    action: {
      kind: 'ip', place: 'host',
      args: ['link', 'add', 'name', guestIf, ...(mac !== undefined ? ['address', mac] : []), 'netns', NS_PATH_IN_CHILD, 'type', 'dummy'],
    },
    undo: [{ kind: 'ip', place: 'guest', args: ['link', 'del', 'dev', guestIf] }],
    needs: featureText('dummy'),
  }];
}
