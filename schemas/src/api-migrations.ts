/** Migrations in the public API: moving, freezing and continuing a process, and why one cannot move. */
import Type, { type Static } from 'typebox';
import { Closed } from './closed.js';
import { NodeName } from './api-nodes.js';
import { NAME_MAX } from './limits.js';
import { CarryPlan } from './api-carry.js';

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

export const MigrationStep = Closed({ state: MigrationState, at: Type.Integer() });

export const Migration = Closed({
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
export const MigrationProgress = Closed({
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

export const MigrateRequest = Closed({
  to: Type.String({ minLength: 1, maxLength: NAME_MAX, description: "a node name, or 'home'" }),
  strategy: Type.Optional(Strategy),
  carryMaxBytes: Type.Optional(Type.Integer({ minimum: 0, description: "the most bytes of node-local files this move may carry (the node's carry.maxBytes when left out)" })),
  compress: Type.Optional(Type.Boolean({ description: "LZ4-compress the images (memory included: it goes with them, not through CRIU's page server) between the nodes; the cluster's compress.moves when left out" })),
});
export type MigrateRequest = Static<typeof MigrateRequest>;

/** GET /v1/processes/{id}/why: every reason it cannot move now (openMosix's /proc/PID/cantmove) */
export const WhyResult = Closed({
  processId: Type.Integer(),
  movable: Type.Boolean(),
  reasons: Type.Array(Type.String(), { description: 'in words; empty when it can move' }),
  notAutomatically: Type.Array(Type.String(), { description: 'why the balancer leaves it where it is, though mosmigrate could move it' }),
  ruledOut: Type.Array(Closed({ node: Type.String(), reason: Type.String() }), {
    description: 'online nodes it cannot go to, by mosmigrate or automatically, each with the reason (their CPU lacks features its CPU has)',
  }),
  to: Type.Optional(NodeName),
  carry: Type.Optional(Type.Union([CarryPlan, Type.Null()], { description: "the files it uses and what a move would do with each; null when its node could not look" })),
  strategy: Type.Optional(
    Closed(
      { strategy: Type.Union([Type.Literal('full'), Type.Literal('lazy')]), reason: Type.String() },
      { description: "with `to`: how the move would take its memory (the strategy asked, `auto` by default, as decided from the node's look), and why" },
    ),
  ),
});
/** GET /v1/processes/{id}/why's query: a move to `to` (a node, or 'home'), with this carry limit (a dry run of mosmigrate) */
export const WhyQuery = Closed({
  to: Type.Optional(Type.String({ minLength: 1, maxLength: NAME_MAX })),
  carryMaxBytes: Type.Optional(Type.Integer({ minimum: 0 })),
  strategy: Type.Optional(Strategy),
});
export type WhyQuery = Static<typeof WhyQuery>;
export type WhyResult = Static<typeof WhyResult>;

export const ContinueRequest = Closed({
  to: Type.Optional(Type.String({ minLength: 1, maxLength: NAME_MAX, description: "where to bring it back: a node name, or 'home' (the default)" })),
});
export type ContinueRequest = Static<typeof ContinueRequest>;
