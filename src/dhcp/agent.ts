/**
 * pipework's DHCP agent: the programs an attach plan runs for DHCP (one process each, argv only).
 *
 *   acquire ...            inside the guest's netns and a private mount namespace (the plan
 *                          runs it under `unshare --mount --propagation private`): run the client,
 *                          bounded; leave it running (staying methods) and record it
 *   acquire-container ...  on the host: the `dhcp` method's helper container, bounded
 *   stop ...               stop a staying client / remove a helper container / our resolv.conf
 *   supervise [--ensure]   the supervisor (src/dhcp/supervisor.ts), or make sure one runs
 *
 * Errors are one line on stderr and exit 1: the plan step reports that line.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import type { DhcpMethod } from '../model/dhcp-methods.js';
import { DHCP_METHODS } from '../model/dhcp-methods.js';
import { checkDhcpOptions } from '../model/dhcp-options.js';
import { launchDetached, startClient } from '../exec/client.js';
import { ipJsonBatch } from '../exec/ip.js';
import type { NetnsHandle } from '../exec/netns.js';
import { processRunner, runOk } from '../exec/runner.js';
import { runtimeSocket, helperLogs, helperRunning, removeHelper, startHelper } from './container.js';
import { hookSource, type HookConfig } from './hook.js';
import { METHOD_INFO, clientArgv, dhclientConf, helperCommand } from './methods.js';
import { detachNamespaceMounts } from './mounts.js';
import { DHCP_AGENT, HOOK_MODULE_URL } from './paths.js';
import { supervisorNodeFlags } from './node-flags.js';
import type { Runtime } from './plan.js';
import { isNsFd, netnsInodeOf, readStat, signal, sleep, stopProcess } from '../exec/proc.js';
import { ensureRoot, parseWatch, readClient, removeState, stateDir, writeClient, STATE_ROOT, type DnsTarget } from './state.js';
import { pokeSupervisor, removeOwnDns, stopClient, supervise } from './supervisor.js';

class AgentError extends Error {}

/** The namespace handles a plan step hands down (fds 3 and 4) must not stay open in a client or daemon. */
function closeInheritedNsFds(): void {
  for (const fd of [3, 4]) if (isNsFd(fd)) closeSync(fd);
}

function tail(file: string, program: string, lines = 3): string {
  try {
    return readFileSync(file, 'utf8').split('\n').map((l) => l.trim().replace(`${program}: `, '')).filter((l) => l !== '').slice(-lines).join('; ');
  } catch {
    return '';
  }
}

/** The addresses of `dev` in the namespace we are in (or `ns`), of one family, not link-local. */
async function addressesOf(dev: string, family: 4 | 6, ns?: NetnsHandle): Promise<string[]> {
  const [links] = await ipJsonBatch(processRunner, [['addr', 'show', 'dev', dev]], { where: 'the guest', ...(ns && { ns }) });
  const infos = (links as { addr_info?: { family: string; local: string; prefixlen: number; scope: string }[] }[])[0]?.addr_info ?? [];
  return infos.filter((a) => a.family === (family === 4 ? 'inet' : 'inet6') && a.scope === 'global').map((a) => `${a.local}/${a.prefixlen}`);
}

/** The PID a daemonised client wrote in its pidfile, once it is the daemon (not the one we started). */
async function daemonPid(pidfiles: () => string[], started: number, program: string, deadlineMs: number): Promise<number | undefined> {
  const nsInode = netnsInodeOf('self');
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    for (const file of pidfiles()) {
      try {
        const pid = Number(readFileSync(file, 'utf8').trim());
        const st = Number.isInteger(pid) && pid > 0 && pid !== started ? readStat(pid) : undefined;
        if (st !== undefined && st.comm.startsWith(program.slice(0, 15)) && st.state !== 'Z' && netnsInodeOf(pid) === nsInode) return pid;
      } catch {
        // not written yet
      }
    }
    await sleep(50);
  }
  return undefined;
}

async function mountBind(source: string, target: string): Promise<void> {
  await runOk(processRunner, ['mount', '--bind', source, target], { timeoutMs: 10_000, where: 'the client\'s mount namespace' });
}

// ---- acquire ------------------------------------------------------------------------------------

async function acquire(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      method: { type: 'string' }, if: { type: 'string' }, family: { type: 'string' }, timeout: { type: 'string' },
      key: { type: 'string' }, guest: { type: 'string' }, watch: { type: 'string' }, hostname: { type: 'string' },
      pidfile: { type: 'string' }, leasefile: { type: 'string' }, dns: { type: 'string' }, 'dns-create': { type: 'boolean' },
      'host-resolv': { type: 'string' },
    },
  });
  const method = values.method as DhcpMethod | undefined;
  const guestIf = values.if;
  const watch = parseWatch(values.watch ?? '');
  const timeoutSec = Number(values.timeout);
  if (method === undefined || !(DHCP_METHODS as readonly string[]).includes(method) || guestIf === undefined || values.key === undefined
    || watch === undefined || !(timeoutSec > 0) || values.guest === undefined) {
    throw new AgentError('acquire: missing or invalid arguments');
  }
  // Checked again here (the grammar checked them first): whoever hands the agent options, none
  // may name a file or a script, or pass environment to the hook.
  const options = checkDhcpOptions(method, positionals);
  const info = METHOD_INFO[method];
  const family = values.family === '6' ? 6 : 4;
  closeInheritedNsFds();

  // Never run a client where it could touch the host's files: we must be in our own mount namespace.
  const parent = readStat(process.pid)?.ppid;
  if (parent !== undefined && parent > 1 && existsSync(`/proc/${parent}/ns/mnt`)
    && readlinkSync(`/proc/${parent}/ns/mnt`) === readlinkSync('/proc/self/ns/mnt')) {
    throw new AgentError('refusing to run a DHCP client outside a private mount namespace (run through unshare --mount)');
  }
  // The copies of every netns bind mount that unshare made would keep other guests' namespaces
  // alive for as long as the client (and the hooks it starts) run: detach them all first.
  try {
    await detachNamespaceMounts();
  } catch (err) {
    throw new AgentError((err as Error).message);
  }

  ensureRoot();
  const dir = stateDir(values.key);
  // A client left from an earlier attach of this interface (removed by hand since): stop it.
  await stopClient(dir, readClient(dir), 'its interface is being plumbed again');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const started = Date.now();
  const fail = async (message: string, client?: { pid: number }): Promise<never> => {
    if (client !== undefined && client.pid > 0) {
      // The client and everything it forked before daemonising: its own process group.
      signal(-client.pid, 'SIGTERM');
      await sleep(300);
      signal(-client.pid, 'SIGKILL');
    }
    // A client that already went to the background (its pidfile names it) goes too.
    for (const file of pidfiles()) {
      try {
        const pid = Number(readFileSync(file, 'utf8').trim());
        const st = pid > 0 ? readStat(pid) : undefined;
        if (st !== undefined && netnsInodeOf(pid) === netnsInodeOf('self') && st.comm.startsWith(info.program)) {
          await stopProcess(pid, st.start, { session: st.session, nsInode: netnsInodeOf('self') ?? 0, graceMs: 2_000 });
        }
      } catch {
        // no pidfile
      }
    }
    if (values.pidfile !== undefined) rmSync(values.pidfile, { force: true });
    removeState(dir);
    throw new AgentError(message);
  };
  const pidfiles = (): string[] => {
    if (info.program === 'dhcpcd') return [join(dir, 'run', `${guestIf}-${family}.pid`), join(dir, 'run', `${guestIf}.pid`), join(dir, 'run', 'pid')];
    return values.pidfile !== undefined ? [values.pidfile] : [];
  };

  // The client's view of the host's files: /etc/resolv.conf is a scratch file of its own, and
  // dhcpcd's state directories are this guest's.
  const sink = join(dir, 'resolv.conf');
  writeFileSync(sink, '# pipework: a DHCP client\'s private /etc/resolv.conf (the host\'s file is out of its reach)\n');
  if (existsSync('/etc/resolv.conf')) await mountBind(sink, '/etc/resolv.conf');
  if (info.program === 'dhcpcd') {
    for (const [sub, target] of [['run', '/run/dhcpcd'], ['lib', '/var/lib/dhcpcd']] as const) {
      mkdirSync(join(dir, sub), { recursive: true, mode: 0o755 });
      mkdirSync(target, { recursive: true, mode: 0o755 });
      await mountBind(join(dir, sub), target);
    }
  }

  const dns: DnsTarget | undefined = values.dns !== undefined
    ? { path: values.dns, create: values['dns-create'] === true, ...(values['host-resolv'] !== undefined && { hostId: values['host-resolv'] }) }
    : undefined;
  const config: HookConfig = {
    program: info.program, method, guestIf, family, oneshot: !info.staying, stateDir: dir, ...(dns !== undefined && { dns }),
    ...(netnsInodeOf('self') !== undefined && { nsInode: netnsInodeOf('self')! }),
  };
  const hook = join(dir, 'hook.mjs');
  writeFileSync(hook, hookSource(process.execPath, HOOK_MODULE_URL, config), { mode: 0o700 });
  let conf: string | undefined;
  if (info.program === 'dhclient') {
    conf = join(dir, 'dhclient.conf');
    writeFileSync(conf, dhclientConf({ family, timeoutSec, staying: info.staying, ...(values.hostname !== undefined && { hostname: values.hostname }) }));
    if (values.leasefile !== undefined) mkdirSync(dirname(values.leasefile), { recursive: true, mode: 0o755 });
  }
  for (const file of pidfiles()) mkdirSync(dirname(file), { recursive: true });

  const argv = clientArgv({
    method, guestIf, family, timeoutSec, hook, stateDir: dir, options,
    ...(values.hostname !== undefined && { hostname: values.hostname }),
    ...(values.pidfile !== undefined && { pidfile: values.pidfile }),
    ...(values.leasefile !== undefined && { leasefile: values.leasefile }),
    ...(conf !== undefined && { conf }),
  });
  const logFile = join(dir, 'client.log');
  const start = (): ReturnType<typeof startClient> => {
    const logFd = openSync(logFile, 'a');
    try {
      return startClient(argv, { logFd, env: { ...process.env, LC_ALL: 'C' } });
    } finally {
      closeSync(logFd);
    }
  };
  let client = start();
  // Interrupted (Ctrl-C on pipework, or its bound): the client must not stay behind, unrecorded.
  const interrupted = (sig: NodeJS.Signals): void => {
    void fail(`interrupted by ${sig}`, client).catch(() => undefined).finally(() => process.exit(1));
  };
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const sig of signals) process.once(sig, interrupted);
  const disarm = (): void => {
    for (const sig of signals) process.off(sig, interrupted);
  };
  const deadline = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutSec * 1000).unref());
  let outcome;
  const said = (): string => {
    const t = tail(logFile, info.program);
    return t === '' ? '' : ` (${info.program}: ${t})`;
  };
  for (let attempt = 1; ; attempt++) {
    try {
      outcome = await Promise.race([client.exited, deadline]);
    } catch (err) {
      return fail(`${info.program} could not be started: ${(err as Error).message}`);
    }
    // busybox udhcpc -n gives up when its requests for an offered address go unanswered, long
    // before the time it was given: a server that did answer deserves another try, in time.
    const offered = outcome !== 'timeout' && outcome.code !== 0 && info.program === 'udhcpc' && !info.staying &&
      /select for/u.test(readFileSync(logFile, 'utf8'));
    if (!offered || attempt >= 3 || Date.now() - started > (timeoutSec - 2) * 1000) break;
    client = start();
  }
  if (outcome === 'timeout') {
    return fail(`no DHCP${family === 6 ? 'v6' : ''} lease on ${guestIf} within ${timeoutSec} s${said()}`, client);
  }
  if (outcome.code !== 0) {
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    return fail(`no DHCP${family === 6 ? 'v6' : ''} lease on ${guestIf}: ${info.program} gave up after ${secs} s (exit ${outcome.code ?? outcome.signal})${said()}`, client);
  }
  const addresses = await addressesOf(guestIf, family);
  if (addresses.length === 0) {
    return fail(`${info.program} exited without configuring an IPv${family} address on ${guestIf}${said()}`);
  }

  if (!info.staying) {
    if (info.program === 'dhclient') {
      // dhclient went to the background once leased: stop it (the classic tool killed it too).
      const pid = await daemonPid(pidfiles, client.pid, 'dhclient', 3_000);
      const st = pid !== undefined ? readStat(pid) : undefined;
      if (pid !== undefined && st !== undefined) await stopProcess(pid, st.start, { graceMs: 3_000 });
    }
    // The classic tool removed a one-shot client's pidfile.
    if (values.pidfile !== undefined) rmSync(values.pidfile, { force: true });
    removeState(dir);
    disarm();
    process.stdout.write(`${JSON.stringify({ method, guestIf, addresses, ms: Date.now() - started })}\n`);
    return;
  }

  const pid = await daemonPid(pidfiles, client.pid, info.program, 5_000);
  const st = pid !== undefined ? readStat(pid) : undefined;
  if (pid === undefined || st === undefined) {
    return fail(`${info.program} got a lease on ${guestIf} but did not stay in the background to renew it${said()}`, client);
  }
  disarm();
  writeClient(dir, {
    method, program: info.program, pid, start: st.start, session: st.session, guest: values.guest, guestIf,
    nsInode: netnsInodeOf('self') ?? 0, watch,
    ...(values.pidfile !== undefined && { pidfile: values.pidfile }),
    ...(dns !== undefined && { dns }),
    startedAt: new Date().toISOString(),
  });
  process.stdout.write(`${JSON.stringify({ method, guestIf, addresses, pid, ms: Date.now() - started })}\n`);
}

// ---- the `dhcp` method: a helper container --------------------------------------------------------

async function acquireContainer(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      runtime: { type: 'string' }, 'guest-id': { type: 'string' }, name: { type: 'string' }, image: { type: 'string' },
      if: { type: 'string' }, timeout: { type: 'string' }, hook: { type: 'string' }, hostname: { type: 'string' },
    },
  });
  const runtime = values.runtime as Runtime | undefined;
  const timeoutSec = Number(values.timeout);
  const { name, image, hook } = values;
  const guestId = values['guest-id'];
  const guestIf = values.if;
  if ((runtime !== 'docker' && runtime !== 'podman') || guestId === undefined || name === undefined || image === undefined
    || guestIf === undefined || hook === undefined || !(timeoutSec > 0)) {
    throw new AgentError('acquire-container: missing or invalid arguments');
  }
  const options = checkDhcpOptions('dhcp', positionals);
  // The guest's namespace, inherited as fd 3: hold our own (close-on-exec) handle to it.
  const fd = openSync('/proc/self/fd/3', 'r');
  const ns: NetnsHandle = { fd, inode: statSync('/proc/self/fd/3').ino, label: 'the guest', close: () => closeSync(fd) };
  closeInheritedNsFds();
  const socket = runtimeSocket(runtime);
  if (socket === undefined) throw new AgentError(`the ${runtime} API socket was not found`);
  // A helper left from an earlier attach of this interface goes first.
  await removeHelper(socket, name);
  const hookInHelper = '/run/pipework-dhcp-hook';
  const id = await startHelper(socket, {
    name, image, guestId, hook, hookInHelper,
    cmd: helperCommand({ guestIf, hookInHelper, options, ...(values.hostname !== undefined && { hostname: values.hostname }) }),
  });
  const interrupted = (sig: NodeJS.Signals): void => {
    void removeHelper(socket, id).catch(() => undefined).finally(() => {
      process.stderr.write(`interrupted by ${sig}\n`);
      process.exit(1);
    });
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, interrupted);
  const started = Date.now();
  const deadline = started + timeoutSec * 1000;
  let lastLogs = '';
  for (;;) {
    const addresses = await addressesOf(guestIf, 4, ns);
    if (addresses.length > 0) {
      process.stdout.write(`${JSON.stringify({ method: 'dhcp', guestIf, addresses, helper: name, ms: Date.now() - started })}\n`);
      ns.close();
      return;
    }
    const running = await helperRunning(socket, id);
    if (running === true) lastLogs = (await helperLogs(socket, id)) || lastLogs;
    if (running !== true) {
      await removeHelper(socket, id);
      throw new AgentError(`the DHCP helper container ${name} exited without a lease on ${guestIf}${lastLogs !== '' ? ` (${lastLogs})` : ''}`);
    }
    if (Date.now() >= deadline) {
      await removeHelper(socket, id);
      throw new AgentError(`no DHCP lease on ${guestIf} within ${timeoutSec} s (helper container ${name}${lastLogs !== '' ? `: ${lastLogs}` : ''})`);
    }
    await sleep(200);
  }
}

// ---- stop ------------------------------------------------------------------------------------------

async function stop(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { key: { type: 'string' }, helper: { type: 'string' }, 'dns-file': { type: 'string' }, if: { type: 'string' }, 'stale-dns': { type: 'string' } },
  });
  closeInheritedNsFds();
  if (values.key !== undefined) {
    const dir = stateDir(values.key);
    await stopClient(dir, readClient(dir), 'pipework del');
  }
  if (values.helper !== undefined) {
    const colon = values.helper.indexOf(':');
    const runtime = values.helper.slice(0, colon) as Runtime;
    const name = values.helper.slice(colon + 1);
    const socket = runtime === 'docker' || runtime === 'podman' ? runtimeSocket(runtime) : undefined;
    if (socket === undefined) throw new AgentError(`cannot remove helper container ${name}: no ${runtime} API socket`);
    await removeHelper(socket, name);
  }
  if (values['dns-file'] !== undefined && values.if !== undefined) removeOwnDns(values['dns-file'], values.if);
  // A resolv.conf a lease wrote for a netns that is gone (pipework del --stale).
  if (values['stale-dns'] !== undefined) removeOwnDns(values['stale-dns']);
}

// ---- supervise -------------------------------------------------------------------------------------

async function ensureSupervisor(): Promise<void> {
  closeInheritedNsFds();
  if (await pokeSupervisor()) return;
  ensureRoot();
  const logFd = openSync(join(STATE_ROOT, 'supervisor.log'), 'a');
  try {
    // A poller that wakes once a second: V8 tuned for memory, not speed (node-flags.ts).
    launchDetached([DHCP_AGENT[0]!, ...supervisorNodeFlags(), ...DHCP_AGENT.slice(1), 'supervise'], { logFd });
  } finally {
    closeSync(logFd);
  }
  const until = Date.now() + 10_000;
  while (Date.now() < until) {
    if (await pokeSupervisor()) return;
    await sleep(50);
  }
  throw new AgentError(`pipework's DHCP supervisor did not start (see ${join(STATE_ROOT, 'supervisor.log')})`);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'acquire': return acquire(rest);
    case 'acquire-container': return acquireContainer(rest);
    case 'stop': return stop(rest);
    case 'supervise':
      if (rest.includes('--ensure')) return ensureSupervisor();
      closeInheritedNsFds();
      return supervise();
    default:
      throw new AgentError(`unknown command ${String(command)} (acquire, acquire-container, stop, supervise)`);
  }
}

main(process.argv.slice(2)).then(
  () => { process.exitCode ??= 0; },
  (err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`${message.replace(/\s*\n\s*/gu, ' ')}\n`);
    process.exitCode = 1;
  },
);
