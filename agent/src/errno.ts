/** errno numbers from the keeper and its helpers, as a person reads them */
import { constants } from 'node:os';

export const errnoName = (n: number) => Object.entries(constants.errno).find(([, v]) => v === n)?.[0] ?? `errno ${n}`;

const REASONS: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EISDIR: 'is a directory',
  ENOTDIR: 'not a directory',
  ENOEXEC: 'exec format error',
  ELOOP: 'too many levels of symbolic links',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
};

/** "permission denied", or the name where there is no plainer word */
export const errnoReason = (n: number) => REASONS[errnoName(n)] ?? errnoName(n);
