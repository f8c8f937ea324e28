/**
 * What a topology has made, read back from the host, and the marks that say so. Every mark is on
 * the thing itself or proves it, so destroy never removes what it did not make:
 *   - links: the engine's record on each interface, with owner `topology:<name>`;
 *   - a Linux bridge: its alias `pipework-topology:<name>[,<name>…]` — every topology that uses a
 *     bridge one of them made is its co-owner, and it goes when the last of them does; an OVS
 *     bridge: its external-id `pipework.topology=<name>` (kept in OVS's database across reboots);
 *   - a named netns: an entry in the state file with its inode (a netns of the same name made
 *     later by someone else has another), and the alias `pipework-topology:<name>` on its `lo`
 *     (read only when the state file is lost);
 *   - a container: its id, recorded when apply made it (owned.ts, kept across reboots as the
 *     containers are); the label `pipework-topology=<name>` it also carries is no proof alone.
 * The state file (/run/pipework/topology/<name>.json, tmpfs: it goes at a reboot, with the netns
 * it names) also lists the guests whose links have no host end, so a later apply finds leftovers
 * there without entering every namespace of the host.
 */
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { ipJsonBatch } from '../../exec/ip.js';
import { openNetns } from '../../exec/netns.js';
import type { Runner } from '../../exec/runner.js';
import { OVS_RUN_DIR, OVS_TIMEOUT, readOvsFacts, type OvsFacts } from '../../host/ovs-facts.js';
import { NETNS_DIR } from '../../guest/resolve.js';
import { ifNameProblem } from '../../model/ifname.js';
import { decodeRecord, type AttachRecord } from '../../model/record.js';
import type { GuestRef } from '../../model/attach-spec.js';
import { madeContainers, runtimeSocket, type MadeContainer } from './containers.js';
import { readOwned } from './owned.js';
import { ownerText, type Topology } from './model.js';
import type { HostLink } from '../../host/links.js';

export const STATE_DIR = '/run/pipework/topology';
const SYS = '/sys/class/net';

export { markedBy, markOf, markText, OVS_MARK_KEY } from '../../engine/networks.js';
import { markedBy, markText, OVS_MARK_KEY } from '../../engine/networks.js';


export interface StateFile {
  version: 1;
  /**
   * Named netns this topology made: name → inode; 0 while the apply that makes it runs (written
   * before it is made: a run given up half-way leaves it findable, by its mark).
   */
  netns: Record<string, number>;
  /** Guests with links that have no host end (macvlan): entered to find leftovers. */
  inside: { ref: GuestRef; nsInode: number }[];
  /**
   * An index of the OVS bridges it made (their marks are the proof): when the file names none and
   * this is empty, Open vSwitch need not be asked. (Containers: owned.ts.)
   */
  ovsBridges?: string[];
  /**
   * Linux bridges an apply is about to make (written before it makes them; the apply's own state
   * replaces the list when it ends): made and not yet marked when a run was given up, they are
   * still found. (An OVS bridge is made with its mark in one transaction.)
   */
  bridges?: string[];
}

export function statePath(topology: string, dir = STATE_DIR): string {
  return `${dir}/${topology}.json`;
}

export function readState(topology: string, dir = STATE_DIR): StateFile | undefined {
  try {
    const parsed = JSON.parse(readFileSync(statePath(topology, dir), 'utf8')) as Partial<StateFile>;
    if (parsed.version !== 1 || typeof parsed.netns !== 'object' || !Array.isArray(parsed.inside)) return undefined;
    return {
      version: 1, netns: parsed.netns ?? {}, inside: parsed.inside,
      ...(Array.isArray(parsed.ovsBridges) && { ovsBridges: parsed.ovsBridges }),
      ...(Array.isArray(parsed.bridges) && { bridges: parsed.bridges.filter((b): b is string => typeof b === 'string' && ifNameProblem(b) === undefined) }),
    };
  } catch {
    return undefined;
  }
}

/** Written whole, through a rename: never half a file. */
export function writeState(topology: string, state: StateFile, dir = STATE_DIR): void {
  const text = `${JSON.stringify(state, null, 2)}\n`;
  if (readText(statePath(topology, dir)) === text.trim()) return;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${statePath(topology, dir)}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, statePath(topology, dir));
}

export function removeState(topology: string, dir = STATE_DIR): void {
  rmSync(statePath(topology, dir), { force: true });
}

/** The inode of a named netns now, or undefined when there is none. */
export function netnsInode(name: string): number | undefined {
  try {
    return statSync(`${NETNS_DIR}/${name}`).ino;
  } catch {
    return undefined;
  }
}

/** A host end (veth) this topology made: its record. */
export interface LiveHostEnd {
  link: string;
  record: AttachRecord;
}

export interface Live {
  topology: string;
  /** Host ends of this topology's links, by `<nsInode>/<guestIf>`. */
  hostEnds: Map<string, LiveHostEnd>;
  /** Every pipework host end on the host (any owner), for addresses `auto` must not take. */
  allHostEnds: LiveHostEnd[];
  /** Linux bridges it made. */
  bridges: Set<string>;
  /** Of those, the ones a run given up made but never marked (the state file names them): apply marks them. */
  unmarkedBridges?: Set<string>;
  /** OVS bridges it made. */
  ovsBridges: Set<string>;
  /** VXLAN devices it made (marked links that are not bridges). */
  vxlans: Set<string>;
  ovs?: OvsFacts;
  /** Netns it made (state file entries whose inode still matches). */
  netns: Map<string, number>;
  /** Of those, the ones a run given up half-way left before it marked them: apply finishes them. */
  unfinished: Map<string, 'pristine' | 'unmounted'>;
  containers: MadeContainer[];
  state?: StateFile;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

interface OvsListTable {
  headings: string[];
  data: unknown[][];
}

/** OVS bridges whose external-ids carry this topology's mark. */
export async function markedOvsBridges(runner: Runner, topology: string): Promise<Set<string>> {
  const res = await runner.run(['ovs-vsctl', OVS_TIMEOUT, '--format=json', '--columns=name,external_ids', 'list', 'Bridge'], { timeoutMs: 15_000 });
  const out = new Set<string>();
  if (res.code !== 0) return out;
  const table = JSON.parse(res.stdout) as OvsListTable;
  for (const [name, ids] of table.data) {
    const map = Array.isArray(ids) && ids[0] === 'map' ? (ids[1] as [string, string][]) : [];
    if (typeof name === 'string' && map.some(([k, v]) => k === OVS_MARK_KEY && v === topology)) out.add(name);
  }
  return out;
}

/** The mark on a netns's `lo` (one `ip` in it): used when the state file is lost. */
export async function netnsMarked(runner: Runner, name: string, topology: string): Promise<boolean> {
  return (await netnsLooks(runner, name, topology)) === 'marked';
}

/**
 * What a named netns shows of its maker: our mark on `lo`; nothing at all (`lo` alone, down, no
 * alias: as `ip netns add` leaves it, before the step that marks it); not a netns (the empty file
 * an `ip netns add` ended half-way leaves, never mounted); or anything else.
 */
export async function netnsLooks(runner: Runner, name: string, topology: string): Promise<'marked' | 'pristine' | 'unmounted' | 'other'> {
  const path = `${NETNS_DIR}/${name}`;
  try {
    const st = lstatSync(path);
    if (st.isFile() && st.size === 0 && st.dev !== statSync('/proc/self/ns/net').dev) return 'unmounted';
  } catch {
    return 'other';
  }
  let ns;
  try {
    ns = openNetns(path, `network namespace ${name}`);
  } catch {
    return 'other';
  }
  try {
    const [links] = await ipJsonBatch(runner, [['link', 'show']], { ns, where: ns.label });
    const all = links as { ifname?: string; ifalias?: string; flags?: string[] }[];
    const lo = all.find((l) => l.ifname === 'lo');
    if (lo?.ifalias === markText(topology)) return 'marked';
    if (all.length === 1 && lo !== undefined && (lo.ifalias ?? '') === '' && !(lo.flags ?? []).includes('UP')) return 'pristine';
    return 'other';
  } catch {
    return 'other';
  } finally {
    ns.close();
  }
}

/** The Linux bridges (and VXLAN devices) whose mark names this topology (sysfs alone). */
export function markedLinks(topology: string): string[] {
  let names: string[] = [];
  try {
    names = readdirSync(SYS);
  } catch {
    // no sysfs: nothing found
  }
  return names.filter((n) => markedBy(readText(`${SYS}/${n}/ifalias`)).includes(topology));
}

/**
 * What this topology has made, from the host alone (sysfs, one OVS query, the runtimes' APIs).
 * Open vSwitch and the runtimes are asked only when the file or the state file may involve
 * them (`ovs`, `containers`), or when there is no state file to say.
 */
export async function readLive(topology: string, runner: Runner, opts: { ovs?: boolean; containers?: boolean } = {}): Promise<Live> {
  const owner = ownerText(topology);
  const mark = markText(topology);
  const live: Live = {
    topology, hostEnds: new Map(), allHostEnds: [], bridges: new Set(), ovsBridges: new Set(), vxlans: new Set(), netns: new Map(), unfinished: new Map(), containers: [],
  };
  let names: string[] = [];
  try {
    names = readdirSync(SYS);
  } catch {
    // no sysfs: nothing found
  }
  for (const name of names) {
    const alias = readText(`${SYS}/${name}/ifalias`);
    if (alias === undefined || alias === '') continue;
    if (alias === mark || markedBy(alias).includes(topology)) {
      if (readText(`${SYS}/${name}/bridge/bridge_id`) !== undefined) live.bridges.add(name);
      else live.vxlans.add(name);
      continue;
    }
    // Records are decoded where they may be ours or hold addresses (auto): cheap text tests first.
    if (!alias.startsWith('pipework/1;r=host;')) continue;
    const record = decodeRecord(alias);
    if (record?.role !== 'host') continue;
    live.allHostEnds.push({ link: name, record });
    if (record.owner === owner) live.hostEnds.set(`${record.nsInode}/${record.guestIf}`, { link: name, record });
  }
  const state = readState(topology);
  if (state) {
    live.state = state;
    for (const [name, inode] of Object.entries(state.netns)) {
      const now = netnsInode(name);
      if (now === undefined) continue;
      // One an apply was about to make (it was made, then the run gave up): its if it carries its
      // mark, or if it is still as `ip netns add` left it — empty, or not even mounted — which
      // nobody can have used (only root makes a named netns, and this name was ours to make).
      if (now === inode) live.netns.set(name, now);
      else if (inode === 0) {
        const looks = await netnsLooks(runner, name, topology);
        if (looks !== 'other') live.netns.set(name, now);
        if (looks === 'pristine' || looks === 'unmounted') live.unfinished.set(name, looks);
      }
    }
  }
  for (const b of state?.bridges ?? []) {
    // Made by a run given up before the step that marks it: a bridge nobody else has marked.
    if (live.bridges.has(b) || readText(`${SYS}/${b}/bridge/bridge_id`) === undefined || (readText(`${SYS}/${b}/ifalias`) ?? '') !== '') continue;
    live.bridges.add(b);
    (live.unmarkedBridges ??= new Set()).add(b);
  }
  const askOvs = opts.ovs === true || state?.ovsBridges === undefined || state.ovsBridges.length > 0;
  // The runtimes hold only what the record names (madeContainers asks none when it names none).
  const askRuntimes = opts.containers === true || readOwned(topology).length > 0;
  // Open vSwitch and the runtimes are asked at the same time.
  const runtimes = askRuntimes ? (['docker', 'podman'] as const).filter((r) => runtimeSocket(r) !== undefined) : [];
  const [ovs, marked, containers] = await Promise.all([
    askOvs ? readOvsFacts(runner) : Promise.resolve(undefined),
    askOvs && existsSync(`${OVS_RUN_DIR}/db.sock`) ? markedOvsBridges(runner, topology).catch(() => new Set<string>()) : Promise.resolve(new Set<string>()),
    Promise.all(runtimes.map((r) => madeContainers(topology, r))),
  ]);
  if (ovs) live.ovs = ovs;
  live.ovsBridges = marked;
  live.containers = containers.flat();
  return live;
}

/** Does the file involve Open vSwitch (an OVS network, or a device that is no Linux bridge) or containers? */
export function liveNeeds(topology: Topology, link: (name: string) => HostLink | undefined): { ovs: boolean; containers: boolean } {
  const ovs = [...topology.networks.values()].some((n) => n.kind === 'ovs' || (n.kind === 'bridge' && link(n.device)?.isBridge === false));
  const containers = [...topology.guests.values()].some((g) => g.kind === 'image');
  return { ovs, containers };
}

/** Has this topology left anything on the host? */
export function anythingMade(live: Live): boolean {
  return live.hostEnds.size > 0 || live.bridges.size > 0 || live.vxlans.size > 0 || live.ovsBridges.size > 0 || live.netns.size > 0 || live.containers.length > 0 || live.state !== undefined;
}
