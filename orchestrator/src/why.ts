/**
 * Why a process does not move (openMosix's /proc/PID/cantmove): every reason that applies, in
 * words, from its record and from its node's look at it, without stopping it.
 */
import type { WhyResult } from '@godwit/schemas';
import type { Ctx } from './context.js';
import type { ProcessRow } from './db.js';
import { asGodwitError } from './migration.js';

export async function whyNotMovable(ctx: Ctx, p: ProcessRow): Promise<WhyResult> {
  const reasons: string[] = [];
  if (p.state === 'frozen') reasons.push(`it is frozen (FRZ ${p.frz}): \`mosmigrate ${p.id} continue [NODE]\` brings it back first`);
  else if (p.state === 'migrating') reasons.push('it is migrating now; wait for that to end');
  else if (p.state !== 'running') reasons.push(`it is not running (it is ${p.state})`);
  else if (!ctx.nodes.isOnline(p.node)) reasons.push(`its node ${p.node} is offline: its agent is not connected`);
  else {
    try {
      reasons.push(...(await ctx.agent(p.node).inspect(p.id)).reasons);
    } catch (err) {
      reasons.push(`its node ${p.node} could not look at it: ${asGodwitError(err).message}`);
    }
  }
  const others = ctx.nodes.names.filter((n) => n !== p.node && ctx.nodes.isOnline(n));
  if (p.state === 'running' && others.length === 0) reasons.push('no other node is online');
  return { processId: p.id, movable: reasons.length === 0, reasons };
}
