/**
 * The agent's runDir: a tmpfs of its own, where a lazy move's images are written while the
 * program is stopped (images.ts says why). The one place the agent runs `mount`.
 */
import { mkdirSync } from 'node:fs';
import { execa } from 'execa';
import { RUN_MOUNT_SOURCE } from '@godwit/schemas';
import { mountsOf } from './mountinfo.js';

/**
 * Mounts a tmpfs named RUN_MOUNT_SOURCE at dir, unless one is there already: the one a previous
 * run of this agent mounted holds the images of moves still under way, and stays when the agent
 * stops (the machine's restart, or `godwit cluster down`, ends it). Its name keeps it out of the
 * programs' mount namespaces.
 */
export async function mountRunDir(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const here = mountsOf('self').filter((m) => m.point === dir);
  if (here.some((m) => m.type === 'tmpfs' && m.source === RUN_MOUNT_SOURCE)) return;
  const r = await execa('mount', ['-t', 'tmpfs', '-o', 'mode=0700', RUN_MOUNT_SOURCE, dir], { reject: false, timeout: 15_000, stdin: 'ignore' });
  if (r.exitCode !== 0) throw new Error(`could not mount a tmpfs at runDir ${dir}: ${(r.stderr || r.shortMessage || `exit status ${r.exitCode}`).trim()}`);
}
