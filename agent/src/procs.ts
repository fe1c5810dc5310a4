/**
 * The programs on this node, read from disk each time (the keepers keep the truth there), so an
 * agent restarted at any moment knows what runs. Layout under dataDir/procs/ID/:
 *   meta.json    argv, cwd             stdin     FIFO read by the keeper
 *   status.K     keeper events         out.K     framed output of epoch K
 *   dumped.K     epoch K ended in a dump, not an exit
 *   stopped.K    epoch K was dumped with its pages sent away, and is held stopped
 *   taken.K      how far the orchestrator stored out.K   closed.K  streams with no reader (keeper.ts)
 *   wake.K       FIFO: a byte tells epoch K's keeper that taken.K or closed.K changed
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentProc, StreamInodes } from '@godwit/schemas';
import { closedPath, outputSegmentPath, outputSegments, readEvents, statusPath, takenPath, wakePath } from './keeper.js';
import { GONE, MOUNTED, passOver, passOverOrBadJson, passingOver } from './expected-errors.js';

export interface ProcMeta {
  id: number;
  argv: string[];
  cwd: string;
  /** the owner's account: a stand-in keeps the home PID as that account (deputies.ts) */
  account?: string;
}

export function createProcStore(dataDir: string) {
  const root = join(dataDir, 'procs');
  mkdirSync(root, { recursive: true, mode: 0o700 });
  /** ids whose dump is running now */
  const dumping = new Set<number>();

  const dirOf = (id: number) => join(root, String(id));

  function epochsOf(id: number): number[] {
    return passingOver(['ENOENT'], [], () => readdirSync(dirOf(id)))
      .map((n) => /^status\.(\d+)$/.exec(n)?.[1])
      .filter((e): e is string => e !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
  }

  /** The program's own host PID: tini's child. */
  function programPid(rootPid: number): number | null {
    return passingOver(GONE, null, () => {
      const kids = readFileSync(`/proc/${rootPid}/task/${rootPid}/children`, 'utf8').trim().split(/\s+/);
      return kids[0] ? Number(kids[0]) : null;
    });
  }

  function epochInfo(id: number, epoch: number): AgentProc | undefined {
    const events = readEvents(dirOf(id), epoch);
    const started = events.find((e) => e.ev === 'started');
    if (!started || started.ev !== 'started') return undefined;
    const ended = events.some((e) => e.ev === 'exited');
    const dumped = existsSync(join(dirOf(id), `dumped.${epoch}`));
    const stopped = existsSync(join(dirOf(id), `stopped.${epoch}`));
    const state = ended ? (dumped ? 'dumped' : 'exited') : dumping.has(id) ? 'dumping' : stopped ? 'stopped' : 'running';
    const inodes: StreamInodes = { in: started.in, out: started.out, err: started.err };
    return { id, epoch, state, rootPid: started.pid, pid: ended ? null : programPid(started.pid), inodes };
  }

  return {
    dumping,
    dirOf,
    programPid,
    epochInfo,

    /** the newest epoch of a program on this node */
    current(id: number): AgentProc | undefined {
      const epochs = epochsOf(id);
      for (let i = epochs.length - 1; i >= 0; i--) {
        const info = epochInfo(id, epochs[i]!);
        if (info) return info;
      }
      return undefined;
    },

    list(): AgentProc[] {
      const ids = passingOver(['ENOENT'], [], () => readdirSync(root)).filter((n) => /^\d+$/.test(n)).map(Number);
      return ids.flatMap((id) => epochsOf(id).flatMap((e) => epochInfo(id, e) ?? []));
    },

    prepare(meta: ProcMeta): string {
      const dir = dirOf(meta.id);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      if (!existsSync(join(dir, 'meta.json'))) writeFileSync(join(dir, 'meta.json'), JSON.stringify(meta), { mode: 0o600 });
      return dir;
    },

    meta(id: number): ProcMeta | undefined {
      try {
        return JSON.parse(readFileSync(join(dirOf(id), 'meta.json'), 'utf8')) as ProcMeta;
      } catch (err) {
        passOverOrBadJson(err, ['ENOENT']);
        return undefined;
      }
    },

    /** what the keeper of an ended epoch saved of the program's unread input */
    unreadInput(id: number, epoch: number): string {
      return join(dirOf(id), `unread.${epoch}`);
    },

    stdinClosed(id: number, epoch: number): boolean {
      return readEvents(dirOf(id), epoch).some((e) => e.ev === 'stdin-closed');
    },

    /** held stopped at the source (true), or no longer (false) */
    markStopped(id: number, epoch: number, stopped: boolean): void {
      const file = join(dirOf(id), `stopped.${epoch}`);
      if (stopped) writeFileSync(file, '');
      else rmSync(file, { force: true });
    },

    markDumped(id: number, epoch: number): void {
      writeFileSync(join(dirOf(id), `dumped.${epoch}`), '');
    },

    isDumped(id: number, epoch: number): boolean {
      return existsSync(join(dirOf(id), `dumped.${epoch}`));
    },

    /** forgets one epoch; the program's directory goes with its last epoch */
    removeEpoch(id: number, epoch: number): void {
      const dir = dirOf(id);
      for (const f of [statusPath(dir, epoch), ...outputSegments(dir, epoch).map((start) => outputSegmentPath(dir, epoch, start)), join(dir, `dumped.${epoch}`), join(dir, `keeper.${epoch}.log`), join(dir, `unread.${epoch}`), join(dir, `stopped.${epoch}`), join(dir, `env.${epoch}`), join(dir, `files.${epoch}`), takenPath(dir, epoch), closedPath(dir, epoch), wakePath(dir, epoch)]) {
        rmSync(f, { force: true });
      }
      if (epochsOf(id).length === 0) {
        try {
          rmSync(dir, { recursive: true, force: true });
        } catch (err) {
          passOver(err, MOUNTED);
          // a keeper killed outright leaves its control mount (DIR/control.EPOCH): only umount ends it (cluster down does)
        }
      }
    },
  };
}

export type ProcStore = ReturnType<typeof createProcStore>;
