/** An agent restarting (its programs and CRIU daemons run on) is waited for rather than given up. */
import { toGodwitError } from '@godwit/schemas';
import { sleep } from '../bus.js';
import type { Ctx } from '../context.js';

/** calls again while the agent is unreachable, up to timeoutMs or the orchestrator's close */
export async function retryUnreachable<T>(ctx: Ctx, call: () => Promise<T>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await call();
    } catch (err) {
      if (toGodwitError(err, 'GODWIT_ERR_MIGRATION_FAILED').code !== 'GODWIT_ERR_AGENT_UNREACHABLE' || Date.now() > deadline || ctx.closing.aborted) throw err;
      await sleep(500, ctx.closing);
    }
  }
}
