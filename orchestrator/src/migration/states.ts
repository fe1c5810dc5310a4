/**
 * Where a migration may go from each state, so that a step taken out of turn is a bug found at
 * once rather than a record that says something the agents do not hold. transition() (record.ts)
 * checks every move against this table before it is written.
 *
 *   a move:    requested → dumping → dumped → transferring → transferred → restoring → done
 *   lazy:                                                   … restoring → transferring-memory → done
 *   a freeze:  requested → dumping → frozen
 *   a thaw:    frozen → transferring → transferred → restoring → done   (to another node)
 *              frozen → restoring → done                                (where it was frozen)
 *              … transferring, restoring → frozen                        (it could not continue)
 *   failures:  requested, dumping → failed                  (the program never stopped)
 *              dumped … transferring-memory → rolling-back → failed  (it runs on at the source)
 *              frozen → failed                              (SIGKILL while frozen)
 *
 * A restarted orchestrator (resume.ts) finds a migration in any unfinished state and takes it
 * where the agents say it stands: restoring, transferring-memory, rolling-back, done or failed.
 */
import { GodwitError, type MigrationState } from '@godwit/schemas';

/** where resume.ts may take a migration it finds half done, whatever its state */
const RESUMED: readonly MigrationState[] = ['restoring', 'transferring-memory', 'rolling-back', 'done', 'failed'];

export const TRANSITIONS: Readonly<Record<MigrationState, readonly MigrationState[]>> = {
  requested: ['dumping', ...RESUMED],
  dumping: ['dumped', 'frozen', ...RESUMED],
  dumped: ['transferring', ...RESUMED],
  transferring: ['transferred', 'frozen', ...RESUMED],
  transferred: [...RESUMED],
  restoring: ['frozen', ...RESUMED],
  'transferring-memory': [...RESUMED],
  'rolling-back': [...RESUMED],
  frozen: ['transferring', 'restoring', 'failed'],
  done: [],
  failed: [],
};

/** throws unless the table lets migration `id` go from `from` to `to` */
export function checkTransition(id: number, from: MigrationState, to: MigrationState): void {
  if (!TRANSITIONS[from].includes(to)) {
    throw new GodwitError('GODWIT_ERR_INTERNAL', `migration ${id} cannot go from ${from} to ${to}: no step of godwit takes that way (orchestrator/src/migration/states.ts)`);
  }
}
