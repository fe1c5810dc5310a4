import { setTimeout as sleep } from 'node:timers/promises';

/** waitFor's deadline passed: what was waited for did not come (callers that expect this catch it alone) */
export class TimedOut extends Error {}

/** Polls until `probe` returns a value or the deadline passes; the error says what was seen last. */
export async function waitFor<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  opts: { timeoutMs: number; intervalMs?: number; what: string; seen?: () => string },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      throw new TimedOut(`timed out after ${opts.timeoutMs} ms waiting for ${opts.what}${opts.seen ? `; saw: ${opts.seen()}` : ''}`);
    }
    await sleep(opts.intervalMs ?? 20);
  }
}
