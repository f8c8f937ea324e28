/**
 * What a dead guest leaves on the host: Open vSwitch rows for ports whose device went with
 * the guest, and --direct-phys NICs the kernel gave back under their guest-side name.
 */
import { existsSync } from 'node:fs';
import type { Runner } from '../exec/runner.js';
import { decodeRecord, type AttachRecord } from '../model/record.js';
import type { Step } from '../plan/types.js';
import { OVS_RUN_DIR, OVS_TIMEOUT } from './ovs-facts.js';

export interface StaleOvsPort {
  port: string;
  bridge: string;
  ids: Record<string, string>;
}

interface OvsJson {
  headings: string[];
  data: unknown[][];
}

/** Pipework's OVS ports whose device no longer exists. */
export async function staleOvsPorts(runner: Runner): Promise<StaleOvsPort[]> {
  if (!existsSync(`${OVS_RUN_DIR}/db.sock`)) return [];
  const res = await runner.run(['ovs-vsctl', OVS_TIMEOUT, '--format=json', '--columns=name,external_ids', 'list', 'Interface'], { timeoutMs: 15_000 });
  if (res.code !== 0) return [];
  return parseStaleOvs(res.stdout, (name) => existsSync(`/sys/class/net/${name}`));
}

export function parseStaleOvs(json: string, deviceExists: (name: string) => boolean): StaleOvsPort[] {
  const table = JSON.parse(json) as OvsJson;
  const out: StaleOvsPort[] = [];
  for (const row of table.data) {
    const name = row[0];
    const map = row[1] as [string, [string, string][]];
    if (typeof name !== 'string' || !Array.isArray(map) || map[0] !== 'map') continue;
    const ids = Object.fromEntries(map[1]);
    const bridge = ids['pipework.bridge'];
    if (ids['pipework.interface'] === undefined || bridge === undefined || deviceExists(name)) continue;
    out.push({ port: name, bridge, ids });
  }
  return out;
}

export interface ReturnedNic {
  /** Its name now (the kernel keeps the guest-side name, or picks devN). */
  link: string;
  record: AttachRecord;
}

interface RawLink {
  ifname: string;
  ifalias?: string;
}

/** Host links carrying a guest-side record: NICs a dead guest gave back. */
export function returnedNics(hostLinks: RawLink[]): ReturnedNic[] {
  return hostLinks.flatMap((l) => {
    const record = decodeRecord(l.ifalias);
    return record?.role === 'guest' && record.hostKind === 'phys' ? [{ link: l.ifname, record }] : [];
  });
}

/** Does a stale entry belong to this guest reference (as the user wrote it, or `kind:name`)? */
export function staleMatches(ref: string | undefined, entry: { record?: AttachRecord; ids?: Record<string, string> }): boolean {
  if (ref === undefined) return true;
  // docker:web, podman:web and pid:123 name the same guest as web and 123 do.
  const guest = ref.replace(/^(docker|podman|lxc|pid|netns):/u, '');
  if (entry.record) return entry.record.guest === ref || entry.record.guest.endsWith(`:${guest}`);
  const ids = entry.ids ?? {};
  const ours = ids['pipework.guest'];
  if (ours !== undefined && (ours === ref || ours.endsWith(`:${guest}`))) return true;
  return ids['pipework.containername'] === `/${guest}` || ids['pipework.containerid']?.startsWith(guest) === true
    || ids['pipework.nspid'] === guest;
}

export function planStaleCleanup(ports: StaleOvsPort[], nics: ReturnedNic[]): Step[] {
  return [
    ...ports.map((p): Step => ({
      title: `remove stale Open vSwitch port ${p.port} from ${p.bridge}`,
      action: { kind: 'exec', place: 'host', argv: ['ovs-vsctl', OVS_TIMEOUT, '--if-exists', 'del-port', p.bridge, p.port] },
      undo: [],
    })),
    ...nics.flatMap((n): Step[] => {
      const orig = n.record.origName ?? n.link;
      return [{
        title: `rename ${n.link} back to ${orig} and clear pipework's record`,
        action: { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', n.link, ...(orig !== n.link ? ['name', orig] : []), 'alias', ''] },
        undo: [],
      }];
    }),
  ];
}
