/**
 * `pipework watch` options → a typed request. Pure: every refusal is a UsageError (or an
 * InvalidArgumentError for a bad value) before anything is looked up.
 */
import { InvalidArgumentError, UsageError } from '../../model/errors.js';
import { checkIfName } from '../../model/ifname.js';
import { parseVlan } from '../../model/vlan.js';
import { unixPathProblem } from '../../exec/unix-socket.js';
import { parseImage } from '../classic/grammar.js';
import { renderHelp, type HelpPage } from '../help-text.js';

export type Runtime = 'docker' | 'podman';

/** What --allow grants on one host interface: untagged traffic (no `@`), and these VLANs. */
export interface AllowGrant {
  hostIf: string;
  untagged: boolean;
  /** Sorted, each once. */
  vlans: number[];
}

export interface WatchOptions {
  kind: 'watch';
  /** The host interfaces this watcher serves (bridges, OVS bridges, NICs), once each; empty: none. */
  allow: AllowGrant[];
  /** `--direct-phys` labels may move an allowed NIC into a container. */
  allowDirect: boolean;
  /** Act on labels (and pipework_cmd variables) the container only inherited from its image. */
  trustImageLabels: boolean;
  /** Sockets given with --docker / --podman; none given: the default sockets of both. */
  docker?: string;
  podman?: string;
  /** Reconcile what runs now, then exit. */
  once: boolean;
  /** One JSON object per line on stdout instead of lines for people on stderr. */
  json: boolean;
  /** The `dhcp` method's helper image (the operator's choice; a label never names one). */
  dhcpImage?: string;
}

export type WatchRequest = WatchOptions | { kind: 'help' };

/** `pipework watch --help`, as data (src/front/help-text.ts): it is in the man page pipework(8) too. */
export const WATCH_PAGE: HelpPage = [
  {
    kind: 'synopsis',
    lines: [
      'pipework watch --allow <hostif>[@<vlan>[,<vlan>…]][,<hostif>…] [--allow-direct]',
      '               [--trust-image-labels] [--dhcp-image <image>] [--docker <socket>]',
      '               [--podman <socket>] [--once] [--json]',
    ],
  },
  {
    kind: 'text', indent: 2,
    lines: [
      'Plumb containers as they start, from their labels, and clean up after them when they die.',
      'A label pipework.<ifname>=<hostif> <address|dhcp-method> [<mac>][@<vlan>] asks for one',
      'interface (a classic line without the guest and -i); pipework_cmd* environment variables',
      'hold whole classic lines (@CONTAINER_NAME@, @CONTAINER_ID@, @INSTANCE@, @HOSTNAME@ and',
      "@COMPOSE_PROJECT_NAME@ are replaced). All of a container's interfaces are made, or none.",
      'A container is plumbed only in a network namespace of its own alone: one that joined',
      "another's (--network container:…, ns:…, host, a pod's), or whose namespace another",
      "container joined, is refused. An operator's Linux bridge is never changed for a label (a",
      'VLAN there needs VLAN filtering turned on by the operator).',
    ],
  },
  {
    kind: 'items', indent: 2, column: 25,
    items: [
      {
        term: '--allow <hostif>[@<vlan>[,<vlan>…]][,<hostif>…]', termAlone: true,
        text: [
          'the only host interfaces labels may use, and on which VLANs: without',
          '@ a host interface is served untagged only; ovs-lan@10,20 serves VLANs',
          '10 and 20 only (numbers after @ are VLANs until a name starts the next',
          'host interface; add ovs-lan alone for untagged too). Repeatable.',
          'Without it nothing is served, and every label is refused.',
        ],
      },
      { term: '--allow-direct', text: ['labels may also use --direct-phys (move an allowed NIC in)'] },
      {
        term: '--trust-image-labels',
        text: [
          'act on labels and variables the container only inherited from its',
          "image (ignored by default: an image's author is not the operator)",
        ],
      },
      {
        term: '--dhcp-image <image>',
        text: [
          "the 'dhcp' method's helper image (default busybox; never pulled; a",
          'label cannot name one)',
        ],
      },
      { term: '--docker <socket>', text: ['watch this Docker socket (default: DOCKER_HOST or /var/run/docker.sock)'] },
      {
        term: '--podman <socket>',
        text: [
          'watch this Podman socket (default: CONTAINER_HOST or /run/podman/podman.sock)',
          'Given either, only the sockets given are watched.',
        ],
      },
      { term: '--once', text: ['plumb the labelled containers running now, clean what dead ones left, exit'] },
      {
        term: '--json',
        text: [
          'one JSON object per action on stdout (container, interface, action,',
          'result, durationMs) instead of lines for people on stderr',
        ],
      },
    ],
  },
  {
    kind: 'text', indent: 2,
    lines: [
      'SIGTERM or SIGINT: the work in flight is finished or undone, then exit 0. SIGHUP: list the',
      'running containers again. Exit codes: 0; 1 bad options, or (--once) a container that could',
      'not be plumbed; 70 an internal error.',
    ],
  },
];

export const WATCH_HELP = renderHelp(WATCH_PAGE);

/** A socket as given: a path, or unix://path. */
function socketPath(option: string, text: string): string {
  const path = text.startsWith('unix://') ? text.slice('unix://'.length) : text;
  if (!path.startsWith('/') || /[\0\n]/u.test(path)) {
    throw new InvalidArgumentError(`invalid ${option} '${text}': expected the absolute path of a unix socket (or unix:///path)`);
  }
  const tooLong = unixPathProblem(path);
  if (tooLong !== undefined) throw new InvalidArgumentError(`invalid ${option} '${text}': ${tooLong}`);
  return path;
}

/**
 * `--allow HOSTIF[@VLAN[,VLAN…]][,HOSTIF…]`: numbers after `@` are VLANs of that host interface
 * until a word that is not a number starts the next one; a host interface without `@` is served
 * untagged only. A number where a host interface is expected is refused (it reads as a VLAN
 * someone forgot the `@` of), so `br0,10` never means an interface named 10.
 */
export function parseAllow(text: string): AllowGrant[] {
  const parts = text.split(',').map((s) => s.trim());
  if (parts.some((p) => p === '')) throw new InvalidArgumentError(`invalid --allow '${text}': expected host interface names (each with @VLAN,… or not) separated by commas`);
  const out: AllowGrant[] = [];
  let current: AllowGrant | undefined;
  for (const part of parts) {
    if (current !== undefined && /^\d+$/u.test(part)) {
      current.vlans.push(parseVlan(part));
      continue;
    }
    const at = part.indexOf('@');
    const name = at === -1 ? part : part.slice(0, at);
    if (/^\d+$/u.test(name)) {
      throw new InvalidArgumentError(`invalid --allow '${text}': '${name}' is a number, not a host interface; VLANs follow a host interface and @ (e.g. br0@${name})`);
    }
    const hostIf = checkIfName(name, 'host interface in --allow');
    if (at === -1) {
      out.push({ hostIf, untagged: true, vlans: [] });
      current = undefined;
    } else {
      current = { hostIf, untagged: false, vlans: [parseVlan(part.slice(at + 1))] };
      out.push(current);
    }
  }
  return mergeGrants(out);
}

/** One grant per host interface, in the order first named: untagged if any says so, every VLAN once. */
function mergeGrants(grants: readonly AllowGrant[]): AllowGrant[] {
  const byIf = new Map<string, AllowGrant>();
  for (const g of grants) {
    const had = byIf.get(g.hostIf);
    if (had === undefined) byIf.set(g.hostIf, { hostIf: g.hostIf, untagged: g.untagged, vlans: [...g.vlans] });
    else {
      had.untagged ||= g.untagged;
      had.vlans.push(...g.vlans);
    }
  }
  return [...byIf.values()].map((g) => ({ ...g, vlans: [...new Set(g.vlans)].sort((a, b) => a - b) }));
}

/** A grant as --allow writes it (what the start line says it serves). */
export function formatGrant(g: AllowGrant): string {
  const tagged = g.vlans.length > 0 ? `${g.hostIf}@${g.vlans.join(',')}` : undefined;
  return [g.untagged ? g.hostIf : undefined, tagged].filter((x) => x !== undefined).join(' and ');
}

const FLAGS = new Set(['--allow-direct', '--trust-image-labels', '--once', '--json', '-h', '--help']);
const VALUED = new Set(['--allow', '--docker', '--podman', '--dhcp-image']);
const NEEDS: Record<string, string> = { '--allow': 'host interface names', '--dhcp-image': 'an image name' };

/** `argv` as main.ts hands it over: the verb `watch` first. */
export function parseWatchArgs(argv: readonly string[]): WatchRequest {
  const args = argv[0] === 'watch' ? argv.slice(1) : [...argv];
  const out: WatchOptions = { kind: 'watch', allow: [], allowDirect: false, trustImageLabels: false, once: false, json: false };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (FLAGS.has(arg)) {
      switch (arg) {
        case '--allow-direct': out.allowDirect = true; break;
        case '--trust-image-labels': out.trustImageLabels = true; break;
        case '--once': out.once = true; break;
        case '--json': out.json = true; break;
        default: return { kind: 'help' };
      }
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    if (!VALUED.has(name)) {
      if (arg.startsWith('-')) throw new UsageError(`unknown option '${arg}' for pipework watch (see pipework watch --help)`);
      throw new UsageError(`unexpected argument '${arg}': pipework watch takes only options (see pipework watch --help)`);
    }
    let value: string | undefined;
    if (eq > 0 && name !== arg) value = arg.slice(eq + 1);
    else value = args[++i];
    if (value === undefined) throw new UsageError(`option ${name} needs ${NEEDS[name] ?? 'a socket path'}`);
    switch (name) {
      case '--allow':
        out.allow = mergeGrants([...out.allow, ...parseAllow(value)]);
        break;
      case '--dhcp-image':
        if (out.dhcpImage !== undefined) throw new UsageError('--dhcp-image given twice: one helper image per watcher');
        out.dhcpImage = parseImage(value);
        break;
      case '--docker':
        if (out.docker !== undefined) throw new UsageError('--docker given twice: one Docker daemon per watcher');
        out.docker = socketPath(name, value);
        break;
      case '--podman':
        if (out.podman !== undefined) throw new UsageError('--podman given twice: one Podman service per watcher');
        out.podman = socketPath(name, value);
        break;
    }
  }
  if (out.allowDirect && out.allow.length === 0) throw new UsageError('--allow-direct lets labels move an allowed NIC in: name it with --allow');
  return out;
}

/** Which sockets to watch: those given, or (none given) the default of each runtime. */
export function sourcesOf(options: WatchOptions, env: NodeJS.ProcessEnv = process.env): { runtime: Runtime; socket: string; explicit: boolean }[] {
  if (options.docker !== undefined || options.podman !== undefined) {
    return [
      ...(options.docker !== undefined ? [{ runtime: 'docker' as const, socket: options.docker, explicit: true }] : []),
      ...(options.podman !== undefined ? [{ runtime: 'podman' as const, socket: options.podman, explicit: true }] : []),
    ];
  }
  const fromEnv = (name: string, fallback: string): string => {
    const v = env[name];
    if (v?.startsWith('unix://') !== true) return fallback;
    const path = v.slice('unix://'.length);
    const tooLong = unixPathProblem(path);
    if (tooLong !== undefined) throw new InvalidArgumentError(`invalid ${name} '${v}': ${tooLong}`);
    return path;
  };
  return [
    { runtime: 'docker', socket: fromEnv('DOCKER_HOST', '/var/run/docker.sock'), explicit: false },
    { runtime: 'podman', socket: fromEnv('CONTAINER_HOST', '/run/podman/podman.sock'), explicit: false },
  ];
}
