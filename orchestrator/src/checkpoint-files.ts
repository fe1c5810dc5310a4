/**
 * Where checkpoint files live: the cluster's checkpoint directory, each user's under their own
 * name. The agents, which run as root, write and read nowhere else, so a user's FILE (mosrun -C,
 * -R, -I) is a name or path inside their own directory, never outside it.
 */
import { isAbsolute, join, normalize, relative } from 'node:path';
import { GodwitError, type CheckpointPolicy } from '@godwit/schemas';

const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

export interface CheckpointFiles {
  /** a user's FILE as its absolute path in their checkpoint directory; throws why it is not one */
  resolveFile(user: string, file: string): string;
  /** the agents' name for a file of the checkpoint directory */
  rel(abs: string): string;
  /** the columns a new process gets from mosrun -C/-N/-A */
  policyColumns(
    user: string,
    policy: CheckpointPolicy | undefined,
  ): { ckpt_file: string | null; ckpt_max: number | null; ckpt_every_ms: number | null; ckpt_compress: number | null };
}

export function checkpointFiles(root: string): CheckpointFiles {
  function resolveFile(user: string, file: string): string {
    const base = join(root, user);
    const abs = isAbsolute(file) ? normalize(file) : join(base, file);
    const rel = relative(base, abs);
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
      throw new GodwitError('GODWIT_ERR_BAD_REQUEST', `checkpoint files of ${user} are kept in ${base}/: name one there (for example myjob), not ${file}`);
    }
    if (!rel.split('/').every((s) => SEGMENT.test(s))) {
      throw new GodwitError('GODWIT_ERR_BAD_REQUEST', `checkpoint file name ${file} may hold only letters, digits, '.', '_' and '-' (and '/' between names)`);
    }
    return abs;
  }

  function policyColumns(user: string, policy: CheckpointPolicy | undefined) {
    return {
      ckpt_file: policy ? resolveFile(user, policy.file) : null,
      ckpt_max: policy?.max ?? null,
      ckpt_every_ms: policy?.everyMinutes !== undefined ? Math.max(1000, Math.round(policy.everyMinutes * 60_000)) : null,
      ckpt_compress: policy?.compress === undefined ? null : Number(policy.compress),
    };
  }

  return { resolveFile, rel: (abs) => relative(root, abs), policyColumns };
}
