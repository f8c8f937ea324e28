/** What the planner needs to know about Open vSwitch on this host. */
import { existsSync, readFileSync } from 'node:fs';
import type { Runner } from '../exec/runner.js';
import { hasProgram } from '../exec/programs.js';
import { featureAvailability } from './kernel.js';

export const OVS_RUN_DIR = '/var/run/openvswitch';
/** Every ovs-vsctl call is bounded: with no ovs-vswitchd, some block forever. */
export const OVS_TIMEOUT = '--timeout=10';

export interface OvsFacts {
  installed: boolean;
  /** ovsdb-server answers on its socket. */
  dbRunning: boolean;
  /** ovs-vswitchd runs (its pidfile names a live process). */
  switchRunning: boolean;
  bridges: string[];
  /** The kernel can run the OVS datapath; otherwise new bridges use the userspace one. */
  kernelDatapath: boolean;
}

function pidAlive(pidfile: string): boolean {
  try {
    const pid = readFileSync(pidfile, 'utf8').trim();
    return /^\d+$/u.test(pid) && existsSync(`/proc/${pid}`);
  } catch {
    return false;
  }
}

export async function readOvsFacts(runner: Runner): Promise<OvsFacts> {
  const installed = hasProgram('ovs-vsctl');
  const dbRunning = installed && existsSync(`${OVS_RUN_DIR}/db.sock`);
  const switchRunning = pidAlive(`${OVS_RUN_DIR}/ovs-vswitchd.pid`);
  let bridges: string[] = [];
  if (dbRunning) {
    const res = await runner.run(['ovs-vsctl', '--timeout=5', 'list-br'], { timeoutMs: 10_000 });
    if (res.code === 0) bridges = res.stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  }
  return { installed, dbRunning, switchRunning, bridges, kernelDatapath: featureAvailability('openvswitch') === 'yes' };
}
