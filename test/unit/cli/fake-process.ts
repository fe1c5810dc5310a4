/** A Process as the API returns it, for the CLI's unit tests: a running one on node0 unless told. */
import type { Process } from '@godwit/schemas';

export function fakeProcess(over: Partial<Process> = {}): Process {
  return {
    id: 1, owner: 'root', argv: ['prog'], cwd: '/', homeNode: 'node0', node: 'node0', pid: 100, origPid: 100, nmigs: 0,
    state: 'running', exitCode: null, exitSignal: null, died: null, failure: null, createdAt: 0, endedAt: null, lastStoppedMs: null, lastFrozenMs: null, frz: '-', locked: false,
    checkpointFile: null, checkpointMax: null, checkpointEveryMs: null, checkpointCompress: null, checkpoints: 0, lastCheckpointAt: null, recoverOnFailure: false, needMemBytes: 0, attached: false,
    ...over,
  };
}
