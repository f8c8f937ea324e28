/**
 * Records pipework keeps on the host for interfaces that leave nothing of theirs there: a NIC
 * moved into a guest (--direct-phys) takes its link alias with it, into a namespace whose owner
 * can rewrite it. What it is to be given back as (its name, its MAC, the VLAN sub-interface
 * pipework made for it) is kept in a root-only directory instead (runDir()/records), written
 * before the NIC moves and removed once it is back: one JSON file per guest interface, named by
 * the guest's namespace inode and the interface.
 */
import { closeSync, constants, openSync, readFileSync, readdirSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { privateDir, runDir } from '../exec/private-dir.js';
import { ifNameProblem } from '../model/ifname.js';
import { decodeRecord, encodeRecord, type AttachRecord } from '../model/record.js';

export function keptDir(): string {
  return join(runDir(), 'records');
}

/** The name a guest interface's kept record has (both parts checked: it becomes a file name). */
export function keptKey(nsInode: number, guestIf: string): string {
  if (!Number.isSafeInteger(nsInode) || nsInode <= 0 || ifNameProblem(guestIf) !== undefined) throw new Error(`internal: no kept record for ${nsInode}/${guestIf}`);
  return `${nsInode}-${guestIf}.json`;
}

export interface Kept {
  /** The record as the guest's own would be, with what the host must know to give the NIC back. */
  record: AttachRecord;
  /** The device's MAC once it is in the guest (what was asked, or its own). */
  mac?: string;
}

/** The text a kept record file holds (the record in its alias encoding: one checked decoder). */
export function keptText(k: Kept): string {
  return `${JSON.stringify({ record: encodeRecord({ ...k.record, role: 'host' }), ...(k.mac !== undefined && { mac: k.mac }) })}\n`;
}

function parseKept(text: string): Kept | undefined {
  try {
    const j = JSON.parse(text) as { record?: unknown; mac?: unknown };
    const record = typeof j.record === 'string' ? decodeRecord(j.record) : undefined;
    if (record === undefined || record.hostKind !== 'phys' || (j.mac !== undefined && typeof j.mac !== 'string')) return undefined;
    return { record: { ...record, role: 'guest' }, ...(typeof j.mac === 'string' && { mac: j.mac }) };
  } catch {
    return undefined;
  }
}

/** Write it whole (a reader never sees half of one), in the private directory. */
export function keep(key: string, text: string): void {
  const dir = privateDir(keptDir());
  const tmp = join(dir, `.${key}.tmp`);
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o600);
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, join(dir, key));
}

export function forget(key: string): void {
  try {
    unlinkSync(join(keptDir(), key));
  } catch {
    // gone already
  }
}

/** The kept record of one guest interface, if there is one. */
export function keptRecord(nsInode: number, guestIf: string): Kept | undefined {
  let fd: number;
  try {
    fd = openSync(join(keptDir(), keptKey(nsInode, guestIf)), constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  try {
    const k = parseKept(readFileSync(fd, 'utf8'));
    return k !== undefined && k.record.nsInode === nsInode && k.record.guestIf === guestIf ? k : undefined;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** Every kept record, by key. */
export function allKept(): Map<string, Kept> {
  const out = new Map<string, Kept>();
  let names: string[];
  try {
    names = readdirSync(keptDir());
  } catch {
    return out;
  }
  for (const name of names) {
    const m = /^(\d+)-(.+)\.json$/u.exec(name);
    if (!m) continue;
    const k = keptRecord(Number(m[1]), m[2]!);
    if (k !== undefined) out.set(name, k);
  }
  return out;
}
