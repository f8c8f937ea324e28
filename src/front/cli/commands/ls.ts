/**
 * `pipework ls [<guest>|<hostif>] [--owner OWNER] [--json]`: what pipework plumbed — everywhere,
 * in one guest, or on one host interface — with who made it and its live state.
 */
import type { RunContext } from '../../../engine/context.js';
import { guestInfo } from '../../../engine/gather.js';
import { guestEntries, hostEndDrift, inventory, type InventoryEntry } from '../../../engine/inventory.js';
import { readHostLink } from '../../../host/links.js';
import { readOvsPortTable } from '../../../host/ovs-facts.js';
import { parseGuestRef, resolveGuest } from '../../../guest/resolve.js';
import { dhcpLabel, dhcpStatus } from '../../../dhcp/status.js';
import { recordAddresses } from '../../../model/record.js';
import { ownerFilter } from '../../../model/owner.js';
import { NotFoundError } from '../../../model/errors.js';
import type { LsRequest } from '../../classic/request.js';
import { guestJson, printJson, recordJson } from '../../output.js';

const COLUMNS = ['GUEST', 'GUESTIF', 'HOSTIF', 'KIND', 'LOCALIF', 'VLAN', 'ADDRESS', 'GATEWAY', 'MAC', 'OWNER', 'STATE'];

export function stateText(e: InventoryEntry): string {
  return e.drift !== undefined && e.drift.length > 0 ? `${e.state}, DRIFT (${e.drift.join('; ')}; re-run the attach to repair)` : e.state;
}

export function formatTable(entries: InventoryEntry[]): string {
  const rows = entries.map((e) => [
    e.record.guest,
    e.record.guestIf,
    e.record.hostIf,
    e.record.hostKind,
    e.record.localIf ?? '-',
    e.record.vlan !== undefined ? String(e.record.vlan) : '-',
    [...(e.addresses ?? recordAddresses(e.record)), ...[dhcpLabel(e.record)].filter((l) => l !== undefined)].join(',') || '-',
    e.record.gateway ?? '-',
    (e.record.role === 'guest' ? e.mac : undefined) ?? e.record.mac ?? '-',
    e.record.owner ?? 'cli',
    stateText(e),
  ]);
  const widths = COLUMNS.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i]!.length)));
  return [COLUMNS, ...rows].map((r) => r.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n';
}

/** One guest's interfaces (with their host ends' drift) — or, for a NIC --direct-phys moved into a guest, its entries. */
async function guestView(ctx: RunContext, target: string): Promise<{ entries: InventoryEntry[]; guest?: Record<string, unknown> }> {
  let g;
  try {
    g = await resolveGuest(parseGuestRef(target), { runner: ctx.runner });
  } catch (err) {
    // A NIC moved into a guest is no host link any more: found by its name among the records.
    if (!(err instanceof NotFoundError)) throw err;
    const entries = (await inventory(ctx)).filter((e) => e.record.hostIf === target || e.record.origName === target);
    if (entries.length === 0) throw err;
    return { entries };
  }
  try {
    const ports = await readOvsPortTable(ctx.runner);
    const entries = (await guestEntries(ctx, g.ns)).map((e) => {
      const drift = [...(e.drift ?? []), ...hostEndDrift(e.record, ports)];
      return drift.length > 0 ? { ...e, drift } : e;
    });
    return { entries, guest: guestJson(guestInfo(g)) };
  } finally {
    g.ns.close();
  }
}

export async function ls(request: LsRequest, ctx: RunContext): Promise<number> {
  const { target } = request;
  let entries: InventoryEntry[];
  let guest: Record<string, unknown> | undefined;
  if (target === undefined) {
    entries = await inventory(ctx);
  } else if (readHostLink(target) !== undefined) {
    entries = (await inventory(ctx)).filter((e) => e.record.hostIf === target || e.link === target || e.record.localIf === target || e.record.vlanIf === target);
  } else {
    const one = await guestView(ctx, target);
    entries = one.entries;
    guest = one.guest;
  }
  if (request.owner !== undefined) {
    const keep = ownerFilter(request.owner);
    entries = entries.filter((e) => keep(e.record.owner ?? 'cli'));
  }
  if (request.json) {
    printJson({
      command: 'ls',
      ...(guest && { guest }),
      interfaces: entries.map((e) => ({
        ...recordJson(e.record),
        seenOn: e.record.role,
        link: e.link,
        state: e.state,
        ...(e.drift && { drift: e.drift }),
        ...(e.addresses && { addresses: e.addresses }),
        ...(e.mac !== undefined && { currentMac: e.mac }),
        ...(e.record.role === 'guest' && e.record.dhcp !== undefined && { dhcpStatus: dhcpStatus(e.record) }),
      })),
    });
  } else if (entries.length > 0) {
    process.stdout.write(formatTable(entries));
  }
  return 0;
}
