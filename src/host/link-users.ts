/**
 * Is a host link still in use (a VLAN sub-interface pipework made, a NIC it brought up)? On the
 * host: a port of a bridge, or any upper device. Elsewhere: macvlans in guests' namespaces hang
 * off it but are invisible from the host, so every other network namespace (those of processes,
 * and named ones) is asked once. Only `del` of such an interface pays for this.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import type { Runner } from '../exec/runner.js';
import { inNetns, openNetns, otherNamespaces } from '../exec/netns.js';
import { VLAN_MARK } from '../model/vlan.js';

function hostUsers(name: string): boolean {
  const dir = `/sys/class/net/${name}`;
  if (existsSync(`${dir}/master`)) return true;
  try {
    return readdirSync(dir).some((e) => e.startsWith('upper_'));
  } catch {
    return false;
  }
}

/** Keep it unless pipework made it (its alias says so) and nothing uses it any more. */
export async function vlanKept(runner: Runner, name: string): Promise<boolean> {
  let alias: string;
  try {
    alias = readFileSync(`/sys/class/net/${name}/ifalias`, 'utf8').trim();
  } catch {
    return true; // gone already: nothing to remove
  }
  return alias !== VLAN_MARK || linkInUse(runner, name);
}

export async function linkInUse(runner: Runner, name: string): Promise<boolean> {
  if (!existsSync(`/sys/class/net/${name}`)) return false;
  if (hostUsers(name)) return true;
  const ifindex = Number(readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8'));
  for (const path of otherNamespaces()) {
    let ns;
    try {
      ns = openNetns(path, path);
    } catch {
      continue;
    }
    try {
      const res = await runner.run(inNetns(['ip', '-json', 'link', 'show']), { nsFd: ns.fd, timeoutMs: 10_000 });
      if (res.code !== 0) continue;
      const links = JSON.parse(res.stdout) as { link_index?: number; link_netnsid?: number }[];
      // A link whose parent is in another namespace carries link_netnsid and the parent's index.
      if (links.some((l) => l.link_netnsid !== undefined && l.link_index === ifindex)) return true;
    } finally {
      ns.close();
    }
  }
  return false;
}

