/**
 * What a lazy migration leaves running on its own: the source's `criu dump --lazy-pages` serving
 * the stopped tree's pages, and the destination's `criu lazy-pages` daemon filling the restored
 * tree's memory. Both are found again by PID after an agent restart, so the transfer survives it.
 */
import { readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { summarizeCriuLog } from './criu-log.js';
import { treePids } from './preflight.js';
import { GONE, passOver, passingOver, signalIfAlive } from './expected-errors.js';

const PAGE = 4096;

/** where an images directory records the PID of the `criu lazy-pages` filling its program */
export const LAZY_PAGES_PID = 'lazy-pages.pid';

/** the PID of the lazy-pages daemon started for the images in dir, if one was */
export function lazyPagesPidIn(dir: string): number | undefined {
  return passingOver(['ENOENT'], undefined, () => Number(readFileSync(join(dir, LAZY_PAGES_PID), 'utf8')));
}

/** Whether `pid` is still a live CRIU (not a zombie, not a PID reused by another program). */
export function criuAlive(pid: number): boolean {
  return passingOver(GONE, false, () => {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (/^\d+ \(.*\) Z/.test(stat)) return false;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]!.endsWith('criu');
  });
}

/** how often a CRIU that ends a transfer is looked at: its end lets the source's copy go */
const CRIU_END_POLL_MS = 10;

/**
 * Whether the CRIU at `pid` has ended, or ends within `ms`. `exited`: its end, when this agent
 * started it, seen at once (a CRIU left by an agent before a restart is looked at every
 * CRIU_END_POLL_MS).
 */
export async function criuEnds(pid: number, ms: number, exited?: Promise<unknown>): Promise<boolean> {
  const ends = exited?.then(
    () => true,
    () => true,
  );
  const until = Date.now() + ms;
  while (criuAlive(pid)) {
    if (Date.now() >= until) return false;
    const wait = sleep(CRIU_END_POLL_MS, false);
    if (await (ends ? Promise.race([ends, wait]) : wait)) return true;
  }
  return true;
}

export function killCriu(pid: number): void {
  if (criuAlive(pid)) signalIfAlive(pid, 'SIGKILL');
}

/** Kills the CRIUs that `parent` (a keeper, by PID) started and that still run. */
export function killCriuUnder(parent: number): void {
  const children = passingOver(GONE, '', () => readFileSync(`/proc/${parent}/task/${parent}/children`, 'utf8'));
  for (const pid of children.split(' ').filter(Boolean).map(Number)) killCriu(pid);
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
