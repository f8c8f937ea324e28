/**
 * One CNI request as the handlers see it: the runtime's environment and stdin as given, the
 * checked parameters and configuration, how programs are started, what stops it, and where its
 * logs go (stderr, never stdout). Also the lock that keeps two requests for one attachment apart.
 */
import { accessSync, constants } from 'node:fs';
import { openNetns, type NetnsHandle } from '../../exec/netns.js';
import type { Runner } from '../../exec/runner.js';
import { acquire, type Held } from '../../engine/lock.js';
import { failPointFromEnv, newRun, type RunContext } from '../../engine/context.js';
import type { NetConf } from './config.js';
import { findPlugin, pluginMissing, type Delegate, type ExecOptions } from './ipam.js';
import { Code, CniError, type CniParams, type RawRequest } from './protocol.js';
import type { Trace } from './trace.js';
import { removeEmptyFolders } from './state.js';

export interface Request {
  raw: RawRequest;
  params: CniParams;
  conf: NetConf;
  runner: Runner;
  /**
   * How the request's programs that need no namespace handed down run: the IPAM plugins, and
   * host queries (ip -json, ovs-vsctl, iptables). In the daemon, as the launcher's children.
   */
  delegates: Runner;
  signal: AbortSignal;
  log: (line: string) => void;
  trace: Trace;
  /** Start a program and do not wait for it (the ARP announcement). */
  detach: (argv: string[]) => void;
}

const programs = new Map<string, string | undefined>();

/** A program by absolute path (the launcher execs without a PATH search), on PATH or the system's directories. */
export function findProgram(name: string): string | undefined {
  if (programs.has(name)) return programs.get(name);
  const found = lookPath(name);
  // Kept for the process (a daemon asks on every ADD); a program installed later is found after a restart.
  programs.set(name, found);
  return found;
}

function lookPath(name: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    if (dir === '') continue;
    const file = `${dir}/${name}`;
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not there
    }
  }
  return undefined;
}

/** What a request does, as another run waiting on its locks reads it. */
function purposeOf(req: Pick<Request, 'params' | 'conf'>): string {
  const id = req.params.containerId;
  return `CNI ${req.params.command} ${req.conf.name}/${id.length > 16 ? `${id.slice(0, 12)}…` : id}/${req.params.ifname}`;
}

/** A fresh engine run for this request. */
export function runFor(req: Request, dryRun = false): RunContext {
  return newRun({ runner: req.runner, signal: req.signal, dryRun, purpose: purposeOf(req), onWait: req.log });
}

/** The run of ADD's attach: the test hook PIPEWORK_FAIL_STEP (the runtime's environment) makes a step fail. */
export function attachRun(req: Request): RunContext {
  const failAt = failPointFromEnv(req.raw.env);
  return newRun({ runner: req.runner, signal: req.signal, purpose: purposeOf(req), onWait: req.log, ...(failAt && { failAt }) });
}

/** The IPAM delegate of the network, found on CNI_PATH (undefined: the network has no ipam). */
export function delegateOf(req: Pick<Request, 'conf' | 'params'>): Delegate | undefined {
  const type = req.conf.ipam?.type;
  if (type === undefined) return undefined;
  if (req.params.path.length === 0) throw new CniError(Code.InvalidEnvironment, 'required environment variable CNI_PATH is missing', `the IPAM plugin ${type} is looked for on CNI_PATH`);
  const file = findPlugin(type, req.params.path);
  if (file === undefined) throw pluginMissing(type, req.params.path);
  return { type, file };
}

export function execOptions(req: Request, stdin = req.raw.stdin, env: RawRequest['env'] = req.raw.env): ExecOptions {
  return { runner: req.delegates, env, stdin, signal: req.signal, log: req.log };
}

/** The lock of a network's records: shared by every request on the network, alone to remove its folders. */
function networkLock(network: string): string {
  return `cni/${network}`;
}

/**
 * The locks of one attachment (ADD, DEL, CHECK and GC of it never interleave, in any process),
 * and its network's, shared.
 */
export async function lockAttachment(req: Pick<Request, 'signal' | 'params' | 'conf' | 'log'>, network: string, containerId: string, ifname: string): Promise<Held> {
  try {
    return await acquire([{ key: networkLock(network), shared: true }, `cni/${network}/${containerId}/${ifname}`], {
      signal: req.signal, purpose: purposeOf(req), onWait: req.log,
      what: (key) => (key === networkLock(network) ? `the records of network ${network}` : `attachment ${ifname} of container ${containerId} on network ${network}`),
    });
  } catch (err) {
    throw new CniError(Code.TryAgainLater, (err as Error).message);
  }
}

/**
 * After a request that may have removed a record (DEL, GC, a failed ADD), with its locks let go:
 * the network's folders of records left empty go — when no other request on the network is
 * under way (its lock, alone, is not waited for: the last request of the network tidies).
 */
export async function tidyRecords(req: Pick<Request, 'signal' | 'params' | 'conf' | 'log'>): Promise<void> {
  const network = req.conf.name;
  let held: Held;
  try {
    held = await acquire([networkLock(network)], { signal: req.signal, purpose: purposeOf(req), timeoutMs: 0, what: () => `the records of network ${network}` });
  } catch {
    return;
  }
  try {
    removeEmptyFolders(req.conf.dataDir, network);
  } catch (err) {
    req.log(`pipework: the empty folders of network ${network}'s records stay: ${(err as Error).message}`);
  } finally {
    held.release();
  }
}

/** The host's namespace, for plans that change only the host. */
export function hostNamespace(): NetnsHandle {
  return openNetns('/proc/self/ns/net', 'the host');
}

/** The host interface an attachment hangs off: the bridge, the OVS bridge, the macvlan master, the NIC. */
export function hostIfOf(conf: Pick<NetConf, 'host'>, master?: string): string {
  const h = conf.host;
  return h.kind === 'bridge' || h.kind === 'ovs' ? h.bridge : h.kind === 'macvlan' ? (h.master ?? master ?? '') : h.device;
}
