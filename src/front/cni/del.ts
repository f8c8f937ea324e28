/**
 * DEL: best effort, and it succeeds when things are already gone — no netns, no link, a missing
 * master, no prevResult, a second DEL. It releases IPAM first — with the request's configuration,
 * or, when that names no ipam, with the one ADD recorded — then removes what the record (or the
 * deterministic names) say this attachment made, in the reference plugins' order. What could not
 * be done is reported, and the record kept for a retry. The network's folder of records goes with
 * its last record.
 */
import { cleanAttachment, recordFromConf, releaseRecorded } from './cleanup.js';
import { defaultRouteInterface } from './host-side.js';
import { execDelegate } from './ipam.js';
import { Code, CniError } from './protocol.js';
import { delegateOf, execOptions, lockAttachment, tidyRecords, type Request } from './request.js';
import { readState, removeState } from './state.js';

export async function del(req: Request): Promise<void> {
  const { conf, params } = req;
  const held = await lockAttachment(req, conf.name, params.containerId, params.ifname);
  try {
    const state = readState(conf.dataDir, conf.name, params.containerId, params.ifname);
    // Without a record, what this configuration's ADD would have made (a macvlan's master as ADD picks it).
    const master = conf.host.kind === 'macvlan' && conf.host.master === undefined ? defaultRouteInterface() : undefined;
    const errors: string[] = [];
    // The addresses first, as the reference plugins do: a DHCP lease is given back (DHCPRELEASE)
    // through the interface, so it must still be there.
    const delegate = delegateOf(req);
    if (delegate !== undefined) {
      try {
        await execDelegate(delegate, 'DEL', execOptions(req));
        req.trace.mark(`ipam (${delegate.type})`);
      } catch (err) {
        errors.push(err instanceof CniError ? err.message : `releasing the addresses: ${(err as Error).message}`);
      }
    } else if (state?.ipam !== undefined) {
      // A configuration without ipam (another one than ADD's, or one cut short): ADD's own, checked.
      const released = await releaseRecorded(req, state, req.raw.env);
      errors.push(...released.failures);
      // One the record cannot vouch for is not tried again: said, and the record goes.
      if (released.refused !== undefined) req.log(`pipework: ${released.refused}`);
      req.trace.mark(`ipam (${state.ipam}, as recorded)`);
    }
    errors.push(...await cleanAttachment(req, {
      containerId: params.containerId, ifname: params.ifname, netns: params.netns,
      record: state?.record ?? recordFromConf(req, master),
      ...(state?.masq !== undefined && { masq: state.masq }),
    }));
    req.trace.mark('interface');
    if (errors.length > 0) {
      throw new CniError(Code.StepFailed, `DEL of ${params.ifname} could not finish: ${errors[0]!}`, errors.slice(1).join('; '));
    }
    removeState(conf.dataDir, conf.name, params.containerId, params.ifname);
  } finally {
    held.release();
    await tidyRecords(req);
  }
}
