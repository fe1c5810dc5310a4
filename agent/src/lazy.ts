/**
 * What a lazy migration leaves running on its own: the source's `criu dump --lazy-pages` serving
 * the stopped tree's pages, and the destination's `criu lazy-pages` daemon filling the restored
 * tree's memory. Both are found again by PID after an agent restart, so the transfer survives it.
 */
import { readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { summarizeCriuLog } from './criu-log.js';
import { treePids } from './preflight.js';
import { type CriuProcess, parseCriuRecord } from './criu-process.js';
import { passOver, passingOver, signalIfAlive } from './expected-errors.js';

const PAGE = 4096;

/** where an images directory records the PID and start time of the `criu lazy-pages` filling its program */
export const LAZY_PAGES_PID = 'lazy-pages.pid';

/** the lazy-pages daemon started for the images in dir, if one was (its record: criu-process.ts) */
export function lazyPagesIn(dir: string): CriuProcess | undefined {
  return passingOver(['ENOENT'], undefined, () => parseCriuRecord(readFileSync(join(dir, LAZY_PAGES_PID), 'utf8')));
}

/**
 * Holds the tree stopped with a pending SIGSTOP of its own: were CRIU's page server to fail, CRIU
 * would let the tree run on here, though it may run at the destination already.
 */
export function holdStopped(rootPid: number): void {
  for (const pid of treePids(rootPid)) signalIfAlive(pid, 'SIGSTOP');
}

export interface LazyPagesStats {
  /** bytes copied in because the program touched them */
  onDemandBytes: number;
  /** bytes pushed in the background */
  backgroundBytes: number;
  errors: string[];
}

/** what whole lines of the daemon's debug log say: faults, bytes copied in, errors */
interface Tally {
  faults: number;
  copied: number;
  errors: Set<string>;
}

function tally(text: string, into: Tally): Tally {
  for (const m of text.matchAll(/#PF at 0x|uffd_copy: 0x[0-9a-f]+\/(\d+)/g)) {
    if (m[1] === undefined) into.faults++;
    else into.copied += Number(m[1]);
  }
  for (const r of summarizeCriuLog(text).reasons) into.errors.add(r);
  return into;
}

function statsOf(t: Tally): LazyPagesStats {
  const onDemandBytes = Math.min(t.faults * PAGE, t.copied);
  return { onDemandBytes, backgroundBytes: t.copied - onDemandBytes, errors: [...t.errors] };
}

/** Counts from the daemon's debug log: each fault, and each copy into the program's memory. */
export function lazyPagesStats(text: string): LazyPagesStats {
  return statsOf(tally(text, { faults: 0, copied: 0, errors: new Set() }));
}

const READ_CHUNK = 1 << 20;

/**
 * The same, kept up to date by reading only what the log gained since the last call: with -v4
 * the log grows by a line per page fault and per copy, tens of MiB for a large program, and it
 * is asked every 100 ms while the memory follows.
 */
export function lazyPagesCounter(path: string): () => Promise<LazyPagesStats> {
  const t: Tally = { faults: 0, copied: 0, errors: new Set() };
  let offset = 0;
  let partial = '';
  // callers at the same time share one read: the offset moves once
  let reading: Promise<LazyPagesStats> | undefined;
  const read = async (): Promise<LazyPagesStats> => {
    let fh;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      // the daemon has not written its log yet
      passOver(err, ['ENOENT']);
      return statsOf(t);
    }
    try {
      const buf = Buffer.alloc(READ_CHUNK);
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, READ_CHUNK, offset);
        if (bytesRead === 0) break;
        offset += bytesRead;
        // the log is ASCII: a chunk never splits a character
        const text = partial + buf.toString('latin1', 0, bytesRead);
        const end = text.lastIndexOf('\n') + 1;
        partial = text.slice(end);
        tally(text.slice(0, end), t);
      }
    } finally {
      await fh.close();
    }
    return statsOf(t);
  };
  return () => (reading ??= read().finally(() => (reading = undefined)));
}
