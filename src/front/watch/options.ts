/**
 * `pipework watch` options → a typed request. Pure: every refusal is a UsageError (or an
 * InvalidArgumentError for a bad value) before anything is looked up.
 */
import { InvalidArgumentError, UsageError } from '../../model/errors.js';
import { checkIfName } from '../../model/ifname.js';

export type Runtime = 'docker' | 'podman';

export interface WatchOptions {
  kind: 'watch';
  /** The host interfaces this watcher serves (bridges, OVS bridges, NICs); empty: none. */
  allow: string[];
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
}

export type WatchRequest = WatchOptions | { kind: 'help' };

export const WATCH_HELP = `pipework watch --allow <hostif>[,<hostif>…] [--allow-direct] [--trust-image-labels]
               [--docker <socket>] [--podman <socket>] [--once] [--json]
  Plumb containers as they start, from their labels, and clean up after them when they die.
  A label pipework.<ifname>=<hostif> <address|dhcp-method> [<mac>][@<vlan>] asks for one
  interface (a classic line without the guest and -i); pipework_cmd* environment variables
  hold whole classic lines (@CONTAINER_NAME@, @CONTAINER_ID@, @INSTANCE@, @HOSTNAME@ and
  @COMPOSE_PROJECT_NAME@ are replaced). All of a container's interfaces are made, or none.
  --allow <hostif>,…     the only host interfaces labels may use (without it: none, and every
                         label is refused)
  --allow-direct         labels may also use --direct-phys (move an allowed NIC in)
  --trust-image-labels   act on labels and variables the container only inherited from its
                         image (ignored by default: an image's author is not the operator)
  --docker <socket>      watch this Docker socket (default: DOCKER_HOST or /var/run/docker.sock)
  --podman <socket>      watch this Podman socket (default: CONTAINER_HOST or /run/podman/podman.sock)
                         Given either, only the sockets given are watched.
  --once                 plumb the labelled containers running now, clean what dead ones left, exit
  --json                 one JSON object per action on stdout (container, interface, action,
                         result, durationMs) instead of lines for people on stderr
  SIGTERM or SIGINT: the work in flight is finished or undone, then exit 0. SIGHUP: list the
  running containers again. Exit codes: 0; 1 bad options, or (--once) a container that could
  not be plumbed; 70 an internal error.
`;

/** A socket as given: a path, or unix://path. */
function socketPath(option: string, text: string): string {
  const path = text.startsWith('unix://') ? text.slice('unix://'.length) : text;
  if (!path.startsWith('/') || /[\0\n]/u.test(path)) {
    throw new InvalidArgumentError(`invalid ${option} '${text}': expected the absolute path of a unix socket (or unix:///path)`);
  }
  return path;
}

function allowList(text: string): string[] {
  const names = text.split(',').map((s) => s.trim());
  if (names.some((n) => n === '')) throw new InvalidArgumentError(`invalid --allow '${text}': expected host interface names separated by commas`);
  return names.map((n) => checkIfName(n, 'host interface in --allow'));
}

const FLAGS = new Set(['--allow-direct', '--trust-image-labels', '--once', '--json', '-h', '--help']);
const VALUED = new Set(['--allow', '--docker', '--podman']);

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
    if (value === undefined) throw new UsageError(`option ${name} needs ${name === '--allow' ? 'host interface names' : 'a socket path'}`);
    switch (name) {
      case '--allow':
        for (const n of allowList(value)) if (!out.allow.includes(n)) out.allow.push(n);
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
    return v?.startsWith('unix://') === true ? v.slice('unix://'.length) : fallback;
  };
  return [
    { runtime: 'docker', socket: fromEnv('DOCKER_HOST', '/var/run/docker.sock'), explicit: false },
    { runtime: 'podman', socket: fromEnv('CONTAINER_HOST', '/run/podman/podman.sock'), explicit: false },
  ];
}
