/**
 * Every host kind's driver. The mapped type makes the compiler refuse a kind of
 * src/spec/attach-spec.ts without a driver here.
 */
import type { HostKind } from '../spec/attach-spec.js';
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
