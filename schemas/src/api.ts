/** The orchestrator's public REST API (/v1): what the CLI and schedulers see. */
import Type, { type Static } from 'typebox';
import { ERROR_CODES } from './errors.js';
import { FILE_PATH_MAX } from './limits.js';
import { SIGNAL_NAMES } from './signals.js';

export const ErrorBody = Type.Object({
  statusCode: Type.Integer(),
  /** one of the catalogue's codes (errors.ts), listed in the OpenAPI document */
  code: Type.Union(ERROR_CODES.map((c) => Type.Literal(c))),
  error: Type.String(),
  message: Type.String(),
  details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
});

export const NodeName = Type.String({ pattern: '^[a-z][a-z0-9-]{0,31}$', description: 'a node name, e.g. node1' });

/**
 * A file a recovery opens on a user's behalf: absolute, and without control characters, which
 * no one means in a file name and which could split a list of them (a newline).
 */
export const RecoveryFilePath = Type.String({ pattern: '^/[^\\x00-\\x1f\\x7f]*$', maxLength: FILE_PATH_MAX, description: 'an absolute path without control characters' });

/** One program's use of its node, as its agent measures it (the balancer's input). */
export const ProcLoad = Type.Object({
  id: Type.Integer(),
  epoch: Type.Integer(),
  cpuSeconds: Type.Number({ description: 'CPU time used since this run began (a restore starts again at its dumped total)' }),
  cpuRate: Type.Number({ description: 'CPUs it used over the last report' }),
  cpuDemand: Type.Number({ description: 'CPUs it wanted over the last report: running, or runnable and waiting for a CPU or its node\'s quota' }),
  ioBytesPerS: Type.Integer({ description: 'bytes read and written per second over the last report' }),
  rssBytes: Type.Integer(),
});
export type ProcLoad = Static<typeof ProcLoad>;

export const NodeLoad = Type.Object({
  at: Type.Integer({ description: 'ms since the epoch' }),
  cpuCapacity: Type.Number({ description: 'CPUs this node may use' }),
  cpuUsed: Type.Number({ description: 'CPUs in use over the last second' }),
  memTotalBytes: Type.Integer(),
  memFreeBytes: Type.Integer(),
  running: Type.Integer({ description: 'godwit programs running on the node' }),
  procs: Type.Optional(Type.Array(ProcLoad, { description: "its programs' loads; a user who is not an administrator sees only their own" })),
});
export type NodeLoad = Static<typeof NodeLoad>;

export const NodeFeatures = Type.Object({
  criuVersion: Type.String(),
  lazyPages: Type.Boolean(),
  dirtyTracking: Type.Boolean(),
});
export type NodeFeatures = Static<typeof NodeFeatures>;

export const NodeState = Type.Union([Type.Literal('online'), Type.Literal('offline')]);

export const Node = Type.Object({
  name: NodeName,
  url: Type.String(),
  state: NodeState,
  lastSeen: Type.Union([Type.Integer(), Type.Null()]),
  features: Type.Union([NodeFeatures, Type.Null()]),
  load: Type.Union([NodeLoad, Type.Null()]),
  drained: Type.Boolean({ description: 'mosctl drain: nothing new starts or moves here' }),
});
export type Node = Static<typeof Node>;

/** What `mosctl drain` did with each process that was on the node. */
export const DrainResult = Type.Object({
  node: NodeName,
  moved: Type.Array(Type.Object({ processId: Type.Integer(), to: NodeName })),
  frozen: Type.Array(Type.Object({ processId: Type.Integer(), reason: Type.String() })),
  failed: Type.Array(Type.Object({ processId: Type.Integer(), reason: Type.String() })),
});
export type DrainResult = Static<typeof DrainResult>;

export const ProcessState = Type.Union([
  Type.Literal('running'),
  Type.Literal('migrating'),
  /** dumped to disk and stopped: it holds no CPU or memory; `continue` brings it back */
  Type.Literal('frozen'),
  Type.Literal('exited'),
  Type.Literal('lost'),
  /** it never ran: its program could not be started (or recovered); `failure` says why */
  Type.Literal('failed'),
]);
export type ProcessState = Static<typeof ProcessState>;

/**
 * MOSIX's FRZ column: why a process is frozen. M manually, A automatically (its node was short of
 * memory), E expelled from its node, - not frozen. N marks a process that still runs: an automatic
 * freeze was wanted but it cannot be frozen; the mark goes once its node is out of shortage.
 */
export const FreezeReason = Type.Union([Type.Literal('M'), Type.Literal('A'), Type.Literal('E'), Type.Literal('N'), Type.Literal('-')]);
export type FreezeReason = Static<typeof FreezeReason>;

/**
 * What `attached` means, in a request and on a process: when the last follower that attached
 * (GET .../output?follow=true&attach=true, as mosrun does) is gone and none comes back within a
 * few seconds, the program gets SIGHUP, as a local job does when its terminal hangs up. A program
 * started without it is detached: it runs on, its output kept on its home node.
 */
const ATTACHED_DESCRIPTION = 'SIGHUP when its last attached follower is gone for a few seconds (mosrun sends true; mosrun --detach and schedulers leave it out)';

export const Process = Type.Object({
  id: Type.Integer({ description: "godwit's process id" }),
  owner: Type.String(),
  argv: Type.Array(Type.String()),
  cwd: Type.String(),
  homeNode: NodeName,
  node: NodeName,
  pid: Type.Union([Type.Integer(), Type.Null()], { description: 'host PID of the program where it runs now' }),
  origPid: Type.Union([Type.Integer(), Type.Null()], { description: 'host PID it had when started (MOSIX ORIGPID)' }),
  nmigs: Type.Integer(),
  state: ProcessState,
  exitCode: Type.Union([Type.Integer(), Type.Null()]),
  exitSignal: Type.Union([Type.String(), Type.Null()]),
  failure: Type.Union([Type.String(), Type.Null()], { description: 'why it could not start (state failed), as the start request was answered' }),
  createdAt: Type.Integer(),
  endedAt: Type.Union([Type.Integer(), Type.Null()]),
  lastStoppedMs: Type.Union([Type.Integer(), Type.Null()], { description: 'stopped time of the last migration: for a continue, the dump that froze it and the restore that brought it back, not the time it stayed frozen between' }),
  lastFrozenMs: Type.Union([Type.Integer(), Type.Null()], { deprecated: true, description: 'the old name of lastStoppedMs, kept for one version' }),
  lastFrozenForMs: Type.Optional(Type.Union([Type.Integer(), Type.Null()], { description: 'how long it stayed frozen (from its freeze until `continue` began) before its last move; null when that move was no continue' })),
  frz: FreezeReason,
  locked: Type.Boolean({ description: 'never moved by the balancer (mosrun -L); mosmigrate still moves it' }),
  needMemBytes: Type.Integer({ description: 'memory the program said it is about to need (its control file needmem): a destination must have this free beyond its resident memory' }),
  memBytes: Type.Optional(Type.Union([Type.Integer(), Type.Null()], { description: 'resident memory where it runs, from its node’s last report' })),
  outputBytes: Type.Optional(Type.Integer({ description: 'bytes of output so far (stdout and stderr): the offset where a follower starting now begins' })),
  checkpointFile: Type.Union([Type.String(), Type.Null()], { description: 'where its checkpoints go: this path with .1, .2, ... (MOSIX mosrun -C)' }),
  checkpointMax: Type.Union([Type.Integer(), Type.Null()], { description: 'extensions used before they are recycled (mosrun -N); null: no limit' }),
  checkpointEveryMs: Type.Union([Type.Integer(), Type.Null()], { description: 'automatic checkpoints this often (mosrun -A)' }),
  checkpoints: Type.Integer({ description: 'checkpoints taken so far' }),
  lastCheckpointAt: Type.Union([Type.Integer(), Type.Null()]),
  recoverOnFailure: Type.Boolean({ description: 'recovered from its latest checkpoint on another node if its node is lost' }),
  exitCheckpoint: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'the checkpoint after which `mosmigrate ID exit` ended it: `mosrun -R` this file brings it back; null when it ended otherwise' })),
  attached: Type.Boolean({ description: ATTACHED_DESCRIPTION }),
});
export type Process = Static<typeof Process>;

/** MOSIX mosrun -C FILE -N MAX -A MINUTES */
export const CheckpointPolicy = Type.Object({
  file: Type.String({
    minLength: 1,
    description: "checkpoints go to FILE.1, FILE.2, ...: a name (or path) inside the user's checkpoint directory, or an absolute path there",
  }),
  max: Type.Optional(Type.Integer({ minimum: 1, description: 'extensions .1 to .MAX are used, then recycled oldest first' })),
  everyMinutes: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'take one automatically this often (fractions allowed)' })),
});
export type CheckpointPolicy = Static<typeof CheckpointPolicy>;

export const RunRequest = Type.Object({
  argv: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
  cwd: Type.String({ pattern: '^/' }),
  env: Type.Optional(Type.Record(Type.String(), Type.String())),
  homeNode: Type.Optional(NodeName),
  node: Type.Optional(NodeName),
  best: Type.Optional(Type.Boolean({ description: 'start on the node with the most spare CPU now (MOSIX mosrun -b); not with node' })),
  memMiB: Type.Optional(Type.Integer({ minimum: 1, description: 'only on a node with this much free memory (MOSIX mosrun -m)' })),
  locked: Type.Optional(Type.Boolean({ description: 'never move it automatically (MOSIX mosrun -L)' })),
  checkpoint: Type.Optional(CheckpointPolicy),
  recoverOnFailure: Type.Optional(Type.Boolean({ description: 'if its node is lost, recover it elsewhere from its latest checkpoint' })),
  attached: Type.Optional(Type.Boolean({ description: ATTACHED_DESCRIPTION })),
});
export type RunRequest = Static<typeof RunRequest>;

/** A regular file the checkpointed process had open, as its checkpoint recorded it. */
export const OpenFile = Type.Object({
  pid: Type.Integer({ description: 'PID inside the program’s namespace' }),
  fd: Type.Integer(),
  path: Type.String(),
  mode: Type.Union([Type.Literal('r'), Type.Literal('w'), Type.Literal('rw')]),
  append: Type.Boolean(),
  offset: Type.Integer(),
  size: Type.Integer({ description: 'its size at the checkpoint' }),
  saved: Type.Boolean({ description: 'its content is in the checkpoint (a file of its working directory open for writing), and comes back with a recovery' }),
});
export type OpenFile = Static<typeof OpenFile>;

export const Checkpoint = Type.Object({
  id: Type.Integer(),
  processId: Type.Integer(),
  number: Type.Integer({ description: '1 for the first checkpoint of the process, and so on' }),
  path: Type.String({ description: 'the checkpoint file (FILE.N)' }),
  bytes: Type.Integer(),
  mac: Type.String({ description: "HMAC-SHA256 of the file's tar with the cluster key, hex: the tag the file carries in its trailer" }),
  takenAt: Type.Integer(),
  node: NodeName,
  stoppedMs: Type.Integer({ description: 'how long the process was stopped for it' }),
  frozenMs: Type.Integer({ deprecated: true, description: 'the old name of stoppedMs, kept for one version' }),
  files: Type.Array(OpenFile),
});
export type Checkpoint = Static<typeof Checkpoint>;

export const CheckpointRequest = Type.Object({
  then: Type.Optional(
    Type.Union([Type.Literal('run'), Type.Literal('stop'), Type.Literal('exit')], {
      description: "run on (checkpoint, the default), freeze it (checkstop), or end it (exit)",
    }),
  ),
});
export type CheckpointRequest = Static<typeof CheckpointRequest>;

/** MOSIX mosrun -R FILE [-O fd=file,...] */
export const RecoverRequest = Type.Object({
  file: Type.String({ minLength: 1, description: 'the checkpoint file (FILE.N), named as for -C' }),
  node: Type.Optional(NodeName),
  homeNode: Type.Optional(NodeName),
  remap: Type.Optional(Type.Record(Type.String({ pattern: '^[0-9]+$' }), RecoveryFilePath, { description: 'fd → file to open instead of the one it had (MOSIX -O)' })),
  acceptChanged: Type.Optional(Type.Boolean({ description: 'go on although files it had open changed since the checkpoint' })),
  checkpoint: Type.Optional(CheckpointPolicy),
  recoverOnFailure: Type.Optional(Type.Boolean()),
  attached: Type.Optional(Type.Boolean({ description: ATTACHED_DESCRIPTION })),
});
export type RecoverRequest = Static<typeof RecoverRequest>;

/** MOSIX mosrun -I FILE: what a checkpoint holds, and how its files look now */
export const CheckpointInfo = Type.Object({
  path: Type.String(),
  processId: Type.Integer(),
  argv: Type.Array(Type.String()),
  cwd: Type.String(),
  takenAt: Type.Integer(),
  node: NodeName,
  files: Type.Array(Type.Intersect([OpenFile, Type.Object({ sizeNow: Type.Union([Type.Integer(), Type.Null()], { description: "null: it is gone, out of its owner's reach, or a symbolic link" }) })])),
});
export type CheckpointInfo = Static<typeof CheckpointInfo>;

export const MigrationState = Type.Union([
  Type.Literal('requested'),
  Type.Literal('dumping'),
  Type.Literal('dumped'),
  Type.Literal('transferring'),
  Type.Literal('transferred'),
  Type.Literal('restoring'),
  /** lazy: it runs at the destination, and its memory is still being transferred from the source */
  Type.Literal('transferring-memory'),
  Type.Literal('done'),
  Type.Literal('rolling-back'),
  Type.Literal('failed'),
  /** a freeze: dumped, its images kept where it was, until `continue` moves on from 'dumped' */
  Type.Literal('frozen'),
]);
export type MigrationState = Static<typeof MigrationState>;

export const MigrationStep = Type.Object({ state: MigrationState, at: Type.Integer() });

export const Migration = Type.Object({
  id: Type.Integer(),
  processId: Type.Integer(),
  from: NodeName,
  to: NodeName,
  strategy: Type.String(),
  strategyReason: Type.Union([Type.String(), Type.Null()], { description: 'why this strategy: asked for, or what auto saw' }),
  state: MigrationState,
  steps: Type.Array(MigrationStep),
  stoppedMs: Type.Union([Type.Integer(), Type.Null()], { description: 'how long the program was stopped: from its dump until it ran again; for a freeze and its continue, the dump and the restore, without the time it stayed frozen between (frozenForMs)' }),
  frozenMs: Type.Union([Type.Integer(), Type.Null()], { deprecated: true, description: 'the old name of stoppedMs, kept for one version' }),
  frozenForMs: Type.Optional(Type.Union([Type.Integer(), Type.Null()], { description: 'a continued freeze: how long it stayed frozen, from its freeze until `continue` began' })),
  totalMs: Type.Union([Type.Integer(), Type.Null()]),
  bytes: Type.Union([Type.Integer(), Type.Null()], { description: 'image bytes moved' }),
  bytesBeforeResume: Type.Union([Type.Integer(), Type.Null()], { description: 'bytes copied before the process ran again' }),
  totalBytes: Type.Union([Type.Integer(), Type.Null()], { description: 'every byte moved, memory that followed included' }),
  onDemandBytes: Type.Union([Type.Integer(), Type.Null()], { description: 'lazy: memory fetched because the process touched it' }),
  backgroundBytes: Type.Union([Type.Integer(), Type.Null()], { description: 'lazy: memory pushed in the background' }),
  memoryArrivedAt: Type.Union([Type.Integer(), Type.Null()], { description: 'lazy: when the destination had the last page' }),
  sourceReleasedAt: Type.Union([Type.Integer(), Type.Null()], { description: 'lazy: when the source released the last page' }),
  code: Type.Union([Type.String(), Type.Null()], { description: 'error code when failed' }),
  reason: Type.Union([Type.String(), Type.Null()], { description: 'why it failed, in words' }),
  startedAt: Type.Integer(),
  endedAt: Type.Union([Type.Integer(), Type.Null()]),
});
export type Migration = Static<typeof Migration>;

/**
 * A migration's progress, sent over GET /v1/processes/{id}/progress (a websocket) at each step
 * and, while memory moves, as bytes arrive.
 */
export const MigrationProgress = Type.Object({
  migrationId: Type.Integer(),
  processId: Type.Integer(),
  strategy: Type.String(),
  state: MigrationState,
  bytes: Type.Integer({ description: 'bytes moved so far' }),
  totalBytes: Type.Union([Type.Integer(), Type.Null()], { description: 'what should move in all, where known' }),
  at: Type.Integer(),
});
export type MigrationProgress = Static<typeof MigrationProgress>;

export const Strategy = Type.Union([Type.Literal('auto'), Type.Literal('full'), Type.Literal('lazy'), Type.Literal('precopy')]);
export type Strategy = Static<typeof Strategy>;

export const MigrateRequest = Type.Object({
  to: Type.String({ minLength: 1, description: "a node name, or 'home'" }),
  strategy: Type.Optional(Strategy),
});
export type MigrateRequest = Static<typeof MigrateRequest>;

/** GET /v1/processes/{id}/why: every reason it cannot move now (openMosix's /proc/PID/cantmove) */
export const WhyResult = Type.Object({
  processId: Type.Integer(),
  movable: Type.Boolean(),
  reasons: Type.Array(Type.String(), { description: 'in words; empty when it can move' }),
  notAutomatically: Type.Array(Type.String(), { description: 'why the balancer leaves it where it is, though mosmigrate could move it' }),
});
export type WhyResult = Static<typeof WhyResult>;

export const ContinueRequest = Type.Object({
  to: Type.Optional(Type.String({ minLength: 1, description: "where to bring it back: a node name, or 'home' (the default)" })),
});
export type ContinueRequest = Static<typeof ContinueRequest>;

export type SignalName = (typeof SIGNAL_NAMES)[number];
export const SignalName = Type.Unsafe<SignalName>(Type.Union(SIGNAL_NAMES.map((s) => Type.Literal(s))));
export const SignalRequest = Type.Object({ signal: SignalName });
export type SignalRequest = Static<typeof SignalRequest>;

/** POST /v1/processes/{id}/signal to a frozen process: its signal waits for it to continue (202) */
export const SignalQueued = Type.Object({
  queued: Type.Literal(true),
  message: Type.String({ description: 'in words: what waits, and what brings it to the program' }),
});
export type SignalQueued = Static<typeof SignalQueued>;

export const Event = Type.Object({
  id: Type.Integer(),
  at: Type.Integer(),
  processId: Type.Union([Type.Integer(), Type.Null()]),
  node: Type.Union([Type.String(), Type.Null()]),
  kind: Type.String(),
  message: Type.String(),
});
export type Event = Static<typeof Event>;

/**
 * One line of GET /v1/processes/{id}/output (NDJSON). `offset` counts bytes of the process's
 * whole output so far, so a follower that lost its connection resumes with ?offset=.
 */
export const OutputLine = Type.Union([
  Type.Object({
    offset: Type.Integer(),
    stream: Type.Union([Type.Literal('stdout'), Type.Literal('stderr')]),
    data: Type.String({ description: 'base64' }),
  }),
  Type.Object({
    exit: Type.Object({
      code: Type.Union([Type.Integer(), Type.Null()]),
      signal: Type.Union([Type.String(), Type.Null()]),
      checkpoint: Type.Optional(Type.String({ description: 'it was ended after this checkpoint (`mosmigrate ID exit`): `mosrun -R` it to bring it back' })),
    }),
  }),
]);
export type OutputLine = Static<typeof OutputLine>;

export const OutputStream = Type.Union([Type.Literal('stdout'), Type.Literal('stderr')]);
export type OutputStream = Static<typeof OutputStream>;

/**
 * POST /v1/processes/{id}/output/close: whoever read this stream of the program's is gone
 * (mosrun's stdout closed, EPIPE): the program's next write to it gets SIGPIPE, wherever it runs
 * and after any move, as in a local pipeline.
 */
export const CloseOutputRequest = Type.Object({ stream: OutputStream });
export type CloseOutputRequest = Static<typeof CloseOutputRequest>;

/**
 * POST /v1/processes/{id}/output/written: an attached follower has written the output up to
 * `offset` (to mosrun's stdout and stderr). The kept output runs only a short lead ahead of it:
 * what the network holds on the way is not written yet.
 */
export const OutputWrittenRequest = Type.Object({ offset: Type.Integer({ minimum: 0 }) });
export type OutputWrittenRequest = Static<typeof OutputWrittenRequest>;

export const IdParam = Type.Object({
  id: Type.String({ pattern: '^[0-9]+$', description: "godwit's process id, or the process's home PID" }),
});

/** The automatic load balancer's settings (mosctl balance). */
export const BalancerSettings = Type.Object({
  enabled: Type.Boolean(),
  intervalMs: Type.Integer({ minimum: 200, description: 'how often it looks at the loads' }),
  minCpuSeconds: Type.Number({ minimum: 0, description: 'only processes that used this much CPU move' }),
  holdSeconds: Type.Number({ minimum: 0, description: 'a process that moved stays where it went at least this long' }),
  maxMoves: Type.Integer({ minimum: 1, description: 'migrations it runs at once' }),
  autoFreeze: Type.Boolean({
    description: 'on memory shortage, move a process away or else freeze it (FRZ A); bring processes frozen with A or E back when room returns. Independent of `enabled`',
  }),
  memLowPercent: Type.Number({ minimum: 0, maximum: 100, description: 'a node with less free memory than this share of its memory (its control group\'s limit) is short' }),
  thawHoldSeconds: Type.Number({ minimum: 0, description: 'a process frozen automatically stays frozen at least this long' }),
});
export type BalancerSettings = Static<typeof BalancerSettings>;
export const BalancerUpdate = Type.Partial(BalancerSettings);
export type BalancerUpdate = Static<typeof BalancerUpdate>;

/** One move the balancer made or tried, and why. */
export const BalanceDecision = Type.Object({
  at: Type.Integer(),
  processId: Type.Integer(),
  from: NodeName,
  to: NodeName,
  reason: Type.String(),
  migrationId: Type.Union([Type.Integer(), Type.Null()]),
  outcome: Type.String({ description: "'moved', or why the move failed" }),
});
export type BalanceDecision = Static<typeof BalanceDecision>;

export const BalancerStatus = Type.Object({ settings: BalancerSettings, decisions: Type.Array(BalanceDecision) });
export type BalancerStatus = Static<typeof BalancerStatus>;

/**
 * The request header in which an agent names the Unix account of a local caller (whom the
 * kernel identified on its socket) when it passes the request on with its node token; the
 * orchestrator honours it with a node token only.
 */
export const ACCOUNT_HEADER = 'x-godwit-account';

/** who the caller is to the orchestrator (GET /v1/whoami) */
export const Whoami = Type.Object({
  user: Type.String(),
  admin: Type.Boolean(),
  /** the Unix account the user's programs run as */
  account: Type.String(),
});
export type Whoami = Static<typeof Whoami>;

/** GET /v1/local/whoami on an agent's local socket: Whoami, and the node it speaks for */
export const LocalWhoami = Type.Intersect([Whoami, Type.Object({ node: NodeName })]);
export type LocalWhoami = Static<typeof LocalWhoami>;
