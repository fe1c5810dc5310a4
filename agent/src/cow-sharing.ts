/**
 * Memory the processes of a program's tree share copy-on-write (a pre-fork server and its
 * workers, say), read from /proc/PID/pagemap without stopping them. A lazy restore gives every
 * process its own copy of each such page (its pages arrive one process at a time, by
 * userfaultfd), so a tree of N sharing a page ends up holding N; a full copy restores the sharing.
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { GONE, passOver } from './expected-errors.js';

const PAGE = 4096;
/** pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst), in the entry's high 32 bits */
const PRESENT = 1 << (63 - 32);
/** a file page or shared anonymous memory: not private anonymous memory */
const FILE_OR_SHARED = 1 << (61 - 32);
/** mapped by this process only */
const EXCLUSIVE = 1 << (56 - 32);
/** bits 0-54: the page frame number (the agent, root, reads it) */
const PFN_HIGH_BITS = 0x7fffff;

/** above the user address space: [vsyscall], which has no pages of the process's own */
const USER_END = 2 ** 47;

/** the private mappings of pid, as [start, end) byte addresses */
function privateRanges(pid: number): [number, number][] {
  return readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n').flatMap((line) => {
    const m = /^([0-9a-f]+)-([0-9a-f]+) \S\S\Sp /.exec(line);
    const range = m ? ([parseInt(m[1]!, 16), parseInt(m[2]!, 16)] as [number, number]) : undefined;
    return range && range[1] <= USER_END ? [range] : [];
  });
}

/**
 * The frames of the private anonymous pages pid maps but not alone: each once, however often it
 * maps it (the zero page backs every untouched page it has read)
 */
function sharedFrames(pid: number): Set<number> {
  const frames = new Set<number>();
  const fd = openSync(`/proc/${pid}/pagemap`, 'r');
  try {
    // at most 2 MiB of entries at a time: 1 GiB of mapping
    const buf = Buffer.alloc(256 * 1024 * 8);
    const words = new Uint32Array(buf.buffer, buf.byteOffset, buf.length / 4); // little-endian, as x86 and arm64
    for (const [start, end] of privateRanges(pid)) {
      for (let at = start; at < end; ) {
        const pages = Math.min((end - at) / PAGE, buf.length / 8);
        const got = readSync(fd, buf, 0, pages * 8, (at / PAGE) * 8) / 8;
        if (got === 0) break;
        for (let i = 0; i < got; i++) {
          const high = words[i * 2 + 1]!;
          if ((high & PRESENT) === 0 || (high & (FILE_OR_SHARED | EXCLUSIVE)) !== 0) continue;
          const frame = (high & PFN_HIGH_BITS) * 2 ** 32 + words[i * 2]!;
          if (frame !== 0) frames.add(frame);
        }
        at += got * PAGE;
      }
    }
  } finally {
    closeSync(fd);
  }
  return frames;
}

/**
 * Bytes a lazy move would add to the tree's memory: each private page held by k of its processes
 * counts k-1 times (the copies the restore would make). 0 for a tree of one process, which shares
 * with no one (what it shares outside the tree is not the move's to keep).
 */
export function copyOnWriteExtraBytes(pids: readonly number[]): number {
  if (pids.length < 2) return 0;
  /** for each frame, how many of the processes map it */
  const holders = new Map<number, number>();
  for (const pid of pids) {
    try {
      for (const frame of sharedFrames(pid)) holders.set(frame, (holders.get(frame) ?? 0) + 1);
    } catch (err) {
      passOver(err, GONE); // ended meanwhile
    }
  }
  let extra = 0;
  for (const k of holders.values()) if (k > 1) extra += (k - 1) * PAGE;
  return extra;
}
