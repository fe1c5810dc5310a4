/** /proc/PID/stat, read once for each question asked of it */
import { readFileSync } from 'node:fs';

/**
 * The fields of /proc/PID/stat after "PID (COMM) ", starting with the state (field 3): the name
 * may hold spaces and ')'. Throws (ENOENT, ESRCH) when the process is gone.
 */
export function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** field N of /proc/PID/stat (as proc(5) numbers them, from 1), as a number */
export function statField(pid: number, n: number): number {
  return Number(statFields(pid)[n - 3]);
}
