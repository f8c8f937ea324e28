/**
 * The DHCP methods: which client each runs, whether it stays to renew, and its command line
 * (pure). Every client is pointed at pipework's hook (never its own script), at per-guest files,
 * and bounded in time.
 */
import type { DhcpMethod } from '../model/dhcp-methods.js';
import type { ClientProgram } from './lease.js';

export interface MethodInfo {
  /** The program that must be installed (for `dhcp`: in the helper image, not on the host). */
  program: ClientProgram;
  /** Stays running to renew the lease (and is supervised); otherwise exits once leased. */
  staying: boolean;
  /** Supports DHCPv6 (`-a 6`). */
  v6: boolean;
  /** Runs on the host, inside the guest's namespace (not in a helper container). */
  onHost: boolean;
}

export const METHOD_INFO: Readonly<Record<DhcpMethod, MethodInfo>> = {
  udhcpc: { program: 'udhcpc', staying: false, v6: false, onHost: true },
  'udhcpc-f': { program: 'udhcpc', staying: true, v6: false, onHost: true },
  dhclient: { program: 'dhclient', staying: false, v6: true, onHost: true },
  'dhclient-f': { program: 'dhclient', staying: true, v6: true, onHost: true },
  dhcpcd: { program: 'dhcpcd', staying: false, v6: true, onHost: true },
  'dhcpcd-f': { program: 'dhcpcd', staying: true, v6: true, onHost: true },
  dhcp: { program: 'udhcpc', staying: true, v6: false, onHost: false },
};

/** Default bound on getting a lease (--dhcp-timeout). */
export const DEFAULT_DHCP_TIMEOUT_SEC = 30;
/** Default image of the `dhcp` method's helper container (--dhcp-image). */
export const DEFAULT_DHCP_IMAGE = 'busybox';

/**
 * The host name a client sends: the guest's name, reduced to what a DHCP server takes as a
 * host name (letters, digits, '-', '.'; at most 63 characters). Undefined when nothing is left.
 */
export function dhcpHostname(guestName: string): string | undefined {
  const h = guestName.replace(/[^A-Za-z0-9.-]/gu, '-').replace(/^[-.]+|[-.]+$/gu, '').slice(0, 63).replace(/[-.]+$/u, '');
  return h === '' ? undefined : h;
}

/** The guest's name as it goes into a file name (the classic pidfile and lease file names). */
export function fileSafe(name: string): string {
  const s = name.replace(/[^A-Za-z0-9._-]/gu, '_').replace(/^\.+/u, '_');
  return s === '' ? '_' : s.slice(0, 100);
}

/** `<guest>` for the default interface (the classic names), `<guest>.<guestIf>` for others. */
function fileStem(guestName: string, guestIf: string): string {
  return guestIf === 'eth1' ? fileSafe(guestName) : `${fileSafe(guestName)}.${guestIf}`;
}

/** The classic pidfile: /var/run/udhcpc.<guest>.pid, /var/run/dhclient.<guest>.pid (dhclient6. for -6). */
export function classicPidfile(method: DhcpMethod, guestName: string, guestIf: string, family: 4 | 6): string | undefined {
  const program = METHOD_INFO[method].program;
  if (!METHOD_INFO[method].onHost || program === 'dhcpcd') return undefined;
  const name = program === 'dhclient' && family === 6 ? 'dhclient6' : program;
  return `/var/run/${name}.${fileStem(guestName, guestIf)}.pid`;
}

/** dhclient's lease file, as the classic tool named it: /etc/dhclient/dhclient.<guest>.leases. */
export function classicLeasefile(guestName: string, guestIf: string, family: 4 | 6): string {
  return `/etc/dhclient/${family === 6 ? 'dhclient6' : 'dhclient'}.${fileStem(guestName, guestIf)}.leases`;
}

export interface ClientArgs {
  method: DhcpMethod;
  guestIf: string;
  family: 4 | 6;
  hostname?: string;
  timeoutSec: number;
  /** The generated hook the client runs on its events. */
  hook: string;
  stateDir: string;
  pidfile?: string;
  leasefile?: string;
  /** dhclient's generated configuration file. */
  conf?: string;
  /** What the user gave after `method:`. */
  options: readonly string[];
}

/**
 * The client's command line: pipework's defaults (which the user's options may change), then the
 * user's options (checked: src/model/dhcp-options.ts), then pipework's own interface, mode, files
 * and script — last, since each client keeps the last of an option given twice, so they win
 * whatever came before them.
 */
export function clientArgv(a: ClientArgs): string[] {
  const info = METHOD_INFO[a.method];
  const oneshot = !info.staying;
  const timeout = String(Math.max(1, Math.ceil(a.timeoutSec)));
  switch (info.program) {
    case 'udhcpc':
      return [
        'udhcpc',
        // One-shot: fail after the tries. Staying: stay in the foreground until leased (pipework
        // bounds that), then go to the background and renew.
        ...(oneshot ? ['-t', timeout] : ['-t', '5', '-A', '5']), '-T', '1',
        // Besides busybox's defaults: the DNS search list and classless static routes.
        '-O', 'search', '-O', 'staticroutes',
        ...(a.hostname !== undefined ? ['-x', `hostname:${a.hostname}`] : []),
        ...a.options,
        // One-shot: quit once leased (-q), give up without a lease (-n).
        '-i', a.guestIf, ...(oneshot ? ['-q', '-n'] : []),
        '-s', a.hook,
        ...(a.pidfile !== undefined ? ['-p', a.pidfile] : []),
      ];
    case 'dhclient':
      return [
        'dhclient', '-v',
        // A DUID from the interface's MAC: the same MAC gets the same DHCPv6 lease.
        ...(a.family === 6 ? ['-D', 'LL'] : []),
        ...a.options,
        a.family === 6 ? '-6' : '-4', ...(oneshot ? ['-1'] : []),
        ...(a.conf !== undefined ? ['-cf', a.conf] : []),
        '-sf', a.hook,
        ...(a.pidfile !== undefined ? ['-pf', a.pidfile] : []),
        ...(a.leasefile !== undefined ? ['-lf', a.leasefile] : []),
        a.guestIf,
      ];
    case 'dhcpcd':
      return [
        'dhcpcd', '-t', timeout,
        ...(a.hostname !== undefined ? ['-h', a.hostname] : []),
        // IPv4: the client id is the MAC (as udhcpc sends it), not a DUID that lives in a state
        // directory: the same MAC gets the same lease. No 169.254 fallback; pipework's hook sets
        // the default route (-G), as for the other clients. IPv6: DUID-LL, from the MAC.
        ...(a.family === 6 ? ['--duid=ll'] : ['--clientid=', '-L', '-G']),
        ...a.options,
        a.family === 6 ? '-6' : '-4', ...(oneshot ? ['-1'] : []),
        '-c', a.hook,
        '-j', `${a.stateDir}/dhcpcd.log`,
        a.guestIf,
      ];
  }
}

/** dhclient's configuration: bounded, quick to retry, the guest's name as host name. */
export function dhclientConf(a: { family: 4 | 6; hostname?: string; timeoutSec: number; staying: boolean }): string {
  const timeout = Math.max(1, Math.ceil(a.timeoutSec));
  const lines = [
    '# pipework: dhclient configuration (generated)',
    // Staying clients are bounded by pipework, which stops them at the deadline; a one-shot
    // client gives up by itself.
    `timeout ${a.staying ? timeout + 10 : timeout};`,
    'retry 30;',
    'reboot 1;',
    'initial-interval 1;',
    'backoff-cutoff 2;',
  ];
  if (a.family === 4) {
    lines.push(
      ...(a.hostname !== undefined ? [`send host-name "${a.hostname}";`] : []),
      'option rfc3442-classless-static-routes code 121 = array of unsigned integer 8;',
      'request subnet-mask, broadcast-address, routers, domain-name, domain-name-servers, domain-search, rfc3442-classless-static-routes;',
    );
  } else {
    lines.push('request dhcp6.name-servers, dhcp6.domain-search;');
  }
  return `${lines.join('\n')}\n`;
}

/** The helper container's name for a guest's interface: deterministic, so `del` finds it. */
export function helperName(guestId: string, guestIf: string): string {
  return `pipework-dhcp-${guestId.slice(0, 12)}-${guestIf.replace(/[^A-Za-z0-9_.-]/gu, '_')}`;
}

/**
 * The command of the `dhcp` method's helper (its entrypoint): busybox udhcpc in the foreground,
 * renewing; the user's options before pipework's interface and script, which so win.
 */
export function helperCommand(a: { guestIf: string; hostname?: string; hookInHelper: string; options: readonly string[] }): string[] {
  return [
    'udhcpc', '-t', '5', '-T', '1', '-A', '5', '-O', 'search',
    ...(a.hostname !== undefined ? ['-x', `hostname:${a.hostname}`] : []),
    ...a.options,
    '-f', '-i', a.guestIf, '-s', a.hookInHelper,
  ];
}
