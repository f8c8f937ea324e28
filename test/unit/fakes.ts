// Shared fixtures for the unit tests: a recording Runner, a fake namespace handle,
// host/guest facts, the planner's input for a command line, and error-assertion helpers.
// No root, no network, nothing spawned.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DhcpFacts } from '../../src/dhcp/plan.js';
import type { Facts } from '../../src/drivers/facts.js';
import type { GuestInfo } from '../../src/model/guest-info.js';
import { attachNames } from '../../src/drivers/registry.js';
import type { Plan } from '../../src/model/plan.js';
import type { PlanInput } from '../../src/engine/planner.js';
import type { NetnsHandle } from '../../src/exec/netns.js';
import type { RunOptions, RunResult, Runner } from '../../src/exec/runner.js';
import { resolveClassic, type HostLookup } from '../../src/front/classic/spec.js';
import { parseCommandLine } from '../../src/front/classic/grammar.js';
import type { AttachRequest } from '../../src/front/classic/request.js';
import { parseRoutes, type GuestFacts, type GuestLink } from '../../src/guest/netstate.js';
import type { HostLink } from '../../src/host/links.js';
import type { OvsFacts, OvsPortRow } from '../../src/host/ovs-facts.js';
import type { Owner } from '../../src/model/owner.js';
import { decodeRecord, type AttachRecord } from '../../src/model/record.js';

// Locks and records of unit tests stay among them: a directory of their own, never a lock a real
// run on this machine waits for (and no root needed).
process.env['PIPEWORK_RUN_DIR'] ??= mkdtempSync(join(tmpdir(), 'pw-unit-run-'));

export interface Call {
  argv: string[];
  input?: string;
  nsFd?: number;
  /** Several namespaces handed down as fds 3, 4, … (a run of several guests). */
  fds?: number[];
}

/** What the fake program run answers: exit code and stderr (stdout is always empty). */
export interface FakeAnswer {
  code: number;
  stderr?: string;
  stdout?: string;
}

/** A Runner that records every call and answers from `answer` (default: success). */
export class FakeRunner implements Runner {
  readonly calls: Call[] = [];
  constructor(private readonly answer: (call: Call, index: number) => FakeAnswer = () => ({ code: 0 })) {}

  run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const call: Call = { argv: [...argv] };
    if (options.input !== undefined) call.input = options.input;
    if (options.nsFd !== undefined) call.nsFd = options.nsFd;
    if (options.fds !== undefined) call.fds = [...options.fds];
    this.calls.push(call);
    const a = this.answer(call, this.calls.length - 1);
    return Promise.resolve({
      code: a.code,
      signal: null,
      stdout: a.stdout ?? '',
      stderr: a.stderr ?? '',
      durationMs: 1,
      timedOut: false,
    });
  }

  /** Batch lines written to stdin, per call. */
  lines(): string[][] {
    return this.calls.map((c) => (c.input ?? '').split('\n').filter((l) => l !== ''));
  }
}

/** ip -batch's answer when line `line` (1-based) fails. */
export function batchFailure(line: number, why = 'RTNETLINK answers: File exists'): FakeAnswer {
  return { code: 1, stderr: `${why}\nCommand failed -:${line}\n` };
}

export const NS_FD = 77;

export function fakeNs(label = 'docker container c1 (pid 4242)', fd = NS_FD, inode = 4026532999): NetnsHandle {
  return { fd, inode, label, close: () => undefined };
}

export const HOST_BATCH = ['ip', '-batch', '-'];
export const HOST_FORCE_BATCH = ['ip', '-force', '-batch', '-'];
export const GUEST_BATCH = ['nsenter', '--net=/proc/self/fd/3', '--', 'ip', '-batch', '-'];
export const GUEST_FORCE_BATCH = ['nsenter', '--net=/proc/self/fd/3', '--', 'ip', '-force', '-batch', '-'];

export function bridge(name: string, extra: Partial<HostLink> = {}): HostLink {
  return { name, isBridge: true, type: 1, mtu: 1500, up: true, mac: '02:00:00:00:00:01', ports: [], ...extra };
}

export function nic(name: string, extra: Partial<HostLink> = {}): HostLink {
  return { name, isBridge: false, type: 1, mtu: 1500, up: true, mac: '52:54:00:12:34:56', ports: [], ...extra };
}

/** An IPoIB interface (ARPHRD_INFINIBAND). */
export function ib(name: string, extra: Partial<HostLink> = {}): HostLink {
  return { name, isBridge: false, type: 32, mtu: 2044, up: true, mac: '80:00:02:08:fe:80:00:00:00:00:00:00:00:02:c9:03:00:0a:0b:0c', ports: [], ...extra };
}

/** What `ip -d` tells of a host link (the engine's gatherer adds it where a plan needs it). */
export interface LinkDetails {
  kind?: string;
  vlanId?: number;
  parent?: string;
}

/** What the gatherer adds to the sysfs facts: `ip -d` details, Open vSwitch, bridge VLAN filtering. */
export interface ExtraHostFacts {
  details?: Record<string, LinkDetails>;
  ovs?: OvsFacts;
  /** Open vSwitch port rows by name (null: no such row), when a re-run checks one. */
  ovsPorts?: Record<string, OvsPortRow | null>;
  bridgeVlanFiltering?: Record<string, 'on' | 'off' | 'unsupported'>;
}

/** The host links as the planner's facts see them: each with its details and VLAN filtering merged in. */
export function hostFacts(links: HostLink[], extra: ExtraHostFacts = {}): Record<string, HostLink | null> {
  return Object.fromEntries(links.map((l) => {
    const filtering = extra.bridgeVlanFiltering?.[l.name];
    return [l.name, { ...l, ...extra.details?.[l.name], ...(filtering !== undefined && { vlanFiltering: filtering }) }];
  }));
}

/** The classic heuristics' view of a fixed set of links (a bridge wins a MAC shared with its port). */
export function hostLookup(links: HostLink[], ovs?: OvsFacts): HostLookup {
  const map = new Map(links.map((l) => [l.name, l]));
  return {
    link: (name) => map.get(name),
    byMac: (mac) => (links.find((l) => l.mac === mac && l.isBridge) ?? links.find((l) => l.mac === mac))?.name,
    ovsBridges: () => ovs?.bridges ?? [],
  };
}

export interface ContextOptions extends ExtraHostFacts {
  /** Host links (default: an existing bridge br0). */
  links?: HostLink[];
  facts?: GuestFacts;
  hasArping?: boolean;
  /** The guest's PID (none: a guest without one) and namespace inode. */
  guest?: { pid?: number; nsInode: number };
  /** A Docker container id (its name is `name`); without it the guest has no id. */
  container?: { id: string; name: string };
  /** The Docker container's name, in the guest's label and reference (default c1). */
  name?: string;
  /** What DHCP needs, when the line asks for a DHCP method. */
  dhcp?: DhcpFacts;
  /** Who asks (default: the command line). */
  owner?: Owner;
}

/** The guest of the fixtures: Docker container NAME (pid 4242). */
export function guestInfo(o: Pick<ContextOptions, 'guest' | 'container' | 'name'> = {}): GuestInfo {
  const name = o.name ?? 'c1';
  const g = o.guest ?? { pid: 4242, nsInode: 4026532999 };
  return {
    kind: 'docker',
    name,
    ...(o.container && { id: o.container.id }),
    ...(g.pid !== undefined && { pid: g.pid }),
    nsInode: g.nsInode,
    label: `docker container ${name} (pid 4242)`,
  };
}

/** What the planner is given for an attach on Docker container NAME (pid 4242): the line resolved against the fixture's host. */
export function attachContext(argv: readonly string[], o: ContextOptions = {}): PlanInput {
  const links = o.links ?? [bridge('br0')];
  const spec = resolveClassic(attachRequest(argv), hostLookup(links, o.ovs), o.owner);
  const guest = guestInfo(o);
  const guestSide = o.facts ?? guestFacts();
  // The record of the interface asked for, as a host that made it would confirm it.
  const existing = aliasTargets(guestSide).find((t) => t.guestIf === spec.guestIf)?.record;
  const facts: Facts = {
    host: hostFacts(links, o),
    arping: o.hasArping ?? false,
    guest: guestSide,
    ...(existing !== undefined && { existing }),
    ...(o.ovs && { ovs: o.ovs }),
    ...(o.ovsPorts && { ovsPorts: o.ovsPorts }),
    ...(o.dhcp && { dhcp: o.dhcp }),
  };
  return { spec, guest, names: attachNames(spec, { ...(guest.pid !== undefined && { pid: guest.pid }), nsInode: guest.nsInode }), facts };
}

/**
 * The plan without its `requires` (host links that must still exist when a step runs): the
 * executor checks them in this machine's sysfs, where the fixture's links are not.
 */
export function settled(plan: Plan): Plan {
  return { ...plan, steps: plan.steps.map(({ requires: _r, ...s }) => s) };
}

/** Open vSwitch installed and running, with these bridges and the kernel datapath. */
export function ovsFacts(extra: Partial<OvsFacts> = {}): OvsFacts {
  return { installed: true, dbRunning: true, switchRunning: true, bridges: [], kernelDatapath: true, ...extra };
}

/** `ip -json -details route show table all` of a Docker guest with eth0 172.17.0.2/16 and IPv6. */
export const DOCKER_ROUTES_JSON = [
  { type: 'unicast', dst: 'default', gateway: '172.17.0.1', dev: 'eth0', table: 'main', protocol: 'boot', scope: 'global', flags: [] },
  { type: 'unicast', dst: '172.17.0.0/16', dev: 'eth0', table: 'main', protocol: 'kernel', scope: 'link', prefsrc: '172.17.0.2', flags: [] },
  { type: 'local', dst: '172.17.0.2', dev: 'eth0', table: 'local', protocol: 'kernel', scope: 'host', prefsrc: '172.17.0.2', flags: [] },
  { type: 'broadcast', dst: '172.17.255.255', dev: 'eth0', table: 'local', protocol: 'kernel', scope: 'link', prefsrc: '172.17.0.2', flags: [] },
  { type: 'unicast', dst: '2001:db8:1::/64', dev: 'eth0', table: 'main', protocol: 'kernel', scope: 'global', metric: 256, flags: [], pref: 'medium' },
  { type: 'unicast', dst: 'fe80::/64', dev: 'eth0', table: 'main', protocol: 'kernel', scope: 'global', metric: 256, flags: [], pref: 'medium' },
  { type: 'unicast', dst: 'default', gateway: '2001:db8:1::1', dev: 'eth0', table: 'main', protocol: 'boot', scope: 'global', metric: 1024, flags: [], pref: 'medium' },
  { type: 'local', dst: '2001:db8:1::2', dev: 'eth0', table: 'local', protocol: 'kernel', scope: 'global', metric: 0, flags: [], pref: 'medium' },
  { type: 'multicast', dst: 'ff00::/8', dev: 'eth0', table: 'local', protocol: 'kernel', scope: 'global', metric: 256, flags: [], pref: 'medium' },
];

/** A guest link: a bare name is an up link without alias (not pipework's). */
export type LinkSpec = string | GuestLink;

export function guestFacts(links: LinkSpec[] = ['lo', 'eth0'], routes: unknown[] = []): GuestFacts {
  return {
    links: links.map((l) => (typeof l === 'string' ? { name: l, up: true } : l)),
    routes: parseRoutes(routes as Parameters<typeof parseRoutes>[0]),
  };
}

/** Parse a command line that must be an attach request. */
export function attachRequest(argv: readonly string[]): AttachRequest {
  const r = parseCommandLine(argv);
  assert.equal(r.kind, 'attach');
  return r;
}

type ErrorClass = abstract new (...args: never[]) => Error;

/** Assert `fn` throws an instance of `cls` whose message is one line and contains each fragment. */
export function assertThrows(fn: () => unknown, cls: ErrorClass, ...fragments: string[]): Error {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught !== undefined, `expected ${cls.name} to be thrown, but nothing was`);
  assertError(caught, cls, ...fragments);
  return caught as Error;
}

export function assertError(err: unknown, cls: ErrorClass, ...fragments: string[]): void {
  assert.ok(err instanceof cls, `expected ${cls.name}, got ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
  assert.ok(!err.message.includes('\n'), `message is not one line: ${JSON.stringify(err.message)}`);
  for (const f of fragments) {
    assert.ok(err.message.includes(f), `message ${JSON.stringify(err.message)} does not mention ${JSON.stringify(f)}`);
  }
}

export async function assertRejects(p: Promise<unknown>, cls: ErrorClass, ...fragments: string[]): Promise<Error> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  assert.ok(caught !== undefined, `expected ${cls.name} to be thrown, but the promise resolved`);
  assertError(caught, cls, ...fragments);
  return caught as Error;
}

/**
 * The pipework interfaces of fake guest facts, as a host that made them all would confirm them
 * (their guest-side records as they are): what the detach logic gets from src/engine/trust.ts.
 */
export function aliasTargets(facts: GuestFacts): { guestIf: string; record: AttachRecord }[] {
  return facts.links.flatMap((l) => {
    const record = decodeRecord(l.alias);
    return record?.role === 'guest' ? [{ guestIf: l.name, record }] : [];
  });
}
