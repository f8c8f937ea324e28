/** `pipework route|rule|tc <guest> <args...>`: run inside the guest; output and status pass through. */
import type { RunContext } from '../../../engine/context.js';
import { guestInfo } from '../../../engine/gather.js';
import { nsNaming, shellQuote } from '../../../engine/print.js';
import { inNetns } from '../../../exec/netns.js';
import { parseGuestRef, resolveGuest } from '../../../guest/resolve.js';
import type { PassthroughRequest } from '../../classic/request.js';

export function passthroughArgv(request: PassthroughRequest): string[] {
  return request.tool === 'tc' ? ['tc', ...request.args] : ['ip', request.tool, ...request.args];
}

export async function passthrough(request: PassthroughRequest, ctx: RunContext): Promise<number> {
  const guest = await resolveGuest(parseGuestRef(request.guest), { runner: ctx.runner });
  try {
    const argv = passthroughArgv(request);
    if (request.dryRun) {
      const ns = nsNaming(guestInfo(guest));
      process.stdout.write(`# ${guest.ns.label}\n${[...ns.enter, ...argv].map(shellQuote).join(' ')}\n`);
      return 0;
    }
    // In our process group: a Ctrl-C is for it as much as for us.
    const result = await ctx.runner.run(inNetns(argv), { nsFd: guest.ns.fd, inheritOutput: true, foreground: true, where: guest.ns.label });
    return result.code ?? 1;
  } finally {
    guest.ns.close();
  }
}
