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

export async function readOvsFacts(runner: Runner, programs?: Map<string, boolean>): Promise<OvsFacts> {
  const installed = hasProgram('ovs-vsctl', programs);
  const dbRunning = installed && existsSync(`${OVS_RUN_DIR}/db.sock`);
  const switchRunning = pidAlive(`${OVS_RUN_DIR}/ovs-vswitchd.pid`);
  let bridges: string[] = [];
  if (dbRunning) {
    const res = await runner.run(['ovs-vsctl', '--timeout=5', 'list-br'], { timeoutMs: 10_000 });
    if (res.code === 0) bridges = res.stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  }
  return { installed, dbRunning, switchRunning, bridges, kernelDatapath: featureAvailability('openvswitch') === 'yes' };
}

/** A port row of Open vSwitch, as pipework looks at it. */
export interface OvsPortRow {
  name: string;
  /** The bridge that has it, if any. */
  bridge?: string;
  tag?: number;
  /** Its Interface row's external-ids. */
  externalIds: Record<string, string>;
}

type OvsValue = unknown;
interface OvsTable {
  headings: string[];
  data: OvsValue[][];
}

/** An OVSDB JSON value: ["set", [...]], ["map", [[k, v], ...]], ["uuid", "…"], or a scalar. */
function ovsSet(v: OvsValue): OvsValue[] {
  if (Array.isArray(v) && v[0] === 'set') return v[1] as OvsValue[];
  return v === undefined ? [] : [v];
}

function ovsUuid(v: OvsValue): string | undefined {
  return Array.isArray(v) && v[0] === 'uuid' ? String(v[1]) : undefined;
}

function ovsMap(v: OvsValue): Record<string, string> {
  return Array.isArray(v) && v[0] === 'map' ? Object.fromEntries((v[1] as [string, string][]).map(([k, x]) => [k, String(x)])) : {};
}

function rows(table: OvsTable): Record<string, OvsValue>[] {
  return table.data.map((r) => Object.fromEntries(table.headings.map((h, i) => [h, r[i]])));
}

/** Parse the three tables `readOvsPortTable` asks for into port rows by name. */
export function parseOvsPortTables(stdout: string): Map<string, OvsPortRow> {
  const tables = stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as OvsTable);
  const [bridges, ports, interfaces] = tables;
  const bridgeOfPort = new Map<string, string>();
  for (const b of bridges ? rows(bridges) : []) for (const p of ovsSet(b['ports'])) bridgeOfPort.set(ovsUuid(p) ?? '', String(b['name']));
  const idsOf = new Map<string, Record<string, string>>();
  for (const i of interfaces ? rows(interfaces) : []) idsOf.set(String(i['name']), ovsMap(i['external_ids']));
  const out = new Map<string, OvsPortRow>();
  for (const p of ports ? rows(ports) : []) {
    const name = String(p['name']);
    const tag = ovsSet(p['tag'])[0];
    const bridge = bridgeOfPort.get(ovsUuid(p['_uuid']) ?? '');
    out.set(name, {
      name,
      ...(bridge !== undefined && { bridge }),
      ...(typeof tag === 'number' && { tag }),
      externalIds: idsOf.get(name) ?? {},
    });
  }
  return out;
}

/** Every port row (one ovs-vsctl run); empty when Open vSwitch does not answer. */
export async function readOvsPortTable(runner: Runner): Promise<Map<string, OvsPortRow>> {
  if (!existsSync(`${OVS_RUN_DIR}/db.sock`)) return new Map();
  const res = await runner.run([
    'ovs-vsctl', '--timeout=5', '--format=json',
    '--', '--columns=name,ports', 'list', 'Bridge',
    '--', '--columns=_uuid,name,tag', 'list', 'Port',
    '--', '--columns=name,external_ids', 'list', 'Interface',
  ], { timeoutMs: 10_000 });
  if (res.code !== 0) return new Map();
  try {
    return parseOvsPortTables(res.stdout);
  } catch {
    return new Map();
  }
}

/** The rows of these ports (null: no such port). */
export async function readOvsPorts(runner: Runner, names: string[]): Promise<Record<string, OvsPortRow | null>> {
  const table = await readOvsPortTable(runner);
  return Object.fromEntries(names.map((n) => [n, table.get(n) ?? null]));
}
