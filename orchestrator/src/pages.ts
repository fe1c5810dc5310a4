/**
 * What a list request asks of the database: its filters as the caller may use them (an owner
 * only as an administrator), and its opaque cursor. A cursor names the list it came from and the
 * last row given, so it stays right while rows are added; one from another list is refused.
 */
import { GodwitError } from '@godwit/schemas';
import type { User } from './auth.js';
import type { PageFilter } from './db/queries/pages.js';

export type ListName = 'processes' | 'migrations' | 'events';

export interface PageQuery {
  limit?: number;
  cursor?: string;
  state?: string;
  node?: string;
  owner?: string;
  since?: number;
}

export function encodeCursor(list: ListName, lastId: number): string {
  return Buffer.from(`${list}:${lastId}`).toString('base64url');
}

function decodeCursor(list: ListName, cursor: string): number {
  const m = /^([a-z]+):([0-9]{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('latin1'));
  if (!m || m[1] !== list) {
    throw new GodwitError('GODWIT_ERR_BAD_REQUEST', `cursor '${cursor}' is not one a page of /v1/${list} gave: start again without a cursor`);
  }
  return Number(m[2]);
}

/**
 * The rows' owner the caller may see: `owner` only an administrator may name (or anyone, naming
 * themselves); without it an administrator sees everyone's when `everyone`, anyone else their own.
 */
function ownerFor(user: User, owner: string | undefined, everyone: boolean): string | undefined {
  if (owner !== undefined) {
    if (!user.admin && owner !== user.name) {
      throw new GodwitError('GODWIT_ERR_FORBIDDEN', `only an administrator may list another user's rows (owner=${owner}); ${user.name} sees their own`);
    }
    return owner;
  }
  return user.admin && everyone ? undefined : user.name;
}

/** the request's filter, the caller's visibility in it; limit asks for one row more, to tell whether a page follows */
export function pageFilter(list: ListName, user: User, q: PageQuery, everyone: boolean): PageFilter {
  const owner = ownerFor(user, q.owner, everyone);
  return {
    ...(owner !== undefined ? { owner } : {}),
    ...(q.state !== undefined ? { states: q.state.split(',') } : {}),
    ...(q.node !== undefined ? { node: q.node } : {}),
    ...(q.since !== undefined ? { since: q.since } : {}),
    ...(q.cursor !== undefined ? { afterId: decodeCursor(list, q.cursor) } : {}),
    ...(q.limit !== undefined ? { limit: q.limit + 1 } : {}),
  };
}

/** the rows of a page, and the cursor of the next when there are more */
export function cutPage<R extends { id: number }>(list: ListName, rows: R[], limit: number | undefined): { rows: R[]; next?: string } {
  if (limit === undefined || rows.length <= limit) return { rows };
  const page = rows.slice(0, limit);
  return { rows: page, next: encodeCursor(list, page[page.length - 1]!.id) };
}
