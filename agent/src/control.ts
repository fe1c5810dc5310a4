/**
 * The program's own control directory, MOSIX's files under /proc/self: <controlDir>/<id>/, the
 * same path on every node (GODWIT_CONTROL is fixed at launch). The agent where the program runs
 * watches it; a request the program writes into a request file (CONTROL_KINDS) goes to the
 * orchestrator, whose answer comes back through update() to the agent where the program runs
 * then (after a migrate, the destination's). Every file reads one line: whereami and nmigs their
 * value, a request file `ok VALUE` (its current value: the node, 0 or 1, the bytes) or
 * `error: REASON` (the last request was refused), or the request itself while it is pending.
 */
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { FastifyBaseLogger } from 'fastify';
import { type AgentProc, CONTROL_KINDS, CONTROL_VALUE_MAX, type ControlKind, type ControlRequest, type ControlState, type ControlUpdate, GodwitError } from '@godwit/schemas';
import { isRealDir, readControlFile, writeControlFile } from './control-files.js';
import { passOver } from './expected-errors.js';
import type { ProcStore } from './procs.js';

/** how long a file must stay unchanged before its request is read: the program's write is over */
const SETTLE_MS = 30;
const READY_MAX_MS = 5000;

export interface ControlDeps {
  root: string;
  node: string;
  procs: ProcStore;
  /** hands a request to the orchestrator; its answer comes later, through update() */
  send(req: ControlRequest): Promise<void>;
  log: FastifyBaseLogger;
}

interface Watch {
  /** the run of the program it watches for: a new run here (a restore) gets a new watch */
  epoch: number;
  watcher: FSWatcher;
  ready: Promise<void>;
  /** requests sent and not answered yet: their files keep the request until the answer */
  pending: Set<ControlKind>;
}

const isKind = (name: string): name is ControlKind => (CONTROL_KINDS as readonly string[]).includes(name);
const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim();

/**
 * Each program reaches its own directory only through its keeper's view (keeper/controlfs.c),
 * as its owner: the directories here are the agent's, and no program may list the root or
 * enter another's directory (0711 lets a program's view, mounted below it, be reached).
 */
const ROOT_MODE = 0o711;
const DIR_MODE = 0o700;
/** in a process directory, a recovered process's view is mounted over it on some node: it must not be removed */
const MOUNTED_OVER = '.mounted-over';

export function createControl({ root, node, procs, send, log }: ControlDeps) {
  mkdirSync(root, { recursive: true, mode: ROOT_MODE });
  // a root or a directory made by an older agent (0755) is tightened too
  chmodSync(root, ROOT_MODE);
  const watches = new Map<number, Watch>();
  const dirOf = (id: number) => join(root, String(id));

  function ensureDir(id: number): string {
    const dir = dirOf(id);
    if (!isRealDir(dir)) {
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { mode: DIR_MODE });
    } else chmodSync(dir, DIR_MODE);
    return dir;
  }

  function show(id: number, state: ControlState, pending: ReadonlySet<ControlKind>, answer?: ControlUpdate['answer']): void {
    const dir = ensureDir(id);
    writeControlFile(dir, 'whereami', `${node}\n`);
    writeControlFile(dir, 'nmigs', `${state.nmigs}\n`);
    const current: Record<ControlKind, string> = {
      migrate: node,
      lock: state.locked ? '1' : '0',
      needmem: String(state.needMemBytes),
      checkpoint: String(state.checkpoints),
    };
    for (const kind of CONTROL_KINDS) {
      if (answer?.kind === kind && answer.error !== undefined) writeControlFile(dir, kind, `error: ${oneLine(answer.error)}\n`);
      // a pending request stays readable as written until its own answer replaces it
      else if (answer?.kind === kind || !pending.has(kind)) writeControlFile(dir, kind, `ok ${current[kind]}\n`);
    }
  }

  function refuse(id: number, kind: ControlKind, reason: string): void {
    try {
      writeControlFile(ensureDir(id), kind, `error: ${oneLine(reason)}\n`);
    } catch (err) {
      log.warn({ err, process: id }, `could not answer process ${id}'s ${kind} request`);
    }
  }

  async function onFile(id: number, w: Watch, path: string): Promise<void> {
    const kind = basename(path);
    if (dirname(path) !== dirOf(id) || !isKind(kind) || watches.get(id) !== w) return;
    const read = readControlFile(path);
    if (!read.ok) {
      if (read.why === 'not-a-file') refuse(id, kind, `${kind} must be a regular file: write the request into it and close it`);
      else if (read.why === 'too-long') refuse(id, kind, `a request is at most ${CONTROL_VALUE_MAX} bytes`);
      return;
    }
    const value = read.text.trim();
    // the agent's own answers, and a write caught between its truncation and its text
    if (value === '' || value.startsWith('ok ') || value.startsWith('error:')) return;
    // one request per file at a time: the answer to the first overwrites what came meanwhile
    if (w.pending.has(kind)) return;
    w.pending.add(kind);
    log.info({ process: id, kind, value }, `process ${id} asks: ${kind} ${value}`);
    try {
      await send({ processId: id, kind, value });
    } catch (err) {
      w.pending.delete(kind);
      // a copy that stopped here for a move, or ended since, sees the requests its successor
      // writes into the shared directory: the node where the program runs answers them
      // (a program refused while it is being moved, though, reads why)
      const here = procs.current(id)?.state;
      if (err instanceof GodwitError && err.code === 'GODWIT_ERR_PROCESS_NOT_RUNNING' && here !== 'running' && here !== 'dumping') return;
      refuse(id, kind, err instanceof GodwitError ? err.message : `the orchestrator could not be asked: ${(err as Error).message}`);
    }
  }

  /** watches the directory for the program's run `epoch` here; resolves once changes are seen */
  async function follow(id: number, epoch: number): Promise<void> {
    const old = watches.get(id);
    if (old?.epoch === epoch) return old.ready;
    if (old) unfollow(id);
    const dir = ensureDir(id);
    // a run restored here from another process's checkpoint: CRIU reopens the files it had open
    // in its control directory, so they must exist before the orchestrator's word fills them in
    if (!existsSync(join(dir, 'whereami'))) show(id, { nmigs: 0, locked: false, needMemBytes: 0, checkpoints: 0 }, new Set());
    // what is there already is no request to this agent: the orchestrator answers it, if anything
    const watcher = watch(dir, { ignoreInitial: true, followSymlinks: false, depth: 0, awaitWriteFinish: { stabilityThreshold: SETTLE_MS, pollInterval: 10 } });
    const ready = new Promise<void>((resolve) => {
      watcher.once('ready', () => resolve());
      // a watcher that never gets ready must not hold a launch or a restore back
      setTimeout(resolve, READY_MAX_MS).unref();
    });
    const w: Watch = { epoch, watcher, ready, pending: new Set() };
    const handle = (path: string) => void onFile(id, w, path).catch((err: unknown) => log.warn({ err, process: id }, `control request of process ${id} failed`));
    watcher.on('add', handle).on('change', handle).on('error', (err) => log.warn({ err, process: id }, `watching the control directory of process ${id} failed`));
    watches.set(id, w);
    return ready;
  }

  function unfollow(id: number): void {
    const w = watches.get(id);
    if (!w) return;
    watches.delete(id);
    w.watcher.close().catch((err: unknown) => log.warn({ err, process: id }, 'closing a control watcher failed'));
  }

  /** the program ended here: its directory goes */
  function remove(id: number): void {
    unfollow(id);
    // removing it would detach the view mounted over it in the recovered program's namespace
    // (since Linux 3.18 a mount point in another namespace can be removed): it stays
    if (existsSync(join(dirOf(id), MOUNTED_OVER))) return;
    try {
      if (existsSync(dirOf(id))) rmSync(dirOf(id), { recursive: true, force: true });
    } catch (err) {
      // a process recovered from its checkpoint has its own view mounted there (EBUSY): it stays
      log.debug({ err, process: id }, `the control directory of process ${id} stays`);
    }
  }

  return {
    dirOf,
    follow,
    unfollow,
    remove,

    /**
     * CRIU mounts the program's control view where the program saw it, which must be a
     * directory: a process recovered from another's checkpoint sees its own files at the path
     * the checkpointed one had (its GODWIT_CONTROL). Only a process directory here is made.
     */
    ensureMountpoint(at: string, id: number): void {
      if (dirname(at) !== root || !/^\d+$/.test(basename(at))) return;
      if (!existsSync(at)) mkdirSync(at, { mode: DIR_MODE });
      // another process's directory, which the node where that one ended must leave alone now
      if (at === dirOf(id)) return;
      try {
        // never through whatever the owner may have put there: O_EXCL
        writeFileSync(join(at, MOUNTED_OVER), `${id}\n`, { mode: 0o600, flag: 'wx' });
      } catch (err) {
        passOver(err, ['EEXIST']);
      }
    },

    /** before a launch: the directory with its first contents, watched */
    async open(id: number, state: ControlState): Promise<string> {
      show(id, state, new Set());
      await follow(id, 0);
      return dirOf(id);
    },

    /** the orchestrator's word: the state to show, and the answer to a request */
    async update(id: number, upd: ControlUpdate): Promise<void> {
      const cur = procs.current(id);
      if (!cur || cur.state !== 'running') throw new GodwitError('GODWIT_ERR_PROCESS_NOT_RUNNING', `process ${id} is not running on ${node}`);
      const w = watches.get(id);
      show(id, upd.state, w?.epoch === cur.epoch ? w.pending : new Set(), upd.answer);
      await follow(id, cur.epoch);
      if (upd.answer) watches.get(id)?.pending.delete(upd.answer.kind);
    },

    /**
     * Follows what runs here, from disk (so a restarted agent picks up its programs): a program
     * that left stops being watched, and the directory of one that ended here goes.
     */
    sync(): void {
      const latest = new Map<number, AgentProc>();
      for (const p of procs.list()) if ((latest.get(p.id)?.epoch ?? -1) < p.epoch) latest.set(p.id, p);
      for (const p of latest.values()) {
        const w = watches.get(p.id);
        // a restore here, under way: its run has no record yet; a dump: its tree ends before
        // the dump is recorded, and must not pass for an exit
        if ((w && w.epoch > p.epoch) || procs.dumping.has(p.id)) continue;
        if (p.state === 'running') {
          if (existsSync(dirOf(p.id))) follow(p.id, p.epoch).catch((err: unknown) => log.warn({ err, process: p.id }, `could not watch the control directory of process ${p.id}`));
        } else if (p.state === 'exited') remove(p.id);
        else if (p.state === 'dumped' || p.state === 'stopped') unfollow(p.id);
      }
    },

    close(): void {
      for (const id of [...watches.keys()]) unfollow(id);
    },
  };
}

export type Control = ReturnType<typeof createControl>;
