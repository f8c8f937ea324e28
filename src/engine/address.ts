/**
 * Guest side of an attach with static addresses: addresses, link up, gateways, routes.
 * Mirrors the classic order: add the address, drop the old default route, bring the
 * link up, add an on-link host route to an otherwise unreachable gateway, set the default.
 */
import type { GuestRoute } from '../guest/netstate.js';
import { cidrContains, hostPrefix, isLinkLocal, type Family, type StaticAddress } from '../model/address.js';
import type { StaticAddressing } from '../model/attach-spec.js';
import type { Step } from '../model/plan.js';

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

export function defaultRoutes(routes: GuestRoute[], family: Family): GuestRoute[] {
  return routes.filter((r) => r.family === family && r.table === 'main' && r.dst === 'default' && (r.type === undefined || r.type === 'unicast'));
}

/**
 * Is `gateway` on-link for the new interface without help? Only when it is inside one of the
 * new subnets, or an IPv6 link-local address. A route to it through another interface does not
 * count (the classic tool counted it, and the kernel then refused the default route with
 * "Nexthop has invalid gateway"), so such a gateway gets an on-link host route.
 */
export function gatewayOnLink(gateway: string, addresses: StaticAddress | StaticAddress[]): boolean {
  const list = Array.isArray(addresses) ? addresses : [addresses];
  const family: Family = gateway.includes(':') ? 6 : 4;
  if (family === 6 && isLinkLocal(gateway)) return true;
  return list.some((a) => a.family === family && cidrContains(a.cidr, gateway));
}

/** What a default route that `@gateway` replaces is recorded as (model/record.ts `replaced4`). */
export function replacedRouteText(r: GuestRoute): string | undefined {
  if (r.gateway === undefined || r.dev === undefined) return undefined;
  return `${r.gateway}@${r.dev}${r.metric !== undefined && r.metric !== 0 ? `@${r.metric}` : ''}`;
}

/** A recorded default route, as `ip route` arguments (the inverse of replacedRouteText). */
export function replacedRouteArgs(text: string, family: Family): string[] | undefined {
  const [gateway, dev, metric] = text.split('@');
  if (gateway === undefined || gateway === '' || dev === undefined || dev === '') return undefined;
  return [family === 6 ? '::/0' : 'default', 'via', gateway, 'dev', dev, ...(metric !== undefined ? ['metric', metric] : [])];
}

export interface StaticPlan {
  steps: Step[];
  /** The default routes the gateways replace (to put back on del), by family. */
  replaced: { 4?: string; 6?: string };
}

export function planStaticAddress(addressing: StaticAddressing, guestIf: string, routes: GuestRoute[]): StaticPlan {
  const steps: Step[] = [];
  const { addresses } = addressing;
  const replaced: StaticPlan['replaced'] = {};
  const gateways: [Family, string][] = [];
  if (addressing.gateway4 !== undefined) gateways.push([4, addressing.gateway4]);
  if (addressing.gateway6 !== undefined) gateways.push([6, addressing.gateway6]);
  if (addresses.some((a) => a.family === 6)) {
    // Docker and others start guests with IPv6 disabled by default; new links inherit it.
    const dad = addressing.dad !== undefined ? [`net/ipv6/conf/${guestIf}/accept_dad=${addressing.dad ? 1 : 0}`] : [];
    steps.push({
      title: `enable IPv6 on ${guestIf}${addressing.dad === false ? ', without duplicate address detection' : ''}`,
      action: { kind: 'exec', place: 'guest', argv: ['sysctl', '-q', '-w', `net/ipv6/conf/${guestIf}/disable_ipv6=0`, ...dad] },
      undo: [],
    });
  }
  for (const address of addresses) {
    steps.push({
      title: `add address ${address.cidr} to ${guestIf}`,
      action: {
        kind: 'ip',
        place: 'guest',
        args: ['addr', 'add', address.cidr, ...(address.broadcast !== undefined ? ['brd', address.broadcast] : []), 'dev', guestIf],
      },
      undo: [],
    });
  }
  for (const [family] of gateways) {
    const old = defaultRoutes(routes, family);
    const first = old[0] && replacedRouteText(old[0]);
    if (first !== undefined) replaced[family] = first;
    for (const route of old) {
      steps.push({
        title: `remove the guest's IPv${family} default route (${routeSpec(route).join(' ')})`,
        action: { kind: 'ip', place: 'guest', args: ['route', 'del', ...routeSpec(route)] },
        undo: [{ kind: 'ip', place: 'guest', args: ['route', 'add', ...routeSpec(route)] }],
      });
    }
  }
  steps.push({
    title: `bring ${guestIf} up`,
    action: { kind: 'ip', place: 'guest', args: ['link', 'set', 'dev', guestIf, 'up'] },
    undo: [],
  });
  for (const [family, gateway] of gateways) {
    if (!gatewayOnLink(gateway, addresses)) {
      steps.push({
        title: `add an on-link route to gateway ${gateway} via ${guestIf}`,
        action: { kind: 'ip', place: 'guest', args: ['route', 'add', `${gateway}/${hostPrefix(family)}`, 'dev', guestIf] },
        undo: [],
      });
    }
    steps.push({
      title: `set the IPv${family} default route via ${gateway} on ${guestIf}`,
      // ("default" with a gateway: ip takes the family from the gateway.)
      action: { kind: 'ip', place: 'guest', args: ['route', 'replace', 'default', 'via', gateway, 'dev', guestIf] },
      // Explicit, so a restored old default route does not collide with this one.
      undo: [{ kind: 'ip', place: 'guest', args: ['route', 'del', 'default', 'via', gateway, 'dev', guestIf] }],
    });
  }
  for (const route of addressing.routes) {
    const dst = route.dst === 'default' ? (route.family === 6 ? '::/0' : 'default') : route.dst;
    steps.push({
      title: `add route ${dst}${route.gateway !== undefined ? ` via ${route.gateway}` : ''} on ${guestIf}`,
      action: { kind: 'ip', place: 'guest', args: ['route', 'replace', dst, ...(route.gateway !== undefined ? ['via', route.gateway] : []), 'dev', guestIf] },
      undo: [],
    });
  }
  return { steps, replaced };
}
