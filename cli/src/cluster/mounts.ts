/** The one wrapper of `umount`, and what the host's mount table holds under a cluster's directories. */
import fs from 'node:fs';
import { execa } from 'execa';

/** keepers serve each program's control directory as a FUSE mount of this type (agent/keeper/controlfs.c) */
const CONTROL_FSTYPE = 'fuse.godwit-control';

interface Mount {
  at: string;
  fstype: string;
}

function mounts(): Mount[] {
  let text: string;
  try {
    text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').flatMap((line) => {
    const [before, after] = line.split(' - ');
    const at = before?.split(' ')[4];
    return at && after ? [{ at: at.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))), fstype: after.split(' ')[0] ?? '' }] : [];
  });
}

const under = (at: string, dir: string) => at === dir || at.startsWith(`${dir}/`);

export function mountsUnder(dir: string): string[] {
  return mounts().flatMap((m) => (under(m.at, dir) ? [m.at] : []));
}

/**
 * Detaches the control mounts left under dir by keepers that did not end by themselves (killed
 * with their node): nothing answers them any more. Returns what it could not detach, with why.
 */
export async function detachControlMounts(dir: string): Promise<string[]> {
  const problems: string[] = [];
  for (const m of mounts().filter((x) => x.fstype === CONTROL_FSTYPE && under(x.at, dir))) {
    const r = await execa('umount', ['--lazy', m.at], { reject: false, timeout: 15_000, stdin: 'ignore' });
    if (r.exitCode !== 0) problems.push(`could not detach ${m.at}: ${(r.stderr || r.shortMessage || `exit status ${r.exitCode}`).trim()}`);
  }
  return problems;
}
