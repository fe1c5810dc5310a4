/**
 * The one place that runs CRIU (its command lines are built in criu-args.ts). Each failed run is
 * one CriuError (criu-error.ts), which the agent answers as the GodwitError a user reads.
 */
import { execa, type Options, type ResultPromise } from 'execa';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { GodwitError, NodeFeatures, PageServer, StreamInodes, TlsFiles } from '@godwit/schemas';
import {
  CPUINFO_IMAGE, DUMP_LOG, LAZY_DUMP_LOG, LAZY_PAGES_LOG, PAGE_SERVER_LOG, STATUS_FD,
  checkFeatureArgs, cpuinfoCheckArgs, cpuinfoDumpArgs, dumpArgs, lazyDumpArgs, lazyPagesArgs, pageServerArgs, restoreArgs, versionArgs, withStatusFd,
  type DumpArgsOptions, type InheritedFile, type RestoreArgsOptions,
} from './criu-args.js';
import { CriuError, type CriuRunEnd } from './criu-error.js';
import { readCriuLog, summarizeCriuLog } from './criu-log.js';
import { criuUnfit, parseCriuVersion, patchesGitId, type CriuVersion } from './criu-version.js';
import { type CriuProcess, criuProcess } from './criu-process.js';

// where the agent's modules have always found them
export { CPUINFO_IMAGE, LAZY_PAGES_LOG, type InheritedFile };

const DUMP_TIMEOUT_MS = 10 * 60_000;

export interface DumpOptions extends DumpArgsOptions {
  /**
   * called once CRIU is started, before it freezes the tree: the program runs until then, and
   * starting a process from the agent takes milliseconds (a fork copies the agent's page tables)
   */
  spawned?: (pid: number) => void;
  /** ends CRIU (SIGTERM) when it fires; the call then fails with a canceled CriuError as cause */
  signal?: AbortSignal;
}

export interface RunningPageServer {
  /** its command line, logged as it starts: whether it talks TLS shows there */
  argv: readonly string[];
  /** settles when CRIU's page server has received a whole dump (rejects with its reason) */
  done: Promise<void>;
  stop: () => void;
}

/** A CRIU daemon of a lazy migration, running on its own so that it outlives an agent restart. */
export interface LazyDaemon extends CriuProcess {
  /** its command line, the program left out (what the agent's log shows) */
  argv: string[];
  /** settles when it exits (never rejects): its exit status, null when it was killed */
  exited: Promise<number | null>;
}

export interface Criu {
  readonly path: string;
  dump(opts: { pid: number; imagesDir: string; what: string } & DumpOptions): Promise<void>;
  /**
   * `criu dump --lazy-pages`: writes every image but the memory, then serves the pages from the
   * stopped tree at `at` until the destination has them all. Resolves once it serves; `signal`
   * ends it only until then.
   */
  lazyDump(opts: { pid: number; imagesDir: string; what: string; at: PageServer } & Pick<DumpOptions, 'lockNetwork' | 'controlMounts' | 'localMounts' | 'ghostLimit' | 'spawned' | 'signal'>): Promise<LazyDaemon>;
  /**
   * `criu lazy-pages`: fills a lazily restored tree's memory from the source's page server;
   * spawned(pid) is called as it starts, before it is ready; `signal` ends it only until then
   */
  lazyPages(opts: { imagesDir: string; from: PageServer; spawned?: (pid: number) => void; signal?: AbortSignal }): Promise<LazyDaemon>;
  /** `criu page-server` writing a dump's pages into imagesDir; resolves once it listens */
  pageServer(opts: { imagesDir: string; at: PageServer; signal?: AbortSignal }): Promise<RunningPageServer>;
  /**
   * argv (program first) for `criu restore`, run by the keeper so it can adopt the tree;
   * control: where the restoring keeper serves the program's control directory
   */
  restoreArgv(opts: RestoreArgsOptions): string[];
  /** turns a failed restore's log into the error a user reads */
  restoreError(opts: { imagesDir: string; logName: string; what: string; exitCode: number }): Promise<GodwitError>;
  /** what `criu --version` says */
  version(): Promise<CriuVersion>;
  features(): Promise<NodeFeatures>;
  /** `criu cpuinfo dump` into dir (its cpuinfo.img): throws CRIU's reason when it cannot */
  cpuinfoDump(dir: string): Promise<void>;
  /**
   * `criu cpuinfo check` of this CPU against dir's cpuinfo.img: CRIU's reasons when it refuses
   * (empty: it would restore here what ran there); a CRIU that cannot run at all throws
   */
  cpuinfoCheck(dir: string): Promise<string[]>;
}

/**
 * Whether a CRIU started with withStatusFd said it is ready (it writes one byte there once it
 * listens or serves), rather than exiting first.
 */
export function statusReady(status: Readable, exited: Promise<unknown>): Promise<boolean> {
  return Promise.race([new Promise<boolean>((resolve) => status.once('data', () => resolve(true))), exited.then(() => false)]);
}

/**
 * Refuses (throws, saying what to run) a CRIU too old or built without godwit's patches: the
 * agent checks this as it starts.
 */
export async function requireGodwitCriu(path: string, wantGitId = patchesGitId()): Promise<void> {
  const unfit = criuUnfit(path, await createCriu(path).version(), wantGitId);
  if (unfit !== undefined) throw new Error(unfit);
}

/** how an execa run of CRIU ended, as CriuError reads it */
function runEnd(r: { exitCode?: number; signal?: string; durationMs: number; timedOut: boolean; isCanceled: boolean; stderr?: unknown }): CriuRunEnd {
  return {
    exitCode: r.exitCode ?? null,
    signal: r.signal ?? null,
    durationMs: r.durationMs,
    timedOut: r.timedOut,
    canceled: r.isCanceled,
    stderr: typeof r.stderr === 'string' ? r.stderr : undefined,
  };
}

/** `tls`: the cluster's certificate files, for every page server and its client (full copy and lazy move) */
export function createCriu(path: string, tls?: TlsFiles): Criu {
  /**
   * Starts CRIU with umask 077: the images and logs it writes (0644, its own choice) hold the
   * program's memory, and are root's alone. Node sets no umask per child; it spawns at once,
   * so the agent's umask is stricter only for that instant (a file the agent's threads create
   * meanwhile can only come out stricter than asked, and the agent gives its files their modes).
   */
  const run = <O extends Options>(args: readonly string[], options: O): ResultPromise<{} & O> => {
    const before = process.umask(0o077);
    try {
      return execa(path, args, options);
    } finally {
      process.umask(before);
    }
  };

  const version = async () => parseCriuVersion((await execa(path, versionArgs(), { reject: false })).stdout);

  const failure = async (args: readonly string[], imagesDir: string, logName: string, end: CriuRunEnd) =>
    new CriuError([path, ...args], imagesDir, end, await readCriuLog(join(imagesDir, logName)));

  /**
   * Starts a CRIU daemon detached from the agent (a restart of the agent must not end a
   * transfer), and waits for the byte CRIU writes to its status fd once it is ready. The
   * caller's signal ends it only while it is not ready: once it serves, it is on its own.
   */
  async function startDaemon(args: string[], imagesDir: string, logName: string, spawned?: (pid: number) => void, signal?: AbortSignal): Promise<LazyDaemon> {
    signal?.throwIfAborted();
    const argv = withStatusFd(args);
    const child = run(argv, {
      reject: false,
      stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
      detached: true,
      cleanup: false,
    });
    if (child.pid !== undefined) spawned?.(child.pid);
    let canceled = false;
    const cancel = () => {
      canceled = true;
      child.kill('SIGTERM');
    };
    signal?.addEventListener('abort', cancel, { once: true });
    const exited = child.then((r) => (r.isTerminated ? null : (r.exitCode ?? null)));
    const status = child.stdio[STATUS_FD] as Readable;
    const ready = await statusReady(status, exited);
    signal?.removeEventListener('abort', cancel);
    status.destroy();
    if (!ready) {
      throw await failure(argv, imagesDir, logName, { ...runEnd(await child), canceled });
    }
    return { ...criuProcess(child.pid!), argv, exited };
  }

  return {
    path,

    async dump({ pid, imagesDir, what, spawned, signal, ...opts }) {
      const args = dumpArgs(pid, imagesDir, DUMP_LOG, { ...opts, tls });
      signal?.throwIfAborted();
      const child = run(args, { reject: false, timeout: DUMP_TIMEOUT_MS, stdin: 'ignore', cancelSignal: signal });
      if (child.pid !== undefined) spawned?.(child.pid);
      const result = await child;
      if (result.exitCode === 0) return;
      const err = await failure(args, imagesDir, DUMP_LOG, runEnd(result));
      throw err.toGodwitError('GODWIT_ERR_CANNOT_DUMP', (reason) => `CRIU could not dump ${what}: ${reason}`, 'dump');
    },

    async lazyDump({ pid, imagesDir, what, at, lockNetwork, controlMounts, localMounts, ghostLimit, spawned, signal }) {
      const args = lazyDumpArgs(pid, imagesDir, { at, lockNetwork, controlMounts, ...(localMounts ? { localMounts } : {}), ghostLimit, leaveStopped: true, tls });
      try {
        return await startDaemon(args, imagesDir, LAZY_DUMP_LOG, spawned, signal);
      } catch (err) {
        if (!(err instanceof CriuError)) throw err;
        throw err.toGodwitError('GODWIT_ERR_CANNOT_DUMP', (reason) => `CRIU could not dump ${what}: ${reason}`, 'dump');
      }
    },

    async lazyPages({ imagesDir, from, spawned, signal }) {
      try {
        return await startDaemon(lazyPagesArgs(imagesDir, from, { logFaults: true, tls }), imagesDir, LAZY_PAGES_LOG, spawned, signal);
      } catch (err) {
        if (!(err instanceof CriuError)) throw err;
        throw err.toGodwitError('GODWIT_ERR_CANNOT_RESTORE', (reason) => `CRIU's lazy-pages daemon could not start: ${reason}`, 'restore');
      }
    },

    async pageServer({ imagesDir, at, signal }) {
      signal?.throwIfAborted();
      const args = withStatusFd(pageServerArgs(imagesDir, at, { tls }));
      const child = run(args, {
        reject: false,
        stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
        timeout: DUMP_TIMEOUT_MS,
        cancelSignal: signal,
      });
      const failed = async (end: CriuRunEnd) =>
        (await failure(args, imagesDir, PAGE_SERVER_LOG, end))
          .toGodwitError('GODWIT_ERR_TRANSFER_FAILED', (reason) => `CRIU's page server on ${at.host}:${at.port} failed: ${reason}`, 'transfer');
      if (!(await statusReady(child.stdio[STATUS_FD] as Readable, child))) throw await failed(runEnd(await child));
      const done = child.then(async (r) => {
        // stop() ends it on purpose: that is no failure
        if (r.exitCode !== 0 && !r.isTerminated) throw await failed(runEnd(r));
      });
      // whoever awaits `done` gets its failure; unawaited, it must not end the agent
      done.catch((err: unknown) => err);
      return { argv: [path, ...args], done, stop: () => void child.kill('SIGKILL') };
    },

    restoreArgv(opts) {
      return [path, ...restoreArgs(opts)];
    },

    async restoreError({ imagesDir, logName, what, exitCode }) {
      // the keeper ran it: what is known here of its command line, and no duration
      const err = await failure(['restore', '-D', imagesDir, '-o', logName], imagesDir, logName, { exitCode });
      return err.toGodwitError('GODWIT_ERR_CANNOT_RESTORE', (reason) => `CRIU could not restore ${what}: ${reason}`, 'restore');
    },

    version,

    async features() {
      const check = async (feature: string) =>
        (await execa(path, checkFeatureArgs(feature), { reject: false, timeout: 30_000 })).exitCode === 0;
      return {
        criuVersion: (await version()).version ?? 'unknown',
        lazyPages: await check('uffd-noncoop'),
        dirtyTracking: await check('mem_dirty_track'),
      };
    },

    async cpuinfoDump(dir) {
      const r = await run(cpuinfoDumpArgs(dir), { reject: false, timeout: 30_000, stdin: 'ignore' });
      if (r.exitCode !== 0) throw new Error(`\`criu cpuinfo dump\` failed (exit ${r.exitCode ?? r.signal}): ${r.stderr.trim() || 'no message'}`);
    },

    async cpuinfoCheck(dir) {
      const args = cpuinfoCheckArgs(dir);
      const r = await run(args, { reject: false, timeout: 30_000, stdin: 'ignore' });
      if (r.exitCode === 0) return [];
      // CRIU logs to stderr here; a refusal is an exit of 1 with its reasons there
      const log = summarizeCriuLog(r.stderr);
      if (r.exitCode === 1 && log.reasons.length) return log.reasons;
      throw new CriuError([path, ...args], dir, runEnd(r), log);
    },
  };
}
