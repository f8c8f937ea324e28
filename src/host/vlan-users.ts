/**
 * Is a VLAN sub-interface still in use? On the host: a port of a bridge, or any upper device.
 * Elsewhere: macvlans in guests' namespaces hang off it but are invisible from the host, so
 * every other network namespace (those of processes, and named ones) is asked once.
 * Only `del` of an interface whose VLAN sub-interface pipework made pays for this.
 */
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import type { Runner } from '../exec/runner.js';
import { inNetns, openNetns } from '../exec/netns.js';
import { VLAN_MARK } from './vlan.js';

function hostUsers(name: string): boolean {
  const dir = `/sys/class/net/${name}`;
  if (existsSync(`${dir}/master`)) return true;
  try {
    return readdirSync(dir).some((e) => e.startsWith('upper_'));
  } catch {
    return false;
  }
}

/** One path per network namespace other than ours. */
function otherNamespaces(): string[] {
  const own = readlinkSync('/proc/self/ns/net');
  const seen = new Set([own]);
  const paths: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/u.test(p))) {
    try {
      const id = readlinkSync(`/proc/${pid}/ns/net`);
      if (!seen.has(id)) {
        seen.add(id);
        paths.push(`/proc/${pid}/ns/net`);
      }
    } catch {
      // gone, or not ours to read
    }
  }
  try {
    for (const n of readdirSync('/var/run/netns')) paths.push(`/var/run/netns/${n}`);
  } catch {
    // no named namespaces
  }
  return paths;
}

/** Keep it unless pipework made it (its alias says so) and nothing uses it any more. */
export async function vlanKept(runner: Runner, name: string): Promise<boolean> {
  let alias: string;
  try {
    alias = readFileSync(`/sys/class/net/${name}/ifalias`, 'utf8').trim();
  } catch {
    return true; // gone already: nothing to remove
  }
  return alias !== VLAN_MARK || vlanInUse(runner, name);
}

export async function vlanInUse(runner: Runner, name: string): Promise<boolean> {
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

