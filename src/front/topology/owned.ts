/**
 * The containers a topology started, by id: the proof that apply may adopt one and destroy may
 * remove it. The label `pipework-topology=NAME` they also carry proves nothing — an image can
 * carry it, and anyone who starts a container can set it.
 *
 * Kept in /var/lib/pipework/topology/<name>.containers.json, not with the rest of the state in
 * /run: containers outlive a reboot (stopped), so their record must too, or a later apply would
 * refuse the topology's own containers and destroy would leave them. Root's directory (0700),
 * written whole through a rename; an entry that is not a runtime and a full id is not trusted.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';

export const OWNED_DIR = '/var/lib/pipework/topology';

export interface OwnedContainer {
  runtime: 'docker' | 'podman';
  /** The full id (64 hex digits). */
  id: string;
  /** Its name when apply made it (for messages: the id is what counts). */
  name: string;
  /** The guest key it was made for. */
  guest: string;
}

export function ownedPath(topology: string, dir = OWNED_DIR): string {
  return `${dir}/${topology}.containers.json`;
}

function valid(c: unknown): c is OwnedContainer {
  if (typeof c !== 'object' || c === null) return false;
  const o = c as Record<string, unknown>;
  return (o['runtime'] === 'docker' || o['runtime'] === 'podman') && typeof o['id'] === 'string' && /^[0-9a-f]{64}$/u.test(o['id'])
    && typeof o['name'] === 'string' && typeof o['guest'] === 'string';
}

export function readOwned(topology: string, dir = OWNED_DIR): OwnedContainer[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(ownedPath(topology, dir), 'utf8'));
  } catch {
    return [];
  }
  const list = (parsed as { containers?: unknown } | null)?.containers;
  return Array.isArray(list) ? list.filter(valid).map((c) => ({ runtime: c.runtime, id: c.id, name: c.name, guest: c.guest })) : [];
}

function write(topology: string, list: OwnedContainer[], dir: string): void {
  if (list.length === 0) {
    rmSync(ownedPath(topology, dir), { force: true });
    return;
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${ownedPath(topology, dir)}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ version: 1, containers: list }, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, ownedPath(topology, dir));
}

/** Add containers apply just made (at once: a crash afterwards must not orphan them). */
export function recordOwned(topology: string, made: readonly OwnedContainer[], dir = OWNED_DIR): void {
  const list = readOwned(topology, dir);
  for (const c of made) if (!list.some((x) => x.runtime === c.runtime && x.id === c.id)) list.push({ ...c });
  write(topology, list, dir);
}

/** Forget these ids (removed, or gone), or (undefined) the whole record. */
export function forgetOwned(topology: string, ids: readonly string[] | undefined, dir = OWNED_DIR): void {
  write(topology, ids === undefined ? [] : readOwned(topology, dir).filter((c) => !ids.includes(c.id)), dir);
}
