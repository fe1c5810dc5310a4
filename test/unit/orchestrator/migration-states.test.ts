import { expect } from 'chai';
import { GodwitError, type MigrationState } from '@godwit/schemas';
import { TRANSITIONS, checkTransition } from '../../../orchestrator/src/migration/states.js';

/** every path a migration takes, as its steps write them */
const PATHS: Record<string, MigrationState[]> = {
  move: ['requested', 'dumping', 'dumped', 'transferring', 'transferred', 'restoring', 'done'],
  lazy: ['requested', 'dumping', 'dumped', 'transferring', 'transferred', 'restoring', 'transferring-memory', 'done'],
  'failed before the dump': ['requested', 'failed'],
  'failed dumping': ['requested', 'dumping', 'failed'],
  'rolled back': ['requested', 'dumping', 'dumped', 'transferring', 'rolling-back', 'failed'],
  'lazy, rolled back': ['restoring', 'transferring-memory', 'rolling-back', 'failed'],
  'freeze and thaw elsewhere': ['requested', 'dumping', 'frozen', 'transferring', 'transferred', 'restoring', 'done'],
  'thaw where frozen': ['frozen', 'restoring', 'done'],
  'thaw that stays frozen': ['frozen', 'transferring', 'frozen', 'restoring', 'frozen'],
  'killed while frozen': ['frozen', 'failed'],
  'resumed after a restart': ['transferring-memory', 'transferring-memory', 'done'],
  'rollback resumed after a restart': ['rolling-back', 'rolling-back', 'failed'],
};

describe('migration states', () => {
  for (const [name, path] of Object.entries(PATHS)) {
    it(`lets a migration go its way: ${name}`, () => {
      for (let i = 1; i < path.length; i++) checkTransition(1, path[i - 1]!, path[i]!);
    });
  }

  it('lets nothing leave done or failed', () => {
    expect(TRANSITIONS.done).to.be.empty;
    expect(TRANSITIONS.failed).to.be.empty;
    expect(() => checkTransition(7, 'done', 'rolling-back')).to.throw(GodwitError, /migration 7 cannot go from done to rolling-back/);
  });

  it('refuses a step out of turn, naming it', () => {
    for (const [from, to] of [
      ['requested', 'transferring'],
      ['dumped', 'frozen'],
      ['frozen', 'done'],
      ['transferred', 'transferring'],
    ] as const) {
      let seen: unknown;
      try {
        checkTransition(3, from, to);
      } catch (err) {
        seen = err;
      }
      expect(seen, `${from} → ${to}`).to.be.instanceOf(GodwitError).with.property('code', 'GODWIT_ERR_INTERNAL');
    }
  });
});
