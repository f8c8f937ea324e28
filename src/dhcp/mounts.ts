/**
 * What a DHCP client's private mount namespace keeps of the host's mounts. `unshare --mount`
 * copies every mount there is, among them the bind mounts that hold network namespaces (nsfs):
 * /run/netns/*, /run/docker/netns/*, Podman's and containerd's. A client that stays would keep
 * each of those namespaces — other guests', with their veths and addresses — alive after their
 * owner removed them (Docker unlinks its netns file only a minute later, so the copy outlives
 * `docker rm`). The agent detaches all of them before it starts a client: the client needs none
 * (it runs inside its guest's namespace already).
 */
import { readFileSync } from 'node:fs';
import { processRunner } from '../exec/runner.js';

export interface MountEntry {
  /** Where it is mounted (escapes decoded). */
  point: string;
  fstype: string;
  /** A shared mount: unmounting it (or under it) would reach its peers in other namespaces. */
  shared: boolean;
}

/** The mounts of a /proc/<pid>/mountinfo text. */
export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const dash = line.indexOf(' - ');
    if (dash === -1) continue;
    // id parent major:minor root point options [optional fields…] - fstype source super-options
    const fields = line.slice(0, dash).split(' ');
    const point = fields[4];
    const fstype = line.slice(dash + 3).split(' ')[0];
    if (point === undefined || fstype === undefined) continue;
    out.push({
      // The kernel writes space, tab, newline and backslash as octal escapes.
      point: point.replace(/\\([0-7]{3})/gu, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))),
      fstype,
      shared: fields.slice(6).some((f) => f.startsWith('shared:')),
    });
  }
  return out;
}

/** The mount points of network (and other) namespace files, deepest first, each once. */
export function nsfsMountPoints(mounts: readonly MountEntry[]): string[] {
  return [...new Set(mounts.filter((m) => m.fstype === 'nsfs').map((m) => m.point))].sort((a, b) => b.length - a.length || a.localeCompare(b));
}

/**
 * Detach (lazily) every nsfs mount of the mount namespace we are in. Only in a namespace where no
 * mount is shared — one made with `unshare --propagation private` — since an unmount there would
 * otherwise reach the host's own mounts.
 */
export async function detachNamespaceMounts(): Promise<void> {
  const read = (): MountEntry[] => parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'));
  let mounts = read();
  const shared = mounts.find((m) => m.shared);
  if (shared !== undefined) {
    throw new Error(`refusing to detach namespace mounts: ${shared.point} is a shared mount here (run the client under unshare --mount --propagation private)`);
  }
  // A mount point may hold several mounts stacked: a few rounds take them all.
  for (let round = 0; round < 5; round++) {
    const points = nsfsMountPoints(mounts);
    if (points.length === 0) return;
    await processRunner.run(['umount', '--lazy', '--', ...points], { timeoutMs: 10_000, where: "the client's mount namespace" });
    mounts = read();
  }
  const left = nsfsMountPoints(mounts);
  if (left.length > 0) throw new Error(`could not detach the namespace mounts ${left.join(', ')} from the DHCP client's mount namespace`);
}
