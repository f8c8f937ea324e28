/**
 * The `cni` front door. With CNI_COMMAND in the environment the whole process is the plugin
 * (`run(['plugin'])`, from src/front/cli/main.ts); otherwise:
 *   pipework cni install [--dir DIR]… [--socket PATH] [--no-compile]
 *   pipework cni uninstall [--dir DIR]…
 *   pipework cni daemon [--socket PATH]
 */
import { UsageError } from '../../model/errors.js';
import { renderHelp, type HelpPage } from '../help-text.js';

/** The door's help (src/front/help-text.ts): `pipework cni help`, and the man page pipework(8). */
export const CNI_PAGE: HelpPage = [
  {
    kind: 'synopsis',
    lines: [
      'usage: pipework cni install [--dir DIR]... [--socket PATH] [--no-compile]',
      '       pipework cni uninstall [--dir DIR]...',
      '       pipework cni daemon [--socket PATH]',
    ],
  },
  { kind: 'text', indent: 0, lines: ['With CNI_COMMAND set, pipework is a CNI plugin (ADD, DEL, CHECK, VERSION, STATUS, GC).'] },
];

const USAGE = renderHelp(CNI_PAGE);

interface Parsed {
  dirs: string[];
  socket?: string;
  compile: boolean;
}

export function parseCniArgv(argv: readonly string[], allowed: readonly string[]): Parsed {
  const out: Parsed = { dirs: [], compile: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    if (!allowed.includes(flag)) throw new UsageError(`pipework cni: unknown option '${a}' (pipework cni help lists them)`);
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') throw new UsageError(`pipework cni: ${flag} needs a value`);
      if (!v.startsWith('/')) throw new UsageError(`pipework cni: ${flag} needs an absolute path, not '${v}'`);
      return v;
    };
    if (flag === '--dir') out.dirs.push(value());
    else if (flag === '--socket') out.socket = value();
    else if (flag === '--no-compile') out.compile = false;
  }
  return out;
}

export async function run(argv: readonly string[]): Promise<number> {
  if (argv[0] === 'plugin') return (await import('./plugin.js')).pluginMain();
  const [verb, ...rest] = argv.slice(1);
  switch (verb) {
    case 'install': {
      const o = parseCniArgv(rest, ['--dir', '--socket', '--no-compile']);
      const { install, DEFAULT_DIRS, DEFAULT_SOCKET } = await import('./install.js');
      const done = await install({ dirs: o.dirs.length > 0 ? o.dirs : DEFAULT_DIRS, socket: o.socket ?? DEFAULT_SOCKET, compile: o.compile }, (l) => process.stderr.write(`${l}\n`));
      for (const d of done) process.stdout.write(`installed ${d.path} (${d.kind === 'compiled' ? 'compiled launcher' : 'shell launcher'})\n`);
      return 0;
    }
    case 'uninstall': {
      const o = parseCniArgv(rest, ['--dir']);
      const { uninstall, DEFAULT_DIRS } = await import('./install.js');
      for (const p of uninstall(o.dirs.length > 0 ? o.dirs : DEFAULT_DIRS)) process.stdout.write(`removed ${p}\n`);
      return 0;
    }
    case 'daemon': {
      const o = parseCniArgv(rest, ['--socket']);
      (await import('../root.js')).requireRoot();
      const { runDaemon, DEFAULT_SOCKET } = await import('./daemon.js');
      return runDaemon(o.socket ?? DEFAULT_SOCKET);
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return verb === undefined ? 1 : 0;
    default:
      throw new UsageError(`pipework cni: unknown command '${verb}': the commands are install, uninstall and daemon`);
  }
}
