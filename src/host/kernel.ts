/**
 * Kernel features a command line may need. Where the machine can tell (a loaded module, a
 * module file, modules.builtin) we refuse before any change; where it cannot (no
 * /lib/modules, as in many VMs), the feature's device is created first in its batch, so
 * the kernel's refusal also comes before any change — and is reported by name, never as
 * a raw "Unknown device type".
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { release } from 'node:os';

/** A kernel feature: the module that provides it, and what it is in words. A host kind's driver names its own. */
export interface KernelFeature {
  module: string;
  what: string;
}

/** The features more than one part of pipework needs. */
export const FEATURES = {
  vlan: { module: '8021q', what: '802.1Q VLAN devices' },
  openvswitch: { module: 'openvswitch', what: 'the Open vSwitch kernel datapath' },
} as const satisfies Record<string, KernelFeature>;

export type Feature = keyof typeof FEATURES;

const featureOf = (f: Feature | KernelFeature): KernelFeature => (typeof f === 'string' ? FEATURES[f] : f);

export function featureText(feature: Feature | KernelFeature): string {
  const f = featureOf(feature);
  return `${f.what} (kernel module ${f.module})`;
}

export type Availability = 'yes' | 'no' | 'unknown';

function findModuleFile(dir: string, module: string, depth = 0): boolean {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return false;
  }
  for (const e of entries) {
    if (e.isFile() && (e.name === `${module}.ko` || e.name.startsWith(`${module}.ko.`))) return true;
    if (e.isDirectory() && depth < 6 && findModuleFile(`${dir}/${e.name}`, module, depth + 1)) return true;
  }
  return false;
}

/** Does the running kernel have this feature (loaded, built in, or loadable)? */
export function featureAvailability(feature: Feature | KernelFeature, root = '', kernelRelease = release()): Availability {
  const module = featureOf(feature).module;
  if (existsSync(`${root}/sys/module/${module}`)) return 'yes';
  const modules = `${root}/lib/modules/${kernelRelease}`;
  if (!existsSync(modules)) return 'unknown';
  try {
    const builtin = readFileSync(`${modules}/modules.builtin`, 'utf8');
    if (builtin.split('\n').some((l) => l.endsWith(`/${module}.ko`))) return 'yes';
  } catch {
    // no modules.builtin: look for the module file itself
  }
  return findModuleFile(`${modules}/kernel`, module) ? 'yes' : 'no';
}
