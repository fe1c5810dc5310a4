/**
 * The one place that runs CRIU and builds its arguments. Options that every dump and restore
 * needs (see shared/platform-notes.md) are set here, so all images are restorable alike.
 */
import { execa, type Options, type ResultPromise } from 'execa';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { GodwitError, type NodeFeatures, type PageServer, type StreamInodes } from '@godwit/schemas';
import { readCriuLog } from './criu-log.js';
import { CONTROL_MOUNT_KEY } from './control-mount.js';

/** File locks (SQLite), established TCP connections, unlinked files. */
const COMMON = ['--file-locks', '--tcp-established', '--link-remap'];
/**
 * CRIU's network lock (nftables: there is no iptables here) holds the tree's TCP connections
 * still while it is dumped. A tree without TCP sockets has nothing to hold: skipped, the dump
 * leaves no lock table behind, so it need not wait for the node's other dumps (lifecycle.ts).
 */
const networkLock = (lock: boolean) => ['--network-lock', lock ? 'nftables' : 'skip'];
const DUMP_TIMEOUT_MS = 10 * 60_000;

/**
 * `criu dump` of a program's tree: the arguments every godwit dump uses. With a page server the
 * memory goes straight to the destination and the tree is left stopped, so the source can still
 * resume it if the move fails.
 */
export interface DumpOptions {
  pageServer?: PageServer;
  /** the tree stays stopped after the dump (a checkpoint resumes or ends it) */
  leaveStopped?: boolean;
  /** whether CRIU's network lock holds the tree's TCP connections (only a tree with some needs it) */
  lockNetwork: boolean;
  /** where the program sees its control directory (controlMountsOf): a mount CRIU is told is external */
  controlMounts: readonly string[];
  /**
   * called once CRIU is started, before it freezes the tree: the program runs until then, and
   * starting a process from the agent takes milliseconds (a fork copies the agent's page tables)
   */
  spawned?: (pid: number) => void;
}

export function dumpArgs(pid: number, imagesDir: string, logName: string, { pageServer, leaveStopped, lockNetwork, controlMounts }: DumpOptions): string[] {
  const direct = pageServer ? ['--page-server', '--address', pageServer.host, '--port', String(pageServer.port)] : [];
  const control = controlMounts.flatMap((at) => ['--external', `mnt[${at}]:${CONTROL_MOUNT_KEY}`]);
  return ['dump', '-t', String(pid), '-D', imagesDir, '-o', logName, ...COMMON, ...networkLock(lockNetwork), ...control, ...direct, ...(pageServer || leaveStopped ? ['--leave-stopped'] : [])];
}

/** A file the restored tree gets already open (`--inherit-fd`) instead of CRIU opening and checking it. */
export interface InheritedFile {
  /** the path the checkpointed process had open: CRIU's key for it */
  path: string;
  /** what to open in its place (the same path, accepted as it is now, or a remapped one) */
  open: string;
  flags: number;
  offset: number;
}

export interface RunningPageServer {
  /** settles when CRIU's page server has received a whole dump (rejects with its reason) */
  done: Promise<void>;
  stop: () => void;
}

/** A CRIU daemon of a lazy migration, running on its own so that it outlives an agent restart. */
export interface LazyDaemon {
  pid: number;
  /** settles when it exits (never rejects): its exit status, null when it was killed */
  exited: Promise<number | null>;
}

export interface Criu {
  readonly path: string;
  dump(opts: { pid: number; imagesDir: string; what: string } & DumpOptions): Promise<void>;
  /**
   * `criu dump --lazy-pages`: writes every image but the memory, then serves the pages from the
   * stopped tree at `at` until the destination has them all. Resolves once it serves.
   */
  lazyDump(opts: { pid: number; imagesDir: string; what: string; at: PageServer } & Pick<DumpOptions, 'lockNetwork' | 'controlMounts' | 'spawned'>): Promise<LazyDaemon>;
  /**
   * `criu lazy-pages`: fills a lazily restored tree's memory from the source's page server;
   * spawned(pid) is called as it starts, before it is ready
   */
  lazyPages(opts: { imagesDir: string; from: PageServer; spawned?: (pid: number) => void }): Promise<LazyDaemon>;
  /** `criu page-server` writing a dump's pages into imagesDir; resolves once it listens */
  pageServer(opts: { imagesDir: string; at: PageServer }): Promise<RunningPageServer>;
  /** argv (program first) for `criu restore`, run by the keeper so it can adopt the tree */
  /** control: where the restoring keeper serves the program's control directory */
  restoreArgv(opts: { imagesDir: string; logName: string; pidfile: string; inodes: StreamInodes; lazy?: boolean; files?: readonly InheritedFile[]; control?: string }): string[];
  /** turns a failed restore's log into the error a user reads */
  restoreError(opts: { imagesDir: string; logName: string; what: string; exitCode: number }): Promise<GodwitError>;
  features(): Promise<NodeFeatures>;
}

/**
 * Whether a CRIU started with `--status-fd 3` said it is ready (it writes one byte there once it
 * listens or serves), rather than exiting first.
 */
export function statusReady(status: Readable, exited: Promise<unknown>): Promise<boolean> {
  return Promise.race([new Promise<boolean>((resolve) => status.once('data', () => resolve(true))), exited.then(() => false)]);
}

export const LAZY_DUMP_LOG = 'dump.log';
export const LAZY_PAGES_LOG = 'lazy-pages.log';

export function createCriu(path: string): Criu {
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

  /**
   * Starts a CRIU daemon detached from the agent (a restart of the agent must not end a
   * transfer), and waits for the byte CRIU writes to its status fd once it is ready.
   */
  async function startDaemon(
    args: string[],
    imagesDir: string,
    logName: string,
    fail: (reason: string) => GodwitError,
    spawned?: (pid: number) => void,
  ): Promise<LazyDaemon> {
    const child = run([...args, '--status-fd', '3'], {
      reject: false,
      stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
      detached: true,
      cleanup: false,
    });
    if (child.pid !== undefined) spawned?.(child.pid);
    const exited = child.then((r) => (r.isTerminated ? null : (r.exitCode ?? null)));
    const ready = await statusReady(child.stdio[3]!, exited);
    child.stdio[3]!.destroy();
    if (!ready) {
      const code = await exited;
      const log = await readCriuLog(join(imagesDir, logName));
      throw fail(log.reasons.join('; ') || `criu exited with status ${code}`);
    }
    return { pid: child.pid!, exited };
  }

  return {
    path,

    async dump({ pid, imagesDir, what, spawned, ...opts }) {
      const logName = 'dump.log';
      const child = run(dumpArgs(pid, imagesDir, logName, opts), {
        reject: false,
        timeout: DUMP_TIMEOUT_MS,
        stdin: 'ignore',
      });
      if (child.pid !== undefined) spawned?.(child.pid);
      const result = await child;
      if (result.exitCode === 0) return;
      const log = await readCriuLog(join(imagesDir, logName));
      const reason = log.reasons.length ? log.reasons.join('; ') : (result.stderr || result.shortMessage);
      throw new GodwitError('GODWIT_ERR_CANNOT_DUMP', `CRIU could not dump ${what}: ${reason}`, {
        phase: 'dump',
        imagesDir,
        exitCode: result.exitCode ?? null,
        criuLog: log.excerpt,
      });
    },

    lazyDump({ pid, imagesDir, what, at, lockNetwork, controlMounts, spawned }) {
      return startDaemon(
        [...dumpArgs(pid, imagesDir, LAZY_DUMP_LOG, { lockNetwork, controlMounts }), '--lazy-pages', '--address', at.host, '--port', String(at.port), '--leave-stopped'],
        imagesDir,
        LAZY_DUMP_LOG,
        (reason) => new GodwitError('GODWIT_ERR_CANNOT_DUMP', `CRIU could not dump ${what}: ${reason}`, { phase: 'dump', imagesDir }),
        spawned,
      );
    },

    lazyPages({ imagesDir, from, spawned }) {
      // -v4: the log's per-fault lines are how godwit tells pages fetched on demand from pushed ones
      return startDaemon(
        ['lazy-pages', '-D', imagesDir, '-o', LAZY_PAGES_LOG, '--page-server', '--address', from.host, '--port', String(from.port), '-v4'],
        imagesDir,
        LAZY_PAGES_LOG,
        (reason) => new GodwitError('GODWIT_ERR_CANNOT_RESTORE', `CRIU's lazy-pages daemon could not start: ${reason}`, { phase: 'restore', imagesDir }),
        spawned,
      );
    },

    async pageServer({ imagesDir, at }) {
      const logName = 'page-server.log';
      const child = run(['page-server', '-D', imagesDir, '-o', logName, '--address', at.host, '--port', String(at.port), '--status-fd', '3'], {
        reject: false,
        stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
        timeout: DUMP_TIMEOUT_MS,
      });
      const failed = async (code: number | undefined) => {
        const log = await readCriuLog(join(imagesDir, logName));
        return new GodwitError('GODWIT_ERR_TRANSFER_FAILED', `CRIU's page server on ${at.host}:${at.port} failed: ${log.reasons.join('; ') || `exit status ${code}`}`);
      };
      if (!(await statusReady(child.stdio[3]!, child))) throw await failed((await child).exitCode);
      const done = child.then(async (r) => {
        if (r.exitCode !== 0 && !r.isTerminated) throw await failed(r.exitCode);
      });
      done.catch(() => undefined);
      return { done, stop: () => void child.kill('SIGKILL') };
    },

    restoreArgv({ imagesDir, logName, pidfile, inodes, lazy, files = [], control }) {
      // The keeper places the new pipes' program ends at fds 3, 4 and 5, and the files it opens
      // for us at 6 and on; CRIU knows a regular file by its path without the leading slash.
      const inherit = [
        ...[inodes.in, inodes.out, inodes.err].map((ino, i) => `fd[${3 + i}]:pipe:[${ino}]`),
        ...files.map((f, i) => `fd[${6 + i}]:${f.path.replace(/^\/+/, '')}`),
      ].flatMap((spec) => ['--inherit-fd', spec]);
      return [
        path, 'restore', '-d', '-D', imagesDir, '-o', logName, '--pidfile', pidfile,
        // the program has its own mount namespace: without --root, CRIU hits BUG at mount.c
        '--root', '/',
        // the restored tree joins the restoring agent's groups, i.e. the destination node's
        '--manage-cgroups=ignore',
        ...COMMON, ...inherit,
        ...(control ? ['--external', `mnt[${CONTROL_MOUNT_KEY}]:${control}`] : []),
        ...(lazy === true ? ['--lazy-pages'] : []),
      ];
    },

    async restoreError({ imagesDir, logName, what, exitCode }) {
      const log = await readCriuLog(join(imagesDir, logName));
      const reason = log.reasons.length ? log.reasons.join('; ') : `criu restore exited with status ${exitCode}`;
      return new GodwitError('GODWIT_ERR_CANNOT_RESTORE', `CRIU could not restore ${what}: ${reason}`, {
        phase: 'restore',
        imagesDir,
        exitCode,
        criuLog: log.excerpt,
      });
    },

    async features() {
      const version = await execa(path, ['--version'], { reject: false });
      const criuVersion = /Version:\s*(\S+)/.exec(version.stdout)?.[1] ?? 'unknown';
      const check = async (feature: string) =>
        (await execa(path, ['check', '--feature', feature], { reject: false, timeout: 30_000 })).exitCode === 0;
      return {
        criuVersion,
        lazyPages: await check('uffd-noncoop'),
        dirtyTracking: await check('mem_dirty_track'),
      };
    },
  };
}
