/** What the orchestrator's modules share. */
import type { FastifyBaseLogger } from 'fastify';
import type { AgentClient } from './agent-client.js';
import type { Bus } from './bus.js';
import type { Config } from './config.js';
import type { Db } from './db/index.js';
import type { NodeRegistry } from './nodes.js';

export interface Tunables {
  /** longest wait between output pulls that failed */
  retryMaxMs: number;
  /** how long reconcile waits for a migration's nodes to come online before looking anyway */
  reconcileWaitMs: number;
  /** how long reconcile waits for an agent still dumping */
  dumpingWaitMs: number;
  /**
   * how far the kept output may run ahead of the slowest attached follower (output-followers.ts);
   * at most a quarter of outputLimitBytes is used, so rotation never takes what it has not written
   */
  followerLeadBytes: number;
  /** how long an attached program may have no attached follower before it gets SIGHUP (hangup.ts) */
  hangupGraceMs: number;
}

export const DEFAULT_TUNABLES: Tunables = {
  retryMaxMs: 2000,
  reconcileWaitMs: 30_000,
  dumpingWaitMs: 10 * 60_000,
  followerLeadBytes: 128 * 1024,
  hangupGraceMs: 4000,
};

export interface Ctx {
  config: Config;
  db: Db;
  log: FastifyBaseLogger;
  bus: Bus;
  nodes: NodeRegistry;
  agent(node: string): AgentClient;
  tunables: Tunables;
  /** aborted when the orchestrator closes */
  closing: AbortSignal;
}
