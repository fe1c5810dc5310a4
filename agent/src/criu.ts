/**
 * The one place that runs CRIU and builds its arguments. Options that every dump and restore
 * needs (see shared/platform-notes.md) are set here, so all images are restorable alike.
 */
import { execa } from 'execa';
import { join } from 'node:path';
import { GodwitError, type NodeFeatures, type StreamInodes } from '@godwit/schemas';
import { readCriuLog } from './criu-log.js';

/** File locks (SQLite), established TCP connections (no iptables here: nftables), unlinked files. */
const COMMON = ['--file-locks', '--tcp-established', '--network-lock', 'nftables', '--link-remap'];
const DUMP_TIMEOUT_MS = 10 * 60_000;

/** `criu dump` of a program's tree: the arguments every godwit dump uses. */
export function dumpArgs(pid: number, imagesDir: string, logName: string): string[] {
  return ['dump', '-t', String(pid), '-D', imagesDir, '-o', logName, ...COMMON];
}

export interface Criu {
  readonly path: string;
  dump(opts: { pid: number; imagesDir: string; what: string }): Promise<void>;
  /** argv (program first) for `criu restore`, run by the keeper so it can adopt the tree */
  restoreArgv(opts: { imagesDir: string; logName: string; pidfile: string; inodes: StreamInodes }): string[];
  /** turns a failed restore's log into the error a user reads */
  restoreError(opts: { imagesDir: string; logName: string; what: string; exitCode: number }): Promise<GodwitError>;
  features(): Promise<NodeFeatures>;
}

export function createCriu(path: string): Criu {
  return {
    path,

    async dump({ pid, imagesDir, what }) {
      const logName = 'dump.log';
      const result = await execa(path, dumpArgs(pid, imagesDir, logName), {
        reject: false,
        timeout: DUMP_TIMEOUT_MS,
        stdin: 'ignore',
      });
      if (result.exitCode === 0) return;
      const log = await readCriuLog(join(imagesDir, logName));
      const reason = log.reasons.length ? log.reasons.join('; ') : (result.stderr || result.shortMessage);
      throw new GodwitError('GODWIT_ERR_CANNOT_DUMP', `CRIU could not dump ${what}: ${reason}`, {
        phase: 'dump',
        imagesDir,
        exitCode: result.exitCode ?? null,
        criuLog: log.excerpt,
      });
    },

    restoreArgv({ imagesDir, logName, pidfile, inodes }) {
      // The keeper places the new pipes' program ends at fds 3, 4 and 5.
      const inherit = [inodes.in, inodes.out, inodes.err].flatMap((ino, i) => ['--inherit-fd', `fd[${3 + i}]:pipe:[${ino}]`]);
      return [
        path, 'restore', '-d', '-D', imagesDir, '-o', logName, '--pidfile', pidfile,
        // the program has its own mount namespace: without --root, CRIU hits BUG at mount.c
        '--root', '/',
        // the restored tree joins the restoring agent's groups, i.e. the destination node's
        '--manage-cgroups=ignore',
        ...COMMON, ...inherit,
      ];
    },

    async restoreError({ imagesDir, logName, what, exitCode }) {
      const log = await readCriuLog(join(imagesDir, logName));
      const reason = log.reasons.length ? log.reasons.join('; ') : `criu restore exited with status ${exitCode}`;
      return new GodwitError('GODWIT_ERR_CANNOT_RESTORE', `CRIU could not restore ${what}: ${reason}`, {
        phase: 'restore',
        imagesDir,
        exitCode,
        criuLog: log.excerpt,
      });
    },

    async features() {
      const version = await execa(path, ['--version'], { reject: false });
      const criuVersion = /Version:\s*(\S+)/.exec(version.stdout)?.[1] ?? 'unknown';
      const check = async (feature: string) =>
        (await execa(path, ['check', '--feature', feature], { reject: false, timeout: 30_000 })).exitCode === 0;
      return {
        criuVersion,
        lazyPages: await check('uffd-noncoop'),
        dirtyTracking: await check('mem_dirty_track'),
      };
    },
  };
}
