/** `pipework <hostif> ... <guest> <address>`: the classic line → a spec → the engine. */
import { attachSpecs } from '../../../engine/attach.js';
import type { RunContext } from '../../../engine/context.js';
import { classicSpec } from '../../classic/spec.js';
import type { AttachRequest } from '../../classic/request.js';
import { reportAttach } from '../../output.js';

export async function attach(request: AttachRequest, ctx: RunContext): Promise<number> {
  const spec = await classicSpec(request, ctx);
  const [outcome] = await attachSpecs([spec], ctx);
  ctx.commit();
  reportAttach(outcome!, request.json, request.dryRun);
  return 0;
}
