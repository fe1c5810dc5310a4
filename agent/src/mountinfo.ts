/** A process's mount table, read from /proc. */
import { readFileSync } from 'node:fs';
import { type Mount, parseMountinfo } from '@godwit/schemas';

/** the mounts `pid` sees (none if it is gone) */
export function mountsOf(pid: number | 'self'): Mount[] {
  try {
    return parseMountinfo(readFileSync(`/proc/${pid}/mountinfo`, 'utf8'));
  } catch {
    return [];
  }
}
