/**
 * The one place that starts godwit-keeper (agent/keeper/keeper.c): per program and epoch, the
 * small process that owns the program's pipes, adopts it as a subreaper and records its exit.
 * Keepers are detached: they outlive an agent restart, and the agent reads their state from disk.
 */
import { spawn } from 'node:child_process';
import { closeSync, constants, openSync, readdirSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { OutputStream, StreamInodes } from '@godwit/schemas';
import type { InheritedFile } from './criu.js';
import type { CriuProcess } from './criu-process.js';
import { waitFor } from './wait.js';
import { passOver, passingOver } from './expected-errors.js';
import { readJsonLines } from './json-lines.js';

export type KeeperEvent =
  /** pid: the program's init (tini); program: on a launch, the program's own PID (0 when not seen) */
  | ({ ev: 'started'; pid: number; program?: number } & StreamInodes)
  /** the program could not be started as its owner: where (account, cwd, program, exec) and errno */
  | { ev: 'launch-failed'; stage: 'account' | 'cwd' | 'program' | 'exec' | 'netns'; errno: number }
  /** oomKills: counted in the run's own memory group, -1 when not (absent from keepers before it) */
  | { ev: 'exited'; code: number; signal: number; oomKills?: number }
  | { ev: 'stdin-closed' }
  /** a restore's CRIU, forked: its PID and start time (criu-process.ts); 0 when it was gone before the keeper looked */
  | { ev: 'criu'; pid: number; start: number }
  /**
   * CRIU failed (stage 'criu'; absent from keepers before it), or the files opened for it as the
   * owner could not be: taking on the owner ('account'), opening or seeking file number `file`
   */
  | { ev: 'restore-failed'; code: number; signal: number; stage?: 'criu' | 'account' | 'open' | 'seek'; file?: number; errno?: number };

export function statusPath(dir: string, epoch: number): string {
  return join(dir, `status.${epoch}`);
}

/**
 * The epoch's output, in segments laid end to end (keeper/keeper-output.c): DIR/out.EPOCH.START,
 * START the offset in the epoch's output of the segment's first byte.
 */
export function outputSegmentPath(dir: string, epoch: number, start: number): string {
  return join(dir, `out.${epoch}.${start}`);
}

/** the starts of the epoch's output segments still on disk, oldest first */
export function outputSegments(dir: string, epoch: number): number[] {
  const prefix = `out.${epoch}.`;
  return passingOver(['ENOENT'], [], () => readdirSync(dir))
    .filter((f) => f.startsWith(prefix) && /^\d+$/.test(f.slice(prefix.length)))
    .map((f) => Number(f.slice(prefix.length)))
    .sort((a, b) => a - b);
}

/** output a keeper spools ahead of what was taken, when the agent's configuration says nothing */
export const DEFAULT_SPOOL_BYTES = 256 * 1024;

/**
 * The keeper watches its directory for these two files, each written whole by a rename (see
 * keeper.c): how far the orchestrator has stored epoch's output (DIR/taken.EPOCH), and which of
 * the program's output streams have no reader any more (DIR/closed.EPOCH).
 */
function writeWhole(path: string, text: string): void {
  writeFileSync(`${path}.new`, text, { mode: 0o600 });
  renameSync(`${path}.new`, path);
}

export function takenPath(dir: string, epoch: number): string {
  return join(dir, `taken.${epoch}`);
}

export function closedPath(dir: string, epoch: number): string {
  return join(dir, `closed.${epoch}`);
}

export function wakePath(dir: string, epoch: number): string {
  return join(dir, `wake.${epoch}`);
}

/**
 * Has the epoch's keeper read taken and closed again: a byte into the FIFO it holds. A keeper
 * gone (no reader: ENXIO), not begun or of an older build (no FIFO: ENOENT), or with pokes
 * still unread (EAGAIN) needs none.
 */
function wakeKeeper(dir: string, epoch: number): void {
  let fd: number;
  try {
    fd = openSync(wakePath(dir, epoch), constants.O_WRONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  } catch (err) {
    passOver(err, ['ENXIO', 'ENOENT']);
    return;
  }
  try {
    writeSync(fd, '.');
  } catch (err) {
    passOver(err, ['EAGAIN']);
  } finally {
    closeSync(fd);
  }
}

export function writeTaken(dir: string, epoch: number, offset: number): void {
  writeWhole(takenPath(dir, epoch), String(offset));
  wakeKeeper(dir, epoch);
}

/** the keeper's names for the streams: "out", "err" */
export function writeClosed(dir: string, epoch: number, streams: readonly OutputStream[]): void {
  writeWhole(closedPath(dir, epoch), streams.map((s) => (s === 'stdout' ? 'out' : 'err')).join(' '));
  wakeKeeper(dir, epoch);
}

export function readEvents(dir: string, epoch: number): KeeperEvent[] {
  return readJsonLines<KeeperEvent>(statusPath(dir, epoch));
}

/**
 * The keeper's DIR/files.EPOCH: "FLAGS OFFSET PATH" records, each ended by NUL, the one byte no
 * path holds, so that no path (one with a newline) can make another record.
 */
export function fileRecords(files: readonly InheritedFile[]): string {
  for (const f of files) if (f.open.includes('\0')) throw new Error(`a file name holds a NUL byte: ${JSON.stringify(f.open)}`);
  return files.map((f) => `${f.flags} ${f.offset} ${f.open}\0`).join('');
}

export interface KeeperStart {
  keeperPath: string;
  dir: string;
  epoch: number;
  /** the program's owner (accounts.ts keeperUser): whose rights the program and its files get; a launch needs it */
  user?: string;
  /** the keeper's own environment (restore: CRIU's) */
  env: Record<string, string>;
  /** the program's control directory, which the keeper serves to it (keeper/controlfs.c) */
  control?: string;
  /** how the keeper binds the node's own paths into the program's view (node-local.ts: keeperEnv) */
  localEnv?: Record<string, string>;
  /** the node's program control groups, joined by the keeper before it starts anything */
  cgroups: readonly string[];
  /** the run's own memory group (run-cgroup.ts), which the program alone joins; none: its OOM kills go uncounted */
  runCgroup?: string | undefined;
  /** output it writes ahead of what the orchestrator has taken, before the program's writes wait */
  spoolBytes: number;
  /** restore: the files the keeper opens for CRIU's --inherit-fd, as `user`, at fds 6 and on */
  mode:
    | { launch: { cwd: string; argv: string[]; env: Record<string, string>; init: string } }
    | { restore: { pidfile: string; criuArgv: string[]; files?: readonly InheritedFile[] } };
  /** launch: the program's own network namespace (net-namespace.ts), which the program starts in */
  netns?: string;
  /** called with the keeper's PID as it starts */
  spawned?: (pid: number) => void;
  /** a restore: called with its CRIU once the keeper has started it (until the program started, or did not) */
  criuStarted?: (criu: CriuProcess) => void;
}

/** Starts a keeper and waits until it reports the program started, or why it did not. */
export type KeeperStarted = Extract<KeeperEvent, { ev: 'started' | 'restore-failed' | 'launch-failed' }>;

export async function startKeeper(opts: KeeperStart, timeoutMs: number): Promise<KeeperStarted> {
  const args =
    'launch' in opts.mode
      ? [opts.dir, String(opts.epoch), 'launch', opts.mode.launch.cwd, '--', ...opts.mode.launch.argv]
      : [opts.dir, String(opts.epoch), 'restore', opts.mode.restore.pidfile, '--', ...opts.mode.restore.criuArgv];
  if ('launch' in opts.mode) {
    // the program's environment goes by a root-only file, so the keeper (root) never runs with it
    const entries = Object.entries(opts.mode.launch.env).map(([k, v]) => `${k}=${v}\0`);
    writeFileSync(join(opts.dir, `env.${opts.epoch}`), entries.join(''), { mode: 0o600 });
  } else if (opts.mode.restore.files?.length) {
    writeFileSync(join(opts.dir, `files.${opts.epoch}`), fileRecords(opts.mode.restore.files), { mode: 0o600 });
  }
  const logPath = join(opts.dir, `keeper.${opts.epoch}.log`);
  const log = openSync(logPath, 'a', 0o600);
  let exited: string | undefined;
  try {
    const child = spawn(opts.keeperPath, args, {
      detached: true,
      stdio: ['ignore', log, log],
      env: {
        ...opts.env,
        ...opts.localEnv,
        GODWIT_KEEPER_CGROUPS: opts.cgroups.join(':'),
        // the bound on output not yet taken, and the size of its segments (keeper.c says why)
        GODWIT_KEEPER_SPOOL: String(opts.spoolBytes),
        ...(opts.runCgroup !== undefined ? { GODWIT_KEEPER_RUN_CGROUP: opts.runCgroup } : {}),
        ...(opts.user !== undefined ? { GODWIT_KEEPER_USER: opts.user } : {}),
        ...('launch' in opts.mode ? { GODWIT_KEEPER_INIT: opts.mode.launch.init } : {}),
        ...(opts.control ? { GODWIT_KEEPER_CONTROL: opts.control } : {}),
        ...(opts.netns ? { GODWIT_KEEPER_NETNS: opts.netns } : {}),
      },
    });
    if (child.pid !== undefined) opts.spawned?.(child.pid);
    child.on('error', (err) => (exited = err.message));
    child.on('exit', (code, signal) => (exited ??= `keeper exited (${signal ?? code})`));
    child.unref();
  } finally {
    closeSync(log);
  }
  let criuTold = false;
  return waitFor(
    () => {
      const events = readEvents(opts.dir, opts.epoch);
      const criu = criuTold ? undefined : events.find((e) => e.ev === 'criu');
      if (criu) {
        criuTold = true;
        opts.criuStarted?.(criu.start ? { pid: criu.pid, start: criu.start } : { pid: criu.pid });
      }
      const ev = events.find((e): e is KeeperStarted => e.ev === 'started' || e.ev === 'restore-failed' || e.ev === 'launch-failed');
      if (ev) return ev;
      if (exited !== undefined) {
        // a keeper that ended before it wrote anything leaves no log
        const text = passingOver(['ENOENT'], '', () => readFileSync(logPath, 'utf8').trim());
        throw new Error(`${exited}: ${text || 'no output'}`);
      }
      return undefined;
    },
    // the program may be stopped until then (a restore): every millisecond of polling counts
    { timeoutMs, intervalMs: 2, what: `the keeper of epoch ${opts.epoch} in ${opts.dir} to start its program` },
  );
}
