/**
 * What the parts of a program's life on this node (launch, dump, restore, the stopped copy, the
 * lazy daemons) are given: the agent's stores and services, and what is derived once from its
 * configuration.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { AgentConfig } from '@godwit/schemas';
import type { Control } from './control.js';
import type { quotaLifts } from './cpu-quota.js';
import type { Criu } from './criu.js';
import type { Deputies } from './deputies.js';
import type { ImageStore } from './images.js';
import type { PortPicker } from './page-server-ports.js';
import type { ProcStore } from './procs.js';

export interface LifecycleDeps {
  config: Readonly<AgentConfig>;
  criu: Criu;
  procs: ProcStore;
  images: ImageStore;
  /** the ports a lazy move's page server may listen on here */
  ports: PortPicker;
  writeStdin: (dir: string, data: Buffer, eof: boolean) => Promise<void>;
  /** the programs' control directories, where configured */
  control?: Control;
  /** the stand-ins that keep home PIDs */
  deputies?: Pick<Deputies, 'keepHomePid'>;
  /** where failures that are passed over are told */
  log: FastifyBaseLogger;
}

export interface LifecycleContext extends LifecycleDeps {
  node: string;
  /** where the node's CPU quota is lifted for a program being dumped */
  lifts: ReturnType<typeof quotaLifts>;
  /** how much output each keeper holds while nobody reads it */
  spoolBytes: number;
}
