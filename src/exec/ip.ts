/**
 * iproute2 as a protocol: batches of `ip` lines written to `ip -batch -`, JSON read back.
 */
import { CommandError } from '../model/errors.js';
import { inNetns, type NetnsHandle } from './netns.js';
import { GUEST_NETNS, HOST_NETNS } from '../model/plan.js';
import { HOST_NS_PATH_IN_CHILD, NS_PATH_IN_CHILD, firstLine, runOk, type Runner } from './runner.js';

/**
 * Tokens we put into batch lines are validated names and addresses; refuse anything ip would
 * re-split. An empty token (clearing an alias) is written as "".
 */
export function batchLine(args: readonly string[]): string {
  for (const a of args) {
    if (/[\s"'\\#]/u.test(a)) throw new Error(`internal: unsafe token ${JSON.stringify(a)} in an ip batch line`);
  }
  return args.map((a) => (a === '' ? '""' : a)).join(' ');
}

/** How ip lines reach the kernel: `ip -batch` processes, or the in-process netlink prototype. A run's context chooses. */
export type IpBackend = 'iproute2' | 'netlink';

/** The in-process prototype, when the backend asks for it and its addon loads. */
export async function inProcessIp(backend: IpBackend | undefined): Promise<typeof import('./netlink/session.js') | undefined> {
  if (backend !== 'netlink') return undefined;
  const session = await import('./netlink/session.js');
  return session.loadAddon() ? session : undefined;
}

export interface BatchFailure {
  /** 0-based index of the line that failed; lines before it were applied. */
  failedLine: number;
  /**
   * ip did not say which line failed (killed, timed out, or it never got to read them): any
   * of the lines may have been applied.
   */
  uncertain: boolean;
  message: string;
  error: CommandError;
}

/** A plan's namespace tokens as a child names what it is handed: the namespace as fd 3, the host's as fd 4. */
export function inChild(args: readonly string[]): string[] {
  return args.map((a) => (a === GUEST_NETNS ? NS_PATH_IN_CHILD : a === HOST_NETNS ? HOST_NS_PATH_IN_CHILD : a));
}

/**
 * Run `ip [-force] -batch -` on the host or inside `ns`. Returns undefined on success, or
 * which line failed (ip stops at the first failure unless `force`).
 */
export async function ipBatch(
  runner: Runner,
  lines: readonly string[][],
  opts: { ns?: NetnsHandle; enter?: boolean; force?: boolean; where: string; fds?: number[]; backend?: IpBackend },
): Promise<BatchFailure | undefined> {
  lines = lines.map(inChild);
  const netlink = await inProcessIp(opts.backend);
  if (netlink) {
    const done = netlink.netlinkBatch(lines, {
      ...(opts.ns && opts.enter && { enterFd: opts.ns.fd }), fds: netlink.childFds(opts), ...(opts.force && { force: true }),
    });
    if (done !== 'unsupported') {
      if (!done) return undefined;
      const argv = ['netlink', lines[done.failedLine]?.join(' ') ?? ''];
      const error = new CommandError(`ip ${argv[1]} failed in ${opts.where}: ${done.message}`, argv, 1, null, done.message, 0, false, opts.where);
      return { ...done, uncertain: false, error };
    }
  }
  const base = ['ip', ...(opts.force ? ['-force'] : []), '-batch', '-'];
  // The namespace is always handed down (host lines name it as a veth peer's netns);
  // `enter` runs the whole batch inside it.
  const argv = opts.ns && opts.enter ? inNetns(base) : base;
  const input = lines.map(batchLine).join('\n') + '\n';
  try {
    await runOk(runner, argv, {
      input, where: opts.where, timeoutMs: 30_000,
      ...(opts.fds ? { fds: opts.fds } : opts.ns && { nsFd: opts.ns.fd }),
    });
    return undefined;
  } catch (err) {
    if (!(err instanceof CommandError)) throw err;
    const match = /Command failed -:(\d+)/u.exec(err.stderr);
    const failedLine = match ? Number(match[1]) - 1 : 0;
    const message = firstLine(err.stderr.split('\n').filter((l) => !l.startsWith('Command failed')).join('\n')) || err.message;
    return { failedLine, uncertain: !match && lines.length > 0, message, error: err };
  }
}

/** Run several `ip -json` show commands in one process; one parsed array per line. */
export async function ipJsonBatch(
  runner: Runner,
  lines: readonly string[][],
  opts: { ns?: NetnsHandle; where: string },
): Promise<unknown[][]> {
  const base = ['ip', '-json', '-details', '-batch', '-'];
  const argv = opts.ns ? inNetns(base) : base;
  const result = await runOk(runner, argv, {
    input: lines.map(batchLine).join('\n') + '\n',
    where: opts.where,
    ...(opts.ns && { nsFd: opts.ns.fd }),
    timeoutMs: 30_000,
  });
  const out = result.stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as unknown[]);
  if (out.length !== lines.length) {
    throw new Error(`internal: ip -json -batch printed ${out.length} results for ${lines.length} commands`);
  }
  return out;
}
