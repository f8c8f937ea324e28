/** Changing network namespaces and links takes root (CAP_NET_ADMIN and CAP_SYS_ADMIN): say so first. */
import { readFileSync } from 'node:fs';
import { PermissionError } from '../model/errors.js';

const CAP_NET_ADMIN = 12n;
const CAP_SYS_ADMIN = 21n;

export function hasCapabilities(status: string): boolean {
  const m = /^CapEff:\s*([0-9a-f]+)$/mu.exec(status);
  if (!m) return false;
  const eff = BigInt(`0x${m[1]!}`);
  return ((eff >> CAP_NET_ADMIN) & 1n) === 1n && ((eff >> CAP_SYS_ADMIN) & 1n) === 1n;
}

export function requireRoot(): void {
  if (process.getuid?.() === 0) return;
  let status = '';
  try {
    status = readFileSync('/proc/self/status', 'utf8');
  } catch {
    // no /proc: let the kernel say no
  }
  if (status !== '' && !hasCapabilities(status)) {
    throw new PermissionError('pipework changes network namespaces and links, which takes root: run it as root (sudo pipework …)');
  }
}
