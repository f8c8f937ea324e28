/**
 * The watcher's translator, its last word: a label's attach spec narrowed to what a container
 * may ask of root (SPEC part H). The guest must own its network namespace alone (the guest
 * resolver refuses one that joined another's, or that another container holds); an operator's
 * Linux bridge keeps its settings (the bridge driver refuses a VLAN there rather than turn VLAN
 * filtering on); an Open vSwitch port is an access port, so a label served untagged cannot tag
 * its frames into the bridge's VLANs; the `dhcp` method's helper image is the watcher's own
 * option, never the label's. Pure: the rest of the engine acts on what the spec says, whichever
 * door it came from.
 */
import type { AttachSpec } from '../../model/attach-spec.js';

export interface NarrowOptions {
  /** The watcher's --dhcp-image (undefined: the default image). */
  dhcpImage?: string;
}

export function narrowSpec(spec: AttachSpec, opts: NarrowOptions): AttachSpec {
  // asks.ts names the guest `docker:<id>` or `podman:<id>`, always.
  if (spec.guest.kind !== 'docker' && spec.guest.kind !== 'podman') throw new Error(`internal: a label's guest is a container, not ${spec.guest.kind}`);
  const guest = { ...spec.guest, exclusive: true };
  const host = spec.host.kind === 'bridge' ? { ...spec.host, keepSettings: true }
    : spec.host.kind === 'ovs' ? { ...spec.host, accessOnly: true } : spec.host;
  let addressing = spec.addressing;
  if (addressing.kind === 'dhcp') {
    const { image: _ignored, ...rest } = addressing;
    addressing = addressing.method === 'dhcp' && opts.dhcpImage !== undefined ? { ...rest, image: opts.dhcpImage } : rest;
  }
  return { ...spec, guest, host, addressing };
}
