/**
 * CHECK: the attachment is as ADD made it — asked of the engine as a dry run of the same spec
 * (the interface there, pipework's, up, with its addresses; the host end up on its bridge or OVS
 * port with its tag), plus the routes ADD reported and its masquerading, then the IPAM plugin's
 * own CHECK. A plugin chained after pipework may change the interface (tuning: its MTU, its MAC),
 * and the spec says CHECK must allow for that: the MAC and the addresses are checked against what
 * the chain's final result, prevResult, says of the interface — not against ADD's configuration —
 * and the MTU not at all (tuning changes it without a word in the result).
 */
import { attachSpecs } from '../../engine/attach.js';
import { readGuestFacts } from '../../guest/netstate.js';
import { resolveGuest } from '../../guest/resolve.js';
import { PipeworkError, withoutAdvice } from '../../model/errors.js';
import type { AttachSpec } from '../../model/attach-spec.js';
import { execDelegate } from './ipam.js';
import { Code, CniError } from './protocol.js';
import { delegateOf, execOptions, lockAttachment, runFor, type Request } from './request.js';
import { parseResult, type RouteConf } from './result.js';
import { readState } from './state.js';
import { masqDrift, masqListArgv } from '../../engine/networks.js';

function failed(msg: string, details = ''): CniError {
  return new CniError(Code.CheckFailed, msg, details);
}

/** Is `r` (a route ADD reported, gateway filled in as ADD set it) in the guest's table? */
function routeThere(r: RouteConf, gw: string | undefined, ifname: string, routes: { dst: string; gateway?: string; dev?: string; family: 4 | 6 }[]): boolean {
  const dst = r.dst === '0.0.0.0/0' || r.dst === '::/0' ? 'default' : r.dst;
  return routes.some((x) => x.family === r.family && x.dev === ifname && (x.dst === dst || `${x.dst}/${r.family === 4 ? 32 : 128}` === dst) && x.gateway === gw);
}

export async function check(req: Request): Promise<void> {
  const { conf, params } = req;
  if (conf.prevResult === undefined) throw new CniError(Code.InvalidConfig, 'required prevResult missing', 'CHECK verifies what ADD returned: the runtime passes it as prevResult');
  const prev = parseResult(conf.prevResult, 'prevResult', true);
  const held = await lockAttachment(req, conf.name, params.containerId, params.ifname);
  try {
    const state = readState(conf.dataDir, conf.name, params.containerId, params.ifname);
    if (state?.phase !== 'attached' || state.spec === undefined) {
      throw failed(`pipework has no record of ${params.ifname} of container ${params.containerId} on network ${conf.name}`, 'was it added by pipework (ADD)?');
    }
    const mine = prev.interfaces.find((i) => i.name === params.ifname && i.sandbox === params.netns);
    if (prev.interfaces.length > 0 && mine === undefined) throw failed(`prevResult has no interface ${params.ifname} in ${params.netns}`);
    const spec: AttachSpec = {
      ...state.spec,
      guest: { kind: 'netns-path', path: params.netns, name: state.spec.guest.kind === 'netns-path' ? (state.spec.guest.name ?? params.containerId) : params.containerId },
      // Set by ADD, then a later plugin's to change: compared with prevResult below.
      laterOwned: ['mtu', 'mac'],
    };
    let outcome;
    try {
      [outcome] = await attachSpecs([spec], runFor(req, true));
    } catch (err) {
      if (err instanceof PipeworkError) throw failed(`${params.ifname} in ${params.netns}: ${withoutAdvice(err)}`);
      throw err;
    }
    if (outcome?.outcome === 'created') throw failed(`${params.ifname} is missing from ${params.netns}`);
    if (outcome?.outcome !== 'unchanged') throw failed(`${params.ifname} in ${params.netns} is not as ADD made it: ${(outcome?.plan.repairs ?? []).join('; ')}`);

    const guest = await resolveGuest(spec.guest, { runner: req.runner });
    let facts;
    try {
      facts = await readGuestFacts(req.runner, guest.ns);
    } finally {
      guest.ns.close();
    }
    const link = facts.links.find((l) => l.name === params.ifname);
    if (link === undefined) throw failed(`${params.ifname} is missing from ${params.netns}`);
    // What the chain's result says of the interface now: its MAC (tuning updates it there) and
    // its addresses. Not its MTU: tuning changes it without saying so in the result.
    if (mine?.mac !== undefined && link.mac !== undefined && link.mac.toLowerCase() !== mine.mac) {
      throw failed(`${params.ifname} in ${params.netns} has MAC ${link.mac}, not ${mine.mac} as prevResult says`);
    }
    const index = mine !== undefined ? prev.interfaces.indexOf(mine) : undefined;
    const listed = prev.ips.filter((ip) => ip.interface === undefined || ip.interface === index).map((ip) => ip.address.cidr);
    const have = new Set(link.addresses ?? []);
    const absent = listed.filter((a) => !have.has(a));
    if (absent.length > 0) throw failed(`prevResult lists ${absent.join(', ')} on ${params.ifname}, which ${params.netns} does not have`);

    // The routes ADD reported (and set), with the gateway it gave those that had none.
    const gwOf = (family: 4 | 6) => state.result?.ips.find((ip) => ip.address.family === family && ip.gateway !== undefined)?.gateway;
    for (const r of state.result?.routes ?? []) {
      const gw = r.gw ?? gwOf(r.family);
      if (!routeThere(r, gw, params.ifname, facts.routes)) throw failed(`route ${r.dst}${gw !== undefined ? ` via ${gw}` : ''} on ${params.ifname} is missing from ${params.netns}`);
    }
    // The masquerading ADD set up is there still.
    const masq = state.masq;
    if (masq !== undefined) {
      const listed: Partial<Record<4 | 6, string>> = {};
      for (const family of [...new Set(masq.rules.map((r) => r.family))]) {
        const res = await req.delegates.run(masqListArgv(family), { timeoutMs: 30_000 });
        if (res.code !== 0) throw failed(`cannot list the nat rules (${masqListArgv(family)[0]!}): ${res.stderr.trim().split('\n')[0] ?? ''}`);
        listed[family] = res.stdout;
      }
      const missing = masqDrift(masq, listed);
      if (missing.length > 0) throw failed(`the masquerading of ${params.ifname} is not as ADD made it: ${missing.join('; ')}`);
    }

    const delegate = delegateOf(req);
    if (delegate !== undefined) await execDelegate(delegate, 'CHECK', execOptions(req));
  } finally {
    held.release();
  }
}
