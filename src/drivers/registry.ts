/**
 * Every host kind's driver. The mapped type makes the compiler refuse a kind of
 * src/model/attach-spec.ts without a driver here.
 */
import type { AttachSpec, HostKind } from '../model/attach-spec.js';
import type { AttachNames, GuestIdentity } from './names.js';
import { bridgeDriver } from './bridge.js';
import type { Driver } from './driver.js';
import { dummyDriver } from './dummy.js';
import { ipoibDriver } from './ipoib.js';
import { macvlanDriver } from './macvlan.js';
import { ovsDriver } from './ovs.js';
import { physDriver } from './phys.js';

const DRIVERS: { readonly [K in HostKind]: Driver<K> } = {
  bridge: bridgeDriver,
  ovs: ovsDriver,
  macvlan: macvlanDriver,
  phys: physDriver,
  ipoib: ipoibDriver,
  dummy: dummyDriver,
};

export function driverFor<K extends HostKind>(kind: K): Driver<K> {
  return DRIVERS[kind];
}

/** Every driver, the veth kinds first (their host side alone proves a guest link theirs). */
export function allDrivers(): Driver<HostKind>[] {
  // (Each driver takes only its own kind's host side: as a list of every kind, their types widen.)
  const all = Object.values(DRIVERS) as unknown as Driver<HostKind>[];
  return [...all.filter((d) => d.veth), ...all.filter((d) => !d.veth)];
}

/** The names an attach uses on the host, derived by its driver from its spec and its guest. */
/** The guest interface's name when none is given: eth1, or the kind's own (ib0 for IPoIB). */
export function defaultGuestIf(kind: HostKind): string {
  return driverFor(kind).defaultGuestIf ?? DEFAULT_GUEST_IF;
}

/** The classic tool's default guest interface. */
export const DEFAULT_GUEST_IF = 'eth1';

/** Every default guest interface name a kind has (a del without -i looks at each). */
export function defaultGuestIfs(): string[] {
  return [...new Set([DEFAULT_GUEST_IF, ...allDrivers().flatMap((d) => (d.defaultGuestIf !== undefined ? [d.defaultGuestIf] : []))])];
}

export function attachNames(spec: AttachSpec, guest: GuestIdentity): AttachNames {
  return driverFor(spec.host.kind).names(spec.host, spec.guestIf, guest, spec.hostEnd);
}
