/**
 * What an attach made, as data: the interfaces (host end, guest interface with its namespace),
 * the addresses with their gateways, the routes and DNS — the shape of a CNI result, which each
 * front door prints its own way.
 */
import type { AttachRecord } from '../model/record.js';
import { recordAddresses } from '../model/record.js';
import type { AttachSpec, DnsSpec } from '../model/attach-spec.js';
import type { GuestInfo } from '../model/guest-info.js';

export interface ResultInterface {
  name: string;
  mac?: string;
  /** On the guest side: where (the guest's label; CNI puts CNI_NETNS here). */
  sandbox?: string;
  mtu?: number;
}

export interface ResultIp {
  /** `address/prefix`. */
  address: string;
  family: 4 | 6;
  gateway?: string;
  /** Index into `interfaces`. */
  interface: number;
}

export interface ResultRoute {
  dst: string;
  gw?: string;
}

export interface AttachResult {
  interfaces: ResultInterface[];
  ips: ResultIp[];
  routes: ResultRoute[];
  dns?: DnsSpec;
}

export function resultOf(spec: AttachSpec, guest: GuestInfo, record: AttachRecord): AttachResult {
  const interfaces: ResultInterface[] = [];
  if (record.localIf !== undefined) interfaces.push({ name: record.localIf });
  const guestIndex = interfaces.length;
  interfaces.push({
    name: spec.guestIf,
    sandbox: guest.label,
    ...(spec.mac !== undefined && { mac: spec.mac }),
    ...(spec.mtu !== undefined && { mtu: spec.mtu }),
  });
  const a = spec.addressing;
  const ips: ResultIp[] = recordAddresses(record).map((address) => {
    const family: 4 | 6 = address.includes(':') ? 6 : 4;
    const gateway = a.kind === 'static' ? (family === 4 ? a.gateway4 : a.gateway6) : undefined;
    return { address, family, interface: guestIndex, ...(gateway !== undefined && { gateway }) };
  });
  const routes: ResultRoute[] = [];
  if (a.kind === 'static') {
    if (a.gateway4 !== undefined) routes.push({ dst: '0.0.0.0/0', gw: a.gateway4 });
    if (a.gateway6 !== undefined) routes.push({ dst: '::/0', gw: a.gateway6 });
    for (const r of a.routes) {
      const dst = r.dst === 'default' ? (r.family === 6 ? '::/0' : '0.0.0.0/0') : r.dst;
      routes.push({ dst, ...(r.gateway !== undefined && { gw: r.gateway }) });
    }
  }
  return { interfaces, ips, routes, ...(spec.dns !== undefined && { dns: spec.dns }) };
}
