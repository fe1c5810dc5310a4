/** What the orchestrator's modules share. */
import type { FastifyBaseLogger } from 'fastify';
import type { AgentClient } from './agent-client.js';
import type { Bus } from './bus.js';
import type { Config } from './config.js';
import type { Db } from './db.js';
import type { NodeRegistry } from './nodes.js';

export interface Tunables {
  /** longest wait between output pulls that failed */
  retryMaxMs: number;
  /** how long reconcile waits for a migration's nodes to come online before looking anyway */
  reconcileWaitMs: number;
  /** how long reconcile waits for an agent still dumping */
  dumpingWaitMs: number;
}

export const DEFAULT_TUNABLES: Tunables = { retryMaxMs: 2000, reconcileWaitMs: 30_000, dumpingWaitMs: 10 * 60_000 };

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
