/**
 * STATUS: can an ADD work now? Code 50 when it cannot — Open vSwitch unreachable, a master or
 * device missing, the IPAM plugin not on CNI_PATH (or its own STATUS failing), the records'
 * directory not writable. Informational only: nothing changes.
 */
import { accessSync, constants } from 'node:fs';
import { readOvsFacts, type OvsFacts } from '../../host/ovs-facts.js';
import type { Runner } from '../../exec/runner.js';
import { defaultRouteInterface } from './host-side.js';
import { delegateSupports, execDelegate } from './ipam.js';
import { Code, CniError } from './protocol.js';
import { delegateOf, execOptions, type Request } from './request.js';
import { hostSide } from './spec.js';
import { hostPreflight } from '../../engine/host-kinds.js';
import { checkRecordsDir } from './state.js';

function notAvailable(msg: string, details = ''): CniError {
  return new CniError(Code.NotAvailable, msg, details);
}

/** What STATUS looks at that a test may replace. */
export interface StatusDeps {
  readOvs: (runner: Runner) => Promise<OvsFacts>;
  /** The records' directory can be used: made when missing, only root's, writable. */
  checkRecords: (dataDir: string) => void;
}

function checkRecords(dataDir: string): void {
  checkRecordsDir(dataDir);
  accessSync(dataDir, constants.W_OK);
}

export async function status(req: Request, deps: StatusDeps = { readOvs: readOvsFacts, checkRecords }): Promise<void> {
  const { conf } = req;
  const h = conf.host;
  const master = h.kind === 'macvlan' ? (h.master ?? defaultRouteInterface()) : undefined;
  if (h.kind === 'macvlan' && master === undefined) throw notAvailable('no master given, and the host has no default route to take one from');
  // What the host side's driver finds missing or lacking now.
  const found = await hostPreflight(hostSide(conf, master), req.delegates, deps.readOvs);
  if (found !== undefined) throw notAvailable('missing' in found ? found.missing : found.lacks);
  try {
    deps.checkRecords(conf.dataDir);
  } catch (err) {
    throw notAvailable(`pipework cannot keep its records in ${conf.dataDir}: ${(err as Error).message}`);
  }
  let delegate;
  try {
    delegate = delegateOf(req);
  } catch (err) {
    throw notAvailable((err as Error).message, err instanceof CniError ? err.details : '');
  }
  // The delegate's own STATUS, when it speaks this version.
  if (delegate !== undefined && await delegateSupports(delegate, conf.cniVersion, execOptions(req))) {
    try {
      await execDelegate(delegate, 'STATUS', execOptions(req));
    } catch (err) {
      const e = err as CniError;
      throw new CniError(e.code === Code.LimitedConnectivity ? Code.LimitedConnectivity : Code.NotAvailable, e.message, e.details);
    }
  }
}
