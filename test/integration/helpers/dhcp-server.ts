// A real DHCP server for the DHCP tests: dnsmasq in its own network namespace, bound to its own
// interface, with no DNS (--port=0) and no configuration file, plugged into a Linux or Open
// vSwitch bridge. Also: finding DHCP client processes by namespace, cleaning what the DHCP
// tests leave. Everything is stopped by PID; nothing here runs a DHCP client.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, rmSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { addNetns, delNetns, ip } from './netns.js';
import { sh, shOk, sleep, waitFor } from './run.js';

export interface DhcpServerOptions {
  /** The server's netns (created). */
  ns: string;
  /** Host end of the server's veth (≤ 15 chars); its peer in `ns` is `sv0`. */
  hostEnd: string;
  /** A Linux bridge, or an Open vSwitch bridge when `ovs`. */
  bridge: string;
  ovs?: boolean;
  /** First three octets: the server is .1, the range .100–.150, the router .1, DNS .53. */
  net: string;
  /** An IPv6 /64 prefix without "::" (e.g. fd77:71): DHCPv6 ::100–::1ff and router advertisements. */
  v6?: string;
  /** Scratch directory for the lease file, log and pid file. */
  dir: string;
}

export interface DhcpServer {
  pid: number;
  leaseFile: string;
  logFile: string;
  /** DHCPACK lines for this MAC (the first lease and every renewal). */
  acks(mac: string): string[];
  /** The lease dnsmasq holds for this MAC: address and the host name the client sent. */
  lease(mac: string): { address: string; hostname: string; clientId: string } | undefined;
  stop(): Promise<void>;
}

export const DNSMASQ_T1 = 10;
export const DNSMASQ_T2 = 15;

export async function startDhcpServer(o: DhcpServerOptions): Promise<DhcpServer> {
  await addNetns(o.ns);
  await ip(['link', 'add', o.hostEnd, 'type', 'veth', 'peer', 'name', 'sv0', 'netns', o.ns]);
  if (o.ovs === true) {
    await shOk(['ovs-vsctl', '--timeout=10', 'add-port', o.bridge, o.hostEnd]);
  } else {
    await ip(['link', 'set', o.hostEnd, 'master', o.bridge]);
  }
  await ip(['link', 'set', o.hostEnd, 'up']);
  await ip(['addr', 'add', `${o.net}.1/24`, 'dev', 'sv0'], o.ns);
  if (o.v6 !== undefined) await ip(['addr', 'add', `${o.v6}::1/64`, 'dev', 'sv0', 'nodad'], o.ns);
  await ip(['link', 'set', 'sv0', 'up'], o.ns);
  await ip(['link', 'set', 'lo', 'up'], o.ns);
  const leaseFile = join(o.dir, `${o.ns}.leases`);
  const logFile = join(o.dir, `${o.ns}.log`);
  const pidFile = join(o.dir, `${o.ns}.pid`);
  await shOk(['ip', 'netns', 'exec', o.ns, 'dnsmasq',
    '--conf-file=/dev/null', '--port=0', '--interface=sv0', '--bind-interfaces', '--no-ping', '--no-resolv', '--no-hosts',
    // dnsmasq's shortest lease is 2 minutes; T1/T2 make the clients that honour them renew every 10 s.
    `--dhcp-range=${o.net}.100,${o.net}.150,255.255.255.0,2m`,
    `--dhcp-option=option:router,${o.net}.1`, `--dhcp-option=option:dns-server,${o.net}.53`, '--dhcp-option=option:domain-search,pwd.test',
    `--dhcp-option=option:T1,${DNSMASQ_T1}`, `--dhcp-option=option:T2,${DNSMASQ_T2}`,
    ...(o.v6 !== undefined ? [`--dhcp-range=${o.v6}::100,${o.v6}::1ff,64,2m`, '--enable-ra', `--dhcp-option=option6:dns-server,[${o.v6}::53]`] : []),
    `--dhcp-leasefile=${leaseFile}`, `--pid-file=${pidFile}`, '--log-dhcp', `--log-facility=${logFile}`,
  ], { timeoutMs: 10_000 });
  const pid = await waitFor('dnsmasq pid file', () => {
    const text = existsSync(pidFile) ? readFileSync(pidFile, 'utf8').trim() : '';
    return /^\d+$/u.test(text) ? Number(text) : undefined;
  }, 5_000, 50);
  const lines = (): string[] => (existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n') : []);
  return {
    pid,
    leaseFile,
    logFile,
    acks: (mac) => lines().filter((l) => / DHCPACK\(sv0\) /u.test(l) && l.toLowerCase().includes(mac.toLowerCase())),
    lease(mac) {
      const text = existsSync(leaseFile) ? readFileSync(leaseFile, 'utf8') : '';
      for (const l of text.split('\n')) {
        const [, m, address, hostname, clientId] = l.split(' ');
        if (m?.toLowerCase() === mac.toLowerCase() && address !== undefined) return { address, hostname: hostname ?? '', clientId: clientId ?? '' };
      }
      return undefined;
    },
    async stop() {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
      await waitFor(`dnsmasq ${pid} to exit`, () => !isRunning(pid), 5_000, 50).catch(() => {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      });
      await delNetns(o.ns);
    },
  };
}

function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) [ZX] /u.test(stat);
  } catch {
    return false;
  }
}

/** The inode of a named netns (its identity for /proc/PID/ns/net). */
export function netnsInode(name: string): number {
  return statSync(`/run/netns/${name}`).ino;
}

export const CLIENT_PROGRAMS = new Set(['udhcpc', 'dhclient', 'dhcpcd']);

/** Live DHCP client processes (udhcpc, dhclient, dhcpcd and its helpers) in the namespace with this inode. */
export function clientsIn(nsInode: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/u.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (!CLIENT_PROGRAMS.has(comm) || /\) [ZX] /u.test(stat)) continue;
      if (statSync(`/proc/${name}/ns/net`).ino === nsInode) out.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** pipework's DHCP supervisor, if one runs. */
export function supervisorPid(): number | undefined {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/u.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (cmd.some((a) => a.endsWith('/dhcp/agent.js') || a.endsWith('/dhcp-agent.js')) && cmd.includes('supervise') && !cmd.includes('--ensure')) return Number(name);
    } catch {
      // exited
    }
  }
  return undefined;
}

/** The IPv4 (or global IPv6) addresses of DEV in netns NS. */
export async function addressesIn(ns: string | number, dev: string, family: 4 | 6 = 4): Promise<string[]> {
  const argv = typeof ns === 'number' ? ['nsenter', `--net=/proc/${ns}/ns/net`, 'ip'] : ['ip', '-n', ns];
  const r = await sh([...argv, '-json', `-${family}`, 'addr', 'show', 'dev', dev]);
  if (r.code !== 0) return [];
  const links = JSON.parse(r.stdout) as { addr_info?: { local: string; prefixlen: number; scope: string }[] }[];
  return (links[0]?.addr_info ?? []).filter((a) => a.scope === 'global').map((a) => `${a.local}/${a.prefixlen}`);
}

/** MAC of DEV in NS. */
export async function macIn(ns: string | number, dev: string): Promise<string> {
  const argv = typeof ns === 'number' ? ['nsenter', `--net=/proc/${ns}/ns/net`, 'ip'] : ['ip', '-n', ns];
  const [l] = JSON.parse(await shOk([...argv, '-json', 'link', 'show', 'dev', dev])) as { address: string }[];
  assert.ok(l !== undefined);
  return l.address;
}

/** The default routes of NS as "default via X dev Y". */
export async function defaultRoutes(ns: string | number, family: 4 | 6 = 4): Promise<string[]> {
  const argv = typeof ns === 'number' ? ['nsenter', `--net=/proc/${ns}/ns/net`, 'ip'] : ['ip', '-n', ns];
  const routes = JSON.parse(await shOk([...argv, '-json', `-${family}`, 'route', 'show', 'default'])) as { gateway?: string; dev?: string }[];
  return routes.map((r) => `default via ${r.gateway ?? '?'} dev ${r.dev ?? '?'}`);
}

/** The state directories pipework keeps for staying clients (/run/pipework/dhcp/<key>). */
export function dhcpStateKeys(): string[] {
  try {
    return readdirSync('/run/pipework/dhcp', { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return [];
  }
}

/** Directories pipework may create for DHCP that did not exist before these tests ran. */
const NEW_DIRS = ['/etc/dhclient', '/etc/netns'].filter((d) => !existsSync(d));

/**
 * What the DHCP tests leave on the host for guests named with PREFIX: dhclient lease files,
 * classic pidfiles; and /etc/dhclient, /etc/netns when they are empty and were not there before.
 */
export function removeDhcpFiles(prefix: string): void {
  for (const [dir, re] of [['/etc/dhclient', /^dhclient6?\./u], ['/var/run', /^(udhcpc|dhclient6?)\./u]] as const) {
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir)) {
      if (re.test(f) && f.replace(re, '').startsWith(prefix)) rmSync(join(dir, f), { force: true });
    }
  }
  for (const d of NEW_DIRS) {
    try {
      if (readdirSync(d).length === 0) rmdirSync(d);
    } catch {
      // absent, or in use
    }
  }
}

/** Stop (through pipework's agent, by the PID it recorded) the staying clients of guests named with PREFIX. */
export async function stopDhcpClients(agent: string, prefix: string): Promise<void> {
  for (const key of dhcpStateKeys()) {
    try {
      const rec = JSON.parse(readFileSync(join('/run/pipework/dhcp', key, 'client.json'), 'utf8')) as { guest: string };
      const name = rec.guest.slice(rec.guest.indexOf(':') + 1);
      if (!name.startsWith(prefix)) continue;
    } catch {
      continue;
    }
    await sh([process.execPath, agent, 'stop', '--key', key], { timeoutMs: 20_000 });
  }
}

export { sleep };

/** The DHCP agent pipework runs: the bundled one when built with `npm run build`, else the tsc output. */
export function dhcpAgentPath(repoRoot: string): string {
  const bundled = join(repoRoot, 'build', 'dist', 'dhcp-agent.js');
  return existsSync(bundled) ? bundled : join(repoRoot, 'build', 'src', 'dhcp', 'agent.js');
}
