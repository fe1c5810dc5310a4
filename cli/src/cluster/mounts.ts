/** The one wrapper of `umount`, and what the host's mount table holds under a cluster's directories. */
import fs from 'node:fs';
import { execa } from 'execa';
import { CONTROL_MOUNT_TYPE, type Mount, parseMountinfo } from '@godwit/schemas';

function mounts(): Mount[] {
  try {
    return parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
  } catch {
    return [];
  }
}

const under = (at: string, dir: string) => at === dir || at.startsWith(`${dir}/`);

export function mountsUnder(dir: string): string[] {
  return mounts().flatMap((m) => (under(m.point, dir) ? [m.point] : []));
}

/**
 * Detaches the control mounts left under dir by keepers that did not end by themselves (killed
 * with their node): nothing answers them any more. Returns what it could not detach, with why.
 */
export async function detachControlMounts(dir: string): Promise<string[]> {
  const problems: string[] = [];
  for (const m of mounts().filter((x) => x.type === CONTROL_MOUNT_TYPE && under(x.point, dir))) {
    const r = await execa('umount', ['--lazy', m.point], { reject: false, timeout: 15_000, stdin: 'ignore' });
    if (r.exitCode !== 0) problems.push(`could not detach ${m.point}: ${(r.stderr || r.shortMessage || `exit status ${r.exitCode}`).trim()}`);
  }
  return problems;
}
