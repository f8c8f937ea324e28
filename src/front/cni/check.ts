/**
 * CHECK: the attachment is as ADD made it — asked of the engine as a dry run of the same spec
 * (the interface there, pipework's, up, with its addresses, MTU and MAC; the host end up on its
 * bridge or OVS port with its tag), plus the routes ADD reported and its masquerading, then the IPAM plugin's own
 * CHECK. A chained plugin's later change to the MAC (tuning) is taken from prevResult.
 */
import { attachSpecs } from '../../engine/attach.js';
import { readGuestFacts } from '../../guest/netstate.js';
import { resolveGuest } from '../../guest/resolve.js';
import { PipeworkError } from '../../model/errors.js';
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
  const prev = parseResult(conf.prevResult, 'prevResult');
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
      ...(mine?.mac !== undefined && state.spec.mac !== undefined && { mac: mine.mac }),
    };
    let outcome;
    try {
      [outcome] = await attachSpecs([spec], runFor(req, true));
    } catch (err) {
      if (err instanceof PipeworkError) throw failed(`${params.ifname} in ${params.netns}: ${err.message}`);
      throw err;
    }
    if (outcome?.outcome === 'created') throw failed(`${params.ifname} is missing from ${params.netns}`);
    if (outcome?.outcome !== 'unchanged') throw failed(`${params.ifname} in ${params.netns} is not as ADD made it: ${(outcome?.plan.repairs ?? []).join('; ')}`);

    // The routes ADD reported (and set), with the gateway it gave those that had none.
    const made = state.result?.routes ?? [];
    if (made.length > 0) {
      const guest = await resolveGuest(spec.guest, { runner: req.runner });
      try {
        const facts = await readGuestFacts(req.runner, guest.ns);
        const gwOf = (family: 4 | 6) => state.result?.ips.find((ip) => ip.address.family === family && ip.gateway !== undefined)?.gateway;
        for (const r of made) {
          const gw = r.gw ?? gwOf(r.family);
          if (!routeThere(r, gw, params.ifname, facts.routes)) throw failed(`route ${r.dst}${gw !== undefined ? ` via ${gw}` : ''} on ${params.ifname} is missing from ${params.netns}`);
        }
      } finally {
        guest.ns.close();
      }
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
    // And the addresses prevResult lists for this interface are there (the engine checked those of the spec).
    const index = mine !== undefined ? prev.interfaces.indexOf(mine) : undefined;
    const listed = prev.ips.filter((ip) => ip.interface === undefined || ip.interface === index).map((ip) => ip.address.cidr);
    const have = new Set(spec.addressing.kind === 'static' ? spec.addressing.addresses.map((a) => a.cidr) : []);
    const unknown = listed.filter((a) => !have.has(a));
    if (unknown.length > 0) throw failed(`prevResult lists ${unknown.join(', ')} on ${params.ifname}, which ADD did not configure`);

    const delegate = delegateOf(req);
    if (delegate !== undefined) await execDelegate(delegate, 'CHECK', execOptions(req));
  } finally {
    held.release();
  }
}
