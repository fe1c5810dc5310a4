/**
 * MOSIX's freeze: the program is dumped to its node's disk and ends there, its images kept, the
 * migration waiting at 'frozen' until a thaw (`continue`) restores it, here or on another node.
 */
import { type DumpResult, type FreezeReason, GodwitError, type Migration, toGodwitError } from '@godwit/schemas';
import type { Ctx } from '../context.js';
import { requireCpuRuns } from '../cpu-compat.js';
import { type DumpRecord, type MigrationRow, type ProcessRow, toDumpRecord } from '../db/index.js';
import { toMigration } from '../db/index.js';
import { recordHomePid } from '../home-pid.js';
import { howDied } from '../death.js';
import { processExited } from '../process-life.js';
import { deliverQueuedSignals } from '../queued-signals.js';
import { requireCarryPlacesFree } from './carry-check.js';
import type { MigrationEnds } from './failure.js';
import type { MigrationLock } from './lock.js';
import { type Pipeline, keepsSourceCopy } from './pipeline.js';
import type { MigrationRecord } from './record.js';

export interface Freezer {
  /** dumps the process to its node's disk and ends it there: a migration that waits at 'frozen' */
  freeze(proc: ProcessRow, why: FreezeReason): Promise<Migration>;
  /** brings a frozen process back on `to` (a node, or 'home', the default), then delivers the signals that waited for it */
  thaw(proc: ProcessRow, to?: string): Promise<Migration>;
  /** ends a frozen process, as SIGKILL does: its image and the signals that waited for it are dropped */
  endFrozen(proc: ProcessRow, signal: string): void;
}

export function createFreezer(
  ctx: Ctx,
  rec: MigrationRecord,
  lock: MigrationLock,
  ends: MigrationEnds,
  pipeline: Pipeline,
  requireOnline: (ids: { proc: number; to: string }, ...names: string[]) => void,
): Freezer {
  const { db, bus, log, nodes } = ctx;
  const { transition } = rec;

  async function runFreeze(m: MigrationRow, why: FreezeReason): Promise<Migration> {
    m = transition(m, 'dumping');
    let dumped: DumpResult;
    try {
      dumped = await ctx.agent(m.from_node).dump(m.process_id, { migrationId: m.id });
    } catch (err) {
      ends.failBeforeDump(m, toGodwitError(err, 'GODWIT_ERR_MIGRATION_FAILED'), `process ${m.process_id} cannot be frozen`);
    }
    const dump: DumpRecord = { stoppedAt: dumped.stoppedAt, inodes: dumped.inodes, bytes: dumped.bytes, direct: false, ...(dumped.carried ? { carried: dumped.carried } : {}) };
    recordHomePid(db, m.process_id, m.from_node, dumped.homePid);
    const frozen = transition(m, 'frozen', () => {
      db.q.setMigrationDump.run({ id: m.id, dump: JSON.stringify(dump) });
      db.q.setMigrationBytes.run({ id: m.id, bytes: dumped.bytes });
      db.q.setFrozen.run({ id: m.process_id, frz: why });
      db.event({
        processId: m.process_id,
        node: m.from_node,
        kind: 'frozen',
        message: `process ${m.process_id} is frozen: its image (${dumped.bytes} bytes) is kept on ${m.from_node}; \`mosmigrate ${m.process_id} continue [NODE]\` brings it back`,
      });
    });
    bus.emit('process', m.process_id);
    return toMigration(frozen);
  }

  /** A frozen process comes back: its images go to `to` if they are elsewhere, and it is restored there. */
  function runThaw(m: MigrationRow, proc: ProcessRow): Promise<Migration> {
    const dump = toDumpRecord(m.dump!);
    const stayFrozen = async (at: MigrationRow, e: GodwitError): Promise<never> => {
      transition(at, 'frozen', () => {
        db.q.setMigrationTo.run({ id: at.id, to_node: at.from_node });
        db.q.setFrozen.run({ id: at.process_id, frz: proc.frz === '-' ? 'M' : proc.frz });
        db.event({ processId: at.process_id, node: at.to_node, kind: 'continue-failed', message: `process ${at.process_id} could not continue on ${at.to_node}: ${e.message}` });
      });
      bus.emit('process', at.process_id);
      if (at.to_node !== at.from_node) {
        ctx.agent(at.to_node).deleteImages(at.id).catch((err: unknown) => {
          log.warn({ err, migration: at.id }, `could not delete the images of migration ${at.id} on ${at.to_node}`);
        });
      }
      throw new GodwitError(e.code, `process ${at.process_id} could not continue on ${at.to_node}: ${e.message}; it stays frozen, its image kept on ${at.from_node}`, {
        ...e.details,
        migrationId: at.id,
      });
    };
    // its images are where it was frozen: they move only if it continues elsewhere
    return pipeline.runFrom(m.to_node === m.from_node ? 'restore' : 'transfer', { m, dump, sourceCopy: keepsSourceCopy(dump), failed: stayFrozen });
  }

  return {
    freeze(proc, why) {
      let m: MigrationRow;
      try {
        lock.requireRunning(proc, 'can be frozen');
        requireOnline({ proc: proc.id, to: proc.node }, proc.node);
        m = rec.record(proc, proc.node, { strategy: 'freeze', reason: 'a freeze: dumped to the disk of its node' }, `process ${proc.id} is being frozen on ${proc.node}`);
      } catch (err) {
        return Promise.reject(err);
      }
      return lock.exclusive(proc.id, () => runFreeze(m, why));
    },

    thaw(proc, toName) {
      if (proc.state !== 'frozen' || lock.held(proc.id)) {
        return Promise.reject(new GodwitError('GODWIT_ERR_NOT_FROZEN', `process ${proc.id} is not frozen (it is ${proc.state}); only frozen processes continue`));
      }
      const frozen = db.q.frozenMigration.get(proc.id);
      const to = !toName || toName === 'home' ? proc.home_node : toName;
      try {
        nodes.require(to);
        if (!frozen) throw new GodwitError('GODWIT_ERR_INTERNAL', `process ${proc.id} is frozen, but no record says where its image is`);
        requireOnline({ proc: proc.id, to }, to, frozen.from_node);
      } catch (err) {
        return Promise.reject(err);
      }
      return lock.exclusive(proc.id, async () => {
        try {
          await requireCpuRuns(ctx, `process ${proc.id} (frozen on ${frozen.from_node})`, frozen.from_node, to, 'nothing was changed');
          await requireCarryPlacesFree(ctx, frozen.from_node, to, rec.ownerAccount(frozen), toDumpRecord(frozen.dump!).carried ?? []);
        } catch (err) {
          const e = toGodwitError(err, 'GODWIT_ERR_MIGRATION_FAILED');
          throw new GodwitError(e.code, `process ${proc.id} cannot continue on ${to}: ${e.message}; it stays frozen, its image on ${frozen.from_node}`, e.details);
        }
        db.tx(() => {
          db.q.setMigrationTo.run({ id: frozen.id, to_node: to });
          db.q.setProcessState.run({ id: proc.id, state: 'migrating' });
          db.event({ processId: proc.id, node: to, kind: 'continuing', message: `process ${proc.id} continues on ${to}, from its image on ${frozen.from_node}` });
        });
        bus.emit('process', proc.id);
        const m = await runThaw(db.q.migrationById.get(frozen.id)!, proc);
        await deliverQueuedSignals(ctx, proc.id);
        return m;
      });
    },

    endFrozen(proc, signal) {
      const m = db.q.frozenMigration.get(proc.id);
      const message = `process ${proc.id} was frozen and ended by ${signal}; its image is dropped`;
      db.tx(() => {
        if (m) {
          transition(m, 'failed', () => {
            db.q.setMigrationFailure.run({ id: m.id, code: 'GODWIT_ERR_PROCESS_NOT_RUNNING', reason: message });
            rec.ended(m, null, null);
          });
        }
        processExited(db, { code: null, signal }, howDied({ code: null, signal }, proc.node), { id: proc.id, node: proc.node, message });
        db.q.dropQueuedSignalsOf.run(proc.id);
      });
      bus.emit('process', proc.id);
      if (m) ends.cleanupImages(m);
    },
  };
}
