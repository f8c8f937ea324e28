/**
 * `pipework destroy FILE | --name NAME`: remove exactly what the topology made — its links
 * (through the engine's detach, this owner's only; those in a netns it removes by their host ends,
 * all at once, the netns after), the containers and netns it made, the
 * bridges and OVS bridges it made once nothing else is plugged into them — and never an
 * external network, a bridge that was there before, or a guest it did not make. What goes is
 * chosen once (leftovers.ts), the same for --dry-run; it is removed through the engine, in one
 * journal. Nothing left is fine: a second destroy says so.
 */
import type { RunContext } from '../../engine/context.js';
import { Journal } from '../../engine/journal.js';
import type { Guest as HeldGuest } from '../../guest/guest.js';
import { resolveGuest } from '../../guest/resolve.js';
import { planStaleCleanup, staleOvsPorts } from '../../host/stale.js';
import { DHCP_AGENT } from '../../dhcp/paths.js';
import { PipeworkError } from '../../model/errors.js';
import { forgetModels } from './cache.js';
import { pruneOwned } from './containers.js';
import { KEEP_NOTHING, leftoverLinks, removeChosen, selectRemovals } from './leftovers.js';
import { liveNeeds, markedLinks, netnsInode, netnsMarked, readLive, removeState } from './live.js';
import { lockTopology, ownBridges } from './lock.js';
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
  /** What it made that stays, and why: another topology shares it, or something else is plugged in. */
  kept: string[];
  nothing: boolean;
}

export async function destroyTopology(name: string, topology: Topology | undefined, ctx: RunContext): Promise<DestroyReport> {
  // The bridges it made (or shares) are locked with it: another topology may be leaving or taking them.
  const lock = ctx.dryRun ? undefined : await lockTopology(name, [...(topology ? ownBridges(topology) : []), ...markedLinks(name)], ctx);
  const held = new Map<string, HeldGuest>();
  const release = () => {
    for (const g of held.values()) g.ns.close();
    held.clear();
  };
  try {
    const owner = ownerText(name);
    const live = await readLive(name, ctx.runner, topology ? liveNeeds(topology, (n) => ctx.cache.hostLinks.link(n)) : {});
    // The file's guests (that exist) are looked into too: links with no host end are found there.
    for (const g of topology?.guests.values() ?? []) {
      try {
        held.set(g.key, await resolveGuest(guestRefOf(g), { runner: ctx.runner }));
      } catch (err) {
        if (!(err instanceof PipeworkError)) throw err;
      }
    }
    // Netns it made: by the state file (inode checked), or — the state lost — by the mark on
    // lo of the netns the file names.
    const netns = new Set(live.netns.keys());
    if (live.state === undefined) {
      for (const g of topology?.guests.values() ?? []) {
        if (g.kind === 'netns' && netnsInode(g.netns) !== undefined && await netnsMarked(ctx.runner, g.netns, name)) netns.add(g.netns);
      }
    }
    // Rows of this topology's ports whose guest died before destroy (their devices went with it).
    const stale = live.ovs?.dbRunning === true ? (await staleOvsPorts(ctx.runner)).filter((p) => p.ids['pipework.owner']?.replace(/^"|"$/gu, '') === owner) : [];
    // Every link of this topology is a leftover of an empty file.
    const chosen = await selectRemovals({
      topology: name, live, keep: KEEP_NOTHING, links: await leftoverLinks(topology, live, held, ctx, false),
      netns: [...netns].filter((n) => netnsInode(n) !== undefined),
      before: { steps: planStaleCleanup(stale, [], DHCP_AGENT), ports: stale.map((p) => p.port), ovsBridges: stale.map((p) => p.bridge) },
    }, ctx);
    const report: DestroyReport = {
      topology: name, links: chosen.links.map((l) => `${l.guestText}:${l.guestIf}`), containers: chosen.containers.map((c) => c.name), netns: chosen.netns,
      bridges: chosen.bridges, ovsBridges: chosen.ovsBridges, vxlans: chosen.vxlans, kept: chosen.kept, nothing: false,
    };
    if (!ctx.dryRun) {
      const journal = new Journal();
      const run: RunContext = { ...ctx, journal };
      delete run.failAt;
      try {
        // Guests are let go once their links are: a container's namespace goes with it.
        const removed = await removeChosen(chosen, held, name, run, release);
        Object.assign(report, { links: removed.links, bridges: removed.bridges, ovsBridges: removed.ovsBridges, kept: removed.kept });
      } catch (err) {
        throw await journal.abort(err, run);
      } finally {
        journal.close();
      }
      // What it recorded and its runtime no longer knows; a runtime not reachable now keeps its record.
      await pruneOwned(name);
      // Kept bridges keep their mark (a later destroy may remove them); the state goes.
      removeState(name);
      forgetModels(topology?.part?.file ?? name);
    }
    report.nothing = report.vxlans.length + report.links.length + report.containers.length + report.netns.length + report.bridges.length
      + report.ovsBridges.length + report.kept.length === 0;
    return report;
  } finally {
    release();
    lock?.release();
  }
}
