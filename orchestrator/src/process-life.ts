/**
 * A process's life as the database records it: launched (or its start failed), exited, lost.
 * Every module that starts or ends a process writes it here, so that each end has its state,
 * its time and its event in one transaction. Callers tell the bus, when the rest of their own
 * transaction is written too.
 */
import type { Died } from '@godwit/schemas';
import type { Db } from './db/index.js';

/** what the event of a start or an end says */
export interface LifeEvent {
  id: number;
  node: string;
  kind: string;
  message: string;
}

/** the program runs as `pid` (started, or recovered from a checkpoint) */
export function processLaunched(db: Db, pid: number | null, event: LifeEvent): void {
  db.tx(() => {
    db.q.setLaunched.run({ id: event.id, pid });
    db.event({ processId: event.id, node: event.node, kind: event.kind, message: event.message });
  });
}

/** the program could not start: `failure` says why */
export function launchFailed(db: Db, failure: string, event: LifeEvent): void {
  db.tx(() => {
    db.q.failStart.run({ id: event.id, failure, ended_at: Date.now() });
    db.event({ processId: event.id, node: event.node, kind: event.kind, message: event.message });
  });
}

/** the program ended: with an exit code, or by a signal; `died` says why (death.ts) */
export function processExited(db: Db, end: { code: number | null; signal: string | null }, died: Died | null, event: Omit<LifeEvent, 'kind'>): void {
  db.tx(() => {
    db.q.endProcess.run({
      id: event.id, state: 'exited', exit_code: end.code, exit_signal: end.signal, died_oom: died?.oomKilled ? 1 : 0, died_reason: died?.reason ?? null,
      ended_at: Date.now(),
    });
    db.event({ processId: event.id, node: event.node, kind: 'exited', message: event.message });
  });
}

/** no node runs the program any more, and none can bring it back */
export function processLost(db: Db, event: Omit<LifeEvent, 'kind'>): void {
  db.tx(() => {
    db.q.endProcess.run({ id: event.id, state: 'lost', exit_code: null, exit_signal: null, died_oom: 0, died_reason: null, ended_at: Date.now() });
    db.event({ processId: event.id, node: event.node, kind: 'lost', message: event.message });
  });
}
