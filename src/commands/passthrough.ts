/** `pipework route|rule|tc <guest> <args...>`: run inside the guest; output and status pass through. */
import type { PassthroughRequest } from '../cli/request.js';
import { inNetns } from '../exec/netns.js';
import { processRunner, type Runner } from '../exec/runner.js';
import { resolveGuest } from '../guest/resolve.js';

export function passthroughArgv(request: PassthroughRequest): string[] {
  return request.tool === 'tc' ? ['tc', ...request.args] : ['ip', request.tool, ...request.args];
}

export async function passthrough(request: PassthroughRequest, runner: Runner = processRunner): Promise<number> {
  const guest = await resolveGuest(request.guest, { runner });
  try {
    const argv = passthroughArgv(request);
    if (request.dryRun) {
      process.stdout.write(`# <netns>: ${guest.ns.label}\nip netns exec <netns> ${argv.join(' ')}\n`);
      return 0;
    }
    const result = await runner.run(inNetns(argv), { nsFd: guest.ns.fd, inheritOutput: true, where: guest.ns.label });
    return result.code ?? 1;
  } finally {
    guest.ns.close();
  }
}
