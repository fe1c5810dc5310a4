/** The one wrapper of `mount` and `umount`, and what the host's mount table holds under a cluster's directories. */
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

async function run(argv: string[]): Promise<string | null> {
  const r = await execa(argv[0]!, argv.slice(1), { reject: false, timeout: 15_000, stdin: 'ignore' });
  return r.exitCode === 0 ? null : (r.stderr || r.shortMessage || `exit status ${r.exitCode}`).trim();
}

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
    const failed = await run(['umount', '--lazy', m.point]);
    if (failed) problems.push(`could not detach ${m.point}: ${failed}`);
  }
  return problems;
}

/** what the cluster's tmpfs mounts are called in the mount table */
const TMPFS_SOURCE = 'godwit-run';

/** mounts a tmpfs of at most sizeBytes at dir (made if missing), readable by root alone */
export async function mountTmpfs(dir: string, sizeBytes: number): Promise<void> {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (mountsUnder(dir).includes(dir)) return;
  const failed = await run(['mount', '-t', 'tmpfs', '-o', `size=${sizeBytes},mode=0700`, TMPFS_SOURCE, dir]);
  if (failed) throw new Error(`could not mount a tmpfs at ${dir}: ${failed}`);
}

/**
 * Detaches the tmpfs mounts under dir (a cluster's own directory), at once even where a process
 * left behind holds a file open there: the memory goes when the last one is closed. Returns what
 * it could not detach, with why.
 */
export async function unmountTmpfs(dir: string): Promise<string[]> {
  const problems: string[] = [];
  for (const m of mounts().filter((x) => x.type === 'tmpfs' && under(x.point, dir))) {
    const failed = await run(['umount', '--lazy', m.point]);
    if (failed) problems.push(`could not unmount ${m.point}: ${failed}`);
  }
  return problems;
}
