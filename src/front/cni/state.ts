/**
 * What pipework keeps on the host about each CNI attachment, keyed by network, container id and
 * interface name (`<dataDir>/<network>/<container id>/<ifname>.json`): enough for DEL and GC to
 * release IPAM and clean the host side after the netns is gone (a host end, an OVS row, a NIC
 * given back, masquerading rules), and for CHECK to know what ADD asked for.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AttachSpec } from '../../spec/attach-spec.js';
import { Code, CniError } from './protocol.js';
import type { ResultData } from './result.js';

export interface MasqRule {
  family: 4 | 6;
  /** The container's address (POSTROUTING -s). */
  ip: string;
  /** Its subnet (not masqueraded). */
  subnet: string;
}

export interface AttachmentState {
  version: 1;
  network: string;
  containerId: string;
  ifname: string;
  /** CNI_NETNS at ADD, and its inode (a path can be reused by another namespace). */
  netns: string;
  nsInode?: number;
  hostKind: 'bridge' | 'ovs' | 'macvlan' | 'phys';
  /** The bridge, OVS bridge, macvlan master or NIC. */
  hostIf: string;
  hostEnd?: string;
  vlan?: number;
  /** The IPAM plugin that gave the addresses (to release them with). */
  ipam?: string;
  /**
   * The configuration and CNI_ARGS that ADD received, unchanged: GC releases a stale attachment's
   * addresses with them (its own configuration may be of a version the IPAM plugin does not speak).
   */
  ipamConfig?: string;
  cniArgs?: string;
  masq?: { chain: string; comment: string; rules: MasqRule[] };
  /** `ipam`: IPAM gave addresses, the interface is being made; `attached`: ADD finished. */
  phase: 'ipam' | 'attached';
  /** What ADD asked the engine for (CHECK compares live state with it). */
  spec?: AttachSpec;
  result?: ResultData;
  created: string;
}

/**
 * `mkdir -p`, one component at a time. (Node 20's recursive mkdirSync spins forever on a path it
 * cannot make under /proc: a dataDir there would hang the plugin.)
 */
export function makeDirs(dir: string, mode: number): void {
  if (existsSync(dir)) return;
  const parts = dir.split('/').filter((p) => p !== '');
  let path = '';
  for (const part of parts) {
    path += `/${part}`;
    try {
      mkdirSync(path, { mode });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

export function statePath(dataDir: string, network: string, containerId: string, ifname: string): string {
  return join(dataDir, network, containerId, `${ifname}.json`);
}

function ioError(what: string, err: unknown): CniError {
  return new CniError(Code.IoFailure, `${what}: ${(err as Error).message}`);
}

export function readState(dataDir: string, network: string, containerId: string, ifname: string): AttachmentState | undefined {
  let text: string;
  try {
    text = readFileSync(statePath(dataDir, network, containerId, ifname), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw ioError('cannot read pipework\'s record of this attachment', err);
  }
  try {
    const state = JSON.parse(text) as AttachmentState;
    return state.version === 1 ? state : undefined;
  } catch {
    // A torn or foreign file: treated as absent (DEL and GC still clean by the deterministic names).
    return undefined;
  }
}

/** Written whole or not at all (a temporary file renamed over it). */
export function writeState(dataDir: string, state: AttachmentState): void {
  const path = statePath(dataDir, state.network, state.containerId, state.ifname);
  const dir = join(dataDir, state.network, state.containerId);
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    makeDirs(dir, 0o700);
    writeFileSync(tmp, `${JSON.stringify(state)}\n`, { mode: 0o600 });
    renameSync(tmp, path);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // never written
    }
    throw ioError(`cannot write pipework's record of this attachment in ${dir}`, err);
  }
}

export function removeState(dataDir: string, network: string, containerId: string, ifname: string): void {
  try {
    unlinkSync(statePath(dataDir, network, containerId, ifname));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError('cannot remove pipework\'s record of this attachment', err);
  }
  try {
    rmdirSync(join(dataDir, network, containerId));
  } catch {
    // other interfaces of that container are still recorded, or it is gone already
  }
}

/** Every attachment recorded for a network. */
export function listStates(dataDir: string, network: string): AttachmentState[] {
  const root = join(dataDir, network);
  let ids: string[];
  try {
    ids = readdirSync(root);
  } catch {
    return [];
  }
  const out: AttachmentState[] = [];
  for (const id of ids) {
    let files: string[];
    try {
      files = readdirSync(join(root, id));
    } catch {
      continue;
    }
    for (const f of files) {
      if (!f.endsWith('.json')) continue;
      const s = readState(dataDir, network, id, f.slice(0, -'.json'.length));
      if (s && s.containerId === id && s.network === network) out.push(s);
    }
  }
  return out;
}
