/**
 * DHCP as steps of an attach plan (pure): after the host side, the record and `link set up`,
 * one step obtains the lease — bounded, and undone (the client stopped) if a later step fails;
 * if the lease never comes, the step fails and the plan's rollback removes the interface. The
 * staying methods then make sure pipework's supervisor watches the client.
 */
import type { DhcpMethod } from '../model/dhcp-methods.js';
import type { GuestKind } from '../guest/guest.js';
import { InvalidArgumentError, NotFoundError, UnsupportedError } from '../model/errors.js';
import type { AttachRecord } from '../model/record.js';
import type { Step } from '../model/plan.js';
import type { ClientProgram } from './lease.js';
import { METHOD_INFO, classicLeasefile, classicPidfile, dhcpHostname, helperName } from './methods.js';
import { formatWatch, stateKey, type DnsTarget, type GuestWatch } from './state.js';

export type Runtime = 'docker' | 'podman';

/** What planning DHCP needs to know, gathered before (src/dhcp/environment.ts). */
export interface DhcpFacts {
  /** The argv that runs pipework's DHCP agent: [node, …/build/src/dhcp/agent.js]. */
  agent: readonly string[];
  /** Which client programs are installed on the host. */
  installed: Partial<Record<ClientProgram, boolean>>;
  guestKind: GuestKind;
  guestName: string;
  /** Docker/Podman container id. */
  guestId?: string;
  /** How the supervisor tells that the guest is alive. */
  watch: GuestWatch;
  /** The guest's own resolv.conf, when it has one pipework may write. */
  dns?: DnsTarget;
  timeoutSec: number;
  /** The `dhcp` method: the helper container's runtime and image. */
  helper?: { runtime: Runtime; image: string; imagePresent: boolean; hook: string };
}

export interface DhcpRequest {
  method: DhcpMethod;
  options: readonly string[];
  family: 4 | 6;
}

const PACKAGES: Record<ClientProgram, string> = { udhcpc: 'udhcpc', dhclient: 'isc-dhcp-client', dhcpcd: 'dhcpcd-base' };

/** Every refusal of a DHCP request, before anything changes. */
export function checkDhcp(req: DhcpRequest, facts: DhcpFacts, guestLabel: string): void {
  const info = METHOD_INFO[req.method];
  if (req.family === 6 && !info.v6) {
    throw new InvalidArgumentError(`${req.method === 'dhcp' ? "the 'dhcp' method (busybox udhcpc)" : req.method} is IPv4 only; for DHCPv6 (-a 6) use dhclient, dhclient-f, dhcpcd or dhcpcd-f`);
  }
  if (!info.onHost) {
    if (facts.guestKind !== 'docker' && facts.guestKind !== 'podman') {
      throw new InvalidArgumentError(
        `you asked for the Docker-specific DHCP method 'dhcp' (udhcpc in a helper container sharing the container's network), ` +
        `but ${guestLabel} is not a Docker or Podman container; use udhcpc, dhclient or dhcpcd instead`,
      );
    }
    if (facts.helper === undefined || facts.guestId === undefined) {
      throw new UnsupportedError(`the 'dhcp' method needs the ${facts.guestKind} API (its socket), to start a helper container`);
    }
    if (!facts.helper.imagePresent) {
      throw new NotFoundError(
        `the 'dhcp' method needs the image ${facts.helper.image} for its helper container, and ${facts.helper.runtime} does not have it ` +
        `(pipework does not pull images): pull it first, or name another image with busybox's udhcpc in it with --dhcp-image`,
      );
    }
    return;
  }
  if (facts.installed[info.program] !== true) {
    throw new UnsupportedError(`you asked for DHCP client ${info.program}, but I can't find it: install ${info.program} (Debian package ${PACKAGES[info.program]})`);
  }
}

/** The guest-side steps of a DHCP attach, after the record: IPv6 on, link up, lease, supervisor. */
export function planDhcp(req: DhcpRequest, guestIf: string, nsInode: number, guestRef: string, facts: DhcpFacts, guestLabel: string): Step[] {
  checkDhcp(req, facts, guestLabel);
  const info = METHOD_INFO[req.method];
  const steps: Step[] = [];
  if (req.family === 6) {
    steps.push({
      title: `enable IPv6 on ${guestIf}`,
      action: { kind: 'exec', place: 'guest', argv: ['sysctl', '-q', '-w', `net/ipv6/conf/${guestIf}/disable_ipv6=0`] },
      undo: [],
    });
  }
  steps.push({
    title: `bring ${guestIf} up`,
    action: { kind: 'ip', place: 'guest', args: ['link', 'set', 'dev', guestIf, 'up'] },
    undo: [],
  });
  const hostname = dhcpHostname(facts.guestName);
  const timeout = String(facts.timeoutSec);
  // The agent enforces the timeout itself; this bound is only a last resort.
  const timeoutMs = (facts.timeoutSec + 30) * 1000;
  const what = `a DHCP${req.family === 6 ? 'v6' : ''} lease on ${guestIf} with ${req.method} (at most ${facts.timeoutSec} s)`;

  if (!info.onHost) {
    const helper = facts.helper!;
    const name = helperName(facts.guestId!, guestIf);
    steps.push({
      title: `obtain ${what}: busybox udhcpc in helper container ${name} (image ${helper.image}), sharing the guest's network and PIDs`,
      action: {
        kind: 'exec', place: 'host', timeoutMs, errorLabel: `DHCP (${req.method})`, abortable: true,
        argv: [
          ...facts.agent, 'acquire-container', '--runtime', helper.runtime, '--guest-id', facts.guestId!, '--name', name,
          '--image', helper.image, '--if', guestIf, '--timeout', timeout, '--hook', helper.hook,
          ...(hostname !== undefined ? ['--hostname', hostname] : []), '--', ...req.options,
        ],
      },
      undo: [{ kind: 'exec', place: 'host', argv: [...facts.agent, 'stop', '--helper', `${helper.runtime}:${name}`] }],
    });
    return steps;
  }

  const key = stateKey(nsInode, guestIf);
  const pidfile = classicPidfile(req.method, facts.guestName, guestIf, req.family);
  const dns = facts.dns;
  const argv = [
    // A private mount namespace: the client's own files (and /etc/resolv.conf) are bind-mounted
    // per guest there, so nothing it or a script does can reach the host's.
    'unshare', '--mount', '--propagation', 'private', '--',
    ...facts.agent, 'acquire', '--method', req.method, '--if', guestIf, '--family', String(req.family), '--timeout', timeout,
    '--key', key, '--guest', guestRef, '--watch', formatWatch(facts.watch),
    ...(hostname !== undefined ? ['--hostname', hostname] : []),
    ...(pidfile !== undefined ? ['--pidfile', pidfile] : []),
    ...(info.program === 'dhclient' ? ['--leasefile', classicLeasefile(facts.guestName, guestIf, req.family)] : []),
    ...(dns !== undefined ? ['--dns', dns.path, ...(dns.create ? ['--dns-create'] : []), ...(dns.hostId !== undefined ? ['--host-resolv', dns.hostId] : [])] : []),
    '--', ...req.options,
  ];
  steps.push({
    title: `obtain ${what}${info.staying ? ', which stays to renew it' : ''}`,
    action: { kind: 'exec', place: 'guest', argv, timeoutMs, errorLabel: `DHCP (${req.method})`, abortable: true },
    undo: info.staying ? [{ kind: 'exec', place: 'host', argv: [...facts.agent, 'stop', '--key', key] }] : [],
  });
  if (info.staying) {
    steps.push({
      title: `make sure pipework's DHCP supervisor runs (it stops ${info.program} once the guest is gone)`,
      action: { kind: 'exec', place: 'host', argv: [...facts.agent, 'supervise', '--ensure'], errorLabel: 'DHCP supervisor' },
      undo: [],
    });
  }
  return steps;
}

/**
 * Steps that stop what a DHCP attach left running (before its interface is removed): the
 * staying client, or the helper container; and the resolv.conf pipework made for a named netns.
 */
export function planDhcpStop(record: AttachRecord, guestIf: string, agent: readonly string[], guestId?: string): Step[] {
  const method = record.dhcp;
  if (method === undefined) return [];
  const info = METHOD_INFO[method];
  const args: string[] = [];
  if (!info.onHost) {
    if (guestId === undefined) return [];
    const engine = record.guest.startsWith('podman:') ? 'podman' : 'docker';
    args.push('--helper', `${engine}:${helperName(guestId, guestIf)}`);
  } else if (info.staying) {
    args.push('--key', stateKey(record.nsInode, guestIf));
  }
  if (record.guest.startsWith('netns:')) {
    args.push('--dns-file', `/etc/netns/${record.guest.slice('netns:'.length)}/resolv.conf`, '--if', guestIf);
  }
  if (args.length === 0) return [];
  return [{
    title: info.onHost
      ? `stop the DHCP client of ${guestIf} (${method})${args.includes('--dns-file') ? ' and remove the resolv.conf its lease wrote' : ''}`
      : `remove the DHCP helper container of ${guestIf}`,
    action: { kind: 'exec', place: 'host', argv: [...agent, 'stop', ...args], errorLabel: 'DHCP stop' },
    undo: [],
    // A stopped client is not restarted if a later step of a --replace fails.
    irreversible: true,
  }];
}
