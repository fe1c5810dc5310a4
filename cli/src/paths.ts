/** Where godwit keeps its files on this machine, and where the repository is. */
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** `$GODWIT_HOME`, or ~/.godwit */
export function godwitHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.GODWIT_HOME ? path.resolve(env.GODWIT_HOME) : path.join(os.homedir(), '.godwit');
}

/** `$GODWIT_CONFIG`, or `$GODWIT_HOME/cluster.json` */
export function clientConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.GODWIT_CONFIG ? path.resolve(env.GODWIT_CONFIG) : path.join(godwitHome(env), 'cluster.json');
}

/** The repository root: this file is cli/src/paths.ts or cli/dist/paths.js. */
export function repoRoot(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
}

/** where a node's agent takes its local users' calls, as AgentConfig.localSocket in deploy/examples */
export const DEFAULT_AGENT_SOCKET = '/run/godwit/agent.sock';

/** `$GODWIT_AGENT_SOCKET`, or the default */
export function agentSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.GODWIT_AGENT_SOCKET ? path.resolve(env.GODWIT_AGENT_SOCKET) : DEFAULT_AGENT_SOCKET;
}
