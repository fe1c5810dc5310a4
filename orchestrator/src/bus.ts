/** In-process notices between modules: a migration moved an epoch, output grew, a node came online. */
import { EventEmitter } from 'node:events';
import type { MigrationProgress } from '@godwit/schemas';

export interface BusEvents {
  /** a process's epoch or state changed (migration done or rolled back, exited, lost) */
  process: [id: number];
  /** a process's kept output grew, or it ended */
  output: [id: number];
  /** a follower of a process's output came, went, or wrote more of it (output-followers.ts) */
  followers: [id: number];
  /** an event was recorded (its id): the watch streams send it */
  event: [id: number];
  /** a node's agent said hello */
  online: [node: string];
  /** a migration took a step, or more of its memory arrived */
  progress: [p: MigrationProgress];
}

export class Bus extends EventEmitter<BusEvents> {
  constructor() {
    super();
    this.setMaxListeners(0);
  }
}

export interface WaitOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  /** re-check this often even without a notice (state may change in ways no notice reports) */
  pollMs?: number;
}

/**
 * Resolves with check()'s first value that is not undefined, re-checking on each of the bus
 * events named and every pollMs; resolves undefined on timeout or abort.
 */
export function waitUntil<T>(
  bus: Bus,
  events: (keyof BusEvents)[],
  check: () => T | undefined,
  opts: WaitOptions = {},
): Promise<T | undefined> {
  const first = check();
  if (first !== undefined || opts.signal?.aborted) return Promise.resolve(first);
  return new Promise((resolve, reject) => {
    const timers: NodeJS.Timeout[] = [];
    const finish = (v: T | undefined) => {
      for (const ev of events) bus.off(ev, recheck);
      for (const t of timers) clearTimeout(t);
      opts.signal?.removeEventListener('abort', onAbort);
      resolve(v);
    };
    const recheck = () => {
      try {
        const v = check();
        if (v !== undefined) finish(v);
      } catch (err) {
        finish(undefined);
        reject(err);
      }
    };
    const onAbort = () => finish(undefined);
    for (const ev of events) bus.on(ev, recheck);
    opts.signal?.addEventListener('abort', onAbort);
    timers.push(setInterval(recheck, opts.pollMs ?? 1000));
    if (opts.timeoutMs !== undefined) timers.push(setTimeout(() => finish(undefined), opts.timeoutMs));
  });
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done);
  });
}
