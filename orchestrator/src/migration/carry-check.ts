/**
 * Before a program leaves its node (a move, or a continue elsewhere of a frozen one), its
 * destination says whether the node-local files it would carry find their places free there:
 * a different file already at one refuses it before anything stops or changes, naming the file.
 * One of the owner's of the same size (and mode) may be the very file: the destination compares
 * the bytes as it places them, and leaves the same one.
 */
import { type CarriedPlace, GodwitError } from '@godwit/schemas';
import type { Ctx } from '../context.js';

export async function requireCarryPlacesFree(ctx: Ctx, from: string, to: string, account: string, files: readonly CarriedPlace[]): Promise<void> {
  if (!files.length || from === to) return;
  const { conflicts } = await ctx.agent(to).carryCheck({ files: [...files], account });
  if (conflicts.length) throw new GodwitError('GODWIT_ERR_CARRY_CONFLICT', `the files it would carry cannot go to ${to}: ${conflicts.join('; ')}`, { conflicts });
}
