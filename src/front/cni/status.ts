/**
 * STATUS: can an ADD work now? Code 50 when it cannot — Open vSwitch unreachable, a master or
 * device missing, the IPAM plugin not on CNI_PATH (or its own STATUS failing), the records'
 * directory not writable. Informational only: nothing changes.
 */
import { accessSync, constants } from 'node:fs';
import { readHostLink } from '../../host/facts.js';
import { readOvsFacts, type OvsFacts } from '../../host/ovs-facts.js';
import type { Runner } from '../../exec/runner.js';
import { defaultRouteInterface } from './host-side.js';
import { delegateSupports, execDelegate } from './ipam.js';
import { Code, CniError } from './protocol.js';
import { delegateOf, execOptions, type Request } from './request.js';
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
  switch (h.kind) {
    case 'bridge': {
      const link = readHostLink(h.bridge);
      if (link && !link.isBridge) throw notAvailable(`${h.bridge} exists but is not a Linux bridge`);
      break;
    }
    case 'ovs': {
      const ovs = await deps.readOvs(req.delegates);
      if (!ovs.installed) throw notAvailable('Open vSwitch is not installed', 'install openvswitch-switch');
      if (!ovs.dbRunning) throw notAvailable('Open vSwitch is not running (no ovsdb-server socket)');
      if (!ovs.switchRunning) throw notAvailable('ovs-vswitchd is not running');
      break;
    }
    case 'macvlan': {
      const master = h.master ?? defaultRouteInterface();
      if (master === undefined) throw notAvailable('no master given, and the host has no default route to take one from');
      if (!readHostLink(master)) throw notAvailable(`master ${master} does not exist`);
      break;
    }
    case 'phys':
      if (!readHostLink(h.device)) throw notAvailable(`device ${h.device} is not on the host (missing, or in a container)`);
      break;
  }
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
