/**
 * The program's control directory as its own mount namespace has it: the keeper's FUSE view of
 * the directory the agent answers (keeper/controlfs.c), bound at GODWIT_CONTROL. CRIU refuses
 * to dump a FUSE mount, so every dump names it external, under one key, and every restore maps
 * that key to the restoring keeper's own view.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const CONTROL_MOUNT_KEY = 'godwit-control';
/** keeper/controlfs.h: CONTROLFS_SUBTYPE */
const CONTROL_FSTYPE = 'fuse.godwit-control';

/** mountinfo escapes space, tab, newline and backslash as octal */
const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** where the program whose PID is given sees control directories (none if it has no control, or is gone) */
export function controlMountsOf(pid: number): string[] {
  let info: string;
  try {
    info = readFileSync(`/proc/${pid}/mountinfo`, 'utf8');
  } catch {
    return [];
  }
  return info.split('\n').flatMap((line) => {
    const [before, after] = line.split(' - ');
    const mountpoint = before?.split(' ')[4];
    return after?.split(' ')[0] === CONTROL_FSTYPE && mountpoint ? [unescape(mountpoint)] : [];
  });
}

/** where the keeper of `epoch` serves the control view, in the host's namespace (keeper.c: DIR/control.EPOCH) */
export function keeperControlPath(dir: string, epoch: number): string {
  return join(dir, `control.${epoch}`);
}
