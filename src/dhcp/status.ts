/** What `pipework ls` tells about an interface's DHCP client. */
import type { AttachRecord } from '../model/record.js';
import { METHOD_INFO } from './methods.js';
import { processAlive } from '../exec/proc.js';
import { readClient, stateDir, stateKey } from './state.js';

export interface DhcpStatus {
  method: string;
  family: 4 | 6;
  /** The staying client renewing the lease: its PID while it runs. */
  client?: { program: string; pid: number; running: boolean };
}

export function dhcpStatus(record: AttachRecord): DhcpStatus | undefined {
  if (record.dhcp === undefined) return undefined;
  const status: DhcpStatus = { method: record.dhcp, family: record.dhcp6 === true ? 6 : 4 };
  const info = METHOD_INFO[record.dhcp];
  if (info.onHost && info.staying) {
    const rec = readClient(stateDir(stateKey(record.nsInode, record.guestIf)));
    status.client = rec !== undefined
      ? { program: rec.program, pid: rec.pid, running: processAlive(rec.pid, rec.start) }
      : { program: info.program, pid: 0, running: false };
  }
  return status;
}

/** The ADDRESS column's note: dhcp:udhcpc-f (dhcp6:… for DHCPv6). */
export function dhcpLabel(record: AttachRecord): string | undefined {
  return record.dhcp === undefined ? undefined : `${record.dhcp6 === true ? 'dhcp6' : 'dhcp'}:${record.dhcp}`;
}
