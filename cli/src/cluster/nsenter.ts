/** The one wrapper of `nsenter`: starting a daemon inside a node's network namespace. */
import { startDaemon, type Daemon } from './daemon.js';

/**
 * Only the network namespace is entered (not `ip netns exec`, which also makes a new mount
 * namespace and so breaks CRIU's handling of mounts).
 */
export function startInNetns(netns: string, argv: string[], logFile: string, env?: NodeJS.ProcessEnv): Promise<Daemon> {
  return startDaemon('nsenter', [`--net=/run/netns/${netns}`, '--', ...argv], logFile, env);
}
