/**
 * The program's control directory as its own mount namespace has it: the keeper's FUSE view of
 * the directory the agent answers (keeper/controlfs.c), bound at GODWIT_CONTROL. CRIU refuses
 * to dump a FUSE mount, so every dump names it external, under one key, and every restore maps
 * that key to the restoring keeper's own view.
 */
import { join } from 'node:path';
import { CONTROL_MOUNT_TYPE } from '@godwit/schemas';
import { mountsOf } from './mountinfo.js';

export const CONTROL_MOUNT_KEY = 'godwit-control';

/** where the program whose PID is given sees control directories (none if it has no control, or is gone) */
export function controlMountsOf(pid: number): string[] {
  return mountsOf(pid).flatMap((m) => (m.type === CONTROL_MOUNT_TYPE ? [m.point] : []));
}

/** where the keeper of `epoch` serves the control view, in the host's namespace (keeper.c: DIR/control.EPOCH) */
export function keeperControlPath(dir: string, epoch: number): string {
  return join(dir, `control.${epoch}`);
}
