/**
 * A re-apply's quick check: is a link exactly as the file says, judged from the host alone? For a
 * veth on a bridge or OVS bridge, the host end carries the same record as the guest end, so the
 * configuration (host side, addresses, gateways, MAC, VLAN, MTU, impairments), where it is
 * plugged, and whether the guest end is up (the host end's carrier) can all be read from sysfs
 * and one OVS query, without entering the guest. A link that passes is left alone; every other
 * one (and every macvlan, and every DHCP link) goes through the engine, which checks the guest
 * side too. `apply --deep` sends every link through the engine.
 */
import { guestInfo } from '../../engine/gather.js';
import { wantedRecord } from '../../engine/planner.js';
import type { Guest } from '../../guest/guest.js';
import { readHostLink, readPortState, type LinkState } from '../../host/links.js';
import type { OvsPortRow } from '../../host/ovs-facts.js';
import { configOf, type AttachRecord } from '../../model/record.js';
import type { AttachSpec } from '../../model/attach-spec.js';
import { formatOwner } from '../../model/owner.js';
import { hostSideDrift, usesVeth } from '../../engine/host-kinds.js';
import type { LiveHostEnd } from './live.js';

/**
 * `found`: the host end of this guest interface, as live.ts read it (its record decoded); the
 * link is as the spec says when its record has the spec's configuration and owner, and it is
 * plugged and up with its peer up.
 */
export function quickUnchanged(spec: AttachSpec, guest: Guest, ovsPorts: ReadonlyMap<string, OvsPortRow> | undefined, found: LiveHostEnd | undefined,
  links: (name: string) => LinkState | undefined = readHostLink): AttachRecord | undefined {
  if (!usesVeth(spec.host.kind) || spec.addressing.kind !== 'static' || !found) return undefined;
  const info = guestInfo(guest);
  const record = found.record;
  if (record.nsInode !== info.nsInode || record.guestIf !== spec.guestIf || record.owner !== formatOwner(spec.owner)) return undefined;
  if (spec.hostEnd !== undefined && spec.hostEnd !== found.link) return undefined;
  const wanted = wantedRecord(spec, info);
  if (configOf(record) !== configOf(wanted) || (record.impair ?? '') !== (wanted.impair ?? '')) return undefined;
  // Its driver's live check of the host side (a port of its bridge, up; an OVS row with its tag),
  // and the guest end up (the host end's carrier).
  const mine: AttachRecord = { ...record, role: 'guest', localIf: found.link };
  // (The host end read as lightly as a drift check allows: a re-apply reads 200 of them.)
  const end = readPortState(found.link);
  if (end?.up !== true || !end.carrier) return undefined;
  // (Rows that were not read count as none: the engine looks.)
  if (hostSideDrift(mine, { link: (n) => (n === found.link ? end : links(n)), ovsPorts: ovsPorts ?? new Map() }).length > 0) return undefined;
  return mine;
}
