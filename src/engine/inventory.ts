/**
 * What pipework plumbed, read from the records on the interfaces themselves and checked against
 * live state: host ends on the host, guest interfaces in every network namespace (macvlans, NICs
 * moved in and dummies have no host end), and what dead guests left behind.
 */
import { ipJsonBatch } from '../exec/ip.js';
import { openNetns, otherNamespaces, type NetnsHandle } from '../exec/netns.js';
import { readHostLink } from '../host/links.js';
import { readOvsPortTable, type OvsPortRow } from '../host/ovs-facts.js';
import { decodeRecord, recordAddresses, type AttachRecord } from '../model/record.js';
import { driverFor } from '../drivers/registry.js';
import type { Leftover } from '../drivers/driver.js';
import { leftoverView, leftoversIn } from './remove.js';
import { parseLinks, type RawGuestLink } from '../guest/netstate.js';
import type { RunContext } from './context.js';
import { confirmedRecord } from './trust.js';
import { mapLimit } from './pool.js';

interface RawLink {
  ifname: string;
  ifalias?: string;
  operstate?: string;
  address?: string;
  addr_info?: { local: string; prefixlen: number; scope?: string }[];
}

export interface InventoryEntry {
  record: AttachRecord;
  /** The link the record was read from. */
  link: string;
  /** Its operational state (UP, DOWN, LOWERLAYERDOWN, …), or STALE (…) for what a dead guest left. */
  state: string;
  /** What differs from the record, live (a host end off its bridge, an address gone). */
  drift?: string[];
  /** The guest interface's MAC now. */
  mac?: string;
  /** Addresses on the guest interface now. */
  addresses?: string[];
}

export function entriesFrom(links: RawLink[], role: 'host' | 'guest'): InventoryEntry[] {
  return links.flatMap((l) => {
    const record = decodeRecord(l.ifalias);
    if (record?.role !== role) return [];
    const entry: InventoryEntry = { record, link: l.ifname, state: l.operstate ?? 'UNKNOWN' };
    if (l.address !== undefined) entry.mac = l.address;
    if (l.addr_info) entry.addresses = l.addr_info.filter((a) => !a.local.startsWith('fe80:') && a.scope !== 'link').map((a) => `${a.local}/${a.prefixlen}`);
    return [entry];
  });
}

/** What a dead guest left (its driver found it), as an entry. */
export function staleEntry(l: Leftover & { record: AttachRecord }): InventoryEntry {
  return { record: l.record, link: l.name, state: `STALE (${l.what}; pipework del --stale cleans it)` };
}

/** A record's host side against the host, live (its driver says what differs); nothing for a host end that is gone. */
export function hostEndDrift(record: AttachRecord, ovsPorts: Map<string, OvsPortRow>): string[] {
  const driver = driverFor(record.hostKind);
  if (driver.veth && (record.localIf === undefined || readHostLink(record.localIf) === undefined)) return [];
  return driver.drift(record, { link: readHostLink, ...(ovsPorts.size > 0 && { ovsPorts }) });
}

/** A guest interface against its record, live: its addresses there. */
export function guestDrift(entry: InventoryEntry): string[] {
  if (entry.record.dhcp !== undefined || entry.addresses === undefined) return [];
  const have = new Set(entry.addresses);
  return recordAddresses(entry.record).filter((a) => !have.has(a)).map((a) => `address ${a} is missing`);
}

/**
 * The pipework interfaces in one guest (its namespace held), with their addresses and MACs now,
 * and their records as the host confirms them (src/engine/trust.ts): what a guest wrote in an
 * alias is not listed as pipework's.
 */
export async function guestEntries(ctx: RunContext, ns: NetnsHandle): Promise<InventoryEntry[]> {
  const [links] = await ipJsonBatch(ctx.runner, [['addr', 'show']], { ns, where: ns.label });
  const raw = links as RawLink[];
  return parseLinks(raw as RawGuestLink[]).flatMap((l, i) => {
    const record = confirmedRecord(l, ns.inode, ctx.cache.hostLinks);
    if (record === undefined) return [];
    const e: InventoryEntry = { record, link: l.name, state: raw[i]?.operstate ?? 'UNKNOWN', ...(l.mac !== undefined && { mac: l.mac }) };
    if (l.addresses !== undefined) e.addresses = l.addresses.filter((a) => !a.startsWith('fe80:'));
    const drift = guestDrift(e);
    return [drift.length > 0 ? { ...e, drift } : e];
  });
}

/** Everything pipework plumbed on this host, in every namespace. */
export async function inventory(ctx: RunContext): Promise<InventoryEntry[]> {
  const [[hostLinks], ovsPorts] = await Promise.all([
    ipJsonBatch(ctx.runner, [['link', 'show']], { where: 'the host' }),
    readOvsPortTable(ctx.runner),
  ]);
  const raw = hostLinks as RawLink[];
  const hostEnds = entriesFrom(raw, 'host');
  const guests = (await mapLimit(otherNamespaces(), ctx.concurrency, async (path) => {
    let ns: NetnsHandle;
    try {
      ns = openNetns(path, path);
    } catch {
      return [];
    }
    try {
      return await guestEntries(ctx, ns).catch(() => []);
    } finally {
      ns.close();
    }
  })).flat();
  // One entry per interface: the guest side, with its host end's state; a host end whose guest
  // side was not found (a namespace we could not enter) stands for it.
  const byHostEnd = new Map(hostEnds.map((e) => [`${e.record.nsInode}/${e.record.guestIf}`, e]));
  const entries: InventoryEntry[] = [];
  for (const g of guests) {
    const host = byHostEnd.get(`${g.record.nsInode}/${g.record.guestIf}`);
    if (host) byHostEnd.delete(`${g.record.nsInode}/${g.record.guestIf}`);
    const drift = [...(g.drift ?? []), ...hostEndDrift(g.record, ovsPorts)];
    entries.push({ ...g, ...(drift.length > 0 ? { drift } : {}) });
  }
  for (const h of byHostEnd.values()) {
    const drift = hostEndDrift(h.record, ovsPorts);
    entries.push({ ...h, ...(drift.length > 0 && { drift }) });
  }
  const stale = leftoversIn(leftoverView(() => raw.map((l) => l.ifname), ovsPorts.size > 0 ? ovsPorts : undefined))
    .filter((l): l is Leftover & { record: AttachRecord } => !l.live && l.record !== undefined && l.steps.length > 0);
  return [...entries, ...stale.map(staleEntry)];
}
