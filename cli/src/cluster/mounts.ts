/** The one wrapper of `umount`, and what the host's mount table holds under a cluster's directories. */
import fs from 'node:fs';
import { execa } from 'execa';
import { CONTROL_MOUNT_TYPE, type Mount, RUN_MOUNT_SOURCE, parseMountinfo } from '@godwit/schemas';
import { isErrno } from '../errors.js';

function mounts(): Mount[] {
  try {
    return parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
  } catch (err) {
    // no /proc mounted: no mounts to see
    if (!isErrno(err, 'ENOENT')) throw err;
    return [];
  }
}

const under = (at: string, dir: string) => at === dir || at.startsWith(`${dir}/`);

async function run(argv: string[]): Promise<string | null> {
  const r = await execa(argv[0]!, argv.slice(1), { reject: false, timeout: 15_000, stdin: 'ignore' });
  return r.exitCode === 0 ? null : (r.stderr || r.shortMessage || `exit status ${r.exitCode}`).trim();
}

export function mountsUnder(dir: string): string[] {
  return mounts().flatMap((m) => (under(m.point, dir) ? [m.point] : []));
}

/**
 * Detaches what the cluster's components leave mounted under dir: the control mounts of keepers
 * that did not end by themselves (killed with their node: nothing answers them any more), and the
 * agents' runDir tmpfs (agent/src/run-dir.ts), which outlive their agents so that a restarted one
 * finds the moves under way. At once, even where a process left behind holds a file open there.
 * Returns what it could not detach, with why.
 */
export async function detachLeftMounts(dir: string): Promise<string[]> {
  const left = (m: Mount) => m.type === CONTROL_MOUNT_TYPE || (m.type === 'tmpfs' && m.source === RUN_MOUNT_SOURCE);
  const problems: string[] = [];
  for (const m of mounts().filter((x) => left(x) && under(x.point, dir))) {
    const failed = await run(['umount', '--lazy', m.point]);
    if (failed) problems.push(`could not detach ${m.point}: ${failed}`);
  }
  return problems;
}
