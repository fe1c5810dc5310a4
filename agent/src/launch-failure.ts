/**
 * Why a program could not start, said as a shell says it: the keeper reports the step that
 * failed, as the program's owner, and its errno. `exitCode` is the status a shell gives
 * (127 not found, 126 found but not runnable), for the CLI to exit with.
 */
import { GodwitError } from '@godwit/schemas';
import { errnoName, errnoReason } from './errno.js';
import type { KeeperEvent } from './keeper.js';

export interface LaunchAttempt {
  argv0: string;
  cwd: string;
  account: string;
  node: string;
}

export function launchFailure(ev: Extract<KeeperEvent, { ev: 'launch-failed' }>, a: LaunchAttempt): GodwitError {
  const name = errnoName(ev.errno);
  const reason = errnoReason(ev.errno);
  const exitCode = ev.stage === 'program' && name === 'ENOENT' ? 127 : 126;
  const details = { stage: ev.stage, errno: name, exitCode };
  switch (ev.stage) {
    case 'program':
      return new GodwitError('GODWIT_ERR_LAUNCH_FAILED', name === 'ENOENT' && !a.argv0.includes('/') ? `${a.argv0}: command not found on ${a.node}` : `${a.argv0}: ${reason} on ${a.node}`, details);
    case 'cwd':
      return new GodwitError('GODWIT_ERR_LAUNCH_FAILED', `working directory ${a.cwd} cannot be used by ${a.account} on ${a.node}: ${reason}`, details);
    case 'account':
      return new GodwitError('GODWIT_ERR_LAUNCH_FAILED', `could not become ${a.account} on ${a.node} to start ${a.argv0}: ${reason}`, details);
    case 'netns':
      return new GodwitError('GODWIT_ERR_LAUNCH_FAILED', `${a.argv0}: could not enter its own network namespace on ${a.node}: ${reason}`, details);
    case 'exec':
      return new GodwitError('GODWIT_ERR_LAUNCH_FAILED', `${a.argv0}: could not start it on ${a.node}: ${reason}`, details);
  }
}
