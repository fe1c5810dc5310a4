/**
 * The one place that starts godwit-deputy (agent/keeper/deputy.c): the stand-in that keeps a
 * moved program's home PID, and talks with it through the FIFOs and status file of its
 * directory. Like keepers, stand-ins are detached: they outlive an agent restart.
 */
import { spawn } from 'node:child_process';
import { closeSync, constants, openSync, readFileSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { waitFor } from './wait.js';
import { passOver } from './expected-errors.js';
import { readJsonLines } from './json-lines.js';

export type DeputyEvent =
  | { ev: 'started'; pid: number }
  /** clone3 could not give the stand-in the PID: EEXIST where another process holds it */
  | { ev: 'refused'; errno: number }
  /** how the stand-in ended: code -1 when a signal ended it */
  | { ev: 'ended'; code: number; signal: number };

export function deputyPath(keeperPath: string): string {
  return join(dirname(keeperPath), 'godwit-deputy');
}

export function readDeputyEvents(dir: string): DeputyEvent[] {
  return readJsonLines<DeputyEvent>(join(dir, 'status'));
}

export function endedEvent(dir: string): Extract<DeputyEvent, { ev: 'ended' }> | undefined {
  return readDeputyEvents(dir).find((e): e is Extract<DeputyEvent, { ev: 'ended' }> => e.ev === 'ended');
}

export interface DeputyStart {
  path: string;
  /** root's, mode 0700: the FIFOs and the status file go there */
  dir: string;
  pid: number;
  /** the program's owner, as accounts.ts keeperUser writes it */
  user: string;
  /** the node's program control groups, which the stand-in joins as keepers do */
  cgroups: readonly string[];
}

/** Starts the stand-in; answers once it holds the PID, or why it cannot. */
export async function startDeputy(opts: DeputyStart, timeoutMs: number): Promise<Extract<DeputyEvent, { ev: 'started' | 'refused' }>> {
  const log = openSync(join(opts.dir, 'deputy.log'), 'a', 0o600);
  let exited: string | undefined;
  try {
    const child = spawn(opts.path, [opts.dir, String(opts.pid)], {
      detached: true,
      stdio: ['ignore', log, log],
      env: { GODWIT_DEPUTY_USER: opts.user, GODWIT_DEPUTY_CGROUPS: opts.cgroups.join(':') },
    });
    child.on('error', (err) => (exited = err.message));
    child.on('exit', (code, signal) => (exited ??= `godwit-deputy exited (${signal ?? code})`));
    child.unref();
  } finally {
    closeSync(log);
  }
  return waitFor(
    () => {
      const ev = readDeputyEvents(opts.dir).find((e): e is Extract<DeputyEvent, { ev: 'started' | 'refused' }> => e.ev === 'started' || e.ev === 'refused');
      if (ev) return ev;
      if (exited !== undefined) throw new Error(`${exited}: ${readFileSync(join(opts.dir, 'deputy.log'), 'utf8').trim() || 'no output'}`);
      return undefined;
    },
    { timeoutMs, intervalMs: 2, what: `the stand-in for PID ${opts.pid} in ${opts.dir} to start` },
  );
}

/** How the stand-in should end: as the program did. */
export type DeputyEnd = { code: number } | { signal: number };

/** Tells the stand-in to end; false when none reads its control FIFO any more (it is gone). */
export function endDeputy(dir: string, end: DeputyEnd): boolean {
  let fd: number;
  try {
    // non-blocking: ENXIO at once where no stand-in holds the FIFO, instead of waiting for one
    fd = openSync(join(dir, 'control'), constants.O_WRONLY | constants.O_NONBLOCK);
  } catch (err) {
    passOver(err, ['ENXIO', 'ENOENT']);
    return false;
  }
  try {
    writeSync(fd, 'code' in end ? `exit ${end.code}\n` : `kill ${end.signal}\n`);
    return true;
  } catch (err) {
    passOver(err, ['EPIPE', 'EAGAIN']); // it went away since, or reads no more
    return false;
  } finally {
    closeSync(fd);
  }
}

/**
 * Follows the signals the stand-in receives, in order; `gone` runs once it no longer exists
 * (only it writes the FIFO, so its end is the FIFO's). Returns a stop function.
 */
export function followDeputy(dir: string, onSignal: (signal: number) => void, gone: () => void): () => void {
  const fd = openSync(join(dir, 'signals'), constants.O_RDONLY | constants.O_NONBLOCK);
  const fifo = new Socket({ fd, readable: true, writable: false });
  let pending = '';
  fifo.setEncoding('latin1');
  fifo.on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const l of lines) {
      const n = Number(l);
      if (Number.isInteger(n) && n > 0) onSignal(n);
    }
  });
  let stopped = false;
  const end = () => {
    if (stopped) return;
    stopped = true;
    fifo.destroy();
    gone();
  };
  fifo.on('end', end);
  fifo.on('error', end);
  return () => {
    stopped = true;
    fifo.destroy();
  };
}
