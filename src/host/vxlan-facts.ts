/** The VXLAN devices of this network namespace as they are live, with their flood entries. */
import type { Runner } from '../exec/runner.js';

export const ZERO_MAC = '00:00:00:00:00:00';

/** A VXLAN device as it is live. */
export interface LiveVxlan {
  name: string;
  vni?: number;
  port?: number;
  local?: string;
  group?: string;
  alias?: string;
  master?: string;
  mtu: number;
  up: boolean;
  /** Destinations of its all-zero FDB entries. */
  floods: string[];
}

interface RawVxlanLink {
  ifname: string;
  ifalias?: string;
  master?: string;
  mtu: number;
  flags?: string[];
  linkinfo?: { info_kind?: string; info_data?: { id?: number; port?: number; local?: string; local6?: string; group?: string; group6?: string } };
}

/** `ip -json -details link show type vxlan` → the devices (pure, for tests). */
export function parseVxlanLinks(json: unknown): LiveVxlan[] {
  if (!Array.isArray(json)) return [];
  return (json as RawVxlanLink[]).filter((l) => l.linkinfo?.info_kind === 'vxlan').map((l) => {
    const data = l.linkinfo?.info_data ?? {};
    const local = data.local ?? data.local6;
    const group = data.group ?? data.group6;
    return {
      name: l.ifname, mtu: l.mtu, up: l.flags?.includes('UP') === true, floods: [],
      ...(data.id !== undefined && { vni: data.id }),
      ...(data.port !== undefined && { port: data.port }),
      ...(local !== undefined && { local: local.toLowerCase() }),
      ...(group !== undefined && { group: group.toLowerCase() }),
      ...(l.ifalias !== undefined && { alias: l.ifalias }),
      ...(l.master !== undefined && { master: l.master }),
    };
  });
}

/** `bridge -json fdb show dev X` → destinations of its all-zero entries (pure, for tests). */
export function parseFloods(json: unknown): string[] {
  if (!Array.isArray(json)) return [];
  return (json as { mac?: string; dst?: string }[]).filter((e) => e.mac === ZERO_MAC && typeof e.dst === 'string').map((e) => e.dst!.toLowerCase());
}

/** Every VXLAN device of this network namespace, with its flood entries. */
export async function readVxlans(runner: Runner): Promise<Map<string, LiveVxlan>> {
  const out = new Map<string, LiveVxlan>();
  const res = await runner.run(['ip', '-json', '-details', 'link', 'show', 'type', 'vxlan'], { timeoutMs: 15_000 });
  if (res.code !== 0 || res.stdout.trim() === '') return out;
  for (const l of parseVxlanLinks(JSON.parse(res.stdout))) {
    const f = await runner.run(['bridge', '-json', 'fdb', 'show', 'dev', l.name], { timeoutMs: 15_000 });
    if (f.code === 0 && f.stdout.trim() !== '') l.floods = parseFloods(JSON.parse(f.stdout));
    out.set(l.name, l);
  }
  return out;
}
