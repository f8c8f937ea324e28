import type { NetnsHandle } from '../exec/netns.js';

import type { GuestKind } from '../model/attach-spec.js';
export type { GuestKind };

/** A resolved guest: its network namespace is held open for the whole run. */
export interface Guest {
  kind: GuestKind;
  /** The name the user gave, or the runtime's canonical name. */
  name: string;
  /** Container id (Docker/Podman). */
  id?: string;
  /** A process in the guest, when there is one (used in classic interface names). */
  pid?: number;
  ns: NetnsHandle;
}

/** What a runtime found for a name, before its namespace is opened. */
export interface GuestLocation {
  kind: GuestKind;
  name: string;
  id?: string;
  pid?: number;
  /** Path of the namespace file to hold (SandboxKey, /run/netns/X, /proc/PID/ns/net). */
  nsPath: string;
  /** A Docker or Podman container's network mode, as its runtime reports it (HostConfig.NetworkMode). */
  networkMode?: string;
  /** Re-checked after the namespace is opened: false means the PID was recycled meanwhile. */
  stillValid?: () => boolean;
}
