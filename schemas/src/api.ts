/** The orchestrator's public REST API (/v1), what the CLI and schedulers see: processes, signals, events, who the caller is; nodes, checkpoints, migrations and output in api-*.ts. */
import Type, { type Static } from 'typebox';
import { Closed } from './closed.js';
import { ARG_MAX, ARGS_MAX, FILE_PATH_MAX, ID_DIGITS_MAX } from './limits.js';
import { ERROR_CODES } from './errors.js';
import { SIGNAL_NAMES } from './signals.js';
import { NodeName } from './api-nodes.js';
import { CheckpointPolicy } from './api-checkpoints.js';
import { ATTACHED_DESCRIPTION } from './api-output.js';
import { Died } from './died.js';

export const ErrorBody = Closed({
  statusCode: Type.Integer(),
  /** one of the catalogue's codes (errors.ts), listed in the OpenAPI document */
  code: Type.Union(ERROR_CODES.map((c) => Type.Literal(c))),
  error: Type.String(),
  message: Type.String(),
  details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
});

/** what a route answers besides its success, in its schema's `response`: the one error shape, whatever the status */
export const ErrorAnswers = { '4xx': ErrorBody, '5xx': ErrorBody };

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

export const Process = Closed({
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
  died: Type.Union([Died, Type.Null()], { description: 'why it died (a signal, its node\'s memory limit); null while it runs and when it exited by itself' }),
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
  checkpointCompress: Type.Union([Type.Boolean(), Type.Null()], { description: "its checkpoints LZ4-compressed or not (mosrun --compress / --no-compress); null: as the cluster's compress.checkpoints" }),
  checkpoints: Type.Integer({ description: 'checkpoints taken so far' }),
  lastCheckpointAt: Type.Union([Type.Integer(), Type.Null()]),
  recoverOnFailure: Type.Boolean({ description: 'recovered from its latest checkpoint on another node if its node is lost' }),
  exitCheckpoint: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'the checkpoint after which `mosmigrate ID exit` ended it: `mosrun -R` this file brings it back; null when it ended otherwise' })),
  attached: Type.Boolean({ description: ATTACHED_DESCRIPTION }),
  address: Type.Optional(Type.Union([Type.String(), Type.Null()], {
    description: 'its own address on the cluster network (mosrun --ip), in a network namespace of its own; null: it uses its node\'s network',
  })),
  autoCheckpointsPaused: Type.Optional(Type.Union([Type.String(), Type.Null()], {
    description: 'why its automatic checkpoints (mosrun -A) are paused: the next would pass its owner\'s checkpoint quota; they resume once it fits. null: not paused',
  })),
});
export type Process = Static<typeof Process>;

export const RunRequest = Closed({
  argv: Type.Array(Type.String({ minLength: 1, maxLength: ARG_MAX }), { minItems: 1, maxItems: ARGS_MAX }),
  cwd: Type.String({ pattern: '^/', maxLength: FILE_PATH_MAX }),
  env: Type.Optional(Type.Record(Type.String(), Type.String({ maxLength: ARG_MAX }), { maxProperties: ARGS_MAX })),
  homeNode: Type.Optional(NodeName),
  node: Type.Optional(NodeName),
  best: Type.Optional(Type.Boolean({ description: 'start on the node with the most spare CPU now (MOSIX mosrun -b); not with node' })),
  memMiB: Type.Optional(Type.Integer({ minimum: 1, description: 'only on a node with this much free memory (MOSIX mosrun -m)' })),
  locked: Type.Optional(Type.Boolean({ description: 'never move it automatically (MOSIX mosrun -L)' })),
  checkpoint: Type.Optional(CheckpointPolicy),
  recoverOnFailure: Type.Optional(Type.Boolean({ description: 'if its node is lost, recover it elsewhere from its latest checkpoint' })),
  attached: Type.Optional(Type.Boolean({ description: ATTACHED_DESCRIPTION })),
  ip: Type.Optional(Type.Boolean({ description: "an address of its own from the cluster's pool, in a network namespace of its own, loopback included (mosrun --ip); default: the configuration's addresses.default" })),
});
export type RunRequest = Static<typeof RunRequest>;

export type SignalName = (typeof SIGNAL_NAMES)[number];
export const SignalName = Type.Unsafe<SignalName>(Type.Union(SIGNAL_NAMES.map((s) => Type.Literal(s))));
export const SignalRequest = Closed({ signal: SignalName });
export type SignalRequest = Static<typeof SignalRequest>;

/** POST /v1/processes/{id}/signal to a frozen process: its signal waits for it to continue (202) */
export const SignalQueued = Closed({
  queued: Type.Literal(true),
  message: Type.String({ description: 'in words: what waits, and what brings it to the program' }),
});
export type SignalQueued = Static<typeof SignalQueued>;

export const Event = Closed({
  id: Type.Integer(),
  at: Type.Integer(),
  processId: Type.Union([Type.Integer(), Type.Null()]),
  node: Type.Union([Type.String(), Type.Null()]),
  kind: Type.String(),
  message: Type.String(),
});
export type Event = Static<typeof Event>;

/** a watch stream's `gap` event: events after `after` were pruned before it could send them */
export const EventGap = Closed({
  after: Type.Integer({ description: 'the last event id the stream had sent, or resumed from' }),
  firstKept: Type.Integer({ description: 'the first event id the stream can give: those between were pruned' }),
  message: Type.String(),
});
export type EventGap = Static<typeof EventGap>;

/** a number in a path or query: an id, an epoch */
export const Digits = Type.String({ pattern: '^[0-9]+$', maxLength: ID_DIGITS_MAX });

export const IdParam = Closed({
  id: Type.String({ pattern: '^[0-9]+$', maxLength: ID_DIGITS_MAX, description: "godwit's process id, or the process's home PID" }),
});

/**
 * The request header in which an agent names the Unix account of a local caller (whom the
 * kernel identified on its socket) when it passes the request on with its node token; the
 * orchestrator honours it with a node token only.
 */
export const ACCOUNT_HEADER = 'x-godwit-account';

/** who the caller is to the orchestrator (GET /v1/whoami) */
export const Whoami = Closed({
  user: Type.String(),
  admin: Type.Boolean(),
  /** the Unix account the user's programs run as */
  account: Type.String(),
});
export type Whoami = Static<typeof Whoami>;

/** GET /v1/local/whoami on an agent's local socket: Whoami, and the node it speaks for */
export const LocalWhoami = Closed({ ...Whoami.properties, node: NodeName });
export type LocalWhoami = Static<typeof LocalWhoami>;
