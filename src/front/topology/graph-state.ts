/**
 * What every drawing of `pipework graph` says about a network, a guest or a link, in words, and
 * in which state (inspect.ts): shared by the mermaid, dot and HTML outputs so that they agree.
 * Pure: it reads what it is given.
 */
import { recordAddresses } from '../../model/record.js';
import type { Impairment } from '../../model/attach-spec.js';
import type { InspectReport, LinkState, LinkStatus } from './inspect.js';
import type { Link, Network, Topology } from './model.js';

/** Live state by link index, networks and guests present (all unknown when drawn offline). */
export interface GraphState {
  links: Map<number, LinkStatus>;
  networks: Map<string, boolean>;
  guests: Map<string, boolean>;
  /** Why a guest is not there, when inspect said. */
  guestDetails?: Map<string, string>;
}

export function graphState(report: InspectReport | undefined): GraphState {
  return {
    links: new Map(report?.links.map((l) => [l.link.index, l]) ?? []),
    networks: new Map(report?.networks.map((n) => [n.key, n.present]) ?? []),
    guests: new Map(report?.guests.map((g) => [g.key, g.present]) ?? []),
    guestDetails: new Map(report?.guests.flatMap((g) => (g.detail !== undefined ? [[g.key, g.detail] as const] : [])) ?? []),
  };
}

export const COLOURS: Record<LinkState, { stroke: string; fill: string }> = {
  ok: { stroke: '#2e7d32', fill: '#e3f4e4' },
  drift: { stroke: '#e65100', fill: '#fff0dc' },
  missing: { stroke: '#c62828', fill: '#fde4e4' },
  unknown: { stroke: '#757575', fill: '#f0f0f0' },
};

export function presence(v: boolean | undefined): LinkState {
  return v === undefined ? 'unknown' : v ? 'ok' : 'missing';
}

export function linkState(state: GraphState, link: Link): LinkState {
  return state.links.get(link.index)?.status ?? 'unknown';
}

const WORST: LinkState[] = ['ok', 'unknown', 'drift', 'missing'];

const byGuest = new WeakMap<Topology, Map<string, Link[]>>();

/** A guest's links, in the file's order (indexed once per topology: thousands of guests). */
export function linksOf(topology: Topology, guest: string): Link[] {
  let index = byGuest.get(topology);
  if (!index) {
    index = new Map();
    for (const l of topology.links) (index.get(l.guest) ?? index.set(l.guest, []).get(l.guest)!).push(l);
    byGuest.set(topology, index);
  }
  return index.get(guest) ?? [];
}

/**
 * A guest is as well as its worst part: missing when it is not there, else the worst of its
 * links (a guest with one link missing is not drawn green). Unknown when nothing is known.
 */
export function guestState(topology: Topology, state: GraphState, key: string): LinkState {
  const own = presence(state.guests.get(key));
  if (own === 'missing') return 'missing';
  const mine = linksOf(topology, key).map((l) => linkState(state, l));
  if (mine.length === 0) return own;
  return mine.reduce((a, b) => (WORST.indexOf(b) > WORST.indexOf(a) ? b : a));
}

export function networkText(n: Network): string {
  return `${n.kind} ${n.device}${n.vlan !== undefined ? ` vlan ${n.vlan}` : ''}${n.external ? ' (external)' : ''}`;
}

export function guestText(topology: Topology, key: string): string {
  const g = topology.guests.get(key)!;
  return g.kind === 'netns' ? `netns ${g.netns}` : g.kind === 'image' ? `${g.runtime} ${g.container} (${g.image})` : `container ${g.text}`;
}

/** How a link is addressed, said once: `dhcp`, `dhcp (udhcpc)`. */
function dhcpText(link: Link): string {
  return link.addressing.kind === 'dhcp' ? (link.addressing.method === 'dhcp' ? 'dhcp' : `dhcp (${link.addressing.method})`) : '';
}

/** A link's addresses: the ones it has live (an `auto` link's is the one it got), else the file's. */
export interface LinkAddresses {
  /** What to show: live addresses when known, else the file's (`auto` while it has none yet). */
  shown: string[];
  /** How it is addressed, when by DHCP: `dhcp`, `dhcp (udhcpc)`. */
  dhcp?: string;
  /** What the guest interface carries now, when that differs from `shown`. */
  now?: string[];
}

export function linkAddresses(link: Link, status: LinkStatus | undefined): LinkAddresses {
  const a = link.addressing;
  const given = status?.record ? recordAddresses(status.record) : undefined;
  const now = status?.addresses;
  if (a.kind === 'dhcp') {
    const leased = now ?? given ?? [];
    return { shown: leased, dhcp: dhcpText(link) };
  }
  const file = [...a.addresses.map((x) => x.cidr), ...(a.auto ? ['auto'] : [])];
  // The record says what the link was given (an auto link's address, kept); the interface may
  // carry less or more after a change by hand.
  const shown = given !== undefined && given.length > 0 ? given : now !== undefined && now.length > 0 && status?.status === 'ok' ? now : file;
  const differs = now !== undefined && status?.status === 'drift' && (now.length !== shown.length || now.some((x) => !shown.includes(x)));
  return { shown, ...(differs && { now }) };
}

/** What a link's line says: interface, addresses (live ones when known) or how DHCP gets one, VLAN. */
export function linkLabel(link: Link, status: LinkStatus | undefined): string[] {
  const { shown, dhcp, now } = linkAddresses(link, status);
  const addresses = dhcp !== undefined ? (shown.length > 0 ? [...shown, `(${dhcp})`] : [dhcp]) : shown;
  return [
    link.ifname, ...addresses,
    ...(now !== undefined ? [`(now ${now.length > 0 ? now.join(' ') : 'none'})`] : []),
    ...(link.vlan !== undefined ? [`vlan ${link.vlan}`] : []),
  ];
}

function rateText(bps: number): string {
  for (const [unit, n] of [['gbit', 1e9], ['mbit', 1e6], ['kbit', 1e3]] as const) if (bps >= n && bps % n === 0) return `${bps / n}${unit}`;
  return `${bps}bit`;
}

/** Impairments in the file's words: `delay 20ms, jitter 5ms, loss 1%, rate 10mbit`. */
export function impairWords(i: Impairment | undefined): string | undefined {
  if (!i) return undefined;
  const parts = [
    ...(i.delayMs !== undefined ? [`delay ${i.delayMs}ms`] : []),
    ...(i.jitterMs !== undefined ? [`jitter ${i.jitterMs}ms`] : []),
    ...(i.lossPercent !== undefined ? [`loss ${i.lossPercent}%`] : []),
    ...(i.rateBps !== undefined ? [`rate ${rateText(i.rateBps)}`] : []),
  ];
  return parts.length > 0 ? parts.join(', ') : undefined;
}

/** Everything about a link, as name/value pairs (the HTML page's hover and side panel). */
export function linkFacts(link: Link, network: Network | undefined, status: LinkStatus | undefined, s: LinkState): [string, string][] {
  const a = link.addressing;
  const addr = linkAddresses(link, status);
  const file = a.kind === 'dhcp' ? addr.dhcp! : [...a.addresses.map((x) => x.cidr), ...(a.auto ? ['auto'] : [])].join(' ') || 'none';
  const gateways = a.kind === 'static' ? [a.gateway4, a.gateway6].filter((g): g is string => g !== undefined) : [];
  const recorded = status?.record;
  const mtu = link.mtu ?? recorded?.mtu;
  const impair = impairWords(link.impair);
  return [
    ['link', `${link.guest}:${link.ifname}`],
    ['network', network ? `${network.key} (${networkText(network)})` : link.network],
    ['state', s],
    ...(status && status.details.length > 0 ? [['detail', status.details.join('; ')] as [string, string]] : []),
    ['address (file)', file],
    ['address (live)', addr.shown.length > 0 && (status?.record !== undefined || status?.addresses !== undefined) ? addr.shown.join(' ') : 'unknown'],
    ...(addr.now !== undefined ? [['on the interface now', addr.now.join(' ') || 'none'] as [string, string]] : []),
    ['gateway', gateways.join(' ') || (recorded?.gateway ?? 'none')],
    ['MAC', link.mac ?? recorded?.mac ?? 'chosen by the kernel'],
    ['MTU', mtu !== undefined ? String(mtu) : 'the network\'s'],
    ['VLAN', link.vlan !== undefined ? String(link.vlan) : 'none'],
    ['impairments', impair ?? 'none'],
    ['file', `links[${link.index}] at line ${link.at.line}`],
  ];
}
