/**
 * `pipework ls [<guest>|<hostif>] [--json]`: what pipework plumbed, read from the records
 * on the interfaces themselves (host ends on the host, guest ends inside a guest).
 */
import type { LsRequest } from '../cli/request.js';
import { ipJsonBatch } from '../exec/ip.js';
import { processRunner, type Runner } from '../exec/runner.js';
import { resolveGuest } from '../guest/resolve.js';
import { readHostLink } from '../host/facts.js';
import { returnedNics, staleOvsPorts, type StaleOvsPort } from '../host/stale.js';
import { decodeRecord, type AttachRecord } from '../model/record.js';
import { dhcpLabel, dhcpStatus } from '../dhcp/status.js';
import { guestJson, printJson, recordJson } from './output.js';

interface RawLink {
  ifname: string;
  ifalias?: string;
  operstate?: string;
  address?: string;
  addr_info?: { local: string; prefixlen: number }[];
}

export interface LsEntry {
  record: AttachRecord;
  /** The link the record was read from. */
  link: string;
  state: string;
  mac?: string;
  /** Addresses actually on the guest interface (only when listing one guest). */
  addresses?: string[];
}

export function entriesFrom(links: RawLink[], role: 'host' | 'guest'): LsEntry[] {
  return links.flatMap((l) => {
    const record = decodeRecord(l.ifalias);
    if (record?.role !== role) return [];
    const entry: LsEntry = { record, link: l.ifname, state: l.operstate ?? 'UNKNOWN' };
    if (l.address !== undefined) entry.mac = l.address;
    if (l.addr_info) entry.addresses = l.addr_info.filter((a) => !a.local.startsWith('fe80:')).map((a) => `${a.local}/${a.prefixlen}`);
    return [entry];
  });
}

const COLUMNS = ['GUEST', 'GUESTIF', 'HOSTIF', 'KIND', 'LOCALIF', 'VLAN', 'ADDRESS', 'GATEWAY', 'MAC', 'STATE'];

export function formatTable(entries: LsEntry[]): string {
  const rows = entries.map((e) => [
    e.record.guest,
    e.record.guestIf,
    e.record.hostIf,
    e.record.hostKind,
    e.record.localIf ?? '-',
    e.record.vlan !== undefined ? String(e.record.vlan) : '-',
    [...(e.addresses ?? (e.record.address ? [e.record.address] : [])), ...[dhcpLabel(e.record)].filter((l) => l !== undefined)].join(',') || '-',
    e.record.gateway ?? '-',
    e.record.role === 'guest' ? (e.mac ?? '-') : (e.record.mac ?? '-'),
    e.state,
  ]);
  const widths = COLUMNS.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i]!.length)));
  return [COLUMNS, ...rows].map((r) => r.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n';
}

/** A stale OVS row as an entry (it has the classic external-ids, not our record). */
export function staleOvsEntry(p: StaleOvsPort): LsEntry {
  const ids = p.ids;
  const guest = ids['pipework.guest'] ?? ids['pipework.containername']?.replace(/^\//u, '') ?? ids['pipework.containerid']
    ?? (ids['pipework.nspid'] !== undefined ? `pid:${ids['pipework.nspid']}` : '?');
  const record: AttachRecord = { role: 'host', guest, nsInode: 0, guestIf: '?', hostIf: p.bridge, hostKind: 'ovs', localIf: p.port };
  if (ids['pipework.vlan'] !== undefined) record.vlan = Number(ids['pipework.vlan']);
  return { record, link: p.port, state: 'STALE (guest gone; pipework del --stale cleans it)' };
}

/** Everything on the host: live host ends, NICs dead guests gave back, stale OVS rows. */
async function hostEntries(runner: Runner): Promise<LsEntry[]> {
  const [links] = await ipJsonBatch(runner, [['link', 'show']], { where: 'the host' });
  const raw = links as RawLink[];
  return [
    ...entriesFrom(raw, 'host'),
    ...returnedNics(raw).map((n): LsEntry => ({ record: n.record, link: n.link, state: `STALE (given back as ${n.link}; pipework del --stale renames it ${n.record.origName ?? n.link})` })),
    ...(await staleOvsPorts(runner)).map(staleOvsEntry),
  ];
}

export async function ls(request: LsRequest, runner: Runner = processRunner): Promise<number> {
  const { target } = request;
  let entries: LsEntry[];
  let guestInfo: Record<string, unknown> | undefined;
  if (target === undefined) {
    entries = await hostEntries(runner);
  } else if (readHostLink(target) !== undefined) {
    entries = (await hostEntries(runner)).filter((e) => e.record.hostIf === target || e.link === target);
  } else {
    const guest = await resolveGuest(target, { runner });
    try {
      const [links] = await ipJsonBatch(runner, [['addr', 'show']], { ns: guest.ns, where: guest.ns.label });
      entries = entriesFrom(links as RawLink[], 'guest');
      guestInfo = guestJson(guest);
    } finally {
      guest.ns.close();
    }
  }
  if (request.json) {
    printJson({
      command: 'ls',
      ...(guestInfo && { guest: guestInfo }),
      interfaces: entries.map((e) => ({
        ...recordJson(e.record),
        seenOn: e.record.role,
        link: e.link,
        state: e.state,
        ...(e.addresses && { addresses: e.addresses }),
        ...(e.record.role === 'guest' && e.mac !== undefined && { currentMac: e.mac }),
        ...(e.record.role === 'guest' && e.record.dhcp !== undefined && { dhcpStatus: dhcpStatus(e.record) }),
      })),
    });
  } else if (entries.length > 0) {
    process.stdout.write(formatTable(entries));
  }
  return 0;
}
