/**
 * Waiting for a cluster's components to answer: a component that dies meanwhile, or a deadline
 * passed, ends the wait at once with the end of the logs that say why.
 */
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CliError, isErrno } from '../errors.js';
import { isAlive } from './procs.js';
import type { ClusterState } from './state.js';

const POLL_MS = 250;

export interface WaitOptions {
  deadline: number;
  signal: AbortSignal | undefined;
  watch: ClusterState;
  what: string;
  describe?: () => { message: string; logs: string[] };
}

function tail(file: string, lines = 15): string[] {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [`(no log at ${file})`];
    return [`(cannot read ${file}: ${(err as Error).message})`];
  }
}

/** Polls `probe` until it says yes; fails early when a component dies, with the tail of its log. */
export async function waitFor(probe: () => Promise<boolean>, w: WaitOptions): Promise<void> {
  let lastError: string | null = null;
  for (;;) {
    if (w.signal?.aborted) throw new CliError(`interrupted while waiting for ${w.what}`);
    const dead = w.watch.components.filter((c) => !isAlive(c.pid, c.startTime));
    if (dead.length) {
      const details: Record<string, unknown> = {};
      for (const c of dead) details[path.basename(c.log)] = tail(c.log);
      throw new CliError(`${dead.map((c) => (c.role === 'agent' ? `agent of ${c.name}` : c.name) + ` (pid ${c.pid})`).join(', ')} exited while waiting for ${w.what}`, { details });
    }
    try {
      if (await probe()) return;
      lastError = null;
    } catch (err) {
      lastError = (err as Error).message;
    }
    if (Date.now() > w.deadline) {
      const d = w.describe?.();
      const details: Record<string, unknown> = {};
      if (lastError) details.lastError = lastError;
      const logs = d ? d.logs : ['orchestrator'];
      for (const name of logs) {
        const c = w.watch.components.find((x) => x.name === name);
        if (c) details[path.basename(c.log)] = tail(c.log);
      }
      throw new CliError(`timed out waiting for ${w.what}${d ? `: ${d.message}` : ''}`, { details });
    }
    await sleep(POLL_MS);
  }
}
