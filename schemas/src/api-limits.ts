/**
 * Limits on what one user or caller may consume (OrchestratorConfig.limits), and GET /v1/limits:
 * the limits in force and each user's use of them.
 */
import Type, { type Static } from 'typebox';
import { Closed } from './closed.js';

const GIB = 1024 * 1024 * 1024;
const MIB = 1024 * 1024;

export const Limits = Closed({
  /** bytes of checkpoint files a user may keep, all of their processes together */
  checkpointBytesPerUser: Type.Integer({ minimum: 0 }),
  /** processes a user may have running, migrating or frozen at once */
  liveProcessesPerUser: Type.Integer({ minimum: 0 }),
  /** API requests a minute per caller (a user, or a node for its own calls) */
  requestsPerMinute: Type.Integer({ minimum: 1 }),
  /** the largest request body the API reads (standard input sent to a program is bounded apart) */
  bodyBytes: Type.Integer({ minimum: 1024 }),
  /** the largest websocket message the orchestrator and the agents take */
  frameBytes: Type.Integer({ minimum: 1024 }),
  /** events older than this many days are pruned */
  eventsKeepDays: Type.Number({ minimum: 0 }),
  /** at most this many of the newest events are kept */
  eventsKeepCount: Type.Integer({ minimum: 0 }),
});
export type Limits = Static<typeof Limits>;

/** what a deployment gets where its configuration sets no limit */
export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  checkpointBytesPerUser: 20 * GIB,
  liveProcessesPerUser: 1000,
  requestsPerMinute: 6000,
  bodyBytes: MIB,
  frameBytes: 16 * MIB,
  eventsKeepDays: 30,
  eventsKeepCount: 100_000,
});

/** one user's use of the limits that are per user */
export const LimitsUse = Closed({
  user: Type.String(),
  checkpointBytes: Type.Integer(),
  checkpoints: Type.Integer(),
  liveProcesses: Type.Integer(),
  /** live processes whose automatic checkpoints (-A) are paused, as the next would pass the quota, and why */
  autoCheckpointsPaused: Type.Array(Closed({ processId: Type.Integer(), reason: Type.String() })),
});
export type LimitsUse = Static<typeof LimitsUse>;

/** GET /v1/limits: the limits, and the caller's use (an administrator's: every user's) */
export const LimitsReport = Closed({
  limits: Limits,
  use: Type.Array(LimitsUse),
});
export type LimitsReport = Static<typeof LimitsReport>;
