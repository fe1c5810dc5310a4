/** The cluster's nodes in the public API (/v1/nodes, /v1/balancer): what they are, what they carry, what the balancer did. */
import Type, { type Static } from 'typebox';
import { Closed } from './closed.js';
import { LIST_MAX, NAME_MAX } from './limits.js';

export const NodeName = Type.String({ pattern: '^[a-z][a-z0-9-]{0,31}$', description: 'a node name, e.g. node1' });

/** One program's use of its node, as its agent measures it (the balancer's input). */
export const ProcLoad = Closed({
  id: Type.Integer(),
  epoch: Type.Integer(),
  cpuSeconds: Type.Number({ description: 'CPU time used since this run began (a restore starts again at its dumped total)' }),
  cpuRate: Type.Number({ description: 'CPUs it used over the last report' }),
  cpuDemand: Type.Number({ description: 'CPUs it wanted over the last report: running, or runnable and waiting for a CPU or its node\'s quota' }),
  ioBytesPerS: Type.Integer({ description: 'bytes read and written per second over the last report' }),
  rssBytes: Type.Integer(),
});
export type ProcLoad = Static<typeof ProcLoad>;

export const NodeLoad = Closed({
  at: Type.Integer({ description: 'ms since the epoch' }),
  cpuCapacity: Type.Number({ description: 'CPUs this node may use' }),
  cpuUsed: Type.Number({ description: 'CPUs in use over the last second' }),
  memTotalBytes: Type.Integer(),
  memFreeBytes: Type.Integer(),
  running: Type.Integer({ description: 'godwit programs running on the node' }),
  procs: Type.Optional(Type.Array(ProcLoad, { maxItems: LIST_MAX, description: "its programs' loads; a user who is not an administrator sees only their own" })),
});
export type NodeLoad = Static<typeof NodeLoad>;

export const NodeFeatures = Closed({
  criuVersion: Type.String({ maxLength: NAME_MAX }),
  lazyPages: Type.Boolean(),
  dirtyTracking: Type.Boolean(),
});
export type NodeFeatures = Static<typeof NodeFeatures>;

/**
 * What a node's agent found of its machine as it started: its CPU (the model, the feature names of
 * /proc/cpuinfo less those its configuration masks, and a hash of them), the kernel, and CRIU.
 */
export const NodePlatform = Closed({
  cpuModel: Type.String({ maxLength: NAME_MAX }),
  cpuFeatures: Type.Array(Type.String({ maxLength: NAME_MAX }), { maxItems: LIST_MAX, description: 'the CPU\'s feature names as /proc/cpuinfo gives them, less the masked ones' }),
  cpuMasked: Type.Array(Type.String({ maxLength: NAME_MAX }), { maxItems: LIST_MAX, description: 'features the agent\'s configuration hides (cpuFeatureMask: a simulation of a lesser CPU)' }),
  cpuFeatureHash: Type.String({ maxLength: NAME_MAX, description: 'the first 16 hex digits of the SHA-256 of the sorted feature names: equal hashes, equal features' }),
  kernel: Type.String({ maxLength: NAME_MAX, description: 'the kernel release (uname -r)' }),
  criuVersion: Type.String({ maxLength: NAME_MAX }),
});
export type NodePlatform = Static<typeof NodePlatform>;

export const NodeState = Type.Union([Type.Literal('online'), Type.Literal('offline')]);

export const Node = Closed({
  name: NodeName,
  url: Type.String(),
  state: NodeState,
  lastSeen: Type.Union([Type.Integer(), Type.Null()]),
  features: Type.Union([NodeFeatures, Type.Null()]),
  platform: Type.Union([NodePlatform, Type.Null()], { description: 'its CPU, kernel and CRIU, as its agent reported them at start' }),
  load: Type.Union([NodeLoad, Type.Null()]),
  drained: Type.Boolean({ description: 'mosctl drain: nothing new starts or moves here' }),
});
export type Node = Static<typeof Node>;

/** What `mosctl drain` did with each process that was on the node. */
export const DrainResult = Closed({
  node: NodeName,
  moved: Type.Array(Closed({ processId: Type.Integer(), to: NodeName })),
  frozen: Type.Array(Closed({ processId: Type.Integer(), reason: Type.String() })),
  failed: Type.Array(Closed({ processId: Type.Integer(), reason: Type.String() })),
});
export type DrainResult = Static<typeof DrainResult>;

/** The automatic load balancer's settings (mosctl balance). */
export const BalancerSettings = Closed({
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
export const BalancerUpdate = Type.Partial(BalancerSettings, { additionalProperties: false });
export type BalancerUpdate = Static<typeof BalancerUpdate>;

/** One move the balancer made or tried, and why. */
export const BalanceDecision = Closed({
  at: Type.Integer(),
  processId: Type.Integer(),
  from: NodeName,
  to: NodeName,
  reason: Type.String(),
  migrationId: Type.Union([Type.Integer(), Type.Null()]),
  outcome: Type.String({ description: "'moved', or why the move failed" }),
});
export type BalanceDecision = Static<typeof BalanceDecision>;

export const BalancerStatus = Closed({ settings: BalancerSettings, decisions: Type.Array(BalanceDecision) });
export type BalancerStatus = Static<typeof BalancerStatus>;
