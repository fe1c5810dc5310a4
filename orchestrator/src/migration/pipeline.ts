/**
 * The steps of a move, in the order they run (STEPS). Each takes the migration where the one
 * before left it; a thaw (freeze.ts) and a restarted orchestrator (resume.ts) join the list at the
 * step the agents say comes next. A step that fails after the program stopped rolls the move
 * back, or hands it to the `failed` it was given (a thaw stays frozen).
 */
import { type AgentProc, type DumpResult, GodwitError, type LazyStatus, type Migration, type Strategy, toGodwitError } from '@godwit/schemas';
import type { Ctx } from '../context.js';
import type { DumpRecord, MigrationRow } from '../db/index.js';
import { recordHomePid } from '../home-pid.js';
import { type Choice, type Ends, chooseStrategy } from '../strategy.js';
import { requireCpuRuns } from '../cpu-compat.js';
import { requireCarryPlacesFree } from './carry-check.js';
import type { MigrationEnds, Restored } from './failure.js';
import type { MigrationRecord } from './record.js';
import { retryUnreachable } from './retry.js';

/** how long a move waits for its destination to look the owner's account up ahead */
const OWNER_AHEAD_MS = 2000;
/**
 * How long the memory of a lazily moved program may take to arrive, and how often its progress is
 * told: the destination answers at the latest after MEMORY_POLL_MS, and at once when the last page
 * is in, so the source's copy ends right then.
 */
const MEMORY_TIMEOUT_MS = 30 * 60_000;
const MEMORY_POLL_MS = 100;

/** what a migration carries from one step to the next */
export interface Moving {
  m: MigrationRow;
  choice?: Choice;
  dump: DumpRecord | null;
  restored?: Restored;
  /** a copy of the program stays stopped at the source (a direct or lazy dump) until it runs elsewhere */
  sourceCopy: boolean;
  /** a lazy program's pages, once the last one arrived */
  pages?: LazyStatus;
  /** what a failure after the program stopped does instead of a rollback (a thaw stays frozen); it throws */
  failed?(m: MigrationRow, e: GodwitError): Promise<never>;
  /** the most bytes of node-local files this move may carry, where the request set it */
  carryMaxBytes?: number;
  /** it uses node-local files the move carries (the source's inspection said so) */
  carries?: boolean;
  /** LZ4 for the images between the nodes (the pages then go with them, not through a page server) */
  compress?: boolean;
}

export type StepName = 'inspect' | 'carry-ahead' | 'dump' | 'transfer' | 'restore' | 'follow-memory' | 'release-source' | 'done';
type Step = (mv: Moving) => Promise<Migration | void>;

export interface Pipeline {
  /** runs the steps from `first` on; resolves when the program runs at the destination */
  runFrom(first: StepName, mv: Moving): Promise<Migration>;
}

/** whether the source keeps a stopped copy of a program dumped so */
export const keepsSourceCopy = (dump: DumpRecord): boolean => dump.direct === true || dump.lazy === true;

export function createPipeline(ctx: Ctx, rec: MigrationRecord, ends: MigrationEnds, endsOf: (from: string, to: string) => Ends): Pipeline {
  const { db, log, nodes } = ctx;
  const { transition } = rec;

  /**
   * Has the destination look the owner's account up while the source inspects the program, so
   * that the restore, which checks the images against it while the program is stopped, finds it
   * at hand. A destination that says there is no such account fails the move before the program
   * stops; one that does not answer is left to the transfer and the restore.
   */
  async function ownerAhead(m: MigrationRow): Promise<void> {
    const asked = ctx.agent(m.to_node).resolveAccount(rec.ownerAccount(m)).catch((err: unknown) => {
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

  const fail = (mv: Moving, m: MigrationRow, e: GodwitError): Promise<never> => (mv.failed ? mv.failed(m, e) : ends.rollback(m, e, mv.dump!));

  /** the source looks at the program, and the strategy `auto` takes is chosen from what it saw */
  const inspect: Step = async (mv) => {
    const { m } = mv;
    let choice: Choice;
    try {
      const [program] = await Promise.all([
        ctx.agent(m.from_node).inspect(m.process_id),
        ownerAhead(m),
        requireCpuRuns(ctx, `process ${m.process_id} (running on ${m.from_node})`, m.from_node, m.to_node, 'the process was not stopped'),
      ]);
      const carried = program.carry.files.filter((f) => f.fate === 'carried').map(({ path, kind, apparentBytes }) => ({ path, kind, bytes: apparentBytes }));
      await requireCarryPlacesFree(ctx, m.from_node, m.to_node, rec.ownerAccount(m), carried);
      choice = chooseStrategy(m.strategy as Strategy, endsOf(m.from_node, m.to_node), program);
      rec.expect(m.id, program.residentBytes);
      mv.carries = program.carry.files.some((f) => f.fate === 'carried');
    } catch (err) {
      ends.failBeforeDump(m, toGodwitError(err, 'GODWIT_ERR_MIGRATION_FAILED'));
    }
    db.q.setMigrationStrategy.run({ id: m.id, strategy: choice.strategy, strategy_reason: choice.reason });
    mv.choice = choice;
  };

  /**
   * The node-local files it carries go to the destination's stage while it still runs: at the
   * stop only those changed since travel. A pre-copy that fails costs no more than the time it
   * took: the files then travel with the images, as they would without it.
   */
  const carryAhead: Step = async (mv) => {
    const { m } = mv;
    if (!mv.carries || m.from_node === m.to_node) return;
    try {
      const to = nodes.require(m.to_node);
      const { credential } = await ctx.agent(m.to_node).expect(m.id);
      const sent = await ctx.agent(m.from_node).carryAhead(m.process_id, { migrationId: m.id, to: { url: to.url, credential } });
      log.info({ migration: m.id, bytes: sent.bytes, ms: sent.ms }, `files of process ${m.process_id} carried ahead to ${m.to_node}`);
    } catch (err) {
      log.warn({ err, migration: m.id }, `the files of process ${m.process_id} were not carried ahead to ${m.to_node}: they go with its images`);
    }
  };

  const dump: Step = async (mv) => {
    const m = (mv.m = transition(mv.m, 'dumping'));
    const lazy = mv.choice?.strategy === 'lazy';
    // without lazy, memory pages go straight to the destination while dumping, where the source can do that
    const pageServer = lazy || mv.compress
      ? undefined
      : await ctx.agent(m.to_node).pageServer(m.id).catch((err: unknown) => {
          log.warn({ err, migration: m.id }, `no page server on ${m.to_node}: the pages go through the source's disk`);
          return undefined;
        });
    let dumped: DumpResult;
    try {
      const carry = mv.carryMaxBytes === undefined ? {} : { carryMaxBytes: mv.carryMaxBytes };
      dumped = await ctx.agent(m.from_node).dump(m.process_id, { migrationId: m.id, ...carry, ...(lazy ? { lazy } : pageServer ? { pageServer } : {}) });
    } catch (err) {
      ends.failBeforeDump(m, toGodwitError(err, 'GODWIT_ERR_MIGRATION_FAILED'));
    }
    const record: DumpRecord = { stoppedAt: dumped.stoppedAt, inodes: dumped.inodes, bytes: dumped.bytes, direct: dumped.direct, lazy: dumped.lazy };
    recordHomePid(db, m.process_id, m.from_node, dumped.homePid);
    mv.m = transition(m, 'dumped', () => db.q.setMigrationDump.run({ id: m.id, dump: JSON.stringify(record) }));
    mv.dump = record;
    mv.sourceCopy = keepsSourceCopy(record);
  };

  /**
   * the images go from the source to the destination, which gives the source a credential for
   * this move alone (each try asks anew): no node's token leaves the orchestrator
   */
  const transfer: Step = async (mv) => {
    const to = nodes.require(mv.m.to_node);
    const m = (mv.m = transition(mv.m, 'transferring'));
    try {
      const { credential } = await ctx.agent(m.to_node).expect(m.id);
      const sent = await ctx.agent(m.from_node).send(m.process_id, { migrationId: m.id, to: { url: to.url, credential }, compress: mv.compress ?? ctx.config.compress.moves });
      mv.m = transition(m, 'transferred', () => db.q.setMigrationBytes.run({ id: m.id, bytes: sent.bytes }));
    } catch (err) {
      await fail(mv, m, toGodwitError(err, 'GODWIT_ERR_MIGRATION_FAILED'));
    }
  };

  const restore: Step = async (mv) => {
    const m = (mv.m = transition(mv.m, 'restoring'));
    try {
      mv.restored = await ctx.agent(m.to_node).restore(m.process_id, rec.restoreRequest(m, mv.dump!));
    } catch (err) {
      const e = toGodwitError(err, 'GODWIT_ERR_MIGRATION_FAILED');
      // the restore may have worked and only its answer got lost: never run the program twice
      const found = e.code === 'GODWIT_ERR_AGENT_UNREACHABLE' ? await findRunning(m.to_node, m.process_id, m.from_epoch + 1) : undefined;
      if (!found) await fail(mv, m, e);
      mv.restored = { pid: found!.pid, restoredAt: null };
    }
  };

  /**
   * The program runs at the destination while its memory still comes from the source: wait for
   * the last page. Should pages stop coming, the copy at the destination has holes: it ends, and
   * the intact stopped copy at the source runs on instead.
   */
  const followMemory: Step = async (mv) => {
    if (!mv.dump?.lazy) return;
    const dumped = mv.dump;
    const restored = mv.restored!;
    const stoppedMs = restored.restoredAt !== null && dumped.stoppedAt !== null ? restored.restoredAt - dumped.stoppedAt : mv.m.stopped_ms;
    const { id } = mv.m;
    const m = (mv.m = transition(mv.m, 'transferring-memory', () => db.q.setMigrationStoppedMs.run({ id, stopped_ms: stoppedMs })));
    const deadline = Date.now() + MEMORY_TIMEOUT_MS;
    let status: LazyStatus = await retryUnreachable(ctx, () => ctx.agent(m.to_node).lazyStatus(m.id), MEMORY_TIMEOUT_MS);
    while (status.running && status.ok && Date.now() < deadline) {
      status = await retryUnreachable(ctx, () => ctx.agent(m.to_node).lazyStatus(m.id, MEMORY_POLL_MS), MEMORY_TIMEOUT_MS);
      rec.progress(m, status.onDemandBytes + status.backgroundBytes);
    }
    if (status.running || !status.ok) {
      const why = status.reason ?? `its memory did not arrive within ${MEMORY_TIMEOUT_MS / 60_000} minutes`;
      await ctx.agent(m.to_node).signal(m.process_id, { signal: 'SIGKILL' }).catch((err: unknown) => {
        log.warn({ err, migration: m.id }, `could not end the copy of process ${m.process_id} on ${m.to_node}`);
      });
      await ends.rollback(m, new GodwitError('GODWIT_ERR_TRANSFER_FAILED', `${why}; its copy on ${m.to_node} was ended`), dumped);
    }
    mv.pages = status;
    // the time it stood is recorded above, from the restore's answer
    mv.restored = { pid: restored.pid, restoredAt: null };
  };

  /** ends the copy the source kept stopped, now that the program runs (with all its memory) elsewhere */
  const releaseSource: Step = async (mv) => {
    if (!mv.sourceCopy) return;
    await ends.finishSource(mv.m);
    if (mv.pages) {
      db.q.setMigrationPages.run({
        id: mv.m.id,
        on_demand_bytes: mv.pages.onDemandBytes,
        background_bytes: mv.pages.backgroundBytes,
        arrived_at: mv.pages.endedAt,
        released_at: Date.now(),
      });
      mv.m = db.q.migrationById.get(mv.m.id)!;
    }
  };

  const done: Step = async (mv) => ends.finishDone(mv.m, mv.restored!, mv.dump);

  const STEPS: readonly (readonly [StepName, Step])[] = [
    ['inspect', inspect],
    ['carry-ahead', carryAhead],
    ['dump', dump],
    ['transfer', transfer],
    ['restore', restore],
    ['follow-memory', followMemory],
    ['release-source', releaseSource],
    ['done', done],
  ];

  /** run `epoch` of the process, if the agent of `node` says it runs (or ran) there; none when that agent cannot be asked */
  async function findRunning(node: string, id: number, epoch: number): Promise<AgentProc | undefined> {
    try {
      const procs = await ctx.agent(node).list();
      return procs.find((p) => p.id === id && p.epoch === epoch && (p.state === 'running' || p.state === 'exited'));
    } catch (err) {
      log.warn({ err, node }, `could not ask ${node} whether process ${id} runs there`);
      return undefined;
    }
  }

  return {
    async runFrom(first, mv) {
      for (const [, step] of STEPS.slice(STEPS.findIndex(([name]) => name === first))) {
        const ended = await step(mv);
        if (ended) return ended;
      }
      throw new GodwitError('GODWIT_ERR_INTERNAL', `migration ${mv.m.id} ran its steps from ${first} and none ended it`);
    },
  };
}
