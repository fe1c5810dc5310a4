/**
 * Paging and filters of the API's lists (GET /v1/processes, /v1/migrations, /v1/events), for
 * schedulers watching thousands of processes: each answer is a JSON array, as before paging came,
 * and the cursor of the page after it comes in a response header, so clients that read the
 * whole list are unchanged.
 */
import Type from 'typebox';
import { Closed } from './closed.js';
import { NodeName } from './api-nodes.js';
import { ID_DIGITS_MAX } from './limits.js';

/** the response header holding the opaque cursor of the next page; absent on the last page */
export const NEXT_CURSOR_HEADER = 'x-next-cursor';
/** the most rows one page holds */
export const PAGE_MAX = 1000;

const PROCESS_STATES = ['running', 'migrating', 'frozen', 'exited', 'lost', 'failed'] as const;
const MIGRATION_STATES = [
  'requested', 'dumping', 'dumped', 'transferring', 'transferred', 'restoring', 'transferring-memory', 'done', 'rolling-back', 'failed', 'frozen',
] as const;

/** one state or several, comma-separated: `running,frozen` */
function stateList(states: readonly string[]) {
  const one = `(${states.join('|')})`;
  return Type.String({ pattern: `^${one}(,${one})*$`, maxLength: 200, description: `one of ${states.join(', ')}, or several comma-separated` });
}

const paging = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: PAGE_MAX, description: `rows in a page (at most ${PAGE_MAX}); without it, the whole list in one answer` })),
  cursor: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$', description: `where the page begins: the ${NEXT_CURSOR_HEADER} header of the page before (opaque)` })),
  node: Type.Optional(NodeName),
  owner: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: "only this user's (an administrator's filter; anyone else may name only themselves)" })),
  since: Type.Optional(Type.Integer({ minimum: 0, description: 'only rows from this time on (ms since the epoch)' })),
};

export const ProcessListQuery = Closed({
  all: Type.Optional(Type.Boolean({ description: "an administrator's: everyone's processes" })),
  state: Type.Optional(stateList(PROCESS_STATES)),
  ...paging,
});

export const MigrationListQuery = Closed({
  state: Type.Optional(stateList(MIGRATION_STATES)),
  ...paging,
});

export const EventListQuery = Closed({
  process: Type.Optional(Type.String({ pattern: '^[0-9]+$', maxLength: ID_DIGITS_MAX })),
  kind: Type.Optional(Type.String({ pattern: '^[a-z][a-z-]{0,63}$', description: 'only events of this kind (started, migrated, ...)' })),
  follow: Type.Optional(Type.Boolean({
    description: 'a watch stream (text/event-stream): the events after `after` (or the Last-Event-ID header), then each as it happens, until the caller leaves',
  })),
  after: Type.Optional(Type.Integer({ minimum: 0, description: 'only events after this event id: where a watch stream resumes' })),
  ...paging,
});

/** the response header, as OpenAPI shows it */
export const NEXT_CURSOR_DOC = {
  [NEXT_CURSOR_HEADER]: { type: 'string', description: 'the cursor of the next page; absent on the last' },
};
