/**
 * Migration, as a state machine whose every step is written down before it is taken:
 *
 *   requested → dumping → dumped → transferring → transferred → restoring → done
 *   lazy:                                        … restoring → transferring-memory → done
 *   requested, dumping → failed                 (the process never stopped)
 *   dumped … transferring-memory → rolling-back → failed  (it runs on at the source)
 *
 * A restarted orchestrator finishes what it finds half done (reconcile.ts), using the same steps.
 */
import {
  type AgentProc,
  type DumpResult,
  type RestoreResult,
  type FreezeReason,
  type LazyStatus,
  GodwitError,
  type Migration,
  type MigrationState,
  type Strategy,
  toGodwitError,
} from '@godwit/schemas';
import { sleep, waitUntil } from './bus.js';
import { freezeTimes } from './freeze-times.js';
import { deliverQueuedSignals } from './queued-signals.js';
import { restoreStreams } from './closed-output.js';
import { accountOf } from './config.js';
import type { Ctx } from './context.js';
import { type DumpRecord, type MigrationRow, type ProcessRow, toMigration } from './db/index.js';
import { recordHomePid } from './home-pid.js';
import { type Choice, type Ends, checkNodes, chooseStrategy } from './strategy.js';

/** how long a move waits for its destination to look the owner's account up ahead */
const OWNER_AHEAD_MS = 2000;

export interface Migrator {
  /** checks, records and runs a migration; resolves when it is done, throws why it failed */
  migrate(proc: ProcessRow, to: string, strategy?: Strategy): Promise<Migration>;
  /** waits (up to timeoutMs) while a process is migrating */
  settled(id: number, timeoutMs: number, signal?: AbortSignal): Promise<void>;
  /** resolves when no migration runs, or after timeoutMs */
  idle(timeoutMs: number): Promise<void>;
  // steps reconcile resumes from
  rollback(m: MigrationRow, cause: GodwitError, dump: DumpRecord): Promise<Migration>;
  restoreAtDest(m: MigrationRow, dump: DumpRecord): Promise<Migration>;
  /** a lazy migration whose program runs at the destination: waits for its memory, then ends the source's copy */
  followMemory(m: MigrationRow, restored: { pid: number | null; restoredAt: number | null }, dump: DumpRecord): Promise<Migration>;
  finishDone(m: MigrationRow, restored: { pid: number | null; restoredAt: number | null }, dump: DumpRecord | null): Migration;
  /** ends the stopped copy a direct dump left at the source, once the program runs elsewhere */
  finishSource(m: MigrationRow): Promise<void>;
  /** ends a migration whose process was found running at `from` (never dumped, or rolled back) */
  finishStayed(m: MigrationRow, found: AgentProc, reason: string): Migration;
  /** ends a migration whose process is nowhere to be found */
  finishLost(m: MigrationRow, reason: string): Migration;
  /** throws, in words, unless the process runs and nothing (a migration, a checkpoint) acts on it now */
  requireRunning(proc: ProcessRow, what: string): void;
  /** runs fn as the one migration of the process, so no other starts meanwhile */
  exclusive<T>(processId: number, fn: () => Promise<T>): Promise<T>;
  /** dumps the process to its node's disk and ends it there: a migration that waits at 'frozen' */
  freeze(proc: ProcessRow, why: FreezeReason): Promise<Migration>;
  /** brings a frozen process back on `to` (a node, or 'home', the default), then delivers the signals that waited for it */
  thaw(proc: ProcessRow, to?: string): Promise<Migration>;
  /** ends a frozen process, as SIGKILL does: its image and the signals that waited for it are dropped */
  endFrozen(proc: ProcessRow, signal: string): void;
}

/**
 * `resume` finishes a migration left half done (reconcile.ts): used when the source's agent is
 * unreachable just when the program must be restored there, so it waits for the agent instead of
 * giving the program up.
 */
/**
 * How long the memory of a lazily moved program may take to arrive, and how often its progress is
 * told: the destination answers at the latest after MEMORY_POLL_MS, and at once when the last page
 * is in, so the source's copy ends right then.
 */
const MEMORY_TIMEOUT_MS = 30 * 60_000;
const MEMORY_POLL_MS = 100;
/** how long a restarting source agent is waited for, to end a copy left stopped there */
const SOURCE_RETRY_MS = 60_000;

export function createMigrator(ctx: Ctx, resume?: (m: MigrationRow) => Promise<void>): Migrator {
  const { db, bus, log, nodes } = ctx;
  const active = new Map<number, Promise<unknown>>();

  /** persists the next state (and anything else in the same transaction) before it is acted upon */
  /** the Unix account the process runs as */
  function ownerAccount(processId: number): string {
    return accountOf(ctx.config, db.q.processById.get(processId)!.owner);
  }

  function transition(m: MigrationRow, state: MigrationState, also?: () => void): MigrationRow {
    const steps = JSON.parse(m.steps) as { state: MigrationState; at: number }[];
    steps.push({ state, at: Date.now() });
    db.tx(() => {
      db.q.setMigrationState.run({ id: m.id, state, steps: JSON.stringify(steps) });
      also?.();
    });
    log.info({ migration: m.id, process: m.process_id, state }, `migration ${m.id} of process ${m.process_id}: ${state}`);
    const now = db.q.migrationById.get(m.id)!;
    progress(now);
    return now;
  }

  /** what should move in all, per migration, from the source's look at the program */
  const expected = new Map<number, number>();

  function progress(m: MigrationRow, followed = (m.on_demand_bytes ?? 0) + (m.background_bytes ?? 0)): void {
    const totalBytes = expected.get(m.id) ?? null;
    bus.emit('progress', { migrationId: m.id, processId: m.process_id, strategy: m.strategy, state: m.state, bytes: (m.bytes ?? 0) + followed, totalBytes, at: Date.now() });
    if (m.state === 'done' || m.state === 'failed' || m.state === 'frozen') expected.delete(m.id);
  }

  function ended(m: MigrationRow, restoredOn: string | null, frozenMs: number | null): void {
    db.q.endMigration.run({
      id: m.id,
      restored_on: restoredOn,
      frozen_ms: frozenMs,
      total_ms: Date.now() - m.started_at,
      ended_at: Date.now(),
    });
  }

  function cleanupImages(m: MigrationRow): void {
    for (const node of [m.from_node, m.to_node]) {
      ctx.agent(node).deleteImages(m.id).catch((err: unknown) => {
        log.warn({ err, migration: m.id, node }, `could not delete the images of migration ${m.id} on ${node}`);
      });
    }
  }

  /** a failure before the process stopped: it runs on where it was */
  function failBeforeDump(m: MigrationRow, cause: GodwitError, head = `process ${m.process_id} cannot move to ${m.to_node}`): never {
    const message = `${head}: ${cause.message}; it keeps running on ${m.from_node}`;
    failAtSource(m, cause, message, () => {
      db.q.setMigrationFailure.run({ id: m.id, code: cause.code, reason: cause.message });
      ended(m, null, null);
      db.q.endMigrating.run(m.process_id);
    });
  }

  /** records a failed migration after which the program runs at the source, and throws why */
  function failAtSource(m: MigrationRow, cause: GodwitError, message: string, record: () => void): never {
    transition(m, 'failed', () => {
      record();
      db.event({ processId: m.process_id, node: m.from_node, kind: 'migration-failed', message });
    });
    bus.emit('process', m.process_id);
    cleanupImages(m);
    throw new GodwitError(cause.code, message, { ...cause.details, migrationId: m.id });
  }

  function finishDone(
    m: MigrationRow,
    restored: { pid: number | null; restoredAt: number | null },
    dump: DumpRecord | null,
  ): Migration {
    // a continue: the time it stayed frozen is not the move's stop
    const { stoppedMs: frozenMs, frozenForMs } = freezeTimes(
      JSON.parse(m.steps) as Migration['steps'],
      restored.restoredAt !== null && dump?.frozenAt != null ? restored.restoredAt - dump.frozenAt : m.frozen_ms,
    );
    const done = transition(m, 'done', () => {
      ended(m, m.to_node, frozenMs);
      db.q.setMigrated.run({
        id: m.process_id,
        node: m.to_node,
        pid: restored.pid,
        epoch: m.from_epoch + 1,
        last_frozen_ms: frozenMs,
        last_frozen_for_ms: frozenForMs,
      });
      const stats = [
        frozenMs !== null ? `stopped ${frozenMs} ms` : null,
        frozenForMs !== null ? `after ${frozenForMs} ms frozen` : null,
        m.bytes !== null ? `${m.bytes} bytes` : null,
      ]
        .filter(Boolean)
        .join(', ');
      db.event({
        processId: m.process_id,
        node: m.to_node,
        kind: 'migrated',
        message: `process ${m.process_id} ${m.from_node === m.to_node ? `continued on ${m.to_node}` : `moved from ${m.from_node} to ${m.to_node}`}${stats ? ` (${stats})` : ''}`,
      });
    });
    bus.emit('process', m.process_id);
    cleanupImages(m);
    return toMigration(db.q.migrationById.get(done.id)!);
  }

  async function rollback(m: MigrationRow, cause: GodwitError, dump: DumpRecord): Promise<Migration> {
    const head = `process ${m.process_id} cannot move to ${m.to_node}: ${cause.message}`;
    m = transition(m, 'rolling-back', () => db.q.setMigrationFailure.run({ id: m.id, code: cause.code, reason: cause.message }));
    let restored: RestoreResult | undefined;
    try {
      // a direct dump left it stopped at the source: it simply runs on there
      if (dump.direct) await ctx.agent(m.from_node).resume(m.process_id, m.id);
      else {
        restored = await ctx.agent(m.from_node).restore(m.process_id, {
          migrationId: m.id,
          account: ownerAccount(m.process_id),
          epoch: m.from_epoch + 1,
          inodes: dump.inodes,
          ...restoreStreams(db.q.processById.get(m.process_id)!),
        });
      }
    } catch (err) {
      const e = toGodwitError(err, 'GODWIT_ERR_MIGRATION_FAILED');
      if (e.code === 'GODWIT_ERR_AGENT_UNREACHABLE' && resume) {
        // its images (or its stopped tree) are at the source: restore it there once that agent is back
        const message = `${head}; the agent of ${m.from_node} cannot be reached to restore it (${e.message}): it is restored there as soon as that agent is back`;
        db.event({ processId: m.process_id, node: m.from_node, kind: 'rollback-pending', message });
        const pending = m;
        setTimeout(() => {
          exclusive(pending.process_id, () => resume(pending)).catch((err2: unknown) =>
            log.error({ err: err2, migration: pending.id }, `could not finish rolling back migration ${pending.id}`),
          );
        }, 0);
        throw new GodwitError(cause.code, message, { ...cause.details, migrationId: m.id, rollbackError: e.toBody() });
      }
      const message = `${head}; restoring it on ${m.from_node} failed too (${e.message}): the process is lost`;
      finishLost(m, message);
      throw new GodwitError(cause.code, message, { ...cause.details, migrationId: m.id, rollbackError: e.toBody() });
    }
    const message = restored
      ? `${head}; it was restored on ${m.from_node} and keeps running there`
      : `${head}; it keeps running on ${m.from_node}`;
    const resumedAt = restored ? restored.restoredAt : Date.now();
    const frozenMs = dump.frozenAt !== null ? resumedAt - dump.frozenAt : null;
    failAtSource(m, cause, message, () => {
      if (restored) {
        ended(m, m.from_node, frozenMs);
        db.q.setResumed.run({ id: m.process_id, pid: restored.pid, epoch: m.from_epoch + 1 });
      } else {
        // the same run goes on: no new epoch for the output relay to look for
        ended(m, null, frozenMs);
        db.q.endMigrating.run(m.process_id);
      }
    });
  }

  /**
   * After a direct dump, the program runs at the destination: its stopped copy at the source
   * ends, and input it had not read yet goes to the destination before any new input.
   */
  async function finishSource(m: MigrationRow): Promise<void> {
    try {
      const left = await retryUnreachable(() => ctx.agent(m.from_node).finish(m.process_id, m.id), SOURCE_RETRY_MS);
      recordHomePid(db, m.process_id, m.from_node, left.homePid);
      if (left.unread || left.stdinClosed) {
        await ctx.agent(m.to_node).stdin(m.process_id, Buffer.from(left.unread, 'base64'), left.stdinClosed);
      }
    } catch (err) {
      const message = `process ${m.process_id} runs on ${m.to_node}, but its stopped copy on ${m.from_node} could not be ended: ${toGodwitError(err, 'GODWIT_ERR_MIGRATION_FAILED').message}`;
      db.event({ processId: m.process_id, node: m.from_node, kind: 'stale-copy', message });
      log.error({ err, migration: m.id }, message);
    }
  }

  async function restoreAtDest(
    m: MigrationRow,
    dump: DumpRecord,
    failed: (m: MigrationRow, e: GodwitError) => Promise<Migration> = (m2, e) => rollback(m2, e, dump),
  ): Promise<Migration> {
    m = transition(m, 'restoring');
    try {
      const r = await ctx.agent(m.to_node).restore(m.process_id, {
        migrationId: m.id,
        account: ownerAccount(m.process_id),
        epoch: m.from_epoch + 1,
        inodes: dump.inodes,
        ...restoreStreams(db.q.processById.get(m.process_id)!),
      });
      if (dump.lazy) return followMemory(m, r, dump);
      if (dump.direct) await finishSource(m);
      return finishDone(m, r, dump);
    } catch (err) {
      const e = toGodwitError(err, 'GODWIT_ERR_MIGRATION_FAILED');
      if (e.code === 'GODWIT_ERR_AGENT_UNREACHABLE') {
        // the restore may have worked and only its answer got lost: never run the program twice
        const found = await findRunning(m.to_node, m.process_id, m.from_epoch + 1);
        if (found) {
          if (dump.lazy) return followMemory(m, { pid: found.pid, restoredAt: null }, dump);
          if (dump.direct) await finishSource(m);
          return finishDone(m, { pid: found.pid, restoredAt: null }, dump);
        }
      }
      return failed(m, e);
    }
  }

  /**
   * The program runs at the destination while its memory still comes from the source: wait for
   * the last page, then end the source's stopped copy. Should pages stop coming, the copy at the
   * destination has holes: it ends, and the intact stopped copy at the source runs on instead.
   */
  async function followMemory(m: MigrationRow, restored: { pid: number | null; restoredAt: number | null }, dump: DumpRecord): Promise<Migration> {
    const frozenMs = restored.restoredAt !== null && dump.frozenAt !== null ? restored.restoredAt - dump.frozenAt : m.frozen_ms;
    m = transition(m, 'transferring-memory', () => db.q.setMigrationFrozenMs.run({ id: m.id, frozen_ms: frozenMs }));
    const deadline = Date.now() + MEMORY_TIMEOUT_MS;
    let status: LazyStatus = await retryUnreachable(() => ctx.agent(m.to_node).lazyStatus(m.id), MEMORY_TIMEOUT_MS);
    while (status.running && status.ok && Date.now() < deadline) {
      status = await retryUnreachable(() => ctx.agent(m.to_node).lazyStatus(m.id, MEMORY_POLL_MS), MEMORY_TIMEOUT_MS);
      progress(m, status.onDemandBytes + status.backgroundBytes);
    }
    if (status.running || !status.ok) {
      const why = status.reason ?? `its memory did not arrive within ${MEMORY_TIMEOUT_MS / 60_000} minutes`;
      await ctx.agent(m.to_node).signal(m.process_id, { signal: 'SIGKILL' }).catch(() => undefined);
      return rollback(m, new GodwitError('GODWIT_ERR_TRANSFER_FAILED', `${why}; its copy on ${m.to_node} was ended`), dump);
    }
    await finishSource(m);
    db.q.setMigrationPages.run({
      id: m.id,
      on_demand_bytes: status.onDemandBytes,
      background_bytes: status.backgroundBytes,
      arrived_at: status.endedAt,
      released_at: Date.now(),
    });
    return finishDone(db.q.migrationById.get(m.id)!, { pid: restored.pid, restoredAt: null }, dump);
  }

  /** an agent restarting (its programs and CRIU daemons run on) is waited for, up to timeoutMs */
  async function retryUnreachable<T>(call: () => Promise<T>, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        return await call();
      } catch (err) {
        if (toGodwitError(err, 'GODWIT_ERR_MIGRATION_FAILED').code !== 'GODWIT_ERR_AGENT_UNREACHABLE' || Date.now() > deadline || ctx.closing.aborted) throw err;
        await sleep(500, ctx.closing);
      }
    }
  }

  async function findRunning(node: string, id: number, epoch: number): Promise<AgentProc | undefined> {
    try {
      const procs = await ctx.agent(node).list();
      return procs.find((p) => p.id === id && p.epoch === epoch && (p.state === 'running' || p.state === 'exited'));
    } catch {
      return undefined;
    }
  }

  function finishStayed(m: MigrationRow, found: AgentProc, reason: string): Migration {
    const message = `process ${m.process_id} did not move to ${m.to_node}: ${reason}`;
    const end = transition(m, 'failed', () => {
      db.q.setMigrationFailure.run({ id: m.id, code: 'GODWIT_ERR_MIGRATION_FAILED', reason });
      ended(m, found.epoch === m.from_epoch + 1 ? m.from_node : null, null);
      db.q.setResumed.run({ id: m.process_id, pid: found.pid, epoch: found.epoch });
      db.event({ processId: m.process_id, node: m.from_node, kind: 'migration-failed', message });
    });
    bus.emit('process', m.process_id);
    cleanupImages(m);
    return toMigration(end);
  }

  function finishLost(m: MigrationRow, reason: string): Migration {
    const end = transition(m, 'failed', () => {
      if (!m.code) db.q.setMigrationFailure.run({ id: m.id, code: 'GODWIT_ERR_MIGRATION_FAILED', reason });
      ended(m, null, null);
      db.q.endProcess.run({ id: m.process_id, state: 'lost', exit_code: null, exit_signal: null, ended_at: Date.now() });
      db.event({ processId: m.process_id, node: m.from_node, kind: 'lost', message: reason });
    });
    bus.emit('process', m.process_id);
    return toMigration(end);
  }

  function endsOf(from: string, to: string): Ends {
    const known = nodes.list();
    const features = (name: string) => ({ name, features: known.find((n) => n.name === name)?.features ?? null });
    return { from: features(from), to: features(to) };
  }

  /**
   * Has the destination look the owner's account up while the source inspects the program, so
   * that the restore, which checks the images against it while the program is stopped, finds it
   * at hand. A destination that says there is no such account fails the move before the program
   * stops; one that does not answer is left to the transfer and the restore, as before.
   */
  async function ownerAhead(m: MigrationRow): Promise<void> {
    const asked = ctx.agent(m.to_node).resolveAccount(ownerAccount(m.process_id)).catch((err: unknown) => {
      const e = toGodwitError(err, 'GODWIT_ERR_MIGRATION_FAILED');
      if (e.code !== 'GODWIT_ERR_AGENT_UNREACHABLE') throw e;
      log.warn({ err, migration: m.id }, `${m.to_node} did not look the owner's account up ahead: its restore will`);
    });
    // a destination that does not answer at once (stopped, overloaded) does not hold the move up
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, OWNER_AHEAD_MS)));
    try {
      await Promise.race([asked, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  async function run(m: MigrationRow): Promise<Migration> {
    let choice: Choice;
    try {
      const [program] = await Promise.all([ctx.agent(m.from_node).inspect(m.process_id), ownerAhead(m)]);
      choice = chooseStrategy(m.strategy as Strategy, endsOf(m.from_node, m.to_node), program);
      expected.set(m.id, program.residentBytes);
    } catch (err) {
      failBeforeDump(m, toGodwitError(err, 'GODWIT_ERR_MIGRATION_FAILED'));
    }
    db.q.setMigrationStrategy.run({ id: m.id, strategy: choice.strategy, strategy_reason: choice.reason });
    m = transition(m, 'dumping');
    const lazy = choice.strategy === 'lazy';
    // without lazy, memory pages go straight to the destination while dumping, where the source can do that
    const pageServer = lazy
      ? undefined
      : await ctx.agent(m.to_node).pageServer(m.id).catch((err: unknown) => {
          log.warn({ err, migration: m.id }, `no page server on ${m.to_node}: the pages go through the source's disk`);
          return undefined;
        });
    let dumped: DumpResult;
    try {
      dumped = await ctx.agent(m.from_node).dump(m.process_id, { migrationId: m.id, ...(lazy ? { lazy } : pageServer ? { pageServer } : {}) });
    } catch (err) {
      failBeforeDump(m, toGodwitError(err, 'GODWIT_ERR_MIGRATION_FAILED'));
    }
    const dump: DumpRecord = { frozenAt: dumped.frozenAt, inodes: dumped.inodes, bytes: dumped.bytes, direct: dumped.direct, lazy: dumped.lazy };
    recordHomePid(db, m.process_id, m.from_node, dumped.homePid);
    m = transition(m, 'dumped', () => db.q.setMigrationDump.run({ id: m.id, dump: JSON.stringify(dump) }));
    return transferAndRestore(m, dump);
  }

  /** The images go from the source to the destination, and the program is restored there. */
  async function transferAndRestore(
    m: MigrationRow,
    dump: DumpRecord,
    failed: (m: MigrationRow, e: GodwitError) => Promise<Migration> = (m2, e) => rollback(m2, e, dump),
  ): Promise<Migration> {
    const to = nodes.require(m.to_node);
    m = transition(m, 'transferring');
    try {
      const sent = await ctx.agent(m.from_node).send(m.process_id, { migrationId: m.id, to: { url: to.url, token: to.token } });
      m = transition(m, 'transferred', () => db.q.setMigrationBytes.run({ id: m.id, bytes: sent.bytes }));
    } catch (err) {
      return failed(m, toGodwitError(err, 'GODWIT_ERR_MIGRATION_FAILED'));
    }
    return restoreAtDest(m, dump, failed);
  }

  function requireOnline(ids: { proc: number; to: string }, ...names: string[]): void {
    for (const n of names) {
      if (!nodes.isOnline(n)) {
        throw new GodwitError('GODWIT_ERR_NODE_OFFLINE', `node ${n} is offline: its agent is not connected, so process ${ids.proc} cannot go to ${ids.to} now`, { node: n });
      }
    }
  }

  function requireRunning(proc: ProcessRow, what: string): void {
    if (proc.state === 'migrating' || active.has(proc.id)) {
      const now = db.q.migrationsOf.all(proc.id).at(-1);
      const paging = now?.state === 'transferring-memory' ? ` (it runs on ${now.to_node}, and its memory is still arriving there from ${now.from_node})` : '';
      throw new GodwitError('GODWIT_ERR_MIGRATION_IN_PROGRESS', `process ${proc.id} is migrating already${paging}; wait for that to end`);
    }
    if (proc.state !== 'running') {
      throw new GodwitError('GODWIT_ERR_PROCESS_NOT_RUNNING', `process ${proc.id} is not running (it is ${proc.state}); only running processes ${what}`);
    }
  }

  /** checks everything that can be checked before anything stops, and records the request */
  function begin(proc: ProcessRow, toName: string, asked: Strategy): MigrationRow {
    const to = toName === 'home' ? proc.home_node : toName;
    nodes.require(to);
    requireRunning(proc, 'move');
    if (proc.node === to) {
      throw new GodwitError('GODWIT_ERR_SAME_NODE', `process ${proc.id} runs on ${to} already`);
    }
    requireOnline({ proc: proc.id, to }, to, proc.node);
    if (nodes.list().find((n) => n.name === to)?.drained) {
      throw new GodwitError('GODWIT_ERR_NODE_DRAINED', `node ${to} is drained: nothing moves there until \`mosctl undrain ${to}\``, { node: to });
    }
    checkNodes(asked, endsOf(proc.node, to));
    // which strategy `auto` takes is decided once the program's node has looked at it (run)
    return record(proc, to, { strategy: asked, reason: `${asked}, as asked` }, `process ${proc.id} is moving from ${proc.node} to ${to}`);
  }

  function record(proc: ProcessRow, to: string, how: { strategy: string; reason: string }, message: string): MigrationRow {
    const now = Date.now();
    let id = 0;
    db.tx(() => {
      id = Number(
        db.q.insertMigration.run({
          process_id: proc.id,
          from_node: proc.node,
          to_node: to,
          strategy: how.strategy,
          strategy_reason: how.reason,
          steps: JSON.stringify([{ state: 'requested', at: now }]),
          from_epoch: proc.epoch,
          started_at: now,
        }).lastInsertRowid,
      );
      db.q.setProcessState.run({ id: proc.id, state: 'migrating' });
      db.event({ processId: proc.id, node: proc.node, kind: 'migration-started', message: `${message} (migration ${id})` });
    });
    bus.emit('process', proc.id);
    return db.q.migrationById.get(id)!;
  }

  /** The freeze: the program is dumped to its node's disk and ends there; its images stay. */
  async function runFreeze(m: MigrationRow, why: FreezeReason): Promise<Migration> {
    m = transition(m, 'dumping');
    let dumped: DumpResult;
    try {
      dumped = await ctx.agent(m.from_node).dump(m.process_id, { migrationId: m.id });
    } catch (err) {
      failBeforeDump(m, toGodwitError(err, 'GODWIT_ERR_MIGRATION_FAILED'), `process ${m.process_id} cannot be frozen`);
    }
    const dump: DumpRecord = { frozenAt: dumped.frozenAt, inodes: dumped.inodes, bytes: dumped.bytes, direct: false };
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
  async function runThaw(m: MigrationRow, proc: ProcessRow): Promise<Migration> {
    const dump = JSON.parse(m.dump!) as DumpRecord;
    const stayFrozen = async (at: MigrationRow, e: GodwitError): Promise<Migration> => {
      transition(at, 'frozen', () => {
        db.q.setMigrationTo.run({ id: at.id, to_node: at.from_node });
        db.q.setFrozen.run({ id: at.process_id, frz: proc.frz === '-' ? 'M' : proc.frz });
        db.event({ processId: at.process_id, node: at.to_node, kind: 'continue-failed', message: `process ${at.process_id} could not continue on ${at.to_node}: ${e.message}` });
      });
      bus.emit('process', at.process_id);
      if (at.to_node !== at.from_node) {
        ctx.agent(at.to_node).deleteImages(at.id).catch(() => undefined);
      }
      throw new GodwitError(e.code, `process ${at.process_id} could not continue on ${at.to_node}: ${e.message}; it stays frozen, its image kept on ${at.from_node}`, {
        ...e.details,
        migrationId: at.id,
      });
    };
    // its images are where it was frozen: they move only if it continues elsewhere
    return m.to_node === m.from_node ? restoreAtDest(m, dump, stayFrozen) : transferAndRestore(m, dump, stayFrozen);
  }

  function thaw(proc: ProcessRow, toName?: string): Promise<Migration> {
    if (proc.state !== 'frozen' || active.has(proc.id)) {
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
    return exclusive(proc.id, async () => {
      db.tx(() => {
        db.q.setMigrationTo.run({ id: frozen!.id, to_node: to });
        db.q.setProcessState.run({ id: proc.id, state: 'migrating' });
        db.event({ processId: proc.id, node: to, kind: 'continuing', message: `process ${proc.id} continues on ${to}, from its image on ${frozen!.from_node}` });
      });
      bus.emit('process', proc.id);
      const m = await runThaw(db.q.migrationById.get(frozen!.id)!, proc);
      await deliverQueuedSignals(ctx, proc.id);
      return m;
    });
  }

  function endFrozen(proc: ProcessRow, signal: string): void {
    const m = db.q.frozenMigration.get(proc.id);
    const message = `process ${proc.id} was frozen and ended by ${signal}; its image is dropped`;
    db.tx(() => {
      if (m) {
        transition(m, 'failed', () => {
          db.q.setMigrationFailure.run({ id: m.id, code: 'GODWIT_ERR_PROCESS_NOT_RUNNING', reason: message });
          ended(m, null, null);
        });
      }
      db.q.endProcess.run({ id: proc.id, state: 'exited', exit_code: null, exit_signal: signal, ended_at: Date.now() });
      db.q.dropQueuedSignalsOf.run(proc.id);
      db.event({ processId: proc.id, node: proc.node, kind: 'exited', message });
    });
    bus.emit('process', proc.id);
    if (m) cleanupImages(m);
  }

  function exclusive<T>(processId: number, fn: () => Promise<T>): Promise<T> {
    const p = fn().finally(() => active.delete(processId));
    active.set(processId, p.catch(() => undefined));
    return p;
  }

  return {
    migrate: (proc, to, strategy = 'auto') => {
      let m: MigrationRow;
      try {
        m = begin(proc, to, strategy);
      } catch (err) {
        return Promise.reject(err);
      }
      return exclusive(proc.id, () => run(m));
    },
    settled: async (id, timeoutMs, signal) => {
      await waitUntil(
        bus,
        ['process'],
        () => (db.q.processById.get(id)?.state === 'migrating' ? undefined : true),
        { timeoutMs, signal, pollMs: 500 },
      );
    },
    idle: async (timeoutMs) => {
      const all = Promise.allSettled([...active.values()]);
      await Promise.race([all, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    },
    freeze: (proc, why) => {
      let m: MigrationRow;
      try {
        requireRunning(proc, 'can be frozen');
        requireOnline({ proc: proc.id, to: proc.node }, proc.node);
        m = record(proc, proc.node, { strategy: 'freeze', reason: 'a freeze: dumped to the disk of its node' }, `process ${proc.id} is being frozen on ${proc.node}`);
      } catch (err) {
        return Promise.reject(err);
      }
      return exclusive(proc.id, () => runFreeze(m, why));
    },
    thaw,
    endFrozen,
    rollback,
    restoreAtDest: (m, dump) => restoreAtDest(m, dump),
    followMemory,
    finishDone,
    finishSource,
    finishStayed,
    finishLost,
    exclusive,
    requireRunning,
  };
}
