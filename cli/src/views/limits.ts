/** mosctl status's limits: what an administrator set, and each user's use of the per-user ones. */
import type { LimitsReport } from '@godwit/schemas';
import { formatBytes, renderTable } from './format.js';

export function renderLimits({ limits: l, use }: LimitsReport): string {
  const head =
    `Limits: ${l.requestsPerMinute} requests a minute per caller; request bodies up to ${formatBytes(l.bodyBytes)}, ` +
    `websocket messages up to ${formatBytes(l.frameBytes)}; events kept ${l.eventsKeepDays} days, at most ${l.eventsKeepCount}\n`;
  const rows = use.map((u) => [
    u.user,
    `${formatBytes(u.checkpointBytes)} / ${formatBytes(l.checkpointBytesPerUser)}`,
    String(u.checkpoints),
    `${u.liveProcesses} / ${l.liveProcessesPerUser}`,
  ]);
  const paused = use.flatMap((u) => u.autoCheckpointsPaused.map((p) => `process ${p.processId} (${u.user}): automatic checkpoints paused: ${p.reason}\n`));
  return head + renderTable(['USER', 'CHECKPOINT BYTES', 'CHECKPOINTS', 'LIVE PROCESSES'], rows) + paused.join('');
}
