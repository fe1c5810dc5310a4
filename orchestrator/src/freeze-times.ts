/**
 * A freeze and its continue are one migration that waits, frozen, half way. The program is
 * stopped all along, but what the moves cost it (STOPPED) is the dump that froze it and the
 * restore that brought it back: the time between, frozen on disk as asked, is told apart.
 */
import type { Migration } from '@godwit/schemas';

type Step = Migration['steps'][number];

/**
 * How long it stayed frozen: from its first 'frozen' step until the step after its last one,
 * the continue that brought it back (a continue that failed left it frozen: that counts too).
 * Null for a migration that never waited frozen, or waits still.
 */
function frozenFor(steps: Step[]): number | null {
  const first = steps.findIndex((s) => s.state === 'frozen');
  const last = steps.findLastIndex((s) => s.state === 'frozen');
  const continued = steps[last + 1];
  return first < 0 || continued === undefined ? null : continued.at - steps[first]!.at;
}

/** `stoppedMs` (from the dump until it ran again), split into the moves' stop and the time frozen between */
export function freezeTimes(steps: Step[], stoppedMs: number | null = null): { stoppedMs: number | null; frozenForMs: number | null } {
  const frozenForMs = frozenFor(steps);
  return { stoppedMs: stoppedMs === null ? null : Math.max(0, stoppedMs - (frozenForMs ?? 0)), frozenForMs };
}
