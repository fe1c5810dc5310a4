/**
 * What a lazy migration leaves running on its own: the source's `criu dump --lazy-pages` serving
 * the stopped tree's pages, and the destination's `criu lazy-pages` daemon filling the restored
 * tree's memory. Both are found again by PID after an agent restart, so the transfer survives it.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { summarizeCriuLog } from './criu-log.js';
import { treePids } from './preflight.js';

const PAGE = 4096;

/** Whether `pid` is still a live CRIU (not a zombie, not a PID reused by another program). */
export function criuAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (/^\d+ \(.*\) Z/.test(stat)) return false;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]!.endsWith('criu');
  } catch {
    return false;
  }
}

export function killCriu(pid: number): void {
  if (!criuAlive(pid)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // ended meanwhile
  }
}

/**
 * Holds the tree stopped with a pending SIGSTOP of its own: were CRIU's page server to fail, CRIU
 * would let the tree run on here, though it may run at the destination already.
 */
export function holdStopped(rootPid: number): void {
  for (const pid of treePids(rootPid)) {
    try {
      process.kill(pid, 'SIGSTOP');
    } catch {
      // ended meanwhile
    }
  }
}

export interface LazyPagesStats {
  /** bytes copied in because the program touched them */
  onDemandBytes: number;
  /** bytes pushed in the background */
  backgroundBytes: number;
  errors: string[];
}

/** Counts from the daemon's debug log: each fault, and each copy into the program's memory. */
export function lazyPagesStats(text: string): LazyPagesStats {
  let faults = 0;
  let copied = 0;
  for (const m of text.matchAll(/#PF at 0x|uffd_copy: 0x[0-9a-f]+\/(\d+)/g)) {
    if (m[1] === undefined) faults++;
    else copied += Number(m[1]);
  }
  const onDemandBytes = Math.min(faults * PAGE, copied);
  return { onDemandBytes, backgroundBytes: copied - onDemandBytes, errors: summarizeCriuLog(text).reasons };
}

export async function readLazyPagesStats(path: string): Promise<LazyPagesStats> {
  try {
    return lazyPagesStats(await readFile(path, 'utf8'));
  } catch {
    return { onDemandBytes: 0, backgroundBytes: 0, errors: [] };
  }
}
