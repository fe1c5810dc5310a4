/**
 * MOSIX's deputy, for the home PID: when a program's first run on this node ends because it moved
 * away (or froze), a stand-in (deputy.ts) takes its host PID back, as the program's owner. Each
 * signal the stand-in receives goes to the program wherever it runs, through the orchestrator,
 * as the owner's account (as a local user's request does); a SIGKILL, which the stand-in cannot
 * catch, is seen in its end. When the program ends anywhere, its stand-in ends the same way, so
 * a shell script that signals or waits for the home PID works unchanged. The stand-in stays
 * until the program's end, also while the program runs here again under another PID.
 *
 * State is on disk (dataDir/deputies/ID/: meta.json, and the stand-in's FIFOs and status), so
 * a restarted agent picks every stand-in up again.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import { GodwitError, type AgentConfig, type HomePid, type Process } from '@godwit/schemas';
import { keeperUser, resolveAccount } from './accounts.js';
import { deputyPath, endDeputy, endedEvent, followDeputy, readDeputyEvents, startDeputy, type DeputyEnd } from './deputy.js';
import { errnoName, errnoReason } from './errno.js';
import type { OrchestratorClient } from './orchestrator-client.js';
import { signalName } from './signals.js';
import { TimedOut, waitFor } from './wait.js';
import { passOverOrBadJson } from './expected-errors.js';

const START_TIMEOUT_MS = 10_000;
/** how often the stand-ins' programs are looked at, so that each stand-in ends with its program */
const WATCH_MS = 1000;
/** the stand-in's parent records how it ended right after reaping it */
const ENDED_TIMEOUT_MS = 5000;

interface DeputyRecord {
  id: number;
  pid: number;
  /** the owner's account on this node: the stand-in's, and the one its signals are sent as */
  account: string;
}

export interface DeputiesDeps {
  config: Readonly<AgentConfig>;
  orchestrator: Pick<OrchestratorClient, 'process' | 'signal'>;
  log: FastifyBaseLogger;
}

/** how the stand-in ends for a program that ended so; one lost, or gone from the records, as killed */
export function endOf(p: Pick<Process, 'exitCode' | 'exitSignal'> | undefined): DeputyEnd {
  const signal = p?.exitSignal ? constants.signals[p.exitSignal as NodeJS.Signals] : undefined;
  if (signal !== undefined) return { signal };
  return p?.exitCode !== null && p?.exitCode !== undefined ? { code: p.exitCode } : { signal: constants.signals.SIGKILL };
}

export function createDeputies({ config, orchestrator, log }: DeputiesDeps) {
  const root = join(config.dataDir, 'deputies');
  mkdirSync(root, { recursive: true, mode: 0o700 });
  const dirOf = (id: number) => join(root, String(id));

  interface Live {
    record: DeputyRecord;
    /** told to end: the program has ended */
    ending: boolean;
    /** signals go to the program one at a time, in the order the stand-in received them */
    queue: Promise<void>;
    stop: () => void;
  }
  const live = new Map<number, Live>();

  function forward(d: Live, signal: number): void {
    const name = signalName(signal) ?? `SIG${signal}`;
    d.queue = d.queue
      .then(() => orchestrator.signal(d.record.id, d.record.account, name))
      .catch((err: unknown) => log.warn({ err, id: d.record.id }, `could not pass ${name}, sent to home PID ${d.record.pid}, on to process ${d.record.id}: ${(err as Error).message}`));
  }

  /** the stand-in is gone: a signal that ended it unbidden (SIGKILL) ends the program too */
  async function gone(d: Live): Promise<void> {
    const dir = dirOf(d.record.id);
    const ended = await waitFor(() => endedEvent(dir), { timeoutMs: ENDED_TIMEOUT_MS, what: `how the stand-in of process ${d.record.id} ended` }).catch((err: unknown) => {
      // it ended without a word (killed outright): said below
      if (err instanceof TimedOut) return undefined;
      throw err;
    });
    if (!d.ending && ended && ended.signal > 0) forward(d, ended.signal);
    else if (!d.ending) log.warn({ id: d.record.id, ended }, `the stand-in holding home PID ${d.record.pid} of process ${d.record.id} ended by itself`);
    await d.queue;
    live.delete(d.record.id);
    rmSync(dir, { recursive: true, force: true });
  }

  function follow(record: DeputyRecord): void {
    const d: Live = { record, ending: false, queue: Promise.resolve(), stop: () => undefined };
    live.set(record.id, d);
    try {
      d.stop = followDeputy(dirOf(record.id), (signal) => forward(d, signal), () => void gone(d));
    } catch (err) {
      log.warn({ err, id: record.id }, `could not follow the stand-in holding home PID ${record.pid} of process ${record.id}`);
      void gone(d);
    }
  }

  /** ends the stand-in of each program that has ended */
  async function watch(): Promise<void> {
    for (const d of [...live.values()]) {
      if (d.ending) continue;
      let p: Process | undefined;
      try {
        p = await orchestrator.process(d.record.id, d.record.account);
      } catch (err) {
        if (!(err instanceof GodwitError && err.code === 'GODWIT_ERR_PROCESS_NOT_FOUND')) continue; // asked again next time
      }
      if (p && p.state !== 'exited' && p.state !== 'lost') continue;
      d.ending = true;
      endDeputy(dirOf(d.record.id), endOf(p));
    }
  }

  // the stand-ins an earlier run of this agent started
  for (const name of readdirSync(root)) {
    const dir = join(root, name);
    let record: DeputyRecord | undefined;
    try {
      record = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as DeputyRecord;
    } catch (err) {
      passOverOrBadJson(err, ['ENOENT']); // made no further than its directory
    }
    if (record && readDeputyEvents(dir).some((e) => e.ev === 'started')) follow(record);
    else rmSync(dir, { recursive: true, force: true });
  }

  let watching = false;
  const timer = setInterval(() => {
    if (watching) return;
    watching = true;
    void watch().finally(() => (watching = false));
  }, WATCH_MS);

  return {
    /**
     * The program's first run here has ended after its dump, and PID `pid` is free: a stand-in
     * takes it. Never throws: a PID taken meanwhile is answered, not an error of the move.
     */
    async keepHomePid(id: number, pid: number, account: string): Promise<HomePid> {
      const dir = dirOf(id);
      // kept already, since an earlier move (the program came home, and left again)
      if (live.has(id) || existsSync(dir)) return { pid, kept: true };
      try {
        mkdirSync(dir, { mode: 0o700 });
        const record: DeputyRecord = { id, pid, account };
        writeFileSync(join(dir, 'meta.json'), JSON.stringify(record), { mode: 0o600 });
        const owner = await resolveAccount(account, config.node);
        const ev = await startDeputy({ path: deputyPath(config.keeperPath), dir, pid, user: keeperUser(owner), cgroups: config.cgroups }, START_TIMEOUT_MS);
        if (ev.ev === 'started') {
          follow(record);
          return { pid, kept: true };
        }
        rmSync(dir, { recursive: true, force: true });
        const why = errnoName(ev.errno) === 'EEXIST' ? 'another process took it meanwhile' : errnoReason(ev.errno);
        return { pid, kept: false, reason: `home PID ${pid} of process ${id} cannot be kept on ${config.node}: ${why}` };
      } catch (err) {
        rmSync(dir, { recursive: true, force: true });
        return { pid, kept: false, reason: `home PID ${pid} of process ${id} cannot be kept on ${config.node}: ${(err as Error).message}` };
      }
    },

    close(): void {
      clearInterval(timer);
      for (const d of live.values()) d.stop();
      live.clear();
    },
  };
}

export type Deputies = ReturnType<typeof createDeputies>;
