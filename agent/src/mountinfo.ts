/** A process's mount table, read from /proc. */
import { readFileSync } from 'node:fs';
import { type Mount, parseMountinfo } from '@godwit/schemas';
import { GONE, passingOver } from './expected-errors.js';

/** the mounts `pid` sees (none if it is gone) */
export function mountsOf(pid: number | 'self'): Mount[] {
  return passingOver(GONE, [], () => parseMountinfo(readFileSync(`/proc/${pid}/mountinfo`, 'utf8')));
}
