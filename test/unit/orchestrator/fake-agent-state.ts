/**
 * What a fake agent holds: its programs' runs (epochs) with their output, the images of
 * migrations, and the knobs a test turns. The routes (fake-agent-*-routes.ts) work on it the way
 * the real agent's routes work on its stores, in the real agent's types (schemas/).
 */
import {
  type AgentProc,
  type ControlUpdate,
  encodeFrame,
  type EpochEnd,
  type ErrorCode,
  GodwitError,
  type LaunchRequest,
  type LazyStatus,
  type NodeFeatures,
  type NodePlatform,
  type OpenFile,
  type OutputStream,
  type SendRequest,
  type StreamInodes,
} from '@godwit/schemas';
import type { MoveCredentials } from '../../../agent/src/move-credentials.js';

export interface FakeEpoch {
  proc: AgentProc;
  out: Buffer;
  ended: boolean;
  stdin: Buffer[];
  eof: boolean;
  signals: string[];
  launch?: LaunchRequest;
  listeners: Set<() => void>;
  /** how far the orchestrator said it stored this run's output (POST .../taken) */
  taken?: number;
  /** streams whose reader is gone (POST .../output/close) */
  closed?: OutputStream[];
  /** the last control state and answer the orchestrator sent (PUT .../control) */
  control?: ControlUpdate;
}

/** the images of one migration; direct or lazy: the dumped run is held stopped at the source */
export interface FakeImages {
  id: number;
  epoch: number;
  inodes: StreamInodes;
  direct?: boolean;
  lazy?: boolean;
}

/** a checkpoint file as the cluster's shared checkpoint directory holds it, by its relative path */
export interface FakeCheckpointFile {
  processId: number;
  inodes: StreamInodes;
  mac: string;
  argv: string[];
  cwd: string;
  files: OpenFile[];
}

export interface Failure {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

export type FailingCall = 'launch' | 'account' | 'dump' | 'send' | 'restore' | 'output' | 'checkpoint' | 'stage' | 'pageServer';

export interface FakeState {
  name: string;
  epochs: Map<string, FakeEpoch>;
  images: Map<number, FakeImages>;
  /** the credentials of the moves it expects images of: the real agent's */
  credentials: MoveCredentials;
  /** the bodies of POST /v1/procs/:id/send, as the orchestrator sent them */
  sends: SendRequest[];
  /** the shared checkpoint directory: one map for all the agents of a cluster */
  checkpointFiles: Map<string, FakeCheckpointFile>;
  /** what GET /v1/images/:mid/lazy says at the destination; a migration not here has all its pages */
  lazy: Map<number, LazyStatus>;
  /** sizes of files now, as POST /v1/file-sizes reads them; a path not here is gone */
  fileSizes: Map<string, number>;
  fail: Partial<Record<FailingCall, Failure>>;
  /** what the agent reports it can do: lazyPages makes auto move lazily */
  features: NodeFeatures;
  /** what it reports of its CPU, kernel and CRIU: a test gives nodes different CPUs here */
  platform: NodePlatform;
  /** a dump given a page server sends the pages straight there and holds the program stopped (it has no TCP connection) */
  directDumps: boolean;
  /** what its load reports say of each of its programs' CPU use (idle, by default) */
  cpu: { cpuSeconds: number; cpuDemand: number };
}

let nextPid = 1000;
const key = (id: number, epoch: number) => `${id}:${epoch}`;

export function newInodes(): StreamInodes {
  return { in: nextPid * 10 + 1, out: nextPid * 10 + 2, err: nextPid * 10 + 3 };
}

export function failWith(state: FakeState, call: FailingCall): void {
  const f = state.fail[call];
  if (f) throw new GodwitError(f.code, f.message, f.details);
}

export function epochOf(state: FakeState, id: number, epoch: number): FakeEpoch | undefined {
  return state.epochs.get(key(id, epoch));
}

export function current(state: FakeState, id: number): FakeEpoch | undefined {
  let best: FakeEpoch | undefined;
  for (const e of state.epochs.values()) if (e.proc.id === id && (!best || e.proc.epoch > best.proc.epoch)) best = e;
  return best;
}

export function running(state: FakeState, id: number): FakeEpoch {
  const e = current(state, id);
  if (!e || e.proc.state !== 'running') throw new GodwitError('GODWIT_ERR_PROCESS_NOT_RUNNING', `process ${id} is not running on ${state.name}`);
  return e;
}

export function append(e: FakeEpoch, frame: Buffer): void {
  e.out = Buffer.concat([e.out, frame]);
  for (const l of e.listeners) l();
}

export function newEpoch(state: FakeState, id: number, epoch: number, inodes: StreamInodes): FakeEpoch {
  const pid = nextPid;
  nextPid += 2;
  const e: FakeEpoch = {
    proc: { id, epoch, state: 'running', rootPid: pid, pid: pid + 1, inodes },
    out: Buffer.alloc(0),
    ended: false,
    stdin: [],
    eof: false,
    signals: [],
    listeners: new Set(),
  };
  state.epochs.set(key(id, epoch), e);
  return e;
}

/** the run ends: its output stream gets the exit frame, as the keeper writes it */
export function end(e: FakeEpoch, code: number | null, signal: string | null, dumped: boolean): void {
  e.proc.state = dumped ? 'dumped' : 'exited';
  e.ended = true;
  const frame: EpochEnd = { code, signal, dumped };
  append(e, encodeFrame('x', Buffer.from(JSON.stringify(frame))));
}

/** a dump's images of the running program; held stopped, its run ends only when the move finishes */
export function dumpNow(state: FakeState, id: number, migrationId: number, held: { direct?: boolean; lazy?: boolean } = {}): FakeEpoch {
  const e = running(state, id);
  if (held.direct) e.proc.state = 'stopped';
  else end(e, null, null, true);
  state.images.set(migrationId, { id, epoch: e.proc.epoch, inodes: e.proc.inodes, ...held });
  return e;
}

/** the images of a migration that left the program stopped here, and its run; undefined when it no longer is */
export function stoppedCopy(state: FakeState, id: number, migrationId: number): FakeEpoch | undefined {
  const img = state.images.get(migrationId);
  if (!img || img.id !== id || !img.direct) {
    throw new GodwitError('GODWIT_ERR_NOT_FOUND', `${state.name} holds no stopped copy of process ${id} for migration ${migrationId}`);
  }
  const e = epochOf(state, id, img.epoch);
  return e?.proc.state === 'stopped' ? e : undefined;
}
