/**
 * A plan is a list of steps; each carries its undo. Planning is pure (src/engine/planner.ts);
 * only the executor (src/engine/executor.ts) runs steps.
 */
import type { AttachRecord } from './record.js';

/**
 * Step arguments naming a network namespace: the guest's, and the host's. A plan says which; the
 * executor says how the program it starts reaches each (an fd it hands down), and --dry-run prints
 * the namespace's name.
 */
export const GUEST_NETNS = '{guest-netns}';
export const HOST_NETNS = '{host-netns}';

export type Place = 'host' | 'guest';

/** One `ip` batch line (without the leading `ip`), on the host or inside the guest. */
export interface IpAction {
  kind: 'ip';
  place: Place;
  args: string[];
  /** Skip unless this bridge has no ports left (it may serve other guests): an undo, or a bridge's removal. */
  onlyIfBridgeEmpty?: string;
  /** Skip unless pipework made this VLAN sub-interface and it has no users left, here or in any guest. */
  onlyIfVlanUnused?: string;
  /** Skip unless nothing (a port, an upper device here or in any guest) uses this link any more. */
  onlyIfLinkUnused?: string;
  /** Skip unless a host link has this alternative name (pipework's mark on a NIC it brought up). */
  onlyIfAltName?: string;
  /** Skip unless this host link exists when the step runs (a leftover an earlier step may have taken with it). */
  onlyIfExists?: string;
}

/** Is this an ip step whose going ahead is decided when it runs (a guard), not when it is planned? */
export function decidedWhenRun(action: Action): boolean {
  return action.kind === 'ip'
    && (action.onlyIfBridgeEmpty ?? action.onlyIfVlanUnused ?? action.onlyIfLinkUnused ?? action.onlyIfAltName ?? action.onlyIfExists) !== undefined;
}

/** A whole program run, e.g. arping or a DHCP client. */
export interface ExecAction {
  kind: 'exec';
  place: Place;
  argv: string[];
  /** Do not wait for it and ignore how it ends (the gratuitous ARP is a courtesy). */
  detached?: boolean;
  /** Failed even with exit 0 when stderr matches (ovs-vsctl: "Error detected while setting up"). */
  failOnStderr?: string;
  /** Skip unless this Open vSwitch bridge has no ports left: an undo, or the bridge's removal. */
  onlyIfOvsBridgeEmpty?: string;
  /** Kill it after this long (default 60 s): a DHCP lease is bounded by --dhcp-timeout instead. */
  timeoutMs?: number;
  /** A failure reads "<errorLabel>: <first line of its stderr>" instead of naming the whole argv. */
  errorLabel?: string;
  /** An interrupted run stops it (a DHCP lease wait) instead of waiting for it to end. */
  abortable?: boolean;
  /**
   * Removing what may be gone already (a nat rule a DEL before this one removed): its failure is
   * no failure of the run, and nothing is retried or undone for it.
   */
  mayFail?: boolean;
}

/**
 * A record pipework keeps on the host (src/host/kept-records.ts), written or removed by the
 * executor itself: for an interface that takes nothing of its own the host can read back.
 */
export interface KeepAction {
  kind: 'keep';
  place: 'host';
  key: string;
  /** The file's text; null: remove it. */
  text: string | null;
}

export type Action = IpAction | ExecAction | KeepAction;

export interface Step {
  /** What the step does, in words, for errors and --dry-run. */
  title: string;
  action: Action;
  /** Run in reverse order when a later step fails. Empty: nothing to undo (or cannot be undone). */
  undo: Action[];
  /**
   * Another run may have done this at the same moment (creating a shared bridge or VLAN
   * sub-interface): when the step fails with "File exists" and that link is there as such a
   * device, it counts as done (with no undo).
   * Several plans of one run that hold the same such step run it once.
   */
  raceOk?: { bridgeExists: string } | { vlanExists: string };
  /** It cannot be undone (an interface removed): a failure later must say so. */
  irreversible?: boolean;
  /**
   * A kernel feature this step needs. When the kernel refuses the step as an unknown device
   * type (or an unsupported operation), the error names this instead.
   */
  needs?: string;
  /**
   * Host links that must still exist when it runs (the bridge a port joins): another run may have
   * removed one since the facts were read; the engine then reads them again and plans anew.
   */
  requires?: string[];
}

export type Outcome = 'created' | 'replaced' | 'repaired' | 'unchanged' | 'removed';

export interface Plan {
  /** Who the guest is, for messages. */
  guestLabel: string;
  steps: Step[];
  /** Warnings (data: a front door decides where they go). */
  warnings: string[];
  /** What the plan does overall: `unchanged` plans have no steps (an idempotent re-run). */
  outcome: Outcome;
  /** The configuration an attach records on the interface. */
  record?: AttachRecord;
  /** `repaired`: what had drifted from the configuration and is put right. */
  repairs?: string[];
  /**
   * Of `repairs`, those that are edits, not drift: a setting changed in place because the spec
   * changed it (an impairment), in words (`impairments of eth1: rate 50mbit → 20mbit`).
   */
  edits?: string[];
  /**
   * The host objects its host steps use (shared with other runs) and change (alone), as lock
   * keys (src/engine/lock.ts); undefined: the whole host, alone.
   */
  locks?: HostLocks;
}

export interface HostLocks {
  uses: string[];
  changes: string[];
}

/** Lock keys of host objects (src/engine/lock.ts). */
export const lockKey = {
  bridge: (name: string) => `bridge/${name}`,
  ovs: (name: string) => `ovs/${name}`,
  nic: (name: string) => `nic/${name}`,
  netns: (name: string) => `netns/${name}`,
  vxlan: (name: string) => `vxlan/${name}`,
  /** A veth's host end: made and removed with its guest end, by one run at a time. */
  hostEnd: (name: string) => `link/${name}`,
};

/** The lock keys of several plans' host steps together. */
export function mergeLocks(...all: (HostLocks | undefined)[]): HostLocks {
  return { uses: [...new Set(all.flatMap((l) => l?.uses ?? []))], changes: [...new Set(all.flatMap((l) => l?.changes ?? []))] };
}
