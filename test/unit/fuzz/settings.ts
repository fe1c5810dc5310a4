/**
 * How much the fuzz suite sends, and from which seed: GODWIT_FUZZ_SEED replays a run (its
 * seed is printed with its figures and with any failure), GODWIT_FUZZ_RUNS scales it (`npm run
 * fuzz` sends ten times the default).
 */

function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name} must be a whole number, not ${JSON.stringify(raw)}`);
  return n;
}

/** the default run sends 10,000 requests in all: this share to each server */
const DEFAULT_RUNS = { orchestrator: 7000, agent: 3000, frames: 500 } as const;

export const FUZZ_SEED = positiveInt('GODWIT_FUZZ_SEED', Date.now() % 2 ** 31);

/** GODWIT_FUZZ_RUNS is the number of requests in all; frames scale with them */
export function runsFor(target: keyof typeof DEFAULT_RUNS): number {
  const total = positiveInt('GODWIT_FUZZ_RUNS', 10_000);
  return Math.max(1, Math.round((DEFAULT_RUNS[target] * total) / 10_000));
}

/** the longest any one request may take before the suite says it hangs */
export const REQUEST_DEADLINE_MS = 10_000;

/** a test's timeout: its start-up, then 50 ms a request (several times what a loaded machine takes), so a hang fails it */
export function suiteTimeoutMs(target: keyof typeof DEFAULT_RUNS): number {
  return 60_000 + runsFor(target) * 50;
}
