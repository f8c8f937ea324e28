/**
 * The plugin executable `pipework cni install` writes, in two forms, both answering VERSION
 * without starting Node (Podman runs VERSION on every plugin of every conflist on each command):
 *
 * - a small C program, `native/cni-launcher.c`, compiled at install time when a C compiler is
 *   there, with this installation's paths as definitions on the compiler's command line: VERSION
 *   in a millisecond; any other command handed to the resident daemon over its unix socket when one
 *   answers (no Node start-up at all) — and the delegates the daemon needs (IPAM) run as this
 *   program's children, with the runtime's environment, cheaply (a fork of the big daemon costs
 *   milliseconds per MB it maps) — else Node started on bin/pipework;
 * - a POSIX shell script otherwise (the fallback: VERSION in the shell, everything else in Node).
 *
 * Either way Node starts without NODE_EXTRA_CA_CERTS and NODE_OPTIONS (set aside, and put back
 * for the IPAM plugins by plugin.ts): a runtime's environment may carry them, and the first costs
 * ~40 ms of every start. Paths are absolute: runtimes run plugins with their own PATH.
 */
import { SUPPORTED_VERSIONS } from './protocol.js';
import { STASHED, STASH_PREFIX } from './plugin.js';

export interface LauncherPaths {
  /** The Node binary (absolute). */
  node: string;
  /** pipework's entry, bin/pipework (absolute): with CNI_COMMAND set it is the plugin. */
  script: string;
  /** The daemon's socket. */
  socket: string;
}

/** A marker both forms carry, so install and uninstall know the file is ours. */
export const LAUNCHER_MARK = 'pipework-cni-launcher';

function shQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

const VERSIONS_JSON = JSON.stringify(SUPPORTED_VERSIONS);

/** The C launcher's source, from the package's root (package.json "files" ships it). */
export const LAUNCHER_SOURCE = 'native/cni-launcher.c';

/**
 * The compiler flags `pipework cni install` uses; the test that compiles the launcher in CI adds
 * `-Werror`, so a warning fails there without failing a user's install on a newer compiler.
 */
export const LAUNCHER_CFLAGS = ['-std=gnu11', '-O2', '-Wall', '-Wextra', '-Wshadow', '-Wformat=2', '-Wconversion'];

/**
 * `s` as a C string literal: its UTF-8 bytes, printable ASCII as they are, `"` `\` and `?` escaped
 * (no trigraph can form), every other byte (newlines, controls, non-ASCII) as a three-digit octal
 * escape (which no following digit can extend).
 */
export function cLiteral(s: string): string {
  let out = '"';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    if (c === '"' || c === '\\' || c === '?') out += `\\${c}`;
    else if (b >= 0x20 && b < 0x7f) out += c;
    else out += `\\${b.toString(8).padStart(3, '0')}`;
  }
  return `${out}"`;
}

/** The definitions that make native/cni-launcher.c this installation's launcher (its header lists them). */
export function launcherDefines(p: LauncherPaths): string[] {
  return [
    `-DPW_NODE=${cLiteral(p.node)}`,
    `-DPW_SCRIPT=${cLiteral(p.script)}`,
    `-DPW_SOCKET=${cLiteral(p.socket)}`,
    `-DPW_VERSIONS=${cLiteral(VERSIONS_JSON)}`,
    `-DPW_STASHED=${STASHED.map(cLiteral).join(',')}`,
    `-DPW_STASH_PREFIX=${cLiteral(STASH_PREFIX)}`,
    `-DPW_MARK=${cLiteral(LAUNCHER_MARK)}`,
  ];
}

/** The compiler's argv (no shell: each definition is one argument) for `source` → `output`. */
export function launcherCompileArgv(cc: string, source: string, output: string, p: LauncherPaths, o: { werror?: boolean } = {}): string[] {
  return [cc, ...LAUNCHER_CFLAGS, ...(o.werror === true ? ['-Werror'] : []), ...launcherDefines(p), '-o', output, source];
}

export function launcherSh(p: LauncherPaths): string {
  const stash = STASHED.map((k) => `if [ -n "\${${k}+x}" ]; then ${STASH_PREFIX}${k}="$${k}"; export ${STASH_PREFIX}${k}; unset ${k}; fi`).join('\n');
  return `#!/bin/sh
# ${LAUNCHER_MARK}: the pipework CNI plugin, written by \`pipework cni install\` as a shell script
# because no C compiler was found: VERSION is answered here, every other command starts Node
# (the resident daemon's socket needs the compiled launcher).
if [ "\${CNI_COMMAND:-}" = VERSION ]; then
  in=
  if [ ! -t 0 ]; then
    while IFS= read -r line || [ -n "$line" ]; do in="$in$line"; done
  fi
  v=1.1.0
  case $in in
    *'"cniVersion"'*) r=\${in#*\\"cniVersion\\"}; r=\${r#*\\"}; r=\${r%%\\"*}
      case $r in ''|*[!0-9.]*) ;; *) v=$r ;; esac ;;
  esac
  printf '{"cniVersion":"%s","supportedVersions":${VERSIONS_JSON}}\\n' "$v"
  exit 0
fi
${stash}
exec ${shQuote(p.node)} ${shQuote(p.script)}
`;
}
