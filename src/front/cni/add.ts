/**
 * ADD: one engine run, all or nothing. IPAM that reads only its configuration (host-local,
 * static) is called first and one run makes the interface with its addresses and the host side
 * they need (isGateway, ipMasq) — or, when the run talks netlink in-process, the run goes in two
 * halves and the IPAM plugin runs beside the first, so its start-up and the kernel work overlap.
 * Any other IPAM (dhcp looks the interface up in the netns) is called between the two halves, as
 * the reference plugins order it: the interface (up, no address), then IPAM, then its addresses
 * and routes. A failure (or an interrupt) undoes the run, releases what IPAM gave (DEL to the
 * IPAM plugin, before the interface goes) and leaves no link and no record.
 */
import { existsSync, readFileSync } from 'node:fs';
import { attachSpecs, type AttachOutcome } from '../../engine/attach.js';
import { execute, type Job } from '../../engine/executor.js';
import { ipBackendFor } from '../../engine/context.js';
import { inProcessIp } from '../../exec/ip.js';
import type { Journal } from '../../engine/journal.js';
import type { NetnsHandle } from '../../exec/netns.js';
import { lockKey, type Plan, type Step } from '../../model/plan.js';
import { readLinkBasics } from '../../host/links.js';
import { attachedHere, cleanAttachment, inodeOf, recordFromConf, releaseRecorded } from './cleanup.js';
import { defaultRouteInterface, forwardingOn, linkAddresses, macPinned, pinBridgeMacStep, planGatewayPrelude } from './host-side.js';
import { masqChain, masqComment, planMasqCreate, type MasqRule } from '../../engine/networks.js';
import { DelegateUncertainError, execDelegate, type Delegate } from './ipam.js';
import { Code, CniError } from './protocol.js';
import { attachRun, delegateOf, execOptions, findProgram, hostIfOf, hostNamespace, lockAttachment, runFor, tidyRecords, type Request } from './request.js';
import { canonicalPrefix, formatResult, parseIpamOutput, readPrevResult, type ResultData, type ResultInterface } from './result.js';
import { buildAttach, hostSide, type CniAttach } from './spec.js';
import { hostPreflight } from '../../engine/host-kinds.js';
import { readState, removeState, writeState, type AttachmentState } from './state.js';

/**
 * Checks that need no change and no IPAM: a missing netns is refused first, then whatever the
 * host side's driver finds missing (104) or lacking (102). Returns a macvlan's master when the
 * configuration gives none (the default route's interface, as the reference plugin takes it).
 */
async function preflight(req: Request): Promise<string | undefined> {
  const { conf, params } = req;
  if (!existsSync(params.netns)) throw new CniError(Code.UnknownContainer, `network namespace ${params.netns} does not exist`, 'CNI_NETNS must name the container\'s network namespace');
  const h = conf.host;
  const master = h.kind === 'macvlan' ? (h.master ?? defaultRouteInterface()) : undefined;
  if (h.kind === 'macvlan' && master === undefined) {
    throw new CniError(Code.InvalidConfig, 'no master given, and the host has no default route to take one from', 'name the macvlan parent with "master"');
  }
  const found = await hostPreflight(hostSide(conf, master), req.delegates);
  if (found !== undefined) throw 'missing' in found ? new CniError(Code.HostNotFound, found.missing) : new CniError(Code.HostUnsupported, found.lacks);
  const parent = master !== undefined ? readLinkBasics(master) : undefined;
  if (parent !== undefined && conf.mtu !== undefined && conf.mtu > parent.mtu) throw new CniError(Code.InvalidConfig, `invalid MTU ${conf.mtu}, must be [0, master MTU(${parent.mtu})]`);
  return master;
}

/** What the gateway's host side is planned from: the bridge as it is (an isGateway bridge only). */
type GatewayFacts = Parameters<typeof planGatewayPrelude>[3];

async function gatewayFacts(req: Request): Promise<GatewayFacts | undefined> {
  const h = req.conf.host;
  if (h.kind !== 'bridge' || !h.isGateway) return undefined;
  const link = readLinkBasics(h.bridge);
  if (link && !link.isBridge) throw new CniError(Code.Conflict, `${h.bridge} exists but is not a Linux bridge`);
  return {
    ...(link && { link }),
    addresses: link ? await linkAddresses(req.delegates, h.bridge, ipBackendFor(req.runner)) : [],
    macPinned: link ? macPinned(h.bridge) : false,
    forwarding: forwardingOn(),
  };
}

/** The host side the addresses need: the gateway on the bridge (from `facts`, read when not given), masquerading. */
async function prelude(req: Request, attach: CniAttach, masq: AttachmentState['masq'], facts?: GatewayFacts): Promise<Step[]> {
  const h = req.conf.host;
  const steps: Step[] = [];
  if (h.kind === 'bridge' && h.isGateway && attach.gateways.length > 0) {
    const read = facts ?? await gatewayFacts(req);
    if (read !== undefined) steps.push(...planGatewayPrelude(h.bridge, h.vlan, attach.gateways, read, h.forceAddress, req.conf.mtu));
  }
  if (masq !== undefined) steps.push(...planMasqCreate(masq));
  return steps;
}

function masqOf(req: Request, attach: CniAttach): AttachmentState['masq'] {
  if (!req.conf.ipMasq || attach.ips.length === 0) return undefined;
  const rules: MasqRule[] = attach.ips.map((ip) => ({
    family: ip.address.family,
    ip: ip.address.address,
    subnet: canonicalPrefix(ip.address.cidr)?.text ?? ip.address.cidr,
  }));
  const { name } = req.conf;
  const { containerId, ifname } = req.params;
  return { chain: masqChain(name, containerId, ifname), comment: masqComment(name, containerId, ifname), rules };
}

/** A host link's MAC, from sysfs (one read). */
function macOf(name: string): string | undefined {
  try {
    const mac = readFileSync(`/sys/class/net/${name}/address`, 'utf8').trim().toLowerCase();
    return mac === '' ? undefined : mac;
  } catch {
    return undefined;
  }
}

function resultOf(req: Request, attach: CniAttach, hostIf: string, mtu: number | undefined, ownMac: string | undefined): ResultData {
  const { spec } = attach;
  const interfaces: ResultInterface[] = [];
  if (spec.hostEnd !== undefined) {
    const bridgeMac = macOf(hostIf);
    const endMac = macOf(spec.hostEnd);
    interfaces.push({ name: hostIf, ...(bridgeMac && { mac: bridgeMac }) }, { name: spec.hostEnd, ...(endMac && { mac: endMac }) });
  }
  const guestIndex = interfaces.length;
  const mac = spec.mac ?? ownMac;
  interfaces.push({ name: spec.guestIf, ...(mac !== undefined && { mac }), ...(mtu !== undefined && { mtu }), sandbox: req.params.netns });
  return {
    interfaces,
    ips: attach.ips.map((ip) => ({ ...ip, interface: guestIndex })),
    routes: attach.routes,
    ...(spec.dns !== undefined && { dns: spec.dns }),
  };
}

/**
 * A gratuitous ARP for the first IPv4 address, as the classic tool sent one (the reference
 * plugins get the same from the kernel with arp_notify): started, not waited for — by the
 * launcher when the daemon serves the request, so the daemon forks nothing. Without iputils'
 * arping, none.
 */
function announce(req: Request, attach: CniAttach): void {
  const first = attach.ips.find((ip) => ip.address.family === 4);
  const nsenter = findProgram('nsenter');
  const arping = findProgram('arping');
  if (first === undefined || nsenter === undefined || arping === undefined) return;
  req.detach([nsenter, `--net=${req.params.netns}`, '--', arping, '-c', '1', '-A', '-I', req.params.ifname, first.address.address]);
}

/** isGateway on a bridge this ADD made: pin its MAC now that a port has joined (best effort). */
async function pinNewGateway(req: Request, bridgeWasMissing: boolean): Promise<void> {
  const h = req.conf.host;
  if (h.kind !== 'bridge' || !h.isGateway || !bridgeWasMissing || macPinned(h.bridge)) return;
  const mac = macOf(h.bridge);
  if (mac === undefined) return;
  const host = hostNamespace();
  try {
    await execute([{ plan: { guestLabel: 'the host', steps: [pinBridgeMacStep(h.bridge, mac)], warnings: [], outcome: 'created' }, ns: host }], runFor(req));
  } catch (err) {
    req.log(`pipework: could not pin the MAC of bridge ${h.bridge}: ${(err as Error).message}`);
  } finally {
    host.close();
  }
}

/**
 * A record of this attachment from before: the same netns with its interface there means it
 * exists; another netns (or the same path and inode, a dead namespace's reused, without the
 * interface), it is stale.
 */
async function settlePrevious(req: Request): Promise<void> {
  const { conf, params } = req;
  const old = readState(conf.dataDir, conf.name, params.containerId, params.ifname);
  if (old === undefined) return;
  const same = old.netns === params.netns && old.record.nsInode !== 0 && old.record.nsInode === inodeOf(params.netns);
  if (same && old.phase === 'attached' && await attachedHere(req)) {
    throw new CniError(Code.Conflict, `${params.ifname} is already attached to container ${params.containerId} on network ${conf.name}`, 'a second ADD needs a DEL first');
  }
  // The container's earlier netns (a restart, a DEL that never came), or an ADD cut short: what it
  // left goes first (in the netns, only an interface with this attachment's owner).
  req.log(`pipework: cleaning a stale attachment of ${params.ifname} (netns ${old.netns || 'unknown'})`);
  const errors = await cleanAttachment(req, {
    containerId: params.containerId, ifname: params.ifname, netns: old.netns, nsInode: old.record.nsInode,
    record: old.record, ...(old.masq !== undefined && { masq: old.masq }),
  });
  if (errors.length > 0) throw new CniError(Code.StepFailed, `a stale attachment of ${params.ifname} could not be cleaned: ${errors[0]!}`);
  const released = await releaseRecorded(req, old, { ...req.raw.env, CNI_NETNS: '', CNI_ARGS: old.cniArgs ?? '' });
  if (released.refused !== undefined) req.log(`pipework: ${released.refused}`);
  if (released.failures.length > 0) throw new CniError(Code.StepFailed, `the addresses of a stale attachment of ${params.ifname} could not be released: ${released.failures[0]!}`);
  removeState(conf.dataDir, conf.name, params.containerId, params.ifname);
}

/**
 * IPAM plugins that decide from their configuration (and their own store) alone, never looking at
 * the interface or the netns: called before the interface is made, or beside its making. Any
 * other — dhcp, or a plugin we do not know — is called once the interface is there.
 */
const IPAM_FROM_CONFIG: ReadonlySet<string> = new Set(['host-local', 'static']);

/** IPAM ADD on its own: what a plugin stopped half-way may have reserved is released too. */
async function allocateAlone(req: Request, delegate: Delegate): Promise<ResultData> {
  let out: string;
  try {
    out = await execDelegate(delegate, 'ADD', execOptions(req));
  } catch (err) {
    if (err instanceof DelegateUncertainError) await release(req, delegate);
    throw err;
  }
  try {
    return parseIpamOutput(out, delegate.type);
  } catch (err) {
    await release(req, delegate);
    throw err;
  }
}

/** IPAM DEL after a failed ADD (not stopped by the ADD's own signal); a failure is logged. */
async function release(req: Request, delegate: Delegate): Promise<void> {
  try {
    await execDelegate(delegate, 'DEL', { ...execOptions(req), signal: new AbortController().signal });
  } catch (e) {
    req.log(`pipework: releasing the addresses after the failed ADD failed too: ${(e as Error).message}`);
  }
}

/** What IPAM gave, to be given back (DEL to the plugin) when the run is undone. */
function releaseStep(req: Request, delegate: Delegate) {
  return {
    title: `take addresses from IPAM plugin ${delegate.type}`,
    undo: async () => {
      await execDelegate(delegate, 'DEL', { ...execOptions(req), signal: new AbortController().signal });
    },
  };
}

/**
 * IPAM ADD once the interface is there, with its release put in the run's journal: undone before
 * the interface it was for, so a DHCP lease is given back while the interface is still there.
 */
async function allocate(req: Request, delegate: Delegate, journal: Journal): Promise<ResultData> {
  let out: string;
  try {
    out = await execDelegate(delegate, 'ADD', execOptions(req));
  } catch (err) {
    // Stopped half-way, it may have reserved addresses: they are released like any others.
    if (err instanceof DelegateUncertainError) journal.did(releaseStep(req, delegate));
    throw err;
  }
  journal.did(releaseStep(req, delegate));
  return parseIpamOutput(out, delegate.type);
}

export async function add(req: Request): Promise<string> {
  const { conf, params } = req;
  // Not first in a chain: what came before is passed on with our part (checked before anything changes).
  const prev = conf.prevResult !== undefined ? readPrevResult(conf.prevResult) : undefined;
  const master = await preflight(req);
  const held = await lockAttachment(req, conf.name, params.containerId, params.ifname);
  try {
    await settlePrevious(req);
    req.trace.mark('lock+record');
    const delegate: Delegate | undefined = delegateOf(req);
    const hostIf = hostIfOf(conf, master);
    const hostLinkBefore = readLinkBasics(hostIf);
    let recorded = false;
    let host: NetnsHandle | undefined;
    try {
      const base: AttachmentState = {
        version: 3, network: conf.name, containerId: params.containerId, ifname: params.ifname, netns: params.netns,
        record: recordFromConf(req, master),
        ...(delegate !== undefined && { ipam: delegate.type, ipamConfig: req.raw.stdin, cniArgs: params.args }),
        phase: 'ipam', created: new Date().toISOString(),
      };
      // Written before anything changes: a crash from here on leaves what DEL and GC need to clean
      // up — the interface by its deterministic names, the addresses with this configuration.
      writeState(conf.dataDir, base);
      recorded = true;
      // Without addresses until IPAM gives them.
      let attach: CniAttach = buildAttach({ conf, params, ...(master !== undefined && { master }) });
      let state = base;
      // What IPAM gave decides the addresses and the host side they need (isGateway, ipMasq).
      const withAddresses = async (ipam: ResultData | undefined, facts?: GatewayFacts): Promise<Job[]> => {
        attach = buildAttach({ conf, params, ...(ipam !== undefined && { ipam }), ...(master !== undefined && { master }) });
        const masq = masqOf(req, attach);
        if (masq !== undefined) {
          // Before the chain is made: DEL and GC remove it from the record.
          state = { ...base, masq };
          writeState(conf.dataDir, state);
        }
        const steps = await prelude(req, attach, masq, facts);
        req.trace.mark('spec+prelude');
        if (steps.length > 0) host = hostNamespace();
        // The gateway address goes on the bridge beside other ADDs' (the same, replaced); the nat
        // rules are this container's own chain: nothing of the host is changed alone here.
        const locks = { uses: req.conf.host.kind === 'bridge' ? [lockKey.bridge(req.conf.host.bridge)] : [], changes: [] };
        return host ? [{ plan: { guestLabel: 'the host', steps, warnings: [], outcome: 'created', locks } satisfies Plan, ns: host, label: 'the host side' }] : [];
      };
      let outcome: AttachOutcome | undefined;
      if (delegate === undefined || (IPAM_FROM_CONFIG.has(delegate.type) && !(await inProcessIp(ipBackendFor(req.runner))))) {
        // No IPAM, or IPAM from its configuration alone with iproute2 (where each half of a run
        // in two would cost its own `ip` processes): IPAM first, then one engine run makes the
        // interface with its addresses; a failure releases what IPAM gave.
        let ipam: ResultData | undefined;
        if (delegate !== undefined) {
          ipam = await allocateAlone(req, delegate);
          req.trace.mark(`ipam (${delegate.type})`);
        }
        try {
          const jobs = await withAddresses(ipam);
          [outcome] = await attachSpecs([attach.spec], attachRun(req), jobs.length > 0 ? { prelude: jobs } : {});
          if (outcome !== undefined && outcome.outcome !== 'created') {
            throw new CniError(Code.Conflict, `${params.ifname} already exists in ${params.netns}`, 'pipework made it before with this configuration, but has no record of it: DEL it first');
          }
        } catch (err) {
          if (delegate !== undefined) await release(req, delegate);
          throw err;
        }
      } else {
        // In two halves. IPAM from its configuration alone (here only in-process: see above)
        // starts now, the record above already naming it: its plugin starts while the first half
        // makes the interface. Its release joins the run's journal once it has answered; until
        // then, a failed run releases it here. Any other IPAM is called between the halves.
        const early = IPAM_FROM_CONFIG.has(delegate.type) ? allocateAlone(req, delegate) : undefined;
        early?.catch(() => undefined); // its failure is met where it is awaited, not as an unhandled rejection
        let journaled = false;
        try {
          [outcome] = await attachSpecs([attach.spec], attachRun(req), {
            addressLater: async ([made], journal) => {
              req.trace.mark('interface');
              // The bridge as the first half left it, read while IPAM still works.
              const facts = early !== undefined && made?.outcome === 'created' ? await gatewayFacts(req) : undefined;
              if (early !== undefined) {
                // Into the journal before anything else can fail: a conflict below gives it back.
                await early;
                journal.did(releaseStep(req, delegate));
                journaled = true;
              }
              if (made?.outcome !== 'created') {
                throw new CniError(Code.Conflict, `${params.ifname} already exists in ${params.netns}`, 'pipework made it before with this configuration, but has no record of it: DEL it first');
              }
              const ipam = early !== undefined ? await early : await allocate(req, delegate, journal);
              req.trace.mark(`ipam (${delegate.type})`);
              const jobs = await withAddresses(ipam, facts);
              if (attach.spec.addressing.kind !== 'static') throw new CniError(Code.Internal, 'internal: IPAM addresses are static ones');
              return { addressing: [attach.spec.addressing], jobs };
            },
          });
        } catch (err) {
          // Failed before what IPAM gave was in the journal: it is given back here, once it answers.
          if (early !== undefined && !journaled && await early.then(() => true, () => false)) await release(req, delegate);
          throw err;
        }
      }
      if (outcome === undefined) throw new CniError(Code.Internal, 'the engine returned no outcome');
      req.trace.mark('engine');
      for (const w of outcome.warnings) req.log(`pipework: ${w}`);
      announce(req, attach);
      await pinNewGateway(req, hostLinkBefore === undefined);
      const mtu = conf.mtu ?? hostLinkBefore?.mtu ?? 1500;
      // A NIC moved in keeps its MAC; a passthru macvlan takes its master's.
      const ownMac = hostLinkBefore?.mac;
      const result = resultOf(req, attach, hostIf, mtu, ownMac);
      writeState(conf.dataDir, { ...state, phase: 'attached', record: outcome.record, spec: attach.spec, result });
      req.trace.mark('result');
      return formatResult(result, conf.cniVersion, prev);
    } catch (err) {
      // (What IPAM gave was released: by the run's undo, or above.)
      if (recorded) removeState(conf.dataDir, conf.name, params.containerId, params.ifname);
      throw err;
    } finally {
      host?.close();
    }
  } catch (err) {
    held.release();
    // No record of this ADD stays: nor the folders made for it, if nothing else is there.
    await tidyRecords(req);
    throw err;
  } finally {
    held.release();
  }
}
