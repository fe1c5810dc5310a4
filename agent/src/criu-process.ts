/**
 * A CRIU this agent started, known again by its PID and the time it started: a PID alone, read
 * back from a record after the CRIU ended, may be any program's by then (a user's one named
 * `criu` included), and such a one must never be taken for it, nor signalled.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { GONE, passingOver, signalIfAlive } from './expected-errors.js';
import { statField, statFields } from './proc-stat.js';

export interface CriuProcess {
  pid: number;
  /**
   * field 22 of /proc/PID/stat: clock ticks since boot when it started, which a later process at
   * the same PID cannot share. Absent in records written before it was kept (see criuAlive).
   */
  start?: number;
}

/** when the process at `pid` started (field 22 of its stat), or undefined when there is none */
export function startTimeOf(pid: number): number | undefined {
  return passingOver(GONE, undefined, () => statField(pid, 22));
}

/** `pid`, which this agent has just spawned (its child, not yet reaped: the PID is still its own), with its start time */
export function criuProcess(pid: number): CriuProcess {
  const start = startTimeOf(pid);
  return start === undefined ? { pid } : { pid, start };
}

/** how a CriuProcess is kept in a file: "PID START" */
export function criuRecord(c: CriuProcess): string {
  return c.start === undefined ? String(c.pid) : `${c.pid} ${c.start}`;
}

/** a record criuRecord wrote (or an older one, "PID" alone); undefined when it says nothing of the kind */
export function parseCriuRecord(text: string): CriuProcess | undefined {
  const m = /^(\d+)(?: (\d+))?\s*$/.exec(text);
  if (!m) return undefined;
  return m[2] === undefined ? { pid: Number(m[1]) } : { pid: Number(m[1]), start: Number(m[2]) };
}

/** Whether the CRIU `c` still runs: its PID is live, no zombie, and started when it did. */
export function criuAlive(c: CriuProcess): boolean {
  return passingOver(GONE, false, () => {
    const fields = statFields(c.pid);
    if (fields[0] === 'Z') return false;
    if (c.start !== undefined) return Number(fields[22 - 3]) === c.start;
    // a record from before start times were kept: the name is all there is to go by
    return readFileSync(`/proc/${c.pid}/cmdline`, 'utf8').split('\0')[0]!.endsWith('criu');
  });
}

export function killCriu(c: CriuProcess): void {
  if (criuAlive(c)) signalIfAlive(c.pid, 'SIGKILL');
}

/** how often a CRIU that ends a transfer is looked at: its end lets the source's copy go */
const CRIU_END_POLL_MS = 10;

/**
 * Whether the CRIU `c` has ended, or ends within `ms`. `exited`: its end, when this agent
 * started it, seen at once (a CRIU left by an agent before a restart is looked at every
 * CRIU_END_POLL_MS).
 */
export async function criuEnds(c: CriuProcess, ms: number, exited?: Promise<unknown>): Promise<boolean> {
  const ends = exited?.then(
    () => true,
    () => true,
  );
  const until = Date.now() + ms;
  while (criuAlive(c)) {
    if (Date.now() >= until) return false;
    const wait = sleep(CRIU_END_POLL_MS, false);
    if (await (ends ? Promise.race([ends, wait]) : wait)) return true;
  }
  return true;
}
