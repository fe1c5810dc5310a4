/**
 * Every file a running program's tree uses, read from /proc without stopping it: open
 * descriptors, working directories, mapped files, the paths of its unix sockets and FIFOs, and
 * files deleted while open. A move's pre-flight (carry-plan.ts) decides what becomes of each.
 */
import { type BigIntStats, readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import type { UsedFileKind } from '@godwit/schemas';
import { controlMountsOf } from './control-mount.js';
import { GONE, passingOver } from './expected-errors.js';
import { inside, underAny } from './open-files.js';
import { treePids } from './preflight.js';

export interface UsedFile {
  /** as the program sees it, without the " (deleted)" the kernel adds */
  path: string;
  kind: UsedFileKind;
  apparentBytes: number;
  allocatedBytes: number;
  /** where this node opens the very file the program uses (/proc/PID/fd/N, a map_files entry, /proc/PID/cwd) */
  at: string;
}

/** what the kernel appends to the path of a file deleted while open */
const DELETED = ' (deleted)';

/**
 * Where no file is one a move carries:
 * - /proc and /sys are the kernel's views, made anew on every node (CRIU restores what they show);
 * - /dev holds device nodes, which every node has, except /dev/shm, a tmpfs of files the
 *   program wrote (POSIX shared memory), node-local like /tmp;
 * - /memfd: and /SYSV are the kernel's names for anonymous shared memory, which CRIU dumps with
 *   the memory itself.
 */
function kernelsOwn(path: string): boolean {
  if (inside(path, '/dev/shm')) return false;
  return underAny(path, ['/proc', '/sys', '/dev']) || path.startsWith('/memfd:') || path.startsWith('/SYSV');
}

/** /proc/PID/net/unix: the bound path of each socket inode the namespace has (abstract ones have none) */
function unixSocketPaths(pid: number): Map<number, string> {
  const paths = new Map<number, string>();
  const text = passingOver(GONE, '', () => readFileSync(`/proc/${pid}/net/unix`, 'utf8'));
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 8 && f[7]!.startsWith('/')) paths.set(Number(f[6]), f[7]!);
  }
  return paths;
}

/** the mapped files of a process: each range's path, and the map_files entry that opens it (deleted or not) */
function mappings(pid: number): { path: string; entry: string }[] {
  const text = passingOver(GONE, '', () => readFileSync(`/proc/${pid}/maps`, 'utf8'));
  return text.split('\n').flatMap((line) => {
    const m = /^([0-9a-f]+-[0-9a-f]+)\s+\S+\s+\S+\s+\S+\s+\d+\s+(\/.*)$/.exec(line);
    return m ? [{ path: m[2]!, entry: `/proc/${pid}/map_files/${m[1]!}` }] : [];
  });
}

/**
 * Every file the tree under rootPid uses, once each (by device and inode), skipping `excluded`
 * directories (the caller's: godwit's own run files) and the program's control directory, the
 * keeper's view of the agent, which every node serves anew.
 */
export function treeFiles(rootPid: number, excluded: readonly string[]): UsedFile[] {
  const found = new Map<string, UsedFile>();
  const skip = [...excluded, ...controlMountsOf(rootPid)];
  const add = (shown: string, kind: UsedFileKind, statPath: string) => {
    const deleted = shown.endsWith(DELETED);
    const path = deleted ? shown.slice(0, -DELETED.length) : shown;
    if (!path.startsWith('/') || kernelsOwn(path) || underAny(path, skip)) return;
    const st = passingOver<BigIntStats | undefined, undefined>(GONE, undefined, () => statSync(statPath, { bigint: true }));
    if (!st) return; // closed or unmapped while we looked
    const key = `${st.dev}:${st.ino}`;
    if (found.has(key)) return;
    const isRegular = st.isFile();
    found.set(key, {
      path,
      kind: deleted && isRegular ? 'deleted' : st.isDirectory() ? 'directory' : st.isFIFO() ? 'fifo' : st.isSocket() ? 'unix-socket' : kind,
      apparentBytes: isRegular ? Number(st.size) : 0,
      // st_blocks counts 512-byte units whatever the file system's block size
      allocatedBytes: isRegular ? Number(st.blocks) * 512 : 0,
      at: statPath,
    });
  };
  for (const pid of treePids(rootPid)) {
    // mappings first: a file both mapped and open (as Python's mmap keeps it) shows as mapped
    for (const { path, entry } of mappings(pid)) add(path, 'mapped', entry);
    const cwd = passingOver(GONE, '', () => readlinkSync(`/proc/${pid}/cwd`));
    add(cwd, 'directory', `/proc/${pid}/cwd`);
    const sockets = unixSocketPaths(pid);
    for (const fd of passingOver(GONE, [] as string[], () => readdirSync(`/proc/${pid}/fd`))) {
      const target = passingOver(GONE, '', () => readlinkSync(`/proc/${pid}/fd/${fd}`));
      const socket = /^socket:\[(\d+)\]$/.exec(target);
      if (socket) {
        const path = sockets.get(Number(socket[1]));
        // stat'ed through the program's root: the path is the program's view
        if (path) add(path, 'unix-socket', `/proc/${pid}/root${path}`);
      } else add(target, 'file', `/proc/${pid}/fd/${fd}`);
    }
  }
  return [...found.values()];
}
