/**
 * The regular files a program's tree has open, read from /proc while it is stopped for a
 * checkpoint: CRIU records each one's size and refuses a restore when it changed, so a recovery
 * must know them (and bring back those the program was writing in its own directory).
 */
import { constants, readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { OpenFile } from '@godwit/schemas';
import { controlMountsOf } from './control-mount.js';
import { treePids } from './preflight.js';
import { GONE, passOver, passingOver } from './expected-errors.js';

/** open(2)'s access mode bits (Node's constants lack them) */
export const O_ACCMODE = 3;

/** the PID the process has inside its own namespace (the last of NSpid) */
function namespacePid(pid: number): number {
  return passingOver(GONE, pid, () => {
    const ns = /^NSpid:\s*(.+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]?.trim().split(/\s+/);
    return Number(ns?.[ns.length - 1] ?? pid);
  });
}

function modeOf(flags: number): OpenFile['mode'] {
  const acc = flags & O_ACCMODE;
  return acc === constants.O_RDONLY ? 'r' : acc === constants.O_WRONLY ? 'w' : 'rw';
}

/** whether path lies inside dir (both absolute) */
export function inside(path: string, dir: string): boolean {
  const d = dir.endsWith('/') ? dir : `${dir}/`;
  return path.startsWith(d);
}

/** whether path is one of dirs or lies inside one (all absolute) */
export function underAny(path: string, dirs: readonly string[]): boolean {
  return dirs.some((d) => path === d || inside(path, d));
}

export interface TreeFile extends OpenFile {
  /** open(2) flags as /proc/PID/fdinfo shows them */
  flags: number;
  /** its permission bits: CRIU checks them too when it restores */
  fileMode: number;
}

/** A file open in a running tree, and where this node can reach it while the tree is stopped. */
export interface LiveFile extends TreeFile {
  at: {
    /** the process that has it open, as this node numbers it (pid is the number inside the program's namespace) */
    hostPid: number;
    /** the very file, as /proc/PID/fd/N showed it: the same descriptor may name another file later */
    dev: bigint;
    ino: bigint;
  };
}

/**
 * Every regular file open in the tree under rootPid (tini, PID 1, is left out: it opens none of
 * the program's). `saved` marks those open for writing inside the program's working directory.
 * Files of its control directory are left out too: they are the keeper's, whichever node it runs on.
 */
export function openFiles(rootPid: number): LiveFile[] {
  const files: LiveFile[] = [];
  for (const pid of treePids(rootPid)) {
    if (pid === rootPid) continue;
    let cwd: string;
    let fds: string[];
    try {
      cwd = readlinkSync(`/proc/${pid}/cwd`);
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch (err) {
      passOver(err, GONE);
      continue; // it ended while we looked
    }
    const nsPid = namespacePid(pid);
    const control = controlMountsOf(pid);
    for (const name of fds) {
      const fd = Number(name);
      try {
        const path = readlinkSync(`/proc/${pid}/fd/${fd}`);
        if (!path.startsWith('/') || path.endsWith(' (deleted)') || control.some((dir) => inside(path, dir))) continue;
        const st = statSync(`/proc/${pid}/fd/${fd}`, { bigint: true });
        if (!st.isFile()) continue;
        const info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
        const flags = parseInt(/^flags:\s*([0-7]+)/m.exec(info)?.[1] ?? '0', 8);
        const offset = Number(/^pos:\s*(\d+)/m.exec(info)?.[1] ?? 0);
        const mode = modeOf(flags);
        files.push({
          pid: nsPid,
          fd,
          path,
          mode,
          append: (flags & constants.O_APPEND) !== 0,
          offset,
          size: Number(st.size),
          saved: mode !== 'r' && inside(path, cwd),
          flags,
          fileMode: Number(st.mode) & 0o7777,
          at: { hostPid: pid, dev: st.dev, ino: st.ino },
        });
      } catch (err) {
        passOver(err, GONE); // closed while we looked
      }
    }
  }
  return files;
}

/**
 * Copies a file the stopped tree has open into `to` (created, 0600), as it was when looked at:
 * through the program's own descriptor, not its path, which another process of the user's may
 * since have made a symbolic link to a file only root may read; and only as many bytes as its
 * recorded size, which is what CRIU checks on restore.
 */
export async function copyOpenFile(f: LiveFile, to: string): Promise<void> {
  const fdPath = `/proc/${f.at.hostPid}/fd/${f.fd}`;
  // O_NONBLOCK: should the descriptor name a FIFO now, the open must not wait (it is refused below)
  const src = await open(fdPath, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  try {
    const st = await src.stat({ bigint: true });
    if (!st.isFile() || st.dev !== f.at.dev || st.ino !== f.at.ino) {
      throw new Error(`descriptor ${f.fd} of PID ${f.at.hostPid} is no longer ${f.path}, the regular file it had open`);
    }
    const dst = await open(to, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    try {
      const buf = Buffer.alloc(Math.min(f.size, 1 << 20) || 1);
      let done = 0;
      while (done < f.size) {
        const { bytesRead } = await src.read(buf, 0, Math.min(buf.length, f.size - done), done);
        if (bytesRead === 0) throw new Error(`${f.path} shrank from ${f.size} to ${done} bytes while it was saved`);
        for (let w = 0; w < bytesRead; ) w += (await dst.write(buf, w, bytesRead - w)).bytesWritten;
        done += bytesRead;
      }
    } finally {
      await dst.close();
    }
  } finally {
    await src.close();
  }
}
