/**
 * `pipework destroy FILE | --name NAME`: remove exactly what the topology made — its links
 * (through the engine's detach, this owner's only), the containers and netns it made, the
 * bridges and OVS bridges it made once nothing else is plugged into them — and never an
 * external network, a bridge that was there before, or a guest it did not make. Nothing left is
 * fine: a second destroy says so.
 */
import type { RunContext } from '../../engine/context.js';
import { execute } from '../../engine/executor.js';
import type { Guest as HeldGuest } from '../../guest/guest.js';
import { resolveGuest } from '../../guest/resolve.js';
import { readHostLink } from '../../host/facts.js';
import { planStaleCleanup, staleOvsPorts } from '../../host/stale.js';
import { DHCP_AGENT } from '../../dhcp/paths.js';
import { PipeworkError } from '../../model/errors.js';
import { forgetModels } from './cache.js';
import { pruneOwned, removeContainer } from './containers.js';
import { forgetOwned } from './owned.js';
import { detachLeftovers, hostNs, leftoverLinks, lockTopology, needs, ownBridges } from './apply.js';
import { markedLinks, netnsInode, netnsMarked, readLive, removeState } from './live.js';
import { bridgeRelease, planUnmake, topologyLocks } from './make.js';
import type { Step } from '../../engine/plan.js';
import { ownerText, type Topology } from './model.js';
import { guestRefOf } from './specs.js';

export interface DestroyReport {
  topology: string;
  links: string[];
  containers: string[];
  netns: string[];
  bridges: string[];
  ovsBridges: string[];
  vxlans: string[];
  /** Bridges it made that are kept: something else is plugged into them. */
  kept: string[];
  nothing: boolean;
}

export async function destroyTopology(name: string, topology: Topology | undefined, ctx: RunContext): Promise<DestroyReport> {
  // The bridges it made (or shares) are locked with it: another topology may be leaving or taking them.
  const lock = ctx.dryRun ? undefined : await lockTopology(name, [...(topology ? ownBridges(topology) : []), ...markedLinks(name)], ctx);
  const held = new Map<string, HeldGuest>();
  try {
    const owner = ownerText(name);
    const live = await readLive(name, ctx.runner, topology ? needs(topology, ctx) : {});
    // The file's guests (that exist) are looked into too: links with no host end are found there.
    for (const g of topology?.guests.values() ?? []) {
      try {
        held.set(g.key, await resolveGuest(guestRefOf(g), { runner: ctx.runner }));
      } catch (err) {
        if (!(err instanceof PipeworkError)) throw err;
      }
    }
    const report: DestroyReport = { topology: name, links: [], containers: [], netns: [], bridges: [], ovsBridges: [], vxlans: [], kept: [], nothing: false };
    // Every link of this topology is a leftover of an empty file.
    const all = new Map((await leftoverLinks(topology, live, held, ctx, false)).map((l) => [`${l.nsInode}/${l.guestIf}`, l]));
    // Netns it made: by the state file (inode checked), or — the state lost — by the mark on
    // lo of the netns the file names.
    const netns = new Set(live.netns.keys());
    if (live.state === undefined) {
      for (const g of topology?.guests.values() ?? []) {
        if (g.kind === 'netns' && netnsInode(g.netns) !== undefined && await netnsMarked(ctx.runner, g.netns, name)) netns.add(g.netns);
      }
    }
    if (ctx.dryRun) {
      report.links = [...all.values()].map((l) => `${l.guestText}:${l.guestIf}`);
      report.containers = live.containers.map((c) => c.name);
      report.netns = [...netns];
      report.bridges = [...live.bridges];
      report.ovsBridges = [...live.ovsBridges];
      report.vxlans = [...live.vxlans];
      report.nothing = report.vxlans.length + report.links.length + report.containers.length + report.netns.length + report.bridges.length + report.ovsBridges.length === 0;
      return report;
    }
    report.links = await detachLeftovers([...all.values()], held, owner, ctx);
    for (const g of held.values()) g.ns.close();
    held.clear();
    for (const c of live.containers) {
      await removeContainer(c.runtime, c.id);
      forgetOwned(name, [c.id]);
      report.containers.push(c.name);
    }
    // What it recorded and its runtime no longer knows; a runtime not reachable now keeps its record.
    await pruneOwned(name);
    report.netns = [...netns].filter((n) => netnsInode(n) !== undefined);
    // Rows of this topology's ports whose guest died before destroy (their devices went with it).
    const stale = live.ovs?.dbRunning === true ? (await staleOvsPorts(ctx.runner)).filter((p) => p.ids['pipework.owner']?.replace(/^"|"$/gu, '') === owner) : [];
    const host = hostNs();
    try {
      // VXLAN devices first: they are ports of the bridges.
      report.vxlans = [...live.vxlans].filter((v) => readHostLink(v) !== undefined);
      const first = [...planUnmake({ netns: report.netns, bridges: [], ovsBridges: [], vxlans: report.vxlans }), ...planStaleCleanup(stale, [], DHCP_AGENT)];
      const firstLocks = topologyLocks({ netns: report.netns, vxlans: report.vxlans, ovsBridges: [...live.ovsBridges, ...stale.map((p) => p.bridge)] });
      if (first.length > 0) await execute([{ plan: { guestLabel: 'the host', steps: first, warnings: [], outcome: 'removed', locks: firstLocks }, ns: host }], withoutFail(ctx));
      // Bridges last, once the netns (and the veths in them) are gone — and only if empty.
      await settle(() => [...live.bridges].every((b) => (readHostLink(b)?.ports.length ?? 0) === 0));
      const leave: Step[] = [];
      for (const b of live.bridges) {
        const link = readHostLink(b);
        if (!link) continue;
        const release = bridgeRelease(b, link.alias, name, link.ports);
        if (release.remove) report.bridges.push(b);
        else if (release.step) {
          leave.push(release.step);
          report.kept.push(`${b} (topology ${release.others.join(', ')} uses it too)`);
        } else report.kept.push(`${b} (ports ${link.ports.join(', ')} are not this topology's)`);
      }
      for (const b of live.ovsBridges) {
        const res = await ctx.runner.run(['ovs-vsctl', '--timeout=10', 'list-ports', b], { timeoutMs: 15_000 });
        const ports = res.stdout.split('\n').map((p) => p.trim()).filter((p) => p !== '');
        if (res.code === 0 && ports.length === 0) report.ovsBridges.push(b);
        else report.kept.push(`${b} (ports ${ports.join(', ')} are not this topology's)`);
      }
      const last = [...leave, ...planUnmake({ netns: [], bridges: report.bridges, ovsBridges: report.ovsBridges })];
      const lastLocks = topologyLocks({ bridges: [...live.bridges], ovsBridges: report.ovsBridges });
      if (last.length > 0) await execute([{ plan: { guestLabel: 'the host', steps: last, warnings: [], outcome: 'removed', locks: lastLocks }, ns: host }], withoutFail(ctx));
    } finally {
      host.close();
    }
    // Kept bridges keep their mark (a later destroy may remove them); the state goes.
    removeState(name);
    forgetModels(topology?.part?.file ?? name);
    report.nothing = report.vxlans.length + report.links.length + report.containers.length + report.netns.length + report.bridges.length + report.ovsBridges.length === 0 && report.kept.length === 0;
    return report;
  } finally {
    for (const g of held.values()) g.ns.close();
    lock?.release();
  }
}

function withoutFail(ctx: RunContext): RunContext {
  const copy = { ...ctx };
  delete copy.failAt;
  return copy;
}

/** The kernel removes a deleted netns's veths (and their bridge ports) a moment later: wait, bounded. */
async function settle(done: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}
