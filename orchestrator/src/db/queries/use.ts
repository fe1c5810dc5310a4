/** The SQL on each user's use of the per-user limits: checkpoint bytes kept, processes alive. */
import type { Prepare } from '../statement.js';

/** states in which a process counts against its owner's live processes */
const LIVE = `('running', 'migrating', 'frozen')`;

export interface UseRow {
  user: string;
  checkpointBytes: number;
  checkpoints: number;
  liveProcesses: number;
}

const USE = `
  SELECT owner AS user,
    COALESCE((SELECT SUM(c.bytes) FROM checkpoints c JOIN processes q ON q.id = c.process_id WHERE q.owner = p.owner), 0) AS checkpointBytes,
    (SELECT COUNT(*) FROM checkpoints c JOIN processes q ON q.id = c.process_id WHERE q.owner = p.owner) AS checkpoints,
    (SELECT COUNT(*) FROM processes q WHERE q.owner = p.owner AND q.state IN ${LIVE}) AS liveProcesses
  FROM (SELECT DISTINCT owner FROM processes) p`;

export function useQueries(prep: Prepare) {
  return {
    useOf: prep<[string], UseRow>(`${USE} WHERE p.owner = ?`),
    useAll: prep<[], UseRow>(`${USE} ORDER BY p.owner`),
    checkpointBytesOf: prep<[string], { bytes: number }>(
      'SELECT COALESCE(SUM(c.bytes), 0) AS bytes FROM checkpoints c JOIN processes p ON p.id = c.process_id WHERE p.owner = ?',
    ),
    autoCheckpointsPausedOf: prep<[string], { processId: number; reason: string }>(
      `SELECT id AS processId, auto_ckpt_paused AS reason FROM processes WHERE owner = ? AND auto_ckpt_paused IS NOT NULL AND state IN ${LIVE} ORDER BY id`,
    ),
    liveProcessesOf: prep<[string], { n: number }>(`SELECT COUNT(*) AS n FROM processes WHERE owner = ? AND state IN ${LIVE}`),
  };
}
