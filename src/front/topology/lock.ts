/**
 * What apply and destroy hold while they run: the topology, and the Linux bridges it may make,
 * share or leave.
 */
import type { RunContext } from '../../engine/context.js';
import { acquire, describeKey } from '../../engine/lock.js';
import { lockKey } from '../../model/plan.js';
import type { Topology } from './model.js';

/**
 * Hold the topology, and the Linux bridges it may make or share: two runs on one topology never
 * interleave, and two topologies sharing a bridge take turns on it (making it, marking it as
 * theirs, leaving it) — all taken at once, in one order, so no two runs wait on each other.
 */
export function lockTopology(name: string, bridges: Iterable<string>, ctx: RunContext): Promise<{ release(): void }> {
  return acquire([`topology/${name}`, ...[...bridges].map(lockKey.bridge)], {
    signal: ctx.signal, purpose: ctx.purpose, held: ctx.held, ...(ctx.onWait && { onWait: ctx.onWait }),
    what: describeKey,
  });
}

/** The Linux bridges a file may make or share (not its external ones). */
export function ownBridges(topology: Topology): string[] {
  return [...topology.networks.values()].filter((n) => n.kind === 'bridge' && !n.external).map((n) => n.device);
}
