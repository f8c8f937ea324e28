/**
 * A re-apply's quick check: is a link exactly as the file says, judged from the host alone? For a
 * veth on a bridge or OVS bridge, the host end carries the same record as the guest end, so the
 * configuration (host side, addresses, gateways, MAC, VLAN, MTU, impairments), where it is
 * plugged, and whether the guest end is up (the host end's carrier) can all be read from sysfs
 * and one OVS query, without entering the guest. A link that passes is left alone; every other
 * one (and every macvlan, and every DHCP link) goes through the engine, which checks the guest
 * side too. `apply --deep` sends every link through the engine.
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { basename } from 'node:path';
import { guestInfo } from '../../engine/gather.js';
import { wantedRecord } from '../../engine/planner.js';
import type { Guest } from '../../guest/guest.js';
import { readHostLink, type HostLink } from '../../host/facts.js';
import type { OvsPortRow } from '../../host/ovs-facts.js';
import { configOf, type AttachRecord } from '../../model/record.js';
import type { AttachSpec } from '../../spec/attach-spec.js';
import { formatOwner } from '../../spec/owner.js';
import { hasCarrier, type LiveHostEnd } from './live.js';

/** The link's record when it is as the spec says (from the host), or undefined when the engine must look. */
/** The host end's flags (up) and master: two sysfs files and a link. */
function endState(name: string): { up: boolean; master?: string } | undefined {
  const dir = `/sys/class/net/${name}`;
  try {
    const flags = parseInt(readFileSync(`${dir}/flags`, 'utf8'), 16);
    let master: string | undefined;
    try {
      master = basename(readlinkSync(`${dir}/master`));
    } catch {
      // not a port of anything
    }
    return { up: (flags & 1) === 1, ...(master !== undefined && { master }) };
  } catch {
    return undefined;
  }
}

/**
 * `found`: the host end of this guest interface, as live.ts read it (its record decoded); the
 * link is as the spec says when its record has the spec's configuration and owner, and it is
 * plugged and up with its peer up.
 */
export function quickUnchanged(spec: AttachSpec, guest: Guest, ovsPorts: ReadonlyMap<string, OvsPortRow> | undefined, found: LiveHostEnd | undefined,
  links: (name: string) => HostLink | undefined = readHostLink): AttachRecord | undefined {
  const host = spec.host;
  if ((host.kind !== 'bridge' && host.kind !== 'ovs') || spec.addressing.kind !== 'static' || !found) return undefined;
  const info = guestInfo(guest);
  const record = found.record;
  if (record.nsInode !== info.nsInode || record.guestIf !== spec.guestIf || record.owner !== formatOwner(spec.owner)) return undefined;
  if (spec.hostEnd !== undefined && spec.hostEnd !== found.link) return undefined;
  const wanted = wantedRecord(spec, info);
  if (configOf(record) !== configOf(wanted) || (record.impair ?? '') !== (wanted.impair ?? '')) return undefined;
  const link = endState(found.link);
  if (!link?.up || !hasCarrier(found.link)) return undefined;
  if (host.kind === 'bridge') {
    if (link.master !== host.bridge || links(host.bridge)?.up !== true) return undefined;
  } else {
    const row = ovsPorts?.get(found.link);
    if (row?.bridge !== host.bridge || row.tag !== host.vlan) return undefined;
  }
  return { ...record, role: 'guest' };
}
