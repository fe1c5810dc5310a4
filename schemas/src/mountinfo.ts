/**
 * A mount table as /proc/PID/mountinfo writes it: read by the agent (the programs' control mounts,
 * its control groups) and by `cluster down` (what is left mounted under a cluster's directories).
 */

export interface Mount {
  /** where it is mounted, in that process's namespace */
  point: string;
  /** the directory of its file system that is mounted there */
  root: string;
  /** file system type, with FUSE's subtype ("fuse.NAME") */
  type: string;
  /** what was mounted: a device, or the name given to a tmpfs */
  source: string;
  /** the super block's options */
  options: string[];
}

/** mountinfo escapes space, tab, newline and backslash as octal */
const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

export function parseMountinfo(text: string): Mount[] {
  return text.split('\n').flatMap((line) => {
    const [before, after] = line.split(' - ');
    const f = before?.split(' ') ?? [];
    const [type, source, options] = after?.split(' ') ?? [];
    return f[3] && f[4] && type ? [{ point: unescape(f[4]), root: unescape(f[3]), type, source: unescape(source ?? ''), options: (options ?? '').split(',') }] : [];
  });
}

/**
 * The name the tmpfs an agent keeps a lazy move's images on is mounted with (its runDir): the
 * keeper hides mounts of that name from the programs it starts (agent/keeper/keeper-mounts.c), so that
 * no dump packs what it holds, and no restore unpacks it.
 */
export const RUN_MOUNT_SOURCE = 'godwit-run';
