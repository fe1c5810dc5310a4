/** What the node a program left says of its home PID (the agent's deputies.ts), as an event. */
import type { HomePid } from '@godwit/schemas';
import type { Db } from './db/index.js';

export function recordHomePid(db: Db, processId: number, node: string, homePid: HomePid | undefined): void {
  if (!homePid) return;
  db.event({
    processId,
    node,
    kind: homePid.kept ? 'home-pid' : 'home-pid-lost',
    message: homePid.kept
      ? `PID ${homePid.pid} stays on ${node} as a stand-in for process ${processId}: signals sent to it reach the program wherever it runs`
      : `${homePid.reason ?? `home PID ${homePid.pid} of process ${processId} cannot be kept on ${node}`}: its signals go through the API instead (POST /v1/processes/${processId}/signal)`,
  });
}
