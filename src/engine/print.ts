/**
 * --dry-run: the plan as the exact commands, in order, as a shell can run them pasted: every
 * word quoted where it must be, the guest's namespace named the way iproute2 and nsenter take it.
 */
import type { GuestInfo } from '../model/guest-info.js';
import { keptDir } from '../host/kept-records.js';
import { GUEST_NETNS, HOST_NETNS, decidedWhenRun, type Action, type Plan } from '../model/plan.js';

/** A word as a POSIX shell reads it back unchanged. */
export function shellQuote(word: string): string {
  if (word !== '' && /^[A-Za-z0-9_./:=@%+,^-]+$/u.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** How commands name the guest's namespace: by name (ip netns), by PID, or by its file. */
export interface NsNaming {
  /** For `ip ... netns X` on the host: a netns name or a PID. */
  netnsArg: string;
  /** The prefix that runs a command inside the guest. */
  enter: string[];
  /** The prefix of an `ip` command run inside the guest. */
  ip: string[];
}

export function nsNaming(guest: Pick<GuestInfo, 'kind' | 'name' | 'pid'> & { path?: string }): NsNaming {
  if (guest.kind === 'netns' && guest.path === undefined && guest.name.includes('/')) return nsNaming({ kind: guest.kind, name: guest.name, path: guest.name });
  if (guest.kind === 'netns' && guest.path === undefined) return { netnsArg: guest.name, enter: ['ip', 'netns', 'exec', guest.name], ip: ['ip', '-n', guest.name] };
  const enter = guest.pid !== undefined ? ['nsenter', `--net=/proc/${guest.pid}/ns/net`] : ['nsenter', `--net=${guest.path ?? `/var/run/netns/${guest.name}`}`];
  return { netnsArg: guest.pid !== undefined ? String(guest.pid) : (guest.path ?? guest.name), enter, ip: [...enter, 'ip'] };
}

/** The command a step runs, as one would type it (the namespaces named, not handed down as fds). */
function argvOf(action: Action, ns: NsNaming): string[] {
  // A kept record is written by pipework itself: shown as the file it writes (or removes).
  if (action.kind === 'keep') return action.text === null ? ['rm', '-f', `${keptDir()}/${action.key}`] : ['tee', `${keptDir()}/${action.key}`];
  const swap = (args: readonly string[]) => args.map((a) => (a === GUEST_NETNS ? ns.netnsArg : a === HOST_NETNS ? '1' : a));
  return action.kind === 'ip'
    ? [...(action.place === 'guest' ? ns.ip : ['ip']), ...swap(action.args)]
    : (action.place === 'guest' ? [...ns.enter, ...swap(action.argv)] : swap(action.argv));
}

function render(action: Action, ns: NsNaming): string {
  return argvOf(action, ns).map(shellQuote).join(' ');
}

export function formatPlan(plan: Plan, ns: NsNaming): string {
  const lines = [`# ${plan.guestLabel}`];
  plan.steps.forEach((step, i) => {
    const guard = decidedWhenRun(step.action) ? ' (decided when it runs)' : '';
    lines.push(`${render(step.action, ns)}    # ${i + 1}. ${step.title}${guard}`);
  });
  return `${lines.join('\n')}\n`;
}

/** The commands of a plan as data (--json): where, the argv, and the same as a shell line. */
export function planJson(plan: Plan, ns: NsNaming): Record<string, unknown>[] {
  return plan.steps.map((s) => ({ title: s.title, where: s.action.place, command: argvOf(s.action, ns), shell: render(s.action, ns) }));
}
