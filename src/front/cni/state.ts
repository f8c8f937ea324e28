/**
 * What pipework keeps on the host about each CNI attachment, keyed by network, container id and
 * interface name (`<dataDir>/<network>/<container id>/<ifname>.json`): enough for DEL and GC to
 * release IPAM and clean the host side after the netns is gone (a host end, an OVS row, a NIC
 * given back, masquerading rules), and for CHECK to know what ADD asked for.
 *
 * Root writes and deletes here on behalf of a configuration's author, so the way is checked
 * every time: `dataDir` (the default or one the operator allows, see config.ts) must be somewhere
 * only root can change (root-only.ts); below it, each name is checked before it becomes a path
 * component (the CNI spec's network names and container ids, interface names), every directory
 * is a real one of root's (lstat: a symbolic link is refused, never followed), a record is opened
 * with O_NOFOLLOW and must be a regular file, and what a record says about itself must match
 * where it was found. What GC lists back from disk goes through the same checks.
 */
import {
  closeSync, constants, existsSync, fstatSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmdirSync, unlinkSync, writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { isCidrText, isIpText } from '../../model/address.js';
import { ifNameProblem } from '../../model/ifname.js';
import { decodeRecord, encodeRecord, type AttachRecord } from '../../model/record.js';
import { vlanIfName } from '../../engine/host-kinds.js';
import { masqChain, masqComment, type Masq } from '../../engine/networks.js';
import { formatOwner } from '../../model/owner.js';
import { ownerOf } from './spec.js';
import type { AttachSpec } from '../../model/attach-spec.js';
import { networkNameProblem } from './config.js';
import { Code, CniError, containerIdProblem } from './protocol.js';
import type { ResultData } from './result.js';
import { rootOnlyProblem } from '../../exec/root-only.js';

export interface AttachmentState {
  /** 3: its masquerading chain is the interface's own (2: the container's on the network; 1 is read as 2). */
  version: 2 | 3;
  network: string;
  containerId: string;
  ifname: string;
  /** CNI_NETNS at ADD (the record's nsInode is the namespace it was: a path can be reused). */
  netns: string;
  /**
   * What the attachment is — before the engine made it, what it is to be — as the record every
   * front door keeps (src/model/record.ts): the host kind, its host objects, the owner. Written
   * to the file in the record's own encoding and read back through its one checked decoder.
   */
  record: AttachRecord;
  /** The IPAM plugin that gave the addresses (to release them with). */
  ipam?: string;
  /**
   * The configuration and CNI_ARGS that ADD received, unchanged: GC releases a stale attachment's
   * addresses with them (its own configuration may be of a version the IPAM plugin does not speak).
   */
  ipamConfig?: string;
  cniArgs?: string;
  masq?: Masq;
  /**
   * `ipam`: ADD is under way — the interface, IPAM's addresses, either may be there already (the
   * interface comes first); `attached`: ADD finished.
   */
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

export interface RecordKey {
  network: string;
  containerId: string;
  ifname: string;
}

/** Why these cannot name a record (each becomes a path component), or undefined. */
export function recordKeyProblem(k: Partial<RecordKey>): string | undefined {
  if (k.network !== undefined) {
    const p = networkNameProblem(k.network);
    if (p !== undefined) return `invalid network name '${k.network}': ${p}`;
  }
  if (k.containerId !== undefined) {
    const p = containerIdProblem(k.containerId);
    if (p !== undefined) return `invalid container id '${k.containerId}': ${p}`;
  }
  if (k.ifname !== undefined) {
    const p = ifNameProblem(k.ifname);
    if (p !== undefined) return `invalid interface name '${k.ifname}': an interface name ${p}`;
  }
  return undefined;
}

function checkKey(k: Partial<RecordKey>): void {
  const problem = recordKeyProblem(k);
  if (problem !== undefined) throw new CniError(k.network !== undefined && networkNameProblem(k.network) !== undefined ? Code.InvalidConfig : Code.InvalidEnvironment, problem);
}

/** The four kinds records of version 1 knew (they named them in fields of their own). */
const V1_KINDS = new Set(['bridge', 'ovs', 'macvlan', 'phys']);

/** Its masquerading, checked: the chain and comment of this attachment as its version names them. */
function masqProblem(m: unknown, key: RecordKey, version: 1 | 2 | 3): string | undefined {
  if (m === undefined) return undefined;
  if (typeof m !== 'object' || m === null) return 'its masq is not this attachment\'s chain';
  const x = m as { chain?: unknown; comment?: unknown; rules?: unknown };
  const ifname = version === 3 ? key.ifname : undefined;
  if (x.chain !== masqChain(key.network, key.containerId, ifname) || x.comment !== masqComment(key.network, key.containerId, ifname)) {
    return 'its masq is not this attachment\'s chain';
  }
  if (!Array.isArray(x.rules) || !(x.rules as unknown[]).every((r) => {
    const q = r as { family?: unknown; ip?: unknown; subnet?: unknown } | null;
    return typeof q === 'object' && q !== null && (q.family === 4 || q.family === 6) && typeof q.ip === 'string' && isIpText(q.ip)
      && typeof q.subnet === 'string' && isCidrText(q.subnet);
  })) {
    return 'its masq rules are not addresses and subnets';
  }
  return undefined;
}

/** A record of version 1, as the record it would be now (the owner its key implies). */
function fromV1(r: Partial<Record<string, unknown>>, key: RecordKey): AttachRecord | string {
  if (typeof r['hostKind'] !== 'string' || !V1_KINDS.has(r['hostKind'])) return `unknown hostKind ${JSON.stringify(r['hostKind'])}`;
  const kind = r['hostKind'] as 'bridge' | 'ovs' | 'macvlan' | 'phys';
  for (const k of ['hostIf', 'hostEnd']) {
    const v = r[k];
    if (v === undefined && k === 'hostEnd') continue;
    if (typeof v !== 'string' || ifNameProblem(v) !== undefined) return `its ${k} ${JSON.stringify(v)} is not an interface name`;
  }
  const vlan = r['vlan'];
  if (vlan !== undefined && (typeof vlan !== 'number' || !Number.isInteger(vlan) || vlan < 1 || vlan > 4094)) return `its vlan ${JSON.stringify(vlan)} is not a VLAN id`;
  const ino = r['nsInode'];
  if (ino !== undefined && (typeof ino !== 'number' || !Number.isSafeInteger(ino) || ino < 0)) return `its nsInode ${JSON.stringify(ino)} is not an inode`;
  const hostIf = r['hostIf'] as string;
  return {
    role: 'guest', guest: '?', nsInode: (ino) ?? 0, guestIf: key.ifname, hostIf, hostKind: kind,
    ...(typeof r['hostEnd'] === 'string' && { localIf: r['hostEnd'] }),
    ...(typeof vlan === 'number' && { vlan }),
    ...(typeof vlan === 'number' && (kind === 'macvlan' || kind === 'phys') && { vlanIf: vlanIfName(hostIf, vlan) }),
    owner: formatOwner(ownerOf(key.network, key.containerId, key.ifname)),
  };
}

/**
 * `x` as pipework's record of `key` (as ADD writes it, version 3, or as it wrote it before,
 * versions 1 and 2), or why it is not one. What a record names goes to commands and paths later
 * (interfaces, the netns, the IPAM plugin, nat rules): all checked.
 */
export function parseRecordFile(x: unknown, key: RecordKey): AttachmentState | string {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return 'not a JSON object';
  const r = x as Partial<Record<string, unknown>>;
  const version = r['version'];
  if (version !== 1 && version !== 2 && version !== 3) return `version ${JSON.stringify(version)} (pipework writes 3)`;
  for (const k of ['network', 'containerId', 'ifname'] as const) {
    if (r[k] !== key[k]) return `its ${k} ${JSON.stringify(r[k])} is not ${JSON.stringify(key[k])}, where it was found`;
  }
  let record: AttachRecord;
  if (r['version'] === 1) {
    const v1 = fromV1(r, key);
    if (typeof v1 === 'string') return v1;
    record = v1;
  } else {
    const decoded = typeof r['record'] === 'string' ? decodeRecord(r['record']) : undefined;
    if (decoded === undefined) return 'its record is not one pipework writes';
    if (decoded.role !== 'guest' || decoded.guestIf !== key.ifname || decoded.owner !== formatOwner(ownerOf(key.network, key.containerId, key.ifname))) {
      return 'its record is another attachment\'s';
    }
    record = decoded;
  }
  if (typeof r['netns'] !== 'string' || (r['netns'] !== '' && !r['netns'].startsWith('/'))) return `its netns ${JSON.stringify(r['netns'])} is not a path`;
  const ipam = r['ipam'];
  if (ipam !== undefined && (typeof ipam !== 'string' || ipam === '' || ipam.includes('/') || ipam === '.' || ipam === '..')) return `its ipam ${JSON.stringify(ipam)} is not a plugin name`;
  const masq = masqProblem(r['masq'], key, version);
  if (masq !== undefined) return masq;
  if (r['phase'] !== 'ipam' && r['phase'] !== 'attached') return `unknown phase ${JSON.stringify(r['phase'])}`;
  const rest = { ...r };
  delete rest['hostKind'];
  delete rest['hostIf'];
  delete rest['hostEnd'];
  delete rest['vlan'];
  delete rest['nsInode'];
  return { ...(rest as unknown as AttachmentState), version: version === 1 ? 2 : version, record };
}

/** Why `x` is not pipework's record of `key`, or undefined. */
export function recordProblem(x: unknown, key: RecordKey): string | undefined {
  const parsed = parseRecordFile(x, key);
  return typeof parsed === 'string' ? parsed : undefined;
}

export function statePath(dataDir: string, network: string, containerId: string, ifname: string): string {
  checkKey({ network, containerId, ifname });
  return join(dataDir, network, containerId, `${ifname}.json`);
}

function ioError(what: string, err: unknown): CniError {
  return err instanceof CniError ? err : new CniError(Code.IoFailure, `${what}: ${(err as Error).message}`);
}

function refused(path: string, what: string): CniError {
  return new CniError(Code.IoFailure, `refusing ${path}: ${what} where pipework keeps its records`, 'only pipework (as root) makes directories and files there: remove it');
}

/**
 * The records' directory itself: somewhere only root can change, made (with what is missing
 * above it) when `create`. False when it does not exist and was not to be made.
 */
function recordsRoot(dataDir: string, create: boolean): boolean {
  const problem = rootOnlyProblem(dataDir);
  if (problem !== undefined) {
    throw new CniError(Code.IoFailure, `pipework keeps its records only where no user but root can write, and ${problem}`, `fix the permissions of the records' directory ${dataDir}`);
  }
  const here = lstatSync(dataDir, { throwIfNoEntry: false });
  if (here === undefined) {
    if (!create) return false;
    makeDirs(join(dataDir, '..'), 0o755);
    try {
      mkdirSync(dataDir, { mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  return true;
}

/** `dataDir/parts…`, each a real directory of root's (made when `create`); undefined when missing. */
function recordsDir(dataDir: string, parts: readonly string[], create: boolean): string | undefined {
  if (!recordsRoot(dataDir, create)) return undefined;
  let path = dataDir;
  for (const part of parts) {
    path = join(path, part);
    let st = lstatSync(path, { throwIfNoEntry: false });
    if (st === undefined) {
      if (!create) return undefined;
      try {
        mkdirSync(path, { mode: 0o700 });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      st = lstatSync(path);
    }
    if (st.isSymbolicLink()) throw refused(path, 'a symbolic link');
    if (!st.isDirectory()) throw refused(path, 'not a directory');
    if (st.uid !== (process.geteuid?.() ?? 0)) throw refused(path, `a directory of uid ${st.uid}`);
  }
  return path;
}

/** The record file's text; undefined when there is none. Never through a symbolic link. */
function readRecordFile(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw refused(path, 'a symbolic link');
    throw err;
  }
  try {
    if (!fstatSync(fd).isFile()) throw refused(path, 'not a regular file');
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

/** The record of one attachment; undefined when there is none (or it is not pipework's: torn, foreign). */
export function readState(dataDir: string, network: string, containerId: string, ifname: string): AttachmentState | undefined {
  const key = { network, containerId, ifname };
  checkKey(key);
  let text: string | undefined;
  try {
    const dir = recordsDir(dataDir, [network, containerId], false);
    text = dir === undefined ? undefined : readRecordFile(join(dir, `${ifname}.json`));
  } catch (err) {
    throw ioError('cannot read pipework\'s record of this attachment', err);
  }
  if (text === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // A torn or foreign file: treated as absent (DEL and GC still clean by the deterministic names).
    return undefined;
  }
  const state = parseRecordFile(parsed, key);
  return typeof state === 'string' ? undefined : state;
}

/** Written whole or not at all (a temporary file, made new, renamed over it). */
export function writeState(dataDir: string, state: AttachmentState): void {
  checkKey(state);
  let tmp: string | undefined;
  let dir = join(dataDir, state.network, state.containerId);
  try {
    dir = recordsDir(dataDir, [state.network, state.containerId], true)!;
    const path = join(dir, `${state.ifname}.json`);
    tmp = `${path}.${process.pid}.tmp`;
    // One left by a process of the same PID that died mid-write (the name itself goes, in root's directory).
    try {
      unlinkSync(tmp);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      writeFileSync(fd, `${JSON.stringify({ ...state, record: encodeRecord(state.record) })}\n`);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    if (tmp !== undefined) {
      try {
        unlinkSync(tmp);
      } catch {
        // never written
      }
    }
    throw ioError(`cannot write pipework's record of this attachment in ${dir}`, err);
  }
}

export function removeState(dataDir: string, network: string, containerId: string, ifname: string): void {
  checkKey({ network, containerId, ifname });
  let dir: string | undefined;
  try {
    dir = recordsDir(dataDir, [network, containerId], false);
    // unlink removes the name itself: a link there would go, never what it points at.
    if (dir !== undefined) unlinkSync(join(dir, `${ifname}.json`));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError('cannot remove pipework\'s record of this attachment', err);
  }
  // (Its folder stays: another request on the network may be about to write there. The last one
  // tidies them: removeEmptyFolders.)
}

/**
 * The folders of a network's records left empty: each container's, then the network's own. Only
 * while the network's lock is held alone (request.ts, tidyRecords): then no request is between
 * making a folder and writing its record in it. What is not a container's folder is left alone.
 */
export function removeEmptyFolders(dataDir: string, network: string): void {
  checkKey({ network });
  const root = recordsDir(dataDir, [network], false);
  if (root === undefined) return;
  for (const id of readdirSync(root)) {
    if (containerIdProblem(id) !== undefined) continue;
    try {
      // (rmdir removes neither a file nor a symbolic link, nor a folder with anything in it.)
      rmdirSync(join(root, id));
    } catch {
      // records are there
    }
  }
  try {
    rmdirSync(root);
  } catch {
    // records are there
  }
}

/** The records' directory can be used (STATUS): made when missing, checked, writable. */
export function checkRecordsDir(dataDir: string): void {
  try {
    recordsRoot(dataDir, true);
  } catch (err) {
    throw ioError(`cannot make the records' directory ${dataDir}`, err);
  }
}

/**
 * Every attachment recorded for a network. What is there and is not a record pipework wrote
 * (a name that is no container id or interface, a symbolic link, a record that says it is
 * another's) is left alone and told in `problems`.
 */
export function listStates(dataDir: string, network: string, problems: string[] = []): AttachmentState[] {
  checkKey({ network });
  const root = recordsDir(dataDir, [network], false);
  if (root === undefined) return [];
  const out: AttachmentState[] = [];
  for (const id of readdirSync(root)) {
    const where = join(root, id);
    const idProblem = containerIdProblem(id);
    if (idProblem !== undefined) {
      problems.push(`left ${where}: not a container id (${idProblem})`);
      continue;
    }
    let files: string[];
    try {
      const dir = recordsDir(dataDir, [network, id], false);
      if (dir === undefined) continue; // gone meanwhile (its last record was removed)
      files = readdirSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      problems.push((err as Error).message);
      continue;
    }
    for (const f of files) {
      if (/\.json\.\d+\.tmp$/u.test(f)) continue; // a write cut short: never a record
      const ifname = f.endsWith('.json') ? f.slice(0, -'.json'.length) : undefined;
      const ifProblem = ifname !== undefined ? ifNameProblem(ifname) : 'is not a .json file';
      if (ifname === undefined || ifProblem !== undefined) {
        problems.push(`left ${join(where, f)}: not a record (its name ${ifProblem ?? ''})`);
        continue;
      }
      try {
        const text = readRecordFile(join(where, f));
        if (text === undefined) continue; // gone meanwhile
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
        const state = parseRecordFile(parsed, { network, containerId: id, ifname });
        if (typeof state === 'string') problems.push(`left ${join(where, f)}: not pipework's record of ${id}/${ifname} (${state})`);
        else out.push(state);
      } catch (err) {
        problems.push((err as Error).message);
      }
    }
  }
  return out;
}
