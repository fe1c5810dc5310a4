/**
 * Migration, as a state machine whose every step is written down before it is taken: the states
 * and the moves between them (states.ts), their record (record.ts), the steps of a move in order
 * (pipeline.ts), how it ends (failure.ts), the freeze (freeze.ts), one at a time per process
 * (lock.ts), and what a restarted orchestrator finishes (resume.ts). This module checks a move
 * before anything stops, and wires the parts.
 */
import { GodwitError, type Strategy } from '@godwit/schemas';
import { waitUntil } from '../bus.js';
import type { Ctx } from '../context.js';
import type { MigrationRow, ProcessRow } from '../db/index.js';
import type { OutputRelay } from '../output-relay.js';
import { type Ends, checkNodes } from '../strategy.js';
import { createEnds } from './failure.js';
import { createFreezer } from './freeze.js';
import { createLock } from './lock.js';
import type { Migrator } from './migrator.js';
import { createPipeline } from './pipeline.js';
import { createRecord } from './record.js';
import { createResumer } from './resume.js';

export type { Migrator } from './migrator.js';

export interface Migrations {
  migrator: Migrator;
  /** run once as the orchestrator starts: finishes what its predecessor left half done */
  reconcile(relay: OutputRelay): Promise<void>;
}

export function createMigrations(ctx: Ctx): Migrations {
  const { db, bus, nodes } = ctx;
  const rec = createRecord(ctx);
  const lock = createLock(ctx);
  const ends = createEnds(ctx, rec, lock, (m) => resumer.resume(m));
  const pipeline = createPipeline(ctx, rec, ends, endsOf);
  const freezer = createFreezer(ctx, rec, lock, ends, pipeline, requireOnline);
  const resumer = createResumer(ctx, lock, ends, pipeline);

  function endsOf(from: string, to: string): Ends {
    const known = nodes.list();
    const features = (name: string) => ({ name, features: known.find((n) => n.name === name)?.features ?? null });
    return { from: features(from), to: features(to) };
  }

  function requireOnline(ids: { proc: number; to: string }, ...names: string[]): void {
    for (const n of names) {
      if (!nodes.isOnline(n)) {
        throw new GodwitError('GODWIT_ERR_NODE_OFFLINE', `node ${n} is offline: its agent is not connected, so process ${ids.proc} cannot go to ${ids.to} now`, { node: n });
      }
    }
  }

  /** checks everything about the destination that can be checked before anything stops */
  function destination(proc: ProcessRow, toName: string): string {
    const to = toName === 'home' ? proc.home_node : toName;
    nodes.require(to);
    lock.requireRunning(proc, 'move');
    if (proc.node === to) {
      throw new GodwitError('GODWIT_ERR_SAME_NODE', `process ${proc.id} runs on ${to} already`);
    }
    requireOnline({ proc: proc.id, to }, to, proc.node);
    if (nodes.list().find((n) => n.name === to)?.drained) {
      throw new GodwitError('GODWIT_ERR_NODE_DRAINED', `node ${to} is drained: nothing moves there until \`mosctl undrain ${to}\``, { node: to });
    }
    return to;
  }

  /** checks everything that can be checked before anything stops, and records the request */
  function begin(proc: ProcessRow, toName: string, asked: Strategy): MigrationRow {
    const to = destination(proc, toName);
    checkNodes(asked, endsOf(proc.node, to));
    // which strategy `auto` takes is decided once the program's node has looked at it (the inspect step)
    return rec.record(proc, to, { strategy: asked, reason: `${asked}, as asked` }, `process ${proc.id} is moving from ${proc.node} to ${to}`);
  }

  const migrator: Migrator = {
    migrate: (proc, to, strategy = 'auto', { carryMaxBytes, compress } = {}) => {
      let m: MigrationRow;
      try {
        m = begin(proc, to, strategy);
      } catch (err) {
        return Promise.reject(err);
      }
      return lock.exclusive(proc.id, () => pipeline.runFrom('inspect', {
        m, dump: null, sourceCopy: false,
        ...(carryMaxBytes === undefined ? {} : { carryMaxBytes }),
        compress: compress ?? ctx.config.compress.moves,
      }));
    },
    destination: (proc, to) => destination(proc, to),
    endsOf,
    settled: async (id, timeoutMs, signal) => {
      await waitUntil(bus, ['process'], () => (db.q.processById.get(id)?.state === 'migrating' ? undefined : true), { timeoutMs, signal, pollMs: 500 });
    },
    idle: (timeoutMs) => lock.idle(timeoutMs),
    requireRunning: (proc, what) => lock.requireRunning(proc, what),
    exclusive: (processId, fn) => lock.exclusive(processId, fn),
    freeze: (proc, why) => freezer.freeze(proc, why),
    thaw: (proc, to) => freezer.thaw(proc, to),
    endFrozen: (proc, signal) => freezer.endFrozen(proc, signal),
  };
  return { migrator, reconcile: (relay) => resumer.reconcile(relay) };
}
