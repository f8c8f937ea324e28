/**
 * The one door into a guest's network namespace. A namespace is held as an open file
 * descriptor; children receive it as fd 3 and enter it by path, so a PID that dies and
 * is reused can never redirect our work into another namespace.
 */
import { closeSync, fstatSync, openSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { NotFoundError } from '../model/errors.js';
import { NS_PATH_IN_CHILD } from './runner.js';

export interface NetnsHandle {
  readonly fd: number;
  /** The namespace's inode: equal inodes mean the same namespace. */
  readonly inode: number;
  /** Human label for messages and --dry-run ("docker container c1 (pid 123)"). */
  readonly label: string;
  close(): void;
}

/** Open a network namespace file (`/proc/PID/ns/net`, a netns bind mount, a SandboxKey). */
export function openNetns(path: string, label: string): NetnsHandle {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new NotFoundError(`cannot open the network namespace of ${label} (${path}): ${(err as Error).message}`);
  }
  // A namespace file lives on nsfs: /proc/self/fd/N reads "net:[inode]" when opened through
  // /proc, or the bind mount's path (ip netns, SandboxKey); either way its device is nsfs's.
  const stat = fstatSync(fd);
  const link = readlinkSync(`/proc/self/fd/${fd}`);
  const onNsfs = stat.dev === statSync('/proc/self/ns/net').dev;
  if (!onNsfs || (link.includes(':[') && !link.startsWith('net:['))) {
    closeSync(fd);
    throw new NotFoundError(`${path} is not a network namespace; cannot plumb ${label}`);
  }
  const inode = stat.ino;
  let open = true;
  return {
    fd,
    inode,
    label,
    close() {
      if (open) closeSync(fd);
      open = false;
    },
  };
}

/** The inode of our own network namespace: a guest that is the host is refused. */
export function hostNetnsInode(): number {
  return statSync('/proc/self/ns/net').ino;
}

/** argv that runs `argv` inside the namespace passed to the child as fd 3. */
export function inNetns(argv: readonly string[]): string[] {
  return ['nsenter', `--net=${NS_PATH_IN_CHILD}`, '--', ...argv];
}

/**
 * One path per network namespace other than ours: named ones (/var/run/netns), then those of
 * processes (/proc/PID/ns/net), each namespace once.
 */
export function otherNamespaces(): string[] {
  const seen = new Set([statSync('/proc/self/ns/net').ino]);
  const paths: string[] = [];
  const add = (path: string) => {
    try {
      const ino = statSync(path).ino;
      if (seen.has(ino)) return;
      seen.add(ino);
      paths.push(path);
    } catch {
      // gone, or not ours to read
    }
  };
  try {
    for (const n of readdirSync('/var/run/netns')) add(`/var/run/netns/${n}`);
  } catch {
    // no named namespaces
  }
  for (const pid of readdirSync('/proc')) if (/^\d+$/u.test(pid)) add(`/proc/${pid}/ns/net`);
  return paths;
}
