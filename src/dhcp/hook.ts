/**
 * The script every DHCP client of pipework runs on its events (udhcpc -s, dhclient -sf,
 * dhcpcd -c), instead of its own: it configures the guest interface with `ip` (argument arrays,
 * inside the guest's namespace, where the client runs) and writes DNS servers only into the
 * guest's own resolv.conf — never the host's. No client's default script ever runs.
 *
 * The client runs a small generated file (see hookSource) that imports this module and calls
 * runHook with its configuration.
 */
import { appendFileSync, closeSync, constants, fstatSync, ftruncateSync, mkdirSync, openSync, renameSync, statSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ipBatch, ipJsonBatch } from '../exec/ip.js';
import { processRunner, type Runner } from '../exec/runner.js';
import {
  normalize, planBind4, planBind6, resolvConf, type Bind4, type Bind6, type ClientProgram, type CurrentState, type HookEvent,
} from './lease.js';
import type { DnsTarget } from './state.js';

export interface HookConfig {
  program: ClientProgram;
  method: string;
  guestIf: string;
  family: 4 | 6;
  oneshot: boolean;
  /** Where the hook logs (the state directory). */
  stateDir: string;
  dns?: DnsTarget;
  /** The guest's network namespace, named in the resolv.conf written (so a stale one can be told). */
  nsInode?: number;
}

/** The first line of a resolv.conf pipework wrote: it says which interface's lease it came from. */
export function dnsMarker(guestIf: string): string {
  return `Written by pipework from the DHCP lease on ${guestIf}`;
}

/** The file a client runs: an ES module with the absolute node as interpreter (no shell, no PATH lookup). */
export function hookSource(nodePath: string, hookModuleUrl: string, config: HookConfig): string {
  return [
    `#!${nodePath}`,
    '// pipework DHCP hook (generated; the code is src/dhcp/hook.ts)',
    `import { runHook } from ${JSON.stringify(hookModuleUrl)};`,
    `await runHook(${JSON.stringify(config)});`,
    '',
  ].join('\n');
}

function log(config: HookConfig, line: string): void {
  const file = join(config.stateDir, 'hook.log');
  try {
    // Bounded: a client that renews for months rotates its log once it reaches 256 KiB.
    if ((statSync(file, { throwIfNoEntry: false })?.size ?? 0) > 256 * 1024) renameSync(file, `${file}.old`);
    appendFileSync(file, `${new Date().toISOString()} ${line}\n`);
  } catch {
    // logging is best effort
  }
}

async function currentState(runner: Runner, dev: string): Promise<CurrentState> {
  const [links, routes] = await ipJsonBatch(runner, [['addr', 'show', 'dev', dev], ['route', 'show', 'default']], { where: 'the guest' });
  const link = (links as { addr_info?: { family: string; local: string; prefixlen: number }[] }[])[0];
  return {
    addrs4: (link?.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`),
    defaults: (routes as { dst?: string; gateway?: string; dev?: string }[]).filter((r) => r.dst === 'default').map((r) => ({
      ...(r.gateway !== undefined && { gateway: r.gateway }), ...(r.dev !== undefined && { dev: r.dev }),
    })),
  };
}

async function runLines(runner: Runner, lines: string[][], config: HookConfig): Promise<boolean> {
  if (lines.length === 0) return true;
  const failure = await ipBatch(runner, lines, { where: 'the guest' });
  for (const l of lines) log(config, `ip ${l.join(' ')}`);
  if (failure) {
    log(config, `failed: ip ${lines[failure.failedLine]?.join(' ') ?? ''}: ${failure.message}`);
    return false;
  }
  return true;
}

/** Wait (at most 5 s) for a non-tentative IPv6 link-local address: dhclient -6 binds to it. */
async function waitLinkLocal(runner: Runner, dev: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    const [links] = await ipJsonBatch(runner, [['addr', 'show', 'dev', dev]], { where: 'the guest' });
    const infos = (links as { addr_info?: { family: string; scope: string; tentative?: boolean }[] }[])[0]?.addr_info ?? [];
    if (infos.some((a) => a.family === 'inet6' && a.scope === 'link' && a.tentative !== true)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Write the lease's DNS servers into the guest's resolv.conf, in place (Docker bind-mounts that
 * very inode into the container). Opened without following a symlink, and refused when it is
 * the host's file after all.
 */
export function writeDns(target: DnsTarget, content: string): string {
  if (target.create) mkdirSync(dirname(target.path), { recursive: true, mode: 0o755 });
  const flags = constants.O_WRONLY | constants.O_NOFOLLOW | (target.create ? constants.O_CREAT : 0);
  const fd = openSync(target.path, flags, 0o644);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return `not writing DNS servers: ${target.path} is not a regular file`;
    if (target.hostId !== undefined && `${st.dev}:${st.ino}` === target.hostId) {
      return `not writing DNS servers: ${target.path} is the host's /etc/resolv.conf`;
    }
    ftruncateSync(fd, 0);
    writeSync(fd, content, 0, 'utf8');
    return `wrote ${content.split('\n').filter((l) => l.startsWith('nameserver')).length} DNS server(s) to ${target.path}`;
  } finally {
    closeSync(fd);
  }
}

async function bind(event: Bind4 | Bind6, config: HookConfig, runner: Runner): Promise<boolean> {
  const opts = { guestIf: config.guestIf, clientConfigures: config.program === 'dhcpcd', oneshot: config.oneshot };
  const lines = event.kind === 'bind4'
    ? planBind4(event, await currentState(runner, config.guestIf), opts)
    : planBind6(event, opts);
  const ok = await runLines(runner, lines, config);
  const content = resolvConf(event.dns, event.search, `${dnsMarker(config.guestIf)} (${config.method}${config.nsInode !== undefined ? `, netns ${config.nsInode}` : ''})`);
  if (content !== undefined && config.dns !== undefined) {
    try {
      log(config, writeDns(config.dns, content));
    } catch (err) {
      log(config, `could not write DNS servers to ${config.dns.path}: ${(err as Error).message}`);
    }
  }
  return ok;
}

/** Do what an event asks; the exit code the client sees. */
export async function handle(event: HookEvent, config: HookConfig, runner: Runner = processRunner): Promise<number> {
  const dev = config.guestIf;
  switch (event.kind) {
    case 'preinit':
      await runLines(runner, [['link', 'set', 'dev', dev, 'up']], config);
      if (event.family === 6) await waitLinkLocal(runner, dev);
      return 0;
    case 'bind4':
    case 'bind6':
      return (await bind(event, config, runner)) ? 0 : 1;
    case 'unbind4':
      if (event.address !== undefined && event.prefix !== undefined) {
        await runLines(runner, [['addr', 'del', `${event.address}/${event.prefix}`, 'dev', dev]], config);
      } else {
        // udhcpc's deconfig: no IPv4 address and route of a lease stays on the interface.
        for (const argv of [['ip', '-4', 'addr', 'flush', 'dev', dev], ['ip', '-4', 'route', 'flush', 'dev', dev]]) {
          const r = await runner.run(argv, { timeoutMs: 10_000 });
          log(config, `${argv.join(' ')}${r.code === 0 ? '' : `: ${r.stderr.trim()}`}`);
        }
        await runLines(runner, [['link', 'set', 'dev', dev, 'up']], config);
      }
      return 0;
    case 'unbind6':
      await runLines(runner, [['addr', 'del', `${event.address}/${event.prefix}`, 'dev', dev]], config);
      return 0;
    case 'reject':
      log(config, `refused: ${event.why}`);
      return 1;
    case 'ignore':
      return 0;
  }
}

export async function runHook(config: HookConfig): Promise<void> {
  const event = normalize(config.program, process.argv[2], process.env);
  const what = config.program === 'udhcpc' ? (process.argv[2] ?? '?') : (process.env['reason'] ?? '?');
  log(config, `${config.program} ${what}: ${event.kind}${'address' in event && event.address !== undefined ? ` ${event.address}` : ''}`);
  try {
    process.exitCode = await handle(event, config);
  } catch (err) {
    log(config, `error: ${(err as Error).message}`);
    process.exitCode = 1;
  }
}
