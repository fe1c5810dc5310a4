/**
 * The per-user limits' decisions: how much room a user's next checkpoint has, and whether they
 * may start one more process. Each refusal says what is used, what the limit is and what to do.
 */
import { GodwitError, sizeInWords } from '@godwit/schemas';


/**
 * The most bytes the next checkpoint may take: what the quota leaves, plus the file it replaces
 * (a recycled -N name), which is freed only once the new one is safely written.
 */
export function checkpointRoom(quota: number, usedBytes: number, replacedBytes: number): number {
  return quota - usedBytes + replacedBytes;
}

export function checkpointQuotaError(user: string, usedBytes: number, quota: number, processId: number, neededBytes?: number): GodwitError {
  const needs = neededBytes === undefined ? 'no room is left for another' : `it needs ${sizeInWords(neededBytes)}`;
  return new GodwitError(
    'GODWIT_ERR_CHECKPOINT_QUOTA',
    `checkpoint of process ${processId} refused: ${user}'s checkpoints use ${sizeInWords(usedBytes)} of a quota of ${sizeInWords(quota)} and ${needs}; ` +
      'the process runs on and its earlier checkpoints are kept: remove checkpoint files you no longer need, or ask an administrator for a larger quota',
    { user, usedBytes, quotaBytes: quota, processId, ...(neededBytes === undefined ? {} : { neededBytes }) },
  );
}

/**
 * The next checkpoint's size, as well as it can be told before dumping: what the agent said the
 * last one refused needed, else the process's last checkpoint; undefined when neither tells, and
 * then one dump does. Not its resident memory: that counts the pages of its binary and libraries
 * shared with the files, which no checkpoint holds, so a small program near the quota would wait
 * for room it does not need.
 */
export function nextCheckpointBytes(known: { refusedNeeding?: number | undefined; lastBytes?: number | undefined }): number | undefined {
  return known.refusedNeeding ?? known.lastBytes;
}

/** why a process's automatic checkpoints are paused rather than dumped and refused at each interval */
export function autoCheckpointsPausedReason(user: string, usedBytes: number, quota: number, estimate: number | undefined): string {
  const next = estimate === undefined ? 'no room is left for another' : `the next would need about ${sizeInWords(estimate)}`;
  return `${user}'s checkpoints use ${sizeInWords(usedBytes)} of a quota of ${sizeInWords(quota)} and ${next}: ` +
    'none is dumped until it fits, and they resume by themselves once the quota has room (an administrator can raise it)';
}

/** throws GODWIT_ERR_PROCESS_LIMIT when `live` processes already reach the limit */
export function requireProcessRoom(user: string, live: number, limit: number): void {
  if (live < limit) return;
  throw new GodwitError(
    'GODWIT_ERR_PROCESS_LIMIT',
    `${user} has ${live} live processes (running, migrating or frozen), the most a user may have (${limit}): nothing was started; ` +
      'wait for one to end, or end one you no longer need',
    { user, liveProcesses: live, limit },
  );
}
