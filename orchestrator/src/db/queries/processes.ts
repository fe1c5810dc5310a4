/**
 * The SQL on processes: where each runs and in which run (epoch), how it ended, its checkpoints'
 * schedule, and how far its output relay has read.
 */
import type { FreezeReason, ProcessState } from '@godwit/schemas';
import type { ProcessRow } from '../rows.js';
import type { Prepare } from '../statement.js';

export function processesQueries(prep: Prepare) {
  return {
    /** the addresses live processes hold (address-pool.ts) */
    addressesHeld: prep<[], { address: string }>(
      `SELECT address FROM processes WHERE address IS NOT NULL AND state IN ('running', 'migrating', 'frozen')`,
    ),
    setAddress: prep<{ id: number; address: string }>('UPDATE processes SET address = @address WHERE id = @id'),
    runningOn: prep<[string], ProcessRow>(`SELECT * FROM processes WHERE node = ? AND state = 'running' ORDER BY id`),
    insertProcess: prep<{
      owner: string; argv: string; cwd: string; home_node: string; node: string; created_at: number; locked: number;
      ckpt_file: string | null; ckpt_max: number | null; ckpt_every_ms: number | null; ckpt_compress: number | null; recover_on_failure: number;
    }>(
      `INSERT INTO processes (owner, argv, cwd, home_node, node, state, created_at, epoch, out_node, locked,
         ckpt_file, ckpt_max, ckpt_every_ms, ckpt_compress, recover_on_failure)
       VALUES (@owner, @argv, @cwd, @home_node, @node, 'running', @created_at, 0, @node, @locked,
         @ckpt_file, @ckpt_max, @ckpt_every_ms, @ckpt_compress, @recover_on_failure)`,
    ),
    setCheckpointTaken: prep<{ id: number; ckpt_file: string; ckpt_count: number; last_ckpt_at: number }>(
      'UPDATE processes SET ckpt_file = @ckpt_file, ckpt_count = @ckpt_count, last_ckpt_at = @last_ckpt_at WHERE id = @id',
    ),
    setAutoCheckpointPaused: prep<{ id: number; reason: string | null }>('UPDATE processes SET auto_ckpt_paused = @reason WHERE id = @id'),
    checkpointDue: prep<[number], ProcessRow>(
      `SELECT * FROM processes WHERE state = 'running' AND ckpt_every_ms IS NOT NULL
       AND COALESCE(last_ckpt_at, created_at) + ckpt_every_ms <= ? ORDER BY id`,
    ),
    setRecovered: prep<{ id: number; node: string; pid: number | null; epoch: number }>(
      `UPDATE processes SET node = @node, pid = @pid, epoch = @epoch, state = 'running', frz = '-' WHERE id = @id`,
    ),
    processById: prep<[number], ProcessRow>('SELECT * FROM processes WHERE id = ?'),
    processByOrigPid: prep<{ pid: number; owner: string }, ProcessRow>(
      `SELECT * FROM processes WHERE orig_pid = @pid AND owner = @owner
       ORDER BY (state IN ('running', 'migrating')) DESC, id DESC LIMIT 1`,
    ),
    allProcesses: prep<[], ProcessRow>('SELECT * FROM processes ORDER BY id'),
    liveProcesses: prep<[], ProcessRow>(
      `SELECT * FROM processes WHERE state IN ('running', 'migrating', 'frozen') ORDER BY id`,
    ),
    setFrozen: prep<{ id: number; frz: FreezeReason }>(
      `UPDATE processes SET state = 'frozen', frz = @frz, pid = NULL WHERE id = @id`,
    ),
    /** N on a running process (an automatic freeze it cannot take), or '-' to clear it */
    setRunningFrz: prep<{ id: number; frz: 'N' | '-' }>(
      `UPDATE processes SET frz = @frz WHERE id = @id AND state = 'running'`,
    ),
    setAttached: prep<{ id: number; attached: number }>('UPDATE processes SET attached = @attached WHERE id = @id'),
    setClosedOutput: prep<{ id: number; closed_output: string }>('UPDATE processes SET closed_output = @closed_output WHERE id = @id'),
    setLaunched: prep<{ id: number; pid: number | null }>(
      'UPDATE processes SET pid = @pid, orig_pid = @pid WHERE id = @id',
    ),
    setPid: prep<{ id: number; pid: number | null }>(
      'UPDATE processes SET pid = @pid, orig_pid = COALESCE(orig_pid, @pid) WHERE id = @id',
    ),
    setLocked: prep<{ id: number; locked: number }>('UPDATE processes SET locked = @locked WHERE id = @id'),
    setNeedMem: prep<{ id: number; bytes: number }>('UPDATE processes SET need_mem_bytes = @bytes WHERE id = @id'),
    setProcessState: prep<{ id: number; state: ProcessState }>(
      'UPDATE processes SET state = @state WHERE id = @id',
    ),
    endProcess: prep<{
      id: number; state: ProcessState; exit_code: number | null; exit_signal: string | null; died_oom: number; died_reason: string | null;
      ended_at: number;
    }>(
      `UPDATE processes SET state = @state, exit_code = @exit_code, exit_signal = @exit_signal,
       died_oom = @died_oom, died_reason = @died_reason, ended_at = @ended_at WHERE id = @id`,
    ),
    /** a start (or recovery) that never ran */
    failStart: prep<{ id: number; failure: string; ended_at: number }>(
      `UPDATE processes SET state = 'failed', failure = @failure, ended_at = @ended_at WHERE id = @id`,
    ),
    setMigrated: prep<{
      id: number; node: string; pid: number | null; epoch: number; last_stopped_ms: number | null; last_frozen_for_ms: number | null;
    }>(
      `UPDATE processes SET node = @node, pid = @pid, epoch = @epoch, nmigs = nmigs + 1,
       last_stopped_ms = @last_stopped_ms, last_frozen_for_ms = @last_frozen_for_ms, state = 'running', frz = '-' WHERE id = @id`,
    ),
    setExitCheckpoint: prep<{ id: number; path: string | null }>('UPDATE processes SET exit_checkpoint = @path WHERE id = @id'),
    setResumed: prep<{ id: number; pid: number | null; epoch: number }>(
      `UPDATE processes SET pid = @pid, epoch = @epoch, state = 'running' WHERE id = @id AND state = 'migrating'`,
    ),
    endMigrating: prep<[number]>(`UPDATE processes SET state = 'running' WHERE id = ? AND state = 'migrating'`),
    setOutputProgress: prep<{
      id: number; out_epoch_offset: number; out_epoch_ended: number; out_offset: number;
    }>(
      `UPDATE processes SET out_epoch_offset = @out_epoch_offset, out_epoch_ended = @out_epoch_ended,
       out_offset = @out_offset WHERE id = @id`,
    ),
    /** an epoch ended by a dump counted OOM kills in its run's group (death.ts) */
    addEarlierOomKills: prep<{ id: number; kills: number; node: string }>(
      `UPDATE processes SET earlier_oom_kills = earlier_oom_kills + @kills, earlier_oom_node = @node WHERE id = @id`,
    ),
    setOutputEpoch: prep<{ id: number; out_node: string; out_epoch: number }>(
      `UPDATE processes SET out_node = @out_node, out_epoch = @out_epoch, out_epoch_offset = 0,
       out_epoch_ended = 0 WHERE id = @id`,
    ),
    setLogLayout: prep<{ id: number; log1_base: number | null; log_base: number; log_size: number }>(
      'UPDATE processes SET log1_base = @log1_base, log_base = @log_base, log_size = @log_size WHERE id = @id',
    ),
  };
}
