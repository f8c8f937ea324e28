/**
 * Guest side of an attach with a static address: address, link up, gateway.
 * Mirrors the classic order: add the address, drop the old default route, bring the
 * link up, add an on-link host route to an otherwise unreachable gateway, set the default.
 */
import type { GuestFacts, GuestRoute } from '../guest/facts.js';
import { cidrContains, hostPrefix, isLinkLocal, type AddressSpec, type Family, type StaticAddress } from '../model/address.js';
import type { Step } from './types.js';

export function routeSpec(r: GuestRoute): string[] {
  // Without a gateway, ip reads "default" as IPv4: spell the IPv6 default out.
  const dst = r.family === 6 && r.dst === 'default' ? '::/0' : r.dst;
  return [
    dst,
    ...(r.gateway !== undefined ? ['via', r.gateway] : []),
    ...(r.dev !== undefined ? ['dev', r.dev] : []),
    ...(r.protocol !== undefined && r.protocol !== 'boot' ? ['proto', r.protocol] : []),
    ...(r.metric !== undefined && r.metric !== 0 ? ['metric', String(r.metric)] : []),
  ];
}

function defaultRoutes(routes: GuestRoute[], family: Family): GuestRoute[] {
  return routes.filter((r) => r.family === family && r.table === 'main' && r.dst === 'default' && (r.type === undefined || r.type === 'unicast'));
}

/**
 * Is `gateway` on-link for the new interface without help? Only when it is inside the new
 * subnet, or an IPv6 link-local address. A route to it through another interface does not
 * count (the classic tool counted it, and the kernel then refused the default route with
 * "Nexthop has invalid gateway"), so such a gateway gets an on-link host route.
 */
export function gatewayOnLink(gateway: string, address: StaticAddress): boolean {
  if (address.family === 6 && isLinkLocal(gateway)) return true;
  return cidrContains(address.cidr, gateway);
}

export function planStaticAddress(spec: AddressSpec, guestIf: string, facts: GuestFacts): Step[] {
  const steps: Step[] = [];
  const { address, gateway } = spec;
  if (address?.family === 6) {
    // Docker and others start guests with IPv6 disabled by default; new links inherit it.
    steps.push({
      title: `enable IPv6 on ${guestIf}`,
      action: { kind: 'exec', place: 'guest', argv: ['sysctl', '-q', '-w', `net/ipv6/conf/${guestIf}/disable_ipv6=0`] },
      undo: [],
    });
  }
  if (address) {
    steps.push({
      title: `add address ${address.cidr} to ${guestIf}`,
      action: {
        kind: 'ip',
        place: 'guest',
        args: ['addr', 'add', address.cidr, ...(address.broadcast ? ['brd', address.broadcast] : []), 'dev', guestIf],
      },
      undo: [],
    });
  }
  if (address && gateway) {
    for (const old of defaultRoutes(facts.routes, address.family)) {
      steps.push({
        title: `remove the guest's IPv${address.family} default route (${routeSpec(old).join(' ')})`,
        action: { kind: 'ip', place: 'guest', args: ['route', 'del', ...routeSpec(old)] },
        undo: [{ kind: 'ip', place: 'guest', args: ['route', 'add', ...routeSpec(old)] }],
      });
    }
  }
  steps.push({
    title: `bring ${guestIf} up`,
    action: { kind: 'ip', place: 'guest', args: ['link', 'set', 'dev', guestIf, 'up'] },
    undo: [],
  });
  if (address && gateway) {
    if (!gatewayOnLink(gateway, address)) {
      steps.push({
        title: `add an on-link route to gateway ${gateway} via ${guestIf}`,
        action: { kind: 'ip', place: 'guest', args: ['route', 'add', `${gateway}/${hostPrefix(address.family)}`, 'dev', guestIf] },
        undo: [],
      });
    }
    steps.push({
      title: `set the IPv${address.family} default route via ${gateway} on ${guestIf}`,
      action: { kind: 'ip', place: 'guest', args: ['route', 'replace', 'default', 'via', gateway, 'dev', guestIf] },
      // Explicit, so a restored old default route does not collide with this one.
      undo: [{ kind: 'ip', place: 'guest', args: ['route', 'del', 'default', 'via', gateway, 'dev', guestIf] }],
    });
  }
  return steps;
}
