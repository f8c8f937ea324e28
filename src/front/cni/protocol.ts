/**
 * The CNI protocol's vocabulary (spec 1.1.0): the versions we speak, the commands, the error
 * object with the spec's codes, and the request as the runtime hands it over (environment and
 * stdin). Pure: nothing here reads the process's own environment.
 */
import { ifNameProblem } from '../../model/ifname.js';

/** The versions we accept and answer, each in its own result shape. */
export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export type CniVersion = (typeof SUPPORTED_VERSIONS)[number];
/** The spec we implement (and the version named in errors when the request's is unknown). */
export const SPEC_VERSION: CniVersion = '1.1.0';

export const COMMANDS = ['ADD', 'DEL', 'CHECK', 'VERSION', 'STATUS', 'GC'] as const;
export type Command = (typeof COMMANDS)[number];

/** Error codes: the spec's (0–99) and ours (100+, "free for plugin specific errors"). */
export const Code = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironment: 4,
  IoFailure: 5,
  DecodingFailure: 6,
  InvalidConfig: 7,
  TryAgainLater: 11,
  /** STATUS: cannot service ADD. */
  NotAvailable: 50,
  /** STATUS: cannot service ADD, and existing attachments may have limited connectivity. */
  LimitedConnectivity: 51,
  /** CNI_IFNAME already exists in the container, or another owner's interface is in the way. */
  Conflict: 100,
  /** A step on the host or in the container failed; everything the request did was undone. */
  StepFailed: 101,
  /** This host lacks what the network needs (Open vSwitch not running, a kernel feature). */
  HostUnsupported: 102,
  /** CHECK: the attachment is not as ADD made it. */
  CheckFailed: 103,
  /** Something the network names is not on this host (a master, a device, a bridge that must exist). */
  HostNotFound: 104,
  /** What libcni calls ErrInternal: an unexpected failure. */
  Internal: 999,
} as const;

export class CniError extends Error {
  constructor(readonly code: number, msg: string, readonly details = '') {
    super(msg);
    this.name = 'CniError';
  }
}

export function isSupportedVersion(v: unknown): v is CniVersion {
  return typeof v === 'string' && (SUPPORTED_VERSIONS as readonly string[]).includes(v);
}

function versionParts(v: string): number[] {
  return v.split('.').map((p) => Number(p));
}

/** a ≥ b for dotted versions ("0.4.0" ≥ "0.3.1"). */
export function versionAtLeast(a: string, b: string): boolean {
  const x = versionParts(a);
  const y = versionParts(b);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d > 0;
  }
  return true;
}

/** The error object as the spec prints it (cniVersion: the protocol version in use). */
export function errorJson(err: CniError, version: string): string {
  return `${JSON.stringify({ cniVersion: version, code: err.code, msg: err.message, details: err.details })}\n`;
}

/** VERSION's answer: the version asked about, and every version we speak. */
export function versionJson(asked: string | undefined): string {
  const v = asked !== undefined && /^\d+\.\d+\.\d+$/u.test(asked) ? asked : SPEC_VERSION;
  return `${JSON.stringify({ cniVersion: v, supportedVersions: SUPPORTED_VERSIONS })}\n`;
}

/** A request as the runtime made it: its whole environment and what it wrote on stdin. */
export interface RawRequest {
  env: Readonly<Record<string, string | undefined>>;
  stdin: string;
}

/** The CNI_* parameters, checked. */
export interface CniParams {
  command: Command;
  containerId: string;
  /** '' when not given (DEL may come without one). */
  netns: string;
  ifname: string;
  args: string;
  /** CNI_PATH, split. */
  path: string[];
}

/** What CNI_CONTAINERID may be (the spec's rule). */
const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/u;

/** Why `id` is not a container id (it names a directory of records), or undefined. */
export function containerIdProblem(id: string): string | undefined {
  return CONTAINER_ID.test(id) ? undefined : 'a container id starts with a letter or digit, followed by letters, digits, _ . or -';
}

/** Which variables a command needs (as libcni's skel asks; CNI_PATH only where a delegate is run, later). */
const REQUIRED: Record<Command, readonly string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME'],
  GC: [],
  STATUS: [],
  VERSION: [],
};

/** Read and check the CNI_* variables; code 4 naming every one that is missing or invalid. */
export function parseParams(env: RawRequest['env']): CniParams {
  const get = (k: string) => env[k] ?? '';
  const raw = get('CNI_COMMAND');
  if (raw === '') throw new CniError(Code.InvalidEnvironment, 'required environment variable CNI_COMMAND is missing', 'CNI_COMMAND is one of ADD, DEL, CHECK, VERSION, STATUS, GC');
  if (!(COMMANDS as readonly string[]).includes(raw)) {
    throw new CniError(Code.InvalidEnvironment, `unknown CNI_COMMAND '${raw}'`, `CNI_COMMAND is one of ${COMMANDS.join(', ')}`);
  }
  const command = raw as Command;
  const missing = REQUIRED[command].filter((k) => get(k) === '');
  if (missing.length > 0) {
    throw new CniError(Code.InvalidEnvironment, `required environment variables [${missing.join(',')}] missing`, `CNI_COMMAND=${command} needs ${REQUIRED[command].join(', ')}`);
  }
  const containerId = get('CNI_CONTAINERID');
  const idProblem = containerId !== '' ? containerIdProblem(containerId) : undefined;
  if (idProblem !== undefined) throw new CniError(Code.InvalidEnvironment, `invalid CNI_CONTAINERID '${containerId}'`, idProblem);
  const ifname = get('CNI_IFNAME');
  const problem = ifname !== '' ? ifNameProblem(ifname) : undefined;
  if (problem !== undefined) throw new CniError(Code.InvalidEnvironment, `invalid CNI_IFNAME '${ifname}': an interface name ${problem}`);
  const netns = get('CNI_NETNS');
  if (netns !== '' && !netns.startsWith('/') && command !== 'DEL') {
    throw new CniError(Code.InvalidEnvironment, `invalid CNI_NETNS '${netns}': expected the absolute path of a network namespace`);
  }
  return { command, containerId, netns, ifname, args: get('CNI_ARGS'), path: get('CNI_PATH').split(':').filter((d) => d !== '') };
}
