/** `pipework --wait [-i IF]`: inside a guest, return once IF exists and has carrier. */
import { readFileSync } from 'node:fs';
import type { WaitRequest } from '../../classic/request.js';
import { PipeworkError } from '../../../model/errors.js';

export function hasCarrier(ifname: string, sysClassNet = '/sys/class/net'): boolean {
  try {
    return readFileSync(`${sysClassNet}/${ifname}/carrier`, 'utf8').trim() === '1';
  } catch {
    return false; // absent, or down (reading carrier of a down link fails with EINVAL)
  }
}

export async function waitForInterface(request: WaitRequest, pollMs = 100): Promise<number> {
  const deadline = request.timeoutSec === undefined ? Infinity : Date.now() + request.timeoutSec * 1000;
  while (!hasCarrier(request.guestIf)) {
    if (Date.now() >= deadline) {
      throw new PipeworkError(`interface ${request.guestIf} did not appear with carrier within ${request.timeoutSec} s`);
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
  return 0;
}
