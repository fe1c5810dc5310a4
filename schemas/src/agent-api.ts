/**
 * What the orchestrator and the agents say to each other. The orchestrator calls each agent's
 * REST API with that agent's node token; agents report to the orchestrator over a websocket.
 */
import Type, { type Static } from 'typebox';
import { Closed } from './closed.js';
import { ARG_MAX, ARGS_MAX, FILE_PATH_MAX, IPV4_PATTERN, LIST_MAX, NAME_MAX, TEXT_MAX } from './limits.js';
import { OpenFile, RecoveryFilePath } from './api-checkpoints.js';
import { NodeFeatures, NodeLoad, NodePlatform } from './api-nodes.js';
import { OutputStream } from './api-output.js';
import { ControlState } from './control.js';
import { CarriedPlaces, CarryPlan } from './api-carry.js';
import { CpuCheckRequest } from './cpu-features.js';

/** Inodes of the pipes that are the program's stdin/stdout/stderr: CRIU names them pipe:[INODE]. */
export const StreamInodes = Closed({ in: Type.Integer(), out: Type.Integer(), err: Type.Integer() });
export type StreamInodes = Static<typeof StreamInodes>;

export const AgentProcState = Type.Union([
  Type.Literal('running'),
  Type.Literal('dumping'),
  Type.Literal('exited'),
  Type.Literal('dumped'),
  /** dumped with its pages sent straight to the destination, held stopped until the move ends */
  Type.Literal('stopped'),
]);

/** One run of a program on one node. Each restore starts a new epoch (epoch 0 is the launch). */
export const AgentProc = Closed({
  id: Type.Integer(),
  epoch: Type.Integer(),
  state: AgentProcState,
  rootPid: Type.Integer({ description: 'host PID of tini, PID 1 of the program’s namespaces' }),
  pid: Type.Union([Type.Integer(), Type.Null()], { description: 'host PID of the program itself' }),
  inodes: StreamInodes,
});
export type AgentProc = Static<typeof AgentProc>;

/** a Unix account's name, as the node's user database knows it */
export const AccountName = Type.String({ pattern: '^[A-Za-z0-9_][A-Za-z0-9_.-]*$', maxLength: 64 });

/** A program's own address on the cluster network, from the orchestrator's pool (mosrun --ip). */
export const ProgramNet = Closed({
  address: Type.String({ pattern: IPV4_PATTERN }),
  prefixLength: Type.Integer({ minimum: 1, maximum: 32 }),
  gateway: Type.Optional(Type.String({ pattern: IPV4_PATTERN })),
});
export type ProgramNet = Static<typeof ProgramNet>;

export const LaunchRequest = Closed({
  id: Type.Integer(),
  /** whose program it is: it runs as this account, with no capabilities */
  account: AccountName,
  argv: Type.Array(Type.String({ maxLength: ARG_MAX }), { minItems: 1, maxItems: ARGS_MAX }),
  cwd: Type.String({ maxLength: FILE_PATH_MAX }),
  env: Type.Record(Type.String(), Type.String({ maxLength: ARG_MAX }), { maxProperties: ARGS_MAX }),
  /** what its control directory starts with */
  control: ControlState,
  /** its own address: it starts in a network namespace of its own with this address (net-namespace.ts) */
  net: Type.Optional(ProgramNet),
});
export type LaunchRequest = Static<typeof LaunchRequest>;

/** A destination's CRIU page server, ready to take a dump's memory pages over TCP. */
export const PageServer = Closed({ host: Type.String({ maxLength: NAME_MAX }), port: Type.Integer() });
export type PageServer = Static<typeof PageServer>;

export const DumpRequest = Closed({
  migrationId: Type.Integer(),
  /**
   * Where to send the memory pages while dumping. The source then keeps the program stopped,
   * not dead, until told to finish (it moved) or resume (it did not). Used only where resuming
   * is safe (no TCP connections); otherwise the pages go to the source's disk as usual.
   */
  pageServer: Type.Optional(PageServer),
  /**
   * Dump all but the memory and serve the pages from the stopped tree, on demand, until the
   * destination has them all (post-copy). Overrides pageServer.
   */
  lazy: Type.Optional(Type.Boolean()),
  /** the most bytes of node-local files this move may carry: overrides the agent's carry.maxBytes */
  carryMaxBytes: Type.Optional(Type.Integer({ minimum: 0 })),
});
export type DumpRequest = Static<typeof DumpRequest>;
/** whether a stand-in keeps the program's home PID on the node it left (agent/src/deputies.ts), and why not */
export const HomePid = Closed({
  pid: Type.Integer(),
  kept: Type.Boolean(),
  reason: Type.Optional(Type.String({ maxLength: TEXT_MAX })),
});
export type HomePid = Static<typeof HomePid>;

export const DumpResult = Closed({
  epoch: Type.Integer(),
  inodes: StreamInodes,
  stoppedAt: Type.Integer({ description: 'ms since the epoch when CRIU, started to stop the tree, began (the program ran until then)' }),
  dumpMs: Type.Integer(),
  bytes: Type.Integer({ description: 'size of the images' }),
  direct: Type.Boolean({ description: 'the pages went to the page server; the program is stopped at the source' }),
  lazy: Type.Boolean({ description: 'the pages stay at the source, served to the destination on demand' }),
  /** the program's first run ended here with this dump */
  homePid: Type.Optional(HomePid),
  /** the node-local files the images carry: a continue elsewhere asks its node whether their places are free */
  carried: Type.Optional(CarriedPlaces),
});
export type DumpResult = Static<typeof DumpResult>;

/**
 * A destination's credential for one move (POST /v1/images/MIGRATION/expect): it lets the
 * source PUT that migration's images there once, and nothing else; node tokens stay with the
 * orchestrator.
 */
export const MoveCredential = Type.String({ pattern: '^[0-9a-f]{64}$' });
export const ExpectResult = Closed({
  credential: MoveCredential,
  /** ms since the epoch after which the destination refuses it, used or not */
  expiresAt: Type.Integer(),
});
export type ExpectResult = Static<typeof ExpectResult>;

export const SendRequest = Closed({
  migrationId: Type.Integer(),
  /** LZ4-compressed before they are sealed (default false) */
  compress: Type.Optional(Type.Boolean()),
  to: Closed({ url: Type.String({ maxLength: NAME_MAX }), credential: MoveCredential }),
});
export type SendRequest = Static<typeof SendRequest>;
export const SendResult = Closed({ bytes: Type.Integer(), ms: Type.Integer() });
export type SendResult = Static<typeof SendResult>;
/** images or files received (PUT), or held (GET /v1/images/MIGRATION): how many bytes */
export const ReceiveResult = Closed({ bytes: Type.Integer() });

/** a node's programs (GET /v1/procs): every run of each that the node still holds */
export const AgentProcList = Type.Array(AgentProc, { maxItems: LIST_MAX });

/** The program runs at the destination: what its stopped copy at the source leaves behind. */
export const FinishResult = Closed({
  unread: Type.String({ description: 'base64 of the input it had not read, for the destination' }),
  stdinClosed: Type.Boolean(),
  /** the stopped copy was the program's first run */
  homePid: Type.Optional(HomePid),
});
export type FinishResult = Static<typeof FinishResult>;

export const RestoreRequest = Closed({
  migrationId: Type.Integer(),
  /** whose program it is: the files opened for it are opened with this account's rights */
  account: AccountName,
  /** the epoch the restored run starts; the dumped one was epoch - 1 */
  epoch: Type.Integer(),
  inodes: StreamInodes,
  /** output streams whose reader is gone: the restored program's next write there gets SIGPIPE */
  closedOutput: Type.Optional(Type.Array(OutputStream, { maxItems: 2 })),
});
export type RestoreRequest = Static<typeof RestoreRequest>;

/** POST /v1/procs/:id/epochs/:epoch/taken: the orchestrator has stored the epoch's output up to this file offset */
export const TakenRequest = Closed({ offset: Type.Integer({ minimum: 0 }) });
export type TakenRequest = Static<typeof TakenRequest>;

/** POST /v1/procs/:id/output/close: the program's run here stops giving these streams a reader */
export const CloseStreamsRequest = Closed({ streams: Type.Array(OutputStream, { maxItems: 2 }) });
export type CloseStreamsRequest = Static<typeof CloseStreamsRequest>;
export const RestoreResult = Closed({
  rootPid: Type.Integer(),
  pid: Type.Union([Type.Integer(), Type.Null()]),
  inodes: StreamInodes,
  restoredAt: Type.Integer({ description: 'ms since the epoch when the restored tree was running' }),
  restoreMs: Type.Integer(),
});
export type RestoreResult = Static<typeof RestoreResult>;

/** A path under the cluster's checkpoint directory (the agents' `checkpointDir`), relative to it. */
export const CheckpointPath = Type.String({ pattern: '^[A-Za-z0-9_][A-Za-z0-9._-]*(/[A-Za-z0-9_][A-Za-z0-9._-]*)*$', maxLength: 1024 });

export const TakeCheckpointRequest = Closed({
  path: CheckpointPath,
  /** run: the program goes on; exit: it ends once its checkpoint is safe */
  then: Type.Union([Type.Literal('run'), Type.Literal('exit')]),
  /**
   * the most bytes the file may take (what its owner's quota leaves): a larger one is not kept,
   * the file it would replace stays, and the answer is GODWIT_ERR_CHECKPOINT_QUOTA
   */
  maxBytes: Type.Optional(Type.Integer({ minimum: 1 })),
  /** LZ4-compressed before it is sealed (default true) */
  compress: Type.Optional(Type.Boolean()),
});
export type TakeCheckpointRequest = Static<typeof TakeCheckpointRequest>;
/** a checkpoint file's id, hex: the SHA-256 of its sealed header (agent/src/at-rest.ts), as the orchestrator records it */
export const CheckpointMac = Type.String({ pattern: '^[0-9a-f]{64}$' });

export const TakeCheckpointResult = Closed({
  bytes: Type.Integer(),
  /** what the file packs before compression */
  plainBytes: Type.Integer(),
  mac: CheckpointMac,
  takenAt: Type.Integer(),
  stoppedMs: Type.Integer(),
  files: Type.Array(OpenFile, { maxItems: LIST_MAX }),
});
export type TakeCheckpointResult = Static<typeof TakeCheckpointResult>;

/** Unpacks a checkpoint into the images of a migration (a recovery), ready for a restore. */
export const StageCheckpointRequest = Closed({
  path: CheckpointPath,
  /** who recovers it: the files written back or opened for it are this account's to write and open */
  account: AccountName,
  /** the id recorded when it was taken: a file with another, or whose seal does not verify, is refused */
  mac: CheckpointMac,
  migrationId: Type.Integer(),
  /** the process it becomes (a recovery with -R makes a new one) */
  processId: Type.Integer(),
  remap: Type.Record(Type.String({ pattern: '^[0-9]+$' }), RecoveryFilePath, { maxProperties: LIST_MAX }),
  acceptChanged: Type.Boolean(),
});
export type StageCheckpointRequest = Static<typeof StageCheckpointRequest>;
export const StageCheckpointResult = Closed({
  inodes: StreamInodes,
  argv: Type.Array(Type.String({ maxLength: ARG_MAX }), { maxItems: ARGS_MAX }),
  cwd: Type.String({ maxLength: FILE_PATH_MAX }),
  /** files written back from the checkpoint, and files opened in place of changed or remapped ones ("PATH -> OPENED") */
  restoredFiles: Type.Array(Type.String({ maxLength: FILE_PATH_MAX }), { maxItems: LIST_MAX }),
  substituted: Type.Array(Type.String({ maxLength: 2 * FILE_PATH_MAX + 4 }), { maxItems: LIST_MAX }),
});
export type StageCheckpointResult = Static<typeof StageCheckpointResult>;

/** The sizes now of files a checkpoint had open (MOSIX mosrun -I), read on a node as the checkpoint's owner. */
export const FileSizesRequest = Closed({
  /** whose checkpoint it is: the sizes are those this account can see, through no symbolic link */
  account: AccountName,
  paths: Type.Array(Type.String({ pattern: '^/', maxLength: FILE_PATH_MAX }), { maxItems: LIST_MAX }),
});
export type FileSizesRequest = Static<typeof FileSizesRequest>;
export const FileSizesResult = Closed({
  sizes: Type.Array(Type.Union([Type.Integer(), Type.Null()], { description: 'null: it is gone, out of the owner\'s reach, or a symbolic link' }), { maxItems: LIST_MAX }),
});
export type FileSizesResult = Static<typeof FileSizesResult>;

export const CheckpointManifest = Closed({
  version: Type.Literal(1),
  processId: Type.Integer(),
  node: Type.String(),
  takenAt: Type.Integer(),
  argv: Type.Array(Type.String()),
  cwd: Type.String(),
  files: Type.Array(OpenFile),
});
export type CheckpointManifest = Static<typeof CheckpointManifest>;

/** What a look at a running program (without stopping it) says about moving it. */
export const ProcInspection = Closed({
  /** why it cannot move at all */
  reasons: Type.Array(Type.String({ maxLength: TEXT_MAX }), { maxItems: LIST_MAX }),
  /** why it cannot move lazily */
  lazyReasons: Type.Array(Type.String({ maxLength: TEXT_MAX }), { maxItems: LIST_MAX }),
  residentBytes: Type.Integer(),
  /**
   * what a lazy move would add to its memory: private pages its processes share copy-on-write,
   * each counted once per process beyond the first (a lazy restore gives each its own copy)
   */
  copyOnWriteExtraBytes: Type.Integer({ minimum: 0 }),
  /** the files it uses, and what a move would do with them */
  carry: CarryPlan,
});
export type ProcInspection = Static<typeof ProcInspection>;
/** what a move's carry limit would be (the agent's carry.maxBytes when left out) */
export const InspectQuery = Closed({ carryMaxBytes: Type.Optional(Type.Integer({ minimum: 0 })) });
export type InspectQuery = Static<typeof InspectQuery>;

/** How long an answer about a transfer may wait for its end: the end is then known at once, not at the next question. */
export const LazyStatusQuery = Closed({ waitMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 5000 })) });
export type LazyStatusQuery = Static<typeof LazyStatusQuery>;

/** The destination's side of a lazy migration's background transfer. */
export const LazyStatus = Closed({
  running: Type.Boolean({ description: 'pages are still coming from the source' }),
  ok: Type.Boolean({ description: 'no error so far (when not running: every page arrived)' }),
  onDemandBytes: Type.Integer(),
  backgroundBytes: Type.Integer(),
  reason: Type.Union([Type.String({ maxLength: TEXT_MAX }), Type.Null()]),
  endedAt: Type.Union([Type.Integer(), Type.Null()], { description: 'when the daemon was seen to end (when ok: when the last page was in)' }),
});
export type LazyStatus = Static<typeof LazyStatus>;

export const AgentHello = Closed({
  type: Type.Literal('hello'),
  node: Type.String({ maxLength: NAME_MAX }),
  url: Type.String({ maxLength: NAME_MAX }),
  features: NodeFeatures,
  platform: NodePlatform,
  /** CRIU's record of this node's CPU (`criu cpuinfo dump`'s cpuinfo.img), which a destination checks before a program comes from here; absent when CRIU could not write it */
  cpuinfo: Type.Optional(CpuCheckRequest.properties.cpuinfo),
  procs: Type.Array(AgentProc, { maxItems: LIST_MAX }),
});
export type AgentHello = Static<typeof AgentHello>;

export const AgentLoadMessage = Closed({ type: Type.Literal('load'), load: NodeLoad });
export type AgentLoadMessage = Static<typeof AgentLoadMessage>;

export type AgentMessage = AgentHello | AgentLoadMessage;

/**
 * The exit frame ends each epoch's output stream. `dumped` says the epoch ended because CRIU
 * dumped the program (it goes on in the next epoch), not because it exited.
 */
export const EpochEnd = Closed({
  code: Type.Union([Type.Integer(), Type.Null()]),
  signal: Type.Union([Type.String(), Type.Null()]),
  dumped: Type.Boolean(),
  /** OOM kills the kernel counted in the epoch's own memory control group; absent when not counted */
  oomKills: Type.Optional(Type.Integer({ minimum: 0 })),
});
export type EpochEnd = Static<typeof EpochEnd>;
