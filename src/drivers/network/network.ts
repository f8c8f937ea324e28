/**
 * Network-level host objects — a Linux bridge, an Open vSwitch bridge, a VXLAN device — are
 * drivers of their own, one module each (bridge.ts, ovs-bridge.ts, vxlan.ts), used by every front
 * door that makes one (the classic line's `br*`/`ovs*`, a CNI network, a topology network):
 *   - create: the steps that make it, with its MTU and pipework's owner mark, tolerant of another
 *     run making it at the same moment;
 *   - check: the live object against what is wanted (drifts, each with its repair);
 *   - remove: only what is ours, only when nothing else uses it.
 * Pure, like every driver: they read only the facts they are given. Front doors reach them through
 * src/engine/networks.ts.
 */
import type { Step } from '../../model/plan.js';
import type { Drift } from '../driver.js';

/** A network object, live, against what is wanted. */
export interface NetworkCheck {
  /** It exists as something else (a link that is no bridge): nothing here can put that right. */
  problem?: string;
  /** What differs, each with its repair (missing: the create steps). */
  drifts: Drift[];
  /** Notes the repairs come with (a userspace datapath). */
  warnings?: string[];
}

/** What removing a network object comes to. */
export type NetworkRemoval =
  /** Not there (any more): nothing to do. */
  | { outcome: 'gone' }
  /** Ours and unused: these steps remove it. */
  | { outcome: 'remove'; steps: Step[] }
  /** Shared with other owners: only this one's name leaves its mark (`steps`). */
  | { outcome: 'leave'; steps: Step[]; why: string }
  /** It stays (not ours, or something else is plugged in): why. */
  | { outcome: 'keep'; why: string };
